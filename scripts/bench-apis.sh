#!/usr/bin/env bash
# ringmq's three APIs side by side (`loadgen --compare --api all`), repeated under quiet-run;
# DISTURBED runs are thrown away. Summarises, per workload, each API's msgs/s and RTT p50, and the
# ratios any/shard, blocking/shard and API/libzmq (medians and ranges over the kept runs).
#   usage: scripts/bench-apis.sh RUNS OUT_DIR [extra loadgen args]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"; out="${2:-perf-reports/runs-apis}"; shift 2 || true
quiet_run="../shared/tools/quiet-run"
[ -x "$quiet_run" ] || quiet_run=""
cargo build -q --release -p loadgen
mkdir -p "$out"
for i in $(seq 1 "$runs"); do
  log="$out/run-$i.log"
  ${quiet_run:+"$quiet_run" --} ./target/release/loadgen --compare --api all \
    --pattern push-pull --pattern req-rep --pattern router-dealer-rtt --size 16 --size 1024 \
    --json "$out/run-$i.json" "$@" >"$log" 2>&1 || true
  if grep -q DISTURBED "$log"; then
    echo "run $i: DISTURBED, discarded"; rm -f "$out/run-$i.json"
  else
    echo "run $i: kept"
  fi
done
python3 - "$out" <<'PY'
import json, glob, statistics, sys
from collections import defaultdict
vals = defaultdict(list)          # (workload, key) -> values
order = []
for f in sorted(glob.glob(sys.argv[1] + "/run-*.json")):
    rows = defaultdict(dict)
    for r in json.load(open(f))["rows"]:
        key = "libzmq" if r["implementation"] == "libzmq" else r.get("api", "shard")
        rows[r["workload"]][key] = r
    for w, by in rows.items():
        if w not in order:
            order.append(w)
        rtt = bool(by.get("shard", {}).get("rtt_us_p50"))
        metric = "rtt_us_p50" if rtt else "msgs_per_sec"
        for k, r in by.items():
            vals[(w, k)].append(r[metric])
        for a in ("any", "blocking"):
            if a in by and "shard" in by:
                vals[(w, a + "/shard")].append(by[a][metric] / by["shard"][metric])
        for a in ("shard", "any", "blocking"):
            if a in by and "libzmq" in by:
                vals[(w, a + "/libzmq")].append(by[a][metric] / by["libzmq"][metric])
def m(w, k, f=".2f"):
    v = vals.get((w, k))
    if not v:
        return "-"
    s = format(statistics.median(v), f)
    return s if len(v) == 1 or f != ".2f" else f"{s} ({min(v):.2f}-{max(v):.2f})"
print("throughput rows: msgs/s; round-trip rows: p50 in us (lower is better)")
print(f"{'workload':<24} {'shard':>10} {'any':>10} {'blocking':>10} {'libzmq':>10}  {'any/shard':>18} {'any/libzmq':>18} {'blocking/shard':>18} {'shard/libzmq':>18}")
for w in order:
    f = ".1f" if "rtt" in w or "req-rep" in w else ".0f"
    print(f"{w:<24} {m(w,'shard',f):>10} {m(w,'any',f):>10} {m(w,'blocking',f):>10} {m(w,'libzmq',f):>10}  {m(w,'any/shard'):>18} {m(w,'any/libzmq'):>18} {m(w,'blocking/shard'):>18} {m(w,'shard/libzmq'):>18}")
PY
