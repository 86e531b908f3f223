//! ringmq ↔ ringmq over tcp: every socket type of this version, blocking and async APIs.

mod support;

use support::{runtime, socket, wait_until, WAIT};

use std::time::Duration;

use ringmq::{BlockingSocket, ErrorKind, Message, Options, Socket, SocketType};

#[test]
fn push_pull_blocking_in_order() {
    let rt = runtime(2);
    let pull = socket(&rt, SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
    assert!(
        ep.starts_with("tcp://127.0.0.1:") && !ep.ends_with(":0"),
        "{ep}"
    );
    let push = socket(&rt, SocketType::Push);
    push.connect(&ep).unwrap();
    for i in 0..10_000u32 {
        push.send(Message::single(i.to_be_bytes().to_vec()))
            .unwrap();
    }
    for i in 0..10_000u32 {
        let m = pull.recv().unwrap();
        assert_eq!(m.frames()[0][..], i.to_be_bytes());
    }
}

#[test]
fn sizes_and_multipart() {
    let rt = runtime(1);
    let pull = socket(&rt, SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:*").unwrap();
    let push = socket(&rt, SocketType::Push);
    push.connect(&ep).unwrap();
    for size in [0usize, 1, 255, 256, 65_536, 1 << 20] {
        let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        push.send(Message::single(body.clone())).unwrap();
        let m = pull.recv().unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m.frames()[0][..], body[..], "size {size}");
    }
    push.send(Message::from_frames(["a", "", "c"])).unwrap();
    let m = pull.recv().unwrap();
    assert_eq!(m, Message::from_frames(["a", "", "c"]));
}

#[test]
fn pub_sub_filters_topics() {
    let rt = runtime(2);
    let publ = socket(&rt, SocketType::Pub);
    let ep = publ.bind("tcp://127.0.0.1:0").unwrap();
    let sub = socket(&rt, SocketType::Sub);
    sub.subscribe(b"weather").unwrap();
    sub.connect(&ep).unwrap();
    // Subscriptions propagate asynchronously: publish until the first one arrives.
    let mut got = None;
    for _ in 0..1000 {
        publ.send(Message::from_frames(["weather", "sunny"]))
            .unwrap();
        if let Ok(m) = sub.recv_timeout(Duration::from_millis(10)) {
            got = Some(m);
            break;
        }
    }
    assert_eq!(got.unwrap(), Message::from_frames(["weather", "sunny"]));
    while sub.try_recv().unwrap().is_some() {}
    publ.send(Message::single("news: not for us")).unwrap();
    publ.send(Message::single("weather: rain")).unwrap();
    assert_eq!(sub.recv().unwrap(), Message::single("weather: rain"));
    sub.unsubscribe(b"weather").unwrap();
    sub.subscribe(b"news").unwrap();
    let mut got = None;
    for _ in 0..1000 {
        publ.send(Message::single("news 2")).unwrap();
        if let Ok(m) = sub.recv_timeout(Duration::from_millis(10)) {
            got = Some(m);
            break;
        }
    }
    assert_eq!(got.unwrap(), Message::single("news 2"));
}

#[test]
fn pair_both_ways_and_exclusive() {
    let rt = runtime(1);
    let a = socket(&rt, SocketType::Pair);
    let ep = a.bind("tcp://127.0.0.1:0").unwrap();
    let b = socket(&rt, SocketType::Pair);
    b.connect(&ep).unwrap();
    b.send("ping").unwrap();
    assert_eq!(a.recv().unwrap(), Message::single("ping"));
    a.send("pong").unwrap();
    assert_eq!(b.recv().unwrap(), Message::single("pong"));
    // A second PAIR peer is refused; the first keeps working.
    let c = socket(&rt, SocketType::Pair);
    c.connect(&ep).unwrap();
    let _ = c.send("intruder");
    a.send("still").unwrap();
    assert_eq!(b.recv().unwrap(), Message::single("still"));
    assert!(a
        .recv_timeout(Duration::from_millis(200))
        .is_err_and(|e| e.kind() == ErrorKind::Timeout));
}

#[test]
fn wrong_direction_is_an_error() {
    let rt = runtime(1);
    let pull = socket(&rt, SocketType::Pull);
    assert_eq!(pull.send("x").unwrap_err().kind(), ErrorKind::NotSupported);
    let push = socket(&rt, SocketType::Push);
    assert_eq!(push.recv().unwrap_err().kind(), ErrorKind::NotSupported);
    assert_eq!(
        push.bind("udp://1.2.3.4:5").unwrap_err().kind(),
        ErrorKind::InvalidEndpoint
    );
}

#[test]
fn push_blocks_at_hwm_without_peer() {
    let rt = runtime(1);
    let options = Options {
        sndhwm: 5,
        // Nothing will ever take the queued messages: do not linger on them at shutdown.
        linger: Some(Duration::ZERO),
        ..Options::default()
    };
    let mut push = BlockingSocket::new(rt.next_shard(), SocketType::Push, options).unwrap();
    push.connect("tcp://127.0.0.1:9").unwrap();
    // Timed sends wait for the shard to take what it can, then time out at the HWM.
    push.set_sndtimeo(Some(Duration::from_millis(100)));
    let mut sent = 0;
    while push.send(Message::single("x")).is_ok() {
        sent += 1;
        assert!(sent <= 100, "HWM never reached");
    }
    // 5 in the pipe, at most 4 in the blocking hand-off queue and one held by the shard.
    assert!((5..=10).contains(&sent), "sent {sent}");
}

#[test]
fn async_api_on_shard() {
    let rt = runtime(2);
    let (tx, rx) = std::sync::mpsc::channel();
    let receiver = rt
        .spawn_on(ringmq::ShardId(0), move || async move {
            let pull = Socket::new(SocketType::Pull).unwrap();
            tx.send(pull.bind("tcp://127.0.0.1:0").unwrap()).unwrap();
            let mut total = 0usize;
            for _ in 0..1000 {
                total += pull.recv().await.unwrap().size();
            }
            total
        })
        .unwrap();
    let ep = rx.recv_timeout(WAIT).unwrap();
    let sender = rt
        .spawn_on(ringmq::ShardId(1), move || async move {
            let push = Socket::new(SocketType::Push).unwrap();
            push.connect(&ep).unwrap();
            for _ in 0..1000 {
                push.send(Message::single(vec![1u8; 100])).await.unwrap();
            }
            push.close().await;
        })
        .unwrap();
    ringmq::block_on(sender);
    assert_eq!(ringmq::block_on(receiver), 100_000);
}

#[test]
fn close_hands_over_every_accepted_message_to_a_late_peer() {
    // A PUSH accepts 1500 messages while no peer exists (1000 in the pipe, the rest in the
    // blocking hand-off queue), is dropped, and only then does the PULL appear: linger must still
    // deliver all of them.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let sender_rt = runtime(1);
    let push = socket(&sender_rt, SocketType::Push);
    push.connect(&endpoint).unwrap();
    for i in 0..1500u32 {
        push.send(Message::single(i.to_be_bytes().to_vec()))
            .unwrap();
    }
    drop(push);
    let receiver_rt = runtime(1);
    let pull = socket(&receiver_rt, SocketType::Pull);
    pull.bind(&endpoint).unwrap();
    // Dropping the sender's runtime waits for its lingering socket.
    let closer = std::thread::spawn(move || drop(sender_rt));
    for i in 0..1500u32 {
        assert_eq!(
            pull.recv().unwrap().frames()[0][..],
            i.to_be_bytes(),
            "message {i}"
        );
    }
    closer.join().unwrap();
}

#[test]
fn a_cancelled_close_still_closes_the_socket() {
    use std::future::Future;
    let rt = runtime(1);
    let task = rt
        .spawn_on(ringmq::ShardId(0), || async {
            let options = Options {
                linger: Some(Duration::from_millis(200)),
                ..Options::default()
            };
            let push = Socket::with_options(SocketType::Push, options).unwrap();
            let endpoint = push.bind("tcp://127.0.0.1:0").unwrap();
            // A peer that never comes keeps a message queued, so the close lingers.
            push.connect("tcp://127.0.0.1:1").unwrap();
            push.send(Message::single("stuck")).await.unwrap();
            let mut close = std::pin::pin!(push.close());
            // Poll the close once, then drop it, as a timeout around it would.
            std::future::poll_fn(|cx| {
                let _ = close.as_mut().poll(cx);
                std::task::Poll::Ready(())
            })
            .await;
            endpoint
        })
        .unwrap();
    let endpoint = ringmq::block_on(task);
    let addr = endpoint.trim_start_matches("tcp://").to_owned();
    // Once linger has run out the socket's tasks stop, its listener with them.
    wait_until("the listener of the closed socket to go", || {
        std::net::TcpStream::connect(&addr).is_err()
    });
}

#[test]
fn a_refused_synchronous_send_hands_the_message_back() {
    let rt = runtime(1);
    let options = Options {
        router_mandatory: true,
        ..Options::default()
    };
    let router = BlockingSocket::new(rt.next_shard(), SocketType::Router, options).unwrap();
    // The shard stops under the socket: the send cannot reach it.
    drop(rt);
    let sent = Message::from_frames(["peer", "body"]);
    match router.send(sent.clone()) {
        Err(ringmq::SendError::Failed(e, back)) => {
            assert_eq!(e.kind(), ErrorKind::Closed, "{e}");
            assert_eq!(back, sent, "the caller's message comes back");
        }
        other => panic!("expected a failure handing the message back, got {other:?}"),
    }
}
