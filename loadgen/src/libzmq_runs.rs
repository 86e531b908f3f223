//! The libzmq side, through our runtime-loaded FFI module. Each end has its own context (one I/O
//! thread each), as libzmq's own local_thr/remote_thr and local_lat/remote_lat run in two processes.
//!
//! Receives go into buffers reused for the whole row (`recv_into`), one per frame, so the hot
//! loops allocate no more than ringmq's do.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ringmq_interop::libzmq as zmq;

use crate::report::Row;
use crate::{CurveKeys, Pattern, Transport, Workload};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const WARMUP_ROUND_TRIPS: u64 = 200;

pub fn run(w: &Workload) -> Result<Row, Box<dyn std::error::Error>> {
    // Declared first so that an ipc socket file outlives the sockets bound to it.
    let bind = w.bind_endpoint("*");
    let progress = crate::report::progress(&format!("libzmq {}", w.name()), w.count);
    let row = if w.pattern.is_round_trip() {
        latency(w, bind.as_str(), progress.clone())
    } else {
        throughput(w, bind.as_str(), progress.clone())
    }
    .map_err(|e| -> Box<dyn std::error::Error> { e.to_string().into() })?;
    progress.finish_and_clear();
    Ok(row)
}

/// A scaling row (`--pairs N`): N throughput pairs at once, each as [`run`] runs one (its own
/// contexts, so its own I/O threads), on threads of their own. The rate is every pair's messages
/// over the longest pair's time, as ringmq's scaling rows count it.
pub fn run_pairs(w: &Workload) -> Result<Row, Box<dyn std::error::Error>> {
    let pairs = w.pairs.unwrap_or(1);
    let one = w.one_pair();
    let binds: Vec<_> = (0..pairs).map(|_| one.bind_endpoint("*")).collect();
    let progress = crate::report::progress(&format!("libzmq {}", w.name()), w.count);
    let rows: Vec<Result<Row, String>> = std::thread::scope(|scope| {
        let runs: Vec<_> = binds
            .iter()
            .enumerate()
            .map(|(i, bind)| {
                let one = &one;
                let pair_progress = if i == 0 {
                    progress.clone()
                } else {
                    indicatif::ProgressBar::hidden()
                };
                scope.spawn(move || {
                    throughput(one, bind.as_str(), pair_progress).map_err(|e| e.to_string())
                })
            })
            .collect();
        runs.into_iter()
            .map(|r| r.join().unwrap_or_else(|_| Err("a pair panicked".into())))
            .collect()
    });
    progress.finish_and_clear();
    let mut messages = 0;
    let mut longest = 0f64;
    for row in rows {
        let row = row?;
        messages += row.messages;
        longest = longest.max(row.seconds);
    }
    let mut row = Row::throughput(w.name(), "libzmq", w.size, messages, longest);
    row.pairs = Some(pairs);
    Ok(row)
}

/// (binding end, connecting end).
fn socket_types(pattern: Pattern) -> (i32, i32) {
    match pattern {
        Pattern::PushPull => (zmq::PULL, zmq::PUSH),
        Pattern::PairRtt => (zmq::PAIR, zmq::PAIR),
        Pattern::ReqRep => (zmq::REP, zmq::REQ),
        Pattern::DealerRouter | Pattern::RouterDealerRtt => (zmq::ROUTER, zmq::DEALER),
    }
}

/// One reusable buffer per frame of the messages a socket receives.
fn frame_buffers(frames: usize, size: usize) -> Vec<Vec<u8>> {
    (0..frames).map(|_| Vec::with_capacity(size)).collect()
}

/// Receives one message into `frames` (one buffer per expected frame) and checks its shape: the
/// expected number of frames, the last one `size` bytes long.
fn recv_checked(socket: &zmq::Socket, frames: &mut [Vec<u8>], size: usize) -> Result<(), BoxError> {
    let n = frames.len();
    for (i, buffer) in frames.iter_mut().enumerate() {
        let more = socket.recv_into(buffer, 0)?;
        if more != (i + 1 < n) {
            return Err(format!(
                "received a message whose frame {} {} more, expected {n} frame(s)",
                i + 1,
                if more { "has" } else { "has no" }
            )
            .into());
        }
    }
    if frames[n - 1].len() != size {
        return Err(format!(
            "received a body of {} bytes, expected {size}",
            frames[n - 1].len()
        )
        .into());
    }
    Ok(())
}

/// Sends `frames` as one message.
fn send_frames(socket: &zmq::Socket, frames: &[Vec<u8>]) -> Result<(), BoxError> {
    let (last, first) = frames
        .split_last()
        .ok_or("a message has at least one frame")?;
    for frame in first {
        socket.send(frame, zmq::ZMQ_SNDMORE)?;
    }
    socket.send(last, 0)?;
    Ok(())
}

fn throughput(
    w: &Workload,
    bind_endpoint: &str,
    progress: indicatif::ProgressBar,
) -> Result<Row, BoxError> {
    let (rx_type, tx_type) = socket_types(w.pattern);
    let rx_ctx = zmq::Context::new()?;
    let receiver = rx_ctx.socket(rx_type)?;
    // The receiver never sends. With the default infinite linger, terminating its context hangs
    // now and then over ipc when a row cut short by --duration leaves messages unread.
    receiver.set_int(zmq::ZMQ_LINGER, 0)?;
    CurveKeys::libzmq_server(&w.curve, &receiver)?;
    receiver.bind(bind_endpoint)?;
    let endpoint = receiver.last_endpoint()?;
    let count = w.count;
    let size = w.size;
    let stop = Arc::new(AtomicBool::new(false));
    let stop_tx = stop.clone();
    let curve = w.curve.clone();
    // inproc needs both ends in one libzmq context.
    let shared_ctx = (w.transport == Transport::Inproc).then(|| rx_ctx.clone());
    // Dropped by the receiver once it has counted the row.
    let (counted_tx, counted_rx) = mpsc::channel::<()>();
    let sending = std::thread::spawn(move || -> Result<(), BoxError> {
        let ctx = match shared_ctx {
            Some(ctx) => ctx,
            None => zmq::Context::new()?,
        };
        let sender = ctx.socket(tx_type)?;
        CurveKeys::libzmq_client(&curve, &sender)?;
        sender.connect(&endpoint)?;
        let payload = vec![0x5au8; size];
        for i in 0..count {
            sender.send(&payload, 0)?;
            if i.is_multiple_of(4096) && stop_tx.load(Ordering::Relaxed) {
                break;
            }
        }
        // Keep the connection open until the receiver has everything: over ipc, libzmq 4.3 loses
        // the messages its receiving end still holds above its HWM when the sender closes right
        // after sending (libzmq issue 4660), despite the infinite linger.
        let _ = counted_rx.recv();
        Ok(())
    });
    let mut frames = frame_buffers(w.pattern.server_frames(), size);
    recv_checked(&receiver, &mut frames, size)?;
    let start = Instant::now();
    let mut received = 1u64;
    while received < count {
        recv_checked(&receiver, &mut frames, size)?;
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
    // A row cut short by --duration leaves the sender up to 4096 messages from seeing `stop`,
    // possibly blocked at its HWM: drain, uncounted, until it has finished.
    receiver.set_rcvtimeo(Duration::from_millis(10))?;
    while !sending.is_finished() {
        match receiver.recv_into(&mut frames[0], 0) {
            Err(e) if !e.is_again() => return Err(e.into()),
            _ => {}
        }
    }
    sending.join().map_err(|_| "sender thread panicked")??;
    Ok(Row::throughput(
        w.name(),
        "libzmq",
        w.size,
        received - 1,
        elapsed.as_secs_f64(),
    ))
}

/// The echo server sends back exactly the frames it received: the body for PAIR and REP (REP
/// strips and re-adds the envelope), [routing id, body] for ROUTER.
fn latency(
    w: &Workload,
    bind_endpoint: &str,
    progress: indicatif::ProgressBar,
) -> Result<Row, BoxError> {
    let (server_type, client_type) = socket_types(w.pattern);
    let server_ctx = zmq::Context::new()?;
    let server = server_ctx.socket(server_type)?;
    CurveKeys::libzmq_server(&w.curve, &server)?;
    server.bind(bind_endpoint)?;
    let endpoint = server.last_endpoint()?;
    let total = w.count + WARMUP_ROUND_TRIPS;
    let size = w.size;
    let server_frames = w.pattern.server_frames();
    let echo = std::thread::spawn(move || -> Result<(), BoxError> {
        let mut frames = frame_buffers(server_frames, size);
        for _ in 0..total {
            recv_checked(&server, &mut frames, size)?;
            send_frames(&server, &frames)?;
        }
        Ok(())
    });
    let ctx = if w.transport == Transport::Inproc {
        server_ctx.clone()
    } else {
        zmq::Context::new()?
    };
    let client = ctx.socket(client_type)?;
    CurveKeys::libzmq_client(&w.curve, &client)?;
    client.connect(&endpoint)?;
    let payload = vec![0x5au8; w.size];
    let mut reply = Vec::with_capacity(w.size);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    let mut measured_from = Instant::now();
    for i in 0..total {
        if i == WARMUP_ROUND_TRIPS {
            measured_from = Instant::now();
        }
        let t0 = Instant::now();
        client.send(&payload, 0)?;
        let more = client.recv_into(&mut reply, 0)?;
        if i >= WARMUP_ROUND_TRIPS {
            hist.record(t0.elapsed().as_nanos() as u64)?;
            if i.is_multiple_of(1024) {
                progress.set_position(i - WARMUP_ROUND_TRIPS);
            }
        }
        if more || reply.len() != size {
            return Err(format!(
                "received a reply of {} bytes{}, expected one frame of {size}",
                reply.len(),
                if more { " and more frames" } else { "" }
            )
            .into());
        }
    }
    let seconds = measured_from.elapsed().as_secs_f64();
    echo.join().map_err(|_| "echo thread panicked")??;
    Ok(Row::latency(w.name(), "libzmq", w.size, &hist, seconds))
}
