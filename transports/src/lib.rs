//! Sans-IO ZMTP 3.1 for ringmq.
//!
//! This crate turns bytes into ZMTP events and events into bytes: the greeting, the frame codec, the
//! commands (READY, ERROR, PING, PONG, SUBSCRIBE, CANCEL), metadata, the NULL security handshake, the
//! socket-type compatibility check, and endpoint parsing.
//!
//! It performs no I/O, reads no clock and spawns no thread. Callers pass bytes and the current time in,
//! and take bytes, events and deadlines out (see [`Connection`]). That is what lets unit tests, property
//! tests and fuzzers drive it directly.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod command;
pub mod connection;
pub mod curve;
pub mod endpoint;
pub mod error;
pub mod frame;
pub mod fuzzing;
pub mod greeting;
pub mod keys;
pub(crate) mod mechanism;
pub mod message;
pub mod metadata;
pub mod socket_type;
pub mod subscription;
pub mod z85;
pub mod zap;

pub use command::Command;
pub use connection::{Connection, ConnectionConfig, Credentials, Event, Mechanism};
pub use endpoint::{Endpoint, EndpointError};
pub use error::{DecodeError, ProtocolError};
pub use frame::{FrameDecoder, FrameFlags, RawFrame};
pub use greeting::Greeting;
pub use keys::{KeyPair, PublicKey, SecretKey};
pub use message::{Guard, Message, Returns, SOURCE_FD_PROPERTY};
pub use metadata::Metadata;
pub use socket_type::SocketType;
