//! What the engine's integration tests share: the bounded wait, runtimes on the backend the
//! suite runs (`auto`, which honours `RINGMQ_BACKEND`, so `scripts/test.sh`'s epoll pass runs
//! every test on epoll), sockets with bounded timeouts, and a polling wait for a condition.
//! Included with `mod support;` by each test file; not every file uses every helper.

#![allow(dead_code)]

use std::io::{ErrorKind as IoKind, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use ringmq::{BlockingSocket, Config, Options, Runtime, ShardId, SocketType};

/// The longest any test waits for something that should happen.
pub const WAIT: Duration = Duration::from_secs(10);

/// A runtime of `shards` shards on the suite's backend.
pub fn runtime(shards: usize) -> Runtime {
    let rt = Runtime::new(Config {
        shards,
        ..Config::default()
    })
    .expect("runtime");
    if let Ok(wanted) = std::env::var("RINGMQ_BACKEND") {
        if let Ok(wanted) = wanted.parse::<ringmq::Backend>() {
            if wanted != ringmq::Backend::Auto {
                assert_eq!(rt.backend(), wanted, "the suite asked for {wanted}");
            }
        }
    }
    rt
}

/// A blocking socket on the next shard, with send and receive timeouts of [`WAIT`].
pub fn socket_with(rt: &Runtime, socket_type: SocketType, options: Options) -> BlockingSocket {
    let mut s = BlockingSocket::new(rt.next_shard(), socket_type, options).expect("socket");
    s.set_rcvtimeo(Some(WAIT));
    s.set_sndtimeo(Some(WAIT));
    s
}

/// [`socket_with`] default options.
pub fn socket(rt: &Runtime, socket_type: SocketType) -> BlockingSocket {
    socket_with(rt, socket_type, Options::default())
}

/// A blocking socket on shard `shard`, with timeouts of [`WAIT`].
pub fn socket_on(rt: &Runtime, shard: u16, socket_type: SocketType) -> BlockingSocket {
    let mut s = BlockingSocket::new(
        rt.shard(ShardId(shard)).expect("shard"),
        socket_type,
        Options::default(),
    )
    .expect("socket");
    s.set_rcvtimeo(Some(WAIT));
    s.set_sndtimeo(Some(WAIT));
    s
}

/// Wait until `condition` holds, at most [`WAIT`]; fails the test naming `what` past that.
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Read until the peer closes; panics if it stays open past the wait. Returns what was read.
pub fn expect_closed(stream: &mut TcpStream) -> Vec<u8> {
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return seen,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == IoKind::ConnectionReset => return seen,
            Err(e) if e.kind() == IoKind::Interrupted => {}
            Err(e) if matches!(e.kind(), IoKind::WouldBlock | IoKind::TimedOut) => {
                panic!("ringmq kept a bad connection open")
            }
            Err(e) => panic!("unexpected read error {e}"),
        }
    }
}

/// A ZMTP 3.1 greeting for NULL, as-server 0, as libzmq sends it.
pub const GREETING_NULL: [u8; 64] = {
    let mut g = [0u8; 64];
    g[0] = 0xff;
    g[8] = 1;
    g[9] = 0x7f;
    g[10] = 3;
    g[11] = 1;
    g[12] = b'N';
    g[13] = b'U';
    g[14] = b'L';
    g[15] = b'L';
    g
};

/// A READY command frame naming `socket_type`.
pub fn ready(socket_type: &str) -> Vec<u8> {
    let mut body = vec![5u8];
    body.extend_from_slice(b"READY");
    body.push(11);
    body.extend_from_slice(b"Socket-Type");
    body.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
    body.extend_from_slice(socket_type.as_bytes());
    let mut frame = vec![0x04, body.len() as u8];
    frame.extend_from_slice(&body);
    frame
}

/// Wait (at most [`WAIT`]) for the monitor's next `handshake-failed` event and check it is an
/// authentication refusal whose reason contains `needle`.
pub fn expect_auth_refusal(monitor: &ringmq::Monitor, needle: &str) {
    match monitor
        .wait_for("handshake-failed", WAIT)
        .expect("a handshake-failed event")
    {
        ringmq::MonitorEvent::HandshakeFailed {
            reason: ringmq::HandshakeFailure::Auth(r),
            ..
        } => assert!(r.contains(needle), "{r}"),
        other => panic!("{other:?}"),
    }
}
