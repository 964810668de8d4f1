"""``POST /feedback``: ground truth or a rating for predicted rows, joined to the log.

Body: one item ``{"id": "REQUEST_ID:ROW", "label"?: ..., "rating"?: ...}`` (``id`` may also be
the request id of a one-row request) or a list of items. Answer 200 with the counts
(``accepted``, ``duplicates``, ``conflicts``, ``rejected``) and the rejected ids with their
reasons. A single item whose values are all rejected is an error: 404 for an id the
prediction log does not hold, 422 for a label that does not fit the model; in a list, such
items are only counted and listed. A malformed body is a 400 naming the field. Scope
``feedback`` when API keys are on.

Counted in ``modelcycle_feedback_total{model, version, outcome}`` (outcome ``accepted``,
``duplicate``, ``conflict``, ``rejected``; ids that match no prediction under model
``_unknown``), on the app's own metrics registry.
"""

from __future__ import annotations

import weakref
from functools import partial
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from prometheus_client import Counter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from modelcycle.errors import InvalidValueError
from modelcycle.server import _openapi as docs
from modelcycle.server._common import (
    error_response,
    json_response,
    new_request_id,
    read_body,
    require_scope,
)
from modelcycle.server._parse import load_json

if TYPE_CHECKING:
    from modelcycle.loop._feedback import FeedbackReport, Targets
    from modelcycle.server._metrics import ServerMetrics
    from modelcycle.server._state import ServerState

__all__ = ["add_feedback_routes"]

SOURCE = "POST /feedback"
#: IngestCounts field -> outcome label
_OUTCOMES = {
    "accepted": "accepted",
    "duplicates": "duplicate",
    "conflicts": "conflict",
    "rejected": "rejected",
}
_COUNTERS: weakref.WeakKeyDictionary[ServerMetrics, Counter] = weakref.WeakKeyDictionary()


def _counter(metrics: ServerMetrics) -> Counter:
    """The feedback counter of one app's metrics (created once per registry)."""
    found = _COUNTERS.get(metrics)
    if found is None:
        found = Counter(
            "modelcycle_feedback",
            "feedback values received, by model version and outcome",
            ["model", "version", "outcome"],
            registry=metrics.registry,
        )
        _COUNTERS[metrics] = found
    return found


def _count(counter: Counter, report: FeedbackReport) -> None:
    for label, counts in report.by_version.items():
        model, _, version = label.rpartition("@")
        for field, outcome in _OUTCOMES.items():
            n = getattr(counts, field)
            if n:
                counter.labels(model or "_unknown", version, outcome).inc(n)


def _status(report: FeedbackReport, single: bool) -> int:
    """200, or for a single item whose every value was rejected: 404 (unknown id) or 422."""
    from modelcycle.loop._feedback import UNKNOWN_ID

    if not single or not report.rejections or report.counts.rejected < report.counts.total:
        return 200
    return 404 if report.rejections[0].code == UNKNOWN_ID else 422


def add_feedback_routes(app: FastAPI, state: ServerState) -> None:
    """Register ``POST /feedback`` on ``app``."""
    counter = _counter(state.metrics)
    targets: Targets = {}  # task and classes of each version judged (versions are immutable)

    @app.post(
        "/feedback",
        tags=["native"],
        responses=docs.ok(docs.FEEDBACK_RESPONSE, "the counts and the rejected ids"),
        openapi_extra=docs.body(docs.FEEDBACK_REQUEST),
    )
    async def feedback(request: Request) -> Response:
        """Record ground truth or ratings for predicted rows (ids from ``/predict``)."""
        from modelcycle.loop._feedback import entries, ingest_entries

        request_id = new_request_id()
        headers = {"X-Request-Id": request_id}
        try:
            if state.keys is not None:
                require_scope(state, request, "feedback")
            payload: Any = load_json(await read_body(request, state.spec.limits.max_body_bytes))
            single = isinstance(payload, dict)
            if not single and not isinstance(payload, list):
                why = "expected an object {id, label|rating} or a list of them"
                raise InvalidValueError(f"invalid request body: {why}")
            items = [payload] if single else payload
            given = entries(items, name="request body" if single else "item", single=single)
            report = await run_in_threadpool(
                partial(ingest_entries, targets=targets), state.client, given, source=SOURCE
            )
        except Exception as exc:
            return error_response(exc, request_id)
        _count(counter, report)
        status = _status(report, single)
        answer = report.to_dict()
        if status != 200:
            first = report.rejections[0]
            answer = {"error": f"feedback for {first.id!r} rejected: {first.reason}", **answer}
        return json_response(answer, status, headers)
