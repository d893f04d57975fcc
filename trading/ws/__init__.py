"""The multiplexed WebSocket: protocol (registry, topics), hub (fan-out), connections, handler."""
