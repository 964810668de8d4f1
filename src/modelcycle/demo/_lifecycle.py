"""``modelcycle demo``: the whole lifecycle on real data, on the embedded defaults.

    data      the champion's training data and a drifting production stream (``_scenario``)
    train     ``modelcycle run pipeline.yaml``: validate, clean, profile, version, split,
              tune two families, evaluate the best (intervals, fairness on gender and
              ethnicity, explanations), gate, register as champion with its ONNX graph
    serve     ``modelcycle serve`` in a child process on a free loopback port
    traffic   the stream, in requests of 50 rows, logged by the server
    monitor   windows of the prediction log: drift against the training profile
    feedback  the true labels of most rows, through ``POST /feedback`` (one batch twice)
    retrain   ``retrain --if-needed``: the policies fire, a challenger trains on the old data
              plus the labelled traffic, duels the champion on a fresh holdout and is
              promoted (or rejected, with the reason)
    redeploy  the server hot-swaps to the new champion without a restart
    report    the monitoring report, a Grafana dashboard, the model card

Every stage reports numbers; the files go under the work folder.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelcycle.demo._scenario import NAME, TARGET, load_data, pipeline_yaml, scenario
from modelcycle.demo._server import DemoServer
from modelcycle.errors import ModelcycleError

if TYPE_CHECKING:
    from modelcycle.tracking import Client

__all__ = ["DemoResult", "Stage", "run_demo"]

BATCH = 50


@dataclass(frozen=True)
class Stage:
    """One stage: what happened, in a sentence or two, and its numbers."""

    name: str
    summary: str
    numbers: dict[str, Any] = field(default_factory=dict)


@dataclass
class DemoResult:
    """What the demo did, stage by stage, and where its files are."""

    workdir: str
    store_url: str
    artifacts_url: str
    stages: list[Stage] = field(default_factory=list)
    reports: dict[str, str] = field(default_factory=dict)
    server_url: str = ""
    champion: str = ""
    decision: str = ""
    seconds: float = 0.0

    def stage(self, name: str) -> Stage:
        """The stage called ``name``."""
        return next(s for s in self.stages if s.name == name)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        found = dict(self.__dict__)
        found["stages"] = [s.__dict__ for s in self.stages]
        return found


class _Demo:
    def __init__(
        self, client: Client, workdir: Path, notify: Callable[[Stage], None] | None
    ) -> None:
        self.client = client
        self.workdir = workdir
        self.reports = workdir / "reports"
        self.notify = notify
        self.result = DemoResult(str(workdir), client.store_url, client.artifacts_url)

    def add(self, name: str, summary: str, **numbers: Any) -> None:
        stage = Stage(name, summary, numbers)
        self.result.stages.append(stage)
        if self.notify is not None:
            self.notify(stage)

    def report(self, name: str, path: Path | str) -> None:
        self.result.reports[name] = str(path)


def _train(demo: _Demo, spec_path: Path) -> str:
    from modelcycle.pipeline import load_spec, run_pipeline

    spec = load_spec(spec_path)
    ran = run_pipeline(
        spec,
        demo.client,
        spec_path=spec_path,
        use_cache=False,
        report_dir=demo.reports / "champion",
    )
    registered = (ran.registered or {}).get("version")
    if registered is None:
        raise ModelcycleError(f"pipeline run {ran.run_id} registered no model")
    objective = ran.candidates[0]["objective"]
    scores = {c["family"]: round(c["metrics"][objective], 4) for c in ran.candidates}
    evaluation = ran.evaluation or {}
    for index, path in enumerate(evaluation.get("reports") or []):
        demo.report("evaluation (champion)" if index == 0 else f"evaluation {index}", path)
    snapshot = demo.client.runs.show(ran.run_id).metrics
    test = {
        k.removeprefix("test_"): round(v, 4) for k, v in snapshot.items() if k.startswith("test_")
    }
    fairness = _fairness(demo.client, str(registered))
    demo.report("data profile", _profile(demo, str(registered)))
    version = demo.client.metadata.datasets.get(ran.dataset_version)
    checked = version.lineage.get("validation") or {}
    demo.add(
        "train",
        f"validated ({checked.get('errors', 0)} errors, {checked.get('warnings', 0)} warnings), "
        f"cleaned and versioned {version.rows:,} rows as {ran.dataset_version}; "
        f"tuned {', '.join(scores)} on validation {objective} "
        f"({', '.join(f'{k} {v}' for k, v in scores.items())}); the best, "
        f"{ran.best['family'] if ran.best else '?'}, scored test roc_auc "
        f"{test.get('roc_auc', float('nan')):.3f}; {fairness}; gates passed; "
        f"registered {registered} as {NAME}@champion "
        f"({'ONNX-ready' if (ran.registered or {}).get('onnx_ready') else 'not ONNX-ready'})",
        dataset=ran.dataset_version,
        candidates=scores,
        test=test,
        champion=str(registered),
        run_id=ran.run_id,
    )
    return str(registered)


def _profile(demo: _Demo, ref: str) -> Path:
    """The HTML profile of the data the version learned from (stored in its bundle)."""
    from modelcycle.data import DatasetProfile
    from modelcycle.data._profile_report import profile_report
    from modelcycle.registry import Registry

    stored = Registry(demo.client).bundle(ref).json_part("profile")
    path = demo.reports / "data-profile.html"
    profile_report(DatasetProfile.from_dict(stored), f"{ref}: training data").write(path)
    return path


def _fairness(client: Client, ref: str) -> str:
    """A sentence on demographic parity by sensitive attribute, from the version's evaluation."""
    from modelcycle.registry import Registry

    evaluation = Registry(client).bundle(ref).json_part("evaluation") or {}
    parts = []
    for attribute, found in sorted((evaluation.get("fairness") or {}).items()):
        value = (
            (found or {}).get("demographic_parity_difference") if isinstance(found, dict) else None
        )
        if isinstance(value, (int, float)):
            parts.append(f"{attribute} {value:.3f}")
    return "demographic parity difference " + (", ".join(parts) or "not computed")


def _traffic(demo: _Demo, server: DemoServer, stream: Any) -> list[str]:
    """Send the stream in requests of ``BATCH`` rows; the row ids in order."""
    from rich.progress import Progress

    features = [c for c in stream.columns if c != TARGET]
    ids: list[str] = []
    latencies: list[float] = []
    versions: set[str] = set()
    with Progress(disable=demo.notify is None, transient=True) as bar:
        task = bar.add_task("production traffic", total=len(stream))
        for start in range(0, len(stream), BATCH):
            rows = stream.iloc[start : start + BATCH][features]
            began = time.perf_counter()
            answer, headers = server.post(f"/predict/{NAME}", {"records": rows.to_dict("records")})
            latencies.append((time.perf_counter() - began) * 1000)
            ids.extend(answer["ids"])
            versions.add(headers.get("x-model-version") or headers.get("X-Model-Version") or "")
            bar.advance(task, len(rows))
    _wait_logged(demo.client, len(latencies))
    latencies.sort()
    p50 = latencies[len(latencies) // 2]
    demo.add(
        "traffic",
        f"{len(ids):,} rows in {len(latencies)} requests of up to {BATCH} rows, answered by "
        f"{', '.join(sorted(versions))} (median {p50:.1f} ms per request); every request logged",
        rows=len(ids),
        requests=len(latencies),
        p50_ms=round(p50, 2),
    )
    return ids


def _wait_logged(client: Client, requests: int, timeout: float = 30.0) -> None:
    """Until the server's prediction log holds ``requests`` requests (it writes in batches)."""
    started = time.perf_counter()
    while client.metadata.predictions.count(NAME)["requests"] < requests:
        if time.perf_counter() - started > timeout:
            raise ModelcycleError(
                f"the server logged fewer than {requests} requests in {timeout} s"
            )
        time.sleep(0.2)


def _monitor(demo: _Demo, window: int) -> None:
    from modelcycle.monitoring import monitor_windows

    found = monitor_windows(demo.client, NAME, by="count", size=window)
    shares = []
    for scores in found.windows:
        features = (scores.drift or {}).get("features") or {}
        shares.append((features.get("share_drifted") or 0.0, features))
    if not shares:
        raise ModelcycleError("no monitoring window closed: too little traffic")
    first, last = shares[0], shares[-1]
    drifted = [c["column"] for c in last[1].get("columns", []) if c.get("drifted")]
    demo.add(
        "monitor",
        f"{len(shares)} windows of {window} logged rows against the training profile: "
        f"{first[0]:.0%} of the features drifted in the first, {last[0]:.0%} in the last "
        f"({', '.join(drifted) or 'none'})",
        windows=len(shares),
        first_share=first[0],
        last_share=last[0],
        drifted=drifted,
    )


def _feedback(demo: _Demo, server: DemoServer, ids: list[str], labels: list[Any]) -> None:
    """Labels for the first 90% of the rows (the newest are not labelled yet), in batches of
    500, and the first batch once more (idempotent: counted as duplicates)."""
    labelled = int(len(ids) * 0.9)
    items = [{"id": i, "label": label} for i, label in zip(ids[:labelled], labels, strict=False)]
    totals = {"accepted": 0, "duplicates": 0, "conflicts": 0, "rejected": 0}
    for start in range(0, len(items), 500):
        answer, _ = server.post("/feedback", items[start : start + 500])
        for key in totals:
            totals[key] += int(answer.get(key, 0))
    again, _ = server.post("/feedback", items[:500])
    demo.add(
        "feedback",
        f"{totals['accepted']:,} labels accepted through POST /feedback "
        f"({len(ids) - labelled:,} newest rows still unlabelled); the first batch sent again "
        f"was recognised: {again.get('duplicates', 0):,} duplicates, nothing recorded twice",
        **totals,
        resent_duplicates=int(again.get("duplicates", 0)),
    )


def _retrain(demo: _Demo) -> Any:
    from modelcycle.loop import retrain

    result = retrain(demo.client, NAME, if_needed=True, report_dir=demo.reports / "challenger")
    for index, path in enumerate(result.reports):
        demo.report("evaluation (challenger)" if index == 0 else f"challenger {index}", path)
    fired = ", ".join(t.policy for t in result.fired) or "none"
    data = result.data or {}
    demo.add(
        "retrain",
        f"policies fired: {fired}; the challenger {result.challenger or '(none)'} trained on "
        f"{data.get('previous_rows', 0):,} training + {data.get('added_rows', 0):,} labelled "
        f"production rows ({data.get('duplicates_removed', 0):,} duplicates removed, "
        f"{data.get('holdout_rows', 0):,} held out); decision: {result.decision}: {result.reason}",
        triggers=[t.to_dict() for t in result.triggers],
        decision=result.decision,
        challenger=result.challenger,
        run_id=result.run_id,
        comparison=result.comparison,
    )
    demo.result.decision = result.decision
    return result


def _redeploy(demo: _Demo, server: DemoServer, stream: Any, expected: str) -> None:
    """Until the server answers with ``expected`` (its alias watcher polls every 2 s)."""
    record = stream.drop(columns=[TARGET]).iloc[:1].to_dict("records")
    started = time.perf_counter()
    while time.perf_counter() - started < 30:
        _, headers = server.post(f"/predict/{NAME}", {"records": record})
        answering = headers.get("x-model-version") or headers.get("X-Model-Version")
        if answering == expected:
            seconds = time.perf_counter() - started
            demo.add(
                "redeploy",
                f"the server swapped to {expected} {seconds:.1f} s after the promotion, "
                "without a restart or a failed request",
                seconds=round(seconds, 2),
            )
            return
        time.sleep(0.25)
    raise ModelcycleError(f"the server did not swap to {expected} within 30 s")


def _files(demo: _Demo, champion: str, window: int) -> None:
    from modelcycle.monitoring import grafana_dashboard, monitor_windows, monitoring_report

    monitor_windows(demo.client, NAME, by="count", size=window)
    demo.report(
        "monitoring", monitoring_report(demo.client, NAME, demo.reports / "monitoring.html")
    )
    dashboard = demo.workdir / "grafana-dashboard.json"
    dashboard.write_text(json.dumps(grafana_dashboard(NAME), indent=2))
    demo.report("grafana dashboard", dashboard)
    from modelcycle.registry._card import model_card
    from modelcycle.registry._card_info import card_info

    written = model_card(card_info(demo.client, champion)).write(demo.reports / "card")
    demo.report("model card", written[1])


def run_demo(
    client: Client,
    workdir: Path,
    *,
    seed: int = 42,
    stream_rows: int | None = None,
    trials: int = 6,
    window: int = 1000,
    notify: Callable[[Stage], None] | None = None,
    keep: Callable[[DemoServer], None] | None = None,
) -> DemoResult:
    """Run every stage (see the module docstring) with files under ``workdir``; ``notify``
    hears each stage as it ends; ``keep`` is called with the running server before it stops
    (to keep it up for a while)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # trials are runs: no INFO line each
    started = time.perf_counter()
    demo = _Demo(client, workdir, notify)
    workdir.mkdir(parents=True, exist_ok=True)
    story = scenario(load_data(), seed, stream_rows)
    source = workdir / "initial.csv"
    story.initial.to_csv(source, index=False)
    spec_path = workdir / "pipeline.yaml"
    volume = max(window, 200)
    text = pipeline_yaml(json.dumps(str(source.resolve())), trials, window, volume)
    spec_path.write_text(text, encoding="utf-8")
    demo.add(
        "data",
        f"AER HealthInsurance: {len(story.initial):,} workers to learn from; "
        f"{len(story.stream):,} arrive later as traffic, drifting from "
        f"{story.segment_share_start:.0%} to {story.segment_share_end:.0%} young, "
        "self-employed or without a diploma",
        initial_rows=len(story.initial),
        stream_rows=len(story.stream),
    )
    champion = _train(demo, spec_path)
    with DemoServer(
        f"{NAME}@champion", client.store_url, client.artifacts_url, workdir / "server.log"
    ) as server:
        ready = server.wait_ready()
        demo.result.server_url = server.url
        demo.add(
            "serve",
            f"{NAME}@champion ({champion}) served at {server.url} in {ready:.1f} s",
            seconds=round(ready, 2),
        )
        ids = _traffic(demo, server, story.stream)
        _monitor(demo, window)
        _feedback(demo, server, ids, story.stream[TARGET].tolist())
        outcome = _retrain(demo)
        final = outcome.challenger if outcome.decision == "promoted" else champion
        if outcome.decision == "promoted":
            _redeploy(demo, server, story.stream, str(final))
        demo.result.champion = str(final)
        _files(demo, str(final), window)
        if keep is not None:
            keep(server)
    demo.result.seconds = time.perf_counter() - started
    return demo.result
