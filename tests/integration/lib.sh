# Shared helpers for the integration tests: start the real cairn binary on a
# free loopback port, wait for it, and clean up processes and temp dirs on
# every exit path.
set -euo pipefail

CAIRN=${1:?usage: $0 CAIRN_BINARY SOURCE_DIR}
SRC=${2:?usage: $0 CAIRN_BINARY SOURCE_DIR}
SHARED=$SRC/../shared
WORK=$(mktemp -d /tmp/cairn-it.XXXXXX)
PIDS=()

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# A TCP port nobody listens on (the kernel picks it, we release it).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL [seconds]: until URL answers 200.
wait_http() {
    local url=$1 secs=${2:-20} i
    for ((i = 0; i < secs * 10; i++)); do
        curl -sf -o /dev/null "$url" && return 0
        sleep 0.1
    done
    fail "$url did not answer within ${secs}s"
}

# start_cairn NAME ARGS...: starts `cairn agent ARGS` on a free port with its
# TSDB in $WORK/NAME-data (ARGS may name another); sets CAIRN_PORT and
# CAIRN_PID; the log goes to $WORK/NAME.log.
start_cairn() {
    local name=$1; shift
    CAIRN_PORT=$(free_port)
    "$CAIRN" agent --web.listen-address=127.0.0.1:$CAIRN_PORT --storage.tsdb.path="$WORK/$name-data" \
        "$@" >>"$WORK/$name.log" 2>&1 &
    CAIRN_PID=$!
    PIDS+=("$CAIRN_PID")
    wait_http "http://127.0.0.1:$CAIRN_PORT/-/ready"
}
