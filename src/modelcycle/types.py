"""The shared record types of modelcycle.

Records are plain frozen dataclasses: what the stores return and the interfaces format. They are
immutable once written; each has ``to_dict`` for ``--json`` output and JSON APIs.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "AliasMove",
    "ArtifactInfo",
    "AuditEvent",
    "DatasetInput",
    "DatasetVersion",
    "Experiment",
    "FeedbackRecord",
    "IngestCounts",
    "KeyInfo",
    "MetricPoint",
    "ModelVersion",
    "PredictionEvent",
    "PredictionRecord",
    "Run",
    "RunStatus",
]


class RunStatus(str, enum.Enum):
    """Life states of a run. A run starts RUNNING and ends in exactly one other state."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminal(self) -> bool:
        """Whether the run has ended."""
        return self is not RunStatus.RUNNING


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan", "inf", "-inf": JSON has no literal for them
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


class _Record:
    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of this record (datetimes as ISO 8601, NaN as "nan")."""
        result: dict[str, Any] = _jsonable(self)
        return result


@dataclass(frozen=True)
class Experiment(_Record):
    """A named group of runs."""

    experiment_id: int
    name: str
    created_at: datetime


@dataclass(frozen=True)
class MetricPoint(_Record):
    """One value of a metric series: ``value`` at ``step``, logged at ``timestamp``.

    ``value`` may be NaN or +/-inf: a diverged loss is information, not an error.
    """

    key: str
    value: float
    step: int
    timestamp: datetime


@dataclass(frozen=True)
class DatasetInput(_Record):
    """A reference from a run to a dataset it read: name, content digest, where, what for."""

    name: str
    digest: str
    source: str = ""
    context: str = ""


@dataclass(frozen=True)
class ArtifactInfo(_Record):
    """A named artifact of a run, stored content-addressed under ``sha256``."""

    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Run(_Record):
    """One execution: its state, what it was given and what it measured.

    ``metrics`` holds the latest value of every metric (highest step, then latest time).
    """

    run_id: str
    experiment_id: int
    experiment_name: str
    name: str
    status: RunStatus
    start_time: datetime
    end_time: datetime | None
    parent_run_id: str | None
    error: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    inputs: tuple[DatasetInput, ...] = ()
    artifacts: tuple[ArtifactInfo, ...] = ()

    @property
    def duration_s(self) -> float | None:
        """Seconds between start and end, or None while running."""
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()


@dataclass(frozen=True)
class DatasetVersion(_Record):
    """An immutable dataset snapshot: Parquet in the artifact store plus what describes it.

    ``version_id`` is derived from the input's content and the steps applied, so the same input
    and steps give the same id. ``content_sha256`` hashes the data itself; ``data_sha256`` is
    the artifact holding the Parquet file; ``profile_sha256`` the artifact holding the profile.
    """

    version_id: str
    name: str
    created_at: datetime
    rows: int
    columns: int
    content_sha256: str
    data_sha256: str
    profile_sha256: str | None
    schema: dict[str, Any] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        """``NAME@VERSION_ID``: how runs and commands refer to it."""
        return f"{self.name}@{self.version_id}"


@dataclass(frozen=True)
class ModelVersion(_Record):
    """A registered model version: immutable once written, except its ``status``
    (``ready`` or ``archived``). ``bundle_sha256`` addresses the bundle's manifest in the
    artifact store; ``info`` holds what listings show (family, task, metrics, gates, lineage)."""

    name: str
    version: int
    created_at: datetime
    created_by: str
    run_id: str | None
    bundle_sha256: str
    status: str
    onnx_ready: bool
    description: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        """``NAME@VERSION``: how commands refer to it."""
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class AliasMove(_Record):
    """One move of an alias: who moved it, when, why, from which version to which
    (``from_version`` None: the alias was created; ``to_version`` None: it was removed)."""

    event_id: int
    name: str
    alias: str
    from_version: int | None
    to_version: int | None
    actor: str
    reason: str
    forced: bool
    at: datetime


@dataclass(frozen=True)
class AuditEvent(_Record):
    """One append-only audit record; ``hash`` chains it to the previous event's hash."""

    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    before: dict[str, Any]
    after: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class PredictionEvent(_Record):
    """One answered request as the server saw it: what went in (``inputs``: column name ->
    values, one per row), what came out (``outputs``: output name -> values), which version
    answered, how long it took, and whether it was a shadow copy (logged, never returned).
    Row ``i`` of the request is known as ``f"{request_id}:{i}"``."""

    request_id: str
    model: str
    version: int
    inputs: dict[str, list[Any]]
    outputs: dict[str, list[Any]]
    latency_ms: float
    time: datetime
    shadow: bool = False

    @property
    def n_rows(self) -> int:
        """The number of rows the request held."""
        return len(next(iter(self.inputs.values()), []))


@dataclass(frozen=True)
class PredictionRecord(_Record):
    """One logged request as the prediction log keeps it (immutable once written).

    ``sample_rate`` is the logger's sampling rate when it was kept: a record stands for
    ``1 / sample_rate`` requests when counting traffic. Row ``i`` is ``f"{request_id}:{i}"``.
    """

    request_id: str
    model: str
    version: int
    time: datetime
    latency_ms: float
    n_rows: int
    inputs: dict[str, list[Any]]
    outputs: dict[str, list[Any]]
    shadow: bool
    sample_rate: float


@dataclass(frozen=True)
class KeyInfo(_Record):
    """An API key as it may be shown: its name, the first characters of its secret
    (``prefix``), its scopes and its life; never the secret nor its hash."""

    key_id: str
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        """Whether the key still opens anything."""
        return self.revoked_at is None


@dataclass(frozen=True)
class FeedbackRecord(_Record):
    """Ground truth (``kind`` ``"label"``) or a user rating (``"rating"``) for one predicted
    row, joined to the logged prediction: ``row_id`` is ``f"{request_id}:{i}"``, ``model`` and
    ``version`` the version that answered. ``conflict`` is True when another value was already
    recorded for the same row and kind (both are kept: nothing is overwritten).
    ``feedback_id`` is None until the store has recorded it."""

    row_id: str
    request_id: str
    model: str
    version: int
    kind: str
    value: Any
    source: str
    received_at: datetime
    conflict: bool = False
    feedback_id: int | None = None


@dataclass(frozen=True)
class IngestCounts(_Record):
    """What became of a batch of feedback; the outcomes are exclusive, one per item:
    ``accepted`` newly recorded, ``conflicts`` newly recorded although the row already had
    another value of that kind (flagged, nothing overwritten), ``duplicates`` identical to a
    recorded value (nothing written), ``rejected`` not recorded (unknown id, invalid value)."""

    accepted: int = 0
    duplicates: int = 0
    conflicts: int = 0
    rejected: int = 0

    @property
    def total(self) -> int:
        """Every item counted."""
        return self.accepted + self.duplicates + self.conflicts + self.rejected

    def __add__(self, other: IngestCounts) -> IngestCounts:
        return IngestCounts(
            self.accepted + other.accepted,
            self.duplicates + other.duplicates,
            self.conflicts + other.conflicts,
            self.rejected + other.rejected,
        )
