//! Error types of the wire layer. Every error names what the peer did wrong; none carries payload bytes.

/// A byte stream that is not valid ZMTP framing.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A frame announced a body larger than the configured limit.
    #[error("frame of {size} bytes exceeds the limit of {limit}")]
    FrameTooLarge {
        /// Announced body size.
        size: u64,
        /// The limit in force (`max_msg_size`).
        limit: u64,
    },
    /// A multipart message grew beyond the configured limit.
    #[error("message of {size} bytes exceeds the limit of {limit}")]
    MessageTooLarge {
        /// Size of the message so far.
        size: u64,
        /// The limit in force.
        limit: u64,
    },
    /// A multipart message has more frames than allowed.
    #[error("message has more than {limit} frames")]
    TooManyFrames {
        /// The limit in force.
        limit: usize,
    },
    /// Reserved bits of the flags byte were set.
    #[error("reserved frame flag bits set: {0:#04x}")]
    ReservedFlags(u8),
    /// A command frame carried the MORE flag.
    #[error("command frame with the MORE flag set")]
    CommandWithMore,
    /// A command body that does not parse.
    #[error("malformed {0} command")]
    MalformedCommand(&'static str),
    /// Metadata that does not parse.
    #[error("malformed metadata: {0}")]
    MalformedMetadata(&'static str),
}

/// Why a connection must close: mostly a peer that broke the protocol, and, kept apart, our own
/// misconfiguration ([`ProtocolError::Misconfigured`]; see [`ProtocolError::is_peer_fault`]).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Our side is misconfigured (a CURVE connection without a randomness source, a PLAIN user
    /// name over 255 bytes): not the peer's fault, and nothing is said to it.
    #[error("local misconfiguration: {0}")]
    Misconfigured(&'static str),
    /// Framing or command error.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The peer's greeting does not start with the ZMTP 3 signature.
    #[error("malformed greeting: {0}")]
    MalformedGreeting(&'static str),
    /// The peer speaks ZMTP 1.0 or 2.0; ringmq refuses legacy peers.
    #[error("legacy ZMTP {major}.x peer refused (ringmq speaks ZMTP 3.0 and 3.1 only)")]
    LegacyPeer {
        /// The peer's major version (1 for an unversioned ZMTP 1.0 peer).
        major: u8,
    },
    /// The peer uses another security mechanism.
    #[error("security mechanism mismatch: we use {ours}, the peer uses {theirs}")]
    MechanismMismatch {
        /// Our mechanism name.
        ours: String,
        /// The peer's mechanism name (printable ASCII only).
        theirs: String,
    },
    /// The peer's socket type may not talk to ours.
    #[error("socket type {peer} may not connect to {ours}")]
    IncompatibleSocketType {
        /// Our socket type.
        ours: &'static str,
        /// The peer's socket type name, as it sent it.
        peer: String,
    },
    /// The peer sent something out of order during the handshake.
    #[error("unexpected {0} during the handshake")]
    UnexpectedCommand(String),
    /// The peer's READY lacked a required property or had a bad one.
    #[error("invalid READY metadata: {0}")]
    InvalidMetadata(&'static str),
    /// The peer sent an ERROR command.
    #[error("peer closed the handshake with ERROR: {0}")]
    PeerError(String),
    /// The handshake did not complete in time.
    #[error("handshake did not finish within the handshake timeout")]
    HandshakeTimeout,
    /// The peer stopped answering heartbeats.
    #[error("peer did not answer heartbeats in time")]
    HeartbeatTimeout,
    /// A CURVE box, nonce or command failed its checks.
    #[error("CURVE: {0}")]
    Crypto(&'static str),
    /// The peer was not authenticated or not authorised.
    #[error("authentication failed: {0}")]
    AuthFailed(String),
    /// The ZAP handler's reply to the request about this peer was malformed: the peer is
    /// refused at once, as libzmq refuses it (no status code goes to the peer).
    #[error("ZAP handler: {0}")]
    ZapReply(crate::zap::ZapError),
}

impl ProtocolError {
    /// Whether the peer caused this (everything but [`ProtocolError::Misconfigured`]).
    pub fn is_peer_fault(&self) -> bool {
        !matches!(self, ProtocolError::Misconfigured(_))
    }

    /// The reason text to put in a ZMTP ERROR command, where the spec allows one.
    pub fn error_reason(&self) -> Option<String> {
        match self {
            ProtocolError::IncompatibleSocketType { .. } => Some("Invalid socket type".into()),
            ProtocolError::MechanismMismatch { .. } => Some("Security mechanism mismatch".into()),
            ProtocolError::InvalidMetadata(_) => Some("Invalid metadata".into()),
            ProtocolError::AuthFailed(reason) => Some(reason.clone()),
            _ => None,
        }
    }
}
