//! STREAM sockets (`ZMQ_STREAM`): raw tcp peers, addressed by routing id, with connect and
//! disconnect notifications and close by an empty frame.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use support::{runtime, socket_with, WAIT};

use ringmq::{Bytes, Message, Options, SocketType};

/// `[routing id, body]`.
fn parts(m: &Message) -> (Bytes, Bytes) {
    assert_eq!(m.frames().len(), 2, "a STREAM message is [id, body]");
    (m.frames()[0].clone(), m.frames()[1].clone())
}

#[test]
fn a_bound_stream_socket_talks_to_a_plain_tcp_client() {
    let rt = runtime(1);
    let stream = socket_with(&rt, SocketType::Stream, Options::default());
    let endpoint = stream.bind("tcp://127.0.0.1:*").unwrap();
    let mut client = TcpStream::connect(endpoint.strip_prefix("tcp://").unwrap()).unwrap();
    client.set_read_timeout(Some(WAIT)).unwrap();
    // The connection is announced: its id and an empty frame.
    let (id, body) = parts(&stream.recv().unwrap());
    assert!(!id.is_empty());
    assert!(body.is_empty());
    // Bytes in, no ZMTP: what the client wrote arrives as is.
    client.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut received = Vec::new();
    while received.len() < 18 {
        let (from, body) = parts(&stream.recv().unwrap());
        assert_eq!(from, id);
        received.extend_from_slice(&body);
    }
    assert_eq!(received, b"GET / HTTP/1.0\r\n\r\n");
    // Bytes out, addressed by the id.
    stream
        .send(Message::from_frames([
            id.clone(),
            Bytes::from_static(b"HTTP/1.0 200 OK\r\n"),
        ]))
        .unwrap();
    let mut reply = [0u8; 17];
    client.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"HTTP/1.0 200 OK\r\n");
    // An empty body closes the connection: the client reads end of stream.
    stream
        .send(Message::from_frames([id, Bytes::new()]))
        .unwrap();
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}

#[test]
fn a_connecting_stream_socket_reports_the_peers_close() {
    let rt = runtime(1);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let stream = socket_with(&rt, SocketType::Stream, Options::default());
    stream.connect(&format!("tcp://127.0.0.1:{port}")).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    let (id, body) = parts(&stream.recv().unwrap());
    assert!(body.is_empty(), "first the connection is announced");
    server.write_all(b"hello").unwrap();
    let (from, body) = parts(&stream.recv().unwrap());
    assert_eq!((from.clone(), &body[..]), (id.clone(), &b"hello"[..]));
    drop(server);
    let (from, body) = parts(&stream.recv().unwrap());
    assert_eq!(from, id);
    assert!(
        body.is_empty(),
        "the peer's close is announced the same way"
    );
}

#[test]
fn notifications_can_be_turned_off() {
    let rt = runtime(1);
    let stream = socket_with(
        &rt,
        SocketType::Stream,
        Options {
            stream_notify: false,
            ..Options::default()
        },
    );
    let endpoint = stream.bind("tcp://127.0.0.1:*").unwrap();
    let mut client = TcpStream::connect(endpoint.strip_prefix("tcp://").unwrap()).unwrap();
    client.write_all(b"x").unwrap();
    let (_, body) = parts(&stream.recv().unwrap());
    assert_eq!(&body[..], b"x", "the data comes first: no announcement");
}
