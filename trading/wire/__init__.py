"""Domain objects as wire models: pure functions, used by REST and the WebSocket alike.

The one place where Decimals become the wire's floats and domain objects become the shapes of
``trading.models``. HTTP errors stay in ``trading.api``; nothing here knows a request.
"""
