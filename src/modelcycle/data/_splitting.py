"""Splitting a dataset into train, validation and test rows (and k folds).

A split is decided once, from the data and a :class:`SplitSpec`, and recorded as row positions,
so every later stage (tuning, evaluation, monitoring's reference data) sees the same rows and
the same seed gives the same split on any machine.

    random      shuffled rows (scikit-learn ``train_test_split``)
    stratified  every split keeps the class shares of ``stratify`` (default: the target); the
                rows of scikit-learn's stratified ``train_test_split``, picked with arrays
    group       whole groups go to one split (``GroupShuffleSplit``), so no group is in two
                splits; the fractions count groups, not rows
    time        ordered by the ``time`` column: every train time < every validation time <
                every test time. Rows sharing a timestamp never span two splits: each cut moves
                to the nearest change of timestamp, so sizes can differ a little from the
                fractions.

Held-out sizes round up, as scikit-learn's do (a split that is asked for is never empty by
rounding) and training takes the rest; fractions that still leave a split empty are refused
with the fraction named. Positions come back in the data's row order.

``folds: k`` adds k-fold indices over the *training* split (positions into it) for
cross-validation: ``KFold`` for random, ``StratifiedKFold`` for stratified, ``GroupKFold`` (or
``StratifiedGroupKFold`` when ``stratify`` is given: the only use of ``stratify`` in a group
split) for group, and an expanding-window
``TimeSeriesSplit`` over distinct timestamps for time.

Imbalance (``_imbalance``): resampling is for the training split only: :meth:`Splits.frames`
resamples the training rows and returns validation and test rows untouched, so evaluation
always sees the real balance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from modelcycle.data._imbalance import (
    RESAMPLERS,
    ImbalanceSpec,
    imbalance_report,
    native,
    resample,
)
from modelcycle.errors import InvalidValueError, invalid_value

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SplitSpec", "Splits", "split"]

SplitMethod = Literal["random", "stratified", "group", "time"]
Positions = np.ndarray[Any, np.dtype[np.intp]]
Fold = tuple[Positions, Positions]

_SPLITS = ("train", "validation", "test")
_MAX_INTEGER_CLASSES = 20


class SplitSpec(BaseModel):
    """How to split: method, fractions, seed, the columns it needs, folds and imbalance.

    Fractions must each be in [0, 1) and sum to 1; ``group`` and ``time`` name the column of
    their method (and only theirs), ``stratify`` defaults to the target.

    >>> SplitSpec(method="group", group="patient", validation=0.0, test=0.3, folds=5).train
    0.7
    """

    model_config = ConfigDict(extra="forbid")

    method: SplitMethod = "random"
    train: float = Field(default=0.7, gt=0.0, lt=1.0)
    validation: float = Field(default=0.15, ge=0.0, lt=1.0)
    test: float = Field(default=0.15, ge=0.0, lt=1.0)
    seed: int = 42
    stratify: str | None = None
    group: str | None = None
    time: str | None = None
    folds: int | None = Field(default=None, ge=2)
    imbalance: ImbalanceSpec = Field(default_factory=ImbalanceSpec)

    @model_validator(mode="after")
    def _consistent(self) -> SplitSpec:
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"train + validation + test must be 1, got {total:.10g}")
        for name in ("group", "time"):
            given = getattr(self, name) is not None
            if self.method == name and not given:
                raise ValueError(f"method {name!r} needs the {name!r} column")
            if given and self.method != name:
                raise ValueError(f"{name!r} is used by method {name!r} only")
        if self.stratify is not None and self.method not in ("stratified", "group"):
            raise ValueError("stratify is used by methods 'stratified' and 'group' only")
        return self


@dataclass(frozen=True, eq=False)
class Splits:
    """Row positions (0-based, into the DataFrame given to :func:`split`) of each split.

    ``folds`` holds ``(train_idx, validation_idx)`` pairs of positions *into the training
    split* (``df.iloc[splits.train].iloc[train_idx]``); empty unless ``folds`` was asked for.
    """

    train: Positions
    validation: Positions
    test: Positions
    spec: SplitSpec
    folds: list[Fold] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def parts(self) -> dict[str, Positions]:
        """Split name -> positions, in the order train, validation, test."""
        return {"train": self.train, "validation": self.validation, "test": self.test}

    def to_dict(self) -> dict[str, Any]:
        """JSON summary: sizes, per-split class balance or target range, time ranges, groups."""
        folds = [{"train": len(t), "validation": len(v)} for t, v in self.folds]
        return {**self.summary, "folds": folds, "spec": self.spec.model_dump()}

    def frames(self, df: pd.DataFrame, target: str | None = None) -> dict[str, pd.DataFrame]:
        """The rows of each non-empty split, with the spec's resampling applied to train only.

        Validation and test rows are returned exactly as they are in ``df``: resampling them
        would make evaluation measure a class balance that serving never sees.
        """
        frames = {name: df.iloc[pos] for name, pos in self.parts().items() if len(pos)}
        imbalance = self.spec.imbalance
        if imbalance.strategy not in RESAMPLERS:
            return frames
        if target is None:
            raise invalid_value(
                "imbalance.strategy", imbalance.strategy, "resampling needs a target"
            )
        train = frames["train"]
        features, labels = resample(
            train.drop(columns=[target]),
            train[target],
            imbalance.strategy,
            self.spec.seed,
            sampling_strategy=imbalance.sampling_strategy,
            k_neighbors=imbalance.k_neighbors,
        )
        frames["train"] = features.assign(**{target: labels.to_numpy()})[list(train.columns)]
        return frames


def split(df: pd.DataFrame, spec: SplitSpec, target: str | None = None) -> Splits:
    """Split ``df`` by ``spec``: positions of train, validation and test rows (and folds).

    ``target`` is the label column: the default stratification column and the subject of the
    per-split class balance in :meth:`Splits.to_dict`. Same data and seed, same split.
    """
    _require_columns(df, spec, target)
    parts = (_time if spec.method == "time" else _shuffled)(df, spec, target)
    train, validation, test = (np.sort(part).astype(np.intp) for part in parts)
    folds = _folds(df.iloc[train], spec, target) if spec.folds else []
    summary = _summary(df, spec, target, {"train": train, "validation": validation, "test": test})
    return Splits(train, validation, test, spec, folds, summary)


# -- methods ---------------------------------------------------------------------------------


def _require_columns(df: pd.DataFrame, spec: SplitSpec, target: str | None) -> None:
    needed = {"target": target, "stratify": spec.stratify, "group": spec.group, "time": spec.time}
    columns = [str(c) for c in df.columns]
    for key, column in needed.items():
        if column is not None and column not in df.columns:
            shown = ", ".join(columns[:20]) + (", ..." if len(columns) > 20 else "")
            raise invalid_value(f"split.{key}", column, f"no such column (columns: {shown})")


def _named(column: str | None, key: str) -> str:
    if column is None:
        raise InvalidValueError(f"split.{key}: method {key!r} needs the {key!r} column")
    return column


def _counts(total: int, spec: SplitSpec, unit: str) -> tuple[int, int, int]:
    # Like scikit-learn: held-out sizes round up (a split asked for is never empty), train
    # takes the rest. The epsilon keeps 0.15 * 100 at 15, not 16.
    n_test, n_validation = (math.ceil(f * total - 1e-9) for f in (spec.test, spec.validation))
    sizes = (total - n_test - n_validation, n_validation, n_test)
    for name, size in zip(_SPLITS, sizes, strict=True):
        fraction = getattr(spec, name)
        if fraction > 0 and size <= 0:
            why = f"{fraction:g} of {total} {unit} leaves the {name} split empty"
            raise invalid_value(f"split.{name}", fraction, why)
    return sizes


def _labels(df: pd.DataFrame, column: str, role: str) -> np.ndarray[Any, Any]:
    values = df[column]
    missing = values.isna().to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        why = f"{int(missing.sum())} rows have no value (first at row {row})"
        raise invalid_value(f"{role} column", column, why)
    return values.to_numpy()


def _cut(
    positions: Positions,
    n: int,
    seed: int,
    strata: np.ndarray[Any, Any] | None,
    groups: np.ndarray[Any, Any] | None,
    column: str,
) -> tuple[Positions, Positions]:
    """Take ``n`` rows (or ``n`` whole groups) of ``positions`` at random, keeping strata."""
    from sklearn.model_selection import GroupShuffleSplit, train_test_split

    if n == 0:
        return positions, positions[:0]
    if groups is not None:
        available = len(np.unique(groups[positions]))
        splitter = GroupShuffleSplit(1, test_size=n, train_size=available - n, random_state=seed)
        kept, taken = next(splitter.split(positions, groups=groups[positions]))
        return positions[kept], positions[taken]
    labels = None if strata is None else strata[positions]
    if labels is not None and (cut := _stratified_cut(positions, n, seed, labels)) is not None:
        return cut
    try:
        rest, held = train_test_split(positions, test_size=n, random_state=seed, stratify=labels)
    except ValueError as exc:
        raise invalid_value("stratify column", column, str(exc)) from None
    return rest, held


def _stratified_cut(
    positions: Positions, n: int, seed: int, labels: np.ndarray[Any, Any]
) -> tuple[Positions, Positions] | None:
    """``train_test_split(positions, test_size=n, random_state=seed, stratify=labels)``, the
    same rows in the same order, for integer class codes: scikit-learn's
    ``StratifiedShuffleSplit`` with its random draws in the same sequence, but each class's
    rows gathered as arrays where it extends Python lists one row at a time (most of its time
    on a million rows). None when scikit-learn would refuse (it then says why)."""
    from sklearn.utils.extmath import _approximate_mode

    counts = np.bincount(labels)
    present = counts[counts > 0]
    n_train = len(positions) - n
    if present.min() < 2 or min(n_train, n) < present.size:
        return None
    if present.size < counts.size:  # classes absent here: number the present ones 0, 1, ...
        labels = np.searchsorted(np.flatnonzero(counts), labels)
    classes = np.split(np.argsort(labels, kind="stable"), np.cumsum(present)[:-1])
    rng = np.random.RandomState(seed)
    n_i = _approximate_mode(present, n_train, rng)
    t_i = _approximate_mode(present - n_i, n, rng)
    train, test = [], []
    for rows, kept, held in zip(classes, n_i, t_i, strict=True):
        shuffled = rows.take(rng.permutation(rows.size), mode="clip")
        train.append(shuffled[:kept])
        test.append(shuffled[kept : kept + held])
    del classes
    parts = []
    for chosen in (train, test):  # rng.permutation(x) is a shuffled copy: shuffle in place
        order = np.concatenate(chosen)
        chosen.clear()
        rng.shuffle(order)
        parts.append(positions[order])
    return parts[0], parts[1]


def _strata_column(spec: SplitSpec, target: str | None) -> str:
    column = spec.stratify or target
    if column is None:
        raise InvalidValueError("split.stratify: a stratified split needs a column or a target")
    return column


def _strata(df: pd.DataFrame, column: str, at_least: int, where: str) -> np.ndarray[Any, Any]:
    """Class codes of the column's labels, numbered in the order of the labels as text (the
    classes scikit-learn would find in ``labels.astype(str)``, found without sorting a
    million strings)."""
    import pandas as pd

    codes, uniques = pd.factorize(_labels(df, column, "stratify"))
    values, classes = np.unique(np.asarray(uniques).astype(str), return_inverse=True)
    labels = classes.astype(np.min_scalar_type(values.size))[codes]
    counts = np.bincount(labels, minlength=values.size)
    if counts.min() < at_least:
        rare = str(values[int(np.argmin(counts))])
        why = f"class {rare!r} has {counts.min()} row(s) {where}; stratifying needs {at_least}"
        raise invalid_value("stratify column", column, why)
    return labels


def _shuffled(df: pd.DataFrame, spec: SplitSpec, target: str | None) -> tuple[Positions, ...]:
    """Random, stratified and group splits: cut test, then validation, off shuffled rows."""
    column, strata, groups = "", None, None
    if spec.method == "stratified":
        column = _strata_column(spec, target)
        strata = _strata(df, column, 2, "in the data")
    if spec.method == "group":
        groups = _labels(df, _named(spec.group, "group"), "group").astype(str)
    total, unit = (len(df), "rows") if groups is None else (len(np.unique(groups)), "groups")
    _, n_validation, n_test = _counts(total, spec, unit)
    rest, test = _cut(np.arange(len(df)), n_test, spec.seed, strata, groups, column)
    train, validation = _cut(rest, n_validation, spec.seed, strata, groups, column)
    return train, validation, test


def _times(df: pd.DataFrame, column: str) -> np.ndarray[Any, Any]:
    import pandas as pd

    values = df[column]
    _labels(df, column, "time")
    if pd.api.types.is_datetime64_any_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.to_numpy()
    try:
        return pd.to_datetime(values, format="ISO8601").to_numpy()
    except (ValueError, TypeError):
        why = f"expected dates or times (ISO 8601) or numbers, got e.g. {values.iloc[0]!r}"
        raise invalid_value("time column", column, why) from None


def _snap(cuts: np.ndarray[Any, Any], wanted: int) -> int:
    return int(cuts[int(np.argmin(np.abs(cuts - wanted)))])


def _time(df: pd.DataFrame, spec: SplitSpec, target: str | None) -> tuple[Positions, ...]:
    column = _named(spec.time, "time")
    times = _times(df, column)
    order = np.argsort(times, kind="stable")
    ordered = times[order]
    changes = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    cuts = np.concatenate([[0], changes, [len(df)]])
    n_train, n_validation, _ = _counts(len(df), spec, "rows")
    first, second = _snap(cuts, n_train), _snap(cuts, n_train + n_validation)
    sizes = (first, second - first, len(df) - second)
    for name, size in zip(_SPLITS, sizes, strict=True):
        if getattr(spec, name) > 0 and size == 0:
            why = (
                f"its {len(cuts) - 1} distinct timestamps leave the {name} split empty "
                "(rows sharing a timestamp stay in one split)"
            )
            raise invalid_value("time column", column, why)
    return order[:first], order[first:second], order[second:]


# -- folds -----------------------------------------------------------------------------------


def _time_folds(times: np.ndarray[Any, Any], k: int, column: str) -> list[Fold]:
    from sklearn.model_selection import TimeSeriesSplit

    distinct = np.unique(times)
    if len(distinct) <= k:
        why = f"the training split has {len(distinct)} distinct timestamps, need more than {k}"
        raise invalid_value("time column", column, why)
    folds = []
    for fit_idx, check_idx in TimeSeriesSplit(n_splits=k).split(distinct):
        fit = np.flatnonzero(np.isin(times, distinct[fit_idx]))
        check = np.flatnonzero(np.isin(times, distinct[check_idx]))
        folds.append((fit, check))
    return folds


def _folds(train: pd.DataFrame, spec: SplitSpec, target: str | None) -> list[Fold]:
    from sklearn.model_selection import (
        GroupKFold,
        KFold,
        StratifiedGroupKFold,
        StratifiedKFold,
    )

    k, seed = int(spec.folds or 0), spec.seed
    if len(train) < k:
        raise invalid_value("split.folds", k, f"the training split has only {len(train)} rows")
    if spec.method == "time":
        column = _named(spec.time, "time")
        return _time_folds(_times(train, column), k, column)
    labels = groups = None
    splitter: Any = KFold(k, shuffle=True, random_state=seed)
    if spec.method == "stratified" or spec.stratify is not None:
        column = _strata_column(spec, target)
        labels = _strata(train, column, k, f"in the training split, fewer than folds={k}")
        splitter = StratifiedKFold(k, shuffle=True, random_state=seed)
    if spec.method == "group":
        column = _named(spec.group, "group")
        groups = train[column].astype(str).to_numpy()
        if len(np.unique(groups)) < k:
            why = f"the training split has {len(np.unique(groups))} groups, fewer than folds={k}"
            raise invalid_value("group column", column, why)
        kind = GroupKFold if labels is None else StratifiedGroupKFold
        splitter = kind(k, shuffle=True, random_state=seed)
    return [
        (fit.astype(np.intp), check.astype(np.intp))
        for fit, check in splitter.split(np.zeros(len(train)), labels, groups)
    ]


# -- summary ---------------------------------------------------------------------------------


def _is_classification(labels: pd.Series) -> bool:
    import pandas as pd

    if pd.api.types.is_bool_dtype(labels):
        return True
    if pd.api.types.is_float_dtype(labels):
        return False
    if pd.api.types.is_integer_dtype(labels):
        return int(labels.nunique()) <= _MAX_INTEGER_CLASSES
    return True


def _moment(value: Any) -> Any:
    """A time for JSON: ISO 8601 for dates and times, the number itself for numeric times."""
    import pandas as pd

    if isinstance(value, (np.datetime64, pd.Timestamp)):
        return pd.Timestamp(value).isoformat()
    return native(value)


def _summary(
    df: pd.DataFrame, spec: SplitSpec, target: str | None, parts: dict[str, Positions]
) -> dict[str, Any]:
    present = {name: pos for name, pos in parts.items() if len(pos)}
    summary: dict[str, Any] = {
        "method": spec.method,
        "seed": spec.seed,
        "rows": len(df),
        "sizes": {name: len(pos) for name, pos in parts.items()},
        "target": target,
    }
    if target is not None:
        labels = df[target]
        if _is_classification(labels):
            report = {n: imbalance_report(labels.iloc[p]) for n, p in present.items()}
            summary["class_balance"] = report
        else:
            described = {n: labels.iloc[p].describe() for n, p in present.items()}
            summary["target_range"] = {
                n: {k: float(d[k]) for k in ("mean", "std", "min", "max")}
                for n, d in described.items()
            }
    if spec.time is not None:
        times = _times(df, spec.time)
        summary["time_ranges"] = {
            n: {"min": _moment(times[p].min()), "max": _moment(times[p].max())}
            for n, p in present.items()
        }
    if spec.group is not None:
        groups = df[spec.group].astype(str)
        summary["groups"] = {n: int(groups.iloc[p].nunique()) for n, p in parts.items()}
    return summary
