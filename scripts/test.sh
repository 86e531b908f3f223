#!/usr/bin/env bash
# The one test command: installs what the tests need when it is missing, then runs the whole suite:
# formatting, clippy, unit/property/integration/interop tests, doc tests, benchmark and loadgen smoke
# runs, and a short fuzz run of every target.
#   usage: scripts/test.sh            (FUZZ_SECONDS=N to change the per-target fuzz time, 0 to skip)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

# --- dependencies --------------------------------------------------------------------------------
# Real libzmq is the interop peer (Debian's libzmq 4.3.4, built with libsodium so CURVE works).
if ! ldconfig -p 2>/dev/null | grep -q 'libzmq\.so\.5'; then
  step "installing libzmq3-dev (interop peer)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libzmq3-dev pkg-config >/dev/null
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  step "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi
if ! cargo deny --version >/dev/null 2>&1; then
  step "installing cargo-deny (supply-chain checks)"
  cargo install --locked cargo-deny
fi

# --- static checks ---------------------------------------------------------------------------------
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p ringmq --all-targets --features metrics -- -D warnings
# Licences, banned and duplicate crates, allowed sources (deny.toml), offline. The advisory check
# needs the network: `cargo deny check advisories` is a release step (README, Hardening).
step "cargo deny (licences, bans, sources; offline)"
# Every platform's dependencies (windows-only ones too) must be in the local registry for the
# offline metadata: fetch them first (crates.io is reachable; nothing is built).
cargo fetch --locked -q
cargo deny --offline check licenses bans sources

# --- tests -----------------------------------------------------------------------------------------
step "unit, property, integration and interop tests (backend: auto, io_uring here)"
cargo nextest run --workspace --no-fail-fast
# Every engine, interop and CLI behaviour again on the epoll backend: `auto` runtimes honour
# RINGMQ_BACKEND, so the same tests run on the other driver.
step "engine, interop and CLI tests again on the epoll backend"
RINGMQ_BACKEND=epoll cargo nextest run -p ringmq -p ringmq-interop -p ringmq-cli -p loadgen -p ringmq-zmq-abi --no-fail-fast
step "the metrics facade (cargo feature \`metrics\`)"
cargo nextest run -p ringmq --features metrics --test metrics
step "stress tests, short bounds (figures printed; full scale: scripts/stress.sh)"
STRESS_SCALE=small bash scripts/stress.sh
step "doc tests"
cargo test --workspace --doc
step "benchmarks in test mode"
cargo test -p ringmq-benches --benches

# --- smoke runs ------------------------------------------------------------------------------------
step "examples (on each backend)"
for backend in auto epoll; do
  for example in pipeline pubsub pair reqrep broker forwarder tokio_service; do
    RINGMQ_BACKEND=$backend timeout 120 cargo run -q --release -p ringmq --example "$example"
  done
done
step "loadgen smoke runs (ringmq on io_uring and epoll, beside libzmq)"
cargo run --release -p loadgen -- --compare --smoke
cargo run --release -p loadgen -- --compare --smoke --pattern all --transport ipc
cargo run --release -p loadgen -- --compare --smoke --curve
cargo run --release -p loadgen -- --compare --smoke --pattern all --transport inproc
cargo run --release -p loadgen -- --compare --smoke --pairs 1,2
# The other Rust implementations (rzmq, on tokio and on io_uring, and zmq.rs) beside them.
cargo run --release -p loadgen --features peers -- --compare --smoke

# --- the C ABI's judges -------------------------------------------------------------------------
# libzmq's own test programs (Debian's zeromq3 source package) and pyzmq's test suite (its PyPI
# sdist), each built against real libzmq and against ringmq's libzmq.so.5 and run one test at a
# time; each prints its table (also in target/judge/). They fetch what they judge with apt-get and
# pip at run time. The tables are the result: the judges fail only when they cannot run.
step "judge: libzmq's own tests, real libzmq and ringmq's libzmq.so.5"
bash scripts/judge-libzmq.sh --timeout "${JUDGE_TIMEOUT:-45}"
step "judge: pyzmq's test suite, real libzmq and ringmq's libzmq.so.5"
bash scripts/judge-pyzmq.sh --timeout "${JUDGE_TIMEOUT:-45}" --suite-timeout 720
step "libzmq's perf programs on both libraries (smoke: scripts/bench-abi.sh for the real run)"
bash scripts/bench-abi.sh --smoke

fuzz_seconds="${FUZZ_SECONDS:-10}"
if [ "$fuzz_seconds" -gt 0 ]; then
  step "fuzzing each target for ${fuzz_seconds}s"
  bash scripts/fuzz.sh "$fuzz_seconds"
fi

step "all checks passed"
