//! PUB/SUB with the blocking API: a publisher sends weather and sports updates; a subscriber asks
//! for weather only and never sees sports.
//!
//! Run: `cargo run --release -p ringmq --example pubsub`

use std::time::Duration;

use ringmq::{BlockingSocket, Config, Message, Options, Runtime, SocketType};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = Runtime::new(Config::default())?;
    let publisher = BlockingSocket::new(rt.next_shard(), SocketType::Pub, Options::default())?;
    let endpoint = publisher.bind("tcp://127.0.0.1:0")?;

    let mut subscriber = BlockingSocket::new(rt.next_shard(), SocketType::Sub, Options::default())?;
    subscriber.subscribe(b"weather")?;
    subscriber.connect(&endpoint)?;
    subscriber.set_rcvtimeo(Some(Duration::from_millis(50)));

    // A subscription reaches the publisher asynchronously (the ZeroMQ "slow joiner"): publish
    // until the first update arrives, then for real.
    let first = loop {
        publisher.send(Message::from_frames(["weather", "hello"]))?;
        if let Ok(m) = subscriber.recv() {
            break m;
        }
    };
    println!(
        "subscribed; first update: {:?}",
        String::from_utf8_lossy(&first.frames()[1])
    );
    while subscriber.try_recv()?.is_some() {}

    for i in 0..5 {
        publisher.send(Message::from_frames([
            "sports".to_string(),
            format!("score {i}"),
        ]))?;
        publisher.send(Message::from_frames([
            "weather".to_string(),
            format!("{} degrees", 20 + i),
        ]))?;
    }
    subscriber.set_rcvtimeo(Some(Duration::from_secs(5)));
    for _ in 0..5 {
        let m = subscriber.recv()?;
        assert_eq!(m.frames()[0], "weather");
        println!(
            "{}: {}",
            String::from_utf8_lossy(&m.frames()[0]),
            String::from_utf8_lossy(&m.frames()[1])
        );
    }
    Ok(())
}
