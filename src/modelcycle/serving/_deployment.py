"""A deployment: one served route following ``NAME@ALIAS``, with hot swap and traffic policies.

    deployment = Deployment(registry, spec.models[0], spec, on_prediction=logger.log)
    deployment.start()                      # loads the alias's version, then watches the alias
    answer = await deployment.predict(columns, ["predict"], key=None, request_id="r1")
    answer.label, answer.outputs            # "cancer@3", {"predict": [1]}
    deployment.stop()

Hot swap: a watcher thread polls the alias every ``swap.poll_seconds``; when it points to
another version, that version is loaded in the watcher thread (requests keep being answered by
the old one meanwhile) and replaces the old one in one reference assignment. A request reads the
served model once, when it starts, so in-flight requests finish on the version they started on;
nothing is refused or dropped during a swap. A failing poll or load (store down, bad bundle)
keeps the loaded version serving; the problem is in :attr:`Deployment.last_error`.

Traffic policies (``ModelServeSpec.policy``, challenger = an alias or a version number):

- ``canary``: a random ``share`` of requests is answered by the challenger;
- ``ab``: the request ``key`` (a header value, e.g. a user id) is hashed with BLAKE2b to a
  number in [0, 1): keys below ``share`` always go to the challenger (sticky assignment; without
  a key the request id is hashed, which is random per request);
- ``shadow``: the champion answers; after it has, the challenger predicts a copy of the request
  in the background, and its answer only goes to the ``on_prediction`` hook with
  ``shadow=True`` (:attr:`Answer.shadow` holds the task, for whoever wants to wait for it).

The answering version is in every :class:`Answer` (``label``, ``NAME@VERSION``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from modelcycle.errors import StoreUnavailableError
from modelcycle.serving._batcher import MicroBatcher
from modelcycle.serving._served import ServedModel
from modelcycle.serving._signature import Columns
from modelcycle.types import PredictionEvent

if TYPE_CHECKING:
    from modelcycle.registry import Registry
    from modelcycle.serving._spec import ModelServeSpec, ServeSpec

__all__ = ["Answer", "Deployment", "ModelNotReadyError", "ShadowAnswer"]

_log = logging.getLogger(__name__)
Outputs = dict[str, list[Any]]
_HASH_SPAN = float(2**64)


class ModelNotReadyError(StoreUnavailableError):
    """The deployment has no loaded model (yet, or any more): HTTP 503, retry later."""


@dataclass(frozen=True)
class ShadowAnswer:
    """The challenger's copy of a shadowed request: which version runs it and the task that
    computes its outputs (None when it failed; failures are logged and counted). Never
    returned to the client."""

    label: str
    task: asyncio.Task[Outputs | None]


@dataclass(frozen=True)
class Answer:
    """What a request gets back: the answering version (``NAME@VERSION``), the outputs it
    asked for (each one value per row), the latency inside the deployment, and the shadow copy
    when the policy is ``shadow``."""

    label: str
    outputs: Outputs
    latency_ms: float
    shadow: ShadowAnswer | None = None


@dataclass(frozen=True)
class _Slot:
    """A served model with its batcher (None when batching is off)."""

    model: ServedModel
    batcher: MicroBatcher | None


def _bucket(name: str, key: str) -> float:
    """A stable number in [0, 1) for ``key`` (BLAKE2b, so every process agrees)."""
    digest = hashlib.blake2b(f"{name}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _HASH_SPAN


class Deployment:
    """One served route (see the module docstring).

    ``on_prediction(event)`` receives every answered request (and every shadow copy);
    ``on_batch(label, rows, requests)`` every batch predicted. Hooks must not block; an error
    in one is logged and counted (:attr:`hook_errors`), never returned to a client. ``seed``
    fixes the canary's random draws.
    """

    def __init__(
        self,
        registry: Registry,
        model_spec: ModelServeSpec,
        spec: ServeSpec,
        *,
        on_prediction: Callable[[PredictionEvent], None] | None = None,
        on_batch: Callable[[str, int, int], None] | None = None,
        seed: int | None = None,
    ) -> None:
        self.registry = registry
        self.model_spec = model_spec
        self.spec = spec
        self.name = model_spec.name
        self.route = model_spec.url_name
        self.policy = model_spec.policy
        self.on_prediction = on_prediction
        self.on_batch = on_batch
        self._champion: _Slot | None = None
        self._challenger: _Slot | None = None
        self._executor = self._new_executor()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self._shadows: set[asyncio.Task[Outputs | None]] = set()
        #: Swaps done, hook and shadow failures (counted, for metrics and tests).
        self.swaps = 0
        self.hook_errors = 0
        self.shadow_errors = 0
        #: The last poll or load problem (None once a poll succeeds).
        self.last_error: str | None = None

    # -- state ------------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """Whether a model is loaded and the deployment is not stopped."""
        return self._champion is not None and not self._stopping.is_set()

    @property
    def current(self) -> ServedModel:
        """The version the alias points to (as last loaded)."""
        slot = self._champion
        if slot is None:
            raise ModelNotReadyError(f"model {self.route!r} is not loaded yet")
        return slot.model

    @property
    def challenger(self) -> ServedModel | None:
        """The policy's challenger version (None without a policy)."""
        slot = self._challenger
        return None if slot is None else slot.model

    def versions(self) -> list[str]:
        """The labels (``NAME@VERSION``) served: the champion, then the challenger."""
        labels = [s.model.label for s in (self._champion, self._challenger) if s is not None]
        return list(dict.fromkeys(labels))

    # -- loading and watching ---------------------------------------------------------------------
    def refresh(self) -> bool:
        """Poll once: load and swap in what the alias (and the challenger) point to now.
        Returns whether anything changed. Errors propagate (the watcher catches them)."""
        with self._lock:
            champion = self.registry.get(self.model_spec.ref)
            changed = False
            if self._champion is None or self._champion.model.version != champion.version:
                self._champion = self._slot(champion.ref, champion.version)
                changed = True
            if self.policy is not None:
                challenger = self.registry.get(f"{self.name}@{self.policy.challenger}")
                slot = self._challenger
                if slot is None or slot.model.version != challenger.version:
                    self._challenger = self._slot(challenger.ref, challenger.version)
                    changed = True
            if changed:
                self.swaps += 1
                _log.info("%s now serves %s", self.route, ", ".join(self.versions()))
            return changed

    def _slot(self, ref: str, version: int) -> _Slot:
        """The slot serving ``ref``: the one already loaded for that version (a promoted
        challenger swaps in at once), else a new load."""
        for loaded in (self._champion, self._challenger):
            if loaded is not None and loaded.model.version == version:
                return loaded
        model = ServedModel.load(self.registry, ref, spec=self.spec)
        batching = self.spec.batching
        if not batching.enabled:
            return _Slot(model, None)
        label = model.label
        hook = self.on_batch

        def counted(rows: int, requests: int) -> None:
            if hook is not None:
                self._hook(hook, label, rows, requests)

        batcher = MicroBatcher(
            model.predict,
            max_batch_rows=batching.max_batch_rows,
            max_wait_ms=batching.max_wait_ms,
            on_batch=counted,
            executor=self._executor,
        )
        return _Slot(model, batcher)

    def load(self) -> None:
        """Load the alias's version now, in this thread (raises when it cannot)."""
        self.refresh()

    def _new_executor(self) -> ThreadPoolExecutor:
        workers = 1 if self.policy is None else 2  # the challenger predicts beside the champion
        return ThreadPoolExecutor(workers, thread_name_prefix=f"modelcycle-{self.route}")

    def start(self, *, wait: bool = True) -> None:
        """Load (``wait``: now, raising on failure; else in the background, :attr:`ready`
        turns True once loaded) and start the watcher thread. A stopped deployment starts
        afresh (it reloads)."""
        if self._stopping.is_set():
            self._stopping.clear()
            self._executor = self._new_executor()
            self._champion = self._challenger = None
            self._watcher = None
        if wait and self._champion is None:
            self.load()
        if self._watcher is None:
            self._watcher = threading.Thread(
                target=self._watch, name=f"modelcycle-watch-{self.route}", daemon=True
            )
            self._watcher.start()

    def _watch(self) -> None:
        first = self._champion is None
        while first or not self._stopping.wait(self.spec.swap.poll_seconds):
            first = False
            try:
                self.refresh()
                self.last_error = None
            except Exception as error:  # keep serving the loaded version; retry next poll
                self.last_error = f"{type(error).__name__}: {error}"
                _log.warning("%s: polling %s failed: %s", self.route, self.model_spec.ref, error)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the watcher and the prediction threads (running predictions finish)."""
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join(timeout)
        self._executor.shutdown(wait=True, cancel_futures=False)

    # -- answering --------------------------------------------------------------------------------
    async def predict(
        self,
        columns: Columns,
        outputs: Sequence[str] = (),
        *,
        key: str | None = None,
        request_id: str,
    ) -> Answer:
        """Validate ``columns`` against the answering version's signature and predict the
        requested ``outputs`` (all when empty). Bad input raises DataError / InvalidValueError
        naming the field (and row); no loaded model raises ModelNotReadyError (503)."""
        started = time.perf_counter()
        champion, challenger = self._champion, self._challenger
        if champion is None or self._stopping.is_set():
            raise ModelNotReadyError(f"model {self.route!r} is not loaded yet")
        slot = self._choose(champion, challenger, key, request_id)
        model = slot.model
        wanted = model.check_outputs(outputs)
        valid = model.schema.validate(columns)
        rows = len(next(iter(valid.values())))
        found = await self._call(slot, valid, rows, wanted)
        latency_ms = (time.perf_counter() - started) * 1000.0
        self._emit(request_id, model, valid, found, latency_ms, shadow=False)
        shadow = None
        if self.policy is not None and self.policy.mode == "shadow" and challenger is not None:
            shadow = self._shadow(challenger, columns, wanted, request_id)
        return Answer(model.label, found, latency_ms, shadow)

    def _choose(
        self, champion: _Slot, challenger: _Slot | None, key: str | None, request_id: str
    ) -> _Slot:
        policy = self.policy
        if policy is None or challenger is None or policy.mode == "shadow":
            return champion
        if policy.mode == "canary":
            draw = self._random.random()
        else:
            draw = _bucket(self.name, request_id if key is None else key)
        return challenger if draw < policy.share else champion

    async def _call(
        self, slot: _Slot, columns: Columns, rows: int, wanted: Sequence[str]
    ) -> Outputs:
        if slot.batcher is not None:
            return await slot.batcher.submit(columns, rows, wanted)
        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(self._executor, slot.model.predict, columns, wanted)
        if self.on_batch is not None:
            self._hook(self.on_batch, slot.model.label, rows, 1)
        return found

    def _shadow(
        self, slot: _Slot, columns: Columns, wanted: Sequence[str], request_id: str
    ) -> ShadowAnswer:
        task = asyncio.get_running_loop().create_task(
            self._run_shadow(slot, columns, wanted, request_id)
        )
        self._shadows.add(task)  # keep a reference until it is done
        task.add_done_callback(self._shadows.discard)
        return ShadowAnswer(slot.model.label, task)

    async def _run_shadow(
        self, slot: _Slot, columns: Columns, wanted: Sequence[str], request_id: str
    ) -> Outputs | None:
        started = time.perf_counter()
        model = slot.model
        try:
            asked = tuple(o for o in wanted if o in model.outputs) or model.outputs
            valid = model.schema.validate(columns)  # its own signature, its own copy
            found = await self._call(slot, valid, len(next(iter(valid.values()))), asked)
        except Exception as error:  # a challenger failure is information, never an answer
            self.shadow_errors += 1
            _log.warning(
                "%s: shadow %s failed on %s: %s", self.route, model.label, request_id, error
            )
            return None
        latency_ms = (time.perf_counter() - started) * 1000.0
        self._emit(request_id, model, valid, found, latency_ms, shadow=True)
        return found

    def _emit(
        self,
        request_id: str,
        model: ServedModel,
        inputs: Columns,
        outputs: Outputs,
        latency_ms: float,
        *,
        shadow: bool,
    ) -> None:
        if self.on_prediction is None:
            return
        event = PredictionEvent(
            request_id=request_id,
            model=model.name,
            version=model.version,
            inputs=inputs,
            outputs=outputs,
            latency_ms=latency_ms,
            time=datetime.now(timezone.utc),
            shadow=shadow,
        )
        self._hook(self.on_prediction, event)

    def _hook(self, hook: Callable[..., None], *args: Any) -> None:
        try:
            hook(*args)
        except Exception:  # a logging or metrics hook must never fail a request
            self.hook_errors += 1
            _log.exception("%s: hook %r failed", self.route, hook)
