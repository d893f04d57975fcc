"""The auth building blocks on their own: key text, the token bucket (a hypothesis property),
tickets, the signed session token and the users file."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trading.auth import tokens
from trading.auth.principal import Principal
from trading.auth.ratelimit import RateLimiter, TokenBucket, retry_after
from trading.auth.registry import Registry
from trading.auth.sessions import SECRET_FILE, SessionClaims, SessionSigner, session_secret
from trading.auth.tickets import TicketBook
from trading.auth.userstore import (
    USERS_FILE,
    ActiveKey,
    SessionRow,
    Snapshot,
    UserError,
    UserStore,
)
from trading.settings import Settings

ALICE = Principal(user_id="usr_0123456789abcdef", user_name="alice", key_id="key_0123456789ab")


def test_key_text_parses_back_and_only_the_hash_is_kept() -> None:
    key_id, text, secret_hash = tokens.new_key()
    assert text.startswith("trk_")
    parsed = tokens.parse_key(text)
    assert parsed is not None
    assert parsed[0] == key_id
    assert len(key_id) == len("key_") + 12
    assert tokens.secret_matches(parsed[1], secret_hash)
    assert parsed[1] not in secret_hash
    assert not tokens.secret_matches(parsed[1], None), "no stored hash never matches"
    assert not tokens.secret_matches(parsed[1][:-1] + "x", secret_hash)


@pytest.mark.parametrize(
    "text",
    ["", "trk_", "trk_0123456789ab", "trk_0123456789AB_" + "a" * 43, "Bearer x", "trk_" + "0" * 60],
)
def test_malformed_key_text_is_refused(text: str) -> None:
    assert tokens.parse_key(text) is None


def test_user_ids_have_the_documented_shape() -> None:
    user_id = tokens.new_user_id()
    assert user_id.startswith("usr_")
    assert len(user_id) == 4 + 16
    int(user_id[4:], 16)


@given(
    rate=st.floats(min_value=0.1, max_value=100),
    burst=st.integers(min_value=1, max_value=50),
    gaps=st.lists(st.floats(min_value=0, max_value=2), min_size=1, max_size=120),
)
def test_a_bucket_never_admits_more_than_burst_plus_rate_times_t(
    rate: float, burst: int, gaps: list[float]
) -> None:
    """Over any window [t_i, t_j] of the request times, admissions <= burst + rate·(t_j - t_i)."""
    times, now = [], 0.0
    for gap in gaps:
        now += gap
        times.append(now)
    bucket = TokenBucket(rate, burst, 0.0)
    admitted = [t for t in times if bucket.take(t) == 0.0]
    for i, start in enumerate(admitted):
        for j in range(i, len(admitted)):
            assert j - i + 1 <= burst + rate * (admitted[j] - start) + 1e-6


@given(rate=st.floats(min_value=0.1, max_value=100), burst=st.integers(min_value=1, max_value=20))
def test_a_refused_request_is_told_how_long_to_wait(rate: float, burst: int) -> None:
    bucket = TokenBucket(rate, burst, 0.0)
    assert all(bucket.take(0.0) == 0.0 for _ in range(burst)), "a full bucket admits a burst"
    wait = bucket.take(0.0)
    assert wait == pytest.approx(1 / rate)
    assert bucket.take(wait * 0.999) > 0, "not before the wait is over"
    assert bucket.take(wait * 1.001) == 0.0, "and again once it is"


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert [retry_after(w) for w in (0.001, 0.999, 1.0, 1.01, 29.5)] == ["1", "1", "1", "2", "30"]


def test_limiter_keys_are_independent_and_forgotten() -> None:
    now = [0.0]
    limiter = RateLimiter(1.0, 2, clock=lambda: now[0])
    assert [limiter.check("a") for _ in range(3)][:2] == [0.0, 0.0]
    assert limiter.check("a") > 0
    assert limiter.check("b") == 0.0, "another key has its own bucket"
    limiter.forget(["a"])
    assert limiter.check("a") == 0.0, "a forgotten key starts full again"


def test_tickets_are_one_time_and_expire() -> None:
    now = [100.0]
    book = TicketBook(30, lambda: now[0])
    first, second = book.issue(ALICE), book.issue(ALICE)
    assert first != second
    assert book.take(first) == ALICE
    assert book.take(first) is None, "used once"
    now[0] += 30
    assert book.take(second) is None, "expired"
    book.issue(ALICE)
    now[0] += 31
    book.issue(ALICE)
    assert len(book) == 1, "expired tickets are dropped as new ones come"
    book.forget_keys({ALICE.key_id})
    assert len(book) == 0


def test_session_tokens_are_signed_and_expire() -> None:
    signer = SessionSigner(b"s" * 32)
    claims = SessionClaims(ALICE.user_id, ALICE.key_id, "sid-1", expires=1_000)
    token = signer.issue(claims, issued_at=900)
    assert signer.read(token, now=999) == claims
    assert signer.read(token, now=1_000) is None, "expired at exp"
    assert SessionSigner(b"t" * 32).read(token, now=999) is None, "another secret"
    forged = jwt.encode({"sub": "usr_x", "kid": "k", "sid": "s", "iat": 1, "exp": 2000}, "g" * 32)
    assert signer.read(forged, now=999) is None
    unsigned = jwt.encode({"sub": "usr_x", "kid": "k", "sid": "s", "iat": 1, "exp": 2000}, None,
                          algorithm="none")  # fmt: skip
    assert signer.read(unsigned, now=999) is None
    incomplete = jwt.encode({"sub": "usr_x", "exp": 2000}, b"s" * 32, algorithm="HS256")
    assert signer.read(incomplete, now=999) is None


def test_the_session_secret_is_generated_once_and_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    first = session_secret(settings)
    assert len(first) >= 32
    assert session_secret(settings) == first, "kept across restarts"
    mode = stat.S_IMODE((tmp_path / "data" / SECRET_FILE).stat().st_mode)
    assert mode == 0o600
    configured = settings.replace(session_secret="c" * 40)
    assert session_secret(configured) == b"c" * 40


def test_users_file_migrates_and_keeps_no_secret(tmp_path: Path) -> None:
    store = UserStore(tmp_path)
    user, text = store.create_user("alice", 1)
    key_id, secret = tokens.parse_key(text) or ("", "")
    assert key_id == user.keys[0].id
    with pytest.raises(UserError, match="exists already"):
        store.create_user("alice", 2)
    with pytest.raises(UserError, match="bad user name"):
        store.create_user("-bad\nname", 2)
    row, _ = store.add_key(user.name, 3)
    assert store.find_user(user.id) == (user.id, "alice")
    assert store.revoke(row.id, 4) is True
    assert store.revoke(row.id, 5) is False, "revoked already"
    with pytest.raises(UserError, match="unknown key"):
        store.revoke("key_000000000000", 6)
    snapshot = store.snapshot(0)
    assert set(snapshot.keys) == {key_id}
    store.close()
    raw = (tmp_path / USERS_FILE).read_bytes()
    db = sqlite3.connect(tmp_path / USERS_FILE)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    assert secret.encode() not in raw
    assert text.encode() not in raw
    assert UserStore(tmp_path).users()[0].name == "alice", "reopens without migrating again"


def test_the_registry_forgets_revoked_keys_with_their_sessions() -> None:
    registry = Registry()
    key_id, text, secret_hash = tokens.new_key()
    key = ActiveKey(key_id, ALICE.user_id, "alice", secret_hash)
    registry.replace(Snapshot({key_id: key}, {}))
    registry.add_session(SessionRow("s1", key_id, expires=1_000))
    registry.add_session(SessionRow("s2", key_id, expires=5_000))
    assert registry.by_key(text) == Principal(ALICE.user_id, "alice", key_id)
    assert registry.by_session("s1", key_id, now_ms=999) is not None
    assert registry.by_session("s1", "key_other", now_ms=999) is None, "another key's session"
    registry.prune(now_ms=1_000)
    assert registry.by_session("s1", key_id, now_ms=0) is None, "pruned when expired"
    assert registry.replace(Snapshot({}, {})) == {key_id}, "a vanished key is reported"
    assert registry.by_key(text) is None
    assert registry.by_session("s2", key_id, now_ms=0) is None
