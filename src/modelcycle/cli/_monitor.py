"""``modelcycle monitor ...``: drift checks from the shell.

``monitor reference DATA --output REF.json`` summarises a reference once (mergeable sketches);
``monitor drift --reference REF --current FILE`` compares current data with it, where REF is a
data file, a stored reference, or ``dataset:NAME@ID`` (a dataset version's stored profile).

Exit status of ``monitor drift``: 0 when the dataset does not drift, 3 when it does (so cron
and CI can branch on it), 1 on an error (one line naming the file, column or field), 2 on a
usage error.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelcycle.cli._app import app, state
from modelcycle.cli._format import emit_json, fmt_number, print_table

if TYPE_CHECKING:
    from modelcycle.monitoring import DriftDetector, DriftSnapshot

__all__ = ["DRIFT_EXIT", "drift", "reference"]

#: Exit status of ``monitor drift`` when the dataset drifts.
DRIFT_EXIT = 3

monitor_app = typer.Typer(help="Check served data and predictions for drift.", no_args_is_help=True)
app.add_typer(monitor_app, name="monitor")

_Tests = Annotated[
    list[str] | None,
    typer.Option("--test", help="COLUMN=TEST: ks, wasserstein, psi, chisquare, jensenshannon."),
]
_Thresholds = Annotated[
    list[str] | None, typer.Option("--threshold", help="TEST=VALUE, e.g. wasserstein=0.2.")
]
_Progress = Annotated[
    bool, typer.Option("--progress/--no-progress", help="Show a progress bar on stderr.")
]


def _pairs(items: list[str] | None, option: str) -> dict[str, str]:
    from modelcycle.errors import invalid_value

    pairs = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise invalid_value(f"option {option}", item, "expected KEY=VALUE")
        pairs[key] = value
    return pairs


def _settings(
    tests: list[str] | None, thresholds: list[str] | None, share: float
) -> dict[str, Any]:
    from modelcycle.errors import invalid_value

    numbers = {}
    for test, value in _pairs(thresholds, "--threshold").items():
        try:
            numbers[test] = float(value)
        except ValueError:
            raise invalid_value(f"threshold of {test}", value, "expected a number") from None
    return {
        "tests": _pairs(tests, "--test") or None,
        "thresholds": numbers or None,
        "drift_share": share,
    }


def _rows(source: str | Path) -> int | None:
    """Rows of a Parquet file from its footer (for the progress bar), else None."""
    if str(source).lower().endswith((".parquet", ".pq")) and Path(source).is_file():
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(source).metadata.num_rows)
    return None


@contextmanager
def _bar(show: bool, label: str, total: int | None) -> Iterator[Callable[[float], None] | None]:
    if not show:
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True, console=_stderr()) as progress:
        task = progress.add_task(label, total=total)
        yield lambda rows: progress.advance(task, rows)


def _stderr() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _reference(ref: str, settings: dict[str, Any], show: bool, multivariate: bool) -> DriftDetector:
    from modelcycle.errors import invalid_value
    from modelcycle.monitoring import DriftDetector, from_dataset_version
    from modelcycle.monitoring._detector import is_reference_file

    settings = settings | {"multivariate": multivariate}
    if ref.startswith("dataset:"):
        with state.client() as client:
            return from_dataset_version(client, ref.removeprefix("dataset:"), **settings)
    if is_reference_file(ref):
        stored = DriftDetector.load(ref)
        params = stored.get_params() | {k: v for k, v in settings.items() if v is not None}
        for name, value in params.items():
            setattr(stored, name, value)
        stored._check()
        if multivariate and stored.reference_sample_ is None:
            why = "it keeps no row sample: build it with monitor reference --multivariate"
            raise invalid_value("stored reference", ref, why)
        return stored.reset()
    with _bar(show, "reference", _rows(ref)) as progress:
        return DriftDetector(**settings).fit(ref, progress)


@monitor_app.command("reference")
def reference(
    data: Annotated[Path, typer.Argument(help="The reference data: CSV, Parquet or JSON Lines.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to store the reference.")],
    multivariate: Annotated[
        bool, typer.Option("--multivariate", help="Also keep a row sample for a domain classifier.")
    ] = False,
    progress: _Progress = False,
) -> None:
    """Summarise reference data once into mergeable sketches, stored as JSON for later checks."""
    from modelcycle.monitoring import DriftDetector

    with _bar(progress, "reference", _rows(data)) as advance:
        detector = DriftDetector(multivariate=multivariate).fit(data, advance)
    path = detector.save(output)
    size = os.path.getsize(path)
    typer.echo(f"wrote {path} ({len(detector.reference_)} columns, {size:,} bytes)")


@monitor_app.command("drift")
def drift(
    reference_: Annotated[
        str,
        typer.Option(
            "--reference",
            help="A data file, a stored reference (monitor reference) or dataset:NAME@ID.",
        ),
    ],
    current: Annotated[
        Path, typer.Option("--current", help="Current data: CSV, Parquet or JSON Lines.")
    ],
    json: Annotated[bool, typer.Option("--json", help="Print the drift snapshot as JSON.")] = False,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the HTML report here.")
    ] = None,
    test: _Tests = None,
    threshold: _Thresholds = None,
    drift_share: Annotated[
        float, typer.Option("--drift-share", help="Share of drifted columns that is dataset drift.")
    ] = 0.5,
    multivariate: Annotated[
        bool, typer.Option("--multivariate", help="Also run a domain classifier (ROC AUC).")
    ] = False,
    progress: _Progress = False,
) -> None:
    """Compare current data with a reference, column by column; exit 3 on dataset drift."""
    from modelcycle.monitoring import drift_report

    settings = _settings(test, threshold, drift_share)
    detector = _reference(reference_, settings, progress, multivariate)
    with _bar(progress, "current", _rows(current)) as advance:
        snapshot = detector.score(current, advance)
    if report is not None:
        drift_report(snapshot, report, title=f"Data drift: {current.name}")
    if json:
        emit_json(snapshot.to_dict())
    else:
        _print(snapshot)
    if report is not None:
        typer.echo(f"wrote {report}", err=json)
    if snapshot.dataset_drift:
        raise typer.Exit(DRIFT_EXIT)


def _print(snapshot: DriftSnapshot) -> None:
    verdict = "DATASET DRIFT" if snapshot.dataset_drift else "no dataset drift"
    title = (
        f"{verdict}: {snapshot.drifted_columns} of {snapshot.tested_columns} columns drifted "
        f"(reference {snapshot.reference_rows:,} rows, current {snapshot.current_rows:,})"
    )
    header = ["column", "drift", "test", "statistic", "threshold", "p-value", "effect size"]
    rows = [
        [
            c.column,
            "DRIFT" if c.drifted else "ok",
            c.test,
            fmt_number(c.statistic),
            fmt_number(c.threshold),
            fmt_number(c.p_value),
            f"{c.effect_measure} {fmt_number(c.effect_size)}",
        ]
        for c in snapshot.columns
    ]
    print_table(title, header, rows)
    for skipped in snapshot.skipped:
        typer.echo(f"not tested: {skipped.column}: {skipped.reason}")
    if snapshot.multivariate is not None:
        domain = snapshot.multivariate
        state_ = "DRIFT" if domain.drifted else "ok"
        typer.echo(
            f"domain classifier ROC AUC {domain.roc_auc:.3f} ({state_}, "
            f"threshold {domain.threshold})"
        )


# the commands over the prediction log (windows, check, grafana, report) register themselves
from modelcycle.cli import _monitor_ops  # noqa: E402, F401
