"""Every protocol answered by real clients: Triton's v2 HTTP client, MLflow's own scoring
client, the documented Vertex AI and native bodies; the answers equal the model's own."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

InProcess = LiveServer = Served = Any  # the conftest's fixtures (see tests/server/conftest.py)


def row_of(frame: pd.DataFrame, i: int = 0) -> dict[str, Any]:
    """Row ``i`` as plain JSON values."""
    return {str(k): (v.item() if hasattr(v, "item") else v) for k, v in frame.iloc[i].items()}


def _expected(served: Served, rows: Any, proba: bool = False) -> Any:
    pipeline = served.trained.cancer
    return pipeline.predict_proba(rows) if proba else pipeline.predict(rows)


@pytest.mark.slow
def test_triton_client_speaks_open_inference_protocol_v2(live: Any, served: Served) -> None:
    import tritonclient.http as triton

    server: LiveServer = live(["cancer"])
    client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("cancer") and client.is_model_ready("cancer", "1")
    assert not client.is_model_ready("cancer", "7")
    meta = client.get_model_metadata("cancer")
    assert meta["name"] == "cancer" and meta["versions"] == ["1"]
    assert meta["platform"] == "modelcycle_onnx"
    assert {t["name"] for t in meta["inputs"]} == set(served.trained.cancer_rows.columns)
    assert [o["name"] for o in meta["outputs"]] == ["predict", "predict_proba"]
    rows = served.trained.cancer_rows.iloc[:5]
    for binary in (True, False):  # Triton's binary tensor extension, and plain JSON
        inputs = []
        for name in rows.columns:
            tensor = triton.InferInput(name, [len(rows)], "FP64")
            tensor.set_data_from_numpy(rows[name].to_numpy(np.float64), binary_data=binary)
            inputs.append(tensor)
        result = client.infer("cancer", inputs, request_id="abc")
        np.testing.assert_array_equal(result.as_numpy("predict"), _expected(served, rows))
        np.testing.assert_allclose(
            result.as_numpy("predict_proba"), _expected(served, rows, proba=True), atol=1e-5
        )
        assert result.get_response()["id"] == "abc"
        only = client.infer("cancer", inputs, outputs=[triton.InferRequestedOutput("predict")])
        assert [o["name"] for o in only.get_response()["outputs"]] == ["predict"]
    client.close()


def test_one_two_dimensional_tensor_in_signature_order(app: InProcess, served: Served) -> None:
    rows = served.trained.cancer_rows.iloc[:3]
    body = {
        "inputs": [
            {
                "name": "input-0",
                "shape": [3, rows.shape[1]],
                "datatype": "FP64",
                "data": rows.to_numpy().tolist(),
            }
        ],
        "outputs": [{"name": "predict"}],
    }
    answer = app.request("POST", "/v2/models/cancer/infer", json=body)
    assert answer.status_code == 200, answer.text
    (output,) = answer.json()["outputs"]
    assert output["shape"] == [3] and output["data"] == _expected(served, rows).tolist()


@pytest.mark.slow
def test_mlflow_scoring_client_gets_the_models_predictions(live: Any, served: Served) -> None:
    with warnings.catch_warnings():  # MLflow warns about its own type hints on import
        warnings.simplefilter("ignore")
        from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    server: LiveServer = live(["cancer"])
    client = ScoringServerClient("127.0.0.1", server.port)
    client.wait_server_ready(timeout=10)
    rows = served.trained.cancer_rows.iloc[10:14]
    answer = client.invoke(rows)  # MLflow sends {"dataframe_split": ...}
    assert answer["predictions"] == _expected(served, rows).tolist()
    assert answer.get_predictions().iloc[:, 0].tolist() == answer["predictions"]
    assert client.get_version()


def test_invocations_accepts_every_mlflow_input_format_and_csv(
    app: InProcess, served: Served
) -> None:
    rows = served.trained.cancer_rows.iloc[:2]
    records = [row_of(rows, 0), row_of(rows, 1)]
    expected = _expected(served, rows).tolist()
    names = list(rows.columns)
    bodies = [
        {"dataframe_split": {"columns": names, "index": [0, 1], "data": rows.to_numpy().tolist()}},
        {"dataframe_records": records},
        {"instances": records},
        {"instances": rows.to_numpy().tolist()},
        {"inputs": {name: rows[name].tolist() for name in names}},
    ]
    for body in bodies:
        answer = app.request("POST", "/invocations", json=body)
        assert answer.status_code == 200, (body.keys(), answer.text)
        assert answer.json() == {"predictions": expected}
    csv = rows.to_csv(index=False)
    answer = app.request(
        "POST", "/invocations", content=csv, headers={"Content-Type": "text/csv; charset=utf-8"}
    )
    assert answer.json() == {"predictions": expected}


def test_invocations_refuses_other_charsets_and_types_with_415(app: InProcess) -> None:
    for content_type in (
        "application/json; charset=latin-1",
        "application/json; format=pandas-split",
        "application/xml",
    ):
        answer = app.request(
            "POST", "/invocations", content=b"{}", headers={"Content-Type": content_type}
        )
        assert answer.status_code == 415, content_type
        assert "error" in answer.json()


def test_ping_health_and_version_follow_mlflow(app: InProcess) -> None:
    assert app.request("GET", "/ping").status_code == 200
    assert app.request("GET", "/health").status_code == 200
    version = app.request("GET", "/version")
    assert version.status_code == 200 and version.text


def test_vertex_instances_in_predictions_out(
    app: InProcess, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = served.trained.cancer_rows.iloc[:3]
    body = {"instances": [row_of(rows, i) for i in range(3)], "parameters": {}}
    answer = app.request("POST", "/v1/models/cancer:predict", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": _expected(served, rows).tolist()}
    listed = {"instances": rows.to_numpy().tolist()}
    assert app.request("POST", "/v1/models/cancer:predict", json=listed).json() == answer.json()


def test_vertex_routes_from_the_aip_environment(
    make_app: Any, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIP_PREDICT_ROUTE", "/predict-here")
    monkeypatch.setenv("AIP_HEALTH_ROUTE", "/healthy")
    app = make_app(["cancer"])
    rows = served.trained.cancer_rows.iloc[:1]
    answer = app.request("POST", "/predict-here", json={"instances": [row_of(rows)]})
    assert answer.json() == {"predictions": _expected(served, rows).tolist()}
    assert app.request("GET", "/healthy").status_code == 200


def test_native_predict_returns_row_ids_version_and_probabilities(
    app: InProcess, served: Served
) -> None:
    rows = served.trained.flowers_rows.iloc[[0, 75, 140]]
    records = [row_of(rows, i) for i in range(3)]
    answer = app.request(
        "POST", "/predict/flowers", json={"records": records, "probabilities": True}
    )
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["model"] == "flowers@1" == answer.headers["X-Model-Version"]
    assert found["request_id"] == answer.headers["X-Request-Id"]
    assert found["ids"] == [f"{found['request_id']}:{i}" for i in range(3)]
    assert found["predictions"] == served.trained.flowers.predict(rows).tolist()
    assert found["classes"] == ["setosa", "versicolor", "virginica"]
    np.testing.assert_allclose(
        found["probabilities"], served.trained.flowers.predict_proba(rows), atol=1e-9
    )
    bare = app.request("POST", "/predict/flowers", json=records).json()
    assert "probabilities" not in bare and bare["predictions"] == found["predictions"]
    assert bare["request_id"] != found["request_id"]


def test_every_response_names_the_version_and_the_request(app: InProcess) -> None:
    every = "cancer@1,flowers@1"
    for method, path, version in (
        ("GET", "/v2/health/live", every),
        ("GET", "/metrics", every),
        ("GET", "/openapi.json", every),
        ("GET", "/docs", every),
        ("GET", "/no/such/route", every),
        ("POST", "/predict/cancer", "cancer@1"),  # a refused request of one route: its version
    ):
        answer = app.request(method, path)
        assert answer.headers["X-Request-Id"], path
        assert answer.headers["X-Model-Version"] == version, path


def test_openapi_documents_each_protocol_body(app: InProcess) -> None:
    spec = app.request("GET", "/openapi.json").json()
    paths = spec["paths"]
    for path in ("/v2/models/{name}/infer", "/invocations", "/predict/{name}"):
        body = paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body, path
    assert "text/csv" in paths["/invocations"]["post"]["requestBody"]["content"]
    assert (
        "inputs"
        in paths["/v2/models/{name}/infer"]["post"]["requestBody"]["content"]["application/json"][
            "schema"
        ]["properties"]
    )


@pytest.mark.slow
def test_triton_client_sends_text_and_numbers_as_binary_tensors(live: Any, served: Served) -> None:
    import tritonclient.http as triton

    server: LiveServer = live(["flowers"])
    client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    rows = served.trained.flowers_rows.iloc[[0, 60, 120]]
    meta = {t["name"]: t["datatype"] for t in client.get_model_metadata("flowers")["inputs"]}
    assert meta["size"] == "BYTES" and meta["sepal length (cm)"] == "FP64"
    inputs = []
    for name in rows.columns:
        tensor = triton.InferInput(name, [len(rows)], meta[name])
        values = rows[name].to_numpy(object if meta[name] == "BYTES" else np.float64)
        tensor.set_data_from_numpy(values, binary_data=True)
        inputs.append(tensor)
    result = client.infer("flowers", inputs, outputs=[triton.InferRequestedOutput("predict")])
    labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("predict")]
    assert labels == served.trained.flowers.predict(rows).tolist()
    client.close()
