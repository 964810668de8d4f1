"""``modelcycle run PIPELINE.yaml``: the data stage then training, recorded in one run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelcycle.cli._app import app, state
from modelcycle.cli._format import emit_json, fmt_number, print_table


@app.command("run")
def run_command(
    spec: Annotated[Path, typer.Argument(help="The pipeline spec (YAML).")],
    source: Annotated[
        str | None, typer.Option("--source", help="Data file overriding data.source.path.")
    ] = None,
    explain_selection: Annotated[
        bool,
        typer.Option(
            "--explain-selection",
            help="Say which model families would be trained "
            "and why each was chosen or excluded, then stop.",
        ),
    ] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Recompute every step.")] = False,
    executor: Annotated[
        str | None,
        typer.Option(
            "--executor", help="local (default), local:N, ray, or ray://HOST:PORT", metavar="TEXT"
        ),
    ] = None,
    reports: Annotated[
        Path | None,
        typer.Option("--reports", help="Folder for the evaluation reports.", metavar="DIR"),
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Run the pipeline: read, validate, clean, profile and version the data, then select,
    tune, cross-validate and train model candidates, then evaluate the best one on the test
    rows against the spec's gates (exit 1 when they fail) and register it when the spec has
    registry:; unchanged steps are cache hits.
    Tuning workers and cross-validation folds run in parallel on --executor."""
    # numpy and scipy.special first: the model save at the end imports skops, whose import
    # scans the loaded modules in import order for each of ~800 ufuncs; with these two among
    # the first modules the scan stops early (see the docstring of ``models._persist``). The
    # console script imports them even earlier, before the CLI (``modelcycle._console``).
    import numpy  # noqa: F401
    import scipy.special  # noqa: F401

    from modelcycle._console import settle
    from modelcycle.executors import open_executor
    from modelcycle.pipeline import load_spec
    from modelcycle.pipeline._runner import plan_selection, run_pipeline

    try:
        pipeline = load_spec(spec)  # imports the model families: scikit-learn and the rest
        if pipeline.model is not None and pipeline.model.tune is not None:
            import optuna  # only a tuning pays for importing it

            optuna.logging.set_verbosity(optuna.logging.WARNING)  # trials are runs: no INFO
    finally:
        settle()  # the imports are done: the cycle collector back on (see modelcycle._console)
    if explain_selection:
        selection = plan_selection(pipeline, source)
        if json:
            emit_json(selection.to_dict())
        else:
            typer.echo(selection.explain())
        return
    with state.client() as client, open_executor(executor) as workers:
        result = run_pipeline(
            pipeline,
            client,
            source=source,
            spec_path=spec,
            use_cache=not no_cache,
            executor=workers,
            report_dir=reports,
        )
    if json:
        emit_json(result.to_dict())
        return
    print_table(
        f"pipeline run {result.run_id[:8]}",
        ["step", "cache", "seconds"],
        [[s.name, s.cache, f"{s.seconds:.2f}"] for s in result.steps],
    )
    if result.candidates:
        name = result.candidates[0]["objective"]
        rows = [
            [c["family"], c["run_id"][:8], fmt_number(c["metrics"][name])]
            for c in result.candidates
        ]
        print_table(f"candidates (validation {name})", ["family", "run", name], rows)
    typer.echo(f"dataset version: {result.dataset_version}")
    if result.best is not None:
        typer.echo(f"best: {result.best['family']} (run {result.best['run_id'][:8]})")
    if result.evaluation is not None:
        verdicts = "; ".join(result.evaluation["verdicts"])
        typer.echo(f"evaluation: {verdicts}; report: {result.evaluation['reports'][0]}")
    if result.registered is not None:
        alias = result.registered.get("alias")
        onnx = "ONNX-ready" if result.registered["onnx_ready"] else "not ONNX-ready"
        moved = f", {alias}" if alias else ""
        typer.echo(f"registered {result.registered['version']} ({onnx}{moved})")
