"""``modelcycle retrain``: evaluate the retrain policies once and act on them.

    from modelcycle.loop import retrain

    result = retrain(client, "churn", if_needed=True)   # policies first; None fired: no-op
    result.decision        # not-needed | promoted | rejected | skipped | rolled-back

One call:

1. **Rollback first.** When the champion was promoted by a retrain and the spec's
   ``retrain.rollback.auto`` is on, its quality on the labels received since it took the
   alias is checked against its test interval; a drop beyond the bound moves the alias back
   (``Registry.rollback``) and nothing else happens.
2. **Policies** (``loop._policies``): schedule, drift, quality, data volume. With
   ``if_needed`` and none fired, nothing is recorded and the result says why.
3. **Data** (``loop._retrain_data``): the champion's dataset version plus its labelled
   production rows, deduplicated, minus a fresh holdout.
4. **Challenger**: the champion's own pipeline spec (stored in its bundle), its family, and
   its hyperparameters as the fixed params, or as the first trial when the spec tunes; the
   pipeline run (data stage, training, evaluation with the spec's gates, registration
   without an alias) is a child of the retrain run. Failing gates reject it with the gates'
   message.
5. **Duel** (``loop._duel``) on the holdout; the challenger takes the alias only when the
   paired test's interval of its advantage lies above zero. Otherwise it stays registered,
   rejected, with the reason.

The retrain run (``tags.kind = retrain``) records the trigger, the feedback rows it used
(``retrain.json``), the champion, the challenger and the decision; ``modelcycle runs show``
prints that chain.
"""

from __future__ import annotations

import ast
import json
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelcycle.errors import (
    DataError,
    GateFailedError,
    ModelcycleError,
    NotFoundError,
    invalid_value,
)
from modelcycle.loop._policies import (
    Situation,
    Trigger,
    champion_quality,
    evaluate,
    quality_detail,
    situation,
)
from modelcycle.registry._registry import parse_ref

if TYPE_CHECKING:
    from modelcycle import executors
    from modelcycle.loop._retrain_data import RetrainData
    from modelcycle.loop._spec import RetrainSpec
    from modelcycle.pipeline import PipelineSpec
    from modelcycle.tracking import ActiveRun, Client

__all__ = ["RetrainResult", "retrain"]

_SETTINGS = ("seed", "class_weights", "early_stopping_rounds")


@dataclass
class RetrainResult:
    """What one ``retrain`` did (see the module docstring)."""

    model: str
    alias: str
    champion: str
    decision: str
    reason: str
    triggers: list[Trigger] = field(default_factory=list)
    challenger: str | None = None
    run_id: str | None = None
    pipeline_run_id: str | None = None
    dataset_version: str | None = None
    data: dict[str, Any] | None = None
    comparison: dict[str, Any] | None = None
    quality: dict[str, Any] | None = None
    reports: list[str] = field(default_factory=list)

    @property
    def fired(self) -> list[Trigger]:
        """The policies that fired."""
        return [t for t in self.triggers if t.fired]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        found = dict(self.__dict__)
        found["triggers"] = [t.to_dict() for t in self.triggers]
        return found


def _param(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def champion_params(client: Client, sit: Situation) -> dict[str, Any]:
    """The hyperparameters the champion's training run used."""
    run_id = sit.champion.run_id
    if run_id is None:
        return {}
    params = client.runs.show(run_id).params
    return {k: _param(v) for k, v in params.items() if k not in _SETTINGS}


def _spec(client: Client, ref: str, given: PipelineSpec | None) -> tuple[PipelineSpec, str]:
    """The pipeline spec stored in version ``ref`` (or ``given``) and its YAML text."""
    import yaml

    from modelcycle.pipeline import load_spec
    from modelcycle.registry import Registry

    if given is not None:
        return given, yaml.safe_dump(given.model_dump(mode="json", by_alias=True), sort_keys=False)
    version = Registry(client).get(ref)
    text = Registry(client).bundle(version.ref).part("spec")
    if text is None:
        raise NotFoundError(
            f"{version.ref} was registered without its pipeline spec: give one (--spec FILE)"
        )
    with tempfile.TemporaryDirectory(prefix="modelcycle-spec-") as folder:
        path = Path(folder) / f"{version.ref.replace('@', '-')}.pipeline.yaml"
        path.write_bytes(text)
        return load_spec(path), text.decode("utf-8")


def challenger_spec(
    spec: PipelineSpec, sit: Situation, params: dict[str, Any], run_id: str
) -> PipelineSpec:
    """The champion's spec aimed at the combined data: the champion's family, its
    hyperparameters fixed (or, when the spec tunes, tried first), registered without an
    alias (the duel decides)."""
    from modelcycle.data._labeling import TargetSpec
    from modelcycle.pipeline import ModelSpec
    from modelcycle.pipeline._register import RegisterSpec
    from modelcycle.training import CandidateSpec

    if spec.data.target is None:
        raise DataError("data.target: the champion's spec names no target")
    family = str(sit.bundle.manifest.get("family"))
    model = spec.model or ModelSpec()
    named = {c.family: c for c in model.candidates}.get(family)
    fixed = dict(named.params) if named else {}
    space = named.search_space if named else None
    if model.tune is not None:
        start = {k: v for k, v in params.items() if k not in fixed}
        tune = model.tune.model_copy(update={"start": [start], "study_name": None})
        candidate = CandidateSpec(family=family, params=fixed, search_space=space)
        model = model.model_copy(update={"candidates": [candidate], "tune": tune})
    else:
        candidate = CandidateSpec(family=family, params={**params, **fixed}, search_space=space)
        model = model.model_copy(update={"candidates": [candidate]})
    target = TargetSpec(column=spec.data.target.output, id_column=spec.data.target.id_column)
    data = spec.data.model_copy(update={"source": None, "target": target})
    onnx = spec.registry.onnx if spec.registry is not None else True
    registry = RegisterSpec(
        name=sit.name,
        alias=None,
        onnx=onnx,
        description=f"challenger of {sit.champion.ref} (retrain run {run_id[:8]})",
    )
    return spec.model_copy(update={"data": data, "model": model, "registry": registry})


def _record(run: ActiveRun, result: RetrainResult, lineage: dict[str, Any]) -> None:
    """The decision on the retrain run: tags, holdout metrics and ``retrain.json``."""
    run.set_tags(
        {
            "decision": result.decision,
            "reason": result.reason[:4000],
            "challenger": result.challenger or "",
            "trigger": ", ".join(t.policy for t in result.fired) or "manual",
            "pipeline_run": result.pipeline_run_id or "",
        }
    )
    found = result.comparison
    if found is not None:
        name = found["metric"]
        metrics = {f"holdout_champion_{name}": found["a"], f"holdout_challenger_{name}": found["b"]}
        if isinstance(found.get("p_value"), (int, float)):
            metrics["holdout_p_value"] = found["p_value"]
        run.log_metrics(metrics)
    run.log_text(
        json.dumps({**result.to_dict(), "feedback": lineage}, default=str, indent=2), "retrain.json"
    )


def _rollback(
    client: Client, spec: RetrainSpec, sit: Situation, experiment: str
) -> RetrainResult | None:
    """Roll a retrain's promotion back when the new champion's quality dropped."""
    from modelcycle.registry import Registry

    if not spec.rollback.auto or sit.promoted_by_retrain is None:
        return None
    found = champion_quality(client, sit, spec.rollback.min_labels)
    if not found.get("degraded"):
        return None
    reason = f"rollback: {sit.champion.ref} {quality_detail(found)} since it took {sit.alias}"
    with client.start_run(
        experiment,
        name=f"retrain:{sit.name}",
        tags={"kind": "retrain", "model": sit.name, "champion": sit.champion.ref},
    ) as run:
        move = Registry(client).rollback(sit.name, sit.alias, reason=reason)
        result = RetrainResult(
            model=sit.name,
            alias=sit.alias,
            champion=sit.champion.ref,
            decision="rolled-back",
            reason=f"{reason}; {sit.alias} is back at {sit.name}@{move.to_version}",
            run_id=run.run_id,
            quality=found,
        )
        _record(run, result, {})
    return result


def retrain(
    client: Client,
    ref: str,
    *,
    if_needed: bool = False,
    spec: PipelineSpec | None = None,
    executor: executors.Executor | None = None,
    report_dir: str | Path | None = None,
    now: datetime | None = None,
) -> RetrainResult:
    """Evaluate the policies of ``ref``'s champion (``NAME`` or ``NAME@ALIAS``) once and act
    (see the module docstring). ``spec`` replaces the champion's stored pipeline spec."""
    from modelcycle.loop._spec import RetrainSpec

    name, alias = parse_ref(ref)
    if alias is not None and alias.isdigit():
        raise invalid_value("model", ref, "retrain names a model or an alias, not a version")
    # without an alias, the newest version's spec names the alias its champions hold
    pipeline, text = _spec(client, ref, spec)
    settings = pipeline.retrain or RetrainSpec()
    sit = situation(client, name, alias or settings.alias)
    if alias is None and spec is None:
        pipeline, text = _spec(client, sit.champion.ref, None)  # the champion's own spec
        settings = pipeline.retrain or RetrainSpec()
    rolled = _rollback(client, settings, sit, pipeline.name)
    if rolled is not None:
        return rolled
    triggers = evaluate(client, settings, sit, now or datetime.now(timezone.utc))
    if if_needed and not any(t.fired for t in triggers):
        why = "; ".join(t.detail for t in triggers) or "the spec sets no retrain policy"
        return RetrainResult(name, sit.alias, sit.champion.ref, "not-needed", why, triggers)
    return _challenge(client, sit, pipeline, text, settings, triggers, executor, report_dir)


def _challenge(
    client: Client,
    sit: Situation,
    pipeline: PipelineSpec,
    text: str,
    settings: RetrainSpec,
    triggers: list[Trigger],
    executor: executors.Executor | None,
    report_dir: str | Path | None,
) -> RetrainResult:
    """Train a challenger on the combined data, duel, decide, record."""
    from modelcycle.loop._retrain_data import build_data

    tags = {"kind": "retrain", "model": sit.name, "champion": sit.champion.ref}
    with client.start_run(pipeline.name, name=f"retrain:{sit.name}", tags=tags) as run:
        result = RetrainResult(sit.name, sit.alias, sit.champion.ref, "skipped", "", triggers)
        result.run_id = run.run_id
        lineage: dict[str, Any] = {}
        try:
            if pipeline.data.target is None:
                raise DataError("data.target: the champion's spec names no target")
            data = build_data(client, sit, pipeline.data.target.output, settings.holdout)
            lineage = data.lineage()
            result.data = data.counts
            run.log_params({f"rows.{k}": v for k, v in data.counts.items()})
            if len(data.holdout) < settings.min_holdout:
                result.reason = (
                    f"only {len(data.holdout)} labelled production rows fell in the fresh "
                    f"holdout; the duel needs {settings.min_holdout} (retrain.min_holdout)"
                )
                return result
            context = (pipeline, text, settings, data)
            _train_and_duel(client, run, sit, context, result, executor, report_dir)
        except DataError as exc:  # the new data failed validation, or a label did not fit
            result.decision = "rejected" if result.challenger else "skipped"
            result.reason = str(exc)
        finally:
            _record(run, result, lineage)
    return result


def _train_and_duel(
    client: Client,
    run: ActiveRun,
    sit: Situation,
    context: tuple[PipelineSpec, str, RetrainSpec, RetrainData],
    result: RetrainResult,
    executor: executors.Executor | None,
    report_dir: str | Path | None,
) -> None:
    pipeline, text, settings, data = context
    from modelcycle.loop._duel import describe, duel
    from modelcycle.pipeline import run_pipeline
    from modelcycle.registry import Registry

    params = champion_params(client, sit)
    spec = challenger_spec(pipeline, sit, params, run.run_id)
    with tempfile.TemporaryDirectory(prefix="modelcycle-retrain-") as folder:
        path = Path(folder) / "pipeline.yaml"
        path.write_text(text, encoding="utf-8")  # the challenger's bundle keeps the same spec
        try:
            ran = run_pipeline(
                spec,
                client,
                source=data.frame,
                spec_path=path,
                use_cache=False,
                executor=executor,
                report_dir=report_dir,
                parent=run.run_id,
                tags={"retrain_run": run.run_id},
            )
        except GateFailedError as exc:
            result.decision = "rejected"
            result.reason = f"the challenger failed its gates: {exc}"
            return
    result.pipeline_run_id = ran.run_id
    result.dataset_version = ran.dataset_version
    result.reports = [str(p) for p in (ran.evaluation or {}).get("reports") or []]
    registered = (ran.registered or {}).get("version")
    if registered is None:
        raise ModelcycleError(f"pipeline run {ran.run_id} registered no challenger")
    result.challenger = str(registered)
    evaluation = sit.bundle.json_part("evaluation") or {}
    metric = settings.promote.metric or str(evaluation.get("objective") or "accuracy")
    task = str(sit.bundle.signature.get("output", {}).get("task") or "regression")
    found = duel(
        client,
        sit.champion.ref,
        result.challenger,
        data.holdout,
        data.target,
        task=task,
        metric=metric,
        confidence=settings.promote.confidence,
        resamples=settings.promote.resamples,
    )
    result.comparison = found
    sentence = describe(found)
    if not found["wins"]:
        result.decision = "rejected"
        result.reason = f"the challenger does not beat the champion: {sentence}"
        return
    reason = f"retrain {run.run_id}: {sentence}"
    Registry(client).promote(result.challenger, sit.alias, reason=reason)
    result.decision = "promoted"
    result.reason = f"{result.challenger} took {sit.name}@{sit.alias}: {sentence}"
