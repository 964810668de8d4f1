"""``modelcycle feedback ingest FILE``: ground truth and ratings for logged predictions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelcycle.cli._app import app, state
from modelcycle.cli._format import emit_json

feedback_app = typer.Typer(
    help="Feedback on served predictions (labels, ratings).", no_args_is_help=True
)
app.add_typer(feedback_app, name="feedback")

#: Rejections printed (``--json`` lists every reason the report kept).
SHOWN = 5


@feedback_app.command("ingest")
def ingest(
    file: Annotated[
        Path,
        typer.Argument(help="CSV, Parquet or JSON Lines with columns id, label and/or rating."),
    ],
    source: Annotated[
        str | None,
        typer.Option("--source", help="Where the feedback came from (default: the file path)."),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when any value is rejected.")
    ] = False,
    json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Join each row to its logged prediction (by row id, or the request id of a one-row
    request) and record it; print the counts. Unknown ids are rejected and counted (exit 0,
    or 1 with --strict); a malformed file exits 1 naming the file, row and column."""
    from modelcycle.loop import ingest_file

    with state.client() as client:
        report = ingest_file(client, file, source=source)
    counts = report.counts
    if json:
        emit_json(report.to_dict())
    else:
        typer.echo(
            f"{file}: {counts.accepted:,} accepted, {counts.duplicates:,} duplicates, "
            f"{counts.conflicts:,} conflicts, {counts.rejected:,} rejected"
        )
        for rejection in report.rejections[:SHOWN]:
            typer.echo(f"  rejected {rejection.where} ({rejection.id}): {rejection.reason}")
        if counts.rejected > SHOWN:
            typer.echo(f"  ... and {counts.rejected - SHOWN:,} more rejected (see --json)")
    if strict and counts.rejected:
        typer.echo(f"error: {counts.rejected:,} feedback values rejected (--strict)", err=True)
        raise typer.Exit(1)
