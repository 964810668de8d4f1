"""Where modelcycle keeps its records by default, and how users point it elsewhere.

One place resolves both locations, in this order: the explicit argument (``--store``,
``--artifacts``, ``store=``), the environment (``MODELCYCLE_STORE``, ``MODELCYCLE_ARTIFACTS``),
then the embedded default under ``./.modelcycle/`` in the current folder.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["HOME_DIR", "resolve_artifacts_url", "resolve_store_url"]

#: The folder of the embedded defaults, relative to the working directory.
HOME_DIR = ".modelcycle"
STORE_ENV = "MODELCYCLE_STORE"
ARTIFACTS_ENV = "MODELCYCLE_ARTIFACTS"


def resolve_store_url(url: str | None = None) -> str:
    """The metadata store URL: ``url``, else ``$MODELCYCLE_STORE``, else embedded SQLite."""
    if url:
        return url
    if os.environ.get(STORE_ENV):
        return os.environ[STORE_ENV]
    return f"sqlite:///{Path(HOME_DIR).absolute() / 'modelcycle.db'}"


def resolve_artifacts_url(url: str | None = None) -> str:
    """The artifact store URL: ``url``, else ``$MODELCYCLE_ARTIFACTS``, else a local folder."""
    if url:
        return url
    if os.environ.get(ARTIFACTS_ENV):
        return os.environ[ARTIFACTS_ENV]
    return str(Path(HOME_DIR).absolute() / "artifacts")
