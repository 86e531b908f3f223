//! Sockets: the async [`Socket`] that lives on a shard, and the [`BlockingSocket`] handle usable
//! from any thread.

pub(crate) mod conn;
pub(crate) mod core;
pub(crate) mod inproc;
pub(crate) mod ipc;
pub mod options;
pub mod poll;
pub(crate) mod stream;
pub(crate) mod tcp;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use atomic_waker::AtomicWaker;
use crossbeam_queue::ArrayQueue;
use ringmq_transports::{Endpoint, Message, SocketType};

use self::core::{killable, Core};
use crate::error::{Error, ErrorKind, SendError};
use crate::monitor::{Monitor, MonitorEvent};
use crate::runtime::{self, spawn_local, ShardHandle, ShardId};
use crate::security::SecurityPolicy;
pub use options::Options;
use ringmq_patterns::Pattern;

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
        Ok(Socket {
            core: Rc::new(RefCell::new(core)),
            closed: false,
        })
    }

    /// The socket type.
    pub fn socket_type(&self) -> SocketType {
        self.core.borrow().socket_type
    }

    /// Change options; affects connections made afterwards (HWMs apply at once).
    pub fn set_options(&self, options: Options) {
        self.core.borrow_mut().options = options;
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
            Endpoint::Tcp { host, port } => tcp::bind(&self.core, &host, port),
            Endpoint::Ipc(path) => ipc::bind(&self.core, &path),
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
        self.core.borrow().emit(event);
        result
    }

    /// Connect to `endpoint`. Returns at once; the connection is made (and remade after failures,
    /// every `reconnect_ivl`, backing off to `reconnect_ivl_max`) in the background. Messages sent
    /// meanwhile queue for this peer up to `sndhwm`, as libzmq does.
    pub fn connect(&self, endpoint: &str) -> Result<(), Error> {
        let parsed = parse(endpoint)?;
        self.check_policy(&parsed)?;
        match parsed {
            Endpoint::Tcp { host, port } => stream::connect_to(
                &self.core,
                stream::Target::tcp(host, port)?,
                endpoint.to_owned(),
            ),
            Endpoint::Ipc(path) => {
                stream::connect_to(&self.core, stream::Target::Ipc(path), endpoint.to_owned())
            }
            Endpoint::Inproc(name) => inproc::connect(&self.core, &name),
        }
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
        self.core.borrow_mut().try_recv()
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
                Ok(Some(m)) => Poll::Ready(Ok(m)),
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
        self.core.borrow().dropped
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

async fn close_core(core: Rc<RefCell<Core>>) {
    let deadline = {
        let mut c = core.borrow_mut();
        inproc::unbind_all(&c);
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
    let kill = core.borrow().kill.clone();
    kill.kill();
    let mut c = core.borrow_mut();
    for endpoint in c.endpoints.clone() {
        c.emit(MonitorEvent::Closed { endpoint });
    }
    c.close_monitors();
}

use std::future::Future;

fn parse(endpoint: &str) -> Result<Endpoint, Error> {
    Endpoint::parse(endpoint).map_err(|e| Error::new(ErrorKind::InvalidEndpoint, e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// The blocking handle.

/// Messages crossing between an application thread and the socket's shard.
struct Bridge {
    to_shard: ArrayQueue<Message>,
    from_shard: ArrayQueue<Message>,
    pump: AtomicWaker,
    pump_wants_room: AtomicBool,
    /// The pump holds a message the socket refused (peers at HWM): not yet handed over.
    pump_holding: AtomicBool,
    /// Messages a non-blocking type (PUB...) dropped because the hand-off queue was full.
    dropped: AtomicU64,
    /// The application thread blocked on this socket, if any.
    pub(crate) app: crate::park::ThreadParker,
    closed: AtomicBool,
}

impl Bridge {
    fn notify_app(&self) {
        self.app.unpark();
    }

    /// Wait until `ready` holds, the bridge closes, or `deadline` passes.
    fn wait(&self, deadline: Option<Instant>, mut ready: impl FnMut() -> bool) -> bool {
        // A short spin first: a reply often arrives within microseconds.
        for _ in 0..200 {
            if ready() {
                return true;
            }
            std::hint::spin_loop();
        }
        // Park in slices, so a wake-up lost to a bug costs latency, never a hang.
        self.app
            .wait_until(deadline, Duration::from_millis(100), ready, || {
                self.closed.load(Ordering::SeqCst)
            })
    }
}

static NEXT_SOCKET_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The sockets of blocking handles, on their shard.
    static HOSTED: RefCell<HashMap<u64, Socket>> = RefCell::new(HashMap::new());
}

fn with_hosted<R>(id: u64, f: impl FnOnce(&Socket) -> Result<R, Error>) -> Result<R, Error> {
    HOSTED.with(|h| match h.borrow().get(&id) {
        Some(s) => f(s),
        None => Err(Error::new(ErrorKind::Closed, "socket is closed")),
    })
}

/// A socket usable from any thread, blocking like a libzmq socket. `Send`, not `Sync`: one thread
/// at a time, as with libzmq.
///
/// Each message crosses one lock-free queue to or from the socket's shard. The queues hold up to
/// `sndhwm` / `rcvhwm` messages (at most 4096) on top of the per-peer queues, so a blocking socket
/// buffers up to twice its high-water marks.
pub struct BlockingSocket {
    shard: ShardHandle,
    id: u64,
    bridge: Arc<Bridge>,
    socket_type: SocketType,
    /// REQ/REP alternation, checked here so a misuse is reported to the caller at once (the shard
    /// enforces it too).
    turn: std::cell::Cell<ringmq_patterns::Turn>,
    /// ROUTER with `router_mandatory`: each send asks the shard directly, so an unroutable or
    /// full peer is reported to the caller (slower than the queued hand-off).
    synchronous_send: bool,
    /// Whether the socket type makes senders wait at the HWM (PUSH, DEALER, REQ, PAIR) or drops.
    blocks_at_hwm: bool,
    rcvtimeo: Option<Duration>,
    sndtimeo: Option<Duration>,
}

impl std::fmt::Debug for BlockingSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingSocket")
            .field("type", &self.socket_type)
            .field("shard", &self.shard.id())
            .finish()
    }
}

impl BlockingSocket {
    /// Create a socket of `socket_type` on `shard`.
    pub fn new(
        shard: &ShardHandle,
        socket_type: SocketType,
        options: Options,
    ) -> Result<BlockingSocket, Error> {
        let cap = |hwm: usize| if hwm == 0 { 4096 } else { hwm.clamp(1, 4096) };
        // One message may wait in the pump while the socket is at its HWM: the queue holds one
        // less, so a blocking sender buffers at most twice its sndhwm.
        let bridge = Arc::new(Bridge {
            to_shard: ArrayQueue::new(cap(options.sndhwm.saturating_sub(1).max(1))),
            from_shard: ArrayQueue::new(cap(options.rcvhwm)),
            pump: AtomicWaker::new(),
            pump_wants_room: AtomicBool::new(false),
            pump_holding: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            app: crate::park::ThreadParker::new(),
            closed: AtomicBool::new(false),
        });
        let id = NEXT_SOCKET_ID.fetch_add(1, Ordering::Relaxed);
        let req_relaxed = options.req_relaxed;
        let synchronous_send = socket_type == SocketType::Router && options.router_mandatory;
        let b = bridge.clone();
        shard.call(move || -> Result<(), Error> {
            let socket = Socket::with_options(socket_type, options)?;
            let core = socket.core.clone();
            let kill = core.borrow().kill.clone();
            spawn_local(async move {
                killable(kill, pump(core, b.clone())).await;
                b.closed.store(true, Ordering::SeqCst);
                b.notify_app();
            })
            .detach();
            HOSTED.with(|h| h.borrow_mut().insert(id, socket));
            Ok(())
        })??;
        Ok(BlockingSocket {
            shard: shard.clone(),
            id,
            bridge,
            socket_type,
            turn: std::cell::Cell::new(ringmq_patterns::Turn::new(socket_type, req_relaxed)),
            synchronous_send,
            blocks_at_hwm: ringmq_patterns::Pattern::of(socket_type)
                .is_some_and(|p| p.blocks_at_hwm())
                || synchronous_send,
            rcvtimeo: None,
            sndtimeo: None,
        })
    }

    /// The socket type.
    pub fn socket_type(&self) -> SocketType {
        self.socket_type
    }

    /// The shard the socket lives on.
    pub fn shard(&self) -> ShardId {
        self.shard.id()
    }

    /// Listen on `endpoint`; returns the bound endpoint (see [`Socket::bind`]).
    pub fn bind(&self, endpoint: &str) -> Result<String, Error> {
        let id = self.id;
        let endpoint = endpoint.to_owned();
        self.shard
            .call(move || with_hosted(id, |s| s.bind(&endpoint)))?
    }

    /// Connect to `endpoint` (see [`Socket::connect`]).
    pub fn connect(&self, endpoint: &str) -> Result<(), Error> {
        let id = self.id;
        let endpoint = endpoint.to_owned();
        self.shard
            .call(move || with_hosted(id, |s| s.connect(&endpoint)))?
    }

    /// Subscribe to `prefix` (SUB).
    pub fn subscribe(&self, prefix: &[u8]) -> Result<(), Error> {
        let id = self.id;
        let prefix = prefix.to_vec();
        self.shard
            .call(move || with_hosted(id, |s| s.subscribe(&prefix)))?
    }

    /// Cancel a subscription to `prefix` (SUB).
    pub fn unsubscribe(&self, prefix: &[u8]) -> Result<(), Error> {
        let id = self.id;
        let prefix = prefix.to_vec();
        self.shard
            .call(move || with_hosted(id, |s| s.unsubscribe(&prefix)))?
    }

    /// Replace the socket's options (see [`Socket::set_options`]).
    pub fn set_options(&self, options: Options) -> Result<(), Error> {
        let id = self.id;
        self.shard.call(move || {
            with_hosted(id, |s| {
                s.set_options(options);
                Ok(())
            })
        })?
    }

    /// The socket's options.
    pub fn options(&self) -> Result<Options, Error> {
        let id = self.id;
        self.shard
            .call(move || with_hosted(id, |s| Ok(s.options())))?
    }

    /// Start monitoring the socket (see [`Socket::monitor`]); read the events from any thread.
    pub fn monitor(&self) -> Result<Monitor, Error> {
        let id = self.id;
        self.shard
            .call(move || with_hosted(id, |s| Ok(s.monitor())))?
    }

    /// Number of peers whose handshake completed.
    pub fn connected_peers(&self) -> Result<usize, Error> {
        let id = self.id;
        self.shard
            .call(move || with_hosted(id, |s| Ok(s.connected_peers())))?
    }

    /// Messages a PUB socket dropped at a subscriber's high-water mark.
    pub fn dropped_messages(&self) -> Result<u64, Error> {
        let id = self.id;
        let on_shard = self
            .shard
            .call(move || with_hosted(id, |s| Ok(s.dropped_messages())))??;
        Ok(on_shard + self.bridge.dropped.load(Ordering::Relaxed))
    }

    /// How long `recv` waits (`ZMQ_RCVTIMEO`); `None`: forever.
    pub fn set_rcvtimeo(&mut self, timeout: Option<Duration>) {
        self.rcvtimeo = timeout;
    }

    /// How long `send` waits at the high-water mark (`ZMQ_SNDTIMEO`); `None`: forever.
    pub fn set_sndtimeo(&mut self, timeout: Option<Duration>) {
        self.sndtimeo = timeout;
    }

    /// Send a message, waiting up to `sndtimeo` while the socket is at its high-water mark.
    pub fn send(&self, msg: impl Into<Message>) -> Result<(), SendError> {
        self.send_until(msg.into(), self.sndtimeo.map(|t| Instant::now() + t))
    }

    /// Send without waiting: [`SendError::Full`] at the high-water mark.
    pub fn try_send(&self, msg: impl Into<Message>) -> Result<(), SendError> {
        self.send_until(msg.into(), Some(Instant::now()))
    }

    fn send_until(&self, msg: Message, deadline: Option<Instant>) -> Result<(), SendError> {
        if !Pattern::can_send(self.socket_type) {
            return Err(SendError::Failed(
                Error::new(
                    ErrorKind::NotSupported,
                    format!("{} sockets cannot send", self.socket_type),
                ),
                msg,
            ));
        }
        if msg.is_empty() {
            return Err(SendError::Failed(
                Error::new(
                    ErrorKind::InvalidOption,
                    "a message needs at least one frame",
                ),
                msg,
            ));
        }
        if let Err(e) = self.turn.get().check_send() {
            return Err(SendError::Failed(
                Error::new(ErrorKind::InvalidState, e.to_string()),
                msg,
            ));
        }
        if self.synchronous_send {
            return self.send_synchronously(msg, deadline);
        }
        let mut msg = Some(msg);
        loop {
            if self.bridge.closed.load(Ordering::SeqCst) {
                return Err(SendError::Failed(
                    Error::new(ErrorKind::Closed, "socket is closed"),
                    msg.take().expect("message present until queued"),
                ));
            }
            match self
                .bridge
                .to_shard
                .push(msg.take().expect("message present until queued"))
            {
                Ok(()) => {
                    self.bridge.pump.wake();
                    let mut turn = self.turn.get();
                    turn.sent();
                    self.turn.set(turn);
                    return Ok(());
                }
                Err(m) => msg = Some(m),
            }
            if !self.blocks_at_hwm {
                // PUB-like types never block: a full hand-off queue is their HWM, so drop.
                self.bridge.dropped.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            let bridge = &self.bridge;
            if !bridge.wait(deadline, || !bridge.to_shard.is_full()) {
                return Err(SendError::Full(
                    msg.take().expect("message present until queued"),
                ));
            }
        }
    }

    fn send_synchronously(&self, msg: Message, deadline: Option<Instant>) -> Result<(), SendError> {
        let mut msg = msg;
        let mut pause = Duration::from_micros(50);
        loop {
            let id = self.id;
            // The message travels in a slot, so that a shard that stopped before running the
            // call hands it back to the caller.
            let slot = Arc::new(std::sync::Mutex::new(Some(msg)));
            let in_call = slot.clone();
            let attempt = self.shard.call(move || {
                let msg = in_call
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take()
                    .expect("the message is in the slot until the call takes it");
                HOSTED.with(|h| match h.borrow().get(&id) {
                    Some(s) => s.try_send(msg),
                    None => Err(SendError::Failed(
                        Error::new(ErrorKind::Closed, "socket is closed"),
                        msg,
                    )),
                })
            });
            match attempt {
                Ok(Err(SendError::Full(m))) => msg = m,
                Ok(result) => return result,
                Err(e) => {
                    // The call never ran (a call that ran always answers): the slot holds it.
                    let msg = slot
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .take()
                        .unwrap_or_default();
                    return Err(SendError::Failed(e, msg));
                }
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(SendError::Full(msg));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        }
    }

    /// Receive a message, waiting up to `rcvtimeo`.
    pub fn recv(&self) -> Result<Message, Error> {
        self.recv_until(self.rcvtimeo.map(|t| Instant::now() + t))
    }

    /// Receive, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Message, Error> {
        self.recv_until(Some(Instant::now() + timeout))
    }

    /// Take a message if one is waiting.
    pub fn try_recv(&self) -> Result<Option<Message>, Error> {
        match self.recv_until(Some(Instant::now())) {
            Ok(m) => Ok(Some(m)),
            Err(e) if e.kind() == ErrorKind::Timeout => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn recv_until(&self, deadline: Option<Instant>) -> Result<Message, Error> {
        if !Pattern::can_recv(self.socket_type) {
            return Err(Error::new(
                ErrorKind::NotSupported,
                format!("{} sockets cannot receive", self.socket_type),
            ));
        }
        if let Err(e) = self.turn.get().check_recv() {
            return Err(Error::new(ErrorKind::InvalidState, e.to_string()));
        }
        loop {
            if let Some(m) = self.bridge.from_shard.pop() {
                if self.bridge.pump_wants_room.swap(false, Ordering::SeqCst) {
                    self.bridge.pump.wake();
                }
                let mut turn = self.turn.get();
                turn.received();
                self.turn.set(turn);
                return Ok(m);
            }
            if self.bridge.closed.load(Ordering::SeqCst) {
                return Err(Error::new(ErrorKind::Closed, "socket is closed"));
            }
            let bridge = &self.bridge;
            if !bridge.wait(deadline, || !bridge.from_shard.is_empty()) {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    "no message within the receive timeout",
                ));
            }
        }
    }
}

impl Drop for BlockingSocket {
    fn drop(&mut self) {
        let id = self.id;
        let bridge = self.bridge.clone();
        // The hosted socket closes on its shard: first every message `send` accepted is handed to
        // the socket (within `linger`), then the socket lingers on its queues as usual.
        let _ = self.shard.call_async(move || {
            let Some(mut socket) = HOSTED.with(|h| h.borrow_mut().remove(&id)) else {
                return;
            };
            socket.closed = true;
            let Some(shard) = runtime::current() else {
                return;
            };
            shard.lingering.set(shard.lingering.get() + 1);
            spawn_local(async move {
                let linger = socket.core.borrow().options.linger;
                let start = Instant::now();
                let handed_over =
                    || bridge.to_shard.is_empty() && !bridge.pump_holding.load(Ordering::SeqCst);
                while !handed_over() && linger.is_none_or(|l| start.elapsed() < l) {
                    runtime::sleep(Duration::from_millis(1)).await;
                }
                if let Some(l) = linger {
                    socket.core.borrow_mut().options.linger =
                        Some(l.saturating_sub(start.elapsed()));
                }
                close_core(socket.core.clone()).await;
                if let Some(shard) = runtime::current() {
                    shard.lingering.set(shard.lingering.get() - 1);
                }
            })
            .detach();
        });
    }
}

/// Moves messages between a blocking handle's queues and its socket, on the shard.
async fn pump(core: Rc<RefCell<Core>>, bridge: Arc<Bridge>) {
    let sends = Pattern::can_send(core.borrow().socket_type);
    let recvs = Pattern::can_recv(core.borrow().socket_type);
    let mut stash: Option<Message> = None;
    std::future::poll_fn(|cx| {
        for _ in 0..64 {
            bridge.pump.register(cx.waker());
            let mut progress = false;
            let mut core = core.borrow_mut();
            if sends {
                bridge.pump_holding.store(stash.is_some(), Ordering::SeqCst);
                loop {
                    let msg = match stash.take() {
                        Some(m) => m,
                        None => match bridge.to_shard.pop() {
                            Some(m) => {
                                progress = true;
                                m
                            }
                            None => break,
                        },
                    };
                    match core.try_send(msg) {
                        Ok(()) => {}
                        Err(SendError::Full(m)) => {
                            stash = Some(m);
                            core.register_send(cx);
                            break;
                        }
                        Err(SendError::Failed(e, _)) => {
                            tracing::debug!(error = %e, "blocking send failed on the shard");
                        }
                    }
                }
            }
            if sends {
                bridge.pump_holding.store(stash.is_some(), Ordering::SeqCst);
            }
            if recvs {
                let mut delivered = false;
                loop {
                    if bridge.from_shard.is_full() {
                        bridge.pump_wants_room.store(true, Ordering::SeqCst);
                        break;
                    }
                    match core.try_recv() {
                        Ok(Some(m)) => {
                            // Room was checked above and only this task pushes.
                            let _ = bridge.from_shard.push(m);
                            delivered = true;
                        }
                        _ => {
                            core.register_recv(cx);
                            break;
                        }
                    }
                }
                if delivered {
                    progress = true;
                }
            }
            drop(core);
            if progress {
                bridge.notify_app();
                continue;
            }
            return Poll::<()>::Pending;
        }
        // Busy for a while: let the shard's other tasks run, then continue.
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}
