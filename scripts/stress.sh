#!/usr/bin/env bash
# Run the stress tests (`stress_*`, #[ignore]d in the normal suite) and print their figures.
#   usage: scripts/stress.sh            (full scale)
#          STRESS_SCALE=small scripts/stress.sh   (short bounds, as the test suite runs it)
# Scale knobs: RINGMQ_FLOOD_IDLE, RINGMQ_FLOOD_CURVE (the connection flood: idle connections and
# CURVE clients stalled after HELLO; defaults 5000 and 2000).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${STRESS_SCALE:-full}" = small ]; then
  export RINGMQ_FLOOD_IDLE="${RINGMQ_FLOOD_IDLE:-1000}" RINGMQ_FLOOD_CURVE="${RINGMQ_FLOOD_CURVE:-200}"
fi
cargo nextest run --workspace --run-ignored ignored-only -E 'test(/^stress_/)' --no-capture
