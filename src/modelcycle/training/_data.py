"""``TrainData``: what training reads from the data stage, in one picklable value.

The frame, the target column, the schema (which decides preprocessing) and the split positions
travel together, so training, every cross-validation fold and every tuning trial see exactly
the rows the data stage chose, in this process or in an executor's worker.

    data = TrainData.from_frame(frame, "target", SplitSpec(method="stratified"))
    x_train, y_train = data.rows("train")          # resampled when the split says so
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from modelcycle.data._preprocessing import PreprocessingSpec
from modelcycle.data._schema import Schema, infer_schema
from modelcycle.data._splitting import Splits, SplitSpec, split
from modelcycle.errors import invalid_value
from modelcycle.models import Task
from modelcycle.training._metrics import infer_task

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["TrainData"]

Part = Literal["train", "validation"]
_Positions = np.ndarray[Any, np.dtype[np.intp]]


def _full_schema(frame: pd.DataFrame, schema: Schema | None) -> Schema:
    """``schema`` when it already covers every column, else inferred (``schema`` overriding)."""
    if schema is not None and all(name in schema.columns for name in frame.columns):
        return Schema(columns={str(name): schema.columns[name] for name in frame.columns})
    import pyarrow as pa

    return infer_schema(pa.Table.from_pandas(frame, preserve_index=False), schema)


@dataclass(frozen=True, eq=False)
class TrainData:
    """A frame, its target, its schema and split, and the preprocessing the model carries.

    ``splits`` holds row positions into ``frame`` (see :func:`modelcycle.data.split`);
    training fits on ``train`` and measures on ``validation``; ``test`` is left for evaluation.
    """

    frame: pd.DataFrame
    target: str
    splits: Splits
    schema: Schema
    preprocessing: PreprocessingSpec = field(default_factory=PreprocessingSpec)

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        target: str,
        split_spec: SplitSpec | None = None,
        *,
        schema: Schema | None = None,
        preprocessing: PreprocessingSpec | None = None,
    ) -> TrainData:
        """Split ``frame`` by ``split_spec`` (default: random 70/15/15) and infer its schema
        (``schema`` overrides the inferred kinds column by column)."""
        if target not in frame.columns:
            raise invalid_value("target", target, "no such column in the data")
        return cls(
            frame=frame.reset_index(drop=True),
            target=target,
            splits=split(frame, split_spec or SplitSpec(), target),
            schema=_full_schema(frame, schema),
            preprocessing=preprocessing or PreprocessingSpec(),
        )

    def rows(self, part: Part) -> tuple[pd.DataFrame, pd.Series]:
        """Features and labels of ``part``; training rows are resampled when the split says so
        (validation rows never are)."""
        if part == "train":
            rows = self.splits.frames(self.frame, self.target)["train"]
        else:
            rows = self.frame.iloc[self.splits.validation]
        return rows.drop(columns=[self.target]), rows[self.target]

    def task(self, declared: str | None = None) -> Task:
        """``declared`` when given, else the task the training labels imply."""
        if declared is not None:
            return Task(declared)
        return infer_task(self.frame[self.target].iloc[self.splits.train])

    def require_validation(self) -> None:
        """Refuse to train without validation rows (metrics and early stopping need them)."""
        if len(self.splits.validation) == 0:
            why = "training measures and stops early on validation rows; give a fraction > 0"
            raise invalid_value("split.validation", self.splits.spec.validation, why)

    def restricted(self, train: _Positions, validation: _Positions) -> TrainData:
        """The same data with other train and validation positions (a cross-validation fold)."""
        empty = np.empty(0, dtype=np.intp)
        parts = Splits(train, validation, empty, self.splits.spec)
        return TrainData(self.frame, self.target, parts, self.schema, self.preprocessing)

    def fingerprint(self) -> str:
        """A short hash of the content, the target and the split: same data, same print."""
        import pandas as pd

        digest = hashlib.sha256(self.target.encode())
        digest.update(pd.util.hash_pandas_object(self.frame, index=False).to_numpy().tobytes())
        for positions in (self.splits.train, self.splits.validation):
            digest.update(np.asarray(positions, dtype=np.int64).tobytes())
        return digest.hexdigest()[:16]
