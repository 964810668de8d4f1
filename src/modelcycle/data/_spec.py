"""The ``data:`` section of the pipeline spec: one validated object for the whole stage.

data:
  source: {path: penguins.csv}
  schema:
    bill_length_mm: {kind: numeric, nullable: false, min: 30, max: 65}
    species: {kind: categorical, categories: [Adelie, Chinstrap, Gentoo]}
  target: {column: species}
  validation: {min_rows: 100}
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelcycle.data._cleaning import CleaningSpec
from modelcycle.data._labeling import TargetSpec
from modelcycle.data._preprocessing import PreprocessingSpec
from modelcycle.data._schema import ColumnSchema, Schema
from modelcycle.data._sources import SourceSpec
from modelcycle.data._splitting import SplitSpec
from modelcycle.data._validation import ValidationSpec

__all__ = ["DataSpec"]


class DataSpec(BaseModel):
    """Everything the data stage needs; every part is optional but the source."""

    model_config = ConfigDict(extra="forbid")

    source: SourceSpec | None = None
    schema_: dict[str, ColumnSchema] = Field(default_factory=dict, alias="schema")
    target: TargetSpec | None = None
    validation: ValidationSpec = Field(default_factory=ValidationSpec)
    cleaning: CleaningSpec = Field(default_factory=CleaningSpec)
    split: SplitSpec = Field(default_factory=SplitSpec)
    preprocessing: PreprocessingSpec = Field(default_factory=PreprocessingSpec)

    @property
    def declared_schema(self) -> Schema:
        """The declared columns as a :class:`Schema`."""
        return Schema(columns=dict(self.schema_))

    def steps(self) -> dict[str, Any]:
        """The configuration that shapes the stored data (it enters the dataset version id):
        the declared schema, the target and the cleaning steps."""
        return self.model_dump(
            mode="json", by_alias=True, include={"schema_", "target", "cleaning"}
        )
