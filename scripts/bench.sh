#!/usr/bin/env bash
# Repeat `loadgen --compare` under quiet-run and summarise the ratios (median and range), throwing
# away runs that quiet-run calls DISTURBED.
#   usage: scripts/bench.sh RUNS OUT_DIR [loadgen args...]
#   LOADGEN_FEATURES=peers scripts/bench.sh ...   also runs rzmq and zmq.rs (loadgen's peers feature)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"; out="${2:-perf-reports/runs}"; shift 2 || true
quiet_run="../shared/tools/quiet-run"
[ -x "$quiet_run" ] || quiet_run=""
cargo build -q --release -p loadgen ${LOADGEN_FEATURES:+--features "$LOADGEN_FEATURES"}
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
# Per workload and implementation: median msgs/s, p50 and CPU per message; the ratio to libzmq
# (median and range) and its RTT ratios; where other peers ran (loadgen --features peers), the
# ratio of each ringmq row to the best peer of its run; and, where both backends ran,
# epoll / io-uring.
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
        peers = [r for l, r in impls.items() if not l.startswith("ringmq")]
        for label, a in impls.items():
            if (w, label) not in order:
                order.append((w, label))
            m = rows[(w, label)]
            m["r"].append(a["msgs_per_sec"])
            if a.get("rtt_us_p50"):
                m["rtt"].append(a["rtt_us_p50"])
            if a.get("cpu_ns_per_msg"):
                m["cpu"].append(a["cpu_ns_per_msg"])
            if not label.startswith("ringmq"):
                continue
            if z:
                m["msgs"].append(a["msgs_per_sec"] / z["msgs_per_sec"])
                if a["rtt_us_p50"] and z["rtt_us_p50"]:
                    m["p50"].append(a["rtt_us_p50"] / z["rtt_us_p50"])
                    m["p99"].append(a["rtt_us_p99"] / z["rtt_us_p99"])
            if len(peers) > 1:
                if a["rtt_us_p50"]:
                    best = min(p["rtt_us_p50"] for p in peers if p["rtt_us_p50"])
                    m["best"].append(a["rtt_us_p50"] / best)
                else:
                    m["best"].append(a["msgs_per_sec"] / max(p["msgs_per_sec"] for p in peers))
            u, e = impls.get("ringmq/io-uring"), impls.get("ringmq/epoll")
            if label == "ringmq/epoll" and u and e:
                m["vs_uring"].append(e["msgs_per_sec"] / u["msgs_per_sec"])
                if e["rtt_us_p50"] and u["rtt_us_p50"]:
                    m["vs_uring_p50"].append(e["rtt_us_p50"] / u["rtt_us_p50"])
med = lambda v, f=".2f": format(statistics.median(v), f) if v else "-"
print(f"{'workload':<22} {'impl':<16} {'runs':>4} {'msgs/s':>10} {'p50 us':>7} {'CPU ns':>8} {'/libzmq':>7} {'range':>11} {'p50 r':>6} {'p99 r':>6} {'/best':>6} {'ep/ur':>6} {'ep/ur p50':>9}")
for key in order:
    w, label = key
    m = rows[key]
    rng = f"{min(m['msgs']):.2f}-{max(m['msgs']):.2f}" if m["msgs"] else "-"
    print(f"{w:<22} {label:<16} {len(m['r']):>4} {med(m['r'], '.0f'):>10} {med(m['rtt'], '.1f'):>7} {med(m['cpu'], '.0f'):>8} {med(m['msgs']):>7} {rng:>11} {med(m['p50']):>6} {med(m['p99']):>6} {med(m['best']):>6} {med(m['vs_uring']):>6} {med(m['vs_uring_p50']):>9}")
print("/libzmq: ringmq msgs/s over libzmq's; p50 r, p99 r: RTT ratios (below 1 is better); /best: ringmq over the best other")
print("implementation of the same run (msgs/s; for round trips p50, below 1 is better); ep/ur: epoll over io-uring")
PY
