"""The pipeline's ``evaluate`` step: the best candidate's final exam on the test rows, gated.

After training, the candidate with the best validation objective is evaluated on the test
split (rows no training or selection step has seen) with the spec's ``evaluation:`` section.
When the spec asks for a fairness mitigation, the mitigated model is a new candidate (its own
child run, its own saved model) evaluated on the same rows. The step chooses the first
candidate (best first) whose gates all pass; when none passes, the run records every gate
result and the pipeline stops with one :class:`~modelcycle.errors.GateFailedError` listing
each failed gate, its threshold and the measured value.

Reports go to the pipeline run as artifacts (``evaluation.html`` and its JSON twin, one pair
per evaluated candidate) and to ``report_dir`` on disk. The step is cached by the evaluated
model's run, the dataset version and the evaluation spec: a hit reloads the stored snapshot.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelcycle.evaluation import Evaluation, EvaluationSpec, write_report
from modelcycle.evaluation._spec import MitigationSpec
from modelcycle.pipeline._cache import code_version, step_key

if TYPE_CHECKING:
    import pandas as pd

    from modelcycle.tracking import ActiveRun, Client
    from modelcycle.training import TrainData

__all__ = ["Candidate", "EvaluationOutcome", "evaluate_candidates"]

_EVAL_CODE = (
    "modelcycle.evaluation._evaluate",
    "modelcycle.evaluation._metrics",
    "modelcycle.evaluation._uncertainty",
    "modelcycle.evaluation._fairness",
    "modelcycle.evaluation._explain",
    "modelcycle.evaluation._robustness",
    "modelcycle.evaluation._system",
    "modelcycle.evaluation._gates",
)


@dataclass
class Candidate:
    """A trained candidate as the evaluation step sees it: its outputs and (lazily) its model."""

    outputs: dict[str, Any]
    model: Any = None

    @property
    def run_id(self) -> str:
        """The candidate's training run."""
        return str(self.outputs["run_id"])

    def load(self, client: Client) -> Any:
        """The fitted model: in memory after a fresh training, else loaded from its run."""
        if self.model is None:
            from modelcycle.models._persist import load_model

            self.model = load_model(client, self.run_id).model
        return self.model


@dataclass
class EvaluationOutcome:
    """What the step did: each evaluation (best first), the chosen one, and where reports are."""

    evaluations: list[dict[str, Any]] = field(default_factory=list)
    chosen: dict[str, Any] | None = None
    reports: list[str] = field(default_factory=list)
    cache: str = "off"
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """True when a candidate passed every gate."""
        return self.chosen is not None


def _rows(data: TrainData, espec: EvaluationSpec, notes: list[str]) -> tuple[Any, Any, str]:
    positions = data.splits.test if espec.split == "test" else data.splits.validation
    split = espec.split
    if len(positions) == 0:
        notes.append(
            "the split has no test rows: evaluated on the validation rows, which early "
            "stopping and selection have already seen (give split.test > 0)"
        )
        positions, split = data.splits.validation, "validation"
    rows: pd.DataFrame = data.frame.iloc[positions]
    return rows.drop(columns=[data.target]), rows[data.target], split


def _champion(client: Client, espec: EvaluationSpec, model_name: str | None) -> str | None:
    """``NAME@VERSION`` of the registered champion a ``better_than: champion`` gate compares
    with (None: no such gate, no registered name, or no champion yet)."""
    from modelcycle.errors import NotFoundError
    from modelcycle.registry import Registry

    wanted = any(g.better_than == "champion" for g in espec.gates)
    if not wanted or model_name is None:
        return None
    try:
        return Registry(client).get(f"{model_name}@champion").ref
    except NotFoundError:
        return None


def _references(client: Client, espec: EvaluationSpec, champion: str | None) -> dict[str, Any]:
    from modelcycle.models._persist import load_model
    from modelcycle.registry import Registry

    refs = {}
    for gate in espec.gates:
        if gate.better_than and gate.better_than.startswith("run:"):
            refs[gate.better_than] = load_model(client, gate.better_than[4:]).model
    if champion is not None:
        refs["champion"] = Registry(client).load(champion).model
    return refs


def _mitigated(
    client: Client,
    run: ActiveRun,
    data: TrainData,
    espec: EvaluationSpec,
    method: MitigationSpec,
    best: Candidate,
) -> Candidate:
    """The fairness-mitigated variant of ``best``: fitted on validation rows, saved in a
    child run of the pipeline run."""
    from modelcycle.evaluation._fairness import mitigate
    from modelcycle.models._persist import save_model

    x_val, y_val = data.rows("validation")
    model = mitigate(
        best.load(client),
        x_val,
        y_val,
        espec.sensitive,
        constraint=method.constraint,
        seed=espec.seed,
    )
    family = f"{best.outputs['family']}+{method.method}"
    with client.start_run(run.experiment, name=family, parent=run.run_id) as child:
        child.set_tags({"family": family, "mitigates": best.run_id, "task": best.outputs["task"]})
        child.log_params({"constraint": method.constraint, "sensitive": ",".join(espec.sensitive)})
        save_model(
            client,
            child.run_id,
            model,
            family=family,
            task=best.outputs["task"],
            target=data.target,
            features=list(x_val.columns),
        )
    outputs = {**best.outputs, "family": family, "run_id": child.run_id, "mitigates": best.run_id}
    return Candidate(outputs, model)


def _evaluate_one(
    client: Client,
    candidate: Candidate,
    data: TrainData,
    espec: EvaluationSpec,
    references: dict[str, Any],
) -> Evaluation:
    from modelcycle.evaluation import evaluate

    notes: list[str] = []
    x, y, split = _rows(data, espec, notes)
    outputs = candidate.outputs
    kinds = {n: c.kind.value for n, c in data.schema.columns.items() if n != data.target}
    result = evaluate(
        candidate.load(client),
        x,
        y,
        task=outputs["task"],
        spec=espec.model_copy(update={"split": split}),
        name=outputs["family"],
        metric=outputs["objective"],
        kinds=kinds,
        references=references,
        size_bytes=outputs.get("model_size_bytes"),
        context={"family": outputs["family"], "run_id": candidate.run_id},
        progress=True,
    )
    snapshot = result.snapshot
    snapshot["notes"] = notes + snapshot["notes"]
    cv = outputs.get("cv")
    if cv:
        snapshot["cv"] = {k: {"mean": v, "std": cv["std"].get(k)} for k, v in cv["mean"].items()}
    return result


def _store(run: ActiveRun, snapshot: dict[str, Any], index: int, report_dir: Path) -> str:
    suffix = "" if index == 0 else f"-{index}"
    html, twin = write_report(snapshot, report_dir / f"evaluation{suffix}.html")
    run.log_artifact(html, name=f"evaluation{suffix}.html")
    run.log_artifact(twin, name=f"evaluation{suffix}.json")
    return str(html)


def _cached(client: Client, key: str) -> list[dict[str, Any]] | None:
    hit = client.metadata.steps.get(key)
    if hit is None:
        return None
    return [json.loads(client.artifacts.get_bytes(sha)) for sha in hit["snapshots"]]


def evaluate_candidates(
    client: Client,
    run: ActiveRun,
    data: TrainData,
    espec: EvaluationSpec,
    ranked: list[Candidate],
    dataset_version: str,
    *,
    report_dir: Path,
    use_cache: bool = True,
    model_name: str | None = None,
) -> EvaluationOutcome:
    """Evaluate the best candidate (and its mitigated variant), check gates, choose one.
    ``model_name`` is the registered name whose champion ``better_than: champion`` means."""
    started = time.perf_counter()
    outcome = EvaluationOutcome()
    best = ranked[0]
    config = espec.model_dump(mode="json")
    champion = _champion(client, espec, model_name)
    inputs = {"model": best.run_id, "dataset": dataset_version, "champion": champion or ""}
    key = step_key("evaluate", code_version(*_EVAL_CODE), config, inputs)
    snapshots = _cached(client, key) if use_cache else None
    outcome.cache = "hit" if snapshots is not None else ("miss" if use_cache else "off")
    if snapshots is None:
        references = _references(client, espec, champion)
        pool = [best]
        if espec.mitigation is not None:
            pool.append(_mitigated(client, run, data, espec, espec.mitigation, best))
        snapshots = [_evaluate_one(client, c, data, espec, references).snapshot for c in pool]
        shas = [client.artifacts.put_bytes(_dump(s)).sha256 for s in snapshots]
        client.metadata.steps.put(key, "evaluate", {"snapshots": shas}, run.run_id)
    report_dir.mkdir(parents=True, exist_ok=True)
    for index, snapshot in enumerate(snapshots):
        outcome.reports.append(_store(run, snapshot, index, report_dir))
        outcome.evaluations.append(snapshot)
    outcome.chosen = next((s for s in snapshots if all(g["passed"] for g in s["gates"])), None)
    outcome.seconds = time.perf_counter() - started
    return outcome


def _dump(snapshot: dict[str, Any]) -> bytes:
    from modelcycle.evaluation._report import to_json

    return to_json(snapshot).encode("utf-8")
