#!/bin/bash
# Checks packaging/cairn.bash-completion against a real cairn binary.
#
#   bash tests/packaging/test_completion.sh PATH/TO/cairn SOURCE_DIR
#
# The completion file is sourced into this non-interactive bash, and each
# check simulates one press of TAB: it splits a command line into
# COMP_WORDS as bash does (a space ends a word; '=', which is in bash's
# default COMP_WORDBREAKS, is a word of its own), puts the binary under test
# in place of `cairn` (so its --help is what the completion reads), sets
# COMP_CWORD, COMP_LINE and COMP_POINT, calls the function that
# `complete -p cairn` names, and compares COMPREPLY, sorted, with the exact
# expected words. compopt fails outside a real completion; the completion
# ignores that, so options such as nospace are not checked here.
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 PATH/TO/cairn SOURCE_DIR" >&2
    exit 2
fi
cairn=$1
src=$2
[[ $cairn == /* ]] || cairn=$PWD/$cairn
completion=$src/packaging/cairn.bash-completion

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

[[ -x $cairn ]] || fail "$cairn is not an executable"
[[ -r $completion ]] || fail "$completion is missing"

# shellcheck source=../../packaging/cairn.bash-completion
source "$completion"
spec=$(complete -p cairn 2>/dev/null) || fail "the completion file registers nothing for cairn"
[[ $spec =~ -F\ ([^ ]+) ]] || fail "cairn's completion is not a function: $spec"
func=${BASH_REMATCH[1]}
echo "ok: $completion registers $func for cairn"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# complete [--one-word] LINE: completes LINE (with "cairn" as its first
# word) as if TAB were pressed at its end; the result is in COMPREPLY.
# With --one-word '=' does not split words, as when a user has taken it
# out of COMP_WORDBREAKS.
complete_line() {
    local split_eq=true line w rest
    if [[ $1 == --one-word ]]; then
        split_eq=false
        shift
    fi
    line=$1
    [[ $line == cairn\ * ]] || fail "test bug: $line does not start with cairn"
    line=$cairn${line#cairn}
    local -a words=() raw=()
    read -ra raw <<<"$line"
    [[ $line == *" " ]] && raw+=("")
    for w in "${raw[@]}"; do
        if $split_eq && [[ $w == *=* ]]; then
            rest=$w
            while [[ $rest == *=* ]]; do
                [[ -n ${rest%%=*} ]] && words+=("${rest%%=*}")
                words+=("=")
                rest=${rest#*=}
            done
            [[ -n $rest ]] && words+=("$rest")
        else
            words+=("$w")
        fi
    done
    COMP_WORDS=("${words[@]}")
    COMP_CWORD=$((${#words[@]} - 1))
    COMP_LINE=$line
    COMP_POINT=${#line}
    COMPREPLY=()
    "$func" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" 2>"$tmp/stderr" ||
        true
    [[ ! -s $tmp/stderr ]] || fail "completing '$1' wrote to stderr: $(cat "$tmp/stderr")"
}

sorted() { printf '%s\n' "$@" | LC_ALL=C sort; }

# expect [--one-word] LINE WORD...: COMPREPLY is exactly the WORDs.
expect() {
    local opt=()
    if [[ $1 == --one-word ]]; then
        opt=(--one-word)
        shift
    fi
    local line=$1
    shift
    complete_line "${opt[@]}" "$line"
    local got want
    got=$(sorted "${COMPREPLY[@]}")
    want=$(sorted "$@")
    if [[ ${#COMPREPLY[@]} -eq 0 ]]; then got=""; fi
    if [[ $# -eq 0 ]]; then want=""; fi
    [[ $got == "$want" ]] ||
        fail "completing '$line${opt:+ (one word)}': expected [${want//$'\n'/ }], got [${got//$'\n'/ }]"
    echo "ok: '$line'${opt:+ (one word)} -> [${want//$'\n'/ }]"
}

# expect_has LINE WORD...: COMPREPLY holds every WORD, and nothing that does
# not start with the word being completed.
expect_has() {
    local line=$1 w r
    shift
    complete_line "$line"
    for w in "$@"; do
        for r in "${COMPREPLY[@]}"; do [[ $r == "$w" ]] && continue 2; done
        fail "completing '$line': $w missing from [${COMPREPLY[*]}]"
    done
    for r in "${COMPREPLY[@]}"; do
        [[ $r == "${COMP_WORDS[COMP_CWORD]}"* ]] || fail "completing '$line': $r does not match"
    done
    echo "ok: '$line' -> ${#COMPREPLY[@]} words including $*"
}

# The commands, as `cairn --help` lists them.
mapfile -t commands < <("$cairn" --help | awk '/^Commands:/ {on = 1; next} on && /^  [a-z]/ {print $1}')
for c in agent tsdb; do
    [[ " ${commands[*]} " == *" $c "* ]] || fail "cairn --help does not list $c: ${commands[*]}"
done
expect "cairn " "${commands[@]}"
expect "cairn ag" agent
expect "cairn -" --help --version

# The agent: flags from `cairn agent --help`, collector forms included.
expect "cairn agent --web.l" --web.listen-address
expect "cairn agent --config.f" --config.file
expect "cairn agent --storage.tsdb.min" --storage.tsdb.min-block-duration
expect_has "cairn agent --no-collector.cp" --no-collector.cpu --no-collector.cpufreq
expect "cairn agent --no-collector.cpu." --no-collector.cpu.guest --no-collector.cpu.info
expect "cairn agent --collector.filesystem.mount-t" --collector.filesystem.mount-timeout
expect_has "cairn agent --collector.disable" --collector.disable-defaults
expect "cairn agent --log.level=" debug info warn error
expect "cairn agent --log.level " debug info warn error
expect "cairn agent --log.level=w" warn
expect --one-word "cairn agent --log.level=" --log.level=debug --log.level=info \
    --log.level=warn --log.level=error
expect --one-word "cairn agent --log.format=j" --log.format=json
expect "cairn agent --log.format " logfmt json
expect "cairn agent --collector.cpu.info=" true false
# A value that is not completed offers nothing, not the flags.
expect "cairn agent --web.listen-address "
# After a complete boolean flag come the flags again.
expect "cairn agent --config.check --web.tel" --web.telemetry-path

# Paths: files for --config.file, directories for --storage.tsdb.path.
mkdir "$tmp/conf" "$tmp/conf/rules.d"
touch "$tmp/conf/cairn.yml" "$tmp/conf/local.yml"
expect "cairn agent --config.file $tmp/conf/" \
    "$tmp/conf/cairn.yml" "$tmp/conf/local.yml" "$tmp/conf/rules.d"
expect "cairn agent --config.file=$tmp/conf/c" "$tmp/conf/cairn.yml"
expect --one-word "cairn agent --config.file=$tmp/conf/l" "--config.file=$tmp/conf/local.yml"
expect "cairn agent --storage.tsdb.path $tmp/conf/" "$tmp/conf/rules.d"
expect "cairn agent --path.procfs=$tmp/conf/r" "$tmp/conf/rules.d"

# events, query: flags written `--flag=VALUE` are offered as `--flag=`.
expect "cairn events --sev" --severity=
expect "cairn events --severity=" info warning critical
expect "cairn events --severity w" warning
expect "cairn events --source=h" hardware
expect "cairn events -o " table json
expect "cairn events -f" -f
expect "cairn query " instant range series labels
expect "cairn query range --st" --start= --step=
expect "cairn query --output=" table json

# tsdb: its commands as `cairn tsdb --help` lists them, their second words
# and their flags.
mapfile -t tsdb_cmds < <("$cairn" tsdb --help | awk '/^Commands:/ {on = 1; next} on && /^  [a-z]/ {print $1}')
for c in list dump analyze import bench; do
    [[ " ${tsdb_cmds[*]} " == *" $c "* ]] || fail "cairn tsdb --help does not list $c"
done
expect "cairn tsdb " "${tsdb_cmds[@]}"
expect "cairn tsdb import " openmetrics
expect "cairn tsdb bench " write
expect "cairn tsdb list -" -r --human-readable
expect "cairn tsdb dump --m" --min-time= --max-time= --match=
expect "cairn tsdb import openmetrics --max" --max-block-duration=
expect "cairn tsdb list $tmp/conf/" "$tmp/conf/rules.d"

# plugin: its commands; serve takes a collector name.
expect "cairn plugin " check serve
expect "cairn plugin check --" --timeout= --max-series=
expect "cairn plugin serve filesy" filesystem

# The help texts are read once per binary and session: a wrapper that logs
# its runs is asked once, however often it is completed.
cat >"$tmp/cairn" <<EOF
#!/bin/sh
echo "\$*" >>"$tmp/runs"
exec "$cairn" "\$@"
EOF
chmod +x "$tmp/cairn"
cairn=$tmp/cairn
expect "cairn agent --web.l" --web.listen-address
expect "cairn agent --log.l" --log.level
expect "cairn agent --path.u" --path.udev.data
runs=$(grep -c '^agent --help$' "$tmp/runs") || true
[[ $runs == 1 ]] || fail "cairn agent --help ran $runs times for three completions, not once"
echo "ok: cairn agent --help ran once for three completions"

echo "all completion checks passed"
