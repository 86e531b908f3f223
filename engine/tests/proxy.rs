//! The built-in proxy (zmq_proxy / zmq_proxy_steerable) over tcp: a proxy task on shard 0 between
//! blocking peers elsewhere.

mod support;

use support::{runtime, socket, WAIT};

use std::future::Future;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ringmq::{
    BlockingSocket, ErrorKind, Message, ProxyControl, ProxyStatistics, Runtime, ShardId, Socket,
    SocketType,
};

/// How long a negative check ("nothing arrives") waits.
const QUIET: Duration = Duration::from_millis(200);
const ANY: &str = "tcp://127.0.0.1:0";

/// The result of `task`, waiting at most `WAIT` (a helper thread blocks on it).
fn finish<T: Future<Output: Send> + Send + 'static>(task: T) -> T::Output {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(ringmq::block_on(task));
    });
    rx.recv_timeout(WAIT)
        .expect("the proxy task did not finish")
}

/// Message `i` of client `client`: every third one has three frames.
fn numbered(client: u8, i: u32) -> Message {
    let mut head = vec![client];
    head.extend_from_slice(&i.to_be_bytes());
    if i.is_multiple_of(3) {
        Message::from_frames([head, vec![], vec![7u8; (i % 100) as usize]])
    } else {
        Message::single(head)
    }
}

fn sender_of(msg: &Message) -> (u8, u32) {
    let head = &msg.frames()[0];
    (head[0], u32::from_be_bytes(head[1..5].try_into().unwrap()))
}

#[test]
fn streamer_moves_everything_in_order_with_capture() {
    let rt = runtime(2);
    let workers = [socket(&rt, SocketType::Pull), socket(&rt, SocketType::Pull)];
    let worker_endpoints: Vec<String> = workers.iter().map(|w| w.bind(ANY).unwrap()).collect();
    let tap = socket(&rt, SocketType::Pull);
    let tap_endpoint = tap.bind(ANY).unwrap();
    let (tx, rx) = mpsc::channel();
    let task = rt
        .spawn_on(ShardId(0), move || async move {
            let frontend = Socket::new(SocketType::Pull)?;
            let backend = Socket::new(SocketType::Push)?;
            let capture = Socket::new(SocketType::Push)?;
            for ep in &worker_endpoints {
                backend.connect(ep)?;
            }
            // Connecting queues at once, so the capture misses nothing while tcp comes up.
            capture.connect(&tap_endpoint)?;
            let _ = tx.send(frontend.bind(ANY)?);
            ringmq::proxy(&frontend, &backend, Some(&capture)).await
        })
        .unwrap();
    let frontend = rx.recv_timeout(WAIT).unwrap();
    let clients = [socket(&rt, SocketType::Push), socket(&rt, SocketType::Push)];
    for c in &clients {
        c.connect(&frontend).unwrap();
    }
    const PER_CLIENT: u32 = 500;
    for i in 0..PER_CLIENT {
        for (id, c) in clients.iter().enumerate() {
            c.send(numbered(id as u8, i)).unwrap();
        }
    }
    // Each worker sees each client's messages in order; together they see all of them.
    let mut next = [[0u32; 2]; 2];
    let mut received = 0;
    let deadline = Instant::now() + WAIT;
    while received < 2 * PER_CLIENT {
        assert!(
            Instant::now() < deadline,
            "only {received} messages arrived; next expected per worker and client: {next:?}"
        );
        for (w, worker) in workers.iter().enumerate() {
            while let Some(msg) = worker.try_recv().unwrap() {
                let (client, i) = sender_of(&msg);
                assert!(i >= next[w][client as usize], "worker {w}: out of order");
                next[w][client as usize] = i + 1;
                assert_eq!(msg, numbered(client, i));
                received += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    // The capture got a copy of every message, each client's in order.
    let mut next = [0u32; 2];
    for _ in 0..2 * PER_CLIENT {
        let msg = tap.recv().unwrap();
        let (client, i) = sender_of(&msg);
        assert_eq!(i, next[client as usize]);
        next[client as usize] += 1;
        assert_eq!(msg, numbered(client, i));
    }
    assert!(tap.recv_timeout(QUIET).is_err());
    drop(task);
}

#[test]
fn pair_to_pair_moves_both_ways() {
    let rt = runtime(2);
    let (tx, rx) = mpsc::channel();
    let task = rt
        .spawn_on(ShardId(0), move || async move {
            let frontend = Socket::new(SocketType::Pair)?;
            let backend = Socket::new(SocketType::Pair)?;
            let _ = tx.send((frontend.bind(ANY)?, backend.bind(ANY)?));
            ringmq::proxy(&frontend, &backend, None).await
        })
        .unwrap();
    let (front_ep, back_ep) = rx.recv_timeout(WAIT).unwrap();
    let client = socket(&rt, SocketType::Pair);
    client.connect(&front_ep).unwrap();
    let server = socket(&rt, SocketType::Pair);
    server.connect(&back_ep).unwrap();
    for i in 0..200u32 {
        client
            .send(Message::from_frames([
                b"to server".to_vec(),
                i.to_be_bytes().to_vec(),
            ]))
            .unwrap();
        server
            .send(Message::from_frames([
                b"to client".to_vec(),
                i.to_be_bytes().to_vec(),
            ]))
            .unwrap();
    }
    for i in 0..200u32 {
        let m = server.recv().unwrap();
        assert_eq!(m.frames()[0], "to server");
        assert_eq!(m.frames()[1][..], i.to_be_bytes());
        let m = client.recv().unwrap();
        assert_eq!(m.frames()[0], "to client");
        assert_eq!(m.frames()[1][..], i.to_be_bytes());
    }
    // Request and reply through the proxy, in lockstep.
    for i in 0..50u32 {
        client
            .send(Message::single(i.to_be_bytes().to_vec()))
            .unwrap();
        let request = server.recv().unwrap();
        server.send(request).unwrap();
        assert_eq!(client.recv().unwrap().frames()[0][..], i.to_be_bytes());
    }
    drop(task);
}

#[test]
fn forwarder_keeps_topic_filtering_downstream() {
    let rt = runtime(2);
    let publisher = socket(&rt, SocketType::Pub);
    let upstream = publisher.bind(ANY).unwrap();
    let (tx, rx) = mpsc::channel();
    let task = rt
        .spawn_on(ShardId(0), move || async move {
            let frontend = Socket::new(SocketType::Sub)?;
            frontend.subscribe(b"")?;
            frontend.connect(&upstream)?;
            let backend = Socket::new(SocketType::Pub)?;
            let _ = tx.send(backend.bind(ANY)?);
            ringmq::proxy(&frontend, &backend, None).await
        })
        .unwrap();
    let downstream = rx.recv_timeout(WAIT).unwrap();
    let subscriber = socket(&rt, SocketType::Sub);
    subscriber.subscribe(b"weather").unwrap();
    subscriber.connect(&downstream).unwrap();
    // Subscriptions reach each hop asynchronously: publish until the first one gets through.
    let mut first = None;
    for i in 0..1000u32 {
        publisher
            .send(Message::from_frames([
                b"news".to_vec(),
                i.to_be_bytes().to_vec(),
            ]))
            .unwrap();
        publisher
            .send(Message::from_frames([
                b"weather".to_vec(),
                i.to_be_bytes().to_vec(),
            ]))
            .unwrap();
        if let Ok(m) = subscriber.recv_timeout(Duration::from_millis(10)) {
            first = Some(m);
            break;
        }
    }
    assert_eq!(first.expect("nothing got through").frames()[0], "weather");
    for i in 0..100u32 {
        publisher
            .send(Message::single(format!("news {i}")))
            .unwrap();
        publisher
            .send(Message::single(format!("weather {i}")))
            .unwrap();
    }
    // Every message is a weather one: late copies of the probes above, then these in order.
    let mut next = 0;
    while next < 100 {
        let m = subscriber.recv().unwrap();
        assert!(m.frames()[0].starts_with(b"weather"), "{:?}", m.frames());
        if m.len() == 1 {
            assert_eq!(m, Message::single(format!("weather {next}")));
            next += 1;
        }
    }
    drop(task);
}

/// A steerable PULL→PUSH streamer on shard 0: its client, its worker and its task.
fn steerable_streamer(
    rt: &Runtime,
    control: ProxyControl,
) -> (
    BlockingSocket,
    BlockingSocket,
    impl Future<Output = Result<ProxyStatistics, ringmq::Error>> + Send,
) {
    let worker = socket(rt, SocketType::Pull);
    let worker_ep = worker.bind(ANY).unwrap();
    let (tx, rx) = mpsc::channel();
    let task = rt
        .spawn_on(ShardId(0), move || async move {
            let frontend = Socket::new(SocketType::Pull)?;
            let backend = Socket::new(SocketType::Push)?;
            backend.connect(&worker_ep)?;
            let _ = tx.send(frontend.bind(ANY)?);
            ringmq::proxy_steerable(&frontend, &backend, None, &control).await
        })
        .unwrap();
    let client = socket(rt, SocketType::Push);
    client.connect(&rx.recv_timeout(WAIT).unwrap()).unwrap();
    (client, worker, task)
}

#[test]
fn steerable_pauses_resumes_counts_and_terminates() {
    let rt = runtime(2);
    let control = ProxyControl::new();
    let (client, worker, task) = steerable_streamer(&rt, control.clone());
    let body = |i: u32| Message::from_frames([i.to_be_bytes().to_vec(), vec![0u8; 10]]);
    for i in 0..10 {
        client.send(body(i)).unwrap();
    }
    for i in 0..10 {
        assert_eq!(worker.recv().unwrap(), body(i));
    }
    control.pause();
    // Held messages pile up in the frontend's queue; on resume they move in full bursts.
    const HELD: u32 = 600;
    for i in 10..10 + HELD {
        client.send(body(i)).unwrap();
    }
    assert!(worker
        .recv_timeout(QUIET)
        .is_err_and(|e| e.kind() == ErrorKind::Timeout));
    let paused = control.statistics();
    assert_eq!(paused.frontend_messages_in, 10);
    assert_eq!(paused.frontend_bytes_in, 10 * 14);
    assert_eq!(paused.backend_messages_out, 10);
    assert_eq!(paused.backend_bytes_out, 10 * 14);
    assert_eq!(paused.backend_messages_in, 0);
    assert_eq!(paused.frontend_messages_out, 0);
    control.resume();
    for i in 10..10 + HELD {
        assert_eq!(worker.recv().unwrap(), body(i));
    }
    let total = u64::from(10 + HELD);
    let expected = ProxyStatistics {
        frontend_messages_in: total,
        frontend_bytes_in: total * 14,
        backend_messages_out: total,
        backend_bytes_out: total * 14,
        ..ProxyStatistics::default()
    };
    assert_eq!(control.statistics(), expected);
    control.terminate();
    assert_eq!(finish(task).unwrap(), expected);
}

#[test]
fn terminate_ends_a_proxy_stuck_at_the_high_water_mark() {
    let rt = runtime(2);
    let control = ProxyControl::new();
    let (tx, rx) = mpsc::channel();
    let steer = control.clone();
    let task = rt
        .spawn_on(ShardId(0), move || async move {
            let frontend = Socket::new(SocketType::Pull)?;
            // A PUSH with no peer has no room: the first message waits forever.
            let backend = Socket::new(SocketType::Push)?;
            let _ = tx.send(frontend.bind(ANY)?);
            ringmq::proxy_steerable(&frontend, &backend, None, &steer).await
        })
        .unwrap();
    let client = socket(&rt, SocketType::Push);
    client.connect(&rx.recv_timeout(WAIT).unwrap()).unwrap();
    client.send("stuck").unwrap();
    let deadline = Instant::now() + WAIT;
    while control.statistics().frontend_messages_in == 0 {
        assert!(
            Instant::now() < deadline,
            "the proxy never took the message"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    control.terminate();
    let stats = finish(task).unwrap();
    assert_eq!(stats.frontend_messages_in, 1);
    assert_eq!(stats.backend_messages_out, 0);
}

#[test]
fn steerable_by_control_socket() {
    let rt = runtime(2);
    let worker = socket(&rt, SocketType::Pull);
    let worker_ep = worker.bind(ANY).unwrap();
    let (tx, rx) = mpsc::channel();
    let task = rt
        .spawn_on(ShardId(0), move || async move {
            let frontend = Socket::new(SocketType::Pull)?;
            let backend = Socket::new(SocketType::Push)?;
            let control = Socket::new(SocketType::Pair)?;
            backend.connect(&worker_ep)?;
            let _ = tx.send((frontend.bind(ANY)?, control.bind(ANY)?));
            ringmq::proxy_steerable(&frontend, &backend, None, &control).await
        })
        .unwrap();
    let (front_ep, control_ep) = rx.recv_timeout(WAIT).unwrap();
    let client = socket(&rt, SocketType::Push);
    client.connect(&front_ep).unwrap();
    let control = socket(&rt, SocketType::Pair);
    control.connect(&control_ep).unwrap();
    let statistics = || {
        control.send("STATISTICS").unwrap();
        let reply = control.recv().unwrap();
        assert_eq!(reply.len(), 8);
        assert!(reply.frames().iter().all(|f| f.len() == 8));
        ProxyStatistics::from_message(&reply).unwrap()
    };
    for i in 0..20u32 {
        client
            .send(Message::single(i.to_be_bytes().to_vec()))
            .unwrap();
    }
    for i in 0..20u32 {
        assert_eq!(worker.recv().unwrap().frames()[0][..], i.to_be_bytes());
    }
    let stats = statistics();
    assert_eq!(stats.frontend_messages_in, 20);
    assert_eq!(stats.frontend_bytes_in, 80);
    assert_eq!(stats.backend_messages_out, 20);
    assert_eq!(stats.backend_bytes_out, 80);
    // Commands are obeyed in order: once STATISTICS is answered, PAUSE has taken effect.
    control.send("PAUSE").unwrap();
    control.send("no such command").unwrap();
    assert_eq!(statistics(), stats);
    client.send("held").unwrap();
    assert!(worker
        .recv_timeout(QUIET)
        .is_err_and(|e| e.kind() == ErrorKind::Timeout));
    control.send("RESUME").unwrap();
    assert_eq!(worker.recv().unwrap(), Message::single("held"));
    assert_eq!(statistics().backend_messages_out, 21);
    control.send("TERMINATE").unwrap();
    let last = finish(task).unwrap();
    assert_eq!(last.frontend_messages_in, 21);
    assert_eq!(last.backend_bytes_out, 84);
}

#[test]
fn impossible_proxies_are_refused() {
    let rt = runtime(1);
    let task = rt
        .spawn_on(ShardId(0), || async {
            let push = Socket::new(SocketType::Push)?;
            let publisher = Socket::new(SocketType::Pub)?;
            let pull = Socket::new(SocketType::Pull)?;
            let pair = Socket::new(SocketType::Pair)?;
            let kinds = [
                // Neither direction: neither PUB nor PUSH can receive.
                ringmq::proxy(&publisher, &push, None)
                    .await
                    .unwrap_err()
                    .kind(),
                // A capture that cannot send.
                ringmq::proxy(&pull, &push, Some(&pull))
                    .await
                    .unwrap_err()
                    .kind(),
                // A control socket that cannot receive.
                ringmq::proxy_steerable(&pull, &pair, None, &push)
                    .await
                    .unwrap_err()
                    .kind(),
            ];
            Ok::<_, ringmq::Error>(kinds)
        })
        .unwrap();
    assert_eq!(finish(task).unwrap(), [ErrorKind::NotSupported; 3]);
}

#[test]
fn terminated_handle_returns_at_once() {
    let rt = runtime(1);
    let control = ProxyControl::new();
    control.terminate();
    let task = rt
        .spawn_on(ShardId(0), move || async move {
            let frontend = Socket::new(SocketType::Pull)?;
            let backend = Socket::new(SocketType::Push)?;
            ringmq::proxy_steerable(&frontend, &backend, None, &control).await
        })
        .unwrap();
    assert_eq!(finish(task).unwrap(), ProxyStatistics::default());
}

#[test]
fn router_dealer_broker_between_req_and_rep() {
    let rt = runtime(2);
    let (tx, rx) = mpsc::channel();
    let task = rt
        .spawn_on(ShardId(0), move || async move {
            let frontend = Socket::new(SocketType::Router)?;
            let backend = Socket::new(SocketType::Dealer)?;
            let _ = tx.send((frontend.bind(ANY)?, backend.bind(ANY)?));
            ringmq::proxy(&frontend, &backend, None).await
        })
        .unwrap();
    let (front_ep, back_ep) = rx.recv_timeout(WAIT).unwrap();
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let c = socket(&rt, SocketType::Req);
            c.connect(&front_ep).unwrap();
            c
        })
        .collect();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let w = socket(&rt, SocketType::Rep);
            w.connect(&back_ep).unwrap();
            w
        })
        .collect();
    // Each worker answers whatever comes, on its own thread, until its socket is dropped.
    let answering: Vec<_> = workers
        .into_iter()
        .map(|w| {
            std::thread::spawn(move || {
                while let Ok(request) = w.recv() {
                    let mut reply = Message::single("re");
                    for f in request.frames() {
                        reply.push(f.clone());
                    }
                    if w.send(reply).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    for round in 0..50u32 {
        for (id, c) in clients.iter().enumerate() {
            c.send(Message::from_frames([
                vec![id as u8],
                round.to_be_bytes().to_vec(),
            ]))
            .unwrap();
        }
        for (id, c) in clients.iter().enumerate() {
            let reply = c.recv().unwrap();
            assert_eq!(
                reply,
                Message::from_frames([
                    b"re".to_vec(),
                    vec![id as u8],
                    round.to_be_bytes().to_vec()
                ])
            );
        }
    }
    drop(task);
    drop(rt);
    for a in answering {
        a.join().unwrap();
    }
}

#[test]
fn xsub_xpub_forwarder_carries_subscriptions_upstream() {
    let rt = runtime(2);
    let publisher = socket(&rt, SocketType::Pub);
    let upstream = publisher.bind(ANY).unwrap();
    let tap = socket(&rt, SocketType::Pull);
    let tap_endpoint = tap.bind(ANY).unwrap();
    let (tx, rx) = mpsc::channel();
    let task = rt
        .spawn_on(ShardId(0), move || async move {
            let frontend = Socket::new(SocketType::XSub)?;
            frontend.connect(&upstream)?;
            let backend = Socket::new(SocketType::XPub)?;
            let capture = Socket::new(SocketType::Push)?;
            capture.connect(&tap_endpoint)?;
            let _ = tx.send(backend.bind(ANY)?);
            ringmq::proxy(&frontend, &backend, Some(&capture)).await
        })
        .unwrap();
    let downstream = rx.recv_timeout(WAIT).unwrap();
    let subscriber = socket(&rt, SocketType::Sub);
    subscriber.subscribe(b"weather").unwrap();
    subscriber.connect(&downstream).unwrap();
    // The subscription crosses the proxy as a message (XPUB → XSUB) and the capture sees it.
    assert_eq!(
        tap.recv().unwrap(),
        Message::single(b"\x01weather".to_vec())
    );
    let mut first = None;
    for i in 0..1000u32 {
        publisher
            .send(Message::single(format!("news {i}")))
            .unwrap();
        publisher
            .send(Message::single(format!("weather {i}")))
            .unwrap();
        if let Ok(m) = subscriber.recv_timeout(Duration::from_millis(10)) {
            first = Some(m);
            break;
        }
    }
    assert!(first.expect("nothing got through").frames()[0].starts_with(b"weather "));
    // The upstream PUB filters now: only weather reaches the proxy, so only weather is captured.
    while let Some(m) = tap.try_recv().unwrap() {
        assert!(m.frames()[0].starts_with(b"weather "), "{:?}", m.frames());
    }
    drop(task);
}

#[test]
fn steerable_by_rep_control_socket_answers_every_command() {
    let rt = runtime(2);
    let (tx, rx) = mpsc::channel();
    let task = rt
        .spawn_on(ShardId(0), move || async move {
            let frontend = Socket::new(SocketType::Pull)?;
            let backend = Socket::new(SocketType::Push)?;
            let control = Socket::new(SocketType::Rep)?;
            let _ = tx.send((frontend.bind(ANY)?, backend.bind(ANY)?, control.bind(ANY)?));
            ringmq::proxy_steerable(&frontend, &backend, None, &control).await
        })
        .unwrap();
    let (front_ep, back_ep, control_ep) = rx.recv_timeout(WAIT).unwrap();
    let client = socket(&rt, SocketType::Push);
    client.connect(&front_ep).unwrap();
    let worker = socket(&rt, SocketType::Pull);
    worker.connect(&back_ep).unwrap();
    let control = socket(&rt, SocketType::Req);
    control.connect(&control_ep).unwrap();
    client.send(Message::from_frames(["a", "bc"])).unwrap();
    assert_eq!(worker.recv().unwrap(), Message::from_frames(["a", "bc"]));
    for command in ["PAUSE", "RESUME", "bogus"] {
        control.send(command).unwrap();
        assert_eq!(control.recv().unwrap(), Message::single(""), "{command}");
    }
    control.send("STATISTICS").unwrap();
    let stats = ProxyStatistics::from_message(&control.recv().unwrap()).unwrap();
    assert_eq!(stats.frontend_messages_in, 1);
    assert_eq!(stats.frontend_bytes_in, 3);
    assert_eq!(stats.backend_messages_out, 1);
    control.send("TERMINATE").unwrap();
    assert_eq!(control.recv().unwrap(), Message::single(""));
    assert_eq!(finish(task).unwrap(), stats);
}
