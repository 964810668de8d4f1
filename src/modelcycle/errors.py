"""The modelcycle exception tree.

Every error the library raises on purpose is a :class:`ModelcycleError` with a stable ``code``.
Interfaces map codes to their own vocabulary in one place: the CLI prints ``error: <message>``
and exits with :data:`EXIT_CODE`; the server answers with :func:`http_status` of the code.

    ModelcycleError                  code            HTTP
    ├── InvalidValueError            INVALID_VALUE   400   bad input: a value, a field, a filter
    │   ├── FilterSyntaxError        INVALID_FILTER  400   a search filter that does not parse
    │   ├── SpecError                INVALID_SPEC    400   a pipeline spec that does not validate
    │   └── DataError                INVALID_DATA    422   data that cannot be read as given
    ├── NotFoundError                NOT_FOUND       404   unknown run, experiment, artifact
    ├── AlreadyExistsError           ALREADY_EXISTS  409   a name that is taken
    ├── ConflictError                CONFLICT        409   a write that contradicts a stored record
    ├── GateFailedError              GATE_FAILED     409   a model that fails its quality gates
    ├── StoreUnavailableError        STORE_UNAVAILABLE 503 a store that cannot be opened or written
    └── IntegrityError               INTEGRITY       500   stored bytes whose hash does not match

Messages name the thing at fault; build "invalid value" messages with :func:`invalid_value`
so they all read the same way.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "EXIT_CODE",
    "AlreadyExistsError",
    "ConflictError",
    "DataError",
    "FilterSyntaxError",
    "GateFailedError",
    "IntegrityError",
    "InvalidValueError",
    "ModelcycleError",
    "NotFoundError",
    "SpecError",
    "StoreUnavailableError",
    "http_status",
    "invalid_value",
]

#: Exit status of the CLI when a :class:`ModelcycleError` ends a command.
EXIT_CODE = 1


class ModelcycleError(Exception):
    """Base class of every error modelcycle raises on purpose."""

    code = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        """The JSON form used by ``--json`` output and HTTP error bodies."""
        return {"error": self.message, "code": self.code}


class InvalidValueError(ModelcycleError, ValueError):
    """A value given by the caller is not acceptable."""

    code = "INVALID_VALUE"


class FilterSyntaxError(InvalidValueError):
    """A search filter or order-by expression does not parse."""

    code = "INVALID_FILTER"


class SpecError(InvalidValueError):
    """A pipeline spec (YAML or dict) does not validate; the message names key and line."""

    code = "INVALID_SPEC"


class DataError(InvalidValueError):
    """Input data cannot be read as given; the message names the file, row or column."""

    code = "INVALID_DATA"


class NotFoundError(ModelcycleError, LookupError):
    """The named record does not exist."""

    code = "NOT_FOUND"


class AlreadyExistsError(ModelcycleError):
    """A record with this name already exists."""

    code = "ALREADY_EXISTS"


class ConflictError(ModelcycleError):
    """The write contradicts an immutable stored record."""

    code = "CONFLICT"


class GateFailedError(ModelcycleError):
    """A model failed one or more quality gates of its evaluation, so it may not be
    registered or promoted; the message lists each failed gate, its threshold and the value."""

    code = "GATE_FAILED"


class StoreUnavailableError(ModelcycleError):
    """A metadata or artifact store cannot be opened, read or written."""

    code = "STORE_UNAVAILABLE"


class IntegrityError(ModelcycleError):
    """Stored bytes do not match the hash the store recorded for them."""

    code = "INTEGRITY"


_HTTP_STATUS = {
    InvalidValueError.code: 400,
    FilterSyntaxError.code: 400,
    SpecError.code: 400,
    DataError.code: 422,
    NotFoundError.code: 404,
    AlreadyExistsError.code: 409,
    ConflictError.code: 409,
    GateFailedError.code: 409,
    StoreUnavailableError.code: 503,
    IntegrityError.code: 500,
}


def http_status(error: ModelcycleError) -> int:
    """The HTTP status that answers a request which failed with ``error``."""
    return _HTTP_STATUS.get(error.code, 500)


def invalid_value(field: str, value: Any, why: str) -> InvalidValueError:
    """Build the standard message ``invalid value X for field F: why``.

    >>> str(invalid_value("metric 'auc'", "high", "expected a number"))
    "invalid value 'high' for metric 'auc': expected a number"
    """
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return InvalidValueError(f"invalid value {shown} for {field}: {why}")
