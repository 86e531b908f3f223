//! inproc: sockets of one runtime, on one shard or across shards, bind before or after connect;
//! messages move without a copy.

mod support;

use support::{runtime, socket_on, socket_with, WAIT};

use std::time::Duration;

use ringmq::{BlockingSocket, Bytes, ErrorKind, Message, Options, ShardId, Socket, SocketType};

#[test]
fn push_pull_same_and_cross_shard_both_orders() {
    let rt = runtime(2);
    for (push_shard, bind_first) in [(0u16, true), (1, true), (0, false), (1, false)] {
        let name = format!("inproc://pipeline-{push_shard}-{bind_first}");
        let pull = socket_on(&rt, 0, SocketType::Pull);
        let push = socket_on(&rt, push_shard, SocketType::Push);
        if bind_first {
            pull.bind(&name).unwrap();
            push.connect(&name).unwrap();
        } else {
            // Connect before bind, as libzmq 4.x allows: messages queue until the bind.
            push.connect(&name).unwrap();
            push.send(Message::single("early")).unwrap();
            pull.bind(&name).unwrap();
            assert_eq!(pull.recv().unwrap(), Message::single("early"));
        }
        // inproc has no kernel buffers: the sender blocks at the HWMs until the receiver reads, so
        // it runs on its own thread.
        let sender = std::thread::spawn(move || {
            for i in 0..10_000u32 {
                push.send(Message::from_frames([
                    i.to_be_bytes().to_vec(),
                    vec![7; (i % 300) as usize],
                ]))
                .unwrap();
            }
        });
        for i in 0..10_000u32 {
            let m = pull.recv().unwrap();
            assert_eq!(m.frames()[0][..], i.to_be_bytes(), "{name}");
            assert_eq!(m.frames()[1].len(), (i % 300) as usize);
        }
        sender.join().unwrap();
    }
}

#[test]
fn frames_move_without_a_copy() {
    let rt = runtime(2);
    let (ep_tx, ep_rx) = std::sync::mpsc::channel();
    let receiver = rt
        .spawn_on(ShardId(0), move || async move {
            let pull = Socket::new(SocketType::Pull).unwrap();
            ep_tx
                .send(pull.bind("inproc://zero-copy").unwrap())
                .unwrap();
            let m = pull.recv().await.unwrap();
            m.frames()[0].as_ptr() as usize
        })
        .unwrap();
    let ep = ep_rx.recv_timeout(WAIT).unwrap();
    let body = Bytes::from(vec![42u8; 1 << 20]);
    let address = body.as_ptr() as usize;
    let sender = rt
        .spawn_on(ShardId(1), move || async move {
            let push = Socket::new(SocketType::Push).unwrap();
            push.connect(&ep).unwrap();
            push.send(Message::single(body)).await.unwrap();
            push.close().await;
        })
        .unwrap();
    ringmq::block_on(sender);
    assert_eq!(
        ringmq::block_on(receiver),
        address,
        "the receiver got the sender's buffer itself"
    );
}

#[test]
fn pub_sub_filters_over_inproc() {
    let rt = runtime(2);
    let publ = socket_on(&rt, 0, SocketType::Pub);
    publ.bind("inproc://news").unwrap();
    let sub = socket_on(&rt, 1, SocketType::Sub);
    sub.subscribe(b"weather").unwrap();
    sub.connect("inproc://news").unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "subscription never arrived"
        );
        publ.send(Message::single("weather sync")).unwrap();
        if sub.recv_timeout(Duration::from_millis(10)).is_ok() {
            break;
        }
    }
    while sub.try_recv().unwrap().is_some() {}
    publ.send(Message::single("sports")).unwrap();
    publ.send(Message::single("weather rain")).unwrap();
    assert_eq!(sub.recv().unwrap(), Message::single("weather rain"));
}

#[test]
fn req_rep_and_router_dealer_over_inproc() {
    let rt = runtime(2);
    let rep = socket_on(&rt, 0, SocketType::Rep);
    rep.bind("inproc://service").unwrap();
    let req = socket_on(&rt, 1, SocketType::Req);
    req.connect("inproc://service").unwrap();
    for i in 0..10u8 {
        req.send(Message::single(vec![i])).unwrap();
        assert_eq!(rep.recv().unwrap(), Message::single(vec![i]));
        rep.send(Message::single(vec![i + 100])).unwrap();
        assert_eq!(req.recv().unwrap(), Message::single(vec![i + 100]));
    }

    let router = socket_on(&rt, 1, SocketType::Router);
    router.bind("inproc://broker").unwrap();
    let dealer = BlockingSocket::new(
        rt.shard(ShardId(0)).unwrap(),
        SocketType::Dealer,
        Options {
            routing_id: Some(Bytes::from_static(b"w1")),
            ..Options::default()
        },
    )
    .unwrap();
    dealer.connect("inproc://broker").unwrap();
    dealer.send(Message::single("ready")).unwrap();
    assert_eq!(
        router.recv().unwrap(),
        Message::from_frames(["w1", "ready"])
    );
    router.send(Message::from_frames(["w1", "job"])).unwrap();
    assert_eq!(dealer.recv_timeout(WAIT).unwrap(), Message::single("job"));
}

#[test]
fn incompatible_types_are_refused() {
    let rt = runtime(1);
    let pull = socket_on(&rt, 0, SocketType::Pull);
    pull.bind("inproc://only-push").unwrap();
    let wrong = socket_on(&rt, 0, SocketType::Pull);
    assert_eq!(
        wrong.connect("inproc://only-push").unwrap_err().kind(),
        ErrorKind::InvalidEndpoint
    );
    let again = socket_on(&rt, 0, SocketType::Push);
    assert_eq!(
        again.bind("inproc://only-push").unwrap_err().kind(),
        ErrorKind::BindFailed
    );
}

#[test]
fn the_type_check_is_off_when_either_socket_turns_it_off() {
    // libzmq does not check types over inproc (its test_inproc_connect connects PAIRs to a
    // PULL); the C ABI's sockets turn the check off. Connect before bind and after.
    let rt = runtime(2);
    let unchecked = || Options {
        inproc_type_check: false,
        ..Options::default()
    };
    let early = socket_with(&rt, SocketType::Pair, unchecked());
    early.connect("inproc://pairs-to-pull").unwrap();
    early.send(Message::single("early")).unwrap();
    let pull = socket_with(&rt, SocketType::Pull, unchecked());
    pull.bind("inproc://pairs-to-pull").unwrap();
    assert_eq!(pull.recv_timeout(WAIT).unwrap(), Message::single("early"));
    // One side checking is not enough to refuse.
    let late = socket_on(&rt, 1, SocketType::Pair);
    late.connect("inproc://pairs-to-pull").unwrap();
    late.send(Message::single("late")).unwrap();
    assert_eq!(pull.recv_timeout(WAIT).unwrap(), Message::single("late"));
}

#[test]
fn linger_flushes_over_inproc() {
    let rt = runtime(2);
    let pull = socket_on(&rt, 0, SocketType::Pull);
    pull.bind("inproc://flush").unwrap();
    let push = socket_on(&rt, 1, SocketType::Push);
    push.connect("inproc://flush").unwrap();
    let sender = std::thread::spawn(move || {
        for i in 0..50_000u32 {
            push.send(Message::single(i.to_be_bytes().to_vec()))
                .unwrap();
        }
        // Closed right after the last send: linger must deliver everything still queued.
        drop(push);
    });
    for i in 0..50_000u32 {
        assert_eq!(pull.recv().unwrap().frames()[0][..], i.to_be_bytes());
    }
    sender.join().unwrap();
}

#[test]
fn a_message_sent_just_before_a_close_with_linger_zero_still_arrives() {
    // A libzmq inproc send writes into the peer's pipe, so closing at once with linger 0 takes
    // nothing back (libzmq's test_proxy sends TERMINATE and closes so). Both ends on the other
    // shard from each other, and on one shard; bound by the connecting side and by the binding.
    let rt = runtime(2);
    for (sender_shard, round) in [0u16, 1]
        .into_iter()
        .flat_map(|s| (0..20).map(move |r| (s, r)))
    {
        let name = format!("inproc://last-word-{sender_shard}-{round}");
        let pull = socket_on(&rt, 0, SocketType::Pull);
        pull.bind(&name).unwrap();
        let push = BlockingSocket::new(
            rt.shard(ShardId(sender_shard)).unwrap(),
            SocketType::Push,
            Options {
                linger: Some(Duration::ZERO),
                ..Options::default()
            },
        )
        .unwrap();
        push.connect(&name).unwrap();
        push.send(Message::single("TERMINATE")).unwrap();
        drop(push);
        assert_eq!(
            pull.recv().expect("the last word arrives").frames()[0][..],
            b"TERMINATE"[..],
            "shard {sender_shard}, round {round}"
        );
    }
}

#[test]
fn a_peer_closed_with_linger_zero_is_seen_to_go() {
    // Closing with linger 0 stops the connection's task at once; the other side must still
    // learn the peer went (its pipe ends, a disconnected event), else an unbind or disconnect
    // there would wait for an answer that never comes.
    for shards in [1, 2] {
        let rt = runtime(shards);
        let binder = socket_on(&rt, 0, SocketType::Pair);
        let monitor = binder.monitor().unwrap();
        binder.bind("inproc://linger-zero-peer").unwrap();
        let peer = socket_with(
            &rt,
            SocketType::Pair,
            Options {
                linger: Some(Duration::ZERO),
                ..Options::default()
            },
        );
        peer.connect("inproc://linger-zero-peer").unwrap();
        peer.send(Message::single("up")).unwrap();
        assert_eq!(binder.recv_timeout(WAIT).unwrap(), Message::single("up"));
        drop(peer);
        assert!(
            monitor.wait_for("disconnected", WAIT).is_some(),
            "{shards} shards: the binder never saw its peer go"
        );
    }
}

/// After `Runtime::settle`, what was sent over inproc before it is there for a non-blocking
/// receive, and a subscription made before it is in place at the publisher: libzmq's inproc
/// guarantees, which its own tests and pyzmq's rely on.
#[test]
fn settle_makes_inproc_sends_and_subscriptions_visible() {
    for shards in [1u16, 2] {
        let rt = runtime(shards.into());
        let name = format!("inproc://settle-{shards}");
        let pull = socket_on(&rt, 0, SocketType::Pull);
        let push = socket_on(&rt, shards - 1, SocketType::Push);
        pull.bind(&name).unwrap();
        push.connect(&name).unwrap();
        for i in 0..300u32 {
            push.send(Message::single(i.to_be_bytes().to_vec()))
                .unwrap();
            rt.settle().unwrap();
            let got = pull.try_recv().unwrap();
            assert_eq!(
                got,
                Some(Message::single(i.to_be_bytes().to_vec())),
                "message {i} on {shards} shard(s)"
            );
        }

        // A subscriber that connects and subscribes, then a publish at once: it gets it.
        let publisher = socket_on(&rt, 0, SocketType::Pub);
        let topic_name = format!("inproc://settle-pub-{shards}");
        publisher.bind(&topic_name).unwrap();
        for i in 0..50u32 {
            let sub = socket_on(&rt, shards - 1, SocketType::Sub);
            sub.connect(&topic_name).unwrap();
            sub.subscribe(b"t").unwrap();
            rt.settle().unwrap();
            publisher.send(Message::single(&b"t"[..])).unwrap();
            rt.settle().unwrap();
            assert_eq!(
                sub.try_recv().unwrap(),
                Some(Message::single(&b"t"[..])),
                "subscriber {i} on {shards} shard(s)"
            );
        }
    }
}
