"""``modelcycle demo``: the whole lifecycle on real data that ships in a package.

The story (``_scenario``): a model learns from the workers a company first served; later
traffic drifts toward people it rarely saw. The demo (``_lifecycle``) trains, evaluates,
registers and serves it, sends that traffic, detects the drift, sends feedback, retrains,
duels and promotes, and ends with a summary of every stage and the paths of its reports.
"""

from modelcycle.demo._lifecycle import DemoResult, Stage, run_demo

__all__ = ["DemoResult", "Stage", "run_demo"]
