#!/usr/bin/env bash
# The plugin host's cost per plugin, from the agent's side: the agent's RSS
# with one and with N idle plugins against none (the first plugin also
# brings up the gRPC runtime, so the cost of each further plugin is the
# difference between N and one, over N - 1), and its CPU time per plugin
# Collect with N plugins collected every second, minus the agent alone. Plugins are
# bench_series_plugin processes (their own memory and CPU are not counted:
# this measures the host). Prints figures; asserts nothing.
#
# usage: bench/plugin_overhead.sh BUILD_DIR   (make bench-plugins; a release build)
set -euo pipefail
BUILD=${1:-build}
CAIRN=$BUILD/cairn
PLUGIN=$(cd "$BUILD" && pwd)/bench_series_plugin
N=${PLUGINS:-20}
SECS=${SECS:-30}
WORK=$(mktemp -d /tmp/cairn-plugin-bench.XXXXXX)
PID=
cleanup() {
    [ -z "$PID" ] || kill "$PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# config NAME PLUGINS SERIES INTERVAL: writes $WORK/NAME.yml
config() {
    {
        printf 'collection:\n  interval: 1s\ncollectors:\n  disable_defaults: true\n'
        if [ "$2" -gt 0 ]; then printf 'plugins:\n'; fi
        for ((i = 0; i < $2; i++)); do
            printf '  - name: p%d\n    command: %s\n    env: {BENCH_SERIES: "%d"}\n    interval: %s\n' \
                "$i" "$PLUGIN" "$3" "$4"
        done
    } >"$WORK/$1.yml"
}

# run NAME: starts the agent on $WORK/NAME.yml, lets it settle, then
# prints "RSS_KIB CPU_TICKS_OVER_SECS"
run() {
    local port
    port=$(free_port)
    "$CAIRN" agent --config.file="$WORK/$1.yml" --web.listen-address=127.0.0.1:$port \
        --storage.tsdb.path="$WORK/$1-data" --log.level=warn >"$WORK/$1.log" 2>&1 &
    PID=$!
    sleep 10
    local c0 r
    c0=$(cpu_ticks $PID)
    sleep "$SECS"
    r=$(rss_kib $PID)
    echo "$r $(($(cpu_ticks $PID) - c0))"
    kill $PID
    wait $PID 2>/dev/null || true
    PID=
}

HZ=$(getconf CLK_TCK)
config none 0 0 1h
config idle1 1 10 1h
config idle "$N" 10 1h
config busy10 "$N" 10 1s
config busy1000 "$N" 1000 1s
read -r rss0 cpu0 < <(run none)
read -r rss1 _ < <(run idle1)
read -r rssn _ < <(run idle)
read -r _ cpu10 < <(run busy10)
read -r _ cpu1000 < <(run busy1000)
calls=$((N * SECS))
echo "agent alone:                 RSS ${rss0} KiB, CPU $(awk -v c=$cpu0 -v h=$HZ -v s=$SECS 'BEGIN{printf "%.2f", 1000*c/h/s}') ms/s"
echo "1 idle plugin:               RSS ${rss1} KiB (gRPC runtime and the first plugin: +$((rss1 - rss0)) KiB)"
echo "$N idle plugins:              RSS ${rssn} KiB -> $(((rssn - rss1) / (N - 1))) KiB per further plugin"
awk -v a=$cpu10 -v b=$cpu0 -v h=$HZ -v n=$calls -v N=$N 'BEGIN{printf "%d plugins x 10 series, 1/s:   %.3f ms agent CPU per plugin Collect\n", N, 1000*(a-b)/h/n}'
awk -v a=$cpu1000 -v b=$cpu0 -v h=$HZ -v n=$calls -v N=$N 'BEGIN{printf "%d plugins x 1000 series, 1/s: %.3f ms agent CPU per plugin Collect (incl. TSDB append)\n", N, 1000*(a-b)/h/n}'
