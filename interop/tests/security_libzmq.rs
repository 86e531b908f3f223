//! CURVE and PLAIN against real libzmq 4.3.4 (built with libsodium): each side in turn the server,
//! PUSH/PULL and REQ/REP; wrong keys and passwords refused and visible as handshake-failed events.

mod common;

use std::time::Duration;

use common::{expect_auth_refusal, frames, ipc_endpoint, WAIT};
use ringmq::{
    Authorizer, BlockingSocket, Config, HandshakeFailure, KeyPair, MonitorEvent, Options,
    PublicKey, Runtime, SecretKey, SocketType,
};
use ringmq_interop::libzmq as zmq;

struct Keys {
    public: String,
    secret: String,
}

fn libzmq_keys() -> Keys {
    let (public, secret) = zmq::curve_keypair().expect("libzmq with CURVE (libsodium)");
    Keys { public, secret }
}

fn ringmq_keys(k: &Keys) -> KeyPair {
    KeyPair::from_secret(SecretKey::from_z85(&k.secret).unwrap())
}

fn zsock(ctx: &zmq::Context, kind: i32) -> zmq::Socket {
    let s = ctx.socket(kind).unwrap();
    s.set_int(zmq::ZMQ_LINGER, 0).unwrap();
    s.set_rcvtimeo(WAIT).unwrap();
    s.set_sndtimeo(WAIT).unwrap();
    s
}

fn rsock(rt: &Runtime, t: SocketType, options: Options) -> BlockingSocket {
    let mut s = BlockingSocket::new(rt.next_shard(), t, options).unwrap();
    s.set_rcvtimeo(Some(WAIT));
    s.set_sndtimeo(Some(WAIT));
    s
}

fn setup() -> (Runtime, zmq::Context) {
    assert!(zmq::has("curve"), "the system libzmq must have CURVE");
    (
        Runtime::new(Config {
            shards: 2,
            ..Config::default()
        })
        .unwrap(),
        zmq::Context::new().unwrap(),
    )
}

#[test]
fn ringmq_curve_server_libzmq_curve_client_push_pull_and_req_rep() {
    let (rt, ctx) = setup();
    let server_keys = libzmq_keys();
    let client_keys = libzmq_keys();
    for transport in ["tcp", "ipc"] {
        // PUSH (libzmq client) -> PULL (ringmq server).
        let pull = rsock(
            &rt,
            SocketType::Pull,
            Options::default().curve_server(ringmq_keys(&server_keys)),
        );
        let ep = if transport == "tcp" {
            pull.bind("tcp://127.0.0.1:0").unwrap()
        } else {
            pull.bind(&ipc_endpoint()).unwrap()
        };
        let push = zsock(&ctx, zmq::PUSH);
        push.set_bytes(zmq::ZMQ_CURVE_SERVERKEY, server_keys.public.as_bytes())
            .unwrap();
        push.set_bytes(zmq::ZMQ_CURVE_PUBLICKEY, client_keys.public.as_bytes())
            .unwrap();
        push.set_bytes(zmq::ZMQ_CURVE_SECRETKEY, client_keys.secret.as_bytes())
            .unwrap();
        push.connect(&ep).unwrap();
        for size in [0usize, 16, 1024, 70_000] {
            let body = vec![size as u8; size];
            push.send_multipart([b"head".to_vec(), body.clone()])
                .unwrap();
            let m = pull.recv().unwrap();
            assert_eq!(m.frames()[1][..], body[..], "{transport} size {size}");
        }
        // REQ (libzmq client) -> REP (ringmq server).
        let rep = rsock(
            &rt,
            SocketType::Rep,
            Options::default().curve_server(ringmq_keys(&server_keys)),
        );
        let ep = rep.bind("tcp://127.0.0.1:0").unwrap();
        let req = zsock(&ctx, zmq::REQ);
        req.set_bytes(zmq::ZMQ_CURVE_SERVERKEY, server_keys.public.as_bytes())
            .unwrap();
        req.set_bytes(zmq::ZMQ_CURVE_PUBLICKEY, client_keys.public.as_bytes())
            .unwrap();
        req.set_bytes(zmq::ZMQ_CURVE_SECRETKEY, client_keys.secret.as_bytes())
            .unwrap();
        req.connect(&ep).unwrap();
        for i in 0..3u8 {
            req.send(&[i], 0).unwrap();
            assert_eq!(rep.recv().unwrap().frames()[0][..], [i]);
            rep.send(vec![i, i]).unwrap();
            assert_eq!(req.recv(0).unwrap(), vec![i, i]);
        }
    }
}

#[test]
fn libzmq_curve_server_ringmq_curve_client_push_pull_and_req_rep() {
    let (rt, ctx) = setup();
    let server_keys = libzmq_keys();
    let client = ringmq::generate_keypair().unwrap();
    let server_public = PublicKey::from_z85(&server_keys.public).unwrap();

    let pull = zsock(&ctx, zmq::PULL);
    pull.set_int(zmq::ZMQ_CURVE_SERVER, 1).unwrap();
    pull.set_bytes(zmq::ZMQ_CURVE_SECRETKEY, server_keys.secret.as_bytes())
        .unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let push = rsock(
        &rt,
        SocketType::Push,
        Options::default().curve_client(client.clone(), server_public),
    );
    push.connect(&pull.last_endpoint().unwrap()).unwrap();
    for i in 0..1000u32 {
        push.send(ringmq::Message::from_frames([
            b"n".to_vec(),
            i.to_be_bytes().to_vec(),
        ]))
        .unwrap();
    }
    for i in 0..1000u32 {
        assert_eq!(
            pull.recv_multipart().unwrap(),
            vec![b"n".to_vec(), i.to_be_bytes().to_vec()]
        );
    }

    let rep = zsock(&ctx, zmq::REP);
    rep.set_int(zmq::ZMQ_CURVE_SERVER, 1).unwrap();
    rep.set_bytes(zmq::ZMQ_CURVE_SECRETKEY, server_keys.secret.as_bytes())
        .unwrap();
    let ep = ipc_endpoint();
    rep.bind(&ep).unwrap();
    let req = rsock(
        &rt,
        SocketType::Req,
        Options::default().curve_client(client, server_public),
    );
    req.connect(&ep).unwrap();
    req.send(ringmq::Message::single("question")).unwrap();
    assert_eq!(rep.recv(0).unwrap(), b"question");
    rep.send(b"answer", 0).unwrap();
    assert_eq!(req.recv().unwrap().frames()[0], "answer");
}

#[test]
fn curve_pub_sub_subscriptions_travel_encrypted() {
    let (rt, ctx) = setup();
    let server_keys = libzmq_keys();
    let client_keys = libzmq_keys();
    let publ = rsock(
        &rt,
        SocketType::Pub,
        Options::default().curve_server(ringmq_keys(&server_keys)),
    );
    let ep = publ.bind("tcp://127.0.0.1:0").unwrap();
    let sub = zsock(&ctx, zmq::SUB);
    sub.set_bytes(zmq::ZMQ_CURVE_SERVERKEY, server_keys.public.as_bytes())
        .unwrap();
    sub.set_bytes(zmq::ZMQ_CURVE_PUBLICKEY, client_keys.public.as_bytes())
        .unwrap();
    sub.set_bytes(zmq::ZMQ_CURVE_SECRETKEY, client_keys.secret.as_bytes())
        .unwrap();
    sub.subscribe(b"a").unwrap();
    sub.connect(&ep).unwrap();
    sub.set_rcvtimeo(Duration::from_millis(20)).unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "subscription never took effect"
        );
        publ.send(ringmq::Message::single("b-not-this")).unwrap();
        publ.send(ringmq::Message::single("a-this")).unwrap();
        if let Ok(m) = sub.recv(0) {
            assert_eq!(m, b"a-this");
            break;
        }
    }
}

#[test]
fn wrong_keys_and_passwords_are_refused_and_reported() {
    let (rt, ctx) = setup();
    let server_keys = libzmq_keys();
    let allowed = libzmq_keys();
    let stranger = libzmq_keys();
    let authorizer = Authorizer::new()
        .allow_curve_key(PublicKey::from_z85(&allowed.public).unwrap())
        .allow_plain_user("admin", "right")
        .unwrap();

    // CURVE: a client key the authorizer does not allow.
    let pull = rsock(
        &rt,
        SocketType::Pull,
        Options::default()
            .curve_server(ringmq_keys(&server_keys))
            .authorize(authorizer.clone()),
    );
    let monitor = pull.monitor().unwrap();
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
    let intruder = zsock(&ctx, zmq::PUSH);
    intruder
        .set_bytes(zmq::ZMQ_CURVE_SERVERKEY, server_keys.public.as_bytes())
        .unwrap();
    intruder
        .set_bytes(zmq::ZMQ_CURVE_PUBLICKEY, stranger.public.as_bytes())
        .unwrap();
    intruder
        .set_bytes(zmq::ZMQ_CURVE_SECRETKEY, stranger.secret.as_bytes())
        .unwrap();
    intruder.connect(&ep).unwrap();
    intruder.send(b"should not arrive", zmq::ZMQ_DONTWAIT).ok();
    expect_auth_refusal(&monitor, "not allowed");
    // The allowed key gets through on the same socket.
    let friend = zsock(&ctx, zmq::PUSH);
    friend
        .set_bytes(zmq::ZMQ_CURVE_SERVERKEY, server_keys.public.as_bytes())
        .unwrap();
    friend
        .set_bytes(zmq::ZMQ_CURVE_PUBLICKEY, allowed.public.as_bytes())
        .unwrap();
    friend
        .set_bytes(zmq::ZMQ_CURVE_SECRETKEY, allowed.secret.as_bytes())
        .unwrap();
    friend.connect(&ep).unwrap();
    friend.send(b"welcome", 0).unwrap();
    assert_eq!(pull.recv().unwrap().frames()[0], "welcome");

    // CURVE: a client that expects another server key cannot even open WELCOME; the server sees
    // a protocol failure (its HELLO box does not open).
    let wrong_server = zsock(&ctx, zmq::PUSH);
    wrong_server
        .set_bytes(zmq::ZMQ_CURVE_SERVERKEY, stranger.public.as_bytes())
        .unwrap();
    wrong_server
        .set_bytes(zmq::ZMQ_CURVE_PUBLICKEY, allowed.public.as_bytes())
        .unwrap();
    wrong_server
        .set_bytes(zmq::ZMQ_CURVE_SECRETKEY, allowed.secret.as_bytes())
        .unwrap();
    wrong_server.connect(&ep).unwrap();
    match monitor
        .wait_for("handshake-failed", WAIT)
        .expect("a handshake-failed event")
    {
        MonitorEvent::HandshakeFailed {
            reason: HandshakeFailure::Protocol(r),
            ..
        } => {
            assert!(r.contains("HELLO"), "{r}")
        }
        other => panic!("{other:?}"),
    }

    // PLAIN: a wrong password, then the right one.
    let plain = rsock(
        &rt,
        SocketType::Pull,
        Options::default().plain_server().authorize(authorizer),
    );
    let plain_monitor = plain.monitor().unwrap();
    let ep = plain.bind("tcp://127.0.0.1:0").unwrap();
    let bad = zsock(&ctx, zmq::PUSH);
    bad.set_bytes(zmq::ZMQ_PLAIN_USERNAME, b"admin").unwrap();
    bad.set_bytes(zmq::ZMQ_PLAIN_PASSWORD, b"wrong").unwrap();
    bad.connect(&ep).unwrap();
    match plain_monitor
        .wait_for("handshake-failed", WAIT)
        .expect("a handshake-failed event")
    {
        MonitorEvent::HandshakeFailed {
            reason: HandshakeFailure::Auth(_),
            ..
        } => {}
        other => panic!("{other:?}"),
    }
    let good = zsock(&ctx, zmq::PUSH);
    good.set_bytes(zmq::ZMQ_PLAIN_USERNAME, b"admin").unwrap();
    good.set_bytes(zmq::ZMQ_PLAIN_PASSWORD, b"right").unwrap();
    good.connect(&ep).unwrap();
    good.send(b"plain hello", 0).unwrap();
    assert_eq!(plain.recv().unwrap().frames()[0], "plain hello");
}

#[test]
fn plain_both_ways() {
    let (rt, ctx) = setup();
    // A libzmq PLAIN server needs a ZAP handler (RFC 27): a libzmq REP socket on
    // inproc://zeromq.zap.01 that accepts "user"/"pass" and refuses anything else.
    let zap = zsock(&ctx, zmq::REP);
    zap.bind("inproc://zeromq.zap.01").unwrap();
    zap.set_rcvtimeo(Duration::from_millis(100)).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_zap = stop.clone();
    let handler = std::thread::spawn(move || {
        let mut seen = Vec::new();
        while !stop_zap.load(std::sync::atomic::Ordering::SeqCst) {
            let Ok(request) = zap.recv_multipart() else {
                continue;
            };
            // version, request id, domain, address, identity, mechanism, username, password
            let ok = request[5] == b"PLAIN" && request[6] == b"user" && request[7] == b"pass";
            seen.push(String::from_utf8_lossy(&request[6]).into_owned());
            let status: &[u8] = if ok { b"200" } else { b"400" };
            zap.send_multipart([b"1.0".as_slice(), &request[1], status, b"", b"user-id", b""])
                .unwrap();
        }
        seen
    });
    // libzmq PLAIN server <- ringmq PLAIN client.
    let rep = zsock(&ctx, zmq::REP);
    rep.set_int(zmq::ZMQ_PLAIN_SERVER, 1).unwrap();
    rep.bind("tcp://127.0.0.1:*").unwrap();
    let req = rsock(
        &rt,
        SocketType::Req,
        Options::default().plain_client("user", "pass"),
    );
    req.connect(&rep.last_endpoint().unwrap()).unwrap();
    req.send(ringmq::Message::single("hi")).unwrap();
    assert_eq!(rep.recv(0).unwrap(), b"hi");
    rep.send(b"ho", 0).unwrap();
    assert_eq!(req.recv().unwrap().frames()[0], "ho");
    // ringmq PLAIN server <- libzmq PLAIN client.
    let pull = rsock(&rt, SocketType::Pull, Options::default().plain_server());
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
    let push = zsock(&ctx, zmq::PUSH);
    push.set_bytes(zmq::ZMQ_PLAIN_USERNAME, b"u").unwrap();
    push.set_bytes(zmq::ZMQ_PLAIN_PASSWORD, b"p").unwrap();
    push.connect(&ep).unwrap();
    push.send_multipart(frames(&[b"x", b"y"])).unwrap();
    assert_eq!(
        pull.recv().unwrap(),
        ringmq::Message::from_frames(["x", "y"])
    );
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        handler.join().unwrap(),
        vec!["user".to_owned()],
        "the libzmq ZAP handler saw ringmq's credentials"
    );
}

#[test]
fn require_curve_policy_refuses_plain_tcp() {
    let rt = Runtime::new(Config {
        security_policy: ringmq::SecurityPolicy::RequireCurve,
        ..Config::default()
    })
    .unwrap();
    let null = BlockingSocket::new(rt.next_shard(), SocketType::Pull, Options::default()).unwrap();
    assert_eq!(
        null.bind("tcp://127.0.0.1:0").unwrap_err().kind(),
        ringmq::ErrorKind::PolicyViolation
    );
    assert_eq!(
        null.connect("tcp://127.0.0.1:5555").unwrap_err().kind(),
        ringmq::ErrorKind::PolicyViolation
    );
    // ipc stays allowed; CURVE on tcp is fine.
    null.bind(&ipc_endpoint()).unwrap();
    let curve = BlockingSocket::new(
        rt.next_shard(),
        SocketType::Pull,
        Options::default().curve_server(ringmq::generate_keypair().unwrap()),
    )
    .unwrap();
    curve.bind("tcp://127.0.0.1:0").unwrap();
}

#[test]
fn libzmq_zap_handler_decides_for_a_ringmq_server() {
    // RFC 27 handlers live on inproc inside the server's own context, which a libzmq socket cannot
    // reach from ringmq; Options::zap_endpoint points the ringmq server at a handler elsewhere, here
    // a libzmq REP socket on ipc.
    let (rt, ctx) = setup();
    let handler_ep = ipc_endpoint();
    let zap = zsock(&ctx, zmq::REP);
    zap.bind(&handler_ep).unwrap();
    let server_keys = ringmq::generate_keypair().unwrap();
    let allowed = ringmq::generate_keypair().unwrap();
    let allowed_key = allowed.public.as_bytes().to_vec();
    let handler = std::thread::spawn(move || {
        // Two requests: one allowed key, one not.
        let mut answered = 0;
        while answered < 2 {
            let Ok(request) = zap.recv_multipart() else {
                continue;
            };
            assert_eq!(request[0], b"1.0");
            assert_eq!(request[5], b"CURVE");
            let ok = request[6] == allowed_key;
            let reply: [&[u8]; 6] = [
                b"1.0",
                &request[1],
                if ok { b"200" } else { b"400" },
                b"",
                if ok { b"libzmq-said-yes" } else { b"" },
                b"",
            ];
            zap.send_multipart(reply).unwrap();
            answered += 1;
        }
    });
    let options = Options {
        zap_endpoint: Some(handler_ep),
        ..Options::default()
    }
    .curve_server(server_keys.clone());
    let pull = rsock(&rt, SocketType::Pull, options);
    let monitor = pull.monitor().unwrap();
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
    let stranger = rsock(
        &rt,
        SocketType::Push,
        Options::default().curve_client(ringmq::generate_keypair().unwrap(), server_keys.public),
    );
    stranger.connect(&ep).unwrap();
    expect_auth_refusal(&monitor, "ZAP 400");
    let friend = rsock(
        &rt,
        SocketType::Push,
        Options::default().curve_client(allowed, server_keys.public),
    );
    friend.connect(&ep).unwrap();
    friend.send(ringmq::Message::single("hi")).unwrap();
    let m = pull.recv().unwrap();
    assert_eq!(m.property("User-Id"), Some("libzmq-said-yes"));
    handler.join().unwrap();
}

#[test]
fn libzmq_zap_handler_decides_about_null_peers_when_a_domain_is_set() {
    // As libzmq does for its own NULL servers: with a ZAP domain set, a NULL peer is put to the
    // handler (mechanism "NULL", no credentials, the asking socket's routing id as identity)
    // before the server sends READY.
    let (rt, ctx) = setup();
    let handler_ep = ipc_endpoint();
    let zap = zsock(&ctx, zmq::REP);
    zap.bind(&handler_ep).unwrap();
    let handler = std::thread::spawn(move || {
        let mut requests = Vec::new();
        // The first NULL peer is refused, the second accepted.
        while requests.len() < 2 {
            let Ok(request) = zap.recv_multipart() else {
                continue;
            };
            let ok = !requests.is_empty();
            let reply: [&[u8]; 6] = [
                b"1.0",
                &request[1],
                if ok { b"200" } else { b"400" },
                b"",
                if ok { b"null-ok" } else { b"" },
                b"",
            ];
            zap.send_multipart(reply).unwrap();
            requests.push(request);
        }
        requests
    });
    let options = Options {
        zap_endpoint: Some(handler_ep),
        zap_domain: "global".into(),
        routing_id: Some(ringmq::Bytes::from_static(b"ringmq-server")),
        ..Options::default()
    };
    let pull = rsock(&rt, SocketType::Pull, options);
    let monitor = pull.monitor().unwrap();
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();

    let refused = zsock(&ctx, zmq::PUSH);
    refused.connect(&ep).unwrap();
    expect_auth_refusal(&monitor, "ZAP 400");
    drop(refused);
    let accepted = zsock(&ctx, zmq::PUSH);
    accepted.connect(&ep).unwrap();
    accepted.send(b"from libzmq", 0).unwrap();
    let m = pull.recv().unwrap();
    assert_eq!(m.frames()[0], "from libzmq");
    assert_eq!(m.property("User-Id"), Some("null-ok"));
    let requests = handler.join().unwrap();
    for request in &requests {
        assert_eq!(request[0], b"1.0");
        assert_eq!(request[2], b"global", "domain");
        assert_eq!(request[3], b"127.0.0.1", "address");
        assert_eq!(
            request[4], b"ringmq-server",
            "identity: the asking socket's routing id"
        );
        assert_eq!(request[5], b"NULL");
        assert_eq!(request.len(), 6, "NULL carries no credentials");
    }
}
