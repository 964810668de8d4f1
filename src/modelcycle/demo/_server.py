"""The demo's server: ``modelcycle serve`` in a child process on a free loopback port, and a
small client for it (the standard library's ``urllib``: the demo needs no HTTP package
beyond what serving itself installs)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from modelcycle.errors import ModelcycleError

__all__ = ["DemoServer"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class DemoServer:
    """``modelcycle serve REF`` on 127.0.0.1 with the demo's stores; stop it with
    :meth:`stop` (or use it with ``with``). Its output goes to ``log``."""

    def __init__(self, ref: str, store: str, artifacts: str, log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        command = [sys.executable, "-m", "modelcycle", "--store", store, "--artifacts", artifacts]
        command += ["serve", ref, "--host", "127.0.0.1", "--port", str(self.port)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._out = log.open("wb")
        self.process = subprocess.Popen(
            command, stdout=self._out, stderr=subprocess.STDOUT, env=env
        )

    def __enter__(self) -> DemoServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Seconds until ``/v2/health/ready`` answered 200; a server that exits or stays
        unready is an error pointing at its log."""
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            if self.process.poll() is not None:
                raise ModelcycleError(f"the demo server exited early; see {self.log}")
            if self._ready():
                return time.perf_counter() - started
            time.sleep(0.1)
        raise ModelcycleError(
            f"the demo server was not ready within {timeout:.0f} s; see {self.log}"
        )

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/v2/health/ready", timeout=2) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):  # not listening yet, or not ready (503)
            return False

    def post(self, path: str, body: Any) -> tuple[dict[str, Any], dict[str, str]]:
        """POST JSON; the decoded answer and the response headers."""
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.loads(answer.read()), dict(answer.headers)
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:500]
            raise ModelcycleError(f"POST {path}: HTTP {error.code}: {detail}") from None

    def get(self, path: str) -> str:
        """GET; the body as text."""
        with urllib.request.urlopen(self.url + path, timeout=10) as answer:
            text: str = answer.read().decode()
            return text

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._out.close()
