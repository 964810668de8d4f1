"""Adaptive micro-batching: merged concurrent requests each get exactly their rows and outputs.

The model is real: a linear classifier trained on breast_cancer, registered with its ONNX
export and loaded as a ``ServedModel``. A gate holds the first batch in its worker thread so the
next requests queue up deterministically behind it (no sleeps, no timing thresholds).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from modelcycle.data import SplitSpec
from modelcycle.errors import InvalidValueError, http_status
from modelcycle.registry import Registry, export_onnx, signature_of
from modelcycle.serving import MicroBatcher, ServedModel
from modelcycle.serving._batcher import BatchClosedError
from modelcycle.tracking import Client
from modelcycle.training import TrainData, TrainSpec, train_candidate

Columns = dict[str, list[Any]]
OUTPUT_CHOICES: list[tuple[str, ...]] = [
    ("predict",),
    ("predict_proba",),
    ("predict_proba", "predict"),
    (),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedModel]:
    folder = tmp_path_factory.mktemp("batcher")
    with Client(f"sqlite:///{folder / 'store.db'}", str(folder / "artifacts")) as client:
        frame = load_breast_cancer(as_frame=True).frame
        data = TrainData.from_frame(frame, "target", SplitSpec(method="stratified", seed=7))
        pipeline = train_candidate(client, "linear", {}, data, TrainSpec()).pipeline
        rows = frame.drop(columns=["target"])
        kinds = {n: c.kind.value for n, c in data.schema.columns.items()}
        signature = signature_of(rows, kinds, task="binary", classes=[0, 1])
        exported = export_onnx(pipeline, rows.iloc[:100], task="binary")
        Registry(client).register_model(
            "cancer",
            pipeline,
            signature=signature,
            task="binary",
            family="linear",
            source="tests",
            onnx=exported,
        )
        yield ServedModel.load(Registry(client), "cancer@1")


@pytest.fixture(scope="module")
def table() -> Columns:
    rows = load_breast_cancer(as_frame=True).frame.drop(columns=["target"])
    return {column: rows[column].tolist() for column in rows.columns}


def _slice(table: Columns, start: int, rows: int) -> Columns:
    return {name: values[start : start + rows] for name, values in table.items()}


class Recorder:
    """Wraps ``predict``: records each call's rows, outputs and thread; may hold the first call
    until ``gate`` is set; ``poison`` rows make it fail like a broken request would."""

    def __init__(self, predict: Any, *, gated: bool = False) -> None:
        self.predict = predict
        self.calls: list[tuple[int, tuple[str, ...]]] = []
        self.threads: set[int] = set()
        self.gate = threading.Event()
        self.entered = threading.Event()
        if not gated:
            self.gate.set()

    def __call__(self, columns: Columns, outputs: Sequence[str]) -> dict[str, list[Any]]:
        self.threads.add(threading.get_ident())
        self.entered.set()
        assert self.gate.wait(30), "the test never released the gate"
        self.calls.append((len(next(iter(columns.values()))), tuple(outputs)))
        found: dict[str, list[Any]] = self.predict(columns, outputs)
        return found


async def _queued_behind_first(
    batcher: MicroBatcher,
    recorder: Recorder,
    first: Columns,
    rest: Sequence[tuple[Columns, int, Sequence[str]]],
) -> list[Any]:
    """Submit ``first`` (held in the worker by the gate), queue ``rest`` behind it, release."""
    head = asyncio.ensure_future(batcher.submit(first, len(next(iter(first.values()))), ()))
    await asyncio.to_thread(recorder.entered.wait, 30)
    tails = [asyncio.ensure_future(batcher.submit(c, n, o)) for c, n, o in rest]
    await asyncio.sleep(0)  # every request is queued now
    assert batcher.depth == len(rest)
    recorder.gate.set()
    return await asyncio.gather(head, *tails, return_exceptions=True)


def test_concurrent_requests_of_different_sizes_and_outputs_each_get_their_own(
    served: ServedModel, table: Columns
) -> None:
    recorder = Recorder(served.predict, gated=True)
    batches: list[tuple[int, int]] = []
    batcher = MicroBatcher(
        recorder, max_batch_rows=512, max_wait_ms=2.0, on_batch=lambda r, n: batches.append((r, n))
    )
    rest = []
    for i in range(30):
        rows, outputs = 1 + i % 5, OUTPUT_CHOICES[i % 4]
        rest.append((_slice(table, 10 * i, rows), rows, outputs))
    answers = asyncio.run(_queued_behind_first(batcher, recorder, _slice(table, 500, 2), rest))
    assert recorder.calls[0] == (2, ()) and len(recorder.calls) == 2
    assert recorder.calls[1] == (sum(r for _, r, _ in rest), ())  # one merged batch
    assert batches == [(2, 1), (90, 30)]
    for (columns, rows, outputs), answer in zip(rest, answers[1:], strict=True):
        alone = served.predict(columns, outputs)
        assert list(answer) == list(outputs or served.outputs)
        assert all(len(values) == rows for values in answer.values())
        if "predict" in answer:
            assert answer["predict"] == alone["predict"]
        if "predict_proba" in answer:
            np.testing.assert_allclose(answer["predict_proba"], alone["predict_proba"], atol=1e-6)
    batcher.close()


def test_a_batch_holds_at_most_max_batch_rows_and_never_splits_a_request(
    served: ServedModel, table: Columns
) -> None:
    recorder = Recorder(served.predict, gated=True)
    batches: list[tuple[int, int]] = []
    batcher = MicroBatcher(
        recorder, max_batch_rows=10, max_wait_ms=0.0, on_batch=lambda r, n: batches.append((r, n))
    )
    sizes = [4, 4, 4, 12, 3]
    rest = [(_slice(table, 20 * i, n), n, ("predict",)) for i, n in enumerate(sizes)]
    answers = asyncio.run(_queued_behind_first(batcher, recorder, _slice(table, 0, 1), rest))
    assert batches == [(1, 1), (8, 2), (4, 1), (12, 1), (3, 1)]
    assert [len(a["predict"]) for a in answers[1:]] == sizes
    batcher.close()


def test_an_idle_batcher_predicts_at_once_in_a_worker_thread(
    served: ServedModel, table: Columns
) -> None:
    recorder = Recorder(served.predict)
    batcher = MicroBatcher(recorder, max_wait_ms=600_000.0)  # waiting would hang the test

    async def one_by_one() -> list[dict[str, list[Any]]]:
        return [
            await asyncio.wait_for(batcher.submit(_slice(table, i, 1), 1, ["predict"]), 60)
            for i in range(3)
        ]

    answers = asyncio.run(one_by_one())
    assert [a["predict"] for a in answers] == [
        served.predict(_slice(table, i, 1), ["predict"])["predict"] for i in range(3)
    ]
    assert recorder.calls == [(1, ("predict",))] * 3
    assert threading.get_ident() not in recorder.threads
    assert (batcher.batches, batcher.requests) == (3, 3)
    batcher.close()


def test_a_batch_waits_for_the_previous_level_of_traffic_and_arrivals_end_the_wait(
    served: ServedModel, table: Columns
) -> None:
    recorder = Recorder(served.predict, gated=True)
    batches: list[tuple[int, int]] = []
    batcher = MicroBatcher(
        recorder, max_wait_ms=600_000.0, on_batch=lambda r, n: batches.append((r, n))
    )

    async def scenario() -> list[Any]:
        first = asyncio.ensure_future(batcher.submit(_slice(table, 0, 10), 10, ["predict"]))
        await asyncio.to_thread(recorder.entered.wait, 30)
        second = asyncio.ensure_future(batcher.submit(_slice(table, 10, 1), 1, ["predict"]))
        await asyncio.sleep(0)
        recorder.gate.set()
        while batcher.batches < 1:  # the first batch ends; 1 row queued < 10: it waits
            await asyncio.sleep(0.001)
        assert not second.done() and batcher.depth == 1
        third = batcher.submit(_slice(table, 11, 9), 9, ["predict_proba"])  # back to 10 rows
        return list(await asyncio.wait_for(asyncio.gather(first, second, third), 60))

    answers = asyncio.run(scenario())
    assert batches == [(10, 1), (10, 2)]
    assert [len(next(iter(a.values()))) for a in answers] == [10, 1, 9]
    batcher.close()


def test_one_broken_request_fails_alone_and_the_others_are_answered(
    served: ServedModel, table: Columns
) -> None:
    recorder = Recorder(served.predict, gated=True)
    batcher = MicroBatcher(recorder, max_wait_ms=0.0)
    broken = _slice(table, 3, 2)
    broken["mean radius"] = ["wide", 12.0]  # not validated: the runtime cannot read it
    rest = [
        (_slice(table, 5, 1), 1, ("predict",)),
        (broken, 2, ("predict",)),
        (_slice(table, 9, 3), 3, ("predict",)),
    ]
    answers = asyncio.run(_queued_behind_first(batcher, recorder, _slice(table, 0, 1), rest))
    assert answers[1] == served.predict(rest[0][0], ["predict"])
    assert isinstance(answers[2], ValueError)
    assert answers[3] == served.predict(rest[2][0], ["predict"])
    assert [rows for rows, _ in recorder.calls] == [1, 6, 1, 2, 3]  # merged, then one by one
    batcher.close()


def test_a_cancelled_request_leaves_the_rest_of_its_batch_answered(
    served: ServedModel, table: Columns
) -> None:
    recorder = Recorder(served.predict, gated=True)
    batcher = MicroBatcher(recorder, max_wait_ms=0.0)

    async def scenario() -> tuple[Any, ...]:
        head = asyncio.ensure_future(batcher.submit(_slice(table, 0, 1), 1, ["predict"]))
        await asyncio.to_thread(recorder.entered.wait, 30)
        gone = asyncio.ensure_future(batcher.submit(_slice(table, 1, 1), 1, ["predict"]))
        kept = asyncio.ensure_future(batcher.submit(_slice(table, 2, 2), 2, ["predict"]))
        await asyncio.sleep(0)
        gone.cancel()
        recorder.gate.set()
        return await head, await kept, gone.cancelled()

    head, kept, cancelled = asyncio.run(scenario())
    assert cancelled and len(head["predict"]) == 1
    assert kept == served.predict(_slice(table, 2, 2), ["predict"])
    assert recorder.calls == [(1, ("predict",)), (2, ("predict",))]  # the cancelled one: never
    assert batcher.abandoned == 1
    batcher.close()


def test_close_answers_queued_requests_and_refuses_new_ones(
    served: ServedModel, table: Columns
) -> None:
    recorder = Recorder(served.predict, gated=True)
    batcher = MicroBatcher(recorder, max_wait_ms=0.0)

    async def scenario() -> tuple[Any, ...]:
        head = asyncio.ensure_future(batcher.submit(_slice(table, 0, 1), 1, ["predict"]))
        await asyncio.to_thread(recorder.entered.wait, 30)
        queued = asyncio.ensure_future(batcher.submit(_slice(table, 1, 1), 1, ["predict"]))
        await asyncio.sleep(0)
        batcher.close()
        with pytest.raises(BatchClosedError, match="shutting down") as refused:
            await batcher.submit(_slice(table, 2, 1), 1, ["predict"])
        recorder.gate.set()
        return await head, await queued, http_status(refused.value)

    head, queued, status = asyncio.run(scenario())
    assert len(head["predict"]) == len(queued["predict"]) == 1 and status == 503


def test_a_predict_answering_the_wrong_row_count_fails_the_request(table: Columns) -> None:
    def short(columns: Columns, outputs: Sequence[str]) -> dict[str, list[Any]]:
        return {"predict": [0]}

    batcher = MicroBatcher(short)
    with pytest.raises(RuntimeError, match=r"predict returned 1 values for output 'predict'"):
        asyncio.run(batcher.submit(_slice(table, 0, 2), 2, ["predict"]))
    batcher.close()


def test_bad_settings_and_a_wrong_row_count_are_refused(
    served: ServedModel, table: Columns
) -> None:
    batcher = MicroBatcher(served.predict)
    with pytest.raises(InvalidValueError, match="every column must hold n_rows values"):
        asyncio.run(batcher.submit(_slice(table, 0, 3), 2, ["predict"]))
    batcher.close()
    with pytest.raises(InvalidValueError, match="max_batch_rows"):
        MicroBatcher(served.predict, max_batch_rows=0)
    with pytest.raises(InvalidValueError, match="max_wait_ms"):
        MicroBatcher(served.predict, max_wait_ms=-1.0)


def test_a_shut_down_executor_refuses_with_503_not_a_server_error(
    served: ServedModel, table: Columns
) -> None:
    executor = ThreadPoolExecutor(1)
    executor.shutdown()  # the deployment owning it has stopped
    batcher = MicroBatcher(served.predict, executor=executor)
    with pytest.raises(BatchClosedError, match="shutting down") as refused:
        asyncio.run(batcher.submit(_slice(table, 0, 1), 1, ["predict"]))
    assert http_status(refused.value) == 503
