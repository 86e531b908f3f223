//! Chaos tests (`stress_*`, ignored in the normal run; `scripts/stress.sh` runs them, and the test
//! suite once with short bounds): faults injected by a TCP proxy of ours (stall, drop, delay,
//! reset), a subscriber that never reads, and a slow consumer. Each prints its figures (messages
//! lost, peak memory, time to recover) and asserts what must hold whatever the timing.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use ringmq::{Message, MonitorEvent, Options, SocketType};
use ringmq_test_support::faults::{Fault, FaultProxy};
use support::{runtime, socket, socket_with, wait_until, WAIT};

fn small() -> bool {
    std::env::var("STRESS_SCALE").is_ok_and(|s| s == "small")
}

fn numbered(i: u64) -> Message {
    Message::single(i.to_be_bytes().to_vec())
}

fn number(m: &Message) -> u64 {
    u64::from_be_bytes(m.frames()[0][..].try_into().unwrap())
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Wait for the monitor's next event named `name`.
fn next_event(monitor: &ringmq::Monitor, name: &str) -> MonitorEvent {
    monitor
        .wait_for(name, WAIT)
        .unwrap_or_else(|| panic!("no {name} event"))
}

fn heartbeating() -> Options {
    Options {
        heartbeat_ivl: Some(Duration::from_millis(100)),
        heartbeat_timeout: Some(Duration::from_millis(300)),
        reconnect_ivl: Duration::from_millis(20),
        ..Options::default()
    }
}

/// Send numbered messages from `from` until `pull` receives them all in order; returns the next
/// number. Everything sent once the connection is up again must arrive.
fn deliver_all(
    push: &ringmq::BlockingSocket,
    pull: &ringmq::BlockingSocket,
    from: u64,
    n: u64,
) -> u64 {
    for i in from..from + n {
        push.send(numbered(i)).unwrap();
    }
    let mut next = from;
    while next < from + n {
        let got = number(&pull.recv().unwrap());
        if !(from..from + n).contains(&got) {
            continue; // a straggler sent before the fault
        }
        assert_eq!(got, next, "in order, none lost");
        next += 1;
    }
    next
}

/// A heartbeating PUSH connected through a fault proxy to a PULL, handshake done.
struct Link {
    push: ringmq::BlockingSocket,
    pull: ringmq::BlockingSocket,
    proxy: FaultProxy,
    monitor: ringmq::Monitor,
    _rt: ringmq::Runtime,
}

impl Link {
    fn through_a_proxy() -> Link {
        let rt = runtime(2);
        let pull = socket_with(&rt, SocketType::Pull, heartbeating());
        let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
        let proxy = FaultProxy::start(ep.trim_start_matches("tcp://").parse().unwrap()).unwrap();
        let push = socket_with(&rt, SocketType::Push, heartbeating());
        let monitor = push.monitor().unwrap();
        push.connect(&proxy.endpoint()).unwrap();
        next_event(&monitor, "handshake-succeeded");
        Link {
            push,
            pull,
            proxy,
            monitor,
            _rt: rt,
        }
    }
}

#[test]
#[ignore = "chaos: run by scripts/stress.sh"]
fn stress_heartbeats_detect_a_peer_that_vanished_without_a_fin() {
    let link = Link::through_a_proxy();
    let (push, pull, proxy, monitor) = (&link.push, &link.pull, &link.proxy, &link.monitor);
    let mut next = deliver_all(push, pull, 0, 100);
    let rounds = if small() { 2 } else { 10 };
    for round in 0..rounds {
        proxy.set(Fault::Stall);
        let stalled = Instant::now();
        match next_event(monitor, "disconnected") {
            MonitorEvent::Disconnected { reason, .. } => {
                assert!(reason.contains("heartbeat"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        let detected = stalled.elapsed();
        proxy.set(Fault::Pass);
        proxy.reset_all();
        next_event(monitor, "handshake-succeeded");
        let recovered = stalled.elapsed();
        next = deliver_all(push, pull, next, 100);
        println!(
            "stall round {round}: detected after {detected:?}, serving again after {recovered:?}"
        );
    }
}

#[test]
#[ignore = "chaos: run by scripts/stress.sh"]
fn stress_resets_drops_and_delays_then_delivery_resumes() {
    let link = Link::through_a_proxy();
    let (push, pull, proxy, monitor) = (&link.push, &link.pull, &link.proxy, &link.monitor);
    let mut next = deliver_all(push, pull, 0, 100);
    let rounds = if small() { 2 } else { 10 };
    for round in 0..rounds {
        // A reset mid-stream: both ends see it, the connecting side comes back.
        let start = Instant::now();
        proxy.reset_all();
        next_event(monitor, "handshake-succeeded");
        next = deliver_all(push, pull, next, 100);
        let after_reset = start.elapsed();
        // Bytes dropped mid-stream: the receiver sees a broken stream (a protocol error or a
        // heartbeat timeout); once the path is clean again, delivery resumes.
        proxy.set(Fault::Drop);
        for i in 0..50 {
            push.send(numbered(1_000_000_000 + i)).unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
        proxy.set(Fault::Pass);
        proxy.reset_all();
        next_event(monitor, "handshake-succeeded");
        let lost_in_drop = 50;
        next = deliver_all(push, pull, next, 100);
        // A slow path: everything still arrives, in order.
        proxy.set(Fault::Delay(Duration::from_millis(2)));
        next = deliver_all(push, pull, next, 100);
        proxy.set(Fault::Pass);
        println!(
            "round {round}: reset recovered in {after_reset:?}; {lost_in_drop} messages sent into \
             the dropping path (those may be lost); delayed path delivered in order"
        );
    }
}

/// A raw subscriber: completes the NULL handshake as SUB, subscribes to everything, then never
/// reads again.
fn never_reading_subscriber(endpoint: &str) -> TcpStream {
    let mut s = TcpStream::connect(endpoint.trim_start_matches("tcp://")).unwrap();
    s.write_all(&support::GREETING_NULL).unwrap();
    s.write_all(&support::ready("SUB")).unwrap();
    // SUBSCRIBE command (ZMTP 3.1) with an empty topic.
    let mut body = vec![9u8];
    body.extend_from_slice(b"SUBSCRIBE");
    let mut frame = vec![0x04, body.len() as u8];
    frame.extend_from_slice(&body);
    s.write_all(&frame).unwrap();
    // Read the PUB's greeting and READY once, so the handshake completes on our side too.
    let mut buf = [0u8; 512];
    s.set_read_timeout(Some(WAIT)).unwrap();
    let _ = s.read(&mut buf).unwrap();
    s
}

#[test]
#[ignore = "chaos: run by scripts/stress.sh"]
fn stress_a_subscriber_that_never_reads_costs_at_most_its_hwm() {
    let rt = runtime(1);
    let publ = socket(&rt, SocketType::Pub);
    let ep = publ.bind("tcp://127.0.0.1:0").unwrap();
    let _stuck = never_reading_subscriber(&ep);
    // And a real one that reads, to show the stuck one holds nobody up.
    let sub = socket(&rt, SocketType::Sub);
    sub.subscribe(b"").unwrap();
    sub.connect(&ep).unwrap();
    wait_until("both subscribers", || publ.connected_peers().unwrap() == 2);
    let body = vec![7u8; 1024];
    wait_until("the subscription", || {
        publ.send(Message::single(body.clone())).unwrap();
        sub.try_recv().unwrap().is_some()
    });
    let before = rss_kib();
    let total: u64 = if small() { 50_000 } else { 500_000 };
    let reader = std::thread::spawn(move || {
        let mut n = 0u64;
        while sub.recv_timeout(Duration::from_secs(2)).is_ok() {
            n += 1;
        }
        n
    });
    let mut peak = before;
    for i in 0..total {
        publ.send(Message::single(body.clone())).unwrap();
        if i % 1000 == 0 {
            peak = peak.max(rss_kib());
        }
    }
    let received = reader.join().unwrap();
    let stats = publ.stats().unwrap();
    let growth_mib = peak.saturating_sub(before) / 1024;
    println!(
        "never-reading subscriber: {total} x 1 KiB published ({} MiB), peak RSS growth {growth_mib} \
         MiB, the reading subscriber got {received}, dropped at HWM {}",
        total / 1024,
        stats.dropped.total()
    );
    // The stuck peer holds at most its HWM (1000 x 1 KiB) plus kernel buffers; the publication
    // itself is many times that.
    assert!(growth_mib < 64, "memory grew by {growth_mib} MiB");
    assert!(
        stats.dropped.total() > 0,
        "the stuck peer's messages were dropped"
    );
    assert!(received > 0);
}

#[test]
#[ignore = "chaos: run by scripts/stress.sh"]
fn stress_a_slow_push_consumer_blocks_the_sender_and_bounds_memory() {
    let rt = runtime(2);
    let hwm = Options {
        sndhwm: 100,
        rcvhwm: 100,
        ..Options::default()
    };
    let pull = socket_with(&rt, SocketType::Pull, hwm.clone());
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
    let push = socket_with(&rt, SocketType::Push, hwm);
    push.connect(&ep).unwrap();
    let total: u64 = if small() { 5_000 } else { 50_000 };
    let before = rss_kib();
    let consumer = std::thread::spawn(move || {
        let mut next = 0;
        while next < total {
            let got = number(&pull.recv().unwrap());
            assert_eq!(got, next, "in order, none lost");
            next += 1;
            if next % 10 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        pull
    });
    let start = Instant::now();
    let mut peak = before;
    let mut full = 0u64;
    for i in 0..total {
        // try_send first, to count how often the sender would have waited.
        match push.try_send(numbered(i)) {
            Ok(()) => {}
            Err(ringmq::SendError::Full(m)) => {
                full += 1;
                push.send(m).unwrap();
            }
            Err(e) => panic!("{e}"),
        }
        if i % 500 == 0 {
            peak = peak.max(rss_kib());
        }
    }
    let _pull = consumer.join().unwrap();
    println!(
        "slow consumer: {total} messages in {:?}, the sender found the socket full {full} times, \
         peak RSS growth {} KiB",
        start.elapsed(),
        peak.saturating_sub(before)
    );
    assert!(full > 0, "a slow consumer makes the sender wait");
    assert!(peak.saturating_sub(before) < 64 * 1024);
}
