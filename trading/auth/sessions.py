"""The session cookie: a JWT (PyJWT, HS256) naming a server-side session row.

The signature keeps a client from forging or editing the cookie; the row (``sid``) is what
makes logout and revocation work: a token whose row is gone is refused although its signature
and ``exp`` are fine. Expiry is checked against the service's clock (tests move it), not
PyJWT's wall clock.

The signing secret is ``TRADING_SESSION_SECRET`` or, absent, 32 random bytes generated once
into ``<data_dir>/session.secret`` (mode 0600), so sessions survive a restart without the
operator having to invent a secret.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import jwt

from trading.broker.sqlite_file import StartupError
from trading.settings import Settings

COOKIE_NAME = "trading_session"
SECRET_FILE = "session.secret"
ALGORITHM = "HS256"
_REQUIRED_CLAIMS = ["sub", "kid", "sid", "iat", "exp"]


@dataclass(frozen=True)
class SessionClaims:
    user_id: str
    key_id: str
    session_id: str
    expires: int


class SessionSigner:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def issue(self, claims: SessionClaims, issued_at: int) -> str:
        payload = {
            "sub": claims.user_id,
            "kid": claims.key_id,
            "sid": claims.session_id,
            "iat": issued_at,
            "exp": claims.expires,
        }
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM)

    def read(self, token: str, now: float) -> SessionClaims | None:
        """The claims of a token we signed that has not expired at ``now``, else None."""
        try:
            data = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": _REQUIRED_CLAIMS, "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            return None
        sub, kid, sid, exp = (data.get(k) for k in ("sub", "kid", "sid", "exp"))
        if not (isinstance(sub, str) and isinstance(kid, str) and isinstance(sid, str)):
            return None
        if not isinstance(exp, int) or exp <= now:
            return None
        return SessionClaims(sub, kid, sid, exp)


def session_secret(settings: Settings) -> bytes:
    """The configured secret, else the data dir's generated one (made on first use)."""
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value().encode()
    return _file_secret(settings.data_dir / SECRET_FILE)


def _file_secret(path: Path) -> bytes:
    """Made whole beside the path and linked into place: the workers of a cluster starting
    together all read the one that won, never a file still being written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        draft = path.with_name(f"{path.name}.{os.getpid()}.new")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, secrets.token_hex(32).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)  # atomic, and refuses to replace another's secret
        finally:
            draft.unlink(missing_ok=True)
    secret = path.read_bytes().strip()
    if len(secret) < 32:
        raise StartupError(f"{path} holds no usable session secret: remove it to generate one")
    return secret
