"""Contract of the artifact store: every ``backend`` test runs on a local folder and on S3 (moto).

Backend-specific tests at the end cover only what differs: how a local folder or an S3 endpoint
fails to be available, and where each takes its configuration from.
"""

from __future__ import annotations

import hashlib
import random
import socket
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from modelcycle.errors import (
    IntegrityError,
    InvalidValueError,
    NotFoundError,
    StoreUnavailableError,
)
from modelcycle.store import (
    ArtifactRef,
    ArtifactStore,
    open_artifact_store,
    validate_artifact_name,
)
from modelcycle.store._artifacts import _BACKENDS, CHUNK_SIZE

if TYPE_CHECKING:  # fixture types, defined beside the fixtures
    from conftest import ArtifactBackend, MotoS3


def _key(sha256: str) -> str:
    return f"sha256/{sha256[:2]}/{sha256[2:]}"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- the contract: round trips ---------------------------------------------------------------


def test_bytes_round_trip_through_their_content_address(backend: ArtifactBackend) -> None:
    ref = backend.store.put_bytes(b"weights v1")
    assert backend.store.exists(ref.sha256)
    assert backend.store.get_bytes(ref.sha256) == b"weights v1"


def test_content_address_is_the_sha256_stored_under_a_two_level_layout(
    backend: ArtifactBackend,
) -> None:
    data = b"a model package"
    ref = backend.store.put_bytes(data)
    assert ref == ArtifactRef(sha256=_sha(data), size=len(data))
    assert backend.read_raw(_key(ref.sha256)) == data


def test_empty_artifact_round_trips(backend: ArtifactBackend) -> None:
    ref = backend.store.put_bytes(b"")
    assert ref == ArtifactRef(_sha(b""), 0)
    assert backend.store.get_bytes(ref.sha256) == b""


def test_file_round_trip_writes_an_identical_file(backend: ArtifactBackend, tmp_path: Path) -> None:
    source = tmp_path / "roc.html"
    source.write_text("<html>roc</html>")
    ref = backend.store.put_file(source)
    assert ref == ArtifactRef(_sha(source.read_bytes()), source.stat().st_size)

    dest = tmp_path / "out" / "nested" / "roc.html"
    assert backend.store.get_file(ref.sha256, dest) == dest
    assert dest.read_bytes() == source.read_bytes()
    assert list(dest.parent.iterdir()) == [dest]  # no temporary file left beside it


def test_large_file_is_streamed_in_chunks(
    backend: ArtifactBackend, tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = random.Random(seed).randbytes(5 * 1024 * 1024 + 17)
    source = tmp_path / "model.bin"
    source.write_bytes(data)
    written: list[int] = []
    read: list[int] = []
    store = backend.store
    write, read_chunks = store._write, store._read

    def spy_write(key: str, chunks: Iterable[bytes]) -> None:
        def counted() -> Iterator[bytes]:
            for chunk in chunks:
                written.append(len(chunk))
                yield chunk

        write(key, counted())

    def spy_read(key: str) -> Iterator[bytes]:
        for chunk in read_chunks(key):
            read.append(len(chunk))
            yield chunk

    monkeypatch.setattr(store, "_write", spy_write)
    monkeypatch.setattr(store, "_read", spy_read)
    ref = store.put_file(source)
    dest = store.get_file(ref.sha256, tmp_path / "copy.bin")

    assert ref == ArtifactRef(_sha(data), len(data))
    assert _sha(dest.read_bytes()) == ref.sha256
    assert sum(written) == sum(read) == len(data)
    assert max(written) <= CHUNK_SIZE
    assert max(read) <= CHUNK_SIZE


def test_storing_the_same_content_twice_writes_it_once(
    backend: ArtifactBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = backend.store.put_bytes(b"same bytes")

    def must_not_write(key: str, chunks: Iterable[bytes]) -> None:
        raise AssertionError(f"{key} was written again")

    monkeypatch.setattr(backend.store, "_write", must_not_write)
    source = tmp_path / "same.txt"
    source.write_bytes(b"same bytes")
    assert backend.store.put_bytes(b"same bytes") == first
    assert backend.store.put_file(source) == first
    assert list(backend.store.hashes()) == [first.sha256]


def test_hashes_lists_every_stored_artifact(backend: ArtifactBackend) -> None:
    refs = {backend.store.put_bytes(f"artifact {i}".encode()).sha256 for i in range(3)}
    assert sorted(backend.store.hashes()) == sorted(refs)


def test_delete_removes_the_artifact(backend: ArtifactBackend) -> None:
    ref = backend.store.put_bytes(b"to be deleted")
    backend.store.delete(ref.sha256)
    assert not backend.store.exists(ref.sha256)
    with pytest.raises(NotFoundError):
        backend.store.get_bytes(ref.sha256)


def test_store_reopened_from_its_url_sees_the_same_artifacts(backend: ArtifactBackend) -> None:
    ref = backend.store.put_bytes(b"shared between processes")
    assert backend.store.url == backend.url
    reopened = open_artifact_store(backend.store.url, **backend.storage_options)
    assert reopened.get_bytes(ref.sha256) == b"shared between processes"


# -- the contract: atomic writes --------------------------------------------------------------


def test_interrupted_write_leaves_no_object_behind(backend: ArtifactBackend) -> None:
    key = _key(_sha(b"never complete"))

    def chunks_then_failure() -> Iterator[bytes]:
        yield b"x" * CHUNK_SIZE
        yield b"y" * 1000
        raise RuntimeError("the producer died")

    with pytest.raises(RuntimeError, match="the producer died"):
        backend.store._write(key, chunks_then_failure())
    assert not backend.store._exists(key)
    assert list(backend.store._list("")) == []  # not even a temporary file


def test_file_changed_while_being_stored_is_not_stored(
    backend: ArtifactBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "data.csv"
    source.write_bytes(b"a,b\n1,2\n")
    write = backend.store._write

    def write_after_the_file_changed(key: str, chunks: Iterable[bytes]) -> None:
        source.write_bytes(b"a,b\n1,3\n")  # hashed already, not yet copied
        write(key, chunks)

    monkeypatch.setattr(backend.store, "_write", write_after_the_file_changed)
    with pytest.raises(IntegrityError, match=r"data\.csv changed while it was being stored"):
        backend.store.put_file(source)
    assert list(backend.store.hashes()) == []


# -- the contract: verified reads -------------------------------------------------------------


@pytest.mark.parametrize(
    "tampered",
    [b"weights v2 (swapped)", b"weights", b""],
    ids=["replaced", "truncated", "emptied"],
)
def test_tampered_object_is_refused_on_read(
    backend: ArtifactBackend, tmp_path: Path, tampered: bytes
) -> None:
    ref = backend.store.put_bytes(b"weights v1")
    backend.write_raw(_key(ref.sha256), tampered)
    expected = (
        rf"artifact sha256:{ref.sha256} in {backend.url} is corrupt: its content hashes to "
        rf"sha256:{_sha(tampered)}; refusing to load it"
    )
    with pytest.raises(IntegrityError, match=expected):
        backend.store.get_bytes(ref.sha256)

    dest = tmp_path / "download" / "weights.bin"
    with pytest.raises(IntegrityError, match=expected):
        backend.store.get_file(ref.sha256, dest)
    assert list(dest.parent.iterdir()) == []  # neither the file nor a temporary one


def test_missing_artifact_is_not_found(backend: ArtifactBackend, tmp_path: Path) -> None:
    sha = _sha(b"never stored")
    message = rf"artifact sha256:{sha} not found in {backend.url}"
    assert not backend.store.exists(sha)
    with pytest.raises(NotFoundError, match=message):
        backend.store.get_bytes(sha)
    with pytest.raises(NotFoundError, match=message):
        backend.store.get_file(sha, tmp_path / "x.bin")
    with pytest.raises(NotFoundError, match=message):
        backend.store.delete(sha)
    assert not (tmp_path / "x.bin").exists()


@pytest.mark.parametrize(
    "bad_hash",
    ["", "abc", "A" * 64, "0" * 65, "../../etc/passwd", "sha256:" + "0" * 64, "g" * 64],
)
def test_malformed_hash_is_refused(backend: ArtifactBackend, bad_hash: str, tmp_path: Path) -> None:
    message = "for artifact sha256: expected 64 lowercase hexadecimal digits"
    with pytest.raises(InvalidValueError, match=message):
        backend.store.get_bytes(bad_hash)
    with pytest.raises(InvalidValueError, match=message):
        backend.store.get_file(bad_hash, tmp_path / "x")
    with pytest.raises(InvalidValueError, match=message):
        backend.store.exists(bad_hash)
    with pytest.raises(InvalidValueError, match=message):
        backend.store.delete(bad_hash)


def test_unreadable_source_file_is_the_callers_error(
    backend: ArtifactBackend, tmp_path: Path
) -> None:
    with pytest.raises(InvalidValueError, match=r"for file to store: cannot read it"):
        backend.store.put_file(tmp_path / "missing.bin")
    with pytest.raises(InvalidValueError, match=r"for file to store: cannot read it"):
        backend.store.put_file(tmp_path)


# -- artifact names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../x", "would escape"),
        ("a/../../b", "would escape"),
        ("/etc/passwd", "absolute path"),
        ("C:\\x", "absolute path"),
        ("c:/x", "absolute path"),
        ("\\\\server\\share", "absolute path"),
        ("a\\b", "backslash"),
        ("", "empty"),
        ("a//b", "empty segment"),
        ("a/", "empty segment"),
        ("a\x00b", "NUL byte"),
        (".", "names no file"),
    ],
)
def test_escaping_or_malformed_artifact_names_are_refused(name: str, why: str) -> None:
    with pytest.raises(InvalidValueError, match=rf"invalid value .* for artifact name: .*{why}"):
        validate_artifact_name(name)


@pytest.mark.parametrize(
    ("name", "normal"),
    [
        ("plots/roc.html", "plots/roc.html"),
        ("./plots/./roc.html", "plots/roc.html"),
        ("model.pkl", "model.pkl"),
        ("a..b/c", "a..b/c"),
    ],
)
def test_artifact_names_are_normalised(name: str, normal: str) -> None:
    assert validate_artifact_name(name) == normal


# -- choosing a backend -----------------------------------------------------------------------


def test_every_registered_backend_runs_the_contract(artifact_backend_names: tuple[str]) -> None:
    assert sorted(_BACKENDS) == sorted(artifact_backend_names)


@pytest.mark.parametrize("url", ["gs://bucket/x", "ftp://host/artifacts", "HDFS://nn/x"])
def test_unknown_scheme_error_lists_supported_schemes(url: str) -> None:
    with pytest.raises(
        InvalidValueError, match=r"unknown scheme .*supported schemes: file://, s3://"
    ):
        open_artifact_store(url)


def test_default_store_is_modelcycle_artifacts_under_the_current_folder(tmp_path: Path) -> None:
    # the root conftest runs every test in tmp_path with MODELCYCLE_ARTIFACTS unset
    store = open_artifact_store()
    assert store.url == (tmp_path / ".modelcycle" / "artifacts").as_uri()
    assert not (tmp_path / ".modelcycle").exists()  # created on first write, not on open
    store.put_bytes(b"x")
    assert (tmp_path / ".modelcycle" / "artifacts").is_dir()


def test_empty_store_url_is_refused() -> None:
    with pytest.raises(InvalidValueError, match="for artifact store URL: it is empty"):
        open_artifact_store("")


def test_a_backend_must_implement_the_whole_core() -> None:
    class ReadOnly(ArtifactStore):
        """Implements reading only: not a store."""

        url = "mem://"

        def _read(self, key: str) -> Iterator[bytes]:
            yield b""

    with pytest.raises(TypeError, match="abstract methods"):
        ReadOnly()  # type: ignore[abstract]


def test_environment_variable_chooses_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELCYCLE_ARTIFACTS", "shared/artifacts")
    assert open_artifact_store().url == (tmp_path / "shared" / "artifacts").as_uri()


def test_file_urls_and_paths_open_the_same_folder(tmp_path: Path) -> None:
    root = tmp_path / "my artifacts"
    ref = open_artifact_store(str(root)).put_bytes(b"x")
    for url in [root.as_uri(), "file://localhost" + root.as_posix(), "my artifacts"]:
        assert open_artifact_store(url).get_bytes(ref.sha256) == b"x"


def test_opening_any_store_leaves_s3fs_unimported() -> None:
    code = (
        "import sys; from modelcycle.store import open_artifact_store; "
        "open_artifact_store('s3://bucket/prefix'); open_artifact_store('.'); "
        "sys.exit('s3fs' in sys.modules or 'botocore' in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# -- local folder only ------------------------------------------------------------------------


def test_local_root_that_cannot_be_created_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    root = tmp_path / "a-file" / "artifacts"
    store = open_artifact_store(str(root))
    with pytest.raises(StoreUnavailableError, match=rf"cannot write to artifact folder {root}"):
        store.put_bytes(b"x")
    with pytest.raises(StoreUnavailableError, match=rf"cannot read from artifact folder {root}"):
        store.get_bytes(_sha(b"x"))


def test_local_store_refuses_storage_options_and_remote_file_urls(tmp_path: Path) -> None:
    with pytest.raises(InvalidValueError, match="a local folder takes no storage options"):
        open_artifact_store(str(tmp_path), endpoint_url="http://x")
    with pytest.raises(InvalidValueError, match="names a folder on this machine"):
        open_artifact_store("file://fileserver/share/artifacts")


# -- S3 only ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("aws_env")
def test_missing_bucket_is_unavailable(moto_s3: MotoS3) -> None:
    store = open_artifact_store("s3://no-such-bucket/p", endpoint_url=moto_s3.endpoint_url)
    message = r"s3://no-such-bucket/p .*bucket 'no-such-bucket' does not exist"
    with pytest.raises(StoreUnavailableError, match=rf"cannot write to artifact store {message}"):
        store.put_bytes(b"x")
    with pytest.raises(StoreUnavailableError, match=rf"cannot read from artifact store {message}"):
        store.get_bytes(_sha(b"x"))


@pytest.mark.usefixtures("aws_env")
def test_unreachable_endpoint_is_unavailable() -> None:
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    store = open_artifact_store(
        "s3://bucket/p", endpoint_url=endpoint, config_kwargs={"retries": {"max_attempts": 1}}
    )
    message = rf"artifact store s3://bucket/p \(endpoint {endpoint}\): Could not connect"
    with pytest.raises(StoreUnavailableError, match=message):
        store.put_bytes(b"x")
    with pytest.raises(StoreUnavailableError, match=message):
        store.get_bytes(_sha(b"x"))


def test_missing_credentials_are_unavailable(
    moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    store = open_artifact_store(
        "s3://modelcycle-test/p", endpoint_url=moto_s3.endpoint_url, skip_instance_cache=True
    )
    with pytest.raises(StoreUnavailableError, match="Unable to locate credentials"):
        store.put_bytes(b"x")


@pytest.mark.usefixtures("aws_env")
@pytest.mark.parametrize("variable", ["MODELCYCLE_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL"])
def test_s3_endpoint_comes_from_the_environment(
    moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, moto_s3.endpoint_url)
    ref = open_artifact_store("s3://modelcycle-test/env").put_bytes(variable.encode())
    assert moto_s3.client.get_object(Bucket="modelcycle-test", Key="env/" + _key(ref.sha256))


def test_s3_url_without_bucket_is_refused() -> None:
    with pytest.raises(InvalidValueError, match=r"expected s3://bucket or s3://bucket/prefix"):
        open_artifact_store("s3:///prefix")
