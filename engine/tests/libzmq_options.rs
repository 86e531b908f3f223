//! The libzmq options the C ABI needed the engine to honour: `conflate` (`ZMQ_CONFLATE`),
//! `xpub_nodrop` (`ZMQ_XPUB_NODROP`), `invert_matching` (`ZMQ_INVERT_MATCHING`).

mod support;

use support::{runtime, socket_with, wait_until, WAIT};

use ringmq::{Bytes, Message, Options, SendError, SocketType};

fn number(m: &Message) -> u32 {
    u32::from_be_bytes(m.frames()[0][..4].try_into().unwrap())
}

#[test]
fn conflate_keeps_only_the_newest_message() {
    for conflate in [true, false] {
        let rt = runtime(2);
        let pull = socket_with(
            &rt,
            SocketType::Pull,
            Options {
                conflate,
                ..Options::default()
            },
        );
        let endpoint = pull.bind("tcp://127.0.0.1:*").unwrap();
        let push = socket_with(&rt, SocketType::Push, Options::default());
        push.connect(&endpoint).unwrap();
        for i in 0..100u32 {
            push.send(Message::single(i.to_be_bytes().to_vec()))
                .unwrap();
        }
        // Closing flushes the PUSH and ends the connection after its last byte, so once the PULL
        // has seen the disconnect every message has reached it.
        drop(push);
        wait_until("the pusher's connection ends", || {
            pull.stats().unwrap().disconnects == 1
        });
        let held = pull.stats().unwrap().queued_in;
        if conflate {
            // One in the hand-off queue (taken before newer ones came) and one in the socket at most.
            assert!(held <= 2, "a conflating PULL holds {held} messages");
            // Received with (bounded) waits, not `try_recv`: the message in the socket reaches
            // the hand-off only after the pump sees the room that taking the first one made.
            let mut got = vec![number(&pull.recv().unwrap())];
            while got.last() != Some(&99) {
                let next = number(&pull.recv().expect("the newest message is kept"));
                assert!(got.last() < Some(&next), "{got:?} then {next}");
                got.push(next);
            }
            assert!(got.len() <= 2, "a conflating PULL delivered {got:?}");
        } else {
            assert_eq!(held, 100);
            for i in 0..100 {
                assert_eq!(number(&pull.recv().unwrap()), i);
            }
        }
    }
}

/// A subscriber (rcvhwm 10, everything subscribed) of `xpub`, once the XPUB has seen the
/// subscription.
fn subscriber_of(
    rt: &ringmq::Runtime,
    xpub: &ringmq::BlockingSocket,
    endpoint: &str,
) -> ringmq::BlockingSocket {
    let sub = socket_with(
        rt,
        SocketType::Sub,
        Options {
            rcvhwm: 10,
            ..Options::default()
        },
    );
    sub.connect(endpoint).unwrap();
    sub.subscribe(b"").unwrap();
    // The subscription reaches the XPUB's application side once it is applied.
    assert_eq!(xpub.recv().unwrap().frames()[0][..], [1u8][..]);
    sub
}

#[test]
fn xpub_nodrop_refuses_instead_of_dropping() {
    for nodrop in [true, false] {
        let rt = runtime(2);
        let xpub = socket_with(
            &rt,
            SocketType::XPub,
            Options {
                xpub_nodrop: nodrop,
                sndhwm: 10,
                ..Options::default()
            },
        );
        let endpoint = xpub.bind("tcp://127.0.0.1:*").unwrap();
        let sub = subscriber_of(&rt, &xpub, &endpoint);
        // The subscriber does not read: its queues (and the publisher's) fill up.
        let mut refused = false;
        let mut accepted = 0u32;
        // Large messages, so the kernel's socket buffers fill after a few dozen.
        for i in 0..10_000u32 {
            let mut body = vec![0u8; 64 * 1024];
            body[..4].copy_from_slice(&i.to_be_bytes());
            match xpub.try_send(Message::single(body)) {
                Ok(()) => accepted += 1,
                Err(SendError::Full(_)) => {
                    refused = true;
                    break;
                }
                Err(e) => panic!("send failed: {e:?}"),
            }
        }
        // A plain publisher drops at the subscriber's HWM or, when the application outruns the
        // shard, already at the full hand-off queue: both count.
        let drops = xpub.stats().unwrap().dropped;
        let dropped = drops.peer_at_hwm + drops.handoff_full;
        if nodrop {
            assert!(
                refused,
                "a NODROP publisher refuses at the subscriber's HWM"
            );
            assert_eq!(dropped, 0);
            // Whatever was accepted arrives, in order, with no gap.
            for expected in 0..accepted {
                assert_eq!(number(&sub.recv().unwrap()), expected);
            }
        } else {
            assert!(
                dropped > 0,
                "a plain publisher drops at the subscriber's HWM"
            );
        }
    }
}

#[test]
fn invert_matching_delivers_what_does_not_match() {
    let rt = runtime(1);
    let inverted = Options {
        invert_matching: true,
        ..Options::default()
    };
    let publisher = socket_with(&rt, SocketType::Pub, inverted.clone());
    let endpoint = publisher.bind("tcp://127.0.0.1:*").unwrap();
    let sub = socket_with(&rt, SocketType::Sub, inverted);
    sub.connect(&endpoint).unwrap();
    sub.subscribe(b"skip").unwrap();
    // Until the subscription has reached the publisher it sends nothing to this subscriber:
    // send "keep" until one arrives; from then on every "skip" must be filtered.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        publisher.send(Message::single("keep")).unwrap();
        if let Some(m) = sub.try_recv().unwrap() {
            if m.frames()[0][..] == b"keep"[..] {
                break;
            }
        }
        assert!(std::time::Instant::now() < deadline, "nothing arrived");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    publisher.send(Message::single("skip-this")).unwrap();
    publisher.send(Message::single("other")).unwrap();
    // "keep"s still in flight may come first; a "skip" never does.
    loop {
        let m = sub.recv().unwrap();
        match &m.frames()[0][..] {
            b"keep" => continue,
            b"other" => break,
            other => panic!("received {:?}", String::from_utf8_lossy(other)),
        }
    }
}

#[test]
fn ipc_wildcard_bind_picks_a_private_path() {
    let rt = runtime(1);
    let pull = socket_with(&rt, SocketType::Pull, Options::default());
    let endpoint = pull.bind("ipc://*").unwrap();
    let path = std::path::PathBuf::from(endpoint.strip_prefix("ipc://").unwrap());
    let dir = path.parent().unwrap().to_path_buf();
    assert!(path.exists(), "{endpoint} is bound");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&dir).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700, "the directory is ours alone");
    // A second wildcard bind gets another path.
    let other = socket_with(&rt, SocketType::Pull, Options::default());
    assert_ne!(other.bind("ipc://*").unwrap(), endpoint);
    let push = socket_with(&rt, SocketType::Push, Options::default());
    push.connect(&endpoint).unwrap();
    push.send(Message::single("over ipc://*")).unwrap();
    assert_eq!(pull.recv().unwrap(), Message::single("over ipc://*"));
    drop(pull);
    wait_until("the socket file and its directory are removed", || {
        !dir.exists()
    });
}

#[test]
fn probe_router_announces_a_new_peer() {
    let rt = runtime(1);
    let router = socket_with(&rt, SocketType::Router, Options::default());
    let endpoint = router.bind("tcp://127.0.0.1:*").unwrap();
    let dealer = socket_with(
        &rt,
        SocketType::Dealer,
        Options {
            probe_router: true,
            routing_id: Some(Bytes::from_static(b"prober")),
            ..Options::default()
        },
    );
    dealer.connect(&endpoint).unwrap();
    // The DEALER sends nothing itself: the probe is what arrives.
    let probe = router.recv().unwrap();
    assert_eq!(probe.frames().len(), 2);
    assert_eq!(probe.frames()[0][..], b"prober"[..]);
    assert!(probe.frames()[1].is_empty());
    // Now the ROUTER can address it.
    router
        .send(Message::from_frames([&b"prober"[..], b"hello"]))
        .unwrap();
    assert_eq!(dealer.recv().unwrap(), Message::single("hello"));
}

#[test]
fn connect_routing_id_names_the_next_connection() {
    let rt = runtime(1);
    let server = socket_with(
        &rt,
        SocketType::Router,
        Options {
            routing_id: Some(Bytes::from_static(b"server-side")),
            ..Options::default()
        },
    );
    let endpoint = server.bind("tcp://127.0.0.1:*").unwrap();
    let client = socket_with(
        &rt,
        SocketType::Router,
        Options {
            router_mandatory: true,
            connect_routing_id: Some(Bytes::from_static(b"my-name-for-it")),
            routing_id: Some(Bytes::from_static(b"client-side")),
            ..Options::default()
        },
    );
    client.connect(&endpoint).unwrap();
    // The option was for that connect only.
    assert_eq!(client.options().unwrap().connect_routing_id, None);
    // Routable by that name at once, as in libzmq (whose test_connect_rid sends right after
    // zmq_connect): even under router_mandatory the first send is taken and queues until the
    // connection is up, then goes to the named peer.
    client
        .send(Message::from_frames([&b"my-name-for-it"[..], b"hi"]))
        .expect("a named connect is routable before its connection is up");
    let m = server.recv().unwrap();
    assert_eq!(m.frames()[0][..], b"client-side"[..]);
    assert_eq!(m.frames()[1][..], b"hi"[..]);
}

#[test]
fn a_stream_connect_named_by_connect_routing_id_takes_data_at_once() {
    // STREAM too: data for the named connect, sent while nothing listens yet (so certainly before
    // its tcp connection is up), is written once the connection is made.
    let rt = runtime(2);
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let stream = socket_with(
        &rt,
        SocketType::Stream,
        Options {
            connect_routing_id: Some(Bytes::from_static(b"conn-1")),
            reconnect_ivl: std::time::Duration::from_millis(10),
            ..Options::default()
        },
    );
    stream.connect(&format!("tcp://127.0.0.1:{port}")).unwrap();
    stream
        .send(Message::from_frames([&b"conn-1"[..], b"early bytes"]))
        .expect("a named connect is routable before its connection is up");
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let (mut peer, _) = listener.accept().unwrap();
    peer.set_read_timeout(Some(WAIT)).unwrap();
    let mut got = [0u8; 11];
    std::io::Read::read_exact(&mut peer, &mut got).expect("the early bytes arrive");
    assert_eq!(&got, b"early bytes");
}

#[test]
fn immediate_queues_only_on_live_connections() {
    for immediate in [true, false] {
        let rt = runtime(1);
        let pull = socket_with(&rt, SocketType::Pull, Options::default());
        let endpoint = pull.bind("tcp://127.0.0.1:*").unwrap();
        let push = socket_with(
            &rt,
            SocketType::Push,
            Options {
                immediate,
                // What waits for the dead peer is dropped at the end, not kept for 30 s.
                linger: Some(std::time::Duration::ZERO),
                ..Options::default()
            },
        );
        // A connection that will never come up (nothing listens on an unbound ipc path), and a
        // live one.
        let dead = std::env::temp_dir().join(format!("ringmq-immediate-{}", std::process::id()));
        push.connect(&format!("ipc://{}", dead.display())).unwrap();
        push.connect(&endpoint).unwrap();
        wait_until("the live connection is up", || {
            push.stats().unwrap().connected_peers == 1
        });
        for i in 0..10u32 {
            push.send(Message::single(i.to_be_bytes().to_vec()))
                .unwrap();
        }
        if immediate {
            // All ten reach the live peer; none wait for the dead one.
            for i in 0..10 {
                assert_eq!(number(&pull.recv().unwrap()), i);
            }
        } else {
            // Round robin over both pipes: half wait on the one that is not connected.
            for _ in 0..5 {
                pull.recv().unwrap();
            }
            assert_eq!(push.stats().unwrap().queued_out, 5);
        }
    }
}

#[test]
fn tcp_connect_from_a_chosen_source_address() {
    let rt = runtime(1);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // A free port to connect from: bound and released.
    let source_port = std::net::TcpListener::bind("127.0.0.2:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let push = socket_with(&rt, SocketType::Push, Options::default());
    push.connect(&format!("tcp://127.0.0.2:{source_port};127.0.0.1:{port}"))
        .unwrap();
    let (_stream, peer) = listener.accept().unwrap();
    assert_eq!(peer.ip().to_string(), "127.0.0.2");
    assert_eq!(peer.port(), source_port);
}

#[test]
fn xpub_verboser_passes_every_unsubscribe() {
    for verboser in [true, false] {
        let rt = runtime(1);
        let xpub = socket_with(
            &rt,
            SocketType::XPub,
            Options {
                xpub_verboser: verboser,
                ..Options::default()
            },
        );
        let endpoint = xpub.bind("inproc://verboser").unwrap();
        let subs: Vec<_> = (0..2)
            .map(|_| {
                let sub = socket_with(&rt, SocketType::Sub, Options::default());
                sub.connect(&endpoint).unwrap();
                sub.subscribe(b"news").unwrap();
                sub
            })
            .collect();
        let subscribe = Message::single(&b"\x01news"[..]);
        let cancel = Message::single(&b"\x00news"[..]);
        // Verboser implies verbose: both subscribes come through; plain XPUB passes the first.
        assert_eq!(xpub.recv().unwrap(), subscribe);
        if verboser {
            assert_eq!(xpub.recv().unwrap(), subscribe);
        }
        subs[0].unsubscribe(b"news").unwrap();
        if verboser {
            assert_eq!(
                xpub.recv().unwrap(),
                cancel,
                "the first cancel is passed on"
            );
        }
        subs[1].unsubscribe(b"news").unwrap();
        assert_eq!(
            xpub.recv().unwrap(),
            cancel,
            "the last cancel is always passed on"
        );
        assert_eq!(xpub.try_recv().unwrap(), None);
    }
}

#[test]
fn use_fd_binds_on_the_programs_own_listener() {
    use std::os::fd::IntoRawFd;
    let rt = runtime(1);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let pull = socket_with(
        &rt,
        SocketType::Pull,
        Options {
            use_fd: Some(listener.into_raw_fd()),
            ..Options::default()
        },
    );
    let endpoint = format!("tcp://127.0.0.1:{port}");
    assert_eq!(pull.bind(&endpoint).unwrap(), endpoint);
    let push = socket_with(&rt, SocketType::Push, Options::default());
    push.connect(&endpoint).unwrap();
    push.send(Message::single("through the program's descriptor"))
        .unwrap();
    assert_eq!(
        pull.recv().unwrap(),
        Message::single("through the program's descriptor")
    );
}

#[test]
fn use_fd_refuses_what_is_not_a_stream_socket() {
    use std::os::fd::AsRawFd;
    let rt = runtime(1);
    let file = std::fs::File::open("/dev/null").unwrap();
    let pull = socket_with(
        &rt,
        SocketType::Pull,
        Options {
            use_fd: Some(file.as_raw_fd()),
            ..Options::default()
        },
    );
    let error = pull.bind("tcp://127.0.0.1:0").unwrap_err();
    assert_eq!(error.kind(), ringmq::ErrorKind::BindFailed);
    // The descriptor is still the program's, open.
    assert!(file.metadata().is_ok());
}

#[test]
fn a_load_balancing_handle_with_no_peer_refuses_to_send() {
    for socket_type in [
        SocketType::Push,
        SocketType::Dealer,
        SocketType::Req,
        SocketType::Pair,
    ] {
        let rt = runtime(1);
        let mut sender = socket_with(&rt, socket_type, Options::default());
        sender.set_sndtimeo(Some(std::time::Duration::from_millis(50)));
        // Nothing bound or connected: nowhere to queue (libzmq: EAGAIN), and not writable.
        assert!(matches!(
            sender.try_send(Message::single("nowhere")),
            Err(SendError::Full(_))
        ));
        assert!(matches!(
            sender.send(Message::single("nowhere")),
            Err(SendError::Full(_))
        ));
        assert!(!sender.events().writable, "{socket_type:?}");
        // A connect gives it a peer to queue for, before that peer even exists.
        sender.connect("inproc://later").unwrap();
        assert!(sender.events().writable, "{socket_type:?}");
        sender.try_send(Message::single("queued")).unwrap();
        let receiver_type = match socket_type {
            SocketType::Push => SocketType::Pull,
            SocketType::Req => SocketType::Rep,
            SocketType::Pair => SocketType::Pair,
            _ => SocketType::Dealer,
        };
        let receiver = socket_with(&rt, receiver_type, Options::default());
        receiver.bind("inproc://later").unwrap();
        assert_eq!(receiver.recv().unwrap(), Message::single("queued"));
    }
}

#[test]
fn bind_failures_keep_the_systems_error_number() {
    let rt = runtime(1);
    let socket = socket_with(&rt, SocketType::Pull, Options::default());
    let missing = socket
        .bind("ipc:///nonexistent-ringmq-dir/socket")
        .unwrap_err();
    assert_eq!(missing.kind(), ringmq::ErrorKind::BindFailed);
    assert_eq!(missing.raw_os_error(), Some(libc::ENOENT));
    let long = format!("ipc:///tmp/{}", "a".repeat(120));
    assert_eq!(
        socket.bind(&long).unwrap_err().raw_os_error(),
        Some(libc::ENAMETOOLONG)
    );
    let taken = socket.bind("tcp://127.0.0.1:*").unwrap();
    let other = socket_with(&rt, SocketType::Pull, Options::default());
    assert_eq!(
        other.bind(&taken).unwrap_err().raw_os_error(),
        Some(libc::EADDRINUSE)
    );
}

#[test]
fn tcp_accept_filter_admits_only_the_listed_networks() {
    let rt = runtime(1);
    let pull = socket_with(
        &rt,
        SocketType::Pull,
        Options {
            tcp_accept_filter: vec![ringmq::IpNet::parse("127.0.0.2/32").unwrap()],
            ..Options::default()
        },
    );
    let endpoint = pull.bind("tcp://0.0.0.0:*").unwrap();
    let port = endpoint.rsplit(':').next().unwrap();
    let monitor = pull.monitor().unwrap();
    // From 127.0.0.1: accepted by the kernel, closed by the filter before any byte is read.
    let mut outsider = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    outsider.set_read_timeout(Some(WAIT)).unwrap();
    let mut byte = [0u8; 1];
    assert_eq!(
        std::io::Read::read(&mut outsider, &mut byte).unwrap_or(0),
        0,
        "the filter closes the connection without a greeting"
    );
    // From 127.0.0.2 (tcp://source;destination): admitted.
    let push = socket_with(&rt, SocketType::Push, Options::default());
    push.connect(&format!("tcp://127.0.0.2:0;127.0.0.1:{port}"))
        .unwrap();
    push.send(Message::single("admitted")).unwrap();
    assert_eq!(pull.recv().unwrap(), Message::single("admitted"));
    // Only the admitted one was ever accepted.
    let accepted = std::iter::from_fn(|| monitor.try_recv())
        .filter(|e| e.name() == "accepted")
        .count();
    assert_eq!(accepted, 1);
}

#[test]
fn xpub_nodrop_set_on_a_live_socket_takes_effect() {
    let rt = runtime(2);
    let xpub = socket_with(
        &rt,
        SocketType::XPub,
        Options {
            sndhwm: 10,
            ..Options::default()
        },
    );
    let endpoint = xpub.bind("tcp://127.0.0.1:*").unwrap();
    // Turned on after the socket exists, as C programs do with ZMQ_XPUB_NODROP.
    let mut options = xpub.options().unwrap();
    options.xpub_nodrop = true;
    xpub.set_options(options).unwrap();
    let _sub = subscriber_of(&rt, &xpub, &endpoint);
    let refused = (0..10_000u32).any(|_| {
        matches!(
            xpub.try_send(Message::single(vec![0u8; 64 * 1024])),
            Err(SendError::Full(_))
        )
    });
    assert!(refused, "the live socket refuses at the subscriber's HWM");
    let stats = xpub.stats().unwrap();
    assert_eq!(stats.dropped.peer_at_hwm + stats.dropped.handoff_full, 0);
}

#[test]
fn without_reconnect_an_ended_connection_ends_the_connect() {
    let rt = runtime(2);
    let server = socket_with(&rt, SocketType::Pair, Options::default());
    let endpoint = server.bind("tcp://127.0.0.1:*").unwrap();
    let client = socket_with(
        &rt,
        SocketType::Pair,
        Options {
            reconnect: false,
            ..Options::default()
        },
    );
    client.connect(&endpoint).unwrap();
    client.send(Message::single("ping")).unwrap();
    assert_eq!(server.recv().unwrap().frames()[0], "ping");
    server.unbind(&endpoint).unwrap();
    // The connection ends and is not tried again: the connect is forgotten, so disconnecting
    // finds nothing, and the PAIR is free to connect afresh to the same endpoint.
    wait_until("the client's connect is over", || {
        client.disconnect(&endpoint).is_err()
    });
    assert_eq!(client.stats().unwrap().reconnect_attempts, 0);
    let endpoint = server.bind(&endpoint).unwrap();
    client.connect(&endpoint).unwrap();
    client.send(Message::single("again")).unwrap();
    assert_eq!(server.recv().unwrap().frames()[0], "again");
}

#[test]
fn req_takes_turns_over_its_connects_in_order_even_before_they_are_up() {
    let rt = runtime(2);
    let rep0 = socket_with(&rt, SocketType::Rep, Options::default());
    let e0 = rep0.bind("tcp://127.0.0.1:*").unwrap();
    // A port nobody listens on yet: the second REP binds it only later.
    let rep1 = socket_with(&rt, SocketType::Rep, Options::default());
    let e1 = rep1.bind("tcp://127.0.0.1:*").unwrap();
    rep1.unbind(&e1).unwrap();
    let rep2 = socket_with(&rt, SocketType::Rep, Options::default());
    let e2 = rep2.bind("tcp://127.0.0.1:*").unwrap();
    let req = socket_with(&rt, SocketType::Req, Options::default());
    for e in [&e0, &e1, &e2] {
        req.connect(e).unwrap();
    }
    req.send(Message::single("first")).unwrap();
    assert_eq!(rep0.recv().unwrap().frames()[0], "first");
    rep0.send(Message::single("ok")).unwrap();
    assert_eq!(req.recv().unwrap().frames()[0], "ok");
    // The turn is the second connect's although only the third is up: as libzmq's REQ, the
    // request waits for its peer rather than going to the next one.
    wait_until("the third connection is up", || {
        rep2.stats().unwrap().connected_peers == 1
    });
    req.send(Message::single("second")).unwrap();
    rep1.bind(&e1).unwrap();
    assert_eq!(rep1.recv().unwrap().frames()[0], "second");
    rep1.send(Message::single("ok")).unwrap();
    assert_eq!(req.recv().unwrap().frames()[0], "ok");
    req.send(Message::single("third")).unwrap();
    assert_eq!(rep2.recv().unwrap().frames()[0], "third");
}

#[test]
fn ipc_accept_filter_admits_only_the_listed_peer_credentials() {
    // Every peer here is this process: its uid, gid and pid are known, and one more than each is
    // (almost surely) someone else.
    // SAFETY: getuid, getgid and getpid cannot fail and touch no memory of ours.
    let (uid, gid, pid) = unsafe { (libc::getuid(), libc::getgid(), libc::getpid()) };
    let dir = std::env::temp_dir().join(format!("ringmq-filter-ipc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases: [(&str, ringmq::IpcFilter, bool); 6] = [
        (
            "our uid",
            ringmq::IpcFilter {
                uids: vec![uid],
                ..Default::default()
            },
            true,
        ),
        (
            "another uid",
            ringmq::IpcFilter {
                uids: vec![uid + 1],
                ..Default::default()
            },
            false,
        ),
        (
            "our gid",
            ringmq::IpcFilter {
                gids: vec![gid],
                ..Default::default()
            },
            true,
        ),
        (
            "another gid",
            ringmq::IpcFilter {
                gids: vec![gid + 7919],
                ..Default::default()
            },
            false,
        ),
        (
            "our pid",
            ringmq::IpcFilter {
                pids: vec![pid],
                ..Default::default()
            },
            true,
        ),
        (
            "another pid",
            ringmq::IpcFilter {
                pids: vec![pid + 1],
                ..Default::default()
            },
            false,
        ),
    ];
    for (i, (what, filter, admitted)) in cases.into_iter().enumerate() {
        let rt = runtime(1);
        let pull = socket_with(
            &rt,
            SocketType::Pull,
            Options {
                ipc_accept_filter: filter,
                ..Options::default()
            },
        );
        let endpoint = pull
            .bind(&format!("ipc://{}/{i}.sock", dir.display()))
            .unwrap_or_else(|e| panic!("{what}: bind: {e}"));
        let monitor = pull.monitor().unwrap();
        if admitted {
            let push = socket_with(&rt, SocketType::Push, Options::default());
            push.connect(&endpoint).unwrap();
            push.send(Message::single("admitted")).unwrap();
            assert_eq!(pull.recv().unwrap(), Message::single("admitted"), "{what}");
        } else {
            // A raw Unix-socket peer: the kernel accepts it, the filter closes it unread.
            let path = endpoint.strip_prefix("ipc://").unwrap();
            let mut outsider = std::os::unix::net::UnixStream::connect(path).unwrap();
            outsider.set_read_timeout(Some(WAIT)).unwrap();
            let mut byte = [0u8; 1];
            assert_eq!(
                std::io::Read::read(&mut outsider, &mut byte).unwrap_or(0),
                0,
                "{what}: the filter closes the connection without a greeting"
            );
        }
        let accepted = std::iter::from_fn(|| monitor.try_recv())
            .filter(|e| e.name() == "accepted")
            .count();
        assert_eq!(accepted, usize::from(admitted), "{what}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reconnect_stop_handshake_failed_ends_a_refused_connect() {
    // A PLAIN server that refuses the client's password; the client's connect is over after the first
    // refusal with the option (its endpoint forgotten, so disconnect finds nothing), and still
    // there, retrying, without it. The endpoint is dropped in the same shard turn that reports
    // the failure, so the monitor event orders the check.
    for stop in [true, false] {
        let rt = runtime(1);
        let server = socket_with(
            &rt,
            SocketType::Pull,
            Options::default().plain_server().authorize(
                ringmq::Authorizer::new()
                    .allow_plain_user("who", "the-password")
                    .unwrap(),
            ),
        );
        let ep = server.bind("tcp://127.0.0.1:0").unwrap();
        let client = socket_with(
            &rt,
            SocketType::Push,
            Options {
                reconnect_stop_handshake_failed: stop,
                ..Options::default().plain_client("who", "nobody")
            },
        );
        let monitor = client.monitor().unwrap();
        client.connect(&ep).unwrap();
        assert!(
            monitor.wait_for("handshake-failed", WAIT).is_some(),
            "stop {stop}: no handshake-failed"
        );
        assert_eq!(client.disconnect(&ep).is_err(), stop, "stop {stop}");
    }
}

#[test]
fn a_pub_burst_within_a_large_hwm_is_not_dropped_at_the_hand_off() {
    // libzmq's test_hwm_pubsub: HWM 11 024, 9 999 messages sent at once, all received. The
    // hand-off queue between the handle and its shard holds the whole HWM (up to 65 536), so
    // the burst waits there instead of being dropped.
    let rt = runtime(2);
    let hwm = Options {
        sndhwm: 11_024,
        rcvhwm: 11_024,
        ..Options::default()
    };
    let publisher = socket_with(&rt, SocketType::Pub, hwm.clone());
    let ep = publisher.bind("tcp://127.0.0.1:0").unwrap();
    let subscriber = socket_with(&rt, SocketType::Sub, hwm);
    subscriber.connect(&ep).unwrap();
    subscriber.subscribe(b"").unwrap();
    // Subscribed once a probe gets through.
    wait_until("the subscription", || {
        publisher.send(Message::single("probe")).unwrap();
        subscriber
            .recv_timeout(std::time::Duration::from_millis(10))
            .is_ok()
    });
    let dropped_before = publisher.dropped_messages().unwrap();
    for i in 0..9_999u32 {
        publisher
            .try_send(Message::single(i.to_be_bytes().to_vec()))
            .unwrap();
    }
    let mut next = 0u32;
    while next < 9_999 {
        let m = subscriber.recv_timeout(WAIT).unwrap();
        if m == Message::single("probe") {
            continue; // a probe still on its way
        }
        assert_eq!(m.frames()[0][..], next.to_be_bytes());
        next += 1;
    }
    assert_eq!(publisher.dropped_messages().unwrap(), dropped_before);
}

#[test]
fn try_recv_hands_out_everything_the_socket_holds() {
    // With its per-peer queue and its hand-off queue both full (2 × rcvhwm), a receive that
    // must not wait still finds every message in turn: what the socket holds is there, as in
    // libzmq, even while the hand-off queue is being refilled.
    let rt = runtime(2);
    let small = Options {
        sndhwm: 100,
        rcvhwm: 100,
        ..Options::default()
    };
    let pull = socket_with(&rt, SocketType::Pull, small.clone());
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
    let push = socket_with(&rt, SocketType::Push, small);
    push.connect(&ep).unwrap();
    for i in 0..200u32 {
        push.send(Message::single(i.to_be_bytes().to_vec()))
            .unwrap();
    }
    wait_until("the socket to hold all 200", || {
        pull.stats().unwrap().queued_in == 200
    });
    for i in 0..200u32 {
        let m = pull.try_recv().unwrap();
        let m = m.unwrap_or_else(|| panic!("message {i} is held but try_recv said none"));
        assert_eq!(m.frames()[0][..], i.to_be_bytes());
    }
}

/// As libzmq's SUB, a repeated subscribe goes upstream (a verbose XPUB sees it) and a cancel only
/// when the last of ours goes; a publisher keeps each peer's subscriptions as a set, so that the
/// one cancel ends what two subscribes started.
#[test]
fn a_repeated_subscribe_reaches_the_publisher_and_one_cancel_ends_it() {
    let rt = runtime(1);
    let xpub = socket_with(
        &rt,
        SocketType::XPub,
        Options {
            xpub_verbose: true,
            ..Options::default()
        },
    );
    let endpoint = xpub.bind("inproc://repeated-subscribe").unwrap();
    let sub = socket_with(&rt, SocketType::Sub, Options::default());
    sub.connect(&endpoint).unwrap();
    let subscribe = Message::single(&b"\x01A"[..]);
    sub.subscribe(b"A").unwrap();
    assert_eq!(xpub.recv().unwrap(), subscribe);
    sub.subscribe(b"A").unwrap();
    assert_eq!(xpub.recv().unwrap(), subscribe, "the repeat goes upstream");
    // Our SUB still holds one of its two: no cancel yet.
    sub.unsubscribe(b"A").unwrap();
    sub.subscribe(b"B").unwrap();
    assert_eq!(xpub.recv().unwrap(), Message::single(&b"\x01B"[..]));
    // Its last cancel goes upstream: one cancel after two subscribes. A publisher that counted
    // them would still hold one, and would neither tell its application nor stop sending A.
    sub.unsubscribe(b"A").unwrap();
    assert_eq!(xpub.recv().unwrap(), Message::single(&b"\x00A"[..]));
    assert_eq!(xpub.try_recv().unwrap(), None);
}
