//! Per-socket counters: a cheap snapshot ([`SocketStats`], from `stats()` on every socket API) and,
//! with the `metrics` cargo feature, the same figures published through the [`metrics`] facade.
//!
//! The counters live with the socket on its shard as plain integers (no atomics on the message
//! path); a snapshot is taken there. Events are counted where the monitor events are made, so a
//! counter and its monitor event cannot disagree.

use crate::monitor::{HandshakeFailure, MonitorEvent};

/// Messages a socket dropped instead of queueing, by reason.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounts {
    /// A peer's queue was at its high-water mark (PUB, XPUB, RADIO-like fan-out; ROUTER without
    /// `router_mandatory`).
    pub peer_at_hwm: u64,
    /// ROUTER without `router_mandatory`: no peer has the message's routing id.
    pub unroutable: u64,
    /// A non-blocking type's hand-off queue between an application thread and the shard was full
    /// (PUB used through [`crate::BlockingSocket`] or [`crate::AsyncSocket`]).
    pub handoff_full: u64,
    /// XPUB: subscription messages (and subscribers' own messages) for an application that did
    /// not read them, past the bound of its queue (100 000).
    pub subscription_notices: u64,
}

impl DropCounts {
    /// Every drop, whatever the reason.
    pub fn total(&self) -> u64 {
        self.peer_at_hwm + self.unroutable + self.handoff_full + self.subscription_notices
    }
}

/// Handshakes that failed, by reason.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HandshakeFailures {
    /// The peer broke ZMTP, took too long, or could not be served (wrong socket type, routing id
    /// in use, closed to make room under `max_handshakes`).
    pub protocol: u64,
    /// The peer was not authenticated or not authorised (PLAIN/CURVE/ZAP refusals). Also counted
    /// in [`SocketStats::auth_refusals`].
    pub auth: u64,
}

/// A snapshot of one socket's counters since it was created.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocketStats {
    /// Messages the socket accepted for sending (queued for at least one peer, or dropped as
    /// counted in `dropped`).
    pub messages_sent: u64,
    /// Bytes of those messages (every frame's body).
    pub bytes_sent: u64,
    /// Messages delivered to the application.
    pub messages_received: u64,
    /// Bytes of those messages.
    pub bytes_received: u64,
    /// Messages dropped, by reason.
    pub dropped: DropCounts,
    /// Messages queued for peers now (every pipe's outgoing queue, plus the hand-off queue of a
    /// blocking or async handle).
    pub queued_out: usize,
    /// Messages received and not yet taken by the application now.
    pub queued_in: usize,
    /// The socket's send high-water mark (per peer; 0: none), for comparison with `queued_out`.
    pub sndhwm: usize,
    /// The socket's receive high-water mark (per peer; 0: none).
    pub rcvhwm: usize,
    /// Connections this socket made (`connect` side, handshake not necessarily done).
    pub connects: u64,
    /// Connections its listeners accepted.
    pub accepts: u64,
    /// Established connections that ended.
    pub disconnects: u64,
    /// Reconnection attempts scheduled after a failed attempt or a dropped connection.
    pub reconnect_attempts: u64,
    /// Handshakes that failed, by reason.
    pub handshake_failures: HandshakeFailures,
    /// Peers refused by authentication (PLAIN, CURVE, ZAP).
    pub auth_refusals: u64,
    /// Peers connected now (handshake done).
    pub connected_peers: usize,
}

/// The counters a socket keeps on its shard; [`SocketStats`] is their snapshot.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) messages_sent: u64,
    pub(crate) bytes_sent: u64,
    pub(crate) messages_received: u64,
    pub(crate) bytes_received: u64,
    pub(crate) dropped: DropCounts,
    pub(crate) connects: u64,
    pub(crate) accepts: u64,
    pub(crate) disconnects: u64,
    pub(crate) reconnect_attempts: u64,
    pub(crate) handshake_failures: HandshakeFailures,
    pub(crate) auth_refusals: u64,
}

impl Counters {
    /// Count what `event` says happened.
    pub(crate) fn count(&mut self, event: &MonitorEvent) {
        match event {
            MonitorEvent::Connected { .. } => self.connects += 1,
            MonitorEvent::Accepted { .. } => self.accepts += 1,
            MonitorEvent::Disconnected { .. } => self.disconnects += 1,
            MonitorEvent::ConnectRetried { .. } => self.reconnect_attempts += 1,
            MonitorEvent::HandshakeFailed { reason, .. } => match reason {
                HandshakeFailure::Protocol(_) => self.handshake_failures.protocol += 1,
                // Counted as the disconnect that follows it.
                HandshakeFailure::Connection { .. } => {}
                HandshakeFailure::Auth(_) => {
                    self.handshake_failures.auth += 1;
                    self.auth_refusals += 1;
                }
            },
            _ => {}
        }
    }

    pub(crate) fn sent(&mut self, bytes: usize) {
        self.messages_sent += 1;
        self.bytes_sent += bytes as u64;
    }

    pub(crate) fn received(&mut self, bytes: usize) {
        self.messages_received += 1;
        self.bytes_received += bytes as u64;
    }
}

/// Publishing to the `metrics` facade (feature `metrics`): every counter as
/// `ringmq_<name>` (counters, set with `absolute`) and the queue depths as gauges, labelled
/// `socket_type`, `endpoint` (the socket's endpoints, space-separated) and `socket` (a
/// process-unique id, so two sockets on one endpoint stay apart).
#[cfg(feature = "metrics")]
pub(crate) fn publish(socket: u64, socket_type: &str, endpoints: &str, stats: &SocketStats) {
    let labels = [
        ("socket_type", socket_type.to_owned()),
        ("endpoint", endpoints.to_owned()),
        ("socket", socket.to_string()),
    ];
    let counters: [(&'static str, u64); 15] = [
        ("ringmq_messages_sent_total", stats.messages_sent),
        ("ringmq_bytes_sent_total", stats.bytes_sent),
        ("ringmq_messages_received_total", stats.messages_received),
        ("ringmq_bytes_received_total", stats.bytes_received),
        (
            "ringmq_dropped_peer_at_hwm_total",
            stats.dropped.peer_at_hwm,
        ),
        ("ringmq_dropped_unroutable_total", stats.dropped.unroutable),
        (
            "ringmq_dropped_handoff_full_total",
            stats.dropped.handoff_full,
        ),
        (
            "ringmq_dropped_subscription_notices_total",
            stats.dropped.subscription_notices,
        ),
        ("ringmq_connects_total", stats.connects),
        ("ringmq_accepts_total", stats.accepts),
        ("ringmq_disconnects_total", stats.disconnects),
        ("ringmq_reconnect_attempts_total", stats.reconnect_attempts),
        (
            "ringmq_handshake_failures_protocol_total",
            stats.handshake_failures.protocol,
        ),
        (
            "ringmq_handshake_failures_auth_total",
            stats.handshake_failures.auth,
        ),
        ("ringmq_auth_refusals_total", stats.auth_refusals),
    ];
    for (name, value) in counters {
        metrics::counter!(name, &labels).absolute(value);
    }
    let gauges: [(&'static str, usize); 5] = [
        ("ringmq_queued_out", stats.queued_out),
        ("ringmq_queued_in", stats.queued_in),
        ("ringmq_sndhwm", stats.sndhwm),
        ("ringmq_rcvhwm", stats.rcvhwm),
        ("ringmq_connected_peers", stats.connected_peers),
    ];
    for (name, value) in gauges {
        metrics::gauge!(name, &labels).set(value as f64);
    }
}
