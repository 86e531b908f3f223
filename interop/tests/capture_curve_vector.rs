//! Records a known-answer vector: a real libzmq CURVE client's bytes against ringmq's sans-IO
//! CURVE server running with fixed keys and a fixed random source, so that
//! `transports/tests/libzmq_curve_vector.rs` can replay them offline. Run it by hand when the
//! vector needs remaking:
//!
//! `cargo test -p ringmq-interop --test capture_curve_vector -- --ignored`

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ringmq_interop::libzmq as zmq;
use ringmq_transports::connection::TransmitBuf;
use ringmq_transports::{
    Connection, ConnectionConfig, Event, KeyPair, Mechanism, SecretKey, SocketType,
};

/// libzmq's own test key pairs (tests/testutil_security.hpp).
pub const SERVER_SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
pub const SERVER_PUBLIC: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
pub const CLIENT_SECRET: &str = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";

#[test]
#[ignore = "run by hand to remake the vector"]
fn capture() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let ctx = zmq::Context::new().unwrap();
    let push = ctx.socket(zmq::PUSH).unwrap();
    push.set_int(zmq::ZMQ_LINGER, 2000).unwrap();
    push.set_bytes(zmq::ZMQ_CURVE_SERVERKEY, SERVER_PUBLIC.as_bytes())
        .unwrap();
    let client_public = SecretKey::from_z85(CLIENT_SECRET)
        .unwrap()
        .public_key()
        .to_z85();
    push.set_bytes(zmq::ZMQ_CURVE_PUBLICKEY, client_public.as_bytes())
        .unwrap();
    push.set_bytes(zmq::ZMQ_CURVE_SECRETKEY, CLIENT_SECRET.as_bytes())
        .unwrap();
    push.connect(&format!("tcp://127.0.0.1:{port}")).unwrap();
    push.send_multipart([b"hello from libzmq".as_slice(), b"second frame"])
        .unwrap();

    let (mut stream, _) = listener.accept().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let now = Instant::now();
    let mut config = ConnectionConfig::new(SocketType::Pull);
    config.mechanism = Mechanism::CurveServer {
        keys: KeyPair::from_secret(SecretKey::from_z85(SERVER_SECRET).unwrap()),
    };
    config.random = Some(counter_random());
    let mut conn = Connection::new(config, now);
    let mut recorded = Vec::new();
    let mut input = BytesMut::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = None;
    while got.is_none() && Instant::now() < deadline {
        let mut out = TransmitBuf::new();
        conn.poll_transmit(&mut out);
        for chunk in out.take() {
            stream.write_all(&chunk).unwrap();
        }
        let mut buf = [0u8; 4096];
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                recorded.extend_from_slice(&buf[..n]);
                input.extend_from_slice(&buf[..n]);
                conn.handle_input(now, &mut input).unwrap();
            }
            Err(_) => {}
        }
        while let Some(event) = conn.poll_event() {
            match event {
                Event::Authenticate(_) => conn.accept_peer(now).unwrap(),
                Event::Message(m) => got = Some(m),
                _ => {}
            }
        }
    }
    let got = got.expect("libzmq's message arrived");
    assert_eq!(got.frames()[0], "hello from libzmq");
    let hex: String = recorded.iter().map(|b| format!("{b:02x}")).collect();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../transports/tests/vectors/libzmq_curve_client.hex"
    );
    std::fs::create_dir_all(std::path::Path::new(path).parent().unwrap()).unwrap();
    std::fs::write(path, hex + "\n").unwrap();
    eprintln!(
        "wrote {} bytes of libzmq client traffic to {path}",
        recorded.len()
    );
}

/// The same deterministic source the replay test uses.
fn counter_random() -> ringmq_transports::curve::Random {
    let state = std::sync::atomic::AtomicU8::new(11);
    Arc::new(move |buf: &mut [u8]| {
        for b in buf.iter_mut() {
            *b = state.fetch_add(53, std::sync::atomic::Ordering::Relaxed);
        }
    })
}
