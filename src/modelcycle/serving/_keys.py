"""API keys: high-entropy secrets shown once, stored as their SHA-256, checked from a cache.

Why SHA-256 and not a password hash (bcrypt, scrypt, Argon2): those are slow on purpose to
resist guessing *low-entropy* human passwords from a stolen table. An API key secret here is
``mc_`` + 32 random bytes (``secrets.token_urlsafe``, 256 bits): no dictionary holds it and
brute force over 2**256 is out of reach, so a fast hash already makes a stolen table
useless, while a slow hash would cost tens of milliseconds on *every request*. (GitHub,
Stripe and PyPI store API tokens the same way.)

Verification looks the hash up in an in-memory snapshot of the active keys, refreshed from
the store at most every ``refresh_seconds`` (and at once after ``create``/``revoke`` through
this object), so a server does not query the database per request, and a flood of wrong keys
cannot reach the database either. A key revoked elsewhere stops working within
``refresh_seconds``. The lookup compares *hashes*, never secrets: how long a dictionary probe
takes can tell an attacker at most how the SHA-256 of a guess relates to a stored hash, which
says nothing about any secret (preimage resistance), so a constant-time compare would add no
protection here.

Scopes are ``predict``, ``feedback`` and ``admin``; ``admin`` grants the other two.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from modelcycle.errors import invalid_value
from modelcycle.store._keys import SCOPES, check_scopes
from modelcycle.types import KeyInfo

if TYPE_CHECKING:
    from modelcycle.store import MetadataStore

__all__ = ["SCOPES", "ApiKeys", "hash_secret"]

#: What every secret starts with (so leaked keys are easy to recognise and scan for).
SECRET_PREFIX = "mc_"
#: How many characters of the secret are stored and shown to tell keys apart.
SHOWN_CHARS = 8


def hash_secret(secret: str) -> str:
    """The SHA-256 hex digest the store keeps for ``secret``."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class ApiKeys:
    """Create, list, revoke and verify API keys (see the module docstring)."""

    def __init__(self, store: MetadataStore, *, refresh_seconds: float = 5.0) -> None:
        self.store = store
        self.refresh_seconds = refresh_seconds
        self._cache: dict[str, KeyInfo] = {}
        self._loaded_at = -float("inf")
        self._lock = threading.Lock()

    def create(self, name: str, scopes: Sequence[str]) -> tuple[KeyInfo, str]:
        """A new key and its secret; the secret is not stored and cannot be shown again."""
        check_scopes(scopes)
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        info = self.store.keys.create(
            name,
            prefix=secret[:SHOWN_CHARS],
            secret_sha256=hash_secret(secret),
            scopes=scopes,
        )
        self.invalidate()
        return info, secret

    def list(self, *, include_revoked: bool = True) -> list[KeyInfo]:
        """Every key (never a secret)."""
        return self.store.keys.list(include_revoked=include_revoked)

    def revoke(self, name_or_prefix: str) -> KeyInfo:
        """Revoke a key by name or by the start of its shown prefix."""
        info = self.store.keys.revoke(name_or_prefix)
        self.invalidate()
        return info

    def invalidate(self) -> None:
        """Reload the active keys on the next verification."""
        with self._lock:
            self._loaded_at = -float("inf")

    def _active(self) -> dict[str, KeyInfo]:
        with self._lock:
            if time.monotonic() - self._loaded_at >= self.refresh_seconds:
                self._cache = self.store.keys.active()
                self._loaded_at = time.monotonic()
            return self._cache

    def verify(self, secret: str | None, scope: str) -> KeyInfo | None:
        """The active key ``secret`` belongs to when it grants ``scope`` (``admin`` grants
        every scope), else None. An unknown scope is a programming error and raises."""
        if scope not in SCOPES:
            raise invalid_value("scope", scope, f"expected one of {', '.join(SCOPES)}")
        if not secret or not secret.startswith(SECRET_PREFIX):
            return None
        digest = hash_secret(secret)
        info = self._active().get(digest)
        if info is None:
            return None
        return info if scope in info.scopes or "admin" in info.scopes else None
