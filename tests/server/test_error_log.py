"""Failed prediction requests in the prediction log: a real server answers good and bad
requests on every protocol, the failures are logged with their status and error, windows count
them per version, and feedback and drift never use them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.server.conftest import Served, row_of

from modelcycle.monitoring import monitor_windows


def _good_and_bad(url: str, served: Served) -> tuple[list[httpx.Response], list[httpx.Response]]:
    """Five answered requests (six rows) and six refused ones, over every protocol."""
    rows = served.trained.cancer_rows
    first = rows.columns[0]
    tensor = {"name": "input-0", "shape": [1, rows.shape[1]], "datatype": "FP64"}
    with httpx.Client(base_url=url) as http:
        good = [
            http.post("/predict/cancer", json=[row_of(rows, 0)]),
            http.post("/predict/cancer", json={"records": [row_of(rows, 1)]}),
            http.post(
                "/v2/models/cancer/infer",
                json={"inputs": [{**tensor, "data": rows.iloc[:1].to_numpy().tolist()}]},
            ),
            http.post(
                "/invocations", json={"dataframe_records": [row_of(rows, 2), row_of(rows, 3)]}
            ),
            http.post("/v1/models/cancer:predict", json={"instances": [row_of(rows, 4)]}),
        ]
        bad = [
            http.post("/predict/cancer", json=[{**row_of(rows, 0), first: "big"}]),
            http.post("/predict/cancer", content=b"{nope"),
            http.post("/predict/cancer", json={"rows": []}),
            http.post(
                "/v2/models/cancer/infer",
                json={"inputs": [{"name": first, "shape": [1], "datatype": "FP99", "data": [1]}]},
            ),
            http.post("/invocations", content=b"<a/>", headers={"Content-Type": "text/xml"}),
            http.post("/v1/models/cancer:predict", json={"inst": []}),
        ]
        not_logged = [
            http.post("/predict/nobody", json=[{}]),  # no such route: no version to blame
            http.get("/metrics"),
            http.get("/v2/health/ready"),
        ]
    assert [r.status_code for r in good] == [200] * 5, [r.text for r in good]
    assert [r.status_code for r in bad] == [422, 400, 400, 400, 415, 400], [r.text for r in bad]
    assert [r.status_code for r in not_logged] == [404, 200, 200]
    return good, bad


def test_a_real_server_logs_its_failed_requests_and_windows_count_them(
    live: Any, register_in: Any, store_url: str, tmp_path: Path
) -> None:
    where = register_in(store_url, str(tmp_path / "artifacts"))
    server = live(["cancer"], store=where, log={"flush_seconds": 0.05})
    good, bad = _good_and_bad(server.url, where)
    server.stop()  # the lifespan's end writes what the log still holds
    with where.client() as client:
        log = client.metadata.predictions
        failed = log.failures("cancer")
        assert sorted(f.request_id for f in failed) == sorted(
            r.headers["x-request-id"] for r in bad
        )
        by_id = {f.request_id: f for f in failed}
        for response in bad:
            logged = by_id[response.headers["x-request-id"]]
            assert (logged.model, logged.version) == ("cancer", 1)
            assert logged.status == response.status_code
            assert logged.error == response.json()["error"].splitlines()[0][:256]
            assert logged.latency_ms > 0
        assert log.count("cancer") == {"requests": 11, "rows": 6, "errors": 6}
        assert sorted(log.frame("cancer")["request_id"].unique()) == sorted(
            r.headers["x-request-id"] for r in good
        )
        reference = tmp_path / "reference.csv"
        where.trained.cancer_rows.iloc[:200].to_csv(reference, index=False)
        later = datetime.now(timezone.utc) + timedelta(hours=2)
        result = monitor_windows(
            client, "cancer", by="time", size="1h", reference=str(reference), now=later
        )
    ops = [w.operations for w in result.windows]
    assert {w.version for w in result.windows} == {1}
    assert sum(o["requests"] for o in ops) == 11 and sum(o["errors"] for o in ops) == 6
    assert sum(o["rows"] for o in ops) == 6 and sum(w.n_rows for w in result.windows) == 6
    statuses: dict[str, float] = {}
    for o in ops:
        for status, n in o["errors_by_status"].items():
            statuses[status] = statuses.get(status, 0) + n
    assert statuses == {"400": 4, "415": 1, "422": 1}
    if len(ops) == 1:  # the traffic did not straddle an hour
        assert ops[0]["error_rate"] == pytest.approx(6 / 11)


def test_feedback_for_a_failed_request_is_refused_because_it_failed(
    make_app: Any, tmp_store: Served
) -> None:
    app = make_app(["cancer"], store=tmp_store, log={"flush_seconds": 0.05})
    refused = app.request("POST", "/predict/cancer", json={"rows": []})
    assert refused.status_code == 400
    request_id = refused.headers["x-request-id"]
    assert app.state.logger.flush(10.0)
    answer = app.request("POST", "/feedback", json={"id": request_id, "label": 1})
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["rejections"][0]["code"] == "request_failed"
    assert "the request failed (HTTP 400)" in body["error"]
    with tmp_store.client() as client:
        assert client.metadata.feedback.count("cancer", kind=None)["feedback"] == 0


def test_requests_refused_before_a_version_is_known_are_not_logged(
    make_app: Any, tmp_store: Served
) -> None:
    from modelcycle.serving import ApiKeys

    with tmp_store.client() as client:
        _, key = ApiKeys(client.metadata).create("app", ["predict"])
    app = make_app(["cancer"], store=tmp_store, log={"flush_seconds": 0.05}, auth={"enabled": True})
    row = [row_of(tmp_store.trained.cancer_rows)]
    assert app.request("POST", "/predict/cancer", json=row).status_code == 401  # no key
    with_key = {"X-API-Key": key}
    assert app.request("POST", "/predict/cancer", json=row, headers=with_key).status_code == 200
    bad = app.request("POST", "/predict/cancer", json={"rows": []}, headers=with_key)
    assert bad.status_code == 400
    assert app.state.logger.flush(10.0)
    with tmp_store.client() as client:
        assert client.metadata.predictions.count("cancer") == {
            "requests": 2,
            "rows": 1,
            "errors": 1,
        }
        failed = client.metadata.predictions.failures("cancer")
    assert [f.request_id for f in failed] == [bad.headers["x-request-id"]]
