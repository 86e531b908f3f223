#!/usr/bin/env bash
# Flame graphs of ringmq's 16-byte receive and send paths: loadgen's push-pull 16 B row on the
# shard API under `perf record`, split by thread. The PULL runs on shard 0 (ringmq-shard-0: the
# receive path), the PUSH on shard 1 (ringmq-shard-1: the send path).
#
#   scripts/flamegraph-16b.sh OUT_DIR [LOADGEN_BINARY] [-- extra loadgen arguments]
#
# Writes OUT_DIR/recv-16b.svg, OUT_DIR/send-16b.svg and the folded stacks beside them
# (OUT_DIR/*.folded, for inferno-diff-folded). Needs perf (Debian: linux-perf) and inferno
# (`cargo install inferno`, installed here when missing). Run it on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:?usage: scripts/flamegraph-16b.sh OUT_DIR [LOADGEN_BINARY] [-- loadgen args]}
shift
loadgen=target/release/loadgen
if [[ $# -gt 0 && $1 != -- ]]; then
    loadgen=$1
    shift
fi
[[ ${1:-} == -- ]] && shift

command -v perf >/dev/null || { echo "flamegraph-16b: perf is missing (apt-get install linux-perf)" >&2; exit 1; }
if ! command -v inferno-flamegraph >/dev/null; then
    cargo install --locked inferno
fi
if [[ $loadgen == target/release/loadgen ]]; then
    cargo build --release -p loadgen
fi

mkdir -p "$out"
data=$(mktemp /tmp/flamegraph-16b.XXXXXX.data)
trap 'rm -f "$data"' EXIT
perf record -F 2999 -g --call-graph dwarf,32768 -o "$data" -- \
    "$loadgen" --pattern push-pull --size 16 --count 4000000 "$@"
# One folded file per thread (perf script prints the thread name first on each sample).
perf script -i "$data" --comm ringmq-shard-0 2>/dev/null | inferno-collapse-perf >"$out/recv-16b.folded"
perf script -i "$data" --comm ringmq-shard-1 2>/dev/null | inferno-collapse-perf >"$out/send-16b.folded"
inferno-flamegraph --title "ringmq 16 B receive path (PULL, shard 0)" <"$out/recv-16b.folded" >"$out/recv-16b.svg"
inferno-flamegraph --title "ringmq 16 B send path (PUSH, shard 1)" <"$out/send-16b.folded" >"$out/send-16b.svg"
echo "flamegraph-16b: wrote $out/recv-16b.svg and $out/send-16b.svg"
