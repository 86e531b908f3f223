//! PUSH/PULL pipeline with the async API: a ventilator task on one shard load-balances work over
//! two workers on another; each worker fair-queues what it gets.
//!
//! Run: `cargo run --release -p ringmq --example pipeline`

use ringmq::{Config, Message, Runtime, ShardId, Socket, SocketType};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = Runtime::new(Config {
        shards: 2,
        ..Config::default()
    })?;
    let (endpoint_tx, endpoint_rx) = std::sync::mpsc::channel();
    // Two PULL workers on shard 0, each binding its own port.
    let mut workers = Vec::new();
    for id in 0..2 {
        let endpoint_tx = endpoint_tx.clone();
        workers.push(rt.spawn_on(ShardId(0), move || async move {
            let pull = Socket::new(SocketType::Pull)?;
            endpoint_tx.send(pull.bind("tcp://127.0.0.1:0")?)?;
            let mut done = 0;
            loop {
                let task = pull.recv().await?;
                if task.frames()[0] == "stop" {
                    break;
                }
                done += 1;
            }
            println!("worker {id} did {done} tasks");
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(done)
        })?);
    }
    let endpoints: Vec<String> = (0..2)
        .map(|_| endpoint_rx.recv())
        .collect::<Result<_, _>>()?;
    // The PUSH ventilator on shard 1 connects to both and round-robins 100 tasks.
    let ventilator = rt.spawn_on(ShardId(1), move || async move {
        let push = Socket::new(SocketType::Push)?;
        for e in &endpoints {
            push.connect(e)?;
        }
        for i in 0..100u32 {
            push.send(Message::from_frames([
                "task".as_bytes().to_vec(),
                i.to_be_bytes().to_vec(),
            ]))
            .await?;
        }
        push.send("stop").await?;
        push.send("stop").await?;
        push.close().await;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    })?;
    ringmq::block_on(ventilator).map_err(|e| e.to_string())?;
    let total: u32 = workers
        .into_iter()
        .map(|w| ringmq::block_on(w).map_err(|e| e.to_string()))
        .sum::<Result<_, _>>()?;
    assert_eq!(total, 100);
    println!("all {total} tasks done");
    Ok(())
}
