#!/usr/bin/env bash
# The package test (`make package-test`, needs root): builds the packages,
# then checks them with the tools and systems that consume them.
#
#   1. lintian on every .deb: no errors, no warnings; rpmlint on every .rpm:
#      none beyond the ones packaging/rpm/cairn.rpmlintrc keeps, each with its
#      reason;
#   2. each .rpm holds the same files as its .deb, up to the places where the
#      two families differ (unit and library directories, /etc/default);
#   3. the plugin SDK packages build a plugin with pkg-config alone, and
#      `cairn plugin check` runs it;
#   4. in a fresh Debian 12 root made by debootstrap (its base cached under
#      $CAIRN_PKG_CACHE, default ~/.cache/cairn-packages): install, --version,
#      --config.check, `systemd-analyze verify`, the agent started as the unit
#      starts it (user cairn, the unit's capabilities, no new privileges) and
#      scraped, reload, upgrade to a package rebuilt with a bumped version
#      with edited conffiles kept, remove, purge, and nothing left behind;
#   5. the .rpms installed with --nodeps into a scratch --root (a copy of the
#      same Debian root, so the scriptlets run), upgraded and erased.
#
# usage: tests/packaging/package_test.sh [SOURCE_DIR]
# KEEP_WORK=1 keeps the work directory for a look after a failure.
set -euo pipefail

src=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
[ "$(id -u)" = 0 ] || { echo "package test: needs root (chroot, mounts)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-pkgtest.XXXXXX")
mounts=()
agent_pid=
cleanup() {
    local rc=$? m
    [ -z "$agent_pid" ] || kill -KILL "$agent_pid" 2>/dev/null || true
    for ((m = ${#mounts[@]} - 1; m >= 0; m--)); do umount -l "${mounts[m]}" 2>/dev/null || true; done
    if [ "${KEEP_WORK:-}" = 1 ]; then
        echo "work directory kept: $work"
    else
        rm -rf "$work" || true
    fi
    exit $rc
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# ---- build: the release packages, and the same source as a bumped version --
dist=$work/dist
upgrade=$work/upgrade
bash "$src/packaging/build-packages.sh" --out "$dist" --build "$src/build-pkg"
version=$("$src/build-pkg/cairn" --version | sed -n 's/^cairn, version //p')
bumped="$version+1"
bash "$src/packaging/build-packages.sh" --out "$upgrade" --build "$src/build-pkg" --version "$bumped"
# Leave the build directory at the real version for `make package`.
cmake -S "$src" -B "$src/build-pkg" -DCAIRN_VERSION= >/dev/null
arch=$(dpkg --print-architecture)
rarch=$(rpm --eval %_arch)
deb_of() { echo "$dist/${1}_${version}_${arch}.deb"; }
rpm_of() { echo "$dist/$1-$version-1.$rarch.rpm"; }
for p in cairn libcairn-plugin1 cairn-plugin-dev; do [ -f "$(deb_of $p)" ] || fail "no $(deb_of $p)"; done
for p in cairn cairn-plugin cairn-plugin-devel; do [ -f "$(rpm_of $p)" ] || fail "no $(rpm_of $p)"; done
pass "built $(cd "$dist" && echo *)"

# ---- 1. lintian and rpmlint ---------------------------------------------------
for p in cairn libcairn-plugin1 cairn-plugin-dev; do
    if ! lintian --fail-on error,warning "$(deb_of $p)" >"$work/lintian.$p" 2>&1; then
        cat "$work/lintian.$p"
        fail "lintian: $p"
    fi
    pass "lintian $p: no errors, no warnings"
done
# All three at once: rpmlint checks the devel package's link against the
# library package beside it.
if ! rpmlint -c "$src/packaging/rpm/rpmlint.toml" -r "$src/packaging/rpm/cairn.rpmlintrc" \
    "$(rpm_of cairn)" "$(rpm_of cairn-plugin)" "$(rpm_of cairn-plugin-devel)" >"$work/rpmlint.out" 2>&1 ||
    ! grep -q ' 0 errors, 0 warnings' "$work/rpmlint.out"; then
    cat "$work/rpmlint.out"
    fail "rpmlint"
fi
pass "rpmlint: 0 errors, 0 warnings but the documented ones"

# ---- 2. the same files in both formats -----------------------------------------
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
# deb_entries DEB KIND: its files (KIND f: anything but directories) or
# directories (d), one absolute path a line.
deb_entries() {
    dpkg-deb -c "$1" | awk -v k="$2" '(k == "d") == ($1 ~ /^d/) {print $6}' |
        sed -e 's|^\./|/|' -e 's|/$||' | { grep -v '^$' || true; } | sort
}
# rpm_entries RPM KIND DEB-NAME: the same for an rpm, with the paths where the
# two families differ mapped to Debian's: unit and library directories,
# /etc/sysconfig, the package's name in its doc directory. The license
# directory is RPM's form of Debian's copyright file, and the changelog is a
# file only in a .deb; both are left out.
rpm_entries() {
    rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "$1" |
        awk -v k="$2" '(k == "d") == ($1 ~ /^d/) {print $2}' |
        sed -e "s#^/usr/share/doc/$(rpm -qp --qf '%{NAME}' "$1")\(/\|$\)#/usr/share/doc/$3\1#" \
            -e "s|^/usr/lib/systemd/system|/lib/systemd/system|" \
            -e "s|^/usr/lib64|/usr/lib/$multiarch|" -e "s|^/etc/sysconfig/cairn$|/etc/default/cairn|" |
        { grep -v '^/usr/share/licenses' || true; } | sort
}
deb_only='^/usr/share/doc/[^/]*/(copyright|changelog\.gz)$'
for pair in cairn:cairn libcairn-plugin1:cairn-plugin cairn-plugin-dev:cairn-plugin-devel; do
    d=${pair%%:*} r=${pair##*:}
    deb_entries "$(deb_of "$d")" f | { grep -Ev "$deb_only" || true; } >"$work/files.deb"
    rpm_entries "$(rpm_of "$r")" f "$d" >"$work/files.rpm"
    diff -u "$work/files.deb" "$work/files.rpm" || fail "$d.deb and $r.rpm hold different files"
    # dpkg lists every parent directory, rpm only those the package owns.
    deb_entries "$(deb_of "$d")" d >"$work/dirs.deb"
    missing=$(rpm_entries "$(rpm_of "$r")" d "$d" | comm -23 - "$work/dirs.deb")
    [ -z "$missing" ] || fail "$r.rpm owns directories $d.deb does not have: $missing"
    pass "$r.rpm holds the files of $d.deb ($(wc -l <"$work/files.rpm") files)"
done
for dir in /etc/cairn/rules.d /etc/cairn/plugins.d /var/lib/cairn; do
    rpm_entries "$(rpm_of cairn)" d cairn | grep -x "$dir" >/dev/null || fail "cairn.rpm does not own $dir"
    deb_entries "$(deb_of cairn)" d | grep -x "$dir" >/dev/null || fail "cairn.deb does not have $dir"
done
pass "both formats carry /etc/cairn/rules.d, /etc/cairn/plugins.d and /var/lib/cairn"

# ---- 3. the plugin SDK packages build a plugin ---------------------------------
sdk=$work/sdk
dpkg-deb -x "$(deb_of libcairn-plugin1)" "$sdk"
dpkg-deb -x "$(deb_of cairn-plugin-dev)" "$sdk"
pc_flags=$(PKG_CONFIG_SYSROOT_DIR=$sdk PKG_CONFIG_LIBDIR=$sdk/usr/lib/$multiarch/pkgconfig \
    pkg-config --cflags --libs cairn-plugin) || fail "pkg-config does not find cairn-plugin"
# shellcheck disable=SC2086 # the flags are words
cc -o "$work/procstate" "$src/plugins/examples/procstate/procstate.c" $pc_flags
LD_LIBRARY_PATH=$sdk/usr/lib/$multiarch ldd "$work/procstate" | grep "$sdk/usr/lib/$multiarch/libcairn-plugin.so.1" >/dev/null ||
    fail "the plugin does not load the packaged libcairn-plugin.so.1"
LD_LIBRARY_PATH=$sdk/usr/lib/$multiarch "$src/build-pkg/cairn" plugin check "$work/procstate" >"$work/check.out" ||
    { cat "$work/check.out"; fail "cairn plugin check on a plugin built from the SDK packages"; }
grep -q '^procstate_threads{' "$work/check.out" || { cat "$work/check.out"; fail "the plugin returned no procstate series"; }
pass "a plugin built with pkg-config from cairn-plugin-dev runs under cairn plugin check"

# ---- 4. install, run, upgrade and purge in a fresh Debian 12 root ----------------
mirror=${DEBIAN_MIRROR:-$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
mirror=${mirror:-$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)}
mirror=${mirror:-http://deb.debian.org/debian}
# The base root holds the packages' dependencies (so dpkg -i needs no
# network), systemd (for systemd-analyze and deb-systemd-helper) and man-db;
# it is cached by that list.
deps=$(for p in cairn libcairn-plugin1; do dpkg-deb -f "$(deb_of $p)" Depends; done |
    tr ',' '\n' | sed -e 's/(.*//' -e 's/|.*//' -e 's/[[:space:]]//g' | grep -v '^$' | sort -u | paste -sd, -)
include="$deps,systemd,man-db"
cache=${CAIRN_PKG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cairn-packages}
base=$cache/bookworm-minbase-$(echo "$include" | sha256sum | cut -c1-16).tar
if [ ! -f "$base" ]; then
    mkdir -p "$cache"
    echo "debootstrap bookworm from $mirror (cached as $base)"
    debootstrap --variant=minbase --include="$include" bookworm "$work/base" "$mirror" >"$work/debootstrap.log" 2>&1 ||
        { tail -20 "$work/debootstrap.log"; fail "debootstrap"; }
    tar -C "$work/base" -cf "$base.tmp" . && mv "$base.tmp" "$base"
    rm -rf "$work/base"
fi

# new_root DIR: a fresh copy of the base with /proc, /sys and the kernel log.
new_root() {
    mkdir -p "$1"
    tar -C "$1" -xf "$base"
    mount -t proc proc "$1/proc" && mounts+=("$1/proc")
    mount -t sysfs sysfs "$1/sys" && mounts+=("$1/sys")
    touch "$1/dev/kmsg" && mount --bind /dev/kmsg "$1/dev/kmsg" && mounts+=("$1/dev/kmsg")
}
root=$work/root
new_root "$root"
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"; }

# snapshot OUT: every path outside the package database and logs, with its
# type, mode and owner, and the account files' contents.
snapshot() {
    (cd "$root" && find . -xdev \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./tmp \
        -o -path ./run -o -path ./var/lib/dpkg -o -path ./var/log -o -path ./var/cache \) -prune \
        -o -printf '%p %y %m %u:%g\n' | LC_ALL=C sort) >"$1"
    (cd "$root/etc" && sha256sum passwd group shadow gshadow) >>"$1"
}
snapshot "$work/before"

mkdir -p "$root/tmp/debs" "$root/tmp/upgrade"
cp "$dist"/*.deb "$root/tmp/debs/"
cp "$upgrade"/*.deb "$root/tmp/upgrade/"
in_root dpkg -i /tmp/debs/cairn_"${version}_$arch.deb" /tmp/debs/libcairn-plugin1_"${version}_$arch.deb" \
    /tmp/debs/cairn-plugin-dev_"${version}_$arch.deb" </dev/null >"$work/dpkg.log" 2>&1 ||
    { cat "$work/dpkg.log"; fail "dpkg -i"; }
pass "dpkg -i installs the three packages in a fresh Debian 12 root"

[ "$(in_root cairn --version)" = "cairn, version $version" ] || fail "cairn --version in the root"
out=$(in_root cairn agent --config.file=/etc/cairn/cairn.yml --config.check 2>&1) ||
    fail "--config.check on the packaged configuration: $out"
case $out in SUCCESS*) ;; *) fail "--config.check printed: $out" ;; esac
pass "cairn --version and cairn agent --config.check inside the root"

IFS=: read -r _ _ uid gid _ home shell < <(in_root getent passwd cairn) || fail "no user cairn"
[ "$uid" -lt 1000 ] && [ "$home" = /var/lib/cairn ] && [ "$shell" = /usr/sbin/nologin ] ||
    fail "user cairn: uid $uid home $home shell $shell"
[ "$(in_root stat -c '%U:%G %a' /var/lib/cairn)" = "cairn:cairn 750" ] || fail "/var/lib/cairn's owner or mode"
[ -L "$root/etc/systemd/system/multi-user.target.wants/cairn-agent.service" ] ||
    fail "cairn-agent.service was not enabled"
for f in /etc/cairn/cairn.yml /etc/default/cairn; do
    in_root dpkg-query -W -f='${Conffiles}\n' cairn | grep "^ $f " >/dev/null || fail "$f is not a conffile"
done
[ -d "$root/etc/cairn/rules.d" ] && [ -d "$root/etc/cairn/plugins.d" ] || fail "/etc/cairn/{rules,plugins}.d"
in_root man -w cairn >/dev/null || fail "man cairn"
in_root ldconfig -p | grep 'libcairn-plugin.so.1 ' >/dev/null || fail "libcairn-plugin.so.1 is not in ld.so.cache"
out=$(in_root systemd-analyze verify cairn-agent.service 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"
pass "user cairn (uid $uid), /var/lib/cairn 0750, unit enabled and verified, conffiles, man page, ld.so.cache"

# run_agent: starts the agent as cairn-agent.service does: ExecStart with the
# environment file, as User=, with the ambient and bounding capabilities of
# the unit and no new privileges. Sets agent_pid.
unit=$root/lib/systemd/system/cairn-agent.service
caps=$(sed -n 's/^AmbientCapabilities=//p' "$unit" | tr 'A-Z ' 'a-z\n' | sed 's/^cap_/+/' | paste -sd, -)
user=$(sed -n 's/^User=//p' "$unit")
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
envfile=$(sed -n 's/^EnvironmentFile=-\(\/etc\/default\/.*\)/\1/p' "$unit")
[ -n "$caps" ] && [ "$user" = cairn ] && [ -n "$exec_start" ] && [ "$envfile" = /etc/default/cairn ] ||
    fail "cannot read the unit: caps '$caps' user '$user' envfile '$envfile'"
grep -qx 'NoNewPrivileges=yes' "$unit" || fail "the unit lacks NoNewPrivileges=yes"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The operator's way to change a flag: the environment file.
sed -i "s|^CAIRN_ARGS=.*|CAIRN_ARGS=\"--web.listen-address=127.0.0.1:$port --collector.interval=2s\"|" \
    "$root/etc/default/cairn"
run_agent() {
    chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /bin/sh -c \
        ". $envfile; exec setpriv --reuid=$user --regid=$user --init-groups --no-new-privs \
         --inh-caps=-all,$caps --ambient-caps=-all,$caps --bounding-set=-all,$caps -- $exec_start" \
        >>"$work/agent.log" 2>&1 &
    agent_pid=$!
    local i
    for i in $(seq 100); do
        curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null && return 0
        kill -0 "$agent_pid" 2>/dev/null || { cat "$work/agent.log"; fail "the agent exited"; }
        sleep 0.3
    done
    cat "$work/agent.log"
    fail "the agent did not become ready on 127.0.0.1:$port"
}
stop_agent() {
    kill -TERM "$agent_pid"
    local rc=0
    wait "$agent_pid" || rc=$?
    agent_pid=
    [ $rc -eq 0 ] || fail "the agent exited with $rc after SIGTERM"
}
# (Whole scrapes into a file or awk: grep -q would close the pipe early.)
scrape() { curl -sf "http://127.0.0.1:$port/metrics"; }
metric() { scrape | awk -v m="$1" '$1 == m {print $2}'; }

run_agent
status=$(grep -E '^(Uid|CapAmb|CapBnd|NoNewPrivs):' "/proc/$agent_pid/status" | awk '{print $2}' | paste -sd' ' -)
want_caps=$(printf '%016x' $(( (1 << 34) | (1 << 2) ))) # CAP_SYSLOG (34), CAP_DAC_READ_SEARCH (2)
[ "$status" = "$uid $want_caps $want_caps 1" ] ||
    fail "the agent runs with Uid CapAmb CapBnd NoNewPrivs = $status, want $uid $want_caps $want_caps 1"
scrape >"$work/scrape"
grep -q "^cairn_build_info{.*version=\"$version\"" "$work/scrape" || fail "the scrape lacks cairn_build_info for $version"
grep -q '^node_cpu_seconds_total{' "$work/scrape" || fail "the scrape lacks node_cpu_seconds_total"
for i in $(seq 50); do # the kernel log reader starts beside the first collection
    records=$(metric cairn_events_kmsg_records_total)
    [ "${records%.*}" -gt 0 ] 2>/dev/null && break
    sleep 0.2
done
[ -n "$records" ] && [ "${records%.*}" -gt 0 ] || fail "the agent read no kernel log records as user cairn ($records)"
[ -d "$root/var/lib/cairn/wal" ] && [ "$(in_root stat -c %U /var/lib/cairn/wal)" = cairn ] ||
    fail "the TSDB is not in /var/lib/cairn, owned by cairn"
kill -HUP "$agent_pid"
for i in $(seq 50); do
    grep -q 'msg="configuration reloaded"' "$work/agent.log" && break
    sleep 0.2
done
grep -q 'msg="configuration reloaded"' "$work/agent.log" || fail "no reload on SIGHUP: $(tail -3 "$work/agent.log")"
curl -sf "http://127.0.0.1:$port/api/v1/status/runtimeinfo" | grep '"reloadConfigSuccess":true' >/dev/null ||
    fail "the reload on SIGHUP failed: $(tail -3 "$work/agent.log")"
sleep 3 # at least one collection after the reload, to find after the upgrade
stop_agent
pass "the agent ran as cairn with CapAmb=CapBnd=$want_caps and no new privileges, was scraped on :$port, read /dev/kmsg ($records records), reloaded on SIGHUP and stopped on SIGTERM"

# The operator's edits, which the upgrade must keep.
sed -i 's/^  #level: info$/  level: debug/' "$root/etc/cairn/cairn.yml"
grep -q '^  level: debug$' "$root/etc/cairn/cairn.yml" || fail "could not edit cairn.yml"
cat >"$root/etc/cairn/rules.d/local.yml" <<'RULES'
rules:
  - type: LocalTest
    severity: info
    pattern: 'cairn package test'
RULES
in_root cairn agent --config.file=/etc/cairn/cairn.yml --config.check >/dev/null || fail "the local rules file"
cp "$root/etc/cairn/cairn.yml" "$root/etc/default/cairn" "$work/"
(cd "$root/var/lib/cairn" && find . | sort) >"$work/data.before"

in_root dpkg -i /tmp/upgrade/cairn_"${bumped}_$arch.deb" /tmp/upgrade/libcairn-plugin1_"${bumped}_$arch.deb" \
    /tmp/upgrade/cairn-plugin-dev_"${bumped}_$arch.deb" </dev/null >"$work/dpkg.log" 2>&1 ||
    { cat "$work/dpkg.log"; fail "dpkg -i (upgrade to $bumped)"; }
[ "$(in_root cairn --version)" = "cairn, version $bumped" ] || fail "cairn --version after the upgrade"
cmp "$work/cairn.yml" "$root/etc/cairn/cairn.yml" || fail "the upgrade changed the edited cairn.yml"
cmp "$work/cairn" "$root/etc/default/cairn" || fail "the upgrade changed the edited /etc/default/cairn"
[ -f "$root/etc/cairn/rules.d/local.yml" ] || fail "the upgrade lost rules.d/local.yml"
[ -z "$(comm -23 "$work/data.before" <(cd "$root/var/lib/cairn" && find . | sort))" ] ||
    fail "the upgrade lost files in /var/lib/cairn"
[ "$(in_root id -u cairn)" = "$uid" ] || fail "the upgrade changed cairn's uid"
[ "$(in_root stat -c '%U:%G %a' /var/lib/cairn)" = "cairn:cairn 750" ] || fail "/var/lib/cairn after the upgrade"
run_agent
# The samples of the first run, read by the new version.
q=$(curl -sfG "http://127.0.0.1:$port/api/v1/query" \
    --data-urlencode "query=count(count_over_time(cairn_build_info{version=\"$version\"}[1h]))" \
    --data-urlencode "time=$(date +%s)")
echo "$q" | grep '"value":\[[0-9.]*,"1"\]' >/dev/null || fail "the data of $version is not readable after the upgrade: $q"
scrape | grep "^cairn_build_info{.*version=\"$bumped\"" >/dev/null ||
    fail "the upgraded agent does not report $bumped"
grep -q 'level=debug' "$work/agent.log" || fail "the upgraded agent ignored the kept cairn.yml (log.level debug)"
stop_agent
pass "upgrade to $bumped kept cairn.yml, /etc/default/cairn, rules.d, the data (read back) and the user"

in_root dpkg -r cairn </dev/null >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -r"; }
[ ! -e "$root/usr/bin/cairn" ] || fail "dpkg -r left /usr/bin/cairn"
[ -f "$root/etc/cairn/cairn.yml" ] && [ -d "$root/var/lib/cairn/wal" ] && in_root getent passwd cairn >/dev/null ||
    fail "dpkg -r removed configuration, data or user"
[ "$(readlink "$root/etc/systemd/system/cairn-agent.service")" = /dev/null ] || fail "dpkg -r did not mask the unit"
pass "dpkg -r keeps configuration, data and user, and masks the unit"

in_root dpkg --purge cairn cairn-plugin-dev libcairn-plugin1 </dev/null >"$work/dpkg.log" 2>&1 ||
    { cat "$work/dpkg.log"; fail "dpkg --purge"; }
snapshot "$work/after"
diff -u "$work/before" "$work/after" || fail "the purge left the differences above"
pass "dpkg --purge leaves the root as it was before the install"

# ---- 5. the RPMs in a scratch root ---------------------------------------------
# A copy of the same Debian root, so the scriptlets find a shell, useradd and
# systemctl (offline); --nodeps because Debian's libraries are not rpms.
root=$work/rpmroot
new_root "$root"
rpm_in() { rpm --root "$root" "$@"; }
# Libraries live in /usr/lib64 there, which the dynamic linker searches on RPM
# distributions; the %post's ldconfig must put the SDK's in the cache.
echo /usr/lib64 >"$root/etc/ld.so.conf.d/lib64.conf"
rpm_in -i --nodeps "$(rpm_of cairn)" "$(rpm_of cairn-plugin)" "$(rpm_of cairn-plugin-devel)" \
    >"$work/rpm.log" 2>&1 || { cat "$work/rpm.log"; fail "rpm -i --root"; }
rpm_in -V --nodeps cairn cairn-plugin cairn-plugin-devel >"$work/rpm.log" 2>&1 ||
    { cat "$work/rpm.log"; fail "rpm -V after the install"; }
for f in $(rpm -qlp "$(rpm_of cairn)" "$(rpm_of cairn-plugin)" "$(rpm_of cairn-plugin-devel)"); do
    [ -e "$root$f" ] || [ -L "$root$f" ] || fail "the rpm install lacks $f"
done
[ "$(in_root cairn --version)" = "cairn, version $version" ] || fail "cairn --version in the rpm root"
[ "$(in_root stat -c '%U:%G %a' /var/lib/cairn)" = "cairn:cairn 750" ] || fail "/var/lib/cairn in the rpm root"
[ -f "$root/etc/sysconfig/cairn" ] && [ ! -e "$root/etc/default/cairn" ] || fail "/etc/sysconfig/cairn"
[ -L "$root/etc/systemd/system/multi-user.target.wants/cairn-agent.service" ] ||
    fail "the rpm's %post did not enable the unit"
in_root ldconfig -p | grep 'libcairn-plugin.so.1 ' >/dev/null || fail "libcairn-plugin.so.1 not in ld.so.cache (rpm)"
pass "rpm -i --nodeps --root: every file in place, rpm -V clean, user, /var/lib/cairn, unit enabled"

sed -i 's/^  #level: info$/  level: debug/' "$root/etc/cairn/cairn.yml"
cp "$root/etc/cairn/cairn.yml" "$work/cairn.yml"
rpm_in -U --nodeps "$upgrade/cairn-$bumped-1.$rarch.rpm" "$upgrade/cairn-plugin-$bumped-1.$rarch.rpm" \
    "$upgrade/cairn-plugin-devel-$bumped-1.$rarch.rpm" >"$work/rpm.log" 2>&1 ||
    { cat "$work/rpm.log"; fail "rpm -U --root"; }
[ "$(in_root cairn --version)" = "cairn, version $bumped" ] || fail "cairn --version after rpm -U"
cmp "$work/cairn.yml" "$root/etc/cairn/cairn.yml" || fail "rpm -U replaced the edited cairn.yml"
rpm_in -e --nodeps cairn cairn-plugin-devel cairn-plugin >"$work/rpm.log" 2>&1 ||
    { cat "$work/rpm.log"; fail "rpm -e --root"; }
[ ! -e "$root/usr/bin/cairn" ] && [ ! -e "$root/usr/lib64/libcairn-plugin.so.1" ] || fail "rpm -e left files"
[ -f "$root/etc/cairn/cairn.yml.rpmsave" ] || fail "rpm -e did not keep the edited cairn.yml as .rpmsave"
[ ! -e "$root/etc/systemd/system/multi-user.target.wants/cairn-agent.service" ] ||
    fail "rpm -e did not disable the unit"
pass "rpm -U kept the edited cairn.yml; rpm -e removed the files, disabled the unit, saved cairn.yml.rpmsave"
echo "package test: all passed"
