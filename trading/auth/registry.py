"""The in-memory table every request is checked against: active keys and live sessions.

Requests never touch the database: a bearer key is one dict lookup and one constant-time hash
compare, a session cookie one signature check and one lookup. The table is replaced whole from
the users file when it changes (:meth:`Registry.replace`), which tells which keys disappeared,
i.e. were revoked: their sessions are dropped with them, and the caller closes their sockets.
A revoked key is simply absent, so it takes exactly the path of a key that never existed.
"""

from __future__ import annotations

from trading.auth import tokens
from trading.auth.principal import Principal
from trading.auth.userstore import ActiveKey, SessionRow, Snapshot


class Registry:
    def __init__(self) -> None:
        self._keys: dict[str, ActiveKey] = {}
        self._sessions: dict[str, SessionRow] = {}

    def replace(self, snapshot: Snapshot) -> set[str]:
        """Take a fresh snapshot; returns the key ids that were active and are not any more."""
        gone = set(self._keys) - set(snapshot.keys)
        self._keys = dict(snapshot.keys)
        self._sessions = dict(snapshot.sessions)
        return gone

    def add_key(self, key: ActiveKey) -> None:
        self._keys[key.key_id] = key

    def remove_key(self, key_id: str) -> bool:
        """Forget a key and its sessions; whether it was active."""
        found = self._keys.pop(key_id, None) is not None
        for sid in [s for s, row in self._sessions.items() if row.key_id == key_id]:
            del self._sessions[sid]
        return found

    def add_session(self, session: SessionRow) -> None:
        self._sessions[session.id] = session

    def prune(self, now_ms: int) -> None:
        """Drop expired sessions (the file drops its rows at each login)."""
        for sid in [s for s, row in self._sessions.items() if row.expires <= now_ms]:
            del self._sessions[sid]

    def remove_session(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def by_key(self, text: str) -> Principal | None:
        """The principal of an API key's text; None for malformed, unknown or revoked keys."""
        parsed = tokens.parse_key(text)
        if parsed is None:
            return None
        key_id, secret = parsed
        key = self._keys.get(key_id)
        if not tokens.secret_matches(secret, key.secret_hash if key is not None else None):
            return None
        assert key is not None  # secret_matches is False without a stored hash
        return _principal(key)

    def by_session(self, session_id: str, key_id: str, now_ms: int) -> Principal | None:
        """The principal of a live session of an active key."""
        session = self._sessions.get(session_id)
        if session is None or session.key_id != key_id or session.expires <= now_ms:
            return None
        key = self._keys.get(key_id)
        return None if key is None else _principal(key)

    def active(self, key_id: str) -> Principal | None:
        key = self._keys.get(key_id)
        return None if key is None else _principal(key)


def _principal(key: ActiveKey) -> Principal:
    return Principal(user_id=key.user_id, user_name=key.user_name, key_id=key.key_id)
