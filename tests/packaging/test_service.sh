#!/usr/bin/env bash
# Quick checks of the packaged service and configuration, with the built
# binary (the packages themselves: tests/packaging/package_test.sh):
#   - `systemd-analyze verify` passes on cairn-agent.service, with the unit's
#     /usr/bin/cairn pointing at the built binary and the man page at
#     packaging/cairn.1;
#   - the unit keeps the hardening and the two capabilities it documents;
#   - the packaged cairn.yml passes `--config.check`, and puts the TSDB, the
#     rules and the plugin files where the package installs them;
#   - the maintainer scripts parse as POSIX sh.
# usage: test_service.sh PATH/TO/cairn SOURCE_DIR
set -euo pipefail

cairn=$(realpath "$1")
src=$(realpath "$2")
unit=$src/packaging/systemd/cairn-agent.service
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# systemd-analyze verify checks that ExecStart's program exists and that man
# pages named in Documentation= open; give it both from the source tree.
mkdir -p "$work/unit" "$work/man/man1"
sed "s|/usr/bin/cairn|$cairn|" "$unit" >"$work/unit/cairn-agent.service"
cp "$src/packaging/cairn.1" "$work/man/man1/cairn.1"
if ! out=$(MANPATH=$work/man systemd-analyze verify "$work/unit/cairn-agent.service" 2>&1) || [ -n "$out" ]; then
    fail "systemd-analyze verify: $out"
fi
pass "systemd-analyze verify cairn-agent.service: clean"

# The unit's settings that the package promises (docs/operations.md).
for line in User=cairn Group=cairn NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes \
    PrivateTmp=yes ReadWritePaths=/var/lib/cairn Restart=on-failure \
    'ExecReload=/bin/kill -HUP $MAINPID' 'AmbientCapabilities=CAP_SYSLOG CAP_DAC_READ_SEARCH' \
    'CapabilityBoundingSet=CAP_SYSLOG CAP_DAC_READ_SEARCH' \
    'ExecStart=/usr/bin/cairn agent --config.file=/etc/cairn/cairn.yml $CAIRN_ARGS'; do
    grep -qxF "$line" "$unit" || fail "cairn-agent.service lacks '$line'"
done
# ProtectKernelLogs would hide /dev/kmsg, and MemoryDenyWriteExecute would
# stop PCRE2's JIT, which the event rules use.
for bad in ProtectKernelLogs=yes MemoryDenyWriteExecute=yes ProtectClock=yes; do
    ! grep -qxF "$bad" "$unit" || fail "cairn-agent.service sets $bad, which breaks a collector or the rules"
done
pass "the unit runs as cairn with CAP_SYSLOG and CAP_DAC_READ_SEARCH only, and its hardening"

out=$("$cairn" agent --config.file="$src/packaging/cairn.yml" --config.check 2>&1) ||
    fail "--config.check on packaging/cairn.yml: $out"
case $out in SUCCESS*) ;; *) fail "--config.check printed: $out" ;; esac
# The packaged paths, read back from what the agent would run with.
grep -qx '  path: /var/lib/cairn' "$src/packaging/cairn.yml" || fail "cairn.yml: storage.path"
grep -qx '  rules_files: \[/etc/cairn/rules.d/\*.yml\]' "$src/packaging/cairn.yml" || fail "cairn.yml: rules_files"
grep -qx 'plugin_files: \[/etc/cairn/plugins.d/\*.yml\]' "$src/packaging/cairn.yml" || fail "cairn.yml: plugin_files"
pass "packaging/cairn.yml passes --config.check"

# The commented settings in cairn.yml, uncommented, are valid: an operator
# can enable any of them as it stands.
# In the body (from the first key on), "#key:" and "#  key:" lines are
# settings; "# text" lines stay comments.
awk '/^[a-z]/ { body = 1 }
     body { if ($0 ~ /^ *#[a-z_-]+:/ || $0 ~ /^#  +[a-z_#-]/) sub(/#/, "") }
     { print }' "$src/packaging/cairn.yml" >"$work/uncommented.yml"
[ "$(grep -c '^ *#[a-z]' "$work/uncommented.yml")" = 0 ] || fail "uncommenting cairn.yml left settings commented"
out=$("$cairn" agent --config.file="$work/uncommented.yml" --config.check 2>&1) ||
    fail "cairn.yml with its commented lines enabled: $out"
pass "cairn.yml's commented settings are valid"

for s in postinst prerm postrm; do
    sh -n "$src/packaging/deb/$s" || fail "packaging/deb/$s does not parse"
    head -1 "$src/packaging/deb/$s" | grep -qx '#!/bin/sh' || fail "packaging/deb/$s is not a /bin/sh script"
done
pass "the maintainer scripts parse"
