//! Shared harness of the interop tests: one end of a link is either a ringmq `BlockingSocket` or a
//! libzmq socket, driven through the same small interface.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ringmq::{BlockingSocket, Bytes, Config, Message, Options, Runtime, SocketType};
use ringmq_interop::libzmq as zmq;

pub const WAIT: Duration = Duration::from_secs(10);

/// Whose socket an end is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Impl {
    Ringmq,
    Libzmq,
}

/// Which transport a link uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Ipc,
}

/// Per-end settings beyond the socket type.
#[derive(Clone, Debug, Default)]
pub struct EndOptions {
    pub routing_id: Option<&'static [u8]>,
    pub router_mandatory: bool,
}

/// One end of a link.
pub enum End {
    Ringmq(BlockingSocket),
    Libzmq(zmq::Socket),
}

static IPC_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh ipc endpoint in the temp directory (sticky /tmp, so ringmq's directory check passes).
pub fn ipc_endpoint() -> String {
    let n = IPC_COUNTER.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("ringmq-interop-{}-{n}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    format!("ipc://{}", path.display())
}

impl End {
    pub fn try_send(&self, frames: &[Vec<u8>]) -> Result<(), String> {
        match self {
            End::Ringmq(s) => s
                .send(Message::from_frames(frames.iter().cloned()))
                .map_err(|e| format!("{:?}: {e}", e.kind())),
            End::Libzmq(s) => s.send_multipart(frames).map_err(|e| e.to_string()),
        }
    }

    pub fn send(&self, frames: &[Vec<u8>]) {
        self.try_send(frames).expect("send");
    }

    pub fn recv(&self) -> Vec<Vec<u8>> {
        self.try_recv(WAIT).expect("a message within the wait")
    }

    pub fn try_recv(&self, wait: Duration) -> Option<Vec<Vec<u8>>> {
        match self {
            End::Ringmq(s) => s
                .recv_timeout(wait)
                .ok()
                .map(|m| m.frames().iter().map(|f| f.to_vec()).collect()),
            End::Libzmq(s) => {
                s.set_rcvtimeo(wait).unwrap();
                s.recv_multipart().ok()
            }
        }
    }

    pub fn bind(&self, transport: Transport) -> String {
        match (self, transport) {
            (End::Ringmq(s), Transport::Tcp) => s.bind("tcp://127.0.0.1:0").unwrap(),
            (End::Libzmq(s), Transport::Tcp) => {
                s.bind("tcp://127.0.0.1:*").unwrap();
                s.last_endpoint().unwrap()
            }
            (End::Ringmq(s), Transport::Ipc) => s.bind(&ipc_endpoint()).unwrap(),
            (End::Libzmq(s), Transport::Ipc) => {
                let ep = ipc_endpoint();
                s.bind(&ep).unwrap();
                ep
            }
        }
    }

    pub fn connect(&self, endpoint: &str) {
        match self {
            End::Ringmq(s) => s.connect(endpoint).unwrap(),
            End::Libzmq(s) => s.connect(endpoint).unwrap(),
        }
    }

    pub fn subscribe(&self, prefix: &[u8]) {
        match self {
            End::Ringmq(s) => s.subscribe(prefix).unwrap(),
            End::Libzmq(s) => s.subscribe(prefix).unwrap(),
        }
    }
}

/// A ringmq runtime and a libzmq context to make ends from.
pub struct Harness {
    pub rt: Runtime,
    pub ctx: zmq::Context,
}

impl Harness {
    pub fn new() -> Harness {
        Harness {
            rt: Runtime::new(Config {
                shards: 2,
                ..Config::default()
            })
            .expect("io_uring runtime"),
            ctx: zmq::Context::new().expect("libzmq must be installed (libzmq5)"),
        }
    }

    pub fn end(&self, which: Impl, t: SocketType) -> End {
        self.end_with(which, t, &EndOptions::default())
    }

    pub fn end_with(&self, which: Impl, t: SocketType, o: &EndOptions) -> End {
        match which {
            Impl::Ringmq => {
                let options = Options {
                    routing_id: o.routing_id.map(Bytes::from_static),
                    router_mandatory: o.router_mandatory,
                    ..Options::default()
                };
                let mut s = BlockingSocket::new(self.rt.next_shard(), t, options).unwrap();
                s.set_sndtimeo(Some(WAIT));
                End::Ringmq(s)
            }
            Impl::Libzmq => {
                let kind = match t {
                    SocketType::Push => zmq::PUSH,
                    SocketType::Pull => zmq::PULL,
                    SocketType::Pub => zmq::PUB,
                    SocketType::Sub => zmq::SUB,
                    SocketType::Pair => zmq::PAIR,
                    SocketType::Req => zmq::REQ,
                    SocketType::Rep => zmq::REP,
                    SocketType::Dealer => zmq::DEALER,
                    SocketType::Router => zmq::ROUTER,
                    SocketType::XPub => zmq::XPUB,
                    SocketType::XSub => zmq::XSUB,
                };
                let s = self.ctx.socket(kind).unwrap();
                s.set_int(zmq::ZMQ_LINGER, 2000).unwrap();
                s.set_sndtimeo(WAIT).unwrap();
                if let Some(id) = o.routing_id {
                    s.set_bytes(zmq::ZMQ_ROUTING_ID, id).unwrap();
                }
                if o.router_mandatory {
                    s.set_int(zmq::ZMQ_ROUTER_MANDATORY, 1).unwrap();
                }
                End::Libzmq(s)
            }
        }
    }
}

/// Publish `frames` until the subscriber has one (subscriptions propagate asynchronously).
pub fn publish_until_received(publ: &End, sub: &End, frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        publ.send(frames);
        if let Some(m) = sub.try_recv(Duration::from_millis(20)) {
            return m;
        }
    }
    panic!("subscription never took effect");
}

/// Shorthand for a frame list.
pub fn frames(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

/// Wait (at most [`WAIT`]) for the monitor's next `handshake-failed` event and check it is an
/// authentication refusal whose reason contains `needle`.
pub fn expect_auth_refusal(monitor: &ringmq::Monitor, needle: &str) {
    match monitor
        .wait_for("handshake-failed", WAIT)
        .expect("a handshake-failed event")
    {
        ringmq::MonitorEvent::HandshakeFailed {
            reason: ringmq::HandshakeFailure::Auth(r),
            ..
        } => assert!(r.contains(needle), "{r}"),
        other => panic!("{other:?}"),
    }
}
