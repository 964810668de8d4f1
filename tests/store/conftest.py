"""Fixtures for the artifact-store contract: a local folder and S3 on a loopback moto server.

The S3 backend is tested against moto's standalone server on 127.0.0.1, spoken to over real HTTP
by s3fs exactly as a production endpoint would be. The server starts once per session, and only if
an S3 test runs; each test gets its own key prefix in one bucket.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from modelcycle.store import ArtifactStore, open_artifact_store

#: Every artifact backend the contract runs against, by URL scheme; a meta-test keeps this list
#: equal to the registry in ``modelcycle.store._artifacts``.
ARTIFACT_BACKENDS = ("file", "s3")

BUCKET = "modelcycle-test"
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
#: Variables of the developer's machine that must not leak into S3 tests.
AWS_ENV_TO_CLEAR = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "MODELCYCLE_S3_ENDPOINT_URL",
)


@dataclass
class ArtifactBackend:
    """An empty store under test, with raw access to its objects behind the store's back."""

    store: ArtifactStore
    url: str
    storage_options: dict[str, Any]
    read_raw: Callable[[str], bytes]
    write_raw: Callable[[str, bytes], None]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MotoS3:
    """A running moto S3 server and a boto3 client talking to it."""

    endpoint_url: str
    client: Any


def _single_server_header(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """Drop the ``Server`` header moto's app sets, keeping only the one werkzeug's server sends.

    moto answers ``server: amazon.com`` and werkzeug's dev server adds ``Server: Werkzeug/...``;
    aiohttp (under s3fs) rejects a response with two Server headers since 3.13.4
    (getmoto/moto#9930, aio-libs/aiohttp#12297). Real S3 sends one.
    """

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            kept = [(name, value) for name, value in headers if name.lower() != "server"]
            return start_response(status, kept, exc_info)

        return app(environ, start)

    return wrapped


class _MotoServer(ThreadedMotoServer):
    """``ThreadedMotoServer`` serving moto's app through :func:`_single_server_header`."""

    def _server_entry(self) -> None:
        app = _single_server_header(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    """moto's S3 on a free loopback port with one bucket, for the whole session."""
    server = _MotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint_url = f"http://{host}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=DUMMY_CREDENTIALS["AWS_DEFAULT_REGION"],
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    client.create_bucket(Bucket=BUCKET)
    yield MotoS3(endpoint_url, client)
    client.close()
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials, and nothing from the developer's AWS configuration."""
    for name in AWS_ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    for name, value in DUMMY_CREDENTIALS.items():
        monkeypatch.setenv(name, value)


def _local_backend(root: Path) -> ArtifactBackend:
    def write_raw(key: str, data: bytes) -> None:
        (root / key).write_bytes(data)

    return ArtifactBackend(
        store=open_artifact_store(str(root)),
        url=root.as_uri(),
        storage_options={},
        read_raw=lambda key: (root / key).read_bytes(),
        write_raw=write_raw,
        extra={"root": root},
    )


def _s3_backend(moto: MotoS3) -> ArtifactBackend:
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    options = {"endpoint_url": moto.endpoint_url}

    def read_raw(key: str) -> bytes:
        body: bytes = moto.client.get_object(Bucket=BUCKET, Key=f"{prefix}/{key}")["Body"].read()
        return body

    def write_raw(key: str, data: bytes) -> None:
        moto.client.put_object(Bucket=BUCKET, Key=f"{prefix}/{key}", Body=data)

    url = f"s3://{BUCKET}/{prefix}"
    return ArtifactBackend(
        store=open_artifact_store(url, **options),
        url=url,
        storage_options=options,
        read_raw=read_raw,
        write_raw=write_raw,
        extra={"prefix": prefix},
    )


@pytest.fixture(params=ARTIFACT_BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactBackend:
    """An empty artifact store, once per backend."""
    if request.param == "file":
        return _local_backend(tmp_path / "artifacts")
    request.getfixturevalue("aws_env")
    return _s3_backend(request.getfixturevalue("moto_s3"))


@pytest.fixture
def artifact_backend_names() -> tuple[str, ...]:
    """The schemes the contract fixture covers (for the registry meta-test)."""
    return ARTIFACT_BACKENDS
