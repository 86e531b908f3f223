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
# Per workload and ringmq backend: median msgs/s, ratio to libzmq (median and range), RTT ratios;
# and, where both backends ran, epoll / io-uring.
import json, glob, statistics, sys
from collections import defaultdict
rows = defaultdict(lambda: defaultdict(list))   # (workload, label) -> field -> values
order = []
for f in sorted(glob.glob(sys.argv[1] + "/run-*.json")):
    by_workload = defaultdict(dict)
    for r in json.load(open(f))["rows"]:
        label = r["implementation"] + ("/" + r["backend"] if r.get("backend") else "")
        if r.get("api") and r["api"] != "shard":
            label += " " + r["api"]   # loadgen --api any|blocking|all
        by_workload[r["workload"]][label] = r
    for w, impls in by_workload.items():
        z = impls.get("libzmq")
        for label, a in impls.items():
            if label == "libzmq":
                continue
            if (w, label) not in order:
                order.append((w, label))
            m = rows[(w, label)]
            m["r"].append(a["msgs_per_sec"])
            if z:
                m["msgs"].append(a["msgs_per_sec"] / z["msgs_per_sec"])
                m["z"].append(z["msgs_per_sec"])
                if a["rtt_us_p50"] and z["rtt_us_p50"]:
                    m["p50"].append(a["rtt_us_p50"] / z["rtt_us_p50"])
                    m["p99"].append(a["rtt_us_p99"] / z["rtt_us_p99"])
            u, e = impls.get("ringmq/io-uring"), impls.get("ringmq/epoll")
            if label == "ringmq/epoll" and u and e:
                m["vs_uring"].append(e["msgs_per_sec"] / u["msgs_per_sec"])
                if e["rtt_us_p50"] and u["rtt_us_p50"]:
                    m["vs_uring_p50"].append(e["rtt_us_p50"] / u["rtt_us_p50"])
med = lambda v, f=".2f": format(statistics.median(v), f) if v else "-"
print(f"{'workload':<20} {'impl':<16} {'runs':>4} {'msgs/s':>10} {'libzmq':>10} {'ratio med':>9} {'range':>11} {'p50 r':>6} {'p99 r':>6} {'ep/ur':>6} {'ep/ur p50':>9}")
for key in order:
    w, label = key
    m = rows[key]
    rng = f"{min(m['msgs']):.2f}-{max(m['msgs']):.2f}" if m["msgs"] else "-"
    print(f"{w:<20} {label:<16} {len(m['r']):>4} {med(m['r'], '.0f'):>10} {med(m['z'], '.0f'):>10} {med(m['msgs']):>9} {rng:>11} {med(m['p50']):>6} {med(m['p99']):>6} {med(m['vs_uring']):>6} {med(m['vs_uring_p50']):>9}")
PY
