"""Orchestration of the feedback loop: feedback joined to the predictions it judges, retrain
policies, champion against challenger, automatic promotion and rollback.

    from modelcycle.loop import ingest_feedback, ingest_file, retrain, run_loop

    report = ingest_feedback(client, [{"id": row_id, "label": "yes"}], source="support desk")
    report = ingest_file(client, "labels.csv")         # CSV, Parquet or JSON Lines
    frame = client.metadata.feedback.labelled_frame("churn")   # predictions + their labels
    result = retrain(client, "churn@champion", if_needed=True)  # policies, then act
    run_loop(client, "churn", every=300)               # the same, continuously

Every name loads on first use, so ``import modelcycle.loop`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelcycle._lazy import lazy_attributes

if TYPE_CHECKING:
    from modelcycle.loop._feedback import FeedbackReport, Rejection, ingest_feedback
    from modelcycle.loop._feedback_file import ingest_file
    from modelcycle.loop._loop import run_loop
    from modelcycle.loop._policies import Trigger
    from modelcycle.loop._retrain import RetrainResult, retrain
    from modelcycle.loop._spec import RetrainSpec

__all__ = [
    "FeedbackReport",
    "Rejection",
    "RetrainResult",
    "RetrainSpec",
    "Trigger",
    "ingest_feedback",
    "ingest_file",
    "retrain",
    "run_loop",
]

_LAZY = {
    "FeedbackReport": "modelcycle.loop._feedback",
    "Rejection": "modelcycle.loop._feedback",
    "RetrainResult": "modelcycle.loop._retrain",
    "RetrainSpec": "modelcycle.loop._spec",
    "Trigger": "modelcycle.loop._policies",
    "ingest_feedback": "modelcycle.loop._feedback",
    "ingest_file": "modelcycle.loop._feedback_file",
    "retrain": "modelcycle.loop._retrain",
    "run_loop": "modelcycle.loop._loop",
}

__getattr__ = lazy_attributes("modelcycle.loop", _LAZY, globals())
