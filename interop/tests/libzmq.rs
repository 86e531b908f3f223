//! Drives the system libzmq through the safe bindings. Needs libzmq 4.x installed (`libzmq5`).
//!
//! Every wait is bounded by `ZMQ_RCVTIMEO`/`ZMQ_SNDTIMEO`; nothing sleeps.

use std::time::Duration;

use ringmq_interop::libzmq::{
    self, curve_keypair, curve_public, poll, recv_monitor_event, z85_decode, z85_decode_bytes,
    z85_encode, z85_encode_bytes, Context, PollItem, Socket, PAIR, PULL, PUSH, REP, REQ, ROUTER,
    ZMQ_DONTWAIT, ZMQ_EVENT_ACCEPTED, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, ZMQ_EVENT_LISTENING,
    ZMQ_LINGER, ZMQ_MAXMSGSIZE, ZMQ_POLLIN, ZMQ_RCVMORE, ZMQ_ROUTING_ID, ZMQ_SNDHWM,
};

/// Upper bound on any wait in these tests; a healthy run never comes close.
const WAIT: Duration = Duration::from_secs(10);

/// A socket with linger 0 (so a failing test cannot hang in context termination) and bounded waits.
fn socket(context: &Context, kind: i32) -> Socket {
    let socket = context.socket(kind).unwrap();
    socket.set_int(ZMQ_LINGER, 0).unwrap();
    socket.set_rcvtimeo(WAIT).unwrap();
    socket.set_sndtimeo(WAIT).unwrap();
    socket
}

/// A bound `server` of `server_kind` and a `client` of `client_kind` connected to it over TCP loopback.
fn tcp_pair(context: &Context, server_kind: i32, client_kind: i32) -> (Socket, Socket) {
    let server = socket(context, server_kind);
    server.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = server.last_endpoint().unwrap();
    assert!(endpoint.starts_with("tcp://127.0.0.1:"), "{endpoint}");
    assert!(!endpoint.ends_with(":*"), "{endpoint}");
    let client = socket(context, client_kind);
    client.connect(&endpoint).unwrap();
    (server, client)
}

#[test]
fn context_and_socket_thread_bounds() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Context>();
    send::<Socket>();
}

#[test]
fn version_is_4_x() {
    let (major, minor, _patch) = libzmq::version().unwrap();
    assert_eq!(major, 4);
    assert!(minor >= 3, "libzmq 4.{minor}");
}

#[test]
fn push_pull_tcp_multipart_and_one_mebibyte() {
    let context = Context::new().unwrap();
    let (pull, push) = tcp_pair(&context, PULL, PUSH);

    let frames: [&[u8]; 3] = [b"first", b"", b"third frame"];
    push.send_multipart(frames).unwrap();
    assert_eq!(pull.recv_multipart().unwrap(), frames.map(<[u8]>::to_vec));

    let big: Vec<u8> = (0..1024 * 1024 + 3).map(|i| (i % 251) as u8).collect();
    push.send(&big, 0).unwrap();
    let (received, more) = pull.recv_frame(0).unwrap();
    assert!(!more);
    assert_eq!(received.len(), big.len());
    assert!(received == big, "1 MiB payload corrupted");
    assert_eq!(pull.get_int(ZMQ_RCVMORE).unwrap(), 0);
}

#[test]
fn recv_into_reuses_buffer_and_reports_more() {
    let context = Context::new().unwrap();
    let (pull, push) = tcp_pair(&context, PULL, PUSH);
    push.send_multipart([vec![1u8; 100], vec![2u8; 3]]).unwrap();
    let mut buffer = Vec::new();
    assert!(pull.recv_into(&mut buffer, 0).unwrap());
    assert_eq!(buffer, vec![1u8; 100]);
    assert_eq!(pull.get_int(ZMQ_RCVMORE).unwrap(), 1);
    assert!(!pull.recv_into(&mut buffer, 0).unwrap());
    assert_eq!(buffer, vec![2u8; 3]);
}

#[test]
fn req_rep_round_trip() {
    let context = Context::new().unwrap();
    let (rep, req) = tcp_pair(&context, REP, REQ);
    for round in 0..3u8 {
        req.send(&[b'q', round], 0).unwrap();
        assert_eq!(rep.recv(0).unwrap(), vec![b'q', round]);
        rep.send(&[b'a', round], 0).unwrap();
        assert_eq!(req.recv(0).unwrap(), vec![b'a', round]);
    }
}

#[test]
fn rcvtimeo_expiry_is_again() {
    let context = Context::new().unwrap();
    let pull = socket(&context, PULL);
    pull.bind("tcp://127.0.0.1:*").unwrap();
    pull.set_rcvtimeo(Duration::from_millis(20)).unwrap();
    let error = pull.recv(0).unwrap_err();
    assert!(error.is_again(), "{error}");
    assert!(!error.message.is_empty());
    let error = pull.recv(ZMQ_DONTWAIT).unwrap_err();
    assert!(error.is_again(), "{error}");
}

#[test]
fn errors_carry_errno_and_message() {
    let context = Context::new().unwrap();
    let push = socket(&context, PUSH);
    let error = push.connect("bogus://nowhere").unwrap_err();
    assert_eq!(error.errno, libc::EPROTONOSUPPORT, "{error}");
    assert!(error.to_string().contains("errno"), "{error}");
    let error = push.bind("tcp://127.0.0.1:\0").unwrap_err();
    assert_eq!(error.errno, libc::EINVAL);
    let error = context.socket(999).unwrap_err();
    assert_eq!(error.errno, libc::EINVAL, "{error}");
    assert!(push.send_multipart(Vec::<Vec<u8>>::new()).is_err());
}

#[test]
fn socket_options_round_trip() {
    let context = Context::new().unwrap();
    let router = socket(&context, ROUTER);
    router.set_bytes(ZMQ_ROUTING_ID, b"router-1").unwrap();
    assert_eq!(router.get_bytes(ZMQ_ROUTING_ID).unwrap(), b"router-1");
    router.set_int(ZMQ_SNDHWM, 77).unwrap();
    assert_eq!(router.get_int(ZMQ_SNDHWM).unwrap(), 77);
    assert_eq!(router.get_int(ZMQ_LINGER).unwrap(), 0);
    router.set_i64(ZMQ_MAXMSGSIZE, 1 << 33).unwrap();
    assert_eq!(router.get_i64(ZMQ_MAXMSGSIZE).unwrap(), 1 << 33);
}

#[test]
fn socket_moves_to_another_thread() {
    let context = Context::new().unwrap();
    let (pull, push) = tcp_pair(&context, PULL, PUSH);
    let sender = std::thread::spawn(move || {
        push.send(b"from another thread", 0).unwrap();
        push
    });
    assert_eq!(pull.recv(0).unwrap(), b"from another thread");
    drop(sender.join().unwrap());
}

#[test]
fn context_outlives_dropped_handle() {
    // Dropping the Context before its sockets must not block: the sockets keep it alive.
    let context = Context::new().unwrap();
    let (pull, push) = tcp_pair(&context, PULL, PUSH);
    drop(context);
    push.send(b"still here", 0).unwrap();
    assert_eq!(pull.recv(0).unwrap(), b"still here");
}

#[test]
fn poll_reports_readable_socket() {
    let context = Context::new().unwrap();
    let (pull, push) = tcp_pair(&context, PULL, PUSH);
    push.send(b"ready", 0).unwrap();
    let mut items = [PollItem::new(&pull, ZMQ_POLLIN)];
    assert_eq!(poll(&mut items, Some(WAIT)).unwrap(), 1);
    assert_eq!(items[0].revents & ZMQ_POLLIN, ZMQ_POLLIN);
    assert_eq!(pull.recv(ZMQ_DONTWAIT).unwrap(), b"ready");
}

#[test]
fn monitor_reports_listening_and_accepted() {
    let context = Context::new().unwrap();
    let pull = socket(&context, PULL);
    let monitor = pull
        .monitor(
            &context,
            ZMQ_EVENT_LISTENING | ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED,
        )
        .unwrap();
    monitor.set_rcvtimeo(WAIT).unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = pull.last_endpoint().unwrap();

    let (event, _fd, at) = recv_monitor_event(&monitor).unwrap();
    assert_eq!(
        (event, at.as_str()),
        (ZMQ_EVENT_LISTENING, endpoint.as_str())
    );

    let push = socket(&context, PUSH);
    push.connect(&endpoint).unwrap();
    let (event, _fd, at) = recv_monitor_event(&monitor).unwrap();
    assert_eq!(
        (event, at.as_str()),
        (ZMQ_EVENT_ACCEPTED, endpoint.as_str())
    );
    let (event, _, _) = recv_monitor_event(&monitor).unwrap();
    assert_eq!(event, ZMQ_EVENT_HANDSHAKE_SUCCEEDED);

    let other = Context::new().unwrap();
    assert!(pull.monitor(&other, ZMQ_EVENT_ACCEPTED).is_err());
    drop(socket(&other, PAIR));
}

#[test]
fn has_curve() {
    assert!(libzmq::has("curve"));
    assert!(!libzmq::has("no-such-capability"));
}

#[test]
fn z85_rfc32_test_vector() {
    // RFC 32 (Z85) section "Test Case": these 8 bytes encode to "HelloWorld".
    let bytes = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
    assert_eq!(z85_encode_bytes(&bytes).unwrap(), "HelloWorld");
    assert_eq!(z85_decode_bytes("HelloWorld").unwrap(), bytes);
    assert!(z85_encode_bytes(&bytes[..7]).is_err());
    // A space is outside the Z85 alphabet; nine characters are not whole 5-character groups.
    assert!(z85_decode_bytes("Hello Worl").is_err());
    assert!(z85_decode_bytes("HelloWorl").is_err());
}

#[test]
fn curve_keypair_round_trips_through_z85() {
    let (public, secret) = curve_keypair().unwrap();
    assert_eq!(public.len(), 40);
    assert_eq!(secret.len(), 40);
    assert_ne!(public, secret);
    let public_bytes = z85_decode(&public).unwrap();
    assert_eq!(z85_encode(&public_bytes).unwrap(), public);
    let secret_bytes = z85_decode(&secret).unwrap();
    assert_eq!(z85_encode(&secret_bytes).unwrap(), secret);
    assert_eq!(curve_public(&secret).unwrap(), public);
    assert!(z85_decode("HelloWorld").is_err());
}
