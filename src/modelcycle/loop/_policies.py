"""Retrain policies, evaluated once: is a retrain of the champion due, and why?

Each policy of the spec's ``retrain.when`` (see ``loop._spec``) gives a :class:`Trigger`: the
measured value, the threshold, whether it fired and a sentence saying so. Their clock is the
model's *last retrain* (the newest retrain run that trained a challenger, promoted or not) or,
before any, the time the champion took its alias: feedback and traffic older than that were
already answered by a retrain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from modelcycle.loop._spec import RetrainSpec
    from modelcycle.registry import Bundle
    from modelcycle.tracking import Client
    from modelcycle.types import ModelVersion, Run

__all__ = ["Situation", "Trigger", "evaluate", "situation"]

# decisions of a retrain run that trained a challenger (the clock of the policies restarts)
TRAINED = ("promoted", "rejected")


@dataclass(frozen=True)
class Trigger:
    """One policy's verdict: ``fired`` when ``value`` is past ``threshold``."""

    policy: str
    fired: bool
    value: Any
    threshold: Any
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class Situation:
    """Where the model stands: its champion, since when, and its last retrain."""

    name: str
    alias: str
    champion: ModelVersion
    bundle: Bundle
    champion_since: datetime
    last_retrain: Run | None = None
    promoted_by_retrain: str | None = None  # the retrain run that promoted the champion
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def since(self) -> datetime:
        """The policies' clock: the last retrain, else when the champion took its alias."""
        if self.last_retrain is None:
            return self.champion_since
        return max(self.champion_since, _aware(self.last_retrain.start_time))

    @property
    def features(self) -> list[str]:
        """The champion's input columns."""
        return [c["name"] for c in self.bundle.signature.get("inputs", [])]


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def last_retrain(client: Client, name: str) -> Run | None:
    """The newest retrain run of ``name`` that trained a challenger."""
    decisions = ", ".join(f"'{d}'" for d in TRAINED)
    found = client.runs.list(
        f"tags.kind = 'retrain' and tags.model = '{name}' and tags.decision in ({decisions})",
        order_by=["start_time desc"],
        limit=1,
    )
    return found[0] if found else None


def situation(client: Client, name: str, alias: str) -> Situation:
    """The champion behind ``NAME@alias``, when it took the alias, and the last retrain."""
    from modelcycle.registry import Registry

    registry = Registry(client)
    champion = registry.get(f"{name}@{alias}")
    moves = [m for m in registry.history(name, alias) if m.to_version == champion.version]
    since = _aware(moves[-1].at) if moves else _aware(champion.created_at)
    reason = moves[-1].reason if moves else ""
    promoted_by = reason.split()[1].rstrip(":") if reason.startswith("retrain ") else None
    return Situation(
        name=name,
        alias=alias,
        champion=champion,
        bundle=registry.bundle(champion.ref),
        champion_since=since,
        last_retrain=last_retrain(client, name),
        promoted_by_retrain=promoted_by,
    )


def _schedule(expression: str, since: datetime, now: datetime) -> Trigger:
    from croniter import croniter

    due = croniter(expression, since).get_next(datetime)
    fired = due <= now
    when = due.isoformat(timespec="seconds")
    detail = f"schedule {expression!r}: {'due since' if fired else 'next at'} {when}"
    return Trigger("schedule", fired, when, expression, detail)


def newest_rows(client: Client, sit: Situation, window: int) -> pd.DataFrame:
    """The champion's newest ``window`` logged rows since the policies' clock."""
    log = client.metadata.predictions
    frame = log.frame(sit.name, version=sit.champion.version, since=sit.since, limit=window)
    newest: pd.DataFrame = frame.tail(window).reset_index(drop=True)
    return newest


def _drift(client: Client, sit: Situation, share: float, window: int) -> Trigger:
    from modelcycle.monitoring import reference_for

    rows = newest_rows(client, sit, window)
    if len(rows) < window:
        detail = (
            f"drift: {len(rows)} of the {window} rows a window needs logged since {_iso(sit.since)}"
        )
        return Trigger("drift", False, None, share, detail)
    present = [c for c in sit.features if c in rows.columns]
    snapshot = reference_for(client, sit.champion.ref).score(rows[present])
    drifted = snapshot.drifted
    value = snapshot.share_drifted
    fired = value >= share
    names = ", ".join(drifted[:6]) + (" ..." if len(drifted) > 6 else "")
    detail = (
        f"drift: {len(drifted)} of {len(present)} features drifted ({value:.0%}, threshold "
        f"{share:.0%}) in the newest {window} rows" + (f": {names}" if drifted else "")
    )
    return Trigger("drift", fired, value, share, detail)


def champion_quality(
    client: Client, sit: Situation, min_labels: int, since: datetime | None = None
) -> dict[str, Any]:
    """The champion's quality on its labelled rows received since ``since`` (default: when
    it took the alias) against its test interval (``monitoring._quality``)."""
    from modelcycle.monitoring._quality import quality_snapshot

    signature = sit.bundle.signature.get("output", {})
    classes = signature.get("classes")
    frame = client.metadata.feedback.labelled_frame(
        sit.name, version=sit.champion.version, since=since or sit.champion_since, classes=classes
    )
    if not len(frame):
        return {"labelled_rows": 0, "judged": False, "degraded": [], "compared": {}}
    return quality_snapshot(
        frame,
        task=str(signature.get("task") or "regression"),
        classes=classes,
        evaluation=sit.bundle.json_part("evaluation"),
        min_labels=min_labels,
    )


def quality_detail(found: dict[str, Any]) -> str:
    """One sentence for a quality snapshot."""
    rows = found.get("labelled_rows", 0)
    if not found.get("judged"):
        return (
            f"{rows} labelled rows, fewer than the {found.get('min_labels', '?')} a verdict needs"
        )
    parts = []
    for name in found["degraded"] or list(found["compared"])[:2]:
        item = found["compared"][name]
        bound = item["alarm_low"] if item["direction"] == "maximize" else item["alarm_high"]
        parts.append(f"{name} {item['window']:.3f} vs test {item['test']:.3f} (bound {bound:.3f})")
    verdict = "degraded" if found["degraded"] else "within the interval"
    return f"{verdict} on {rows} labelled rows: " + "; ".join(parts)


def _quality(client: Client, sit: Situation, min_labels: int) -> Trigger:
    found = champion_quality(client, sit, min_labels)
    fired = bool(found.get("degraded"))
    return Trigger(
        "quality", fired, found.get("degraded"), min_labels, "quality: " + quality_detail(found)
    )


def _volume(client: Client, sit: Situation, needed: int) -> Trigger:
    rows = client.metadata.feedback.count(sit.name, since=sit.since)["rows"]
    detail = f"data volume: {rows} new labelled rows since {_iso(sit.since)} (threshold {needed})"
    return Trigger("data_volume", rows >= needed, rows, needed, detail)


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


def evaluate(
    client: Client, spec: RetrainSpec, sit: Situation, now: datetime | None = None
) -> list[Trigger]:
    """Every policy of ``spec.when``, evaluated once."""
    now = now or datetime.now(timezone.utc)
    when = spec.when
    found: list[Trigger] = []
    if when.schedule is not None:
        found.append(_schedule(when.schedule, sit.since, now))
    if when.drift is not None:
        found.append(_drift(client, sit, when.drift.share, when.drift.window))
    if when.quality is not None:
        found.append(_quality(client, sit, when.quality.min_labels))
    if when.data_volume is not None:
        found.append(_volume(client, sit, when.data_volume))
    return found
