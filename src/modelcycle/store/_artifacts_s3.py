"""The S3-compatible artifact store: AWS S3, MinIO, Ceph, R2 and friends, through s3fs.

This is the scale-out backend: point ``MODELCYCLE_ARTIFACTS`` at ``s3://bucket/prefix`` and every
machine shares one store. s3fs (and botocore under it) is imported when the first request is made,
never when modelcycle is imported, and is only needed by those who use this backend
(``pip install 'modelcycle[s3]'``).

Writes are atomic because S3 makes them so: an object appears only when its single PUT or its
multipart upload completes. To keep it that way when the chunks come from a generator that may
raise at the end (a failed verification), chunks are first spooled to a local temporary file and
uploaded only when they are all in.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from modelcycle.errors import StoreUnavailableError, invalid_value
from modelcycle.store._artifacts import CHUNK_SIZE, ArtifactStore

__all__ = ["S3ArtifactStore"]

#: Environment variables naming the S3 endpoint, first match wins (after ``endpoint_url=``).
ENDPOINT_ENV_VARS = ("MODELCYCLE_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL")


class S3ArtifactStore(ArtifactStore):
    """Artifacts as objects under ``s3://bucket/prefix/``.

    ``storage_options`` go to :class:`s3fs.S3FileSystem` (``key``, ``secret``, ``client_kwargs``,
    ``config_kwargs``, ...). ``endpoint_url`` selects a non-AWS service and defaults to the
    ``MODELCYCLE_S3_ENDPOINT_URL`` or ``AWS_ENDPOINT_URL`` environment variable. Credentials come
    from the usual AWS chain (environment, profile, instance role) unless given.
    """

    def __init__(self, bucket: str, prefix: str = "", **storage_options: Any) -> None:
        if not bucket:
            raise invalid_value("S3 bucket", bucket, "it is empty")
        self._bucket = bucket
        self._prefix = prefix.strip("/")
        options = dict(storage_options)
        endpoint = options.pop("endpoint_url", None) or next(
            (os.environ[name] for name in ENDPOINT_ENV_VARS if os.environ.get(name)), None
        )
        self._endpoint: str | None = endpoint
        # Objects can change behind our back (another client, or tampering): always ask S3
        # rather than trusting a cached listing.
        self._options = {"use_listings_cache": False, **options, "endpoint_url": endpoint}
        self._s3fs: Any = None

    @classmethod
    def from_url(cls, url: str, **storage_options: Any) -> S3ArtifactStore:
        """Open ``s3://bucket`` or ``s3://bucket/prefix``."""
        parts = urlsplit(url)
        if not parts.netloc:
            raise invalid_value(
                "artifact store URL", url, "expected s3://bucket or s3://bucket/prefix"
            )
        return cls(parts.netloc, parts.path, **storage_options)

    @property
    def url(self) -> str:
        """``s3://bucket/prefix`` (without the endpoint, which is configuration, not location)."""
        return f"s3://{self._bucket}/{self._prefix}".rstrip("/")

    @property
    def _fs(self) -> Any:
        if self._s3fs is None:
            try:
                import s3fs
            except ImportError as exc:
                raise StoreUnavailableError(
                    f"cannot open artifact store {self.url}: s3:// stores need s3fs; "
                    "install it with: pip install 'modelcycle[s3]'"
                ) from exc
            self._s3fs = s3fs.S3FileSystem(**self._options)
        return self._s3fs

    def _path(self, key: str) -> str:
        return "/".join(part for part in (self._bucket, self._prefix, key) if part)

    def _where(self) -> str:
        return f"{self.url} (endpoint {self._endpoint})" if self._endpoint else self.url

    @contextmanager
    def _errors(self, action: str, *, missing_ok: bool) -> Iterator[None]:
        """Turn connection, credential, permission and bucket failures into StoreUnavailableError.

        With ``missing_ok``, FileNotFoundError for a missing object passes through (the base
        class reports it as NotFoundError); a missing bucket is always StoreUnavailableError.
        """
        try:
            yield
        except FileNotFoundError as exc:
            if missing_ok and self._bucket_exists():
                raise
            raise StoreUnavailableError(
                f"cannot {action} artifact store {self._where()}: bucket {self._bucket!r} "
                f"does not exist ({exc})"
            ) from exc
        except _storage_errors() as exc:
            raise StoreUnavailableError(
                f"cannot {action} artifact store {self._where()}: {exc}"
            ) from exc

    def _bucket_exists(self) -> bool:
        try:
            return bool(self._fs.exists(self._bucket))
        except _storage_errors():
            return False

    def _write(self, key: str, chunks: Iterable[bytes]) -> None:
        with tempfile.TemporaryDirectory(prefix="modelcycle-upload-") as spool_dir:
            spool = Path(spool_dir) / "object"
            with spool.open("wb") as out:
                for chunk in chunks:
                    out.write(chunk)
            with self._errors("write to", missing_ok=False):
                self._fs.put_file(str(spool), self._path(key))

    def _read(self, key: str) -> Iterator[bytes]:
        with self._errors("read from", missing_ok=True), self._fs.open(self._path(key), "rb") as f:
            while chunk := f.read(CHUNK_SIZE):
                yield chunk

    def _exists(self, key: str) -> bool:
        # info() rather than exists(): exists() answers False when the endpoint is unreachable.
        with self._errors("read from", missing_ok=True):
            try:
                self._fs.info(self._path(key))
            except FileNotFoundError:
                return False
        return True

    def _delete(self, key: str) -> None:
        # S3 deletes of missing keys succeed silently; the interface promises FileNotFoundError.
        if not self._exists(key):
            raise FileNotFoundError(key)
        with self._errors("delete from", missing_ok=False):
            self._fs.rm_file(self._path(key))

    def _list(self, prefix: str) -> Iterator[str]:
        root = self._path("")
        with self._errors("list", missing_ok=False):
            found = self._fs.find(self._path(prefix.rstrip("/")))
        for name in found:
            yield name[len(root) + 1 :]


def _storage_errors() -> tuple[type[Exception], ...]:
    """The exception types that mean "the storage failed" (not "the caller erred")."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]
    except ImportError:  # s3fs missing: the _fs property reports that
        return (OSError,)
    return (OSError, BotoCoreError, ClientError)
