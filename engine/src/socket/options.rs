//! Socket options, named as libzmq names them (zmq_setsockopt(3)).

use std::time::Duration;

use std::sync::Arc;

use bytes::Bytes;

use crate::security::{Authorizer, KeyPair, Mechanism, PublicKey, SecurityPolicy};

/// Options of one socket. Set them before `bind`/`connect`; later changes apply to new connections.
#[derive(Debug, Clone)]
pub struct Options {
    /// High-water mark for outgoing messages, per peer, in messages (libzmq `ZMQ_SNDHWM`, default
    /// 1000). 0 means no limit.
    pub sndhwm: usize,
    /// High-water mark for incoming messages, per peer, in messages (`ZMQ_RCVHWM`, default 1000).
    /// 0 means no limit.
    pub rcvhwm: usize,
    /// How long `close` waits for queued messages to be written (`ZMQ_LINGER`). `None`: forever.
    /// Default 30 s (libzmq's default is forever, which hangs many programs at exit).
    pub linger: Option<Duration>,
    /// Largest inbound message in bytes; a peer that sends more is disconnected
    /// (`ZMQ_MAXMSGSIZE`). `None`: unlimited. Default 16 MiB.
    pub max_msg_size: Option<u64>,
    /// Time a peer has to finish the ZMTP handshake (`ZMQ_HANDSHAKE_IVL`). Default 30 s.
    pub handshake_timeout: Option<Duration>,
    /// Time a peer has to send its 64-byte greeting, shorter than the whole handshake's, so a
    /// peer that connects and says nothing is closed first. `None`: only `handshake_timeout`.
    /// Default 10 s.
    pub greeting_timeout: Option<Duration>,
    /// First reconnect interval (`ZMQ_RECONNECT_IVL`, default 100 ms).
    pub reconnect_ivl: Duration,
    /// Whether a connect whose attempt fails or whose connection ends tries again (default
    /// true). Off (`ZMQ_RECONNECT_IVL` -1): the connect is then over, as if disconnected: its
    /// endpoint is forgotten (connecting to it again is allowed) and what was queued for that
    /// peer is dropped.
    pub reconnect: bool,
    /// Stop reconnecting once a handshake fails: the server refused our credentials, or the
    /// peer broke the protocol (libzmq's `ZMQ_RECONNECT_STOP_HANDSHAKE_FAILED`). The connect is
    /// then over, as with `reconnect` off. A handshake that times out, or a connection the peer
    /// just closes (a ZAP temporary failure, 300), still reconnects. Default false: keys or a
    /// peer's configuration may be fixed, and the next attempt succeed. The C ABI sets it, as
    /// libzmq 4.3 ends a session after a protocol error.
    pub reconnect_stop_handshake_failed: bool,
    /// Upper bound of the exponential reconnect back-off (`ZMQ_RECONNECT_IVL_MAX`). Zero: no
    /// back-off, always `reconnect_ivl`. Default 0, as libzmq.
    pub reconnect_ivl_max: Duration,
    /// Send a ZMTP PING this often (`ZMQ_HEARTBEAT_IVL`). `None` (default): no heartbeats.
    pub heartbeat_ivl: Option<Duration>,
    /// Disconnect when a PING gets no traffic back within this time (`ZMQ_HEARTBEAT_TIMEOUT`).
    pub heartbeat_timeout: Option<Duration>,
    /// The time-to-live this socket's PINGs carry (`ZMQ_HEARTBEAT_TTL`, in whole deciseconds on
    /// the wire): the peer disconnects when it hears nothing from us for that long; zero asks
    /// for no limit. `None` (default): the heartbeat timeout. The C ABI starts at zero, as
    /// libzmq does.
    pub heartbeat_ttl: Option<Duration>,
    /// Our routing id, sent in the handshake (`ZMQ_ROUTING_ID`).
    pub routing_id: Option<Bytes>,
    /// Most established peers (handshake done) this socket's listeners serve at once; a peer that
    /// completes its handshake beyond it is refused. Peers still in the handshake count against
    /// `max_handshakes` instead, so unauthenticated connections cannot lock real peers out.
    /// Default 1024.
    pub max_connections: usize,
    /// Most accepted connections still in the handshake (not yet authenticated) at once; when one
    /// more arrives at the limit, the oldest of them is closed to make room. Bounds what a flood
    /// of idle or stalled connections holds, and lets a real peer in during one. Default 256.
    pub max_handshakes: usize,
    /// Listen backlog (`ZMQ_BACKLOG`, default 100).
    pub backlog: i32,
    /// REQ: allow a new request before the reply to the last one (`ZMQ_REQ_RELAXED`).
    pub req_relaxed: bool,
    /// REQ: prefix requests with an id and drop replies that do not carry it
    /// (`ZMQ_REQ_CORRELATE`).
    pub req_correlate: bool,
    /// ROUTER: refuse unroutable messages (`ErrorKind::HostUnreachable`) and report a full peer
    /// (`SendError::Full`) instead of dropping silently (`ZMQ_ROUTER_MANDATORY`).
    pub router_mandatory: bool,
    /// ROUTER: a new peer claiming a routing id in use takes it over (`ZMQ_ROUTER_HANDOVER`);
    /// otherwise the new peer is refused.
    pub router_handover: bool,
    /// XPUB: pass every subscription to the application, not only new ones
    /// (`ZMQ_XPUB_VERBOSE`).
    pub xpub_verbose: bool,
    /// XPUB: as `xpub_verbose`, and pass each peer's unsubscribe on too, not only the last one
    /// for a prefix (`ZMQ_XPUB_VERBOSER`).
    pub xpub_verboser: bool,
    /// XPUB: subscriptions from peers are passed to the application only, not applied; the
    /// application applies them with `subscribe`/`unsubscribe` on the XPUB, which act on the peer
    /// whose subscription message it received last (`ZMQ_XPUB_MANUAL`).
    pub xpub_manual: bool,
    /// XPUB: a message sent to each new subscriber when it connects (`ZMQ_XPUB_WELCOME_MSG`).
    pub xpub_welcome_msg: Option<Bytes>,
    /// PUB, XPUB: when a subscriber is at its HWM, refuse the send (`SendError::Full`, or wait)
    /// instead of dropping the message for that subscriber (`ZMQ_XPUB_NODROP`).
    pub xpub_nodrop: bool,
    /// Keep only the newest message in each peer's queues, inbound and outbound: a new one
    /// replaces what is waiting (`ZMQ_CONFLATE`; for single-part messages on PUSH, PULL, PUB,
    /// SUB, DEALER and PAIR, where libzmq allows it).
    pub conflate: bool,
    /// SUB, XSUB, PUB, XPUB: match the messages that do *not* start with a subscribed prefix
    /// (`ZMQ_INVERT_MATCHING`; set it on both sides, as the publisher filters too).
    pub invert_matching: bool,
    /// ROUTER, DEALER, REQ: send an empty message to each new peer as soon as its connection is
    /// up, so a ROUTER peer learns our routing id before we send (`ZMQ_PROBE_ROUTER`).
    pub probe_router: bool,
    /// Queue messages only on connections that are up (`ZMQ_IMMEDIATE`): a connect-side peer
    /// takes part in load balancing from its handshake until its disconnection, not from the
    /// `connect` call. Default false (libzmq's default too).
    pub immediate: bool,
    /// `bind` takes over this descriptor, a tcp or ipc socket the program has bound (and may
    /// have made listen), instead of making one (`ZMQ_USE_FD`). The socket owns and closes it
    /// from then on. Default `None`.
    pub use_fd: Option<std::os::fd::RawFd>,
    /// STREAM: tell the application of each connection and disconnection with a message of the
    /// peer's routing id and an empty frame (`ZMQ_STREAM_NOTIFY`). Default true.
    pub stream_notify: bool,
    /// tcp listeners accept only peers whose address is in one of these networks; others are
    /// closed at once, before any byte is read (`ZMQ_TCP_ACCEPT_FILTER`). Empty (default): any.
    pub tcp_accept_filter: Vec<crate::security::IpNet>,
    /// ipc listeners accept only peers whose credentials (`SO_PEERCRED`) match one of these: the
    /// peer process's user id, its group id or one of its user's supplementary groups, or its
    /// process id (`ZMQ_IPC_FILTER_UID`, `_GID`, `_PID`). All empty (default): any peer.
    pub ipc_accept_filter: IpcFilter,
    /// ROUTER: the routing id to give the peer of the next `connect` (`ZMQ_CONNECT_ROUTING_ID`);
    /// taken by that connect. Default `None`.
    pub connect_routing_id: Option<Bytes>,
    /// Permissions of ipc socket files this socket binds. Default 0o600: owner only.
    pub ipc_mode: u32,
    /// Allow binding ipc in a world-writable directory without the sticky bit (refused by
    /// default: another user could swap the socket file).
    pub ipc_allow_insecure_dir: bool,
    /// The security mechanism and this socket's role in it (NULL by default). See
    /// [`Options::curve_server`], [`Options::curve_client`], [`Options::plain_server`],
    /// [`Options::plain_client`].
    pub security: Mechanism,
    /// Decides which peers a PLAIN or CURVE server accepts. `None`: any peer that completes the
    /// handshake (libzmq without a ZAP handler).
    pub authorizer: Option<Arc<Authorizer>>,
    /// `RequireCurve` refuses tcp binds and connects that are not CURVE.
    pub policy: SecurityPolicy,
    /// The ZAP domain sent to the handler (`ZMQ_ZAP_DOMAIN`). Default "".
    pub zap_domain: String,
    /// How long a server waits for the ZAP handler's reply before refusing the peer. Default 5 s.
    pub zap_timeout: Duration,
    /// Ask the ZAP handler at this endpoint instead of `inproc://zeromq.zap.01` (which is asked
    /// only when something is bound there). Lets a handler in another process or library, e.g.
    /// a libzmq REP socket on ipc, decide for a ringmq server. Default `None`.
    pub zap_endpoint: Option<String>,
    /// Most bytes and messages per second read from each peer (a token bucket per connection,
    /// holding one second's worth). Reading pauses when it is spent, so a flooding peer is slowed
    /// by TCP flow control; nothing it sent is dropped. `None` (default): no limit.
    pub inbound_rate: Option<RateLimit>,
    /// Most distinct prefixes one peer may subscribe to (PUB, XPUB): a peer that subscribes to
    /// more is disconnected, so subscriptions cannot grow the socket's tries without bound.
    /// Default 100 000.
    pub max_subscriptions: usize,
    /// Attach each peer's connection properties to the messages it sends us, for
    /// [`Message::property`](crate::Message::property): the peer's handshake metadata
    /// (`Socket-Type`, `Identity`, application `X-` properties), `Peer-Address` (tcp),
    /// `User-Id` (PLAIN, CURVE) and the connection's descriptor under
    /// [`SOURCE_FD_PROPERTY`](crate::SOURCE_FD_PROPERTY) (tcp, ipc). Costs a reference count per message; without it (default)
    /// only authenticated peers' messages carry `User-Id` and `Peer-Address`. The C ABI sets it,
    /// as `zmq_msg_gets` needs it.
    pub message_properties: bool,
    /// Refuse an inproc peer of an incompatible socket type (a PAIR connecting to a PULL, say),
    /// as the ZMTP handshake refuses one over tcp and ipc. Default true. A connection is refused
    /// only when both sockets check; the C ABI turns it off, as libzmq checks only over tcp and
    /// ipc (its `test_inproc_connect` connects PAIR sockets to a PULL).
    pub inproc_type_check: bool,
    /// PUSH, DEALER, PAIR, PUB, XPUB whose only peer is an inproc one: at most `sndhwm` + the
    /// peer's `rcvhwm` messages on their way between the two applications (none with either 0),
    /// the hand-off queues included, as libzmq counts an inproc pipe (a PUB drops past it, a
    /// NODROP one waits; a message its subscriber did not ask for gives its credit back as
    /// soon as the shard drops it). The credit comes back when the receiving application's
    /// receive returns the message. While the socket has several peers, or a tcp or ipc one,
    /// or routes (ROUTER, REQ, REP), the queues' own bounds apply instead, so the count is
    /// exact for the one-link case libzmq's tests check, not a guarantee for every topology.
    /// Default false: each queue on the way keeps its own bound, so about three times as many
    /// fit, and no per-message credit is counted. The C ABI turns it on.
    pub exact_inproc_hwm: bool,
    /// Settings for the operating system's tcp sockets (buffer sizes, TOS, keepalive, device).
    /// Default: the system's.
    pub tcp: TcpTuning,
}

/// tcp socket settings applied to every connecting socket and listener (accepted connections
/// inherit them from the listener). `None` leaves the system's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TcpTuning {
    /// `SO_SNDBUF` in bytes (`ZMQ_SNDBUF`).
    pub send_buffer_size: Option<usize>,
    /// `SO_RCVBUF` in bytes (`ZMQ_RCVBUF`).
    pub recv_buffer_size: Option<usize>,
    /// `IP_TOS` / IPv6 traffic class (`ZMQ_TOS`).
    pub tos: Option<u32>,
    /// `SO_KEEPALIVE` (`ZMQ_TCP_KEEPALIVE`).
    pub keepalive: Option<bool>,
    /// Idle time before the first keepalive probe (`ZMQ_TCP_KEEPALIVE_IDLE`).
    pub keepalive_idle: Option<Duration>,
    /// Time between probes (`ZMQ_TCP_KEEPALIVE_INTVL`).
    pub keepalive_interval: Option<Duration>,
    /// Unanswered probes before the connection is dropped (`ZMQ_TCP_KEEPALIVE_CNT`).
    pub keepalive_count: Option<u32>,
    /// Bind the socket to this network interface, `SO_BINDTODEVICE` (`ZMQ_BINDTODEVICE`; needs
    /// `CAP_NET_RAW`).
    pub bind_to_device: Option<String>,
}

/// An inbound rate limit ([`Options::inbound_rate`]); `None` leaves that dimension unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateLimit {
    /// Messages per second.
    pub messages_per_sec: Option<u64>,
    /// Bytes per second (message bodies).
    pub bytes_per_sec: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sndhwm: 1000,
            rcvhwm: 1000,
            linger: Some(Duration::from_secs(30)),
            max_msg_size: Some(16 * 1024 * 1024),
            handshake_timeout: Some(Duration::from_secs(30)),
            greeting_timeout: Some(Duration::from_secs(10)),
            reconnect_ivl: Duration::from_millis(100),
            reconnect: true,
            reconnect_stop_handshake_failed: false,
            reconnect_ivl_max: Duration::ZERO,
            heartbeat_ivl: None,
            heartbeat_timeout: None,
            heartbeat_ttl: None,
            routing_id: None,
            max_connections: 1024,
            max_handshakes: 256,
            backlog: 100,
            req_relaxed: false,
            req_correlate: false,
            router_mandatory: false,
            router_handover: false,
            xpub_verbose: false,
            xpub_verboser: false,
            xpub_manual: false,
            xpub_welcome_msg: None,
            ipc_mode: 0o600,
            ipc_allow_insecure_dir: false,
            security: Mechanism::Null,
            authorizer: None,
            policy: SecurityPolicy::Permissive,
            zap_domain: String::new(),
            zap_timeout: Duration::from_secs(5),
            zap_endpoint: None,
            inbound_rate: None,
            max_subscriptions: 100_000,
            message_properties: false,
            xpub_nodrop: false,
            conflate: false,
            inproc_type_check: true,
            exact_inproc_hwm: false,
            invert_matching: false,
            probe_router: false,
            immediate: false,
            use_fd: None,
            stream_notify: true,
            tcp_accept_filter: Vec::new(),
            ipc_accept_filter: IpcFilter::default(),
            connect_routing_id: None,
            tcp: TcpTuning::default(),
        }
    }
}

impl Options {
    /// A CURVE server with long-term keys `keys` (`ZMQ_CURVE_SERVER` + `ZMQ_CURVE_SECRETKEY`).
    pub fn curve_server(mut self, keys: KeyPair) -> Self {
        self.security = Mechanism::CurveServer { keys };
        self
    }

    /// A CURVE client with long-term keys `keys` talking to the server whose public key is
    /// `server_key` (`ZMQ_CURVE_SERVERKEY`).
    pub fn curve_client(mut self, keys: KeyPair, server_key: PublicKey) -> Self {
        self.security = Mechanism::CurveClient { keys, server_key };
        self
    }

    /// A PLAIN server (`ZMQ_PLAIN_SERVER`). PLAIN sends passwords in clear text: use it only on
    /// trusted networks or inside an encrypted tunnel.
    pub fn plain_server(mut self) -> Self {
        self.security = Mechanism::PlainServer;
        self
    }

    /// A PLAIN client (`ZMQ_PLAIN_USERNAME` / `ZMQ_PLAIN_PASSWORD`). The password crosses the
    /// network in clear text.
    pub fn plain_client(mut self, username: &str, password: &str) -> Self {
        self.security = Mechanism::PlainClient {
            username: username.to_owned(),
            password: zeroize::Zeroizing::new(password.to_owned()),
        };
        self
    }

    /// Use `authorizer` to decide about PLAIN and CURVE peers.
    pub fn authorize(mut self, authorizer: Authorizer) -> Self {
        self.authorizer = Some(Arc::new(authorizer));
        self
    }
}

impl Options {
    /// Whether `len` messages fill a queue bounded by `hwm` (0: unbounded).
    pub(crate) fn at_hwm(hwm: usize, len: usize) -> bool {
        hwm != 0 && len >= hwm
    }
}

/// Who may connect to an ipc listener (see [`Options::ipc_accept_filter`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpcFilter {
    /// Peer user ids admitted.
    pub uids: Vec<u32>,
    /// Group ids admitted: the peer's own group, or a supplementary group of its user.
    pub gids: Vec<u32>,
    /// Peer process ids admitted.
    pub pids: Vec<i32>,
}

impl IpcFilter {
    /// No filter: every peer is admitted.
    pub fn is_empty(&self) -> bool {
        self.uids.is_empty() && self.gids.is_empty() && self.pids.is_empty()
    }
}
