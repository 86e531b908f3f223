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

/// A settle from a shard's own thread returns at once, whichever shard it settles: a shard
/// waiting on another that waits on it would hang both. Here shard 1 is held until a task on
/// shard 0 has settled shard 1.
#[test]
fn settle_on_a_shard_thread_does_not_wait_on_another_shard() {
    let rt = runtime(2);
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let (holding_tx, holding_rx) = std::sync::mpsc::channel::<()>();
    let held = rt
        .spawn_on(ShardId(1), move || async move {
            holding_tx.send(()).unwrap();
            // Blocks shard 1's thread: only what does not need shard 1 can finish meanwhile.
            done_rx.recv_timeout(WAIT).is_ok()
        })
        .unwrap();
    holding_rx.recv_timeout(WAIT).unwrap();
    let other = rt.shard(ShardId(1)).unwrap().clone();
    let settler = rt
        .spawn_on(ShardId(0), move || async move {
            let settled = ringmq::settle_all(std::slice::from_ref(&other));
            done_tx.send(()).unwrap();
            settled.is_ok()
        })
        .unwrap();
    assert!(
        ringmq::block_on(held),
        "the settle on shard 0 waited on shard 1"
    );
    assert!(ringmq::block_on(settler));
    rt.settle().unwrap();
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

fn exact(sndhwm: usize, rcvhwm: usize) -> Options {
    Options {
        sndhwm,
        rcvhwm,
        exact_inproc_hwm: true,
        ..Options::default()
    }
}

/// Send without waiting until the socket is full, letting the shards move what it holds on
/// whenever its hand-off queue alone is full (as the C ABI does). Returns how many it took.
fn fill(rt: &ringmq::Runtime, push: &BlockingSocket) -> usize {
    let mut taken = 0;
    loop {
        match push.try_send(Message::single(&b"m"[..])) {
            Ok(()) => taken += 1,
            Err(ringmq::SendError::Full(m)) => {
                assert!(push.counts_inproc_credit());
                rt.settle().unwrap();
                match push.try_send(m) {
                    Ok(()) => taken += 1,
                    Err(ringmq::SendError::Full(_)) => return taken,
                    Err(e) => panic!("send failed: {e:?}"),
                }
            }
            Err(e) => panic!("send failed: {e:?}"),
        }
        assert!(taken <= 10_000, "no bound");
    }
}

/// Under `exact_inproc_hwm` a PUSH with one inproc peer holds exactly sndhwm + the peer's
/// rcvhwm messages on their way, as libzmq's inproc pipe does (without it, each queue on the
/// way has its own bound); a receive gives the credit back, and a waiting send then goes.
#[test]
fn exact_inproc_hwm_counts_sndhwm_plus_the_peers_rcvhwm() {
    for shards in [1usize, 2] {
        let rt = runtime(shards);
        let name = format!("inproc://exact-{shards}");
        let pull = socket_with(&rt, SocketType::Pull, exact(1000, 2));
        pull.bind(&name).unwrap();
        let push = socket_with(&rt, SocketType::Push, exact(3, 1000));
        push.connect(&name).unwrap();
        support::wait_until("the credit of the only peer", || {
            push.counts_inproc_credit()
        });
        assert_eq!(
            fill(&rt, &push),
            5,
            "sndhwm 3 + rcvhwm 2 on {shards} shard(s)"
        );
        rt.settle().unwrap();
        for _ in 0..5 {
            assert!(pull.try_recv().unwrap().is_some());
            rt.settle().unwrap();
        }
        assert_eq!(pull.try_recv().unwrap(), None);
        assert_eq!(fill(&rt, &push), 5, "all the credit came back");

        // A waiting send goes once the receiver takes one.
        let mut push = push;
        push.set_sndtimeo(Some(WAIT));
        let sender = std::thread::spawn(move || {
            push.send(Message::single(&b"late"[..])).unwrap();
            push
        });
        assert!(pull.recv().is_ok());
        let _push = sender.join().unwrap();
        for _ in 0..4 {
            assert_eq!(pull.recv().unwrap(), Message::single(&b"m"[..]));
        }
        assert_eq!(pull.recv().unwrap(), Message::single(&b"late"[..]));
    }
}

/// A PUB's message its only subscriber did not ask for gives its credit back when the shard
/// drops it, so it never costs a later message its place.
#[test]
fn exact_inproc_hwm_on_a_publisher_returns_what_was_filtered() {
    let rt = runtime(1);
    let publisher = socket_with(&rt, SocketType::Pub, exact(1, 1000));
    publisher.bind("inproc://exact-pub").unwrap();
    let sub = socket_with(&rt, SocketType::Sub, exact(1000, 1));
    sub.connect("inproc://exact-pub").unwrap();
    sub.subscribe(b"a").unwrap();
    support::wait_until("the credit of the only peer", || {
        publisher.counts_inproc_credit()
    });
    rt.settle().unwrap();
    for _ in 0..50 {
        publisher.send(Message::single(&b"b"[..])).unwrap();
        rt.settle().unwrap();
    }
    publisher.send(Message::single(&b"a"[..])).unwrap();
    assert_eq!(sub.recv().unwrap(), Message::single(&b"a"[..]));
    assert_eq!(publisher.stats().unwrap().dropped.total(), 0);
}

/// A connect made before its bind queues up to sndhwm alone until the peer is there, and
/// sndhwm + the peer's rcvhwm from then on (libzmq's inproc pipe, which learns the peer's
/// rcvhwm at the bind).
#[test]
fn exact_inproc_hwm_before_the_bind_counts_sndhwm_alone() {
    let rt = runtime(1);
    let push = socket_with(&rt, SocketType::Push, exact(2, 1000));
    push.connect("inproc://exact-early").unwrap();
    support::wait_until("the credit of the connect", || push.counts_inproc_credit());
    assert_eq!(fill(&rt, &push), 2);
    let pull = socket_with(&rt, SocketType::Pull, exact(1000, 3));
    pull.bind("inproc://exact-early").unwrap();
    rt.settle().unwrap();
    assert_eq!(fill(&rt, &push), 3, "the peer's rcvhwm joins the bound");
    for _ in 0..5 {
        assert_eq!(pull.recv().unwrap(), Message::single(&b"m"[..]));
    }
}

/// A socket on a shard has a message once its receive returns: the credit goes back then,
/// not when the application drops the message (it may keep it as long as it likes).
#[test]
fn exact_inproc_hwm_credit_returns_at_an_on_shard_receive() {
    const SENT: usize = 50;
    let rt = runtime(2);
    let (ep_tx, ep_rx) = std::sync::mpsc::channel();
    let receiver = rt
        .spawn_on(ShardId(0), move || async move {
            let pull = Socket::with_options(SocketType::Pull, exact(1000, 2)).unwrap();
            ep_tx
                .send(pull.bind("inproc://exact-on-shard").unwrap())
                .unwrap();
            // Every message kept: ten times what the credit (3 + 2) allows on the way.
            let mut kept = Vec::new();
            for _ in 0..SENT {
                kept.push(pull.recv().await.unwrap());
            }
            kept.len()
        })
        .unwrap();
    let ep = ep_rx.recv_timeout(WAIT).unwrap();
    let push = socket_on(&rt, 1, SocketType::Push);
    push.set_options(exact(3, 1000)).unwrap();
    push.connect(&ep).unwrap();
    support::wait_until("the credit of the only peer", || {
        push.counts_inproc_credit()
    });
    for i in 0..SENT {
        push.send(Message::single(format!("m{i}")))
            .unwrap_or_else(|e| panic!("send {i}: {e:?}"));
    }
    assert_eq!(ringmq::block_on(receiver), SENT);
}
