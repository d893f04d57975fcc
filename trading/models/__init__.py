"""pydantic v2 wire models: the single source of every JSON shape (REST, WebSocket, specs).

Models are leaves: they import nothing else from the package.
"""
