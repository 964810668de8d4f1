"""``modelcycle predict`` and ``modelcycle keys`` through the real entry point."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelcycle.registry import Registry, signature_of
from modelcycle.serving import ApiKeys
from modelcycle.tracking import Client

Invoke = Callable[..., tuple[int, str, str]]  # the `cli` fixture of conftest.py


@pytest.fixture
def stores(client: Client) -> list[str]:
    """The global options that open the test's stores, with cancer@champion registered."""
    features, target = load_breast_cancer(as_frame=True, return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(features, target)
    registry = Registry(client)
    registry.register_model(
        "cancer", model, signature=signature_of(features, {}, task="binary", classes=[0, 1]),
        task="binary", family="linear", source="test",
    )  # fmt: skip
    registry.set_alias("cancer@1", "champion", reason="test")
    return ["--store", client.store_url, "--artifacts", client.artifacts_url]


def test_predict_writes_scores_and_reports_json(
    cli: Invoke, stores: list[str], tmp_path: Path
) -> None:
    features = load_breast_cancer(as_frame=True).data
    features.insert(0, "id", range(1000, 1000 + len(features)))
    features.to_csv(tmp_path / "in.csv", index=False)
    code, out, err = cli(
        *stores, "predict", "cancer@champion", "--input", tmp_path / "in.csv",
        "--output", tmp_path / "out.parquet", "--id-column", "id", "--proba", "--json",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert (report["model"], report["rows"], report["backend"]) == ("cancer@1", 569, "python")
    scored = pd.read_parquet(tmp_path / "out.parquet")
    assert scored["id"].tolist() == list(range(1000, 1569))
    assert list(scored.columns) == ["id", "prediction", "proba_0", "proba_1"]
    assert np.allclose(scored[["proba_0", "proba_1"]].sum(axis=1), 1.0)


def test_predict_fails_with_one_line_naming_row_and_column(
    cli: Invoke, stores: list[str], tmp_path: Path
) -> None:
    features = load_breast_cancer(as_frame=True).data.astype({"mean area": object})
    features.loc[9, "mean area"] = "n/a?"
    features.to_csv(tmp_path / "in.csv", index=False)
    code, out, err = cli(
        *stores, "predict", "cancer", "--input", tmp_path / "in.csv", "--output",
        tmp_path / "out.csv",
    )  # fmt: skip
    assert code == 1 and out == ""
    assert err.strip().splitlines() == [
        f"error: {tmp_path / 'in.csv'}, row 10, column 'mean area': invalid value 'n/a?': "
        "expected a number"
    ]
    assert not (tmp_path / "out.csv").exists()


def test_keys_create_list_revoke(cli: Invoke, stores: list[str], client: Client) -> None:
    code, out, err = cli(*stores, "keys", "create", "ci", "--scope", "predict", "--json")
    assert code == 0, err
    created = json.loads(out)
    secret = created["secret"]
    assert created["scopes"] == ["predict"] and created["prefix"] == secret[:8]
    assert ApiKeys(client.metadata).verify(secret, "predict") is not None
    code, out, _ = cli(*stores, "keys", "list")
    assert code == 0 and "ci" in out and secret not in out
    code, out, _ = cli(*stores, "keys", "revoke", "ci")
    assert (code, out.strip()) == (0, "revoked key ci")
    assert ApiKeys(client.metadata).verify(secret, "predict") is None
    code, out, _ = cli(*stores, "keys", "list", "--all", "--json")
    assert [k["revoked_at"] is not None for k in json.loads(out)] == [True]
    code, _, err = cli(*stores, "keys", "create", "x", "--scope", "root")
    assert code == 1 and "invalid value 'root' for scope" in err
