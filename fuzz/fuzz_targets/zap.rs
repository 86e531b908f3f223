//! Arbitrary bytes into `ringmq_transports::fuzzing::zap` (see its doc for the invariants).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringmq_transports::fuzzing::zap(data));
