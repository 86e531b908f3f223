//! The any-executor handle (`AsyncSocket`) driven from tokio and from `futures::executor`: every
//! socket type, ordering, multipart atomicity, back-pressure at the HWM, cancellation, clones,
//! Stream/Sink combinators and split halves. Every wait is bounded by `support::WAIT`.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use ringmq::{AsyncSocket, ErrorKind, Message, Options, Runtime, SendError, SocketType};
use support::{runtime, WAIT};

fn asocket(rt: &Runtime, t: SocketType, options: Options) -> AsyncSocket {
    AsyncSocket::new(rt.next_shard(), t, options).expect("socket")
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap()
}

/// Await `fut`, failing the test past [`WAIT`].
async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

fn three_frames(i: u32) -> Message {
    Message::from_frames([
        format!("head-{i}").into_bytes(),
        vec![0u8; (i % 7) as usize],
        i.to_be_bytes().to_vec(),
    ])
}

fn index_of(m: &Message) -> u32 {
    let f = m.frames();
    assert_eq!(f.len(), 3, "a three-frame message arrives whole");
    u32::from_be_bytes(f[2][..].try_into().unwrap())
}

/// A connected pair: `a` binds on `transport`, `b` connects.
async fn pair(
    rt: &Runtime,
    a: SocketType,
    b: SocketType,
    transport: &str,
) -> (AsyncSocket, AsyncSocket) {
    let sa = asocket(rt, a, Options::default());
    let sb = asocket(rt, b, Options::default());
    let endpoint = match transport {
        "tcp" => "tcp://127.0.0.1:0".to_owned(),
        "ipc" => format!(
            "ipc:///tmp/ringmq-async-{}-{}.sock",
            std::process::id(),
            rand_suffix()
        ),
        _ => format!("inproc://async-{}", rand_suffix()),
    };
    let bound = sa.bind(&endpoint).await.unwrap();
    sb.connect(&bound).await.unwrap();
    (sa, sb)
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

const N: u32 = 2000;

#[test]
fn every_socket_type_from_tokio_in_order_and_whole() {
    let rt = runtime(2);
    tokio_rt().block_on(async {
        for transport in ["tcp", "ipc", "inproc"] {
            // One-way patterns: everything arrives, in order, whole.
            for (sender, receiver) in [
                (SocketType::Push, SocketType::Pull),
                (SocketType::Pair, SocketType::Pair),
                (SocketType::Dealer, SocketType::Dealer),
            ] {
                let (rx, tx) = pair(&rt, receiver, sender, transport).await;
                for i in 0..N {
                    within("send", tx.send(three_frames(i))).await.unwrap();
                }
                for i in 0..N {
                    let m = within("recv", rx.recv()).await.unwrap();
                    assert_eq!(index_of(&m), i, "{sender}->{receiver} over {transport}");
                }
            }
            // PUB/SUB and XPUB/XSUB: once the subscription is in, in order.
            for (publ, sub) in [
                (SocketType::Pub, SocketType::Sub),
                (SocketType::XPub, SocketType::XSub),
            ] {
                let (p, s) = pair(&rt, publ, sub, transport).await;
                if sub == SocketType::Sub {
                    s.subscribe(b"head").await.unwrap();
                } else {
                    s.send(Message::single(&b"\x01head"[..])).await.unwrap();
                    // XPUB hears the subscription.
                    let m = within("subscription", p.recv()).await.unwrap();
                    assert_eq!(&m.frames()[0][..], b"\x01head");
                }
                let first = within("subscription to take effect", async {
                    loop {
                        p.send(three_frames(u32::MAX)).await.unwrap();
                        if let Ok(Some(m)) = s.try_recv() {
                            break m;
                        }
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                })
                .await;
                assert_eq!(index_of(&first), u32::MAX);
                // Drain the probes still in flight, then a numbered run arrives in order.
                for i in 0..200 {
                    p.send(three_frames(i)).await.unwrap();
                }
                let mut next = 0;
                while next < 200 {
                    let m = within("recv", s.recv()).await.unwrap();
                    let i = index_of(&m);
                    if i == u32::MAX {
                        continue;
                    }
                    assert_eq!(i, next, "{publ}->{sub} over {transport}");
                    next += 1;
                }
            }
            // REQ/REP, and DEALER/ROUTER with the envelope.
            let (rep, req) = pair(&rt, SocketType::Rep, SocketType::Req, transport).await;
            for i in 0..200 {
                within("request", req.send(three_frames(i))).await.unwrap();
                let m = within("request in", rep.recv()).await.unwrap();
                assert_eq!(index_of(&m), i);
                within("reply", rep.send(m)).await.unwrap();
                assert_eq!(index_of(&within("reply in", req.recv()).await.unwrap()), i);
            }
            let (router, dealer) =
                pair(&rt, SocketType::Router, SocketType::Dealer, transport).await;
            for i in 0..200 {
                within("dealer send", dealer.send(three_frames(i)))
                    .await
                    .unwrap();
                let m = within("router recv", router.recv()).await.unwrap();
                let f = m.frames();
                assert_eq!(f.len(), 4, "routing id + three frames");
                let reply = Message::from_frames(f.iter().cloned());
                within("router send", router.send(reply)).await.unwrap();
                let back = within("dealer recv", dealer.recv()).await.unwrap();
                assert_eq!(index_of(&back), i);
            }
        }
    });
}

#[test]
fn from_a_bare_futures_executor() {
    let rt = runtime(1);
    futures::executor::block_on(async {
        let (pull, push) = pair(&rt, SocketType::Pull, SocketType::Push, "tcp").await;
        for i in 0..N {
            push.send(three_frames(i)).await.unwrap();
        }
        for i in 0..N {
            assert_eq!(index_of(&pull.recv().await.unwrap()), i);
        }
        let (rep, req) = pair(&rt, SocketType::Rep, SocketType::Req, "tcp").await;
        for i in 0..100 {
            req.send(three_frames(i)).await.unwrap();
            let m = rep.recv().await.unwrap();
            rep.send(m).await.unwrap();
            assert_eq!(index_of(&req.recv().await.unwrap()), i);
        }
        // REQ's alternation is reported at once.
        req.send(Message::single("one")).await.unwrap();
        let twice = req.try_send(Message::single("two")).unwrap_err();
        assert_eq!(twice.kind(), ErrorKind::InvalidState);
        assert_eq!(twice.into_message(), Message::single("two"));
    });
}

#[test]
fn a_stalled_receiver_makes_send_wait_and_try_send_hand_back() {
    let rt = runtime(2);
    tokio_rt().block_on(async {
        let small = Options {
            sndhwm: 4,
            rcvhwm: 4,
            ..Options::default()
        };
        let pull = asocket(&rt, SocketType::Pull, small.clone());
        let push = asocket(&rt, SocketType::Push, small);
        // inproc: no kernel buffer between them, so the HWMs alone bound what is in flight.
        let ep = pull.bind("inproc://stalled").await.unwrap();
        push.connect(&ep).await.unwrap();
        // Fill the socket: hand-off queue, pipe, inproc channel and the receiver's queue. A
        // `Full` may be transient while the shard is still moving messages; the socket is
        // saturated once a `send` waits (here: for 50 ms) instead of completing.
        let mut accepted = 0u32;
        let mut handed_back = None;
        within("the socket to fill", async {
            loop {
                match push.try_send(three_frames(accepted)) {
                    Ok(()) => accepted += 1,
                    Err(SendError::Full(m)) => {
                        handed_back.get_or_insert(m);
                        match tokio::time::timeout(
                            Duration::from_millis(50),
                            push.send(three_frames(accepted)),
                        )
                        .await
                        {
                            Ok(sent) => {
                                sent.unwrap();
                                accepted += 1;
                            }
                            Err(_) => break, // send waited: nothing was sent
                        }
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        })
        .await;
        let handed_back = handed_back.expect("try_send reported Full");
        assert!(
            index_of(&handed_back) < accepted,
            "Full hands the message back intact"
        );
        assert!(accepted < 64, "bounded by the HWMs, got {accepted}");
        // A waiting send completes once the receiver reads.
        let sender = {
            let push = push.clone();
            tokio::spawn(async move { push.send(three_frames(accepted)).await })
        };
        for i in 0..=accepted {
            assert_eq!(index_of(&within("drain", pull.recv()).await.unwrap()), i);
        }
        within("the waiting send", sender).await.unwrap().unwrap();
        assert!(pull.try_recv().unwrap().is_none(), "exactly once");
    });
}

#[test]
fn cancelled_sends_and_receives_lose_nothing_accepted() {
    let rt = runtime(2);
    tokio_rt().block_on(async {
        let small = Options {
            sndhwm: 8,
            rcvhwm: 8,
            ..Options::default()
        };
        let pull = asocket(&rt, SocketType::Pull, small.clone());
        let push = asocket(&rt, SocketType::Push, small);
        let ep = pull.bind("tcp://127.0.0.1:0").await.unwrap();
        push.connect(&ep).await.unwrap();
        // The receiver cancels most of its receives (a timeout shorter than the gaps), the
        // sender cancels its sends whenever they wait; what was accepted arrives exactly once.
        let receiver = {
            let pull = pull.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut idle = 0;
                while idle < 400 {
                    match tokio::time::timeout(Duration::from_micros(200), pull.recv()).await {
                        Ok(m) => {
                            got.push(index_of(&m.unwrap()));
                            idle = 0;
                        }
                        Err(_) => idle += 1,
                    }
                }
                got
            })
        };
        let mut accepted = Vec::new();
        let mut i = 0u32;
        while accepted.len() < 5000 {
            tokio::select! {
                r = push.send(three_frames(i)) => { r.unwrap(); accepted.push(i); }
                _ = tokio::time::sleep(Duration::from_micros(50)) => {}
            }
            i += 1;
        }
        let got = within("the receiver", receiver).await.unwrap();
        assert_eq!(got, accepted, "every accepted message, once, in order");
        assert!(i as usize >= accepted.len());
    });
}

#[test]
fn many_tasks_on_clones_of_one_handle() {
    let rt = runtime(2);
    tokio_rt().block_on(async {
        let (pull, push) = pair(&rt, SocketType::Pull, SocketType::Push, "tcp").await;
        let tasks: Vec<_> = (0..8u32)
            .map(|t| {
                let push = push.clone();
                tokio::spawn(async move {
                    for i in 0..1000u32 {
                        push.send(three_frames(t << 16 | i)).await.unwrap();
                    }
                })
            })
            .collect();
        drop(push);
        let mut last: HashMap<u32, u32> = HashMap::new();
        for _ in 0..8000 {
            let v = index_of(&within("recv", pull.recv()).await.unwrap());
            let (t, i) = (v >> 16, v & 0xffff);
            let expected = last.get(&t).map_or(0, |l| l + 1);
            assert_eq!(i, expected, "each task's messages in its order");
            last.insert(t, i);
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(last.len(), 8);
        assert!(pull.try_recv().unwrap().is_none());
    });
}

#[test]
fn stream_and_sink_with_combinators() {
    let rt = runtime(2);
    tokio_rt().block_on(async {
        let (pull, mut push) = pair(&rt, SocketType::Pull, SocketType::Push, "tcp").await;
        // send_all from a stream of messages.
        let mut source =
            futures::stream::iter((0..1000).map(|i| Ok::<_, ringmq::Error>(three_frames(i))));
        within("send_all", push.send_all(&mut source))
            .await
            .unwrap();
        // feed + flush: handed over (an extra message, beyond what the relay below takes).
        push.feed(three_frames(1000)).await.unwrap();
        push.flush().await.unwrap();
        // forward: a PULL's stream into another PUSH's sink.
        let (pull2, push2) = pair(&rt, SocketType::Pull, SocketType::Push, "inproc").await;
        let relay = tokio::spawn(pull.take(1000).forward(push2));
        let got: Vec<u32> = within(
            "the relayed messages",
            pull2
                .clone()
                .take(1000)
                .map(|m| index_of(&m.unwrap()))
                .collect(),
        )
        .await;
        assert_eq!(got, (0..1000).collect::<Vec<_>>());
        within("relay", relay).await.unwrap().unwrap();
        drop(push);
        drop(pull2);
    });
}

#[test]
fn split_halves_in_two_tasks() {
    let rt = runtime(2);
    tokio_rt().block_on(async {
        let (router, dealer) = pair(&rt, SocketType::Router, SocketType::Dealer, "tcp").await;
        // An echo server on the router's halves.
        let (tx, mut rx) = router.split();
        let echo = tokio::spawn(async move {
            while let Some(m) = rx.next().await {
                if tx.send(m.unwrap()).await.is_err() {
                    break;
                }
            }
        });
        let (dtx, drx) = dealer.split();
        let writer = tokio::spawn(async move {
            for i in 0..500 {
                dtx.send(three_frames(i)).await.unwrap();
            }
            dtx
        });
        for i in 0..500 {
            assert_eq!(index_of(&within("echo", drx.recv()).await.unwrap()), i);
        }
        let _dtx = writer.await.unwrap();
        echo.abort();
    });
}

#[test]
fn wrong_direction_and_closed_are_errors() {
    let rt = runtime(1);
    futures::executor::block_on(async {
        let pull = asocket(&rt, SocketType::Pull, Options::default());
        let e = pull.try_send(Message::single("x")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotSupported);
        let push = asocket(&rt, SocketType::Push, Options::default());
        assert_eq!(
            push.recv().await.unwrap_err().kind(),
            ErrorKind::NotSupported
        );
        let other = push.clone();
        assert_eq!(push.close().await.unwrap(), 0);
        let e = other.send(Message::single("late")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Closed);
        assert_eq!(e.into_message(), Message::single("late"));
    });
}
