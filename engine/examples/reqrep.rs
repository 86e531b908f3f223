//! REQ/REP: a REP echo service on a shard (async API) and a REQ client on the main thread
//! (blocking API) talking over ipc; REQ and REP alternate strictly.
//!
//! Run: `cargo run --release -p ringmq --example reqrep`

use std::time::Duration;

use ringmq::{
    BlockingSocket, Config, ErrorKind, Message, Options, Runtime, ShardId, Socket, SocketType,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = Runtime::new(Config::default())?;
    let path = std::env::temp_dir().join(format!("ringmq-reqrep-{}.sock", std::process::id()));
    let endpoint = format!("ipc://{}", path.display());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let service_endpoint = endpoint.clone();
    let service = rt.spawn_on(ShardId(0), move || async move {
        let rep = Socket::new(SocketType::Rep)?;
        rep.bind(&service_endpoint)?;
        ready_tx.send(())?;
        for _ in 0..3 {
            let request = rep.recv().await?;
            let mut reply = b"echo: ".to_vec();
            reply.extend_from_slice(&request.frames()[0]);
            rep.send(reply).await?;
        }
        rep.close().await;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    })?;
    ready_rx.recv()?;
    let mut req = BlockingSocket::new(rt.next_shard(), SocketType::Req, Options::default())?;
    req.set_rcvtimeo(Some(Duration::from_secs(5)));
    req.connect(&endpoint)?;
    for i in 0..3 {
        req.send(Message::single(format!("request {i}").into_bytes()))?;
        // A second send before the reply is refused: REQ alternates strictly.
        let refused = req.send(Message::single("too early")).unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::InvalidState);
        let reply = req.recv()?;
        println!("{}", String::from_utf8_lossy(&reply.frames()[0]));
    }
    ringmq::block_on(service).map_err(|e| e.to_string())?;
    Ok(())
}
