//! Closing loses nothing, even to a libzmq receiver (issue: tail loss on close over ipc).
//!
//! A libzmq PULL stops reading its socket at its RCVHWM; if the sending side then closes a unix
//! stream socket, libzmq sees the hang-up while its input is stopped and drops the connection
//! with everything still in the kernel buffer. ringmq therefore closes the way TCP closes
//! politely: once linger has written everything it shuts down its writing side, keeps reading
//! (and discarding) until the peer's end of stream or the linger deadline, and only then closes.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::ipc_endpoint;
use ringmq::{BlockingSocket, Config, Message, Options, Runtime, SocketType};
use ringmq_interop::libzmq as zmq;

const MESSAGES: usize = 20_000;
/// Runs per test; `RINGMQ_CLOSE_RUNS` asks for more (the report's figures come from 20).
fn runs() -> usize {
    std::env::var("RINGMQ_CLOSE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
}

/// A libzmq PULL bound on `endpoint` reads on a thread of its own, slower than the sender (a
/// pause every few hundred messages, so its input stops at RCVHWM as a busy consumer's does);
/// a ringmq PUSH connects, sends `MESSAGES` short messages and closes at once (socket, then
/// runtime). Returns how many the libzmq side received.
fn send_then_close(endpoint_for: impl Fn() -> String) -> usize {
    let ctx = zmq::Context::new().expect("libzmq context");
    let pull = ctx.socket(zmq::PULL).expect("pull");
    pull.set_rcvtimeo(Duration::from_secs(3)).expect("rcvtimeo");
    pull.bind(&endpoint_for()).expect("bind");
    let endpoint = pull.last_endpoint().expect("endpoint");
    let receiver = std::thread::spawn(move || {
        let mut received = 0;
        while received < MESSAGES {
            let Ok(frame) = pull.recv(0) else { break };
            assert_eq!(frame, format!("line {received:08}").as_bytes(), "in order");
            received += 1;
            if received % 500 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        received
    });
    {
        let rt = Runtime::new(Config::default()).expect("runtime");
        let push = BlockingSocket::new(rt.next_shard(), SocketType::Push, Options::default())
            .expect("push");
        push.connect(&endpoint).expect("connect");
        for i in 0..MESSAGES {
            push.send(Message::single(format!("line {i:08}")))
                .expect("send");
        }
        // Dropped here: the socket's linger flushes, then the runtime stops.
    }
    let received = receiver.join().expect("receiver");
    drop(ctx);
    received
}

#[test]
fn close_over_ipc_delivers_every_message_to_libzmq() {
    for run in 0..runs() {
        let got = send_then_close(ipc_endpoint);
        assert_eq!(
            got, MESSAGES,
            "run {run}: {got} of {MESSAGES} delivered over ipc"
        );
    }
}

#[test]
fn close_over_tcp_delivers_every_message_to_libzmq() {
    for run in 0..runs() {
        let got = send_then_close(|| "tcp://127.0.0.1:*".to_owned());
        assert_eq!(
            got, MESSAGES,
            "run {run}: {got} of {MESSAGES} delivered over tcp"
        );
    }
}

/// Dropping a receiving socket and its runtime is prompt while a peer keeps sending at full speed:
/// linger covers what we still have to send, never what peers keep sending us. Returns once the
/// drop finished, panicking if it takes longer than a bound far below the default linger (30 s).
fn close_while_flooded(
    endpoint: &str,
    sender: impl FnOnce(String, Arc<AtomicBool>) + Send + 'static,
) {
    let rt = Runtime::new(Config::default()).expect("runtime");
    let pull =
        BlockingSocket::new(rt.next_shard(), SocketType::Pull, Options::default()).expect("pull");
    let endpoint = pull.bind(endpoint).expect("bind");
    let stop = Arc::new(AtomicBool::new(false));
    let flood = {
        let stop = stop.clone();
        std::thread::spawn(move || sender(endpoint, stop))
    };
    for _ in 0..1000 {
        pull.recv_timeout(Duration::from_secs(10))
            .expect("the flood arrives");
    }
    // Stop reading (the peer keeps sending into a full queue), then close everything.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(pull);
        drop(rt);
        let _ = done_tx.send(());
    });
    let finished = done_rx.recv_timeout(Duration::from_secs(20)).is_ok();
    stop.store(true, Ordering::SeqCst);
    flood.join().expect("sender");
    assert!(
        finished,
        "closing the socket and the runtime did not finish while flooded"
    );
}

fn libzmq_flood(endpoint: String, stop: Arc<AtomicBool>) {
    let ctx = zmq::Context::new().expect("libzmq context");
    let push = ctx.socket(zmq::PUSH).expect("push");
    push.set_int(zmq::ZMQ_LINGER, 0).expect("linger");
    push.set_sndtimeo(Duration::from_millis(50))
        .expect("sndtimeo");
    push.connect(&endpoint).expect("connect");
    while !stop.load(Ordering::SeqCst) {
        let _ = push.send(b"flood", 0);
    }
}

fn ringmq_flood(endpoint: String, stop: Arc<AtomicBool>) {
    let rt = Runtime::new(Config::default()).expect("runtime");
    let options = Options {
        linger: Some(Duration::ZERO),
        ..Options::default()
    };
    let push = BlockingSocket::new(rt.next_shard(), SocketType::Push, options).expect("push");
    push.connect(&endpoint).expect("connect");
    while !stop.load(Ordering::SeqCst) {
        if push.try_send(Message::single("flood")).is_err() {
            std::thread::yield_now();
        }
    }
}

#[test]
fn close_is_prompt_while_a_libzmq_peer_keeps_sending() {
    close_while_flooded(&ipc_endpoint(), libzmq_flood);
    close_while_flooded("tcp://127.0.0.1:0", libzmq_flood);
}

#[test]
fn close_is_prompt_while_a_ringmq_peer_keeps_sending() {
    close_while_flooded(&ipc_endpoint(), ringmq_flood);
    close_while_flooded("tcp://127.0.0.1:0", ringmq_flood);
}
