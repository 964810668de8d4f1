"""Feedback ingestion: ground truth and ratings joined to the predictions they judge.

    report = ingest_feedback(client, [{"id": "9f3c...:0", "label": 1}], source="crm export")
    report.counts            # IngestCounts(accepted=1, duplicates=0, conflicts=0, rejected=0)
    report.rejections        # the first reasons, with each item's position

An item's ``id`` is a row id (``REQUEST_ID:ROW``, as ``POST /predict`` answers) or the request
id of a one-row request. Each ``label`` or ``rating`` of an item is one feedback value, and
each value gets exactly one outcome: accepted, duplicate (already recorded), conflict
(recorded beside a different value given earlier) or rejected (with its reason: an id the
prediction log does not hold, a request that failed and so predicted nothing ("the request
failed"), a label that is not one of the model's classes or, for a regressor, not a number).
Only the shape of an item (a mapping with an ``id`` and a label or a numeric rating) is an
error that refuses the whole batch; nothing else is dropped silently.
The values judging one model version are written in one transaction; resending a batch after a
failure is safe (what was written is then counted as duplicates).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from modelcycle.errors import NotFoundError, invalid_value
from modelcycle.types import FeedbackRecord, IngestCounts

if TYPE_CHECKING:
    from modelcycle.store._feedback import LoggedRequest
    from modelcycle.tracking import Client

__all__ = ["FIELDS", "FeedbackReport", "Rejection", "ingest_feedback"]

#: The fields of a feedback item.
FIELDS = ("id", "label", "rating")
#: Reasons kept in a report (every rejection is counted).
MAX_REASONS = 20
#: Rejection codes.
UNKNOWN_ID, INVALID_LABEL, UNKNOWN_MODEL = "unknown_id", "invalid_label", "unknown_model"
REQUEST_FAILED = "request_failed"


@dataclass(frozen=True)
class Rejection:
    """Why one feedback value was not recorded: ``position`` is the item's index in the batch
    (0-based), ``where`` says it for people (``item 3``, ``labels.csv row 4``)."""

    position: int
    where: str
    id: str
    kind: str
    code: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class FeedbackReport:
    """What became of one batch of feedback: counts (one outcome per value), the first
    :data:`MAX_REASONS` rejections, and the counts per model version that was judged
    (``name@version``; rejected ids that match no prediction under ``""``)."""

    source: str
    counts: IngestCounts
    rejections: tuple[Rejection, ...] = ()
    by_version: dict[str, IngestCounts] = field(default_factory=dict)

    @property
    def rejected(self) -> int:
        """Values not recorded."""
        return self.counts.rejected

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (for ``--json`` and ``POST /feedback``)."""
        return {
            "source": self.source,
            **self.counts.to_dict(),
            "rejections": [r.to_dict() for r in self.rejections],
            "by_version": {k: v.to_dict() for k, v in self.by_version.items()},
        }


@dataclass(frozen=True)
class Entry:
    """One feedback value as given: its item's position and the words to name it."""

    position: int
    where: str
    id: str
    kind: str
    value: Any


@dataclass(frozen=True)
class _Target:
    """What a label of one model version must be."""

    task: str
    classes: tuple[Any, ...] | None


def entries(items: Sequence[Any], *, name: str = "item", single: bool = False) -> list[Entry]:
    """The feedback values of ``items`` (mappings with ``id`` and ``label`` and/or
    ``rating``); a malformed item raises :class:`~modelcycle.errors.InvalidValueError` naming
    its position (``{name} {i}``; ``name`` alone when ``single``) and field."""
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence) or not items:
        raise invalid_value(
            "feedback items", items, "expected a non-empty list of {id, label|rating}"
        )
    found: list[Entry] = []
    for i, item in enumerate(items):
        where = name if single else f"{name} {i}"
        if not isinstance(item, Mapping):
            raise invalid_value(where, item, "expected an object with 'id' and 'label'/'rating'")
        extra = sorted(set(map(str, item)) - set(FIELDS))
        if extra:
            raise invalid_value(f"{where} field {extra[0]!r}", item[extra[0]], _FIELDS_WHY)
        found.extend(item_entries(i, where, item.get("id"), item.get("label"), item.get("rating")))
    return found


_FIELDS_WHY = "unknown field (expected 'id', 'label' and/or 'rating')"


def item_entries(
    position: int, where: str, id_: Any, label: Any, rating: Any, *, word: str = "field"
) -> list[Entry]:
    """The values of one item; missing fields are None (NaN counts as missing). Errors
    name ``where`` and the ``word`` (field, column) at fault."""
    if not isinstance(id_, str) or not id_.strip():
        raise invalid_value(f"{where} {word} 'id'", id_, "expected a row id or a request id")
    if _missing(label) and _missing(rating):
        raise invalid_value(where, {"id": id_}, "expected a 'label' or a 'rating'")
    found = []
    if not _missing(label):
        if isinstance(label, (dict, list, tuple)):
            raise invalid_value(f"{where} {word} 'label'", label, "expected a single value")
        found.append(Entry(position, where, id_.strip(), "label", _plain(label)))
    if not _missing(rating):
        rating = _plain(rating)
        if isinstance(rating, bool) or not isinstance(rating, (int, float)):
            raise invalid_value(f"{where} {word} 'rating'", rating, "expected a number")
        if not math.isfinite(rating):
            raise invalid_value(f"{where} {word} 'rating'", rating, "expected a finite number")
        found.append(Entry(position, where, id_.strip(), "rating", rating))
    return found


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def ingest_feedback(
    client: Client, items: Sequence[Mapping[str, Any]], *, source: str
) -> FeedbackReport:
    """Join each item to its logged prediction, check it and record it (see the module
    docstring); ``source`` says where the feedback came from (kept with every value)."""
    return ingest_entries(client, entries(items), source=source)


#: What the labels of a model version must be, by (name, version); versions are immutable, so
#: a long-lived caller (the server) may keep one across calls.
Targets = dict[tuple[str, int], "_Target | None"]


def ingest_entries(
    client: Client, given: Sequence[Entry], *, source: str, targets: Targets | None = None
) -> FeedbackReport:
    """Record already-parsed values (what :func:`ingest_feedback` and ``ingest_file`` share);
    ``targets`` caches each version's task and classes across calls."""
    logged = client.metadata.feedback.logged_requests(_candidates(e.id for e in given))
    judge = _Judge(client, logged, source, {} if targets is None else targets)
    groups: dict[str, list[FeedbackRecord]] = {}
    rejections: list[Rejection] = []
    rejected: dict[str, int] = {}
    for entry in given:
        key, outcome = judge(entry)
        if isinstance(outcome, FeedbackRecord):
            groups.setdefault(key, []).append(outcome)
            continue
        rejected[key] = rejected.get(key, 0) + 1
        if len(rejections) < MAX_REASONS:
            rejections.append(outcome)
    by_version = {key: client.metadata.feedback.add_many(group) for key, group in groups.items()}
    for key, n in rejected.items():
        by_version[key] = by_version.get(key, IngestCounts()) + IngestCounts(rejected=n)
    total = sum(by_version.values(), IngestCounts())
    return FeedbackReport(source, total, tuple(rejections), by_version)


class _Judge:
    """Turns an entry into the record to write or the reason it is rejected."""

    def __init__(
        self, client: Client, logged: Mapping[str, LoggedRequest], source: str, targets: Targets
    ) -> None:
        self.client = client
        self.logged = logged
        self.source = source
        self.now = datetime.now(timezone.utc)
        self.targets = targets

    def __call__(self, entry: Entry) -> tuple[str, FeedbackRecord | Rejection]:
        """``(name@version or "", outcome)``."""
        request, row_or_reason = _resolve(entry.id, self.logged)
        if request is None:
            return "", self._reject(entry, UNKNOWN_ID, row_or_reason)
        key = f"{request.model}@{request.version}"
        if request.failed:
            return key, self._reject(entry, REQUEST_FAILED, row_or_reason)
        code, value = self._check(entry, request)
        if code:
            return key, self._reject(entry, code, value)
        record = FeedbackRecord(
            row_id=row_or_reason,
            request_id=request.request_id,
            model=request.model,
            version=request.version,
            kind=entry.kind,
            value=value,
            source=self.source,
            received_at=self.now,
        )
        return key, record

    @staticmethod
    def _reject(entry: Entry, code: str, reason: str) -> Rejection:
        return Rejection(entry.position, entry.where, entry.id, entry.kind, code, reason)

    def _check(self, entry: Entry, request: LoggedRequest) -> tuple[str, Any]:
        """``("", value)`` for a value to record (a label as the class it names), or the
        rejection code and its reason."""
        if entry.kind == "rating":
            return "", entry.value
        key = (request.model, request.version)
        if key not in self.targets:
            self.targets[key] = _target(self.client, *key)
        target = self.targets[key]
        ref = f"{request.model}@{request.version}"
        if target is None:
            return UNKNOWN_MODEL, f"model version {ref} is not in the registry"
        return _check_label(entry.value, target, ref)


def _candidates(ids: Any) -> set[str]:
    """Every request id an id may name: itself, and the part before ``:ROW``."""
    found: set[str] = set()
    for id_ in ids:
        found.add(id_)
        head, sep, tail = id_.rpartition(":")
        if sep and tail.isdigit():
            found.add(head)
    return found


_NOT_LOGGED = (
    "no logged prediction has this id (unknown, from another store, or not kept by the "
    "prediction log's sampling)"
)


def _resolve(id_: str, logged: Mapping[str, LoggedRequest]) -> tuple[LoggedRequest | None, str]:
    """The logged request and the row id (for a failed request: the reason), or None and the
    reason."""
    whole = logged.get(id_)
    if whole is None:
        head, sep, tail = id_.rpartition(":")
        failed = logged.get(head) if sep and tail.isdigit() else None
        if failed is not None and failed.failed:
            whole = failed
    if whole is not None and whole.failed:
        return whole, f"the request failed (HTTP {whole.status}): it has no prediction to judge"
    if whole is not None:
        if whole.n_rows == 1:
            return whole, f"{id_}:0"
        return None, (
            f"request {id_!r} has {whole.n_rows} rows: give the row id ({id_}:0 ... "
            f"{id_}:{whole.n_rows - 1})"
        )
    head, sep, tail = id_.rpartition(":")
    request = logged.get(head) if sep and tail.isdigit() else None
    if request is None:
        return None, _NOT_LOGGED
    if int(tail) >= request.n_rows or tail != str(int(tail)):
        return None, f"request {head!r} has {request.n_rows} rows (0 to {request.n_rows - 1})"
    return request, id_


def _target(client: Client, model: str, version: int) -> _Target | None:
    from modelcycle.registry import Registry

    try:
        signature = Registry(client).bundle(f"{model}@{version}").signature
    except NotFoundError:
        return None
    output = signature.get("output", {})
    classes = output.get("classes")
    return _Target(str(output.get("task")), None if classes is None else tuple(classes))


def _check_label(label: Any, target: _Target, ref: str) -> tuple[str, Any]:
    if target.task == "regression":
        if _is_number(label) and math.isfinite(label):
            return "", label
        number = _as_number(label)
        if number is None:
            return INVALID_LABEL, f"label {label!r}: {ref} is a regressor, expected a number"
        return "", number
    if target.classes is None:
        return "", label
    for cls in target.classes:
        if _same(label, cls):
            return "", cls
    known = ", ".join(repr(c) for c in target.classes[:20])
    return INVALID_LABEL, f"label {label!r} is not a class of {ref} ({known})"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_number(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _same(label: Any, cls: Any) -> bool:
    """Whether ``label`` names class ``cls`` (``1``, ``1.0`` and ``"1"`` all name class 1,
    ``"yes"`` names ``"yes"``; a boolean only names a boolean or its text)."""
    if type(label) is type(cls):
        return bool(label == cls)
    if isinstance(label, bool) or isinstance(cls, bool):
        return str(label).lower() == str(cls).lower()
    if _is_number(label) and _is_number(cls):
        return float(label) == float(cls)
    if isinstance(label, str) and _is_number(cls):
        return _as_number(label) == float(cls)
    return str(label) == str(cls)
