"""``modelcycle data split SOURCE``: train/validation/test Parquet files and a split report.

The rows are taken from the Arrow table as read, so each file keeps the source's column types;
only a resampled training split (``--imbalance oversample|undersample|smote``) is rebuilt from
pandas. ``split.json`` records the summary (and ``folds.json`` the k-fold positions into
``train.parquet``) next to the files, so the split can be inspected and reproduced later.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelcycle.cli._data import data_app
from modelcycle.cli._format import emit_json, fmt_number, print_table

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from modelcycle.data._splitting import Splits, SplitSpec

__all__ = ["split_command"]

_RESAMPLERS = ("oversample", "undersample", "smote")


def _spec(options: dict[str, Any]) -> SplitSpec:
    """The split spec from command-line options; a bad option becomes a one-line SpecError."""
    from pydantic import ValidationError

    from modelcycle.data._splitting import SplitSpec
    from modelcycle.errors import SpecError

    try:
        spec = SplitSpec.model_validate(options)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else ""
        option = f"--{field.replace('_', '-')}" if field else "split options"
        message = str(error.get("ctx", {}).get("error", error["msg"]))
        raise SpecError(f"{option}: {message}") from None
    if spec.folds and spec.imbalance.strategy in _RESAMPLERS:
        raise SpecError(
            "split: --folds with --imbalance resampling would put copies of one row in "
            "different folds; resample inside each fold at training time instead"
        )
    return spec


def _write(
    table: pa.Table, splits: Splits, resampled: pd.DataFrame | None, folder: Path
) -> dict[str, str]:
    """Write each non-empty split as Parquet; return split name -> file path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, positions in splits.parts().items():
        if not len(positions):
            continue
        if name == "train" and resampled is not None:
            rows = pa.Table.from_pandas(resampled, preserve_index=False)
        else:
            rows = table.take(pa.array(positions))
        path = folder / f"{name}.parquet"
        pq.write_table(rows, path)
        written[name] = str(path)
    return written


def _report(
    source: Path,
    df: pd.DataFrame,
    splits: Splits,
    target: str,
    resampled: pd.DataFrame | None,
) -> dict[str, Any]:
    from modelcycle.data._imbalance import class_weights, imbalance_report

    report: dict[str, Any] = {"source": str(source), **splits.to_dict()}
    train = df[target].iloc[splits.train]
    strategy = splits.spec.imbalance.strategy
    if "class_balance" in report and strategy == "class_weight":
        report["class_weights"] = {str(k): v for k, v in class_weights(train).items()}
    if "class_balance" in report and resampled is not None:
        report["resampled_train"] = imbalance_report(resampled[target])
    return report


def _save_records(folder: Path, report: dict[str, Any], splits: Splits) -> None:
    (folder / "split.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    if splits.folds:
        folds = [
            {"train": fit.tolist(), "validation": check.tolist()} for fit, check in splits.folds
        ]
        (folder / "folds.json").write_text(json.dumps({"folds": folds}) + "\n")


def _print_sizes(report: dict[str, Any]) -> None:
    sizes, rows = report["sizes"], max(report["rows"], 1)
    extra = [c for c in ("groups", "time_ranges") if c in report]
    columns = ["split", "rows", "share", "file"]
    columns += ["groups"] if "groups" in extra else []
    columns += ["from", "to"] if "time_ranges" in extra else []
    table = []
    for name, size in sizes.items():
        row = [name, str(size), f"{size / rows:.1%}", report["files"].get(name, "(empty)")]
        if "groups" in extra:
            row.append(str(report["groups"][name]))
        if "time_ranges" in extra:
            moments = report["time_ranges"].get(name, {})
            row += [str(moments.get("min", "")), str(moments.get("max", ""))]
        table.append(row)
    title = f"{report['source']}: {report['method']} split, seed {report['seed']}"
    print_table(title, columns, table)


def _print_balance(report: dict[str, Any]) -> None:
    if "target_range" in report:
        ranges = report["target_range"]
        rows = [
            [n, *(fmt_number(r[k]) for k in ("mean", "std", "min", "max"))]
            for n, r in ranges.items()
        ]
        print_table(f"target {report['target']}", ["split", "mean", "std", "min", "max"], rows)
        return
    balance = report["class_balance"]
    names = list(balance)
    classes = list(dict.fromkeys(label for n in names for label in balance[n]["counts"]))

    def cell(name: str, label: str) -> str:
        counts, shares = balance[name]["counts"], balance[name]["shares"]
        return f"{counts.get(label, 0)} ({shares.get(label, 0.0):.1%})"

    rows = [[label, *(cell(n, label) for n in names)] for label in classes]
    print_table(f"class balance of {report['target']}", ["class", *names], rows)
    train = balance["train"]
    typer.echo(f"train imbalance: ratio {train['ratio']:.3g} ({train['verdict']})")
    if "resampled_train" in report:
        after = report["resampled_train"]
        typer.echo(f"after resampling: {after['rows']} rows, ratio {after['ratio']:.3g}")
    if "class_weights" in report:
        weights = ", ".join(f"{k}={v:.3g}" for k, v in report["class_weights"].items())
        typer.echo(f"class weights: {weights}")


@data_app.command("split")
def split_command(
    source: Annotated[Path, typer.Argument(help="CSV, Parquet or JSON Lines file.")],
    target: Annotated[str, typer.Option("--target", help="The label column.")],
    output_dir: Annotated[
        Path, typer.Option("--output-dir", help="Folder for train/validation/test.parquet.")
    ],
    method: Annotated[
        str, typer.Option("--method", help="random, stratified, group or time.")
    ] = "random",
    train: Annotated[float, typer.Option("--train", help="Training fraction.")] = 0.7,
    validation: Annotated[float, typer.Option("--validation", help="Validation fraction.")] = 0.15,
    test: Annotated[float, typer.Option("--test", help="Test fraction.")] = 0.15,
    group: Annotated[
        str | None, typer.Option("--group", help="Group column (method group).")
    ] = None,
    time: Annotated[str | None, typer.Option("--time", help="Time column (method time).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of every random choice.")] = 42,
    folds: Annotated[
        int | None, typer.Option("--folds", help="Also write k-fold positions (folds.json).")
    ] = None,
    imbalance: Annotated[
        str,
        typer.Option(
            "--imbalance",
            help="none, class_weight (report weights), or resample the training split: "
            "oversample, undersample, smote.",
        ),
    ] = "none",
    json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Split a dataset into train/validation/test Parquet files and report their balance."""
    from modelcycle.data import read_source
    from modelcycle.data._splitting import split

    spec = _spec(
        {
            "method": method,
            "train": train,
            "validation": validation,
            "test": test,
            "group": group,
            "time": time,
            "seed": seed,
            "folds": folds,
            "imbalance": {"strategy": imbalance},
        }
    )
    table, _ = read_source(source)
    df = table.to_pandas()
    splits = split(df, spec, target)
    resampled = splits.frames(df, target)["train"] if imbalance in _RESAMPLERS else None
    report = _report(source, df, splits, target, resampled)
    report["files"] = _write(table, splits, resampled, output_dir)
    _save_records(output_dir, report, splits)
    if json:
        emit_json(report)
        return
    _print_sizes(report)
    _print_balance(report)
