"""The API-key aggregate: named keys, their scopes and the SHA-256 of their secrets.

The store never sees a secret, only its hash (``modelcycle.serving.ApiKeys`` makes secrets and
hashes them). A revoked key keeps its row (and its name) so the history of who could call
what stays readable.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from modelcycle.errors import AlreadyExistsError, NotFoundError, invalid_value
from modelcycle.store import _schema as s
from modelcycle.store._db import Database, now_ms
from modelcycle.store._experiments import to_datetime
from modelcycle.types import KeyInfo

__all__ = ["SCOPES", "ApiKeyRepository"]

#: Every scope a key can hold.
SCOPES = ("predict", "feedback", "admin")

_T = s.api_keys


def check_scopes(scopes: Sequence[str]) -> tuple[str, ...]:
    """The scopes in canonical order; an unknown or missing scope names the valid ones."""
    if isinstance(scopes, str) or not scopes:
        raise invalid_value("scopes", scopes, f"expected one or more of {', '.join(SCOPES)}")
    for scope in scopes:
        if scope not in SCOPES:
            raise invalid_value("scope", scope, f"expected one of {', '.join(SCOPES)}")
    return tuple(scope for scope in SCOPES if scope in scopes)


def _info(row: Any) -> KeyInfo:
    return KeyInfo(
        key_id=row.key_id,
        name=row.name,
        prefix=row.prefix,
        scopes=tuple(row.scopes.split(",")),
        created_at=to_datetime(row.created_at),
        revoked_at=None if row.revoked_at is None else to_datetime(row.revoked_at),
    )


class ApiKeyRepository:
    """Create, list, revoke and look up API keys by the hash of their secret."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self, name: str, *, prefix: str, secret_sha256: str, scopes: Sequence[str]
    ) -> KeyInfo:
        """Record a key; a taken name raises AlreadyExistsError."""
        if not isinstance(name, str) or not name.strip() or len(name) > 256:
            raise invalid_value("key name", name, "expected a non-empty string of <= 256 chars")
        if len(secret_sha256) != 64:
            raise invalid_value("secret_sha256", secret_sha256, "expected 64 hex digits")
        row = {
            "key_id": uuid.uuid4().hex,
            "name": name.strip(),
            "prefix": prefix[:16],
            "secret_sha256": secret_sha256,
            "scopes": ",".join(check_scopes(scopes)),
            "created_at": now_ms(),
            "revoked_at": None,
        }
        try:
            with self._db.write() as conn:
                conn.execute(sa.insert(_T).values(**row))
        except sa.exc.IntegrityError:
            raise AlreadyExistsError(f"an API key named {name.strip()!r} already exists") from None
        return _info(_Plain(row))

    def list(self, *, include_revoked: bool = True) -> list[KeyInfo]:
        """Every key, oldest first."""
        query = sa.select(_T).order_by(_T.c.created_at, _T.c.name)
        if not include_revoked:
            query = query.where(_T.c.revoked_at.is_(None))
        with self._db.read() as conn:
            return [_info(row) for row in conn.execute(query)]

    def active(self) -> dict[str, KeyInfo]:
        """Every key that is not revoked, by the hash of its secret (what a verifier caches)."""
        query = sa.select(_T).where(_T.c.revoked_at.is_(None))
        with self._db.read() as conn:
            return {row.secret_sha256: _info(row) for row in conn.execute(query)}

    def verify(self, secret_sha256: str) -> KeyInfo | None:
        """The active key whose secret hashes to ``secret_sha256``, or None."""
        query = sa.select(_T).where(_T.c.secret_sha256 == secret_sha256)
        with self._db.read() as conn:
            row = conn.execute(query.where(_T.c.revoked_at.is_(None))).first()
        return None if row is None else _info(row)

    def revoke(self, name_or_prefix: str) -> KeyInfo:
        """Revoke the key with this name (or, failing that, the one key whose prefix starts
        with it); revoking a revoked key changes nothing and returns it."""
        with self._db.write() as conn:
            row = conn.execute(sa.select(_T).where(_T.c.name == name_or_prefix)).first()
            if row is None:
                row = self._by_prefix(conn, name_or_prefix)
            if row.revoked_at is None:
                when = now_ms()
                conn.execute(sa.update(_T).where(_T.c.key_id == row.key_id).values(revoked_at=when))
                return _info(_Plain({**row._asdict(), "revoked_at": when}))
        return _info(row)

    @staticmethod
    def _by_prefix(conn: sa.Connection, prefix: str) -> Any:
        if len(prefix) < 4:
            raise NotFoundError(f"no API key named {prefix!r}")
        query = sa.select(_T).where(_T.c.prefix.startswith(prefix, autoescape=True))
        rows = conn.execute(query).all()
        if not rows:
            raise NotFoundError(f"no API key named or prefixed {prefix!r}")
        if len(rows) > 1:
            names = ", ".join(sorted(r.name for r in rows))
            raise invalid_value("key prefix", prefix, f"matches several keys: {names}")
        return rows[0]


class _Plain:
    """Attribute access over a dict, so freshly written rows convert like fetched ones."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)
