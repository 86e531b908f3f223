//! Arbitrary bytes as a CURVE client's greeting, HELLO, INITIATE and traffic into a CURVE server
//! `Connection`; the first byte picks the socket type and whether to accept the client, the second
//! the split. Built with `--cfg fuzzing`, the boxes open when their 16-byte MAC is zero.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ringmq_transports::fuzzing::curve_server_handshake(data)
});
