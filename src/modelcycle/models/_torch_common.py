"""Shared PyTorch plumbing of the neural families (``mlp``, ``cnn``, ``transformer``).

One scikit-learn compatible base estimator, :class:`TorchEstimator`, owns everything the three
families share, so each family only says how inputs become tensors and which network to build:

- the device (CUDA when present, else CPU) and seeding (torch, NumPy, Python; cuDNN made
  deterministic on CUDA), so the same seed gives the same metrics;
- targets: classes are encoded (``classes_``) and trained with cross-entropy; regression targets
  are standardised and trained with squared error; ``sample_weight`` (class weights for
  imbalance) weights the per-row loss;
- the epoch loop: each epoch's ``train_loss`` and ``val_loss`` (cross-entropy, or squared error
  of standardised targets), plus ``val_log_loss`` and ``val_accuracy`` (classification) or
  ``val_rmse`` (regression), go to ``on_iteration(epoch, metrics)``; True from it stops;
  ``early_stopping_rounds`` stops when ``val_loss`` has not improved for that many epochs, and
  the best epoch's weights are kept;
- a checkpoint written atomically after every epoch (weights, optimizer, epoch, RNG states,
  best weights, history) to ``checkpoint_dir`` (the loop itself lives in ``_torch_loop``).
  When that folder already holds a checkpoint of the same training, ``fit`` resumes from the
  next epoch, so a killed process loses at most one epoch, and the resumed run gives the
  metrics the uninterrupted one would have. Without a
  ``checkpoint_dir`` the checkpoints go to a temporary folder removed when ``fit`` returns.

torch is imported inside functions only: ``import modelcycle.models`` must stay fast and work
without the ``[torch]`` extra (the families then report why through ``available()``).
"""

from __future__ import annotations

import abc
import hashlib
import importlib.util
import json
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import ClassifierTags, RegressorTags
from sklearn.utils.metaestimators import available_if

from modelcycle.errors import invalid_value
from modelcycle.models._base import IterationCallback, ModelFamily
from modelcycle.models._torch_loop import (
    CHECKPOINT_FILE,
    _batches,
    _length,
    _Loop,
    _take,
    _to,
    read_checkpoint,
)

__all__ = [
    "CHECKPOINT_FILE",
    "TORCH_MISSING",
    "TorchEstimator",
    "TorchFamily",
    "choose_device",
    "read_checkpoint",
    "seed_everything",
    "torch_missing",
]

TORCH_MISSING = "needs the [torch] extra (pip install 'modelcycle[torch]')"
#: Params that do not change what is learned, left out of a checkpoint's fingerprint.
_NOT_LEARNING = {"checkpoint_dir", "progress"}


def torch_missing() -> str | None:
    """None when torch can be imported, else the reason a neural family is unavailable."""
    return None if importlib.util.find_spec("torch") is not None else TORCH_MISSING


def choose_device() -> Any:
    """CUDA when a GPU is present, else the CPU."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    """Seed torch, NumPy and Python; make cuDNN deterministic (cheap, and only on CUDA)."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


class TorchEstimator(BaseEstimator, abc.ABC):  # type: ignore[misc]
    """Base of the neural estimators: targets, epoch loop, early stopping, checkpoints.

    Subclasses take keyword-only hyperparameters including at least ``task``, ``epochs``,
    ``batch_size``, ``lr``, ``weight_decay``, ``seed``, ``checkpoint_dir`` and ``progress``
    (a transient rich bar over each epoch's batches), and implement :meth:`_inputs` and
    :meth:`_network`. Fitted attributes: ``module_``, ``classes_`` (classification),
    ``history_`` (every epoch's metrics), ``best_epoch_`` and ``n_epochs_``.
    """

    task: str
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    seed: int
    checkpoint_dir: str | None
    progress: bool

    @abc.abstractmethod
    def _inputs(self, x: Any, fitting: bool) -> Any:
        """``x`` as a tensor (or a dict of tensors) indexed by row; ``fitting`` on the
        training rows, where input statistics may be learned."""

    @abc.abstractmethod
    def _network(self, inputs: Any, n_outputs: int) -> Any:
        """A fresh ``torch.nn.Module`` for ``inputs`` with ``n_outputs`` outputs."""

    def _forward(self, module: Any, batch: Any) -> Any:
        """The network's outputs for one batch (override when inputs are a dict)."""
        return module(batch)

    def _batch(self, inputs: Any, rows: Any, device: Any) -> Any:
        """One batch of ``inputs`` on ``device``."""
        return _to(_take(inputs, rows), device)

    def _trainable(self, module: Any) -> list[Any]:
        return [p for p in module.parameters() if p.requires_grad]

    @property
    def _classifier(self) -> bool:
        return self.task != "regression"

    def fit(
        self,
        x: Any,
        y: Any,
        *,
        x_val: Any = None,
        y_val: Any = None,
        sample_weight: Any = None,
        on_iteration: IterationCallback | None = None,
        early_stopping_rounds: int | None = None,
    ) -> TorchEstimator:
        """Train for ``epochs`` (resuming a checkpoint of the same training) and keep the
        best epoch's weights when validation rows are given."""
        if (x_val is None) != (y_val is None):
            raise invalid_value("x_val/y_val", "one of them", "give both or neither")
        if early_stopping_rounds is not None and x_val is None:
            raise invalid_value(
                "early_stopping_rounds", early_stopping_rounds, "needs a validation set (x_val)"
            )
        seed_everything(self.seed)
        inputs = self._inputs(x, fitting=True)
        target = self._encode_targets(y, fitting=True)
        weight = np.ones(len(target)) if sample_weight is None else np.asarray(sample_weight)
        val = None
        if x_val is not None:
            val = (self._inputs(x_val, fitting=False), self._encode_targets(y_val, fitting=False))
        directory, temporary = self._checkpoint_folder()
        try:
            self._train(inputs, target, weight, val, directory, on_iteration, early_stopping_rounds)
        finally:
            if temporary:
                shutil.rmtree(directory, ignore_errors=True)
        return self

    def _checkpoint_folder(self) -> tuple[Path, bool]:
        if self.checkpoint_dir is not None:
            return Path(self.checkpoint_dir), False
        return Path(tempfile.mkdtemp(prefix="modelcycle-checkpoint-")), True

    def _encode_targets(self, y: Any, fitting: bool) -> Any:
        """Class indices (classification) or standardised values (regression) as a tensor."""
        import torch

        values = np.asarray(y).ravel()
        if not self._classifier:
            numbers = values.astype(np.float64)
            if fitting:
                self.y_mean_, self.y_scale_ = float(numbers.mean()), float(numbers.std() or 1.0)
            return torch.tensor((numbers - self.y_mean_) / self.y_scale_, dtype=torch.float32)
        if fitting:
            self.classes_ = np.unique(values)
        unknown = sorted(set(values.tolist()) - set(self.classes_.tolist()), key=str)
        if unknown:
            raise invalid_value("y_val", unknown[:5], "labels not seen in the training rows")
        return torch.tensor(np.searchsorted(self.classes_, values), dtype=torch.int64)

    def _fingerprint(self, rows: int) -> str:
        """What a checkpoint must match to be resumed: learning params, rows, classes."""
        params = {k: v for k, v in self.get_params().items() if k not in _NOT_LEARNING}
        classes = getattr(self, "classes_", np.array([])).tolist() if self._classifier else []
        text = json.dumps([params, rows, classes], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def _train(
        self,
        inputs: Any,
        target: Any,
        weight: Any,
        val: tuple[Any, Any] | None,
        directory: Path,
        on_iteration: IterationCallback | None,
        patience: int | None,
    ) -> None:
        import torch

        device = choose_device()
        n_outputs = len(self.classes_) if self._classifier else 1
        module = self._network(inputs, n_outputs).to(device)
        optimizer = torch.optim.AdamW(
            self._trainable(module), lr=self.lr, weight_decay=self.weight_decay
        )
        loop = _Loop(self, module, optimizer, device, self._fingerprint(len(target)))
        loop.resume(directory)
        weights = torch.tensor(weight, dtype=torch.float32)
        for epoch in range(loop.epoch + 1, self.epochs + 1):
            if loop.stopped:
                break
            metrics = {"train_loss": loop.train_epoch(inputs, target, weights, epoch)}
            if val is not None:
                metrics.update(loop.evaluate(*val))
            loop.record(epoch, metrics, patience, on_iteration)
            loop.save(directory)
        self.module_ = loop.finish()
        self.history_, self.best_epoch_, self.n_epochs_ = loop.history, loop.best_epoch, loop.epoch

    def _outputs(self, x: Any) -> Any:
        """Raw network outputs for ``x`` as a NumPy array, in evaluation mode."""
        import torch

        inputs = self._inputs(x, fitting=False)
        device = next(self.module_.parameters()).device
        self.module_.eval()
        chunks = []
        with torch.no_grad():
            for rows in _batches(_length(inputs), self.batch_size * 4):
                chunks.append(self._forward(self.module_, self._batch(inputs, rows, device)))
        return torch.cat(chunks).float().cpu().numpy()

    def __sklearn_tags__(self) -> Any:
        """A classifier or a regressor, by ``task`` (for ``is_classifier``, stratified CV)."""
        tags = super().__sklearn_tags__()
        if self._classifier:
            tags.estimator_type, tags.classifier_tags = "classifier", ClassifierTags()
        else:
            tags.estimator_type, tags.regressor_tags = "regressor", RegressorTags()
        return tags

    @available_if(lambda self: self._classifier)  # type: ignore[untyped-decorator]
    def predict_proba(self, x: Any) -> np.ndarray[Any, Any]:
        """Class probabilities, columns in the order of ``classes_`` (classification only)."""
        logits = self._outputs(x)
        logits = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(logits.astype(np.float64))
        return np.asarray(exp / exp.sum(axis=1, keepdims=True))

    def predict(self, x: Any) -> np.ndarray[Any, Any]:
        """Most probable class, or the predicted value for regression."""
        if self._classifier:
            return np.asarray(self.classes_[self.predict_proba(x).argmax(axis=1)])
        return np.asarray(self._outputs(x)[:, 0] * self.y_scale_ + self.y_mean_)


class TorchFamily(ModelFamily):
    """A family of :class:`TorchEstimator`: unavailable without torch, fitted epoch by epoch."""

    labels_from_proba = True  # TorchEstimator.predict is the argmax of predict_proba

    def available(self) -> str | None:
        """Why not, when torch is not installed."""
        return torch_missing()

    def fit(
        self,
        estimator: Any,
        x: Any,
        y: Any,
        *,
        x_val: Any = None,
        y_val: Any = None,
        sample_weight: Any = None,
        on_iteration: IterationCallback | None = None,
        early_stopping_rounds: int | None = None,
        train_loss_every: int | None = 1,
    ) -> Any:
        """Train epoch by epoch, reporting each epoch (see :meth:`TorchEstimator.fit`).

        The training loss is the epoch's mean batch loss, which costs nothing to measure, so
        it is reported every epoch whatever ``train_loss_every`` says."""
        return estimator.fit(
            x,
            y,
            x_val=x_val,
            y_val=y_val,
            sample_weight=sample_weight,
            on_iteration=on_iteration,
            early_stopping_rounds=early_stopping_rounds,
        )
