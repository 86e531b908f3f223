//! Socket monitoring: a stream of what happens to a socket's endpoints and connections, as
//! libzmq's `zmq_socket_monitor` reports it (names follow its `ZMQ_EVENT_*` events).
//!
//! A [`Monitor`] is `Send`: read it from a task (`recv().await`) or from any thread
//! (`recv_timeout`). Events are kept in a bounded queue; when a reader falls behind, new events are
//! dropped and counted ([`Monitor::dropped`]) rather than growing memory.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use atomic_waker::AtomicWaker;
use crossbeam_queue::ArrayQueue;
use ringmq_transports::SocketType;

/// Events a monitor queue holds before it drops new ones.
const MONITOR_QUEUE_LEN: usize = 4096;

/// Why a handshake failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// The peer broke ZMTP (bad greeting, wrong socket type, oversize frame, timeout...).
    Protocol(String),
    /// The peer was not authenticated or not authorised.
    Auth(String),
    /// The connection ended before the handshake did: the peer closed it or the network failed
    /// (`ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL`, whose value is `errno`: `EPIPE` for a peer that
    /// closed, as libzmq reports it). A `disconnected` event follows.
    Connection {
        /// What happened, in words.
        reason: String,
        /// The error number libzmq would report.
        errno: i32,
    },
}

impl HandshakeFailure {
    /// libzmq's `ZMQ_PROTOCOL_ERROR_*` number for a protocol failure (the value of its
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL`), from the failure's reason as ringmq's protocol
    /// errors word it; `ZMQ_PROTOCOL_ERROR_ZMTP_UNSPECIFIED` where libzmq has no closer one.
    /// `None` for an authentication failure.
    pub fn zmq_protocol_error(&self) -> Option<u32> {
        const UNSPECIFIED: u32 = 0x1000_0000;
        let HandshakeFailure::Protocol(reason) = self else {
            return None;
        };
        if let Some(fault) = reason.strip_prefix("ZAP handler: ") {
            use ringmq_transports::zap::ZapError;
            let faults = [
                ZapError::Frames("reply"),
                ZapError::RequestId,
                ZapError::Version,
                ZapError::Status,
                ZapError::Metadata,
            ];
            return Some(
                faults
                    .iter()
                    .find(|e| e.to_string() == fault)
                    .map_or(0x2000_0000, ZapError::zmq_protocol_error), // ZAP_UNSPECIFIED
            );
        }
        let code = if reason.starts_with("CURVE: ") {
            0x1100_0001 // CRYPTOGRAPHIC
        } else if reason.starts_with("security mechanism mismatch") {
            0x1100_0002 // MECHANISM_MISMATCH
        } else if reason.starts_with("unexpected ") {
            0x1000_0001 // UNEXPECTED_COMMAND
        } else if reason.starts_with("invalid READY metadata")
            || reason.starts_with("malformed metadata")
        {
            0x1000_0018 // INVALID_METADATA
        } else if let Some(command) = reason
            .strip_prefix("malformed ")
            .and_then(|r| r.strip_suffix(" command"))
        {
            match command {
                "MESSAGE" => 0x1000_0012,
                "HELLO" => 0x1000_0013,
                "INITIATE" => 0x1000_0014,
                "ERROR" => 0x1000_0015,
                "READY" => 0x1000_0016,
                "WELCOME" => 0x1000_0017,
                _ => 0x1000_0011, // MALFORMED_COMMAND_UNSPECIFIED
            }
        } else {
            UNSPECIFIED
        };
        Some(code)
    }
}

/// One event on a socket. `endpoint` is the endpoint bound or connected to.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MonitorEvent {
    /// A listener is up (`ZMQ_EVENT_LISTENING`).
    Listening {
        /// The bound endpoint.
        endpoint: String,
    },
    /// A bind failed (`ZMQ_EVENT_BIND_FAILED`).
    BindFailed {
        /// The endpoint asked for.
        endpoint: String,
        /// Why.
        error: String,
    },
    /// A peer connected to a listener (`ZMQ_EVENT_ACCEPTED`).
    Accepted {
        /// The listener's endpoint.
        endpoint: String,
    },
    /// Accepting failed (`ZMQ_EVENT_ACCEPT_FAILED`).
    AcceptFailed {
        /// The listener's endpoint.
        endpoint: String,
        /// Why.
        error: String,
    },
    /// A connection attempt is under way (`ZMQ_EVENT_CONNECT_DELAYED`).
    ConnectDelayed {
        /// The endpoint connected to.
        endpoint: String,
    },
    /// An attempt failed or a connection dropped; the next one comes after `interval`
    /// (`ZMQ_EVENT_CONNECT_RETRIED`).
    ConnectRetried {
        /// The endpoint connected to.
        endpoint: String,
        /// Time until the next attempt.
        interval: Duration,
    },
    /// A connection to the endpoint is up (`ZMQ_EVENT_CONNECTED`).
    Connected {
        /// The endpoint connected to.
        endpoint: String,
    },
    /// The ZMTP handshake completed (`ZMQ_EVENT_HANDSHAKE_SUCCEEDED`).
    HandshakeSucceeded {
        /// The endpoint.
        endpoint: String,
        /// The peer's socket type.
        peer_socket_type: SocketType,
    },
    /// The ZMTP handshake failed (`ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL` / `_AUTH`).
    HandshakeFailed {
        /// The endpoint.
        endpoint: String,
        /// Why.
        reason: HandshakeFailure,
    },
    /// An established connection ended (`ZMQ_EVENT_DISCONNECTED`).
    Disconnected {
        /// The endpoint.
        endpoint: String,
        /// Why, in words.
        reason: String,
    },
    /// A listener closed (`ZMQ_EVENT_CLOSED`).
    Closed {
        /// The endpoint.
        endpoint: String,
    },
}

impl MonitorEvent {
    /// The event's name: `listening`, `bind-failed`, `accepted`, `accept-failed`,
    /// `connect-delayed`, `connect-retried`, `connected`, `handshake-succeeded`,
    /// `handshake-failed`, `disconnected`, `closed`.
    pub fn name(&self) -> &'static str {
        match self {
            MonitorEvent::Listening { .. } => "listening",
            MonitorEvent::BindFailed { .. } => "bind-failed",
            MonitorEvent::Accepted { .. } => "accepted",
            MonitorEvent::AcceptFailed { .. } => "accept-failed",
            MonitorEvent::ConnectDelayed { .. } => "connect-delayed",
            MonitorEvent::ConnectRetried { .. } => "connect-retried",
            MonitorEvent::Connected { .. } => "connected",
            MonitorEvent::HandshakeSucceeded { .. } => "handshake-succeeded",
            MonitorEvent::HandshakeFailed { .. } => "handshake-failed",
            MonitorEvent::Disconnected { .. } => "disconnected",
            MonitorEvent::Closed { .. } => "closed",
        }
    }

    /// libzmq's `ZMQ_EVENT_*` number for this event.
    pub fn zmq_event(&self) -> u16 {
        match self {
            MonitorEvent::Connected { .. } => 0x0001,
            MonitorEvent::ConnectDelayed { .. } => 0x0002,
            MonitorEvent::ConnectRetried { .. } => 0x0004,
            MonitorEvent::Listening { .. } => 0x0008,
            MonitorEvent::BindFailed { .. } => 0x0010,
            MonitorEvent::Accepted { .. } => 0x0020,
            MonitorEvent::AcceptFailed { .. } => 0x0040,
            MonitorEvent::Closed { .. } => 0x0080,
            MonitorEvent::Disconnected { .. } => 0x0200,
            MonitorEvent::HandshakeFailed {
                reason: HandshakeFailure::Auth(_),
                ..
            } => 0x4000,
            MonitorEvent::HandshakeFailed {
                reason: HandshakeFailure::Connection { .. },
                ..
            } => 0x0800,
            MonitorEvent::HandshakeFailed { .. } => 0x2000,
            MonitorEvent::HandshakeSucceeded { .. } => 0x1000,
        }
    }

    /// The endpoint the event is about.
    pub fn endpoint(&self) -> &str {
        match self {
            MonitorEvent::Listening { endpoint }
            | MonitorEvent::BindFailed { endpoint, .. }
            | MonitorEvent::Accepted { endpoint }
            | MonitorEvent::AcceptFailed { endpoint, .. }
            | MonitorEvent::ConnectDelayed { endpoint }
            | MonitorEvent::ConnectRetried { endpoint, .. }
            | MonitorEvent::Connected { endpoint }
            | MonitorEvent::HandshakeSucceeded { endpoint, .. }
            | MonitorEvent::HandshakeFailed { endpoint, .. }
            | MonitorEvent::Disconnected { endpoint, .. }
            | MonitorEvent::Closed { endpoint } => endpoint,
        }
    }
}

impl std::fmt::Display for MonitorEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.name(), self.endpoint())?;
        match self {
            MonitorEvent::BindFailed { error, .. } | MonitorEvent::AcceptFailed { error, .. } => {
                write!(f, ": {error}")
            }
            MonitorEvent::ConnectRetried { interval, .. } => write!(f, " in {interval:?}"),
            MonitorEvent::HandshakeSucceeded {
                peer_socket_type, ..
            } => write!(f, " peer {peer_socket_type}"),
            MonitorEvent::HandshakeFailed { reason, .. } => match reason {
                HandshakeFailure::Protocol(r) => write!(f, ": protocol: {r}"),
                HandshakeFailure::Auth(r) => write!(f, ": auth: {r}"),
                HandshakeFailure::Connection { reason, .. } => write!(f, ": connection: {reason}"),
            },
            MonitorEvent::Disconnected { reason, .. } => write!(f, ": {reason}"),
            _ => Ok(()),
        }
    }
}

/// The queue between a socket and one monitor.
pub(crate) struct MonitorShared {
    queue: ArrayQueue<MonitorEvent>,
    waker: AtomicWaker,
    /// The thread blocked in `recv_timeout`, if any.
    reader: crate::park::ThreadParker,
    dropped: AtomicU64,
    closed: AtomicBool,
}

impl MonitorShared {
    pub(crate) fn push(&self, event: MonitorEvent) {
        if self.queue.push(event).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.wake();
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.wake();
    }

    fn wake(&self) {
        self.waker.wake();
        self.reader.unpark();
    }
}

/// The event stream of one socket. Dropping it stops the monitoring.
pub struct Monitor {
    shared: Arc<MonitorShared>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("queued", &self.shared.queue.len())
            .finish()
    }
}

impl Monitor {
    pub(crate) fn new() -> (Monitor, Arc<MonitorShared>) {
        let shared = Arc::new(MonitorShared {
            queue: ArrayQueue::new(MONITOR_QUEUE_LEN),
            waker: AtomicWaker::new(),
            reader: crate::park::ThreadParker::new(),
            dropped: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        });
        (
            Monitor {
                shared: shared.clone(),
            },
            shared,
        )
    }

    /// The next event if one is queued.
    pub fn try_recv(&self) -> Option<MonitorEvent> {
        self.shared.queue.pop()
    }

    /// Wait for the next event; `None` once the socket is closed and every event read.
    ///
    /// # Cancel safety
    /// Cancel-safe: an event is taken only when the future completes.
    pub async fn recv(&self) -> Option<MonitorEvent> {
        std::future::poll_fn(|cx| {
            if let Some(e) = self.shared.queue.pop() {
                return Poll::Ready(Some(e));
            }
            self.shared.waker.register(cx.waker());
            if let Some(e) = self.shared.queue.pop() {
                return Poll::Ready(Some(e));
            }
            if self.shared.closed.load(Ordering::SeqCst) {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await
    }

    /// Block the calling thread up to `timeout` for the next event.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<MonitorEvent> {
        let deadline = Instant::now() + timeout;
        let shared = &self.shared;
        shared.reader.wait_until(
            Some(deadline),
            timeout,
            || !shared.queue.is_empty(),
            || shared.closed.load(Ordering::SeqCst),
        );
        shared.queue.pop()
    }

    /// Block up to `timeout` for the first event named `name` (see [`MonitorEvent::name`]),
    /// skipping the others; `None` if none came in time.
    pub fn wait_for(&self, name: &str, timeout: Duration) -> Option<MonitorEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = self.recv_timeout(left)?;
            if event.name() == name {
                return Some(event);
            }
        }
    }

    /// Events dropped because this monitor's queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod protocol_error_tests {
    use super::HandshakeFailure;
    use ringmq_transports::ProtocolError;

    /// The classification reads the words ringmq's own protocol errors print, so it is checked
    /// against them, not against copies of the strings.
    #[test]
    fn libzmq_codes_from_protocol_errors() {
        let code =
            |e: ProtocolError| HandshakeFailure::Protocol(e.to_string()).zmq_protocol_error();
        assert_eq!(code(ProtocolError::Crypto("HELLO box")), Some(0x1100_0001));
        assert_eq!(
            code(ProtocolError::UnexpectedCommand("PING".into())),
            Some(0x1000_0001)
        );
        assert_eq!(code(ProtocolError::InvalidMetadata("x")), Some(0x1000_0018));
        assert_eq!(
            code(ringmq_transports::error::DecodeError::MalformedCommand("HELLO").into()),
            Some(0x1000_0013)
        );
        assert_eq!(code(ProtocolError::HandshakeTimeout), Some(0x1000_0000));
        use ringmq_transports::zap::ZapError;
        for (fault, expected) in [
            (ZapError::Frames("reply"), 0x2000_0001),
            (ZapError::RequestId, 0x2000_0002),
            (ZapError::Version, 0x2000_0003),
            (ZapError::Status, 0x2000_0004),
            (ZapError::Metadata, 0x2000_0005),
        ] {
            assert_eq!(code(ProtocolError::ZapReply(fault)), Some(expected));
        }
        assert_eq!(
            HandshakeFailure::Auth("ZAP 400: no".into()).zmq_protocol_error(),
            None
        );
    }
}
