//! XPUB/XSUB: a forwarder. Publishers send to the XSUB side, subscribers connect to the XPUB
//! side, and subscriptions travel upstream through it; the application sees each subscription as
//! a `\x01topic` message on XPUB.
//!
//! Run: `cargo run --release -p ringmq --example forwarder`

use std::time::Duration;

use ringmq::{BlockingSocket, Config, Message, Options, Runtime, SocketType};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = Runtime::new(Config::default())?;
    let mut xpub = BlockingSocket::new(rt.next_shard(), SocketType::XPub, Options::default())?;
    xpub.set_rcvtimeo(Some(Duration::from_secs(5)));
    let downstream = xpub.bind("tcp://127.0.0.1:0")?;
    let mut xsub = BlockingSocket::new(rt.next_shard(), SocketType::XSub, Options::default())?;
    xsub.set_rcvtimeo(Some(Duration::from_millis(20)));
    let upstream = xsub.bind("tcp://127.0.0.1:0")?;

    let publisher = BlockingSocket::new(rt.next_shard(), SocketType::Pub, Options::default())?;
    publisher.connect(&upstream)?;
    let mut subscriber = BlockingSocket::new(rt.next_shard(), SocketType::Sub, Options::default())?;
    subscriber.set_rcvtimeo(Some(Duration::from_millis(20)));
    subscriber.subscribe(b"prices.")?;
    subscriber.connect(&downstream)?;

    // The subscription reaches the forwarder's XPUB as a message; pass it upstream.
    let subscription = xpub.recv()?;
    println!(
        "subscription seen by the forwarder: {:?}",
        String::from_utf8_lossy(&subscription.frames()[0])
    );
    xsub.send(subscription)?;

    // Forward until the subscriber has its first price (the subscription takes a moment upstream).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let got = loop {
        assert!(std::time::Instant::now() < deadline, "nothing arrived");
        publisher.send(Message::from_frames(["news.today", "ignored"]))?;
        publisher.send(Message::from_frames(["prices.eur", "1.08"]))?;
        while let Ok(m) = xsub.recv() {
            xpub.send(m)?;
        }
        if let Ok(m) = subscriber.recv() {
            break m;
        }
    };
    println!(
        "{} = {}",
        String::from_utf8_lossy(&got.frames()[0]),
        String::from_utf8_lossy(&got.frames()[1])
    );
    assert_eq!(got.frames()[0], "prices.eur");
    Ok(())
}
