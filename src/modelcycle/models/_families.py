"""Registers every family module of the catalog (imported on first catalog use)."""

from modelcycle.models import _family_linear  # noqa: F401
