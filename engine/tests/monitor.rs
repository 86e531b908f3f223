//! Monitor events, as libzmq's zmq_socket_monitor reports them.

mod support;

use support::{socket, WAIT};

use std::io::Write;
use std::time::Duration;

use ringmq::{
    BlockingSocket, Config, HandshakeFailure, Message, MonitorEvent, Options, Runtime, SocketType,
};

#[test]
fn lifecycle_events_on_both_sides() {
    let rt = Runtime::new(Config {
        shards: 2,
        ..Config::default()
    })
    .unwrap();
    let pull = socket(&rt, SocketType::Pull);
    let server = pull.monitor().unwrap();
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
    assert_eq!(
        server
            .wait_for("listening", WAIT)
            .expect("a listening event"),
        MonitorEvent::Listening {
            endpoint: ep.clone()
        }
    );

    let push = socket(&rt, SocketType::Push);
    let client = push.monitor().unwrap();
    push.connect(&ep).unwrap();
    client
        .wait_for("connect-delayed", WAIT)
        .expect("a connect-delayed event");
    client
        .wait_for("connected", WAIT)
        .expect("a connected event");
    assert_eq!(
        client
            .wait_for("handshake-succeeded", WAIT)
            .expect("a handshake-succeeded event"),
        MonitorEvent::HandshakeSucceeded {
            endpoint: ep.clone(),
            peer_socket_type: SocketType::Pull
        }
    );
    server
        .wait_for("accepted", WAIT)
        .expect("an accepted event");
    let ok = server
        .wait_for("handshake-succeeded", WAIT)
        .expect("a handshake-succeeded event");
    assert_eq!(ok.zmq_event(), 0x1000);

    push.send(Message::single("x")).unwrap();
    pull.recv().unwrap();
    drop(push);
    let gone = server
        .wait_for("disconnected", WAIT)
        .expect("a disconnected event");
    assert_eq!(gone.endpoint(), ep);
}

#[test]
fn failures_are_reported() {
    let rt = Runtime::new(Config::default()).unwrap();
    let pull = socket(&rt, SocketType::Pull);
    let server = pull.monitor().unwrap();
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
    // A second bind on the same port fails.
    assert!(pull.bind(&ep).is_err());
    let failed = server
        .wait_for("bind-failed", WAIT)
        .expect("a bind-failed event");
    assert_eq!(failed.zmq_event(), 0x0010);

    // A peer speaking something else: handshake-failed with a protocol reason.
    let mut raw = std::net::TcpStream::connect(ep.trim_start_matches("tcp://")).unwrap();
    raw.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    match server
        .wait_for("handshake-failed", WAIT)
        .expect("a handshake-failed event")
    {
        MonitorEvent::HandshakeFailed {
            reason: HandshakeFailure::Protocol(r),
            ..
        } => {
            assert!(r.contains("legacy ZMTP 1.x peer refused"), "{r}")
        }
        other => panic!("{other:?}"),
    }

    // Connecting where nobody listens: delayed, then retried with the interval.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let push = BlockingSocket::new(
        rt.next_shard(),
        SocketType::Push,
        Options {
            reconnect_ivl: Duration::from_millis(20),
            ..Options::default()
        },
    )
    .unwrap();
    let client = push.monitor().unwrap();
    push.connect(&format!("tcp://127.0.0.1:{port}")).unwrap();
    client
        .wait_for("connect-delayed", WAIT)
        .expect("a connect-delayed event");
    match client
        .wait_for("connect-retried", WAIT)
        .expect("a connect-retried event")
    {
        MonitorEvent::ConnectRetried { interval, .. } => {
            assert_eq!(interval, Duration::from_millis(20))
        }
        other => panic!("{other:?}"),
    }
    // Closing the listener reports closed.
    drop(pull);
    server.wait_for("closed", WAIT).expect("a closed event");
}
