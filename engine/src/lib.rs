//! ringmq: ZeroMQ-compatible messaging on thread-per-core io_uring shards.
//!
//! ringmq speaks ZMTP 3.1 (accepting 3.0 peers), so its sockets talk to libzmq 4.3 peers and back.
//! A [`Runtime`] starts shards, one thread per core, each with its own io_uring; a socket lives on
//! one shard with all its connections, buffers and timers, and shards share no lock on the hot path.
//!
//! Two ways to use a socket:
//! - **async, on a shard** ([`Socket`]): spawn a task with [`Runtime::spawn_on`] and use the socket
//!   there; no hand-off to another thread, the fast path.
//! - **blocking, from any thread** ([`BlockingSocket`]): the libzmq model; each message crosses one
//!   lock-free queue to the socket's shard.
//!
//! ```no_run
//! use ringmq::{BlockingSocket, Config, Message, Options, Runtime, SocketType};
//!
//! let rt = Runtime::new(Config::default())?;
//! let pull = BlockingSocket::new(rt.next_shard(), SocketType::Pull, Options::default())?;
//! let endpoint = pull.bind("tcp://127.0.0.1:0")?;
//! let push = BlockingSocket::new(rt.next_shard(), SocketType::Push, Options::default())?;
//! push.connect(&endpoint)?;
//! push.send(Message::from_frames(["hello", "world"]))?;
//! let msg = pull.recv()?;
//! assert_eq!(msg.frames()[0], "hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every classic socket type (PUSH/PULL, PUB/SUB, XPUB/XSUB, REQ/REP, DEALER/ROUTER, PAIR) over
//! tcp, ipc and inproc, with NULL, PLAIN or CURVE security and ZAP (see the README's matrix).
#![warn(missing_docs)]

pub mod audit;
pub mod cert;
pub mod config;
pub mod error;
pub mod monitor;
mod park;
pub mod proxy;
pub mod runtime;
pub mod security;
pub mod socket;
pub mod stats;
pub mod zap;

pub use bytes::Bytes;
pub use cert::Certificate;
pub use config::{Backend, Config, IoUringSettings};
pub use error::{Error, ErrorKind, SendError};
pub use monitor::{HandshakeFailure, Monitor, MonitorEvent};
pub use proxy::{proxy, proxy_steerable, ControlSource, ProxyControl, ProxyStatistics};
pub use ringmq_transports::{Message, SocketType};
pub use runtime::{block_on, current_shard, sleep, spawn_local, Runtime, ShardHandle, ShardId};
pub use security::{
    generate_keypair, hash_password, Authorizer, IpNet, KeyPair, Mechanism, PublicKey, SecretKey,
    SecurityPolicy,
};
pub use socket::poll::{poll, select_recv, PollEvents, PollItem};
pub use socket::shutdown::{ShutdownReport, SocketReport};
pub use socket::{
    AsyncReceiver, AsyncSender, AsyncSocket, BlockingSocket, Options, Readiness, Socket,
};
pub use stats::{DropCounts, HandshakeFailures, SocketStats};
