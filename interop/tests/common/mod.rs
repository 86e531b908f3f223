//! Shared harness of the interop tests: one end of a link is either a ringmq `BlockingSocket` or a
//! libzmq socket, driven through the same small interface.

#![allow(dead_code)]

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ringmq::{AsyncSocket, BlockingSocket, Bytes, Config, Message, Options, Runtime, SocketType};
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

impl Transport {
    /// An endpoint for a ringmq socket to bind: a free tcp port on loopback, or a fresh ipc path.
    pub fn ringmq_endpoint(self) -> String {
        match self {
            Transport::Tcp => "tcp://127.0.0.1:0".to_owned(),
            Transport::Ipc => ipc_endpoint(),
        }
    }
}

/// Bind a libzmq socket over `transport` (a free tcp port on loopback, or a fresh ipc path) and
/// return the endpoint it listens on.
pub fn libzmq_bind(s: &zmq::Socket, transport: Transport) -> String {
    match transport {
        Transport::Tcp => {
            s.bind("tcp://127.0.0.1:*").unwrap();
            s.last_endpoint().unwrap()
        }
        Transport::Ipc => {
            let ep = ipc_endpoint();
            s.bind(&ep).unwrap();
            ep
        }
    }
}

/// A ringmq message made of `frames`.
pub fn message(frames: &[Vec<u8>]) -> Message {
    Message::from_frames(frames.iter().cloned())
}

/// The frames of a ringmq message.
pub fn frames_of(msg: &Message) -> Vec<Vec<u8>> {
    msg.frames().iter().map(|f| f.to_vec()).collect()
}

/// libzmq's number for a socket type.
pub fn libzmq_kind(t: SocketType) -> i32 {
    match t {
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
        SocketType::Stream => zmq::STREAM,
    }
}

impl End {
    pub fn try_send(&self, frames: &[Vec<u8>]) -> Result<(), String> {
        match self {
            End::Ringmq(s) => s
                .send(message(frames))
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
            End::Ringmq(s) => s.recv_timeout(wait).ok().map(|m| frames_of(&m)),
            End::Libzmq(s) => {
                s.set_rcvtimeo(wait).unwrap();
                s.recv_multipart().ok()
            }
        }
    }

    pub fn bind(&self, transport: Transport) -> String {
        match self {
            End::Ringmq(s) => s.bind(&transport.ringmq_endpoint()).unwrap(),
            End::Libzmq(s) => libzmq_bind(s, transport),
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
                let s = self.libzmq(t);
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

    /// A libzmq socket of type `t` with bounded waits: sends and receives give up after
    /// [`WAIT`], and closing lingers at most 2 s.
    pub fn libzmq(&self, t: SocketType) -> zmq::Socket {
        let s = self.ctx.socket(libzmq_kind(t)).unwrap();
        s.set_int(zmq::ZMQ_LINGER, 2000).unwrap();
        s.set_sndtimeo(WAIT).unwrap();
        s.set_rcvtimeo(WAIT).unwrap();
        s
    }

    /// A ringmq [`AsyncSocket`] of type `t` on the next shard.
    pub fn async_socket(&self, t: SocketType, options: Options) -> AsyncSocket {
        AsyncSocket::new(self.rt.next_shard(), t, options).unwrap()
    }
}

/// Run `fut` for at most `limit`, on any executor (the timer is a thread of its own, woken early
/// when `fut` finishes): `None` if it did not finish in time (it is dropped then).
pub async fn timeout<F: Future>(limit: Duration, fut: F) -> Option<F::Output> {
    use futures::future::{select, Either};

    let (fire, fired) = futures::channel::oneshot::channel::<()>();
    let (finished, cancel) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = cancel.recv_timeout(limit) {
            let _ = fire.send(());
        }
    });
    let fut = std::pin::pin!(fut);
    let outcome = match select(fut, fired).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(_) => None,
    };
    drop(finished);
    outcome
}

/// Run `fut` for at most [`WAIT`], on any executor; panics, naming `what`, if it takes longer.
pub async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    timeout(WAIT, fut)
        .await
        .unwrap_or_else(|| panic!("{what}: not done within {WAIT:?}"))
}

/// Wait (at most [`WAIT`], on any executor) for the monitor's first event named `name`,
/// skipping the others.
pub async fn wait_for_event(monitor: &ringmq::Monitor, name: &str) -> ringmq::MonitorEvent {
    within(&format!("a {name} event"), async {
        loop {
            match monitor.recv().await {
                Some(event) if event.name() == name => return event,
                Some(_) => {}
                None => panic!("the socket closed before a {name} event"),
            }
        }
    })
    .await
}

/// Wait (at most [`WAIT`]) on a libzmq monitor socket (from `zmq::Socket::monitor`) for
/// `event`, skipping the others; its value and endpoint.
pub fn wait_for_libzmq_event(monitor: &zmq::Socket, event: u16) -> (u32, String) {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        monitor
            .set_rcvtimeo(left.max(Duration::from_millis(1)))
            .unwrap();
        match zmq::recv_monitor_event(monitor) {
            Ok((e, value, endpoint)) if e == event => return (value, endpoint),
            Ok((e, _, _)) => seen.push(e),
            Err(e) if e.is_again() => break,
            Err(e) => panic!("libzmq monitor: {e}"),
        }
    }
    panic!("no libzmq event {event:#06x} within {WAIT:?} (saw {seen:#06x?})");
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
