#!/usr/bin/env bash
# The backends report: `loadgen --compare` (ringmq on io_uring and on epoll, beside libzmq) on the
# default rows and on the busy-poll round trip, RUNS times each under quiet-run, and optionally a
# baseline loadgen binary (an earlier commit's) run alternately with it, so that io_uring's ratio
# to libzmq can be compared with the baseline's in the same session.
#   usage: scripts/bench-backends.sh RUNS OUT_DIR [BASELINE_LOADGEN]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"; out="${2:-perf-reports/backends}"; baseline="${3:-}"
quiet_run="../shared/tools/quiet-run"
[ -x "$quiet_run" ] || { echo "needs $quiet_run" >&2; exit 2; }
cargo build -q --release -p loadgen
mkdir -p "$out"
run() {  # NAME BINARY ARGS...
  local name=$1 bin=$2; shift 2
  if "$quiet_run" -- "$bin" --compare --json "$out/$name.json" "$@" >"$out/$name.log" 2>&1 \
      && ! grep -q DISTURBED "$out/$name.log"; then
    echo "$name: kept"
  else
    echo "$name: DISTURBED or failed, discarded"; rm -f "$out/$name.json"
  fi
}
for i in $(seq 1 "$runs"); do
  run "default-$i" ./target/release/loadgen
  [ -n "$baseline" ] && run "baseline-default-$i" "$baseline"
  run "busypoll-$i" ./target/release/loadgen --pattern pair-rtt --busy-poll-us 200
  [ -n "$baseline" ] && run "baseline-busypoll-$i" "$baseline" --pattern pair-rtt --busy-poll-us 200
done
python3 - "$out" <<'PY'
import json, glob, statistics, sys, os
from collections import defaultdict
out = sys.argv[1]
table = defaultdict(lambda: defaultdict(list))  # (set, workload, impl) -> metric -> values
order = []
for f in sorted(glob.glob(out + "/*.json")):
    name = os.path.basename(f)[:-5]
    kind = name.rsplit("-", 1)[0]
    rows = json.load(open(f))["rows"]
    impls = defaultdict(dict)
    for r in rows:
        label = r["implementation"] + ("/" + r["backend"] if r.get("backend") else "")
        impls[r["workload"]][label] = r
    for w, by in impls.items():
        z = by.get("libzmq")
        u = by.get("ringmq/io-uring") or by.get("ringmq")
        for label, a in by.items():
            if label == "libzmq" or not z:
                continue
            if kind.startswith("baseline"):
                label = "baseline " + label
            key = (kind.replace("baseline-", ""), w, label)
            if key not in order:
                order.append(key)
            m = table[key]
            m["msgs/s"].append(a["msgs_per_sec"])
            m["x libzmq"].append(a["msgs_per_sec"] / z["msgs_per_sec"])
            if a["rtt_us_p50"]:
                m["p50 us"].append(a["rtt_us_p50"])
                m["p50 x libzmq"].append(a["rtt_us_p50"] / z["rtt_us_p50"])
                m["p99 x libzmq"].append(a["rtt_us_p99"] / z["rtt_us_p99"])
            if label == "ringmq/epoll" and u:
                m["epoll/io-uring"].append(a["msgs_per_sec"] / u["msgs_per_sec"])
cols = ["msgs/s", "x libzmq", "p50 us", "p50 x libzmq", "p99 x libzmq", "epoll/io-uring"]
print("| run set | workload | impl | runs | " + " | ".join(cols) + " |")
print("|---|---|---|---:|" + "---:|" * len(cols))
for key in order:
    m = table[key]
    cells = []
    for c in cols:
        v = m.get(c)
        if not v:
            cells.append("-")
        elif c == "msgs/s":
            cells.append(f"{statistics.median(v):,.0f}")
        elif c == "p50 us":
            cells.append(f"{statistics.median(v):.1f}")
        else:
            cells.append(f"{statistics.median(v):.2f} ({min(v):.2f}–{max(v):.2f})")
    print(f"| {key[0]} | {key[1]} | {key[2]} | {len(m['x libzmq'])} | " + " | ".join(cells) + " |")
PY
