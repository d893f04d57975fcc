"""API key text, ids and hashes.

A key is ``trk_<12 hex>_<secret>``: the hex part is the key id (``key_<12 hex>``), public and
stored as is, so a request names the row to check without a search; the secret is 256 random
bits (``secrets.token_urlsafe(32)``) of which only the SHA-256 is stored. A fast hash is right
here: with 256 bits of entropy there is nothing to brute-force, and a slow KDF would only make
every request slower. Comparisons are constant-time, and a key id that is not (or no longer)
active is compared against a dummy hash, so an unknown key and a revoked one cost the same.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

KEY_PREFIX = "trk_"
KEY_ID_PREFIX = "key_"
USER_ID_PREFIX = "usr_"
SECRET_BYTES = 32
_KEY_TEXT = re.compile(r"trk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
"""token_urlsafe(32) is 43 characters of the URL-safe alphabet."""
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()


def new_user_id() -> str:
    return USER_ID_PREFIX + secrets.token_hex(8)


def new_key() -> tuple[str, str, str]:
    """A fresh key: ``(key_id, key text to show once, secret hash to store)``."""
    public = secrets.token_hex(6)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return KEY_ID_PREFIX + public, f"{KEY_PREFIX}{public}_{secret}", hash_secret(secret)


def parse_key(text: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of well-formed key text, else None."""
    match = _KEY_TEXT.fullmatch(text)
    if match is None:
        return None
    return KEY_ID_PREFIX + match.group(1), match.group(2)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str | None) -> bool:
    """Constant-time check of ``secret`` against ``stored_hash``; None (no such active key)
    is checked against a dummy hash and never matches."""
    expected = _DUMMY_HASH if stored_hash is None else stored_hash
    same = hmac.compare_digest(hash_secret(secret), expected)
    return same and stored_hash is not None


def same_secret(given: str, expected: str) -> bool:
    """Constant-time equality of two secrets of any lengths (hashed first, so not even the
    length of ``expected`` leaks): the admin key check."""
    return hmac.compare_digest(hash_secret(given), hash_secret(expected))
