#!/usr/bin/env bash
# Judge ringmq's libzmq.so.5 by libzmq's own test programs.
#
# Fetches libzmq's source (Debian's package zeromq3, `apt-get source`, cached in target/judge/),
# builds each test that scripts/judge/libzmq-scope.txt puts in scope twice -- against Debian's
# libzmq with the source's zmq.h (the baseline) and against ringmq's library
# (scripts/abi-prefix.sh) with zmq-abi/include/zmq.h -- runs them one at a time under a timeout
# and prints a table: test, libzmq's result, ringmq's result, a note. The draft API is not built
# (no ZMQ_BUILD_DRAFT_API). Nothing of libzmq's is kept in the repository.
#
#   usage: scripts/judge-libzmq.sh [--lib ringmq|libzmq|both] [--only TEST...] [--out FILE]
#                                  [--timeout SECONDS] [--jobs 1|2] [--prefix DIR] [--list]
#
#   --lib      which libraries to judge (default both)
#   --only     just these tests (names as in the scope file, "test_" may be left off); a test the
#              scope skips runs too when named here
#   --out      where the markdown table goes (default $JUDGE_TABLE, else target/judge/libzmq-table.md)
#   --timeout  seconds each test may run (default $JUDGE_TIMEOUT, else 120); most of libzmq's
#              tests also set alarm(60) on themselves (test_heartbeats 90), which fires first
#   --jobs     parallel compiles (default 2, at most 2)
#   --prefix   use this ringmq prefix (include/zmq.h, lib/libzmq.so.5) instead of building one
#   --list     print the scope and exit
#
# Results: pass, FAIL (a test case failed), timeout, crash (killed by a signal), build-fail
# (did not compile or link: the note has the first error), skip (the test said so, exit 77).
# Besides the table the markdown lists, for ringmq, the libzmq symbols its library lacks (what the
# tests as built against libzmq import and ringmq's library does not export) and the names its
# zmq.h lacks (from its compile errors). Logs: target/judge/build-LIB/log/.
# Exit status: 0 when the judge ran, whatever the tests did; 2 when the judge itself could not.
set -euo pipefail
# The C locale: plain quotes in compiler messages (parsed below) and a stable sort.
export LC_ALL=C
cd "$(dirname "$0")/.."
root="$PWD"
judge="$root/target/judge"
scope_file="$root/scripts/judge/libzmq-scope.txt"
# shellcheck source-path=SCRIPTDIR source=judge/common.sh
. "$root/scripts/judge/common.sh"

libs_arg=both
only=()
out="${JUDGE_TABLE:-$judge/libzmq-table.md}"
timeout_s="${JUDGE_TIMEOUT:-120}"
jobs=2
ringmq_prefix="${RINGMQ_PREFIX:-}"
list_only=0
while [ $# -gt 0 ]; do
    case "$1" in
    --lib) libs_arg="${2:?--lib needs ringmq, libzmq or both}"; shift 2 ;;
    --lib=*) libs_arg="${1#*=}"; shift ;;
    --only)
        shift
        while [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; do only+=("$1"); shift; done
        [ ${#only[@]} -gt 0 ] || judge_die "--only needs test names"
        ;;
    --out) out="${2:?--out needs a file}"; shift 2 ;;
    --out=*) out="${1#*=}"; shift ;;
    --timeout) timeout_s="${2:?--timeout needs seconds}"; shift 2 ;;
    --jobs) jobs="${2:?--jobs needs 1 or 2}"; shift 2 ;;
    --prefix) ringmq_prefix="${2:?--prefix needs a directory}"; shift 2 ;;
    --list) list_only=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) judge_die "unknown argument: $1 (see --help)" ;;
    esac
done
case "$libs_arg" in
both) libs=(libzmq ringmq) ;;
ringmq | libzmq) libs=("$libs_arg") ;;
*) judge_die "--lib must be ringmq, libzmq or both" ;;
esac
[[ "$timeout_s" =~ ^[0-9]+$ ]] || judge_die "--timeout must be whole seconds"
[[ "$jobs" =~ ^[12]$ ]] || judge_die "--jobs must be 1 or 2 (this machine is shared)"
case "$root" in *[[:space:]]*) judge_die "the repository's path has a space: make would break" ;; esac

# --- the scope ---------------------------------------------------------------------------------
declare -A verdict=() why=()
scope_names=()
while IFS=$'\t' read -r name v reason; do
    case "$name" in '' | '#'*) continue ;; esac
    [ "$v" = run ] || [ "$v" = skip ] || judge_die "$scope_file: '$name': second field must be run or skip"
    verdict[$name]="$v"
    why[$name]="$reason"
    scope_names+=("$name")
done < "$scope_file"

if [ "$list_only" = 1 ]; then
    for name in "${scope_names[@]}"; do printf '%-32s %-4s %s\n' "$name" "${verdict[$name]}" "${why[$name]}"; done
    exit 0
fi

tests=()
if [ ${#only[@]} -gt 0 ]; then
    for name in "${only[@]}"; do
        [ -n "${verdict[$name]:-}" ] || name="test_$name"
        [ -n "${verdict[$name]:-}" ] || judge_die "no test '$name' in $scope_file"
        [ "${name#unittest_}" = "$name" ] || judge_die "$name is a unit test of libzmq's internals: it cannot be built here"
        tests+=("$name")
    done
else
    for name in "${scope_names[@]}"; do
        [ "${verdict[$name]}" = run ] && tests+=("$name")
    done
fi

# --- fetch, lay out, build ---------------------------------------------------------------------
mkdir -p "$judge"
judge_ensure_libzmq_dev
judge_fetch_source
for name in "${tests[@]}"; do
    [ -f "$judge_src/tests/$name.cpp" ] || judge_die "$name.cpp is not in $judge_src/tests"
done
for name in "${scope_names[@]}"; do
    [ -f "$judge_src/tests/$name.cpp" ] || [ -f "$judge_src/unittests/$name.cpp" ] ||
        judge_log "warning: $name (in the scope file) is not in the source"
done

# ringmq's missing symbols are found from the tests as built against libzmq, so judging ringmq
# builds the libzmq tree too (it does not run it).
build_libs=("${libs[@]}")
if [ "$libs_arg" = ringmq ]; then build_libs=(libzmq ringmq); fi

declare -A tree_of=()
for lib in "${build_libs[@]}"; do
    if [ "$lib" = ringmq ]; then
        judge_ringmq_prefix
        header="$ringmq_prefix/include/zmq.h"
        libdir="$ringmq_prefix/lib"
    else
        header="$judge_src/include/zmq.h"
        libdir=""
    fi
    libfile="$(judge_lib_file "$lib")"
    [ -f "$libfile" ] || judge_die "no library file for $lib"
    judge_check_marker "$lib" "$libfile"
    judge_prepare_tree "$lib" "$header"
    tree_of[$lib]="$judge_tree"
    judge_write_makefile "$judge_tree" "$libdir" "$libfile"
    judge_log "building ${#tests[@]} tests against $lib (make -j$jobs in ${judge_tree#"$root"/})"
    targets=()
    for name in "${tests[@]}"; do targets+=("bin/$name"); done
    make -k -j"$jobs" -C "$judge_tree" "${targets[@]}" > "$judge_tree/log/make.log" 2>&1 || true
done

# What a test's build of LIB came to: "ok", or "build-fail<TAB>note".
build_state() {
    local lib="$1" name="$2" tree="${tree_of[$1]}" h syms n
    # Built and up to date (a program left from an earlier build whose harness now fails is not).
    if [ -x "$tree/bin/$name" ] && make -q -C "$tree" "bin/$name" > /dev/null 2>&1; then
        echo ok
        return
    fi
    if [ ! -f "$tree/obj/$name.o" ]; then
        printf 'build-fail\tcompile: %s\n' "$(judge_first_error "$tree/log/$name.compile.log")"
        return
    fi
    for h in testutil testutil_monitoring testutil_security testutil_unity unity; do
        if [ ! -f "$tree/obj/$h.o" ]; then
            printf 'build-fail\tharness: %s\n' "$(judge_first_error "$tree/log/$h.compile.log")"
            return
        fi
    done
    if [ "$name" = test_security_curve ]; then
        for h in random clock err tweetnacl; do
            if [ ! -f "$tree/obj/internal_$h.o" ]; then
                printf 'build-fail\tlibzmq internals: %s\n' "$(judge_first_error "$tree/log/internal_$h.compile.log")"
                return
            fi
        done
    fi
    syms="$(judge_undefined_symbols "$tree/log/$name.link.log")"
    if [ -n "$syms" ]; then
        n="$(printf '%s\n' "$syms" | wc -l)"
        if [ "$n" -gt 1 ]; then
            printf 'build-fail\tlink: undefined %s (+%d more)\n' "$(printf '%s\n' "$syms" | head -n 1)" "$((n - 1))"
        else
            printf 'build-fail\tlink: undefined %s\n' "$syms"
        fi
    else
        printf 'build-fail\tlink: %s\n' "$(judge_first_error "$tree/log/$name.link.log")"
    fi
}

# --- run ---------------------------------------------------------------------------------------
declare -A result=() note=() secs=()

# Run test $2 of build $1 in a scratch directory of its own (libzmq's ipc helpers make
# directories in the working directory); sets result/note/secs.
run_one() {
    local lib="$1" name="$2" tree="${tree_of[$1]}" state prog dir log rc start end first total ignored
    state="$(build_state "$lib" "$name")"
    if [ "$state" != ok ]; then
        result[$lib,$name]=build-fail
        note[$lib,$name]="${state#build-fail$'\t'}"
        secs[$lib,$name]=""
        return
    fi
    prog="$tree/bin/$name"
    judge_check_loads "$lib" "$prog"
    dir="$judge/run-$lib/$name"
    log="$tree/log/$name.run.log"
    rm -rf "$dir"
    mkdir -p "$dir"
    local envs
    mapfile -t envs < <(judge_run_env "$lib")
    # Line-buffered (stdbuf), so that what a test printed before it hung or crashed is in its log.
    start="$(date +%s.%N)"
    set +e
    (cd "$dir" && exec timeout -k 5 "$timeout_s" env "${envs[@]}" stdbuf -oL -eL "$prog") < /dev/null > "$log" 2>&1
    rc=$?
    set -e
    end="$(date +%s.%N)"
    secs[$lib,$name]="$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }')"
    rm -rf "$dir"
    # Unity's summary: "N Tests M Failures K Ignored".
    total="$(sed -n 's/^\([0-9]*\) Tests [0-9]* Failures [0-9]* Ignored.*/\1/p' "$log" | tail -n 1)"
    ignored="$(sed -n 's/^[0-9]* Tests [0-9]* Failures \([0-9]*\) Ignored.*/\1/p' "$log" | tail -n 1)"
    first="$(grep -m1 -E ':FAIL' "$log" | sed -E 's/^[^:]*:[0-9]+:([^:]*):FAIL:? *(.*)$/\1: \2/' || true)"
    first="${first:0:140}"
    # Unity reports each case as it ends ("file:line:case:PASS"): where a hang or crash struck.
    local done_cases last_case where=""
    done_cases="$(grep -c -E '^[^:]*:[0-9]+:[^:]*:(PASS|FAIL|IGNORE)' "$log" || true)"
    last_case="$(grep -E '^[^:]*:[0-9]+:[^:]*:(PASS|FAIL|IGNORE)' "$log" | tail -n 1 | cut -d: -f3 || true)"
    if [ -n "$last_case" ]; then where="in the case after $last_case ($done_cases done)"; else where="in its first case"; fi
    case "$rc" in
    0)
        result[$lib,$name]=pass
        note[$lib,$name]=""
        if [ -n "$ignored" ] && [ "$ignored" != 0 ]; then note[$lib,$name]="$ignored of $total cases ignored"; fi
        ;;
    77) result[$lib,$name]=skip note[$lib,$name]="the test skipped itself (exit 77)" ;;
    124 | 137) result[$lib,$name]=timeout note[$lib,$name]="killed after ${timeout_s} s $where${first:+; first failure $first}" ;;
    142) result[$lib,$name]=timeout note[$lib,$name]="its own alarm (SIGALRM) fired $where${first:+; first failure $first}" ;;
    *)
        if [ "$rc" -gt 128 ]; then
            result[$lib,$name]=crash
            note[$lib,$name]="SIG$(kill -l $((rc - 128)) 2> /dev/null || echo $((rc - 128))) $where${first:+; first failure $first}"
            local last
            last="$(grep -m1 -E 'symbol lookup error|undefined symbol' "$log" || true)"
            [ -z "$last" ] || note[$lib,$name]="${last:0:140}"
        elif grep -q -E 'symbol lookup error|error while loading shared libraries' "$log"; then
            result[$lib,$name]=crash
            note[$lib,$name]="$(grep -m1 -E 'symbol lookup error|error while loading shared libraries' "$log" | sed 's#^.*: ##' | cut -c1-140)"
        else
            result[$lib,$name]=FAIL
            note[$lib,$name]="${first:-exit status $rc}"
            if [ -n "$total" ]; then
                note[$lib,$name]="$(sed -n 's/^[0-9]* Tests \([0-9]*\) Failures.*/\1/p' "$log" | tail -n 1) of $total cases failed; ${note[$lib,$name]}"
            fi
        fi
        ;;
    esac
}

i=0
for name in "${tests[@]}"; do
    i=$((i + 1))
    for lib in "${libs[@]}"; do
        run_one "$lib" "$name"
        judge_log "[$i/${#tests[@]}] $name $lib: ${result[$lib,$name]}${secs[$lib,$name]:+ (${secs[$lib,$name]} s)}${note[$lib,$name]:+ -- ${note[$lib,$name]}}"
    done
done

# --- what ringmq lacks -------------------------------------------------------------------------
# Symbols: each test as built against libzmq (it linked there) imports some zmq_* symbols; those
# ringmq's library does not export, with how many tests need each.
missing_symbols=""
missing_names=""
if [[ " ${libs[*]} " == *" ringmq "* ]]; then
    exported="$(nm -D --defined-only "$(judge_lib_file ringmq)" | awk '{ print $NF }' | sort -u)"
    missing_symbols="$(
        for name in "${tests[@]}"; do
            prog="${tree_of[libzmq]}/bin/$name"
            [ -x "$prog" ] || continue
            nm -D --undefined-only "$prog" | awk '{ sub(/@.*/, "", $NF); if ($NF ~ /^zmq_/) print $NF }' |
                sort -u | comm -23 - <(printf '%s\n' "$exported")
        done | sort | uniq -c | sort -k1,1nr -k2 | awk '{ printf "%s (%d)\n", $2, $1 }'
    )"
    # Names: what ringmq's compile errors say its zmq.h does not declare.
    missing_names="$(
        for name in "${tests[@]}" testutil testutil_monitoring testutil_security testutil_unity; do
            f="${tree_of[ringmq]}/log/$name.compile.log"
            if [ ! -f "$f" ] || [ -f "${tree_of[ringmq]}/obj/$name.o" ]; then continue; fi
            sed -n -E "s/.*error: '([A-Za-z_][A-Za-z0-9_]*)' (was not declared in this scope|does not name a type|has not been declared|is not a member of).*/\\1/p" "$f" |
                grep -E '^(zmq_|ZMQ_)' | sort -u || true
        done | sort | uniq -c | sort -k1,1nr -k2 | awk '{ printf "%s (%d)\n", $2, $1 }'
    )"
fi

# --- the table ---------------------------------------------------------------------------------
cell() { printf '%s' "${result[$1,$2]:--}"; }
declare -A count=()
statuses=(pass FAIL timeout crash build-fail skip)
both_pass=0
regressions=()
for name in "${tests[@]}"; do
    for lib in "${libs[@]}"; do
        r="${result[$lib,$name]}"
        count[$lib,$r]=$((${count[$lib,$r]:-0} + 1))
    done
    if [ ${#libs[@]} = 2 ]; then
        if [ "${result[libzmq,$name]}" = pass ] && [ "${result[ringmq,$name]}" = pass ]; then
            both_pass=$((both_pass + 1))
        elif [ "${result[libzmq,$name]}" = pass ]; then
            regressions+=("$name")
        fi
    fi
done

# One note for a row: the ringmq side's, then libzmq's when it did not pass.
row_note() {
    local name="$1" n=""
    if [ -n "${result[ringmq,$name]:-}" ] && [ -n "${note[ringmq,$name]:-}" ]; then n="ringmq: ${note[ringmq,$name]}"; fi
    if [ -n "${result[libzmq,$name]:-}" ] && [ -n "${note[libzmq,$name]:-}" ]; then n="${n:+$n; }libzmq: ${note[libzmq,$name]}"; fi
    printf '%s' "$n"
}

totals_line() {
    local lib="$1" s line=""
    for s in "${statuses[@]}"; do
        [ "${count[$lib,$s]:-0}" = 0 ] || line+="${line:+, }${count[$lib,$s]} $s"
    done
    printf '%s: %s (of %d)' "$lib" "${line:-nothing}" "${#tests[@]}"
}

{
    printf '%-30s %-10s %-10s %s\n' test libzmq ringmq note
    for name in "${tests[@]}"; do
        printf '%-30s %-10s %-10s %s\n' "$name" "$(cell libzmq "$name")" "$(cell ringmq "$name")" "$(row_note "$name" | cut -c1-100)"
    done
    echo
    for lib in "${libs[@]}"; do totals_line "$lib"; echo; done
    if [ ${#libs[@]} = 2 ]; then
        echo "both pass: $both_pass; libzmq passes, ringmq does not: ${#regressions[@]}"
    fi
}

src_version="$(judge_src_version)"
commit="$(git -C "$root" rev-parse --short HEAD 2> /dev/null || echo unknown)"
if [ -n "$(git -C "$root" status --porcelain --untracked-files=no 2> /dev/null)" ]; then commit+=" (with uncommitted changes)"; fi
md_escape() { printf '%s' "$1" | sed 's/|/\\|/g'; }
mkdir -p "$(dirname "$out")"
{
    echo "# libzmq's own tests against ringmq's libzmq.so.5"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); libzmq tests: Debian source zeromq3 $src_version (no draft API)"
    echo "- libzmq: Debian's $(judge_lib_file libzmq); ringmq: commit $commit${ringmq_prefix:+, $ringmq_prefix/lib/libzmq.so.5}"
    echo "- judged: ${libs[*]}; ${#tests[@]} tests; timeout ${timeout_s} s each; scope: scripts/judge/libzmq-scope.txt"
    echo
    echo "| test | libzmq | ringmq | libzmq s | ringmq s | note |"
    echo "| --- | --- | --- | ---: | ---: | --- |"
    for name in "${tests[@]}"; do
        printf '| %s | %s | %s | %s | %s | %s |\n' "$name" "$(cell libzmq "$name")" "$(cell ringmq "$name")" \
            "${secs[libzmq,$name]:-}" "${secs[ringmq,$name]:-}" "$(md_escape "$(row_note "$name")")"
    done
    echo
    echo "## Totals"
    echo
    for lib in "${libs[@]}"; do echo "- $(totals_line "$lib")"; done
    if [ ${#libs[@]} = 2 ]; then
        echo "- both pass: $both_pass"
        echo "- libzmq passes, ringmq does not (${#regressions[@]}): ${regressions[*]:-none}"
    fi
    if [[ " ${libs[*]} " == *" ringmq "* ]]; then
        echo
        echo "## libzmq symbols ringmq's library lacks"
        echo
        echo "Imported by these tests as built against libzmq, not exported by ringmq's library (number of tests needing each):"
        echo
        if [ -n "$missing_symbols" ]; then printf '%s\n' "$missing_symbols" | paste -sd' ' | sed 's/) /), /g'; else echo "none"; fi
        echo
        echo "## Names ringmq's zmq.h lacks"
        echo
        echo "Undeclared in the compile errors of these tests and the harness against ringmq's header (number of files):"
        echo
        if [ -n "$missing_names" ]; then printf '%s\n' "$missing_names" | paste -sd' ' | sed 's/) /), /g'; else echo "none"; fi
    fi
    if [ ${#only[@]} = 0 ]; then
        echo
        echo "## Not judged (out of scope)"
        echo
        echo "| test | why |"
        echo "| --- | --- |"
        for name in "${scope_names[@]}"; do
            [ "${verdict[$name]}" = skip ] && printf '| %s | %s |\n' "$name" "$(md_escape "${why[$name]}")"
        done
    fi
} > "$out"

if [[ " ${libs[*]} " == *" ringmq "* ]]; then
    echo
    echo "libzmq symbols ringmq's library lacks: ${missing_symbols:-none}" | paste -sd' '
    echo "names ringmq's zmq.h lacks: ${missing_names:-none}" | paste -sd' '
fi
echo
echo "table: ${out#"$root"/}"
