//! Regression tests named after libzmq's CVE classes, each asserting that ringmq is not affected.
//!
//! | test | CVE | class |
//! |---|---|---|
//! | `cve_2014_7202_and_9721_zmtp_downgrade_refused` | CVE-2014-7202, CVE-2014-9721 | a peer downgrading to an older ZMTP revision |
//! | `cve_2014_9721_mechanism_downgrade_refused` | CVE-2014-9721 | a peer downgrading to a weaker mechanism (NULL against CURVE) |
//! | `cve_2014_7203_curve_nonce_replay_refused` | CVE-2014-7203 | CURVE MESSAGE replay and nonce reuse |
//! | `cve_2019_6250_frame_size_overflow_refused` | CVE-2019-6250 | frame-size arithmetic overflow in the decoder |
//! | `cve_2019_13132_oversized_curve_commands_from_unauthenticated_peers` | CVE-2019-13132 | a CURVE server's buffer overflowed by an unauthenticated client |
//! | `cve_2020_15166_unauthenticated_peers_do_not_stall_real_ones` | CVE-2020-15166 | raw TCP peers that never authenticate stalling delivery |
//! | `cve_2021_20235_messages_across_read_buffer_boundaries` | CVE-2021-20235 | decoder buffer sized differently from what it holds |
//! | `cve_2021_20234_malicious_servers_leak_nothing` | CVE-2021-20234 | memory leaked to malicious servers through pipes |
//! | `cve_2021_20236_and_20237_subscription_churn_is_bounded` | CVE-2021-20236, CVE-2021-20237 | crafted subscriptions growing XPUB and trie memory |

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use ringmq::{generate_keypair, Message, Options, SocketType};
use ringmq_transports::connection::TransmitBuf;
use ringmq_transports::{Connection, ConnectionConfig, Event, Mechanism};
use support::{
    expect_closed, ready, runtime, socket, socket_with, wait_until, GREETING_NULL, WAIT,
};

/// A raw tcp peer of `endpoint` (`tcp://host:port`).
fn raw(endpoint: &str) -> TcpStream {
    let s = TcpStream::connect(endpoint.trim_start_matches("tcp://")).expect("connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

/// A NULL PUSH peer that completed its handshake over a raw socket.
fn handshaken_push(endpoint: &str) -> TcpStream {
    let mut s = raw(endpoint);
    s.write_all(&GREETING_NULL).unwrap();
    s.write_all(&ready("PUSH")).unwrap();
    let mut got = vec![0u8; 64 + 2 + 26];
    s.read_exact(&mut got).unwrap();
    s
}

/// A CURVE server PULL bound on tcp: its keys, the socket and its endpoint.
fn curve_pull(rt: &ringmq::Runtime) -> (ringmq::KeyPair, ringmq::BlockingSocket, String) {
    let server = generate_keypair().unwrap();
    let pull = socket_with(
        rt,
        SocketType::Pull,
        Options::default().curve_server(server.clone()),
    );
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
    (server, pull, ep)
}

/// A CURVE client PUSH (fresh keys) of the server whose public key is `server_key`.
fn curve_push(rt: &ringmq::Runtime, server_key: ringmq::PublicKey) -> ringmq::BlockingSocket {
    socket_with(
        rt,
        SocketType::Push,
        Options::default().curve_client(generate_keypair().unwrap(), server_key),
    )
}

/// The socket still serves a well-behaved ringmq peer.
fn still_serves(rt: &ringmq::Runtime, pull: &ringmq::BlockingSocket, endpoint: &str) {
    let push = socket(rt, SocketType::Push);
    push.connect(endpoint).unwrap();
    push.send(Message::single("still here")).unwrap();
    assert_eq!(pull.recv().unwrap(), Message::single("still here"));
}

#[test]
fn cve_2014_7202_and_9721_zmtp_downgrade_refused() {
    let rt = runtime(1);
    let pull = socket(&rt, SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
    for revision in [0u8, 1, 2] {
        // ZMTP 1.0 (no revision byte: 0x00 flags), 2.0 (revision 1), and a major version 2.
        let mut s = raw(&ep);
        let mut g = GREETING_NULL;
        g[10] = revision;
        let _ = s.write_all(&g[..11]);
        expect_closed(&mut s);
    }
    still_serves(&rt, &pull, &ep);
}

#[test]
fn cve_2014_9721_mechanism_downgrade_refused() {
    let rt = runtime(1);
    let (server, pull, ep) = curve_pull(&rt);
    // A NULL peer against a CURVE server: refused in the greeting, nothing delivered.
    let mut s = raw(&ep);
    // The server may hang up as soon as it has read the greeting.
    let _ = s
        .write_all(&GREETING_NULL)
        .and_then(|_| s.write_all(&ready("PUSH")))
        .and_then(|_| s.write_all(b"\x00\x05plain"));
    expect_closed(&mut s);
    assert!(pull.recv_timeout(Duration::from_millis(200)).is_err());
    // A ringmq NULL client gets nothing through either.
    let null = socket_with(
        &rt,
        SocketType::Push,
        Options {
            linger: Some(Duration::ZERO),
            ..Options::default()
        },
    );
    null.connect(&ep).unwrap();
    null.send(Message::single("downgraded")).unwrap();
    assert!(pull.recv_timeout(Duration::from_millis(300)).is_err());
    // A CURVE client is served.
    let client = curve_push(&rt, server.public);
    client.connect(&ep).unwrap();
    client.send(Message::single("secure")).unwrap();
    assert_eq!(pull.recv().unwrap(), Message::single("secure"));
}

/// Drive two sans-IO connections to the end of their handshake.
fn handshake(client: &mut Connection, server: &mut Connection) {
    let now = Instant::now();
    fn pass(from: &mut Connection, to: &mut Connection, now: Instant) {
        let mut out = TransmitBuf::new();
        from.poll_transmit(&mut out);
        let mut bytes = bytes::BytesMut::new();
        for chunk in out.take() {
            bytes.extend_from_slice(&chunk);
        }
        to.handle_input(now, &mut bytes).expect("handshake input");
        while let Some(event) = to.poll_event() {
            if let Event::Authenticate(_) = event {
                to.accept_peer(now).expect("accept");
            }
        }
    }
    for _ in 0..20 {
        pass(client, server, now);
        pass(server, client, now);
        if client.is_ready() && server.is_ready() {
            return;
        }
    }
    panic!("the handshake did not finish");
}

#[test]
fn cve_2014_7203_curve_nonce_replay_refused() {
    let now = Instant::now();
    let server_keys = generate_keypair().unwrap();
    let random: ringmq_transports::curve::Random = std::sync::Arc::new(|buf: &mut [u8]| {
        getrandom::fill(buf).expect("OS randomness");
    });
    let mut server_cfg = ConnectionConfig::new(ringmq_transports::SocketType::Pull);
    server_cfg.mechanism = Mechanism::CurveServer {
        keys: server_keys.clone(),
    };
    server_cfg.random = Some(random.clone());
    let mut client_cfg = ConnectionConfig::new(ringmq_transports::SocketType::Push);
    client_cfg.mechanism = Mechanism::CurveClient {
        keys: generate_keypair().unwrap(),
        server_key: server_keys.public,
    };
    client_cfg.random = Some(random);
    let mut client = Connection::new(client_cfg, now);
    let mut server = Connection::new(server_cfg, now);
    handshake(&mut client, &mut server);
    let mut out = TransmitBuf::new();
    client
        .encode_messages(&[Message::single("once")], &mut out)
        .unwrap();
    let sealed: Vec<u8> = out.take().concat();
    let mut first = bytes::BytesMut::from(&sealed[..]);
    server.handle_input(now, &mut first).unwrap();
    assert_eq!(
        server.poll_event(),
        Some(Event::Message(Message::single("once")))
    );
    // The same box again (replay: the same nonce) is refused and ends the connection.
    let mut replay = bytes::BytesMut::from(&sealed[..]);
    assert!(server.handle_input(now, &mut replay).is_err());
    assert_eq!(server.poll_event(), None, "nothing delivered twice");
}

#[test]
fn cve_2019_6250_frame_size_overflow_refused() {
    let rt = runtime(1);
    let pull = socket(&rt, SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
    // Sizes at and around the points where `size + header` or a signed cast overflows.
    for size in [
        u64::MAX,
        u64::MAX - 8,
        1 << 63,
        (1 << 63) - 1,
        i64::MAX as u64 + 9,
    ] {
        let mut s = handshaken_push(&ep);
        let mut frame = vec![0x02];
        frame.extend_from_slice(&size.to_be_bytes());
        frame.extend_from_slice(b"tail");
        let _ = s.write_all(&frame);
        expect_closed(&mut s);
    }
    still_serves(&rt, &pull, &ep);
}

#[test]
fn cve_2019_13132_oversized_curve_commands_from_unauthenticated_peers() {
    let rt = runtime(1);
    let (server, pull, ep) = curve_pull(&rt);
    let mut curve_greeting = GREETING_NULL;
    curve_greeting[12..32].fill(0);
    curve_greeting[12..17].copy_from_slice(b"CURVE");
    // A HELLO far above its 200 bytes, and an INITIATE-sized command with a huge metadata part,
    // both before any authentication.
    for (name, body_len) in [("HELLO", 70_000usize), ("INITIATE", 1 << 20)] {
        let mut s = raw(&ep);
        s.write_all(&curve_greeting).unwrap();
        let mut body = vec![name.len() as u8];
        body.extend_from_slice(name.as_bytes());
        body.resize(body_len, 0x41);
        let mut frame = vec![0x06];
        frame.extend_from_slice(&(body.len() as u64).to_be_bytes());
        frame.extend_from_slice(&body);
        // The server may close before reading it all.
        let _ = s.write_all(&frame);
        expect_closed(&mut s);
    }
    let client = curve_push(&rt, server.public);
    client.connect(&ep).unwrap();
    client.send(Message::single("after the attack")).unwrap();
    assert_eq!(pull.recv().unwrap(), Message::single("after the attack"));
}

#[test]
fn cve_2020_15166_unauthenticated_peers_do_not_stall_real_ones() {
    let rt = runtime(1);
    let options = Options {
        backlog: 4096,
        ..Options::default()
    };
    let pull = socket_with(&rt, SocketType::Pull, options);
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
    // More raw peers that never authenticate than the handshake budget holds; some half-way
    // (greeting only), some silent.
    let stalled: Vec<TcpStream> = (0..400)
        .map(|i| {
            let mut s = raw(&ep);
            if i % 2 == 0 {
                s.write_all(&GREETING_NULL).unwrap();
            }
            s
        })
        .collect();
    still_serves(&rt, &pull, &ep);
    drop(stalled);
}

#[test]
fn cve_2021_20235_messages_across_read_buffer_boundaries() {
    let rt = runtime(1);
    let pull = socket(&rt, SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
    let mut s = handshaken_push(&ep);
    let sizes = [
        0usize,
        1,
        255,
        256,
        65_535,
        65_536,
        65_537,
        131_072,
        1 << 20,
    ];
    let writer = {
        std::thread::spawn(move || {
            for (i, &size) in sizes.iter().enumerate() {
                let body: Vec<u8> = (0..size).map(|b| (b + i) as u8).collect();
                let mut frame = Vec::new();
                if size < 256 {
                    frame.extend_from_slice(&[0x00, size as u8]);
                } else {
                    frame.push(0x02);
                    frame.extend_from_slice(&(size as u64).to_be_bytes());
                }
                frame.extend_from_slice(&body);
                // Odd-sized writes, so frames straddle every read.
                for piece in frame.chunks(7_919) {
                    s.write_all(piece).unwrap();
                }
            }
            s
        })
    };
    for (i, &size) in sizes.iter().enumerate() {
        let m = pull.recv().unwrap();
        let body = &m.frames()[0];
        assert_eq!(body.len(), size);
        assert!(
            body.iter().enumerate().all(|(b, &v)| v == (b + i) as u8),
            "size {size}"
        );
    }
    drop(writer.join().unwrap());
}

/// Descriptors this process has open.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn cve_2021_20234_malicious_servers_leak_nothing() {
    let rt = runtime(1);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("tcp://{}", listener.local_addr().unwrap());
    let options = Options {
        reconnect_ivl: Duration::from_millis(1),
        linger: Some(Duration::ZERO),
        ..Options::default()
    };
    let push = socket_with(&rt, SocketType::Push, options);
    push.connect(&ep).unwrap();
    push.send(Message::single("queued for a real server"))
        .unwrap();
    // A malicious server: accept, send garbage or half a handshake, hang up; over and over.
    let baseline = open_fds();
    for i in 0..300 {
        let (mut s, _) = listener.accept().unwrap();
        match i % 3 {
            0 => {
                let _ = s.write_all(b"\xff garbage that is not ZMTP");
            }
            1 => {
                let _ = s.write_all(&GREETING_NULL);
            }
            _ => {}
        }
        drop(s);
    }
    // Every connection the client made was released: descriptors are back to where they were.
    wait_until("the client's failed connections to be released", || {
        open_fds() <= baseline + 2
    });
    drop(push);
}

#[test]
fn cve_2021_20236_and_20237_subscription_churn_is_bounded() {
    let rt = runtime(1);
    let publ = socket(&rt, SocketType::Pub);
    let ep = publ.bind("tcp://127.0.0.1:0").unwrap();
    let mut s = raw(&ep);
    s.write_all(&GREETING_NULL).unwrap();
    s.write_all(&ready("SUB")).unwrap();
    let mut got = vec![0u8; 64 + 2 + 25];
    s.read_exact(&mut got).unwrap();
    // Tens of thousands of distinct long topics subscribed and cancelled (ZMTP 3.1 commands),
    // then one real subscription: only it matches.
    let command = |name: &str, topic: &[u8]| {
        let mut body = vec![name.len() as u8];
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(topic);
        let mut frame = vec![0x06];
        frame.extend_from_slice(&(body.len() as u64).to_be_bytes());
        frame.extend_from_slice(&body);
        frame
    };
    let mut churn = Vec::new();
    for i in 0..20_000u32 {
        let topic = format!("{i:0>200}");
        churn.extend_from_slice(&command("SUBSCRIBE", topic.as_bytes()));
        churn.extend_from_slice(&command("CANCEL", topic.as_bytes()));
    }
    churn.extend_from_slice(&command("SUBSCRIBE", b"real"));
    s.write_all(&churn).unwrap();
    // Keep publishing until the subscription has arrived, then check only it matches.
    let deadline = Instant::now() + WAIT;
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    while !received.windows(6).any(|w| w == b"realok") {
        assert!(
            Instant::now() < deadline,
            "the real subscription never took effect"
        );
        publ.send(Message::single(format!("{:0>200}", 7))).unwrap();
        publ.send(Message::single("realok")).unwrap();
        if let Ok(n) = s.read(&mut buf) {
            received.extend_from_slice(&buf[..n]);
        }
    }
    assert!(
        !received.windows(10).any(|w| w == b"0000000007"),
        "a cancelled topic still matched"
    );
}
