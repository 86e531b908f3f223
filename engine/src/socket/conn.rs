//! One connection: joins the sans-IO [`Connection`] to a socket file descriptor through the shard's
//! ring, and to its pipe in the socket's [`Core`].
//!
//! A single future drives both directions: at most one receive and one send are in flight. Each
//! receive takes whatever the kernel has (up to the buffer) and decodes every frame in it; each
//! send carries everything queued on the pipe at that moment, encoded back to back, large bodies as
//! their own iovec.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use ringmq_patterns::PeerId;
use ringmq_transports::connection::TransmitBuf;
use ringmq_transports::{Connection, ConnectionConfig, Event, ProtocolError};

use super::core::Core;
use crate::runtime::driver::{self, IoFd};
use crate::runtime::{sleep_until, Sleep};
use crate::security::{authenticate, AuthDecision, PendingDecision};

/// Stop filling a write once this much is queued; the rest goes in the next one.
const WRITE_BATCH_BYTES: usize = 256 * 1024;
/// Size of the receive buffer each read fills.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// Why a connection ended.
#[derive(Debug)]
pub(crate) enum ConnEnd {
    /// The peer closed the stream.
    Eof,
    /// A socket error.
    Io(std::io::Error),
    /// The peer broke the protocol (or timed out).
    Protocol(ProtocolError),
    /// The socket closed and everything queued was written.
    Closed,
    /// An exclusive socket (PAIR) already has a peer, its routing id is taken, or the socket
    /// serves `max_connections` peers already.
    Refused,
    /// Closed while still in the handshake, to make room for a newer connection
    /// (`max_handshakes`).
    Evicted,
    /// The peer went past one of the socket's bounds (e.g. `max_subscriptions`).
    Overflow(&'static str),
}

type RecvOp = driver::RecvFuture;
type SendOp = driver::SendFuture;

/// The least room a read is given: below it the buffer is swapped for another.
const MIN_READ_ROOM: usize = 4096;
/// Read buffers each shard keeps for reuse (8 × 64 KiB at most, plus what messages still hold).
const POOLED_READ_BUFFERS: usize = 8;

thread_local! {
    /// Read buffers retired by this shard's connections: their frames may still be in use (in a
    /// socket's queue, or held by the application); once all are dropped, the next connection
    /// that runs out of room reclaims the whole buffer without allocating.
    static READ_BUFFERS: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// `buf` with room for the next read: at least [`MIN_READ_ROOM`] bytes, and all that the frame in
/// progress still `wanted`. A buffer short of that is retired to the shard's pool, and its unread
/// tail moves to a pooled buffer whose frames are all gone (or, failing one, to a new buffer).
/// In the steady state, reading allocates nothing: the frames a read yields are slices of its
/// buffer, and by the time the pool comes round to that buffer again they have been consumed.
///
/// `size` is the whole allocation of `buf` (its `capacity()` shrinks as frames are split off),
/// updated to that of the buffer returned: only buffers of the usual size are pooled, so a buffer
/// grown for one large frame is let go.
fn room_to_read(buf: BytesMut, wanted: usize, size: &mut usize) -> BytesMut {
    let wanted = wanted.max(MIN_READ_ROOM);
    if buf.capacity() - buf.len() >= wanted {
        return buf;
    }
    let needed = buf.len() + wanted;
    READ_BUFFERS.with(|pool| {
        let mut pool = pool.borrow_mut();
        let reclaimed = pool.iter_mut().position(|b| {
            b.clear();
            b.try_reclaim(needed)
        });
        let mut fresh = match reclaimed {
            // Reclaimed whole: its capacity is its allocation.
            Some(i) => pool.swap_remove(i),
            None => BytesMut::with_capacity(needed.max(READ_BUFFER_BYTES)),
        };
        let fresh_size = fresh.capacity();
        fresh.extend_from_slice(&buf);
        if *size <= READ_BUFFER_BYTES {
            if pool.len() == POOLED_READ_BUFFERS {
                pool.remove(0);
            }
            pool.push(buf);
        }
        *size = fresh_size;
        fresh
    })
}

/// Drive the connection on `fd` for pipe `peer` until it ends.
pub(crate) async fn run(
    core: Rc<RefCell<Core>>,
    peer: PeerId,
    fd: IoFd,
    config: ConnectionConfig,
    endpoint: String,
) -> (ConnEnd, bool) {
    let mut state = ConnDriver {
        core,
        peer,
        endpoint,
        handshaken: false,
        user_id: None,
        zap_metadata: None,
        pending_auth: None,
        peer_address: socket2::SockRef::from(&fd)
            .peer_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .map(|a| a.ip()),
        fd: fd.clone(),
        conn: Connection::new(config, Instant::now()),
        recv_buf: Some(BytesMut::with_capacity(READ_BUFFER_BYTES)),
        recv_buf_size: READ_BUFFER_BYTES,
        recv_op: None,
        send_op: None,
        unsent: Vec::new(),
        tx: TransmitBuf::new(),
        timer: None,
        end: None,
        throttle: None,
        throttle_sleep: None,
        read_messages: 0,
        read_bytes: 0,
    };
    if let Some(limit) = state.core.borrow().options.inbound_rate {
        state.throttle = Some(super::throttle::Throttle::new(limit, Instant::now()));
    }
    let end = std::future::poll_fn(|cx| state.poll(cx)).await;
    // Flush what the protocol still has to say (the rest of the greeting, READY, an ERROR
    // command) without waiting on a misbehaving peer for long.
    if let ConnEnd::Protocol(_) = &end {
        state.conn.poll_transmit(&mut state.tx);
        let in_flight = state.send_op.take();
        let mut chunks = std::mem::take(&mut state.unsent);
        state.tx.take_into(&mut chunks);
        let fd = state.fd.clone();
        let flush = async move {
            if let Some(op) = in_flight {
                let (result, mut written) = op.await;
                if let Ok(n) = result {
                    advance_chunks(&mut written, n);
                    written.append(&mut chunks);
                    chunks = written;
                }
            }
            if !chunks.is_empty() {
                let _ = driver::send(&fd, chunks).await;
            }
        };
        until_deadline(
            flush,
            Instant::now() + std::time::Duration::from_millis(200),
        )
        .await;
    }
    if let ConnEnd::Closed = &end {
        let deadline = {
            let core = state.core.borrow();
            core.pipes
                .get(&state.peer)
                .filter(|p| p.leaving)
                .map_or(core.close_deadline, |p| p.leave_deadline)
        };
        let in_flight = state.recv_op.take();
        polite_close(&state.fd, in_flight, deadline).await;
    }
    // Ops still in flight are cancelled by their drop, and each holds its own handle to the
    // descriptor, so it closes only once the last of them is gone.
    let handshaken = state.handshaken;
    drop(state);
    drop(fd);
    (end, handshaken)
}

struct ConnDriver {
    core: Rc<RefCell<Core>>,
    peer: PeerId,
    /// The endpoint this connection serves, for monitor events.
    endpoint: String,
    /// Whether the ZMTP handshake completed.
    handshaken: bool,
    /// The peer's IP address (tcp), for the authorizer.
    peer_address: Option<std::net::IpAddr>,
    /// The authenticated user (PLAIN/CURVE), attached to messages as `User-Id`.
    user_id: Option<String>,
    /// Properties the ZAP handler attached to the peer, attached to its messages.
    zap_metadata: Option<ringmq_transports::Metadata>,
    /// An authentication decision still to come (ZAP handler or the authentication thread), and
    /// its deadline.
    pending_auth: Option<(PendingDecision, Pin<Box<Sleep>>)>,
    fd: IoFd,
    conn: Connection,
    recv_buf: Option<BytesMut>,
    /// The whole allocation of `recv_buf` (see [`room_to_read`]).
    recv_buf_size: usize,
    recv_op: Option<RecvOp>,
    send_op: Option<SendOp>,
    /// Bytes of the last send the kernel did not take yet.
    unsent: Vec<Bytes>,
    tx: TransmitBuf,
    timer: Option<(Instant, Pin<Box<Sleep>>)>,
    end: Option<ConnEnd>,
    /// `inbound_rate`: the token buckets, and the wait until they refill.
    throttle: Option<super::throttle::Throttle>,
    throttle_sleep: Option<Pin<Box<Sleep>>>,
    /// Messages and bytes the last read delivered (charged to the throttle).
    read_messages: u64,
    read_bytes: u64,
}

impl ConnDriver {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ConnEnd> {
        if !self.handshaken {
            // A STREAM connection is ready before it reads anything.
            if let Some(end) = self.dispatch_events() {
                return Poll::Ready(end);
            }
        }
        loop {
            if !self.handshaken
                && self
                    .core
                    .borrow()
                    .pipes
                    .get(&self.peer)
                    .is_some_and(|p| p.evicted)
            {
                return Poll::Ready(ConnEnd::Evicted);
            }
            if let Some(reason) = self.core.borrow().overflow(self.peer) {
                return Poll::Ready(ConnEnd::Overflow(reason));
            }
            let mut progress = false;
            // Inbound: within the pipe's HWM, the runtime's byte budget and the rate limit.
            if self.recv_op.is_none()
                && self.core.borrow_mut().may_read(self.peer)
                && self.throttle_allows(cx)
            {
                if let Some(buf) = self.recv_buf.take() {
                    self.recv_op = Some(driver::recv(&self.fd, buf));
                }
            }
            if let Some(op) = self.recv_op.as_mut() {
                if let Poll::Ready((result, mut buf)) = Pin::new(op).poll(cx) {
                    self.recv_op = None;
                    progress = true;
                    match result {
                        Ok(0) => return Poll::Ready(ConnEnd::Eof),
                        Ok(_) => {
                            self.read_messages = 0;
                            self.read_bytes = 0;
                            if let Err(e) = self.conn.handle_input(Instant::now(), &mut buf) {
                                // What the peer sent before the bad bytes, in the same read,
                                // was accepted: deliver it before closing.
                                let _ = self.dispatch_events();
                                return Poll::Ready(ConnEnd::Protocol(e));
                            }
                            if let Some(end) = self.dispatch_events() {
                                return Poll::Ready(end);
                            }
                            if let Some(t) = self.throttle.as_mut() {
                                t.charge(self.read_messages, self.read_bytes);
                            }
                        }
                        Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                        Err(e) => return Poll::Ready(ConnEnd::Io(e)),
                    }
                    let wanted = self.conn.wanted_bytes();
                    self.recv_buf = Some(room_to_read(buf, wanted, &mut self.recv_buf_size));
                }
            }
            // Outbound.
            if self.send_op.is_none() {
                self.fill_transmit();
                if !self.unsent.is_empty() || !self.tx.is_empty() {
                    let mut chunks = std::mem::take(&mut self.unsent);
                    self.tx.take_into(&mut chunks);
                    self.send_op = Some(driver::send(&self.fd, chunks));
                }
            }
            if let Some(op) = self.send_op.as_mut() {
                if let Poll::Ready((result, mut chunks)) = Pin::new(op).poll(cx) {
                    self.send_op = None;
                    progress = true;
                    match result {
                        Ok(n) => {
                            // Drop what was written; keep the rest for the next send.
                            advance_chunks(&mut chunks, n);
                            self.unsent = chunks;
                        }
                        Err(e) if e.raw_os_error() == Some(libc::EINTR) => self.unsent = chunks,
                        Err(e) => return Poll::Ready(ConnEnd::Io(e)),
                    }
                }
            }
            // An authentication decision that was pending.
            if let Some((decision, deadline)) = self.pending_auth.as_mut() {
                let answer = match decision.as_mut().poll(cx) {
                    Poll::Ready(d) => Some(d),
                    Poll::Pending => deadline.as_mut().poll(cx).is_ready().then(|| {
                        AuthDecision::Refuse(
                            500,
                            "authentication (ZAP handler) did not answer in time".into(),
                        )
                    }),
                };
                if let Some(answer) = answer {
                    self.pending_auth = None;
                    progress = true;
                    if let Some(end) = self.apply_decision(answer) {
                        return Poll::Ready(end);
                    }
                    if let Some(end) = self.dispatch_events() {
                        return Poll::Ready(end);
                    }
                }
            }
            // Time: the protocol's timers, and the end of a leaving pipe's linger.
            let leave_deadline = self
                .core
                .borrow()
                .pipes
                .get(&self.peer)
                .filter(|p| p.leaving)
                .and_then(|p| p.leave_deadline);
            let deadline = match (self.conn.poll_timeout(), leave_deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if let Some(deadline) = deadline {
                if self.timer.as_ref().is_none_or(|(d, _)| *d != deadline) {
                    self.timer = Some((deadline, Box::pin(sleep_until(deadline))));
                }
                if let Some((_, sleep)) = self.timer.as_mut() {
                    if sleep.as_mut().poll(cx).is_ready() {
                        self.timer = None;
                        progress = true;
                        if let Err(e) = self.conn.handle_timeout(Instant::now()) {
                            return Poll::Ready(ConnEnd::Protocol(e));
                        }
                    }
                }
            } else {
                self.timer = None;
            }
            if let Some(end) = self.end.take() {
                return Poll::Ready(end);
            }
            // Linger done: everything queued is written (or a leaving pipe's linger ran out).
            {
                let core = self.core.borrow();
                let written = self.send_op.is_none() && self.unsent.is_empty();
                let pipe = core.pipes.get(&self.peer);
                if (core.closing && written && pipe.is_none_or(|p| p.outq.is_empty()))
                    || pipe.is_some_and(|p| p.leave_now(written, Instant::now()))
                {
                    return Poll::Ready(ConnEnd::Closed);
                }
            }
            if !progress {
                if let Some(pipe) = self.core.borrow_mut().pipes.get_mut(&self.peer) {
                    match &pipe.driver_waker {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        _ => pipe.driver_waker = Some(cx.waker().clone()),
                    }
                }
                return Poll::Pending;
            }
        }
    }

    /// Whether the rate limit lets the connection read now; if not, arranges to be polled when
    /// it will.
    fn throttle_allows(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(throttle) = self.throttle.as_mut() else {
            return true;
        };
        if let Some(sleep) = self.throttle_sleep.as_mut() {
            if sleep.as_mut().poll(cx).is_pending() {
                return false;
            }
            self.throttle_sleep = None;
        }
        let now = Instant::now();
        match throttle.wait(now) {
            None => true,
            Some(wait) => {
                let mut sleep = Box::pin(sleep_until(now + wait));
                // Registers this task's waker with the timer.
                let _ = sleep.as_mut().poll(cx);
                self.throttle_sleep = Some(sleep);
                false
            }
        }
    }

    /// Encode control bytes, subscriptions and queued messages into `tx`.
    fn fill_transmit(&mut self) {
        self.conn.poll_transmit(&mut self.tx);
        if !self.conn.is_ready() {
            return;
        }
        let mut core = self.core.borrow_mut();
        let sndhwm = core.options.sndhwm;
        let Some(pipe) = core.pipes.get_mut(&self.peer) else {
            return;
        };
        while let Some((topic, subscribe)) = pipe.subscription_commands.pop_front() {
            let _ = self
                .conn
                .encode_subscription(&topic, subscribe, &mut self.tx);
        }
        let was_full = super::options::Options::at_hwm(sndhwm, pipe.outq.len());
        // Encode everything queued (up to a write's worth) as one batch, straight from the
        // queue: under CURVE the whole batch is sealed in one pass.
        let queued = pipe.outq.make_contiguous();
        let mut batch_bytes = self.tx.len();
        let mut n = 0;
        while n < queued.len() && batch_bytes < WRITE_BATCH_BYTES {
            batch_bytes += queued[n].size() + 9 * queued[n].len();
            n += 1;
        }
        // The handshake is done (checked above), so encoding cannot be refused.
        let _ = self.conn.encode_messages(&queued[..n], &mut self.tx);
        pipe.outq.drain(..n);
        let sent_any = n > 0;
        if sent_any && (was_full || core.pattern.blocks_at_hwm()) {
            core.wake_senders();
        }
    }

    /// Go on with the handshake as an authentication decision says. Never called with
    /// [`AuthDecision::Pending`].
    fn apply_decision(&mut self, decision: AuthDecision) -> Option<ConnEnd> {
        match decision {
            AuthDecision::Accept { user_id, metadata } => {
                tracing::debug!(endpoint = %self.endpoint, user = %user_id, "peer authenticated");
                self.user_id = (!user_id.is_empty()).then_some(user_id);
                self.zap_metadata = metadata;
                self.conn
                    .accept_peer(Instant::now())
                    .err()
                    .map(ConnEnd::Protocol)
            }
            AuthDecision::Refuse(status_code, reason) => {
                tracing::info!(endpoint = %self.endpoint, %reason, "peer refused");
                // The peer is told the status code alone, as libzmq tells it; the reason stays
                // here, for the log and the monitor.
                let _ = self.conn.reject_peer(&status_code.to_string());
                Some(ConnEnd::Protocol(ProtocolError::AuthFailed(reason)))
            }
            AuthDecision::Fail(e) => {
                tracing::info!(endpoint = %self.endpoint, error = %e, "peer refused");
                Some(ConnEnd::Protocol(e))
            }
            AuthDecision::Pending(_) => unreachable!("pending decisions are awaited, not applied"),
        }
    }

    fn dispatch_events(&mut self) -> Option<ConnEnd> {
        let mut core = self.core.borrow_mut();
        while let Some(event) = self.conn.poll_event() {
            match event {
                Event::HandshakeSucceeded {
                    peer_socket_type,
                    peer_metadata,
                    ..
                } => {
                    if core.exclusive_taken(self.peer) {
                        tracing::debug!(%peer_socket_type, "refusing a second peer on an exclusive socket");
                        return Some(ConnEnd::Refused);
                    }
                    if !core.establish(self.peer) {
                        tracing::info!(
                            limit = core.options.max_connections,
                            "refusing a peer: max_connections established peers already"
                        );
                        return Some(ConnEnd::Refused);
                    }
                    // The properties first: a STREAM socket's connection notice, delivered as the
                    // pipe connects, carries them too.
                    if self.user_id.is_some() || core.options.message_properties {
                        let mut props = ringmq_transports::Metadata::new();
                        if core.options.message_properties {
                            for (name, value) in peer_metadata.iter() {
                                props.insert(name, value.clone());
                            }
                            for (name, value) in self.zap_metadata.iter().flat_map(|m| m.iter()) {
                                props.insert(name, value.clone());
                            }
                        }
                        if let Some(user) = &self.user_id {
                            props.insert("User-Id", user.clone().into_bytes());
                        }
                        if let Some(addr) = self.peer_address {
                            props.insert("Peer-Address", addr.to_string().into_bytes());
                        }
                        if core.options.message_properties {
                            use std::os::fd::{AsFd, AsRawFd};
                            let fd = self.fd.as_fd().as_raw_fd();
                            props.insert_local(
                                ringmq_transports::SOURCE_FD_PROPERTY,
                                fd.to_string().into_bytes(),
                            );
                        }
                        core.set_pipe_properties(self.peer, std::sync::Arc::new(props));
                    }
                    let identity = peer_metadata.get("Identity").cloned().unwrap_or_default();
                    if !core.pipe_connected(self.peer, &identity) {
                        tracing::info!("refusing a peer whose routing id is already in use");
                        return Some(ConnEnd::Refused);
                    }
                    self.handshaken = true;
                    core.emit(crate::monitor::MonitorEvent::HandshakeSucceeded {
                        endpoint: self.endpoint.clone(),
                        peer_socket_type,
                    });
                }
                Event::Authenticate(credentials) => {
                    let decision = authenticate(&core.options, credentials, self.peer_address);
                    let zap_timeout = core.options.zap_timeout;
                    drop(core);
                    if let AuthDecision::Pending(pending) = decision {
                        let deadline = Instant::now() + zap_timeout;
                        self.pending_auth = Some((pending, Box::pin(sleep_until(deadline))));
                        return None;
                    }
                    if let Some(end) = self.apply_decision(decision) {
                        return Some(end);
                    }
                    core = self.core.borrow_mut();
                }
                Event::Message(msg) => {
                    self.read_messages += 1;
                    self.read_bytes += msg.size() as u64;
                    core.deliver(self.peer, msg)
                }
                Event::Subscribe(topic) => core.peer_subscription(self.peer, &topic, true),
                Event::Cancel(topic) => core.peer_subscription(self.peer, &topic, false),
            }
        }
        None
    }
}

/// The longest a closing connection waits for its peer's end of stream after linger wrote
/// everything, whatever `linger` says: the peer only has to read what is already in the kernel.
const DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Close the way TCP closes politely, once linger has written everything: shut down our writing
/// side, so the peer reads all we sent and then our end of stream; keep reading (and discarding)
/// until the peer's own end of stream, an error, or the deadline (the linger deadline, at most
/// [`DRAIN_LIMIT`] from now); then the caller closes. Closing at once instead would reset a tcp
/// connection that still has unread input, and over ipc makes a libzmq peer whose input is
/// stopped at its RCVHWM see a hang-up and drop what it has not read yet.
async fn polite_close(fd: &IoFd, in_flight: Option<RecvOp>, linger_deadline: Option<Instant>) {
    if socket2::SockRef::from(fd)
        .shutdown(std::net::Shutdown::Write)
        .is_err()
    {
        return;
    }
    let drain = async {
        let mut buf = BytesMut::with_capacity(READ_BUFFER_BYTES);
        if let Some(op) = in_flight {
            let (result, _) = op.await;
            if !matches!(result, Ok(n) if n > 0) {
                return;
            }
        }
        loop {
            buf.clear();
            let (result, returned) = driver::recv(fd, buf).await;
            buf = returned;
            if !matches!(result, Ok(n) if n > 0) {
                return;
            }
        }
    };
    let limit = Instant::now() + DRAIN_LIMIT;
    until_deadline(drain, linger_deadline.map_or(limit, |d| d.min(limit))).await;
}

/// Run `work` until it finishes or `deadline` passes, whichever comes first.
async fn until_deadline(work: impl Future<Output = ()>, deadline: Instant) {
    let mut work = std::pin::pin!(work);
    let mut timeout = std::pin::pin!(sleep_until(deadline));
    std::future::poll_fn(|cx| {
        if work.as_mut().poll(cx).is_ready() || timeout.as_mut().poll(cx).is_ready() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
}

/// Remove the first `n` bytes from a list of chunks.
fn advance_chunks(chunks: &mut Vec<Bytes>, mut n: usize) {
    let mut first_unsent = 0;
    for chunk in chunks.iter_mut() {
        if n >= chunk.len() {
            n -= chunk.len();
            first_unsent += 1;
        } else {
            chunk.advance(n);
            break;
        }
    }
    chunks.drain(..first_unsent);
}
