"""``modelcycle data version|versions|labels``: dataset versions and the labeling queue."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from modelcycle.cli._app import state
from modelcycle.cli._data import data_app
from modelcycle.cli._format import emit_json, print_table

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
SpecOption = Annotated[Path, typer.Option("--spec", help="Pipeline spec with a data: section.")]
SourceArg = Annotated[str, typer.Argument(help="Data file (CSV, Parquet, JSON Lines).")]


@data_app.command("version")
def version_command(
    source: SourceArg,
    spec: SpecOption,
    name: Annotated[str, typer.Option("--name", help="Dataset name, e.g. penguins.")],
    force: Annotated[
        bool, typer.Option("--force", help="Version even when validation has errors.")
    ] = False,
    json: JsonOption = False,
) -> None:
    """Read, validate, clean and profile SOURCE, and store it as an immutable dataset version.
    The same input and spec give the same version id."""
    from modelcycle.data._stage import build_version
    from modelcycle.pipeline import load_spec

    pipeline = load_spec(spec)
    with state.client() as client:
        prepared = build_version(client, pipeline.data, name, source, force=force)
    if json:
        emit_json(prepared.to_dict())
        return
    version = prepared.version
    typer.echo(f"dataset version {version.ref}: {version.rows} rows x {version.columns} columns")
    if prepared.cleaning is not None:
        typer.echo(f"cleaning: {prepared.cleaning.summary()}")
    typer.echo(
        f"validation: {len(prepared.validation.errors)} error(s), "
        f"{len(prepared.validation.warnings)} warning(s)"
    )


@data_app.command("versions")
def versions_command(
    name: Annotated[str | None, typer.Argument(help="Only versions of this dataset.")] = None,
    json: JsonOption = False,
) -> None:
    """List dataset versions, newest first."""
    with state.client() as client:
        versions = client.metadata.datasets.list(name)
    if json:
        emit_json([v.to_dict() for v in versions])
        return
    rows = [
        [
            v.ref,
            str(v.rows),
            str(v.columns),
            v.content_sha256[:12],
            v.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        ]
        for v in versions
    ]
    print_table(
        f"{len(versions)} dataset version(s)",
        ["version", "rows", "columns", "content", "created (UTC)"],
        rows,
    )


labels_app = typer.Typer(
    help="Export unlabeled rows for annotation and merge labels back.", no_args_is_help=True
)
data_app.add_typer(labels_app, name="labels")


def _labeling_input(spec: Path, source: str) -> tuple[Any, Any]:
    """The spec's target and SOURCE as a DataFrame (what both label commands start from)."""
    from modelcycle.data._stage import load_table, target_spec
    from modelcycle.pipeline import load_spec

    data = load_spec(spec).data
    table, _ = load_table(data, source)
    return target_spec(data), table.to_pandas()


@labels_app.command("export")
def labels_export(
    source: SourceArg,
    spec: SpecOption,
    output: Annotated[Path, typer.Option("--output", help="CSV file for the annotators.")],
    json: JsonOption = False,
) -> None:
    """Write the rows without a target value to a CSV with row ids and an empty label column."""
    from modelcycle.data._labeling import export_unlabeled

    target, frame = _labeling_input(spec, source)
    count = export_unlabeled(frame, target.output, output, target.id_column)
    if json:
        emit_json({"exported": count, "path": str(output)})
    else:
        typer.echo(f"exported {count} unlabeled row(s) to {output}")


@labels_app.command("import")
def labels_import(
    source: SourceArg,
    labels: Annotated[Path, typer.Argument(help="The annotated CSV (row_id, ..., label).")],
    spec: SpecOption,
    output: Annotated[Path, typer.Option("--output", help="Where to write the merged data.")],
    json: JsonOption = False,
) -> None:
    """Merge annotated labels into SOURCE by row id; conflicts are reported, never applied."""
    from modelcycle.data._labeling import merge_labels
    from modelcycle.data._stage import write_table

    target, frame = _labeling_input(spec, source)
    merged, report = merge_labels(frame, labels, target.output, target.id_column)
    write_table(merged, output)
    if json:
        emit_json({**report.to_dict(), "path": str(output)})
        return
    typer.echo(
        f"merged {report.merged} label(s) into {output}; {report.already_equal} already "
        f"equal, {len(report.conflicts)} conflict(s), {len(report.unknown_ids)} unknown "
        f"id(s), {report.empty} empty"
    )
    if report.conflicts:
        print_table(
            "conflicts (not applied)",
            ["row_id", "labels", "reason"],
            [[c["row_id"], " vs ".join(c["labels"]), c["reason"]] for c in report.conflicts],
        )
