"""Who a request acts for, and the accounts that identity may use.

Plain frozen values so every layer (REST, WebSocket, broker) can hold and compare them without
importing the auth machinery.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from trading.broker.accounts import CURRENCY, DEFAULT_ACCOUNT, DEFAULT_ACCOUNT_NAME


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: the user and the key (or the key's session) it came with."""

    user_id: str
    """``usr_`` + 16 hex digits, stable for the user's life."""
    user_name: str
    key_id: str
    """The public part of the key (``key_`` + 12 hex): revocation and rate limits are per key."""


@dataclass(frozen=True)
class AccountView:
    """A broker account as ``/auth/me`` lists it (TradingView's ``AccountMetainfo``)."""

    id: str
    name: str
    currency: str


DEMO_ACCOUNT = AccountView(DEFAULT_ACCOUNT, DEFAULT_ACCOUNT_NAME, CURRENCY)
"""The one account of ``TRADING_AUTH=off``."""


class AccountDirectory(Protocol):
    """The broker accounts of a user; the broker service provides it (``accounts_of``)."""

    async def accounts_of(self, user_id: str) -> list[AccountView]: ...
