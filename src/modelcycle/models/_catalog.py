"""The catalog: every model family by name, in one registry.

Families register here; an unknown name is an error that lists the known ones. A meta-test
checks that every registered family has a test on real data.
"""

from __future__ import annotations

from modelcycle.errors import invalid_value
from modelcycle.models._base import ModelFamily

__all__ = ["families", "get_family", "register"]

_FAMILIES: dict[str, ModelFamily] = {}


def register(family: ModelFamily) -> ModelFamily:
    """Add ``family`` to the catalog under ``family.info.name``."""
    _FAMILIES[family.info.name] = family
    return family


def _load() -> None:
    # Always import: a family module imported on its own registers only itself, so an
    # empty-registry check would leave the catalog half loaded. Re-imports are free.
    from modelcycle.models import _families  # noqa: F401  (registers the families)


def families() -> list[ModelFamily]:
    """Every registered family, in registration order."""
    _load()
    return list(_FAMILIES.values())


def get_family(name: str) -> ModelFamily:
    """The family called ``name``; an unknown name lists the known ones."""
    _load()
    if name not in _FAMILIES:
        raise invalid_value("model family", name, f"known families: {', '.join(_FAMILIES)}")
    return _FAMILIES[name]
