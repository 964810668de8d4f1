"""``POST /feedback`` in the real app: predict, send feedback with the returned ids, read the
labelled rows back; status codes, scopes and the feedback counter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from tests.server.conftest import InProcess, Served, row_of


def _predict(app: InProcess, route: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    answer = app.request("POST", f"/predict/{route}", json=rows)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _logged_app(make_app: Any, where: Served, **options: Any) -> InProcess:
    app: InProcess = make_app(
        ["cancer", "flowers"], store=where, log={"flush_seconds": 0.05}, **options
    )
    return app


def _feedback_total(app: InProcess, **labels: str) -> float:
    text = app.request("GET", "/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "modelcycle_feedback_total" and sample.labels == labels:
                return float(sample.value)
    return 0.0


def test_feedback_on_served_predictions_is_joined_to_them(
    make_app: Any, register_in: Any, store_url: str, tmp_path: Path
) -> None:
    where = register_in(store_url, str(tmp_path / "artifacts"))
    app = _logged_app(make_app, where)
    flowers = where.trained.flowers_rows
    three = _predict(app, "flowers", [row_of(flowers, i) for i in (0, 60, 120)])
    one = _predict(app, "cancer", [row_of(where.trained.cancer_rows, 5)])
    assert app.state.logger.flush(10.0)
    items = [
        {"id": three["ids"][0], "label": "setosa"},
        {"id": three["ids"][2], "label": "versicolor", "rating": 2},
        {"id": one["request_id"], "label": 1},  # the request id of a one-row request
    ]
    answer = app.request("POST", "/feedback", json=items)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["accepted"], body["duplicates"], body["conflicts"], body["rejected"]) == (
        4,
        0,
        0,
        0,
    )
    with where.client() as client:
        frame = client.metadata.feedback.labelled_frame("flowers")
        cancer = client.metadata.feedback.labelled_frame("cancer")
    assert frame["row_id"].tolist() == [three["ids"][0], three["ids"][2]]
    assert frame["label"].tolist() == ["setosa", "versicolor"]
    assert frame["prediction"].tolist() == [three["predictions"][0], three["predictions"][2]]
    assert (
        frame["petal length (cm)"].tolist() == flowers["petal length (cm)"].iloc[[0, 120]].tolist()
    )
    assert cancer["row_id"].tolist() == [f"{one['request_id']}:0"] and cancer["label"].tolist() == [
        1
    ]
    # the same feedback again changes nothing; a different label is a recorded conflict
    again = app.request("POST", "/feedback", json=items).json()
    assert (again["accepted"], again["duplicates"]) == (0, 4)
    changed = app.request("POST", "/feedback", json={"id": three["ids"][0], "label": "virginica"})
    assert changed.status_code == 200 and changed.json()["conflicts"] == 1
    assert _feedback_total(app, model="flowers", version="1", outcome="accepted") == 3
    assert _feedback_total(app, model="flowers", version="1", outcome="duplicate") == 3
    assert _feedback_total(app, model="flowers", version="1", outcome="conflict") == 1


def test_unknown_ids_are_404_alone_and_listed_in_a_batch(make_app: Any, tmp_store: Served) -> None:
    app = _logged_app(make_app, tmp_store)
    known = _predict(app, "cancer", [row_of(tmp_store.trained.cancer_rows, 0)])["ids"][0]
    assert app.state.logger.flush(10.0)
    alone = app.request("POST", "/feedback", json={"id": "f00d:0", "label": 1})
    assert alone.status_code == 404
    assert "'f00d:0'" in alone.json()["error"] and "no logged prediction" in alone.json()["error"]
    batch = app.request(
        "POST", "/feedback", json=[{"id": known, "label": 0}, {"id": "f00d:0", "label": 1}]
    )
    assert batch.status_code == 200
    body = batch.json()
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert [(r["position"], r["id"], r["code"]) for r in body["rejections"]] == [
        (1, "f00d:0", "unknown_id")
    ]
    assert _feedback_total(app, model="_unknown", version="", outcome="rejected") == 2
    wrong = app.request("POST", "/feedback", json={"id": known, "label": "maybe"})
    assert wrong.status_code == 422 and "not a class of cancer@1" in wrong.json()["error"]


def test_malformed_feedback_is_400_naming_the_field(make_app: Any, tmp_store: Served) -> None:
    app = _logged_app(make_app, tmp_store)
    cases = [
        ({"label": 1}, "request body field 'id'"),
        ({"id": "x:0", "rating": "great"}, "request body field 'rating'"),
        ([{"id": "x:0", "label": 1}, {"id": "x:1"}], "item 1: expected a 'label' or a 'rating'"),
        ({"id": "x:0", "score": 1}, "request body field 'score'"),
        ([], "non-empty list"),
        ("x:0", "invalid request body"),
    ]
    for body, message in cases:
        answer = app.request("POST", "/feedback", json=body)
        assert answer.status_code == 400, body
        assert message in answer.json()["error"], answer.json()
    broken = app.request("POST", "/feedback", content=b"{not json")
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]


def test_feedback_needs_the_feedback_scope_when_keys_are_on(
    make_app: Any, tmp_store: Served
) -> None:
    from modelcycle.serving import ApiKeys

    with tmp_store.client() as client:
        keys = ApiKeys(client.metadata)
        _, predict_key = keys.create("app", ["predict"])
        _, feedback_key = keys.create("labeller", ["feedback"])
    app = _logged_app(make_app, tmp_store, auth={"enabled": True})
    item = {"id": "f00d:0", "label": 1}
    assert app.request("POST", "/feedback", json=item).status_code == 401
    assert (
        app.request("POST", "/feedback", json=item, headers={"X-API-Key": predict_key}).status_code
        == 403
    )
    assert (
        app.request("POST", "/feedback", json=item, headers={"X-API-Key": feedback_key}).status_code
        == 404
    )


def test_feedback_is_documented_in_openapi(app: InProcess) -> None:
    document = app.request("GET", "/openapi.json").json()
    route = document["paths"]["/feedback"]["post"]
    assert "oneOf" in route["requestBody"]["content"]["application/json"]["schema"]
    assert {"200", "400", "404", "422"} <= set(route["responses"])
