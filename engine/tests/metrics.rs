//! With the `metrics` feature, every socket's counters reach the `metrics` facade, labelled by
//! socket type and endpoint (`cargo test -p ringmq --features metrics --test metrics`).
#![cfg(feature = "metrics")]

mod support;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use ringmq::{Message, SocketType};
use support::{runtime, socket, wait_until};

/// The value of counter `name` for sockets of `socket_type`, if published.
fn counter(snapshotter: &Snapshotter, name: &str, socket_type: &str) -> Option<u64> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .find_map(|(key, _, _, value)| {
            let key = key.key();
            let typed = key
                .labels()
                .any(|l| l.key() == "socket_type" && l.value() == socket_type);
            match value {
                DebugValue::Counter(v) if key.name() == name && typed => Some(v),
                _ => None,
            }
        })
}

#[test]
fn counters_are_published_with_labels() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this test binary");

    let rt = runtime(1);
    let pull = socket(&rt, SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:0").unwrap();
    let push = socket(&rt, SocketType::Push);
    push.connect(&ep).unwrap();
    for _ in 0..25 {
        push.send(Message::single("four")).unwrap();
    }
    for _ in 0..25 {
        pull.recv().unwrap();
    }
    // Published once a second while the sockets live.
    wait_until("the published counters", || {
        counter(&snapshotter, "ringmq_messages_sent_total", "PUSH") == Some(25)
            && counter(&snapshotter, "ringmq_messages_received_total", "PULL") == Some(25)
    });
    assert_eq!(
        counter(&snapshotter, "ringmq_bytes_sent_total", "PUSH"),
        Some(100)
    );
    let endpoint_labelled = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .any(|(k, ..)| {
            k.key()
                .labels()
                .any(|l| l.key() == "endpoint" && l.value() == ep)
        });
    assert!(endpoint_labelled, "the bound socket is labelled with {ep}");
}
