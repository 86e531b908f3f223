//! A tokio service on ringmq's any-executor handle: a ROUTER server task answers DEALER clients,
//! each task `select!`s on its socket and a timer, and the whole program shuts down gracefully on
//! Ctrl-C (or when the clients are done), printing what `Runtime::shutdown_async` delivered.
//!
//! Run: `cargo run --release -p ringmq --example tokio_service` (add a number of requests per
//! client, e.g. `-- 100000`, and press Ctrl-C to stop early).

use std::time::Duration;

use futures::StreamExt;
use ringmq::{AsyncSocket, Config, Message, Options, Runtime, SocketType};

const CLIENTS: usize = 4;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let requests: u64 = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(1000);
    let rt = Runtime::new(Config::default())?;

    // The server: a ROUTER that echoes every request with its routing envelope.
    let router = AsyncSocket::new(rt.next_shard(), SocketType::Router, Options::default())?;
    let endpoint = router.bind("tcp://127.0.0.1:0").await?;
    println!("server on {endpoint} ({} backend)", rt.backend());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = {
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let (replies, mut requests_in) = router.split();
            let mut answered = 0u64;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    request = requests_in.next() => {
                        let Some(request) = request else { break }; // the socket closed
                        replies.send(request?).await?;
                        answered += 1;
                    }
                    _ = tick.tick() => println!("server: {answered} answered"),
                    _ = stop.changed() => break,
                }
            }
            Ok::<u64, ringmq::Error>(answered)
        })
    };

    // The clients: DEALERs sending numbered requests and waiting for each echo, with a timeout.
    let mut clients = Vec::new();
    for id in 0..CLIENTS {
        let dealer = AsyncSocket::new(rt.next_shard(), SocketType::Dealer, Options::default())?;
        dealer.connect(&endpoint).await?;
        let mut stop = stop_rx.clone();
        clients.push(tokio::spawn(async move {
            let mut done = 0u64;
            while done < requests {
                dealer
                    .send(Message::single(
                        format!("client {id} request {done}").into_bytes(),
                    ))
                    .await?;
                tokio::select! {
                    reply = dealer.recv() => {
                        let reply = reply?;
                        assert_eq!(reply.frames()[0], format!("client {id} request {done}"));
                        done += 1;
                    }
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {
                        eprintln!("client {id}: no reply within 5 s");
                        break;
                    }
                    _ = stop.changed() => break,
                }
            }
            Ok::<u64, ringmq::Error>(done)
        }));
    }

    // Stop on Ctrl-C, or once every client is done.
    let all_done = futures::future::join_all(clients);
    tokio::pin!(all_done);
    let results = tokio::select! {
        results = &mut all_done => results,
        _ = tokio::signal::ctrl_c() => {
            println!("Ctrl-C: stopping");
            let _ = stop_tx.send(true);
            all_done.await
        }
    };
    let mut total = 0;
    for r in results {
        total += r??;
    }
    let _ = stop_tx.send(true);
    let answered = server.await??;
    println!("clients got {total} replies; the server answered {answered}");

    // Graceful: every socket flushes within its linger, bounded by two seconds.
    let report = rt.shutdown_async(Duration::from_secs(2)).await;
    println!(
        "shutdown: {} sockets, {} messages delivered, {} abandoned",
        report.sockets.len(),
        report.delivered(),
        report.abandoned()
    );
    Ok(())
}
