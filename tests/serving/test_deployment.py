"""Deployments: readiness, hot swap under load, canary, sticky A/B, shadow, hooks.

Two real versions of one model: a linear classifier (version 1) and a decision tree
(version 2) trained on breast_cancer, both ONNX-ready, registered through the registry. The
hot-swap test runs on SQLite and on the real PostgreSQL (the watcher polls the store).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sklearn.datasets import load_breast_cancer

from modelcycle.data import SplitSpec
from modelcycle.errors import DataError, InvalidValueError, NotFoundError, SpecError, http_status
from modelcycle.registry import OnnxExport, Registry, export_onnx, signature_of
from modelcycle.serving import Answer, Deployment, ServedModel, ServeSpec, load_serve_spec
from modelcycle.serving._deployment import ModelNotReadyError
from modelcycle.tracking import Client
from modelcycle.training import TrainData, TrainSpec, train_candidate
from modelcycle.types import PredictionEvent

Columns = dict[str, list[Any]]
Trained = list[tuple[str, Any, dict[str, Any], OnnxExport]]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """(family, pipeline, signature, ONNX export) of versions 1 and 2."""
    folder = tmp_path_factory.mktemp("deployment")
    frame = load_breast_cancer(as_frame=True).frame
    data = TrainData.from_frame(frame, "target", SplitSpec(method="stratified", seed=7))
    rows = frame.drop(columns=["target"])
    kinds = {n: c.kind.value for n, c in data.schema.columns.items()}
    signature = signature_of(rows, kinds, task="binary", classes=[0, 1])
    found = []
    with Client(f"sqlite:///{folder / 'store.db'}", str(folder / "artifacts")) as client:
        for family, params in (("linear", {}), ("decision_tree", {"max_depth": 3})):
            pipeline = train_candidate(client, family, params, data, TrainSpec()).pipeline
            exported = export_onnx(pipeline, rows.iloc[:100], task="binary")
            assert exported.ready, exported.reason
            found.append((family, pipeline, signature, exported))
    return found


def _registry(client: Client, trained: Trained) -> Registry:
    registry = Registry(client)
    for family, pipeline, signature, exported in trained:
        registry.register_model(
            "cancer",
            pipeline,
            signature=signature,
            task="binary",
            family=family,
            source="tests",
            onnx=exported,
        )
    registry.set_alias("cancer@1", "champion", reason="first")
    registry.set_alias("cancer@2", "challenger", reason="candidate")
    return registry


@pytest.fixture
def registry(tmp_path: Path, trained: Trained) -> Iterator[Registry]:
    """Both versions in a SQLite store (the store is not what most tests here test)."""
    store = f"sqlite:///{tmp_path / 'store.db'}"
    with Client(store, str(tmp_path / "artifacts"), flush_interval=0.05) as client:
        yield _registry(client, trained)


@pytest.fixture(scope="module")
def table() -> Columns:
    rows = load_breast_cancer(as_frame=True).frame.drop(columns=["target"])
    return {column: rows[column].tolist() for column in rows.columns}


def _row(table: Columns, i: int, rows: int = 1) -> Columns:
    return {name: values[i : i + rows] for name, values in table.items()}


def _deployment(registry: Registry, policy: dict[str, Any] | None = None, **options: Any) -> Any:
    spec = ServeSpec.model_validate(
        {
            "models": [{"name": "cancer", "policy": policy}],
            "swap": {"poll_seconds": 0.05},
            **options,
        }
    )
    return spec, spec.models[0]


async def _until(done: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Wait for ``done()``; the timeout only guards against a hang."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not done():
        assert loop.time() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.01)


def test_not_ready_until_loaded_then_answers_with_its_version_and_hooks(
    registry: Registry, table: Columns
) -> None:
    events: list[PredictionEvent] = []
    batches: list[tuple[str, int, int]] = []
    spec, model = _deployment(registry)
    deployment = Deployment(
        registry, model, spec, on_prediction=events.append, on_batch=lambda *b: batches.append(b)
    )
    assert not deployment.ready and deployment.versions() == []
    with pytest.raises(ModelNotReadyError, match="'cancer' is not loaded yet") as refused:
        asyncio.run(deployment.predict(_row(table, 0), request_id="r0"))
    assert http_status(refused.value) == 503
    deployment.start()
    try:
        assert deployment.ready and deployment.versions() == ["cancer@1"]
        answer = asyncio.run(deployment.predict(_row(table, 3, 2), ["predict"], request_id="r1"))
        assert isinstance(answer, Answer) and answer.label == "cancer@1"
        expected = ServedModel.load(registry, "cancer@1").predict(_row(table, 3, 2), ["predict"])
        assert answer.outputs == expected and answer.latency_ms > 0 and answer.shadow is None
        [event] = events
        assert (event.request_id, event.model, event.version, event.shadow) == (
            "r1",
            "cancer",
            1,
            False,
        )
        assert event.inputs == _row(table, 3, 2) and event.outputs == answer.outputs
        assert event.n_rows == 2 and event.time.tzinfo is not None
        assert batches == [("cancer@1", 2, 1)]
    finally:
        deployment.stop()
    assert not deployment.ready
    deployment.start()  # a stopped deployment starts again
    try:
        again = asyncio.run(deployment.predict(_row(table, 3, 2), ["predict"], request_id="r2"))
    finally:
        deployment.stop()
    assert again.outputs == answer.outputs and deployment.swaps == 2


def test_hot_swap_under_load_switches_versions_without_an_error(
    store_url: str, tmp_path: Path, trained: Trained, table: Columns
) -> None:
    with Client(store_url, str(tmp_path / "artifacts"), flush_interval=0.05) as client:
        registry = _registry(client, trained)
        spec, model = _deployment(registry)
        deployment = Deployment(registry, model, spec)
        deployment.start()
        try:
            labels, errors = asyncio.run(_swap_under_load(registry, deployment, table))
        finally:
            deployment.stop()
    assert errors == []
    assert len(labels) > 50 and labels[-1] == "cancer@1"
    changes = [b for a, b in itertools.pairwise(labels) if a != b]
    assert changes[0] == "cancer@2" and "cancer@1" in changes
    assert deployment.swaps == 3  # load, promote, rollback


async def _swap_under_load(
    registry: Registry, deployment: Deployment, table: Columns
) -> tuple[list[str], list[BaseException]]:
    labels: list[str] = []
    errors: list[BaseException] = []
    running = True

    async def client(worker: int) -> None:
        i = 0
        while running:
            try:
                answer = await deployment.predict(
                    _row(table, (worker * 37 + i) % 560, 1 + i % 3), request_id=f"{worker}-{i}"
                )
                labels.append(answer.label)
            except Exception as error:  # counted: the test asserts there are none
                errors.append(error)
            i += 1

    workers = [asyncio.ensure_future(client(w)) for w in range(8)]
    await _until(lambda: len(labels) > 20, "requests are answered")
    await asyncio.to_thread(registry.promote, "cancer@2", force=True, reason="swap test")
    await _until(lambda: labels[-1] == "cancer@2", "version 2 answers")
    await asyncio.to_thread(registry.rollback, "cancer")
    await _until(lambda: labels[-1] == "cancer@1", "version 1 answers again")
    running = False
    await asyncio.gather(*workers)
    return labels, errors


def test_canary_sends_its_share_to_the_challenger_and_logs_who_answered(
    registry: Registry, table: Columns
) -> None:
    events: list[PredictionEvent] = []
    spec, model = _deployment(
        registry, {"mode": "canary", "challenger": "challenger", "share": 0.25}
    )
    deployment = Deployment(registry, model, spec, on_prediction=events.append, seed=7)
    deployment.start()

    async def many() -> list[Answer]:
        return [await deployment.predict(_row(table, i), request_id=f"r{i}") for i in range(400)]

    try:
        answers = asyncio.run(many())
    finally:
        deployment.stop()
    assert deployment.versions() == ["cancer@1", "cancer@2"]
    to_challenger = sum(a.label == "cancer@2" for a in answers)
    assert 60 <= to_challenger <= 140  # 25% of 400 with a fixed seed
    assert [f"cancer@{e.version}" for e in events] == [a.label for a in answers]


def test_promoting_the_challenger_swaps_in_the_model_already_loaded(registry: Registry) -> None:
    policy = {"mode": "canary", "challenger": "challenger", "share": 0.1}
    spec, model = _deployment(registry, policy, swap={"poll_seconds": 600})
    deployment = Deployment(registry, model, spec)
    deployment.start()
    try:
        loaded = deployment.challenger
        assert loaded is not None and deployment.versions() == ["cancer@1", "cancer@2"]
        registry.promote("cancer@2", force=True, reason="the canary went well")
        assert deployment.refresh() and not deployment.refresh()
        assert deployment.current is loaded and deployment.versions() == ["cancer@2"]
    finally:
        deployment.stop()


def test_ab_assignment_is_sticky_by_key_across_deployments(
    registry: Registry, table: Columns
) -> None:
    spec, model = _deployment(registry, {"mode": "ab", "challenger": "2", "share": 0.5})
    first, second = Deployment(registry, model, spec), Deployment(registry, model, spec)
    first.start()
    second.start()

    async def assign(deployment: Deployment, rounds: int) -> dict[str, set[str]]:
        seen: dict[str, set[str]] = {}
        for r in range(rounds):
            for user in range(40):
                answer = await deployment.predict(
                    _row(table, r + user), key=f"user-{user}", request_id=f"{r}-{user}"
                )
                seen.setdefault(f"user-{user}", set()).add(answer.label)
        return seen

    try:
        one, two = asyncio.run(assign(first, 3)), asyncio.run(assign(second, 1))
    finally:
        first.stop()
        second.stop()
    assert all(len(labels) == 1 for labels in one.values())  # sticky
    assert one == two  # every process agrees
    groups = [next(iter(labels)) for labels in one.values()]
    assert 8 <= groups.count("cancer@2") <= 32


def test_shadow_answers_with_the_champion_and_logs_the_challenger_copy(
    registry: Registry, table: Columns
) -> None:
    events: list[PredictionEvent] = []
    spec, model = _deployment(registry, {"mode": "shadow", "challenger": "challenger"})
    deployment = Deployment(registry, model, spec, on_prediction=events.append)
    deployment.start()
    request = _row(table, 40, 3)

    async def shadowed() -> tuple[Answer, Any]:
        answer = await deployment.predict(request, ["predict_proba"], request_id="s1")
        assert answer.shadow is not None
        return answer, await answer.shadow.task

    try:
        answer, copy = asyncio.run(shadowed())
    finally:
        deployment.stop()
    assert answer.label == "cancer@1" and answer.shadow is not None
    assert answer.shadow.label == "cancer@2"
    champion = ServedModel.load(registry, "cancer@1").predict(request, ["predict_proba"])
    challenger = ServedModel.load(registry, "cancer@2").predict(request, ["predict_proba"])
    assert answer.outputs == champion and copy == challenger and champion != challenger
    assert [(e.request_id, e.version, e.shadow) for e in events] == [
        ("s1", 1, False),
        ("s1", 2, True),
    ]
    assert events[1].outputs == challenger


def test_bad_input_is_refused_before_the_model_and_not_logged(
    registry: Registry, table: Columns
) -> None:
    events: list[PredictionEvent] = []
    spec, model = _deployment(registry, limits={"max_rows": 4})
    deployment = Deployment(registry, model, spec, on_prediction=events.append)
    deployment.start()
    wrong = _row(table, 0, 2)
    wrong["mean texture"] = [17.2, "high"]
    try:
        with pytest.raises(DataError, match=r"'high' for field 'mean texture' \(row 1\)"):
            asyncio.run(deployment.predict(wrong, request_id="bad"))
        with pytest.raises(DataError, match="at most 4 rows"):
            asyncio.run(deployment.predict(_row(table, 0, 5), request_id="big"))
        with pytest.raises(InvalidValueError, match="'labels' for field 'outputs'"):
            asyncio.run(deployment.predict(_row(table, 0), ["labels"], request_id="out"))
    finally:
        deployment.stop()
    assert events == []


def test_without_batching_and_with_a_failing_hook_requests_are_still_answered(
    registry: Registry, table: Columns
) -> None:
    batches: list[tuple[str, int, int]] = []

    def broken(event: PredictionEvent) -> None:
        raise OSError("log disk full")

    spec, model = _deployment(registry, batching={"enabled": False})
    deployment = Deployment(
        registry, model, spec, on_prediction=broken, on_batch=lambda *b: batches.append(b)
    )
    deployment.start()

    async def both() -> list[Answer]:
        return list(
            await asyncio.gather(
                deployment.predict(_row(table, 0, 2), ["predict"], request_id="a"),
                deployment.predict(_row(table, 5, 1), ["predict_proba"], request_id="b"),
            )
        )

    try:
        first, second = asyncio.run(both())
    finally:
        deployment.stop()
    assert list(first.outputs) == ["predict"] and len(first.outputs["predict"]) == 2
    assert list(second.outputs) == ["predict_proba"]
    assert deployment.hook_errors == 2
    assert sorted(batches) == [("cancer@1", 1, 1), ("cancer@1", 2, 1)]


def test_a_background_start_becomes_ready_when_the_alias_appears(
    registry: Registry, table: Columns
) -> None:
    spec = ServeSpec.from_refs(["cancer@staging"], swap={"poll_seconds": 0.05})
    deployment = Deployment(registry, spec.models[0], spec)
    deployment.start(wait=False)

    async def scenario() -> Answer:
        await _until(lambda: deployment.last_error is not None, "the first poll fails")
        assert not deployment.ready
        assert "no alias 'staging'" in (deployment.last_error or "")
        await asyncio.to_thread(registry.set_alias, "cancer@2", "staging")
        await _until(lambda: deployment.ready, "the deployment is ready")
        return await deployment.predict(_row(table, 0), request_id="late")

    try:
        answer = asyncio.run(scenario())
    finally:
        deployment.stop()
    assert answer.label == "cancer@2" and deployment.last_error is None


def test_the_serve_spec_comes_from_refs_or_yaml_and_names_the_bad_key(tmp_path: Path) -> None:
    spec = ServeSpec.from_refs(["cancer@champion", "iris"], port=9000, batching={"max_wait_ms": 1})
    assert [m.ref for m in spec.models] == ["cancer@champion", "iris@champion"]
    assert [m.route for m in spec.models] == ["cancer", "iris"]
    assert (spec.port, spec.batching.max_wait_ms, spec.batching.max_batch_rows) == (9000, 1.0, 512)
    assert spec.model("iris").name == "iris"
    with pytest.raises(NotFoundError, match="no served model has route 'wine'; served: cancer"):
        spec.model("wine")
    path = tmp_path / "serve.yaml"
    path.write_text(
        "models:\n  - name: cancer\n    policy: {mode: canary, challenger: '2', share: 0.2}\n"
        "unknown_categories: unknown\nswap: {poll_seconds: 0.5}\n"
    )
    loaded = load_serve_spec(path)
    assert loaded.models[0].policy is not None and loaded.models[0].policy.share == 0.2
    assert loaded.models[0].policy.key_header == "X-Request-Key"
    assert (loaded.unknown_categories, loaded.swap.poll_seconds) == ("unknown", 0.5)
    path.write_text(
        "models:\n  - name: cancer\n    policy: {mode: canary, challenger: x, share: 2}\n"
    )
    with pytest.raises(SpecError, match=r"serve.yaml:3: models\[0\].policy.share: .*less than or"):
        load_serve_spec(path)
    with pytest.raises(SpecError, match="route 'cancer' is served twice"):
        ServeSpec.from_refs(["cancer", "cancer@challenger"])
    with pytest.raises(SpecError, match=r"log.sample: input should be less than or equal to 1"):
        ServeSpec.from_refs(["cancer"], log={"sample": 1.5})
