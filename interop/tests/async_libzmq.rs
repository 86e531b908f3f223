//! ringmq's any-executor [`AsyncSocket`] against real libzmq 4.3.4 (loaded through our FFI module):
//!
//! - every pairing of the interop matrix (PUSH→PULL both ways, PUB→SUB both ways, REQ↔REP,
//!   DEALER↔ROUTER, PAIR, XPUB↔XSUB), each side in turn the binder, over tcp and ipc, driven from a
//!   tokio multi-thread runtime (the scenario spawned as a task, so its futures are `Send`): N
//!   three-frame messages arrive whole and in order;
//! - PUSH/PULL and REQ/REP again from `futures::executor::block_on`;
//! - back-pressure at the high-water mark against a libzmq PULL that does not read: `try_send`
//!   hands the message back (`SendError::Full`), `send().await` waits (a tokio timeout cancels it,
//!   and the cancelled message is not sent), and once libzmq reads, every accepted message
//!   arrives exactly once, in order;
//! - `disconnect` and `unbind` against libzmq peers, for `AsyncSocket` and `BlockingSocket`;
//! - three regressions of a handle's hand-off queue, found by this file: no drops with
//!   `sndhwm 0` (no limit) or in a burst of `sndhwm` through a PUB-like handle, and the shutdown
//!   report counting the handle's own drops.
//!
//! Every link waits for both ends' handshake before its first message (libzmq attaches a
//! connection, and a bound XSUB sends its subscriptions, only then: libzmq#2267). The libzmq end
//! runs on a thread of its own with `ZMQ_RCVTIMEO`/`ZMQ_SNDTIMEO` set; every ringmq wait is
//! bounded by [`common::within`]. Nothing sleeps to let something happen.

mod common;

use std::thread::JoinHandle;
use std::time::Duration;

use common::{
    frames_of, libzmq_bind, message, wait_for_event, wait_for_libzmq_event, within, Harness,
    Transport, WAIT,
};
use ringmq::{
    AsyncSocket, BlockingSocket, Config, Error, ErrorKind, Message, Options, Runtime, SendError,
    SocketType,
};
use ringmq_interop::libzmq as zmq;

/// Messages per link and direction.
const N: u32 = 1000;

/// Message `i` of a run: three frames, the index in the middle, the last one 0 to 99 bytes long
/// (empty for every hundredth), so a message cut apart or glued to another shows.
fn numbered(i: u32) -> Vec<Vec<u8>> {
    vec![
        b"multipart".to_vec(),
        i.to_be_bytes().to_vec(),
        vec![(i % 251) as u8; (i % 100) as usize],
    ]
}

/// What a subscriber receives before the subscription is known to have arrived: one frame, so
/// it never passes for a numbered message.
fn probe() -> Vec<Vec<u8>> {
    vec![b"probe".to_vec()]
}

/// Where the two ends of a link attach.
#[derive(Clone, Copy, Debug)]
struct Layout {
    transport: Transport,
    ringmq_binds: bool,
}

fn layouts() -> Vec<Layout> {
    let mut out = Vec::new();
    for transport in [Transport::Tcp, Transport::Ipc] {
        for ringmq_binds in [true, false] {
            out.push(Layout {
                transport,
                ringmq_binds,
            });
        }
    }
    out
}

/// Link a ringmq async socket and a libzmq socket as `layout` says (the binder first), and wait
/// until both have finished the handshake: a libzmq socket attaches the connection (and, an
/// XSUB, sends it the subscriptions it has) only then.
async fn link(
    h: &Harness,
    ringmq: AsyncSocket,
    libzmq: zmq::Socket,
    layout: Layout,
) -> (AsyncSocket, zmq::Socket) {
    let ringmq_monitor = within("monitor", ringmq.monitor()).await.unwrap();
    let libzmq_monitor = libzmq
        .monitor(&h.ctx, zmq::ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
        .unwrap();
    if layout.ringmq_binds {
        let endpoint = within("bind", ringmq.bind(&layout.transport.ringmq_endpoint()))
            .await
            .unwrap();
        libzmq.connect(&endpoint).unwrap();
    } else {
        let endpoint = libzmq_bind(&libzmq, layout.transport);
        within("connect", ringmq.connect(&endpoint)).await.unwrap();
    }
    wait_for_event(&ringmq_monitor, "handshake-succeeded").await;
    wait_for_libzmq_event(&libzmq_monitor, zmq::ZMQ_EVENT_HANDSHAKE_SUCCEEDED);
    (ringmq, libzmq)
}

/// Send messages `0..n` from the ringmq end, waiting for room as needed.
async fn send_numbered(socket: &AsyncSocket, n: u32, label: &str) {
    within(label, async {
        for i in 0..n {
            socket
                .send(message(&numbered(i)))
                .await
                .unwrap_or_else(|e| panic!("{label}: send {i}: {e}"));
        }
    })
    .await;
}

/// Receive messages `0..n` at the ringmq end, in order and whole; `prefix` frames (a routing id)
/// come first in each.
async fn recv_numbered(socket: &AsyncSocket, n: u32, prefix: &[Vec<u8>], label: &str) {
    within(label, async {
        for i in 0..n {
            let got = socket
                .recv()
                .await
                .unwrap_or_else(|e| panic!("{label}: recv {i}: {e}"));
            let mut expected = prefix.to_vec();
            expected.extend(numbered(i));
            assert_eq!(frames_of(&got), expected, "{label}: message {i}");
        }
    })
    .await;
}

/// On a thread of its own: the libzmq end receives messages `0..n`, in order and whole, after
/// skipping any probes; returns the socket and the frames each message had in front (a ROUTER's
/// routing id).
fn libzmq_recv_numbered(
    socket: zmq::Socket,
    n: u32,
    label: String,
) -> JoinHandle<(zmq::Socket, Vec<Vec<u8>>)> {
    std::thread::spawn(move || {
        let mut envelope = Vec::new();
        let mut i = 0;
        while i < n {
            let got = socket
                .recv_multipart()
                .unwrap_or_else(|e| panic!("{label}: libzmq recv {i}: {e}"));
            if got == probe() {
                assert_eq!(i, 0, "{label}: a probe after message {i}");
                continue;
            }
            let split = got.len().saturating_sub(3);
            assert_eq!(got[split..], numbered(i)[..], "{label}: message {i}");
            envelope = got[..split].to_vec();
            i += 1;
        }
        (socket, envelope)
    })
}

/// On a thread of its own: the libzmq end sends messages `0..n`, each after `prefix` frames.
fn libzmq_send_numbered(
    socket: zmq::Socket,
    n: u32,
    prefix: Vec<Vec<u8>>,
    label: String,
) -> JoinHandle<zmq::Socket> {
    std::thread::spawn(move || {
        for i in 0..n {
            let mut frames = prefix.clone();
            frames.extend(numbered(i));
            socket
                .send_multipart(&frames)
                .unwrap_or_else(|e| panic!("{label}: libzmq send {i}: {e}"));
        }
        socket
    })
}

fn joined<T>(thread: JoinHandle<T>, label: &str) -> T {
    thread
        .join()
        .unwrap_or_else(|_| panic!("{label}: the libzmq thread failed"))
}

/// Options for a ringmq end that drops instead of waiting (PUB, XPUB, ROUTER), so that a burst
/// of `N` never drops: a high-water mark far above `N`, so the hand-off queue between the
/// application and the shard holds 4096 (its most), more than `N`. (With the default, 1000, it
/// holds 999: a burst of `N` that outruns the shard loses its last message, see
/// `stress_burst_of_sndhwm_through_a_handle_drops_nothing`; with 0, "no limit", it holds one,
/// see `pub_without_hwm_drops_nothing_in_a_burst`.)
fn roomy() -> Options {
    Options {
        sndhwm: 10 * N as usize,
        ..Options::default()
    }
}

/// A libzmq PUB-like socket that never drops in these runs: no high-water mark.
fn libzmq_unlimited(h: &Harness, t: SocketType) -> zmq::Socket {
    let s = h.libzmq(t);
    s.set_int(zmq::ZMQ_SNDHWM, 0).unwrap();
    s
}

/// Nothing the ringmq end sent was dropped.
async fn assert_nothing_dropped(socket: &AsyncSocket, label: &str) {
    let stats = within("stats", socket.stats()).await.unwrap();
    assert_eq!(stats.dropped.total(), 0, "{label}: {stats:?}");
}

// The scenarios, one per pairing; each runs every layout.

async fn push_to_libzmq_pull(h: &Harness, layout: Layout) {
    let label = format!("ringmq PUSH -> libzmq PULL, {layout:?}");
    let (push, pull) = link(
        h,
        h.async_socket(SocketType::Push, Options::default()),
        h.libzmq(SocketType::Pull),
        layout,
    )
    .await;
    let reader = libzmq_recv_numbered(pull, N, label.clone());
    send_numbered(&push, N, &label).await;
    joined(reader, &label);
}

async fn libzmq_push_to_pull(h: &Harness, layout: Layout) {
    let label = format!("libzmq PUSH -> ringmq PULL, {layout:?}");
    let (pull, push) = link(
        h,
        h.async_socket(SocketType::Pull, Options::default()),
        h.libzmq(SocketType::Push),
        layout,
    )
    .await;
    let writer = libzmq_send_numbered(push, N, Vec::new(), label.clone());
    recv_numbered(&pull, N, &[], &label).await;
    joined(writer, &label);
}

async fn pub_to_libzmq_sub(h: &Harness, layout: Layout) {
    pub_burst_to_libzmq_sub(h, layout, roomy()).await;
}

/// A ringmq PUB with `options` publishes `N` messages in a burst to a libzmq SUB.
async fn pub_burst_to_libzmq_sub(h: &Harness, layout: Layout, options: Options) {
    let label = format!("ringmq PUB -> libzmq SUB, {layout:?}");
    let (publisher, sub) = link(
        h,
        h.async_socket(SocketType::Pub, options),
        h.libzmq(SocketType::Sub),
        layout,
    )
    .await;
    sub.subscribe(b"").unwrap();
    // Subscriptions travel on their own: publish probes until one arrives. (The libzmq socket
    // moves into the future and back: a future holding a reference to it would not be `Send`.)
    sub.set_rcvtimeo(Duration::from_millis(20)).unwrap();
    let sub = within(&label, async {
        loop {
            publisher.send(message(&probe())).await.unwrap();
            if sub.recv_multipart().is_ok() {
                break sub;
            }
        }
    })
    .await;
    sub.set_rcvtimeo(WAIT).unwrap();
    let reader = libzmq_recv_numbered(sub, N, label.clone());
    send_numbered(&publisher, N, &label).await;
    // Hand-off drops are counted as the application sends: checked now, before the reader
    // would wait for a message that is not coming.
    assert_nothing_dropped(&publisher, &label).await;
    joined(reader, &label);
}

async fn libzmq_pub_to_sub(h: &Harness, layout: Layout) {
    let label = format!("libzmq PUB -> ringmq SUB, {layout:?}");
    let (sub, publisher) = link(
        h,
        h.async_socket(SocketType::Sub, Options::default()),
        libzmq_unlimited(h, SocketType::Pub),
        layout,
    )
    .await;
    within("subscribe", sub.subscribe(b"")).await.unwrap();
    let publisher = within(&label, async {
        loop {
            publisher.send_multipart(probe()).unwrap();
            if let Some(got) = common::timeout(Duration::from_millis(20), sub.recv()).await {
                assert_eq!(frames_of(&got.unwrap()), probe(), "{label}");
                break publisher;
            }
        }
    })
    .await;
    let writer = libzmq_send_numbered(publisher, N, Vec::new(), label.clone());
    // Probes still on their way come first.
    within(&label, async {
        let mut i = 0;
        while i < N {
            let got = frames_of(&sub.recv().await.unwrap());
            if got == probe() && i == 0 {
                continue;
            }
            assert_eq!(got, numbered(i), "{label}: message {i}");
            i += 1;
        }
    })
    .await;
    joined(writer, &label);
}

/// A reply to request `i`: the request's frames, reversed.
fn reply_to(request: &[Vec<u8>]) -> Vec<Vec<u8>> {
    request.iter().rev().cloned().collect()
}

async fn req_to_libzmq_rep(h: &Harness, layout: Layout) {
    let label = format!("ringmq REQ -> libzmq REP, {layout:?}");
    let (req, rep) = link(
        h,
        h.async_socket(SocketType::Req, Options::default()),
        h.libzmq(SocketType::Rep),
        layout,
    )
    .await;
    let server_label = label.clone();
    let server = std::thread::spawn(move || {
        for i in 0..N {
            let request = rep
                .recv_multipart()
                .unwrap_or_else(|e| panic!("{server_label}: request {i}: {e}"));
            assert_eq!(request, numbered(i), "{server_label}: request {i}");
            rep.send_multipart(reply_to(&request)).unwrap();
        }
        rep
    });
    within(&label, async {
        for i in 0..N {
            req.send(message(&numbered(i))).await.unwrap();
            let reply = req.recv().await.unwrap();
            assert_eq!(
                frames_of(&reply),
                reply_to(&numbered(i)),
                "{label}: reply {i}"
            );
        }
    })
    .await;
    joined(server, &label);
}

async fn libzmq_req_to_rep(h: &Harness, layout: Layout) {
    let label = format!("libzmq REQ -> ringmq REP, {layout:?}");
    let (rep, req) = link(
        h,
        h.async_socket(SocketType::Rep, Options::default()),
        h.libzmq(SocketType::Req),
        layout,
    )
    .await;
    let client_label = label.clone();
    let client = std::thread::spawn(move || {
        for i in 0..N {
            req.send_multipart(numbered(i)).unwrap();
            let reply = req
                .recv_multipart()
                .unwrap_or_else(|e| panic!("{client_label}: reply {i}: {e}"));
            assert_eq!(reply, reply_to(&numbered(i)), "{client_label}: reply {i}");
        }
        req
    });
    within(&label, async {
        for i in 0..N {
            let request = frames_of(&rep.recv().await.unwrap());
            assert_eq!(request, numbered(i), "{label}: request {i}");
            rep.send(message(&reply_to(&request))).await.unwrap();
        }
    })
    .await;
    joined(client, &label);
}

async fn dealer_to_libzmq_router(h: &Harness, layout: Layout) {
    let label = format!("ringmq DEALER <-> libzmq ROUTER, {layout:?}");
    let options = Options {
        routing_id: Some(ringmq::Bytes::from_static(b"async-dealer")),
        ..Options::default()
    };
    let (dealer, router) = link(
        h,
        h.async_socket(SocketType::Dealer, options),
        h.libzmq(SocketType::Router),
        layout,
    )
    .await;
    let reader = libzmq_recv_numbered(router, N, label.clone());
    send_numbered(&dealer, N, &label).await;
    let (router, envelope) = joined(reader, &label);
    assert_eq!(envelope, vec![b"async-dealer".to_vec()], "{label}");
    let writer = libzmq_send_numbered(router, N, envelope, label.clone());
    recv_numbered(&dealer, N, &[], &label).await;
    joined(writer, &label);
}

async fn libzmq_dealer_to_router(h: &Harness, layout: Layout) {
    let label = format!("libzmq DEALER <-> ringmq ROUTER, {layout:?}");
    let dealer = h.libzmq(SocketType::Dealer);
    dealer
        .set_bytes(zmq::ZMQ_ROUTING_ID, b"libzmq-dealer")
        .unwrap();
    let (router, dealer) = link(
        h,
        h.async_socket(SocketType::Router, roomy()),
        dealer,
        layout,
    )
    .await;
    let envelope = vec![b"libzmq-dealer".to_vec()];
    let writer = libzmq_send_numbered(dealer, N, Vec::new(), label.clone());
    recv_numbered(&router, N, &envelope, &label).await;
    let dealer = joined(writer, &label);
    let reader = libzmq_recv_numbered(dealer, N, label.clone());
    within(&label, async {
        for i in 0..N {
            let mut frames = envelope.clone();
            frames.extend(numbered(i));
            router.send(message(&frames)).await.unwrap();
        }
    })
    .await;
    assert_nothing_dropped(&router, &label).await;
    let (_, in_front) = joined(reader, &label);
    assert!(in_front.is_empty(), "{label}: {in_front:?}");
}

async fn pair_with_libzmq_pair(h: &Harness, layout: Layout) {
    let label = format!("ringmq PAIR <-> libzmq PAIR, {layout:?}");
    let (ours, theirs) = link(
        h,
        h.async_socket(SocketType::Pair, Options::default()),
        h.libzmq(SocketType::Pair),
        layout,
    )
    .await;
    let reader = libzmq_recv_numbered(theirs, N, label.clone());
    send_numbered(&ours, N, &label).await;
    let (theirs, _) = joined(reader, &label);
    let writer = libzmq_send_numbered(theirs, N, Vec::new(), label.clone());
    recv_numbered(&ours, N, &[], &label).await;
    joined(writer, &label);
}

async fn xpub_to_libzmq_xsub(h: &Harness, layout: Layout) {
    let label = format!("ringmq XPUB -> libzmq XSUB, {layout:?}");
    let (xpub, xsub) = link(
        h,
        h.async_socket(SocketType::XPub, roomy()),
        h.libzmq(SocketType::XSub),
        layout,
    )
    .await;
    xsub.send_multipart([b"\x01multi".to_vec()]).unwrap();
    // The subscription reaches the application once the XPUB has applied it.
    let subscription = within(&label, xpub.recv()).await.unwrap();
    assert_eq!(
        frames_of(&subscription),
        vec![b"\x01multi".to_vec()],
        "{label}"
    );
    let reader = libzmq_recv_numbered(xsub, N, label.clone());
    send_numbered(&xpub, N, &label).await;
    let xsub = joined(reader, &label).0;
    xsub.send_multipart([b"\x00multi".to_vec()]).unwrap();
    let unsubscription = within(&label, xpub.recv()).await.unwrap();
    assert_eq!(
        frames_of(&unsubscription),
        vec![b"\x00multi".to_vec()],
        "{label}"
    );
    assert_nothing_dropped(&xpub, &label).await;
}

async fn libzmq_xpub_to_xsub(h: &Harness, layout: Layout) {
    let label = format!("libzmq XPUB -> ringmq XSUB, {layout:?}");
    let (xsub, xpub) = link(
        h,
        h.async_socket(SocketType::XSub, Options::default()),
        libzmq_unlimited(h, SocketType::XPub),
        layout,
    )
    .await;
    within(&label, xsub.send(message(&[b"\x01multi".to_vec()])))
        .await
        .unwrap();
    // libzmq hands the subscription to its application once it has applied it.
    assert_eq!(
        xpub.recv_multipart().unwrap(),
        vec![b"\x01multi".to_vec()],
        "{label}"
    );
    let writer = libzmq_send_numbered(xpub, N, Vec::new(), label.clone());
    recv_numbered(&xsub, N, &[], &label).await;
    joined(writer, &label);
}

/// Run `scenario` for every layout on a fresh harness, as a task of the tokio runtime the test
/// runs on (so the scenario's futures must be `Send`).
macro_rules! on_tokio {
    ($name:ident, $scenario:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let task = tokio::spawn(async {
                let h = Harness::new();
                for layout in layouts() {
                    $scenario(&h, layout).await;
                }
            });
            task.await.expect("the scenario task");
        }
    };
}

on_tokio!(tokio_push_to_libzmq_pull, push_to_libzmq_pull);
on_tokio!(tokio_libzmq_push_to_pull, libzmq_push_to_pull);
on_tokio!(tokio_pub_to_libzmq_sub, pub_to_libzmq_sub);
on_tokio!(tokio_libzmq_pub_to_sub, libzmq_pub_to_sub);
on_tokio!(tokio_req_to_libzmq_rep, req_to_libzmq_rep);
on_tokio!(tokio_libzmq_req_to_rep, libzmq_req_to_rep);
on_tokio!(tokio_dealer_to_libzmq_router, dealer_to_libzmq_router);
on_tokio!(tokio_libzmq_dealer_to_router, libzmq_dealer_to_router);
on_tokio!(tokio_pair_with_libzmq_pair, pair_with_libzmq_pair);
on_tokio!(tokio_xpub_to_libzmq_xsub, xpub_to_libzmq_xsub);
on_tokio!(tokio_libzmq_xpub_to_xsub, libzmq_xpub_to_xsub);

/// Run `scenario` for every layout on a fresh harness, from `futures::executor::block_on` (no
/// runtime but the test's thread).
macro_rules! on_block_on {
    ($name:ident, $scenario:ident) => {
        #[test]
        fn $name() {
            let h = Harness::new();
            futures::executor::block_on(async {
                for layout in layouts() {
                    $scenario(&h, layout).await;
                }
            });
        }
    };
}

on_block_on!(block_on_push_to_libzmq_pull, push_to_libzmq_pull);
on_block_on!(block_on_libzmq_push_to_pull, libzmq_push_to_pull);
on_block_on!(block_on_req_to_libzmq_rep, req_to_libzmq_rep);
on_block_on!(block_on_libzmq_req_to_rep, libzmq_req_to_rep);

// Drops a PUB-like handle must not make before any peer is at its high-water mark, and the
// shutdown report's view of a handle (each an engine bug once; regression tests now).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_without_hwm_drops_nothing_in_a_burst() {
    tokio::spawn(async {
        let h = Harness::new();
        let layout = Layout {
            transport: Transport::Tcp,
            ringmq_binds: true,
        };
        let no_limit = Options {
            sndhwm: 0,
            ..Options::default()
        };
        pub_burst_to_libzmq_sub(&h, layout, no_limit).await;
    })
    .await
    .expect("the scenario task");
}

#[test]
fn burst_of_sndhwm_through_a_handle_drops_nothing() {
    const ROUNDS: u32 = 20;
    let h = Harness::new();
    let router = h.async_socket(SocketType::Router, Options::default());
    let sndhwm = futures::executor::block_on(within("options", router.options()))
        .unwrap()
        .sndhwm as u32;
    let endpoint =
        futures::executor::block_on(within("bind", router.bind("tcp://127.0.0.1:0"))).unwrap();
    let dealer = h.libzmq(SocketType::Dealer);
    dealer.set_bytes(zmq::ZMQ_ROUTING_ID, b"peer").unwrap();
    dealer.connect(&endpoint).unwrap();
    // Once the ROUTER has a message from the peer, it can route to it.
    dealer.send_multipart([b"hello".to_vec()]).unwrap();
    let hello = futures::executor::block_on(within("hello", router.recv())).unwrap();
    assert_eq!(frames_of(&hello), vec![b"peer".to_vec(), b"hello".to_vec()]);
    for round in 0..ROUNDS {
        // Never more than sndhwm queued: the dealer reads each burst before the next.
        for i in 0..sndhwm {
            let mut frames = vec![b"peer".to_vec()];
            frames.extend(numbered(i));
            router.try_send(message(&frames)).unwrap();
        }
        let stats = futures::executor::block_on(within("stats", router.stats())).unwrap();
        assert_eq!(
            stats.dropped.total(),
            0,
            "round {round}: a burst of sndhwm ({sndhwm}) lost messages: {stats:?}"
        );
        for i in 0..sndhwm {
            assert_eq!(
                dealer.recv_multipart().unwrap(),
                numbered(i),
                "round {round}"
            );
        }
    }
}

#[test]
fn shutdown_report_counts_a_handles_handoff_drops() {
    let rt = Runtime::new(Config::default()).unwrap();
    // sndhwm 2: a hand-off queue of one message, which a burst outruns.
    let options = Options {
        sndhwm: 2,
        ..Options::default()
    };
    let publisher = AsyncSocket::new(rt.next_shard(), SocketType::Pub, options).unwrap();
    for i in 0..N {
        publisher.try_send(message(&numbered(i))).unwrap();
    }
    let before = futures::executor::block_on(within("stats", publisher.stats())).unwrap();
    assert!(
        before.dropped.handoff_full > 0,
        "the burst never filled the hand-off queue: {before:?}"
    );
    let report = rt.shutdown(WAIT);
    assert_eq!(report.sockets.len(), 1, "{report:?}");
    assert_eq!(
        report.sockets[0].stats.dropped.handoff_full, before.dropped.handoff_full,
        "{report:?}"
    );
}

// Back-pressure at the high-water mark.

/// libzmq's `ZMQ_RCVBUF` (the kernel receive buffer; not among the binding's constants).
const ZMQ_RCVBUF: i32 = 12;

/// The message of the back-pressure test: its index, then 1 KiB.
fn weighty(i: u32) -> Message {
    message(&[i.to_be_bytes().to_vec(), vec![(i % 251) as u8; 1024]])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hwm_back_pressure_against_a_libzmq_pull_that_is_not_reading() {
    const HWM: usize = 10;
    /// A bound on the messages the link can absorb before it pushes back: far more than the
    /// queues (2 x HWM here, HWM there) and the kernel buffers hold.
    const MOST: u32 = 100_000;
    let h = Harness::new();
    let pull = h.libzmq(SocketType::Pull);
    pull.set_int(zmq::ZMQ_RCVHWM, HWM as i32).unwrap();
    pull.set_int(zmq::ZMQ_SNDHWM, HWM as i32).unwrap();
    pull.set_int(ZMQ_RCVBUF, 4096).unwrap();
    let endpoint = libzmq_bind(&pull, Transport::Tcp);
    let push = h.async_socket(
        SocketType::Push,
        Options {
            sndhwm: HWM,
            rcvhwm: HWM,
            ..Options::default()
        },
    );
    let monitor = within("monitor", push.monitor()).await.unwrap();
    within("connect", push.connect(&endpoint)).await.unwrap();
    // Without a peer a PUSH has nowhere to queue: fill the link only once it is up.
    monitor
        .wait_for("handshake-succeeded", WAIT)
        .expect("the libzmq PULL's handshake");

    // try_send until the socket pushes back; the message comes back whole.
    let mut accepted = 0u32;
    let full = loop {
        match push.try_send(weighty(accepted)) {
            Ok(()) => accepted += 1,
            Err(SendError::Full(msg)) => break msg,
            Err(e) => panic!("try_send {accepted}: {e}"),
        }
        assert!(accepted < MOST, "no back-pressure after {MOST} messages");
    };
    assert_eq!(frames_of(&full), frames_of(&weighty(accepted)));

    // send().await waits for room. try_send says Full as soon as the hand-off queue to the
    // shard is, and the shard may still be moving messages on to the peer then, so sends may
    // yet complete; once the link is full (both queues at HWM, the kernel buffers full), one
    // waits until the timeout cancels it, and a cancelled send sent nothing.
    let mut next = full;
    loop {
        match tokio::time::timeout(Duration::from_millis(100), push.send(next.clone())).await {
            Err(_elapsed) => break,
            Ok(Ok(())) => {
                accepted += 1;
                next = weighty(accepted);
            }
            Ok(Err(e)) => panic!("send {accepted}: {e}"),
        }
        assert!(accepted < MOST, "send never waited after {MOST} messages");
    }
    let stats = within("stats", push.stats()).await.unwrap();
    assert_eq!(stats.sndhwm, HWM);
    assert!(
        stats.queued_out >= HWM,
        "send waited with room in the queue: {stats:?}"
    );

    // The libzmq side reads everything: every accepted message once, in order, then the last
    // message, sent once the reader makes room.
    let reader = std::thread::spawn(move || {
        for i in 0..accepted {
            let got = pull
                .recv_multipart()
                .unwrap_or_else(|e| panic!("recv {i}: {e}"));
            assert_eq!(got, frames_of(&weighty(i)), "message {i}");
        }
        let last = pull.recv_multipart().expect("the last message");
        assert_eq!(last, vec![b"last".to_vec()], "after {accepted} messages");
        pull
    });
    within("the last send", push.send(Message::single("last")))
        .await
        .unwrap();
    joined(reader, "hwm");
    let stats = within("stats", push.stats()).await.unwrap();
    assert_eq!(stats.messages_sent, u64::from(accepted) + 1, "{stats:?}");
    assert_eq!(stats.dropped.total(), 0, "{stats:?}");
}

// disconnect and unbind against libzmq peers, on both handle types.

/// Which handle a check runs on.
#[derive(Clone, Copy, Debug)]
enum Api {
    /// `AsyncSocket`, driven by tokio.
    Async,
    /// `BlockingSocket`, driven by the test's thread (the scenario under `block_on`).
    Blocking,
}

/// A ringmq socket through either handle, with bounded waits.
enum Handle {
    Async(AsyncSocket),
    Blocking(BlockingSocket),
}

impl Handle {
    fn new(h: &Harness, api: Api, t: SocketType) -> Handle {
        match api {
            Api::Async => Handle::Async(h.async_socket(t, Options::default())),
            Api::Blocking => {
                let mut s = BlockingSocket::new(h.rt.next_shard(), t, Options::default()).unwrap();
                s.set_sndtimeo(Some(WAIT));
                Handle::Blocking(s)
            }
        }
    }

    async fn bind(&self, endpoint: &str) -> Result<String, Error> {
        match self {
            Handle::Async(s) => within("bind", s.bind(endpoint)).await,
            Handle::Blocking(s) => s.bind(endpoint),
        }
    }

    async fn connect(&self, endpoint: &str) -> Result<(), Error> {
        match self {
            Handle::Async(s) => within("connect", s.connect(endpoint)).await,
            Handle::Blocking(s) => s.connect(endpoint),
        }
    }

    async fn unbind(&self, endpoint: &str) -> Result<(), Error> {
        match self {
            Handle::Async(s) => within("unbind", s.unbind(endpoint)).await,
            Handle::Blocking(s) => s.unbind(endpoint),
        }
    }

    async fn disconnect(&self, endpoint: &str) -> Result<(), Error> {
        match self {
            Handle::Async(s) => within("disconnect", s.disconnect(endpoint)).await,
            Handle::Blocking(s) => s.disconnect(endpoint),
        }
    }

    async fn monitor(&self) -> ringmq::Monitor {
        match self {
            Handle::Async(s) => within("monitor", s.monitor()).await.unwrap(),
            Handle::Blocking(s) => s.monitor().unwrap(),
        }
    }

    async fn send(&self, frames: &[Vec<u8>]) {
        match self {
            Handle::Async(s) => within("send", s.send(message(frames))).await.unwrap(),
            Handle::Blocking(s) => s.send(message(frames)).unwrap(),
        }
    }

    async fn recv(&self) -> Vec<Vec<u8>> {
        let msg = match self {
            Handle::Async(s) => within("recv", s.recv()).await,
            Handle::Blocking(s) => s.recv_timeout(WAIT),
        };
        frames_of(&msg.unwrap())
    }

    /// Close the socket: an `AsyncSocket` waits until it has lingered out, a `BlockingSocket`
    /// closes in the background.
    async fn close(self) {
        match self {
            Handle::Async(s) => {
                within("close", s.close()).await.unwrap();
            }
            Handle::Blocking(s) => drop(s),
        }
    }

    /// A message if one is waiting now.
    fn try_recv(&self) -> Option<Vec<Vec<u8>>> {
        let msg = match self {
            Handle::Async(s) => s.try_recv(),
            Handle::Blocking(s) => s.try_recv(),
        };
        msg.unwrap().map(|m| frames_of(&m))
    }
}

fn assert_not_found(result: Result<(), Error>, what: &str) {
    match result {
        Err(e) => assert_eq!(e.kind(), ErrorKind::NotFound, "{what}: {e}"),
        Ok(()) => panic!("{what}: succeeded"),
    }
}

/// A ringmq PUSH connected to two libzmq PULLs disconnects from one: that peer's connection
/// closes, and every later message goes to the other.
async fn disconnect_from_one_of_two_libzmq_pulls(api: Api) {
    let h = Harness::new();
    let gone = h.libzmq(SocketType::Pull);
    let gone_monitor = gone.monitor(&h.ctx, zmq::ZMQ_EVENT_DISCONNECTED).unwrap();
    let gone_endpoint = libzmq_bind(&gone, Transport::Tcp);
    let stays = h.libzmq(SocketType::Pull);
    let stays_endpoint = libzmq_bind(&stays, Transport::Tcp);
    let push = Handle::new(&h, api, SocketType::Push);
    let monitor = push.monitor().await;
    push.connect(&gone_endpoint).await.unwrap();
    push.connect(&stays_endpoint).await.unwrap();
    for peer in ["first", "second"] {
        monitor
            .wait_for("handshake-succeeded", WAIT)
            .unwrap_or_else(|| panic!("{api:?}: the {peer} libzmq PULL's handshake"));
    }

    push.disconnect(&gone_endpoint).await.unwrap();
    assert_not_found(push.disconnect(&gone_endpoint).await, "disconnecting twice");
    assert_not_found(
        push.disconnect("tcp://127.0.0.1:1").await,
        "disconnecting what was never connected",
    );
    // The libzmq side sees its connection close.
    wait_for_libzmq_event(&gone_monitor, zmq::ZMQ_EVENT_DISCONNECTED);

    for i in 0..100 {
        push.send(&numbered(i)).await;
    }
    for i in 0..100 {
        assert_eq!(
            stays.recv_multipart().unwrap(),
            numbered(i),
            "{api:?}: message {i}"
        );
    }
    // All of them reached the other peer, so none reached this one.
    gone.set_rcvtimeo(Duration::ZERO).unwrap();
    assert!(
        gone.recv_multipart().is_err_and(|e| e.is_again()),
        "{api:?}: a message reached the disconnected peer"
    );
}

/// A ringmq PULL bound on tcp, with a libzmq PUSH delivering, unbinds: the libzmq connection
/// closes, the port is free again (a plain listener, then a new ringmq socket, can bind it), and
/// libzmq's next message reaches the new socket, not the old one.
async fn unbind_with_a_libzmq_push_delivering(api: Api) {
    let h = Harness::new();
    let pull = Handle::new(&h, api, SocketType::Pull);
    let endpoint = pull.bind("tcp://127.0.0.1:0").await.unwrap();
    let push = h.libzmq(SocketType::Push);
    let push_monitor = push.monitor(&h.ctx, zmq::ZMQ_EVENT_DISCONNECTED).unwrap();
    push.connect(&endpoint).unwrap();
    for i in 0..10 {
        push.send_multipart(numbered(i)).unwrap();
    }
    for i in 0..10 {
        assert_eq!(pull.recv().await, numbered(i), "{api:?}: message {i}");
    }

    pull.unbind(&endpoint).await.unwrap();
    assert_not_found(pull.unbind(&endpoint).await, "unbinding twice");
    assert_not_found(
        pull.unbind("tcp://127.0.0.1:1").await,
        "unbinding what was never bound",
    );
    // The connection libzmq made through the endpoint closes...
    wait_for_libzmq_event(&push_monitor, zmq::ZMQ_EVENT_DISCONNECTED);
    // ...and the port is free: a plain listener can take it, then a new ringmq socket.
    let port: u16 = endpoint
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {endpoint}"));
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("{api:?}: port {port} still taken after unbind: {e}"));
    drop(listener);
    let again = Handle::new(&h, api, SocketType::Pull);
    assert_eq!(again.bind(&endpoint).await.unwrap(), endpoint, "{api:?}");
    // libzmq reconnects to the new socket: what it sends now arrives there.
    push.send_multipart(numbered(10)).unwrap();
    assert_eq!(again.recv().await, numbered(10), "{api:?}");
    assert_eq!(
        pull.try_recv(),
        None,
        "{api:?}: the unbound socket received"
    );
    // Close the new socket while libzmq still has its end open: libzmq sees the end of stream
    // and closes its side, so ringmq's polite close is over at once. (Closed the other way
    // round, libzmq may hold a closed socket's connection open until its context ends, and
    // ringmq's close then waits out its five-second drain limit.)
    again.close().await;
    wait_for_libzmq_event(&push_monitor, zmq::ZMQ_EVENT_DISCONNECTED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_disconnect_from_one_of_two_libzmq_pulls() {
    // Run in the test's own task: a `Handle` may hold a `BlockingSocket`, which is not `Sync`,
    // so the scenario's future is not `Send` (tokio::spawn is covered by the matrix above).
    disconnect_from_one_of_two_libzmq_pulls(Api::Async).await;
}

#[test]
fn blocking_disconnect_from_one_of_two_libzmq_pulls() {
    futures::executor::block_on(disconnect_from_one_of_two_libzmq_pulls(Api::Blocking));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_unbind_with_a_libzmq_push_delivering() {
    // Run in the test's own task: a `Handle` may hold a `BlockingSocket`, which is not `Sync`,
    // so the scenario's future is not `Send` (tokio::spawn is covered by the matrix above).
    unbind_with_a_libzmq_push_delivering(Api::Async).await;
}

#[test]
fn blocking_unbind_with_a_libzmq_push_delivering() {
    futures::executor::block_on(unbind_with_a_libzmq_push_delivering(Api::Blocking));
}
