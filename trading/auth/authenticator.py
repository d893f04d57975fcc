"""The one auth object of a keys-mode app (``app[AUTH]``): checks credentials, keeps sessions,
tickets and rate limits, and tells listeners which keys were revoked.

The users file is read on a single worker thread (as the broker's store does), so the event
loop never waits on the disk. Requests are checked against the in-memory :class:`Registry`,
which is reloaded whenever ``PRAGMA data_version`` says another connection (the CLI) committed:
the version is polled every ``TRADING_AUTH_REFRESH_S``, so a key revoked from the command line
stops working, loses its sessions and has its sockets closed within a second. The server's own
writes (admin API) reload at once; logins and logouts update the table directly.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

from trading.auth.principal import Principal
from trading.auth.ratelimit import RateLimiter
from trading.auth.registry import Registry
from trading.auth.sessions import SessionClaims, SessionSigner, session_secret
from trading.auth.tickets import TicketBook

if TYPE_CHECKING:
    from trading.auth.shared_tickets import RedisTickets
from trading.auth.userstore import KeyRow, SessionRow, Snapshot, UserRow, UserStore
from trading.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
PRUNE_EVERY_S = 60.0
"""How often expired sessions leave the in-memory table (they are refused anyway)."""
RevokedListener = Callable[[set[str]], None]


class Authenticator:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.market_private = settings.auth_market == "private"
        self._clock = settings.clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="auth-sqlite")
        self._store: UserStore | None = None
        self._version: int | None = None
        self._registry = Registry()
        self._signer: SessionSigner | None = None
        self.tickets = TicketBook(settings.ws_ticket_ttl_s, self._clock.now)
        self._shared_tickets: RedisTickets | None = None
        """A cluster's workers share tickets through Redis (any worker may take the upgrade)."""
        if settings.redis_url is not None:  # imported here: a lone server loads no Redis client
            from trading.auth.shared_tickets import RedisTickets

            self._shared_tickets = RedisTickets(
                settings.redis_url.get_secret_value(),
                settings.ws_ticket_ttl_s,
                settings.redis_timeout_s,
            )
        self.rest_limits = RateLimiter(
            settings.rate_limit_rest_per_s, settings.rate_limit_rest_burst
        )
        self.ws_limits = RateLimiter(settings.rate_limit_ws_per_s, settings.rate_limit_ws_burst)
        self._listeners: list[RevokedListener] = []
        self._refresher: asyncio.Task[None] | None = None

    # --- lifetime ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open (or create) the users file and load it; then watch it for the CLI's changes."""

        def open_store() -> None:
            self._store = UserStore(self.settings.data_dir)
            self._signer = SessionSigner(session_secret(self.settings))

        await self._on_thread(open_store)
        await self.reload()
        self._refresher = asyncio.create_task(self._watch(), name="auth-refresh")

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
        if self._store is not None:
            await self._on_thread(self._store.close)
        if self._shared_tickets is not None:
            await self._shared_tickets.close()
        self._executor.shutdown(wait=False)

    async def _on_thread(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _now_ms(self) -> int:
        return int(self._clock.now() * 1000)

    @property
    def store(self) -> UserStore:
        assert self._store is not None, "Authenticator.start() was not awaited"
        return self._store

    async def reload(self) -> None:
        """Reread the active keys and sessions; notify listeners of keys that went away."""
        store, now_ms = self.store, self._now_ms()

        def read() -> tuple[int, Snapshot]:
            return store.data_version(), store.snapshot(now_ms)

        version, snapshot = await self._on_thread(read)
        self._version = version
        gone = self._registry.replace(snapshot)
        if gone:
            self._revoked(gone)

    async def _watch(self) -> None:
        pruned = time.monotonic()
        while True:
            await asyncio.sleep(self.settings.auth_refresh_s)
            if time.monotonic() - pruned >= PRUNE_EVERY_S:
                self._registry.prune(self._now_ms())
                pruned = time.monotonic()
            try:
                if await self._on_thread(self.store.data_version) != self._version:
                    await self.reload()
            except Exception:  # a locked or broken file: keep serving the last table
                log.exception("could not reread the users database")

    # --- revocation listeners ---------------------------------------------------------------

    def on_revoked(self, callback: RevokedListener) -> None:
        """``callback(key_ids)`` runs on the event loop whenever keys are revoked."""
        self._listeners.append(callback)

    def _revoked(self, key_ids: set[str]) -> None:
        self.tickets.forget_keys(key_ids)
        self.rest_limits.forget(key_ids)
        self.ws_limits.forget(key_ids)
        for listener in self._listeners:
            try:
                listener(key_ids)
            except Exception:
                log.exception("a revocation listener failed")

    # --- credentials ------------------------------------------------------------------------

    async def issue_ticket(self, principal: Principal) -> str:
        """A one-time WebSocket ticket (:class:`TicketStoreDown` when Redis is unreachable)."""
        if self._shared_tickets is not None:
            return await self._shared_tickets.issue(principal)
        return self.tickets.issue(principal)

    async def take_ticket(self, ticket: str) -> Principal | None:
        """The principal of a ticket, once, and only while its key is still active."""
        if self._shared_tickets is None:
            return self.tickets.take(ticket)
        principal = await self._shared_tickets.take(ticket)
        if principal is None or self._registry.active(principal.key_id) is None:
            return None  # revoked since it was issued (possibly on another worker)
        return principal

    def by_key(self, text: str) -> Principal | None:
        return self._registry.by_key(text)

    def by_session(self, token: str) -> Principal | None:
        claims = self.signer.read(token, self._clock.now())
        if claims is None:
            return None
        principal = self._registry.by_session(claims.session_id, claims.key_id, self._now_ms())
        if principal is None or principal.user_id != claims.user_id:
            return None
        return principal

    def session_id(self, token: str) -> str | None:
        claims = self.signer.read(token, self._clock.now())
        return None if claims is None else claims.session_id

    @property
    def signer(self) -> SessionSigner:
        assert self._signer is not None, "Authenticator.start() was not awaited"
        return self._signer

    async def login(self, key_text: str) -> tuple[Principal, str] | None:
        """A new session for a valid key: ``(principal, signed cookie value)``."""
        principal = self.by_key(key_text)
        if principal is None:
            return None
        now = int(self._clock.now())
        expires = now + self.settings.session_ttl_s
        row = SessionRow(secrets.token_urlsafe(16), principal.key_id, expires * 1000)
        store = self.store
        await self._on_thread(lambda: store.add_session(row, now * 1000))
        if self._registry.active(principal.key_id) is None:  # revoked while we wrote
            await self._on_thread(lambda: store.delete_session(row.id))
            return None
        self._registry.add_session(row)
        claims = SessionClaims(principal.user_id, principal.key_id, row.id, expires)
        return principal, self.signer.issue(claims, now)

    async def logout(self, session_id: str) -> None:
        self._registry.remove_session(session_id)
        store = self.store
        await self._on_thread(lambda: store.delete_session(session_id))

    # --- administration (the admin API; the CLI uses the UserStore directly) --------------

    async def create_user(self, name: str) -> tuple[UserRow, str]:
        store, now_ms = self.store, self._now_ms()
        created = await self._on_thread(lambda: store.create_user(name, now_ms))
        await self.reload()
        return created

    async def add_key(self, name_or_id: str) -> tuple[KeyRow, str]:
        store, now_ms = self.store, self._now_ms()
        created = await self._on_thread(lambda: store.add_key(name_or_id, now_ms))
        await self.reload()
        return created

    async def users(self) -> list[UserRow]:
        return await self._on_thread(self.store.users)

    async def revoke(self, key_id: str) -> bool:
        """Revoke a key now (REST refused at once, sessions ended, sockets closed)."""
        store, now_ms = self.store, self._now_ms()
        changed = await self._on_thread(lambda: store.revoke(key_id, now_ms))
        if self._registry.remove_key(key_id):
            self._revoked({key_id})
        return changed
