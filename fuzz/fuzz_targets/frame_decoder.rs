//! Arbitrary bytes into `FrameDecoder`; the first byte picks how the input is split.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringmq_transports::fuzzing::frame_decoder(data));
