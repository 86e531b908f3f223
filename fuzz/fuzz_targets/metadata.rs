//! Arbitrary bytes into `ringmq_transports::fuzzing::metadata` (see its doc for the invariants).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringmq_transports::fuzzing::metadata(data));
