"""Step caching: a step whose code, config and inputs are unchanged is not recomputed.

A step's cache key is the SHA-256 of three things: the code version (modelcycle's version and
the source of the modules that implement the step, so editing the code invalidates the
cache), the step's configuration (canonical JSON), and the hashes of its inputs (a file's
bytes, a dataset version id, the key of an upstream step). Outputs are recorded in the
metadata store's step cache under that key; a later run with the same key reuses them and
says so. A SQL source has no content hash before it is read, so a data step reading from SQL
is always recomputed (the dataset version it makes is still deduplicated by content).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
from functools import cache
from pathlib import Path
from typing import Any

from modelcycle._version import __version__

__all__ = ["code_version", "file_digest", "step_key"]

_CHUNK = 1 << 20


@cache
def code_version(*modules: str) -> str:
    """A hash of modelcycle's version and the source of ``modules`` (dotted names)."""
    digest = hashlib.sha256(__version__.encode())
    for name in sorted(modules):
        source = inspect.getsource(importlib.import_module(name))
        digest.update(name.encode() + b"\0" + source.encode())
    return digest.hexdigest()[:16]


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes, streamed."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def step_key(step: str, code: str, config: Any, inputs: dict[str, str]) -> str:
    """The cache key of ``step`` with this code version, config and input hashes."""
    canonical = json.dumps(
        {"step": step, "code": code, "config": config, "inputs": inputs},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
