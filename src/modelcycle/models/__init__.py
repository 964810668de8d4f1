"""Models: the catalog of families behind one estimator interface, and candidate selection."""

from modelcycle.models._base import FamilyInfo, ModelFamily, Task
from modelcycle.models._catalog import families, get_family, register
from modelcycle.models._selection import Choice, Constraints, Selection, select

__all__ = [
    "Choice",
    "Constraints",
    "FamilyInfo",
    "ModelFamily",
    "Selection",
    "Task",
    "families",
    "get_family",
    "register",
    "select",
]
