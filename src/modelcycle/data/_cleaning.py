"""Data cleaning as data: the spec of what to do, the report of what was done.

A cleaning spec is a list of steps applied in order, each one of four types:

    duplicates  exact duplicate rows, or rows repeating a key (``subset``); keep first or last
    missing     nulls: drop rows or columns, impute mean/median/mode/constant, flag with
                ``<col>_missing`` indicator columns
    outliers    IQR fences or z-scores (clip or drop), an isolation forest (drop rows)
    coerce      convert columns to a kind; values that do not parse become null or drop their
                row, and are counted per column with examples

The spec is pydantic, validated once: :func:`load_cleaning_spec` reads it from YAML (a file
with ``steps:`` or a pipeline spec's ``data.cleaning`` section) and turns any error into one
:class:`~modelcycle.errors.SpecError` line naming the file, the line and the key path, e.g.
``cleaning.yaml:7: steps[1].strategy: input should be ...`` (the form the pipeline spec's
loader uses too).

Reports are data first: a :class:`CleaningReport` is a JSON-serialisable snapshot (rows in and
out, and per step the rows dropped with their reason, values imputed and clipped per column,
columns dropped, indicators added, coercion failures). It keeps the invariant
``rows_in - sum(step.rows_dropped) == rows_out``: nothing is dropped uncounted. The HTML view
(:func:`cleaning_report_html`) renders a snapshot and never recomputes. The steps themselves
(estimators fitted on training data, applied to any data) live in ``_cleaning_steps``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modelcycle._yamlspec import read_yaml, validate_section
from modelcycle.data._schema import ColumnKind
from modelcycle.errors import SpecError
from modelcycle.reports import Page, escape, table

if TYPE_CHECKING:
    import yaml

__all__ = [
    "BaseStepConfig",
    "CleaningReport",
    "CleaningSpec",
    "CoerceConfig",
    "DuplicatesConfig",
    "MissingConfig",
    "OutliersConfig",
    "StepConfig",
    "StepReport",
    "cleaning_report_html",
    "load_cleaning_spec",
]


class BaseStepConfig(BaseModel):
    """What every step config shares: unknown keys are errors, configs are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DuplicatesConfig(BaseStepConfig):
    """Drop repeated rows: exact duplicates (``subset`` None) or rows repeating a key."""

    type: Literal["duplicates"] = "duplicates"
    subset: list[str] | None = Field(default=None, min_length=1)
    keep: Literal["first", "last"] = "first"


class MissingConfig(BaseStepConfig):
    """Handle nulls: drop rows or columns, or impute (with optional ``<col>_missing`` flags)."""

    type: Literal["missing"] = "missing"
    columns: list[str] | None = Field(default=None, min_length=1)
    strategy: Literal["drop_rows", "drop_column", "mean", "median", "mode", "constant"]
    value: bool | int | float | str | None = None
    indicator: bool = False
    max_null_share: float | None = Field(default=None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _coherent(self) -> MissingConfig:
        if (self.strategy == "constant") != (self.value is not None):
            raise ValueError("value is required by strategy constant and used by no other")
        if self.max_null_share is not None and self.strategy != "drop_column":
            raise ValueError("max_null_share is only used by strategy drop_column")
        if self.indicator and self.strategy == "drop_rows":
            raise ValueError("indicator columns would be all 0 after drop_rows")
        return self


class OutliersConfig(BaseStepConfig):
    """Clip or drop outlying values: IQR fences, z-scores, or an isolation forest (rows)."""

    type: Literal["outliers"] = "outliers"
    columns: list[str] | None = Field(default=None, min_length=1)
    method: Literal["iqr", "zscore", "isolation_forest"] = "iqr"
    threshold: float | None = Field(default=None, gt=0.0)
    action: Literal["clip", "drop"] = "clip"
    seed: int = 0

    @model_validator(mode="after")
    def _coherent(self) -> OutliersConfig:
        if self.method == "isolation_forest":
            if self.action != "drop":
                raise ValueError("isolation_forest flags whole rows: set action: drop")
            if self.threshold is not None and self.threshold > 0.5:
                raise ValueError("threshold (the contamination) must be in (0, 0.5]")
        return self


class CoerceConfig(BaseStepConfig):
    """Convert columns to a kind; values that do not parse become null or drop their row."""

    type: Literal["coerce"] = "coerce"
    columns: dict[str, ColumnKind] = Field(min_length=1)
    on_failure: Literal["null", "drop_row"] = "null"

    @field_validator("on_failure", mode="before")
    @classmethod
    def _yaml_null(cls, value: Any) -> Any:
        return "null" if value is None else value  # YAML reads a bare `null` as None

    @field_validator("columns")
    @classmethod
    def _no_id(cls, columns: dict[str, ColumnKind]) -> dict[str, ColumnKind]:
        for name, kind in columns.items():
            if kind is ColumnKind.ID:
                raise ValueError(f"column {name!r}: id is not a type to convert to (use text)")
        return columns


#: One entry of a cleaning spec's ``steps`` list, chosen by its ``type``.
StepConfig = Annotated[
    DuplicatesConfig | MissingConfig | OutliersConfig | CoerceConfig, Field(discriminator="type")
]


@dataclass
class StepReport:
    """What one step changed.

    ``step`` is the step's config; ``columns`` the columns it looked at (defaults resolved);
    ``rows_dropped`` (exact, counted by the step base class) with its ``reason``;
    ``rows_flagged`` the rows dropped because of each column (a row can be flagged by several
    columns); ``imputed`` and ``fill_values`` how many nulls were filled and with what;
    ``clipped`` how many values were raised to the low bound or lowered to the high one, and
    ``bounds`` the bounds learned at fit; ``coercion_failures`` per column ``count`` and up to
    5 ``examples``; ``settings`` the derived values applied (e.g. a default threshold).
    Per-column changes list only the columns that changed.
    """

    step: dict[str, Any]
    rows_in: int = 0
    rows_out: int = 0
    rows_dropped: int = 0
    reason: str = ""
    columns: list[str] = field(default_factory=list)
    rows_flagged: dict[str, int] = field(default_factory=dict)
    imputed: dict[str, int] = field(default_factory=dict)
    fill_values: dict[str, Any] = field(default_factory=dict)
    clipped: dict[str, dict[str, int]] = field(default_factory=dict)
    bounds: dict[str, list[float]] = field(default_factory=dict)
    columns_dropped: list[str] = field(default_factory=list)
    indicators_added: list[str] = field(default_factory=list)
    coercion_failures: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepReport:
        """Rebuild a report from :meth:`to_dict` output."""
        return cls(**data)

    def changes(self) -> list[str]:
        """One short line per kind of change, for tables and logs."""
        lines = []
        if self.rows_dropped:
            lines.append(f"dropped {self.rows_dropped} rows: {self.reason}")
        if self.imputed:
            lines.append("imputed " + _counts(self.imputed))
        if self.clipped:
            lines.append(
                "clipped " + _counts({c: n["low"] + n["high"] for c, n in self.clipped.items()})
            )
        if self.coercion_failures:
            lines.append(
                "failed to parse "
                + _counts({c: f["count"] for c, f in self.coercion_failures.items()})
            )
        if self.columns_dropped:
            lines.append("dropped columns " + ", ".join(self.columns_dropped))
        if self.indicators_added:
            lines.append("added " + ", ".join(self.indicators_added))
        return lines


def _counts(per_column: dict[str, int]) -> str:
    return ", ".join(f"{column} {count}" for column, count in per_column.items())


_STEP_CONFIGS: dict[str, type[BaseStepConfig]] = {
    "duplicates": DuplicatesConfig,
    "missing": MissingConfig,
    "outliers": OutliersConfig,
    "coerce": CoerceConfig,
}


class CleaningSpec(BaseModel):
    """The steps of a cleaning pass, applied in order (the pipeline spec's ``cleaning:``).

    >>> spec = CleaningSpec.from_dict({"steps": [{"type": "missing", "strategy": "median"}]})
    >>> spec.steps[0].strategy
    'median'
    """

    model_config = ConfigDict(extra="forbid")

    steps: list[StepConfig] = Field(default_factory=list)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "cleaning spec") -> CleaningSpec:
        """Validate ``data``; any problem is one :class:`SpecError` naming the key path."""
        return _validate(data, [], source, None)


@dataclass
class CleaningReport:
    """What a cleaning pass changed: rows and columns in and out, and one report per step."""

    rows_in: int
    rows_out: int
    columns_in: int
    columns_out: int
    steps: list[StepReport] = field(default_factory=list)

    @property
    def rows_dropped(self) -> int:
        """Rows dropped by all steps together (always ``rows_in - rows_out``)."""
        return sum(step.rows_dropped for step in self.steps)

    def summary(self) -> str:
        """One line: rows in and out, values imputed and clipped, parse failures."""
        imputed = sum(n for step in self.steps for n in step.imputed.values())
        clipped = sum(n["low"] + n["high"] for s in self.steps for n in s.clipped.values())
        failed = sum(f["count"] for s in self.steps for f in s.coercion_failures.values())
        return (
            f"{self.rows_in} rows in, {self.rows_out} out ({self.rows_dropped} dropped); "
            f"{imputed} values imputed, {clipped} clipped, {failed} failed to parse"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``rows_dropped`` included for readers; ignored by :meth:`from_dict`)."""
        data = asdict(self)
        data["rows_dropped"] = self.rows_dropped
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CleaningReport:
        """Rebuild a report from :meth:`to_dict` output."""
        fields = {k: v for k, v in data.items() if k not in ("rows_dropped", "steps")}
        return cls(**fields, steps=[StepReport.from_dict(s) for s in data.get("steps", [])])


def load_cleaning_spec(path: str | os.PathLike[str]) -> CleaningSpec:
    """Read a cleaning spec from a YAML file.

    The file holds either top-level ``steps:`` or a whole pipeline spec whose
    ``data: {cleaning: {steps: ...}}`` section is read (the rest is left to the pipeline).
    Raises :class:`SpecError` with the file, line and key path of the first problem.
    """
    source = Path(path)
    if not source.is_file():
        raise SpecError(f"{source}: no such file")
    data, root = read_yaml(source)
    section = data.get("data") if isinstance(data, dict) else None
    if isinstance(data, dict) and "steps" in data:
        prefix: list[str] = []
    elif isinstance(section, dict) and "cleaning" in section:
        prefix = ["data", "cleaning"]
    else:
        raise SpecError(
            f"{source}: no cleaning steps: expected top-level 'steps:' or a "
            "pipeline spec with 'data: {cleaning: {steps: [...]}}'"
        )
    return _validate(data, prefix, str(source), root)


def _explain(error: dict[str, Any], parent: Any) -> str | None:
    """Word step-type and unknown-key errors with the choices a user has."""
    kind = error["type"]
    if kind == "union_tag_invalid":
        return (
            f"unknown step type {error['ctx']['tag']!r}; expected one of {', '.join(_STEP_CONFIGS)}"
        )
    if kind == "union_tag_not_found":
        return f"missing key 'type' (one of {', '.join(_STEP_CONFIGS)})"
    if (
        kind == "extra_forbidden"
        and isinstance(parent, dict)
        and (parent.get("type") in _STEP_CONFIGS)
    ):
        names = [n for n in _STEP_CONFIGS[parent["type"]].model_fields if n != "type"]
        return f"unknown key for a {parent['type']} step (expected one of {', '.join(names)})"
    return None


def _validate(data: Any, prefix: list[str], source: str, root: yaml.Node | None) -> CleaningSpec:
    return validate_section(
        CleaningSpec, data, source=source, root=root, prefix=prefix, explain=_explain
    )


def cleaning_report_html(report: CleaningReport) -> Page:
    """The report as an HTML page: an overview, then a table per step."""
    failed = any(step.coercion_failures for step in report.steps)
    page = Page(
        title="Cleaning report",
        verdict=report.summary(),
        level="warn" if failed else "ok",
        subtitle=f"{len(report.steps)} steps, {report.columns_in} columns in, "
        f"{report.columns_out} out",
    )
    page.add(
        "Steps",
        table(
            ["#", "step", "rows in", "rows dropped", "rows out", "changes"],
            [
                [
                    i,
                    step_title(s.step),
                    s.rows_in,
                    s.rows_dropped,
                    s.rows_out,
                    "; ".join(s.changes()) or "no change",
                ]
                for i, s in enumerate(report.steps, 1)
            ],
        ),
    )
    for i, step in enumerate(report.steps, 1):
        page.add(f"{i}. {step_title(step.step)}", _step_body(step))
    return page


def step_title(step: dict[str, Any]) -> str:
    """A short name for a step config, e.g. ``missing: median`` or ``outliers: iqr, clip``."""
    kind = step.get("type", "?")
    if kind == "duplicates":
        subset = step.get("subset")
        detail = "key " + ", ".join(subset) if subset else "exact rows"
    elif kind == "missing":
        detail = str(step.get("strategy"))
    elif kind == "outliers":
        detail = f"{step.get('method')}, {step.get('action')}"
    else:
        detail = ", ".join(f"{c} to {k}" for c, k in dict(step.get("columns") or {}).items())
    return f"{kind}: {detail}"


_COLUMN_FIELDS: list[tuple[str, Any]] = [
    ("rows dropped for it", lambda s, c: s.rows_flagged.get(c)),
    ("imputed", lambda s, c: s.imputed.get(c)),
    ("fill value", lambda s, c: s.fill_values.get(c)),
    ("clipped low", lambda s, c: s.clipped.get(c, {}).get("low")),
    ("clipped high", lambda s, c: s.clipped.get(c, {}).get("high")),
    ("bounds", lambda s, c: _bounds(s.bounds.get(c))),
    ("failed to parse", lambda s, c: s.coercion_failures.get(c, {}).get("count")),
    (
        "examples",
        lambda s, c: (
            ", ".join(map(repr, s.coercion_failures.get(c, {}).get("examples", []))) or None
        ),
    ),
]


def _bounds(pair: list[float] | None) -> str | None:
    return None if pair is None else f"[{pair[0]:.4g}, {pair[1]:.4g}]"


def _step_body(step: StepReport) -> str:
    lines = [f"{step.rows_in} rows in, {step.rows_dropped} dropped, {step.rows_out} out"]
    lines += step.changes()
    lines += [f"{name}: {value}" for name, value in step.settings.items()]
    text = "".join(f"<p>{escape(line)}</p>" for line in lines)
    columns = list(
        dict.fromkeys(
            [
                *step.rows_flagged,
                *step.imputed,
                *step.clipped,
                *step.bounds,
                *step.coercion_failures,
            ]
        )
    )
    shown = [
        (name, get)
        for name, get in _COLUMN_FIELDS
        if any(get(step, c) is not None for c in columns)
    ]
    if not columns or not shown:
        return text
    rows = [
        [c, *("" if get(step, c) is None else get(step, c) for _, get in shown)] for c in columns
    ]
    return text + table(["column", *(name for name, _ in shown)], rows)
