"""Feedback ingestion: ids joined to logged predictions, labels checked against the model."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from modelcycle.errors import DataError, InvalidValueError, NotFoundError
from modelcycle.loop import ingest_feedback, ingest_file
from modelcycle.registry import Registry, signature_of
from modelcycle.tracking import Client
from modelcycle.types import IngestCounts, PredictionRecord

ROWS = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]})


def _register(client: Client) -> None:
    registry = Registry(client)
    kinds = {"x": "numeric"}
    colours = ["blue", "red", "blue", "red", "blue", "red"]
    registry.register_model(
        "colour",
        LogisticRegression().fit(ROWS, colours),
        signature=signature_of(ROWS, kinds, task="binary", classes=["blue", "red"]),
        task="binary",
        family="linear",
        source="tests",
    )
    registry.register_model(
        "price",
        LinearRegression().fit(ROWS, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        signature=signature_of(ROWS, kinds, task="regression", classes=None),
        task="regression",
        family="linear",
        source="tests",
    )


def _logged(request_id: str, model: str, rows: int) -> PredictionRecord:
    predicted: list[Any] = ["red"] * rows if model == "colour" else [2.5] * rows
    return PredictionRecord(
        request_id=request_id,
        model=model,
        version=1,
        time=datetime(2026, 1, 1, tzinfo=timezone.utc),
        latency_ms=1.0,
        n_rows=rows,
        inputs={"x": [float(i) for i in range(rows)]},
        outputs={"predict": predicted},
        shadow=False,
        sample_rate=1.0,
    )


@pytest.fixture
def served(client: Client) -> Client:
    """Models colour (classes blue, red) and price (regression), and a logged request of
    each: c3 (3 rows), c1 (1 row), p1 (1 row of price)."""
    _register(client)
    client.metadata.predictions.insert_many(
        [_logged("c3", "colour", 3), _logged("c1", "colour", 1), _logged("p1", "price", 1)]
    )
    return client


def test_labels_join_by_row_id_or_by_the_id_of_a_one_row_request(served: Client) -> None:
    items = [
        {"id": "c3:0", "label": "red"},
        {"id": "c3:2", "label": "blue"},
        {"id": "c1", "label": "red", "rating": 4},
        {"id": "p1", "label": 3.5},
    ]
    report = ingest_feedback(served, items, source="tests")
    assert report.counts == IngestCounts(accepted=5)
    assert report.by_version == {"colour@1": IngestCounts(accepted=4), "price@1": IngestCounts(1)}
    frame = served.metadata.feedback.labelled_frame("colour")
    # ordered as the log is: prediction time, then request id
    assert frame["row_id"].tolist() == ["c1:0", "c3:0", "c3:2"]
    assert frame["label"].tolist() == ["red", "red", "blue"]
    assert frame["x"].tolist() == [0.0, 0.0, 2.0]
    ratings = served.metadata.feedback.query("colour", kind="rating")
    assert [(r.row_id, r.value, r.source) for r in ratings] == [("c1:0", 4, "tests")]


def test_unknown_ids_are_rejected_with_their_reason_and_position(served: Client) -> None:
    items = [
        {"id": "c3:0", "label": "red"},
        {"id": "nope:0", "label": "red"},
        {"id": "c3:7", "label": "red"},
        {"id": "c3", "label": "red"},
    ]
    report = ingest_feedback(served, items, source="tests")
    assert report.counts == IngestCounts(accepted=1, rejected=3)
    found = [(r.position, r.id, r.code) for r in report.rejections]
    assert found == [
        (1, "nope:0", "unknown_id"),
        (2, "c3:7", "unknown_id"),
        (3, "c3", "unknown_id"),
    ]
    reasons = [r.reason for r in report.rejections]
    assert "no logged prediction" in reasons[0]
    assert "has 3 rows (0 to 2)" in reasons[1]
    assert "give the row id" in reasons[2]
    assert report.by_version[""] == IngestCounts(rejected=3)


def test_feedback_on_a_failed_request_is_rejected_because_it_failed(served: Client) -> None:
    from modelcycle.store._predictions import FailedRequest

    failure = FailedRequest(
        request_id="f1",
        model="colour",
        version=1,
        time=datetime(2026, 1, 1, tzinfo=timezone.utc),
        latency_ms=0.2,
        status=400,
        error="invalid value 'x' for field 'x': expected a number",
    )
    served.metadata.predictions.insert_many([failure])
    items = [
        {"id": "f1", "label": "red"},
        {"id": "f1:0", "rating": 3},
        {"id": "c1", "label": "red"},
    ]
    report = ingest_feedback(served, items, source="tests")
    assert report.counts == IngestCounts(accepted=1, rejected=2)
    assert [(r.id, r.code) for r in report.rejections] == [
        ("f1", "request_failed"),
        ("f1:0", "request_failed"),
    ]
    assert report.rejections[0].reason.startswith("the request failed (HTTP 400)")
    assert report.by_version["colour@1"] == IngestCounts(accepted=1, rejected=2)
    assert [f.request_id for f in served.metadata.feedback.query("colour", kind=None)] == ["c1"]


def test_labels_must_fit_the_models_task(served: Client) -> None:
    items = [
        {"id": "c3:0", "label": "green"},
        {"id": "p1", "label": "expensive"},
        {"id": "c3:1", "label": "blue"},
    ]
    report = ingest_feedback(served, items, source="tests")
    assert report.counts == IngestCounts(accepted=1, rejected=2)
    assert [r.code for r in report.rejections] == ["invalid_label", "invalid_label"]
    assert "not a class of colour@1 ('blue', 'red')" in report.rejections[0].reason
    assert "price@1 is a regressor" in report.rejections[1].reason
    # a numeric label given as text is read as the number
    assert ingest_feedback(served, [{"id": "p1", "label": "4.25"}], source="t").counts.accepted
    assert served.metadata.feedback.query("price")[0].value == 4.25


def test_resending_is_idempotent_and_a_new_label_is_a_conflict(served: Client) -> None:
    first = [{"id": "c3:0", "label": "red"}, {"id": "c3:1", "label": "red"}]
    ingest_feedback(served, first, source="tests")
    assert ingest_feedback(served, first, source="tests").counts == IngestCounts(duplicates=2)
    changed = ingest_feedback(served, [{"id": "c3:0", "label": "blue"}], source="tests")
    assert changed.counts == IngestCounts(conflicts=1)
    frame = served.metadata.feedback.labelled_frame("colour")
    assert frame.set_index("row_id")["label"].to_dict() == {"c3:0": "blue", "c3:1": "red"}
    assert frame.attrs["conflicts"] == 1


def test_only_the_first_reasons_are_kept_but_every_rejection_is_counted(
    served: Client,
) -> None:
    report = ingest_feedback(
        served, [{"id": f"gone{i}", "rating": 1} for i in range(50)], source="tests"
    )
    assert report.counts.rejected == 50
    assert len(report.rejections) == 20
    assert report.to_dict()["rejected"] == 50


@pytest.mark.parametrize(
    ("items", "match"),
    [
        ([{"label": "red"}], "item 0 field 'id'"),
        ([{"id": "c1"}], "item 0: expected a 'label' or a 'rating'"),
        ([{"id": "c1", "label": "red"}, {"id": "c1", "rating": "great"}], "item 1 field 'rating'"),
        ([{"id": "c1", "lable": "red"}], "item 0 field 'lable'"),
        (["c1"], "item 0"),
    ],
)
def test_malformed_items_refuse_the_batch_naming_the_field(
    served: Client, items: list[Any], match: str
) -> None:
    with pytest.raises(InvalidValueError, match=match):
        ingest_feedback(served, items, source="tests")
    assert served.metadata.feedback.count("colour", kind=None)["feedback"] == 0


def test_files_of_every_format_are_ingested(served: Client, tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": ["c3:0", "c3:1", "zz:0"], "label": ["red", "blue", "red"]})
    frame.to_csv(tmp_path / "labels.csv", index=False)
    frame.to_parquet(tmp_path / "labels.parquet")
    (tmp_path / "ratings.jsonl").write_text(
        '{"id": "c1", "rating": 5}\n\n{"id": "p1", "rating": 2}\n'
    )
    csv = ingest_file(served, tmp_path / "labels.csv")
    assert csv.counts == IngestCounts(accepted=2, rejected=1)
    assert csv.rejections[0].where == "labels.csv row 3"
    assert csv.source == str(tmp_path / "labels.csv")
    parquet = ingest_file(served, tmp_path / "labels.parquet")
    assert parquet.counts == IngestCounts(duplicates=2, rejected=1)
    assert ingest_file(served, tmp_path / "ratings.jsonl").counts == IngestCounts(accepted=2)


def test_csv_labels_of_a_numeric_class_match_it(client: Client, tmp_path: Path) -> None:
    Registry(client).register_model(
        "bit",
        LogisticRegression().fit(ROWS, [0, 1, 0, 1, 0, 1]),
        signature=signature_of(ROWS, {"x": "numeric"}, task="binary", classes=[0, 1]),
        task="binary",
        family="linear",
        source="tests",
    )
    client.metadata.predictions.insert_many([replace(_logged("b2", "colour", 2), model="bit")])
    (tmp_path / "bits.csv").write_text("id,label\nb2:0,1\nb2:1,2\n")
    report = ingest_file(client, tmp_path / "bits.csv")
    assert report.counts == IngestCounts(accepted=1, rejected=1)
    assert client.metadata.feedback.query("bit")[0].value == 1


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("bad.csv", "id,label,comment\nc1,red,ok\n", r"bad.csv: unknown column 'comment'"),
        ("bad.csv", "label\nred\n", r"bad.csv: missing column 'id'"),
        (
            "bad.csv",
            "id,rating\nc1,5\nc3:1,great\n",
            r"'great' for bad.csv row 2 column 'rating': expected a number",
        ),
        ("bad.csv", "id,label\nc1,red\n,blue\n", r"bad.csv row 2 column 'id'"),
        ("bad.jsonl", '{"id": "c1", "rating": 1}\n{"id": \n', r"bad.jsonl: line 2: not valid JSON"),
        ("bad.jsonl", '{"id": "c1"}\n', r"bad.jsonl: line 1: expected a column 'label'"),
        ("bad.txt", "id,label\n", r"unsupported feedback file type '.txt'"),
        ("bad.parquet", "not parquet", r"bad.parquet: cannot read as parquet"),
    ],
)
def test_bad_files_are_refused_naming_file_row_and_column(
    served: Client, tmp_path: Path, name: str, text: str, match: str
) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(DataError, match=match):
        ingest_file(served, tmp_path / name)
    assert served.metadata.feedback.count("colour", kind=None)["feedback"] == 0


def test_a_missing_file_is_not_found(served: Client, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"gone\.csv"):
        ingest_file(served, tmp_path / "gone.csv")
