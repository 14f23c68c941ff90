#!/usr/bin/env bash
# The event store end to end with the real binary: kernel log records from a
# file (--path.kmsg) and from the real /dev/kmsg become events through the
# default rules; GET /api/v1/events, `cairn events` (table, JSON, -f) and
# node_events_total show them; a restart neither repeats nor skips records;
# a rotated kmsg file is followed; the agent's own events (started,
# reloaded, reload failed, plugin quarantined, store corrupt) are recorded;
# a reboot (new boot id) is noticed; and every fault keeps /metrics serving:
# garbage records, a locked, corrupt, unwritable or full store, and a burst
# of 100,000 kernel lines.
source "$(dirname "$0")/lib.sh"

URL() { echo "http://127.0.0.1:$CAIRN_PORT$1"; }
metric() { # metric 'NAME{labels}': its value on the running agent's /metrics
    curl -sf "$(URL /metrics)" >"$WORK/m.txt"
    awk -v n="$1" '$1 == n {print $2}' "$WORK/m.txt"
}
events() { # events QUERY: the API's answer, saved in $WORK/ev.json
    curl -s -g -o "$WORK/ev.json" -w '%{http_code}' "$(URL "/api/v1/events?$1")"
}
count() { # count QUERY: how many events the API returns for QUERY (limit 10000)
    local code
    code=$(events "limit=10000&$1")
    [ "$code" = 200 ] || fail "GET /api/v1/events?$1 answered $code: $(head -c 300 "$WORK/ev.json")"
    jq '.data.events | length' "$WORK/ev.json"
}
wait_count() { # wait_count QUERY N [seconds]: until the API returns N events for QUERY
    local i n secs=${3:-10}
    for ((i = 0; i < secs * 10; i++)); do
        n=$(count "$1")
        [ "$n" = "$2" ] && return 0
        sleep 0.1
    done
    fail "GET /api/v1/events?$1 returned $n events, not $2, within ${secs}s"
}
wait_metric() { # wait_metric 'NAME{labels}' VALUE: until /metrics shows it (a cycle is 1s)
    local i
    for ((i = 0; i < 50; i++)); do
        [ "$(metric "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    fail "$1 is $(metric "$1"), not $2: $(grep -E '^(node|cairn)_events' "$WORK/m.txt")"
}
wait_metric_ge() { # wait_metric_ge 'NAME{labels}' MIN: until /metrics shows at least MIN
    local i v
    for ((i = 0; i < 50; i++)); do
        v=$(metric "$1")
        [ -n "$v" ] && [ "${v%.*}" -ge "$2" ] && return 0
        sleep 0.1
    done
    fail "$1 is ${v:-absent}, not at least $2"
}
stop_cairn() {
    kill -TERM "$CAIRN_PID"
    wait "$CAIRN_PID" || fail "the agent did not stop cleanly: $(tail -3 "$WORK"/*.log)"
}
# kmsg_line SEQ TEXT [PRI]: one /dev/kmsg record, stamped just before the
# test started plus SEQ ms (kmsg time is time since boot).
UPTIME_US=$(/usr/bin/python3 -c 'import time; print(int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6))')
kmsg_line() { printf '%s,%s,%s,-;%s\n' "${3:-3}" "$1" $((UPTIME_US - 100000 + $1 * 1000)) "$2"; }

OOM='cairn-test: Out of memory: Killed process 4242 (cairn-victim) total-vm:1024kB, anon-rss:0kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:0kB oom_score_adj:0'
BASE=(--collector.disable-defaults --collector.loadavg --collector.interval=1s)

# ---- a kmsg file: rules, garbage, long lines, API, metrics -----------------------
K=$WORK/kmsg
{
    kmsg_line 1 'Linux version 6.1.0 (debian-kernel@lists.debian.org)' 5
    kmsg_line 2 "$OOM"
    printf '\x01\x02\xff\xfe garbage that is no record\n'
    printf 'x,y,z,-;malformed numbers\n'
    printf '6,3,%s,-;%s\n' "$UPTIME_US" "$(head -c 100000 /dev/zero | tr '\0' 'a')"
    kmsg_line 4 'INFO: task kworker/0:1:123 blocked for more than 120 seconds.'
    printf ' SUBSYSTEM=block\n DEVICE=b8:0\n'
    kmsg_line 5 'blk_update_request: I/O error, dev sda, sector 2048 op 0x1:(WRITE) flags 0x0 phys_seg 1 prio class 0'
    kmsg_line 6 'kernel BUG at mm/slub.c:4321!' 4
} >"$K"
start_cairn file "${BASE[@]}" --path.kmsg="$K"
wait_count "type=OOMKill" 1
jq -e '.data.events[0] | .source == "kernel" and .severity == "warning" and .attributes.pid == "4242" and .attributes.process == "cairn-victim"' "$WORK/ev.json" >/dev/null ||
    fail "the OOM kill event is not as expected: $(cat "$WORK/ev.json")"
wait_count "type=TaskHung" 1
wait_count "type=IOError" 1
wait_count "type=KernelOops" 1
wait_metric 'node_events_total{severity="warning",source="kernel",type="OOMKill"}' 1
wait_metric cairn_events_kmsg_malformed_total 2
wait_metric cairn_events_kmsg_truncated_total 1
wait_metric cairn_events_kmsg_records_total 6
# Kinds that never happened are there at 0, so increase() sees the first one.
wait_metric 'node_events_total{severity="critical",source="kernel",type="KernelPanic"}' 0
wait_metric 'node_events_total{severity="critical",source="os",type="FilesystemReadOnly"}' 0
[ "$(count 'type=AgentStarted&source=agent')" = 1 ] || fail "no AgentStarted event"
pass "kmsg file: OOMKill, TaskHung, IOError, KernelOops found through the API and counted; 2 malformed and 1 over-long record counted, nothing crashed"

# The filters and the severity floor.
[ "$(count 'severity=critical')" = 1 ] || fail "severity=critical: $(jq -c '[.data.events[].type]' "$WORK/ev.json")"
[ "$(count 'severity=warning&source=kernel')" = 4 ] || fail "warning from the kernel: $(jq -c '[.data.events[].type]' "$WORK/ev.json")"
[ "$(count 'match=cairn-victim')" = 1 ] || fail "match substring"
[ "$(count 'match=/sector%20[0-9]%2B%20op/')" = 1 ] || fail "match regex"
code=$(events 'match=/(broken/')
[ "$code" = 400 ] && jq -e '.errorType == "bad_data"' "$WORK/ev.json" >/dev/null || fail "a bad regex answered $code: $(cat "$WORK/ev.json")"
jq -e '.data.events == null and .error != null' "$WORK/ev.json" >/dev/null || fail "error body"
pass "API filters: severity, source, substring and regex match; a bad regex is a 400 bad_data"

# ---- the CLI ------------------------------------------------------------------------------
S=127.0.0.1:$CAIRN_PORT
"$CAIRN" events --server "$S" --since 2h --severity warning -o json >"$WORK/cli.json"
[ "$(jq -s 'length' "$WORK/cli.json")" = 4 ] || fail "cairn events --severity warning: $(cat "$WORK/cli.json")"
[ "$(jq -s -r '.[0].type' "$WORK/cli.json")" = OOMKill ] || fail "cairn events prints oldest first: $(jq -s -c '[.[].type]' "$WORK/cli.json")"
"$CAIRN" events --server "$S" --type OOMKill -o table >"$WORK/cli.txt"
grep -q 'warning   kernel    OOMKill .*Killed process 4242 (cairn-victim).*pid=4242' "$WORK/cli.txt" ||
    fail "table output: $(cat "$WORK/cli.txt")"
"$CAIRN" events --server "$S" --severity loud >"$WORK/cli.out" 2>&1 && fail "a bad severity was accepted"
grep -q 'bad_data: invalid parameter "severity"' "$WORK/cli.out" || fail "CLI error: $(cat "$WORK/cli.out")"
"$CAIRN" events --server "$S" -f -o json --type Segfault >"$WORK/follow.json" 2>&1 &
FOLLOW=$!
PIDS+=("$FOLLOW")
sleep 1.5
kmsg_line 7 'cairn-seg[777]: segfault at 0 ip 0000561d4c8a1139 sp 00007ffd0a6e1f50 error 4 in cairn-seg[561d4c8a1000+1000]' 6 >>"$K"
for i in $(seq 1 50); do
    [ -s "$WORK/follow.json" ] && break
    sleep 0.2
done
kill "$FOLLOW"
jq -e -s 'length == 1 and .[0].type == "Segfault" and .[0].attributes.pid == "777"' "$WORK/follow.json" >/dev/null ||
    fail "cairn events -f did not print the new Segfault event: $(cat "$WORK/follow.json")"
pass "cairn events: --since/--severity JSON Lines oldest first, table, API errors, -f prints a new event"

# ---- restart: the bookmark neither repeats nor skips records --------------------------------
stop_cairn
kmsg_line 8 "$OOM" >>"$K" # written while the agent is down
start_cairn file "${BASE[@]}" --path.kmsg="$K" --storage.tsdb.path="$WORK/file-data"
wait_count "type=OOMKill" 2
sleep 1.5
[ "$(count 'type=OOMKill')" = 2 ] || fail "OOM kills after the restart: $(count 'type=OOMKill')"
[ "$(count 'type=TaskHung')" = 1 ] || fail "a record was repeated after the restart"
[ "$(count 'type=AgentStopped')" = 1 ] || fail "no AgentStopped event"
pass "restart: the record written while the agent was down is read, none is repeated"

# ---- rotation: a new file at the path is read from its start ----------------------------
mv "$K" "$K.1"
{
    kmsg_line 1 'EXT4-fs error (device sdb1): ext4_find_entry:1455: inode #2: comm ls: reading directory lblock 0'
    kmsg_line 2 'EXT4-fs (sdb1): Remounting filesystem read-only'
} >"$K"
wait_count "type=FilesystemError" 1
wait_count "type=FilesystemReadOnly" 1
wait_metric cairn_events_kmsg_reopened_total 1
: >"$K" # truncated
kmsg_line 1 'e1000e: eth3 NIC Link is Down' >>"$K"
wait_count "type=LinkDown" 1
pass "a rotated and a truncated kmsg file are reopened and read from the start"

# ---- agent events: reload, failed reload, quarantined plugin --------------------------------
cat >"$WORK/rules.yml" <<'EOF'
rules:
  - type: CairnTestLine
    severity: info
    pattern: 'cairn-custom (?<word>\w+)'
EOF
cat >"$WORK/agent.yml" <<EOF
events:
  rules_files: [$WORK/rules.yml]
plugins:
  - name: broken
    command: /bin/false
    restart_backoff: 100ms
    restart_backoff_max: 200ms
    max_failures: 2
EOF
kill -HUP "$CAIRN_PID" # without --config.file the flags still reload cleanly
wait_count "type=ConfigReloaded" 1
stop_cairn
start_cairn file "${BASE[@]}" --path.kmsg="$K" --storage.tsdb.path="$WORK/file-data" --config.file="$WORK/agent.yml"
wait_count "type=PluginQuarantined" 1
jq -e '.data.events[0].attributes.plugin == "broken" and .data.events[0].severity == "warning"' "$WORK/ev.json" >/dev/null ||
    fail "PluginQuarantined: $(cat "$WORK/ev.json")"
kmsg_line 10 'cairn-custom hello' >>"$K"
wait_count "type=CairnTestLine" 1
jq -e '.data.events[0].attributes.word == "hello"' "$WORK/ev.json" >/dev/null || fail "custom rule attribute"
printf 'rules:\n  - type: bad type\n    severity: info\n    pattern: x\n' >"$WORK/rules.yml"
kill -HUP "$CAIRN_PID"
wait_count "type=ConfigReloadFailed" 1
jq -e --arg f "$WORK/rules.yml:2:" '.data.events[0].attributes.error | startswith($f)' "$WORK/ev.json" >/dev/null ||
    fail "ConfigReloadFailed names the file and line: $(cat "$WORK/ev.json")"
"$CAIRN" agent --config.file="$WORK/agent.yml" --config.check >"$WORK/check.out" 2>&1 && fail "config check passed a bad rule file"
grep -q "$WORK/rules.yml:2:" "$WORK/check.out" || fail "config check: $(cat "$WORK/check.out")"
stop_cairn
pass "agent events: reloaded, reload failed (file:line), plugin quarantined; custom rules file; config check names the bad rule"

# ---- a corrupt store is set aside at start -------------------------------------------------
head -c 65536 /dev/urandom >"$WORK/file-data/events.db"
rm -f "$WORK/file-data/events.db-wal" "$WORK/file-data/events.db-shm"
start_cairn file "${BASE[@]}" --path.kmsg="$K" --storage.tsdb.path="$WORK/file-data"
wait_count "type=EventStoreCorrupt" 1
ls "$WORK/file-data"/events.db.corrupt-* >/dev/null 2>&1 || fail "the corrupt store was not set aside: $(ls "$WORK/file-data")"
wait_count "type=LinkDown" 1 # the kmsg file is read again into the new store
stop_cairn
pass "a corrupt event store is moved aside, recorded as an event, and a new one is filled"

# ---- a reboot: the boot id changed since the store last saw one ----------------------------
mkdir -p "$WORK/proc/sys/kernel/random"
echo 11111111-1111-1111-1111-111111111111 >"$WORK/proc/sys/kernel/random/boot_id"
BTIME=$(($(date +%s) - 600))
printf 'cpu 1 1 1 1\nbtime %s\n' "$BTIME" >"$WORK/proc/stat"
start_cairn boot "${BASE[@]}" --path.kmsg= --path.procfs="$WORK/proc"
[ "$(count 'type=Reboot')" = 0 ] || fail "a Reboot event without a previous boot id"
stop_cairn
echo 22222222-2222-2222-2222-222222222222 >"$WORK/proc/sys/kernel/random/boot_id"
start_cairn boot "${BASE[@]}" --path.kmsg= --path.procfs="$WORK/proc" --storage.tsdb.path="$WORK/boot-data"
wait_count "type=Reboot" 1
jq -e --arg t "$(date -u -d "@$BTIME" +%Y-%m-%dT%H:%M:%SZ)" '.data.events[0] | .attributes.previous_boot_id == "11111111-1111-1111-1111-111111111111" and .time == $t' "$WORK/ev.json" >/dev/null ||
    fail "Reboot event: $(cat "$WORK/ev.json")"
stop_cairn
pass "a changed boot id gives one Reboot event at the boot time"

# ---- a locked store: events wait and are written once the lock is gone ---------------------
: >"$WORK/lk"
start_cairn lock "${BASE[@]}" --path.kmsg="$WORK/lk"
wait_count "type=AgentStarted" 1
/usr/bin/python3 - "$WORK/lock-data/events.db" "$WORK/locked" <<'EOF' &
import sqlite3, sys, time, os
c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
c.execute("BEGIN EXCLUSIVE")
open(sys.argv[2], "w").close()
time.sleep(4)
c.execute("ROLLBACK")
EOF
LOCKER=$!
for i in $(seq 1 50); do [ -e "$WORK/locked" ] && break; sleep 0.1; done
kmsg_line 1 "$OOM" >>"$WORK/lk"
wait_metric_ge cairn_events_store_errors_total 1
curl -sf -m 2 -o /dev/null "$(URL /metrics)" || fail "/metrics stalled while the store was locked"
wait "$LOCKER"
wait_count "type=OOMKill" 1
[ "$(metric 'cairn_events_dropped_total{reason="store"}')" = 0 ] || fail "events dropped for a lock"
stop_cairn
pass "a locked store: write errors counted, /metrics serves, the event is written after the lock"

# ---- an unwritable store: events are counted, the API says why, metrics flow ---------------
start_cairn nowrite "${BASE[@]}" --path.kmsg="$K" --events.store.path=/proc/cairn-no/events.db
sleep 2
wait_metric cairn_events_store_up 0
wait_metric 'node_events_total{severity="info",source="agent",type="AgentStarted"}' 1
wait_metric_ge 'cairn_events_dropped_total{reason="store"}' 1
[ "$(metric 'node_load1')" != "" ] || fail "metrics stopped"
code=$(events "")
[ "$code" = 503 ] && jq -e '.errorType == "unavailable"' "$WORK/ev.json" >/dev/null || fail "API without a store answered $code: $(cat "$WORK/ev.json")"
grep -q 'cannot open the event store' "$WORK/nowrite.log" || fail "no log line about the store"
stop_cairn
pass "an unwritable store: 503 from the API, events counted and drops counted, /metrics serves"

# ---- a burst of 100,000 kernel lines against a small queue ---------------------------------
/usr/bin/python3 - "$WORK/burst" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(1, 100001):
        f.write("3,%d,%d,-;blk_update_request: I/O error, dev sdz, sector %d op 0x0:(READ) flags 0x0\n" % (i, i, i))
EOF
printf 'events:\n  queue_size: 1000\n  flush_interval: 200ms\n' >"$WORK/burst.yml"
start_cairn burst "${BASE[@]}" --path.kmsg="$WORK/burst" --config.file="$WORK/burst.yml"
for i in $(seq 1 300); do
    curl -sf -m 2 -o /dev/null "$(URL /metrics)" || fail "/metrics did not answer during the burst"
    [ "$(metric cairn_events_kmsg_records_total)" = 100000 ] && [ "$(metric cairn_events_queue_length)" = 0 ] && break
    sleep 0.2
done
sleep 0.5
stored=$(metric cairn_events_stored_total)
dropped=$(metric 'cairn_events_dropped_total{reason="queue_full"}')
seen=$(metric 'node_events_total{severity="warning",source="kernel",type="IOError"}')
[ "$seen" = 100000 ] || fail "node_events_total counted $seen of 100000 I/O errors"
[ "$dropped" -gt 0 ] || fail "nothing dropped from a 1000-event queue under 100000 lines"
stop_cairn
ios=$(/usr/bin/python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM events WHERE type = ?", ("IOError",)).fetchone()[0])' "$WORK/burst-data/events.db")
[ $((ios + dropped)) = 100000 ] || fail "stored $ios + dropped $dropped != 100000"
pass "a burst of 100000 lines: /metrics kept answering, $ios stored + $dropped dropped (counted) = 100000"

# ---- a full disk (root: a 1 MiB tmpfs) -----------------------------------------------------
if [ "$(id -u)" = 0 ] && mkdir -p "$WORK/small" && mount -t tmpfs -o size=1m tmpfs "$WORK/small" 2>/dev/null; then
    trap 'umount "$WORK/small" 2>/dev/null || true; cleanup' EXIT
    printf 'events:\n  flush_interval: 200ms\n' >"$WORK/full.yml"
    start_cairn full "${BASE[@]}" --path.kmsg="$WORK/burst" --config.file="$WORK/full.yml" --events.store.path="$WORK/small/events.db"
    for i in $(seq 1 300); do
        [ "$(metric cairn_events_kmsg_records_total)" = 100000 ] && [ "$(metric cairn_events_queue_length)" = 0 ] && break
        sleep 0.2
    done
    full=$(metric 'cairn_events_dropped_total{reason="store"}')
    [ "$full" -gt 0 ] || fail "no drops on a full disk: stored $(metric cairn_events_stored_total)"
    [ "$(metric cairn_events_store_errors_total)" -ge 1 ] || fail "no store errors on a full disk"
    [ "$(metric 'node_load1')" != "" ] || fail "metrics stopped on a full disk"
    grep -q 'cannot write to the event store' "$WORK/full.log" || fail "no log line for the full disk"
    stop_cairn
    umount "$WORK/small"
    pass "a full disk: $full events dropped and counted, /metrics kept serving"
else
    echo "skip: a full disk needs root to mount a small tmpfs"
fi

# ---- the real /dev/kmsg (root) -------------------------------------------------------------
if [ -w /dev/kmsg ] && [ -r /dev/kmsg ]; then
    start_cairn real "${BASE[@]}"
    wait_count "type=AgentStarted" 1
    tag="cairn-victim-$$"
    echo "<3>cairn-test: Out of memory: Killed process 4242 ($tag) total-vm:1024kB, anon-rss:0kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:0kB oom_score_adj:0" >/dev/kmsg
    wait_count "type=OOMKill&match=$tag" 1 3
    jq -e --arg t "$tag" '.data.events[0].attributes.process == $t' "$WORK/ev.json" >/dev/null || fail "real kmsg event: $(cat "$WORK/ev.json")"
    stop_cairn
    pass "a line written to the real /dev/kmsg is an OOMKill event through the API within a tick"
else
    echo "skip: /dev/kmsg is not readable and writable here"
fi
