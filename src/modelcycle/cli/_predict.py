"""``modelcycle predict NAME[@ALIAS] --input FILE --output FILE``: batch scoring."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelcycle.cli._app import app, state
from modelcycle.cli._format import emit_json


@app.command("predict")
def predict(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@ALIAS or NAME@VERSION.")],
    input: Annotated[
        Path,
        typer.Option("--input", "-i", help="CSV or Parquet file, or a folder of Parquet files."),
    ],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="CSV or Parquet file (by extension), or a folder."),
    ],
    id_column: Annotated[
        str | None, typer.Option("--id-column", help="Column copied to the output (row ids).")
    ] = None,
    chunk_rows: Annotated[
        int, typer.Option("--chunk-rows", min=1, help="Rows read and scored at a time.")
    ] = 100_000,
    proba: Annotated[
        bool, typer.Option("--proba", help="Also write one proba_<class> column per class.")
    ] = False,
    executor: Annotated[
        str,
        typer.Option(
            "--executor", help="local, or ray / ray:N / ray://HOST:PORT (one task per file)."
        ),
    ] = "local",
    unknown_categories: Annotated[
        str,
        typer.Option("--unknown-categories", help="reject (default) or unknown (as missing)."),
    ] = "reject",
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Chunks scored at once (default: CPUs).")
    ] = None,
    backend: Annotated[
        str,
        typer.Option("--backend", help="auto (ONNX Runtime when ONNX-ready), onnx or python."),
    ] = "auto",
    json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Score a file with a registered model version; exit 1 naming the file, row and column
    of the first bad value."""
    from modelcycle.registry import Registry
    from modelcycle.serving import score_file

    with state.client() as client:
        result = score_file(
            Registry(client),
            ref,
            input,
            output,
            id_column=id_column,
            chunk_rows=chunk_rows,
            proba=proba,
            executor=executor,
            unknown_categories=unknown_categories,
            workers=workers,
            backend=backend,
            progress=not json,
        )
    if json:
        emit_json({**result.to_dict(), "rows_per_second": round(result.rows_per_second, 1)})
        return
    typer.echo(
        f"scored {result.rows:,} rows with {result.model} ({result.backend}) -> {result.output} "
        f"in {result.seconds:.2f} s ({result.rows_per_second:,.0f} rows/s)"
    )
    for column, count in result.unknown_categories.items():
        typer.echo(f"{count:,} unknown categories of {column!r} scored as missing")
