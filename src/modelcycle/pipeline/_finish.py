"""After training: the evaluate step (the best candidate's exam, gated) and the register
step (the chosen candidate becomes a model version), as ``run_pipeline`` chains them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelcycle.errors import GateFailedError
from modelcycle.pipeline._result import PipelineResult, StepReport

if TYPE_CHECKING:
    from concurrent.futures import Future

    from modelcycle.pipeline._register import RegisterSpec
    from modelcycle.pipeline._spec import PipelineSpec
    from modelcycle.tracking import ActiveRun, Client
    from modelcycle.training import TrainData
    from modelcycle.types import DatasetVersion

__all__ = ["Trained", "evaluation_step", "registration_step"]


@dataclass
class Trained:
    """What evaluation needs from training: the data and the models fitted in this run."""

    data: TrainData
    models: dict[str, tuple[Any, Future[None]]]


def evaluation_step(
    client: Client,
    run: ActiveRun,
    spec: PipelineSpec,
    trained: Trained,
    version: str,
    use_cache: bool,
    result: PipelineResult,
    report_dir: str | Path | None,
) -> tuple[dict[str, Any], Any]:
    """Evaluate the best candidate on the test rows; record the verdict; stop on failed gates.
    The chosen candidate's snapshot and (when still in memory) its model are returned."""
    from modelcycle.evaluation import require_gates
    from modelcycle.pipeline._evaluation import Candidate, evaluate_candidates

    best = result.best or {}
    ranked = [best] + [c for c in result.candidates if c is not best]
    candidates = []
    for outputs in ranked:
        model, saved = trained.models.get(outputs["run_id"], (None, None))
        if saved is not None:
            saved.result()  # the model is stored (and its size known) before it is evaluated
        candidates.append(Candidate(outputs, model))
    folder = Path(report_dir) if report_dir else Path(".modelcycle", "reports", run.run_id[:12])
    outcome = evaluate_candidates(
        client,
        run,
        trained.data,
        spec.evaluation,
        candidates,
        version,
        report_dir=folder,
        use_cache=use_cache,
        model_name=None if spec.registry is None else (spec.registry.name or spec.name),
    )
    first = outcome.evaluations[0]
    chosen = outcome.chosen
    result.steps.append(
        StepReport(
            "evaluate",
            outcome.cache,
            outcome.seconds,
            {"verdict": first["verdict"]["text"], "reports": outcome.reports},
        )
    )
    result.evaluation = {
        "passed": outcome.passed,
        "chosen": None if chosen is None else chosen["model"],
        "verdicts": [f"{e['model']['name']}: {e['verdict']['text']}" for e in outcome.evaluations],
        "gates": first["gates"],
        "reports": outcome.reports,
    }
    metrics = {f"test_{k}": float(v) for k, v in first["metrics"].items() if _scalar(v)}
    run.log_metrics(metrics)
    run.set_tags({"gates": "passed" if outcome.passed else "failed"})
    if chosen is not None:
        run.set_tags({"chosen_run_id": chosen["model"]["run_id"]})
        in_memory = {c.run_id: c.model for c in candidates if c.model is not None}
        return chosen, in_memory.get(chosen["model"]["run_id"])
    try:
        require_gates(first["gates"], first["model"]["name"])
    except GateFailedError as failed:
        raise GateFailedError(f"{failed.message}; report: {outcome.reports[0]}") from None
    raise GateFailedError(f"no candidate passed its gates; report: {outcome.reports[0]}")


def registration_step(
    client: Client,
    run: ActiveRun,
    registering: tuple[RegisterSpec, str],
    trained: Trained,
    chosen: tuple[dict[str, Any], Any],
    version: DatasetVersion,
    spec_path: str | Path | None,
    result: PipelineResult,
) -> None:
    """Register the chosen candidate and move the spec's alias (see ``_register``)."""
    from modelcycle.models._persist import load_model
    from modelcycle.pipeline._register import register_chosen

    register, default_name = registering
    snapshot, model = chosen
    if model is None:
        model = load_model(client, snapshot["model"]["run_id"]).model
    outputs = register_chosen(
        client, run, register, default_name, snapshot, model, trained.data, version, spec_path
    )
    result.registered = outputs
    result.steps.append(
        StepReport("register", "off", outputs.pop("seconds"), {"version": outputs["version"]})
    )


def _scalar(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
