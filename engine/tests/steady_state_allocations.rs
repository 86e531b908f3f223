//! Allocations on the steady-state message path, counted by a global allocator that counts every
//! allocation of the process (every shard thread included).
//!
//! A PUSH on one shard sends one-frame 16-byte messages over loopback tcp to a PULL on the other.
//! After a warm-up (connection up, buffers, queues and the shards' pools of read buffers and send
//! resources at their working size), the receiver counts the allocations made while a window of
//! messages passes; the sender stays open until the window is over, so that its close is not
//! counted. Nothing on the path allocates per message or per read or write: a read's frames are
//! slices of a pooled buffer that is reclaimed once they are consumed, and a send's iovecs and
//! the in-flight operations are reused, not boxed. What a push-pull window may still count is a
//! burst deeper than any before it (a queue or write buffer growing, a pooled buffer still held):
//! at most one allocation per 1 000 messages.
//!
//! The same runs through `BlockingSocket`s on plain threads, whose messages also cross the
//! hand-off between each application thread and its shard (bounded at one per 100: how far the
//! application thread lags is the scheduler's choice); and as a PAIR ping-pong, where every
//! message is a read and a write of its own and the window must count no allocation at all.
//!
//! This binary holds only this test: the counter is process-wide, and another test running beside
//! it would add its own allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use ringmq::{
    Backend, BlockingSocket, Bytes, Config, Message, Options, Runtime, ShardId, Socket, SocketType,
};

/// The system allocator, counting each allocation and reallocation.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to `System` with the arguments it was given, so `Counting` keeps
// all of `System`'s guarantees; the counter is a relaxed atomic and allocates nothing itself.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged; `ptr` came from this allocator, which is `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; `ptr` came from this allocator, which is `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Push-pull windows may allocate once per this many messages (shard API) ...
const SHARD_MESSAGES_PER_ALLOCATION: u64 = 1_000;
/// ... and once per this many through the blocking API, whose application thread lags its shard
/// by however much the scheduler decides.
const BLOCKING_MESSAGES_PER_ALLOCATION: u64 = 100;

const WARM_UP: u64 = 50_000;
const WINDOW: u64 = 200_000;

/// Two shards on `backend`: one for each end.
fn runtime(backend: Backend) -> Runtime {
    Runtime::new(Config {
        shards: 2,
        backend,
        ..Config::default()
    })
    .expect("runtime")
}

/// Allocations in a push-pull window of [`WINDOW`] messages, on the shard API.
fn push_pull_allocations(backend: Backend) -> u64 {
    let rt = runtime(backend);
    let (endpoint_tx, endpoint_rx) = mpsc::channel();
    // The receiver says on this inproc pair when its window is counted (waiting on a socket, not
    // on timers: a sleeping sender would allocate timer entries inside the window).
    let done = format!("inproc://allocations-done-{}", backend.name());
    let done_at_sender = done.clone();
    let receiver = rt
        .spawn_on(ShardId(0), move || async move {
            let socket = Socket::new(SocketType::Pull).expect("PULL");
            let window_over = Socket::new(SocketType::Pair).expect("PAIR");
            window_over.bind(&done).expect("bind the done pair");
            endpoint_tx
                .send(socket.bind("tcp://127.0.0.1:0").expect("bind"))
                .expect("endpoint");
            // A first word on the done pair, so that the sender's wait on it (its first receive
            // registers a waker, which allocates once) comes before the window.
            window_over
                .send(Message::single(Bytes::new()))
                .await
                .expect("say go");
            for _ in 0..WARM_UP {
                socket.recv().await.expect("warm-up message");
            }
            let before = ALLOCATIONS.load(Ordering::Relaxed);
            for _ in 0..WINDOW {
                let msg = socket.recv().await.expect("message");
                assert_eq!(msg.frames().len(), 1);
                assert_eq!(msg.frames()[0].len(), 16);
            }
            let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
            window_over
                .send(Message::single(Bytes::new()))
                .await
                .expect("say the window is over");
            allocations
        })
        .expect("receiver");
    let endpoint = endpoint_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the receiver bound");
    let sender = rt
        .spawn_on(ShardId(1), move || async move {
            let socket = Socket::new(SocketType::Push).expect("PUSH");
            socket.connect(&endpoint).expect("connect");
            let window_over = Socket::new(SocketType::Pair).expect("PAIR");
            window_over
                .connect(&done_at_sender)
                .expect("connect the done pair");
            window_over.recv().await.expect("go");
            // One body shared by every message: cloning a `Bytes` allocates nothing.
            let body = Bytes::from_static(&[0x5a; 16]);
            for _ in 0..WARM_UP + WINDOW {
                socket
                    .send(Message::single(body.clone()))
                    .await
                    .expect("send");
            }
            // Closing allocates: wait until the window is counted.
            window_over.recv().await.expect("the window is over");
            socket.close().await;
        })
        .expect("sender");
    let allocations = ringmq::block_on(receiver);
    ringmq::block_on(sender);
    allocations
}

/// The same through `BlockingSocket`s on plain threads: each message also crosses the hand-off
/// between an application thread and its shard, both ways.
fn blocking_push_pull_allocations(backend: Backend) -> u64 {
    let rt = runtime(backend);
    let shard = |n| rt.shard(ShardId(n)).expect("shard exists");
    let receiver =
        BlockingSocket::new(shard(0), SocketType::Pull, Options::default()).expect("PULL");
    let endpoint = receiver.bind("tcp://127.0.0.1:0").expect("bind");
    let sender = BlockingSocket::new(shard(1), SocketType::Push, Options::default()).expect("PUSH");
    sender.connect(&endpoint).expect("connect");
    let sending = std::thread::spawn(move || {
        let body = Bytes::from_static(&[0x5a; 16]);
        for _ in 0..WARM_UP + WINDOW {
            sender.send(Message::single(body.clone())).expect("send");
        }
        sender
    });
    let recv = || {
        receiver
            .recv_timeout(Duration::from_secs(30))
            .expect("a message within 30 s")
    };
    for _ in 0..WARM_UP {
        recv();
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..WINDOW {
        assert_eq!(recv().frames()[0].len(), 16);
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    drop(sending.join().expect("sender thread"));
    allocations
}

const ROUND_TRIPS_WARM_UP: u64 = 5_000;
const ROUND_TRIPS: u64 = 20_000;

/// A PAIR client on one shard and a PAIR echo server on the other, 64-byte messages: every
/// message is a read and a write of its own. Allocations counted over the client's window of
/// round trips.
fn round_trip_allocations(backend: Backend) -> u64 {
    let rt = runtime(backend);
    let (endpoint_tx, endpoint_rx) = mpsc::channel();
    let server = rt
        .spawn_on(ShardId(0), move || async move {
            let socket = Socket::new(SocketType::Pair).expect("PAIR");
            endpoint_tx
                .send(socket.bind("tcp://127.0.0.1:0").expect("bind"))
                .expect("endpoint");
            for _ in 0..ROUND_TRIPS_WARM_UP + ROUND_TRIPS {
                let msg = socket.recv().await.expect("request");
                socket.send(msg).await.expect("echo");
            }
            // Stay open until the client has its last echo (it closes after counting).
            let _ = socket.recv().await;
        })
        .expect("server");
    let endpoint = endpoint_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the server bound");
    let client = rt
        .spawn_on(ShardId(1), move || async move {
            let socket = Socket::new(SocketType::Pair).expect("PAIR");
            socket.connect(&endpoint).expect("connect");
            let body = Bytes::from_static(&[0x5a; 64]);
            let round_trip = || async {
                socket
                    .send(Message::single(body.clone()))
                    .await
                    .expect("send");
                let echo = socket.recv().await.expect("echo");
                assert_eq!(echo.frames()[0].len(), 64);
            };
            for _ in 0..ROUND_TRIPS_WARM_UP {
                round_trip().await;
            }
            let before = ALLOCATIONS.load(Ordering::Relaxed);
            for _ in 0..ROUND_TRIPS {
                round_trip().await;
            }
            let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
            socket
                .send(Message::single(body.clone()))
                .await
                .expect("goodbye");
            socket.close().await;
            allocations
        })
        .expect("client");
    let allocations = ringmq::block_on(client);
    ringmq::block_on(server);
    allocations
}

#[test]
fn the_steady_state_message_path_allocates_nothing() {
    let mut backends = vec![Backend::Epoll];
    if Backend::IoUring.resolve().is_ok() {
        backends.push(Backend::IoUring);
    }
    let mut results = Vec::new();
    for backend in backends {
        for (run, messages, allocations) in [
            ("shard push-pull", WINDOW, push_pull_allocations(backend)),
            (
                "blocking push-pull",
                WINDOW,
                blocking_push_pull_allocations(backend),
            ),
            (
                "shard pair ping-pong",
                2 * ROUND_TRIPS,
                round_trip_allocations(backend),
            ),
        ] {
            eprintln!(
                "{} {run}: {allocations} allocations in {messages} messages",
                backend.name()
            );
            results.push((backend, run, messages, allocations));
        }
    }
    for (backend, run, messages, allocations) in results {
        // A ping-pong allocates nothing at all; a push-pull run's few come from bursts deeper
        // than any before (a queue or a write buffer growing, a pooled read buffer still held).
        let bound = match run {
            "shard pair ping-pong" => 0,
            "shard push-pull" => messages / SHARD_MESSAGES_PER_ALLOCATION,
            _ => messages / BLOCKING_MESSAGES_PER_ALLOCATION,
        };
        assert!(
            allocations <= bound,
            "{} {run}: {allocations} allocations in {messages} steady-state messages (at most {bound})",
            backend.name()
        );
    }
}
