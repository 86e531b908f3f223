#!/usr/bin/env bash
# Build the fuzz targets in fuzz/ and run each for a bounded time on a copy of its checked-in corpus.
#
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET]        (default 20)
#   bash scripts/fuzz.sh --runs EXECUTIONS           (each target until it ran that many inputs)
#
# Needs no cargo-fuzz: it builds the way `cargo fuzz build` does (sanitizer-coverage passes,
# `--cfg fuzzing`, AddressSanitizer), using RUSTC_BOOTSTRAP=1 so the stable toolchain accepts the
# nightly-only flags. libfuzzer-sys compiles libFuzzer itself with the system C++ compiler.
#
# Environment:
#   FUZZ_SANITIZER=address|none   AddressSanitizer on (default) or off.
#   FUZZ_TARGETS="a b"            which targets to run (default: all under fuzz/fuzz_targets).
#   FUZZ_BUILD_TIMEOUT_S=N        give up on the build after N seconds (default 1200).
#   FUZZ_RUN_LIMIT_S=N            with --runs: stop a target after N seconds anyway (default 14400).
#   FUZZ_MERGE=1                  afterwards, merge what each run found into fuzz/corpus/<target>/
#                                 (libFuzzer -merge=1: only inputs that add coverage are kept).
#
# New units the fuzzer finds go to fuzz/corpus-run/<target>/ (ignored by git); copy the interesting
# ones into fuzz/corpus/<target>/ by hand. Crashes go to fuzz/artifacts/<target>-crash-<sha1>; the
# script exits non-zero if a run fails or leaves a crash, leak, timeout or oom artifact.
# Reproduce one with: fuzz/target/<host>/release/<target> fuzz/artifacts/<target>-crash-<sha1>

set -euo pipefail

runs=""
if [ "${1:-}" = "--runs" ]; then
    runs="${2:-}"
    if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]]; then
        echo "usage: $0 --runs EXECUTIONS   (a positive whole number)" >&2
        exit 2
    fi
    seconds_per_target="${FUZZ_RUN_LIMIT_S:-14400}"
else
    seconds_per_target="${1:-20}"
    if ! [[ "$seconds_per_target" =~ ^[1-9][0-9]*$ ]]; then
        echo "usage: $0 [SECONDS_PER_TARGET] | --runs EXECUTIONS   (default 20 seconds)" >&2
        exit 2
    fi
fi

cd "$(dirname "$0")/.."
root="$PWD"
fuzz_dir="$root/fuzz"
sanitizer="${FUZZ_SANITIZER:-address}"
build_timeout_s="${FUZZ_BUILD_TIMEOUT_S:-1200}"
targets="${FUZZ_TARGETS:-$(cd "$fuzz_dir/fuzz_targets" && ls -- *.rs | sed 's/\.rs$//')}"
host="$(rustc -vV | sed -n 's/^host: //p')"

# The flags cargo-fuzz passes (cargo-fuzz src/project.rs), for the default coverage level 4.
rustflags=(
    -Cpasses=sancov-module
    -Cllvm-args=-sanitizer-coverage-level=4
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
    -Cllvm-args=-sanitizer-coverage-pc-table
    -Cllvm-args=-sanitizer-coverage-trace-compares
    --cfg fuzzing
    -Cdebug-assertions
    -Coverflow-checks
)
case "$host" in
    *-linux-*) rustflags+=(-Cllvm-args=-sanitizer-coverage-stack-depth) ;;
esac
case "$sanitizer" in
    address) rustflags+=(-Zsanitizer=address) ;;
    none) ;;
    *) echo "FUZZ_SANITIZER must be address or none, not '$sanitizer'" >&2; exit 2 ;;
esac

# `--target` keeps RUSTFLAGS off build scripts and proc macros, which must not be instrumented.
build_cmd=(cargo build --release --bins --target "$host")
echo "== build ($host, sanitizer: $sanitizer)"
echo "   cd fuzz && RUSTC_BOOTSTRAP=1 RUSTFLAGS=\"${rustflags[*]}\" ${build_cmd[*]}"
build_start=$SECONDS
(
    cd "$fuzz_dir"
    export RUSTC_BOOTSTRAP=1 RUSTFLAGS="${rustflags[*]}" CARGO_TARGET_DIR="$fuzz_dir/target"
    unset CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS
    timeout "$build_timeout_s" "${build_cmd[@]}"
)
echo "   build took $((SECONDS - build_start)) s"

bin_dir="$fuzz_dir/target/$host/release"
mkdir -p "$fuzz_dir/artifacts" "$fuzz_dir/corpus-run"
failed=()
summary=()
for target in $targets; do
    corpus="$fuzz_dir/corpus-run/$target"
    log="$fuzz_dir/corpus-run/$target.log"
    rm -rf -- "$corpus"
    mkdir -p "$corpus"
    if [ -d "$fuzz_dir/corpus/$target" ]; then
        cp -- "$fuzz_dir/corpus/$target"/* "$corpus"/ 2>/dev/null || true
    fi
    # Artifacts already present (from earlier runs) do not fail this one.
    before="$(ls "$fuzz_dir/artifacts" | grep -E "^$target-(crash|leak|timeout|oom)-" || true)"

    run_cmd=(
        "$bin_dir/$target" "$corpus"
        -max_total_time="$seconds_per_target"
        -max_len=4096
        -rss_limit_mb=2048
        -timeout=10
        -print_final_stats=1
        -artifact_prefix="fuzz/artifacts/$target-"
    )
    if [ -n "$runs" ]; then
        run_cmd+=(-runs="$runs")
        echo "== fuzz $target for $runs executions (at most $seconds_per_target s) on a copy of fuzz/corpus/$target ($(ls "$corpus" | wc -l) seeds)"
    else
        echo "== fuzz $target for $seconds_per_target s on a copy of fuzz/corpus/$target ($(ls "$corpus" | wc -l) seeds)"
    fi
    echo "   ${run_cmd[*]#$root/}"
    run_start=$SECONDS
    status=0
    # libFuzzer checks max_total_time between inputs and -timeout bounds one input; the outer
    # timeout is a backstop for a stuck process.
    timeout --kill-after=10 "$((seconds_per_target + 60))" "${run_cmd[@]}" >"$log" 2>&1 || status=$?

    after="$(ls "$fuzz_dir/artifacts" | grep -E "^$target-(crash|leak|timeout|oom)-" || true)"
    new_artifacts="$(comm -13 <(echo "$before") <(echo "$after") | sed '/^$/d')"
    done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)"
    echo "   took $((SECONDS - run_start)) s, exit status $status"
    echo "   ${done_line:-(no DONE line; see ${log#$root/})}"
    if [ "$status" -ne 0 ] || [ -n "$new_artifacts" ]; then
        failed+=("$target")
        echo "   FAILED; panic message and last lines of ${log#$root/}:"
        sed -n '/panicked at/,/^stack backtrace:/p' "$log" | head -n 20 | sed 's/^/   | /'
        echo "   | ..."
        tail -n 25 "$log" | sed 's/^/   | /'
        for artifact in $new_artifacts; do
            echo "   artifact: fuzz/artifacts/$artifact"
            od -An -tx1 -v "$fuzz_dir/artifacts/$artifact" | head -n 16 | sed 's/^/   hex:/'
        done
    fi
    cov_line="$(grep -E '^#[0-9]+' "$log" | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' | tail -n 1 || true)"
    if [ "${FUZZ_MERGE:-0}" = 1 ] && [ "$status" -eq 0 ]; then
        mkdir -p "$fuzz_dir/corpus/$target"
        "$bin_dir/$target" -merge=1 -max_len=4096 "$fuzz_dir/corpus/$target" "$corpus" >"$log.merge" 2>&1 || true
        echo "   merged into fuzz/corpus/$target: $(ls "$fuzz_dir/corpus/$target" | wc -l) files"
    fi
    summary+=("$target: ${done_line:-no DONE line}; ${cov_line:-no coverage line} (exit $status)")
done

echo "== summary (total $SECONDS s)"
printf '   %s\n' "${summary[@]}"
if [ "${#failed[@]}" -ne 0 ]; then
    echo "   failed: ${failed[*]}" >&2
    exit 1
fi
echo "   no crashes"
