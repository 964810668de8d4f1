"""Quality gates: the spec's thresholds checked against an evaluation snapshot.

:func:`gate_values` flattens a snapshot into the names a gate may use, so the list a user can
write is exactly the list the error message offers. :func:`check_gates` measures every gate
(never stopping at the first failure) and :func:`require_gates` turns failures into one
:class:`~modelcycle.errors.GateFailedError` that lists each failed gate, its threshold and the
measured value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from modelcycle.errors import GateFailedError
from modelcycle.evaluation._spec import Gate

__all__ = ["check_gates", "gate_values", "require_gates"]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _scalars(prefix: str, values: Mapping[str, Any] | None, out: dict[str, float]) -> None:
    for key, value in (values or {}).items():
        number = _number(value)
        if number is not None:
            out[f"{prefix}{key}"] = number


def gate_values(snapshot: Mapping[str, Any]) -> dict[str, float]:
    """Every number of an evaluation a gate may name, by its gate name (sorted).

    Headline metrics keep their names (``roc_auc``, ``rmse``); the rest are dotted:
    ``ci.METRIC.low|high``, ``latency.p99_ms``, ``throughput.rows_per_second``,
    ``memory.peak_mb``, ``size_mb``, ``threshold.precision``, ``fairness.ATTR.METRIC``,
    ``robustness.noise|missing|swap.change``.
    """
    out: dict[str, float] = {}
    _scalars("", snapshot.get("metrics"), out)
    for metric, interval in (snapshot.get("intervals") or {}).items():
        _scalars(f"ci.{metric}.", {k: interval.get(k) for k in ("low", "high", "std")}, out)
    system = snapshot.get("system") or {}
    _scalars("latency.", system.get("latency"), out)
    _scalars("throughput.", system.get("throughput"), out)
    _scalars("memory.", system.get("memory"), out)
    size = _number(system.get("size_bytes"))
    if size is not None:
        out["size_mb"] = size / 1e6
    _scalars("threshold.", snapshot.get("threshold"), out)
    for attribute, report in (snapshot.get("fairness") or {}).items():
        _scalars(f"fairness.{attribute}.", report, out)
    for row in (snapshot.get("robustness") or {}).get("perturbations", []):
        if row.get("columns") in ("all", "all numeric", "all categorical", None):
            _scalars(f"robustness.{row['perturbation']}.", {"change": row.get("change")}, out)
    return dict(sorted(out.items()))


def _comparison_result(gate: Gate, comparisons: Mapping[str, Any]) -> dict[str, Any]:
    ref = gate.better_than or ""
    found = comparisons.get(ref)
    result: dict[str, Any] = {"gate": str(gate), "metric": None, "threshold": ref}
    if found is None:
        if ref == "champion":
            return {**result, "value": None, "passed": True, "note": "no champion yet"}
        return {**result, "value": None, "passed": False, "note": f"{ref} was not evaluated"}
    verdict = found.get("better")
    note = (
        f"{found['metric']}: {found['b']:.4g} vs {found['a']:.4g} "
        f"(difference {found['difference']:+.4g}, interval [{found['low']:+.4g}, "
        f"{found['high']:+.4g}], p={found['p_value']:.3g})"
    )
    return {
        **result,
        "metric": found["metric"],
        "value": found["difference"],
        "passed": verdict == "b",
        "note": note,
    }


def check_gates(gates: Sequence[Gate], snapshot: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each gate measured: ``{gate, metric, threshold, value, passed, note}``. A gate naming a
    value the evaluation does not have fails with a note listing the names it has."""
    values = gate_values(snapshot)
    comparisons = snapshot.get("comparisons") or {}
    results = []
    for gate in gates:
        if gate.better_than is not None:
            results.append(_comparison_result(gate, comparisons))
            continue
        name = gate.metric or ""
        value = values.get(name)
        base = {"gate": str(gate), "metric": name, "threshold": gate.threshold, "value": value}
        if value is None:
            known = ", ".join(values) or "none"
            note = f"this evaluation has no value named {name!r}; it has: {known}"
            results.append({**base, "passed": False, "note": note})
        else:
            results.append({**base, "passed": gate.holds(value), "note": ""})
    return results


def require_gates(results: Sequence[Mapping[str, Any]], model: str = "the model") -> None:
    """Raise one :class:`GateFailedError` naming every failed gate; nothing when all pass."""
    failed = [r for r in results if not r["passed"]]
    if not failed:
        return
    parts = []
    for r in failed:
        value = r["value"]
        shown = "missing" if value is None else f"{value:.4g}"
        extra = f" ({r['note']})" if r.get("note") else ""
        parts.append(f"{r['gate']}: measured {shown}{extra}")
    raise GateFailedError(f"{model} failed {len(failed)} gate(s): " + "; ".join(parts))
