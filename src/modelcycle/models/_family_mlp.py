"""Multi-layer perceptron (PyTorch) for tabular data, every task.

A fully connected network (ReLU, dropout) trained with AdamW. On tabular data it rarely beats
gradient boosting, but it is a smooth model that keeps improving with more rows, and it shares
the neural plumbing (per-epoch metrics, early stopping, checkpoints that survive a killed
process, class weights) of :mod:`modelcycle.models._torch_common`. It needs numeric, imputed,
scaled inputs: the data stage's preprocessor provides them (NaN and text are refused).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from modelcycle.models._base import FamilyInfo, Task
from modelcycle.models._catalog import register
from modelcycle.models._params import check_params, init_params
from modelcycle.models._torch_common import TorchEstimator, TorchFamily

__all__ = ["MLPEstimator", "MLPFamily"]


class MLPEstimator(TorchEstimator):
    """A PyTorch MLP with the scikit-learn estimator shape.

    ``hidden_layer_sizes`` are the widths of the hidden layers; ``dropout`` follows each.
    """

    def __init__(
        self,
        *,
        task: str = "binary",
        hidden_layer_sizes: Sequence[int] = (128, 64),
        dropout: float = 0.1,
        epochs: int = 60,
        batch_size: int = 32,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        seed: int = 0,
        checkpoint_dir: str | None = None,
        progress: bool = False,
    ) -> None:
        self.task = task
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.seed = seed
        self.checkpoint_dir = checkpoint_dir
        self.progress = progress

    def _inputs(self, x: Any, fitting: bool) -> Any:
        """A float32 tensor; NaN and non-numeric values are refused (ValueError)."""
        import torch
        from sklearn.utils import check_array

        values = check_array(x, dtype=np.float32)
        if fitting:
            self.n_features_in_ = values.shape[1]
        return torch.from_numpy(np.ascontiguousarray(values))

    def _network(self, inputs: Any, n_outputs: int) -> Any:
        from torch import nn

        layers: list[Any] = []
        width = int(inputs.shape[1])
        for size in self.hidden_layer_sizes:
            layers += [nn.Linear(width, int(size)), nn.ReLU(), nn.Dropout(self.dropout)]
            width = int(size)
        layers.append(nn.Linear(width, n_outputs))
        return nn.Sequential(*layers)


_PARAMS = init_params(MLPEstimator)


class MLPFamily(TorchFamily):
    """:class:`MLPEstimator` for binary, multiclass and regression tasks."""

    info = FamilyInfo(
        name="mlp",
        title="Multi-layer perceptron (PyTorch)",
        tasks=frozenset(Task),
        latency_us_per_row=1.0,
        size_kb=55.0,
        min_rows=200,
        needs=("torch",),
        notes="needs scaled numeric inputs; per-epoch metrics, early stopping, resumable",
        defaults={"hidden_layer_sizes": (128, 64), "dropout": 0.1, "epochs": 60, "lr": 1e-3},
    )

    def build(self, task: Task, params: Mapping[str, Any], seed: int) -> Any:
        """An unfitted :class:`MLPEstimator` for ``task``."""
        chosen = {**self.info.defaults, **check_params(self.info.name, params, _PARAMS)}
        chosen["hidden_layer_sizes"] = tuple(chosen["hidden_layer_sizes"])  # YAML gives a list
        return MLPEstimator(task=task.value, seed=seed, **chosen)

    def search_space(self, trial: Any, task: Task) -> dict[str, Any]:
        """Depth and width, dropout, learning rate and weight decay (log scales)."""
        depth = trial.suggest_int("depth", 1, 3)
        width = trial.suggest_categorical("width", [32, 64, 128, 256])
        return {
            "hidden_layer_sizes": tuple(max(width // 2**i, 16) for i in range(depth)),
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
            "lr": trial.suggest_float("lr", 1e-4, 1e-2, log=True),
            "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
        }


register(MLPFamily())
