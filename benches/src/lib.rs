//! criterion micro-benchmarks live in `benches/`; run them with `cargo bench -p ringmq-benches`.
//! The test suite runs each once in criterion's test mode (`cargo test --benches`) so they cannot rot.
