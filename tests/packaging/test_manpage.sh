#!/bin/bash
# Checks packaging/cairn.1 against a real cairn binary.
#
#   bash tests/packaging/test_manpage.sh PATH/TO/cairn SOURCE_DIR
#
# 1. The page renders without a warning, with the command lintian uses.
# 2. Drift: every fixed flag that `cairn agent --help` prints (the lines
#    before its "Collectors" heading), and each collector flag form, is a
#    tag in AGENT FLAGS (a mention elsewhere does not count); every command
#    of `cairn --help`, and every subcommand of `cairn tsdb --help`,
#    `cairn query --help` and `cairn plugin --help`, starts a SYNOPSIS line
#    and is a tag in COMMANDS. A flag or command added without
#    documentation fails here, by name.
# The page is compared as man renders it (MANWIDTH=200, overstrikes and
# tabs removed by col -bx, Unicode hyphens and minus signs read as '-'), so
# roff escapes such as \- do not matter. Every check prints an ok or FAIL
# line; the exit status is 1 if any failed.
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 PATH/TO/cairn SOURCE_DIR" >&2
    exit 2
fi
cairn=$1
page=$2/packaging/cairn.1
failed=0

ok() { echo "ok: $*"; }
bad() {
    echo "FAIL: $*"
    failed=1
}

if [[ ! -x $cairn || ! -r $page ]]; then
    echo "FAIL: need an executable $cairn and $page" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. Rendering.
LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$page" \
    >/dev/null 2>"$tmp/warnings" || bad "man could not render $page"
if [[ -s $tmp/warnings ]]; then
    bad "man --warnings reports on $page:"
    sed 's/^/    /' "$tmp/warnings"
else
    ok "$page renders without warnings"
fi

LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=200 man -E UTF-8 -l "$page" 2>/dev/null | col -bx |
    sed 's/\xe2\x80\x90/-/g; s/\xe2\x88\x92/-/g' >"$tmp/page.txt"
[[ -s $tmp/page.txt ]] || {
    echo "FAIL: $page renders to nothing" >&2
    exit 1
}

# section NAME: the rendered lines of section NAME, heading excluded.
section() {
    awk -v name="$1" '/^[A-Z]/ {on = ($0 == name); next} on' "$tmp/page.txt"
}
section SYNOPSIS >"$tmp/synopsis.txt"
section COMMANDS >"$tmp/commands.txt"
[[ -s $tmp/synopsis.txt && -s $tmp/commands.txt ]] || bad "no SYNOPSIS or no COMMANDS section"

section "AGENT FLAGS" >"$tmp/flags.txt"
[[ -s $tmp/flags.txt ]] || bad "no AGENT FLAGS section"

# starts_line FILE TEXT: a line of FILE, with a space added at its end,
# starts with TEXT; case matters unless TEXT is in upper case (a
# placeholder, which the page writes in lower case italics).
starts_line() {
    awk -v t="$2" 'BEGIN {fold = (t != tolower(t))}
        index((fold ? tolower($0) : $0) " ", fold ? tolower(t) : t) == 1 {found = 1}
        END {exit !found}' "$1"
}

# flag_tag FLAG: FLAG (e.g. --web.listen-address) is a tag in AGENT FLAGS,
# alone or followed by "=VALUE".
flag_tag() {
    starts_line "$tmp/flags.txt" "       $1 " || starts_line "$tmp/flags.txt" "       $1="
}

# 2a. The agent's fixed flags, and the collector flag forms.
mapfile -t flags < <("$cairn" agent --help | awk '/^Collectors/ {exit} /^  --/ {print $1}')
if [[ ${#flags[@]} -lt 20 ]]; then
    bad "cairn agent --help printed only ${#flags[@]} flags"
fi
for f in "${flags[@]}"; do
    if flag_tag "$f"; then
        ok "agent flag $f is documented"
    else
        bad "agent flag $f (cairn agent --help) is not documented in AGENT FLAGS"
    fi
done
for f in --collector.NAME --no-collector.NAME --collector.NAME.OPTION; do
    if flag_tag "$f"; then
        ok "collector flag form $f is documented"
    else
        bad "collector flag form $f is not documented in AGENT FLAGS"
    fi
done

# commands_of WORDS COMMAND...: the commands listed under "Commands:" by the
# help COMMAND prints, one a line, each with its first WORDS words (2 for
# tsdb's "import openmetrics"; a second word is kept if it is a lower-case
# word, not a flag, placeholder or description).
commands_of() {
    local words=$1
    shift
    "$@" | awk -v words="$words" '/^Commands:/ {on = 1; next}
        on && /^  [a-z]/ {print (words == 2 && $2 ~ /^[a-z]+$/) ? $1 " " $2 : $1}'
}

# documented PREFIX WORDS INDENT [SYNOPSIS]: "PREFIX WORDS" (or "PREFIX
# SYNOPSIS") starts a line of the SYNOPSIS, and WORDS is a tag, at INDENT
# columns, in COMMANDS.
documented() {
    local prefix=$1 words=$2 indent=$3 syn=${4:-$2} where=() tag
    starts_line "$tmp/synopsis.txt" "       $prefix $syn " || where+=(SYNOPSIS)
    printf -v tag '%*s%s ' "$indent" "" "$words"
    starts_line "$tmp/commands.txt" "$tag" || where+=(COMMANDS)
    if [[ ${#where[@]} -eq 0 ]]; then
        ok "'$prefix $words' is documented"
    else
        bad "'$prefix $words' is missing from ${where[*]}"
    fi
}

# 2b. The commands, and the subcommands of tsdb, query and plugin.
mapfile -t cmds < <(commands_of 1 "$cairn" --help)
[[ ${#cmds[@]} -ge 5 ]] || bad "cairn --help listed only ${#cmds[@]} commands"
for c in "${cmds[@]}"; do documented cairn "$c" 7; done

mapfile -t subs < <(commands_of 2 "$cairn" tsdb --help)
[[ ${#subs[@]} -ge 5 ]] || bad "cairn tsdb --help listed only ${#subs[@]} commands"
for s in "${subs[@]}"; do documented "cairn tsdb" "$s" 14; done

# query and plugin name theirs in their usage lines ("cairn query range ...").
mapfile -t subs < <("$cairn" query --help | sed -nE 's/.*cairn query \[?([a-z]+)\]? .*/\1/p' | grep -vx flags)
[[ ${#subs[@]} -ge 4 ]] || bad "cairn query --help named only ${#subs[@]} subcommands"
for s in "${subs[@]}"; do
    # instant is the default: "cairn query [instant]" in the synopsis.
    if [[ $s == instant ]]; then
        documented "cairn query" "$s" 14 "[$s]"
    else
        documented "cairn query" "$s" 14
    fi
done
mapfile -t subs < <("$cairn" plugin --help | sed -nE 's/.*cairn plugin ([a-z]+) .*/\1/p')
[[ ${#subs[@]} -ge 2 ]] || bad "cairn plugin --help named only ${#subs[@]} subcommands"
for s in "${subs[@]}"; do documented "cairn plugin" "$s" 14; done

if [[ $failed -ne 0 ]]; then
    echo "FAIL: packaging/cairn.1 is out of date with $cairn; document what is listed above"
    exit 1
fi
echo "all man page checks passed"
