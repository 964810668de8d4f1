"""A uniform random sample of rows, mergeable and bounded: what a domain classifier trains on.

Bottom-k sampling: every row gets a uniform random key and the sample keeps the ``size`` rows
with the smallest keys, so feeding batches one by one (or merging samples of partitions) keeps
a uniform sample of everything seen, in ``size`` rows of memory.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = ["RowSample"]


class RowSample:
    """At most ``size`` rows drawn uniformly from every batch given to :meth:`update`."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.rng = np.random.default_rng(seed)
        self.keys = np.empty(0)
        self.rows: pa.Table | None = None

    def update(self, batch: pa.RecordBatch | pa.Table) -> None:
        """Offer every row of ``batch`` to the sample."""
        keys = self.rng.random(batch.num_rows)
        if keys.size > self.size:
            keep = np.argpartition(keys, self.size)[: self.size]
            batch, keys = batch.take(pa.array(keep)), keys[keep]
        table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
        self._combine(keys, table)

    def _combine(self, keys: np.ndarray, table: pa.Table) -> None:
        if self.rows is not None:
            keys = np.concatenate([self.keys, keys])
            table = pa.concat_tables([self.rows, table], promote_options="permissive")
        if keys.size > self.size:
            keep = np.argpartition(keys, self.size)[: self.size]
            table, keys = table.take(pa.array(keep)), keys[keep]
        self.keys, self.rows = keys, table.combine_chunks()

    def table(self) -> pa.Table:
        """The sampled rows (an empty table before any update)."""
        return self.rows if self.rows is not None else pa.table({})

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the keys and the rows as base64 Arrow IPC."""
        sink = pa.BufferOutputStream()
        table = self.table()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return {
            "size": self.size,
            "keys": self.keys.tolist(),
            "rows": base64.b64encode(sink.getvalue().to_pybytes()).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RowSample:
        """Inverse of :meth:`to_dict` (later rows get fresh keys from a new stream)."""
        sample = cls(int(data["size"]), len(data["keys"]))
        sample.keys = np.asarray(data["keys"], float)
        reader = pa.ipc.open_stream(base64.b64decode(data["rows"]))
        sample.rows = reader.read_all()
        return sample
