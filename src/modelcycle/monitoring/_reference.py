"""References from the data stage: a stored dataset profile, or a dataset version.

A dataset version keeps its profile (:class:`~modelcycle.data.DatasetProfile`), so it is a drift
reference without reading its rows: numeric columns bring their moments, exact value counts
(<= 100 distinct values) and KLL sketch (``k = 128``: rank error <= 2.1% at 99% confidence, so
KS and PSI are coarser than from a ``k = 1024`` monitoring sketch); categorical columns bring
exact counts (<= 100 categories) or their frequent-items estimates, the remainder counted as
one overflow category. Text, datetime and id columns are listed as skipped.

:func:`reference_for` picks a model version's reference: by default the training-data profile
its bundle carries (part ``profile``), else its lineage's dataset version; a dataset version
(``dataset:NAME@ID``), a stored reference (JSON) or a data file overrides it.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import datasketches as ds

from modelcycle.monitoring._detector import DriftDetector
from modelcycle.monitoring._sketch import CategorySketch, NumericSketch, Sketch

if TYPE_CHECKING:
    from modelcycle.data import ColumnProfile, DatasetProfile
    from modelcycle.tracking import Client

__all__ = ["from_dataset_version", "from_profile", "reference_for"]

_NUMERIC = ("numeric", "integer")
_CATEGORY = ("categorical", "boolean")


def _numeric(column: ColumnProfile) -> NumericSketch:
    state = column.state
    sketch = NumericSketch(column.name, 128)
    sketch.n, sketch.nulls, sketch.infinite = state.n, column.nulls, state.infinite
    sketch.mean, sketch.m2 = state.mean, state.m2
    if state.n:
        sketch.low, sketch.high = float(state.low or 0.0), float(state.high or 0.0)
    if state.kll:
        sketch.kll = ds.kll_doubles_sketch.deserialize(base64.b64decode(state.kll))
    sketch.values = None if state.values is None else {float(v): c for v, c in state.values}
    return sketch


def _category(column: ColumnProfile, max_categories: int) -> CategorySketch:
    sketch = CategorySketch(column.name, max_categories)
    sketch.nulls = column.nulls
    counts = column.frequencies()
    sketch._count(counts.items())
    sketch.overflow += max(column.count - sum(counts.values()), 0)
    return sketch


def from_profile(profile: DatasetProfile, **params: Any) -> DriftDetector:
    """A fitted :class:`DriftDetector` whose reference is a stored dataset profile; ``params``
    are the detector's settings (``tests``, ``thresholds``, ``columns``...)."""
    detector = DriftDetector(**params)
    detector._check()
    wanted = params.get("columns") or profile.names
    sketches: dict[str, Sketch] = {}
    skipped: dict[str, str] = {}
    for name in wanted:
        column = profile[name]
        kind = (params.get("kinds") or {}).get(name) or column.kind.value
        if kind in _NUMERIC:
            sketches[name] = _numeric(column)
        elif kind in _CATEGORY:
            sketches[name] = _category(column, detector.max_categories)
        else:
            skipped[name] = f"a {kind} column is not tested for drift"
    detector.reference_, detector.skipped_ = sketches, skipped
    detector.reference_rows_ = profile.rows
    detector.reference_sample_ = None
    return detector.reset()


def from_dataset_version(client: Client, ref: str, **params: Any) -> DriftDetector:
    """A fitted detector on dataset version ``ref`` (``NAME@ID``, ``ID`` or ``NAME``): its stored
    profile when it has one, else its rows (verified against their recorded hash)."""
    from modelcycle.data import DatasetProfile, load_version
    from modelcycle.data._versions import load_profile

    version = client.metadata.datasets.get(ref)
    stored = load_profile(client, version)
    if stored is not None and not params.get("multivariate"):
        return from_profile(DatasetProfile.from_dict(stored), **params)
    table, _ = load_version(client, ref)
    return DriftDetector(**params).fit(table)


def reference_for(
    client: Client, ref: str, *, reference: str | None = None, **params: Any
) -> DriftDetector:
    """The fitted drift reference of model version ``ref`` (``NAME@VERSION`` or an alias).

    Default: the training-data profile stored in the version's bundle (else the profile of the
    dataset version its lineage names), on the version's input columns only. ``reference``
    overrides it: ``dataset:NAME@ID``, a stored reference written by ``DriftDetector.save``
    (``.json``) or a data file (CSV, Parquet, JSON Lines). ``params`` are
    :class:`DriftDetector` settings.
    """
    from modelcycle.data import DatasetProfile
    from modelcycle.errors import NotFoundError
    from modelcycle.monitoring._detector import is_reference_file
    from modelcycle.registry import Registry

    if reference is not None:
        if reference.startswith("dataset:"):
            return from_dataset_version(client, reference.removeprefix("dataset:"), **params)
        if is_reference_file(reference):
            stored = DriftDetector.load(reference)
            for name, value in params.items():
                setattr(stored, name, value)
            stored._check()
            return stored.reset()
        return DriftDetector(**params).fit(reference)
    bundle = Registry(client).bundle(ref)
    profile = bundle.json_part("profile")
    inputs = [str(c["name"]) for c in bundle.signature.get("inputs", [])]
    if profile is not None:
        found = DatasetProfile.from_dict(profile)
        # the model's inputs only: the profile also holds the target and unused columns
        known = [name for name in inputs if name in found.names]
        return from_profile(found, **{"columns": known or None, **params})
    dataset = (bundle.manifest.get("lineage") or {}).get("dataset")
    if dataset:
        return from_dataset_version(client, dataset, **{"columns": inputs or None, **params})
    raise NotFoundError(
        f"model version {ref!r} has no training-data profile (registered without a dataset "
        "version): give a reference (dataset:NAME@ID, a stored reference or a data file)"
    )
