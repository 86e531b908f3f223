//! NULL (RFC 37 §"The NULL Security Mechanism"): both sides send READY with their metadata. When
//! the owner authenticates NULL peers (a ZAP domain is set), our READY waits for its decision.

use bytes::Bytes;

use super::{unexpected, Framing, Handshake, Out, Outcome};
use crate::command::Command;
use crate::connection::Credentials;
use crate::error::ProtocolError;

/// Where a NULL handshake stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Waiting for the owner's decision before sending READY.
    AwaitAuth,
    /// Our READY is sent; waiting for the peer's.
    ExpectReady,
}

pub(super) fn begin(authenticate: bool, out: &mut Out<'_>) -> Outcome {
    if authenticate {
        Outcome::Authenticate(Handshake::Null(Step::AwaitAuth), Credentials::Null)
    } else {
        send_ready(out)
    }
}

fn send_ready(out: &mut Out<'_>) -> Outcome {
    let mut bytes = Vec::new();
    Command::Ready(out.our_metadata.clone()).encode(&mut bytes);
    out.pending.put_slice(&bytes);
    Outcome::Continue(Handshake::Null(Step::ExpectReady))
}

impl Step {
    pub(super) fn on_command(self, name: &[u8], body: &Bytes) -> Result<Outcome, ProtocolError> {
        match (self, name) {
            (Step::ExpectReady, b"READY") => match Command::decode(body)? {
                Command::Ready(meta) => Ok(Outcome::Done(meta, Framing::Clear)),
                _ => Err(unexpected(name)),
            },
            _ => Err(unexpected(name)),
        }
    }

    pub(super) fn accept(self, out: &mut Out<'_>) -> Outcome {
        match self {
            Step::AwaitAuth => send_ready(out),
            other => Outcome::Continue(Handshake::Null(other)),
        }
    }

    pub(super) fn name(&self) -> &'static str {
        match self {
            Step::AwaitAuth => "NULL AwaitAuth",
            Step::ExpectReady => "NULL ExpectReady",
        }
    }
}
