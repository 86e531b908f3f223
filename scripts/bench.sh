#!/usr/bin/env bash
# Repeat `loadgen --compare` under quiet-run and summarise the ratios (median and range), throwing
# away runs that quiet-run calls DISTURBED.
#   usage: scripts/bench.sh RUNS OUT_DIR [loadgen args...]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"; out="${2:-perf-reports/runs}"; shift 2 || true
quiet_run="../shared/tools/quiet-run"
[ -x "$quiet_run" ] || quiet_run=""
cargo build -q --release -p loadgen
mkdir -p "$out"
kept=0
for i in $(seq 1 "$runs"); do
  log="$out/run-$i.log"
  if [ -n "$quiet_run" ]; then
    "$quiet_run" -- ./target/release/loadgen --compare --json "$out/run-$i.json" "$@" >"$log" 2>&1 || true
  else
    ./target/release/loadgen --compare --json "$out/run-$i.json" "$@" >"$log" 2>&1 || true
  fi
  if grep -q DISTURBED "$log"; then
    echo "run $i: DISTURBED, discarded"; rm -f "$out/run-$i.json"
  else
    kept=$((kept + 1)); echo "run $i: kept"
  fi
done
python3 - "$out" <<'PY'
import json, glob, statistics, sys
rows = {}
for f in sorted(glob.glob(sys.argv[1] + "/run-*.json")):
    r = json.load(open(f))["rows"]
    for a, b in zip(r, r[1:]):
        if a["workload"] == b["workload"] and a["implementation"] == "ringmq" and b["implementation"] == "libzmq":
            m = rows.setdefault(a["workload"], {"msgs": [], "p50": [], "p99": [], "r": [], "z": [], "rp50": [], "zp50": []})
            m["msgs"].append(a["msgs_per_sec"] / b["msgs_per_sec"])
            m["r"].append(a["msgs_per_sec"]); m["z"].append(b["msgs_per_sec"])
            if a["rtt_us_p50"]:
                m["p50"].append(a["rtt_us_p50"] / b["rtt_us_p50"]); m["p99"].append(a["rtt_us_p99"] / b["rtt_us_p99"])
                m["rp50"].append(a["rtt_us_p50"]); m["zp50"].append(b["rtt_us_p50"])
print(f"{'workload':<18} {'runs':>4} {'ringmq msgs/s':>14} {'libzmq msgs/s':>14} {'ratio median':>12} {'ratio range':>16} {'RTT p50 ratio':>14} {'RTT p99 ratio':>14}")
for w, m in rows.items():
    rng = f"{min(m['msgs']):.2f}-{max(m['msgs']):.2f}"
    p50 = f"{statistics.median(m['p50']):.2f}" if m["p50"] else "-"
    p99 = f"{statistics.median(m['p99']):.2f}" if m["p99"] else "-"
    print(f"{w:<18} {len(m['msgs']):>4} {statistics.median(m['r']):>14.0f} {statistics.median(m['z']):>14.0f} {statistics.median(m['msgs']):>12.2f} {rng:>16} {p50:>14} {p99:>14}")
PY
