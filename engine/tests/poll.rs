//! Waiting on several sockets: blocking `poll` and async `select_recv`.

mod support;

use support::WAIT;

use std::time::Duration;

use ringmq::{
    poll, BlockingSocket, Config, Message, Options, PollEvents, PollItem, Runtime, ShardId, Socket,
    SocketType,
};

#[test]
fn poll_reports_readable_and_writable() {
    let rt = Runtime::new(Config {
        shards: 2,
        ..Config::default()
    })
    .unwrap();
    let a = BlockingSocket::new(rt.next_shard(), SocketType::Pull, Options::default()).unwrap();
    let b = BlockingSocket::new(rt.next_shard(), SocketType::Pull, Options::default()).unwrap();
    a.bind("tcp://127.0.0.1:0").unwrap();
    let ep_b = b.bind("tcp://127.0.0.1:0").unwrap();
    // Nothing to read yet: poll times out with nothing ready.
    let mut items = [
        PollItem::new(&a, PollEvents::READABLE),
        PollItem::new(&b, PollEvents::READABLE),
    ];
    assert_eq!(
        poll(&mut items, Some(Duration::from_millis(50))).unwrap(),
        0
    );

    let push = BlockingSocket::new(rt.next_shard(), SocketType::Push, Options::default()).unwrap();
    push.connect(&ep_b).unwrap();
    push.send(Message::single("to b")).unwrap();
    let mut items = [
        PollItem::new(&a, PollEvents::READABLE),
        PollItem::new(&b, PollEvents::READABLE),
    ];
    assert_eq!(poll(&mut items, Some(WAIT)).unwrap(), 1);
    assert!(!items[0].revents.readable);
    assert!(items[1].revents.readable);
    assert_eq!(b.try_recv().unwrap().unwrap(), Message::single("to b"));

    // A PUSH with no peer is writable until its queues fill, then not.
    let lonely = BlockingSocket::new(
        rt.next_shard(),
        SocketType::Push,
        Options {
            sndhwm: 2,
            linger: Some(Duration::ZERO),
            ..Options::default()
        },
    )
    .unwrap();
    lonely.connect("tcp://127.0.0.1:9").unwrap();
    let mut items = [PollItem::new(&lonely, PollEvents::WRITABLE)];
    assert_eq!(poll(&mut items, Some(WAIT)).unwrap(), 1);
    while lonely.try_send(Message::single("x")).is_ok() {}
    let mut items = [PollItem::new(&lonely, PollEvents::WRITABLE)];
    // Once the shard has taken what it can, nothing more fits.
    let mut ready = 1;
    for _ in 0..100 {
        ready = poll(&mut items, Some(Duration::from_millis(20))).unwrap();
        if ready == 0 {
            break;
        }
        while lonely.try_send(Message::single("x")).is_ok() {}
    }
    assert_eq!(ready, 0, "a PUSH at its HWM is not writable");
}

#[test]
fn select_recv_takes_from_whichever_is_ready() {
    let rt = Runtime::new(Config::default()).unwrap();
    let (ep_tx, ep_rx) = std::sync::mpsc::channel();
    let task = rt
        .spawn_on(ShardId(0), move || async move {
            let a = Socket::new(SocketType::Pull).unwrap();
            let b = Socket::new(SocketType::Pull).unwrap();
            ep_tx
                .send((
                    a.bind("inproc://sel-a").unwrap(),
                    b.bind("inproc://sel-b").unwrap(),
                ))
                .unwrap();
            let mut got = Vec::new();
            for _ in 0..4 {
                let (i, m) = ringmq::select_recv(&[&a, &b]).await.unwrap();
                got.push((i, m.frames()[0].to_vec()));
            }
            got
        })
        .unwrap();
    let (ep_a, ep_b) = ep_rx.recv_timeout(WAIT).unwrap();
    let to_a = BlockingSocket::new(rt.next_shard(), SocketType::Push, Options::default()).unwrap();
    to_a.connect(&ep_a).unwrap();
    let to_b = BlockingSocket::new(rt.next_shard(), SocketType::Push, Options::default()).unwrap();
    to_b.connect(&ep_b).unwrap();
    to_b.send(Message::single("b1")).unwrap();
    to_a.send(Message::single("a1")).unwrap();
    to_b.send(Message::single("b2")).unwrap();
    to_a.send(Message::single("a2")).unwrap();
    let mut got = ringmq::block_on(task);
    got.sort();
    assert_eq!(
        got,
        vec![
            (0, b"a1".to_vec()),
            (0, b"a2".to_vec()),
            (1, b"b1".to_vec()),
            (1, b"b2".to_vec())
        ]
    );
}
