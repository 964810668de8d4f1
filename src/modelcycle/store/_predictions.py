"""The prediction-log aggregate: one immutable row per request, answered or failed.

An answered request's row keeps its inputs and outputs as JSON columns (column-major, the
serving ``Columns`` form), so one request of any width is one row and a batch of requests is
one ``executemany``. Monitoring reads the log as a table of predicted rows through
:meth:`PredictionRepository.frame`: one query, and the JSON of all fetched requests decoded by
one ``orjson.loads`` call over the concatenated texts, then flattened column by column with
``itertools.chain`` (no Python loop per predicted value).

A request that failed (a client's 4xx such as a validation error, a server 5xx) is a
:class:`FailedRequest`: its row has the HTTP ``status`` and the first line of the ``error``
but no inputs, outputs or rows. :meth:`PredictionRepository.query` and
:meth:`PredictionRepository.frame` read answered requests only (what drift, quality and
feedback use); :meth:`PredictionRepository.failures` reads the failed ones and
:meth:`PredictionRepository.operations` both, for latency and error rates.

Records are never updated: the same request id (and shadow flag) written twice keeps the
first record, and :meth:`PredictionRepository.insert_many` returns how many were new so a
caller can count the rest.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa

from modelcycle.errors import invalid_value
from modelcycle.store import _schema as s
from modelcycle.store._db import Database, aware_ms, model_filter
from modelcycle.store._experiments import to_datetime
from modelcycle.types import PredictionRecord, _Record

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FailedRequest", "PredictionRepository", "encode_columns"]

_T = s.predictions
#: Rows of answered requests (a failed request's status is 400 or more).
_ANSWERED = _T.c.status < 400


@dataclass(frozen=True)
class FailedRequest(_Record):
    """A prediction request that got an error instead of an answer, as the log keeps it:
    who would have answered (``model``, ``version``: the version serving the route then), when,
    how long it took, its HTTP ``status`` (400-599) and the first line of its ``error``
    (truncated). It holds no inputs or outputs, so it is never drift data nor judged by
    feedback; it counts in the error rate of its window."""

    request_id: str
    model: str
    version: int
    time: datetime
    latency_ms: float
    status: int
    error: str


def encode_columns(columns: dict[str, list[Any]]) -> str:
    """The JSON text the log stores for a Columns mapping (NumPy scalars and arrays allowed;
    NaN becomes null, the log's missing value)."""
    return orjson.dumps(columns, option=orjson.OPT_SERIALIZE_NUMPY).decode("utf-8")


def _row(record: PredictionRecord | FailedRequest) -> dict[str, Any]:
    if isinstance(record, FailedRequest):
        return _failed_row(record)
    return {
        "request_id": record.request_id,
        "shadow": bool(record.shadow),
        "model": record.model,
        "version": int(record.version),
        "time": aware_ms(record.time, f"time of request {record.request_id!r}"),
        "latency_ms": float(record.latency_ms),
        "n_rows": int(record.n_rows),
        "inputs_json": encode_columns(record.inputs),
        "outputs_json": encode_columns(record.outputs),
        "sample_rate": float(record.sample_rate),
        "status": 200,
        "error": None,
    }


def _failed_row(record: FailedRequest) -> dict[str, Any]:
    status = record.status
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        where = f"status of failed request {record.request_id!r}"
        raise invalid_value(where, status, "expected an HTTP error status (400 to 599)")
    lines = str(record.error).strip().splitlines()
    return {
        "request_id": record.request_id,
        "shadow": False,
        "model": record.model,
        "version": int(record.version),
        "time": aware_ms(record.time, f"time of request {record.request_id!r}"),
        "latency_ms": float(record.latency_ms),
        "n_rows": 0,
        "inputs_json": "{}",
        "outputs_json": "{}",
        "sample_rate": 1.0,
        "status": status,
        "error": (lines[0] if lines else "")[: s.ERROR_LENGTH],
    }


def _decode_all(texts: Sequence[str]) -> list[dict[str, list[Any]]]:
    """Decode many JSON objects with one parser call."""
    decoded: list[dict[str, list[Any]]] = orjson.loads("[" + ",".join(texts) + "]")
    return decoded


class PredictionRepository:
    """Append and read the prediction log (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._insert_sql: tuple[str, Sequence[str] | None] | None = None

    def insert_many(self, records: Sequence[PredictionRecord | FailedRequest]) -> int:
        """Write ``records`` (answered and failed requests alike) in one transaction (one
        bulk insert); returns how many were new (a request id already logged with the same
        shadow flag keeps its first record)."""
        if not records:
            return 0
        rows = [_row(record) for record in records]
        try:
            # the common case: all new; a plain executemany (psycopg's pipeline, sqlite3's
            # executemany) is 3-4x faster on PostgreSQL than the RETURNING form below
            with self._db.write() as conn:
                self._insert_plain(conn, rows)
            return len(rows)
        except sa.exc.IntegrityError:
            pass  # some request was already logged: keep the first records, count the new
        insert = self._db.backend.insert(_T).on_conflict_do_nothing(
            index_elements=["request_id", "shadow"]
        )
        with self._db.write() as conn:
            kept = conn.execute(insert.returning(_T.c.request_id), rows).all()
        return len(kept)

    def _insert_plain(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        """One driver-level executemany of the INSERT compiled once for this backend: half
        the cost per record of SQLAlchemy's per-call statement handling (7.6 against 15.7 us
        on SQLite), which matters because the log writer shares the server's GIL."""
        if self._insert_sql is None:
            compiled = sa.insert(_T).compile(dialect=conn.dialect)
            self._insert_sql = (str(compiled), compiled.positiontup)
        sql, positions = self._insert_sql
        if positions is None:  # named parameters (psycopg's pyformat): the dicts as they are
            conn.exec_driver_sql(sql, rows)
        else:
            conn.exec_driver_sql(sql, [tuple(row[name] for name in positions) for row in rows])

    def _where(
        self,
        model: str,
        version: int | None,
        since: datetime | None,
        until: datetime | None,
        shadow: bool | None,
        answered: bool | None = True,
    ) -> list[sa.ColumnElement[bool]]:
        """Conditions on model, version, time and shadow flag; ``answered`` True keeps
        answered requests, False failed ones, None both."""
        where = model_filter(_T, "time", model, version, since, until)
        if shadow is not None:
            where.append(_T.c.shadow == shadow)
        if answered is not None:
            where.append(_ANSWERED if answered else ~_ANSWERED)
        return where

    def _select(
        self,
        columns: Sequence[sa.ColumnElement[Any]],
        model: str,
        filters: tuple[int | None, datetime | None, datetime | None, bool | None],
        limit: int | None,
        answered: bool | None = True,
    ) -> list[Any]:
        """Matching rows oldest first; ``limit`` keeps the newest ``limit``."""
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise invalid_value("limit", limit, "expected a positive integer")
        query = sa.select(*columns).where(*self._where(model, *filters, answered=answered))
        query = query.order_by(_T.c.time.desc(), _T.c.request_id.desc()).limit(limit)
        with self._db.read() as conn:
            rows = list(conn.execute(query).all())
        rows.reverse()
        return rows

    def query(
        self,
        model: str,
        *,
        version: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        shadow: bool | None = False,
        limit: int | None = None,
    ) -> list[PredictionRecord]:
        """Answered requests of ``model`` oldest first (``since`` inclusive, ``until``
        exclusive; ``shadow=None`` keeps both live and shadow records; ``limit`` keeps the
        newest ``limit``). Failed requests: :meth:`failures`."""
        columns = [c for c in _T.c if c.name not in ("status", "error")]
        rows = self._select(columns, model, (version, since, until, shadow), limit)
        inputs = _decode_all([r.inputs_json for r in rows])
        outputs = _decode_all([r.outputs_json for r in rows])
        return [
            PredictionRecord(
                request_id=r.request_id,
                model=r.model,
                version=r.version,
                time=to_datetime(r.time),
                latency_ms=r.latency_ms,
                n_rows=r.n_rows,
                inputs=i,
                outputs=o,
                shadow=bool(r.shadow),
                sample_rate=r.sample_rate,
            )
            for r, i, o in zip(rows, inputs, outputs, strict=True)
        ]

    def failures(
        self,
        model: str,
        *,
        version: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[FailedRequest]:
        """Failed requests of ``model`` oldest first (filters as :meth:`query`)."""
        columns = [_T.c[name] for name in FailedRequest.__dataclass_fields__]
        rows = self._select(columns, model, (version, since, until, False), limit, answered=False)
        return [
            FailedRequest(
                request_id=r.request_id,
                model=r.model,
                version=r.version,
                time=to_datetime(r.time),
                latency_ms=r.latency_ms,
                status=r.status,
                error=r.error or "",
            )
            for r in rows
        ]

    def count(
        self,
        model: str,
        *,
        version: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        shadow: bool | None = False,
    ) -> dict[str, int]:
        """How many requests (answered or failed), predicted rows and failed requests
        (``errors``) the log holds for ``model``."""
        query = sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(_T.c.n_rows), 0),
            sa.func.count(sa.case((~_ANSWERED, 1))),
        )
        query = query.where(*self._where(model, version, since, until, shadow, answered=None))
        with self._db.read() as conn:
            requests, rows, errors = conn.execute(query).one()
        return {"requests": int(requests), "rows": int(rows), "errors": int(errors)}

    def operations(
        self,
        model: str,
        *,
        version: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pd.DataFrame:
        """Every live request of ``model``, answered or failed, oldest first, without its
        inputs and outputs: ``request_id``, ``time`` (UTC), ``version``, ``latency_ms``,
        ``n_rows``, ``sample_rate`` and ``status`` (200 answered; 4xx/5xx failed). What
        latency, throughput and error rates are computed from (filters as :meth:`query`)."""
        import pandas as pd

        names = ("request_id", "time", "version", "latency_ms", "n_rows", "sample_rate", "status")
        columns = [_T.c[name] for name in names]
        rows = self._select(columns, model, (version, since, until, False), None, answered=None)
        frame = pd.DataFrame.from_records(rows, columns=list(names))
        frame["time"] = pd.to_datetime(frame["time"].astype("int64"), unit="ms", utc=True)
        result: pd.DataFrame = frame
        return result

    def frame(
        self,
        model: str,
        *,
        version: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        shadow: bool | None = False,
        limit: int | None = None,
        classes: Sequence[Any] | None = None,
    ) -> pd.DataFrame:
        """The log as one row per predicted row: ``request_id``, ``row_id``
        (``request_id:i``), ``time`` (UTC), ``version``, every input column, ``prediction``
        and, for classifiers, ``proba_<class>`` per class (``classes`` in the signature's
        order; without them the columns are ``proba_0``, ``proba_1`` ...). Filters as
        :meth:`query` (answered requests only); ``limit`` counts requests."""
        columns = [_T.c.request_id, _T.c.time, _T.c.version, _T.c.n_rows]
        columns += [_T.c.inputs_json, _T.c.outputs_json]
        rows = self._select(columns, model, (version, since, until, shadow), limit)
        return _to_frame(rows, classes)


def _to_frame(rows: Sequence[Any], classes: Sequence[Any] | None) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    counts = np.fromiter((r.n_rows for r in rows), dtype=np.int64, count=len(rows))
    ids = [r.request_id for r in rows]
    data: dict[str, Any] = {
        "request_id": np.repeat(np.array(ids, dtype=object), counts),
        "row_id": [
            f"{rid}:{i}" for rid, n in zip(ids, counts.tolist(), strict=True) for i in range(n)
        ],
        "time": pd.to_datetime(
            np.repeat(np.array([r.time for r in rows], dtype=np.int64), counts), unit="ms", utc=True
        ),
        "version": np.repeat(np.array([r.version for r in rows], dtype=np.int64), counts),
    }
    inputs = _decode_all([r.inputs_json for r in rows])
    outputs = _decode_all([r.outputs_json for r in rows])
    sizes = counts.tolist()
    for name in dict.fromkeys(k for record in inputs for k in record):
        data[name] = _flatten([i.get(name) for i in inputs], sizes)
    data["prediction"] = _flatten([o.get("predict") for o in outputs], sizes)
    data.update(_proba_columns([o.get("predict_proba") for o in outputs], sizes, classes))
    frame: pd.DataFrame = pd.DataFrame(data)
    return frame


def _flatten(parts: Sequence[list[Any] | None], sizes: Sequence[int]) -> list[Any]:
    """One list from each request's values (None for a request that lacks them)."""
    return list(
        itertools.chain.from_iterable(
            part if part is not None else itertools.repeat(None, n)
            for part, n in zip(parts, sizes, strict=True)
        )
    )


def _proba_columns(
    parts: Sequence[list[list[float]] | None], sizes: Sequence[int], classes: Sequence[Any] | None
) -> dict[str, Any]:
    import numpy as np

    width = max((len(p[0]) for p in parts if p), default=0)
    if width == 0:
        return {}
    names = [str(c) for c in classes] if classes is not None else [str(i) for i in range(width)]
    if len(names) != width:
        raise invalid_value("classes", list(names), f"the log holds {width} probabilities per row")
    blank = [None] * width
    flat = _flatten([p if p else [blank] * n for p, n in zip(parts, sizes, strict=True)], sizes)
    matrix = np.array(flat, dtype=np.float64).reshape(len(flat), width)
    return {f"proba_{name}": matrix[:, j] for j, name in enumerate(names)}
