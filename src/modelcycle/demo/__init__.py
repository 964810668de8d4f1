"""``modelcycle demo``: the most complete flow that exists, on a bundled dataset.

Today that is the data stage and a tracked model selection on scikit-learn's breast-cancer
data: validate, clean, profile and version the data (HTML reports), split it, then train
candidates as child runs with their params, per-iteration metric series, validation metrics,
the dataset version they used and artifacts, then compare. Later stages extend it in place.
"""

from modelcycle.demo._training import DemoResult, run_demo

__all__ = ["DemoResult", "run_demo"]
