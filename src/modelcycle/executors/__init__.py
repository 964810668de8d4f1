"""Executors: where independent jobs (cross-validation folds, tuning workers) run.

One interface, :class:`Executor` (``map``, ``close``, ``workers``, ``with``), and two
implementations behind the same contract tests: :class:`LocalExecutor` on local processes (the
default) and :class:`RayExecutor` on a local Ray or a Ray cluster. :func:`open_executor` picks
one from the ``--executor`` string:

    from modelcycle.executors import open_executor

    with open_executor("local:4") as executor:        # or "ray", "ray://HOST:PORT"
        result = cross_validate(client, "linear", {}, data, spec, map_fn=executor.map)

Ray is an optional extra (``pip install 'modelcycle[ray]'``) imported only when chosen.
"""

from modelcycle.executors._base import SUPPORTED_FORMS, Executor, open_executor
from modelcycle.executors._local import LocalExecutor
from modelcycle.executors._ray import RayExecutor

__all__ = ["SUPPORTED_FORMS", "Executor", "LocalExecutor", "RayExecutor", "open_executor"]
