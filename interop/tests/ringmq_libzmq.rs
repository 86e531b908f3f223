//! ringmq against real libzmq (Debian's 4.3.4, loaded through our FFI module), and against itself:
//! PUSH/PULL, PUB/SUB and PAIR, each side in turn the libzmq one, each side in turn the binder.
//! Sizes 0, 1, 255, 256, 64 KiB and 1 MiB, a 3-frame multipart, 10 000 messages in order.

mod common;

use std::time::{Duration, Instant};

use common::{publish_until_received, End, Harness, Impl, Transport, WAIT};
use ringmq::SocketType;

impl Harness {
    /// A connected pair (a, b) over tcp where `a_binds` says which end listens.
    fn link(&self, a: (Impl, SocketType), b: (Impl, SocketType), a_binds: bool) -> (End, End) {
        let a = self.end(a.0, a.1);
        let b = self.end(b.0, b.1);
        if a_binds {
            let ep = a.bind(Transport::Tcp);
            b.connect(&ep);
        } else {
            let ep = b.bind(Transport::Tcp);
            a.connect(&ep);
        }
        (a, b)
    }
}

/// Every (sender impl, receiver impl, sender binds) combination but libzmq↔libzmq.
fn combinations() -> Vec<(Impl, Impl, bool)> {
    let mut out = Vec::new();
    for s in [Impl::Ringmq, Impl::Libzmq] {
        for r in [Impl::Ringmq, Impl::Libzmq] {
            if s == Impl::Libzmq && r == Impl::Libzmq {
                continue;
            }
            for binds in [true, false] {
                out.push((s, r, binds));
            }
        }
    }
    out
}

fn sizes_multipart_and_order(tx: &End, rx: &End, label: &str) {
    for size in [0usize, 1, 255, 256, 65_536, 1 << 20] {
        let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        tx.send(std::slice::from_ref(&body));
        let got = rx.recv();
        assert_eq!(got.len(), 1, "{label} size {size}");
        assert!(got[0] == body, "{label}: size {size} arrived altered");
    }
    let multipart = vec![b"first".to_vec(), Vec::new(), b"third".to_vec()];
    tx.send(&multipart);
    assert_eq!(rx.recv(), multipart, "{label} multipart");
    for i in 0..10_000u32 {
        tx.send(&[i.to_be_bytes().to_vec()]);
    }
    for i in 0..10_000u32 {
        assert_eq!(
            rx.recv(),
            vec![i.to_be_bytes().to_vec()],
            "{label} message {i}"
        );
    }
}

#[test]
fn push_pull_every_direction() {
    let h = Harness::new();
    for (s, r, binds) in combinations() {
        let label = format!("{s:?} PUSH -> {r:?} PULL, push binds: {binds}");
        let (tx, rx) = h.link((s, SocketType::Push), (r, SocketType::Pull), binds);
        sizes_multipart_and_order(&tx, &rx, &label);
    }
}

#[test]
fn pair_every_direction() {
    let h = Harness::new();
    for (s, r, binds) in combinations() {
        let label = format!("{s:?} PAIR <-> {r:?} PAIR, first binds: {binds}");
        let (a, b) = h.link((s, SocketType::Pair), (r, SocketType::Pair), binds);
        sizes_multipart_and_order(&a, &b, &label);
        // And back the other way.
        a.send(&[b"back?".to_vec()]);
        b.recv();
        b.send(&[b"back".to_vec()]);
        assert_eq!(a.recv(), vec![b"back".to_vec()], "{label}");
    }
}

#[test]
fn pub_sub_every_direction_with_filtering() {
    let h = Harness::new();
    for (s, r, binds) in combinations() {
        let label = format!("{s:?} PUB -> {r:?} SUB, pub binds: {binds}");
        let publ = h.end(s, SocketType::Pub);
        let sub = h.end(r, SocketType::Sub);
        sub.subscribe(b"weather.");
        if binds {
            let ep = publ.bind(Transport::Tcp);
            sub.connect(&ep);
        } else {
            let ep = sub.bind(Transport::Tcp);
            publ.connect(&ep);
        }
        let first = vec![b"weather.sync".to_vec()];
        assert_eq!(
            publish_until_received(&publ, &sub, &first),
            first,
            "{label}"
        );
        // Drain the repeats of the sync message.
        while sub.try_recv(Duration::from_millis(50)).is_some() {}
        // A non-matching topic must not arrive; the matching ones after it must, in order.
        // 300 stays well below the default HWM of 1000: a libzmq PUB drops the 1000th message of a
        // 1000-message burst to a libzmq SUB too (checked), as PUB may at its HWM.
        publ.send(&[b"sports.football".to_vec(), b"2-1".to_vec()]);
        for i in 0..300u32 {
            publ.send(&[b"weather.rain".to_vec(), i.to_be_bytes().to_vec()]);
        }
        for i in 0..300u32 {
            assert_eq!(
                sub.try_recv(WAIT)
                    .unwrap_or_else(|| panic!("{label}: message {i} missing")),
                vec![b"weather.rain".to_vec(), i.to_be_bytes().to_vec()],
                "{label}: message {i} (a non-matching topic must not arrive)"
            );
        }
        assert!(
            sub.try_recv(Duration::from_millis(100)).is_none(),
            "{label}: extra message"
        );
    }
}

#[test]
fn sub_unsubscribe_reaches_libzmq_pub() {
    let h = Harness::new();
    let publ = h.end(Impl::Libzmq, SocketType::Pub);
    let sub = h.end(Impl::Ringmq, SocketType::Sub);
    let ep = publ.bind(Transport::Tcp);
    sub.subscribe(b"a");
    sub.subscribe(b"b");
    sub.connect(&ep);
    publish_until_received(&publ, &sub, &[b"a1".to_vec()]);
    publish_until_received(&publ, &sub, &[b"b1".to_vec()]);
    let End::Ringmq(s) = &sub else { unreachable!() };
    s.unsubscribe(b"a").unwrap();
    // Once the cancel has reached the publisher, "a" messages stop even though "b" flows.
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "CANCEL never took effect");
        while sub.try_recv(Duration::from_millis(20)).is_some() {}
        publ.send(&[b"a2".to_vec()]);
        publ.send(&[b"b2".to_vec()]);
        let got = sub.recv();
        if got == vec![b"b2".to_vec()] {
            break;
        }
    }
    publ.send(&[b"a3".to_vec()]);
    publ.send(&[b"b3".to_vec()]);
    assert_eq!(sub.recv(), vec![b"b3".to_vec()]);
}

#[test]
fn incompatible_libzmq_peer_is_refused_and_socket_carries_on() {
    let h = Harness::new();
    let pull = h.end(Impl::Ringmq, SocketType::Pull);
    let ep = pull.bind(Transport::Tcp);
    // A libzmq PULL may not talk to a ringmq PULL: the handshake fails, nothing is delivered.
    let wrong = h.end(Impl::Libzmq, SocketType::Pull);
    wrong.connect(&ep);
    // A proper PUSH still gets through.
    let push = h.end(Impl::Libzmq, SocketType::Push);
    push.connect(&ep);
    push.send(&[b"ok".to_vec()]);
    assert_eq!(pull.recv(), vec![b"ok".to_vec()]);
    let End::Ringmq(s) = &pull else {
        unreachable!()
    };
    assert_eq!(s.connected_peers().unwrap(), 1);
}
