//! The interop matrix of the request-reply and extended pub-sub types: ringmq against real libzmq
//! 4.3.4 (each side in turn ringmq), and ringmq against itself, over tcp and ipc.
//! REQ↔REP, REQ↔ROUTER, DEALER↔REP, DEALER↔ROUTER, DEALER↔DEALER, ROUTER↔ROUTER
//! (router_mandatory), XPUB↔SUB, PUB↔XSUB, XPUB↔XSUB; multipart envelopes preserved.

mod common;

use std::time::{Duration, Instant};

use common::{frames, publish_until_received, End, EndOptions, Harness, Impl, Transport, WAIT};
use ringmq::SocketType;

/// (first impl, second impl): every pairing but libzmq↔libzmq.
fn pairings() -> Vec<(Impl, Impl)> {
    vec![
        (Impl::Ringmq, Impl::Libzmq),
        (Impl::Libzmq, Impl::Ringmq),
        (Impl::Ringmq, Impl::Ringmq),
    ]
}

/// Run `check` for every pairing and transport, the first end binding.
fn matrix(
    a_type: SocketType,
    a_opts: EndOptions,
    b_type: SocketType,
    b_opts: EndOptions,
    check: impl Fn(&End, &End, &str),
) {
    let h = Harness::new();
    for (ai, bi) in pairings() {
        for transport in [Transport::Tcp, Transport::Ipc] {
            let label = format!("{ai:?} {a_type} (binds) <-> {bi:?} {b_type} over {transport:?}");
            eprintln!("case: {label}");
            let a = h.end_with(ai, a_type, &a_opts);
            let b = h.end_with(bi, b_type, &b_opts);
            let ep = a.bind(transport);
            b.connect(&ep);
            check(&a, &b, &label);
        }
    }
}

#[test]
fn req_rep() {
    matrix(
        SocketType::Rep,
        EndOptions::default(),
        SocketType::Req,
        EndOptions::default(),
        |rep, req, label| {
            for i in 0..3u8 {
                req.send(&frames(&[b"question", &[i]]));
                assert_eq!(rep.recv(), frames(&[b"question", &[i]]), "{label}");
                rep.send(&frames(&[b"answer", &[i]]));
                assert_eq!(req.recv(), frames(&[b"answer", &[i]]), "{label}");
            }
        },
    );
}

#[test]
fn req_router() {
    matrix(
        SocketType::Router,
        EndOptions::default(),
        SocketType::Req,
        EndOptions {
            routing_id: Some(b"client-1"),
            ..EndOptions::default()
        },
        |router, req, label| {
            req.send(&frames(&[b"hello"]));
            // ROUTER sees the routing id, the REQ's empty delimiter, then the body.
            assert_eq!(
                router.recv(),
                frames(&[b"client-1", b"", b"hello"]),
                "{label}"
            );
            router.send(&frames(&[b"client-1", b"", b"world"]));
            assert_eq!(req.recv(), frames(&[b"world"]), "{label}");
        },
    );
}

#[test]
fn dealer_rep() {
    matrix(
        SocketType::Rep,
        EndOptions::default(),
        SocketType::Dealer,
        EndOptions::default(),
        |rep, dealer, label| {
            // A DEALER talking to a REP supplies the delimiter itself; REP keeps the envelope.
            dealer.send(&frames(&[b"", b"q1", b"q2"]));
            assert_eq!(rep.recv(), frames(&[b"q1", b"q2"]), "{label}");
            rep.send(&frames(&[b"a1"]));
            assert_eq!(dealer.recv(), frames(&[b"", b"a1"]), "{label}");
        },
    );
}

#[test]
fn dealer_router() {
    matrix(
        SocketType::Router,
        EndOptions::default(),
        SocketType::Dealer,
        EndOptions {
            routing_id: Some(b"worker-7"),
            ..EndOptions::default()
        },
        |router, dealer, label| {
            for i in 0..100u8 {
                dealer.send(&frames(&[b"job", &[i]]));
            }
            for i in 0..100u8 {
                assert_eq!(
                    router.recv(),
                    frames(&[b"worker-7", b"job", &[i]]),
                    "{label}"
                );
            }
            router.send(&frames(&[b"worker-7", b"done", b"x"]));
            assert_eq!(dealer.recv(), frames(&[b"done", b"x"]), "{label}");
        },
    );
}

#[test]
fn dealer_router_generated_routing_id() {
    matrix(
        SocketType::Router,
        EndOptions::default(),
        SocketType::Dealer,
        EndOptions::default(),
        |router, dealer, label| {
            dealer.send(&frames(&[b"hi"]));
            let got = router.recv();
            assert_eq!(got.len(), 2, "{label}");
            // libzmq and ringmq generate 5-byte ids starting with a zero byte.
            assert_eq!(got[0].len(), 5, "{label}: {:?}", got[0]);
            assert_eq!(got[0][0], 0, "{label}");
            router.send(&[got[0].clone(), b"back".to_vec()]);
            assert_eq!(dealer.recv(), frames(&[b"back"]), "{label}");
        },
    );
}

#[test]
fn dealer_dealer() {
    matrix(
        SocketType::Dealer,
        EndOptions::default(),
        SocketType::Dealer,
        EndOptions::default(),
        |a, b, label| {
            b.send(&frames(&[b"ping", b""]));
            assert_eq!(a.recv(), frames(&[b"ping", b""]), "{label}");
            a.send(&frames(&[b"pong"]));
            assert_eq!(b.recv(), frames(&[b"pong"]), "{label}");
        },
    );
}

#[test]
fn router_router_mandatory() {
    let opts = |id: &'static [u8]| EndOptions {
        routing_id: Some(id),
        router_mandatory: true,
    };
    matrix(
        SocketType::Router,
        opts(b"server"),
        SocketType::Router,
        opts(b"client"),
        |server, client, label| {
            // Unroutable with router_mandatory is an error, on both implementations.
            assert!(
                client.try_send(&frames(&[b"nobody", b"x"])).is_err(),
                "{label}"
            );
            // The connecting ROUTER can route to "server" once the handshake has named it.
            let deadline = Instant::now() + WAIT;
            while client.try_send(&frames(&[b"server", b"hello"])).is_err() {
                assert!(Instant::now() < deadline, "{label}: server never routable");
                std::thread::sleep(Duration::from_millis(2));
            }
            assert_eq!(server.recv(), frames(&[b"client", b"hello"]), "{label}");
            server.send(&frames(&[b"client", b"welcome"]));
            assert_eq!(client.recv(), frames(&[b"server", b"welcome"]), "{label}");
        },
    );
}

#[test]
fn xpub_sub() {
    matrix(
        SocketType::XPub,
        EndOptions::default(),
        SocketType::Sub,
        EndOptions::default(),
        |xpub, sub, label| {
            sub.subscribe(b"news");
            assert_eq!(xpub.recv(), vec![b"\x01news".to_vec()], "{label}");
            publish_until_received(xpub, sub, &frames(&[b"news", b"1"]));
            xpub.send(&frames(&[b"sport", b"x"]));
            xpub.send(&frames(&[b"news", b"2"]));
            let mut got = sub.recv();
            while got == frames(&[b"news", b"1"]) {
                got = sub.recv();
            }
            assert_eq!(got, frames(&[b"news", b"2"]), "{label}");
        },
    );
}

#[test]
fn pub_xsub() {
    matrix(
        SocketType::Pub,
        EndOptions::default(),
        SocketType::XSub,
        EndOptions::default(),
        |publ, xsub, label| {
            xsub.send(&[b"\x01alerts".to_vec()]);
            let first = publish_until_received(publ, xsub, &frames(&[b"alerts", b"1"]));
            assert_eq!(first, frames(&[b"alerts", b"1"]), "{label}");
            while xsub.try_recv(Duration::from_millis(50)).is_some() {}
            publ.send(&frames(&[b"other"]));
            publ.send(&frames(&[b"alerts", b"2"]));
            assert_eq!(xsub.recv(), frames(&[b"alerts", b"2"]), "{label}");
        },
    );
}

#[test]
fn xpub_xsub() {
    matrix(
        SocketType::XPub,
        EndOptions::default(),
        SocketType::XSub,
        EndOptions::default(),
        |xpub, xsub, label| {
            xsub.send(&[b"\x01t".to_vec()]);
            assert_eq!(xpub.recv(), vec![b"\x01t".to_vec()], "{label}");
            publish_until_received(xpub, xsub, &frames(&[b"t1"]));
            xsub.send(&[b"\x00t".to_vec()]);
            assert_eq!(xpub.recv(), vec![b"\x00t".to_vec()], "{label}");
        },
    );
}

#[test]
fn ringmq_broker_serves_libzmq_clients_and_workers() {
    use ringmq::{ShardId, Socket};

    let h = Harness::new();
    // The broker: ringmq ROUTER (frontend) + DEALER (backend) joined by ringmq::proxy on a shard.
    let (ep_tx, ep_rx) = std::sync::mpsc::channel();
    let control = ringmq::ProxyControl::new();
    let broker_control = control.clone();
    let broker =
        h.rt.spawn_on(ShardId(0), move || async move {
            let frontend = Socket::new(SocketType::Router).unwrap();
            let backend = Socket::new(SocketType::Dealer).unwrap();
            let f = frontend.bind("tcp://127.0.0.1:0").unwrap();
            let b = backend.bind(&common::ipc_endpoint()).unwrap();
            ep_tx.send((f, b)).unwrap();
            ringmq::proxy_steerable(&frontend, &backend, None, &broker_control)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .unwrap();
    let (frontend, backend) = ep_rx.recv_timeout(WAIT).unwrap();
    // libzmq REP workers on the backend (ipc), libzmq REQ clients on the frontend (tcp).
    let workers: Vec<End> = (0..2)
        .map(|_| {
            let w = h.end(Impl::Libzmq, SocketType::Rep);
            w.connect(&backend);
            w
        })
        .collect();
    let clients: Vec<End> = (0..3)
        .map(|_| {
            let c = h.end(Impl::Libzmq, SocketType::Req);
            c.connect(&frontend);
            c
        })
        .collect();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let worker_threads: Vec<_> = workers
        .into_iter()
        .map(|w| {
            let done = done.clone();
            std::thread::spawn(move || {
                let mut served = 0;
                // Serve until the clients have every reply (then nothing more can come).
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    if let Some(request) = w.try_recv(Duration::from_millis(20)) {
                        let mut reply = request.clone();
                        reply[0].extend_from_slice(b" -> done");
                        w.send(&reply);
                        served += 1;
                    }
                }
                served
            })
        })
        .collect();
    for round in 0..20u8 {
        for (i, c) in clients.iter().enumerate() {
            c.send(&frames(&[
                format!("job {i}.{round}").as_bytes(),
                b"payload",
            ]));
        }
        for (i, c) in clients.iter().enumerate() {
            assert_eq!(
                c.recv(),
                frames(&[format!("job {i}.{round} -> done").as_bytes(), b"payload"]),
                "client {i} round {round}"
            );
        }
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let served: i32 = worker_threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(served, 60);
    control.terminate();
    ringmq::block_on(broker).unwrap();
}
