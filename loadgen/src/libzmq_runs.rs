//! The libzmq side, through our runtime-loaded FFI module. Each end has its own context (one I/O
//! thread each), as libzmq's own local_thr/remote_thr and local_lat/remote_lat run in two processes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use hdrhistogram::Histogram;
use ringmq_interop::libzmq as zmq;

use crate::report::Row;
use crate::{Pattern, Workload};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const WARMUP_ROUND_TRIPS: u64 = 200;

pub fn run(w: &Workload) -> Result<Row, Box<dyn std::error::Error>> {
    let progress = crate::report::progress(&format!("libzmq {}", w.name()), w.count);
    let row = match w.pattern {
        Pattern::PushPull => throughput(w, progress.clone()),
        Pattern::PairRtt => latency(w, progress.clone()),
    }
    .map_err(|e| -> Box<dyn std::error::Error> { e.to_string().into() })?;
    progress.finish_and_clear();
    Ok(row)
}

fn throughput(w: &Workload, progress: indicatif::ProgressBar) -> Result<Row, BoxError> {
    let rx_ctx = zmq::Context::new()?;
    let pull = rx_ctx.socket(zmq::PULL)?;
    pull.bind("tcp://127.0.0.1:*")?;
    let endpoint = pull.last_endpoint()?;
    let count = w.count;
    let size = w.size;
    let stop = Arc::new(AtomicBool::new(false));
    let stop_tx = stop.clone();
    let sender = std::thread::spawn(move || -> Result<(), BoxError> {
        let ctx = zmq::Context::new()?;
        let push = ctx.socket(zmq::PUSH)?;
        push.connect(&endpoint)?;
        let payload = vec![0x5au8; size];
        for i in 0..count {
            push.send(&payload, 0)?;
            if i.is_multiple_of(4096) && stop_tx.load(Ordering::Relaxed) {
                break;
            }
        }
        Ok(())
    });
    let mut buf = Vec::with_capacity(size);
    pull.recv_into(&mut buf, 0)?;
    let start = Instant::now();
    let mut received = 1u64;
    while received < count {
        pull.recv_into(&mut buf, 0)?;
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
    sender.join().map_err(|_| "sender thread panicked")??;
    Ok(Row::throughput(
        w.name(),
        "libzmq",
        w.size,
        received - 1,
        elapsed.as_secs_f64(),
    ))
}

fn latency(w: &Workload, progress: indicatif::ProgressBar) -> Result<Row, BoxError> {
    let server_ctx = zmq::Context::new()?;
    let server = server_ctx.socket(zmq::PAIR)?;
    server.bind("tcp://127.0.0.1:*")?;
    let endpoint = server.last_endpoint()?;
    let total = w.count + WARMUP_ROUND_TRIPS;
    let echo = std::thread::spawn(move || -> Result<(), BoxError> {
        let mut buf = Vec::new();
        for _ in 0..total {
            server.recv_into(&mut buf, 0)?;
            server.send(&buf, 0)?;
        }
        Ok(())
    });
    let ctx = zmq::Context::new()?;
    let client = ctx.socket(zmq::PAIR)?;
    client.connect(&endpoint)?;
    let payload = vec![0x5au8; w.size];
    let mut buf = Vec::with_capacity(w.size);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    let mut measured_from = Instant::now();
    for i in 0..total {
        if i == WARMUP_ROUND_TRIPS {
            measured_from = Instant::now();
        }
        let t0 = Instant::now();
        client.send(&payload, 0)?;
        client.recv_into(&mut buf, 0)?;
        if i >= WARMUP_ROUND_TRIPS {
            hist.record(t0.elapsed().as_nanos() as u64)?;
            if i.is_multiple_of(1024) {
                progress.set_position(i - WARMUP_ROUND_TRIPS);
            }
        }
    }
    let seconds = measured_from.elapsed().as_secs_f64();
    echo.join().map_err(|_| "echo thread panicked")??;
    Ok(Row::latency(w.name(), "libzmq", w.size, &hist, seconds))
}
