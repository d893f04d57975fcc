#!/usr/bin/env bash
# WebSocket benchmark: this service vs the minimal aiohttp server (scripts/bench_ws_baseline.py),
# both driven by an independent load generator that is not part of this repository (load.py in
# $BENCH_DIR), results as JSON lines, medians over repeats via $BENCH_DIR/summarize.py.
#
# Every (repeat, workload) runs against a FRESH process of each server, the two back to back
# (ours first in odd repeats, the baseline first in even ones), so the two see the same
# neighbourhood and no run inherits another's memory. scripts/bench_ws.py runs this with the
# issue 16 settings and reduces the results to ratios (and --json rows).
#
#   scripts/bench_ws.sh                                  # full run (3 repeats, ~15 min)
#   REPEATS=1 CLIENTS=200 MAX_CONNS=2000 scripts/bench_ws.sh   # quick check
#
# Environment knobs (defaults in brackets):
#   REPEATS [3]          repeats per workload (labels end in repN)
#   CLIENTS [1000]       fan-out clients (both fan-out workloads)
#   FAN_RATE [10] FAN_COUNT [50]     fan-out: updates/s and number of updates
#   SAT_RATE [5000] SAT_COUNT [300]  saturation fan-out
#   CHURN_CLIENTS [50] CHURN_OPS [200] CHURN_ROUNDS [3] DROP_SUBS [20]
#   MAX_CONNS [10000] CONN_STEP [2000] CONN_HOLD [1]
#   CONNS_SUBSCRIBE ["0 100"]  one conns workload per value (0 = idle, N = each holds one of N
#                              quotes topics)
#   WORKLOADS ["fanout sat churn conns"]   SERVERS ["ours baseline"]
#   OUT [/tmp/bench_ws.<timestamp>]  results.jsonl, the summary and the server logs go here
#   SNAPSHOT [1]         1: copy trading/ and the baseline into $OUT/src first and run the
#                        servers from that copy, so edits made to the tree during a long run
#                        cannot change (or break) the code under test; 0: run the tree as is
#   TREE [the repo]      directory whose trading/ package is "ours" (e.g. an older checkout)
#   BENCH_DIR [../shared/bench, relative to the repository root, or to the main checkout of
#             a git worktree]  folder of the load tool
#   LOAD, SUMMARIZE      paths of load.py / summarize.py [$BENCH_DIR/...]
set -euo pipefail

cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
if [[ -z ${BENCH_DIR:-} ]]; then
    # shared/ sits next to the main checkout; a git worktree elsewhere finds it through that
    BENCH_DIR=$PWD/../shared/bench
    common=$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)
    if [[ ! -d $BENCH_DIR && -n $common ]]; then BENCH_DIR=$(dirname "$common")/../shared/bench; fi
fi
LOAD=${LOAD:-$BENCH_DIR/load.py}
SUMMARIZE=${SUMMARIZE:-$BENCH_DIR/summarize.py}
for tool in "$LOAD" "$SUMMARIZE"; do
  if [[ ! -f $tool ]]; then
    echo "bench_ws.sh: $tool not found; set BENCH_DIR (or LOAD and SUMMARIZE) to the load tool" >&2
    exit 2
  fi
done
REPEATS=${REPEATS:-3}
CLIENTS=${CLIENTS:-1000}
FAN_RATE=${FAN_RATE:-10}
FAN_COUNT=${FAN_COUNT:-50}
SAT_RATE=${SAT_RATE:-5000}
SAT_COUNT=${SAT_COUNT:-300}
CHURN_CLIENTS=${CHURN_CLIENTS:-50}
CHURN_OPS=${CHURN_OPS:-200}
CHURN_ROUNDS=${CHURN_ROUNDS:-3}
DROP_SUBS=${DROP_SUBS:-20}
MAX_CONNS=${MAX_CONNS:-10000}
CONN_STEP=${CONN_STEP:-2000}
CONN_HOLD=${CONN_HOLD:-1}
CONNS_SUBSCRIBE=${CONNS_SUBSCRIBE:-"0 100"}
WORKLOADS=${WORKLOADS:-"fanout sat churn conns"}
SERVERS=${SERVERS:-"ours baseline"}
OUT=${OUT:-${TMPDIR:-/tmp}/bench_ws.$(date +%Y%m%d-%H%M%S)}
SNAPSHOT=${SNAPSHOT:-1}
RESULTS=$OUT/results.jsonl

mkdir -p "$OUT"
PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")  # absolute, symlink kept (venv)
TREE=$(cd "${TREE:-.}" && pwd)
SRC=$TREE
BASELINE=$PWD/scripts/bench_ws_baseline.py
if [[ $SNAPSHOT == 1 ]]; then
    SRC=$OUT/src
    rm -rf "$SRC"
    mkdir -p "$SRC"
    cp -r "$TREE/trading" "$SRC/"
    cp "$BASELINE" "$SRC/"
    BASELINE=$SRC/bench_ws_baseline.py
fi
(cd "$SRC" && "$PY" -c "import trading.app") || { echo "$SRC/trading does not import" >&2; exit 1; }
{
    echo "ours from $TREE, commit $(git -C "$TREE" rev-parse HEAD 2>/dev/null || echo '?')"
    echo "uncommitted changes at start (trading/, scripts/bench_ws*):"
    git -C "$TREE" status --short trading scripts/bench_ws.sh scripts/bench_ws_baseline.py \
        2>/dev/null || true
} >"$OUT/source.txt"
# 10000 connections need 10000+ descriptors on each side (the load generator inherits this).
hard=$(ulimit -Hn)
if [[ $hard == unlimited || $hard -gt 65536 ]]; then hard=65536; fi
ulimit -n "$hard"

SERVER_PID=""
stop_server() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}
trap stop_server EXIT
trap 'exit 130' INT TERM

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server NAME LOGFILE -> sets SERVER_PID and BASE
start_server() {
    local name=$1 log=$2 port
    port=$(free_port)
    BASE=http://127.0.0.1:$port
    if [[ $name == ours ]]; then
        (cd "$SRC" && TRADING_BENCH=1 TRADING_PORT=$port TRADING_HOST=127.0.0.1 \
            TRADING_LOG_LEVEL=WARNING exec "$PY" -m trading serve) >"$log" 2>&1 &
    else
        (cd "$SRC" && exec "$PY" "$BASELINE" --port "$port") >"$log" 2>&1 &
    fi
    SERVER_PID=$!
    for _ in $(seq 100); do
        if curl -fsS -o /dev/null "$BASE/api/v1/__bench/stats" 2>/dev/null; then
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.2
    done
    echo "server $name did not start; log:" >&2
    cat "$log" >&2
    exit 1
}

# run_load MAX_SECONDS ARGS... (load.py bounds itself; timeout is a last resort)
run_load() {
    local max=$1
    shift
    timeout $((max + 120)) "$PY" "$LOAD" "$@" --base "$BASE" --pid "$SERVER_PID" \
        --max-seconds "$max" >>"$RESULTS" || echo "load.py exited with $? ($*)" >&2
}

echo "results: $RESULTS (ulimit -n $(ulimit -n), $(nproc) cpus, servers run from $SRC)"
for rep in $(seq "$REPEATS"); do
    for workload in $WORKLOADS; do
        variants=("")
        if [[ $workload == conns ]]; then read -r -a variants <<<"$CONNS_SUBSCRIBE"; fi
        for variant in "${variants[@]}"; do
            tag=$workload
            if [[ -n $variant ]]; then
                tag=$workload-$([[ $variant == 0 ]] && echo idle || echo "sub$variant")
            fi
            order=($SERVERS)
            if ((rep % 2 == 0)); then  # alternate who goes first: neither gets the quieter slot
                order=()
                for server in $SERVERS; do order=("$server" "${order[@]}"); done
            fi
            for server in "${order[@]}"; do
                log=$OUT/$server-$tag-rep$rep.log
                start_server "$server" "$log"
                echo "$(date +%T) rep$rep $tag $server (pid $SERVER_PID)"
                case $workload in
                fanout)
                    run_load 120 fanout --clients "$CLIENTS" --rate "$FAN_RATE" \
                        --count "$FAN_COUNT" --label "$server c$CLIENTS r$FAN_RATE rep$rep" ;;
                sat)
                    run_load 180 fanout --clients "$CLIENTS" --rate "$SAT_RATE" \
                        --count "$SAT_COUNT" --label "$server c$CLIENTS sat rep$rep" ;;
                churn)
                    run_load 240 churn --clients "$CHURN_CLIENTS" --ops "$CHURN_OPS" \
                        --rounds "$CHURN_ROUNDS" --drop-subs "$DROP_SUBS" \
                        --label "$server churn rep$rep" ;;
                conns)
                    sub=()
                    if [[ $variant != 0 ]]; then sub=(--subscribe "$variant"); fi
                    run_load 300 conns --max-conns "$MAX_CONNS" --step "$CONN_STEP" \
                        --hold "$CONN_HOLD" "${sub[@]}" \
                        --label "$server $tag rep$rep" ;;
                *)
                    echo "unknown workload $workload" >&2
                    exit 2 ;;
                esac
                stop_server
            done
        done
    done
done

echo
echo "== medians ($RESULTS)"
"$PY" "$SUMMARIZE" "$RESULTS" | tee "$OUT/summary.txt"
echo
echo "== server log lines at WARNING or above (outside startup banners)"
grep -hE "WARNING|ERROR|CRITICAL|Traceback" "$OUT"/*.log | grep -v "benchmark hooks enabled" || echo "(none)"
