"""``modelcycle retrain`` and ``modelcycle loop``: the feedback loop's policies, acted on."""

from __future__ import annotations

import json as jsonlib
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelcycle.cli._app import app, state
from modelcycle.cli._format import emit_json

if TYPE_CHECKING:
    from modelcycle.loop import RetrainResult

Model = Annotated[
    str, typer.Argument(help="NAME or NAME@ALIAS (default alias: the spec's retrain.alias).")
]
Spec = Annotated[
    Path | None,
    typer.Option("--spec", help="Pipeline spec replacing the one stored in the champion."),
]
Executor = Annotated[
    str | None,
    typer.Option(
        "--executor", help="local (default), local:N, ray, or ray://HOST:PORT", metavar="TEXT"
    ),
]
Reports = Annotated[
    Path | None,
    typer.Option(
        "--reports", help="Folder for the challenger's evaluation reports.", metavar="DIR"
    ),
]


def _echo(result: RetrainResult) -> None:
    """The result in a few lines: triggers, data, decision."""
    for trigger in result.triggers:
        mark = "fired" if trigger.fired else "quiet"
        typer.echo(f"  [{mark}] {trigger.detail}")
    if result.data:
        d = result.data
        typer.echo(
            f"  data: {d['previous_rows']:,} training rows + {d['added_rows']:,} labelled "
            f"production rows ({d['duplicates_removed']:,} duplicates removed), "
            f"{d['holdout_rows']:,} held out"
        )
    if result.challenger:
        typer.echo(f"  challenger: {result.challenger} (pipeline run {result.pipeline_run_id})")
    typer.echo(f"{result.model}@{result.alias}: {result.decision}: {result.reason}")
    if result.run_id:
        typer.echo(f"  retrain run: {result.run_id} (modelcycle runs show {result.run_id[:8]})")


def _load(spec: Path | None) -> Any:
    if spec is None:
        return None
    from modelcycle.pipeline import load_spec

    return load_spec(spec)


@app.command("retrain")
def retrain_command(
    model: Model,
    if_needed: Annotated[
        bool,
        typer.Option(
            "--if-needed",
            help="Retrain only when a policy of the spec's retrain.when fires "
            "(schedule, drift, quality, data_volume).",
        ),
    ] = False,
    spec: Spec = None,
    executor: Executor = None,
    reports: Reports = None,
    json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Evaluate the retrain policies once and act: roll a degraded retrained champion back,
    or train a challenger on the champion's data plus labelled production rows with the
    champion's spec, duel on a fresh holdout and promote it only when a paired test says it
    is better. Exit 0 whatever the decision (not-needed, promoted, rejected, skipped,
    rolled-back); exit 1 on an error. For cron and Kubernetes CronJobs."""
    from modelcycle.executors import open_executor
    from modelcycle.loop import retrain

    pipeline = _load(spec)
    with state.client() as client, open_executor(executor) as workers:
        result = retrain(
            client, model, if_needed=if_needed, spec=pipeline, executor=workers, report_dir=reports
        )
    if json:
        emit_json(result.to_dict())
    else:
        _echo(result)


@app.command("loop")
def loop_command(
    model: Model,
    every: Annotated[
        float, typer.Option("--every", help="Seconds between two evaluations.", min=0.1)
    ] = 300.0,
    cycles: Annotated[
        int | None, typer.Option("--cycles", help="Stop after this many cycles.", min=1)
    ] = None,
    spec: Spec = None,
    executor: Executor = None,
    reports: Reports = None,
    json: Annotated[bool, typer.Option("--json", help="One JSON line per cycle.")] = False,
) -> None:
    """Run ``retrain --if-needed`` every --every seconds until SIGTERM or Ctrl-C (or
    --cycles); a failing cycle is reported and the loop goes on."""
    from modelcycle.executors import open_executor
    from modelcycle.loop import run_loop

    pipeline = _load(spec)

    def report(result: RetrainResult | None, error: Exception | None) -> None:
        stamp = datetime.now().astimezone().isoformat(timespec="seconds")
        if json:
            found = {"error": str(error)} if result is None else result.to_dict()
            typer.echo(jsonlib.dumps({"time": stamp, **found}, default=str))
        elif result is None:
            typer.echo(f"{stamp} error: {error}", err=True)
        else:
            typer.echo(f"{stamp} {result.model}@{result.alias}: {result.decision}: {result.reason}")

    with state.client() as client, open_executor(executor) as workers:
        run_loop(
            client,
            model,
            every=every,
            cycles=cycles,
            on_result=report,
            spec=pipeline,
            executor=workers,
            report_dir=reports,
        )
