"""``modelcycle runs list|show|compare|history|download``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelcycle.cli._app import app, state
from modelcycle.cli._format import emit_json, fmt_number, print_table

if TYPE_CHECKING:
    from modelcycle.types import Run

runs_app = typer.Typer(help="Search, show and compare tracked runs.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
RunId = Annotated[str, typer.Argument(help="Run id, or a unique prefix of at least 4 characters.")]


def _when(run: Run) -> str:
    return run.start_time.strftime("%Y-%m-%d %H:%M:%S")


@runs_app.command("list")
def list_runs(
    filter: Annotated[
        str,
        typer.Option(
            "--filter",
            "-f",
            help="e.g. \"metrics.auc > 0.9 and params.model = 'lgbm'\" (see docs/tracking.md).",
        ),
    ] = "",
    order_by: Annotated[
        list[str] | None,
        typer.Option("--order-by", "-o", help="e.g. 'metrics.auc desc'; repeatable."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many runs.")] = 50,
    experiment: Annotated[
        str | None, typer.Option("--experiment", "-e", help="Only this experiment.")
    ] = None,
    parent: Annotated[
        str | None, typer.Option("--parent", help="Only children of this run.")
    ] = None,
    json: JsonOption = False,
) -> None:
    """List runs matching a filter, newest first unless --order-by says otherwise."""
    with state.client() as client:
        runs = client.runs.list(filter, order_by or [], limit, experiment, parent)
    if json:
        emit_json([run.to_dict() for run in runs])
        return
    metric_keys = sorted({k for run in runs for k in run.metrics})[:6]
    rows = [
        [run.run_id[:8], run.experiment_name, run.name, run.status.value, _when(run)]
        + [fmt_number(run.metrics.get(k)) for k in metric_keys]
        for run in runs
    ]
    columns = ["run", "experiment", "name", "status", "started (UTC)", *metric_keys]
    print_table(f"{len(runs)} run(s)", columns, rows)


@runs_app.command("show")
def show_run(run_id: RunId, json: JsonOption = False) -> None:
    """Show one run: status, times, params, tags, latest metrics, inputs and artifacts; a
    retrain run also shows its lineage (trigger, feedback rows, champion, challenger,
    decision)."""
    from modelcycle.loop._lineage import retrain_lineage

    with state.client() as client:
        run = client.runs.show(run_id)
        lineage = retrain_lineage(client, run)
    if json:
        emit_json({**run.to_dict(), **({"lineage": lineage} if lineage else {})})
        return
    duration = "" if run.duration_s is None else f" ({run.duration_s:.1f} s)"
    typer.echo(f"run {run.run_id}  {run.name}  [{run.experiment_name}]")
    typer.echo(f"status {run.status.value}{duration}, started {_when(run)} UTC")
    if run.parent_run_id:
        typer.echo(f"parent {run.parent_run_id}")
    if run.error:
        typer.echo(f"error {run.error.splitlines()[0]}")
    print_table("params", ["key", "value"], sorted(run.params.items()))
    print_table(
        "metrics (latest)", ["key", "value"], [[k, fmt_number(v)] for k, v in run.metrics.items()]
    )
    if run.tags:
        print_table("tags", ["key", "value"], sorted(run.tags.items()))
    if run.inputs:
        print_table(
            "inputs",
            ["name", "digest", "context", "source"],
            [[d.name, d.digest[:12], d.context, d.source] for d in run.inputs],
        )
    if run.artifacts:
        print_table(
            "artifacts",
            ["name", "sha256", "bytes"],
            [[a.name, a.sha256[:12], str(a.size)] for a in run.artifacts],
        )
    if lineage is not None:
        _echo_lineage(lineage)


def _echo_lineage(lineage: dict[str, Any]) -> None:
    """The retrain chain, one step per line."""
    counts = lineage["feedback"]["counts"]
    rows = [["trigger", "; ".join(t["detail"] for t in lineage["trigger"])]]
    rows.append(
        [
            "feedback",
            f"{lineage['feedback']['training_rows']:,} labelled production rows trained on, "
            f"{lineage['feedback']['holdout_rows']:,} held out, "
            f"{counts.get('duplicates_removed', 0):,} duplicates removed (ids in retrain.json)",
        ]
    )
    previous = lineage["feedback"]["previous_dataset"]
    rows.append(["champion", f"{lineage['champion']} (trained on {previous})"])
    if lineage["challenger"]:
        rows.append(
            [
                "challenger",
                f"{lineage['challenger']} (pipeline run {lineage['pipeline_run']}, "
                f"dataset {lineage['dataset_version']})",
            ]
        )
    rows.append(["decision", f"{lineage['decision']}: {lineage['reason']}"])
    print_table("retrain lineage", ["step", "what"], rows)


@runs_app.command("compare")
def compare_runs(
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids or prefixes.")],
    json: JsonOption = False,
) -> None:
    """Params and final metrics of several runs side by side; differing params marked *."""
    with state.client() as client:
        comparison = client.runs.compare(run_ids)
    if json:
        emit_json(comparison.to_dict())
        return
    columns = ["", *(f"{run.name} ({run.run_id[:8]})" for run in comparison.runs)]
    differing = set(comparison.differing_params)
    rows = [
        [f"params.{k}" + (" *" if k in differing else "")] + [v or "" for v in values]
        for k, values in comparison.params.items()
    ]
    rows += [
        [f"metrics.{k}"] + [fmt_number(v) for v in values]
        for k, values in comparison.metrics.items()
    ]
    print_table("comparison", columns, rows)


@runs_app.command("history")
def metric_history(
    run_id: RunId,
    key: Annotated[str, typer.Argument(help="Metric key, e.g. val_loss.")],
    json: JsonOption = False,
) -> None:
    """Every point of one metric of a run, by step."""
    with state.client() as client:
        points = client.runs.history(run_id, key)
    if json:
        emit_json([p.to_dict() for p in points])
        return
    rows = [[str(p.step), fmt_number(p.value), p.timestamp.isoformat()] for p in points]
    print_table(f"{key}: {len(points)} point(s)", ["step", "value", "time (UTC)"], rows)


@runs_app.command("download")
def download_artifact(
    run_id: RunId,
    name: Annotated[str, typer.Argument(help="Artifact name as logged, e.g. plots/roc.html.")],
    to: Annotated[Path, typer.Option("--to", help="Destination file.")],
    json: JsonOption = False,
) -> None:
    """Copy an artifact of a run to a file, verifying its SHA-256 on the way."""
    with state.client() as client:
        path = client.runs.download(run_id, name, to)
    if json:
        emit_json({"path": str(path)})
    else:
        typer.echo(str(path))
