"""How the broker refuses a request, in its own terms (the API edge picks status codes).

Two kinds, as a trading desk sees them:

- :class:`RuleViolations`: the request itself is malformed for the broker (a LIMIT without a
  limit price, a quantity off the lot step, a take-profit on the wrong side of the entry).
  Every broken rule is reported at once, one :class:`Violation` per field, so a ticket can mark
  all its fields in one round trip.
- :class:`BrokerError`: a well-formed request that the current state refuses (no such order,
  not enough buying power, the order already filled). :class:`UnknownPosition` is the one a
  client tells apart (the reference answers it with 404).

And one that is nobody's fault: :class:`StorageError`, the database cannot take the change
now; nothing was stored and the request may be retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum


class ViolationKind(Enum):
    INVALID = "invalid"
    """The value breaks a rule (``message`` says which)."""
    NOT_POSITIVE = "not_positive"
    """A number that must be greater than 0 is not."""


@dataclass(frozen=True)
class Violation:
    """One broken rule.

    ``field`` is the TradingView name of the request field (``limitPrice``, ``takeProfit``):
    the name a person reads in ``message`` and in a ticket, kept as is so both agree. ``value``
    is the offending value as the broker received it (None when it is missing).
    """

    field: str
    message: str
    value: Decimal | None
    kind: ViolationKind = ViolationKind.INVALID


class RuleViolations(Exception):
    """The request breaks field rules; ``violations`` lists every one, in field order."""

    def __init__(self, violations: list[Violation]) -> None:
        super().__init__("; ".join(v.message for v in violations))
        self.violations = violations


class BrokerError(Exception):
    """A valid request refused by the current state; ``detail`` says why, for a person."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class UnknownPosition(BrokerError):
    """The position named by the request does not exist (it may have closed meanwhile)."""


class UnknownAccount(BrokerError):
    """No account has this id, or not one the caller may use: both answer the same (a
    foreign account must be indistinguishable from a missing one, broker.md §20)."""


class AccountLimit(BrokerError):
    """The owner already holds as many accounts as the server allows (HTTP 409)."""


class StorageError(Exception):
    """The database cannot take a write (disk full, read-only, deleted), or the committed
    state cannot be read back. Raised after the failed transaction was rolled back, so nothing
    of it was stored (the API answers 503 with ``Retry-After``)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class StaleAccount(StorageError):
    """Another process committed a change of these accounts since this one read them: the
    commit was rolled back whole; the caller reloads them and runs the command again
    (broker.md §21)."""

    def __init__(self, accounts: list[str]) -> None:
        super().__init__(f"accounts changed by another process: {', '.join(accounts)}")
        self.accounts = accounts
