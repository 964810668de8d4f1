"""A retrain's data: the champion's training data plus labelled production rows.

The labelled production rows are the logged predictions of the model (every version) that
received a label (``metadata.feedback.labelled_frame``: a row given conflicting labels takes
its latest one). A fixed share of them, chosen by a hash of the row's values (every input
and the label), is the *fresh holdout*: neither the champion nor any challenger ever trains
on it, so both are judged on the same unseen rows. A row that was holdout once stays holdout,
identical rows always fall on the same side (a copy of a holdout row cannot leak into
training), and the split does not depend on the request ids the server drew. The rest joins
the champion's dataset version; a production row equal to a training row (or to an earlier
production row) in every feature and the target is dropped and counted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelcycle.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from modelcycle.loop._policies import Situation
    from modelcycle.tracking import Client

__all__ = ["RetrainData", "build_data", "in_holdout", "row_keys"]


@dataclass
class RetrainData:
    """The challenger's training frame, the holdout and what went into them."""

    frame: pd.DataFrame
    holdout: pd.DataFrame
    target: str
    training_rows: list[str]
    holdout_rows: list[str]
    counts: dict[str, int] = field(default_factory=dict)
    previous: str | None = None

    def lineage(self) -> dict[str, Any]:
        """The feedback rows used, for the retrain run's record."""
        return {
            "previous_dataset": self.previous,
            "counts": self.counts,
            "training_rows": self.training_rows,
            "holdout_rows": self.holdout_rows,
        }


def row_keys(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """One text per row of its values in ``columns`` (what :func:`in_holdout` hashes)."""
    texts = frame[columns].astype(object).where(frame[columns].notna(), None)
    return ["\x1f".join(map(repr, row)) for row in texts.itertuples(index=False, name=None)]


def in_holdout(key: str, share: float) -> bool:
    """Whether a production row (its :func:`row_keys` text) belongs to the fresh holdout."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 < share


def _coerce(values: pd.Series, like: pd.Series, what: str) -> pd.Series:
    """``values`` in the dtype family of ``like``; a value that does not fit names its row."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(like):
        return values.astype(object)
    if pd.api.types.is_numeric_dtype(like):
        converted = pd.to_numeric(values, errors="coerce")
        bad = converted.isna() & values.notna()
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise DataError(
                f"feedback {what}: row {row} holds {values.iloc[row]!r}, "
                "which is not a number like the training data's"
            )
        whole = converted.notna().all() and bool((converted % 1 == 0).all())
        if pd.api.types.is_integer_dtype(like) and whole:
            return converted.astype(like.dtype)  # 0/1 labels stay a class, not a number
        return converted.astype(float)
    return values.map(lambda v: v if v is None else str(v)).astype(object)


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns as objects, so training and production rows concatenate."""
    import pandas as pd

    cats = [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    if not cats:
        return frame
    plain: pd.DataFrame = frame.assign(**{c: frame[c].astype(object) for c in cats})
    return plain


def _keys(frame: pd.DataFrame) -> pd.Series:
    import pandas as pd

    return pd.util.hash_pandas_object(frame.astype(str), index=False)


def build_data(client: Client, sit: Situation, target: str, holdout_share: float) -> RetrainData:
    """The champion's dataset version plus its labelled production rows (see the module
    docstring)."""
    import pandas as pd

    from modelcycle.data import load_version

    dataset = (sit.bundle.manifest.get("lineage") or {}).get("dataset")
    if not dataset:
        raise DataError(
            f"{sit.champion.ref} records no dataset version: a retrain adds production rows "
            "to the champion's training data"
        )
    table, _ = load_version(client, dataset)
    previous = _plain(table.to_pandas())
    if target not in previous.columns:
        raise DataError(f"dataset {dataset}: target column {target!r} is missing")
    classes = sit.bundle.signature.get("output", {}).get("classes")
    labelled = client.metadata.feedback.labelled_frame(sit.name, classes=classes)
    features = [c for c in sit.features if c in previous.columns]
    rows = pd.DataFrame(
        {c: _coerce(labelled[c], previous[c], f"column {c!r}") for c in features}
        if len(labelled)
        else {c: pd.Series(dtype=previous[c].dtype) for c in features}
    )
    rows[target] = _coerce(labelled["label"], previous[target], "label") if len(labelled) else []
    row_ids = labelled["row_id"].astype(str).tolist() if len(labelled) else []
    keys_of = row_keys(rows, [*features, target]) if len(rows) else []
    held = [in_holdout(k, holdout_share) for k in keys_of]
    mask = pd.Series(held, dtype=bool)
    holdout = rows[mask.to_numpy()].reset_index(drop=True) if len(rows) else rows
    train = rows[~mask.to_numpy()].reset_index(drop=True) if len(rows) else rows
    train_ids = [r for r, h in zip(row_ids, held, strict=True) if not h]
    columns = [*features, target]
    seen = set(_keys(previous[columns]).tolist())
    keys = _keys(train[columns]) if len(train) else pd.Series(dtype="uint64")
    keep: list[bool] = (~keys.isin(seen) & ~keys.duplicated()).tolist() if len(train) else []
    added = train[keep] if len(train) else train
    frame = pd.concat([previous, added], ignore_index=True, sort=False)
    counts = {
        "previous_rows": len(previous),
        "labelled_rows": len(labelled),
        "conflicting_rows": int(labelled.attrs.get("conflicts", 0)) if len(labelled) else 0,
        "holdout_rows": len(holdout),
        "production_rows": len(train),
        "added_rows": len(added),
        "duplicates_removed": len(train) - len(added),
        "rows": len(frame),
    }
    return RetrainData(
        frame=frame,
        holdout=holdout,
        target=target,
        training_rows=[r for r, k in zip(train_ids, keep, strict=True) if k],
        holdout_rows=[r for r, h in zip(row_ids, held, strict=True) if h],
        counts=counts,
        previous=dataset,
    )
