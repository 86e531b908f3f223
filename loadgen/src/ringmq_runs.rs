//! The ringmq side: sockets used from tasks on shards (the fast path), or through the blocking
//! any-thread handles with `--blocking`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ringmq::{
    BlockingSocket, Bytes, Config, Message, Options, Runtime, ShardId, Socket, SocketType,
};

use crate::report::Row;
use crate::{Pattern, Workload};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const WARMUP_ROUND_TRIPS: u64 = 200;

pub fn run(
    w: &Workload,
    config: &Config,
    blocking: bool,
) -> Result<Row, Box<dyn std::error::Error>> {
    let rt = Runtime::new(config.clone())?;
    let progress = crate::report::progress(&format!("ringmq {}", w.name()), w.count);
    let row = match (w.pattern, blocking) {
        (Pattern::PushPull, false) => throughput_async(&rt, w, progress.clone()),
        (Pattern::PushPull, true) => throughput_blocking(&rt, w, progress.clone()),
        (Pattern::PairRtt, false) => latency_async(&rt, w, progress.clone()),
        (Pattern::PairRtt, true) => latency_blocking(&rt, w, progress.clone()),
    }
    .map_err(|e| -> Box<dyn std::error::Error> { e.to_string().into() })?;
    progress.finish_and_clear();
    Ok(row)
}

fn shards(rt: &Runtime) -> (ShardId, ShardId) {
    let n = rt.shard_count() as u16;
    (ShardId(0), ShardId(1 % n))
}

fn throughput_async(
    rt: &Runtime,
    w: &Workload,
    progress: indicatif::ProgressBar,
) -> Result<Row, BoxError> {
    let (rx_shard, tx_shard) = shards(rt);
    let (ep_tx, ep_rx) = mpsc::channel();
    let count = w.count;
    let cap = w.duration;
    let stop = Arc::new(AtomicBool::new(false));
    let stop_rx = stop.clone();
    let receiver = rt.spawn_on(rx_shard, move || async move {
        let pull = Socket::new(SocketType::Pull)?;
        ep_tx.send(pull.bind("tcp://127.0.0.1:0")?)?;
        pull.recv().await?;
        let start = Instant::now();
        let mut received = 1u64;
        while received < count {
            pull.recv().await?;
            received += 1;
            if received.is_multiple_of(65_536) {
                progress.set_position(received);
                if cap.is_some_and(|c| start.elapsed() >= c) {
                    break;
                }
            }
        }
        stop_rx.store(true, Ordering::Relaxed);
        Ok::<_, BoxError>((received - 1, start.elapsed()))
    })?;
    let endpoint = ep_rx.recv_timeout(Duration::from_secs(10))?;
    let size = w.size;
    let sender = rt.spawn_on(tx_shard, move || async move {
        let push = Socket::new(SocketType::Push)?;
        push.connect(&endpoint)?;
        let payload = Bytes::from(vec![0x5a; size]);
        for i in 0..count {
            push.send(Message::single(payload.clone())).await?;
            if i.is_multiple_of(4096) && stop.load(Ordering::Relaxed) {
                break;
            }
        }
        push.close().await;
        Ok::<_, BoxError>(())
    })?;
    let (messages, elapsed) = ringmq::block_on(receiver)?;
    ringmq::block_on(sender)?;
    Ok(Row::throughput(
        w.name(),
        "ringmq",
        w.size,
        messages,
        elapsed.as_secs_f64(),
    ))
}

fn throughput_blocking(
    rt: &Runtime,
    w: &Workload,
    progress: indicatif::ProgressBar,
) -> Result<Row, BoxError> {
    let (rx_shard, tx_shard) = shards(rt);
    let pull = BlockingSocket::new(
        rt.shard(rx_shard).expect("shard exists"),
        SocketType::Pull,
        Options::default(),
    )?;
    let endpoint = pull.bind("tcp://127.0.0.1:0")?;
    let push = BlockingSocket::new(
        rt.shard(tx_shard).expect("shard exists"),
        SocketType::Push,
        Options::default(),
    )?;
    push.connect(&endpoint)?;
    let count = w.count;
    let size = w.size;
    let stop = Arc::new(AtomicBool::new(false));
    let stop_tx = stop.clone();
    let sender = std::thread::spawn(move || -> Result<(), BoxError> {
        let payload = Bytes::from(vec![0x5a; size]);
        for i in 0..count {
            push.send(Message::single(payload.clone()))?;
            if i.is_multiple_of(4096) && stop_tx.load(Ordering::Relaxed) {
                break;
            }
        }
        Ok(())
    });
    pull.recv()?;
    let start = Instant::now();
    let mut received = 1u64;
    while received < count {
        pull.recv()?;
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
        "ringmq",
        w.size,
        received - 1,
        elapsed.as_secs_f64(),
    ))
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

fn latency_async(
    rt: &Runtime,
    w: &Workload,
    progress: indicatif::ProgressBar,
) -> Result<Row, BoxError> {
    let (server_shard, client_shard) = shards(rt);
    let (ep_tx, ep_rx) = mpsc::channel();
    let total = w.count + WARMUP_ROUND_TRIPS;
    let server = rt.spawn_on(server_shard, move || async move {
        let pair = Socket::new(SocketType::Pair)?;
        ep_tx.send(pair.bind("tcp://127.0.0.1:0")?)?;
        for _ in 0..total {
            let m = pair.recv().await?;
            pair.send(m).await?;
        }
        pair.close().await;
        Ok::<_, BoxError>(())
    })?;
    let endpoint = ep_rx.recv_timeout(Duration::from_secs(10))?;
    let size = w.size;
    let cap = w.duration;
    let client = rt.spawn_on(client_shard, move || async move {
        let pair = Socket::new(SocketType::Pair)?;
        pair.connect(&endpoint)?;
        let payload = Bytes::from(vec![0x5a; size]);
        let mut hist = histogram();
        let start = Instant::now();
        let mut measured_from = start;
        for i in 0..total {
            if i == WARMUP_ROUND_TRIPS {
                measured_from = Instant::now();
            }
            let t0 = Instant::now();
            pair.send(Message::single(payload.clone())).await?;
            pair.recv().await?;
            if i >= WARMUP_ROUND_TRIPS {
                hist.record(t0.elapsed().as_nanos() as u64)?;
                if i.is_multiple_of(1024) {
                    progress.set_position(i - WARMUP_ROUND_TRIPS);
                }
            }
            if cap.is_some_and(|c| start.elapsed() >= c) {
                // The server expects `total` round trips: finish them unmeasured, quickly.
                for _ in i + 1..total {
                    pair.send(Message::single(payload.clone())).await?;
                    pair.recv().await?;
                }
                break;
            }
        }
        let seconds = measured_from.elapsed().as_secs_f64();
        pair.close().await;
        Ok::<_, BoxError>((hist, seconds))
    })?;
    let (hist, seconds) = ringmq::block_on(client)?;
    ringmq::block_on(server)?;
    Ok(Row::latency(w.name(), "ringmq", w.size, &hist, seconds))
}

fn latency_blocking(
    rt: &Runtime,
    w: &Workload,
    progress: indicatif::ProgressBar,
) -> Result<Row, BoxError> {
    let (server_shard, client_shard) = shards(rt);
    let server = BlockingSocket::new(
        rt.shard(server_shard).expect("shard exists"),
        SocketType::Pair,
        Options::default(),
    )?;
    let endpoint = server.bind("tcp://127.0.0.1:0")?;
    let client = BlockingSocket::new(
        rt.shard(client_shard).expect("shard exists"),
        SocketType::Pair,
        Options::default(),
    )?;
    client.connect(&endpoint)?;
    let total = w.count + WARMUP_ROUND_TRIPS;
    let echo = std::thread::spawn(move || -> Result<(), BoxError> {
        for _ in 0..total {
            let m = server.recv()?;
            server.send(m)?;
        }
        Ok(())
    });
    let payload = Bytes::from(vec![0x5a; w.size]);
    let mut hist = histogram();
    let mut measured_from = Instant::now();
    for i in 0..total {
        if i == WARMUP_ROUND_TRIPS {
            measured_from = Instant::now();
        }
        let t0 = Instant::now();
        client.send(Message::single(payload.clone()))?;
        client.recv()?;
        if i >= WARMUP_ROUND_TRIPS {
            hist.record(t0.elapsed().as_nanos() as u64)?;
            if i.is_multiple_of(1024) {
                progress.set_position(i - WARMUP_ROUND_TRIPS);
            }
        }
    }
    let seconds = measured_from.elapsed().as_secs_f64();
    echo.join().map_err(|_| "echo thread panicked")??;
    Ok(Row::latency(w.name(), "ringmq", w.size, &hist, seconds))
}
