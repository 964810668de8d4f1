"""``modelcycle loop``: ``retrain --if-needed`` on a clock, until stopped.

Each cycle evaluates the policies once (``loop._retrain.retrain``) and reports the result
to ``on_result``; a failing cycle (the store unreachable, bad new data) is reported and the
loop goes on. SIGTERM or SIGINT ends the loop after the cycle in progress, so a container
stops cleanly; ``cycles`` bounds the number of cycles (for tests and one-shot use).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from modelcycle.errors import ModelcycleError, invalid_value

if TYPE_CHECKING:
    from modelcycle.loop._retrain import RetrainResult
    from modelcycle.tracking import Client

__all__ = ["run_loop"]


def run_loop(
    client: Client,
    ref: str,
    *,
    every: float = 300.0,
    cycles: int | None = None,
    on_result: Callable[[RetrainResult | None, Exception | None], None] | None = None,
    stop: threading.Event | None = None,
    **options: Any,
) -> int:
    """Run ``retrain(client, ref, if_needed=True, **options)`` every ``every`` seconds until
    ``stop`` is set, a signal arrives or ``cycles`` have run; returns the cycles run."""
    from modelcycle.loop._retrain import retrain

    if every <= 0:
        raise invalid_value("every", every, "expected a positive number of seconds")
    if cycles is not None and cycles < 1:
        raise invalid_value("cycles", cycles, "expected a positive integer")
    stop = stop or threading.Event()
    previous = _on_signals(stop)
    done = 0
    try:
        while not stop.is_set():
            try:
                result = retrain(client, ref, if_needed=True, **options)
            except ModelcycleError as exc:
                if on_result is not None:
                    on_result(None, exc)
            else:
                if on_result is not None:
                    on_result(result, None)
            done += 1
            if cycles is not None and done >= cycles:
                break
            stop.wait(every)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    return done


def _on_signals(stop: threading.Event) -> dict[int, Any]:
    """SIGTERM and SIGINT set ``stop`` (main thread only); the old handlers are returned."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous: dict[int, Any] = {}
    for number in (signal.SIGTERM, signal.SIGINT):
        previous[number] = signal.getsignal(number)
        signal.signal(number, lambda *_: stop.set())
    return previous
