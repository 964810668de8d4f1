"""Saving a fitted model into a run and loading it back, without unpickling untrusted bytes.

A fitted model (the ``Pipeline(preprocess, model)`` that training returns) is stored as two
artifacts of the run that trained it:

    model.skops | model.pkl   the fitted object
    model.json                the manifest: format, family, task, target, input columns,
                              classes, and the artifact's SHA-256

scikit-learn and LightGBM models are written with skops, whose loader rebuilds objects from a
schema and refuses any type it is not told to trust; we trust types by module prefix
(:data:`TRUSTED_MODULES`) and refuse the rest by name. PyTorch families (whose estimators hold
``torch.nn.Module`` state that skops cannot describe) are pickled, and the artifact store
verifies the SHA-256 it recorded before any byte reaches the unpickler, so only bytes this
store wrote are ever unpickled (the registry's model bundle adds ONNX on top of this).

Importing skops is the dear part of a save (it was 4-7 s after a 4 s training), for four
reasons, each handled by :func:`import_skops` or its callers:

- at import, ``skops.io._trusted_types`` calls scikit-learn's ``all_estimators``, whose
  ``pkgutil.walk_packages`` imports every package under ``sklearn`` to look inside it, the
  vendored ``sklearn.externals.array_api_compat.torch`` among them, and that one imports all
  of torch when torch is installed (``python -X importtime -c "import skops.io"``: 2.5 s of
  4.3 s); ``all_estimators`` then skips everything under ``externals`` anyway;
- the same walk imports ``sklearn.utils._testing``, which imports pytest (~0.15-0.3 s) for
  its test markers when pytest is installed, as it is in development environments;
- even so, the walk and the scikit-learn subpackages it imports cost 0.15-0.4 s, while what
  it finds depends only on the installed versions of scikit-learn and skops, and skops keeps
  only each estimator's module and name from it (for its default trust list, which we never
  use: loads here trust :data:`TRUSTED_MODULES`);
- skops then finds the module of each of ~800 numpy and scipy ufuncs by scanning
  ``sys.modules`` in import order until it meets the ufunc: every module imported before numpy
  and ``scipy.special`` is tried for every ufunc. In ``modelcycle run`` (typer, pydantic,
  SQLAlchemy ... imported first) that scan was most of the import; the run command imports
  numpy and ``scipy.special`` first. Callers that import skops late in a busy process can do
  the same.

:func:`import_skops` keeps the estimator names skops made of a walk in a small file per pair
of versions (:class:`_EstimatorNames`). On later imports ``all_estimators`` answers from that
file while skops imports, with stand-in classes that carry each name and module; skops' lists
come out identical (``tests/models/test_skops_import.py``), and the real function is put back
as soon as skops is loaded. When a walk does run, the torch wrapper and pytest fail as "not
installed" for its length (Python reads a None in ``sys.modules`` that way; the walk and
``sklearn.utils._testing`` already treat both as optional); the skops module and its trust
lists are the same, and both modules import normally afterwards. In ``modelcycle run`` on a
loaded 2-core machine, the import took 1.4-1.7 s of CPU with the torch block alone, 0.6-0.7 s
with the import order and the pytest block as well, and about 0.25 s with the names kept.
(Importing skops on a background thread while LightGBM trains was measured too: on the shared
2-core machine the import's CPU slowed the fit by about as much as it saved, so the save
imports it when it needs it.)

    save_model(client, run_id, result.pipeline, family="lightgbm", task="binary", target="y")
    loaded = load_model(client, run_id)
    loaded.model.predict(frame[loaded.manifest["features"]])
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import pickle
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from modelcycle.errors import IntegrityError, NotFoundError
from modelcycle.store import validate_artifact_name
from modelcycle.types import ArtifactInfo

if TYPE_CHECKING:
    from modelcycle.tracking import Client

__all__ = [
    "TRUSTED_MODULES",
    "LoadedModel",
    "dump_model",
    "import_skops",
    "load_model",
    "restore_model",
    "save_model",
]

#: Module prefixes whose types a skops model file may contain.
TRUSTED_MODULES = (
    "sklearn.",
    "lightgbm.",
    "numpy.",
    "scipy.",
    "imblearn.",
    "modelcycle.",
    "collections.",
    "builtins.",
)
MANIFEST = "model.json"
_FILES = {"skops": "model.skops", "pickle": "model.pkl"}
#: What only scikit-learn's ``all_estimators`` walk imports while skops imports, and a save
#: never uses: each with the modules whose presence means it costs nothing to import.
_WALK_ONLY = {
    "sklearn.externals.array_api_compat.torch": ("torch",),  # imports all of torch
    "pytest": (),  # sklearn.utils._testing's optional test markers
}
_SKOPS_LOCK = threading.Lock()


def import_skops() -> ModuleType:
    """``skops.io``, imported without dragging torch or pytest in (see the module docstring).

    While skops imports, ``sys.modules`` maps the torch wrapper and pytest to None, which
    Python's import system reads as "not installed" and ``pkgutil.walk_packages`` skips; the
    entries are removed right after, so later imports of either work. A module already
    loaded (or whose dependency is, for torch) is not blocked, and nothing is once skops is
    loaded. The block is process-wide for that half second: another thread importing one of
    them meanwhile would find it missing. Should a future scikit-learn need one of them for
    the walk, the import is retried without the block.
    """
    with _SKOPS_LOCK:
        if "skops.io" in sys.modules:
            return importlib.import_module("skops.io")
        blocked = [
            name
            for name, loaded_with in _WALK_ONLY.items()
            if not any(m in sys.modules for m in (name, *loaded_with))
        ]
        for name in blocked:
            sys.modules[name] = None  # type: ignore[assignment]
        cache = _EstimatorNames()
        try:
            with cache.standing_in():
                return importlib.import_module("skops.io")
        except ImportError:
            if not blocked:
                raise
        finally:
            for name in blocked:
                if name in sys.modules and sys.modules[name] is None:
                    del sys.modules[name]
            cache.keep()
        return importlib.import_module("skops.io")


class _EstimatorNames:
    """The names skops' import makes of scikit-learn's ``all_estimators`` walk, kept in a file
    so that the next import can skip the walk (see the module docstring).

    The file is ``skops-estimators-SKOPS-SKLEARN.json`` under ``$XDG_CACHE_HOME/modelcycle``
    (default ``~/.cache/modelcycle``), one per pair of versions, so an upgrade of either
    library walks again. It is only a cache: a file that cannot be read, parsed or written is
    ignored and the walk runs, as it would without it.
    """

    def __init__(self) -> None:
        import sklearn
        import skops  # the package alone: its version, not skops.io

        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        self.path = Path(
            base, "modelcycle", f"skops-estimators-{skops.__version__}-{sklearn.__version__}.json"
        )
        self.names = self._read()

    def _read(self) -> list[str] | None:
        try:
            names = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        valid = isinstance(names, list) and all(
            isinstance(n, str) and n.startswith("sklearn.") for n in names
        )
        return names if valid and names else None

    @contextlib.contextmanager
    def standing_in(self) -> Iterator[None]:
        """While skops imports: ``sklearn.utils.all_estimators`` answers from the file with
        stand-in classes that carry each estimator's module and name, which is all skops reads
        of them; the real function is put back afterwards."""
        import sklearn.utils

        if self.names is None:
            yield
            return
        real = sklearn.utils.all_estimators
        stand_ins = [
            (name, type(name, (), {"__module__": module}))
            for module, _, name in (full.rpartition(".") for full in self.names)
        ]
        sklearn.utils.all_estimators = lambda type_filter=None: list(stand_ins)
        try:
            yield
        finally:
            sklearn.utils.all_estimators = real

    def keep(self) -> None:
        """After a walk: write what skops made of it (atomically; a failure is ignored)."""
        trusted = sys.modules.get("skops.io._trusted_types")
        if self.names is not None or trusted is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            partial.write_text(json.dumps(trusted.SKLEARN_ESTIMATOR_TYPE_NAMES), encoding="utf-8")
            os.replace(partial, self.path)
        except OSError:
            pass  # a cache that cannot be written: the next import walks again


def _holds_torch(model: Any) -> bool:
    common = sys.modules.get("modelcycle.models._torch_common")
    if common is None:  # no torch family was ever imported: the model cannot hold one
        return False
    steps = getattr(model, "steps", None) or [("model", model)]
    return any(isinstance(step, common.TorchEstimator) for _, step in steps)


def dump_model(model: Any) -> tuple[bytes, str]:
    """The model's bytes and their format: ``skops``, or ``pickle`` for PyTorch families."""
    if _holds_torch(model):
        return pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL), "pickle"
    return import_skops().dumps(model), "skops"


def restore_model(data: bytes, fmt: str) -> Any:
    """A model from :func:`dump_model`'s bytes. skops files may only hold types from
    :data:`TRUSTED_MODULES`; anything else is refused by name before it is built. Pickle is
    only for bytes whose hash the artifact store has already verified."""
    if fmt == "pickle":
        return pickle.loads(data)  # only hash-verified bytes this store wrote
    if fmt != "skops":
        raise IntegrityError(f"unknown model format {fmt!r}: expected skops or pickle")
    sio = import_skops()
    types = sio.get_untrusted_types(data=data)
    refused = sorted(t for t in types if not t.startswith(TRUSTED_MODULES))
    if refused:
        raise IntegrityError(
            f"model file holds types outside the trusted modules: {', '.join(refused)}"
        )
    return sio.loads(data, trusted=types)


@dataclass(frozen=True)
class LoadedModel:
    """A model loaded from a run: the fitted object and its manifest."""

    run_id: str
    model: Any
    manifest: dict[str, Any]

    @property
    def features(self) -> list[str]:
        """The input columns the model reads, in training order."""
        return list(self.manifest["features"])

    @property
    def target(self) -> str:
        """The target column it was trained to predict."""
        return str(self.manifest["target"])


def _put(client: Client, run_id: str, data: bytes, name: str) -> ArtifactInfo:
    ref = client.artifacts.put_bytes(data)
    info = ArtifactInfo(validate_artifact_name(name), ref.sha256, ref.size)
    client.metadata.runs.log_artifact(run_id, info)
    return info


def save_model(
    client: Client,
    run_id: str,
    model: Any,
    *,
    family: str,
    task: str,
    target: str,
    features: list[str],
    classes: list[Any] | None = None,
) -> dict[str, Any]:
    """Store ``model`` and its manifest as artifacts of ``run_id``; the manifest is returned."""
    data, fmt = dump_model(model)
    info = _put(client, run_id, data, _FILES[fmt])
    manifest = {
        "format": fmt,
        "file": info.name,
        "sha256": info.sha256,
        "size_bytes": info.size,
        "family": family,
        "task": task,
        "target": target,
        "features": features,
        "classes": None if classes is None else [_plain(c) for c in classes],
    }
    _put(client, run_id, json.dumps(manifest, indent=2).encode("utf-8"), MANIFEST)
    return manifest


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def load_model(client: Client, run_id: str) -> LoadedModel:
    """The model a run saved (see :func:`save_model`), its bytes verified against their hash."""
    run = client.runs.show(run_id)
    found = {a.name: a for a in run.artifacts}
    if MANIFEST not in found:
        raise NotFoundError(f"run {run.run_id} saved no model (no {MANIFEST} artifact)")
    manifest = json.loads(client.artifacts.get_bytes(found[MANIFEST].sha256))
    data = client.artifacts.get_bytes(manifest["sha256"])
    return LoadedModel(run.run_id, restore_model(data, manifest["format"]), manifest)
