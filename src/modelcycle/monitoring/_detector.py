"""The drift detector: a reference summarised once, then any number of current checks.

It has the estimator shape: keyword-only settings stored unchanged, :meth:`DriftDetector.fit`
builds one mergeable sketch per column (:mod:`._sketch`) in one pass over batches, learned
state ends in ``_``. :meth:`~DriftDetector.to_dict` stores the reference (a few tens of KB
per numeric column) so checks never touch the reference rows again. A check is
:meth:`~DriftDetector.score` on a whole input, or :meth:`~DriftDetector.update` chunk by chunk
then :meth:`~DriftDetector.result`; both give a :class:`DriftSnapshot`.

Columns of a batch are sketched on a thread pool (sorting and Arrow's counting release the
GIL), one batch of ``chunk_rows`` rows at a time, so memory is one batch plus the sketches.
A check of large Parquet files needs neither pandas nor scipy (half of the process's peak
memory at 100,000 rows): scipy only for the exact KS p-value of samples under ~20,000 rows a
side (:mod:`._stats`), pandas only for DataFrames and other files (:mod:`._io`).
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa

from modelcycle.data import infer_schema
from modelcycle.errors import DataError, InvalidValueError, invalid_value
from modelcycle.monitoring._io import (
    DataLike,
    batches,
    column_names,
    is_parquet,
    parquet_column,
    parquet_head,
    parquet_rows,
)
from modelcycle.monitoring._result import DriftSnapshot, SkippedColumn
from modelcycle.monitoring._sample import RowSample
from modelcycle.monitoring._sketch import (
    KLL_K,
    CategorySketch,
    NumericSketch,
    Sketch,
    sketch_from_dict,
)
from modelcycle.monitoring._verdict import adjust_p_values, check_tests, column_verdict

__all__ = ["DriftDetector"]

_FORMAT = "modelcycle.drift-reference"
_NUMERIC_KINDS = ("numeric", "integer")
_CATEGORY_KINDS = ("categorical", "boolean")
Progress = Callable[[float], None]


class DriftDetector:
    """Per-column (and optionally multivariate) drift of current data against a reference.

    Parameters (keyword-only, stored unchanged):

    - ``columns``: the columns to monitor (default: all of the reference's).
    - ``kinds``: ``{column: "numeric" | "categorical"}`` overriding the inferred kind.
    - ``tests``: ``{column: test}`` (``ks``, ``wasserstein``, ``psi`` for numeric columns;
      ``chisquare``, ``jensenshannon``, ``psi`` for categorical ones) overriding the default
      chosen by kind and reference size (see :mod:`._verdict`).
    - ``thresholds``: ``{test: value}`` overriding the default thresholds.
    - ``drift_share``: the dataset drifts when at least this share of columns drift (0.5).
    - ``correction``: ``"fdr_bh"`` (default) adjusts the p-values of the p-value tests across
      columns for the false discovery rate (Benjamini-Hochberg); ``"none"`` keeps raw p-values
      (Evidently's behaviour).
    - ``small_sample``: up to this many reference rows, p-value tests decide (1000).
    - ``multivariate``: also train a domain classifier on a row sample (``sample_rows``).

    >>> import pyarrow as pa
    >>> detector = DriftDetector().fit(pa.table({"x": [float(i % 97) for i in range(5000)]}))
    >>> detector.score(pa.table({"x": [float(i % 97) + 30 for i in range(5000)]})).drifted
    ['x']
    """

    def __init__(
        self,
        *,
        columns: list[str] | None = None,
        kinds: dict[str, str] | None = None,
        tests: dict[str, str] | None = None,
        thresholds: dict[str, float] | None = None,
        drift_share: float = 0.5,
        correction: str = "fdr_bh",
        small_sample: int = 1000,
        max_categories: int = 1000,
        k: int = KLL_K,
        chunk_rows: int = 131_072,
        threads: int | None = None,
        multivariate: bool = False,
        multivariate_threshold: float = 0.55,
        sample_rows: int = 5_000,
        seed: int = 0,
    ) -> None:
        self.columns, self.kinds, self.tests, self.thresholds = columns, kinds, tests, thresholds
        self.drift_share, self.correction, self.small_sample = drift_share, correction, small_sample
        self.max_categories, self.k, self.chunk_rows, self.threads = (
            max_categories,
            k,
            chunk_rows,
            threads,
        )
        self.multivariate, self.multivariate_threshold = multivariate, multivariate_threshold
        self.sample_rows, self.seed = sample_rows, seed

    def get_params(self) -> dict[str, Any]:
        """The constructor's arguments, as given (JSON-serialisable)."""
        names = inspect.signature(type(self).__init__).parameters
        return {name: getattr(self, name) for name in names if name != "self"}

    def _check(self) -> None:
        if self.correction not in ("fdr_bh", "none"):
            raise invalid_value("correction", self.correction, "expected fdr_bh or none")
        if not 0 < self.drift_share <= 1:
            raise invalid_value("drift_share", self.drift_share, "must be in (0, 1]")
        for field in ("chunk_rows", "max_categories", "sample_rows", "k"):
            if getattr(self, field) < 1:
                raise invalid_value(field, getattr(self, field), "must be at least 1")
        if self.k < 8:
            raise invalid_value("k", self.k, "KLL needs k >= 8")
        check_tests(self.tests or {}, self.thresholds or {})
        for column, kind in (self.kinds or {}).items():
            if kind not in ("numeric", "categorical"):
                raise invalid_value(
                    f"kind of column {column!r}", kind, "expected numeric or categorical"
                )

    # -- fitting -------------------------------------------------------------------------------

    def fit(self, reference: DataLike, progress: Progress | None = None) -> DriftDetector:
        """Sketch ``reference`` (a table, DataFrame, file, or an iterable of batches) in one
        pass; ``progress`` is called with the rows of each batch done."""
        self._check()
        self.reference_: dict[str, Sketch] = {}
        self.skipped_: dict[str, str] = {}
        self.reference_rows_ = 0
        self.reference_sample_ = (
            RowSample(self.sample_rows, self.seed) if self.multivariate else None
        )
        names = self.columns or column_names(reference)
        if is_parquet(reference) and self.reference_sample_ is None:
            self._plan(parquet_head(reference, 20_000, names))
            self.reference_rows_ = self._columnwise(self.reference_, reference, progress)
        for batch in [] if self.reference_rows_ else batches(reference, self.chunk_rows, names):
            if not self.reference_ and not self.skipped_:
                self._plan(batch)
            self._feed(self.reference_, batch)
            self.reference_rows_ += batch.num_rows
            if self.reference_sample_ is not None:
                self.reference_sample_.update(batch.select(list(self.reference_)))
            if progress is not None:
                progress(batch.num_rows)
        if not self.reference_rows_:
            raise DataError("the drift reference has no rows")
        self.reset()
        return self

    def _plan(self, batch: pa.RecordBatch) -> None:
        """Decide each column's sketch from the first batch (kinds as the data stage infers)."""
        declared = self.kinds or {}
        unknown = [name for name in declared if name not in batch.schema.names]
        if unknown:
            raise invalid_value("kinds", unknown[0], "not a column of the reference")
        sample = pa.Table.from_batches([batch.slice(0, 20_000)])
        inferred = infer_schema(sample).kinds()
        for name in batch.schema.names:
            kind = declared.get(name) or inferred[name].value
            if kind in _NUMERIC_KINDS and not pa.types.is_boolean(batch.schema.field(name).type):
                self.reference_[name] = NumericSketch(name, self.k)
            elif kind in _CATEGORY_KINDS or kind == "numeric":
                self.reference_[name] = CategorySketch(name, self.max_categories)
            else:
                self.skipped_[name] = f"a {kind} column is not tested for drift"
        for column in self.tests or {}:
            if column not in self.reference_:
                raise invalid_value("tests", column, "not a tested column of the reference")

    def _feed(self, sketches: dict[str, Sketch], batch: pa.RecordBatch) -> None:
        def one(name: str) -> None:
            sketches[name].update(batch.column(name))

        self._each(one, list(sketches))

    def _columnwise(
        self, sketches: dict[str, Sketch], path: DataLike, progress: Progress | None
    ) -> int:
        """Feed each column of a Parquet file straight from its pages; returns the rows."""

        def one(name: str) -> None:
            for values in parquet_column(path, name, self.chunk_rows):
                sketches[name].update(values)
                if progress is not None:
                    progress(len(values) / len(sketches))

        self._each(one, list(sketches))
        return parquet_rows(path)

    def _each(self, work: Callable[[str], None], names: list[str]) -> None:
        workers = min(self.threads or _cores(), len(names))
        if workers <= 1:
            for name in names:
                work(name)
            return
        with ThreadPoolExecutor(workers, thread_name_prefix="drift") as pool:
            list(pool.map(work, names))

    def merge(self, other: DriftDetector) -> DriftDetector:
        """Add ``other``'s reference (the same columns, sketched apart: partitions, days) to
        this one's, as if both had been fitted together; returns ``self``."""
        self._fitted()
        other._fitted()
        if list(other.reference_) != list(self.reference_):
            why = f"its columns {list(other.reference_)} differ from {list(self.reference_)}"
            raise invalid_value("reference to merge", "DriftDetector", why)
        for name, sketch in self.reference_.items():
            theirs = other.reference_[name]
            if isinstance(sketch, NumericSketch) and isinstance(theirs, NumericSketch):  # noqa: SIM114 (typed apart)
                sketch.merge(theirs)
            elif isinstance(sketch, CategorySketch) and isinstance(theirs, CategorySketch):
                sketch.merge(theirs)
            else:
                raise invalid_value(
                    f"column {name!r}", theirs.kind, "kinds differ between references"
                )
        self.reference_rows_ += other.reference_rows_
        return self.reset()

    # -- checking ------------------------------------------------------------------------------

    def reset(self) -> DriftDetector:
        """Forget the current data seen so far (the reference stays)."""
        self._fitted()
        self.current_: dict[str, Sketch] = {
            name: _empty_like(s) for name, s in self.reference_.items()
        }
        self.current_rows_ = 0
        self.current_sample_ = (
            RowSample(self.sample_rows, self.seed + 1) if self.multivariate else None
        )
        return self

    def update(self, current: DataLike, progress: Progress | None = None) -> DriftDetector:
        """Add current rows (any input :meth:`fit` takes) to the check in progress."""
        self._fitted()
        if is_parquet(current) and self.current_sample_ is None:
            parquet_head(current, 1, list(self.reference_))  # names a missing column
            self.current_rows_ += self._columnwise(self.current_, current, progress)
            return self
        for batch in batches(current, self.chunk_rows, list(self.reference_)):
            self._feed(self.current_, batch)
            self.current_rows_ += batch.num_rows
            if self.current_sample_ is not None:
                self.current_sample_.update(batch)
            if progress is not None:
                progress(batch.num_rows)
        return self

    def score(self, current: DataLike, progress: Progress | None = None) -> DriftSnapshot:
        """Check ``current`` as a whole: :meth:`reset`, :meth:`update`, :meth:`result`."""
        return self.reset().update(current, progress).result()

    def result(self) -> DriftSnapshot:
        """The snapshot of the current data seen since the last :meth:`reset`."""
        self._fitted()
        if not self.current_rows_:
            raise DataError("no current rows to check for drift")
        verdicts, skipped = (
            [],
            [SkippedColumn(column=c, reason=r) for c, r in self.skipped_.items()],
        )
        tests, thresholds = self.tests or {}, self.thresholds or {}
        for name, ref in self.reference_.items():
            cur = self.current_[name]
            if not ref.n or not cur.n:
                side = "reference" if not ref.n else "current"
                skipped.append(SkippedColumn(column=name, reason=f"no values in the {side} data"))
                continue
            verdicts.append(
                column_verdict(name, ref, cur, tests.get(name), thresholds, self.small_sample)
            )
        if self.correction == "fdr_bh":
            verdicts = adjust_p_values(verdicts)
        drifted = sum(v.drifted for v in verdicts)
        share = drifted / len(verdicts) if verdicts else 0.0
        return DriftSnapshot(
            reference_rows=self.reference_rows_,
            current_rows=self.current_rows_,
            drift_share=self.drift_share,
            tested_columns=len(verdicts),
            drifted_columns=drifted,
            share_drifted=share,
            dataset_drift=bool(verdicts) and share >= self.drift_share,
            columns=tuple(verdicts),
            skipped=tuple(skipped),
            multivariate=self._domain(),
        )

    def _domain(self) -> Any:
        if self.reference_sample_ is None or self.current_sample_ is None:
            return None
        from modelcycle.monitoring._multivariate import domain_drift

        kinds = {name: sketch.kind for name, sketch in self.reference_.items()}
        return domain_drift(
            self.reference_sample_.table(),
            self.current_sample_.table(),
            kinds,
            threshold=self.multivariate_threshold,
            seed=self.seed,
        )

    def _fitted(self) -> None:
        if not hasattr(self, "reference_"):
            raise InvalidValueError("this DriftDetector has no reference yet: call fit() first")

    # -- storing -------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The reference as JSON (settings, sketches, row sample): stored once, read by every
        later check through :meth:`from_dict`."""
        self._fitted()
        return {
            "format": _FORMAT,
            "format_version": 1,
            "params": self.get_params(),
            "reference_rows": self.reference_rows_,
            "skipped": self.skipped_,
            "sketches": [sketch.to_dict() for sketch in self.reference_.values()],
            "sample": None if self.reference_sample_ is None else self.reference_sample_.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftDetector:
        """Inverse of :meth:`to_dict`."""
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise DataError(f"not a drift reference: expected format {_FORMAT!r}")
        try:
            detector = cls(**data["params"])
            detector._check()
            detector.reference_ = {s["name"]: sketch_from_dict(s) for s in data["sketches"]}
            detector.skipped_ = dict(data["skipped"])
            detector.reference_rows_ = int(data["reference_rows"])
            sample = data.get("sample")
            detector.reference_sample_ = None if sample is None else RowSample.from_dict(sample)
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InvalidValueError):
                raise
            raise DataError(f"invalid drift reference: {type(exc).__name__}: {exc}") from None
        return detector.reset()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_dict` as JSON to ``path``; returns the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(self.to_dict(), allow_nan=False), encoding="utf-8")
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DriftDetector:
        """A detector from a reference written by :meth:`save`."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(f"file {os.fspath(path)!r} does not exist") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"file {os.fspath(path)!r}: not a drift reference: {exc}") from None
        return cls.from_dict(data)


def is_reference_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` holds a stored drift reference (rather than data)."""
    try:
        with open(path, "rb") as handle:
            return f'"format": "{_FORMAT}"'.encode() in handle.read(64)
    except OSError:
        return False


def _empty_like(sketch: Sketch) -> Sketch:
    if isinstance(sketch, NumericSketch):
        return NumericSketch(sketch.name, sketch.k)
    return CategorySketch(sketch.name, sketch.max_categories)


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
