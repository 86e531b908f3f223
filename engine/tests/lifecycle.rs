//! `disconnect` / `unbind` on every API and transport, the per-socket counters, and
//! `Runtime::shutdown`'s report.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use ringmq::{
    AsyncSocket, BlockingSocket, Config, ErrorKind, Message, Options, Runtime, ShardId, Socket,
    SocketType,
};
use support::{runtime, socket, socket_with, wait_until, WAIT};

fn numbered(i: u32) -> Message {
    Message::single(i.to_be_bytes().to_vec())
}

fn number(m: &Message) -> u32 {
    u32::from_be_bytes(m.frames()[0][..].try_into().unwrap())
}

fn endpoints(transport: &str, tag: &str) -> String {
    match transport {
        "tcp" => "tcp://127.0.0.1:0".into(),
        "ipc" => format!(
            "ipc:///tmp/ringmq-lifecycle-{}-{tag}.sock",
            std::process::id()
        ),
        _ => format!("inproc://lifecycle-{tag}"),
    }
}

#[test]
fn disconnect_sends_what_was_queued_then_routes_to_the_others() {
    for transport in ["tcp", "ipc", "inproc"] {
        let rt = runtime(2);
        let a = socket(&rt, SocketType::Pull);
        let b = socket(&rt, SocketType::Pull);
        let ea = a.bind(&endpoints(transport, "dis-a")).unwrap();
        let eb = b.bind(&endpoints(transport, "dis-b")).unwrap();
        let push = socket(&rt, SocketType::Push);
        push.connect(&ea).unwrap();
        push.connect(&eb).unwrap();
        wait_until("both peers", || push.connected_peers().unwrap() == 2);
        // Round-robin 100 messages, then disconnect a: what was queued for a still reaches it.
        for i in 0..100 {
            push.send(numbered(i)).unwrap();
        }
        push.disconnect(&ea).unwrap();
        for i in 100..200 {
            push.send(numbered(i)).unwrap();
        }
        // Round-robin gave a and b 50 each of the first 100; b gets all the rest.
        let mut got_b = Vec::new();
        while got_b.len() < 150 {
            got_b.push(number(&b.recv().unwrap()));
        }
        let mut got_a = Vec::new();
        while got_a.len() < 50 {
            got_a.push(number(&a.recv().unwrap()));
        }
        assert!(
            got_a.iter().all(|&i| i < 100),
            "{transport}: nothing after the disconnect"
        );
        assert_eq!(got_b.iter().filter(|&&i| i >= 100).count(), 100);
        assert!(a.try_recv().unwrap().is_none() && b.try_recv().unwrap().is_none());
        assert_eq!(
            push.disconnect(&ea).unwrap_err().kind(),
            ErrorKind::NotFound,
            "{transport}: twice"
        );
        assert_eq!(
            push.disconnect("tcp://127.0.0.1:1").unwrap_err().kind(),
            ErrorKind::NotFound
        );
        wait_until("one peer left", || push.connected_peers().unwrap() == 1);
    }
}

#[test]
fn after_an_inproc_disconnect_or_unbind_the_peer_has_nowhere_to_send() {
    // libzmq's pipe termination reaches the peer before its next call: a PUSH whose only PULL
    // just disconnected (or unbound) refuses a non-blocking send instead of queueing a message
    // for nobody (which a linger of -1 would then wait on forever). The race this guards is
    // between two shards, so each pairing is run many times, on one shard and on two.
    let rt = runtime(2);
    for (push_shard, pull_shard) in [(0, 1), (0, 0)] {
        for round in 0..40 {
            let push = support::socket_on(&rt, push_shard, SocketType::Push);
            let pull = support::socket_on(&rt, pull_shard, SocketType::Pull);
            let name = format!("inproc://gone-{push_shard}{pull_shard}-{round}");
            // The connecting side goes.
            push.bind(&name).unwrap();
            pull.connect(&name).unwrap();
            push.send(numbered(round)).unwrap();
            assert_eq!(number(&pull.recv().unwrap()), round);
            pull.disconnect(&name).unwrap();
            assert_eq!(
                push.try_send(numbered(0)).unwrap_err().kind(),
                ErrorKind::WouldBlock,
                "shards {push_shard}/{pull_shard}, round {round}: sent after disconnect"
            );
            push.unbind(&name).unwrap();
            // The binding side goes.
            pull.bind(&name).unwrap();
            push.connect(&name).unwrap();
            push.send(numbered(round)).unwrap();
            assert_eq!(number(&pull.recv().unwrap()), round);
            pull.unbind(&name).unwrap();
            assert_eq!(
                push.try_send(numbered(0)).unwrap_err().kind(),
                ErrorKind::WouldBlock,
                "shards {push_shard}/{pull_shard}, round {round}: sent after unbind"
            );
        }
    }
}

#[test]
fn disconnect_stops_reconnecting() {
    let rt = runtime(1);
    // Nothing listens: the socket retries until disconnected, then stops.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let push = socket_with(
        &rt,
        SocketType::Push,
        Options {
            reconnect_ivl: Duration::from_millis(5),
            ..Options::default()
        },
    );
    let ep = format!("tcp://127.0.0.1:{port}");
    push.connect(&ep).unwrap();
    wait_until("retries", || push.stats().unwrap().reconnect_attempts >= 3);
    push.disconnect(&ep).unwrap();
    // Once stopped, the count stays put while a listener appears where it connected.
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    listener.set_nonblocking(true).unwrap();
    let settled = push.stats().unwrap().reconnect_attempts;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(5));
        assert!(
            listener.accept().is_err(),
            "a disconnected endpoint was connected to again"
        );
    }
    assert!(push.stats().unwrap().reconnect_attempts <= settled + 1);
}

#[test]
fn unbind_frees_the_port_and_closes_accepted_connections() {
    let rt = runtime(2);
    let pull = socket(&rt, SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
    let push = socket(&rt, SocketType::Push);
    let monitor = push.monitor().unwrap();
    push.connect(&ep).unwrap();
    push.send(numbered(1)).unwrap();
    assert_eq!(number(&pull.recv().unwrap()), 1);
    pull.unbind(&ep).unwrap();
    // The port is free at once, and the peer's connection was closed.
    let port: u16 = ep.rsplit(':').next().unwrap().parse().unwrap();
    let again = std::net::TcpListener::bind(("127.0.0.1", port)).expect("port released");
    drop(again);
    monitor
        .wait_for("disconnected", WAIT)
        .expect("the accepted connection closed");
    assert_eq!(pull.unbind(&ep).unwrap_err().kind(), ErrorKind::NotFound);
    // Rebinding the same endpoint works, and the peer comes back.
    pull.bind(&ep).unwrap();
    push.send(numbered(2)).unwrap();
    assert_eq!(number(&pull.recv().unwrap()), 2);
}

#[test]
fn unbind_by_the_wildcard_as_written_and_on_ipc_and_inproc() {
    let rt = runtime(1);
    let pull = socket(&rt, SocketType::Pull);
    let bound = pull.bind("tcp://127.0.0.1:*").unwrap();
    assert_ne!(bound, "tcp://127.0.0.1:*");
    pull.unbind("tcp://127.0.0.1:*").unwrap();
    assert_eq!(pull.unbind(&bound).unwrap_err().kind(), ErrorKind::NotFound);

    let path = format!("/tmp/ringmq-unbind-{}.sock", std::process::id());
    let ipc = pull.bind(&format!("ipc://{path}")).unwrap();
    assert!(std::path::Path::new(&path).exists());
    pull.unbind(&ipc).unwrap();
    assert!(
        !std::path::Path::new(&path).exists(),
        "the socket file is removed"
    );

    let name = "inproc://unbind-me";
    pull.bind(name).unwrap();
    pull.unbind(name).unwrap();
    let other = socket(&rt, SocketType::Pull);
    other.bind(name).expect("the name is free again");
}

#[test]
fn unbind_and_disconnect_from_async_and_on_shard_apis() {
    let rt = runtime(2);
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    tokio_rt.block_on(async {
        let pull = AsyncSocket::new(rt.next_shard(), SocketType::Pull, Options::default()).unwrap();
        let ep = pull.bind("tcp://127.0.0.1:0").await.unwrap();
        let push = AsyncSocket::new(rt.next_shard(), SocketType::Push, Options::default()).unwrap();
        push.connect(&ep).await.unwrap();
        push.send(numbered(7)).await.unwrap();
        assert_eq!(number(&pull.recv().await.unwrap()), 7);
        push.disconnect(&ep).await.unwrap();
        assert_eq!(
            push.disconnect(&ep).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        pull.unbind(&ep).await.unwrap();
        let port: u16 = ep.rsplit(':').next().unwrap().parse().unwrap();
        std::net::TcpListener::bind(("127.0.0.1", port)).expect("port released");
        assert_eq!(
            pull.unbind(&ep).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
    });
    // On a shard: the async unbind and the plain disconnect.
    let task = rt
        .spawn_on(ShardId(0), || async {
            let pull = Socket::new(SocketType::Pull).unwrap();
            let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
            let push = Socket::new(SocketType::Push).unwrap();
            push.connect(&ep).unwrap();
            push.send(numbered(3)).await.unwrap();
            let got = number(&pull.recv().await.unwrap());
            push.disconnect(&ep).unwrap();
            pull.unbind(&ep).await.unwrap();
            let port: u16 = ep.rsplit(':').next().unwrap().parse().unwrap();
            let free = std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
            (got, free, pull.unbind(&ep).await.unwrap_err().kind())
        })
        .unwrap();
    assert_eq!(ringmq::block_on(task), (3, true, ErrorKind::NotFound));
}

#[test]
fn counters_equal_what_was_sent_received_and_dropped() {
    let rt = runtime(2);
    let pull = socket(&rt, SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
    let push = socket(&rt, SocketType::Push);
    push.connect(&ep).unwrap();
    for i in 0..10u32 {
        push.send(Message::from_frames([
            vec![b'a'; 3],
            vec![b'b'; i as usize],
        ]))
        .unwrap();
    }
    for _ in 0..10 {
        pull.recv().unwrap();
    }
    let bytes = 10 * 3 + (0..10).sum::<u64>();
    wait_until("the sender's count", || {
        push.stats().unwrap().messages_sent == 10
    });
    let sent = push.stats().unwrap();
    assert_eq!(sent.bytes_sent, bytes);
    assert_eq!(sent.connects, 1);
    assert_eq!(sent.connected_peers, 1);
    assert_eq!(sent.queued_out, 0);
    let got = pull.stats().unwrap();
    assert_eq!(
        (got.messages_received, got.bytes_received, got.accepts),
        (10, bytes, 1)
    );
    assert_eq!(got.sndhwm, 1000);

    // PUB drops at a subscriber's HWM: received + dropped == published, exactly.
    let small = Options {
        sndhwm: 2,
        rcvhwm: 2,
        ..Options::default()
    };
    let publ = socket_with(&rt, SocketType::Pub, small.clone());
    publ.bind("inproc://drops").unwrap();
    let sub = socket_with(&rt, SocketType::Sub, small);
    sub.subscribe(b"").unwrap();
    sub.connect("inproc://drops").unwrap();
    wait_until("the subscription", || {
        publ.send(Message::single("probe")).unwrap();
        sub.try_recv().unwrap().is_some()
    });
    // Every probe handed over and written before counting starts.
    wait_until("the probes to leave", || {
        publ.stats().unwrap().queued_out == 0
    });
    let before = publ.stats().unwrap();
    for _ in 0..1000 {
        publ.send(Message::single("x")).unwrap();
    }
    let mut received = 0u64;
    wait_until("every message received or counted as dropped", || {
        while let Ok(Some(m)) = sub.try_recv() {
            // Late probes from the subscription loop are not part of the count.
            if m.frames()[0] == "x" {
                received += 1;
            }
        }
        let s = publ.stats().unwrap();
        s.queued_out == 0 && received + (s.dropped.total() - before.dropped.total()) == 1000
    });
    let after = publ.stats().unwrap();
    assert_eq!(after.messages_sent - before.messages_sent, 1000);
    assert!(
        after.dropped.total() > before.dropped.total(),
        "a stalled subscriber drops"
    );

    // ROUTER drops what it cannot route.
    let router = socket(&rt, SocketType::Router);
    router.send(Message::from_frames(["nobody", "x"])).unwrap();
    wait_until("the unroutable drop", || {
        router.stats().unwrap().dropped.unroutable == 1
    });
}

#[test]
fn handshake_failures_and_refusals_are_counted_by_reason() {
    let rt = runtime(1);
    // A ZAP handler that refuses every PLAIN peer (no password hashing: fast in debug builds).
    let handler = rt
        .spawn_on(ShardId(0), || {
            ringmq::zap::serve(|req| req.reply(400, "no", ""))
        })
        .unwrap();
    let pull = BlockingSocket::new(
        rt.next_shard(),
        SocketType::Pull,
        Options {
            zap_domain: "test".into(),
            ..Options::default()
        }
        .plain_server(),
    )
    .unwrap();
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
    // A peer that speaks garbage: a protocol failure.
    let mut raw = TcpStream::connect(ep.trim_start_matches("tcp://")).unwrap();
    raw.write_all(&[0x01; 64]).unwrap();
    support::expect_closed(&mut raw);
    // A peer with the wrong password: an authentication refusal.
    let push = BlockingSocket::new(
        rt.next_shard(),
        SocketType::Push,
        Options::default().plain_client("admin", "wrong"),
    )
    .unwrap();
    push.connect(&ep).unwrap();
    wait_until("both failures counted", || {
        let s = pull.stats().unwrap();
        s.handshake_failures.protocol >= 1 && s.auth_refusals >= 1
    });
    let s = pull.stats().unwrap();
    assert_eq!(s.handshake_failures.protocol, 1);
    assert_eq!(s.handshake_failures.auth, s.auth_refusals);
    assert!(s.accepts >= 2);
    assert_eq!(s.connected_peers, 0);
    drop(handler);
}

#[test]
fn shutdown_reports_what_was_delivered_and_what_was_abandoned() {
    // The receiving end lives in another runtime, so it outlives the one shut down.
    let far = runtime(1);
    let pull = socket(&far, SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();

    let rt = Runtime::new(Config {
        shards: 2,
        ..Config::default()
    })
    .unwrap();
    let live = socket(&rt, SocketType::Push);
    live.connect(&ep).unwrap();
    // Nothing listens here: whatever is queued for it is abandoned at the deadline.
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let stalled = socket(&rt, SocketType::Push);
    stalled
        .connect(&format!("tcp://127.0.0.1:{closed_port}"))
        .unwrap();
    for i in 0..5 {
        stalled.send(numbered(i)).unwrap();
    }
    let listener = socket(&rt, SocketType::Pull);
    let listening = listener.bind("tcp://127.0.0.1:0").unwrap();
    for i in 0..500 {
        live.send(numbered(i)).unwrap();
    }
    let report = rt.shutdown(Duration::from_millis(300));
    assert!(report.complete);
    assert_eq!(report.sockets.len(), 3, "{report:#?}");
    let stalled_report = report
        .sockets
        .iter()
        .find(|s| s.endpoints.is_empty() && s.stats.messages_sent == 5)
        .expect("the stalled socket's report");
    assert_eq!((stalled_report.queued, stalled_report.abandoned), (5, 5));
    assert_eq!(stalled_report.delivered, 0);
    let live_report = report
        .sockets
        .iter()
        .find(|s| s.stats.messages_sent == 500)
        .expect("the live socket's report");
    assert_eq!(live_report.abandoned, 0);
    assert_eq!(live_report.delivered, live_report.queued);
    assert_eq!(report.abandoned(), 5);
    // Every message the live socket accepted arrived.
    for i in 0..500 {
        assert_eq!(number(&pull.recv().unwrap()), i);
    }
    // The handles outlive the runtime and say so.
    assert_eq!(
        live.send(numbered(0)).unwrap_err().kind(),
        ErrorKind::Closed
    );
    assert!(std::net::TcpStream::connect(listening.trim_start_matches("tcp://")).is_err());
}

#[test]
fn async_shutdown_ends_streams() {
    use futures::StreamExt;
    let rt = runtime(1);
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    tokio_rt.block_on(async move {
        let pull = AsyncSocket::new(rt.next_shard(), SocketType::Pull, Options::default()).unwrap();
        pull.bind("inproc://ends").await.unwrap();
        let reader = tokio::spawn(async move { pull.count().await });
        let report = rt.shutdown_async(Duration::from_secs(1)).await;
        assert_eq!(report.sockets.len(), 1);
        let n = tokio::time::timeout(WAIT, reader)
            .await
            .expect("the stream ended")
            .unwrap();
        assert_eq!(n, 0);
    });
}
