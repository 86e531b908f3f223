//! The ringmq side, through one of three APIs (`--api`): `Socket` in tasks on the shards (the
//! fast path), `AsyncSocket` in tasks on a tokio multi-thread runtime (application threads, one
//! bounded queue between each end and its shard), or `BlockingSocket` on plain threads. The three
//! run the same workloads and measure them the same way.
//!
//! Every pattern has a binding end (the receiver that counts, or the echo server) and a
//! connecting end (the sender, or the client that times round trips); they differ only in socket
//! types and in how many frames the binding end receives per message.
//!
//! A throughput sender stays connected until its receiver has counted the row, instead of closing
//! as soon as it has sent and letting linger deliver the rest: ringmq's ROUTER forgets a peer's
//! routing id when the peer disconnects and then silently drops the messages it still queues from
//! that peer, so a DEALER that closed early would lose its last few hundred messages and leave the
//! row waiting forever. Waiting does not change what is measured: the receiver's clock stops at
//! its last message.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::task::Poll;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ringmq::{
    AsyncSocket, BlockingSocket, Bytes, Config, Message, Options, Runtime, ShardId, Socket,
    SocketType,
};

use crate::report::Row;
use crate::{Api, CurveKeys, Pattern, Workload};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const WARMUP_ROUND_TRIPS: u64 = 200;

pub fn run(w: &Workload, config: &Config, api: Api) -> Result<Row, Box<dyn std::error::Error>> {
    // Declared before the runtime so that an ipc socket file outlives the sockets bound to it.
    let bind = w.bind_endpoint("0");
    let rt = Runtime::new(config.clone())?;
    let progress = crate::report::progress(&format!("ringmq {} {}", api.name(), w.name()), w.count);
    let endpoint = bind.as_str().to_owned();
    let row = match (w.pattern.is_round_trip(), api) {
        (false, Api::Shard) => throughput_async(&rt, w, endpoint, progress.clone()),
        (false, Api::Any) => throughput_any(&rt, w, endpoint, progress.clone()),
        (false, Api::Blocking) => throughput_blocking(&rt, w, &endpoint, progress.clone()),
        (true, Api::Shard) => latency_async(&rt, w, endpoint, progress.clone()),
        (true, Api::Any) => latency_any(&rt, w, endpoint, progress.clone()),
        (true, Api::Blocking) => latency_blocking(&rt, w, &endpoint, progress.clone()),
    }
    .map_err(|e| -> Box<dyn std::error::Error> { e.to_string().into() })?;
    progress.finish_and_clear();
    let mut row = row;
    row.backend = Some(rt.backend().name());
    row.api = Some(api.name());
    Ok(row)
}

/// (binding end, connecting end).
fn socket_types(pattern: Pattern) -> (SocketType, SocketType) {
    match pattern {
        Pattern::PushPull => (SocketType::Pull, SocketType::Push),
        Pattern::PairRtt => (SocketType::Pair, SocketType::Pair),
        Pattern::ReqRep => (SocketType::Rep, SocketType::Req),
        Pattern::DealerRouter | Pattern::RouterDealerRtt => {
            (SocketType::Router, SocketType::Dealer)
        }
    }
}

/// Checks that a received message has `frames` frames and ends with a body of `size` bytes, so a
/// lost envelope or a truncated body fails the row instead of being counted.
fn check(msg: &Message, frames: usize, size: usize) -> Result<(), BoxError> {
    match msg.frames() {
        f if f.len() == frames && f[frames - 1].len() == size => Ok(()),
        f => Err(format!(
            "received a message of {} frame(s) ({:?} bytes), expected {frames} ending with {size} bytes",
            f.len(),
            f.iter().map(|b| b.len()).collect::<Vec<_>>()
        )
        .into()),
    }
}

/// Blocks on two tasks until both succeed or either fails. A failing end (a message of the wrong
/// shape, a closed socket) ends the row at once instead of leaving it waiting on its peer, which
/// would wait forever; the other task is cancelled when it is dropped.
fn join_both<A, B>(
    mut a: impl Future<Output = Result<A, BoxError>> + Unpin,
    mut b: impl Future<Output = Result<B, BoxError>> + Unpin,
) -> Result<(A, B), BoxError> {
    let mut done_a = None;
    let mut done_b = None;
    ringmq::block_on(std::future::poll_fn(|cx| {
        if done_a.is_none() {
            if let Poll::Ready(r) = Pin::new(&mut a).poll(cx) {
                done_a = Some(r?);
            }
        }
        if done_b.is_none() {
            if let Poll::Ready(r) = Pin::new(&mut b).poll(cx) {
                done_b = Some(r?);
            }
        }
        match (done_a.take(), done_b.take()) {
            (Some(a), Some(b)) => Poll::Ready(Ok((a, b))),
            (a, b) => {
                done_a = a;
                done_b = b;
                Poll::Pending
            }
        }
    }))
}

/// Receives one message, or `None` once `timeout` has passed without one.
async fn recv_within(socket: &Socket, timeout: Duration) -> Result<Option<Message>, BoxError> {
    let mut recv = std::pin::pin!(socket.recv());
    let mut sleep = std::pin::pin!(ringmq::sleep(timeout));
    std::future::poll_fn(|cx| {
        // `recv` is cancel-safe: dropping it unfinished takes no message.
        if let Poll::Ready(r) = recv.as_mut().poll(cx) {
            return Poll::Ready(r.map(Some).map_err(BoxError::from));
        }
        sleep.as_mut().poll(cx).map(|()| Ok(None))
    })
    .await
}

fn shards(rt: &Runtime) -> (ShardId, ShardId) {
    let n = rt.shard_count() as u16;
    (ShardId(0), ShardId(1 % n))
}

fn throughput_async(
    rt: &Runtime,
    w: &Workload,
    bind_endpoint: String,
    progress: indicatif::ProgressBar,
) -> Result<Row, BoxError> {
    let (rx_shard, tx_shard) = shards(rt);
    let (receiver, sender) = spawn_throughput(rt, w, bind_endpoint, progress, rx_shard, tx_shard)?;
    let ((messages, elapsed), ()) = join_both(receiver, sender)?;
    Ok(ringmq_row(w, messages, elapsed))
}

/// A scaling row (`--pairs N`): N pairs at once on a runtime of N shards, pair `i` wholly on
/// shard `i` (so shards share nothing but the machine). The rate is every pair's messages over
/// the longest pair's time.
pub fn run_pairs(w: &Workload, config: &Config) -> Result<Row, Box<dyn std::error::Error>> {
    let pairs = w.pairs.unwrap_or(1);
    let one = w.one_pair();
    let binds: Vec<_> = (0..pairs).map(|_| one.bind_endpoint("0")).collect();
    let rt = Runtime::new(config.clone())?;
    let progress = crate::report::progress(&format!("ringmq {}", w.name()), w.count);
    let run = || -> Result<Row, BoxError> {
        let mut tasks = Vec::new();
        for (i, bind) in binds.iter().enumerate() {
            let shard = ShardId((i % rt.shard_count()) as u16);
            let pair_progress = if i == 0 {
                progress.clone()
            } else {
                indicatif::ProgressBar::hidden()
            };
            tasks.push(spawn_throughput(
                &rt,
                &one,
                bind.as_str().to_owned(),
                pair_progress,
                shard,
                shard,
            )?);
        }
        let mut messages = 0;
        let mut longest = Duration::ZERO;
        for (receiver, sender) in tasks {
            let ((m, elapsed), ()) = join_both(receiver, sender)?;
            messages += m;
            longest = longest.max(elapsed);
        }
        let mut row = Row::throughput(w.name(), "ringmq", w.size, messages, longest.as_secs_f64());
        row.pairs = Some(pairs);
        Ok(row)
    };
    let mut row = run().map_err(|e| -> Box<dyn std::error::Error> { e.to_string().into() })?;
    progress.finish_and_clear();
    row.backend = Some(rt.backend().name());
    row.api = Some(Api::Shard.name());
    Ok(row)
}

/// A throughput receiver's answer: the messages it timed and the time they took.
type Counted = Result<(u64, Duration), BoxError>;
/// A throughput sender's answer.
type Sent = Result<(), BoxError>;

/// Starts one throughput pair: the receiver on `rx_shard` (it counts, and answers the number
/// of messages it timed and the time they took), the sender on `tx_shard`.
fn spawn_throughput(
    rt: &Runtime,
    w: &Workload,
    bind_endpoint: String,
    progress: indicatif::ProgressBar,
    rx_shard: ShardId,
    tx_shard: ShardId,
) -> Result<
    (
        impl Future<Output = Counted> + Unpin,
        impl Future<Output = Sent> + Unpin,
    ),
    BoxError,
> {
    let (rx_type, tx_type) = socket_types(w.pattern);
    let frames = w.pattern.server_frames();
    let (ep_tx, ep_rx) = mpsc::channel();
    let count = w.count;
    let size = w.size;
    let cap = w.duration;
    let stop = Arc::new(AtomicBool::new(false));
    let stop_rx = stop.clone();
    let sender_closed = Arc::new(AtomicBool::new(false));
    let sender_closed_rx = sender_closed.clone();
    let server_options = CurveKeys::server_options(&w.curve);
    let client_options = CurveKeys::client_options(&w.curve);
    let receiver = rt.spawn_on(rx_shard, move || async move {
        let socket = Socket::with_options(rx_type, server_options)?;
        ep_tx.send(socket.bind(&bind_endpoint)?)?;
        check(&socket.recv().await?, frames, size)?;
        let start = Instant::now();
        let mut received = 1u64;
        while received < count {
            check(&socket.recv().await?, frames, size)?;
            received += 1;
            if received.is_multiple_of(65_536) {
                progress.set_position(received);
                if cap.is_some_and(|c| start.elapsed() >= c) {
                    break;
                }
            }
        }
        let elapsed = start.elapsed();
        stop_rx.store(true, Ordering::Relaxed);
        // A row cut short by --duration leaves the sender up to 4096 messages from seeing `stop`,
        // possibly waiting at its HWM, then lingering on what it queued: drain, uncounted, until
        // it has closed.
        while !sender_closed_rx.load(Ordering::Relaxed) {
            recv_within(&socket, Duration::from_millis(10)).await?;
        }
        Ok::<_, BoxError>((received - 1, elapsed))
    })?;
    let endpoint = ep_rx.recv_timeout(Duration::from_secs(10))?;
    let sender = rt.spawn_on(tx_shard, move || async move {
        let socket = Socket::with_options(tx_type, client_options)?;
        socket.connect(&endpoint)?;
        let payload = Bytes::from(vec![0x5a; size]);
        for i in 0..count {
            socket.send(Message::single(payload.clone())).await?;
            if i.is_multiple_of(4096) && stop.load(Ordering::Relaxed) {
                break;
            }
        }
        // Stay connected until the receiver has counted everything (see the module docs).
        while !stop.load(Ordering::Relaxed) {
            ringmq::sleep(Duration::from_millis(1)).await;
        }
        socket.close().await;
        sender_closed.store(true, Ordering::Relaxed);
        Ok::<_, BoxError>(())
    })?;
    Ok((receiver, sender))
}

/// The application threads of an `any` row: a tokio multi-thread runtime with a worker per end.
fn application_runtime() -> Result<tokio::runtime::Runtime, BoxError> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()?)
}

/// The result of a tokio task that returns a row's result; a panicking task fails the row.
async fn joined<T>(task: tokio::task::JoinHandle<Result<T, BoxError>>) -> Result<T, BoxError> {
    task.await?
}

/// As [`throughput_async`], with the two ends in tokio tasks: both sockets live on their shards
/// as before, and every message crosses a queue between the shard and the application thread.
fn throughput_any(
    rt: &Runtime,
    w: &Workload,
    bind_endpoint: String,
    progress: indicatif::ProgressBar,
) -> Result<Row, BoxError> {
    let (rx_shard, tx_shard) = shards(rt);
    let (rx_type, tx_type) = socket_types(w.pattern);
    let frames = w.pattern.server_frames();
    let receiver = AsyncSocket::new(
        rt.shard(rx_shard).expect("shard exists"),
        rx_type,
        CurveKeys::server_options(&w.curve),
    )?;
    let sender = AsyncSocket::new(
        rt.shard(tx_shard).expect("shard exists"),
        tx_type,
        CurveKeys::client_options(&w.curve),
    )?;
    let count = w.count;
    let size = w.size;
    let cap = w.duration;
    let stop = Arc::new(AtomicBool::new(false));
    let stop_rx = stop.clone();
    let sender_closed = Arc::new(AtomicBool::new(false));
    let sender_closed_rx = sender_closed.clone();
    // A failing end ends the row at once (`try_join!`); the other task is cancelled when the
    // runtime is dropped at the end of this statement.
    let (messages, elapsed) = application_runtime()?.block_on(async move {
        let endpoint = receiver.bind(&bind_endpoint).await?;
        sender.connect(&endpoint).await?;
        let receiving = tokio::spawn(async move {
            check(&receiver.recv().await?, frames, size)?;
            let start = Instant::now();
            let mut received = 1u64;
            while received < count {
                check(&receiver.recv().await?, frames, size)?;
                received += 1;
                if received.is_multiple_of(65_536) {
                    progress.set_position(received);
                    if cap.is_some_and(|c| start.elapsed() >= c) {
                        break;
                    }
                }
            }
            let elapsed = start.elapsed();
            stop_rx.store(true, Ordering::Relaxed);
            // As in throughput_async: drain, uncounted, until the sender has closed. `recv` is
            // cancel-safe: one that times out takes no message.
            while !sender_closed_rx.load(Ordering::Relaxed) {
                if let Ok(r) =
                    tokio::time::timeout(Duration::from_millis(10), receiver.recv()).await
                {
                    r?;
                }
            }
            receiver.close().await?;
            Ok::<_, BoxError>((received - 1, elapsed))
        });
        let sending = tokio::spawn(async move {
            let payload = Bytes::from(vec![0x5a; size]);
            for i in 0..count {
                sender.send(Message::single(payload.clone())).await?;
                if i.is_multiple_of(4096) && stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            // Stay connected until the receiver has counted everything (see the module docs).
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            sender.close().await?;
            sender_closed.store(true, Ordering::Relaxed);
            Ok::<_, BoxError>(())
        });
        let (counted, ()) = tokio::try_join!(joined(receiving), joined(sending))?;
        Ok::<_, BoxError>(counted)
    })?;
    Ok(ringmq_row(w, messages, elapsed))
}

fn throughput_blocking(
    rt: &Runtime,
    w: &Workload,
    bind_endpoint: &str,
    progress: indicatif::ProgressBar,
) -> Result<Row, BoxError> {
    let (rx_shard, tx_shard) = shards(rt);
    let (rx_type, tx_type) = socket_types(w.pattern);
    let frames = w.pattern.server_frames();
    let receiver = BlockingSocket::new(
        rt.shard(rx_shard).expect("shard exists"),
        rx_type,
        CurveKeys::server_options(&w.curve),
    )?;
    let endpoint = receiver.bind(bind_endpoint)?;
    let sender = BlockingSocket::new(
        rt.shard(tx_shard).expect("shard exists"),
        tx_type,
        CurveKeys::client_options(&w.curve),
    )?;
    sender.connect(&endpoint)?;
    let count = w.count;
    let size = w.size;
    let stop = Arc::new(AtomicBool::new(false));
    let stop_tx = stop.clone();
    // Dropped by the receiver once it has counted the row (see the module docs).
    let (counted_tx, counted_rx) = mpsc::channel::<()>();
    let sending = std::thread::spawn(move || -> Result<(), BoxError> {
        let payload = Bytes::from(vec![0x5a; size]);
        for i in 0..count {
            sender.send(Message::single(payload.clone()))?;
            if i.is_multiple_of(4096) && stop_tx.load(Ordering::Relaxed) {
                // Cut short by --duration: what is still queued is not wanted, and the receiver
                // stops draining once this thread ends, so do not linger on it.
                sender.set_options(Options {
                    linger: Some(Duration::ZERO),
                    ..sender.options()?
                })?;
                break;
            }
        }
        let _ = counted_rx.recv();
        Ok(())
    });
    check(&receiver.recv()?, frames, size)?;
    let start = Instant::now();
    let mut received = 1u64;
    while received < count {
        check(&receiver.recv()?, frames, size)?;
        received += 1;
        if received.is_multiple_of(65_536) {
            progress.set_position(received);
            if w.duration.is_some_and(|c| start.elapsed() >= c) {
                break;
            }
        }
    }
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    drop(counted_tx);
    // As in throughput_async: drain, uncounted, until the sender has stopped and closed.
    while !sending.is_finished() {
        match receiver.recv_timeout(Duration::from_millis(10)) {
            Err(e) if e.kind() != ringmq::ErrorKind::Timeout => return Err(e.into()),
            _ => {}
        }
    }
    sending.join().map_err(|_| "sender thread panicked")??;
    Ok(ringmq_row(w, received - 1, elapsed))
}

/// A throughput row for ringmq: `messages` of workload `w` in `elapsed`.
fn ringmq_row(w: &Workload, messages: u64, elapsed: Duration) -> Row {
    Row::throughput(w.name(), "ringmq", w.size, messages, elapsed.as_secs_f64())
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// The echo server receives a message and sends it back unchanged: for PAIR and REP that is the
/// body (REP strips and re-adds the envelope), for ROUTER it is [routing id, body], whose first
/// frame routes the reply back to the client that sent it.
fn latency_async(
    rt: &Runtime,
    w: &Workload,
    bind_endpoint: String,
    progress: indicatif::ProgressBar,
) -> Result<Row, BoxError> {
    let (server_shard, client_shard) = shards(rt);
    let (server_type, client_type) = socket_types(w.pattern);
    let frames = w.pattern.server_frames();
    let (ep_tx, ep_rx) = mpsc::channel();
    let total = w.count + WARMUP_ROUND_TRIPS;
    let size = w.size;
    let server_options = CurveKeys::server_options(&w.curve);
    let client_options = CurveKeys::client_options(&w.curve);
    let server = rt.spawn_on(server_shard, move || async move {
        let socket = Socket::with_options(server_type, server_options)?;
        ep_tx.send(socket.bind(&bind_endpoint)?)?;
        for _ in 0..total {
            let m = socket.recv().await?;
            check(&m, frames, size)?;
            socket.send(m).await?;
        }
        socket.close().await;
        Ok::<_, BoxError>(())
    })?;
    let endpoint = ep_rx.recv_timeout(Duration::from_secs(10))?;
    let cap = w.duration;
    let client = rt.spawn_on(client_shard, move || async move {
        let socket = Socket::with_options(client_type, client_options)?;
        socket.connect(&endpoint)?;
        let payload = Bytes::from(vec![0x5a; size]);
        let mut hist = histogram();
        let start = Instant::now();
        let mut measured_from = start;
        // Where a row cut short by --duration stopped measuring.
        let mut measured_seconds = None;
        for i in 0..total {
            if i == WARMUP_ROUND_TRIPS {
                measured_from = Instant::now();
            }
            let t0 = Instant::now();
            socket.send(Message::single(payload.clone())).await?;
            let reply = socket.recv().await?;
            if i >= WARMUP_ROUND_TRIPS {
                hist.record(t0.elapsed().as_nanos() as u64)?;
                if i.is_multiple_of(1024) {
                    progress.set_position(i - WARMUP_ROUND_TRIPS);
                }
            }
            check(&reply, 1, size)?;
            if cap.is_some_and(|c| start.elapsed() >= c) {
                measured_seconds = Some(measured_from.elapsed().as_secs_f64());
                // The server expects `total` round trips: finish them unmeasured, quickly.
                for _ in i + 1..total {
                    socket.send(Message::single(payload.clone())).await?;
                    socket.recv().await?;
                }
                break;
            }
        }
        let seconds = measured_seconds.unwrap_or_else(|| measured_from.elapsed().as_secs_f64());
        socket.close().await;
        Ok::<_, BoxError>((hist, seconds))
    })?;
    let ((hist, seconds), ()) = join_both(client, server)?;
    Ok(Row::latency(w.name(), "ringmq", w.size, &hist, seconds))
}

/// As [`latency_async`], with the client and the echo server in tokio tasks.
fn latency_any(
    rt: &Runtime,
    w: &Workload,
    bind_endpoint: String,
    progress: indicatif::ProgressBar,
) -> Result<Row, BoxError> {
    let (server_shard, client_shard) = shards(rt);
    let (server_type, client_type) = socket_types(w.pattern);
    let frames = w.pattern.server_frames();
    let server = AsyncSocket::new(
        rt.shard(server_shard).expect("shard exists"),
        server_type,
        CurveKeys::server_options(&w.curve),
    )?;
    let client = AsyncSocket::new(
        rt.shard(client_shard).expect("shard exists"),
        client_type,
        CurveKeys::client_options(&w.curve),
    )?;
    let total = w.count + WARMUP_ROUND_TRIPS;
    let size = w.size;
    let cap = w.duration;
    let (hist, seconds) = application_runtime()?.block_on(async move {
        let endpoint = server.bind(&bind_endpoint).await?;
        client.connect(&endpoint).await?;
        let echo = tokio::spawn(async move {
            for _ in 0..total {
                let m = server.recv().await?;
                check(&m, frames, size)?;
                server.send(m).await?;
            }
            server.close().await?;
            Ok::<_, BoxError>(())
        });
        let timing = tokio::spawn(async move {
            let payload = Bytes::from(vec![0x5a; size]);
            let mut hist = histogram();
            let start = Instant::now();
            let mut measured_from = start;
            // Where a row cut short by --duration stopped measuring.
            let mut measured_seconds = None;
            for i in 0..total {
                if i == WARMUP_ROUND_TRIPS {
                    measured_from = Instant::now();
                }
                let t0 = Instant::now();
                client.send(Message::single(payload.clone())).await?;
                let reply = client.recv().await?;
                if i >= WARMUP_ROUND_TRIPS {
                    hist.record(t0.elapsed().as_nanos() as u64)?;
                    if i.is_multiple_of(1024) {
                        progress.set_position(i - WARMUP_ROUND_TRIPS);
                    }
                }
                check(&reply, 1, size)?;
                if cap.is_some_and(|c| start.elapsed() >= c) {
                    measured_seconds = Some(measured_from.elapsed().as_secs_f64());
                    // The server expects `total` round trips: finish them unmeasured, quickly.
                    for _ in i + 1..total {
                        client.send(Message::single(payload.clone())).await?;
                        client.recv().await?;
                    }
                    break;
                }
            }
            let seconds = measured_seconds.unwrap_or_else(|| measured_from.elapsed().as_secs_f64());
            client.close().await?;
            Ok::<_, BoxError>((hist, seconds))
        });
        let (measured, ()) = tokio::try_join!(joined(timing), joined(echo))?;
        Ok::<_, BoxError>(measured)
    })?;
    Ok(Row::latency(w.name(), "ringmq", w.size, &hist, seconds))
}

fn latency_blocking(
    rt: &Runtime,
    w: &Workload,
    bind_endpoint: &str,
    progress: indicatif::ProgressBar,
) -> Result<Row, BoxError> {
    let (server_shard, client_shard) = shards(rt);
    let (server_type, client_type) = socket_types(w.pattern);
    let frames = w.pattern.server_frames();
    let server = BlockingSocket::new(
        rt.shard(server_shard).expect("shard exists"),
        server_type,
        CurveKeys::server_options(&w.curve),
    )?;
    let endpoint = server.bind(bind_endpoint)?;
    let client = BlockingSocket::new(
        rt.shard(client_shard).expect("shard exists"),
        client_type,
        CurveKeys::client_options(&w.curve),
    )?;
    client.connect(&endpoint)?;
    let total = w.count + WARMUP_ROUND_TRIPS;
    let size = w.size;
    let echo = std::thread::spawn(move || -> Result<(), BoxError> {
        for _ in 0..total {
            let m = server.recv()?;
            check(&m, frames, size)?;
            server.send(m)?;
        }
        Ok(())
    });
    let payload = Bytes::from(vec![0x5a; w.size]);
    let mut hist = histogram();
    let start = Instant::now();
    let mut measured_from = start;
    // Where a row cut short by --duration stopped measuring.
    let mut measured_seconds = None;
    for i in 0..total {
        if i == WARMUP_ROUND_TRIPS {
            measured_from = Instant::now();
        }
        let t0 = Instant::now();
        client.send(Message::single(payload.clone()))?;
        let reply = client.recv()?;
        if i >= WARMUP_ROUND_TRIPS {
            hist.record(t0.elapsed().as_nanos() as u64)?;
            if i.is_multiple_of(1024) {
                progress.set_position(i - WARMUP_ROUND_TRIPS);
            }
        }
        check(&reply, 1, size)?;
        if w.duration.is_some_and(|c| start.elapsed() >= c) {
            measured_seconds = Some(measured_from.elapsed().as_secs_f64());
            // The server expects `total` round trips: finish them unmeasured, quickly.
            for _ in i + 1..total {
                client.send(Message::single(payload.clone()))?;
                client.recv()?;
            }
            break;
        }
    }
    let seconds = measured_seconds.unwrap_or_else(|| measured_from.elapsed().as_secs_f64());
    echo.join().map_err(|_| "echo thread panicked")??;
    Ok(Row::latency(w.name(), "ringmq", w.size, &hist, seconds))
}
