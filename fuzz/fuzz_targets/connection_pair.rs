//! A whole client/server `Connection` pair driven by arbitrary bytes as a schedule (chunking,
//! timers, sends, corruption) into `ringmq_transports::fuzzing::connection_pair`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringmq_transports::fuzzing::connection_pair(data));
