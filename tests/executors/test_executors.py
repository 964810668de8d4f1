"""The executor contract on local processes and on a real Ray head, and tuning through Ray.

One suite runs against both implementations: ``local`` (two spawned processes) and ``ray``
(a Ray head started here with ``ray start --head`` on 127.0.0.1 with 2 CPUs, joined through
its GCS address, stopped at the end of the module). The same head serves Ray Client, and a
child process joins it as ``ray://HOST:PORT`` to tune through it. The head runs with
``--block`` so stopping it is a signal to the process this module started: ``ray stop`` would
stop every Ray on the machine, other test sessions' included. Ray (2.59 and later)
authenticates with a token; the head and this process share a fresh one through
``RAY_AUTH_TOKEN`` rather than ``~/.ray/auth_token``, which another Ray on the machine may have
written.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from modelcycle.data import SplitSpec
from modelcycle.errors import InvalidValueError, StoreUnavailableError
from modelcycle.executors import Executor, LocalExecutor, RayExecutor, open_executor
from modelcycle.tracking import Client
from modelcycle.training import CVSpec, TrainData, TrainSpec, TuneSpec, cross_validate
from modelcycle.training._parallel import tune_parallel
from modelcycle.training._study import study_storage

Invoke = Callable[..., tuple[int, str, str]]  # the `cli` fixture of conftest.py
RAY = Path(sys.executable).with_name("ray")
HEAD_START_TIMEOUT_S = 90.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for_port(port: int, head: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + HEAD_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if head.poll() is not None:
            pytest.fail(f"ray start exited with {head.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the Ray head did not listen on {port} within {HEAD_START_TIMEOUT_S}s")


@pytest.fixture(scope="module")
def ray_token() -> Iterator[str]:
    """The module's Ray token, in this process's environment (Ray reads it at ``init``)."""
    token = secrets.token_hex(32)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_AUTH_MODE", "token")
        patch.setenv("RAY_AUTH_TOKEN", token)
        yield token


@dataclass(frozen=True)
class Head:
    """A running Ray head: its GCS address and its Ray Client address."""

    gcs: str
    client: str


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory, ray_token: str) -> Iterator[Head]:
    """A Ray head on 127.0.0.1 with 2 CPUs and a Ray Client server, stopped after the module."""
    folder = tmp_path_factory.mktemp("ray")
    port, client_port, log = _free_port(), _free_port(), folder / "head.log"
    command = [
        str(RAY), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
        f"--port={port}", f"--ray-client-server-port={client_port}", "--num-cpus=2",
        "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={folder}",
    ]  # fmt: skip
    with log.open("wb") as output:
        head = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=os.environ)
    try:
        _wait_for_port(port, head, log)
        _wait_for_port(client_port, head, log)
        yield Head(f"127.0.0.1:{port}", f"ray://127.0.0.1:{client_port}")
    finally:
        head.terminate()  # --block: the head stops the processes it started
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()


@pytest.fixture(scope="module")
def ray_executor(ray_head: Head) -> Iterator[RayExecutor]:
    """This process joined to the module's Ray head with 2 workers."""
    with RayExecutor(address=ray_head.gcs, workers=2) as executor:
        yield executor


@pytest.fixture(scope="module")
def local_executor() -> Iterator[LocalExecutor]:
    """Two spawned local processes for the module."""
    with LocalExecutor(workers=2) as executor:
        yield executor


@pytest.fixture(params=["local", pytest.param("ray", marks=pytest.mark.slow)])
def executor(request: pytest.FixtureRequest) -> Executor:
    """Each executor implementation, two workers each."""
    chosen: Executor = request.getfixturevalue(f"{request.param}_executor")
    return chosen


@pytest.fixture(scope="module")
def cancer_data() -> TrainData:
    """Breast cancer, stratified 70/15/15."""
    frame: pd.DataFrame = load_breast_cancer(as_frame=True).frame
    return TrainData.from_frame(frame, "target", SplitSpec(method="stratified", seed=1234))


def test_map_returns_one_result_per_item_in_the_items_order(executor: Executor) -> None:
    items = [12, 0, 7, 3, 9, 1, 5, 20, 2]
    assert executor.map(math.factorial, items) == [math.factorial(i) for i in items]
    assert executor.map(math.factorial, iter(items[:3])) == [479001600, 1, 5040]
    assert executor.map(math.factorial, []) == []
    assert executor.workers == 2


def test_an_exception_in_a_worker_reaches_the_caller_with_its_type_and_message(
    executor: Executor,
) -> None:
    with pytest.raises(ValueError, match=r"invalid literal for int\(\) with base 10: 'x'"):
        executor.map(int, ["1", "x", "3"])
    assert executor.map(int, ["4"]) == [4]  # the executor still works afterwards


def test_cross_validation_through_the_executor_gives_the_sequential_fold_metrics(
    executor: Executor, client: Client, cancer_data: TrainData
) -> None:
    spec = TrainSpec(cv=CVSpec(folds=3, method="stratified"))
    sequential = cross_validate(client, "linear", {}, cancer_data, spec)
    parallel = cross_validate(client, "linear", {}, cancer_data, spec, map_fn=executor.map)
    for ours, expected in zip(parallel.folds, sequential.folds, strict=True):
        assert ours.index == expected.index and ours.metrics == pytest.approx(expected.metrics)
    assert parallel.mean == pytest.approx(sequential.mean)
    assert len(client.runs.list(parent=parallel.run_id)) == 3


def test_tuning_workers_share_one_study_and_a_finished_study_is_not_extended(
    executor: Executor, client: Client, cancer_data: TrainData
) -> None:
    spec = TrainSpec(tune=TuneSpec(trials=4, study_name=f"share-{uuid.uuid4().hex[:10]}"))
    urls = client.store_url, client.artifacts_url
    first = tune_parallel(*urls, "linear", cancer_data, spec, executor, experiment="tuning")
    assert 4 <= first.trials <= 5 and first.failed == 0  # see _parallel's docstring
    tuning = client.runs.show(first.run_id)
    assert tuning.tags["workers"] == "2" and tuning.tags["optuna_study"] == first.study_name
    again = tune_parallel(*urls, "linear", cancer_data, spec, executor, experiment="tuning")
    assert (again.trials, again.best_run_id) == (first.trials, first.best_run_id)
    assert client.runs.show(again.run_id).tags["workers"] == "0"


def test_a_closed_executor_refuses_work() -> None:
    executor = LocalExecutor(workers=2)
    assert executor.map(abs, [-1, -2]) == [1, 2]
    executor.close()
    executor.close()  # idempotent
    with pytest.raises(InvalidValueError, match="LocalExecutor is closed"):
        executor.map(abs, [-1])


@pytest.mark.parametrize(
    ("spec", "workers"), [(None, 1), ("local", os.cpu_count()), ("local:3", 3), (" local:1 ", 1)]
)
def test_open_executor_builds_local_executors(spec: str | None, workers: int) -> None:
    with open_executor(spec) as executor:
        assert isinstance(executor, LocalExecutor) and executor.workers == workers


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("dask", "supported forms are local, local:N, ray, ray:N, ray://HOST:PORT"),
        ("local:0", "the worker count must be a positive integer"),
        ("local:x", "the worker count must be a positive integer"),
        ("ray:-2", "the worker count must be a positive integer"),
        ("ray://head-without-port", r"a Ray address is HOST:PORT or ray://HOST:PORT"),
        ("http://127.0.0.1:6379", "supported forms are"),
    ],
)
def test_open_executor_refuses_unknown_forms_listing_the_supported_ones(
    spec: str, why: str
) -> None:
    with pytest.raises(InvalidValueError, match=f"invalid value '{spec}' for executor: {why}"):
        open_executor(spec)


def test_an_unreachable_ray_cluster_is_named_in_the_error() -> None:
    address = f"ray://127.0.0.1:{_free_port()}"
    with pytest.raises(StoreUnavailableError, match=f"cannot reach the Ray cluster at {address}"):
        open_executor(address)


def test_without_ray_installed_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # makes ``import ray`` raise ImportError
    with pytest.raises(InvalidValueError, match=r"pip install 'modelcycle\[ray\]'"):
        open_executor("ray")


def test_a_ray_client_server_that_dies_as_it_starts_is_tried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Ray's own calls stand in here: the server's death is a race in Ray (ray#63202) that a
    # live cluster shows only now and then.
    import ray

    from modelcycle.executors import _ray

    died = ConnectionAbortedError(
        "Initialization failure from server:\nRuntimeError: Starting Ray client server failed."
    )
    calls: list[str] = []

    def init(address: str, **options: object) -> None:
        calls.append(address)
        if len(calls) < 3:
            raise died

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "shutdown", lambda: None)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 2.0})
    monkeypatch.setattr(_ray, "_probe", lambda address: None)
    monkeypatch.setattr(_ray, "time", type("Clock", (), {"sleep": staticmethod(lambda s: None)}))
    address = "ray://127.0.0.1:10001"
    with RayExecutor(address=address) as executor:
        assert calls == [address] * 3 and executor.workers == 2

    calls.clear()

    def always_dies(address: str, **options: object) -> None:
        calls.append(address)
        raise died

    monkeypatch.setattr(ray, "init", always_dies)
    with pytest.raises(StoreUnavailableError, match="Starting Ray client server failed"):
        RayExecutor(address=address)
    assert len(calls) == _ray.CLIENT_ATTEMPTS


@pytest.mark.slow
def test_executor_ray_starts_a_local_ray_in_the_process_and_stops_it() -> None:
    # In a child process: this one is joined to the module's Ray head, and a process joins
    # one Ray at a time.
    script = (
        "from modelcycle.executors import open_executor\n"
        "with open_executor('ray:2') as executor:\n"
        "    print(type(executor).__name__, executor.workers, executor.map(abs, [-3, 4]))\n"
        "import ray\n"
        "print(ray.is_initialized())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["RayExecutor 2 [3, 4]", "False"]


@pytest.mark.slow
def test_a_tuning_study_runs_on_a_real_ray_head_with_the_postgresql_store(
    ray_executor: RayExecutor, postgres_url: str, tmp_path: Path, cancer_data: TrainData
) -> None:
    study_name, experiment = f"ray-{uuid.uuid4().hex[:10]}", f"ray-{uuid.uuid4().hex[:6]}"
    spec = TrainSpec(tune=TuneSpec(trials=6, n_jobs=2, study_name=study_name))
    artifacts = str(tmp_path / "artifacts")
    result = tune_parallel(
        postgres_url, artifacts, "linear", cancer_data, spec, ray_executor, experiment=experiment
    )
    with study_storage(postgres_url) as storage:
        import optuna

        trials = optuna.load_study(study_name=study_name, storage=storage).get_trials()
    assert len(trials) == 6 and result.trials == 6  # exactly: each worker runs its share
    with Client(postgres_url, artifacts) as client:
        workers = client.runs.list(parent=result.run_id)
        assert sorted(run.name for run in workers) == [
            "tune-linear.worker-0",
            "tune-linear.worker-1",
        ]
        children = [run for worker in workers for run in client.runs.list(parent=worker.run_id)]
    assert sorted(run.run_id for run in children) == sorted(t.user_attrs["run_id"] for t in trials)
    assert {run.tags["optuna_study"] for run in children} == {study_name}
    assert result.best_run_id in {run.run_id for run in children}
    assert result.best_value == max(t.value for t in trials if t.value is not None)


# In a child process (this one is joined to the head through its GCS address, and a process
# joins one Ray at a time): join through Ray Client, map, and tune 4 trials on 2 workers
# sharing one study in the given store; print what came back.
_CLIENT = """
import json, sys
import pandas as pd
from sklearn.datasets import load_breast_cancer
from modelcycle.data import SplitSpec
from modelcycle.executors import open_executor
from modelcycle.training import TrainData, TrainSpec, TuneSpec
from modelcycle.training._parallel import tune_parallel
address, store, artifacts, study = sys.argv[1:]
frame = load_breast_cancer(as_frame=True).frame
data = TrainData.from_frame(frame, "target", SplitSpec(method="stratified", seed=1234))
spec = TrainSpec(tune=TuneSpec(trials=4, n_jobs=2, study_name=study))
with open_executor(address) as executor:
    import ray
    client_mode = ray.util.client.ray.is_connected()
    mapped = executor.map(abs, [-3, 4])
    result = tune_parallel(store, artifacts, "linear", data, spec, executor, experiment=study)
print(json.dumps({"kind": type(executor).__name__, "client": client_mode, "mapped": mapped,
                  "trials": result.trials, "run_id": result.run_id,
                  "after": ray.is_initialized()}))
"""


@pytest.mark.slow
def test_ray_client_address_joins_the_cluster_and_tunes_through_it(
    ray_head: Head, postgres_url: str, tmp_path: Path
) -> None:
    study = f"client-{uuid.uuid4().hex[:10]}"
    artifacts = str(tmp_path / "artifacts")
    done = subprocess.run(
        [sys.executable, "-c", _CLIENT, ray_head.client, postgres_url, artifacts, study],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["kind"] == "RayExecutor" and found["client"] is True
    assert found["mapped"] == [3, 4] and found["trials"] == 4
    assert found["after"] is False  # the executor disconnected on exit
    with study_storage(postgres_url) as storage:
        import optuna

        trials = optuna.load_study(study_name=study, storage=storage).get_trials()
    assert len(trials) == 4
    with Client(postgres_url, artifacts) as client:
        workers = client.runs.list(parent=found["run_id"])
    assert sorted(run.name for run in workers) == ["tune-linear.worker-0", "tune-linear.worker-1"]


PIPELINE = """\
version: 1
name: cancer
data:
  source: {path: cancer.csv}
  target: {column: target}
  split: {method: stratified, seed: 3}
model:
  candidates: [{family: linear}]
  tune: {trials: 4, sampler: random}
  cv: {folds: 3, method: stratified}
"""


def test_modelcycle_run_tunes_and_cross_validates_on_the_chosen_executor(
    cli: Invoke, tmp_path: Path
) -> None:
    load_breast_cancer(as_frame=True).frame.to_csv(tmp_path / "cancer.csv", index=False)
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    code, out, err = cli("run", "pipeline.yaml", "--executor", "local:2", "--json")
    assert code == 0, err
    (candidate,) = json.loads(out)["candidates"]
    assert 4 <= candidate["tuning"]["trials"] <= 5 and set(candidate["cv"]) == {"mean", "std"}
    with Client() as client:
        workers = client.runs.list(parent=candidate["tuning"]["run_id"])
    assert sorted(run.name for run in workers) == ["tune-linear.worker-0", "tune-linear.worker-1"]
    code, _, err = cli("run", "pipeline.yaml", "--executor", "dask")
    assert code == 1
    assert err == (
        "error: invalid value 'dask' for executor: "
        "supported forms are local, local:N, ray, ray:N, ray://HOST:PORT\n"
    )
