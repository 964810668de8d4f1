"""Search spaces: a family's default, overridden per hyperparameter by the spec.

A family states its default space as code (``family.search_space(trial, task)`` calls
``trial.suggest_*``). The spec states overrides as data (:class:`ParamSpace`). Rather than
choose one or the other wholesale, the family's function runs against a :class:`SpaceTrial`
that answers each ``suggest_*`` call:

- a hyperparameter fixed in the candidate's ``params`` gets its fixed value (never searched);
- one named in the spec's ``search_space`` is drawn from the spec's range instead;
- any other is drawn from the family's range, as the family asked.

Overrides naming a hyperparameter the family does not search are drawn too, so the spec can
open new dimensions. Conditional spaces keep working: the family's code still decides what
to ask for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modelcycle.errors import invalid_value
from modelcycle.models import ModelFamily, Task
from modelcycle.training._spec import ParamSpace

__all__ = ["SpaceTrial", "suggest", "suggest_range"]


def suggest_range(trial: Any, name: str, space: ParamSpace) -> Any:
    """Draw ``name`` from ``space`` on an Optuna trial."""
    if space.type == "categorical":
        return trial.suggest_categorical(name, space.choices)
    if space.low is None or space.high is None:  # ParamSpace refuses this; kept for typing
        raise invalid_value(f"search_space.{name}", space.type, "needs low and high")
    if space.type == "int":
        step = 1 if space.step is None else int(space.step)
        return trial.suggest_int(name, int(space.low), int(space.high), step=step, log=space.log)
    return trial.suggest_float(name, space.low, space.high, step=space.step, log=space.log)


class SpaceTrial:
    """An Optuna trial as a family's ``search_space`` sees it (see the module docstring)."""

    def __init__(
        self, trial: Any, fixed: Mapping[str, Any], overrides: Mapping[str, ParamSpace]
    ) -> None:
        self._trial = trial
        self._fixed = fixed
        self._overrides = overrides

    def _draw(self, name: str) -> tuple[bool, Any]:
        if name in self._fixed:
            return True, self._fixed[name]
        if name in self._overrides:
            return True, suggest_range(self._trial, name, self._overrides[name])
        return False, None

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> Any:
        """The family's float range unless fixed or overridden."""
        done, value = self._draw(name)
        return value if done else self._trial.suggest_float(name, low, high, step=step, log=log)

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> Any:
        """The family's int range unless fixed or overridden."""
        done, value = self._draw(name)
        return value if done else self._trial.suggest_int(name, low, high, step=step, log=log)

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        """The family's choices unless fixed or overridden."""
        done, value = self._draw(name)
        return value if done else self._trial.suggest_categorical(name, choices)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trial, name)  # number, params, user attrs ...


def suggest(
    trial: Any,
    family: ModelFamily,
    task: Task,
    fixed: Mapping[str, Any],
    overrides: Mapping[str, ParamSpace] | None,
) -> dict[str, Any]:
    """The hyperparameters of one trial: searched ones, overrides, then the fixed ones."""
    ranges = overrides or {}
    params = dict(family.search_space(SpaceTrial(trial, fixed, ranges), task))
    for name, space in ranges.items():
        if name not in params and name not in fixed:
            params[name] = suggest_range(trial, name, space)
    return {**params, **fixed}
