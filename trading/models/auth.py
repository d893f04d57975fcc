"""Wire models of the session routes (``/api/v1/auth``) and the admin API (issue 14)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from trading.models.base import WireModel
from trading.models.broker import AccountMetainfo


class LoginRequest(WireModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"key": "trk_0123456789ab_..."}]})

    key: str = Field(min_length=1, max_length=256, description="An API key (`trk_...`)")


class UserInfo(WireModel):
    id: str = Field(description="`usr_` + 16 hex digits")
    name: str


class Me(WireModel):
    auth: Literal["keys", "off"] = Field(description="The server's TRADING_AUTH mode")
    user: UserInfo | None = Field(description="The caller; null in off mode")
    accounts: list[AccountMetainfo] = Field(description="The accounts the caller may trade")


class MessageResponse(WireModel):
    message: str


class WsTicket(WireModel):
    ticket: str = Field(description="Pass as `GET /api/v1/ws?ticket=...`; valid for one upgrade")
    expiresIn: int = Field(description="Seconds the ticket stays valid")


class CreateUserRequest(WireModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "alice"}]})

    name: str = Field(min_length=1, max_length=64)


class KeyInfo(WireModel):
    id: str = Field(description="`key_` + 12 hex digits (the public part of the key)")
    created: int = Field(description="Epoch milliseconds")
    revoked: int | None = Field(description="Epoch milliseconds; null while the key is active")


class UserWithKeys(WireModel):
    id: str
    name: str
    created: int = Field(description="Epoch milliseconds")
    keys: list[KeyInfo]


class CreatedUser(WireModel):
    user: UserInfo
    key: str = Field(description="The user's first API key: shown this once, never again")


class CreatedKey(WireModel):
    keyId: str
    key: str = Field(description="The new API key: shown this once, never again")
