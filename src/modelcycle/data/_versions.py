"""Dataset versions: immutable Parquet snapshots with schema, profile, content hash and lineage.

A version is identified by what made it, not by when: ``version_id`` is the SHA-256 (first 16
hex digits) of the input's content digest together with the canonical JSON of the steps
applied (schema, target, cleaning ...). The same input and the same steps therefore give the
same version id, and creating it again returns the stored version instead of a duplicate.

The snapshot is written as Parquet into the content-addressed artifact store; loading it back
re-hashes the bytes (a tampered snapshot is refused) and checks the data's own content hash.
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from modelcycle.errors import IntegrityError, invalid_value
from modelcycle.store._validation import check_key
from modelcycle.types import DatasetVersion

if TYPE_CHECKING:
    from modelcycle.tracking import Client

__all__ = [
    "content_digest",
    "create_version",
    "find_version",
    "load_profile",
    "load_version",
    "version_id_for",
]


def _column_bytes(column: pa.ChunkedArray) -> list[bytes]:
    """Canonical bytes of one column: its type, its null mask and its values with nulls
    filled, so equal data hashes equal whatever the chunking or buffer layout."""
    import numpy as np
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    valid = np.packbits(pc.is_valid(column).to_numpy(zero_copy_only=False)).tobytes()
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind):
        filled = pc.fill_null(column, "" if not pa.types.is_binary(kind) else b"")
        array = filled.combine_chunks() if isinstance(filled, pa.ChunkedArray) else filled
        offsets = np.frombuffer(
            array.buffers()[1], dtype=np.int32 if not pa.types.is_large_string(kind) else np.int64
        )
        offsets = offsets[array.offset : array.offset + len(array) + 1]
        data = bytes(array.buffers()[2] or b"")[offsets[0] : offsets[-1]]
        return [str(kind).encode(), valid, (offsets - offsets[0]).tobytes(), data]
    if pa.types.is_primitive(kind):
        values = pc.fill_null(
            column, pa.scalar(0, kind) if not pa.types.is_boolean(kind) else False
        )
        return [str(kind).encode(), valid, values.to_numpy().tobytes()]
    return [str(kind).encode(), valid, repr(column.to_pylist()).encode()]


def content_digest(table: pa.Table) -> str:
    """SHA-256 of the table's column names, types and values (layout-independent)."""
    digest = hashlib.sha256()
    for name in table.column_names:
        digest.update(name.encode() + b"\x00")
        for part in _column_bytes(table[name]):
            digest.update(len(part).to_bytes(8, "little") + part)
    return digest.hexdigest()


def version_id_for(input_digest: str, steps: dict[str, Any]) -> str:
    """The version id of ``steps`` applied to the input whose content hashes to ``input_digest``."""
    canonical = json.dumps({"input": input_digest, "steps": steps}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _parquet_bytes(table: pa.Table) -> bytes:
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def find_version(client: Client, name: str, version_id: str) -> DatasetVersion | None:
    """The stored version ``name@version_id``, or None when there is none yet."""
    try:
        return client.metadata.datasets.get(f"{name}@{version_id}")
    except LookupError:
        return None


def create_version(
    client: Client,
    name: str,
    table: pa.Table,
    *,
    input_digest: str,
    steps: dict[str, Any],
    schema: dict[str, Any],
    lineage: dict[str, Any],
    profile: dict[str, Any] | None = None,
    content_sha256: str | None = None,
) -> DatasetVersion:
    """Store ``table`` as a version of dataset ``name`` (idempotent for the same input+steps).

    ``steps`` is the configuration that made ``table`` from the input (it enters the id);
    ``lineage`` records what happened (source, query, per-step counts) for people to read.
    ``content_sha256`` is ``content_digest(table)`` when the caller has it already (the data
    stage does when no cleaning step changed the input); it is computed otherwise.
    """
    check_key("dataset name", name)
    version_id = version_id_for(input_digest, steps)
    existing = find_version(client, name, version_id)
    if existing is not None:
        return existing
    data = client.artifacts.put_bytes(_parquet_bytes(table))
    profile_ref = None
    if profile is not None:
        blob = json.dumps(profile, sort_keys=True, default=str).encode()
        profile_ref = client.artifacts.put_bytes(blob).sha256
    version = DatasetVersion(
        version_id=version_id,
        name=name,
        created_at=datetime.now(timezone.utc),  # the store records its own time
        rows=table.num_rows,
        columns=table.num_columns,
        content_sha256=content_sha256 or content_digest(table),
        data_sha256=data.sha256,
        profile_sha256=profile_ref,
        schema=schema,
        lineage={**lineage, "input_digest": input_digest, "steps": steps},
    )
    return client.metadata.datasets.add(version)


def load_version(client: Client, ref: str) -> tuple[pa.Table, DatasetVersion]:
    """The table of version ``ref`` (``NAME@ID``, ``ID`` or ``NAME`` for the latest), verified."""
    import pyarrow.parquet as pq

    if not ref:
        raise invalid_value("dataset version", ref, "expected NAME@VERSION_ID")
    version = client.metadata.datasets.get(ref)
    table = pq.read_table(io.BytesIO(client.artifacts.get_bytes(version.data_sha256)))
    actual = content_digest(table)
    if actual != version.content_sha256:
        raise IntegrityError(
            f"dataset version {version.ref}: data hashes to {actual[:12]}, "
            f"recorded {version.content_sha256[:12]}; refusing to use it"
        )
    return table, version


def load_profile(client: Client, version: DatasetVersion) -> dict[str, Any] | None:
    """The stored profile of ``version`` (JSON form), or None when it has none."""
    if version.profile_sha256 is None:
        return None
    loaded: dict[str, Any] = json.loads(client.artifacts.get_bytes(version.profile_sha256))
    return loaded
