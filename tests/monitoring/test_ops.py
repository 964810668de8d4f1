"""Monitoring on the server's /metrics, the Grafana dashboard checked against a real scrape and
promtool, the HTML report and the CLI commands over the prediction log."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import Invoke
from tests.monitoring.deployed import T0, Deployed, deploy, labels, traffic

from modelcycle.monitoring import grafana_dashboard, monitor_windows, monitoring_report
from modelcycle.monitoring._grafana import queries
from modelcycle.monitoring._prometheus import METRIC_NAMES, MonitoringCollector
from modelcycle.registry import Registry
from modelcycle.tracking import Client


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[Client, Deployed]]:
    """A SQLite store with cancer v1 (champion), shifted traffic and its stored windows."""
    store, artifacts = f"sqlite:///{tmp_path / 'mc.db'}", str(tmp_path / "artifacts")
    with Client(store, artifacts) as client:
        deployed = deploy(client)
        Registry(client).promote(deployed.ref, force=True, reason="tests")
        moved = deployed.test.drop(columns=["target"])
        calm = traffic(deployed.model, moved.iloc[:100])
        client.metadata.predictions.insert_many(calm)
        client.metadata.feedback.add_many(labels(calm, deployed.test["target"].iloc[:100]))
        for column in [c for c in moved.columns if c.startswith("mean")]:
            moved[column] = moved[column] * 1.6
        later = T0 + timedelta(hours=1)
        client.metadata.predictions.insert_many(
            traffic(deployed.model, moved, start=later, prefix="s")
        )
        monitor_windows(client, "cancer", by="count", size=50)
        yield client, deployed


def _scrape(client: Client, deployed: Deployed) -> str:
    from modelcycle.server import create_app
    from modelcycle.serving import ServeSpec

    app = create_app(client, ServeSpec.from_refs(["cancer"]))
    state = app.state.modelcycle
    state.start()
    row = deployed.test.drop(columns=["target"]).iloc[0].to_dict()

    async def go() -> str:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            ok = await http.post("/predict/cancer", json={"records": [row]})
            assert ok.status_code == 200
            bad = await http.post("/predict/cancer", json={"records": [{"mean radius": "x"}]})
            assert 400 <= bad.status_code < 500
            return (await http.get("/metrics")).text

    try:
        return asyncio.run(go())
    finally:
        state.stop()


def _samples(text: str) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    return found


def _metric_names(query: str) -> set[str]:
    """Metric names of a PromQL query: the identifiers left once strings, label matchers,
    ranges, numbers and grouping clauses are removed, that are not followed by "(" (a
    function or aggregation)."""
    import re

    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', query)
    bare = re.sub(r"\{[^}]*\}", "", bare)
    bare = re.sub(r"\b(?:by|without)\s*\([^)]*\)", "", bare)
    bare = re.sub(r"\[[^\]]*\]", "", bare)
    bare = re.sub(r"(?<![A-Za-z0-9_.])\d+(?:\.\d+)?(?:e[-+]?\d+)?", "", bare)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", bare):
        if not re.match(r"\s*\(", bare[match.end() :]):
            names.add(match.group())
    return names


def test_metrics_show_drift_gauges_and_the_dashboard_uses_only_exposed_names(
    watched: tuple[Client, Deployed], tmp_path: Path
) -> None:
    client, deployed = watched
    samples = _samples(_scrape(client, deployed))
    stored = client.metadata.monitoring.windows("cancer", kind="drift")[-1].snapshot
    share = samples["modelcycle_drift_share"]
    assert [(s.labels, s.value) for s in share] == [
        ({"model": "cancer", "version": "1"}, stored["features"]["share_drifted"])
    ]
    assert share[0].value >= 0.2
    drifted = {s.labels["feature"] for s in samples["modelcycle_drift_feature_drifted"] if s.value}
    assert "mean radius" in drifted
    assert samples["modelcycle_monitor_up"][0].value == 1.0
    assert samples["modelcycle_window_latency_p99_ms"][0].value > 0
    newest_ops = client.metadata.monitoring.windows("cancer", kind="operations")[-1].snapshot
    assert [s.value for s in samples["modelcycle_window_error_rate"]] == [newest_ops["error_rate"]]

    dashboard = grafana_dashboard("cancer")
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    for topic in ("latency", "throughput", "errors", "drift", "quality"):
        assert topic in titles
    exprs = queries(dashboard)
    names = {n for q in exprs for n in _metric_names(q)}
    assert names, "the queries name metrics"
    missing = sorted(n for n in names if n not in samples)
    assert missing == [], f"queried but not exposed: {missing}"
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": q} for i, q in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "rules.json"  # JSON is YAML: promtool parses every expression
    path.write_text(json.dumps(rules))
    checked = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_collector_caches_its_reads(watched: tuple[Client, Deployed]) -> None:
    client, _ = watched
    clock = [0.0]
    collector = MonitoringCollector(client.metadata, ttl=30, clock=lambda: clock[0])
    first = {f.name: f.samples for f in collector.collect()}
    assert set(first) == set(METRIC_NAMES)
    client.metadata.monitoring.save_window(
        "cancer",
        kind="drift",
        version=1,
        start=T0,
        end=T0 + timedelta(days=9),
        n_rows=1,
        snapshot={"features": {"share_drifted": 1.0, "dataset_drift": True, "columns": []}},
    )
    cached = {f.name: f.samples for f in collector.collect()}
    assert cached["modelcycle_drift_share"] == first["modelcycle_drift_share"]
    clock[0] = 31.0
    fresh = {f.name: f.samples for f in collector.collect()}
    assert [s.value for s in fresh["modelcycle_drift_share"]] == [1.0]


def test_report_has_drift_distributions_scores_and_alerts(
    watched: tuple[Client, Deployed], tmp_path: Path
) -> None:
    from modelcycle.monitoring import check

    client, _ = watched
    check(client, "cancer", now=T0 + timedelta(days=1))  # the default rules
    path = monitoring_report(client, "cancer", tmp_path / "report.html")
    html = path.read_text()
    for text in (
        "Drift per feature (v1)",
        "Reference (blue) vs current (orange)",
        "Drift scores over time",
        "Operations over time",
        "error rate (failed / all requests)",
        "Quality over time",
        "Alerts (",
        "mean radius",
        "<svg",
    ):
        assert text in html
    operations = client.metadata.monitoring.windows("cancer", kind="operations")
    total = sum(w.snapshot["requests"] for w in operations)
    assert f"0 of {total:.0f} requests failed (0.00%) over {len(operations)} windows" in html
    assert "<script src" not in html and "<link" not in html  # self-contained
    assert path.stat().st_size < 1_000_000


def test_cli_windows_check_grafana_and_report(
    watched: tuple[Client, Deployed], cli: Invoke, tmp_path: Path
) -> None:
    client, _ = watched
    store = client.metadata.url
    artifacts = str(tmp_path / "artifacts")
    base = ["--store", store, "--artifacts", artifacts]
    code, out, _ = cli(*base, "monitor", "windows", "cancer", "--by", "count", "--size", "50")
    assert code == 0 and "0 new windows" in out
    spec = tmp_path / "monitor.yaml"
    spec.write_text(
        "windows: {by: count, size: 50}\nrules:\n  - {type: drift_share, threshold: 0.2}\n"
    )
    code, out, _ = cli(*base, "monitor", "check", "--spec", spec, "cancer", "--json")
    assert code == 3
    result = json.loads(out)
    assert result["fired"] and result["firing"][0]["rule"] == "drift_share"
    calm = tmp_path / "calm.yaml"
    calm.write_text(
        "windows: {by: count, size: 50}\nrules:\n  - {type: latency_p99, threshold_ms: 1000}\n"
    )
    assert cli(*base, "monitor", "check", "--spec", calm, "cancer")[0] == 0
    code, out, err = cli(*base, "monitor", "check", "--spec", tmp_path / "nope.yaml", "cancer")
    assert code == 1 and "nope.yaml" in err
    code, out, _ = cli(*base, "monitor", "grafana", "cancer", "-o", tmp_path / "d.json")
    assert code == 0 and json.loads((tmp_path / "d.json").read_text())["panels"]
    code, out, _ = cli(*base, "monitor", "report", "cancer", "-o", tmp_path / "r.html")
    assert code == 0 and (tmp_path / "r.html").is_file()
    code, _, err = cli(*base, "monitor", "report", "nobody", "-o", tmp_path / "x.html")
    assert code == 1 and "no monitoring windows stored for model 'nobody'" in err


def test_the_report_time_axis_takes_the_unit_of_the_windows_span() -> None:
    from types import SimpleNamespace

    from modelcycle.monitoring._ops_report import _Clock

    start = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def ending(seconds: float) -> Any:
        return SimpleNamespace(end=start + timedelta(seconds=seconds))

    origin = start.timestamp()
    demo = _Clock.spanning([ending(5), ending(40)], origin)
    assert (demo.label, demo.axis([ending(40)])) == ("seconds", [40.0])
    assert _Clock.spanning([ending(1800)], origin).label == "minutes"
    assert _Clock.spanning([ending(7 * 3600)], origin).axis([ending(7 * 3600)]) == [7.0]
    assert _Clock.spanning([ending(10 * 86400)], origin).label == "days"
