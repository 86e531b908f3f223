//! Arbitrary bytes as a CURVE server's greeting, WELCOME, READY and traffic into a CURVE client
//! `Connection`; the first byte picks the socket type, the second the split. Built with
//! `--cfg fuzzing`, the boxes open when their 16-byte MAC is zero.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ringmq_transports::fuzzing::curve_client_handshake(data)
});
