"""``modelcycle demo``: the most complete flow that exists, on a bundled dataset.

Today that is a tracked model selection on scikit-learn's breast-cancer data: candidates as
child runs with their params, per-iteration metric series, validation metrics, dataset inputs
and artifacts, then a comparison. Later lifecycle stages extend it in place.
"""

from modelcycle.demo._training import DemoResult, run_demo

__all__ = ["DemoResult", "run_demo"]
