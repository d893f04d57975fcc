"""Paper accounts: what describes one (broker.md §20), apart from its book.

An account belongs to at most one owner (a user id of ``trading.auth``; None for the one
account of ``TRADING_AUTH=off``). Ids are random so that one user cannot count or guess the
others' accounts; ``seq`` orders accounts by opening.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from trading.market.replay import SESSION_PREFIX

DEFAULT_ACCOUNT = "DEMO-ACCOUNT"
"""The account of TRADING_AUTH=off, and the one a database from before issue 14 held."""
DEFAULT_ACCOUNT_NAME = "Demo Trading Account"
CURRENCY = "USD"
"""Every paper account is in US dollars (the synthetic market's currency)."""
ACCOUNT_NAME_MAX = 64


@dataclass(frozen=True)
class AccountInfo:
    id: str
    seq: int
    name: str
    currency: str = CURRENCY
    owner: str | None = None
    created: int = 0
    """Epoch ms of the opening (0 for the account migrated from a single-account database)."""


def new_account_id() -> str:
    """``ACC-`` and 12 random hex digits: unguessable, and never ``DEMO-ACCOUNT``."""
    return f"ACC-{secrets.token_hex(6).upper()}"


def is_session_book(account: str) -> bool:
    """Whether ``account`` is a replay session's book: its id is the session's
    (docs/replay.md §5)."""
    return account.startswith(SESSION_PREFIX)
