//! Entry points for fuzz targets (`fuzz/`) and for the tests that replay their corpora.
//!
//! Each function takes arbitrary bytes and must never panic, loop forever or allocate beyond the
//! configured limits, whatever the bytes are.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::connection::{Connection, ConnectionConfig, Event, Mechanism, TransmitBuf};
use crate::curve::Random;
use crate::frame::FrameDecoder;
use crate::keys::KeyPair;
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

/// Socket types the secure-handshake targets pick from (the low six bits of their first byte,
/// modulo the length): ROUTER first, DEALER second, so the seeds read naturally.
const SECURE_SOCKET_TYPES: [SocketType; 11] = [
    SocketType::Router,
    SocketType::Dealer,
    SocketType::Rep,
    SocketType::Req,
    SocketType::Pub,
    SocketType::Sub,
    SocketType::XPub,
    SocketType::XSub,
    SocketType::Push,
    SocketType::Pull,
    SocketType::Pair,
];

/// First-byte flag of the secure-handshake targets: answer `Event::Authenticate` with
/// `reject_peer` instead of `accept_peer`.
const REJECT: u8 = 0x80;
/// First-byte flag of the secure-handshake targets: fire the last timeout after the handshake
/// timeout instead of before it.
const LATE_TIMEOUT: u8 = 0x40;

/// The secret key of the CURVE server the targets run; `make_seeds.py` derives its public key.
const CURVE_SERVER_SECRET: [u8; 32] = [0x53; 32];
/// The secret key of the CURVE client the targets run.
const CURVE_CLIENT_SECRET: [u8; 32] = [0x43; 32];

/// Key pairs derived once: X25519 is real even under the fuzzing provider, and slow.
fn curve_keys() -> &'static (KeyPair, KeyPair) {
    static KEYS: OnceLock<(KeyPair, KeyPair)> = OnceLock::new();
    KEYS.get_or_init(|| {
        (
            KeyPair::from_random(CURVE_SERVER_SECRET),
            KeyPair::from_random(CURVE_CLIENT_SECRET),
        )
    })
}

/// A fresh deterministic "random" source: 0, 1, 2, ... wrapping. `make_seeds.py` relies on it: a
/// CURVE server's transient secret is bytes 0..32, its cookie key 32..64, the cookie nonce 64..80.
fn counter_random() -> Random {
    let next = AtomicU8::new(0);
    Arc::new(move |buf: &mut [u8]| {
        for b in buf.iter_mut() {
            *b = next.fetch_add(1, Ordering::Relaxed);
        }
    })
}

/// Feed `data` as a CURVE client's greeting, HELLO, INITIATE and traffic to a CURVE server.
///
/// Layout: `[choices] [split] peer bytes...`. The low six bits of `choices` pick the socket type
/// (ROUTER, DEALER, REP, REQ, PUB, SUB, XPUB, XSUB, PUSH, PULL, PAIR, modulo 11); bit 7 rejects
/// the client at `Event::Authenticate` instead of accepting it; bit 6 fires the final timeout past
/// the handshake timeout. A split of 0 counts as 1.
pub fn curve_server_handshake(data: &[u8]) {
    let (server, _) = curve_keys();
    secure_handshake(
        Mechanism::CurveServer {
            keys: server.clone(),
        },
        data,
    );
}

/// Feed `data` as a CURVE server's greeting, WELCOME, READY and traffic to a CURVE client that
/// expects the server key of [`curve_server_handshake`]. Layout as there.
pub fn curve_client_handshake(data: &[u8]) {
    let (server, client) = curve_keys();
    secure_handshake(
        Mechanism::CurveClient {
            keys: client.clone(),
            server_key: server.public,
        },
        data,
    );
}

/// Feed `data` as a PLAIN client's greeting, HELLO, INITIATE and traffic to a PLAIN server.
/// Layout as [`curve_server_handshake`].
pub fn plain_server_handshake(data: &[u8]) {
    secure_handshake(Mechanism::PlainServer, data);
}

/// Drive one connection running `mechanism` with the peer bytes in `data` (layout in
/// [`curve_server_handshake`]). Returns whether the handshake completed (even if the connection
/// failed afterwards).
fn secure_handshake(mechanism: Mechanism, data: &[u8]) -> bool {
    let [choices, split, rest @ ..] = data else {
        return false;
    };
    let socket_type = SECURE_SOCKET_TYPES[usize::from(choices & 0x3f) % SECURE_SOCKET_TYPES.len()];
    let now = Instant::now();
    let mut config = ConnectionConfig::new(socket_type);
    config.mechanism = mechanism;
    config.random = Some(counter_random());
    config.max_msg_size = Some(64 * 1024);
    config.handshake_timeout = Some(Duration::from_secs(10));
    config.heartbeat_ivl = Some(Duration::from_secs(1));
    let mut conn = Connection::new(config, now);
    let mut buf = BytesMut::new();
    let mut out = TransmitBuf::new();
    let reject = choices & REJECT != 0;
    let mut completed = false;
    for piece in rest.chunks(usize::from(*split).max(1)) {
        buf.extend_from_slice(piece);
        if !feed(&mut conn, now, &mut buf, &mut out, reject, &mut completed) {
            return completed;
        }
    }
    let timeout = if choices & LATE_TIMEOUT != 0 { 20 } else { 5 };
    let _ = conn.handle_timeout(now + Duration::from_secs(timeout));
    conn.poll_transmit(&mut out);
    completed
}

/// Hand `buf` to `conn` and drain its events, answering `Event::Authenticate`; after an accept,
/// hand it the rest of `buf` (it waited for the decision). Sets `completed` on
/// `Event::HandshakeSucceeded`. Returns false once `conn` has failed.
fn feed(
    conn: &mut Connection,
    now: Instant,
    buf: &mut BytesMut,
    out: &mut TransmitBuf,
    reject: bool,
    completed: &mut bool,
) -> bool {
    loop {
        let mut alive = conn.handle_input(now, buf).is_ok();
        let mut accepted = false;
        while let Some(event) = conn.poll_event() {
            match event {
                Event::Authenticate(_) if reject => {
                    let _ = conn.reject_peer("denied by the fuzz target");
                    alive = false;
                }
                Event::Authenticate(_) => {
                    alive = alive && conn.accept_peer(now).is_ok();
                    accepted = true;
                }
                Event::HandshakeSucceeded { .. } => *completed = true,
                _ => {}
            }
        }
        conn.poll_transmit(out);
        if conn.is_ready() {
            let _ = conn.encode_message(&crate::Message::from_frames(["x", "yz"]), out);
            let _ = conn.encode_subscription(b"topic", true, out);
        }
        let _ = out.take();
        // An Authenticate is emitted at most once per handshake, so this loops at most twice.
        if !alive || !accepted {
            return alive;
        }
    }
}

/// One end of [`connection_pair`]: the machine, bytes it received not yet consumed, and what it
/// delivered.
struct End {
    conn: Connection,
    inbound: BytesMut,
    delivered: Vec<crate::Message>,
    failed: bool,
    error: Option<crate::ProtocolError>,
}

impl End {
    fn new(config: ConnectionConfig, now: Instant) -> End {
        End {
            conn: Connection::new(config, now),
            inbound: BytesMut::new(),
            delivered: Vec::new(),
            failed: false,
            error: None,
        }
    }

    /// Feed what arrived; drain events (accepting any peer that asks to be authenticated).
    fn pump(&mut self, now: Instant) {
        if self.failed {
            return;
        }
        loop {
            if let Err(e) = self.conn.handle_input(now, &mut self.inbound) {
                self.failed = true;
                self.error = Some(e);
                return;
            }
            let mut accepted = false;
            while let Some(event) = self.conn.poll_event() {
                match event {
                    Event::Message(m) => self.delivered.push(m),
                    Event::Authenticate(_) => {
                        if self.conn.accept_peer(now).is_err() {
                            self.failed = true;
                            return;
                        }
                        accepted = true;
                    }
                    _ => {}
                }
            }
            // After an accept the machine takes the input it held back.
            if !accepted {
                return;
            }
        }
    }

    fn transmit(&mut self) -> Vec<u8> {
        let mut out = TransmitBuf::new();
        self.conn.poll_transmit(&mut out);
        out.take().iter().flat_map(|b| b.iter().copied()).collect()
    }
}

/// A whole client/server `Connection` pair (NULL, PLAIN or CURVE) driven by `data` as a schedule:
/// which way bytes move and in what chunks, when timers fire, when messages are sent, and whether
/// a byte is corrupted in transit. Invariants: nothing panics; without corruption and without a
/// timer firing past a deadline, the handshake completes and every message sent once the client
/// is ready arrives whole and in order.
///
/// Layout: `[mechanism] ops...`; each op is two bytes `[code, arg]`: `code % 5` is 0 move `arg`
/// bytes client to server, 1 server to client, 2 advance the clock by `arg` ms and fire both
/// timers, 3 send a message of `arg` bytes from the client, 4 flip bit `arg % 8` of the next byte
/// moving either way.
pub fn connection_pair(data: &[u8]) {
    let _ = checked_connection_pair(data);
}

/// [`connection_pair`]; returns how many delivered messages were checked (`None`: the schedule
/// corrupted bytes or fired timers late, so only the no-panic invariant applied).
fn checked_connection_pair(data: &[u8]) -> Option<usize> {
    let (&mechanism, ops) = data.split_first()?;
    let (server_keys, client_keys) = curve_keys();
    let (server_mechanism, client_mechanism) = match mechanism % 3 {
        0 => (Mechanism::Null, Mechanism::Null),
        1 => (
            Mechanism::PlainServer,
            Mechanism::PlainClient {
                username: "user".into(),
                password: zeroize::Zeroizing::new("secret".into()),
            },
        ),
        _ => (
            Mechanism::CurveServer {
                keys: server_keys.clone(),
            },
            Mechanism::CurveClient {
                keys: client_keys.clone(),
                server_key: server_keys.public,
            },
        ),
    };
    let start = Instant::now();
    let mut now = start;
    let config = |socket_type, mechanism| {
        let mut c = ConnectionConfig::new(socket_type);
        c.mechanism = mechanism;
        c.random = Some(counter_random());
        c.max_msg_size = Some(64 * 1024);
        c.handshake_timeout = Some(Duration::from_secs(10));
        c.heartbeat_ivl = Some(Duration::from_secs(1));
        c
    };
    let mut server = End::new(config(SocketType::Pull, server_mechanism), now);
    let mut client = End::new(config(SocketType::Push, client_mechanism), now);
    let mut to_server: Vec<u8> = Vec::new();
    let mut to_client: Vec<u8> = Vec::new();
    let mut corrupt: Option<u8> = None;
    let mut corrupted = false;
    let mut timers_fired = false;
    let mut sent: Vec<crate::Message> = Vec::new();
    let move_bytes = |from: &mut End,
                      queue: &mut Vec<u8>,
                      to: &mut End,
                      n: usize,
                      now: Instant,
                      corrupt: &mut Option<u8>,
                      corrupted: &mut bool| {
        queue.extend(from.transmit());
        let n = n.min(queue.len());
        let mut chunk: Vec<u8> = queue.drain(..n).collect();
        if let (Some(bit), Some(first)) = (corrupt.take(), chunk.first_mut()) {
            *first ^= 1 << (bit % 8);
            *corrupted = true;
        }
        to.inbound.extend_from_slice(&chunk);
        to.pump(now);
    };
    for op in ops.chunks_exact(2) {
        let (code, arg) = (op[0] % 5, op[1]);
        match code {
            0 => move_bytes(
                &mut client,
                &mut to_server,
                &mut server,
                usize::from(arg),
                now,
                &mut corrupt,
                &mut corrupted,
            ),
            1 => move_bytes(
                &mut server,
                &mut to_client,
                &mut client,
                usize::from(arg),
                now,
                &mut corrupt,
                &mut corrupted,
            ),
            2 => {
                now += Duration::from_millis(u64::from(arg));
                timers_fired = true;
                for end in [&mut client, &mut server] {
                    if !end.failed && end.conn.handle_timeout(now).is_err() {
                        end.failed = true;
                    }
                }
            }
            3 => {
                if client.conn.is_ready() && !client.failed {
                    let msg = crate::Message::from_frames([
                        vec![arg; usize::from(arg)],
                        sent.len().to_be_bytes().to_vec(),
                    ]);
                    // What the machine still has to say (its READY) goes first, as the
                    // engine's driver does it.
                    to_server.extend(client.transmit());
                    let mut out = TransmitBuf::new();
                    if client.conn.encode_message(&msg, &mut out).is_ok() {
                        to_server.extend(out.take().iter().flat_map(|b| b.iter().copied()));
                        sent.push(msg);
                    }
                }
            }
            _ => corrupt = Some(arg),
        }
    }
    // Let everything still queued through, untouched, at the same instant.
    for _ in 0..8 {
        move_bytes(
            &mut client,
            &mut to_server,
            &mut server,
            usize::MAX,
            now,
            &mut None,
            &mut corrupted,
        );
        move_bytes(
            &mut server,
            &mut to_client,
            &mut client,
            usize::MAX,
            now,
            &mut None,
            &mut corrupted,
        );
    }
    let late = now.duration_since(start) >= Duration::from_secs(1);
    if corrupted || (timers_fired && late) {
        return None;
    }
    assert!(
        !client.failed && !server.failed,
        "a clean exchange failed: client {:?}, server {:?}",
        client.error,
        server.error
    );
    assert!(
        client.conn.is_ready() && server.conn.is_ready(),
        "the handshake did not complete"
    );
    assert_eq!(server.delivered, sent, "every message, whole and in order");
    Some(sent.len())
}

/// Z85 (RFC 32): arbitrary text decodes or is refused; what decodes encodes back to the same
/// text; and arbitrary bytes of a multiple-of-4 length round-trip.
pub fn z85(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(bytes) = crate::z85::decode(text) {
            assert_eq!(
                crate::z85::encode(&bytes).as_deref(),
                Some(text),
                "decode then encode changed the text"
            );
        }
    }
    let whole = &data[..data.len() / 4 * 4];
    let text = crate::z85::encode(whole).expect("a multiple of 4 bytes encodes");
    assert_eq!(crate::z85::decode(&text).as_deref(), Some(whole));
}

/// Endpoint strings: any text parses or is refused, never panics.
pub fn endpoint(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::endpoint::Endpoint::parse(text);
    }
}

/// Frames of a message, split at each 0xff byte of `data`.
fn frames_of(data: &[u8]) -> crate::Message {
    crate::Message::from_frames(
        data.split(|&b| b == 0xff)
            .map(bytes::Bytes::copy_from_slice)
            .collect::<Vec<_>>(),
    )
}

/// ZAP (RFC 27): arbitrary multipart messages parse as a request or a reply, or are refused;
/// what parses re-encodes to a message that parses to the same value.
pub fn zap(data: &[u8]) {
    let msg = frames_of(data);
    if let Ok(request) = crate::zap::ZapRequest::parse(&msg) {
        let again = crate::zap::ZapRequest::parse(&request.to_message()).expect("re-parses");
        assert!(again == request, "a ZAP request changed in a round trip");
    }
    if let Ok(reply) = crate::zap::ZapReply::parse(&msg) {
        let again = crate::zap::ZapReply::parse(&reply.to_message()).expect("re-parses");
        assert_eq!(again, reply);
    }
}

/// ZMTP metadata: arbitrary bytes decode or are refused; what decodes re-encodes to bytes that
/// decode to the same properties.
pub fn metadata(data: &[u8]) {
    let bytes = bytes::Bytes::copy_from_slice(data);
    if let Ok(meta) = crate::metadata::Metadata::decode(&bytes) {
        let mut out = Vec::new();
        meta.encode(&mut out);
        assert_eq!(out.len(), meta.encoded_len());
        let again =
            crate::metadata::Metadata::decode(&bytes::Bytes::from(out)).expect("re-decodes");
        assert!(again == meta, "metadata changed in a round trip");
    }
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
        // CURVE: a HELLO from transient key [7; 32], boxed for the fuzzing provider (zero MAC).
        let mut curve = vec![0u8, 50];
        curve.extend_from_slice(&Greeting::new("CURVE", false).encode());
        curve.extend_from_slice(b"\x04\xc8\x05HELLO\x01\x00");
        curve.extend_from_slice(&[0; 72]);
        curve.extend_from_slice(&[7; 32]);
        curve.extend_from_slice(&1u64.to_be_bytes());
        curve.extend_from_slice(&[0; 80]);
        vec![
            vec![],
            vec![1, 0, 5, b'h', b'e', b'l', b'l', b'o'],
            vec![3, 2, 0, 0, 0, 0, 0, 0, 0, 0xff],
            hello,
            bad,
            vec![0xff; 300],
            plain_seed(),
            curve,
        ]
    }

    /// PLAIN, as in fuzz/make_seeds.py: a ROUTER server, a DEALER client sending HELLO with user
    /// "admin" and password "secret", INITIATE, then one message.
    fn plain_seed() -> Vec<u8> {
        let mut plain = vec![0u8, 9];
        plain.extend_from_slice(&Greeting::new("PLAIN", false).encode());
        plain.extend_from_slice(b"\x04\x13\x05HELLO\x05admin\x06secret");
        plain.extend_from_slice(b"\x04\x1f\x08INITIATE\x0bSocket-Type\x00\x00\x00\x06DEALER");
        plain.extend_from_slice(b"\x00\x03abc");
        plain
    }

    /// The corpus directories under fuzz/corpus/, one per target.
    const CORPORA: [&str; 10] = [
        "frame_decoder",
        "null_handshake",
        "curve_server",
        "curve_client",
        "plain_server",
        "z85",
        "endpoint",
        "zap",
        "metadata",
        "connection_pair",
    ];

    fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/").to_owned() + target;
        let Ok(entries) = std::fs::read_dir(path) else {
            return Vec::new();
        };
        let mut files: Vec<(String, Vec<u8>)> = entries
            .flatten()
            .filter_map(|e| {
                let bytes = std::fs::read(e.path()).ok()?;
                Some((e.file_name().to_string_lossy().into_owned(), bytes))
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn seeds_and_corpus_do_not_panic() {
        let mut inputs = seeds();
        // Replay the checked-in corpora too, through every entry point, so fuzz findings stay
        // fixed. In this (non-fuzzing) build the CURVE boxes fail their MACs: real crypto.
        for target in CORPORA {
            inputs.extend(corpus(target).into_iter().map(|(_, bytes)| bytes));
        }
        for input in &inputs {
            frame_decoder(input);
            null_handshake(input);
            curve_server_handshake(input);
            curve_client_handshake(input);
            plain_server_handshake(input);
            z85(input);
            endpoint(input);
            zap(input);
            metadata(input);
            connection_pair(input);
        }
    }

    /// Found by the fuzzer: a clean NULL schedule in small chunks.
    #[test]
    fn regression_clean_null_schedule() {
        let input = [
            0xff, 0x00, 0xfd, 0x37, 0xfd, 0xff, 0x0e, 0x01, 0x01, 0x00, 0x03, 0x01, 0xfe, 0xff,
            0xff, 0xff, 0xff, 0x00, 0xff, 0x01, 0xff, 0x03, 0x0a, 0xfd, 0x00,
        ];
        connection_pair(&input);
    }

    /// A clean schedule: the whole handshake and three messages, for each mechanism.
    #[test]
    fn a_clean_connection_pair_delivers_everything() {
        for mechanism in 0..3u8 {
            let mut schedule = vec![mechanism];
            for _ in 0..6 {
                schedule.extend_from_slice(&[0, 255, 1, 255]);
            }
            schedule.extend_from_slice(&[3, 10, 3, 0, 3, 200, 0, 7, 0, 255]);
            assert_eq!(
                checked_connection_pair(&schedule),
                Some(3),
                "mechanism {mechanism}"
            );
        }
    }

    /// The seeds that `make_seeds.py` names `*-ready` get through the whole handshake, so the
    /// fuzzer starts past it. The CURVE ones only under the fuzzing crypto provider: run
    /// `RUSTFLAGS="--cfg fuzzing" cargo test -p ringmq-transports --lib fuzzing` (with a separate
    /// `--target-dir`, to keep the normal build's cache).
    #[test]
    fn ready_seeds_finish_the_handshake() {
        let targets: &[&str] = if cfg!(fuzzing) {
            &["plain_server", "curve_server", "curve_client"]
        } else {
            &["plain_server"]
        };
        assert!(secure_handshake(Mechanism::PlainServer, &plain_seed()));
        let mut checked = 0;
        for &target in targets {
            for (name, bytes) in corpus(target) {
                if name.ends_with("-ready") {
                    let (server, client) = curve_keys();
                    let mechanism = match target {
                        "curve_server" => Mechanism::CurveServer {
                            keys: server.clone(),
                        },
                        "curve_client" => Mechanism::CurveClient {
                            keys: client.clone(),
                            server_key: server.public,
                        },
                        _ => Mechanism::PlainServer,
                    };
                    assert!(secure_handshake(mechanism, &bytes), "{target}/{name}");
                    checked += 1;
                }
            }
        }
        assert!(checked >= targets.len(), "only {checked} ready seeds found");
    }
}
