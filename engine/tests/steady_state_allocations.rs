//! Allocations on the steady-state message path, counted by a global allocator that counts every
//! allocation of the process (every shard thread included).
//!
//! A PUSH on one shard sends one-frame 16-byte messages over loopback tcp to a PULL on the other.
//! After a warm-up (connection up, buffers and queues at their working size), the receiver counts
//! the allocations made while a window of messages passes. The steady-state path must allocate
//! nothing per message: what may remain is amortised over many messages (a read buffer replaced
//! once it is full), so the test bounds the window's allocations far below one per message.
//!
//! The same runs through `BlockingSocket`s on plain threads, whose messages also cross the
//! hand-off between each application thread and its shard.
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

/// Allocations per message in the window, for one backend.
fn allocations_per_message(backend: Backend) -> f64 {
    let rt = runtime(backend);
    let (endpoint_tx, endpoint_rx) = mpsc::channel();
    let receiver = rt
        .spawn_on(ShardId(0), move || async move {
            let socket = Socket::new(SocketType::Pull).expect("PULL");
            endpoint_tx
                .send(socket.bind("tcp://127.0.0.1:0").expect("bind"))
                .expect("endpoint");
            for _ in 0..WARM_UP {
                socket.recv().await.expect("warm-up message");
            }
            let before = ALLOCATIONS.load(Ordering::Relaxed);
            for _ in 0..WINDOW {
                let msg = socket.recv().await.expect("message");
                assert_eq!(msg.frames().len(), 1);
                assert_eq!(msg.frames()[0].len(), 16);
            }
            ALLOCATIONS.load(Ordering::Relaxed) - before
        })
        .expect("receiver");
    let endpoint = endpoint_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the receiver bound");
    let sender = rt
        .spawn_on(ShardId(1), move || async move {
            let socket = Socket::new(SocketType::Push).expect("PUSH");
            socket.connect(&endpoint).expect("connect");
            // One body shared by every message: cloning a `Bytes` allocates nothing.
            let body = Bytes::from_static(&[0x5a; 16]);
            for _ in 0..WARM_UP + WINDOW {
                socket
                    .send(Message::single(body.clone()))
                    .await
                    .expect("send");
            }
            // Linger delivers what is still queued.
            socket.close().await;
        })
        .expect("sender");
    let allocations = ringmq::block_on(receiver);
    ringmq::block_on(sender);
    allocations as f64 / WINDOW as f64
}

/// The same through `BlockingSocket`s on plain threads: each message also crosses the hand-off
/// between an application thread and its shard, both ways.
fn blocking_allocations_per_message(backend: Backend) -> f64 {
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
    allocations as f64 / WINDOW as f64
}

#[test]
fn the_steady_state_message_path_allocates_nothing_per_message() {
    let mut backends = vec![Backend::Epoll];
    if Backend::IoUring.resolve().is_ok() {
        backends.push(Backend::IoUring);
    }
    for backend in backends {
        for (api, per_message) in [
            ("shard", allocations_per_message(backend)),
            ("blocking", blocking_allocations_per_message(backend)),
        ] {
            eprintln!(
                "{} {api}: {per_message:.4} allocations per message",
                backend.name()
            );
            assert!(
                per_message < 0.01,
                "{} {api}: {per_message:.4} allocations per steady-state message",
                backend.name()
            );
        }
    }
}
