//! DEALER/ROUTER: a request broker. A ROUTER frontend and a DEALER backend joined by
//! `ringmq::proxy` on a shard; REQ clients connect to the frontend, REP workers to the backend
//! over inproc, and requests are load-balanced across the workers.
//!
//! Run: `cargo run --release -p ringmq --example broker`

use std::time::Duration;

use ringmq::{BlockingSocket, Config, Message, Options, Runtime, ShardId, Socket, SocketType};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = Runtime::new(Config {
        shards: 2,
        ..Config::default()
    })?;
    let (ep_tx, ep_rx) = std::sync::mpsc::channel();
    let control = ringmq::ProxyControl::new();
    let broker_control = control.clone();
    let broker = rt.spawn_on(ShardId(0), move || async move {
        let frontend = Socket::new(SocketType::Router)?;
        let backend = Socket::new(SocketType::Dealer)?;
        ep_tx.send(frontend.bind("tcp://127.0.0.1:0")?)?;
        backend.bind("inproc://workers")?;
        ringmq::proxy_steerable(&frontend, &backend, None, &broker_control).await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    })?;
    let frontend = ep_rx.recv()?;
    // Two workers on shard 1, each answering with its name.
    let workers: Vec<_> = (0..2)
        .map(|id| {
            rt.spawn_on(ShardId(1), move || async move {
                let rep = Socket::new(SocketType::Rep)?;
                rep.connect("inproc://workers")?;
                let mut served = 0;
                while let Ok(request) = rep.recv().await {
                    let mut reply = format!("worker {id} did ").into_bytes();
                    reply.extend_from_slice(&request.frames()[0]);
                    rep.send(reply).await?;
                    served += 1;
                }
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(served)
            })
        })
        .collect::<Result<_, _>>()?;
    let mut client = BlockingSocket::new(rt.next_shard(), SocketType::Req, Options::default())?;
    client.set_rcvtimeo(Some(Duration::from_secs(5)));
    client.connect(&frontend)?;
    for i in 0..4 {
        client.send(Message::single(format!("job {i}").into_bytes()))?;
        println!("{}", String::from_utf8_lossy(&client.recv()?.frames()[0]));
    }
    control.terminate();
    ringmq::block_on(broker).map_err(|e| e.to_string())?;
    drop(workers);
    Ok(())
}
