//! What the engine's integration tests share: the bounded wait, runtimes on the backend the
//! suite runs (`auto`, which honours `RINGMQ_BACKEND`, so `scripts/test.sh`'s epoll pass runs
//! every test on epoll), sockets with bounded timeouts, and a polling wait for a condition.
//! Included with `mod support;` by each test file; not every file uses every helper.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use ringmq::{BlockingSocket, Config, Options, Runtime, ShardId, SocketType};

/// The longest any test waits for something that should happen.
pub const WAIT: Duration = Duration::from_secs(10);

/// A runtime of `shards` shards on the suite's backend.
pub fn runtime(shards: usize) -> Runtime {
    let rt = Runtime::new(Config {
        shards,
        ..Config::default()
    })
    .expect("runtime");
    if let Ok(wanted) = std::env::var("RINGMQ_BACKEND") {
        if let Ok(wanted) = wanted.parse::<ringmq::Backend>() {
            if wanted != ringmq::Backend::Auto {
                assert_eq!(rt.backend(), wanted, "the suite asked for {wanted}");
            }
        }
    }
    rt
}

/// A blocking socket on the next shard, with send and receive timeouts of [`WAIT`].
pub fn socket_with(rt: &Runtime, socket_type: SocketType, options: Options) -> BlockingSocket {
    let mut s = BlockingSocket::new(rt.next_shard(), socket_type, options).expect("socket");
    s.set_rcvtimeo(Some(WAIT));
    s.set_sndtimeo(Some(WAIT));
    s
}

/// [`socket_with`] default options.
pub fn socket(rt: &Runtime, socket_type: SocketType) -> BlockingSocket {
    socket_with(rt, socket_type, Options::default())
}

/// A blocking socket on shard `shard`, with timeouts of [`WAIT`].
pub fn socket_on(rt: &Runtime, shard: u16, socket_type: SocketType) -> BlockingSocket {
    let mut s = BlockingSocket::new(
        rt.shard(ShardId(shard)).expect("shard"),
        socket_type,
        Options::default(),
    )
    .expect("socket");
    s.set_rcvtimeo(Some(WAIT));
    s.set_sndtimeo(Some(WAIT));
    s
}

/// Wait until `condition` holds, at most [`WAIT`]; fails the test naming `what` past that.
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}
