"""The local-folder artifact store: the embedded default, no server needed.

Objects are plain files under a root folder (``<root>/sha256/ab/cdef…``), so a store can be
inspected, copied or backed up with ordinary tools. Reads, listing and deletion go through fsspec's
``LocalFileSystem`` like every other artifact backend; writes go to a temporary file in the
object's folder that is renamed into place, because only a same-filesystem rename makes a write
atomic for concurrent readers. The root folder is created on the first write, so opening a store
never touches the disk.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from fsspec.implementations.local import LocalFileSystem

from modelcycle.errors import StoreUnavailableError, invalid_value
from modelcycle.store._artifacts import CHUNK_SIZE, ArtifactStore, write_atomically

__all__ = ["LocalArtifactStore"]


class LocalArtifactStore(ArtifactStore):
    """Artifacts in a folder on a local (or mounted) filesystem.

    >>> store = LocalArtifactStore("/srv/modelcycle/artifacts")   # doctest: +SKIP
    >>> store.url                                                 # doctest: +SKIP
    'file:///srv/modelcycle/artifacts'
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = Path(root).expanduser().absolute()
        self._fs = LocalFileSystem()

    @classmethod
    def from_url(cls, url: str, **storage_options: Any) -> LocalArtifactStore:
        """Open the folder named by a plain path or a ``file://`` URL (relative paths: from cwd)."""
        if storage_options:
            raise invalid_value(
                "local artifact store options",
                sorted(storage_options),
                "a local folder takes no storage options",
            )
        if not url.lower().startswith("file://"):
            return cls(url)
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise invalid_value(
                "artifact store URL",
                url,
                "a file:// URL names a folder on this machine: file:///absolute/path",
            )
        return cls(url2pathname(parts.path))

    @property
    def root(self) -> Path:
        """The absolute folder holding the artifacts."""
        return self._root

    @property
    def url(self) -> str:
        """The ``file://`` URL of the root folder."""
        return self._root.as_uri()

    def _path(self, key: str) -> Path:
        return self._root.joinpath(*key.split("/"))

    @contextmanager
    def _errors(self, action: str, *, missing_ok: bool) -> Iterator[None]:
        """Turn filesystem failures into StoreUnavailableError naming the root folder.

        With ``missing_ok``, FileNotFoundError passes through: the base class reports a missing
        object as NotFoundError.
        """
        try:
            yield
        except FileNotFoundError:
            if missing_ok:
                raise
            raise StoreUnavailableError(
                f"cannot {action} artifact folder {self._root}: it disappeared while in use"
            ) from None
        except OSError as exc:
            raise StoreUnavailableError(
                f"cannot {action} artifact folder {self._root}: {exc.strerror or exc}"
            ) from exc

    def _write(self, key: str, chunks: Iterable[bytes]) -> None:
        path = self._path(key)
        with self._errors("write to", missing_ok=False):
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, chunks)

    def _read(self, key: str) -> Iterator[bytes]:
        with self._errors("read from", missing_ok=True), self._fs.open(self._path(key), "rb") as f:
            while chunk := f.read(CHUNK_SIZE):
                yield chunk

    def _exists(self, key: str) -> bool:
        return bool(self._fs.isfile(self._path(key)))

    def _delete(self, key: str) -> None:
        with self._errors("delete from", missing_ok=True):
            self._fs.rm_file(self._path(key))

    def _list(self, prefix: str) -> Iterator[str]:
        folder = self._path(prefix.rstrip("/")) if prefix.strip("/") else self._root
        with self._errors("list", missing_ok=False):
            found = self._fs.find(folder)
        for name in found:
            yield Path(name).relative_to(self._root).as_posix()
