//! PLAIN (RFC 24): the client sends HELLO with its user name and password, the server answers
//! WELCOME once the owner accepted them, the client sends INITIATE with its metadata and the
//! server READY with its own. Passwords travel in clear: use PLAIN only on trusted networks.

use bytes::Bytes;

use super::{unexpected, Framing, Handshake, Out, Outcome};
use crate::command::Command;
use crate::connection::Credentials;
use crate::error::{DecodeError, ProtocolError};
use crate::metadata::Metadata;

/// Where a PLAIN server stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerStep {
    /// Waiting for the client's HELLO.
    ExpectHello,
    /// Waiting for the owner's decision about the credentials.
    AwaitAuth,
    /// WELCOME is sent; waiting for the client's INITIATE.
    ExpectInitiate,
}

/// Where a PLAIN client stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientStep {
    /// HELLO is sent; waiting for WELCOME.
    ExpectWelcome,
    /// INITIATE is sent; waiting for READY.
    ExpectReady,
}

/// Send HELLO. A user name or password over 255 bytes is our own misconfiguration.
pub(super) fn begin_client(
    username: &str,
    password: &str,
    out: &mut Out<'_>,
) -> Result<Outcome, ProtocolError> {
    if username.len() > 255 || password.len() > 255 {
        return Err(ProtocolError::Misconfigured(
            "PLAIN user name or password over 255 bytes",
        ));
    }
    let mut data = zeroize::Zeroizing::new(Vec::with_capacity(2 + username.len() + password.len()));
    data.push(username.len() as u8);
    data.extend_from_slice(username.as_bytes());
    data.push(password.len() as u8);
    data.extend_from_slice(password.as_bytes());
    let mut frame = zeroize::Zeroizing::new(Vec::new());
    crate::frame::encode_command_frame(&mut *frame, "HELLO", &data);
    out.pending.put_slice(&frame);
    Ok(Outcome::Continue(Handshake::PlainClient(
        ClientStep::ExpectWelcome,
    )))
}

/// One PLAIN field: a length byte and that many bytes.
fn field(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&len, rest) = data.split_first()?;
    let len = usize::from(len);
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// The metadata after a command's name.
fn metadata_after_name(name: &[u8], body: &Bytes) -> Result<Metadata, ProtocolError> {
    Ok(Metadata::decode(&body.slice(1 + name.len()..))?)
}

impl ServerStep {
    pub(super) fn on_command(
        self,
        name: &[u8],
        body: &Bytes,
        data: &[u8],
        out: &mut Out<'_>,
    ) -> Result<Outcome, ProtocolError> {
        match (self, name) {
            (ServerStep::ExpectHello, b"HELLO") => {
                let malformed = || DecodeError::MalformedCommand("HELLO");
                let (username, rest) = field(data).ok_or_else(malformed)?;
                let (password, rest) = field(rest).ok_or_else(malformed)?;
                if !rest.is_empty() {
                    return Err(malformed().into());
                }
                Ok(Outcome::Authenticate(
                    Handshake::PlainServer(ServerStep::AwaitAuth),
                    Credentials::Plain {
                        username: String::from_utf8_lossy(username).into_owned(),
                        password: zeroize::Zeroizing::new(
                            String::from_utf8_lossy(password).into_owned(),
                        ),
                    },
                ))
            }
            (ServerStep::ExpectInitiate, b"INITIATE") => {
                let meta = metadata_after_name(name, body)?;
                let mut bytes = Vec::new();
                Command::Ready(out.our_metadata.clone()).encode(&mut bytes);
                out.pending.put_slice(&bytes);
                Ok(Outcome::Done(meta, Framing::Clear))
            }
            _ => Err(unexpected(name)),
        }
    }

    pub(super) fn accept(self, out: &mut Out<'_>) -> Outcome {
        match self {
            ServerStep::AwaitAuth => {
                let mut bytes = Vec::new();
                crate::frame::encode_command_frame(&mut bytes, "WELCOME", &[]);
                out.pending.put_slice(&bytes);
                Outcome::Continue(Handshake::PlainServer(ServerStep::ExpectInitiate))
            }
            other => Outcome::Continue(Handshake::PlainServer(other)),
        }
    }

    pub(super) fn name(&self) -> &'static str {
        match self {
            ServerStep::ExpectHello => "PLAIN server ExpectHello",
            ServerStep::AwaitAuth => "PLAIN server AwaitAuth",
            ServerStep::ExpectInitiate => "PLAIN server ExpectInitiate",
        }
    }
}

impl ClientStep {
    pub(super) fn on_command(
        self,
        name: &[u8],
        body: &Bytes,
        out: &mut Out<'_>,
    ) -> Result<Outcome, ProtocolError> {
        match (self, name) {
            (ClientStep::ExpectWelcome, b"WELCOME") => {
                let mut encoded = Vec::new();
                out.our_metadata.encode(&mut encoded);
                let mut bytes = Vec::new();
                crate::frame::encode_command_frame(&mut bytes, "INITIATE", &encoded);
                out.pending.put_slice(&bytes);
                Ok(Outcome::Continue(Handshake::PlainClient(
                    ClientStep::ExpectReady,
                )))
            }
            (ClientStep::ExpectReady, b"READY") => Ok(Outcome::Done(
                metadata_after_name(name, body)?,
                Framing::Clear,
            )),
            _ => Err(unexpected(name)),
        }
    }

    pub(super) fn name(&self) -> &'static str {
        match self {
            ClientStep::ExpectWelcome => "PLAIN client ExpectWelcome",
            ClientStep::ExpectReady => "PLAIN client ExpectReady",
        }
    }
}
