"""modelcycle: carry a machine-learning model through its whole life.

The top-level names are loaded on first use so ``import modelcycle`` stays fast; heavy
libraries (torch, ray, shap, onnx) are imported only where they are used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelcycle._lazy import lazy_attributes
from modelcycle._version import __version__

if TYPE_CHECKING:
    from modelcycle.errors import ModelcycleError
    from modelcycle.tracking import ActiveRun, Client, start_run
    from modelcycle.types import Run, RunStatus

__all__ = [
    "ActiveRun",
    "Client",
    "ModelcycleError",
    "Run",
    "RunStatus",
    "__version__",
    "start_run",
]

_LAZY = {
    "ActiveRun": "modelcycle.tracking",
    "Client": "modelcycle.tracking",
    "start_run": "modelcycle.tracking",
    "ModelcycleError": "modelcycle.errors",
    "Run": "modelcycle.types",
    "RunStatus": "modelcycle.types",
}


__getattr__ = lazy_attributes("modelcycle", _LAZY, globals())


def __dir__() -> list[str]:
    return sorted(__all__)
