//! The sans-IO ZMTP 3.x connection: greeting, security handshake, traffic and heartbeats.
//!
//! # Driving contract
//! 1. [`Connection::new`] queues our signature; call [`Connection::poll_transmit`] and write what it
//!    gives.
//! 2. Whenever bytes arrive, append them to a `BytesMut` and call [`Connection::handle_input`]; it
//!    consumes every complete unit and leaves a partial frame in the buffer.
//! 3. Drain [`Connection::poll_event`]: first [`Event::HandshakeSucceeded`], then messages and
//!    subscriptions.
//! 4. After the handshake, [`Connection::encode_message`] and [`Connection::encode_subscription`]
//!    append outgoing traffic to a [`TransmitBuf`]; before it they refuse (libzmq cuts off a peer that
//!    sends a message before it has read the other side's READY).
//! 5. Arm a timer for [`Connection::poll_timeout`] and call [`Connection::handle_timeout`] when it
//!    fires.
//!
//! Any `Err` is final: flush what `poll_transmit` still gives (it may hold an ERROR command), then
//! close the connection.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};

use smallvec::SmallVec;

use crate::command::Command;
use crate::curve::LANE_BATCH;
use crate::error::{DecodeError, ProtocolError};
use crate::frame::{encode_header, FrameDecoder, FrameFlags, RawFrame};
use crate::greeting::{
    check_major, check_signature, Greeting, GREETING_LEN, MAJOR_OFFSET, SIGNATURE, SIGNATURE_LEN,
};
use crate::mechanism::{Framing, Handshake, Out, Outcome};
use crate::message::Message;
use crate::metadata::Metadata;
use crate::socket_type::SocketType;

/// Frames at or above this size are sent as their own buffer instead of being copied.
pub const ZERO_COPY_MIN: usize = 16 * 1024;
/// Largest command accepted before the handshake completes (READY metadata, ERROR).
pub const HANDSHAKE_FRAME_MAX: u64 = 64 * 1024;
/// Most frames one multipart message may have.
pub const MESSAGE_FRAMES_MAX: usize = 65_536;

/// The security mechanism of a connection, with this side's role and secrets.
#[non_exhaustive]
#[derive(Clone, Default)]
pub enum Mechanism {
    /// No security (RFC 37 NULL).
    #[default]
    Null,
    /// PLAIN client (RFC 24): sends a user name and password in clear text.
    PlainClient {
        /// User name.
        username: String,
        /// Password (never printed).
        password: zeroize::Zeroizing<String>,
    },
    /// PLAIN server: authenticates clients' user names and passwords.
    PlainServer,
    /// CURVE client (RFC 26): long-term keys and the server's public key.
    CurveClient {
        /// Our long-term key pair.
        keys: crate::keys::KeyPair,
        /// The server's long-term public key.
        server_key: crate::keys::PublicKey,
    },
    /// CURVE server: long-term keys; clients are authenticated by their public keys.
    CurveServer {
        /// Our long-term key pair.
        keys: crate::keys::KeyPair,
    },
}

impl std::fmt::Debug for Mechanism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mechanism::Null => f.write_str("Null"),
            Mechanism::PlainClient { username, .. } => {
                write!(f, "PlainClient {{ username: {username:?}, password: .. }}")
            }
            Mechanism::PlainServer => f.write_str("PlainServer"),
            Mechanism::CurveClient { keys, server_key } => {
                write!(
                    f,
                    "CurveClient {{ public: {}, server_key: {server_key} }}",
                    keys.public
                )
            }
            Mechanism::CurveServer { keys } => {
                write!(f, "CurveServer {{ public: {} }}", keys.public)
            }
        }
    }
}

impl Mechanism {
    /// The mechanism name in the greeting.
    pub fn name(&self) -> &'static str {
        match self {
            Mechanism::Null => "NULL",
            Mechanism::PlainClient { .. } | Mechanism::PlainServer => "PLAIN",
            Mechanism::CurveClient { .. } | Mechanism::CurveServer { .. } => "CURVE",
        }
    }

    /// Whether this side is the mechanism's server (the greeting's as-server flag).
    pub fn is_server(&self) -> bool {
        matches!(self, Mechanism::PlainServer | Mechanism::CurveServer { .. })
    }
}

/// What a server must decide about a peer before the handshake can finish (ZAP, RFC 27).
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// NULL: no credentials; asked about when the owner wants NULL peers authenticated
    /// ([`ConnectionConfig::authenticate_null`]), as libzmq does when `ZMQ_ZAP_DOMAIN` is set.
    Null,
    /// PLAIN: the user name and password the client sent.
    Plain {
        /// User name.
        username: String,
        /// Password (never printed).
        password: zeroize::Zeroizing<String>,
    },
    /// CURVE: the client's long-term public key.
    Curve {
        /// The client's public key.
        client_key: crate::keys::PublicKey,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Null => write!(f, "Null"),
            Credentials::Plain { username, .. } => {
                write!(f, "Plain {{ username: {username:?}, password: .. }}")
            }
            Credentials::Curve { client_key } => write!(f, "Curve {{ client_key: {client_key} }}"),
        }
    }
}

/// What a connection needs to know about its socket.
#[derive(Clone)]
pub struct ConnectionConfig {
    /// Our socket type (sent as `Socket-Type`, checked against the peer's).
    pub socket_type: SocketType,
    /// Security mechanism.
    pub mechanism: Mechanism,
    /// The as-server flag of the greeting.
    pub as_server: bool,
    /// Our routing id, sent as `Identity` by REQ, DEALER and ROUTER.
    pub routing_id: Option<Bytes>,
    /// Largest message accepted from the peer, in bytes (`None`: unlimited).
    pub max_msg_size: Option<u64>,
    /// Time allowed from connection to the end of the handshake (`None`: unlimited).
    pub handshake_timeout: Option<Duration>,
    /// Time allowed from connection to the end of the peer's 64-byte greeting, shorter than the
    /// whole handshake's, so a peer that connects and sends nothing goes first (`None`: only
    /// `handshake_timeout` applies).
    pub greeting_timeout: Option<Duration>,
    /// Send a PING this often once the handshake is done (`None`: no heartbeats).
    pub heartbeat_ivl: Option<Duration>,
    /// Close when nothing arrives this long after a PING (defaults to `heartbeat_ivl`).
    pub heartbeat_timeout: Option<Duration>,
    /// The time-to-live our PINGs tell the peer: it closes the connection when it hears nothing
    /// from us for that long (zero: no limit). `None`: the heartbeat timeout.
    pub heartbeat_ttl: Option<Duration>,
    /// Secure randomness for CURVE (transient keys, nonces, cookie keys). Required by CURVE.
    pub random: Option<crate::curve::Random>,
    /// NULL: ask the owner about the peer ([`Event::Authenticate`] with [`Credentials::Null`])
    /// before sending READY, and go on only once it accepts, as libzmq does for NULL peers when
    /// a ZAP domain is set. Ignored by PLAIN and CURVE, which always ask.
    pub authenticate_null: bool,
}

impl std::fmt::Debug for ConnectionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionConfig")
            .field("socket_type", &self.socket_type)
            .field("mechanism", &self.mechanism)
            .field("max_msg_size", &self.max_msg_size)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl ConnectionConfig {
    /// A config with ringmq's defaults for `socket_type`.
    pub fn new(socket_type: SocketType) -> Self {
        ConnectionConfig {
            socket_type,
            mechanism: Mechanism::Null,
            as_server: false,
            routing_id: None,
            max_msg_size: Some(16 * 1024 * 1024),
            handshake_timeout: Some(Duration::from_secs(30)),
            greeting_timeout: Some(Duration::from_secs(10)),
            heartbeat_ivl: None,
            heartbeat_timeout: None,
            heartbeat_ttl: None,
            random: None,
            authenticate_null: false,
        }
    }
}

/// What a connection tells its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The handshake finished; traffic may flow.
    HandshakeSucceeded {
        /// The peer's socket type.
        peer_socket_type: SocketType,
        /// ZMTP minor version of the peer (0 or 1).
        peer_minor: u8,
        /// Everything the peer sent in READY.
        peer_metadata: Metadata,
    },
    /// A complete message.
    Message(Message),
    /// The peer subscribed to a prefix (PUB/XPUB sockets only).
    Subscribe(Bytes),
    /// The peer cancelled a subscription (PUB/XPUB sockets only).
    Cancel(Bytes),
    /// A PLAIN or CURVE server needs a decision about the peer: answer with
    /// [`Connection::accept_peer`] or [`Connection::reject_peer`]. The handshake waits meanwhile.
    Authenticate(Credentials),
}

/// Outgoing bytes as a list of chunks: small frames are coalesced into one buffer, large bodies
/// ride as their own chunk without a copy (for a vectored write).
#[derive(Debug, Default)]
pub struct TransmitBuf {
    chunks: Vec<Bytes>,
    current: BytesMut,
    len: usize,
}

impl TransmitBuf {
    /// An empty buffer.
    pub fn new() -> Self {
        TransmitBuf::default()
    }

    /// Bytes queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Append raw bytes (copied).
    pub fn put_slice(&mut self, bytes: &[u8]) {
        self.current.put_slice(bytes);
        self.len += bytes.len();
    }

    fn put_frame(&mut self, flags: FrameFlags, body: &Bytes) {
        let before = self.current.len();
        encode_header(&mut self.current, flags, body.len());
        self.len += self.current.len() - before + body.len();
        if body.len() >= ZERO_COPY_MIN {
            self.seal();
            self.chunks.push(body.clone());
        } else {
            self.current.put_slice(body);
        }
    }

    /// A body with no frame header (a STREAM socket's raw bytes).
    fn put_raw(&mut self, body: &Bytes) {
        self.len += body.len();
        if body.len() >= ZERO_COPY_MIN {
            self.seal();
            self.chunks.push(body.clone());
        } else {
            self.current.put_slice(body);
        }
    }

    fn seal(&mut self) {
        if !self.current.is_empty() {
            self.chunks.push(self.current.split().freeze());
        }
    }

    /// Take everything queued, as chunks to write in order.
    pub fn take(&mut self) -> Vec<Bytes> {
        self.seal();
        self.len = 0;
        std::mem::take(&mut self.chunks)
    }

    /// Move everything queued into `chunks` (appending), reusing the caller's vector.
    pub fn take_into(&mut self, chunks: &mut Vec<Bytes>) {
        self.seal();
        self.len = 0;
        chunks.append(&mut self.chunks);
    }
}

/// Where the connection stands. The handshake's own states, with their data, are in
/// [`crate::mechanism`], one module per mechanism.
#[derive(Debug)]
enum State {
    /// Reading the peer's greeting.
    ExpectGreeting,
    /// The security handshake, after the greeting.
    Handshake(Handshake),
    /// Handshake done; frames as the mechanism says.
    Traffic(Framing),
    /// An error was returned; nothing more is accepted.
    Closed,
}

impl State {
    fn is_traffic(&self) -> bool {
        matches!(self, State::Traffic(_))
    }

    fn awaits_authentication(&self) -> bool {
        matches!(self, State::Handshake(h) if h.awaits_authentication())
    }
}

/// One ZMTP connection, as a pure state machine. See the module docs for the driving contract.
#[derive(Debug)]
pub struct Connection {
    config: ConnectionConfig,
    state: State,
    decoder: FrameDecoder,
    greeting: [u8; GREETING_LEN],
    greeting_read: usize,
    greeting_sent: usize,
    peer_minor: u8,
    pending: TransmitBuf,
    /// What one `handle_input` decoded; the owner drains it after every call, so it holds at
    /// most one read's worth.
    events: VecDeque<Event>,
    /// The message being assembled: at most `max_msg_size` (checked before each frame is taken).
    partial: Message,
    partial_size: u64,
    handshake_deadline: Option<Instant>,
    /// Until the peer's greeting is complete.
    greeting_deadline: Option<Instant>,
    last_recv: Instant,
    next_ping: Option<Instant>,
    ping_deadline: Option<Instant>,
    peer_ttl: Option<Duration>,
    receives_subscriptions: bool,
    /// Input that arrived while the authentication decision was pending, processed once the
    /// peer is accepted; at most `DEFERRED_INPUT_MAX` bytes.
    deferred: BytesMut,
}

/// Most input a peer may send before it is authenticated (a NULL peer's READY and first
/// messages); past it the connection fails instead of buffering without bound.
const DEFERRED_INPUT_MAX: usize = 256 * 1024;

impl Connection {
    /// A new connection, created at `now`; our signature is queued for transmission.
    pub fn new(mut config: ConnectionConfig, now: Instant) -> Connection {
        config.as_server = config.mechanism.is_server();
        let mut pending = TransmitBuf::new();
        pending.put_slice(&SIGNATURE);
        let frame_size_max = config
            .max_msg_size
            .unwrap_or(u64::MAX)
            .min(HANDSHAKE_FRAME_MAX);
        let receives_subscriptions =
            matches!(config.socket_type, SocketType::Pub | SocketType::XPub);
        if config.socket_type == SocketType::Stream {
            return Connection::raw(config, now);
        }
        Connection {
            handshake_deadline: config.handshake_timeout.map(|t| now + t),
            greeting_deadline: config.greeting_timeout.map(|t| now + t),
            decoder: FrameDecoder::new(frame_size_max),
            config,
            state: State::ExpectGreeting,
            greeting: [0; GREETING_LEN],
            greeting_read: 0,
            greeting_sent: SIGNATURE_LEN,
            peer_minor: 1,
            pending,
            events: VecDeque::new(),
            partial: Message::new(),
            partial_size: 0,
            last_recv: now,
            next_ping: None,
            ping_deadline: None,
            peer_ttl: None,
            receives_subscriptions,
            deferred: BytesMut::new(),
        }
    }

    /// A STREAM socket's connection: no ZMTP at all. It is ready at once (one
    /// [`Event::HandshakeSucceeded`] with peer type STREAM and no metadata), every read becomes
    /// one single-frame [`Event::Message`], and messages are written as their bare bytes.
    fn raw(config: ConnectionConfig, now: Instant) -> Connection {
        let mut events = VecDeque::new();
        events.push_back(Event::HandshakeSucceeded {
            peer_socket_type: SocketType::Stream,
            peer_minor: 1,
            peer_metadata: Metadata::new(),
        });
        Connection {
            handshake_deadline: None,
            greeting_deadline: None,
            decoder: FrameDecoder::new(u64::MAX),
            config,
            state: State::Traffic(Framing::Raw),
            greeting: [0; GREETING_LEN],
            greeting_read: GREETING_LEN,
            greeting_sent: GREETING_LEN,
            peer_minor: 1,
            pending: TransmitBuf::new(),
            events,
            partial: Message::new(),
            partial_size: 0,
            last_recv: now,
            next_ping: None,
            ping_deadline: None,
            peer_ttl: None,
            receives_subscriptions: false,
            deferred: BytesMut::new(),
        }
    }

    /// Whether the handshake has completed.
    pub fn is_ready(&self) -> bool {
        self.state.is_traffic()
    }

    /// The peer's ZMTP minor version (meaningful once the greeting is read).
    pub fn peer_minor(&self) -> u8 {
        self.peer_minor
    }

    /// Consume bytes from `buf`: the greeting, then whole frames. A trailing partial frame stays.
    pub fn handle_input(&mut self, now: Instant, buf: &mut BytesMut) -> Result<(), ProtocolError> {
        let result = self.handle_input_inner(now, buf);
        if let Err(e) = &result {
            self.fail(e);
        }
        result
    }

    fn handle_input_inner(
        &mut self,
        now: Instant,
        buf: &mut BytesMut,
    ) -> Result<(), ProtocolError> {
        if matches!(self.state, State::Closed) {
            return Ok(());
        }
        if matches!(self.state, State::Traffic(Framing::Raw)) {
            if !buf.is_empty() {
                let data = buf.split().freeze();
                self.events.push_back(Event::Message(Message::single(data)));
            }
            return Ok(());
        }
        if !buf.is_empty() {
            self.last_recv = now;
            self.ping_deadline = None;
        }
        if matches!(self.state, State::ExpectGreeting) {
            self.read_greeting(buf, now)?;
            if matches!(self.state, State::ExpectGreeting) {
                return Ok(());
            }
        }
        if !self.deferred.is_empty() && !self.state.awaits_authentication() {
            // Input kept while the decision was pending comes first.
            let mut joined = std::mem::take(&mut self.deferred);
            joined.extend_from_slice(buf);
            *buf = joined;
        }
        loop {
            match &self.state {
                State::Closed => break,
                state if state.awaits_authentication() => {
                    // The rest waits for the authentication decision.
                    if self.deferred.len() + buf.len() > DEFERRED_INPUT_MAX {
                        return Err(ProtocolError::InvalidMetadata(
                            "too much input before authentication",
                        ));
                    }
                    self.deferred.extend_from_slice(buf);
                    buf.clear();
                    break;
                }
                _ => {}
            }
            if let State::Traffic(Framing::Curve(_)) = &self.state {
                // Under CURVE, a read's boxes are opened together (see `open_curve_batch`).
                if !self.open_curve_batch(buf)? {
                    break;
                }
                continue;
            }
            let Some(frame) = self.decoder.decode(buf)? else {
                break;
            };
            if self.state.is_traffic() {
                self.handle_clear_traffic_frame(frame)?;
            } else {
                self.handle_handshake_frame(frame, now)?;
            }
        }
        Ok(())
    }

    fn read_greeting(&mut self, buf: &mut BytesMut, now: Instant) -> Result<(), ProtocolError> {
        let take = (GREETING_LEN - self.greeting_read).min(buf.len());
        let chunk = buf.split_to(take);
        self.greeting[self.greeting_read..self.greeting_read + take].copy_from_slice(&chunk);
        self.greeting_read += take;
        check_signature(&self.greeting[..self.greeting_read.min(SIGNATURE_LEN)])?;
        // As libzmq: our major version once we have the peer's signature, the rest once we have
        // the peer's major version.
        let ours = Greeting::new(self.config.mechanism.name(), self.config.as_server).encode();
        if self.greeting_read >= SIGNATURE_LEN && self.greeting_sent == SIGNATURE_LEN {
            self.pending.put_slice(&ours[SIGNATURE_LEN..=MAJOR_OFFSET]);
            self.greeting_sent += 1;
        }
        if self.greeting_read > MAJOR_OFFSET {
            check_major(self.greeting[MAJOR_OFFSET])?;
            if self.greeting_sent == MAJOR_OFFSET + 1 {
                self.pending.put_slice(&ours[MAJOR_OFFSET + 1..]);
                self.greeting_sent = GREETING_LEN;
            }
        }
        if self.greeting_read < GREETING_LEN {
            return Ok(());
        }
        let peer = Greeting::decode(&self.greeting)?;
        if peer.mechanism != ours[12..32] {
            return Err(ProtocolError::MechanismMismatch {
                ours: self.config.mechanism.name().to_owned(),
                theirs: peer.mechanism_name(),
            });
        }
        self.peer_minor = peer.minor;
        // The peer's as-server byte is not checked: libzmq 4.3 sends 0 whatever its role
        // (checked against it); a role mismatch fails in the handshake commands instead.
        let our_metadata = self.our_metadata();
        let outcome = Handshake::begin(
            &self.config,
            &mut Out {
                pending: &mut self.pending,
                our_metadata,
            },
        )?;
        self.apply(outcome, now)
    }

    /// Enter the state a handshake step led to.
    fn apply(&mut self, outcome: Outcome, now: Instant) -> Result<(), ProtocolError> {
        match outcome {
            Outcome::Continue(handshake) => self.state = State::Handshake(handshake),
            Outcome::Authenticate(handshake, credentials) => {
                self.state = State::Handshake(handshake);
                self.events.push_back(Event::Authenticate(credentials));
            }
            Outcome::Done(meta, framing) => self.finish_handshake(meta, framing, now)?,
        }
        Ok(())
    }

    fn our_metadata(&self) -> Metadata {
        let mut meta = Metadata::new();
        meta.insert("Socket-Type", self.config.socket_type.as_str().as_bytes());
        if self.config.socket_type.sends_identity() {
            meta.insert(
                "Identity",
                self.config.routing_id.clone().unwrap_or_default(),
            );
        }
        meta
    }

    /// Check the peer's metadata and enter traffic.
    fn finish_handshake(
        &mut self,
        meta: Metadata,
        framing: Framing,
        now: Instant,
    ) -> Result<(), ProtocolError> {
        let peer_type = meta
            .get("Socket-Type")
            .ok_or(ProtocolError::InvalidMetadata("no Socket-Type property"))?;
        let peer_socket_type = SocketType::from_name(peer_type).ok_or_else(|| {
            ProtocolError::IncompatibleSocketType {
                ours: self.config.socket_type.as_str(),
                peer: crate::command::printable(peer_type),
            }
        })?;
        if !self.config.socket_type.is_compatible(peer_socket_type) {
            return Err(ProtocolError::IncompatibleSocketType {
                ours: self.config.socket_type.as_str(),
                peer: peer_socket_type.as_str().to_owned(),
            });
        }
        if meta.get("Identity").is_some_and(|id| id.len() > 255) {
            return Err(ProtocolError::InvalidMetadata(
                "Identity longer than 255 bytes",
            ));
        }
        self.decoder = FrameDecoder::new(self.traffic_frame_limit(&framing));
        self.state = State::Traffic(framing);
        self.handshake_deadline = None;
        self.next_ping = self.config.heartbeat_ivl.map(|ivl| now + ivl);
        self.events.push_back(Event::HandshakeSucceeded {
            peer_socket_type,
            peer_minor: self.peer_minor,
            peer_metadata: meta,
        });
        Ok(())
    }

    /// The largest frame to accept in traffic: the message limit, plus CURVE's box overhead.
    fn traffic_frame_limit(&self, framing: &Framing) -> u64 {
        let limit = self.config.max_msg_size.unwrap_or(u64::MAX);
        if matches!(framing, Framing::Curve(_)) {
            limit.saturating_add(8 + 8 + 16 + 1)
        } else {
            limit
        }
    }

    /// Accept the peer an [`Event::Authenticate`] asked about; the handshake goes on. Errors are
    /// final, as for input.
    pub fn accept_peer(&mut self, now: Instant) -> Result<(), ProtocolError> {
        let result = self.accept_peer_inner(now);
        if let Err(e) = &result {
            self.fail(e);
        }
        result
    }

    fn accept_peer_inner(&mut self, now: Instant) -> Result<(), ProtocolError> {
        if !self.state.awaits_authentication() {
            return Ok(());
        }
        let State::Handshake(handshake) = std::mem::replace(&mut self.state, State::Closed) else {
            unreachable!("awaits_authentication holds only in a handshake");
        };
        let our_metadata = self.our_metadata();
        let outcome = handshake.accept(&mut Out {
            pending: &mut self.pending,
            our_metadata,
        })?;
        self.apply(outcome, now)?;
        // What the peer sent while the decision was pending (a NULL peer's READY, say).
        if !self.deferred.is_empty() {
            let mut input = BytesMut::new();
            self.handle_input_inner(now, &mut input)?;
            // A partial frame left over goes in front of the next input.
            if !input.is_empty() {
                input.extend_from_slice(&self.deferred);
                self.deferred = input;
            }
        }
        Ok(())
    }

    /// Refuse the peer an [`Event::Authenticate`] asked about; the connection fails with
    /// [`ProtocolError::AuthFailed`] after sending ERROR with `reason`, except for a temporary
    /// failure (ZAP status 300), after which the peer is dropped without a word, as the CurveZMQ
    /// RFC has it and libzmq does (the peer retries as it would after any disconnect).
    pub fn reject_peer(&mut self, reason: &str) -> ProtocolError {
        let e = ProtocolError::AuthFailed(reason.chars().take(255).collect());
        if reason == "300" {
            self.state = State::Closed;
        } else {
            self.fail(&e);
        }
        e
    }

    fn handle_handshake_frame(
        &mut self,
        frame: RawFrame,
        now: Instant,
    ) -> Result<(), ProtocolError> {
        let body = match frame {
            RawFrame::Command(body) => body,
            RawFrame::Message { .. } => {
                return Err(ProtocolError::UnexpectedCommand("message frame".into()))
            }
        };
        let name_len = usize::from(*body.first().ok_or(DecodeError::MalformedCommand("empty"))?);
        let name = body
            .get(1..1 + name_len)
            .ok_or(DecodeError::MalformedCommand("name"))?;
        if name == b"ERROR" {
            return match Command::decode(&body)? {
                Command::Error(reason) => Err(ProtocolError::PeerError(reason)),
                _ => Err(DecodeError::MalformedCommand("ERROR").into()),
            };
        }
        let data = &body[1 + name_len..];
        // The state is taken out for the step; a failing step leaves it Closed (errors are final).
        let State::Handshake(handshake) = std::mem::replace(&mut self.state, State::Closed) else {
            unreachable!("handshake frames arrive only in a handshake");
        };
        let our_metadata = self.our_metadata();
        let outcome = handshake.on_command(
            name,
            &body,
            data,
            &mut Out {
                pending: &mut self.pending,
                our_metadata,
            },
        )?;
        self.apply(outcome, now)
    }

    /// Decode up to [`LANE_BATCH`] CURVE frames from `buf`, open their boxes in one batch and
    /// handle each; false when `buf` held no whole frame. Frames before a bad one (malformed,
    /// replayed, forged, or not a frame at all) are handled before its error is returned, as
    /// they would be one at a time.
    fn open_curve_batch(&mut self, buf: &mut BytesMut) -> Result<bool, ProtocolError> {
        let mut bodies: SmallVec<[Bytes; LANE_BATCH]> = SmallVec::new();
        let mut decode_error = None;
        while bodies.len() < LANE_BATCH {
            match self.decoder.decode(buf) {
                Ok(Some(RawFrame::Message { body, .. } | RawFrame::Command(body))) => {
                    bodies.push(body)
                }
                Ok(None) => break,
                Err(e) => {
                    decode_error = Some(e);
                    break;
                }
            }
        }
        if bodies.is_empty() {
            return match decode_error {
                Some(e) => Err(e.into()),
                None => Ok(false),
            };
        }
        let State::Traffic(Framing::Curve(codec)) = &mut self.state else {
            unreachable!("called under CURVE framing");
        };
        let batch = codec.open_batch(&bodies);
        for (flags, payload) in batch.opened {
            if matches!(self.state, State::Closed) {
                return Ok(true);
            }
            let frame = if flags & 0x02 != 0 {
                RawFrame::Command(payload)
            } else {
                RawFrame::Message {
                    more: flags & 0x01 != 0,
                    body: payload,
                }
            };
            self.handle_clear_traffic_frame(frame)?;
        }
        if let Some(e) = batch.error {
            return Err(e);
        }
        if let Some(e) = decode_error {
            return Err(e.into());
        }
        Ok(true)
    }

    /// A traffic frame as the peer meant it (in clear, or opened under CURVE).
    fn handle_clear_traffic_frame(&mut self, frame: RawFrame) -> Result<(), ProtocolError> {
        match frame {
            RawFrame::Message { more, body } => {
                self.partial_size += body.len() as u64;
                if let Some(limit) = self.config.max_msg_size {
                    if self.partial_size > limit {
                        return Err(DecodeError::MessageTooLarge {
                            size: self.partial_size,
                            limit,
                        }
                        .into());
                    }
                }
                if self.partial.len() >= MESSAGE_FRAMES_MAX {
                    return Err(DecodeError::TooManyFrames {
                        limit: MESSAGE_FRAMES_MAX,
                    }
                    .into());
                }
                self.partial.push(body);
                if !more {
                    let msg = std::mem::take(&mut self.partial);
                    self.partial_size = 0;
                    self.deliver(msg);
                }
                Ok(())
            }
            RawFrame::Command(body) => {
                match Command::decode(&body)? {
                    Command::Ping { ttl_ds, context } => {
                        self.peer_ttl =
                            (ttl_ds > 0).then(|| Duration::from_millis(u64::from(ttl_ds) * 100));
                        self.put_traffic_command(&Command::Pong { context });
                    }
                    Command::Pong { .. } => {}
                    Command::Subscribe(topic) if self.receives_subscriptions => {
                        self.events.push_back(Event::Subscribe(topic))
                    }
                    Command::Cancel(topic) if self.receives_subscriptions => {
                        self.events.push_back(Event::Cancel(topic))
                    }
                    Command::Subscribe(_) | Command::Cancel(_) => {}
                    Command::Error(reason) => return Err(ProtocolError::PeerError(reason)),
                    Command::Ready(_) => {
                        return Err(ProtocolError::UnexpectedCommand("READY".into()))
                    }
                    Command::Unknown { .. } => {}
                }
                Ok(())
            }
        }
    }

    fn deliver(&mut self, msg: Message) {
        if self.receives_subscriptions {
            // Subscriptions as messages: ZMTP 3.0, and what libzmq 4.3 sends to every peer.
            match crate::subscription::decode(&msg) {
                Some((topic, true)) => return self.events.push_back(Event::Subscribe(topic)),
                Some((topic, false)) => return self.events.push_back(Event::Cancel(topic)),
                None => {}
            }
        }
        self.events.push_back(Event::Message(msg));
    }

    fn fail(&mut self, error: &ProtocolError) {
        if let Some(reason) = error.error_reason() {
            if self.greeting_sent == GREETING_LEN && !self.state.is_traffic() {
                let mut out = Vec::new();
                Command::Error(reason).encode(&mut out);
                self.pending.put_slice(&out);
            }
        }
        self.state = State::Closed;
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Move handshake and control bytes (greeting, READY, PONG, PING, ERROR) into `out`.
    pub fn poll_transmit(&mut self, out: &mut TransmitBuf) {
        if !self.pending.is_empty() {
            for chunk in self.pending.take() {
                out.put_slice(&chunk);
            }
        }
    }

    /// Whether control bytes are waiting for [`Connection::poll_transmit`].
    pub fn wants_transmit(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Append `msg` to `out` as frames. Refused before the handshake completes.
    pub fn encode_message(&mut self, msg: &Message, out: &mut TransmitBuf) -> Result<(), NotReady> {
        self.encode_messages(std::slice::from_ref(msg), out)
    }

    /// Append a batch of messages to `out`, in order. Under CURVE every frame of the batch is
    /// sealed in one [`crate::curve::CurveCodec::seal_batch`] pass. Refused before the handshake.
    pub fn encode_messages(
        &mut self,
        msgs: &[Message],
        out: &mut TransmitBuf,
    ) -> Result<(), NotReady> {
        let State::Traffic(framing) = &mut self.state else {
            return Err(NotReady);
        };
        match framing {
            Framing::Clear => {
                for msg in msgs {
                    let last = msg.len().saturating_sub(1);
                    for (i, frame) in msg.frames().iter().enumerate() {
                        let flags = if i < last {
                            FrameFlags::MORE
                        } else {
                            FrameFlags::default()
                        };
                        out.put_frame(flags, frame);
                    }
                }
            }
            Framing::Raw => {
                for frame in msgs.iter().flat_map(|msg| msg.frames()) {
                    out.put_raw(frame);
                }
            }
            Framing::Curve(codec) => {
                let frames = msgs.iter().flat_map(|msg| {
                    let last = msg.len().saturating_sub(1);
                    msg.frames()
                        .iter()
                        .enumerate()
                        .map(move |(i, f)| (u8::from(i < last), &f[..]))
                });
                let before = out.current.len();
                codec.seal_batch(frames, &mut out.current);
                out.len += out.current.len() - before;
            }
        }
        Ok(())
    }

    /// Queue a command after the handshake: in clear, or boxed with the COMMAND flag under CURVE.
    fn put_traffic_command(&mut self, command: &Command) {
        let mut frame = Vec::new();
        command.encode(&mut frame);
        match &mut self.state {
            State::Traffic(Framing::Curve(codec)) => {
                // Strip the frame header: the box carries the command body with flags 0x02.
                let header = if frame[0] & FrameFlags::LONG.bits() != 0 {
                    9
                } else {
                    2
                };
                let mut boxed = Vec::with_capacity(frame.len() + 33);
                codec.seal_frame(0x02, &frame[header..], &mut boxed);
                let mut out = Vec::with_capacity(boxed.len() + 9);
                encode_header(&mut out, FrameFlags::default(), boxed.len());
                out.extend_from_slice(&boxed);
                self.pending.put_slice(&out);
            }
            _ => self.pending.put_slice(&frame),
        }
    }

    /// Append a subscription (or cancellation) of `topic`: a SUBSCRIBE/CANCEL command to a ZMTP 3.1
    /// peer, the legacy `0x01`/`0x00`-prefixed message to a 3.0 peer.
    pub fn encode_subscription(
        &mut self,
        topic: &[u8],
        subscribe: bool,
        out: &mut TransmitBuf,
    ) -> Result<(), NotReady> {
        let State::Traffic(framing) = &self.state else {
            return Err(NotReady);
        };
        let mut bytes = Vec::with_capacity(topic.len() + 12);
        if matches!(framing, Framing::Curve(_)) {
            // Under CURVE, as libzmq 4.3 does: a subscription message inside a box.
            let body = crate::subscription::encode(topic, subscribe);
            return self.encode_message(&Message::single(body), out);
        }
        if self.peer_minor >= 1 {
            let topic = Bytes::copy_from_slice(topic);
            if subscribe {
                Command::Subscribe(topic).encode(&mut bytes);
            } else {
                Command::Cancel(topic).encode(&mut bytes);
            }
        } else {
            let body = crate::subscription::encode(topic, subscribe);
            crate::frame::encode_message_frame(&mut bytes, false, &body);
        }
        out.put_slice(&bytes);
        Ok(())
    }

    /// How many more bytes the frame in progress needs (0 when none is known to be incomplete):
    /// the caller makes room for them before its next read (see [`FrameDecoder::wanted`]).
    pub fn wanted_bytes(&self) -> usize {
        self.decoder.wanted()
    }

    /// The earliest instant at which [`Connection::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.greeting_deadline
                .filter(|_| matches!(self.state, State::ExpectGreeting)),
            self.handshake_deadline,
            self.next_ping,
            self.ping_deadline,
            self.peer_ttl.map(|ttl| self.last_recv + ttl),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Handle the passage of time: handshake timeout, heartbeats.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), ProtocolError> {
        let result = self.handle_timeout_inner(now);
        if let Err(e) = &result {
            self.fail(e);
        }
        result
    }

    fn handle_timeout_inner(&mut self, now: Instant) -> Result<(), ProtocolError> {
        if matches!(self.state, State::Closed) {
            return Ok(());
        }
        if self.handshake_deadline.is_some_and(|d| now >= d)
            || (matches!(self.state, State::ExpectGreeting)
                && self.greeting_deadline.is_some_and(|d| now >= d))
        {
            return Err(ProtocolError::HandshakeTimeout);
        }
        if self.ping_deadline.is_some_and(|d| now >= d)
            || self.peer_ttl.is_some_and(|ttl| now >= self.last_recv + ttl)
        {
            return Err(ProtocolError::HeartbeatTimeout);
        }
        if let (Some(at), Some(ivl)) = (self.next_ping, self.config.heartbeat_ivl) {
            if now >= at {
                let timeout = self.config.heartbeat_timeout.unwrap_or(ivl);
                let ttl = self.config.heartbeat_ttl.unwrap_or(timeout);
                let ttl_ds = u16::try_from(ttl.as_millis() / 100).unwrap_or(u16::MAX);
                self.put_traffic_command(&Command::Ping {
                    ttl_ds,
                    context: Bytes::new(),
                });
                self.next_ping = Some(now + ivl);
                if self.ping_deadline.is_none() {
                    self.ping_deadline = Some(now + timeout);
                }
            }
        }
        Ok(())
    }
}

/// Traffic was offered before the handshake completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the ZMTP handshake has not completed")]
pub struct NotReady;

#[cfg(test)]
mod tests {
    use super::*;

    /// Two connections wired back to back, delivering bytes in chunks of `chunk` (quinn's `Pair`).
    struct Pair {
        a: Connection,
        b: Connection,
        a_in: BytesMut,
        b_in: BytesMut,
        now: Instant,
    }

    impl Pair {
        fn new(a: SocketType, b: SocketType) -> Pair {
            let now = Instant::now();
            Pair {
                a: Connection::new(ConnectionConfig::new(a), now),
                b: Connection::new(ConnectionConfig::new(b), now),
                a_in: BytesMut::new(),
                b_in: BytesMut::new(),
                now,
            }
        }

        /// Shuttle bytes both ways until quiet, `chunk` bytes at a time.
        fn drive(&mut self, chunk: usize) -> Result<(), ProtocolError> {
            for _ in 0..10_000 {
                let mut ta = TransmitBuf::new();
                self.a.poll_transmit(&mut ta);
                let mut tb = TransmitBuf::new();
                self.b.poll_transmit(&mut tb);
                if ta.is_empty() && tb.is_empty() {
                    return Ok(());
                }
                let wa: Vec<u8> = ta.take().concat();
                let wb: Vec<u8> = tb.take().concat();
                for piece in wa.chunks(chunk.max(1)) {
                    self.b_in.extend_from_slice(piece);
                    self.b.handle_input(self.now, &mut self.b_in)?;
                }
                for piece in wb.chunks(chunk.max(1)) {
                    self.a_in.extend_from_slice(piece);
                    self.a.handle_input(self.now, &mut self.a_in)?;
                }
            }
            panic!("pair did not settle");
        }
    }

    fn events(c: &mut Connection) -> Vec<Event> {
        std::iter::from_fn(|| c.poll_event()).collect()
    }

    #[test]
    fn null_handshake_any_chunking() {
        for chunk in [1, 2, 3, 7, 10, 11, 64, 1000] {
            let mut p = Pair::new(SocketType::Push, SocketType::Pull);
            p.drive(chunk).unwrap();
            assert!(p.a.is_ready() && p.b.is_ready(), "chunk {chunk}");
            let ev = events(&mut p.b);
            assert!(matches!(
                ev.as_slice(),
                [Event::HandshakeSucceeded {
                    peer_socket_type: SocketType::Push,
                    peer_minor: 1,
                    ..
                }]
            ));
        }
    }

    #[test]
    fn our_first_bytes_match_libzmq() {
        // libzmq 4.3 sends the 10-byte signature alone first, then 0x03 after the peer's signature.
        let mut c = Connection::new(ConnectionConfig::new(SocketType::Pull), Instant::now());
        let mut t = TransmitBuf::new();
        c.poll_transmit(&mut t);
        assert_eq!(
            t.take().concat(),
            b"\xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f"
        );
        let mut input = BytesMut::from(&b"\xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f"[..]);
        c.handle_input(Instant::now(), &mut input).unwrap();
        c.poll_transmit(&mut t);
        assert_eq!(t.take().concat(), b"\x03");
        let mut input = BytesMut::from(&b"\x03"[..]);
        c.handle_input(Instant::now(), &mut input).unwrap();
        c.poll_transmit(&mut t);
        let rest = t.take().concat();
        assert_eq!(rest.len(), 53);
        assert_eq!(&rest[..5], b"\x01NULL");
    }

    #[test]
    fn messages_flow_after_handshake() {
        let mut p = Pair::new(SocketType::Push, SocketType::Pull);
        p.drive(1000).unwrap();
        events(&mut p.b);
        let mut tx = TransmitBuf::new();
        let msgs = [
            Message::single("one"),
            Message::from_frames(["a", "", "c"]),
            Message::single(vec![9u8; 100_000]),
        ];
        for m in &msgs {
            p.a.encode_message(m, &mut tx).unwrap();
        }
        let wire = tx.take().concat();
        for chunk in [1usize, 5, 300, 70_000] {
            let mut c = Connection::new(ConnectionConfig::new(SocketType::Pull), p.now);
            // Reuse b's state by replaying the whole exchange is heavy; instead feed b directly.
            drop(c.poll_event());
            for piece in wire.chunks(chunk) {
                p.b_in.extend_from_slice(piece);
                p.b.handle_input(p.now, &mut p.b_in).unwrap();
            }
            let got: Vec<Event> = events(&mut p.b);
            let expected: Vec<Event> = msgs.iter().cloned().map(Event::Message).collect();
            assert_eq!(got, expected, "chunk {chunk}");
        }
    }

    #[test]
    fn message_before_handshake_refused() {
        let mut c = Connection::new(ConnectionConfig::new(SocketType::Push), Instant::now());
        assert_eq!(
            c.encode_message(&Message::single("x"), &mut TransmitBuf::new()),
            Err(NotReady)
        );
    }

    #[test]
    fn incompatible_socket_types_fail_with_error_command() {
        let mut p = Pair::new(SocketType::Push, SocketType::Push);
        let err = p.drive(64).unwrap_err();
        assert!(
            matches!(err, ProtocolError::IncompatibleSocketType { .. }),
            "{err:?}"
        );
        let mut t = TransmitBuf::new();
        p.b.poll_transmit(&mut t);
        p.a.poll_transmit(&mut t);
        let wire = t.take().concat();
        assert!(
            wire.windows(19).any(|w| w == b"Invalid socket type"),
            "ERROR command queued"
        );
    }

    #[test]
    fn mechanism_mismatch_refused() {
        let mut c = Connection::new(ConnectionConfig::new(SocketType::Pull), Instant::now());
        let mut g = Greeting::new("CURVE", true).encode();
        g[11] = 1;
        let mut input = BytesMut::from(&g[..]);
        let err = c.handle_input(Instant::now(), &mut input).unwrap_err();
        assert!(matches!(err, ProtocolError::MechanismMismatch { .. }));
    }

    #[test]
    fn legacy_and_garbage_greetings_refused() {
        for bad in [
            &b"\x01\x00"[..],
            b"GET / HTTP/1.1\r\n",
            b"\xff\0\0\0\0\0\0\0\x01\x7f\x02",
        ] {
            let mut c = Connection::new(ConnectionConfig::new(SocketType::Pull), Instant::now());
            let mut input = BytesMut::from(bad);
            assert!(
                c.handle_input(Instant::now(), &mut input).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn null_peers_wait_for_authentication_when_asked_to() {
        let now = Instant::now();
        let mut cfg = ConnectionConfig::new(SocketType::Pull);
        cfg.authenticate_null = true;
        for accept in [true, false] {
            let mut server = Connection::new(cfg.clone(), now);
            // The client's greeting, READY and a first message, all in one read.
            let mut input =
                BytesMut::from(&crate::greeting::Greeting::new("NULL", false).encode()[..]);
            let mut ready = Vec::new();
            let mut meta = Metadata::new();
            meta.insert("Socket-Type", &b"PUSH"[..]);
            Command::Ready(meta).encode(&mut ready);
            input.extend_from_slice(&ready);
            input.extend_from_slice(b"\x00\x02hi");
            server.handle_input(now, &mut input).unwrap();
            assert_eq!(
                server.poll_event(),
                Some(Event::Authenticate(Credentials::Null))
            );
            assert_eq!(server.poll_event(), None, "nothing before the decision");
            let mut out = TransmitBuf::new();
            server.poll_transmit(&mut out);
            let sent: Vec<u8> = out.take().concat();
            assert!(
                !sent.windows(5).any(|w| w == b"READY"),
                "READY waits for the decision"
            );
            if accept {
                server.accept_peer(now).unwrap();
                assert!(matches!(
                    server.poll_event(),
                    Some(Event::HandshakeSucceeded { .. })
                ));
                assert_eq!(
                    server.poll_event(),
                    Some(Event::Message(Message::single("hi")))
                );
                server.poll_transmit(&mut out);
                let sent: Vec<u8> = out.take().concat();
                assert!(sent.windows(5).any(|w| w == b"READY"));
            } else {
                let e = server.reject_peer("ZAP 400: no");
                assert_eq!(e, ProtocolError::AuthFailed("ZAP 400: no".into()));
                assert_eq!(
                    server.poll_event(),
                    None,
                    "a refused peer's input is not delivered"
                );
            }
        }
    }

    #[test]
    fn greeting_timeout_comes_before_the_handshake_timeout() {
        let now = Instant::now();
        let mut cfg = ConnectionConfig::new(SocketType::Pull);
        cfg.greeting_timeout = Some(Duration::from_secs(2));
        cfg.handshake_timeout = Some(Duration::from_secs(30));
        let mut silent = Connection::new(cfg.clone(), now);
        assert_eq!(silent.poll_timeout(), Some(now + Duration::from_secs(2)));
        assert_eq!(
            silent.handle_timeout(now + Duration::from_secs(2)),
            Err(ProtocolError::HandshakeTimeout)
        );
        // A peer whose greeting arrived is held to the whole handshake's deadline only.
        let mut greeted = Connection::new(cfg, now);
        // The peer's whole greeting (signature, version, NULL, as-server 0) arrives at once.
        let greeting = crate::greeting::Greeting::new("NULL", false).encode();
        let mut bytes = BytesMut::from(&greeting[..]);
        greeted.handle_input(now, &mut bytes).unwrap();
        assert!(greeted.handle_timeout(now + Duration::from_secs(5)).is_ok());
        assert_eq!(greeted.poll_timeout(), Some(now + Duration::from_secs(30)));
    }

    #[test]
    fn handshake_timeout() {
        let now = Instant::now();
        let mut cfg = ConnectionConfig::new(SocketType::Pull);
        cfg.handshake_timeout = Some(Duration::from_secs(1));
        let mut c = Connection::new(cfg, now);
        assert_eq!(c.poll_timeout(), Some(now + Duration::from_secs(1)));
        assert!(c.handle_timeout(now + Duration::from_millis(500)).is_ok());
        assert_eq!(
            c.handle_timeout(now + Duration::from_secs(1)),
            Err(ProtocolError::HandshakeTimeout)
        );
    }

    #[test]
    fn oversize_message_refused() {
        let mut p = Pair::new(SocketType::Push, SocketType::Pull);
        p.b.config.max_msg_size = Some(10);
        p.drive(100).unwrap();
        let mut tx = TransmitBuf::new();
        p.a.encode_message(&Message::from_frames(["123456", "789012"]), &mut tx)
            .unwrap();
        p.b_in.extend_from_slice(&tx.take().concat());
        let err = p.b.handle_input(p.now, &mut p.b_in).unwrap_err();
        assert!(matches!(
            err,
            ProtocolError::Decode(DecodeError::MessageTooLarge {
                size: 12,
                limit: 10
            })
        ));
    }

    #[test]
    fn subscriptions_both_forms() {
        let mut p = Pair::new(SocketType::Sub, SocketType::Pub);
        p.drive(100).unwrap();
        events(&mut p.b);
        let mut tx = TransmitBuf::new();
        p.a.encode_subscription(b"weather", true, &mut tx).unwrap();
        // A legacy subscription message, as libzmq 4.3 sends it.
        crate::frame::encode_message_frame(&mut tx.current, false, b"\x01news");
        tx.len += 7;
        p.a.encode_subscription(b"weather", false, &mut tx).unwrap();
        p.b_in.extend_from_slice(&tx.take().concat());
        p.b.handle_input(p.now, &mut p.b_in).unwrap();
        assert_eq!(
            events(&mut p.b),
            vec![
                Event::Subscribe(Bytes::from_static(b"weather")),
                Event::Subscribe(Bytes::from_static(b"news")),
                Event::Cancel(Bytes::from_static(b"weather")),
            ]
        );
    }

    fn test_random() -> crate::curve::Random {
        let state = std::sync::atomic::AtomicU8::new(3);
        std::sync::Arc::new(move |buf: &mut [u8]| {
            for b in buf.iter_mut() {
                *b = state.fetch_add(29, std::sync::atomic::Ordering::Relaxed);
            }
        })
    }

    fn secure_pair(client: Mechanism, server: Mechanism) -> Pair {
        let now = Instant::now();
        let mut c = ConnectionConfig::new(SocketType::Dealer);
        c.mechanism = client;
        c.random = Some(test_random());
        let mut s = ConnectionConfig::new(SocketType::Router);
        s.mechanism = server;
        s.random = Some(test_random());
        Pair {
            a: Connection::new(c, now),
            b: Connection::new(s, now),
            a_in: BytesMut::new(),
            b_in: BytesMut::new(),
            now,
        }
    }

    /// A PLAIN client (admin / secret) and server, not yet driven.
    fn plain_pair() -> Pair {
        secure_pair(
            Mechanism::PlainClient {
                username: "admin".into(),
                password: zeroize::Zeroizing::new("secret".into()),
            },
            Mechanism::PlainServer,
        )
    }

    #[test]
    fn plain_handshake_asks_for_authentication() {
        for accept in [true, false] {
            let mut p = plain_pair();
            p.drive(5).unwrap();
            match events(&mut p.b).as_slice() {
                [Event::Authenticate(Credentials::Plain { username, password })] => {
                    assert_eq!(username, "admin");
                    assert_eq!(password.as_str(), "secret");
                }
                other => panic!("{other:?}"),
            }
            if accept {
                p.b.accept_peer(p.now).unwrap();
                p.drive(5).unwrap();
                assert!(p.a.is_ready() && p.b.is_ready());
            } else {
                let e = p.b.reject_peer("wrong password");
                assert!(matches!(e, ProtocolError::AuthFailed(_)));
                assert_eq!(
                    p.drive(5).unwrap_err(),
                    ProtocolError::PeerError("wrong password".into())
                );
            }
        }
    }

    #[test]
    fn a_temporary_failure_is_not_told_to_the_peer() {
        for (status, told) in [("500", true), ("400", true), ("300", false)] {
            let mut p = plain_pair();
            p.drive(5).unwrap();
            assert!(matches!(
                events(&mut p.b).as_slice(),
                [Event::Authenticate(_)]
            ));
            p.b.reject_peer(status);
            let mut out = TransmitBuf::new();
            p.b.poll_transmit(&mut out);
            let sent = out.take().concat();
            let error = sent.windows(5).any(|w| w == b"ERROR");
            assert_eq!(error, told, "status {status}: {sent:?}");
        }
    }

    #[test]
    fn curve_handshake_and_encrypted_traffic() {
        let server_keys = crate::keys::KeyPair::from_random([1u8; 32]);
        let client_keys = crate::keys::KeyPair::from_random([2u8; 32]);
        let client_public = client_keys.public;
        let mut p = secure_pair(
            Mechanism::CurveClient {
                keys: client_keys,
                server_key: server_keys.public,
            },
            Mechanism::CurveServer { keys: server_keys },
        );
        p.drive(7).unwrap();
        assert_eq!(
            events(&mut p.b),
            vec![Event::Authenticate(Credentials::Curve {
                client_key: client_public
            })]
        );
        p.b.accept_peer(p.now).unwrap();
        p.drive(7).unwrap();
        assert!(p.a.is_ready() && p.b.is_ready());
        events(&mut p.a);
        events(&mut p.b);
        let mut tx = TransmitBuf::new();
        let msg = Message::from_frames(["secret", "payload"]);
        p.a.encode_message(&msg, &mut tx).unwrap();
        let wire = tx.take().concat();
        assert!(
            !wire.windows(6).any(|w| w == b"secret"),
            "traffic is encrypted"
        );
        for piece in wire.chunks(3) {
            p.b_in.extend_from_slice(piece);
            p.b.handle_input(p.now, &mut p.b_in).unwrap();
        }
        assert_eq!(events(&mut p.b), vec![Event::Message(msg)]);
        // A replayed frame is refused.
        p.b_in.extend_from_slice(&wire);
        assert!(p.b.handle_input(p.now, &mut p.b_in).is_err());
    }

    #[test]
    fn our_misconfiguration_is_not_the_peers_fault() {
        // CURVE without a randomness source, on either side: reported as ours, and no ERROR
        // command blames the peer.
        for (client_random, server_random) in [(false, true), (true, false)] {
            let server_keys = crate::keys::KeyPair::from_random([1u8; 32]);
            let mut p = secure_pair(
                Mechanism::CurveClient {
                    keys: crate::keys::KeyPair::from_random([2u8; 32]),
                    server_key: server_keys.public,
                },
                Mechanism::CurveServer { keys: server_keys },
            );
            if !client_random {
                p.a.config.random = None;
            }
            if !server_random {
                p.b.config.random = None;
            }
            let e = p.drive(64).unwrap_err();
            assert!(matches!(e, ProtocolError::Misconfigured(_)), "{e:?}");
            assert!(!e.is_peer_fault());
            assert_eq!(e.error_reason(), None);
        }
        // A PLAIN user name over 255 bytes.
        let mut p = secure_pair(
            Mechanism::PlainClient {
                username: "u".repeat(256),
                password: zeroize::Zeroizing::new("p".into()),
            },
            Mechanism::PlainServer,
        );
        let e = p.drive(64).unwrap_err();
        assert!(matches!(e, ProtocolError::Misconfigured(_)), "{e:?}");
        // A peer's bad crypto stays the peer's fault.
        assert!(ProtocolError::Crypto("bad box").is_peer_fault());
    }

    #[test]
    fn curve_client_with_wrong_server_key_fails() {
        let server_keys = crate::keys::KeyPair::from_random([1u8; 32]);
        let wrong = crate::keys::KeyPair::from_random([3u8; 32]);
        let mut p = secure_pair(
            Mechanism::CurveClient {
                keys: crate::keys::KeyPair::from_random([2u8; 32]),
                server_key: wrong.public,
            },
            Mechanism::CurveServer { keys: server_keys },
        );
        assert!(matches!(p.drive(64), Err(ProtocolError::Crypto(_))));
    }

    #[test]
    fn stalled_curve_client_times_out() {
        let now = Instant::now();
        let mut cfg = ConnectionConfig::new(SocketType::Router);
        cfg.mechanism = Mechanism::CurveServer {
            keys: crate::keys::KeyPair::from_random([1u8; 32]),
        };
        cfg.random = Some(test_random());
        cfg.handshake_timeout = Some(Duration::from_secs(1));
        let mut server = Connection::new(cfg, now);
        let mut g = Greeting::new("CURVE", false).encode();
        g[11] = 1;
        let mut input = BytesMut::from(&g[..]);
        server.handle_input(now, &mut input).unwrap();
        assert_eq!(
            server.handle_timeout(now + Duration::from_secs(2)),
            Err(ProtocolError::HandshakeTimeout)
        );
    }

    #[test]
    fn zmtp30_peer_gets_legacy_subscriptions() {
        // A ZMTP 3.0 PUB: its greeting carries minor version 0.
        let now = Instant::now();
        let mut sub = Connection::new(ConnectionConfig::new(SocketType::Sub), now);
        let mut g = Greeting::new("NULL", false).encode();
        g[11] = 0;
        let mut input = BytesMut::from(&g[..]);
        input.extend_from_slice(b"\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x03PUB");
        sub.handle_input(now, &mut input).unwrap();
        assert!(sub.is_ready());
        assert_eq!(sub.peer_minor(), 0);
        let mut tx = TransmitBuf::new();
        sub.encode_subscription(b"topic", true, &mut tx).unwrap();
        sub.encode_subscription(b"topic", false, &mut tx).unwrap();
        // Message frames 0x01'topic' and 0x00'topic', not SUBSCRIBE/CANCEL commands.
        assert_eq!(tx.take().concat(), b"\x00\x06\x01topic\x00\x06\x00topic");
    }

    #[test]
    fn a_ping_carries_the_ttl_asked_for_else_the_heartbeat_timeout() {
        for (ttl, timeout, expected_ds) in [
            (None, Some(Duration::from_secs(5)), 50u16),
            (None, None, 10),
            (Some(Duration::ZERO), Some(Duration::from_secs(5)), 0),
            (Some(Duration::from_millis(3_000)), None, 30),
        ] {
            let now = Instant::now();
            let mut p = Pair::new(SocketType::Pair, SocketType::Pair);
            p.a.config.heartbeat_ivl = Some(Duration::from_secs(1));
            p.a.config.heartbeat_timeout = timeout;
            p.a.config.heartbeat_ttl = ttl;
            p.drive(100).unwrap();
            p.a.handle_timeout(now + Duration::from_secs(2)).unwrap();
            let mut t = TransmitBuf::new();
            p.a.poll_transmit(&mut t);
            let wire = t.take().concat();
            let mut ping = b"\x04\x07\x04PING".to_vec();
            ping.extend_from_slice(&expected_ds.to_be_bytes());
            assert!(
                wire.windows(ping.len()).any(|w| w == ping),
                "ttl {ttl:?}, timeout {timeout:?}: {wire:?}"
            );
        }
    }

    #[test]
    fn ping_gets_pong_and_heartbeat_timeout() {
        let now = Instant::now();
        let mut p = Pair::new(SocketType::Pair, SocketType::Pair);
        p.a.config.heartbeat_ivl = Some(Duration::from_secs(1));
        p.drive(100).unwrap();
        assert!(p.a.poll_timeout().is_some());
        p.a.handle_timeout(now + Duration::from_secs(2)).unwrap();
        // b answers the PING with a PONG; a sees traffic and stays up.
        p.drive(100).unwrap();
        // Now silence: a's ping deadline passes.
        p.a.handle_timeout(now + Duration::from_secs(4)).unwrap();
        assert_eq!(
            p.a.handle_timeout(now + Duration::from_secs(6)),
            Err(ProtocolError::HeartbeatTimeout)
        );
    }
}
