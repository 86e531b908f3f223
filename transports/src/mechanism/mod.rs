//! The security handshakes, one module per mechanism, as typed states: each step is named for
//! what it waits for (`ExpectHello`, `ExpectWelcome`, `ExpectInitiate`, …) and carries exactly
//! the data it needs, so a state without its data cannot be written.
//!
//! ```text
//!              greeting read
//!                   │ Handshake::begin
//!                   ▼
//!   ┌──── Handshake (null::Step | plain::ServerStep | plain::ClientStep
//!   │                | curve::ServerStep | curve::ClientStep) ◄──┐
//!   │                   │ on_command / accept                    │ Outcome::Continue,
//!   │                   ├────────────────────────────────────────┘ Outcome::Authenticate
//!   │                   ▼ Outcome::Done(peer metadata, Framing)
//!   │            Connection::finish_handshake → traffic, framed as the mechanism says
//! ```
//!
//! A step consumes itself and returns the next ([`Outcome`]); the [`super::connection::Connection`]
//! owns the greeting, framing, timers and events around it. Errors a peer causes are
//! [`ProtocolError`]s naming what it did; our own misconfiguration is
//! [`ProtocolError::Misconfigured`], kept apart so it is never blamed on the peer.

pub(crate) mod curve;
pub(crate) mod null;
pub(crate) mod plain;

use bytes::Bytes;

use crate::connection::{ConnectionConfig, Credentials, Mechanism, TransmitBuf};
use crate::curve::CurveCodec;
use crate::error::ProtocolError;
use crate::metadata::Metadata;

/// Where a step writes and what it may say about us.
pub(crate) struct Out<'a> {
    /// Handshake bytes for the peer.
    pub(crate) pending: &'a mut TransmitBuf,
    /// Our metadata (`Socket-Type`, `Identity`), for READY and INITIATE.
    pub(crate) our_metadata: Metadata,
}

/// How traffic is framed once the handshake is done.
#[derive(Debug)]
pub(crate) enum Framing {
    /// NULL and PLAIN: frames in clear.
    Clear,
    /// CURVE: every frame is a MESSAGE box, sealed and opened with the session's codec.
    Curve(CurveCodec),
    /// No ZMTP at all: a STREAM socket's raw bytes.
    Raw,
}

/// What a step leads to.
pub(crate) enum Outcome {
    /// Wait for the peer's next command in this state.
    Continue(Handshake),
    /// Ask the owner about the peer (`Event::Authenticate`); the state resumes with
    /// [`Handshake::accept`].
    Authenticate(Handshake, Credentials),
    /// Done: the peer's metadata (checked by the connection) and the traffic framing.
    Done(Metadata, Framing),
}

/// The handshake in progress, by mechanism and role.
pub(crate) enum Handshake {
    Null(null::Step),
    PlainServer(plain::ServerStep),
    PlainClient(plain::ClientStep),
    CurveServer(curve::ServerStep),
    CurveClient(curve::ClientStep),
}

impl std::fmt::Debug for Handshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The state's name only: the steps hold keys.
        f.write_str(self.name())
    }
}

impl Handshake {
    /// The first step once the peer's greeting has been read (its mechanism matches ours).
    pub(crate) fn begin(
        config: &ConnectionConfig,
        out: &mut Out<'_>,
    ) -> Result<Outcome, ProtocolError> {
        match &config.mechanism {
            Mechanism::Null => Ok(null::begin(config.authenticate_null, out)),
            Mechanism::PlainServer => Ok(Outcome::Continue(Handshake::PlainServer(
                plain::ServerStep::ExpectHello,
            ))),
            Mechanism::PlainClient { username, password } => {
                plain::begin_client(username, password, out)
            }
            Mechanism::CurveServer { keys } => curve::begin_server(keys, config.random.as_ref()),
            Mechanism::CurveClient { keys, server_key } => {
                curve::begin_client(keys, server_key, config.random.as_ref(), out)
            }
        }
    }

    /// The peer sent the handshake command `name` (`body` is the whole command body, `data`
    /// what follows the name).
    pub(crate) fn on_command(
        self,
        name: &[u8],
        body: &Bytes,
        data: &[u8],
        out: &mut Out<'_>,
    ) -> Result<Outcome, ProtocolError> {
        match self {
            Handshake::Null(step) => step.on_command(name, body),
            Handshake::PlainServer(step) => step.on_command(name, body, data, out),
            Handshake::PlainClient(step) => step.on_command(name, body, out),
            Handshake::CurveServer(step) => step.on_command(name, body, out),
            Handshake::CurveClient(step) => step.on_command(name, body, out),
        }
    }

    /// Whether the handshake waits for the owner's authentication decision.
    pub(crate) fn awaits_authentication(&self) -> bool {
        matches!(
            self,
            Handshake::Null(null::Step::AwaitAuth)
                | Handshake::PlainServer(plain::ServerStep::AwaitAuth)
                | Handshake::CurveServer(curve::ServerStep::AwaitAuth { .. })
        )
    }

    /// The owner accepted the peer. Only called while [`Handshake::awaits_authentication`].
    pub(crate) fn accept(self, out: &mut Out<'_>) -> Result<Outcome, ProtocolError> {
        match self {
            Handshake::Null(step) => Ok(step.accept(out)),
            Handshake::PlainServer(step) => Ok(step.accept(out)),
            Handshake::CurveServer(step) => step.accept(out),
            other => Ok(Outcome::Continue(other)),
        }
    }

    /// The state's name, for logs and `Debug`.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Handshake::Null(s) => s.name(),
            Handshake::PlainServer(s) => s.name(),
            Handshake::PlainClient(s) => s.name(),
            Handshake::CurveServer(s) => s.name(),
            Handshake::CurveClient(s) => s.name(),
        }
    }
}

/// The error for a command the state does not expect.
pub(crate) fn unexpected(name: &[u8]) -> ProtocolError {
    ProtocolError::UnexpectedCommand(crate::command::printable(name))
}
