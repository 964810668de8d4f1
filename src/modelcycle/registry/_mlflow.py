"""MLflow interchange: a model version out as an MLflow model folder, MLflow sklearn models in.

Users coming from MLflow keep their models, and a version we export is loaded and served by
MLflow itself (``mlflow.pyfunc.load_model``, ``mlflow models serve --env-manager local``).
MLflow is only imported here, when one of the two functions is called (it ships with the
``[dev]`` extra; ``pip install 'mlflow>=3,<4'`` otherwise).

Export (:func:`export_mlflow`) goes through MLflow's own ``mlflow.sklearn.save_model``, so the
folder has the ``sklearn`` and ``python_function`` flavors and nothing MLflow does not write:

    MLmodel            flavors; our signature as an MLflow ``ModelSignature``; ``metadata``
                       (the registry's name, version, run id, hashes) plus, under
                       ``modelcycle``, the package version and our full signature
    model.skops        the fitted pipeline (skops; the types skops does not trust by default,
                       e.g. ``modelcycle.data._preprocessing.as_labels``, are written as
                       ``skops_trusted_types``; PyTorch families, which skops cannot describe,
                       are pickled as ``model.pkl``)
    requirements.txt   mlflow, modelcycle, scikit-learn, lightgbm, skops, numpy, pandas, scipy
                       pinned to this environment's versions

The preprocessing calls functions of ``modelcycle.data._preprocessing``, so MLflow can only load
the model where modelcycle is importable: it is a pip requirement rather than a code path, as a
copy of the package in the folder would shadow the installed one in the serving process.

Signature kinds map to MLflow column types as follows; MLflow's types cannot say "nullable" or
list categories, which is why the full signature also travels in the metadata (import reads it
back unchanged). For categorical and boolean columns the input example's own column type wins
(a categorical coded as integers must be sent as integers).

    numeric       double            boolean       boolean
    integer       long (double when nullable: a long column cannot hold a missing value)
    categorical   string            text          string
    datetime      datetime          id            left out (the preprocessing drops ids)

Import (:func:`import_mlflow`) loads a folder (or a ``runs:/``, ``models:/`` or other artifact
URI, downloaded through the configured tracking server) that has the ``sklearn`` flavor, with
``mlflow.sklearn.load_model``. MLflow sklearn models are pickles, or skops files whose list of
trusted types is read from the model's own MLmodel file: importing runs the model's code, so it
is for the user's own models only. Two guards apply: a skops file holding a type outside
:data:`~modelcycle.models._persist.TRUSTED_MODULES` is refused by name before anything is
loaded (whatever its MLmodel file trusts), and a loaded model that the registry could not
re-store with skops (``modelcycle.models._persist.dump_model``) and load back is refused by its
type names, so an imported version is stored like the registry's own. MLflow itself refuses to
load any sklearn model when ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION`` is set to false.

    folder = export_mlflow(pipeline, "out/churn-3", signature=sig, metadata={"version": 3})
    imported = import_mlflow("mlruns/0/abc/artifacts/model")
    imported.task, imported.features, imported.model.predict(frame)
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from importlib import metadata as dist
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING, Any

from modelcycle._version import __version__
from modelcycle.errors import (
    AlreadyExistsError,
    IntegrityError,
    InvalidValueError,
    NotFoundError,
    invalid_value,
)
from modelcycle.models._persist import TRUSTED_MODULES, dump_model

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["KIND_TYPES", "ImportedModel", "export_mlflow", "import_mlflow"]

#: Signature kind -> MLflow column type (see the module docstring for nullable integers).
KIND_TYPES = {
    "numeric": "double",
    "integer": "long",
    "boolean": "boolean",
    "categorical": "string",
    "text": "string",
    "datetime": "datetime",
}
#: MLflow column type -> signature kind, for models that come from MLflow.
_TYPE_KINDS = {
    "double": "numeric",
    "float": "numeric",
    "long": "integer",
    "integer": "integer",
    "boolean": "boolean",
    "string": "categorical",
    "datetime": "datetime",
}
#: Distributions pinned in an exported model's requirements, when installed.
PINNED = ("modelcycle", "scikit-learn", "lightgbm", "skops", "numpy", "pandas", "scipy")
#: Key of our own entry in the MLmodel ``metadata``.
METADATA_KEY = "modelcycle"
_INSTALL = "install it with: pip install 'mlflow>=3,<4'"


@dataclass(frozen=True, eq=False)
class ImportedModel:
    """A scikit-learn model read from an MLflow model, ready to become a new version.

    ``signature`` has the shape :func:`export_mlflow` takes (None when the MLflow model has
    neither a column signature nor an input example); ``task`` is ``binary`` or
    ``multiclass`` for a classifier with ``classes_``, else ``regression``; ``features`` are
    the input columns; ``mlflow_metadata`` holds ``run_id``, ``model_uuid``,
    ``utc_time_created``, ``flavors``, ``mlflow_version`` and the MLmodel's ``metadata``.
    """

    model: Any = field(repr=False)
    signature: dict[str, Any] | None
    task: str
    classes: list[Any] | None
    features: list[str]
    source: str
    mlflow_metadata: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON form (without the model)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "model"}


def _mlflow() -> Any:
    """The ``mlflow`` package with its sklearn flavor, or a clear error when it is missing."""
    try:
        with warnings.catch_warnings():
            # mlflow.pyfunc's import builds schemas from its own ``Any`` type hints and warns
            # about them; nothing of ours is involved. It is imported here, by name, because
            # ``mlflow`` otherwise loads it lazily inside save_model, outside this filter.
            warnings.filterwarnings("ignore", message=".*Any type hint", category=UserWarning)
            import mlflow
            import mlflow.artifacts
            import mlflow.exceptions
            import mlflow.models
            import mlflow.pyfunc
            import mlflow.sklearn
    except ImportError:
        why = f"MLflow interchange needs MLflow, which is not installed; {_INSTALL}"
        raise InvalidValueError(why) from None
    return mlflow


# -- export ----------------------------------------------------------------------------------


def _column_type(column: Any, example_types: Mapping[str, str]) -> str | None:
    """The MLflow type of one signature column; None for an id (the preprocessing drops it)."""
    if not isinstance(column, Mapping) or not isinstance(column.get("name"), str):
        raise invalid_value("signature input", column, "expected {name, kind, nullable, ...}")
    kind = column.get("kind")
    if kind == "id":
        return None
    if kind not in KIND_TYPES:
        kinds = ", ".join(KIND_TYPES)
        raise invalid_value(f"signature input {column['name']!r} kind", kind, f"one of {kinds}")
    found = KIND_TYPES[kind]
    if kind in ("categorical", "boolean"):
        found = example_types.get(str(column["name"]), found)
    return "double" if found == "long" and column.get("nullable", True) else found


def _dtype_kind(column: pd.Series) -> str:
    """The kind a column's pandas dtype implies (strings and objects: categorical)."""
    from pandas.api import types

    if types.is_bool_dtype(column.dtype):
        return "boolean"
    if types.is_integer_dtype(column.dtype):
        return "integer"
    if types.is_float_dtype(column.dtype):
        return "numeric"
    return "datetime" if types.is_datetime64_any_dtype(column.dtype) else "categorical"


def _example_types(example: pd.DataFrame | None) -> dict[str, str]:
    """The MLflow types of the input example's boolean and numeric columns."""
    if example is None:
        return {}
    kinds = {str(name): _dtype_kind(example[name]) for name in example.columns}
    plain = ("boolean", "integer", "numeric")
    return {name: KIND_TYPES[kind] for name, kind in kinds.items() if kind in plain}


def _example_columns(example: pd.DataFrame) -> list[dict[str, Any]]:
    """Signature columns read off an input example's dtypes and missing values."""
    return [
        {
            "name": str(name),
            "kind": _dtype_kind(example[name]),
            "nullable": bool(example[name].isna().any()),
            "categories": None,
        }
        for name in example.columns
    ]


def _output_type(output: Mapping[str, Any]) -> str:
    classes = output.get("classes") or []
    if output.get("task") == "regression" or not classes:
        return "double"
    if all(isinstance(c, bool) for c in classes):
        return "boolean"
    if all(isinstance(c, int) for c in classes):
        return "long"
    return "double" if all(isinstance(c, float) for c in classes) else "string"


def _mlflow_signature(signature: Mapping[str, Any], example: pd.DataFrame | None) -> Any:
    """Our signature dict as an MLflow ``ModelSignature`` (named columns, one output)."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    inputs = signature.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise invalid_value("signature inputs", inputs, "expected a non-empty list of columns")
    example_types = _example_types(example)
    columns: list[Any] = []
    for column in inputs:
        found = _column_type(column, example_types)
        if found is not None:
            columns.append(ColSpec(found, column["name"]))
    if not columns:
        raise invalid_value("signature inputs", inputs, "every column is an id: no feature left")
    output = ColSpec(_output_type(signature.get("output") or {}))
    return ModelSignature(inputs=Schema(columns), outputs=Schema([output]))


def _requirements(fmt: str) -> list[str]:
    """Pins of the distributions the model needs, at this environment's versions."""
    names = (*PINNED, "torch") if fmt == "pickle" else PINNED
    pins = []
    for name in names:
        try:
            version = dist.version(name)
        except dist.PackageNotFoundError:
            continue
        pins.append(f"{name}=={version.split('+')[0]}")  # no local label (torch's +cpu)
    return pins


def _trusted_only(types: Iterable[str], holder: str) -> list[str]:
    """``types`` sorted, refused by name when any is outside the trusted modules."""
    found = sorted(types)
    refused = [t for t in found if not t.startswith(TRUSTED_MODULES)]
    if refused:
        why = f"{holder} holds types outside the trusted modules: {', '.join(refused)}"
        raise IntegrityError(why)
    return found


def _skops_trusted(data: bytes, holder: str = "model") -> list[str]:
    """The non-default types a skops file holds (all within the trusted modules)."""
    from modelcycle.models._persist import import_skops

    return _trusted_only(import_skops().get_untrusted_types(data=data), holder)


def _checked_dest(dest: str | Path) -> Path:
    path = Path(dest)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise AlreadyExistsError(f"cannot export to {path}: it exists and is not an empty folder")
    return path


def _plain_example(example: pd.DataFrame | None) -> pd.DataFrame | None:
    """The example with plain string column labels (MLflow compares them with a ``range``,
    which pandas 3 deprecates for its string index)."""
    if example is None:
        return None
    import pandas as pd

    labels = pd.Index([str(name) for name in example.columns], dtype=object)
    plain: pd.DataFrame = example.set_axis(labels, axis=1)
    return plain


def _checked_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    given = dict(metadata or {})
    if METADATA_KEY in given:
        raise invalid_value("metadata key", METADATA_KEY, "it is reserved for modelcycle")
    try:
        return dict(json.loads(json.dumps(given)))
    except (TypeError, ValueError) as exc:
        raise invalid_value("metadata", given, f"must be JSON-serialisable ({exc})") from None


def export_mlflow(
    model: Any,
    dest: str | Path,
    *,
    signature: dict[str, Any],
    input_example: pd.DataFrame | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` (a fitted pipeline taking a raw frame) as an MLflow model folder.

    ``dest`` must not exist or be an empty folder. ``signature`` is ours (``inputs``: name,
    kind, nullable, categories; ``output``: task, classes), written as MLflow's signature and,
    unchanged, in the metadata; ``metadata`` goes into the MLmodel file. The folder is
    returned; MLflow loads it with ``mlflow.pyfunc.load_model(folder)`` and serves it with
    ``mlflow models serve -m FOLDER --env-manager local``. Nothing is left behind on failure.
    """
    path = _checked_dest(dest)
    mlflow = _mlflow()
    if not callable(getattr(model, "predict", None)):
        raise invalid_value("model", type(model).__name__, "has no predict method")
    meta = _checked_metadata(metadata)
    meta[METADATA_KEY] = {"version": __version__, "signature": json.loads(json.dumps(signature))}
    example = _plain_example(input_example)
    mlflow_signature = _mlflow_signature(signature, example)
    data, fmt = dump_model(model)
    created = not path.exists()
    try:
        mlflow.sklearn.save_model(
            model,
            str(path),
            signature=mlflow_signature,
            input_example=example,
            metadata=meta,
            pip_requirements=_requirements(fmt),
            serialization_format=fmt,
            skops_trusted_types=_skops_trusted(data) if fmt == "skops" else None,
        )
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        if not created:  # it was an empty folder: leave it empty
            path.mkdir()
        raise
    return path


# -- import ----------------------------------------------------------------------------------


@contextmanager
def _model_folder(mlflow: Any, source: str) -> Iterator[Path]:
    """The local folder of ``source``: itself, or a temporary download of an MLflow URI."""
    local = Path(source)
    if local.exists():
        if not (local / "MLmodel").is_file():
            raise NotFoundError(f"no MLflow model at {source}: it has no MLmodel file")
        yield local
        return
    if ":/" not in source:
        raise NotFoundError(f"no MLflow model at {source}: no such folder")
    with TemporaryDirectory(prefix="modelcycle-mlflow-") as tmp:
        try:
            found = mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=tmp)
        except mlflow.exceptions.MlflowException as exc:
            raise NotFoundError(f"no MLflow model at {source}: {exc.message}") from None
        if not (Path(found) / "MLmodel").is_file():
            raise NotFoundError(f"no MLflow model at {source}: it has no MLmodel file")
        yield Path(found)


def _check_model_file(folder: Path, flavor: Mapping[str, Any]) -> None:
    """Refuse a skops file holding untrusted types before MLflow loads it (its MLmodel file
    may trust anything)."""
    if flavor.get("serialization_format") == "skops":
        from modelcycle.models._persist import import_skops

        found = import_skops().get_untrusted_types(file=folder / str(flavor.get("pickled_model")))
        _trusted_only(found, f"MLflow model at {folder}")


def _check_restorable(model: Any, source: str) -> None:
    """Refuse a model the registry could not re-store as skops and load back."""
    data, fmt = dump_model(model)
    if fmt == "skops":
        _skops_trusted(data, f"the MLflow model at {source}")


def _our_columns(mlflow_inputs: Any) -> list[dict[str, Any]] | None:
    """MLflow input columns in our shape; None when they have no names (a tensor signature)
    or a column's type has no kind here (binary, arrays, objects, maps, any)."""
    from mlflow.types import DataType

    if mlflow_inputs is None or mlflow_inputs.is_tensor_spec():
        return None
    columns = []
    for spec in mlflow_inputs.inputs:
        if spec.name is None or not isinstance(spec.type, DataType):
            return None
        kind = _TYPE_KINDS.get(spec.type.name)
        if kind is None:
            return None
        nullable = not spec.required  # a required MLflow column refuses missing values
        columns.append({"name": spec.name, "kind": kind, "nullable": nullable, "categories": None})
    return columns


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _task(model: Any) -> tuple[str, list[Any] | None]:
    from sklearn.base import is_classifier

    classes = getattr(model, "classes_", None) if is_classifier(model) else None
    if classes is None:
        return "regression", None
    return ("binary" if len(classes) == 2 else "multiclass"), [_plain(c) for c in classes]


def _signature(info: Any, folder: Path) -> dict[str, Any] | None:
    """Our signature of an MLflow model: ours when we exported it, else converted from
    MLflow's signature, else read off the input example."""
    ours = (info.metadata or {}).get(METADATA_KEY)
    if isinstance(ours, dict) and isinstance(ours.get("signature"), dict):
        return dict(ours["signature"])
    columns = None
    if info.signature is not None:
        columns = _our_columns(info.signature.inputs)
    elif info.saved_input_example_info is not None:
        example = info.load_input_example(str(folder))
        columns = _example_columns(example) if hasattr(example, "columns") else None
    return None if columns is None else {"inputs": columns}


def _features(model: Any, signature: Mapping[str, Any] | None) -> list[str]:
    if signature is not None:
        return [str(c["name"]) for c in signature["inputs"]]
    return [str(name) for name in getattr(model, "feature_names_in_", [])]


def import_mlflow(source: str | Path) -> ImportedModel:
    """Load the scikit-learn model of an MLflow model folder or URI (see the module docstring).

    MLflow sklearn models are pickles: import only your own. The result's ``model`` is the
    fitted estimator or pipeline; the registry re-stores it with skops. A model without the
    ``sklearn`` flavor is refused with the flavors it has.
    """
    mlflow = _mlflow()
    shown = str(source)
    with _model_folder(mlflow, shown) as folder:
        info = mlflow.models.Model.load(str(folder))
        flavors = dict(info.flavors)
        if "sklearn" not in flavors:
            why = f"it has no sklearn flavor (its flavors: {', '.join(sorted(flavors))})"
            raise invalid_value("MLflow model", shown, why)
        _check_model_file(folder, flavors["sklearn"])
        model = mlflow.sklearn.load_model(str(folder))
        signature = _signature(info, folder)
    _check_restorable(model, shown)
    task, classes = _task(model)
    if signature is not None:
        signature["output"] = {"task": task, "classes": classes}
    return ImportedModel(
        model=model,
        signature=signature,
        task=task,
        classes=classes,
        features=_features(model, signature),
        source=shown,
        mlflow_metadata={
            "run_id": info.run_id,
            "model_uuid": info.model_uuid,
            "utc_time_created": info.utc_time_created,
            "flavors": flavors,
            "mlflow_version": info.mlflow_version,
            "metadata": info.metadata,
        },
    )
