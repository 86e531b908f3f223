//! Hostile and broken peers: each gets a clear error and a closed connection, and the socket keeps
//! serving its other peers. The peer here is a raw TCP client speaking (or not) ZMTP by hand.

mod support;

use support::{expect_closed, ready, GREETING_NULL, WAIT};

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ringmq::{BlockingSocket, Config, Message, Options, Runtime, SocketType};

/// Every log line of this test binary, so tests can check the error each case reports.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || LogWriter(sink.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buf
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Wait until the log holds `needle`.
fn wait_for_log(needle: &str) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if String::from_utf8_lossy(&logs().lock().unwrap()).contains(needle) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("log never said {needle:?}");
}

fn pull_server(rt: &Runtime, options: Options) -> (BlockingSocket, String) {
    logs();
    let mut pull = BlockingSocket::new(rt.next_shard(), SocketType::Pull, options).unwrap();
    pull.set_rcvtimeo(Some(WAIT));
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
    let addr = ep.trim_start_matches("tcp://").to_owned();
    (pull, addr)
}

/// A raw peer that completed a NULL handshake as PUSH.
fn handshaken_push(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(&GREETING_NULL).unwrap();
    s.write_all(&ready("PUSH")).unwrap();
    // Read the server's greeting (64) and READY before sending traffic, as libzmq requires.
    s.set_read_timeout(Some(WAIT)).unwrap();
    // 64-byte greeting, then READY: 2-byte header, 26-byte body naming PULL.
    let mut got = vec![0u8; 64 + 2 + 26];
    s.read_exact(&mut got).unwrap();
    assert_eq!(&got[..10], &GREETING_NULL[..10]);
    assert!(got[64..].windows(4).any(|w| w == b"PULL"));
    s
}

/// The socket still works for a well-behaved peer.
fn still_serves(rt: &Runtime, pull: &BlockingSocket, addr: &str) {
    let mut push =
        BlockingSocket::new(rt.next_shard(), SocketType::Push, Options::default()).unwrap();
    push.set_sndtimeo(Some(WAIT));
    push.connect(&format!("tcp://{addr}")).unwrap();
    push.send(Message::single("still here")).unwrap();
    assert_eq!(pull.recv().unwrap(), Message::single("still here"));
}

#[test]
fn malformed_greeting_is_closed() {
    let rt = Runtime::new(Config::default()).unwrap();
    let (pull, addr) = pull_server(&rt, Options::default());
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    expect_closed(&mut s);
    wait_for_log("legacy ZMTP 1.x peer refused");
    still_serves(&rt, &pull, &addr);
}

#[test]
fn legacy_zmtp2_peer_is_closed() {
    let rt = Runtime::new(Config::default()).unwrap();
    let (pull, addr) = pull_server(&rt, Options::default());
    let mut s = TcpStream::connect(&addr).unwrap();
    let mut g = GREETING_NULL;
    g[10] = 1; // ZMTP 2.0 revision byte
    s.write_all(&g[..11]).unwrap();
    expect_closed(&mut s);
    wait_for_log("legacy ZMTP 2.x peer refused");
    still_serves(&rt, &pull, &addr);
}

#[test]
fn reserved_flag_bit_is_closed_and_earlier_messages_kept() {
    let rt = Runtime::new(Config::default()).unwrap();
    let (pull, addr) = pull_server(&rt, Options::default());
    let mut s = handshaken_push(&addr);
    s.write_all(b"\x00\x05hello").unwrap();
    s.write_all(b"\x40\x01x").unwrap();
    expect_closed(&mut s);
    wait_for_log("reserved frame flag bits set: 0x40");
    // The message accepted before the bad frame is not lost.
    assert_eq!(pull.recv().unwrap(), Message::single("hello"));
    still_serves(&rt, &pull, &addr);
}

#[test]
fn bad_frame_in_the_same_read_keeps_the_messages_before_it() {
    let rt = Runtime::new(Config::default()).unwrap();
    let (pull, addr) = pull_server(&rt, Options::default());
    let mut s = handshaken_push(&addr);
    // One write, so one read holds both: the good message must still be delivered.
    s.write_all(b"\x00\x05hello\x00\x05world\x40\x01x").unwrap();
    expect_closed(&mut s);
    assert_eq!(pull.recv().unwrap(), Message::single("hello"));
    assert_eq!(pull.recv().unwrap(), Message::single("world"));
    still_serves(&rt, &pull, &addr);
}

#[test]
fn frame_above_max_msg_size_is_closed() {
    let rt = Runtime::new(Config::default()).unwrap();
    let options = Options {
        max_msg_size: Some(1000),
        ..Options::default()
    };
    let (pull, addr) = pull_server(&rt, options);
    let mut s = handshaken_push(&addr);
    // Announces 2^40 bytes: refused on the header alone, nothing allocated for it.
    s.write_all(&[0x02, 0, 0, 1, 0, 0, 0, 0, 0]).unwrap();
    expect_closed(&mut s);
    wait_for_log("frame of 1099511627776 bytes exceeds the limit of 1000");
    still_serves(&rt, &pull, &addr);
}

#[test]
fn incompatible_socket_type_gets_error_command() {
    let rt = Runtime::new(Config::default()).unwrap();
    let (pull, addr) = pull_server(&rt, Options::default());
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(&GREETING_NULL).unwrap();
    s.write_all(&ready("PUB")).unwrap();
    let seen = expect_closed(&mut s);
    assert!(
        seen.windows(5).any(|w| w == b"ERROR"),
        "an ERROR command before the close"
    );
    wait_for_log("socket type PUB may not connect to PULL");
    still_serves(&rt, &pull, &addr);
}

#[test]
fn stalled_handshake_times_out() {
    let rt = Runtime::new(Config::default()).unwrap();
    let options = Options {
        handshake_timeout: Some(Duration::from_millis(300)),
        ..Options::default()
    };
    let (pull, addr) = pull_server(&rt, options);
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(&GREETING_NULL[..20]).unwrap();
    expect_closed(&mut s);
    wait_for_log("handshake did not finish within the handshake timeout");
    still_serves(&rt, &pull, &addr);
}

#[test]
fn message_before_ready_is_closed() {
    let rt = Runtime::new(Config::default()).unwrap();
    let (pull, addr) = pull_server(&rt, Options::default());
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(&GREETING_NULL).unwrap();
    s.write_all(b"\x00\x03abc").unwrap();
    expect_closed(&mut s);
    wait_for_log("unexpected message frame during the handshake");
    still_serves(&rt, &pull, &addr);
}
