//! PAIR: an exclusive two-way link. One end runs as a task on a shard (async API), the other is a
//! blocking handle on the main thread; they play ping-pong.
//!
//! Run: `cargo run --release -p ringmq --example pair`

use std::time::Duration;

use ringmq::{BlockingSocket, Config, Options, Runtime, ShardId, Socket, SocketType};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = Runtime::new(Config::default())?;
    let (endpoint_tx, endpoint_rx) = std::sync::mpsc::channel();
    let echo = rt.spawn_on(ShardId(0), move || async move {
        let pair = Socket::new(SocketType::Pair)?;
        endpoint_tx.send(pair.bind("tcp://127.0.0.1:0")?)?;
        for _ in 0..3 {
            let ping = pair.recv().await?;
            let mut reply = b"pong: ".to_vec();
            reply.extend_from_slice(&ping.frames()[0]);
            pair.send(reply).await?;
        }
        pair.close().await;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    })?;
    let endpoint = endpoint_rx.recv()?;
    let mut pair = BlockingSocket::new(rt.next_shard(), SocketType::Pair, Options::default())?;
    pair.set_rcvtimeo(Some(Duration::from_secs(5)));
    pair.connect(&endpoint)?;
    for i in 0..3 {
        pair.send(format!("ping {i}").into_bytes())?;
        let reply = pair.recv()?;
        println!("{}", String::from_utf8_lossy(&reply.frames()[0]));
    }
    ringmq::block_on(echo).map_err(|e| e.to_string())?;
    Ok(())
}
