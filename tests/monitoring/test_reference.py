"""A dataset version is a drift reference (from its stored profile) on every store backend;
every drift test is exercised, and the public names are pinned."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import modelcycle.monitoring
from modelcycle.data import profile_table
from modelcycle.data._versions import content_digest, create_version
from modelcycle.errors import NotFoundError
from modelcycle.monitoring import DEFAULT_THRESHOLDS, TESTS, DriftDetector, from_dataset_version
from modelcycle.tracking import Client


def test_a_dataset_version_profile_is_the_reference(
    client: Client, diamonds: pa.Table, seed: int
) -> None:
    order = np.random.default_rng(seed).permutation(diamonds.num_rows)
    train, later = diamonds.take(order[:30_000]), diamonds.take(order[30_000:])
    version = create_version(
        client,
        "diamonds",
        train,
        input_digest=content_digest(train),
        steps={},
        schema={},
        lineage={},
        profile=profile_table(train).to_dict(),
    )
    detector = from_dataset_version(client, version.ref)
    assert detector.reference_rows_ == 30_000
    assert detector.score(later).drifted == []
    price = later.column("price").to_numpy() * 1.3
    moved = later.set_column(later.schema.get_field_index("price"), "price", pa.array(price))
    assert detector.score(moved).drifted == ["price"]
    with pytest.raises(NotFoundError):
        from_dataset_version(client, "diamonds@nope")


#: A no-drift and a drift case per test (a new drift test fails here until it has one).
CASES = {
    "ks": ("numeric", 0.0, 0.5),
    "wasserstein": ("numeric", 0.0, 0.5),
    "psi": ("numeric", 0.0, 0.8),
    "chisquare": ("categorical", 0.0, 0.3),
    "jensenshannon": ("categorical", 0.0, 0.3),
}


def test_every_drift_test_has_a_case() -> None:
    assert set(CASES) == set(DEFAULT_THRESHOLDS)
    assert {test for tests in TESTS.values() for test in tests} == set(CASES)


@pytest.mark.parametrize("test", sorted(CASES))
def test_each_test_separates_calm_from_shifted_data(test: str, seed: int) -> None:
    kind, calm, shift = CASES[test]
    rng = np.random.default_rng(seed)

    def sample(delta: float) -> pa.Table:
        if kind == "numeric":
            return pa.table({"v": rng.normal(delta, 1, 800)})
        p = np.array([0.5, 0.3, 0.2]) + np.array([-delta, delta / 2, delta / 2])
        return pa.table({"v": np.array(["a", "b", "c"])[rng.choice(3, 800, p=p)]})

    detector = DriftDetector(tests={"v": test}).fit(sample(0.0))
    assert not detector.score(sample(calm))["v"].drifted
    assert detector.score(sample(shift))["v"].drifted


def test_public_names_are_pinned() -> None:
    assert sorted(modelcycle.monitoring.__all__) == [
        "Chart",
        "CheckResult",
        "ColumnDrift",
        "DEFAULT_THRESHOLDS",
        "DomainDrift",
        "DriftDetector",
        "DriftSnapshot",
        "Firing",
        "MonitorSpec",
        "SkippedColumn",
        "TESTS",
        "WindowScores",
        "WindowsResult",
        "check",
        "drift_report",
        "from_dataset_version",
        "from_profile",
        "grafana_dashboard",
        "load_monitor_spec",
        "monitor_windows",
        "monitoring_report",
        "prediction_drift",
        "prediction_table",
        "reference_for",
    ]
