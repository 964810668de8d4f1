"""Output helpers shared by commands: JSON for machines, rich tables for people."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import typer

__all__ = ["emit_json", "fmt_number", "print_table"]


def emit_json(payload: Any) -> None:
    """Print ``payload`` as JSON on stdout (NaN and infinities as strings)."""
    typer.echo(json.dumps(payload, indent=2, default=str, allow_nan=False))


def fmt_number(value: float | None) -> str:
    """A metric for a table cell: 4 significant digits, blanks for missing values."""
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Render a table on stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    console = Console()
    if not console.is_terminal:  # piped or captured: do not squeeze into 80 columns
        console = Console(width=200)
    console.print(table)
