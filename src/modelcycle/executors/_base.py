"""The executor interface: run one function over many items, in parallel, in order.

Cross-validation folds and tuning workers are independent jobs; an executor runs them on local
processes or on a Ray cluster behind the same three-member core, so a stage never has a second
code path for scale-out. The rules every executor keeps:

- ``map(fn, items)`` returns ``[fn(item) for item in items]``: same length, same order;
- ``fn`` and the items cross a process (or machine) boundary, so they must pickle: ``fn`` is a
  module-level function, never a closure or a lambda;
- an exception raised by ``fn`` reaches the caller with its own type and message;
- ``close()`` releases the workers and may be called more than once; a closed executor refuses
  further work; ``with`` closes on exit.

:func:`open_executor` builds one from a spec string (``--executor``) through one registry of
forms; the implementations are imported only when chosen, so Ray stays an optional extra.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable
from typing import TypeVar

from modelcycle.errors import InvalidValueError, invalid_value

__all__ = ["SUPPORTED_FORMS", "Executor", "open_executor"]

T = TypeVar("T")
R = TypeVar("R")
E = TypeVar("E", bound="Executor")


class Executor(abc.ABC):
    """Runs a function over items on ``workers`` parallel workers (see the module docstring).
    Subclasses implement ``workers``, ``map`` and ``close``; ``with`` comes from here:

        with open_executor("local:4") as executor:
            factorials = executor.map(math.factorial, range(10))
    """

    _closed: bool = False

    @property
    @abc.abstractmethod
    def workers(self) -> int:
        """How many items run at the same time."""

    @abc.abstractmethod
    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``[fn(item) for item in items]``, computed in parallel, in the items' order."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the workers; idempotent."""

    def _check_open(self) -> None:
        if self._closed:
            raise InvalidValueError(f"{type(self).__name__} is closed: open a new executor")

    def __enter__(self: E) -> E:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(workers={self.workers})"


def _workers(spec: str, count: str) -> int | None:
    if not count:
        return None
    if not count.isdigit() or int(count) < 1:
        raise invalid_value("executor", spec, "the worker count must be a positive integer")
    return int(count)


def _local(spec: str, rest: str) -> Executor:
    from modelcycle.executors._local import LocalExecutor

    return LocalExecutor(workers=_workers(spec, rest))


def _ray_local(spec: str, rest: str) -> Executor:
    from modelcycle.executors._ray import RayExecutor

    return RayExecutor(address="local", workers=_workers(spec, rest))


def _ray_cluster(spec: str, rest: str) -> Executor:
    from modelcycle.executors._ray import RayExecutor

    return RayExecutor(address=spec)


#: The executor forms ``open_executor`` accepts, by prefix: ``local[:N]`` local processes (one
#: per CPU by default), ``ray[:N]`` a Ray started in this process, ``ray://`` a Ray cluster.
_REGISTRY: dict[str, Callable[[str, str], Executor]] = {
    "local": _local,
    "ray": _ray_local,
    "ray://": _ray_cluster,
}
#: What ``--executor`` accepts, for help texts and errors.
SUPPORTED_FORMS = "local, local:N, ray, ray:N, ray://HOST:PORT"


def open_executor(spec: str | None) -> Executor:
    """The executor a spec string names; None is one in-process worker (a plain loop).
    An unknown form is refused with the list of supported ones:

        open_executor(None)                      # LocalExecutor(workers=1)
        open_executor("local:4")                 # LocalExecutor(workers=4)
        open_executor("ray")                     # RayExecutor(address="local")
        open_executor("ray://10.0.0.5:10001")    # RayExecutor(address="ray://10.0.0.5:10001")
    """
    if spec is None:
        return _local("local:1", "1")
    text = spec.strip()
    scheme, sep, _ = text.partition("://")
    key, rest = (f"{scheme}://", text) if sep else text.partition(":")[::2]
    if key not in _REGISTRY:
        raise invalid_value("executor", spec, f"supported forms are {SUPPORTED_FORMS}")
    return _REGISTRY[key](text, rest)
