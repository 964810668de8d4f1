"""Checking hyperparameters against what a family accepts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from modelcycle.errors import invalid_value

__all__ = ["check_params"]


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
