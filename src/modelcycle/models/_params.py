"""Checking hyperparameters against what a family accepts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from modelcycle.errors import invalid_value

__all__ = ["check_params", "init_params"]


def check_params(family: str, params: Mapping[str, Any], allowed: Iterable[str]) -> dict[str, Any]:
    """``params`` as a dict, refusing names the family does not take (naming them)."""
    known = set(allowed)
    unknown = sorted(set(params) - known)
    if unknown:
        raise invalid_value(
            f"hyperparameters of {family}",
            unknown,
            f"not accepted; known: {', '.join(sorted(known))}",
        )
    return dict(params)


def init_params(estimator: type, exclude: Iterable[str] = ("task", "seed")) -> set[str]:
    """The keyword hyperparameters ``estimator.__init__`` takes (minus those the family sets
    itself): the one list of what a family accepts, so it cannot drift from the estimator."""
    import inspect

    names = set(inspect.signature(estimator.__init__).parameters) - {"self"}  # type: ignore[misc]
    return names - set(exclude)
