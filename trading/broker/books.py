"""What one process holds of the store: every account's book, description and version, who
owns which, the idempotency keys and the fill loop's index over them (broker.md §20, §21).

:class:`~trading.broker.service.BrokerService` decides when to read and write; this keeps the
copies consistent with each other whenever it replaces them, all at once after a full load or
account by account when another process changed some.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from decimal import Decimal

from trading.broker.accounts import AccountInfo, is_session_book
from trading.broker.engine import Engine
from trading.broker.errors import UnknownAccount
from trading.broker.idempotency import KeyRegistry
from trading.broker.rows import BookRows, Snapshot
from trading.broker.timelines import Timelines

NewEngine = Callable[[Decimal], Engine]
"""An empty book with the given initial balance (the service's commission, leverage, market)."""


class Books:
    def __init__(self, new_engine: NewEngine, keys: KeyRegistry, evaluator: Timelines) -> None:
        self._new_engine = new_engine
        self.keys = keys
        self.evaluator = evaluator
        self.engines: dict[str, Engine] = {}
        self._infos: dict[str, AccountInfo] = {}
        self._owned: dict[str | None, list[str]] = {}
        self._versions: dict[str, int] = {}
        """Each account's version as stored: the commit sequence number of its last change."""
        self.last_seq = 0
        """The highest ``seq`` of any account (accounts are never deleted): opening one costs
        the same with 10 000 accounts as with one."""
        self.seen = 0
        """The commit number up to which every other process's change is held here."""

    def __len__(self) -> int:
        return len(self.engines)

    def book(self, account: str) -> Engine:
        book = self.engines.get(account)
        if book is None:
            raise UnknownAccount(f"Account {account} not found")
        return book

    def info(self, account: str) -> AccountInfo:
        return self._infos[account]

    def usable_by(self, account: str, owned: Collection[str]) -> bool:
        """Whether ``account`` is one of ``owned`` (the ids of someone's accounts) or the
        book of a replay session of one of them (its owner is the session's account)."""
        if account in owned:
            return True
        info = self._infos.get(account)
        return info is not None and is_session_book(account) and info.owner in owned

    def holds(self, account: str) -> bool:
        return account in self._infos

    def owned_ids(self, owner: str | None) -> list[str]:
        """``owner``'s account ids in opening order."""
        return list(self._owned.get(owner, ()))

    def owned_infos(self, owner: str | None) -> list[AccountInfo]:
        return [self._infos[a] for a in self._owned.get(owner, ())]

    def version(self, account: str) -> int:
        return self._versions.get(account, 0)

    def stamp(self, accounts: list[str], seq: int) -> None:
        """These accounts were committed as version ``seq``."""
        for account in accounts:
            self._versions[account] = seq

    def stale(self, stored: Mapping[str, int]) -> list[str]:
        """The accounts whose stored version is not the one held (or not held at all)."""
        return [a for a, version in stored.items() if self._versions.get(a) != version]

    def _engine_of(self, rows: BookRows) -> Engine:
        book = self._new_engine(rows.account.initial_balance)
        book.restore(rows.account, rows.orders, rows.positions, rows.fills, rows.leverage)
        return book

    def restore(self, snap: Snapshot) -> None:
        """Hold exactly ``snap`` (every account): start-up, or after a failed commit."""
        self.engines = {rows.info.id: self._engine_of(rows) for rows in snap.books}
        self._infos = {rows.info.id: rows.info for rows in snap.books}
        self._owned = {}
        for rows in snap.books:  # a snapshot lists accounts in opening order
            self._owned.setdefault(rows.info.owner, []).append(rows.info.id)
        self._versions = {rows.info.id: rows.version for rows in snap.books}
        self.last_seq = max((i.seq for i in self._infos.values()), default=0)
        self.seen = snap.commit_seq
        self.keys.restore(snap.keys)
        self.evaluator.restore(self.engines)

    def restore_some(self, snap: Snapshot) -> None:
        """Replace the accounts of ``snap`` (another process changed or opened them)."""
        for rows in snap.books:
            account = rows.info.id
            book = self._engine_of(rows)
            self.evaluator.replace(account, self.engines.get(account), book)
            self.engines[account] = book
            new = account not in self._infos
            self._infos[account] = rows.info
            if new:  # opened by another process: listed in opening order with the others
                owned = self._owned.setdefault(rows.info.owner, [])
                owned.append(account)
                owned.sort(key=lambda a: self._infos[a].seq)
                self.last_seq = max(self.last_seq, rows.info.seq)
            self._versions[account] = rows.version
            self.keys.restore_account(account, [k for k in snap.keys if k.account == account])

    def add(self, info: AccountInfo, initial_balance: Decimal) -> None:
        """A new account, just stored (empty)."""
        self.engines[info.id] = self._new_engine(initial_balance)
        self._infos[info.id] = info
        self._owned.setdefault(info.owner, []).append(info.id)
        self.last_seq = max(self.last_seq, info.seq)
