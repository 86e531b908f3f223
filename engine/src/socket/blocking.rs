//! The blocking handle: a socket used from any thread the way a libzmq socket is.

use std::os::fd::RawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringmq_transports::{Message, SocketType};

use super::hosted::{Bridge, Hosted};
use super::poll::PollEvents;
use super::Options;
use crate::error::{Error, ErrorKind, SendError};
use crate::monitor::Monitor;
use crate::runtime::{block_on, ShardHandle, ShardId};
use crate::stats::SocketStats;

/// A socket usable from any thread, blocking like a libzmq socket. `Send`, not `Sync`: one thread
/// at a time, as with libzmq.
///
/// Each message crosses one lock-free queue to or from the socket's shard. The queues hold up to
/// `sndhwm` / `rcvhwm` messages (at most 65 536) on top of the per-peer queues, so a blocking socket
/// buffers up to twice its high-water marks (three messages with an HWM of 1: the hand-off queue
/// holds at least one).
pub struct BlockingSocket {
    hosted: Hosted,
    /// REQ/REP alternation, checked here so a misuse is reported to the caller at once (the shard
    /// enforces it too).
    turn: std::cell::Cell<ringmq_patterns::Turn>,
    rcvtimeo: Option<Duration>,
    sndtimeo: Option<Duration>,
}

impl std::fmt::Debug for BlockingSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingSocket")
            .field("type", &self.hosted.socket_type)
            .field("shard", &self.hosted.shard.id())
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
        let hosted = Hosted::new(shard, socket_type, options)?;
        let turn = ringmq_patterns::Turn::new(socket_type, hosted.req_relaxed);
        Ok(BlockingSocket {
            hosted,
            turn: std::cell::Cell::new(turn),
            rcvtimeo: None,
            sndtimeo: None,
        })
    }

    pub(crate) fn bridge(&self) -> &Arc<Bridge> {
        &self.hosted.bridge
    }

    /// The socket type.
    pub fn socket_type(&self) -> SocketType {
        self.hosted.socket_type
    }

    /// The shard the socket lives on.
    pub fn shard(&self) -> ShardId {
        self.hosted.shard.id()
    }

    /// Listen on `endpoint`; returns the bound endpoint (see [`super::Socket::bind`]).
    pub fn bind(&self, endpoint: &str) -> Result<String, Error> {
        let endpoint = endpoint.to_owned();
        self.hosted.call(move |s| s.bind(&endpoint))
    }

    /// Connect to `endpoint` (see [`super::Socket::connect`]).
    pub fn connect(&self, endpoint: &str) -> Result<(), Error> {
        let endpoint = endpoint.to_owned();
        self.hosted.call(move |s| s.connect(&endpoint))
    }

    /// Stop listening on `endpoint` (see [`super::Socket::unbind`]); returns once the port or
    /// file is free.
    pub fn unbind(&self, endpoint: &str) -> Result<(), Error> {
        block_on(self.hosted.unbind(endpoint))
    }

    /// Stop accepting on the socket's tcp and ipc listeners and return once their ports and
    /// socket files are free; the connections they accepted go on. For just before a close that
    /// another socket's bind of the same address follows at once: a close alone frees them in
    /// the background, soon but not before it returns.
    pub fn stop_listening(&self) -> Result<(), Error> {
        block_on(self.hosted.stop_listening())
    }

    /// Stop connecting to `endpoint` (see [`super::Socket::disconnect`]).
    pub fn disconnect(&self, endpoint: &str) -> Result<(), Error> {
        block_on(self.hosted.disconnect(endpoint))
    }

    /// Subscribe to `prefix` (SUB).
    pub fn subscribe(&self, prefix: &[u8]) -> Result<(), Error> {
        let prefix = prefix.to_vec();
        self.hosted.call(move |s| s.subscribe(&prefix))
    }

    /// Cancel a subscription to `prefix` (SUB).
    pub fn unsubscribe(&self, prefix: &[u8]) -> Result<(), Error> {
        let prefix = prefix.to_vec();
        self.hosted.call(move |s| s.unsubscribe(&prefix))
    }

    /// Replace the socket's options (see [`super::Socket::set_options`]).
    pub fn set_options(&self, options: Options) -> Result<(), Error> {
        self.hosted.options_changed(&options);
        self.hosted.call(move |s| {
            s.set_options(options);
            Ok(())
        })
    }

    /// The socket's options.
    pub fn options(&self) -> Result<Options, Error> {
        self.hosted.call(|s| Ok(s.options()))
    }

    /// Start monitoring the socket (see [`super::Socket::monitor`]); read the events from any
    /// thread.
    pub fn monitor(&self) -> Result<Monitor, Error> {
        self.hosted.call(|s| Ok(s.monitor()))
    }

    /// Number of peers whose handshake completed.
    pub fn connected_peers(&self) -> Result<usize, Error> {
        self.hosted.call(|s| Ok(s.connected_peers()))
    }

    /// Messages a PUB socket dropped at a subscriber's high-water mark, or because its hand-off
    /// queue was full.
    pub fn dropped_messages(&self) -> Result<u64, Error> {
        let on_shard = self.hosted.call(|s| Ok(s.dropped_messages()))?;
        Ok(on_shard + self.hosted.bridge.dropped.load(Ordering::Relaxed))
    }

    /// A snapshot of the socket's counters (see [`SocketStats`]), including the hand-off queues.
    pub fn stats(&self) -> Result<SocketStats, Error> {
        let bridge = self.hosted.bridge.clone();
        self.hosted
            .call(move |s| Ok(handle_stats(s.stats(), &bridge)))
    }

    /// The readiness descriptor, for foreign event loops (libzmq's `ZMQ_FD`): it becomes
    /// readable when the socket may have become readable or writable. After it does, call
    /// [`BlockingSocket::events`] (which clears it), then `try_recv` until `None` (or `try_send`
    /// until `Full`) before waiting on it again. Signals may be spurious. The descriptor belongs
    /// to the socket and closes with it: do not close it yourself.
    pub fn readiness_fd(&self) -> Result<RawFd, Error> {
        self.hosted.bridge.readiness_fd()
    }

    /// The readiness descriptor as an owned value that keeps it open (for registering with an
    /// event loop such as tokio's `AsyncFd`); same contract as `readiness_fd`.
    pub fn readiness(&self) -> Result<super::hosted::Readiness, Error> {
        super::hosted::Readiness::new(&self.hosted.bridge)
    }

    /// Clear the readiness descriptor and say what the socket can do now without waiting
    /// (libzmq's `ZMQ_EVENTS`).
    pub fn events(&self) -> PollEvents {
        self.hosted.bridge.events()
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

    /// ROUTER: whether a message to the peer with `routing_id` would be taken now: `None` when no
    /// connected peer has that id, `Some(false)` when the peer's queue is at the send HWM (as
    /// libzmq's draft `zmq_socket_get_peer_state` tells `ZMQ_POLLOUT`). Lets a caller that
    /// assembles a message frame by frame refuse its first frame under `router_mandatory`, as
    /// libzmq does (`EHOSTUNREACH`, `EAGAIN`). Other socket types: `None`.
    pub fn peer_state(&self, routing_id: &[u8]) -> Result<Option<bool>, Error> {
        self.hosted.peer_state(routing_id)
    }

    /// Whether sends are counted against the credit of an only, inproc peer now
    /// (`Options::exact_inproc_hwm`): then at most `sndhwm` + the peer's `rcvhwm` messages are
    /// on their way, hand-off queues included, and a send that finds the hand-off queue full
    /// may be retried once the shard moved it on ([`crate::Runtime::settle`]) without the
    /// queues holding more than that.
    pub fn counts_inproc_credit(&self) -> bool {
        self.hosted.bridge.has_credit()
    }

    /// Wait up to `timeout` (`None`: forever) until a send would be taken without waiting;
    /// false when the time ran out or the socket closed. For callers that assemble a message
    /// frame by frame and must refuse its first frame as libzmq does (`EAGAIN`).
    pub fn wait_writable(&self, timeout: Option<Duration>) -> bool {
        if self.hosted.synchronous_send() {
            return true; // decided per message on the shard
        }
        let bridge = &self.hosted.bridge;
        bridge.wait(timeout.map(|t| Instant::now() + t), || bridge.has_room())
    }

    fn send_until(&self, msg: Message, deadline: Option<Instant>) -> Result<(), SendError> {
        let msg = self.hosted.check_send(msg)?;
        if let Err(e) = self.turn.get().check_send() {
            return Err(SendError::Failed(
                Error::new(ErrorKind::InvalidState, e.to_string()),
                msg,
            ));
        }
        if self.hosted.synchronous_send() {
            return self.send_synchronously(msg, deadline);
        }
        let mut msg = msg;
        loop {
            match self.hosted.try_push(msg) {
                Ok(()) => {
                    let mut turn = self.turn.get();
                    turn.sent();
                    self.turn.set(turn);
                    return Ok(());
                }
                Err(SendError::Full(m)) => msg = m,
                Err(e) => return Err(e),
            }
            let bridge = &self.hosted.bridge;
            if !bridge.wait(deadline, || bridge.has_room()) {
                return Err(SendError::Full(msg));
            }
        }
    }

    fn send_synchronously(&self, msg: Message, deadline: Option<Instant>) -> Result<(), SendError> {
        let mut msg = msg;
        let mut pause = Duration::from_micros(50);
        loop {
            match self.hosted.try_send_on_shard(msg) {
                Err(SendError::Full(m)) => msg = m,
                result => return result,
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

    /// Take a message if one is waiting: in the hand-off queue or in the socket itself (whose
    /// messages the shard is moving to the hand-off queue; `None` only once the socket has
    /// none). A message still on its way from a peer, inproc ones included, is not waiting yet.
    pub fn try_recv(&self) -> Result<Option<Message>, Error> {
        match self.recv_until(Some(Instant::now())) {
            Ok(m) => Ok(Some(m)),
            Err(e) if e.kind() == ErrorKind::Timeout => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn recv_until(&self, deadline: Option<Instant>) -> Result<Message, Error> {
        if !ringmq_patterns::Pattern::can_recv(self.hosted.socket_type) {
            return Err(Error::new(
                ErrorKind::NotSupported,
                format!("{} sockets cannot receive", self.hosted.socket_type),
            ));
        }
        if let Err(e) = self.turn.get().check_recv() {
            return Err(Error::new(ErrorKind::InvalidState, e.to_string()));
        }
        loop {
            if let Some(m) = self.hosted.try_pop()? {
                let mut turn = self.turn.get();
                turn.received();
                self.turn.set(turn);
                return Ok(m);
            }
            let bridge = &self.hosted.bridge;
            if bridge.wait(deadline, || !bridge.from_shard.is_empty()) {
                continue;
            }
            // Time is up and the hand-off queue is empty, but messages the socket already holds
            // count as there, as in libzmq: wait for the pump to move them or to find the socket
            // empty (microseconds; a stalled shard is given 100 ms).
            if bridge.socket_has_more.load(Ordering::SeqCst) {
                let moved = || {
                    !bridge.from_shard.is_empty() || !bridge.socket_has_more.load(Ordering::SeqCst)
                };
                bridge.wait(Some(Instant::now() + Duration::from_millis(100)), moved);
                if !bridge.from_shard.is_empty() {
                    continue;
                }
            }
            return Err(Error::new(
                ErrorKind::Timeout,
                "no message within the receive timeout",
            ));
        }
    }
}

/// A hosted socket's stats with its hand-off queues counted in.
pub(crate) fn handle_stats(mut stats: SocketStats, bridge: &Bridge) -> SocketStats {
    // What the hand-off queue dropped was sent by the application and dropped by the socket.
    stats.dropped.handoff_full = bridge.dropped.load(Ordering::Relaxed);
    stats.messages_sent += stats.dropped.handoff_full;
    stats.bytes_sent += bridge.dropped_bytes.load(Ordering::Relaxed);
    stats.queued_out +=
        bridge.to_shard.len() + usize::from(bridge.pump_holding.load(Ordering::SeqCst));
    stats.queued_in += bridge.from_shard.len();
    stats
}

impl Drop for BlockingSocket {
    fn drop(&mut self) {
        // The hosted socket closes on its shard: first every message `send` accepted is handed to
        // the socket (within `linger`), then the socket lingers on its queues as usual.
        self.hosted.close();
    }
}
