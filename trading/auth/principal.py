"""Who a request acts for (keys mode): the user and the key it authenticated with."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    user_id: str
    user_name: str
    key_id: str
