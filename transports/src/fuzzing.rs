//! Entry points for fuzz targets (`fuzz/`) and for the tests that replay their corpora.
//!
//! Each function takes arbitrary bytes and must never panic, loop forever or allocate beyond the
//! configured limits, whatever the bytes are.

use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::connection::{Connection, ConnectionConfig, TransmitBuf};
use crate::frame::FrameDecoder;
use crate::socket_type::SocketType;

/// Feed `data` to a frame decoder with a 64 KiB limit; the first byte picks how the input is split.
pub fn frame_decoder(data: &[u8]) {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let step = usize::from(split).max(1);
    let mut decoder = FrameDecoder::new(64 * 1024);
    let mut buf = BytesMut::new();
    for piece in data.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
}

/// Feed `data` as the peer's side of a greeting and NULL handshake and then traffic, to a
/// connection whose type the first byte picks; the second byte picks the split.
pub fn null_handshake(data: &[u8]) {
    let [kind, split, rest @ ..] = data else {
        return;
    };
    let types = [
        SocketType::Pull,
        SocketType::Push,
        SocketType::Pub,
        SocketType::Sub,
        SocketType::Pair,
        SocketType::Router,
    ];
    let socket_type = types[usize::from(*kind) % types.len()];
    let now = Instant::now();
    let mut config = ConnectionConfig::new(socket_type);
    config.max_msg_size = Some(64 * 1024);
    config.heartbeat_ivl = Some(Duration::from_secs(1));
    let mut conn = Connection::new(config, now);
    let mut buf = BytesMut::new();
    let mut out = TransmitBuf::new();
    for piece in rest.chunks(usize::from(*split).max(1)) {
        buf.extend_from_slice(piece);
        if conn.handle_input(now, &mut buf).is_err() {
            conn.poll_transmit(&mut out);
            return;
        }
        while conn.poll_event().is_some() {}
        conn.poll_transmit(&mut out);
        let _ = conn.encode_message(&crate::Message::single("x"), &mut out);
        let _ = out.take();
    }
    let _ = conn.handle_timeout(now + Duration::from_secs(5));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::greeting::Greeting;

    fn seeds() -> Vec<Vec<u8>> {
        let mut hello = vec![0u8, 3];
        hello.extend_from_slice(&Greeting::new("NULL", false).encode());
        hello.extend_from_slice(b"\x04\x1a\x05READY\x0bSocket-Type\x00\x00\x00\x04PUSH");
        hello.extend_from_slice(b"\x01\x03abc\x00\x00\x04\x07\x04PING\x00\x0a");
        let mut bad = hello.clone();
        bad.truncate(40);
        vec![
            vec![],
            vec![1, 0, 5, b'h', b'e', b'l', b'l', b'o'],
            vec![3, 2, 0, 0, 0, 0, 0, 0, 0, 0xff],
            hello,
            bad,
            vec![0xff; 300],
        ]
    }

    #[test]
    fn seeds_and_corpus_do_not_panic() {
        let mut inputs = seeds();
        // Replay the checked-in corpora too, so fuzz findings stay fixed.
        for dir in ["frame_decoder", "null_handshake"] {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/").to_owned() + dir;
            if let Ok(entries) = std::fs::read_dir(path) {
                for e in entries.flatten() {
                    if let Ok(bytes) = std::fs::read(e.path()) {
                        inputs.push(bytes);
                    }
                }
            }
        }
        for input in &inputs {
            frame_decoder(input);
            null_handshake(input);
        }
    }
}
