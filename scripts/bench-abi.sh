#!/usr/bin/env bash
# libzmq's own perf programs on Debian's libzmq and on ringmq's libzmq.so.5.
#
# Builds perf/{local,remote}_{thr,lat}.cpp and perf/inproc_{thr,lat}.cpp from libzmq's source
# (fetched as scripts/judge-libzmq.sh does, into target/judge/) against each library, then runs
# each pair at each message size over tcp://127.0.0.1:PORT and ipc://, and the inproc programs,
# and prints a markdown table with the ratio ringmq/libzmq. The programs that run are the same
# binaries on both libraries -- those built against libzmq's zmq.h, loaded with Debian's library
# or, through LD_LIBRARY_PATH, with ringmq's -- so both run identical code; the build against
# ringmq's zmq.h is made too, and its outcome reported.
#
#   usage: scripts/bench-abi.sh [--smoke] [--lib ringmq|libzmq|both] [--sizes "16 1024 65536"]
#                               [--transports "tcp ipc inproc"] [--thr-count N] [--lat-count N]
#                               [--repeat N] [--timeout SECONDS] [--out FILE] [--prefix DIR]
#
#   --smoke       tiny message counts (2000 messages, 200 round trips): checks the plumbing only
#   --thr-count   messages per throughput run (default by size: 16 B 1000000, 1 KiB 500000,
#                 64 KiB 20000)
#   --lat-count   round trips per latency run (default by size: 50000, 50000, 10000)
#   --repeat      runs of each case per library, interleaved; the table has the median
#   --timeout     seconds one program may run (default 300, smoke 30)
#   --out         the markdown table (default $BENCH_TABLE, else target/judge/bench-abi.md)
#   --prefix      use this ringmq prefix instead of building one (scripts/abi-prefix.sh)
#   BENCH_PORT    first tcp port to try (default 5680)
#
# Throughput is what local_thr (the receiver) measures, in msg/s and Mb/s; latency is
# remote_lat's average one-way latency in us (half the round trip). Ratio > 1: ringmq has more
# throughput, or more latency. The machine is shared and small: numbers from a busy machine mean
# little, and --smoke numbers mean nothing.
# Exit status: 0 when the benchmark ran, whatever the programs did; 2 when it could not.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
root="$PWD"
judge="$root/target/judge"
# shellcheck source-path=SCRIPTDIR source=judge/common.sh
. "$root/scripts/judge/common.sh"

smoke=0
libs_arg=both
sizes="16 1024 65536"
transports="tcp ipc inproc"
thr_count=""
lat_count=""
repeat=1
timeout_s=""
out="${BENCH_TABLE:-$judge/bench-abi.md}"
ringmq_prefix="${RINGMQ_PREFIX:-}"
while [ $# -gt 0 ]; do
    case "$1" in
    --smoke) smoke=1; shift ;;
    --lib) libs_arg="${2:?--lib needs ringmq, libzmq or both}"; shift 2 ;;
    --sizes) sizes="${2:?--sizes needs sizes in bytes}"; shift 2 ;;
    --transports) transports="${2:?--transports needs tcp, ipc and/or inproc}"; shift 2 ;;
    --thr-count) thr_count="${2:?--thr-count needs a number}"; shift 2 ;;
    --lat-count) lat_count="${2:?--lat-count needs a number}"; shift 2 ;;
    --repeat) repeat="${2:?--repeat needs a number}"; shift 2 ;;
    --timeout) timeout_s="${2:?--timeout needs seconds}"; shift 2 ;;
    --out) out="${2:?--out needs a file}"; shift 2 ;;
    --prefix) ringmq_prefix="${2:?--prefix needs a directory}"; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) judge_die "unknown argument: $1 (see --help)" ;;
    esac
done
case "$libs_arg" in
both) libs=(libzmq ringmq) ;;
ringmq | libzmq) libs=("$libs_arg") ;;
*) judge_die "--lib must be ringmq, libzmq or both" ;;
esac
for n in $sizes ${thr_count:+"$thr_count"} ${lat_count:+"$lat_count"} "$repeat" ${timeout_s:+"$timeout_s"}; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || judge_die "not a positive whole number: $n"
done
for t in $transports; do
    case "$t" in tcp | ipc | inproc) ;; *) judge_die "unknown transport: $t" ;; esac
done
if [ "$smoke" = 1 ]; then
    thr_count="${thr_count:-2000}"
    lat_count="${lat_count:-200}"
    timeout_s="${timeout_s:-30}"
fi
timeout_s="${timeout_s:-300}"
case "$root" in *[[:space:]]*) judge_die "the repository's path has a space: make would break" ;; esac

# Default counts by message size: about the same time per run at each size.
count_for() {
    local kind="$1" size="$2"
    if [ "$kind" = thr ] && [ -n "$thr_count" ]; then echo "$thr_count"; return; fi
    if [ "$kind" = lat ] && [ -n "$lat_count" ]; then echo "$lat_count"; return; fi
    if [ "$kind" = thr ]; then
        if [ "$size" -le 256 ]; then echo 1000000; elif [ "$size" -le 4096 ]; then echo 500000; else echo 20000; fi
    else
        if [ "$size" -le 4096 ]; then echo 50000; else echo 10000; fi
    fi
}

# --- build -------------------------------------------------------------------------------------
perf_programs=(local_thr remote_thr local_lat remote_lat inproc_thr inproc_lat)
mkdir -p "$judge"
judge_ensure_libzmq_dev
judge_fetch_source
declare -A tree_of=() build_note=()
build_libs=(libzmq)
if [[ " ${libs[*]} " == *" ringmq "* ]]; then build_libs+=(ringmq); fi
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
    judge_log "building libzmq's perf programs against $lib (${judge_tree#"$root"/})"
    targets=()
    for p in "${perf_programs[@]}"; do targets+=("pbin/$p"); done
    make -k -j2 -C "$judge_tree" "${targets[@]}" > "$judge_tree/log/make-perf.log" 2>&1 || true
    failed=()
    for p in "${perf_programs[@]}"; do
        if [ ! -x "$judge_tree/pbin/$p" ]; then
            if [ -f "$judge_tree/obj/perf_$p.o" ]; then
                failed+=("$p (link: $(judge_first_error "$judge_tree/log/perf_$p.link.log"))")
            else
                failed+=("$p (compile: $(judge_first_error "$judge_tree/log/perf_$p.compile.log"))")
            fi
        fi
    done
    if [ ${#failed[@]} = 0 ]; then
        build_note[$lib]="all ${#perf_programs[@]} build"
    else
        build_note[$lib]="$(printf '%s; ' "${failed[@]}")"
        build_note[$lib]="${build_note[$lib]%; }"
    fi
    judge_log "  against $lib's zmq.h: ${build_note[$lib]}"
done
bin="${tree_of[libzmq]}/pbin"
for p in "${perf_programs[@]}"; do
    [ -x "$bin/$p" ] || judge_die "$p did not build against libzmq: see ${tree_of[libzmq]#"$root"/}/log/"
done

# --- run ---------------------------------------------------------------------------------------
work="$judge/bench-run"
rm -rf "$work"
mkdir -p "$work"
port="${BENCH_PORT:-5680}"
run_no=0

# A tcp port on 127.0.0.1 that nothing listens on, from $port up.
next_port() {
    port=$((port + 1))
    while (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; do port=$((port + 1)); done
}

# The value after "$2" in log $1 (a perf program's "mean throughput: N [msg/s]" and the like).
value_of() {
    sed -n "s/^$2 *\\([0-9.]*\\) *\\[$3\\].*/\\1/p" "$1" | tail -n 1
}

# Why a run's log $1 (exit status $2) has no number.
failure_of() {
    local log="$1" rc="$2" line
    line="$(grep -m1 -E 'symbol lookup error|error while loading|undefined symbol|failed|error' "$log" 2> /dev/null || true)"
    case "$rc" in 124 | 137) echo "timeout (${timeout_s} s)"; return ;; esac
    case "$line" in
    *"undefined symbol: "*) echo "undefined symbol ${line##*undefined symbol: }" ;;
    "") echo "exit status $rc" ;;
    *) printf '%s\n' "${line:0:100}" ;;
    esac
}

# Run case ($2 kind thr|lat, $3 transport, $4 size) on library $1 once. Sets rv to the number
# (thr: msg/s; lat: us) and rextra to thr's Mb/s, or rv to "fail" and rextra to why.
run_case() {
    local lib="$1" kind="$2" transport="$3" size="$4" count envs ep llog rlog rc lrc=0 lpid
    count="$(count_for "$kind" "$size")"
    mapfile -t envs < <(judge_run_env "$lib")
    run_no=$((run_no + 1))
    llog="$work/$run_no-local.log"
    rlog="$work/$run_no-remote.log"
    if [ "$transport" = inproc ]; then
        judge_check_loads "$lib" "$bin/inproc_$kind"
        set +e
        timeout -k 5 "$timeout_s" env "${envs[@]}" "$bin/inproc_$kind" "$size" "$count" < /dev/null > "$llog" 2>&1
        rc=$?
        set -e
        rlog="$llog"
    else
        judge_check_loads "$lib" "$bin/local_$kind"
        judge_check_loads "$lib" "$bin/remote_$kind"
        if [ "$transport" = tcp ]; then
            next_port
            ep="tcp://127.0.0.1:$port"
        else
            ep="ipc://$work/$run_no.ipc"
        fi
        set +e
        timeout -k 5 "$timeout_s" env "${envs[@]}" "$bin/local_$kind" "$ep" "$size" "$count" < /dev/null > "$llog" 2>&1 &
        lpid=$!
        timeout -k 5 "$timeout_s" env "${envs[@]}" "$bin/remote_$kind" "$ep" "$size" "$count" < /dev/null > "$rlog" 2>&1
        rc=$?
        wait "$lpid"
        lrc=$?
        set -e
        [ "$rc" != 0 ] || rc="$lrc"
    fi
    rextra=""
    if [ "$kind" = thr ]; then
        rv="$(value_of "$llog" 'mean throughput:' 'msg\/s')"
        rextra="$(value_of "$llog" 'mean throughput:' 'Mb\/s')"
    else
        rv="$(value_of "$rlog" 'average latency:' 'us')"
    fi
    if [ "$rc" = 0 ] && [ -n "$rv" ]; then return; fi
    rv=fail
    rextra="$(failure_of "$llog" "$rc")"
    if [ "$rextra" = "exit status $rc" ] && [ "$rlog" != "$llog" ]; then rextra="$(failure_of "$rlog" "$rc")"; fi
}

# The median of the numbers on stdin, one a line.
median() {
    sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

cases=()
for t in $transports; do
    for size in $sizes; do
        cases+=("thr $t $size" "lat $t $size")
    done
done

declare -A value=() mbps=() why=()
i=0
for c in "${cases[@]}"; do
    read -r kind t size <<< "$c"
    i=$((i + 1))
    declare -A samples=() mbsamples=()
    for ((r = 1; r <= repeat; r++)); do
        for lib in "${libs[@]}"; do
            run_case "$lib" "$kind" "$t" "$size"
            if [ "$rv" = fail ]; then
                why[$lib,$c]="$rextra"
            else
                samples[$lib]+="$rv"$'\n'
                mbsamples[$lib]+="$rextra"$'\n'
            fi
            judge_log "[$i/${#cases[@]}] $kind $t $size B $lib: $rv${rextra:+ $rextra}"
        done
    done
    for lib in "${libs[@]}"; do
        if [ -n "${samples[$lib]:-}" ]; then
            value[$lib,$c]="$(printf '%s' "${samples[$lib]}" | median)"
            [ "$kind" != thr ] || mbps[$lib,$c]="$(printf '%s' "${mbsamples[$lib]}" | median)"
        fi
    done
    unset samples mbsamples
done
rm -rf "$work"

# --- the table ---------------------------------------------------------------------------------
cell() {
    local lib="$1" c="$2"
    if [ -n "${value[$lib,$c]:-}" ]; then
        if [ -n "${mbps[$lib,$c]:-}" ]; then printf '%s (%s Mb/s)' "${value[$lib,$c]}" "${mbps[$lib,$c]}"; else printf '%s' "${value[$lib,$c]}"; fi
    elif [ -n "${why[$lib,$c]:-}" ]; then
        printf 'fail: %s' "${why[$lib,$c]}"
    else
        printf -- '-'
    fi
}
ratio() {
    local c="$1"
    if [ -n "${value[libzmq,$c]:-}" ] && [ -n "${value[ringmq,$c]:-}" ]; then
        awk -v a="${value[ringmq,$c]}" -v b="${value[libzmq,$c]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'
    else
        printf -- '-'
    fi
}
size_name() {
    local s="$1"
    if [ $((s % 1024)) = 0 ] && [ "$s" -ge 1024 ]; then echo "$((s / 1024)) KiB"; else echo "$s B"; fi
}

commit="$(git -C "$root" rev-parse --short HEAD 2> /dev/null || echo unknown)"
if [ -n "$(git -C "$root" status --porcelain --untracked-files=no 2> /dev/null)" ]; then commit+=" (with uncommitted changes)"; fi
mkdir -p "$(dirname "$out")"
{
    echo "# libzmq's perf programs: Debian's libzmq and ringmq's libzmq.so.5"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); perf programs: Debian source zeromq3 $(judge_src_version); ringmq: commit $commit"
    echo "- the same binaries (built against libzmq's zmq.h) on both libraries; $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    if [ "$smoke" = 1 ]; then echo "- **smoke run** (tiny counts): the numbers mean nothing"; fi
    for lib in "${build_libs[@]}"; do echo "- built against $lib's zmq.h: ${build_note[$lib]}"; done
    echo "- throughput: msg/s (Mb/s) seen by the receiver; latency: average one-way us; ratio = ringmq / libzmq; median of $repeat run(s)"
    echo
    echo "| program | transport | size | count | libzmq | ringmq | ringmq/libzmq |"
    echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
    for c in "${cases[@]}"; do
        read -r kind t size <<< "$c"
        if [ "$kind" = thr ]; then name="throughput (msg/s)"; else name="latency (us)"; fi
        printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$t" "$(size_name "$size")" "$(count_for "$kind" "$size")" \
            "$(cell libzmq "$c")" "$(cell ringmq "$c")" "$(ratio "$c")"
    done
} > "$out"
cat "$out"
echo
echo "table: ${out#"$root"/}"
