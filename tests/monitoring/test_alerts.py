"""Alert rules: YAML spec, firing on stored windows, log line, webhook on a loopback receiver,
de-duplication and cooldown."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tests.monitoring.deployed import T0, deploy, labels, traffic

from modelcycle.errors import SpecError
from modelcycle.monitoring import MonitorSpec, check, load_monitor_spec
from modelcycle.tracking import Client


class Receiver:
    """A loopback HTTP server that records JSON bodies POSTed to it, or serves ``text``."""

    def __init__(self, text: str = "") -> None:
        self.bodies: list[dict[str, Any]] = []
        self.text = text
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers["Content-Length"])
                outer.bodies.append(json.loads(self.rfile.read(size)))
                self.send_response(200)
                self.end_headers()

            def do_GET(self) -> None:
                body = outer.text.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.stop()


def _spec(tmp_path: Path, text: str) -> MonitorSpec:
    path = tmp_path / "monitor.yaml"
    path.write_text(text)
    return load_monitor_spec(path)


def test_spec_errors_name_the_file_line_and_key(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"monitor.yaml:3: rules\[0\].threshold: "):
        _spec(tmp_path, "rules:\n  - type: drift_share\n    threshold: 2\n")
    with pytest.raises(SpecError, match=r"rules\[0\].type: "):
        _spec(tmp_path, "rules:\n  - type: vibes\n")
    with pytest.raises(SpecError, match=r"rules\[0\].min_requests: "):
        _spec(tmp_path, "rules:\n  - {type: error_rate, threshold: 0.1, min_requests: 0}\n")
    no_server = _spec(tmp_path, "rules:\n  - {type: error_rate, threshold: 0.1}\n")
    assert no_server.metrics_url is None  # the rule reads the prediction log
    with pytest.raises(SpecError, match=r"windows: .*window size"):
        _spec(tmp_path, "windows: {by: time, size: soon}\n")
    with pytest.raises(SpecError, match=r"cooldown: .*window size"):
        _spec(tmp_path, "rules:\n  - {type: drift_share, cooldown: later}\n")
    assert [r.label for r in MonitorSpec().rules] == ["drift_share", "metric_drop"]


def test_drift_fires_once_per_window_logs_calls_webhook_and_cools_down(
    client: Client, tmp_path: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    deployed = deploy(client)
    moved = deployed.test.drop(columns=["target"])
    for column in [c for c in moved.columns if c.startswith("mean")]:
        moved[column] = moved[column] * 1.6
    log = client.metadata.predictions
    log.insert_many(traffic(deployed.model, moved.iloc[:100]))
    spec = _spec(
        tmp_path,
        f"windows: {{by: count, size: 50}}\ncooldown: 1h\nwebhook: {{url: '{receiver.url}'}}\n"
        "rules:\n  - {type: drift_share, threshold: 0.2, severity: critical}\n",
    )
    now = T0 + timedelta(hours=1)
    with caplog.at_level(logging.WARNING, logger="modelcycle.monitoring"):
        first = check(client, "cancer", spec, now=now)
    assert first.fired and [f.status for f in first.firing] == ["new"]
    alert = first.firing[0]
    assert alert.delivery == "HTTP 200" and alert.severity == "critical" and alert.value >= 0.2
    assert "drift_share" in caplog.text and "cancer@1" in caplog.text
    assert [b["rule"] for b in receiver.bodies] == ["drift_share"]
    assert (
        receiver.bodies[0]["model"] == "cancer" and "mean radius" in receiver.bodies[0]["message"]
    )

    again = check(client, "cancer", spec, now=now + timedelta(minutes=1))
    assert [f.status for f in again.firing] == ["duplicate"]  # same window: nothing new
    log.insert_many(traffic(deployed.model, moved.iloc[100:], start=now, prefix="q"))
    cooling = check(client, "cancer", spec, now=now + timedelta(minutes=30))
    assert cooling.new_windows == 1 and [f.status for f in cooling.firing] == ["cooldown"]
    log.insert_many(traffic(deployed.model, moved, start=T0 + timedelta(hours=3), prefix="x"))
    later = check(client, "cancer", spec, now=now + timedelta(hours=3))
    assert [f.status for f in later.firing] == ["new"]
    assert len(receiver.bodies) == 2
    stored = client.metadata.monitoring.alerts("cancer")
    assert [a.alert_id for a in stored] == [alert.alert_id, later.firing[0].alert_id]
    assert stored[0].window_id == alert.window_id and stored[0].delivery == "HTTP 200"


def test_calm_traffic_fires_nothing_and_latency_rule_reads_the_log(
    client: Client, tmp_path: Path
) -> None:
    deployed = deploy(client)
    calm = deployed.test.drop(columns=["target"])
    client.metadata.predictions.insert_many(traffic(deployed.model, calm, latency_ms=100))
    spec = _spec(
        tmp_path,
        "windows: {by: count, size: 50}\nrules:\n  - {type: drift_share, threshold: 0.2}\n"
        "  - {type: latency_p99, threshold_ms: 150}\n",
    )
    calm_check = check(client, "cancer", spec, now=T0 + timedelta(days=1))
    assert calm_check.new_windows == 3 and not calm_check.fired
    slow = spec.model_copy(
        update={"rules": [spec.rules[1].model_copy(update={"threshold_ms": 50})]}
    )
    result = check(client, "cancer", slow, now=T0 + timedelta(days=1))
    assert [f.rule for f in result.firing] == ["latency_p99"]
    assert result.firing[0].value > 100 and result.firing[0].delivery is None


def test_error_rate_fires_on_a_window_of_many_failed_requests_not_on_clean_ones(
    client: Client, tmp_path: Path
) -> None:
    from tests.monitoring.test_windows import failure

    deployed = deploy(client)
    calm = deployed.test.drop(columns=["target"])
    log = client.metadata.predictions
    log.insert_many(traffic(deployed.model, calm))  # 34 requests, minutes 0-33
    log.insert_many(
        [failure(f"e{i}", 1, 31.5 + i / 4, status=400 if i % 4 else 500) for i in range(8)]
    )
    spec = _spec(
        tmp_path,
        "windows: {by: time, size: 10m}\n"
        "rules:\n  - {type: error_rate, threshold: 0.5, min_requests: 5, severity: critical}\n",
    )
    clean = check(client, "cancer", spec, now=T0 + timedelta(minutes=30))
    assert clean.new_windows == 3 and not clean.fired  # 0-30 min: every request answered
    failing = check(client, "cancer", spec, now=T0 + timedelta(hours=1))
    assert failing.new_windows == 1
    assert [(f.rule, f.status, f.version) for f in failing.firing] == [("error_rate", "new", 1)]
    alert = failing.firing[0]
    assert alert.value == pytest.approx(8 / 12) and alert.threshold == 0.5
    assert "8 of 12 requests failed: 6 x 400, 2 x 500" in alert.message
    window = client.metadata.monitoring.windows("cancer", kind="operations")[-1]
    assert alert.window_id == window.window_id and window.snapshot["errors"] == 8
    assert [
        f.status for f in check(client, "cancer", spec, now=T0 + timedelta(hours=1)).firing
    ] == ["duplicate"]
    few = spec.model_copy(
        update={"rules": [spec.rules[0].model_copy(update={"min_requests": 13, "name": "few"})]}
    )
    assert not check(client, "cancer", few, now=T0 + timedelta(hours=1)).fired


def test_error_rate_falls_back_to_the_server_counters_without_a_log(
    client: Client, tmp_path: Path
) -> None:
    from modelcycle.server._metrics import ServerMetrics

    deploy(client)
    metrics = ServerMetrics(lambda: {"models": {}})
    for _ in range(8):
        metrics.answered("cancer", "cancer@1", "native", 0.01)
    for status in (400, 500):
        metrics.failed("cancer", "native", status)
    server = Receiver(metrics.render().decode())
    try:
        spec = _spec(
            tmp_path,
            f"metrics_url: '{server.url}metrics'\n"
            "rules:\n  - {type: error_rate, threshold: 0.1}\n",
        )
        result = check(client, "cancer", spec, now=T0)
        assert [f.value for f in result.firing] == [pytest.approx(0.2)]
        strict = spec.model_copy(
            update={"rules": [spec.rules[0].model_copy(update={"threshold": 0.5})]}
        )
        assert not check(client, "cancer", strict, now=T0).fired
    finally:
        server.stop()


def test_metric_drop_fires_on_a_worse_model_not_on_window_noise(
    client: Client, tmp_path: Path
) -> None:
    deployed = deploy(client)
    records = traffic(deployed.model, deployed.test.drop(columns=["target"]))
    client.metadata.predictions.insert_many(records)
    client.metadata.feedback.add_many(labels(records, deployed.test["target"]))
    spec = _spec(
        tmp_path,
        "windows: {by: count, size: 50}\nrules:\n  - {type: metric_drop, metric: accuracy}\n",
    )
    assert not check(client, "cancer", spec, now=T0 + timedelta(days=3)).fired
    worse = labels(records, deployed.test["target"], flip=0.3, seed=5)
    client.metadata.feedback.add_many(worse)
    result = check(client, "cancer", spec, now=T0 + timedelta(days=3))
    assert [(f.rule, f.status) for f in result.firing] == [("metric_drop", "new")]
    firing = result.firing[0]
    assert firing.value is not None and firing.threshold is not None
    assert firing.value < firing.threshold and "accuracy" in firing.message
