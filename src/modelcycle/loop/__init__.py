"""Orchestration of the feedback loop: feedback joined to the predictions it judges (and,
built on it, retrain policies and champion vs challenger).

    from modelcycle.loop import ingest_feedback, ingest_file

    report = ingest_feedback(client, [{"id": row_id, "label": "yes"}], source="support desk")
    report = ingest_file(client, "labels.csv")         # CSV, Parquet or JSON Lines
    frame = client.metadata.feedback.labelled_frame("churn")   # predictions + their labels

Every name loads on first use, so ``import modelcycle.loop`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelcycle._lazy import lazy_attributes

if TYPE_CHECKING:
    from modelcycle.loop._feedback import FeedbackReport, Rejection, ingest_feedback
    from modelcycle.loop._feedback_file import ingest_file

__all__ = ["FeedbackReport", "Rejection", "ingest_feedback", "ingest_file"]

_LAZY = {
    "FeedbackReport": "modelcycle.loop._feedback",
    "Rejection": "modelcycle.loop._feedback",
    "ingest_feedback": "modelcycle.loop._feedback",
    "ingest_file": "modelcycle.loop._feedback_file",
}

__getattr__ = lazy_attributes("modelcycle.loop", _LAZY, globals())
