"""The model registry: named models, immutable versions (bundles), aliases that move.

    from modelcycle.registry import Registry

    registry = Registry(client)
    registry.register("churn", run_id=run_id, signature=signature, evaluation=snapshot)
    registry.promote("churn@1")          # gates first; --force needs a reason
    registry.rollback("churn")           # champion back to its previous version
    registry.load("churn@champion").model

A version's bundle holds the fitted preprocessing and model, the input signature, the training
data profile, the environment, the evaluation and the lineage, all content-addressed and
verified on load. ONNX export (with a parity check), MLflow interchange and model cards are
loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelcycle._lazy import lazy_attributes
from modelcycle.registry._bundle import Bundle, load_bundle, signature_of
from modelcycle.registry._registry import LoadedVersion, Registry, default_actor, parse_ref

if TYPE_CHECKING:
    from modelcycle.registry._card import ModelCard, model_card
    from modelcycle.registry._mlflow import ImportedModel, export_mlflow, import_mlflow
    from modelcycle.registry._onnx import OnnxExport, OnnxPredictor, export_onnx

__all__ = [
    "Bundle",
    "ImportedModel",
    "LoadedVersion",
    "ModelCard",
    "OnnxExport",
    "OnnxPredictor",
    "Registry",
    "default_actor",
    "export_mlflow",
    "export_onnx",
    "import_mlflow",
    "load_bundle",
    "model_card",
    "parse_ref",
    "signature_of",
]

_LAZY = {
    "ModelCard": "modelcycle.registry._card",
    "model_card": "modelcycle.registry._card",
    "ImportedModel": "modelcycle.registry._mlflow",
    "export_mlflow": "modelcycle.registry._mlflow",
    "import_mlflow": "modelcycle.registry._mlflow",
    "OnnxExport": "modelcycle.registry._onnx",
    "OnnxPredictor": "modelcycle.registry._onnx",
    "export_onnx": "modelcycle.registry._onnx",
}


__getattr__ = lazy_attributes("modelcycle.registry", _LAZY, globals())
