"""``modelcycle demo``: the main flow on a bundled dataset, on the embedded defaults."""

from __future__ import annotations

from typing import Annotated

import typer

from modelcycle.cli._app import app, state
from modelcycle.cli._format import emit_json, fmt_number, print_table


@app.command("demo")
def demo(
    seed: Annotated[int, typer.Option("--seed", help="Random seed of split and models.")] = 42,
    json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Run the lifecycle demo on scikit-learn's breast-cancer data: validate, clean, profile,
    version and split the data, then a tracked model selection."""
    from modelcycle.demo import run_demo

    with state.client() as client:
        result = run_demo(client, seed=seed, progress=not json)
        if json:
            emit_json(result.to_dict())
            return
        comparison = client.runs.compare(result.candidate_run_ids)
    keys = ["val_roc_auc", "val_accuracy", "val_f1", "val_log_loss"]
    rows = [
        [("* " if run.run_id == result.best_run_id else "  ") + run.name, run.run_id[:8]]
        + [fmt_number(run.metrics.get(k)) for k in keys]
        for run in sorted(comparison.runs, key=lambda r: -r.metrics["val_roc_auc"])
    ]
    print_table("candidates (best marked *)", ["candidate", "run", *keys], rows)
    typer.echo(
        f"tracked {len(result.candidate_run_ids)} candidate runs under parent "
        f"{result.parent_run_id[:8]} ({result.points_logged} metric points)"
    )
    typer.echo(f"dataset version: {result.dataset_version}")
    for name, path in result.reports.items():
        typer.echo(f"{name} report: {path}")
    typer.echo(f"metadata store: {result.store_url}")
    typer.echo(f"artifacts:      {result.artifacts_url}")
    typer.echo(
        f"explore: modelcycle runs list --parent {result.parent_run_id[:8]} "
        "--order-by 'metrics.val_roc_auc desc'"
    )
    typer.echo(f"         modelcycle runs show {result.best_run_id[:8]}")
