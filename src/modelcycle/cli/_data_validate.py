"""``modelcycle data validate SOURCE --spec PIPELINE.yaml``: checks, a readable report, HTML."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelcycle.cli._app import state
from modelcycle.cli._data import data_app
from modelcycle.cli._format import emit_json, print_table


@data_app.command("validate")
def validate_command(
    source: Annotated[str, typer.Argument(help="Data file (CSV, Parquet, JSON Lines).")],
    spec: Annotated[Path, typer.Option("--spec", help="Pipeline spec with a data: section.")],
    reference: Annotated[
        str | None,
        typer.Option("--reference", help="Training data (file or dataset NAME@ID) to match."),
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Where to write the HTML report.")
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Validate SOURCE against the spec's schema and checks; exit 1 when an error-level check
    fails. An HTML report is written too (default: SOURCE_STEM.validation.html)."""
    from modelcycle.data._stage import load_table, reference_schema, validate_table
    from modelcycle.data._validation_report import validation_page
    from modelcycle.pipeline import load_spec

    pipeline = load_spec(spec)
    table, _ = load_table(pipeline.data, source)
    ref = None
    if reference is not None:
        with state.client() as client:
            ref = reference_schema(reference, client)
    report = validate_table(table, pipeline.data, source, ref)
    target = html or Path(f"{Path(source).stem}.validation.html")
    validation_page(report).write(target)
    if json:
        emit_json({**report.to_dict(), "html": str(target)})
    else:
        failed = report.errors + report.warnings
        rows = [[c.severity.upper(), c.check, c.column or "", c.message] for c in failed]
        if rows:
            print_table("failed checks", ["severity", "check", "column", "result"], rows)
        verdict = "PASSED" if report.passed else "FAILED"
        typer.echo(
            f"{verdict}: {len(report.checks)} checks, {len(report.errors)} error(s), "
            f"{len(report.warnings)} warning(s); report: {target}"
        )
    if not report.passed:
        raise typer.Exit(1)
