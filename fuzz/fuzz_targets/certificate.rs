//! Arbitrary bytes as a czmq certificate file into `ringmq::cert::fuzz_certificate_text` (see its
//! doc for the invariants).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringmq::cert::fuzz_certificate_text(data));
