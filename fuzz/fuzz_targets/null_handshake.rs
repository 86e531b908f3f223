//! Arbitrary bytes as the peer's greeting, NULL handshake and traffic into a `Connection`;
//! the first byte picks the socket type, the second the split.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringmq_transports::fuzzing::null_handshake(data));
