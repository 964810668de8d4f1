"""The drift detector on real data: injected shifts are found where they are, random splits of
one data set raise no alarm at the defaults, large samples do not alarm merely for their size,
and references stream, merge and round-trip through JSON."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from modelcycle.errors import DataError, InvalidValueError
from modelcycle.monitoring import DriftDetector, DriftSnapshot, from_profile


def _split(
    table: pa.Table, rng: np.random.Generator, share: float = 0.5
) -> tuple[pa.Table, pa.Table]:
    order = rng.permutation(table.num_rows)
    cut = int(table.num_rows * share)
    return table.take(order[:cut]), table.take(order[cut:])


def _shifted(table: pa.Table, column: str, by_std: float) -> pa.Table:
    values = table.column(column).to_numpy().astype(float)
    moved = pa.array(values + by_std * values.std())
    return table.set_column(table.schema.get_field_index(column), column, moved)


def test_defaults_follow_column_kind_and_reference_size(
    diamonds: pa.Table, cancer: pa.Table
) -> None:
    large = DriftDetector().fit(diamonds).score(diamonds.slice(0, 5000))
    assert {c.column: c.test for c in large.columns} == {
        "carat": "wasserstein",
        "cut": "jensenshannon",
        "color": "jensenshannon",
        "clarity": "jensenshannon",
        "depth": "wasserstein",
        "table": "wasserstein",
        "price": "wasserstein",
        "x": "wasserstein",
        "y": "wasserstein",
        "z": "wasserstein",
    }
    small = DriftDetector().fit(cancer.slice(0, 300)).score(cancer.slice(300))
    assert {c.test for c in small.columns} == {"ks"}
    assert all(
        c.effect_measure == "wasserstein_normed" and c.p_value is not None for c in small.columns
    )


def test_an_injected_shift_is_found_in_its_column_only(diamonds: pa.Table, seed: int) -> None:
    reference, current = _split(diamonds, np.random.default_rng(seed))
    snapshot = DriftDetector().fit(reference).score(_shifted(current, "depth", 0.3))
    assert snapshot.drifted == ["depth"]
    assert snapshot["depth"].statistic == pytest.approx(0.3, abs=0.02)
    assert not snapshot.dataset_drift


def test_shifted_categories_are_found(diamonds: pa.Table, seed: int) -> None:
    reference, current = _split(diamonds, np.random.default_rng(seed))
    premium = current.filter(pc.equal(current["cut"], "Ideal"))
    snapshot = DriftDetector().fit(reference).score(pa.concat_tables([current, premium, premium]))
    assert "cut" in snapshot.drifted and snapshot["cut"].test == "jensenshannon"


@pytest.mark.slow
def test_random_splits_raise_no_alarm_at_the_defaults(diamonds: pa.Table, cancer: pa.Table) -> None:
    rng = np.random.default_rng(11)
    alarms = columns = dataset_alarms = 0
    for _ in range(10):  # effect-size regime: 27k vs 27k rows (benchmarks/drift.py: 200)
        snapshot = (
            DriftDetector(threads=1).fit(_split(diamonds, rng)[0]).score(_split(diamonds, rng)[1])
        )
        alarms, columns = alarms + snapshot.drifted_columns, columns + snapshot.tested_columns
        dataset_alarms += snapshot.dataset_drift
    assert alarms == 0 and dataset_alarms == 0
    small_alarms = small_columns = 0
    for _ in range(30):  # p-value regime: 284 vs 285 rows, alpha 0.05 per column
        reference, current = _split(cancer, rng)
        snapshot = DriftDetector(threads=1).fit(reference).score(current)
        small_alarms += snapshot.drifted_columns
        small_columns += snapshot.tested_columns
        dataset_alarms += snapshot.dataset_drift
    assert dataset_alarms == 0
    assert small_alarms / small_columns <= 0.03  # p-values adjusted across columns (BH)


def test_a_shift_in_a_small_sample_is_found_after_adjustment(cancer: pa.Table, seed: int) -> None:
    reference, current = _split(cancer, np.random.default_rng(seed))
    snapshot = DriftDetector().fit(reference).score(_shifted(current, "mean texture", 0.6))
    assert snapshot.drifted == ["mean texture"]
    column = snapshot["mean texture"]
    assert column.statistic < 0.05 and column.p_value is not None
    assert column.p_value <= column.statistic  # the adjusted p-value is the larger


def test_large_samples_do_not_alarm_merely_because_they_are_large(seed: int) -> None:
    rng = np.random.default_rng(seed)
    reference = pa.table({"x": rng.normal(0, 1, 400_000)})
    current = pa.table({"x": rng.normal(0.02, 1, 400_000)})  # real but negligible
    default = DriftDetector().fit(reference).score(current)["x"]
    assert default.scores["ks_p_value"] < 0.001  # "significant" at this size
    assert not default.drifted and default.test == "wasserstein"
    forced = DriftDetector(tests={"x": "ks"}).fit(reference).score(current)["x"]
    assert forced.drifted and forced.effect_size < 0.05


def test_drift_is_found_from_the_change_point_of_a_seeded_stream(seed: int) -> None:
    rng = np.random.default_rng(seed)
    detector = DriftDetector().fit(pa.table({"x": rng.normal(0, 1, 20_000)}))
    found = []
    for window in range(10):
        shift = 0.5 if window >= 6 else 0.0
        detector.reset()
        for _ in range(4):  # each window arrives in chunks
            detector.update(pa.table({"x": rng.normal(shift, 1, 1_000)}))
        found.append(detector.result().dataset_drift)
    assert found == [False] * 6 + [True] * 4


def test_chunked_updates_equal_one_pass_on_exact_sketches(cancer: pa.Table) -> None:
    detector = DriftDetector(threads=1).fit(cancer.slice(0, 300))
    whole = detector.score(cancer.slice(300))
    detector.reset()
    for start in range(300, cancer.num_rows, 50):
        detector.update(cancer.slice(start, 50))
    chunked = detector.result()
    assert chunked.drifted == whole.drifted and chunked.current_rows == whole.current_rows
    for column in whole.columns:  # exact sketches: equal up to floating-point summation order
        assert chunked[column.column].scores == pytest.approx(column.scores, rel=1e-9)
        assert chunked[column.column].chart == column.chart


def test_reference_round_trips_through_json(diamonds: pa.Table, tmp_path) -> None:  # type: ignore[no-untyped-def]
    detector = DriftDetector(tests={"price": "psi"}, thresholds={"psi": 0.2}).fit(diamonds)
    path = detector.save(tmp_path / "reference.json")
    loaded = DriftDetector.load(path)
    assert loaded.to_dict() == json.loads(path.read_text())
    assert loaded.get_params() == detector.get_params()
    snapshot = loaded.score(diamonds.slice(0, 500))
    assert snapshot["price"].test == "psi" and snapshot["price"].threshold == 0.2
    assert DriftSnapshot.from_dict(json.loads(snapshot.to_json())) == snapshot


def test_a_dataset_profile_is_a_reference(diamonds: pa.Table, seed: int) -> None:
    from modelcycle.data import profile_table

    reference, current = _split(diamonds, np.random.default_rng(seed))
    current = _shifted(current, "carat", 0.25)
    from_rows = DriftDetector().fit(reference).score(current)
    from_stats = from_profile(profile_table(reference)).score(current)
    assert from_stats.drifted == from_rows.drifted == ["carat"]
    for column in from_rows.columns:
        assert from_stats[column.column].statistic == pytest.approx(column.statistic, abs=0.02)


def test_missing_values_are_counted_not_tested(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.normal(0, 1, 2_000)
    detector = DriftDetector().fit(
        pa.table({"x": values, "t": pa.array([None] * 2_000, pa.string())})
    )
    current = pa.array(np.where(rng.random(2_000) < 0.1, np.nan, rng.normal(0, 1, 2_000)))
    snapshot = detector.score(pa.table({"x": current, "t": pa.array(["a"] * 2_000)}))
    assert snapshot["x"].current_missing == int(
        np.isnan(current.to_numpy(zero_copy_only=False)).sum()
    )
    assert [s.column for s in snapshot.skipped] == ["t"]


def test_bad_settings_and_input_are_refused_by_name(cancer: pa.Table) -> None:
    with pytest.raises(InvalidValueError, match="test of column 'mean radius'"):
        DriftDetector(tests={"mean radius": "t-test"}).fit(cancer)
    with pytest.raises(InvalidValueError, match=r"test of column 'mean radius'.*numeric column"):
        DriftDetector(tests={"mean radius": "chisquare"}).fit(cancer).score(cancer)
    with pytest.raises(InvalidValueError, match="threshold of ks"):
        DriftDetector(thresholds={"ks": 5.0}).fit(cancer)
    with pytest.raises(InvalidValueError, match="call fit"):
        DriftDetector().score(cancer)
    fitted = DriftDetector().fit(cancer)
    with pytest.raises(DataError, match="column 'mean radius' of the reference is missing"):
        fitted.score(cancer.drop_columns(["mean radius"]))
    with pytest.raises(DataError, match="not a drift reference"):
        DriftDetector.from_dict({"format": "something else"})


def test_references_of_partitions_merge(diamonds: pa.Table) -> None:
    whole = DriftDetector(threads=1).fit(diamonds)
    merged = DriftDetector(threads=1).fit(diamonds.slice(0, 20_000))
    merged.merge(DriftDetector(threads=1).fit(diamonds.slice(20_000)))
    assert merged.reference_rows_ == whole.reference_rows_ == diamonds.num_rows
    rows = np.random.default_rng(3).choice(diamonds.num_rows, 3_000, replace=False)
    probe = _shifted(diamonds.take(rows), "table", 0.4)
    one, two = whole.score(probe), merged.score(probe)
    assert one.drifted == two.drifted == ["table"]
    for column in one.columns:
        assert two[column.column].statistic == pytest.approx(column.statistic, abs=0.01)
    with pytest.raises(InvalidValueError, match="reference to merge"):
        merged.merge(DriftDetector().fit(diamonds.select(["price"])))
