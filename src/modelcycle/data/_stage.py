"""The data stage end to end, as the CLI and the pipeline runner use it.

``load_table`` reads the source (the command line's SOURCE overrides the spec's path but keeps
its reading options) and derives the target; ``validate_table`` runs the spec's checks;
``build_version`` goes all the way to a stored, profiled dataset version.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from modelcycle.data._cleaning import CleaningReport
from modelcycle.data._labeling import TargetSpec, make_target
from modelcycle.data._profile import DatasetProfile, profile_table
from modelcycle.data._schema import Schema, infer_schema
from modelcycle.data._sources import ReadReport, SourceSpec, read_source
from modelcycle.data._spec import DataSpec
from modelcycle.data._validation import ValidationReport, validate
from modelcycle.data._versions import (
    content_digest,
    create_version,
    find_version,
    load_profile,
    version_id_for,
)
from modelcycle.errors import DataError, invalid_value
from modelcycle.types import DatasetVersion

if TYPE_CHECKING:
    from modelcycle.tracking import Client

__all__ = [
    "CleanedData",
    "PreparedDataset",
    "build_version",
    "clean_data",
    "load_table",
    "reference_schema",
    "store_version",
    "target_spec",
    "validate_table",
    "write_table",
]


def _source_spec(spec: DataSpec, source: str | None) -> SourceSpec:
    if source is None:
        if spec.source is None:
            raise invalid_value(
                "data.source", None, "give a SOURCE file or data.source in the spec"
            )
        return spec.source
    if spec.source is not None and spec.source.path is not None:
        return spec.source.model_copy(update={"path": source})
    return SourceSpec(path=source)


def load_table(spec: DataSpec, source: str | Any | None = None) -> tuple[pa.Table, ReadReport]:
    """Read the source (a file path, a DataFrame, or the spec's own source) and add an
    expression target if the spec defines one."""
    if source is not None and not isinstance(source, str):
        table, report = read_source(source)
    else:
        table, report = read_source(_source_spec(spec, source))
    if spec.target is not None and spec.target.expression is not None:
        frame = make_target(table.to_pandas(), spec.target, report.source)
        table = table.append_column(spec.target.name, pa.array(frame[spec.target.name]))
    return table, report


def reference_schema(reference: str, client: Client | None = None) -> Schema:
    """The schema to match: a dataset version (``NAME@ID``) in the store, or a data file."""
    if Path(reference).is_file():
        return infer_schema(read_source(reference)[0])
    if client is None:
        raise invalid_value("reference", reference, "no such file")
    version = client.metadata.datasets.get(reference)
    return Schema.model_validate(version.schema)


def validate_table(
    table: pa.Table, spec: DataSpec, source: str, reference: Schema | None = None
) -> ValidationReport:
    """Run the spec's checks on ``table``."""
    target = spec.target.output if spec.target is not None else None
    return validate(
        table,
        spec.validation,
        declared=spec.declared_schema,
        target=target,
        reference=reference,
        source=source,
    )


@dataclass
class PreparedDataset:
    """What building a dataset version did, stage by stage."""

    version: DatasetVersion
    table: pa.Table
    read: ReadReport
    validation: ValidationReport
    cleaning: CleaningReport | None
    profile: DatasetProfile

    def to_dict(self) -> dict[str, Any]:
        """JSON summary (the version record and each stage's report)."""
        return {
            "version": self.version.to_dict(),
            "read": self.read.to_dict(),
            "validation": {k: v for k, v in self.validation.to_dict().items() if k != "checks"},
            "cleaning": None if self.cleaning is None else self.cleaning.to_dict(),
        }


@dataclass
class CleanedData:
    """The data stage up to cleaning: what training needs, before anything is stored."""

    raw: pa.Table
    table: pa.Table
    read: ReadReport
    validation: ValidationReport
    cleaning: CleaningReport | None
    input_digest: str

    def version_id(self, spec: DataSpec) -> str:
        """The id the dataset version of this data will have (known before it is stored)."""
        return version_id_for(self.input_digest, spec.steps())


def clean_data(
    spec: DataSpec, source: str | Any | None = None, *, force: bool = False
) -> CleanedData:
    """Read, validate and clean; refuses (DataError) when an error-level validation check
    fails, unless ``force``."""
    from modelcycle.data._cleaning_steps import clean

    table, read = load_table(spec, source)
    validation = validate_table(table, spec, read.source)
    if not validation.passed and not force:
        first = validation.errors[0]
        raise DataError(
            f"{read.source}: validation failed with {len(validation.errors)} "
            f"error(s), first: {first.column or 'dataset'}: {first.message} "
            "(see `modelcycle data validate`; --force to version anyway)"
        )
    cleaning = None
    cleaned = table
    if spec.cleaning.steps:
        frame, cleaning = clean(table.to_pandas(), spec.cleaning)
        cleaned = pa.Table.from_pandas(frame, preserve_index=False)
    return CleanedData(table, cleaned, read, validation, cleaning, content_digest(table))


def store_version(client: Client, spec: DataSpec, name: str, data: CleanedData) -> PreparedDataset:
    """Profile the cleaned data and store it as a dataset version (idempotent).

    When the same input and steps are stored already (a pipeline run again on the same file),
    the stored version is returned with its stored profile: the data is not profiled again.
    """
    existing = find_version(client, name, data.version_id(spec))
    stored = None if existing is None else load_profile(client, existing)
    if existing is not None and stored is not None:
        profiled = DatasetProfile.from_dict(stored)
        return PreparedDataset(
            existing, data.table, data.read, data.validation, data.cleaning, profiled
        )
    schema = infer_schema(data.table, spec.declared_schema)
    profile = profile_table(data.table, schema)
    lineage = {
        "source": data.read.to_dict(),
        "query": getattr(spec.source, "query", None),
        "validation": {
            "passed": data.validation.passed,
            "errors": len(data.validation.errors),
            "warnings": len(data.validation.warnings),
        },
        "cleaning": None if data.cleaning is None else data.cleaning.to_dict(),
    }
    version = create_version(
        client,
        name,
        data.table,
        input_digest=data.input_digest,
        steps=spec.steps(),
        schema=schema.model_dump(mode="json"),
        lineage=lineage,
        profile=profile.to_dict(),
        # unchanged by cleaning: the cleaned data's digest is the input's
        content_sha256=data.input_digest if data.table is data.raw else None,
    )
    return PreparedDataset(version, data.table, data.read, data.validation, data.cleaning, profile)


def build_version(
    client: Client,
    spec: DataSpec,
    name: str,
    source: str | Any | None = None,
    *,
    force: bool = False,
) -> PreparedDataset:
    """Read, validate, clean, profile and store a dataset version (idempotent).

    Refuses (DataError) when an error-level validation check fails, unless ``force``.
    """
    return store_version(client, spec, name, clean_data(spec, source, force=force))


def target_spec(spec: DataSpec) -> TargetSpec:
    """The spec's target, or a clear error when it has none."""
    if spec.target is None:
        raise invalid_value("data.target", None, "the spec defines no target column")
    return spec.target


def write_table(frame: Any, path: str | Path) -> Path:
    """Write a DataFrame as CSV or Parquet, by the file's suffix."""
    target = Path(path)
    if target.suffix.lower() in (".parquet", ".pq"):
        frame.to_parquet(target, index=False)
    elif target.suffix.lower() == ".csv":
        frame.to_csv(target, index=False)
    else:
        raise invalid_value("output file", str(target), "use a .csv or .parquet suffix")
    return target
