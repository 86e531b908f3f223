//! ZMTP commands: READY, ERROR, PING, PONG, SUBSCRIBE, CANCEL (RFC 37).

use bytes::{BufMut, Bytes};

use crate::error::DecodeError;
use crate::frame::encode_command_frame;
use crate::metadata::Metadata;

/// Longest PING context a peer may send (RFC 37: up to 16 bytes).
pub const PING_CONTEXT_MAX: usize = 16;

/// A decoded command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Handshake completion with metadata.
    Ready(Metadata),
    /// A fatal handshake error with a reason of at most 255 bytes.
    Error(String),
    /// Heartbeat request: TTL in deciseconds and an opaque context echoed by PONG.
    Ping {
        /// Time to live the peer asks for, in deciseconds (0: none).
        ttl_ds: u16,
        /// Context to echo.
        context: Bytes,
    },
    /// Heartbeat reply echoing a PING's context.
    Pong {
        /// The echoed context.
        context: Bytes,
    },
    /// ZMTP 3.1 subscription.
    Subscribe(Bytes),
    /// ZMTP 3.1 unsubscription.
    Cancel(Bytes),
    /// A command ringmq does not know; ignored after the handshake.
    Unknown {
        /// The command name, printable ASCII or hex.
        name: String,
    },
}

impl Command {
    /// Parse a command frame body (`name-len name data`).
    pub fn decode(body: &Bytes) -> Result<Command, DecodeError> {
        let name_len = usize::from(*body.first().ok_or(DecodeError::MalformedCommand("empty"))?);
        if name_len == 0 || body.len() < 1 + name_len {
            return Err(DecodeError::MalformedCommand("name"));
        }
        let name = &body[1..1 + name_len];
        let data = body.slice(1 + name_len..);
        Ok(match name {
            b"READY" => Command::Ready(Metadata::decode(&data)?),
            b"ERROR" => {
                let len = usize::from(*data.first().ok_or(DecodeError::MalformedCommand("ERROR"))?);
                let reason = data
                    .get(1..1 + len)
                    .ok_or(DecodeError::MalformedCommand("ERROR"))?;
                Command::Error(printable(reason))
            }
            // A context longer than the RFC's 16 bytes is cut to 16, as libzmq does (its
            // test_heartbeats expects the PONG to a 58-byte context to carry its first 16).
            b"PING" => {
                if data.len() < 2 {
                    return Err(DecodeError::MalformedCommand("PING"));
                }
                Command::Ping {
                    ttl_ds: u16::from_be_bytes([data[0], data[1]]),
                    context: data.slice(2..(2 + PING_CONTEXT_MAX).min(data.len())),
                }
            }
            b"PONG" => Command::Pong {
                context: data.slice(..PING_CONTEXT_MAX.min(data.len())),
            },
            b"SUBSCRIBE" => Command::Subscribe(data),
            b"CANCEL" => Command::Cancel(data),
            other => Command::Unknown {
                name: printable(other),
            },
        })
    }

    /// Append the command as a complete frame.
    pub fn encode(&self, out: &mut impl BufMut) {
        match self {
            Command::Ready(meta) => {
                let mut data = Vec::with_capacity(meta.encoded_len());
                meta.encode(&mut data);
                encode_command_frame(out, "READY", &data);
            }
            Command::Error(reason) => {
                let reason = &reason.as_bytes()[..reason.len().min(255)];
                let mut data = Vec::with_capacity(1 + reason.len());
                data.push(reason.len() as u8);
                data.extend_from_slice(reason);
                encode_command_frame(out, "ERROR", &data);
            }
            Command::Ping { ttl_ds, context } => {
                let mut data = Vec::with_capacity(2 + context.len());
                data.extend_from_slice(&ttl_ds.to_be_bytes());
                data.extend_from_slice(&context[..context.len().min(PING_CONTEXT_MAX)]);
                encode_command_frame(out, "PING", &data);
            }
            Command::Pong { context } => encode_command_frame(out, "PONG", context),
            Command::Subscribe(topic) => encode_command_frame(out, "SUBSCRIBE", topic),
            Command::Cancel(topic) => encode_command_frame(out, "CANCEL", topic),
            Command::Unknown { name } => encode_command_frame(out, name, &[]),
        }
    }

    /// The command's name, for logs and errors.
    pub fn name(&self) -> &str {
        match self {
            Command::Ready(_) => "READY",
            Command::Error(_) => "ERROR",
            Command::Ping { .. } => "PING",
            Command::Pong { .. } => "PONG",
            Command::Subscribe(_) => "SUBSCRIBE",
            Command::Cancel(_) => "CANCEL",
            Command::Unknown { name } => name,
        }
    }
}

/// Peer-supplied text made safe for logs: printable ASCII kept, anything else escaped.
pub(crate) fn printable(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{FrameDecoder, RawFrame};
    use bytes::BytesMut;

    fn round_trip(cmd: Command) -> Command {
        let mut out = BytesMut::new();
        cmd.encode(&mut out);
        match FrameDecoder::new(1 << 16)
            .decode(&mut out)
            .unwrap()
            .unwrap()
        {
            RawFrame::Command(body) => Command::decode(&body).unwrap(),
            other => panic!("not a command: {other:?}"),
        }
    }

    #[test]
    fn commands_round_trip() {
        let mut meta = Metadata::new();
        meta.insert("Socket-Type", &b"SUB"[..]);
        for cmd in [
            Command::Ready(meta),
            Command::Error("Invalid socket type".into()),
            Command::Ping {
                ttl_ds: 30,
                context: Bytes::from_static(b"ctx"),
            },
            Command::Pong {
                context: Bytes::from_static(b"ctx"),
            },
            Command::Subscribe(Bytes::from_static(b"topic")),
            Command::Cancel(Bytes::new()),
        ] {
            assert_eq!(round_trip(cmd.clone()), cmd);
        }
    }

    #[test]
    fn ready_wire_vector() {
        // READY from a libzmq 4.3 PULL socket (NULL mechanism), as captured on the wire:
        // 04 1a 05 'READY' 0b 'Socket-Type' 00 00 00 04 'PULL'
        let wire = b"\x04\x1a\x05READY\x0bSocket-Type\x00\x00\x00\x04PULL";
        let mut buf = BytesMut::from(&wire[..]);
        let RawFrame::Command(body) = FrameDecoder::new(1024).decode(&mut buf).unwrap().unwrap()
        else {
            panic!("not a command")
        };
        let Command::Ready(meta) = Command::decode(&body).unwrap() else {
            panic!("not READY")
        };
        assert_eq!(meta.get("Socket-Type").unwrap(), "PULL");
    }

    #[test]
    fn a_long_ping_context_is_cut_to_sixteen_bytes() {
        let ping = Command::decode(&Bytes::from_static(b"\x04PING\x00\x0a012345678901234567"));
        let Ok(Command::Ping { ttl_ds, context }) = ping else {
            panic!("not PING: {ping:?}")
        };
        assert_eq!(ttl_ds, 10);
        assert_eq!(&context[..], b"0123456789012345");
        let pong = Command::decode(&Bytes::from_static(b"\x04PONG012345678901234567"));
        let Ok(Command::Pong { context }) = pong else {
            panic!("not PONG: {pong:?}")
        };
        assert_eq!(&context[..], b"0123456789012345");
    }

    #[test]
    fn malformed_commands() {
        for bad in [
            &b""[..],
            b"\x00",
            b"\x05REA",
            b"\x04PING\x00",
            b"\x05ERROR",
            b"\x05ERROR\x05ab",
        ] {
            assert!(
                Command::decode(&Bytes::copy_from_slice(bad)).is_err(),
                "{bad:?}"
            );
        }
    }
}
