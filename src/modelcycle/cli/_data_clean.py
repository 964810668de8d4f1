"""``modelcycle data clean``: apply a cleaning spec to a data file and write the result.

The command is a thin view of :func:`modelcycle.data._cleaning_steps.clean`: it reads SOURCE
with the data stage's reader, loads the steps with :func:`load_cleaning_spec` (a file with
``steps:`` or a pipeline spec's ``data.cleaning``), fits and applies them, writes the cleaned
rows with pyarrow (CSV or Parquet, by the output's suffix) and prints what every step changed:
a table for people, the report's JSON with ``--json``, and an HTML page with ``--html``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modelcycle.cli._data import data_app

if TYPE_CHECKING:
    import pandas as pd

    from modelcycle.data._cleaning import CleaningReport

__all__ = ["clean_command"]

_OUTPUT_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


@data_app.command("clean")
def clean_command(
    source: Annotated[Path, typer.Argument(help="Data file: CSV, Parquet or JSON Lines.")],
    steps: Annotated[
        Path,
        typer.Option(
            "--steps",
            help="YAML with top-level 'steps:' (or a pipeline spec with data.cleaning.steps).",
        ),
    ],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="Where to write the cleaned data (.csv, .parquet)."),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write the report as an HTML page here.")
    ] = None,
) -> None:
    """Drop duplicates, handle missing values and outliers, coerce types; report every change."""
    from modelcycle.data import read_source
    from modelcycle.data._cleaning import cleaning_report_html, load_cleaning_spec
    from modelcycle.data._cleaning_steps import clean

    kind = _output_format(output)
    spec = load_cleaning_spec(steps)
    table, _ = read_source(source)
    cleaned, report = clean(table.to_pandas(), spec)
    _write(cleaned, output, kind)
    if html is not None:
        cleaning_report_html(report).write(html)
    if as_json:
        from modelcycle.cli._format import emit_json

        emit_json({"source": str(source), "output": str(output), **report.to_dict()})
    else:
        _print_report(report, source, output)


def _output_format(path: Path) -> str:
    from modelcycle.errors import invalid_value

    kind = _OUTPUT_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise invalid_value("--output", str(path), "expected a .csv or .parquet file")
    return kind


def _write(df: pd.DataFrame, path: Path, kind: str) -> None:
    """Write ``df`` with pyarrow; failures name the file."""
    import pyarrow as pa

    from modelcycle.errors import DataError

    try:
        table = pa.Table.from_pandas(df, preserve_index=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, path)
        else:
            from pyarrow import csv as pacsv

            pacsv.write_csv(table, path)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        reason = str(exc).splitlines()[0]
        raise DataError(f"{path}: cannot write the cleaned data: {reason}") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot write: {exc.strerror or exc}") from None


def _print_report(report: CleaningReport, source: Path, output: Path) -> None:
    from modelcycle.cli._format import print_table
    from modelcycle.data._cleaning import step_title

    rows = [
        [
            str(i),
            step_title(step.step),
            str(step.rows_in),
            str(step.rows_dropped),
            str(step.rows_out),
            "\n".join(step.changes()) or "no change",
        ]
        for i, step in enumerate(report.steps, 1)
    ]
    print_table(
        f"clean {source} -> {output}",
        ["#", "step", "rows in", "dropped", "rows out", "changes"],
        rows,
    )
    typer.echo(report.summary())
