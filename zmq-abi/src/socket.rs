//! `zmq_socket` and what works on one: endpoints, options, frame-by-frame send and receive.
//!
//! Ownership: `zmq_socket` leaks a boxed [`Socket`] to C and records its address; `zmq_close`
//! removes the address and frees it, so a closed or foreign pointer gets `ENOTSOCK` (the address
//! is looked up, never dereferenced, until it is known to be live).
//!
//! ringmq sends whole messages: frames sent with `ZMQ_SNDMORE` wait in [`Socket::outgoing`]
//! until the last one, then go as one [`Message`]. A received message waits in
//! [`Socket::incoming`] and comes out one frame per call, `ZMQ_RCVMORE` saying whether more
//! follow.

use std::collections::{HashMap, HashSet, VecDeque};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ringmq::{BlockingSocket, ErrorKind, Message, Options, SendError, ShardHandle, SocketType};
use ringmq_patterns::{Pattern, Turn};
use ringmq_transports::{Endpoint, EndpointError};

use crate::context::{with_context, ContextShared};
use crate::error::{errno_of, fail, set_errno, EFSM, ETERM};
use crate::msg::{self, zmq_msg_t, Frame};
use crate::sockopt::Security;

/// `zmq_send` flag: return `EAGAIN` instead of waiting.
pub const ZMQ_DONTWAIT: c_int = 1;
/// `zmq_send` flag: more frames of this message follow.
pub const ZMQ_SNDMORE: c_int = 2;

/// `ZMQ_EVENTS` bit: a frame can be received now.
pub const ZMQ_POLLIN: c_int = 1;
/// `ZMQ_EVENTS` bit: a frame can be sent now.
pub const ZMQ_POLLOUT: c_int = 2;

/// How often a blocked send or receive looks whether its context was terminated.
const TERM_CHECK: Duration = Duration::from_millis(100);

/// The socket types by their `zmq.h` numbers, in order (libzmq's numbering).
const SOCKET_TYPES: [SocketType; 12] = SocketType::ALL;

/// A socket as C holds it (`void *`).
pub(crate) struct Socket {
    pub(crate) context: Arc<ContextShared>,
    /// The shard the socket lives on (its monitor's PAIR socket lives there too).
    pub(crate) shard: ShardHandle,
    /// The running `zmq_socket_monitor`, stopped when this is replaced or dropped.
    pub(crate) monitor: Option<crate::monitor::SocketMonitor>,
    pub(crate) socket_type: SocketType,
    handle: Handle,
    /// The `zmq.h` number of its type (`ZMQ_TYPE`).
    pub(crate) type_number: c_int,
    /// `ZMQ_RCVTIMEO` in ms; -1: forever.
    pub(crate) rcvtimeo_ms: c_int,
    /// `ZMQ_SNDTIMEO` in ms; -1: forever.
    pub(crate) sndtimeo_ms: c_int,
    /// Frames sent with `ZMQ_SNDMORE`, waiting for the last frame of their message.
    outgoing: Vec<Bytes>,
    /// The rest of the last received message, handed out one frame per receive.
    pub(crate) incoming: VecDeque<Bytes>,
    /// The connection properties of the message in `incoming` (`zmq_msg_gets`).
    pub(crate) incoming_properties: Option<Message>,
    /// Whether the last received frame has more after it (`ZMQ_RCVMORE`).
    pub(crate) rcvmore: bool,
    /// Whether a tcp or ipc bind ever succeeded: `zmq_close` then frees the listeners before
    /// it returns, so a bind of the same address right after succeeds (libzmq unlinks an ipc
    /// file before binding it; ringmq replaces a socket file only when nothing listens on it).
    pub(crate) listening: bool,
    /// Whether it ever bound or connected over inproc, whose sends, subscriptions and
    /// connections libzmq completes within the call (see [`ContextShared::settle`]).
    inproc: bool,
    /// The endpoint of the last bind or connect (`ZMQ_LAST_ENDPOINT`).
    pub(crate) last_endpoint: String,
    /// REQ/REP order, checked at a message's first frame so a misuse fails there with `EFSM`
    /// as in libzmq, not at its last (the socket checks the whole message again).
    pub(crate) turn: Turn,
    /// Options ringmq does not act on, kept as set so they read back (see `sockopt`).
    pub(crate) kept: HashMap<c_int, Vec<u8>>,
    /// The security options (`ZMQ_PLAIN_*`, `ZMQ_CURVE_*`).
    pub(crate) security: Security,
    /// `ZMQ_IPV6`.
    pub(crate) ipv6: bool,
    /// STREAM: the routing id of the peer of the last message received, which libzmq reports
    /// as the socket's `ZMQ_ROUTING_ID` (so a connecting STREAM learns its peer's id).
    pub(crate) stream_peer: Option<Bytes>,
    /// ROUTER: `ZMQ_ROUTER_MANDATORY`, so a message's first frame (its peer's routing id) is
    /// checked at once, as libzmq does.
    pub(crate) router_mandatory: bool,
}

/// The ringmq socket behind a C socket, made at its first bind, connect, send, receive,
/// subscription or `ZMQ_EVENTS`: C programs set `ZMQ_SNDHWM`/`ZMQ_RCVHWM` after `zmq_socket`,
/// and the socket's hand-off queues take their bounds from the options it is made with.
enum Handle {
    /// Not made yet: where it will live and the options set so far.
    Pending {
        shard: ShardHandle,
        options: Box<Options>,
    },
    Open(BlockingSocket),
}

static LIVE_SOCKETS: Mutex<Option<HashSet<usize>>> = Mutex::new(None);

fn is_live(socket: *mut c_void) -> bool {
    LIVE_SOCKETS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .is_some_and(|live| live.contains(&(socket as usize)))
}

/// Run `f` on the live socket at `socket`: `ENOTSOCK` for null or closed pointers, `ETERM` once
/// its context is terminated.
///
/// # Safety
/// No other thread may use or close the socket while `f` runs (libzmq's rule: a socket is used
/// by one thread at a time).
pub(crate) unsafe fn with_socket<R>(
    socket: *mut c_void,
    f: impl FnOnce(&mut Socket) -> Result<R, c_int>,
) -> Result<R, c_int> {
    if socket.is_null() || !is_live(socket) {
        return Err(libc::ENOTSOCK);
    }
    // SAFETY: the address is in LIVE_SOCKETS, so it came from `Box::into_raw` in `zmq_socket` and
    // is not freed yet (`zmq_close` removes it first); by this function's contract no other
    // reference to it exists while `f` runs.
    let socket = unsafe { &mut *socket.cast::<Socket>() };
    if socket.context.is_terminated() {
        return Err(ETERM);
    }
    f(socket)
}

/// `Ok(n)` as `n`, `Err(code)` as -1 with errno `code`.
fn to_c(result: Result<c_int, c_int>) -> c_int {
    result.unwrap_or_else(fail)
}

/// A byte count as the `int` the C API returns (saturating; libzmq's is `int` too).
fn size_to_c(size: usize) -> c_int {
    c_int::try_from(size).unwrap_or(c_int::MAX)
}

/// A C endpoint string; `EINVAL` for null or non-UTF-8.
///
/// # Safety
/// `endpoint` must be null or NUL-terminated.
pub(crate) unsafe fn endpoint_str<'a>(endpoint: *const c_char) -> Result<&'a str, c_int> {
    if endpoint.is_null() {
        return Err(libc::EINVAL);
    }
    // SAFETY: non-null and, by the contract, NUL-terminated.
    unsafe { CStr::from_ptr(endpoint) }
        .to_str()
        .map_err(|_| libc::EINVAL)
}

/// Refuse an endpoint libzmq would refuse before trying it: `EPROTONOSUPPORT` for a transport
/// ringmq does not have, `EINVAL` for one that does not parse.
fn check_endpoint(endpoint: &str) -> Result<(), c_int> {
    let (_, destination) =
        ringmq_transports::endpoint::split_tcp_source(endpoint).map_err(|_| libc::EINVAL)?;
    match Endpoint::parse(&destination) {
        Ok(_) => Ok(()),
        Err(EndpointError::UnsupportedTransport(_)) => Err(libc::EPROTONOSUPPORT),
        Err(_) => Err(libc::EINVAL),
    }
}

/// The errno for a ringmq error: the operating system's own number where there is one (an ipc
/// directory that does not exist is `ENOENT`, as in libzmq), else by its kind.
fn ringmq_errno(e: &ringmq::Error) -> c_int {
    match (e.kind(), e.raw_os_error()) {
        (ErrorKind::BindFailed | ErrorKind::Io, Some(code)) => code,
        (kind, _) => errno_of(kind),
    }
}

impl Socket {
    /// The ringmq socket, made now if it is not yet (see [`Handle`]).
    pub(crate) fn inner(&mut self) -> Result<&mut BlockingSocket, c_int> {
        if let Handle::Pending { shard, options } = &self.handle {
            let socket = BlockingSocket::new(shard, self.socket_type, Options::clone(options))
                .map_err(|e| ringmq_errno(&e))?;
            self.handle = Handle::Open(socket);
        }
        match &mut self.handle {
            Handle::Open(socket) => Ok(socket),
            Handle::Pending { .. } => unreachable!("the socket was made just above"),
        }
    }

    /// The descriptor that signals a change of `ZMQ_EVENTS` (`ZMQ_FD`).
    pub(crate) fn readiness_fd(&mut self) -> Result<c_int, c_int> {
        self.inner()?.readiness_fd().map_err(|e| ringmq_errno(&e))
    }

    /// Whether a frame can be received (`ZMQ_POLLIN`) or sent (`ZMQ_POLLOUT`) now: never for a
    /// direction the socket type lacks (a SUB is never writable), and, as in libzmq, only in
    /// its turn for REQ and REP (a REQ awaiting its reply is not writable, a REP owing a reply
    /// not readable). The rest of a message being received or sent always may go on.
    pub(crate) fn events(&mut self) -> Result<c_int, c_int> {
        let has_frames = !self.incoming.is_empty();
        let sending = !self.outgoing.is_empty();
        let may_recv = Pattern::can_recv(self.socket_type) && self.turn.check_recv().is_ok();
        let may_send =
            Pattern::can_send(self.socket_type) && (sending || self.turn.check_send().is_ok());
        let mut events = self.inner()?.events();
        if !events.readable && may_recv && self.inproc && !has_frames {
            // As a receive would (see `recv_message`).
            if self.context.settle(true) {
                events = self.inner()?.events();
            }
        }
        let mut bits = 0;
        if has_frames || (events.readable && may_recv) {
            bits |= ZMQ_POLLIN;
        }
        if events.writable && may_send {
            bits |= ZMQ_POLLOUT;
        }
        Ok(bits)
    }

    pub(crate) fn options(&self) -> Result<Options, c_int> {
        match &self.handle {
            Handle::Pending { options, .. } => Ok(Options::clone(options)),
            Handle::Open(socket) => socket.options().map_err(|e| ringmq_errno(&e)),
        }
    }

    pub(crate) fn update_options(
        &mut self,
        change: impl FnOnce(&mut Options),
    ) -> Result<(), c_int> {
        match &mut self.handle {
            Handle::Pending { options, .. } => {
                change(&mut *options);
                Ok(())
            }
            Handle::Open(socket) => {
                let mut options = socket.options().map_err(|e| ringmq_errno(&e))?;
                change(&mut options);
                socket.set_options(options).map_err(|e| ringmq_errno(&e))
            }
        }
    }

    /// Send one frame; the message goes when a frame comes without `ZMQ_SNDMORE`. On `EAGAIN`
    /// and `ETERM` the frames before this one stay buffered (send this frame again to retry);
    /// on other errors the whole message is dropped.
    pub(crate) fn send_frame(&mut self, frame: Bytes, flags: c_int) -> Result<(), c_int> {
        if !Pattern::can_send(self.socket_type) {
            return Err(libc::ENOTSUP);
        }
        if self.outgoing.is_empty() {
            self.turn.check_send().map_err(|_| EFSM)?;
            if self.router_mandatory && self.socket_type == SocketType::Router {
                // libzmq's ROUTER looks the peer up at the first frame: unknown is
                // EHOSTUNREACH, full is EAGAIN (without ZMQ_DONTWAIT the whole message's send
                // waits, below).
                match self.inner()?.peer_state(&frame) {
                    Ok(None) => return Err(libc::EHOSTUNREACH),
                    Ok(Some(false)) if flags & ZMQ_DONTWAIT != 0 => return Err(libc::EAGAIN),
                    Ok(_) => {}
                    Err(e) => return Err(ringmq_errno(&e)),
                }
            } else if flags & ZMQ_SNDMORE != 0 && self.socket_type != SocketType::Stream {
                // libzmq refuses a message's first frame already when no peer can take it
                // (EAGAIN), rather than its last.
                self.wait_first_frame(flags)?;
            }
        }
        self.outgoing.push(frame);
        // STREAM: a message is its peer's id and one body; libzmq ignores ZMQ_SNDMORE on the
        // body (zmq_socket(3)).
        let complete = self.socket_type == SocketType::Stream && self.outgoing.len() == 2;
        if flags & ZMQ_SNDMORE != 0 && !complete {
            return Ok(());
        }
        let mut message = Message::from_frames(std::mem::take(&mut self.outgoing));
        if self.inproc {
            self.context.settle(false);
        }
        // The common case first: there is room now (no clock, no timeout to set).
        match self.inner()?.try_send(message) {
            Ok(()) => {
                self.sent();
                return Ok(());
            }
            Err(SendError::Failed(e, _)) => return Err(ringmq_errno(&e)),
            Err(SendError::Full(back)) => message = back,
        }
        // Full: over inproc, libzmq's pipe would already have passed what this socket sent
        // before to its peer. Where the credit bounds the whole way (not the hand-off queue
        // alone), look again once the shards moved those on.
        if self.inproc && self.inner()?.counts_inproc_credit() && self.context.settle(true) {
            match self.inner()?.try_send(message) {
                Ok(()) => {
                    self.sent();
                    return Ok(());
                }
                Err(SendError::Failed(e, _)) => return Err(ringmq_errno(&e)),
                Err(SendError::Full(back)) => message = back,
            }
        }
        let deadline = (self.sndtimeo_ms >= 0)
            .then(|| Instant::now() + Duration::from_millis(self.sndtimeo_ms as u64));
        loop {
            let inner = self.inner()?;
            let result = if flags & ZMQ_DONTWAIT != 0 {
                inner.try_send(message)
            } else {
                inner.set_sndtimeo(Some(wait_slice(deadline)));
                inner.send(message)
            };
            let code = match result {
                Ok(()) => {
                    self.sent();
                    return Ok(());
                }
                Err(SendError::Failed(e, _)) => return Err(ringmq_errno(&e)),
                Err(SendError::Full(back)) => {
                    message = back;
                    if self.context.is_terminated() {
                        ETERM
                    } else if flags & ZMQ_DONTWAIT != 0 || deadline_passed(deadline) {
                        libc::EAGAIN
                    } else {
                        continue;
                    }
                }
            };
            // Keep the earlier frames for a retry of this one.
            self.outgoing = message.into_frames().collect();
            self.outgoing.pop();
            return Err(code);
        }
    }

    /// A whole message went.
    fn sent(&mut self) {
        self.turn.sent();
        if self.inproc {
            self.context.moved();
        }
    }

    /// Wait, as a whole message's send would (`ZMQ_DONTWAIT`, `ZMQ_SNDTIMEO`, `ETERM`), until
    /// the socket can take a message.
    fn wait_first_frame(&mut self, flags: c_int) -> Result<(), c_int> {
        if flags & ZMQ_DONTWAIT != 0 {
            let writable = self.inner()?.wait_writable(Some(Duration::ZERO));
            return writable.then_some(()).ok_or(libc::EAGAIN);
        }
        let deadline = (self.sndtimeo_ms >= 0)
            .then(|| Instant::now() + Duration::from_millis(self.sndtimeo_ms as u64));
        loop {
            if self.inner()?.wait_writable(Some(wait_slice(deadline))) {
                return Ok(());
            }
            if self.context.is_terminated() {
                return Err(ETERM);
            }
            if deadline_passed(deadline) {
                return Err(libc::EAGAIN);
            }
        }
    }

    /// Receive one frame, and set `rcvmore`.
    pub(crate) fn recv_frame(&mut self, flags: c_int) -> Result<Bytes, c_int> {
        if self.incoming.is_empty() {
            if !Pattern::can_recv(self.socket_type) {
                return Err(libc::ENOTSUP);
            }
            self.turn.check_recv().map_err(|_| EFSM)?;
            let mut message = self.recv_message(flags & ZMQ_DONTWAIT != 0)?;
            self.turn.received();
            if self.inproc {
                self.context.moved();
            }
            let frames: Vec<Bytes> = std::iter::from_fn(|| message.pop_front()).collect();
            if self.socket_type == SocketType::Stream {
                self.stream_peer = frames.first().cloned();
            }
            self.incoming.extend(frames);
            self.incoming_properties = Some(message);
            if self.incoming.is_empty() {
                self.incoming.push_back(Bytes::new());
            }
        }
        let frame = self.incoming.pop_front().unwrap_or_default();
        self.rcvmore = !self.incoming.is_empty();
        Ok(frame)
    }

    fn recv_message(&mut self, dontwait: bool) -> Result<Message, c_int> {
        if dontwait || self.rcvtimeo_ms == 0 {
            // Look again once, after the shards settled, if a send or change elsewhere in the
            // context might have something on its way over inproc.
            let mut looked_again = false;
            loop {
                return match self.inner()?.try_recv() {
                    Ok(Some(message)) => Ok(message),
                    Ok(None) if !looked_again && self.inproc && self.context.settle(true) => {
                        looked_again = true;
                        continue;
                    }
                    Ok(None) => Err(libc::EAGAIN),
                    Err(e) => Err(ringmq_errno(&e)),
                };
            }
        }
        // The common case first: a message is waiting (no clock, no timeout to set).
        match self.inner()?.try_recv() {
            Ok(Some(message)) => return Ok(message),
            Ok(None) => {}
            Err(e) => return Err(ringmq_errno(&e)),
        }
        let deadline = (self.rcvtimeo_ms >= 0)
            .then(|| Instant::now() + Duration::from_millis(self.rcvtimeo_ms as u64));
        loop {
            match self.inner()?.recv_timeout(wait_slice(deadline)) {
                Ok(message) => return Ok(message),
                Err(e) if e.kind() == ErrorKind::Timeout => {
                    if self.context.is_terminated() {
                        return Err(ETERM);
                    }
                    if deadline_passed(deadline) {
                        return Err(libc::EAGAIN);
                    }
                }
                Err(e) => return Err(ringmq_errno(&e)),
            }
        }
    }
}

/// How long to wait before looking at the context again: `TERM_CHECK`, or less to `deadline`.
fn wait_slice(deadline: Option<Instant>) -> Duration {
    match deadline {
        Some(deadline) => deadline
            .saturating_duration_since(Instant::now())
            .min(TERM_CHECK),
        None => TERM_CHECK,
    }
}

fn deadline_passed(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

/// A new socket of `type_` (`ZMQ_PAIR` .. `ZMQ_XSUB`) in `ctx`; NULL with `EFAULT` (bad
/// context), `EINVAL` (unknown or unsupported type) or `ETERM`. Its linger is libzmq's default,
/// -1 (forever). The ringmq socket behind it is made at first use (see [`Handle`]), so options
/// set before that apply in full.
///
/// # Safety
/// `ctx` must be null or a context from `zmq_ctx_new` not being terminated concurrently.
#[no_mangle]
pub unsafe extern "C" fn zmq_socket(ctx: *mut c_void, type_: c_int) -> *mut c_void {
    let create = |context: &crate::context::Context| {
        let socket_type = usize::try_from(type_)
            .ok()
            .and_then(|i| SOCKET_TYPES.get(i).copied())
            .ok_or(libc::EINVAL)?;
        let (shard, shared) = context.open_socket()?;
        let context_options = shared.options();
        // libzmq's default linger: forever, or not at all in a non-blocky context.
        // libzmq's SUB and XSUB start with linger 0.
        let no_linger =
            !context_options.blocky || matches!(socket_type, SocketType::Sub | SocketType::XSub);
        let options = Options {
            linger: no_linger.then_some(Duration::ZERO),
            message_properties: true,
            // libzmq checks socket types only over tcp and ipc.
            inproc_type_check: false,
            // libzmq's tests count inproc HWMs exactly.
            exact_inproc_hwm: true,
            heartbeat_ttl: Some(Duration::ZERO),
            reconnect_stop_handshake_failed: true,
            ..Options::default()
        };
        Ok(Socket {
            context: shared,
            shard: shard.clone(),
            monitor: None,
            socket_type,
            handle: Handle::Pending {
                shard: shard.clone(),
                options: Box::new(options),
            },
            type_number: type_,
            rcvtimeo_ms: -1,
            sndtimeo_ms: -1,
            outgoing: Vec::new(),
            incoming: VecDeque::new(),
            incoming_properties: None,
            rcvmore: false,
            last_endpoint: String::new(),
            listening: false,
            inproc: false,
            turn: Turn::new(socket_type, false),
            kept: HashMap::new(),
            security: Security::default(),
            ipv6: context_options.ipv6,
            stream_peer: None,
            router_mandatory: false,
        })
    };
    // SAFETY: by this function's contract the context is null or live and not terminated
    // meanwhile.
    let created = unsafe { with_context(ctx, create) };
    match created {
        Ok(socket) => {
            let ptr = Box::into_raw(Box::new(socket)).cast::<c_void>();
            LIVE_SOCKETS
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_or_insert_with(HashSet::new)
                .insert(ptr as usize);
            ptr
        }
        Err(code) => {
            set_errno(code);
            std::ptr::null_mut()
        }
    }
}

/// Close the socket: frames of an unfinished message are dropped, sent messages go within the
/// linger (`zmq_ctx_term` waits for them). Works after `zmq_ctx_term` began. `ENOTSOCK` for null
/// or closed pointers.
///
/// # Safety
/// `socket` must not be in use by another thread.
#[no_mangle]
pub unsafe extern "C" fn zmq_close(socket: *mut c_void) -> c_int {
    let removed = !socket.is_null()
        && LIVE_SOCKETS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
            .is_some_and(|live| live.remove(&(socket as usize)));
    if !removed {
        return fail(libc::ENOTSOCK);
    }
    // SAFETY: the address was live (from `Box::into_raw` in `zmq_socket`) and this call removed
    // it, so it is freed exactly once and no later call reaches it.
    let socket = unsafe { Box::from_raw(socket.cast::<Socket>()) };
    let context = socket.context.clone();
    if context.inherited() {
        // A forked child closing what it inherited: the socket's shard is a thread of the
        // parent's, so it is forgotten, not closed (the parent still owns the real socket).
        std::mem::forget(socket);
    } else {
        if let (true, Handle::Open(open)) = (socket.listening, &socket.handle) {
            // Brief (the listeners close at once), and it frees the address for a new bind.
            let _ = open.stop_listening();
        }
        drop(socket);
    }
    context.changed();
    context.closed();
    0
}

/// Listen on `endpoint` (`tcp://`, `ipc://`, `inproc://`); `tcp://host:*` picks a port, which
/// `ZMQ_LAST_ENDPOINT` then names.
///
/// # Safety
/// `socket` as in [`zmq_close`]; `endpoint` null or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn zmq_bind(socket: *mut c_void, endpoint: *const c_char) -> c_int {
    let call = |s: &mut Socket| {
        // SAFETY: by the contract, null or NUL-terminated.
        let endpoint = unsafe { endpoint_str(endpoint) }?;
        check_endpoint(endpoint)?;
        let bound = s.inner()?.bind(endpoint).map_err(|e| ringmq_errno(&e))?;
        s.context.changed();
        let inproc = bound.starts_with("inproc://");
        s.inproc |= inproc;
        s.listening |= !inproc;
        s.last_endpoint = bound;
        Ok(0)
    };
    // SAFETY: by this function's contract the socket pointer is null, live or closed, and used
    // by this thread alone.
    to_c(unsafe { with_socket(socket, call) })
}

/// Connect to `endpoint`, now or (tcp, ipc, inproc) once it is there.
///
/// # Safety
/// As [`zmq_bind`].
#[no_mangle]
pub unsafe extern "C" fn zmq_connect(socket: *mut c_void, endpoint: *const c_char) -> c_int {
    let call = |s: &mut Socket| {
        // SAFETY: by the contract, null or NUL-terminated.
        let endpoint = unsafe { endpoint_str(endpoint) }?;
        check_endpoint(endpoint)?;
        s.inner()?.connect(endpoint).map_err(|e| ringmq_errno(&e))?;
        s.context.changed();
        s.inproc |= endpoint.starts_with("inproc://");
        endpoint.clone_into(&mut s.last_endpoint);
        Ok(0)
    };
    // SAFETY: by this function's contract the socket pointer is null, live or closed, and used
    // by this thread alone.
    to_c(unsafe { with_socket(socket, call) })
}

/// Stop listening on `endpoint`; `ENOENT` when the socket is not bound there.
///
/// # Safety
/// As [`zmq_bind`].
#[no_mangle]
pub unsafe extern "C" fn zmq_unbind(socket: *mut c_void, endpoint: *const c_char) -> c_int {
    let call = |s: &mut Socket| {
        // SAFETY: by the contract, null or NUL-terminated.
        let endpoint = unsafe { endpoint_str(endpoint) }?;
        // libzmq unbinds only by the endpoint as bound (ZMQ_LAST_ENDPOINT), never by a
        // wildcard as written (ringmq's Rust API accepts both).
        if endpoint.ends_with(":*") || endpoint == "ipc://*" {
            return Err(libc::ENOENT);
        }
        s.inner()?.unbind(endpoint).map_err(|e| ringmq_errno(&e))?;
        s.context.changed();
        Ok(0)
    };
    // SAFETY: by this function's contract the socket pointer is null, live or closed, and used
    // by this thread alone.
    to_c(unsafe { with_socket(socket, call) })
}

/// Stop connecting to `endpoint`; `ENOENT` when the socket is not connected there.
///
/// # Safety
/// As [`zmq_bind`].
#[no_mangle]
pub unsafe extern "C" fn zmq_disconnect(socket: *mut c_void, endpoint: *const c_char) -> c_int {
    let call = |s: &mut Socket| {
        // SAFETY: by the contract, null or NUL-terminated.
        let endpoint = unsafe { endpoint_str(endpoint) }?;
        s.inner()?
            .disconnect(endpoint)
            .map_err(|e| ringmq_errno(&e))?;
        s.context.changed();
        Ok(0)
    };
    // SAFETY: by this function's contract the socket pointer is null, live or closed, and used
    // by this thread alone.
    to_c(unsafe { with_socket(socket, call) })
}

/// The option value as a byte slice; `EINVAL` for a null value with a non-zero length.
///
/// # Safety
/// `value` must be null or readable for `len` bytes.
unsafe fn value_bytes<'a>(value: *const c_void, len: usize) -> Result<&'a [u8], c_int> {
    if len == 0 {
        return Ok(&[]);
    }
    if value.is_null() {
        return Err(libc::EINVAL);
    }
    // SAFETY: non-null and, by the contract, readable for `len` bytes.
    Ok(unsafe { std::slice::from_raw_parts(value.cast::<u8>(), len) })
}

/// Set an option: any option of libzmq 4.3 (see the `sockopt` module for which ones ringmq acts
/// on). An unknown or read-only option, or a bad value, is `EINVAL`.
///
/// # Safety
/// `socket` as in [`zmq_close`]; `value` null or readable for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn zmq_setsockopt(
    socket: *mut c_void,
    option_name: c_int,
    value: *const c_void,
    len: usize,
) -> c_int {
    let call = |s: &mut Socket| {
        // SAFETY: by the contract, null or readable for `len` bytes.
        let bytes = unsafe { value_bytes(value, len) }?;
        s.set_option(option_name, bytes)?;
        s.context.changed();
        Ok(0)
    };
    // SAFETY: by this function's contract the socket pointer is null, live or closed, and used
    // by this thread alone.
    to_c(unsafe { with_socket(socket, call) })
}

/// Read an option (any of libzmq 4.3's that is not write-only). `*len` says the buffer's size on
/// entry and the value's on return; `EINVAL` for a buffer too small, an unknown or write-only
/// option.
///
/// # Safety
/// `socket` as in [`zmq_close`]; `value` writable for `*len` bytes; `len` a valid pointer.
#[no_mangle]
pub unsafe extern "C" fn zmq_getsockopt(
    socket: *mut c_void,
    option_name: c_int,
    value: *mut c_void,
    len: *mut usize,
) -> c_int {
    let call = |s: &mut Socket| {
        if value.is_null() || len.is_null() {
            return Err(libc::EINVAL);
        }
        // SAFETY: `len` is non-null and, by the contract, valid.
        let capacity = unsafe { len.read() };
        let bytes = s.option_value(option_name, capacity)?;
        if bytes.len() > capacity {
            return Err(libc::EINVAL);
        }
        if crate::sockopt::zeroes_buffer(option_name) {
            // As libzmq: the socket's state options clear the whole buffer they are given.
            // SAFETY: `value` is non-null and, by the contract, writable for `capacity` bytes.
            unsafe { std::ptr::write_bytes(value.cast::<u8>(), 0, capacity) };
        }
        // SAFETY: `value` is non-null and writable for `capacity >= bytes.len()` bytes;
        // `bytes` is our own buffer, so they do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), value.cast::<u8>(), bytes.len());
            len.write(bytes.len());
        }
        Ok(0)
    };
    // SAFETY: by this function's contract the socket pointer is null, live or closed, and used
    // by this thread alone.
    to_c(unsafe { with_socket(socket, call) })
}

/// Send `len` bytes from `buf` as one frame (copied); `ZMQ_SNDMORE`: more frames follow;
/// `ZMQ_DONTWAIT`: `EAGAIN` instead of waiting. Returns `len`.
///
/// # Safety
/// `socket` as in [`zmq_close`]; `buf` null (with `len` 0) or readable for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn zmq_send(
    socket: *mut c_void,
    buf: *const c_void,
    len: usize,
    flags: c_int,
) -> c_int {
    let call = |s: &mut Socket| {
        // SAFETY: by the contract, null or readable for `len` bytes.
        let frame = Bytes::copy_from_slice(unsafe { value_bytes(buf, len) }?);
        s.send_frame(frame, flags)?;
        Ok(size_to_c(len))
    };
    // SAFETY: by this function's contract the socket pointer is null, live or closed, and used
    // by this thread alone.
    to_c(unsafe { with_socket(socket, call) })
}

/// Receive one frame into `buf`, truncated to `len` bytes; returns the frame's full size.
/// `ZMQ_RCVMORE` then says whether more frames of its message follow.
///
/// # Safety
/// `socket` as in [`zmq_close`]; `buf` null (with `len` 0) or writable for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn zmq_recv(
    socket: *mut c_void,
    buf: *mut c_void,
    len: usize,
    flags: c_int,
) -> c_int {
    let call = |s: &mut Socket| {
        if buf.is_null() && len > 0 {
            return Err(libc::EINVAL);
        }
        let frame = s.recv_frame(flags)?;
        let copied = frame.len().min(len);
        if copied > 0 {
            // SAFETY: `buf` is non-null (checked) and writable for `len >= copied` bytes; the
            // frame is our own buffer, so they do not overlap.
            unsafe { std::ptr::copy_nonoverlapping(frame.as_ptr(), buf.cast::<u8>(), copied) };
        }
        Ok(size_to_c(frame.len()))
    };
    // SAFETY: by this function's contract the socket pointer is null, live or closed, and used
    // by this thread alone.
    to_c(unsafe { with_socket(socket, call) })
}

/// Send the message as one frame without copying (flags as [`zmq_send`]); on success `msg`
/// becomes empty. Returns its size.
///
/// # Safety
/// `msg` must point to an initialised `zmq_msg_t`; `socket` as in [`zmq_close`].
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_send(
    msg: *mut zmq_msg_t,
    socket: *mut c_void,
    flags: c_int,
) -> c_int {
    if msg.is_null() {
        return fail(libc::EFAULT);
    }
    let call = |s: &mut Socket| {
        // SAFETY: `msg` is non-null (checked) and, by the contract, initialised and ours.
        let bytes = unsafe { msg::frame(msg) }.freeze();
        let size = bytes.len();
        s.send_frame(bytes, flags)?;
        // SAFETY: as above.
        unsafe { msg::replace(msg, Frame::shared(Bytes::new(), false)) };
        Ok(size_to_c(size))
    };
    // SAFETY: by this function's contract the socket pointer is null, live or closed, and used
    // by this thread alone.
    to_c(unsafe { with_socket(socket, call) })
}

/// Receive one frame into `msg` (its old content is released); `zmq_msg_more` then says whether
/// more follow. Returns its size.
///
/// # Safety
/// `msg` must point to an initialised `zmq_msg_t`; `socket` as in [`zmq_close`].
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_recv(
    msg: *mut zmq_msg_t,
    socket: *mut c_void,
    flags: c_int,
) -> c_int {
    if msg.is_null() {
        return fail(libc::EFAULT);
    }
    let call = |s: &mut Socket| {
        let frame = s.recv_frame(flags)?;
        let size = frame.len();
        let properties = s
            .incoming_properties
            .as_ref()
            .and_then(|m| m.properties().cloned());
        // SAFETY: as above.
        unsafe { msg::replace(msg, Frame::received(frame, s.rcvmore, properties)) };
        Ok(size_to_c(size))
    };
    // SAFETY: by this function's contract the socket pointer is null, live or closed, and used
    // by this thread alone.
    to_c(unsafe { with_socket(socket, call) })
}

/// The caller's constant buffer given to `zmq_send_const`: never freed.
struct ConstBuffer {
    data: *const u8,
    len: usize,
}

// SAFETY: `zmq_send_const`'s contract is that the buffer is constant and lives for the rest of
// the program, so any thread may read it.
unsafe impl Send for ConstBuffer {}

impl AsRef<[u8]> for ConstBuffer {
    fn as_ref(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: by `zmq_send_const`'s contract, readable for `len` bytes and never changed
        // or freed.
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }
}

/// As [`zmq_send`], but the frame refers to `buf` instead of copying it.
///
/// # Safety
/// As [`zmq_send`], and `buf` must stay readable and unchanged for the rest of the program.
#[no_mangle]
pub unsafe extern "C" fn zmq_send_const(
    socket: *mut c_void,
    buf: *const c_void,
    len: usize,
    flags: c_int,
) -> c_int {
    let call = |s: &mut Socket| {
        if buf.is_null() && len > 0 {
            return Err(libc::EINVAL);
        }
        let frame = Bytes::from_owner(ConstBuffer {
            data: buf.cast(),
            len,
        });
        s.send_frame(frame, flags)?;
        Ok(size_to_c(len))
    };
    // SAFETY: by this function's contract the socket pointer is null, live or closed, and used
    // by this thread alone.
    to_c(unsafe { with_socket(socket, call) })
}

/// The older name of [`zmq_msg_send`], with the socket first.
///
/// # Safety
/// As [`zmq_msg_send`].
#[no_mangle]
pub unsafe extern "C" fn zmq_sendmsg(
    socket: *mut c_void,
    msg: *mut zmq_msg_t,
    flags: c_int,
) -> c_int {
    // SAFETY: same contract.
    unsafe { zmq_msg_send(msg, socket, flags) }
}

/// The older name of [`zmq_msg_recv`], with the socket first.
///
/// # Safety
/// As [`zmq_msg_recv`].
#[no_mangle]
pub unsafe extern "C" fn zmq_recvmsg(
    socket: *mut c_void,
    msg: *mut zmq_msg_t,
    flags: c_int,
) -> c_int {
    // SAFETY: same contract.
    unsafe { zmq_msg_recv(msg, socket, flags) }
}

/// Send `count` buffers as frames (copied), libzmq's way: each but the last with `flags` as
/// given, the last with `flags` less `ZMQ_SNDMORE`. So with `ZMQ_SNDMORE` the buffers are the
/// frames of one message, and without it each buffer is a message of its own. Returns the size
/// of the last frame; `EINVAL` for no buffers.
///
/// # Safety
/// `socket` as in [`zmq_close`]; `iov` readable for `count` entries, each readable for its
/// length.
#[no_mangle]
pub unsafe extern "C" fn zmq_sendiov(
    socket: *mut c_void,
    iov: *mut libc::iovec,
    count: usize,
    flags: c_int,
) -> c_int {
    let call = |s: &mut Socket| {
        if count == 0 || iov.is_null() {
            return Err(libc::EINVAL);
        }
        // SAFETY: non-null and, by the contract, `count` readable entries.
        let entries = unsafe { std::slice::from_raw_parts(iov, count) };
        let mut last_size = 0;
        for (i, entry) in entries.iter().enumerate() {
            // SAFETY: by the contract each entry is readable for its length.
            let bytes = unsafe { value_bytes(entry.iov_base, entry.iov_len) }?;
            let frame_flags = if i + 1 < count {
                flags
            } else {
                flags & !ZMQ_SNDMORE
            };
            s.send_frame(Bytes::copy_from_slice(bytes), frame_flags)?;
            last_size = size_to_c(bytes.len());
        }
        Ok(last_size)
    };
    // SAFETY: by this function's contract the socket pointer is null, live or closed, and used
    // by this thread alone.
    to_c(unsafe { with_socket(socket, call) })
}

/// Receive up to `*count` frames of a message into `iov`, each into a buffer allocated with
/// `malloc` that the caller frees; `*count` becomes the number received. Returns that number
/// (libzmq's return value; not bytes), and `ZMQ_RCVMORE` says whether frames are left. An error
/// at any frame returns -1, `*count` still saying how many were received before it; `EFAULT`
/// for a NULL `count`.
///
/// # Safety
/// `socket` as in [`zmq_close`]; `iov` writable for `*count` entries; `count` valid.
#[no_mangle]
pub unsafe extern "C" fn zmq_recviov(
    socket: *mut c_void,
    iov: *mut libc::iovec,
    count: *mut usize,
    flags: c_int,
) -> c_int {
    let call = |s: &mut Socket| {
        // As libzmq 4.3.4 (its own test checks it): no count, a zero count or no vector is
        // EINVAL.
        if count.is_null() || iov.is_null() {
            return Err(libc::EINVAL);
        }
        // SAFETY: non-null and, by the contract, valid.
        let capacity = unsafe { count.read() };
        if capacity == 0 {
            return Err(libc::EINVAL);
        }
        // SAFETY: as above.
        unsafe { count.write(0) };
        let mut received = 0;
        while received < capacity {
            let frame = s.recv_frame(flags)?;
            // SAFETY: malloc of the frame's size (at least 1, so an empty frame gets a valid
            // pointer too); checked for NULL below.
            let buffer = unsafe { libc::malloc(frame.len().max(1)) }.cast::<u8>();
            if buffer.is_null() {
                return Err(libc::ENOMEM);
            }
            // SAFETY: `buffer` holds `frame.len()` bytes; the regions are distinct allocations;
            // `iov` has `capacity > received` writable entries by the contract; `count` valid.
            unsafe {
                std::ptr::copy_nonoverlapping(frame.as_ptr(), buffer, frame.len());
                iov.add(received).write(libc::iovec {
                    iov_base: buffer.cast(),
                    iov_len: frame.len(),
                });
                received += 1;
                count.write(received);
            }
            if !s.rcvmore {
                break;
            }
        }
        Ok(size_to_c(received))
    };
    // SAFETY: by this function's contract the socket pointer is null, live or closed, and used
    // by this thread alone.
    to_c(unsafe { with_socket(socket, call) })
}
