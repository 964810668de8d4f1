"""The chain a retrain run records: trigger -> feedback rows -> champion -> challenger ->
decision, read back from its ``retrain.json`` for ``modelcycle runs show``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelcycle.tracking import Client
    from modelcycle.types import Run

__all__ = ["retrain_lineage"]


def retrain_lineage(client: Client, run: Run) -> dict[str, Any] | None:
    """The lineage of a retrain run (None for any other run): ``trigger`` (the policies that
    fired, with their sentences), ``feedback`` (counts and the production row ids trained on
    and held out), ``champion``, ``challenger`` with its pipeline run and dataset version,
    ``decision`` and ``reason``, and the duel's ``comparison``."""
    if run.tags.get("kind") != "retrain":
        return None
    stored = {a.name: a for a in run.artifacts}.get("retrain.json")
    record: dict[str, Any] = (
        json.loads(client.artifacts.get_bytes(stored.sha256)) if stored is not None else {}
    )
    feedback = record.get("feedback") or {}
    fired = [t for t in record.get("triggers", []) if t.get("fired")]
    return {
        "trigger": [{"policy": t["policy"], "detail": t["detail"]} for t in fired]
        or [{"policy": "manual", "detail": "modelcycle retrain without --if-needed"}],
        "feedback": {
            "counts": record.get("data") or {},
            "training_rows": len(feedback.get("training_rows") or []),
            "holdout_rows": len(feedback.get("holdout_rows") or []),
            "previous_dataset": feedback.get("previous_dataset"),
        },
        "champion": run.tags.get("champion"),
        "challenger": run.tags.get("challenger") or None,
        "pipeline_run": run.tags.get("pipeline_run") or None,
        "dataset_version": record.get("dataset_version"),
        "decision": run.tags.get("decision"),
        "reason": record.get("reason") or run.tags.get("reason"),
        "comparison": record.get("comparison"),
    }
