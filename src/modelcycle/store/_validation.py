"""Checks on what callers log: keys, metric values, steps.

Validation happens when the caller logs, not when the background writer flushes, so the error
points at the caller's line.

Metric values: any real number (Python, NumPy) is accepted, including NaN and +/-inf (stored as
they are: NaN as NULL, infinities as infinities); strings, None, booleans and complex numbers
are refused with an error naming the metric.
"""

from __future__ import annotations

import numbers
import re

from modelcycle.errors import invalid_value

__all__ = ["check_key", "check_metric_value", "check_step"]

_KEY = re.compile(r"^[\w\-./: ]+$")
MAX_KEY_LENGTH = 256
_STEP_LIMIT = 2**63


def check_key(kind: str, key: object) -> str:
    """A valid metric/param/tag key: 1-256 of letters, digits, ``_ - . / :`` and spaces."""
    if not isinstance(key, str) or not key:
        raise invalid_value(f"{kind} key", key, "expected a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise invalid_value(f"{kind} key", key, f"longer than {MAX_KEY_LENGTH} characters")
    if key != key.strip() or not _KEY.match(key):
        raise invalid_value(
            f"{kind} key",
            key,
            "use letters, digits, '_', '-', '.', '/', ':' and inner spaces",
        )
    return key


def check_metric_value(key: str, value: object) -> float:
    """``value`` as a float; NaN and +/-inf pass, anything but a real number is refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise invalid_value(f"metric {key!r}", value, "expected a real number")
    return float(value)


def check_step(key: str, step: object) -> int:
    """A step is an integer in the signed 64-bit range."""
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise invalid_value(f"step of metric {key!r}", step, "expected an integer")
    if not -_STEP_LIMIT <= int(step) < _STEP_LIMIT:
        raise invalid_value(f"step of metric {key!r}", step, "outside the 64-bit range")
    return int(step)
