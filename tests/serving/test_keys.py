"""API keys: secrets shown once, stored hashed, scoped, verified from a cache."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from modelcycle.errors import InvalidValueError
from modelcycle.serving._keys import ApiKeys
from modelcycle.store import MetadataStore


def test_a_created_key_verifies_for_its_scopes_only(store: MetadataStore) -> None:
    keys = ApiKeys(store)
    info, secret = keys.create("scorer", ["predict"])
    assert secret.startswith("mc_") and len(secret) > 40
    assert info.prefix == secret[:8]
    assert keys.verify(secret, "predict") == info
    assert keys.verify(secret, "feedback") is None
    assert keys.verify(secret, "admin") is None
    assert keys.verify(secret + "x", "predict") is None
    assert keys.verify(None, "predict") is None
    assert keys.verify("Bearer nonsense", "predict") is None


def test_admin_grants_every_scope(store: MetadataStore) -> None:
    keys = ApiKeys(store)
    _, secret = keys.create("ops", ["admin"])
    assert all(keys.verify(secret, s) is not None for s in ("predict", "feedback", "admin"))


def test_the_store_holds_the_sha256_never_the_secret(store: MetadataStore, store_url: str) -> None:
    _, secret = ApiKeys(store).create("ci", ["predict", "feedback"])
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM api_keys")).mappings().one()
    engine.dispose()
    assert secret not in {str(v) for v in row.values()}
    assert row["secret_sha256"] == hashlib.sha256(secret.encode()).hexdigest()
    assert row["scopes"] == "predict,feedback"


def test_revoked_keys_stop_working_at_once_here_and_after_refresh_elsewhere(
    store: MetadataStore,
) -> None:
    keys = ApiKeys(store)
    server = ApiKeys(store, refresh_seconds=0.0)  # another process's verifier, no cache
    cached = ApiKeys(store, refresh_seconds=3600.0)
    _, secret = keys.create("temp", ["predict"])
    assert server.verify(secret, "predict") and cached.verify(secret, "predict")
    keys.revoke("temp")
    assert keys.verify(secret, "predict") is None
    assert server.verify(secret, "predict") is None
    assert cached.verify(secret, "predict") is not None  # until its refresh
    cached.invalidate()
    assert cached.verify(secret, "predict") is None
    assert [k.active for k in keys.list()] == [False]


def test_verification_reads_the_cache_not_the_database(store: MetadataStore) -> None:
    keys = ApiKeys(store, refresh_seconds=3600.0)
    _, secret = keys.create("k", ["predict"])
    assert keys.verify(secret, "predict")
    store.close()  # with the pool gone, any query would reopen connections
    reads: list[str] = []
    sa.event.listen(store.db.engine, "before_cursor_execute", lambda *a: reads.append(a[2]))
    for _ in range(50):
        assert keys.verify(secret, "predict") is not None
        assert keys.verify("mc_wrong", "predict") is None
    assert reads == []


def test_bad_scopes_are_refused_naming_them(store: MetadataStore) -> None:
    keys = ApiKeys(store)
    with pytest.raises(InvalidValueError, match="'root'"):
        keys.create("x", ["predict", "root"])
    with pytest.raises(InvalidValueError, match="scope"):
        keys.verify("mc_x", "write")
    assert keys.list() == []
