//! ZAP (RFC 27): PLAIN and CURVE servers ask the handler bound at inproc://zeromq.zap.01.

mod support;

use support::{expect_auth_refusal, WAIT};

use std::time::Duration;

use ringmq::{
    generate_keypair, Authorizer, BlockingSocket, Config, Message, Options, Runtime, ShardId,
    SocketType,
};

#[test]
fn curve_server_asks_the_zap_handler_and_tags_messages_with_user_id() {
    let rt = Runtime::new(Config {
        shards: 2,
        ..Config::default()
    })
    .unwrap();
    let server = generate_keypair().unwrap();
    let friend = generate_keypair().unwrap();
    let stranger = generate_keypair().unwrap();
    let handler = rt
        .spawn_on(ShardId(1), {
            let authorizer = Authorizer::new().allow_curve_key(friend.public);
            move || ringmq::zap::serve_authorizer(authorizer)
        })
        .unwrap();
    let mut pull = BlockingSocket::new(
        rt.next_shard(),
        SocketType::Pull,
        Options::default().curve_server(server.clone()),
    )
    .unwrap();
    pull.set_rcvtimeo(Some(WAIT));
    let monitor = pull.monitor().unwrap();
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();

    let bad = BlockingSocket::new(
        rt.next_shard(),
        SocketType::Push,
        Options::default().curve_client(stranger, server.public),
    )
    .unwrap();
    bad.connect(&ep).unwrap();
    expect_auth_refusal(&monitor, "ZAP 400");

    let good = BlockingSocket::new(
        rt.next_shard(),
        SocketType::Push,
        Options::default().curve_client(friend.clone(), server.public),
    )
    .unwrap();
    good.connect(&ep).unwrap();
    good.send(Message::single("hello")).unwrap();
    let m = pull.recv().unwrap();
    assert_eq!(m, Message::single("hello"));
    assert_eq!(m.property("User-Id"), Some(friend.public.to_z85().as_str()));
    assert_eq!(m.property("Peer-Address"), Some("127.0.0.1"));
    drop(handler);
}

#[test]
fn plain_with_a_custom_handler_and_a_silent_one() {
    let rt = Runtime::new(Config::default()).unwrap();
    let handler = rt
        .spawn_on(ShardId(0), || {
            ringmq::zap::serve(|req| {
                if req.mechanism == "PLAIN"
                    && req.credentials[0] == "admin"
                    && req.credentials[1] == "s3cret"
                {
                    req.reply(200, "OK", "the-admin")
                } else {
                    req.reply(400, "no", "")
                }
            })
        })
        .unwrap();
    let mut pull = BlockingSocket::new(
        rt.next_shard(),
        SocketType::Pull,
        Options {
            zap_domain: "test".into(),
            ..Options::default()
        }
        .plain_server(),
    )
    .unwrap();
    pull.set_rcvtimeo(Some(WAIT));
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
    let push = BlockingSocket::new(
        rt.next_shard(),
        SocketType::Push,
        Options::default().plain_client("admin", "s3cret"),
    )
    .unwrap();
    push.connect(&ep).unwrap();
    push.send(Message::single("x")).unwrap();
    assert_eq!(pull.recv().unwrap().property("User-Id"), Some("the-admin"));
    drop(handler);

    // A handler that never answers: the peer is refused after zap_timeout.
    let rt = Runtime::new(Config::default()).unwrap();
    let silent = BlockingSocket::new(rt.next_shard(), SocketType::Rep, Options::default()).unwrap();
    silent.bind("inproc://zeromq.zap.01").unwrap();
    let (_server, monitor, ep) = plain_server_waiting(&rt, Duration::from_millis(200));
    let _push = plain_client_of(&rt, &ep);
    expect_auth_refusal(&monitor, "did not answer");
}

#[test]
fn null_peers_are_put_to_the_zap_handler_when_a_domain_is_set() {
    let rt = Runtime::new(Config::default()).unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let handler = rt
        .spawn_on(ShardId(0), {
            let seen = seen.clone();
            move || {
                ringmq::zap::serve(move |req| {
                    seen.lock().unwrap().push((
                        req.mechanism.clone(),
                        req.domain.clone(),
                        req.identity.clone(),
                    ));
                    if req.domain == "trusted" {
                        req.reply(200, "OK", "null-user")
                    } else {
                        req.reply(400, "not this domain", "")
                    }
                })
            }
        })
        .unwrap();
    let server = |domain: &str| {
        let options = Options {
            zap_domain: domain.into(),
            routing_id: Some(ringmq::Bytes::from_static(b"the-server")),
            ..Options::default()
        };
        let mut pull = BlockingSocket::new(rt.next_shard(), SocketType::Pull, options).unwrap();
        pull.set_rcvtimeo(Some(WAIT));
        let monitor = pull.monitor().unwrap();
        let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
        (pull, monitor, ep)
    };
    let client = |ep: &str| {
        // A refused client keeps its message queued: do not linger on it at the end.
        let options = Options {
            linger: Some(Duration::ZERO),
            ..Options::default()
        };
        let push = BlockingSocket::new(rt.next_shard(), SocketType::Push, options).unwrap();
        push.connect(ep).unwrap();
        push.send(Message::single("hello")).unwrap();
        push
    };

    let (pull, _monitor, ep) = server("trusted");
    let _push = client(&ep);
    let m = pull.recv().unwrap();
    assert_eq!(m, Message::single("hello"));
    assert_eq!(m.property("User-Id"), Some("null-user"));

    let (refused, monitor, ep) = server("other");
    let _push = client(&ep);
    expect_auth_refusal(&monitor, "ZAP 400");
    assert!(refused.recv_timeout(Duration::from_millis(200)).is_err());

    let seen = seen.lock().unwrap().clone();
    assert!(!seen.is_empty());
    for (mechanism, _, identity) in &seen {
        assert_eq!(mechanism, "NULL");
        assert_eq!(
            &identity[..],
            b"the-server",
            "the asking socket's routing id"
        );
    }
    // A socket without a domain never asks.
    let (plain, _m, ep) = server("");
    let _push = client(&ep);
    assert_eq!(plain.recv().unwrap(), Message::single("hello"));
    drop(handler);
}

#[test]
fn a_malformed_reply_refuses_the_peer_at_once_with_libzmqs_code() {
    // The handler answers each request with a fault; the server must not wait out its (long)
    // zap_timeout but fail the handshake with ZMQ_PROTOCOL_ERROR_ZAP_* as libzmq does.
    type Fault = fn(&Message) -> Message;
    let faults: [(Fault, u32); 4] = [
        (|req| with_frame(req, 0, "2.0"), 0x2000_0003),
        (|req| with_frame(req, 1, "not-a-request-id"), 0x2000_0002),
        (|req| with_frame(req, 2, "299"), 0x2000_0004),
        (
            |req| {
                let mut reply = with_frame(req, 0, "1.0");
                reply.push("one frame too many");
                reply
            },
            0x2000_0001,
        ),
    ];
    for (fault, code) in faults {
        let rt = Runtime::new(Config::default()).unwrap();
        let handler =
            BlockingSocket::new(rt.next_shard(), SocketType::Rep, Options::default()).unwrap();
        handler.bind("inproc://zeromq.zap.01").unwrap();
        let answering = std::thread::spawn(move || {
            let request = handler.recv_timeout(WAIT).expect("a ZAP request");
            handler.send(fault(&request)).unwrap();
            handler
        });
        let (_server, monitor, ep) = plain_server_waiting(&rt, Duration::from_secs(600));
        let _push = plain_client_of(&rt, &ep);
        match monitor.wait_for("handshake-failed", WAIT) {
            Some(ringmq::MonitorEvent::HandshakeFailed { reason, .. }) => {
                assert_eq!(reason.zmq_protocol_error(), Some(code), "{reason:?}");
            }
            other => panic!("expected handshake-failed, got {other:?}"),
        }
        drop(answering.join().unwrap());
    }
}

/// A well-formed 200 reply to ZAP request `request`, with frame `at` replaced by `text`.
fn with_frame(request: &Message, at: usize, text: &'static str) -> Message {
    let f = request.frames();
    let mut frames = vec![
        bytes_of("1.0"),
        f[1].clone(),
        bytes_of("200"),
        bytes_of("OK"),
        bytes_of("user"),
        ringmq::Bytes::new(),
    ];
    frames[at] = bytes_of(text);
    Message::from_frames(frames)
}

fn bytes_of(text: &'static str) -> ringmq::Bytes {
    ringmq::Bytes::from_static(text.as_bytes())
}

#[test]
fn a_replaced_inproc_handler_is_asked_next_time() {
    // The first handler answers one request and goes (unbound); the server's next peer must be
    // put to the handler bound after it, not to the first one's dead connection (the server's
    // zap_timeout is far longer than the wait here).
    let rt = Runtime::new(Config::default()).unwrap();
    let answer_one = |handler: BlockingSocket| {
        std::thread::spawn(move || {
            let request = handler.recv_timeout(WAIT).expect("a ZAP request");
            handler.send(with_frame(&request, 0, "1.0")).unwrap();
            handler
        })
    };
    let (server, _monitor, ep) = plain_server_waiting(&rt, Duration::from_secs(600));
    for round in 0..2 {
        let handler =
            BlockingSocket::new(rt.next_shard(), SocketType::Rep, Options::default()).unwrap();
        handler.bind("inproc://zeromq.zap.01").unwrap();
        let answering = answer_one(handler);
        let push = plain_client_of(&rt, &ep);
        push.send(Message::single("hi")).unwrap();
        let got = server.recv_timeout(WAIT);
        assert_eq!(got.ok(), Some(Message::single("hi")), "round {round}");
        let handler = answering.join().unwrap();
        handler.unbind("inproc://zeromq.zap.01").unwrap();
    }
}

/// A PLAIN server (PULL) on `rt` that waits `zap_timeout` for its handler, bound on loopback
/// tcp: the socket, its monitor and its endpoint.
fn plain_server_waiting(
    rt: &Runtime,
    zap_timeout: Duration,
) -> (BlockingSocket, ringmq::Monitor, String) {
    let server = BlockingSocket::new(
        rt.next_shard(),
        SocketType::Pull,
        Options {
            zap_timeout,
            ..Options::default()
        }
        .plain_server(),
    )
    .unwrap();
    let monitor = server.monitor().unwrap();
    let ep = server.bind("tcp://127.0.0.1:0").unwrap();
    (server, monitor, ep)
}

/// A PLAIN client (PUSH) connected to `ep`.
fn plain_client_of(rt: &Runtime, ep: &str) -> BlockingSocket {
    let push = BlockingSocket::new(
        rt.next_shard(),
        SocketType::Push,
        Options::default().plain_client("a", "b"),
    )
    .unwrap();
    push.connect(ep).unwrap();
    push
}
