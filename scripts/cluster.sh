#!/usr/bin/env bash
# `make cluster`: one host, several processes (docs/deployment.md). Runs
# `python -m trading serve --workers N` (N = $WORKERS, default 2) with Redis as the WebSocket
# backplane. With TRADING_REDIS_URL set, that Redis is used; otherwise a private redis-server
# (no persistence) runs on a loopback port ($REDIS_PORT, default a free one) in a temporary
# dir, and is stopped when the cluster ends. It runs in its own session, so Ctrl-C reaches
# the supervisor and its workers (which close their WebSockets with 1001) but not Redis.
set -euo pipefail
PY=${PY:-.venv/bin/python}
WORKERS=${WORKERS:-2}

if [[ -n "${TRADING_REDIS_URL:-}" ]]; then
    exec "$PY" -m trading serve --workers "$WORKERS"
fi
if ! command -v redis-server >/dev/null 2>&1; then
    echo "cluster: redis-server not found: install the Debian package redis-server," \
        "or set TRADING_REDIS_URL" >&2
    exit 1
fi
port=${REDIS_PORT:-$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
dir=$(mktemp -d -t trading-redis.XXXXXX)
setsid redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
    >"$dir/redis.log" 2>&1 &
redis=$!
trap 'kill "$redis" 2>/dev/null || true; wait "$redis" 2>/dev/null || true; rm -rf "$dir"' EXIT
trap 'exit 130' INT TERM

for _ in $(seq 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        break
    fi
    if ! kill -0 "$redis" 2>/dev/null; then
        echo "cluster: redis-server did not start:" >&2
        cat "$dir/redis.log" >&2
        exit 1
    fi
    sleep 0.05
done
echo "cluster: redis-server on 127.0.0.1:$port (pid $redis), $WORKERS workers"
TRADING_REDIS_URL="redis://127.0.0.1:$port/0" "$PY" -m trading serve --workers "$WORKERS"
