"""``modelcycle experiments list|create``."""

from __future__ import annotations

from typing import Annotated

import typer

from modelcycle.cli._app import app, state
from modelcycle.cli._format import emit_json, print_table

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]

experiments_app = typer.Typer(help="List and create experiments.", no_args_is_help=True)
app.add_typer(experiments_app, name="experiments")


@experiments_app.command("list")
def list_experiments(json: JsonOption = False) -> None:
    """List experiments, oldest first."""
    with state.client() as client:
        experiments = client.experiments.list()
    if json:
        emit_json([e.to_dict() for e in experiments])
        return
    rows = [[str(e.experiment_id), e.name, e.created_at.isoformat()] for e in experiments]
    print_table(f"{len(experiments)} experiment(s)", ["id", "name", "created (UTC)"], rows)


@experiments_app.command("create")
def create_experiment(
    name: Annotated[str, typer.Argument(help="Experiment name (unique).")],
    json: JsonOption = False,
) -> None:
    """Create an experiment."""
    with state.client() as client:
        experiment = client.experiments.create(name)
    if json:
        emit_json(experiment.to_dict())
    else:
        typer.echo(f"created experiment {experiment.name} (id {experiment.experiment_id})")
