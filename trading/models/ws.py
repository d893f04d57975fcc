"""WebSocket wire models (websocket.md §2-§3): requests, replies, errors."""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict, Field, StrictStr

from trading.models.base import WireModel


class StrictRequest(WireModel):
    """Subscription requests check strings strictly: ``"resolution": 1`` is invalid."""

    model_config = ConfigDict(extra="ignore", strict=True)


class BarsSubscriptionRequest(StrictRequest):
    symbol: StrictStr
    resolution: StrictStr = "1"


class QuoteDataSubscriptionRequest(StrictRequest):
    symbols: list[StrictStr] = Field(default_factory=list)
    fast_symbols: list[StrictStr] = Field(default_factory=list)


class OrderSubscriptionRequest(StrictRequest):
    accountId: StrictStr


class PositionSubscriptionRequest(StrictRequest):
    accountId: StrictStr


class ExecutionSubscriptionRequest(StrictRequest):
    accountId: StrictStr
    symbol: StrictStr | None = None


class EquitySubscriptionRequest(StrictRequest):
    accountId: StrictStr


class BrokerConnectionSubscriptionRequest(StrictRequest):
    accountId: StrictStr


class SubscriptionStatus(StrEnum):
    OK = "ok"
    ERROR = "error"


class SubscriptionResponse(WireModel):
    status: SubscriptionStatus
    message: str
    topic: str


class WsErrorCode(StrEnum):
    INVALID_JSON = "invalid_json"
    INVALID_ENVELOPE = "invalid_envelope"
    UNKNOWN_TYPE = "unknown_type"
    UNSUPPORTED_FRAME = "unsupported_frame"
    INTERNAL_ERROR = "internal_error"
    RATE_LIMITED = "rate_limited"
    """Keys mode: the key sent more messages than TRADING_RATE_LIMIT_WS_*; not processed."""


class WsError(WireModel):
    code: WsErrorCode
    message: str
    request_type: str | None = None


class StreamingStats(WireModel):
    connections: int
    topics: int
    subscriptions: int
    messages_sent: int
    messages_coalesced: int
    slow_consumer_closes: int
    protocol_errors: int


class PLSubscriptionRequest(StrictRequest):
    accountId: StrictStr


class MarginSubscriptionRequest(StrictRequest):
    accountId: StrictStr


class ReplaySubscriptionRequest(StrictRequest):
    """A replay session's stream (docs/replay.md §6): its clock and state, and its symbols'
    bars at ``resolution`` and quotes, as of its replay-now."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"replayId": "RPL-5f2c9e0a1b3d4c6e", "resolution": "1"}]}
    )

    replayId: StrictStr = Field(description="A session of the account the socket acts for")
    resolution: StrictStr = Field(
        default="1", description="The bars' resolution, any the datafeed advertises"
    )
