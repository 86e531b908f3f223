//! CURVE (RFC 26) as handshake states around the crypto machines of [`crate::curve`]: the client
//! sends HELLO and waits for WELCOME, sends INITIATE (vouch and metadata) and waits for READY; the
//! server waits for HELLO, answers WELCOME, waits for INITIATE, asks the owner about the client's
//! long-term key, and answers READY. Both end with the session's codec for traffic.

use bytes::Bytes;

use super::{unexpected, Framing, Handshake, Out, Outcome};
use crate::connection::Credentials;
use crate::curve::{CurveClient, CurveServer, Random};
use crate::error::ProtocolError;
use crate::keys::{KeyPair, PublicKey};
use crate::metadata::Metadata;

/// Where a CURVE server stands; each state holds what the next step needs.
pub(crate) enum ServerStep {
    /// Waiting for HELLO; WELCOME will need fresh randomness (transient key, cookie key).
    ExpectHello { server: CurveServer, random: Random },
    /// WELCOME is sent; waiting for INITIATE.
    ExpectInitiate { server: CurveServer },
    /// INITIATE opened; waiting for the owner's decision about the client, whose metadata waits
    /// here with it.
    AwaitAuth {
        server: CurveServer,
        peer_metadata: Metadata,
    },
}

/// Where a CURVE client stands.
pub(crate) enum ClientStep {
    /// HELLO is sent; waiting for WELCOME (INITIATE will need randomness for its nonces).
    ExpectWelcome { client: CurveClient, random: Random },
    /// INITIATE is sent; waiting for READY.
    ExpectReady { client: CurveClient },
}

/// CURVE needs a source of secure randomness; its absence is our misconfiguration.
fn need_random(random: Option<&Random>) -> Result<Random, ProtocolError> {
    random.cloned().ok_or(ProtocolError::Misconfigured(
        "CURVE needs a randomness source (ConnectionConfig::random)",
    ))
}

pub(super) fn begin_server(
    keys: &KeyPair,
    random: Option<&Random>,
) -> Result<Outcome, ProtocolError> {
    let random = need_random(random)?;
    Ok(Outcome::Continue(Handshake::CurveServer(
        ServerStep::ExpectHello {
            server: CurveServer::new(keys.clone()),
            random,
        },
    )))
}

pub(super) fn begin_client(
    keys: &KeyPair,
    server_key: &PublicKey,
    random: Option<&Random>,
    out: &mut Out<'_>,
) -> Result<Outcome, ProtocolError> {
    let random = need_random(random)?;
    let mut client = CurveClient::new(keys.clone(), *server_key, &random);
    let hello = client.hello()?;
    put_command_body(out, &hello);
    Ok(Outcome::Continue(Handshake::CurveClient(
        ClientStep::ExpectWelcome { client, random },
    )))
}

/// Queue a handshake command whose body (name-len, name, data) is already built.
fn put_command_body(out: &mut Out<'_>, body: &[u8]) {
    let mut bytes = Vec::with_capacity(body.len() + 9);
    crate::frame::encode_header(&mut bytes, crate::frame::FrameFlags::COMMAND, body.len());
    bytes.extend_from_slice(body);
    out.pending.put_slice(&bytes);
}

impl ServerStep {
    pub(super) fn on_command(
        self,
        name: &[u8],
        body: &Bytes,
        out: &mut Out<'_>,
    ) -> Result<Outcome, ProtocolError> {
        match (self, name) {
            (ServerStep::ExpectHello { mut server, random }, b"HELLO") => {
                let welcome = server.on_hello(body, &random)?;
                put_command_body(out, &welcome);
                Ok(Outcome::Continue(Handshake::CurveServer(
                    ServerStep::ExpectInitiate { server },
                )))
            }
            (ServerStep::ExpectInitiate { mut server }, b"INITIATE") => {
                let (client_key, peer_metadata) = server.on_initiate(body)?;
                Ok(Outcome::Authenticate(
                    Handshake::CurveServer(ServerStep::AwaitAuth {
                        server,
                        peer_metadata,
                    }),
                    Credentials::Curve { client_key },
                ))
            }
            _ => Err(unexpected(name)),
        }
    }

    pub(super) fn accept(self, out: &mut Out<'_>) -> Result<Outcome, ProtocolError> {
        match self {
            ServerStep::AwaitAuth {
                mut server,
                peer_metadata,
            } => {
                let (ready, codec) = server.ready(&out.our_metadata)?;
                put_command_body(out, &ready);
                Ok(Outcome::Done(peer_metadata, Framing::Curve(codec)))
            }
            other => Ok(Outcome::Continue(Handshake::CurveServer(other))),
        }
    }

    pub(super) fn name(&self) -> &'static str {
        match self {
            ServerStep::ExpectHello { .. } => "CURVE server ExpectHello",
            ServerStep::ExpectInitiate { .. } => "CURVE server ExpectInitiate",
            ServerStep::AwaitAuth { .. } => "CURVE server AwaitAuth",
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
            (ClientStep::ExpectWelcome { mut client, random }, b"WELCOME") => {
                let initiate = client.on_welcome(body, &out.our_metadata, &random)?;
                put_command_body(out, &initiate);
                Ok(Outcome::Continue(Handshake::CurveClient(
                    ClientStep::ExpectReady { client },
                )))
            }
            (ClientStep::ExpectReady { mut client }, b"READY") => {
                let (meta, codec) = client.on_ready(body)?;
                Ok(Outcome::Done(meta, Framing::Curve(codec)))
            }
            _ => Err(unexpected(name)),
        }
    }

    pub(super) fn name(&self) -> &'static str {
        match self {
            ClientStep::ExpectWelcome { .. } => "CURVE client ExpectWelcome",
            ClientStep::ExpectReady { .. } => "CURVE client ExpectReady",
        }
    }
}
