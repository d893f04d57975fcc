"""Users, API keys, login sessions and rate limits of ``TRADING_AUTH=keys`` (issue 14).

Off mode (the default) builds none of this: no users file, no middleware, no principal on any
request. Layout: :mod:`.tokens` (key text, hashes), :mod:`.userstore` (``users.sqlite3``),
:mod:`.registry` (the in-memory table every request is checked against),
:mod:`.authenticator` (the one object the app holds), :mod:`.sessions`, :mod:`.tickets`,
:mod:`.ratelimit`, and the HTTP side: :mod:`.middleware`, :mod:`.routes`, :mod:`.admin`.
"""
