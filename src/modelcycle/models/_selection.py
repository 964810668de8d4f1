"""Candidate selection: which families to train for this task, data and spec, and why.

The selector walks the whole catalog and gives every family a verdict with human reasons, so
``modelcycle run PIPELINE.yaml --explain-selection`` can show why a family was left out as
clearly as why one was kept. A family is refused when it cannot do the task, does not take the
data's inputs (tabular, text, image), is not installed (a missing extra), breaks a declared
constraint (per-row latency, model size, interpretability), is excluded by the spec, or needs
more rows than the data has. The rest are ranked by the quality a family usually reaches at
this data size (a prior from common benchmark experience, nudged towards families that handle
the data's missing values or categories natively) and the best few are proposed.

Candidates named in the spec replace the ranking: they are trained in the order given, and the
row minimum becomes a note. They are still refused, with the reason, when they cannot do the
task, do not take the inputs, are not installed or break a declared constraint.

    selection = select(Task.BINARY, 569, {"x1": ColumnKind.NUMERIC}, Constraints(max_size_kb=500))
    selection.candidates          # ['linear', 'lightgbm', 'decision_tree']
    print(selection.explain())
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from modelcycle.errors import invalid_value
from modelcycle.models._base import ModelFamily, Task
from modelcycle.models._catalog import families

if TYPE_CHECKING:
    from modelcycle.data._schema import ColumnKind

__all__ = ["Choice", "Constraints", "Selection", "select"]

_MEDIUM, _LARGE = 1_000, 100_000
_NATIVE_BONUS = 0.05
#: Expected quality per data size (small < 1,000 rows <= medium < 100,000 rows <= large).
_PRIORS: dict[str, tuple[float, float, float]] = {
    "lightgbm": (0.70, 0.95, 0.95),
    "random_forest": (0.80, 0.85, 0.75),
    "linear": (0.75, 0.65, 0.60),
    "decision_tree": (0.50, 0.50, 0.45),
    "mlp": (0.45, 0.70, 0.85),
    "cnn": (0.70, 0.95, 0.95),
    "transformer": (0.60, 0.90, 0.95),
    "tfidf_linear": (0.80, 0.80, 0.75),
}
_UNKNOWN_PRIOR = (0.5, 0.5, 0.5)
_ORDER_WHY = (
    "with under 1,000 rows, random forests, regularized linear models and TF-IDF baselines "
    "usually generalise best; boosting and neural networks need more rows to beat them",
    "from 1,000 rows gradient boosting usually leads on tabular data, then random forests; "
    "CNNs lead on images and fine-tuned transformers on text; linear models and single trees "
    "are the simple baselines",
    "past 100,000 rows gradient boosting and neural networks lead; random forests grow large "
    "and slow, single trees and linear models underfit",
)
_BUCKETS = ("small data, < 1,000 rows", "medium data", "large data, >= 100,000 rows")


class Constraints(BaseModel):
    """What the spec demands of a model, and the candidates it names or excludes.

    ``families`` names the candidates to train (in that order) instead of ranking the catalog;
    ``exclude`` removes families; ``max_candidates`` caps how many ranked families are proposed.
    """

    model_config = ConfigDict(extra="forbid")

    max_latency_us_per_row: float | None = Field(default=None, gt=0)
    max_size_kb: float | None = Field(default=None, gt=0)
    interpretable: bool = False
    families: list[str] | None = Field(default=None, min_length=1)
    exclude: list[str] = Field(default_factory=list)
    max_candidates: int = Field(default=4, ge=1)


@dataclass(frozen=True)
class Choice:
    """One family's verdict: chosen or not, its rank among the chosen, and why."""

    family: str
    chosen: bool
    reasons: list[str]
    rank: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "family": self.family,
            "chosen": self.chosen,
            "rank": self.rank,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class Selection:
    """Every catalog family's :class:`Choice`: the chosen in rank order, then the excluded."""

    task: Task
    rows: int
    choices: list[Choice]
    order: str

    @property
    def candidates(self) -> list[str]:
        """Names of the chosen families, best first."""
        return [choice.family for choice in self.choices if choice.chosen]

    def to_dict(self) -> dict[str, Any]:
        """JSON form (for ``--json`` and the run record)."""
        return {
            "task": self.task.value,
            "rows": self.rows,
            "order": self.order,
            "candidates": self.candidates,
            "choices": [choice.to_dict() for choice in self.choices],
        }

    def explain(self) -> str:
        """A readable table of every family's verdict and reasons."""
        width = max([len("family"), *(len(c.family) for c in self.choices)])
        lines = [
            f"Model selection: {self.task.value} task, {self.rows:,} rows",
            f"Order: {self.order}",
            "",
            f"  {'family':<{width}}  {'verdict':<11}  reasons",
        ]
        for choice in self.choices:
            verdict = f"chosen #{choice.rank}" if choice.chosen else "excluded"
            lead = f"  {choice.family:<{width}}  {verdict:<11}  "
            for i, reason in enumerate(choice.reasons):
                lines.append((lead if i == 0 else " " * len(lead)) + reason)
        if not self.candidates:
            lines += ["", "No family can be trained: relax the constraints or name candidates."]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Data:
    """What selection needs to know about the data."""

    task: Task
    rows: int
    inputs: frozenset[str]
    kinds: dict[str, str]
    missing: dict[str, float]

    @property
    def bucket(self) -> int:
        return 0 if self.rows < _MEDIUM else 1 if self.rows < _LARGE else 2


def select(
    task: Task,
    rows: int,
    kinds: Mapping[str, ColumnKind | str],
    constraints: Constraints | None = None,
    *,
    missing: Mapping[str, float] | None = None,
    inputs: Collection[str] | None = None,
) -> Selection:
    """Propose candidate families for ``task`` on data of ``rows`` rows, saying why for each.

    ``kinds`` maps each feature column (not the target) to its :class:`ColumnKind`; ``missing``
    maps columns to their share of missing values (e.g. ``profile[name].null_share``);
    ``inputs`` says what the data offers (``tabular``, ``text``, ``image``) when column kinds
    cannot tell (images), and is inferred from ``kinds`` otherwise. Unknown family names in
    the constraints raise InvalidValueError listing the known ones.
    """
    if rows < 0:
        raise invalid_value("rows", rows, "must be zero or more")
    wanted = constraints or Constraints()
    catalog = {family.info.name: family for family in families()}
    _check_names(wanted, catalog)
    data = _describe(task, rows, kinds, missing, inputs)
    verdicts = {name: _refusals(family, data, wanted) for name, family in catalog.items()}
    eligible = [name for name, refused in verdicts.items() if not refused]
    if wanted.families is not None:
        ranked = [name for name in dict.fromkeys(wanted.families) if name in eligible]
        order = "as named in the spec's candidates (the spec replaces the ranking)"
    else:
        ranked = sorted(eligible, key=lambda name: -_score(catalog[name], data))
        order = f"by expected quality for {rows:,} rows ({_BUCKETS[data.bucket]}): "
        order += _ORDER_WHY[data.bucket]
    chosen = ranked if wanted.families is not None else ranked[: wanted.max_candidates]
    choices = [
        Choice(name, True, _kept(catalog[name], data, wanted, rank), rank)
        for rank, name in enumerate(chosen, start=1)
    ]
    for name in catalog:
        if name not in chosen:
            reasons = verdicts[name] or [_cut(ranked.index(name) + 1, len(ranked), wanted)]
            choices.append(Choice(name, False, reasons))
    return Selection(task=task, rows=rows, choices=choices, order=order)


def _check_names(wanted: Constraints, catalog: Mapping[str, ModelFamily]) -> None:
    for field, names in (("families", wanted.families or []), ("exclude", wanted.exclude)):
        for name in names:
            if name not in catalog:
                known = ", ".join(catalog)
                raise invalid_value(f"model.{field}", name, f"known families: {known}")


def _describe(
    task: Task,
    rows: int,
    kinds: Mapping[str, Any],
    missing: Mapping[str, float] | None,
    inputs: Collection[str] | None,
) -> _Data:
    plain = {name: str(getattr(kind, "value", kind)) for name, kind in kinds.items()}
    if inputs is None:
        offered = {
            "text" if kind == "text" else "tabular" for kind in plain.values() if kind != "id"
        }
    else:
        offered = set(inputs)
    shares = {name: share for name, share in (missing or {}).items() if share > 0 and name in plain}
    return _Data(task, rows, frozenset(offered), plain, shares)


def _refusals(family: ModelFamily, data: _Data, wanted: Constraints) -> list[str]:
    """Every reason ``family`` cannot be a candidate (empty when it can)."""
    info, reasons = family.info, []
    if data.task not in info.tasks:
        does = ", ".join(sorted(task.value for task in info.tasks))
        reasons.append(f"excluded: cannot do {data.task.value} (does: {does})")
    if info.inputs not in data.inputs:
        reasons.append(f"excluded: needs {info.inputs} input, {_lacks(info.inputs, data)}")
    unavailable = family.available()
    if unavailable:
        reasons.append(f"excluded: {unavailable}")
    reasons += _spec_refusals(family, wanted)
    reasons += _constraint_refusals(family, wanted)
    if wanted.families is None and data.rows < info.min_rows:
        reasons.append(f"excluded: {data.rows:,} rows < {info.min_rows:,} needed")
    return reasons


def _lacks(inputs: str, data: _Data) -> str:
    if inputs == "text":
        return "the data has no text column"
    if inputs == "image":
        return "the data is not declared as images"
    offered = ", ".join(sorted(data.inputs)) or "nothing"
    return f"the data has no tabular feature column (only {offered})"


def _spec_refusals(family: ModelFamily, wanted: Constraints) -> list[str]:
    name = family.info.name
    if name in wanted.exclude:
        return ["excluded: listed in the spec's exclude"]
    if wanted.families is not None and name not in wanted.families:
        return ["excluded: not among the candidates named in the spec"]
    return []


def _constraint_refusals(family: ModelFamily, wanted: Constraints) -> list[str]:
    info, reasons = family.info, []
    if wanted.interpretable and not info.interpretable:
        reasons.append("excluded: not interpretable, the spec requires interpretability")
    limit = wanted.max_latency_us_per_row
    if limit is not None and info.latency_us_per_row > limit:
        reasons.append(
            f"excluded: typical latency {info.latency_us_per_row:g} us/row > max {limit:g}"
        )
    if wanted.max_size_kb is not None and info.size_kb > wanted.max_size_kb:
        reasons.append(f"excluded: typical size {info.size_kb:g} kB > max {wanted.max_size_kb:g}")
    return reasons


def _score(family: ModelFamily, data: _Data) -> float:
    """Expected quality at this data size, plus a bonus per native handling the data uses."""
    info = family.info
    score = _PRIORS.get(info.name, _UNKNOWN_PRIOR)[data.bucket]
    if data.missing and info.handles_missing:
        score += _NATIVE_BONUS
    if _categorical(data) and info.handles_categorical:
        score += _NATIVE_BONUS
    return score


def _categorical(data: _Data) -> list[str]:
    return [name for name, kind in data.kinds.items() if kind == "categorical"]


def _kept(family: ModelFamily, data: _Data, wanted: Constraints, rank: int) -> list[str]:
    """Why a chosen family was chosen, and what to keep in mind about it."""
    info = family.info
    if wanted.families is not None:
        reasons = ["chosen: named in the spec's candidates"]
        if data.rows < info.min_rows:
            reasons.append(f"note: {data.rows:,} rows < {info.min_rows:,} usually needed")
    else:
        bucket = _BUCKETS[data.bucket]
        reasons = [f"chosen: rank {rank} by expected quality for {data.rows:,} rows ({bucket})"]
    reasons += _handling(family, data)
    if wanted.interpretable:
        reasons.append("chosen: interpretable, as the spec requires")
    if wanted.max_latency_us_per_row is not None:
        latency, limit = info.latency_us_per_row, wanted.max_latency_us_per_row
        reasons.append(f"chosen: typical latency {latency:g} us/row <= max {limit:g}")
    if wanted.max_size_kb is not None:
        reasons.append(f"chosen: typical size {info.size_kb:g} kB <= max {wanted.max_size_kb:g}")
    return reasons


def _handling(family: ModelFamily, data: _Data) -> list[str]:
    """Notes on how the family meets the data's missing values and categorical columns."""
    info, reasons = family.info, []
    if data.missing and info.inputs == "tabular":
        worst = max(data.missing.values())
        seen = f"up to {worst:.0%} missing in {_count(len(data.missing), 'column')}"
        if info.handles_missing:
            reasons.append(f"chosen: handles missing values natively ({seen})")
        else:
            reasons.append(f"note: needs imputed inputs ({seen}); the preprocessor imputes")
    categorical = _categorical(data)
    if categorical and info.inputs == "tabular":
        count = _count(len(categorical), "categorical column")
        if info.handles_categorical:
            reasons.append(f"chosen: handles categorical columns natively ({count})")
        else:
            reasons.append(f"note: needs encoded categories ({count}); the preprocessor encodes")
    return reasons


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _cut(position: int, eligible: int, wanted: Constraints) -> str:
    top = wanted.max_candidates
    return (
        f"excluded: eligible but ranked {position} of {eligible}; only the top {top} are "
        "proposed (name it in the spec's candidates to train it)"
    )
