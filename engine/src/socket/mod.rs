//! Sockets: the async [`Socket`] that lives on a shard, the [`AsyncSocket`] handle for any async
//! runtime, and the [`BlockingSocket`] handle usable from any thread.

mod async_socket;
mod blocking;
pub(crate) mod conn;
pub(crate) mod core;
pub(crate) mod credit;
pub(crate) mod hosted;
pub(crate) mod inproc;
pub(crate) mod ipc;
pub mod options;
pub mod poll;
pub mod shutdown;
pub(crate) mod stream;
pub(crate) mod tcp;
pub(crate) mod throttle;

use std::cell::RefCell;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use ringmq_transports::{Endpoint, Message, SocketType};

use self::core::Core;
use crate::error::{Error, ErrorKind, SendError};
use crate::monitor::{Monitor, MonitorEvent};
use crate::runtime::{self, spawn_local};
use crate::security::SecurityPolicy;
use crate::stats::SocketStats;
pub use async_socket::{AsyncReceiver, AsyncSender, AsyncSocket};
pub use blocking::BlockingSocket;
pub use hosted::Readiness;
pub use options::{IpcFilter, Options, RateLimit, TcpTuning};

/// A ZeroMQ socket on the current shard, used from tasks running there.
///
/// Create it inside a task on a shard ([`crate::Runtime::spawn_on`]); it is not `Send`. `send` and
/// `recv` are the fast path: no hand-off to another thread, no lock. Dropping the socket closes it
/// in the background, honouring `linger`; [`Socket::close`] does the same and waits.
pub struct Socket {
    core: Rc<RefCell<Core>>,
    closed: bool,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let core = self.core.borrow();
        f.debug_struct("Socket")
            .field("type", &core.socket_type)
            .field("endpoints", &core.endpoints)
            .field("peers", &core.pipes.len())
            .finish()
    }
}

impl Socket {
    /// A socket of `socket_type` with default options. Must be called on a shard.
    pub fn new(socket_type: SocketType) -> Result<Socket, Error> {
        Socket::with_options(socket_type, Options::default())
    }

    /// A socket with the given options. Must be called on a shard.
    pub fn with_options(socket_type: SocketType, options: Options) -> Result<Socket, Error> {
        let shard = runtime::current().ok_or_else(|| {
            Error::new(
                ErrorKind::NotSupported,
                "ringmq::Socket must be created on a shard",
            )
        })?;
        let core = Core::new(socket_type, options)?;
        shard.on_shutdown(core.kill.clone());
        let core = Rc::new(RefCell::new(core));
        shutdown::register(&core);
        #[cfg(feature = "metrics")]
        {
            // Publish once a second while the socket lives (and once more at close).
            let weak = Rc::downgrade(&core);
            let kill = core.borrow().kill.clone();
            spawn_local(core::killable(kill, async move {
                loop {
                    runtime::sleep(Duration::from_secs(1)).await;
                    let Some(core) = weak.upgrade() else { break };
                    core.borrow().publish_metrics();
                }
            }))
            .detach();
        }
        Ok(Socket {
            core,
            closed: false,
        })
    }

    /// The socket type.
    pub fn socket_type(&self) -> SocketType {
        self.core.borrow().socket_type
    }

    /// Change options; affects connections made afterwards (HWMs apply at once).
    pub fn set_options(&self, options: Options) {
        self.core.borrow_mut().set_options(options);
    }

    /// The current options.
    pub fn options(&self) -> Options {
        self.core.borrow().options.clone()
    }

    /// Listen on `endpoint` and accept peers. Returns the bound endpoint, with the real port when
    /// port 0 or `*` asked for an ephemeral one (libzmq's `ZMQ_LAST_ENDPOINT`).
    pub fn bind(&self, endpoint: &str) -> Result<String, Error> {
        let parsed = parse(endpoint)?;
        self.check_policy(&parsed)?;
        let result = match parsed {
            Endpoint::Tcp { host, port } => tcp::bind(&self.core, endpoint, &host, port),
            Endpoint::Ipc(path) => ipc::bind(&self.core, endpoint, &path),
            Endpoint::Inproc(_) if self.socket_type() == SocketType::Stream => Err(stream_inproc()),
            Endpoint::Inproc(name) => inproc::bind(&self.core, &name),
        };
        let event = match &result {
            Ok(bound) => MonitorEvent::Listening {
                endpoint: bound.clone(),
            },
            Err(e) => MonitorEvent::BindFailed {
                endpoint: endpoint.to_owned(),
                error: e.to_string(),
            },
        };
        self.core.borrow_mut().emit(event);
        result
    }

    /// Connect to `endpoint`. Returns at once; the connection is made (and remade after failures,
    /// every `reconnect_ivl`, backing off to `reconnect_ivl_max`) in the background. Messages sent
    /// meanwhile queue for this peer up to `sndhwm`, as libzmq does.
    ///
    /// tcp endpoints may name the local address to connect from, as libzmq allows:
    /// `tcp://192.168.1.17:0;10.0.0.1:5555` (`*` for any interface, port 0 for any port).
    pub fn connect(&self, endpoint: &str) -> Result<(), Error> {
        let (source, destination) = ringmq_transports::endpoint::split_tcp_source(endpoint)
            .map_err(|e| Error::new(ErrorKind::InvalidEndpoint, e.to_string()))?;
        // The source names a local address: resolved now, as for a bind.
        let source = match source {
            Some((host, port)) => {
                // IPv4 first, as the destination's name resolves for a connect (ipv6 off).
                let addrs = tcp::resolve(&host, port, true)?;
                addrs
                    .iter()
                    .find(|a| a.is_ipv4())
                    .or(addrs.first())
                    .copied()
            }
            None => None,
        };
        let parsed = parse(&destination)?;
        self.check_policy(&parsed)?;
        match parsed {
            Endpoint::Tcp { host, port } => stream::connect_to(
                &self.core,
                stream::Target::tcp(host, port, source)?,
                endpoint.to_owned(),
            ),
            Endpoint::Ipc(path) => {
                stream::connect_to(&self.core, stream::Target::Ipc(path), endpoint.to_owned())
            }
            Endpoint::Inproc(_) if self.socket_type() == SocketType::Stream => Err(stream_inproc()),
            Endpoint::Inproc(name) => inproc::connect(&self.core, &name),
        }
    }

    /// Stop listening on `endpoint` (as given to [`Socket::bind`] or as it returned, e.g. with the
    /// real port), as libzmq's `zmq_unbind`: the port or ipc file is released, and the
    /// connections accepted through it close, each after writing what was queued for it within
    /// `linger`. Fails with [`ErrorKind::NotFound`] when the socket is not bound there.
    ///
    /// Returns once the listener is closed (the port can be bound again).
    ///
    /// # Cancel safety
    /// Cancel-safe: the unbind happens when the future is first polled; a cancelled future only
    /// stops waiting for the listener to close.
    pub async fn unbind(&self, endpoint: &str) -> Result<(), Error> {
        unbind_core(&self.core, endpoint).await
    }

    /// Stop connecting to `endpoint` (as given to [`Socket::connect`]), as libzmq's
    /// `zmq_disconnect`: reconnection stops, and the connection writes what was queued for it
    /// within `linger`, then closes; messages queued for a peer that never connected are
    /// dropped. Fails with [`ErrorKind::NotFound`] when the socket has no such connect.
    pub fn disconnect(&self, endpoint: &str) -> Result<(), Error> {
        disconnect_core(&self.core, endpoint)
    }

    /// A snapshot of the socket's counters (see [`SocketStats`]).
    pub fn stats(&self) -> SocketStats {
        self.core.borrow().stats()
    }

    /// Refuse tcp without CURVE when the socket's or the runtime's policy requires CURVE.
    fn check_policy(&self, endpoint: &Endpoint) -> Result<(), Error> {
        let core = self.core.borrow();
        let runtime_policy = runtime::current()
            .map(|s| s.shared.policy)
            .unwrap_or_default();
        let require = core.options.policy == SecurityPolicy::RequireCurve
            || runtime_policy == SecurityPolicy::RequireCurve;
        let curve = matches!(
            core.options.security,
            ringmq_transports::Mechanism::CurveClient { .. }
                | ringmq_transports::Mechanism::CurveServer { .. }
        );
        if require && !curve && matches!(endpoint, Endpoint::Tcp { .. }) {
            return Err(Error::new(
                ErrorKind::PolicyViolation,
                format!(
                    "{endpoint}: the security policy requires CURVE on tcp, and this socket uses {} \
                     (set Options::curve_server or Options::curve_client)",
                    core.options.security.name()
                ),
            ));
        }
        Ok(())
    }

    /// Queue a message, or hand it back with [`SendError::Full`] when every eligible peer is at
    /// its high-water mark (PUB never is: it drops for the full peer instead).
    pub fn try_send(&self, msg: impl Into<Message>) -> Result<(), SendError> {
        self.core.borrow_mut().try_send(msg.into())
    }

    /// Queue a message, waiting while every eligible peer is at its high-water mark.
    ///
    /// # Cancel safety
    /// Cancel-safe: if the future is dropped before it completes, the message was not queued.
    pub async fn send(&self, msg: impl Into<Message>) -> Result<(), Error> {
        let mut msg = Some(msg.into());
        std::future::poll_fn(|cx| {
            let mut core = self.core.borrow_mut();
            let m = msg.take().expect("polled after completion");
            match core.try_send(m) {
                Ok(()) => Poll::Ready(Ok(())),
                Err(SendError::Full(m)) => {
                    msg = Some(m);
                    core.register_send(cx);
                    Poll::Pending
                }
                Err(SendError::Failed(e, _)) => Poll::Ready(Err(e)),
            }
        })
        .await
    }

    /// Take the next message if one is waiting.
    pub fn try_recv(&self) -> Result<Option<Message>, Error> {
        Ok(self.core.borrow_mut().try_recv()?.map(delivered))
    }

    /// Wait for the next message, fair-queued across peers.
    ///
    /// # Cancel safety
    /// Cancel-safe: a message is taken only when the future completes.
    pub async fn recv(&self) -> Result<Message, Error> {
        std::future::poll_fn(|cx| {
            let mut core = self.core.borrow_mut();
            if core.closing {
                return Poll::Ready(Err(Error::new(ErrorKind::Closed, "socket is closed")));
            }
            match core.try_recv() {
                Ok(Some(m)) => Poll::Ready(Ok(delivered(m))),
                Ok(None) => {
                    core.register_recv(cx);
                    Poll::Pending
                }
                Err(e) => Poll::Ready(Err(e)),
            }
        })
        .await
    }

    /// Subscribe to messages whose first frame starts with `prefix` (SUB; empty: everything).
    pub fn subscribe(&self, prefix: &[u8]) -> Result<(), Error> {
        self.core.borrow_mut().set_subscription(prefix, true)
    }

    /// Cancel one subscription to `prefix` (SUB).
    pub fn unsubscribe(&self, prefix: &[u8]) -> Result<(), Error> {
        self.core.borrow_mut().set_subscription(prefix, false)
    }

    /// Start monitoring the socket: the returned stream reports listening, accepted, connected,
    /// handshake and disconnection events from now on (see [`MonitorEvent`]).
    pub fn monitor(&self) -> Monitor {
        let (monitor, shared) = Monitor::new();
        self.core.borrow_mut().add_monitor(shared);
        monitor
    }

    /// Messages a PUB socket dropped because a subscriber was at its high-water mark.
    pub fn dropped_messages(&self) -> u64 {
        self.core.borrow().counters.dropped.peer_at_hwm
    }

    /// Number of peers whose handshake completed.
    pub fn connected_peers(&self) -> usize {
        self.core
            .borrow()
            .pipes
            .values()
            .filter(|p| p.connected)
            .count()
    }

    /// Close the socket: stop accepting, write what is queued (for up to `linger`), then drop
    /// every connection.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping the future before it completes leaves the close to the socket's
    /// drop, which finishes it in the background (linger, then every task of the socket stops),
    /// as dropping a socket without `close` does.
    pub async fn close(mut self) {
        close_core(self.core.clone()).await;
        // Only now: a close cut short leaves `Drop` to finish the job.
        self.closed = true;
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        let core = self.core.clone();
        if let Some(shard) = runtime::current() {
            shard.lingering.set(shard.lingering.get() + 1);
            spawn_local(async move {
                close_core(core).await;
                if let Some(shard) = runtime::current() {
                    shard.lingering.set(shard.lingering.get() - 1);
                }
            })
            .detach();
        }
    }
}

/// See [`Socket::unbind`].
pub(crate) async fn unbind_core(core: &Rc<RefCell<Core>>, endpoint: &str) -> Result<(), Error> {
    let entry = remove_endpoint(core, core::EndpointRole::Bound, endpoint)?;
    if let Some(name) = &entry.inproc_name {
        inproc::unbind(core, name);
    }
    core.borrow_mut().emit(MonitorEvent::Closed {
        endpoint: entry.resolved.clone(),
    });
    inproc::release_peers(core, entry.id).await;
    listeners_closed(entry.listener.as_slice()).await;
    Ok(())
}

/// Wait until `listeners` are closed (the port or file is free then), within reason: an accept
/// still in flight holds its descriptor until its cancellation completes (io_uring).
async fn listeners_closed(listeners: &[crate::runtime::driver::WeakIoFd]) {
    let give_up = Instant::now() + Duration::from_secs(1);
    while listeners.iter().any(|l| !l.is_closed()) && Instant::now() < give_up {
        runtime::sleep(Duration::from_millis(1)).await;
    }
}

/// Stop accepting on every tcp and ipc listener of the socket and wait (within reason) until
/// their ports and socket files are free; what they accepted goes on as before. The endpoints
/// stay listed: a close that follows lingers on their connections as usual.
pub(crate) async fn stop_listening(core: &Rc<RefCell<Core>>) {
    let listeners: Vec<_> = core
        .borrow()
        .endpoint_entries
        .iter()
        .filter(|e| e.role == core::EndpointRole::Bound && e.inproc_name.is_none())
        .filter_map(|e| {
            e.stop.kill();
            e.listener.clone()
        })
        .collect();
    listeners_closed(&listeners).await;
}

/// A received message, now the application's: its inproc credit goes back to the sender (see
/// `credit`), rather than when the application drops it.
pub(crate) fn delivered(mut msg: Message) -> Message {
    drop(msg.take_guard());
    msg
}

/// STREAM sockets speak raw tcp (or ipc): inproc has no byte stream to give them.
fn stream_inproc() -> Error {
    Error::new(
        ErrorKind::NotSupported,
        "STREAM sockets work over tcp and ipc, not inproc",
    )
}

/// See [`Socket::disconnect`].
pub(crate) fn disconnect_core(core: &Rc<RefCell<Core>>, endpoint: &str) -> Result<(), Error> {
    remove_endpoint(core, core::EndpointRole::Connected, endpoint).map(|_| ())
}

/// [`disconnect_core`], returning once an inproc peer routes nothing more to the connection (see
/// [`inproc::release_peers`]): the handle APIs' `disconnect`, whose caller may send on the peer
/// next.
pub(crate) async fn disconnect_released(
    core: &Rc<RefCell<Core>>,
    endpoint: &str,
) -> Result<(), Error> {
    let entry = remove_endpoint(core, core::EndpointRole::Connected, endpoint)?;
    inproc::release_peers(core, entry.id).await;
    Ok(())
}

/// Forget a bind or connect and start closing its connections (see [`Core::remove_endpoint`]).
fn remove_endpoint(
    core: &Rc<RefCell<Core>>,
    role: core::EndpointRole,
    endpoint: &str,
) -> Result<core::EndpointEntry, Error> {
    let (entry, deadline) = {
        let mut c = core.borrow_mut();
        let entry = c.remove_endpoint(role, endpoint).ok_or_else(|| {
            let what = match role {
                core::EndpointRole::Bound => "bound to",
                core::EndpointRole::Connected => "connected to",
            };
            Error::new(
                ErrorKind::NotFound,
                format!("the socket is not {what} {endpoint}"),
            )
        })?;
        (entry, c.options.linger.map(|l| Instant::now() + l))
    };
    // The connections that leave close by the linger deadline; make sure each looks then.
    if let Some(deadline) = deadline {
        let core = core.clone();
        let id = entry.id;
        spawn_local(async move {
            runtime::sleep_until(deadline).await;
            let mut c = core.borrow_mut();
            for pipe in c.pipes.values_mut().filter(|p| p.endpoint == Some(id)) {
                pipe.wake_driver();
            }
        })
        .detach();
    }
    Ok(entry)
}

/// Close the socket: linger, then stop every task. Returns how many messages were still queued
/// for peers when it ended (abandoned).
async fn close_core(core: Rc<RefCell<Core>>) -> usize {
    let deadline = {
        let mut c = core.borrow_mut();
        inproc::unbind_all(&c);
        inproc::hand_over_on_close(&mut c);
        c.closing = true;
        let deadline = c.options.linger.map(|l| Instant::now() + l);
        c.close_deadline = deadline;
        c.wake_everyone();
        deadline
    };
    let mut sleep = deadline.map(|d| Box::pin(runtime::sleep_until(d)));
    std::future::poll_fn(|cx| {
        let mut c = core.borrow_mut();
        // Done when no connection is busy and nothing waits for a peer that may still come
        // (a connect-side pipe keeps its queue across reconnects, as libzmq's does).
        if c.connections == 0 && c.pipes.values().all(|p| p.outq.is_empty()) {
            return Poll::Ready(());
        }
        if let Some(s) = sleep.as_mut() {
            if s.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        c.idle_wakers.register(cx.waker());
        Poll::Pending
    })
    .await;
    let abandoned = core.borrow().pipes.values().map(|p| p.outq.len()).sum();
    #[cfg(feature = "metrics")]
    core.borrow().publish_metrics();
    let kill = core.borrow().kill.clone();
    kill.kill();
    let mut c = core.borrow_mut();
    for endpoint in c.endpoints.clone() {
        c.emit(MonitorEvent::Closed { endpoint });
    }
    c.close_monitors();
    abandoned
}

use std::future::Future;

fn parse(endpoint: &str) -> Result<Endpoint, Error> {
    Endpoint::parse(endpoint).map_err(|e| Error::new(ErrorKind::InvalidEndpoint, e.to_string()))
}
