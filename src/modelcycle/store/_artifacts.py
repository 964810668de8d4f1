"""The artifact store: content-addressed bytes behind one small interface.

Every artifact modelcycle keeps (model packages, plots, data profiles) is stored under the SHA-256
of its content, at ``sha256/<first 2 hex digits>/<other 62>``, and re-hashed every time it is read:
a file that was changed, truncated or swapped behind the store's back is refused with an
:class:`~modelcycle.errors.IntegrityError` instead of being unpickled. Content addressing also makes
writes idempotent (storing the same bytes twice stores them once) and lets a run, a model version
and a dataset version share one copy.

:class:`ArtifactStore` is the interface. A backend implements a small byte-store core on relative
keys (``_write``, ``_read``, ``_exists``, ``_delete``, ``_list``, plus ``url`` and ``from_url``);
hashing, verification, key layout and error messages live here once, so every backend behaves the
same and one contract test suite covers them all. Backends are chosen by URL scheme in
:func:`open_artifact_store` from a single registry; each is imported only when its scheme is used,
so ``import modelcycle`` never pays for s3fs.

    >>> store = open_artifact_store("/tmp/artifacts")            # doctest: +SKIP
    >>> ref = store.put_bytes(b"hello")                           # doctest: +SKIP
    >>> store.get_bytes(ref.sha256)                               # doctest: +SKIP
    b'hello'
"""

from __future__ import annotations

import abc
import hashlib
import importlib
import os
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelcycle._settings import resolve_artifacts_url
from modelcycle.errors import IntegrityError, InvalidValueError, NotFoundError, invalid_value

__all__ = [
    "CHUNK_SIZE",
    "ArtifactRef",
    "ArtifactStore",
    "open_artifact_store",
    "validate_artifact_name",
]

#: Bytes read, hashed and written at a time: artifacts are streamed, never loaded whole for hashing.
CHUNK_SIZE = 1 << 20

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_OBJECT_KEY = re.compile(r"sha256/([0-9a-f]{2})/([0-9a-f]{62})")
_URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_WINDOWS_DRIVE = re.compile(r"[A-Za-z]:")

# The one registry of backends: URL scheme -> "module:class". Modules are imported on first use.
_BACKENDS: dict[str, str] = {
    "file": "modelcycle.store._artifacts_local:LocalArtifactStore",
    "s3": "modelcycle.store._artifacts_s3:S3ArtifactStore",
}


@dataclass(frozen=True)
class ArtifactRef:
    """What the store returns for stored bytes: their SHA-256 (lowercase hex) and size in bytes.

    The hash is the address: keep it (for example in an :class:`~modelcycle.types.ArtifactInfo`)
    and pass it to :meth:`ArtifactStore.get_bytes` or :meth:`ArtifactStore.get_file`.
    """

    sha256: str
    size: int


class ArtifactStore(abc.ABC):
    """A content-addressed artifact store.

    Rules every backend keeps (the contract tests in ``tests/store/test_artifacts.py`` check them):

    * ``_write`` is atomic: a reader sees the whole object or none of it, and if iterating the
      chunks raises, nothing is stored.
    * ``_read`` and ``_delete`` raise :class:`FileNotFoundError` for a missing key; every other
      failure of the storage itself becomes :class:`~modelcycle.errors.StoreUnavailableError`
      naming the store.
    * Keys are relative ``/``-separated paths built by this class; backends never see user input.
    """

    # -- the core a backend implements -------------------------------------------------------

    @classmethod
    @abc.abstractmethod
    def from_url(cls, url: str, **storage_options: Any) -> ArtifactStore:
        """Open the store at ``url`` (a URL of this backend's scheme) with backend options."""

    @property
    @abc.abstractmethod
    def url(self) -> str:
        """The URL that opens this store again, e.g. ``file:///srv/artifacts``."""

    @abc.abstractmethod
    def _write(self, key: str, chunks: Iterable[bytes]) -> None:
        """Store the concatenated ``chunks`` under ``key``, atomically, replacing any object."""

    @abc.abstractmethod
    def _read(self, key: str) -> Iterator[bytes]:
        """Yield the object at ``key`` in chunks of at most :data:`CHUNK_SIZE` bytes."""

    @abc.abstractmethod
    def _exists(self, key: str) -> bool:
        """Whether an object is stored at ``key``."""

    @abc.abstractmethod
    def _delete(self, key: str) -> None:
        """Remove the object at ``key``."""

    @abc.abstractmethod
    def _list(self, prefix: str) -> Iterator[str]:
        """Yield the keys of every object under the folder-like ``prefix`` (e.g. ``"sha256/"``)."""

    # -- conveniences built on the core ------------------------------------------------------

    def put_bytes(self, data: bytes) -> ArtifactRef:
        """Store ``data`` and return its reference; storing the same bytes again is a no-op."""
        ref = ArtifactRef(hashlib.sha256(data).hexdigest(), len(data))
        key = _object_key(ref.sha256)
        if not self._exists(key):
            self._write(key, (data[i : i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE)))
        return ref

    def put_file(self, path: str | os.PathLike[str]) -> ArtifactRef:
        """Store the file at ``path`` (streamed, never loaded whole) and return its reference.

        The file is hashed first, then copied; if it changes in between, nothing is stored and an
        :class:`~modelcycle.errors.IntegrityError` says so.
        """
        source = Path(path)
        digest, size = hashlib.sha256(), 0
        for chunk in _read_source_file(source):
            digest.update(chunk)
            size += len(chunk)
        ref = ArtifactRef(digest.hexdigest(), size)
        key = _object_key(ref.sha256)
        if not self._exists(key):

            def changed(actual: str) -> IntegrityError:
                return IntegrityError(
                    f"{source} changed while it was being stored in {self.url} (sha256:{ref.sha256}"
                    f" when hashed, sha256:{actual} when copied); nothing was stored"
                )

            self._write(key, _verify(_read_source_file(source), ref.sha256, changed))
        return ref

    def get_bytes(self, sha256: str) -> bytes:
        """The verified content of the artifact ``sha256``.

        Raises :class:`~modelcycle.errors.NotFoundError` if it is not stored and
        :class:`~modelcycle.errors.IntegrityError` if the stored bytes do not hash to ``sha256``.
        """
        return b"".join(self._verified_chunks(sha256))

    def get_file(self, sha256: str, dest: str | os.PathLike[str]) -> Path:
        """Write the verified artifact ``sha256`` to ``dest`` and return ``dest`` as a Path.

        The content goes to a temporary file beside ``dest`` that is renamed into place only once
        its hash checked out, so ``dest`` never holds partial or corrupt bytes. Missing parent
        folders are created. Errors are those of :meth:`get_bytes`.
        """
        chunks = self._verified_chunks(sha256)
        target = Path(dest)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(target, chunks)
        except OSError as exc:
            raise invalid_value(
                "artifact destination", str(target), f"cannot write it: {exc.strerror or exc}"
            ) from exc
        return target

    def exists(self, sha256: str) -> bool:
        """Whether the artifact ``sha256`` is stored (its content is not verified)."""
        return self._exists(_object_key(sha256))

    def delete(self, sha256: str) -> None:
        """Remove the artifact ``sha256``; raises NotFoundError if it is not stored."""
        try:
            self._delete(_object_key(sha256))
        except FileNotFoundError:
            raise NotFoundError(f"artifact sha256:{sha256} not found in {self.url}") from None

    def hashes(self) -> Iterator[str]:
        """Yield the sha256 of every stored artifact, in no particular order."""
        for key in self._list("sha256/"):
            match = _OBJECT_KEY.fullmatch(key)
            if match:
                yield match.group(1) + match.group(2)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def _verified_chunks(self, sha256: str) -> Iterator[bytes]:
        """The stored chunks of ``sha256``; raises after the last one if they hash differently."""
        key = _object_key(sha256)  # validated now, not when the generator is first advanced

        def corrupt(actual: str) -> IntegrityError:
            return IntegrityError(
                f"artifact sha256:{sha256} in {self.url} is corrupt: its content hashes to "
                f"sha256:{actual}; refusing to load it"
            )

        def missing_as_not_found() -> Iterator[bytes]:
            try:
                yield from self._read(key)
            except FileNotFoundError:
                raise NotFoundError(f"artifact sha256:{sha256} not found in {self.url}") from None

        return _verify(missing_as_not_found(), sha256, corrupt)


def _object_key(sha256: str) -> str:
    """The store key of the artifact ``sha256``, refusing anything but a SHA-256 hex digest."""
    if not isinstance(sha256, str) or not _SHA256_HEX.fullmatch(sha256):
        raise invalid_value("artifact sha256", sha256, "expected 64 lowercase hexadecimal digits")
    return f"sha256/{sha256[:2]}/{sha256[2:]}"


def _verify(
    chunks: Iterable[bytes], sha256: str, mismatch: Callable[[str], Exception]
) -> Iterator[bytes]:
    """Pass ``chunks`` through; after the last one, raise ``mismatch(actual)`` if they hash
    to something other than ``sha256`` — before the consumer can treat the data as complete."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
        yield chunk
    actual = digest.hexdigest()
    if actual != sha256:
        raise mismatch(actual)


def _read_source_file(path: Path) -> Iterator[bytes]:
    """Yield a caller's file in chunks; an unreadable file is the caller's invalid value."""
    try:
        with path.open("rb") as file:
            while chunk := file.read(CHUNK_SIZE):
                yield chunk
    except OSError as exc:
        raise invalid_value(
            "file to store", str(path), f"cannot read it: {exc.strerror or exc}"
        ) from exc


def write_atomically(path: Path, chunks: Iterable[bytes]) -> None:
    """Write ``chunks`` to a new temporary file beside ``path``, then rename it onto ``path``.

    The rename is atomic on one filesystem, so readers of ``path`` see the old file or the whole
    new one. If writing (or iterating ``chunks``) fails, the temporary file is removed and ``path``
    is left as it was. The temporary file is created exclusively with the usual ``0o666 & ~umask``
    permissions, like any file the user writes.
    """
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(temp, flags, 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def validate_artifact_name(name: str) -> str:
    """Check a logical artifact name such as ``plots/roc.html`` and return its normal form.

    Names are relative ``/``-separated paths inside a run. Refused, so that no name can escape
    the run's artifact folder or mean different things on different systems: empty names, absolute
    paths (``/x``, ``C:\\x``, ``\\\\server\\share``), ``..`` segments, empty segments (``a//b``,
    a trailing ``/``), backslashes (a legal file-name character on POSIX, a separator on Windows)
    and NUL bytes. The normal form drops ``.`` segments: ``./plots/roc.html`` -> ``plots/roc.html``.

    >>> validate_artifact_name("./plots/roc.html")
    'plots/roc.html'
    """

    def refuse(why: str) -> InvalidValueError:
        return invalid_value("artifact name", name, why)

    if not isinstance(name, str):
        raise refuse("expected a string")
    if not name:
        raise refuse("it is empty")
    if "\x00" in name:
        raise refuse("it contains a NUL byte")
    if name.startswith(("/", "\\")) or _WINDOWS_DRIVE.match(name):
        raise refuse("it is an absolute path; use a relative one such as 'plots/roc.html'")
    if "\\" in name:
        raise refuse("it contains a backslash; separate folders with '/'")
    segments = name.split("/")
    if ".." in segments:
        raise refuse("a '..' segment would escape the run's artifact folder")
    if "" in segments:
        raise refuse("it has an empty segment ('//' or a trailing '/')")
    kept = [segment for segment in segments if segment != "."]
    if not kept:
        raise refuse("it names no file")
    return "/".join(kept)


def open_artifact_store(url: str | None = None, **storage_options: Any) -> ArtifactStore:
    """Open the artifact store at ``url``; the backend is chosen by the URL's scheme.

    * a folder path or ``file://`` URL: a local folder (created on first write);
    * ``s3://bucket/prefix``: S3-compatible object storage (needs ``modelcycle[s3]``).

    ``None`` means the ``MODELCYCLE_ARTIFACTS`` environment variable, else
    ``./.modelcycle/artifacts`` under the current directory. ``storage_options`` go to the
    backend, e.g. ``endpoint_url="http://minio:9000"`` for S3.

    >>> open_artifact_store("s3://ml/a", endpoint_url="http://minio:9000")  # doctest: +SKIP
    S3ArtifactStore('s3://ml/a')
    """
    if url is None:
        url = resolve_artifacts_url(None)
    if not url:
        raise invalid_value("artifact store URL", url, "it is empty")
    scheme = _scheme_of(url)
    target = _BACKENDS.get(scheme)
    if target is None:
        supported = ", ".join(f"{name}://" for name in sorted(_BACKENDS))
        raise invalid_value(
            "artifact store URL",
            url,
            f"unknown scheme {scheme!r}; supported schemes: {supported} (or a plain folder path)",
        )
    module_name, class_name = target.split(":")
    backend: type[ArtifactStore] = getattr(importlib.import_module(module_name), class_name)
    return backend.from_url(url, **storage_options)


def _scheme_of(url: str) -> str:
    """The lower-cased scheme of ``url``; ``"file"`` for plain (POSIX or Windows) paths."""
    match = _URL_SCHEME.match(url)
    if match is None or len(match.group(1)) == 1:  # one letter is a Windows drive: C://x
        return "file"
    return match.group(1).lower()
