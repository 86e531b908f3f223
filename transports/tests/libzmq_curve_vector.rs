//! Known-answer test: the bytes a real libzmq 4.3.4 CURVE client sent to this server (fixed keys,
//! fixed random source), recorded by `interop/tests/capture_curve_vector.rs`, replayed offline in
//! any chunking: the handshake completes and the MESSAGE boxes open to libzmq's plaintext.

use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use ringmq_transports::{
    Connection, ConnectionConfig, Credentials, Event, KeyPair, Mechanism, Message, SecretKey,
    SocketType,
};

const SERVER_SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
const CLIENT_SECRET: &str = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";

fn counter_random() -> ringmq_transports::curve::Random {
    let state = std::sync::atomic::AtomicU8::new(11);
    Arc::new(move |buf: &mut [u8]| {
        for b in buf.iter_mut() {
            *b = state.fetch_add(53, std::sync::atomic::Ordering::Relaxed);
        }
    })
}

fn vector() -> Vec<u8> {
    let hex = include_str!("vectors/libzmq_curve_client.hex").trim();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn libzmq_client_handshake_and_message_decrypt() {
    let wire = vector();
    for chunk in [1usize, 7, 64, 200, wire.len()] {
        let now = Instant::now();
        let mut config = ConnectionConfig::new(SocketType::Pull);
        config.mechanism = Mechanism::CurveServer {
            keys: KeyPair::from_secret(SecretKey::from_z85(SERVER_SECRET).unwrap()),
        };
        config.random = Some(counter_random());
        let mut conn = Connection::new(config, now);
        let mut input = BytesMut::new();
        let mut client_key = None;
        let mut messages = Vec::new();
        for piece in wire.chunks(chunk) {
            input.extend_from_slice(piece);
            conn.handle_input(now, &mut input).unwrap();
            while let Some(event) = conn.poll_event() {
                match event {
                    Event::Authenticate(Credentials::Curve { client_key: k }) => {
                        client_key = Some(k);
                        conn.accept_peer(now).unwrap();
                        // Bytes that waited for the decision.
                        conn.handle_input(now, &mut input).unwrap();
                    }
                    Event::Message(m) => messages.push(m),
                    _ => {}
                }
            }
        }
        let expected_client = SecretKey::from_z85(CLIENT_SECRET).unwrap().public_key();
        assert_eq!(client_key, Some(expected_client), "chunk {chunk}");
        assert_eq!(
            messages,
            vec![Message::from_frames(["hello from libzmq", "second frame"])],
            "chunk {chunk}"
        );
    }
}
