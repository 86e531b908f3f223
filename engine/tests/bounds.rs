//! Bounds on what peers can make a socket hold: the runtime-wide inbound byte budget, the
//! per-peer inbound rate limit, the per-peer subscription limit and the XPUB subscription queue.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use ringmq::{Config, Message, Options, RateLimit, Runtime, SocketType};
use support::{socket_with, wait_until, WAIT};

fn numbered(i: u32, size: usize) -> Message {
    let mut body = vec![0u8; size.max(4)];
    body[..4].copy_from_slice(&i.to_be_bytes());
    Message::single(body)
}

fn number(m: &Message) -> u32 {
    u32::from_be_bytes(m.frames()[0][..4].try_into().unwrap())
}

#[test]
fn the_inbound_budget_bounds_what_many_peers_can_queue() {
    const BUDGET: u64 = 1 << 20;
    const PEERS: usize = 8;
    const EACH: u32 = 200;
    const SIZE: usize = 64 * 1024;
    const RCVHWM: usize = 64;
    let rt = Runtime::new(Config {
        shards: 2,
        inbound_budget_bytes: Some(BUDGET),
        ..Config::default()
    })
    .unwrap();
    let pull = socket_with(
        &rt,
        SocketType::Pull,
        Options {
            rcvhwm: RCVHWM,
            ..Options::default()
        },
    );
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
    let pushes: Vec<_> = (0..PEERS)
        .map(|p| {
            let push = socket_with(&rt, SocketType::Push, Options::default());
            push.connect(&ep).unwrap();
            std::thread::spawn(move || {
                for i in 0..EACH {
                    push.send(numbered((p as u32) << 16 | i, SIZE)).unwrap();
                }
                push
            })
        })
        .collect();
    // Without the budget the peers' queues alone would hold PEERS x RCVHWM messages (32 MiB).
    // With it: the budget, plus at most one read (64 KiB, one message here, and the frame it
    // started) per peer, plus the budget's reporting step, plus the handle's hand-off queue
    // (RCVHWM messages).
    let bound = (BUDGET as usize + PEERS * 2 * SIZE + 64 * 1024) / SIZE + RCVHWM;
    wait_until("the flood to reach the budget", || {
        pull.stats().unwrap().queued_in * SIZE >= BUDGET as usize
    });
    let mut most = 0;
    let until = Instant::now() + Duration::from_millis(200);
    while Instant::now() < until {
        most = most.max(pull.stats().unwrap().queued_in);
        std::thread::sleep(Duration::from_millis(2));
    }
    println!(
        "held at most {most} messages of 64 KiB (bound {bound}, unbudgeted {})",
        PEERS * RCVHWM
    );
    assert!(most <= bound, "held {most} messages, bound {bound}");
    // Draining delivers everything, each peer's messages in order.
    let mut next = [0u32; PEERS];
    for _ in 0..PEERS as u32 * EACH {
        let n = number(&pull.recv().unwrap());
        let (p, i) = ((n >> 16) as usize, n & 0xffff);
        assert_eq!(i, next[p]);
        next[p] += 1;
    }
    for p in pushes {
        p.join().unwrap();
    }
}

#[test]
fn the_inbound_rate_limit_slows_a_peer_and_drops_nothing() {
    const RATE: u64 = 2000;
    const TOTAL: u32 = 5000;
    const SIZE: usize = 1024;
    let rt = support::runtime(2);
    let pull = socket_with(
        &rt,
        SocketType::Pull,
        Options {
            inbound_rate: Some(RateLimit {
                messages_per_sec: Some(RATE),
                bytes_per_sec: None,
            }),
            ..Options::default()
        },
    );
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
    let push = socket_with(
        &rt,
        SocketType::Push,
        Options {
            sndhwm: TOTAL as usize,
            ..Options::default()
        },
    );
    let start = Instant::now();
    push.connect(&ep).unwrap();
    for i in 0..TOTAL {
        push.send(numbered(i, SIZE)).unwrap();
    }
    // Never more than a second's worth up front, the rate since, and one read's worth of debt
    // (64 KiB of 1 KiB messages); a slow machine only receives less.
    let read = (64 * 1024 / SIZE) as f64;
    let mut received = 0u32;
    let deadline = start + WAIT * 2;
    while received < TOTAL {
        assert!(Instant::now() < deadline, "only {received} of {TOTAL}");
        if let Ok(m) = pull.recv_timeout(Duration::from_millis(50)) {
            assert_eq!(number(&m), received, "in order, none lost");
            received += 1;
            let allowed = RATE as f64 * (1.0 + start.elapsed().as_secs_f64()) + 2.0 * read;
            assert!(
                f64::from(received) <= allowed,
                "{received} received after {:?}: more than the limit allows ({allowed})",
                start.elapsed()
            );
        }
    }
}

/// A raw subscriber that completes the NULL handshake as SUB.
fn raw_subscriber(endpoint: &str) -> TcpStream {
    let mut s = TcpStream::connect(endpoint.trim_start_matches("tcp://")).unwrap();
    s.write_all(&support::GREETING_NULL).unwrap();
    s.write_all(&support::ready("SUB")).unwrap();
    s
}

fn subscribe_command(topic: &[u8]) -> Vec<u8> {
    let mut body = vec![9u8];
    body.extend_from_slice(b"SUBSCRIBE");
    body.extend_from_slice(topic);
    let mut frame = vec![0x04, body.len() as u8];
    frame.extend_from_slice(&body);
    frame
}

#[test]
fn a_peer_past_max_subscriptions_is_disconnected() {
    let rt = support::runtime(1);
    let publ = socket_with(
        &rt,
        SocketType::Pub,
        Options {
            max_subscriptions: 10,
            ..Options::default()
        },
    );
    let monitor = publ.monitor().unwrap();
    let ep = publ.bind("tcp://127.0.0.1:0").unwrap();
    let mut s = raw_subscriber(&ep);
    for i in 0..11u8 {
        s.write_all(&subscribe_command(&[b't', i])).unwrap();
    }
    support::expect_closed(&mut s);
    match monitor
        .wait_for("disconnected", WAIT)
        .expect("a disconnected event")
    {
        ringmq::MonitorEvent::Disconnected { reason, .. } => {
            assert!(reason.contains("max_subscriptions"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // Ten are fine.
    let mut s = raw_subscriber(&ep);
    for i in 0..10u8 {
        s.write_all(&subscribe_command(&[b't', i])).unwrap();
    }
    wait_until("the ten subscriptions", || {
        publ.connected_peers().unwrap() == 1
    });
}

#[test]
fn an_unread_xpub_queue_of_subscriptions_is_bounded() {
    let rt = support::runtime(1);
    let xpub = socket_with(
        &rt,
        SocketType::XPub,
        Options {
            max_subscriptions: 1_000_000,
            ..Options::default()
        },
    );
    let ep = xpub.bind("tcp://127.0.0.1:0").unwrap();
    let mut s = raw_subscriber(&ep);
    const SENT: u32 = 102_000;
    let mut batch = Vec::new();
    for i in 0..SENT {
        batch.extend_from_slice(&subscribe_command(&i.to_be_bytes()));
        if batch.len() > 64 * 1024 {
            s.write_all(&batch).unwrap();
            batch.clear();
        }
    }
    s.write_all(&batch).unwrap();
    wait_until("every subscription seen", || {
        let stats = xpub.stats().unwrap();
        stats.queued_in as u64 + stats.dropped.subscription_notices == u64::from(SENT)
    });
    // The socket's queue holds 100 000; the handle's hand-off queue 1000 more (its rcvhwm).
    let stats = xpub.stats().unwrap();
    assert_eq!(stats.queued_in, 101_000);
    assert_eq!(
        stats.dropped.subscription_notices,
        u64::from(SENT) - 101_000
    );
}

#[test]
fn an_unread_xpub_holds_its_subscribers_messages_up_to_rcvhwm() {
    // A subscriber's own messages (neither subscribe nor cancel) queue for the XPUB's
    // application with the notices. A peer that sends faster than the application reads must
    // meet back-pressure there, as at any other socket's rcvhwm, not grow the queue: its
    // connection stops being read, and tcp holds the rest.
    const HWM: usize = 8;
    const SENT: u32 = 2_000;
    const SIZE: usize = 16 * 1024; // 32 MiB in all: more than loopback's buffers hold
    let rt = support::runtime(1);
    let xpub = socket_with(
        &rt,
        SocketType::XPub,
        Options {
            rcvhwm: HWM,
            ..Options::default()
        },
    );
    let ep = xpub.bind("tcp://127.0.0.1:0").unwrap();
    let mut s = raw_subscriber(&ep);
    let writer = std::thread::spawn(move || {
        for i in 0..SENT {
            // A first byte other than 0 or 1: not a subscription.
            let mut frame = vec![0x02];
            frame.extend_from_slice(&(SIZE as u64).to_be_bytes());
            let mut body = vec![b'd'; SIZE];
            body[1..5].copy_from_slice(&i.to_be_bytes());
            frame.extend_from_slice(&body);
            s.write_all(&frame).unwrap();
        }
        s
    });
    wait_until("the first messages held", || {
        xpub.stats().unwrap().queued_in >= HWM
    });
    // The socket's queue and the handle's hand-off queue hold rcvhwm each, at most, and the
    // socket's one read's worth more (the HWM is looked at before a read: 64 KiB).
    let bound = 2 * HWM + 64 * 1024 / SIZE;
    for i in 0..SENT {
        let held = xpub.stats().unwrap().queued_in;
        assert!(held <= bound, "{held} held before message {i} was read");
        let m = xpub.recv_timeout(WAIT).unwrap();
        let body = &m.frames()[0];
        assert_eq!(body.len(), SIZE);
        assert_eq!(u32::from_be_bytes(body[1..5].try_into().unwrap()), i);
    }
    drop(writer.join().unwrap());
}
