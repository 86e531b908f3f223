//! Floods of unauthenticated connections do not lock real peers out (CVE-2020-15166's class:
//! a raw TCP peer that never authenticates stalling delivery to legitimate clients).
//!
//! Peers still in the handshake have their own budget (`max_handshakes`, the oldest closed when a
//! new one arrives at the limit) and a greeting deadline shorter than the handshake's;
//! `max_connections` counts established peers only. Each test prints how long the real peer
//! waited (a figure for the report, not an assertion: the assertion is that it is served).

mod support;

use support::WAIT;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use ringmq::{generate_keypair, BlockingSocket, Config, Message, Options, Runtime, SocketType};

const IDLE: usize = 1500;

fn idle_connections(addr: &str, count: usize) -> Vec<TcpStream> {
    (0..count)
        .map(|_| TcpStream::connect(addr).expect("connect an idle peer"))
        .collect()
}

fn served_during_a_flood(server: Options, client: Options, what: &str) {
    // A listen backlog deep enough that opening the flood itself does not overflow it (a full
    // accept queue drops SYNs, and each drop costs the connecting side a 1 s retransmit): what
    // is under test is the handshake budget, not the kernel's queue.
    let server = Options {
        backlog: 4096,
        ..server
    };
    let rt = Runtime::new(Config::default()).expect("runtime");
    let pull = BlockingSocket::new(rt.next_shard(), SocketType::Pull, server).expect("pull");
    let endpoint = pull.bind("tcp://127.0.0.1:0").expect("bind");
    let addr = endpoint.trim_start_matches("tcp://").to_owned();
    let t0 = Instant::now();
    let idle = idle_connections(&addr, IDLE);
    eprintln!(
        "{what}: {IDLE} idle connections opened in {:?}",
        t0.elapsed()
    );
    let push = BlockingSocket::new(rt.next_shard(), SocketType::Push, client).expect("push");
    let start = Instant::now();
    push.connect(&endpoint).expect("connect");
    push.send(Message::single("real")).expect("send");
    let msg = pull.recv_timeout(WAIT).unwrap_or_else(|e| {
        panic!("{what}: a real peer locked out by {IDLE} idle connections: {e}")
    });
    assert_eq!(msg.frames()[0], "real");
    eprintln!(
        "{what}: served {:?} after connecting, with {IDLE} idle connections open",
        start.elapsed()
    );
    drop(idle);
    let t1 = Instant::now();
    drop((push, pull, rt));
    eprintln!("{what}: closed in {:?}", t1.elapsed());
}

#[test]
fn idle_connections_do_not_lock_out_a_null_peer() {
    served_during_a_flood(Options::default(), Options::default(), "NULL");
}

#[test]
fn idle_connections_do_not_lock_out_a_curve_peer() {
    let server_keys = generate_keypair().expect("keys");
    let client_keys = generate_keypair().expect("keys");
    let server_public = server_keys.public;
    served_during_a_flood(
        Options::default().curve_server(server_keys),
        Options::default().curve_client(client_keys, server_public),
        "CURVE",
    );
}

#[test]
fn max_connections_counts_established_peers_only() {
    let rt = Runtime::new(Config::default()).expect("runtime");
    let server = Options {
        max_connections: 2,
        ..Options::default()
    };
    let pull = BlockingSocket::new(rt.next_shard(), SocketType::Pull, server).expect("pull");
    let endpoint = pull.bind("tcp://127.0.0.1:0").expect("bind");
    let addr = endpoint.trim_start_matches("tcp://").to_owned();
    // More idle connections than max_connections: they do not use it up.
    let _idle = idle_connections(&addr, 10);
    let mut pushes = Vec::new();
    for i in 0..3 {
        let push = BlockingSocket::new(rt.next_shard(), SocketType::Push, Options::default())
            .expect("push");
        push.connect(&endpoint).expect("connect");
        push.send(Message::single(format!("{i}"))).expect("send");
        pushes.push(push);
    }
    let mut got: Vec<String> = (0..2)
        .map(|_| {
            let m = pull
                .recv_timeout(WAIT)
                .expect("two established peers are served");
            String::from_utf8(m.frames()[0].to_vec()).expect("utf-8")
        })
        .collect();
    got.sort();
    assert_eq!(got.len(), 2);
    // The third peer is refused at its handshake's end while two are established.
    assert!(pull.recv_timeout(Duration::from_millis(500)).is_err());
}
