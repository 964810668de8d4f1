"""Bad requests get a 4xx whose message names the field, never a 500; schemathesis finds no
server error and no answer outside the OpenAPI document."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

InProcess = Served = Any  # the conftest's fixtures (see tests/server/conftest.py)


def row_of(frame: pd.DataFrame, i: int = 0) -> dict[str, Any]:
    """Row ``i`` as plain JSON values."""
    return {str(k): (v.item() if hasattr(v, "item") else v) for k, v in frame.iloc[i].items()}


def _refused(app: InProcess, path: str, status: int, *words: str, **options: Any) -> None:
    answer = app.request("POST", path, **options)
    assert answer.status_code == status, answer.text
    message = answer.json()["error"]
    for word in words:
        assert word in message, message


def test_missing_unknown_and_mistyped_fields_are_named(app: InProcess, served: Served) -> None:
    row = row_of(served.trained.cancer_rows)
    missing = {k: v for k, v in row.items() if k != "mean area"}
    _refused(app, "/predict/cancer", 422, "'mean area'", "missing", json=[missing])
    _refused(app, "/predict/cancer", 422, "'shoe size'", json=[{**row, "shoe size": 44}])
    bad = [row, {**row, "worst radius": "big"}]
    _refused(app, "/predict/cancer", 422, "'big'", "'worst radius'", "row 1", json=bad)
    columns = {name: [value] for name, value in row.items()} | {"mean area": ["x"]}
    _refused(app, "/invocations", 422, "'mean area'", json={"inputs": columns})
    _refused(app, "/invocations", 400, "exactly one", json={"instances": [row], "inputs": {}})
    _refused(app, "/invocations", 400, "'params'", json={"instances": [row], "params": {"k": 1}})


def test_unknown_category_rejected_or_mapped_per_spec(make_app: Any, served: Served) -> None:
    row = {**row_of(served.trained.flowers_rows), "size": "gigantic"}
    strict = make_app(["flowers"])
    _refused(strict, "/predict/flowers", 422, "'gigantic'", "'size'", json=[row])
    lenient = make_app(["flowers"], unknown_categories="unknown")
    answer = lenient.request("POST", "/predict/flowers", json=[row])
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0] in ("setosa", "versicolor", "virginica")


def test_row_and_body_limits(make_app: Any, served: Served) -> None:
    app = make_app(["cancer"], limits={"max_rows": 3, "max_body_bytes": 20_000})
    rows = [row_of(served.trained.cancer_rows, i) for i in range(4)]
    _refused(app, "/predict/cancer", 422, "number of rows", "at most 3", json=rows)
    big = b'[{"mean radius": "' + b"x" * 30_000 + b'"}]'
    _refused(app, "/predict/cancer", 413, "over the limit", content=big)

    async def chunks() -> Any:  # no Content-Length: the limit holds while streaming
        for _ in range(30):
            yield b" " * 1000

    _refused(app, "/predict/cancer", 413, "over the limit", content=chunks())


def test_malformed_bodies_get_400_naming_what_is_wrong(app: InProcess, served: Served) -> None:
    _refused(app, "/predict/cancer", 400, "not valid JSON", content=b"{nope")
    _refused(app, "/predict/cancer", 400, "empty", content=b"")
    _refused(
        app, "/predict/cancer", 400, "'probabilities'", json={"records": [], "probabilities": 3}
    )
    _refused(app, "/predict/cancer", 400, "records", json={"rows": []})
    _refused(app, "/v1/models/cancer:predict", 400, "instances", json={"inst": []})
    name = served.trained.cancer_rows.columns[0]
    tensor = {"name": name, "shape": [2], "datatype": "FP64", "data": [1.0]}
    _refused(app, "/v2/models/cancer/infer", 400, f"{name!r}", "shape", json={"inputs": [tensor]})
    tensor = {"name": name, "shape": [1], "datatype": "FP64", "data": ["a"]}
    _refused(app, "/v2/models/cancer/infer", 400, "'a'", f"{name!r}", json={"inputs": [tensor]})
    tensor = {"name": name, "shape": [1], "datatype": "FP99", "data": [1.0]}
    _refused(app, "/v2/models/cancer/infer", 400, "'FP99'", json={"inputs": [tensor]})
    body = {"inputs": [{**tensor, "datatype": "FP64"}], "outputs": [{"name": "explain"}]}
    _refused(app, "/v2/models/cancer/infer", 400, "'explain'", "outputs[0]", json=body)
    answer = app.request("GET", "/v2/models/cancer/versions/9")
    assert answer.status_code == 404 and "'9'" in answer.json()["error"]
    _refused(app, "/predict/unknown", 404, "'unknown'", json=[{}])


def test_errors_are_counted_by_status(app: InProcess) -> None:
    app.request("POST", "/predict/cancer", content=b"{nope")
    app.request("POST", "/predict/cancer", json=[{"x": 1}])
    text = app.request("GET", "/metrics").text
    assert (
        'modelcycle_request_errors_total{model="cancer",protocol="native",status="400"} 1.0' in text
    )
    assert (
        'modelcycle_request_errors_total{model="cancer",protocol="native",status="422"} 1.0' in text
    )


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_nor_undocumented_answer(make_app: Any) -> None:
    """Positive (30) and negative (15) cases for every operation, derandomized: no 5xx, every
    status, content type and body as the OpenAPI document says."""
    from schemathesis.generation import GenerationMode

    app = make_app(["cancer"])
    api = schemathesis.openapi.from_asgi("/openapi.json", app.app)
    checks = schemathesis.checks
    wanted = [
        checks.not_a_server_error,
        checks.status_code_conformance,
        checks.content_type_conformance,
        checks.response_schema_conformance,
    ]
    operations = [result.ok() for result in api.get_all_operations()]
    calls = dict.fromkeys(GenerationMode, 0)
    assert len(operations) >= 15
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, wanted, calls)
            except Unsatisfiable:  # nothing to make invalid (no body, no parameter)
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert calls[GenerationMode.POSITIVE] > 100 and calls[GenerationMode.NEGATIVE] > 50, calls


def _fuzz(operation: Any, mode: Any, checks: list[Any], calls: dict[Any, int]) -> None:
    """Run derandomized cases of ``operation`` in ``mode`` through ``checks``."""
    from schemathesis.generation import GenerationMode

    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=30 if mode is GenerationMode.POSITIVE else 15,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case: Any) -> None:
        case.call_and_validate(checks=checks)
        calls[mode] += 1

    run()


def test_csv_errors_name_the_column_and_the_line(app: InProcess, served: Served) -> None:
    rows = served.trained.cancer_rows.iloc[:2].copy()
    text = rows.to_csv(index=False).replace(str(rows.iloc[1, 0]), "oops", 1)
    headers = {"Content-Type": "text/csv"}
    name = rows.columns[0]
    _refused(
        app, "/invocations", 400, "'oops'", f"{name!r}", "CSV line 3", content=text, headers=headers
    )
    short = ",".join(rows.columns) + "\n1.0,2.0\n"
    _refused(
        app, "/invocations", 400, "CSV line 2", "expected 30 values", content=short, headers=headers
    )
