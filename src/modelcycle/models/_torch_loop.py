"""The training loop of the neural families: epochs, early stopping, checkpoints, resume.

Split from ``_torch_common`` (which holds the estimator and the family base) so that each file
is one idea: here is what happens between ``fit`` being called and the best weights being
kept. A checkpoint is written atomically after every epoch (weights, optimizer, epoch, every
RNG state, best weights, history), so a killed process resumes from the next epoch with the
metrics the uninterrupted run would have had. torch is imported inside functions only.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelcycle.errors import invalid_value

if TYPE_CHECKING:
    from modelcycle.models._base import IterationCallback
    from modelcycle.models._torch_common import TorchEstimator

__all__ = ["CHECKPOINT_FILE", "read_checkpoint"]

CHECKPOINT_FILE = "checkpoint.pt"


def read_checkpoint(directory: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The checkpoint in ``directory`` (``epoch``, ``history``, weights ...), None if none.

    Loaded with ``weights_only=True``: a checkpoint holds tensors and plain values only.
    """
    import torch

    path = Path(directory) / CHECKPOINT_FILE
    if not path.exists():
        return None
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    return state


def _write_checkpoint(directory: Path, state: dict[str, Any]) -> None:
    """Write to a temporary file then rename: a kill never leaves half a checkpoint."""
    import torch

    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f"{CHECKPOINT_FILE}.partial"
    torch.save(state, partial)
    os.replace(partial, directory / CHECKPOINT_FILE)


def _rng_state() -> dict[str, Any]:
    """torch, NumPy and Python RNG states as tensors and ints (safe for ``weights_only``)."""
    import torch

    _, keys, position, has_gauss, gauss = np.random.get_state(legacy=True)
    version, internal, _ = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "numpy_extra": [int(position), int(has_gauss), float(gauss)],
        "python": torch.tensor(internal, dtype=torch.int64),
        "python_version": int(version),
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    position, has_gauss, gauss = state["numpy_extra"]
    keys = state["numpy"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, int(position), int(has_gauss), float(gauss)))
    internal = tuple(int(v) for v in state["python"].tolist())
    random.setstate((state["python_version"], internal, None))


def _take(inputs: Any, rows: Any) -> Any:
    """Rows of a tensor, or of every tensor of a dict of tensors."""
    if isinstance(inputs, dict):
        return {key: value[rows] for key, value in inputs.items()}
    return inputs[rows]


def _to(batch: Any, device: Any) -> Any:
    if isinstance(batch, dict):
        return {key: value.to(device) for key, value in batch.items()}
    return batch.to(device)


def _length(inputs: Any) -> int:
    if isinstance(inputs, dict):
        return len(next(iter(inputs.values())))
    return len(inputs)


def _batches(n: int, size: int, order: Any = None) -> Iterator[Any]:
    order = np.arange(n) if order is None else order
    for start in range(0, n, size):
        yield order[start : start + size]


class _Loop:
    """The mutable state of one training: module, optimizer, epoch, best, history."""

    def __init__(
        self, owner: TorchEstimator, module: Any, optimizer: Any, device: Any, fingerprint: str
    ) -> None:
        self.owner, self.module, self.optimizer, self.device = owner, module, optimizer, device
        self.fingerprint = fingerprint
        self.epoch, self.bad_epochs, self.stopped = 0, 0, False
        self.best_epoch: int | None = None
        self.best_loss = float("inf")
        self.best_state: dict[str, Any] | None = None
        self.history: list[dict[str, float]] = []

    def loss(self, outputs: Any, target: Any) -> Any:
        """Per-row loss: cross-entropy for classes, squared error for standardised values."""
        import torch.nn.functional as f

        if self.owner._classifier:
            return f.cross_entropy(outputs, target, reduction="none")
        return (outputs[:, 0] - target) ** 2

    def train_epoch(self, inputs: Any, target: Any, weights: Any, epoch: int) -> float:
        """One pass over the shuffled training rows; the weighted mean training loss."""
        self.module.train()
        order = np.random.default_rng([self.owner.seed, epoch]).permutation(len(target))
        total, weight_sum = 0.0, 0.0
        with _progress(self.owner.progress, len(target), epoch) as advance:
            for rows in _batches(len(target), self.owner.batch_size, order):
                batch = self.owner._batch(inputs, rows, self.device)
                w = weights[rows].to(self.device)
                outputs = self.owner._forward(self.module, batch)
                loss = (self.loss(outputs, target[rows].to(self.device)) * w).sum() / w.sum()
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                total += float(loss.detach()) * float(w.sum())
                weight_sum += float(w.sum())
                advance(len(rows))
        return total / weight_sum

    def evaluate(self, inputs: Any, target: Any) -> dict[str, float]:
        """``val_loss`` on the validation rows, with ``val_log_loss`` and ``val_accuracy``
        (classification) or ``val_rmse`` (regression) under the training layer's names."""
        import torch

        self.module.eval()
        outputs = []
        with torch.no_grad():
            for rows in _batches(len(target), self.owner.batch_size * 4):
                batch = self.owner._batch(inputs, rows, self.device)
                outputs.append(self.owner._forward(self.module, batch).float().cpu())
        joined = torch.cat(outputs)
        loss = float(self.loss(joined, target).mean())
        if not self.owner._classifier:  # the loss is on standardised targets; rmse is not
            return {"val_loss": loss, "val_rmse": loss**0.5 * self.owner.y_scale_}
        accuracy = float((joined.argmax(dim=1) == target).float().mean())
        return {"val_loss": loss, "val_log_loss": loss, "val_accuracy": accuracy}

    def record(
        self,
        epoch: int,
        metrics: dict[str, float],
        patience: int | None,
        on_iteration: IterationCallback | None,
    ) -> None:
        """Note the epoch, keep the best weights, decide whether to stop."""
        self.epoch = epoch
        self.history.append(metrics)
        val_loss = metrics.get("val_loss")
        if val_loss is not None and val_loss < self.best_loss:
            self.best_loss, self.best_epoch, self.bad_epochs = val_loss, epoch, 0
            self.best_state = {
                k: v.detach().cpu().clone() for k, v in self.module.state_dict().items()
            }
        elif val_loss is not None:
            self.bad_epochs += 1
        asked = bool(on_iteration(epoch, dict(metrics))) if on_iteration is not None else False
        self.stopped = asked or (patience is not None and self.bad_epochs >= patience)

    def save(self, directory: Path) -> None:
        """Checkpoint everything needed to continue after this epoch."""
        _write_checkpoint(
            directory,
            {
                "fingerprint": self.fingerprint,
                "epoch": self.epoch,
                "model": self.module.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "rng": _rng_state(),
                "best": {
                    "epoch": self.best_epoch,
                    "loss": self.best_loss,
                    "state": self.best_state,
                },
                "bad_epochs": self.bad_epochs,
                "stopped": self.stopped,
                "history": self.history,
            },
        )

    def resume(self, directory: Path) -> None:
        """Continue from the checkpoint in ``directory`` if there is one of this training."""
        state = read_checkpoint(directory)
        if state is None:
            return
        if state["fingerprint"] != self.fingerprint:
            why = "holds a checkpoint of another training (params or data differ)"
            raise invalid_value("checkpoint_dir", str(directory), why)
        self.module.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        _set_rng_state(state["rng"])
        self.epoch, self.bad_epochs, self.stopped = (
            state["epoch"],
            state["bad_epochs"],
            state["stopped"],
        )
        best = state["best"]
        self.best_epoch, self.best_loss, self.best_state = (
            best["epoch"],
            best["loss"],
            best["state"],
        )
        self.history = list(state["history"])

    def finish(self) -> Any:
        """The module with the best epoch's weights (the last ones without validation)."""
        if self.best_state is not None:
            self.module.load_state_dict(self.best_state)
        self.module.eval()
        return self.module


@contextlib.contextmanager
def _progress(enabled: bool, total: int, epoch: int) -> Iterator[Callable[[int], None]]:
    """A transient rich bar over one epoch's rows when ``enabled``; yields ``advance(rows)``."""
    if not enabled:
        yield lambda rows: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(f"epoch {epoch}", total=total)
        yield lambda rows: bar.advance(task, rows)
