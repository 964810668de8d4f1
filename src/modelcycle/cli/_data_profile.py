"""``modelcycle data profile SOURCE``: per-column statistics of a file as a table, JSON or HTML.

The saved profile (``--output``) is the same snapshot a model version keeps as its drift
reference: it can be merged with profiles of more data and queried later without the data.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modelcycle.cli._data import data_app
from modelcycle.cli._format import emit_json, fmt_number, print_table

if TYPE_CHECKING:
    from modelcycle.data._profile import ColumnProfile, DatasetProfile

__all__ = ["profile"]

_DELIMITER_NAMES = {"\\t": "\t", "tab": "\t"}


@data_app.command("profile")
def profile(
    source: Annotated[Path, typer.Argument(help="A CSV, Parquet or JSON Lines file.")],
    delimiter: Annotated[
        str | None,
        typer.Option(
            "--delimiter", "-d", help="CSV delimiter, e.g. ';' or tab (default: sniffed)."
        ),
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print the profile as JSON.")] = False,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Write the HTML report to this file (a folder: <stem>.profile.html in it).",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Save the profile as JSON (mergeable, reusable)."),
    ] = None,
) -> None:
    """Profile a dataset: count, missing, distinct, range, quantiles and top categories."""
    from modelcycle.data import read_source
    from modelcycle.data._profile import profile_table
    from modelcycle.errors import invalid_value

    options = {}
    if delimiter is not None:
        options["delimiter"] = _DELIMITER_NAMES.get(delimiter, delimiter)
        if len(options["delimiter"]) != 1:
            raise invalid_value("option --delimiter", delimiter, "must be one character")
    table, _ = read_source(source, **options)
    result = profile_table(table)
    written = []
    if output is not None:
        written.append(_write(output, _dumps(result), "--output"))
    if html is not None:
        written.append(_write_report(result, source, html))
    if json:
        emit_json(result.to_dict())
    else:
        title = f"{source.name}: {result.rows:,} rows, {len(result.columns)} columns"
        header = ["column", "kind", "missing", "distinct", "min", "mean", "max", "top"]
        print_table(title, header, [_row(column) for column in result.columns])
    for path in written:
        typer.echo(f"wrote {path}", err=json)  # stdout stays pure JSON with --json


def _row(column: ColumnProfile) -> list[str]:
    missing = f"{column.nulls:,} ({column.null_share:.1%})" if column.nulls else "0"
    distinct = f"{column.distinct:,}" if column.distinct_exact else f"~{column.distinct:,}"
    cells = [column.name, column.kind.value, missing, distinct]
    summary = column.numeric or column.lengths
    if summary is not None:
        unit = "" if column.numeric is not None else " chars"
        numbers = (summary.min, summary.mean, summary.max)
        return cells + [f"{fmt_number(value)}{unit}" for value in numbers] + [""]
    if column.time_range is not None:
        return [*cells, column.time_range[0], "", column.time_range[1], ""]
    top = ""
    if column.categories is not None and column.categories.top:
        label, count = column.categories.top[0]
        top = f"{label} ({count / max(column.count, 1):.0%})"
    return [*cells, "", "", "", top]


def _dumps(result: DatasetProfile) -> str:
    import json

    return json.dumps(result.to_dict(), separators=(",", ":"), allow_nan=False)


def _write(path: Path, text: str, option: str) -> Path:
    from modelcycle.errors import invalid_value

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise invalid_value(f"option {option}", str(path), exc.strerror or str(exc)) from None
    return path


def _write_report(result: DatasetProfile, source: Path, target: Path) -> Path:
    from modelcycle.data._profile_report import profile_report

    path = target / f"{source.stem}.profile.html" if target.is_dir() else target
    return _write(
        path, profile_report(result, title=f"Profile of {source.name}").render(), "--html"
    )
