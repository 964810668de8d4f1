"""Models: the catalog of families behind one estimator interface, and candidate selection."""

from modelcycle.models._base import FamilyInfo, ModelFamily, Task
from modelcycle.models._catalog import families, get_family, register

__all__ = ["FamilyInfo", "ModelFamily", "Task", "families", "get_family", "register"]
