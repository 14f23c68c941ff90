#!/usr/bin/env bash
# Plugins end to end with real processes: both example plugins (C on the SDK,
# Python on grpcio) under the agent, visible in /metrics and queryable; every
# fault of a plugin (exits at start, crashes, hangs, no/bad handshake, wrong
# socket path, oversized or invalid output, stderr flood, too many series)
# logged, counted and recovered while the agent keeps serving; quarantine and
# SIGHUP reload; plugin files (plugin_files:) added, broken and removed on
# reload, and checked by --config.check; isolated built-in collectors; no
# zombies, and no plugin left behind when the agent exits, even by SIGKILL;
# `cairn plugin check`.
source "$(dirname "$0")/lib.sh"

BUILD=$(dirname "$CAIRN")
FAULT=$BUILD/test-plugins/cairn-test-fault
PROCSTATE=$BUILD/plugins/cairn-plugin-procstate
PYPLUGIN=$BUILD/plugins/python/cairn_example.py
for f in "$FAULT" "$PROCSTATE" "$PYPLUGIN"; do [ -e "$f" ] || fail "missing $f"; done

metrics() { curl -sf "http://127.0.0.1:$CAIRN_PORT/metrics"; }
# wait_metric REGEX [seconds]: until a line of /metrics matches REGEX.
wait_metric() {
    local re=$1 secs=${2:-20} i
    for ((i = 0; i < secs * 5; i++)); do
        metrics >"$WORK/m.prom" || true
        grep -Eq "$re" "$WORK/m.prom" && return 0
        sleep 0.2
    done
    fail "no line matching '$re' in /metrics within ${secs}s (log: $(tail -5 "$WORK/$LOGNAME.log"))"
}
# wait_log REGEX [seconds]: until the agent's log has a line matching REGEX.
wait_log() {
    local re=$1 secs=${2:-20} i
    for ((i = 0; i < secs * 5; i++)); do
        grep -Eq "$re" "$WORK/$LOGNAME.log" && return 0
        sleep 0.2
    done
    fail "no log line matching '$re' within ${secs}s"
}
# The plugin processes of the agent (its direct children), one pid a line.
children() { ps --ppid "$1" -o pid= | tr -d ' ' || true; }
# A crashed plugin is a zombie until its supervisor notices, within one
# interval; a zombie that is still there 2 s later was never reaped.
zombies() { ps --ppid "$1" -o pid=,stat= | awk '$2 ~ /^Z/ {print $1}' | sort; }
no_zombies() {
    local z1 z2
    z1=$(zombies "$1")
    [ -z "$z1" ] && return 0
    sleep 2
    z2=$(zombies "$1")
    z1=$(comm -12 <(echo "$z1") <(echo "$z2"))
    [ -z "$z1" ] || fail "zombie children of the agent not reaped: $z1"
}

# ---- the wrong cookie: started by hand ----------------------------------------------
set +e
"$FAULT" >"$WORK/byhand.out" 2>"$WORK/byhand.err"
rc=$?
set -e
[ $rc = 1 ] || fail "plugin started by hand exited $rc, want 1"
grep -q "plugin for the cairn agent" "$WORK/byhand.err" || fail "plugin started by hand did not explain"
[ ! -s "$WORK/byhand.out" ] || fail "plugin started by hand printed a handshake"
pass "a plugin started by hand explains itself and exits 1"

# ---- both examples under the agent -----------------------------------------------------
cat >"$WORK/examples.yml" <<EOF
collection:
  interval: 1s
collectors:
  disable_defaults: true
  loadavg: true
plugins:
  - name: procstate
    command: $PROCSTATE
  - name: python
    command: /usr/bin/python3
    args: [$PYPLUGIN]
    interval: 1s
EOF
LOGNAME=examples
start_cairn examples --config.file="$WORK/examples.yml"
wait_metric '^procstate_threads\{state="R"\} [1-9]'
wait_metric '^example_py_uptime_seconds [0-9.e+]+$'
wait_metric '^cairn_plugin_up\{plugin="procstate"\} 1$'
wait_metric '^cairn_plugin_up\{plugin="python"\} 1$'
grep -q '^node_scrape_collector_success{collector="procstate"} 1$' "$WORK/m.prom" || fail "procstate not reported as a collector"
grep -q '^node_load1 ' "$WORK/m.prom" || fail "built-in collector missing next to plugins"
# Queryable through the TSDB.
sleep 1.5
q=$(curl -sf "http://127.0.0.1:$CAIRN_PORT/api/v1/query" --data-urlencode 'query=sum(procstate_processes) > 0')
echo "$q" | grep -q '"result":\[{"metric":{},"value"' || fail "procstate_processes not queryable: $q"
q=$(curl -sf "http://127.0.0.1:$CAIRN_PORT/api/v1/query" --data-urlencode 'query=example_py_collects_total')
echo "$q" | grep -q '"__name__":"example_py_collects_total"' || fail "python series not queryable: $q"
pass "the C and Python example plugins reach /metrics and the TSDB"
EX_PID=$CAIRN_PID

# A reload that changes the agent's interval restarts the plugins that use it
# as their default (procstate), not those with an interval of their own.
child_pid() { ps --ppid "$EX_PID" -o pid=,args= | awk -v pat="$1" 'index($0, pat) {print $1; exit}'; }
ps_pid=$(child_pid cairn-plugin-procstate)
py_pid=$(child_pid cairn_example.py)
[ -n "$ps_pid" ] && [ -n "$py_pid" ] || fail "example plugin processes not found"
sed -i 's/^  interval: 1s$/  interval: 2s/' "$WORK/examples.yml"
kill -HUP "$EX_PID"
wait_log 'configuration reloaded'
for ((i = 0; i < 50; i++)); do
    new_ps=$(child_pid cairn-plugin-procstate)
    [ -n "$new_ps" ] && [ "$new_ps" != "$ps_pid" ] && break
    sleep 0.2
done
wait_metric '^cairn_plugin_up\{plugin="procstate"\} 1$'
[ -n "$new_ps" ] && [ "$new_ps" != "$ps_pid" ] || fail "procstate not restarted for the new default interval"
[ "$(child_pid cairn_example.py)" = "$py_pid" ] || fail "the python plugin, with its own interval, was restarted"
pass "a reload applies a new default interval to the plugins that use it"

# `cairn plugin check` on both examples.
"$CAIRN" plugin check "$PROCSTATE" >"$WORK/check.out" 2>"$WORK/check.err" || fail "plugin check procstate failed: $(cat "$WORK/check.err")"
grep -q '^# plugin: cairn-plugin-procstate ' "$WORK/check.out" || fail "check: no info line"
grep -q '^# TYPE procstate_processes gauge$' "$WORK/check.out" || fail "check: no procstate family"
"$CAIRN" plugin check /usr/bin/python3 "$PYPLUGIN" >"$WORK/checkpy.out" 2>&1 || fail "plugin check python failed: $(cat "$WORK/checkpy.out")"
grep -q '^example_py_uptime_seconds ' "$WORK/checkpy.out" || fail "check: no python series"
pass "cairn plugin check prints what the examples return"

# Shut down cleanly: the plugins go with the agent.
kids=$(children "$EX_PID")
[ -n "$kids" ] || fail "no plugin processes under the agent"
kill -TERM "$EX_PID"
wait "$EX_PID" 2>/dev/null || true
for k in $kids; do
    for ((i = 0; i < 50; i++)); do kill -0 "$k" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$k" 2>/dev/null && fail "plugin $k survived the agent's SIGTERM"
done
pass "plugins stop with the agent"

# ---- plugin files: one file per plugin in a directory, read again on reload -------------------
mkdir "$WORK/plugins.d"
cat >"$WORK/pfiles.yml" <<EOF
collection:
  interval: 1s
collectors:
  disable_defaults: true
  loadavg: true
plugin_files: [$WORK/plugins.d/*.yml]
EOF
LOGNAME=pfiles
start_cairn pfiles --config.file="$WORK/pfiles.yml"
PF_PID=$CAIRN_PID
# wait_reloads N: until the agent has logged N successful reloads.
wait_reloads() {
    local i
    for ((i = 0; i < 100; i++)); do
        [ "$(grep -c 'configuration reloaded' "$WORK/pfiles.log")" -ge "$1" ] && return 0
        sleep 0.2
    done
    fail "reload $1 not logged (log: $(tail -5 "$WORK/pfiles.log"))"
}
wait_metric '^node_load1 '
grep -q 'plugin="procstate"' "$WORK/m.prom" && fail "procstate runs before its file exists"
printf 'plugins:\n  - name: procstate\n    command: %s\n' "$PROCSTATE" >"$WORK/plugins.d/procstate.yml"
kill -HUP "$PF_PID"
wait_reloads 1
wait_metric '^cairn_plugin_up\{plugin="procstate"\} 1$'
wait_metric '^procstate_threads\{state="R"\} [1-9]'
pass "a plugin file dropped into the plugin_files directory starts its plugin on SIGHUP"

# A broken plugin file fails the reload; the running plugins stay.
printf 'plugins:\n  - name: other\n    command: /bin/true\n    colour: red\n' >"$WORK/plugins.d/zz-broken.yml"
kill -HUP "$PF_PID"
wait_log 'reload failed.*plugins\.d/zz-broken\.yml:4:5: unknown key'
metrics >"$WORK/m.prom"
grep -q '^cairn_plugin_up{plugin="procstate"} 1$' "$WORK/m.prom" || fail "procstate stopped by a failed reload"
rm "$WORK/plugins.d/zz-broken.yml"
pass "a broken plugin file fails the reload and names its position"

rm "$WORK/plugins.d/procstate.yml"
kill -HUP "$PF_PID"
wait_reloads 2
for ((i = 0; i < 50; i++)); do
    metrics >"$WORK/m.prom" || true
    grep -q 'plugin="procstate"' "$WORK/m.prom" || break
    sleep 0.2
done
grep -q 'plugin="procstate"' "$WORK/m.prom" && fail "procstate still reported after its file was removed"
grep -q '^procstate_' "$WORK/m.prom" && fail "procstate series still exported after its file was removed"
grep -q '^node_load1 ' "$WORK/m.prom" || fail "built-in collector missing after the reload"
pf_kids() { ps --ppid "$PF_PID" -o args= || true; }
for ((i = 0; i < 50; i++)); do
    [[ "$(pf_kids)" == *cairn-plugin-procstate* ]] || break
    sleep 0.1
done
[[ "$(pf_kids)" == *cairn-plugin-procstate* ]] && fail "procstate still runs after its file was removed"
kill -TERM "$PF_PID"
wait "$PF_PID" 2>/dev/null || true
pass "removing the plugin file stops its plugin on SIGHUP"

# --config.check reads the plugin files and names the broken one's position.
mkdir "$WORK/broken.d"
printf 'plugins:\n  - name: procstate\n    command: %s\n' "$PROCSTATE" >"$WORK/broken.d/10-ok.yml"
printf 'plugins:\n  - name: bad\n    command: /bin/true\n    interval: soon\n' >"$WORK/broken.d/20-bad.yml"
printf 'plugin_files: [%s/broken.d/*.yml]\n' "$WORK" >"$WORK/pfiles-bad.yml"
set +e
"$CAIRN" agent --config.file="$WORK/pfiles-bad.yml" --config.check >"$WORK/pcheck.out" 2>"$WORK/pcheck.err"
rc=$?
set -e
[ $rc = 2 ] || fail "--config.check with a broken plugin file exited $rc, want 2"
grep -qxF "cairn: error: $WORK/broken.d/20-bad.yml:4:15: plugins.interval: \"soon\" is not a duration (e.g. 15s, 1m, 500ms)" "$WORK/pcheck.err" \
    || fail "--config.check did not name the plugin file's position: $(cat "$WORK/pcheck.err")"
rm "$WORK/broken.d/20-bad.yml"
"$CAIRN" agent --config.file="$WORK/pfiles-bad.yml" --config.check >"$WORK/pcheck.out" 2>&1 \
    || fail "--config.check with a good plugin file failed: $(cat "$WORK/pcheck.out")"
grep -q '^SUCCESS: ' "$WORK/pcheck.out" || fail "--config.check printed no SUCCESS"
pass "--config.check reports a broken plugin file as file:line:column and exits 2"

# ---- faults ----------------------------------------------------------------------------------
# Fault plugins read their behaviour from $WORK/mode-<plugin>, so a test can
# heal them.
mode() { echo "$2" >"$WORK/mode-$1"; }
for m in good late; do mode $m ok; done
mode segv segv; mode hang hang; mode oversized oversized; mode invalid invalid
mode flood stderr_flood; mode many many_series; mode exitstart exit_at_start
mode quarantine exit_at_start
# The pid of the fault plugin named NAME (from its environment).
plugin_pid() {
    local k
    for k in $(children "$AGENT"); do
        tr '\0' '\n' 2>/dev/null <"/proc/$k/environ" | grep -qx "FAULT_MODE_FILE=$WORK/mode-$1" && { echo "$k"; return; }
    done
}

printf '#!/bin/sh\nexec sleep 1000\n' >"$WORK/nohandshake.sh"
printf '#!/bin/sh\necho "this is not a handshake"\nexec sleep 1000\n' >"$WORK/badhandshake.sh"
printf '#!/bin/sh\necho "1|1|unix|/tmp/cairn-elsewhere.sock|grpc"\nexec sleep 1000\n' >"$WORK/wrongpath.sh"
printf '#!/bin/sh\necho "1|2|unix|$PLUGIN_UNIX_SOCKET_DIR/plugin.sock|grpc"\nexec sleep 1000\n' >"$WORK/version.sh"
chmod +x "$WORK"/*.sh

fault_entry() { # NAME [MAX_FAILURES]
    printf '  - name: %s\n    command: %s\n    env: {FAULT_MODE_FILE: %s}\n    interval: 500ms\n    timeout: 400ms\n    restart_backoff: 200ms\n    restart_backoff_max: 1s\n    max_failures: %s\n' \
        "$1" "$FAULT" "$WORK/mode-$1" "${2:-1000}"
}
{
    printf 'collection:\n  interval: 500ms\ncollectors:\n  disable_defaults: true\n  loadavg: true\nplugins:\n'
    fault_entry good
    fault_entry segv
    fault_entry hang
    fault_entry oversized
    printf '    max_message_size: 1MB\n'
    fault_entry invalid
    fault_entry flood
    fault_entry many
    fault_entry exitstart
    fault_entry quarantine 2
    for s in nohandshake badhandshake wrongpath version; do
        printf '  - name: %s\n    command: %s\n    start_timeout: 500ms\n    restart_backoff: 200ms\n    restart_backoff_max: 1s\n' \
            "$s" "$WORK/$s.sh"
    done
} >"$WORK/faults.yml"
LOGNAME=faults
start_cairn faults --config.file="$WORK/faults.yml"
AGENT=$CAIRN_PID

wait_metric '^fault_test_up 1$'
wait_metric '^cairn_plugin_up\{plugin="good"\} 1$'
wait_log 'plugin=segv.*(killed by signal 11|Segmentation fault)'
wait_log 'plugin=hang.*(DEADLINE|deadline|timed out)'
wait_log 'plugin=oversized.*(larger|RESOURCE_EXHAUSTED|message)'
wait_log 'plugin=exitstart.*exited with status 3 before its handshake'
wait_log 'plugin=nohandshake.*(no handshake|handshake).*'
wait_log 'plugin=badhandshake.*malformed handshake'
wait_log 'plugin=wrongpath.*outside its directory'
wait_log 'plugin=version.*plugin speaks protocol version 2, this agent speaks 1'
wait_log 'quarantined.*plugin=quarantine'
wait_metric '^cairn_plugin_quarantined\{plugin="quarantine"\} 1$'
wait_metric '^cairn_plugin_rejected_series_total\{plugin="invalid",reason="invalid_metric_name"\} [1-9]'
wait_metric '^cairn_plugin_rejected_series_total\{plugin="invalid",reason="invalid_label_name"\} [1-9]'
wait_metric '^cairn_plugin_rejected_series_total\{plugin="invalid",reason="invalid_counter"\} [1-9]'
wait_metric '^cairn_plugin_rejected_series_total\{plugin="invalid",reason="duplicate_series"\} [1-9]'
wait_metric '^cairn_plugin_rejected_series_total\{plugin="many",reason="too_many_series"\} [1-9]'
wait_metric '^cairn_plugin_restarts_total\{plugin="segv"\} [1-9]'
wait_metric '^cairn_plugin_log_lines_dropped_total\{plugin="flood"\} [1-9]'
metrics >"$WORK/faults.prom"
# Every other collector's series are still served.
grep -q '^node_load1 ' "$WORK/faults.prom" || fail "built-in series missing during plugin faults"
grep -q '^cairn_plugin_up{plugin="good"} 1$' "$WORK/faults.prom" || fail "good plugin down during faults"
grep -q '^node_scrape_collector_success{collector="segv"} 0$' "$WORK/faults.prom" || grep -q '^node_scrape_collector_success{collector="hang"} 0$' "$WORK/faults.prom" \
    || fail "failing plugins not reported as failing collectors"
# Invalid series are dropped, valid ones next to them kept.
grep -q '^1bad_name' "$WORK/faults.prom" && fail "a series with an invalid name was exported"
grep -q '^fault_test_nan_total' "$WORK/faults.prom" && fail "a NaN counter was exported"
grep -q 'bad-label' "$WORK/faults.prom" && fail "a series with an invalid label name was exported"
[ "$(grep -c '^fault_test_dup' "$WORK/faults.prom")" = 1 ] || fail "duplicate series not reduced to one"
# Plugin many returns 15,000 series plus its 3 ok series: 10,000 (max_series) are kept.
n=$(grep -c -e '^fault_test_many{' "$WORK/faults.prom" || true)
[ "$n" -ge 9997 ] && [ "$n" -le 10000 ] || fail "$n series of plugin many exported, max_series is 10000"
rej=$(sed -n 's/^cairn_plugin_rejected_series_total{plugin="many",reason="too_many_series"} //p' "$WORK/faults.prom")
[ $((rej % 5003)) = 0 ] || fail "plugin many: $rej series rejected, want a multiple of 5003 per collect"
no_zombies "$AGENT"
pass "faulty plugins are logged and counted while /metrics keeps serving"

# Heal them: each recovers on its own.
for m in segv hang oversized exitstart; do mode $m ok; done
for p in segv hang oversized exitstart; do
    wait_metric "^cairn_plugin_up\\{plugin=\"$p\"\\} 1\$" 30
done
no_zombies "$AGENT"
pass "crashed, hung, oversized and failing-at-start plugins recover once healthy"

# The quarantined plugin stays down until a reload; the others are untouched.
good_pid=$(plugin_pid good)
[ -n "$good_pid" ] || fail "no process for plugin good"
mode quarantine ok
sleep 1
metrics >"$WORK/q.prom"; grep -q '^cairn_plugin_up{plugin="quarantine"} 0$' "$WORK/q.prom" || fail "quarantined plugin came back before the reload"
# The reload also drops plugin "flood" and adds "late".
awk '/^  - name: flood$/{skip=1; next} /^  - name:/{skip=0} !skip' "$WORK/faults.yml" >"$WORK/faults2.yml"
fault_entry late >>"$WORK/faults2.yml"
flood_pid=$(plugin_pid flood)
[ -n "$flood_pid" ] || fail "no process for plugin flood"
cp "$WORK/faults2.yml" "$WORK/faults.yml"
kill -HUP "$AGENT"
wait_log 'configuration reloaded'
wait_metric '^cairn_plugin_up\{plugin="quarantine"\} 1$' 30
wait_metric '^cairn_plugin_up\{plugin="late"\} 1$' 30
metrics >"$WORK/r.prom"; grep -q 'plugin="flood"' "$WORK/r.prom" && fail "removed plugin still reported"
[ "$(plugin_pid good)" = "$good_pid" ] || fail "plugin good was restarted by the reload"
[ -z "$(plugin_pid flood)" ] || fail "removed plugin flood still runs"
kill -0 "$flood_pid" 2>/dev/null && fail "removed plugin flood's process $flood_pid still exists"
no_zombies "$AGENT"
pass "SIGHUP restarts the quarantined plugin, starts new ones and stops removed ones"

# SIGKILL of the agent: PR_SET_PDEATHSIG takes the plugins along.
kids=$(children "$AGENT")
[ -n "$kids" ] || fail "no plugin processes under the agent"
kill -KILL "$AGENT"
wait "$AGENT" 2>/dev/null || true
sleep 1
for k in $kids; do
    if kill -0 "$k" 2>/dev/null && ! grep -q '^State:.*Z' /proc/$k/status 2>/dev/null; then
        fail "plugin $k survived SIGKILL of the agent"
    fi
done
pass "plugins die with the agent on SIGKILL"

# ---- an isolated built-in collector: one contract, two transports ------------------------------
cat >"$WORK/isolated.yml" <<EOF
collection:
  interval: 1s
collectors:
  disable_defaults: true
  loadavg:
    enabled: true
    isolated: true
  uname: true
EOF
LOGNAME=isolated
start_cairn isolated --config.file="$WORK/isolated.yml"
wait_metric '^node_load1 [0-9.]+$'
wait_metric '^node_scrape_collector_success\{collector="loadavg"\} 1$'
grep -q '^node_uname_info{' "$WORK/m.prom" || fail "in-process collector missing next to the isolated one"
ps --ppid "$CAIRN_PID" -o args= | grep -q 'plugin serve loadavg' || fail "loadavg is not running in its own process"
n=$(grep -c '^node_scrape_collector_success{collector="loadavg"}' "$WORK/m.prom")
[ "$n" = 1 ] || fail "loadavg reported $n times"
"$CAIRN" plugin check "$CAIRN" plugin serve loadavg >"$WORK/check-load.out" 2>&1 || fail "plugin check of a built-in failed"
grep -q '^node_load5 ' "$WORK/check-load.out" || fail "plugin serve loadavg returned no node_load5"
pass "an isolated built-in collector runs in its own process with the same output"

# ---- cairn plugin check on invalid output -------------------------------------------------------
mode invalid invalid
set +e
FAULT_MODE_FILE="$WORK/mode-invalid" "$CAIRN" plugin check "$FAULT" >"$WORK/check-bad.out" 2>&1
rc=$?
set -e
[ $rc = 1 ] || fail "plugin check of invalid output exited $rc, want 1"
grep -q 'invalid_metric_name' "$WORK/check-bad.out" || fail "plugin check did not list the rejection"
grep -q '^fault_test_up 1$' "$WORK/check-bad.out" || fail "plugin check dropped the valid series"
pass "cairn plugin check reports rejected output and keeps the valid series"
