"""``modelcycle monitor windows|check|grafana|report``: monitoring of a served model.

``monitor windows MODEL`` computes and stores the closed windows of the prediction log;
``monitor check MODEL`` does that and evaluates the alert rules once: exit 0 when no rule
fires, **3** when one does (new, duplicate or cooling down: the condition holds), 1 on an
error; ``monitor grafana`` writes a dashboard over the server's metrics; ``monitor report``
an HTML report of the stored windows and alerts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelcycle.cli._app import state
from modelcycle.cli._format import emit_json, fmt_number, print_table
from modelcycle.cli._monitor import DRIFT_EXIT, monitor_app

__all__ = ["check", "grafana", "report", "windows"]

_Model = Annotated[str, typer.Argument(help="The registered model's name.")]
_Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@monitor_app.command("windows")
def windows(
    model: _Model,
    by: Annotated[str, typer.Option("--by", help="Cut windows by time or count.")] = "time",
    size: Annotated[
        str, typer.Option("--size", help="A duration (15m, 1h, 1d) or a number of rows.")
    ] = "1h",
    reference: Annotated[
        str | None,
        typer.Option("--reference", help="Override the reference: dataset:NAME@ID or a file."),
    ] = None,
    json: _Json = False,
) -> None:
    """Compute and store the closed monitoring windows of MODEL's prediction log."""
    from modelcycle.errors import invalid_value
    from modelcycle.monitoring import monitor_windows

    if by not in ("time", "count"):
        raise invalid_value("--by", by, "expected time or count")
    amount: str | int = size
    if by == "count":
        if not size.isdigit():
            raise invalid_value("--size", size, "expected a number of rows")
        amount = int(size)
    with state.client() as client:
        result = monitor_windows(
            client,
            model,
            by="count" if by == "count" else "time",
            size=amount,
            reference=reference,
        )
    rows = [
        [
            str(w.version),
            w.start.isoformat(timespec="seconds"),
            w.end.isoformat(timespec="seconds"),
            str(w.n_rows),
            "" if w.drift is None else fmt_number(w.drift["features"]["share_drifted"]),
            fmt_number(w.operations["latency_ms"]["p99"]),
            fmt_number(w.operations["error_rate"]),
            "" if w.quality is None else ", ".join(w.quality["degraded"]) or "ok",
        ]
        for w in result.windows
    ]
    if json:
        emit_json(
            {
                "model": model,
                "pending_rows": result.pending_rows,
                "windows": [{**w.__dict__} for w in result.windows],
            }
        )
        return
    title = f"{len(rows)} new windows of {model} ({result.pending_rows} rows pending)"
    header = ["version", "start", "end", "rows", "drifted share", "p99 ms", "error rate", "quality"]
    print_table(title, header, rows)


@monitor_app.command("check")
def check(
    model: _Model,
    spec: Annotated[
        Path | None, typer.Option("--spec", help="The monitoring spec (YAML): rules, webhook.")
    ] = None,
    json: _Json = False,
) -> None:
    """Update MODEL's windows and evaluate the alert rules once; exit 3 when one fires."""
    from modelcycle.monitoring import MonitorSpec, load_monitor_spec
    from modelcycle.monitoring import check as run_check

    rules = load_monitor_spec(spec) if spec is not None else MonitorSpec()
    with state.client() as client:
        result = run_check(client, model, rules)
    if json:
        emit_json(result.to_dict())
    else:
        typer.echo(
            f"{model}: {result.new_windows} new windows, {result.pending_rows} rows pending, "
            f"{len(result.firing)} rules firing"
        )
        for firing in result.firing:
            typer.echo(
                f"{firing.severity.upper()} {firing.rule} (v{firing.version}, {firing.status}): "
                f"{firing.message}"
            )
    if result.fired:
        raise typer.Exit(DRIFT_EXIT)


@monitor_app.command("grafana")
def grafana(
    model: _Model,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the JSON.")],
) -> None:
    """Write a Grafana dashboard (latency, throughput, errors, drift, quality) for MODEL."""
    import json as json_

    from modelcycle.monitoring import grafana_dashboard

    dashboard = grafana_dashboard(model)
    output.write_text(json_.dumps(dashboard, indent=2), encoding="utf-8")
    panels = len(dashboard["panels"])
    typer.echo(f"wrote {output} ({panels} panels)")


@monitor_app.command("report")
def report(
    model: _Model,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the HTML.")],
) -> None:
    """Write MODEL's monitoring report (one self-contained HTML file) from stored windows."""
    from modelcycle.monitoring import monitoring_report

    with state.client() as client:
        path = monitoring_report(client, model, output)
    typer.echo(f"wrote {path}")
