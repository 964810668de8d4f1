"""``modelcycle evaluate MODEL_OR_RUN --data SOURCE``: a saved model's exam on a data file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelcycle.cli._app import app, state
from modelcycle.cli._format import emit_json, fmt_number, print_table

if TYPE_CHECKING:
    from modelcycle.evaluation import Evaluation, EvaluationSpec
    from modelcycle.models._persist import LoadedModel
    from modelcycle.tracking import Client


def resolve_model(client: Client, ref: str) -> LoadedModel:
    """The model behind ``ref``: a training run that saved one, a pipeline run (its chosen
    candidate, else its best one), or an experiment name (its latest finished pipeline run)."""
    from modelcycle.errors import NotFoundError
    from modelcycle.models._persist import load_model

    try:
        run = client.runs.show(ref)
    except NotFoundError:
        latest = client.runs.list(
            "tags.kind = 'pipeline' and status = 'FINISHED'",
            order_by=["start_time desc"],
            limit=1,
            experiment=ref,
        )
        if not latest:
            raise NotFoundError(
                f"no run and no experiment with a finished pipeline run named {ref!r}"
            ) from None
        run = latest[0]
    for tag in ("chosen_run_id", "best_run_id"):
        if tag in run.tags:
            return load_model(client, run.tags[tag])
    try:
        return load_model(client, run.run_id)
    except NotFoundError:
        raise NotFoundError(
            f"run {run.run_id} saved no model and names no candidate (best_run_id); "
            "give a training run or a pipeline run"
        ) from None


def _spec(spec: Path | None, sensitive: list[str], gates: list[str]) -> EvaluationSpec:
    from modelcycle.evaluation import EvaluationSpec, parse_gate
    from modelcycle.pipeline import load_spec

    base = EvaluationSpec()
    if spec is not None:
        base = load_spec(spec).evaluation or base
    update: dict[str, Any] = {"split": "test"}
    if sensitive:
        update["sensitive"] = sensitive
    if gates:
        update["gates"] = [*base.gates, *(parse_gate(g) for g in gates)]
    return EvaluationSpec.model_validate({**base.model_dump(), **update})


def _frame(loaded: LoadedModel, source: str) -> tuple[Any, Any]:
    from modelcycle.data import read_source
    from modelcycle.errors import DataError

    table, _ = read_source(source)
    frame = table.to_pandas()
    wanted = [loaded.target, *loaded.features]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise DataError(f"{source}: column {missing[0]!r} is missing (the model reads {wanted})")
    unlabeled = int(frame[loaded.target].isna().sum())
    if unlabeled:
        raise DataError(
            f"{source}: column {loaded.target!r} has {unlabeled} missing label(s); "
            "evaluation needs every row labelled"
        )
    return frame[loaded.features], frame[loaded.target]


def _summary(result: Evaluation, html: Path) -> None:
    snapshot = result.snapshot
    intervals = snapshot.get("intervals") or {}
    rows = []
    for key, value in snapshot["metrics"].items():
        if key in intervals or (not intervals and isinstance(value, (int, float))):
            ci = intervals.get(key)
            shown = "" if not ci else f"[{fmt_number(ci['low'])}, {fmt_number(ci['high'])}]"
            rows.append([key, fmt_number(value), shown])
    title = f"evaluation of {snapshot['model']['name']} on {snapshot['rows']} rows"
    print_table(title, ["metric", "value", "interval"], rows)
    gates = [
        [
            g["gate"],
            "-" if g["value"] is None else fmt_number(g["value"]),
            "pass" if g["passed"] else "FAIL",
        ]
        for g in snapshot["gates"]
    ]
    if gates:
        print_table("gates", ["gate", "measured", "result"], gates)
    typer.echo(f"{snapshot['verdict']['text']}; report: {html}")


@app.command("evaluate")
def evaluate_command(
    model: Annotated[
        str,
        typer.Argument(
            help="A run id (training or pipeline run), or an experiment name: its latest "
            "finished pipeline run's chosen model."
        ),
    ],
    data: Annotated[str, typer.Option("--data", help="Labelled rows: CSV, Parquet or JSONL.")],
    spec: Annotated[
        Path | None,
        typer.Option("--spec", help="Pipeline spec whose evaluation: section applies."),
    ] = None,
    sensitive: Annotated[
        list[str] | None,
        typer.Option("--sensitive", help="A sensitive attribute column (repeatable)."),
    ] = None,
    gate: Annotated[
        list[str] | None,
        typer.Option("--gate", help="A gate such as 'roc_auc >= 0.85' (repeatable)."),
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Where to write the HTML report.")
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Evaluate a saved model on labelled rows: metrics with bootstrap intervals, curves,
    fairness, explanations, robustness, speed; write an HTML report and its JSON twin
    (default: SOURCE_STEM.evaluation.html); exit 1 when a gate fails."""
    from modelcycle.evaluation import evaluate, require_gates

    espec = _spec(spec, sensitive or [], gate or [])
    with state.client() as client:
        loaded = resolve_model(client, model)
        x, y = _frame(loaded, data)
        references = {
            g.better_than: resolve_model(client, g.better_than[4:]).model
            for g in espec.gates
            if g.better_than and g.better_than.startswith("run:")
        }
        manifest = loaded.manifest
        result = evaluate(
            loaded.model,
            x,
            y,
            task=manifest["task"],
            spec=espec,
            name=manifest["family"],
            references=references,
            size_bytes=manifest.get("size_bytes"),
            context={"family": manifest["family"], "run_id": loaded.run_id, "data": data},
            progress=not json,
        )
    target = html or Path(f"{Path(data).stem}.evaluation.html")
    html_path, json_path = result.write_report(target)
    if json:
        emit_json({**result.snapshot, "html": str(html_path), "json": str(json_path)})
    else:
        _summary(result, html_path)
    require_gates(result.snapshot["gates"], manifest["family"])  # exit 1 listing each failure
