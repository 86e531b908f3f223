//! Arbitrary bytes as a PLAIN client's greeting, HELLO, INITIATE and traffic into a PLAIN server
//! `Connection`; the first byte picks the socket type and whether to accept the client, the second
//! the split.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ringmq_transports::fuzzing::plain_server_handshake(data)
});
