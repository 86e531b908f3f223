//! ringmq: ZeroMQ-compatible messaging on thread-per-core io_uring shards.
//!
//! ringmq speaks ZMTP 3.1 (accepting 3.0 peers), so its sockets talk to libzmq 4.3 peers and back.
//! A [`Runtime`] starts shards, one thread per core, each with its own io_uring; a socket lives on
//! one shard with all its connections, buffers and timers, and shards share no lock on the hot path.
//!
//! Three ways to use a socket, all first-class and able to talk to each other:
//!
//! | API | where it runs | pick it when |
//! |---|---|---|
//! | [`Socket`] | async, in a task on a ringmq shard ([`Runtime::spawn_on`]); `!Send` | latency and message rate matter most: no hand-off to another thread, no lock |
//! | [`AsyncSocket`] | async, on any executor (tokio, async-std, smol, `futures::executor`); `Send + Sync + Clone`, `Stream` + `Sink` | your service already runs on tokio or another runtime; one lock-free hand-off each way, no thread blocks |
//! | [`BlockingSocket`] | any thread, blocking; `Send` | plain threads, or code written for libzmq's model; one hand-off each way |
//!
//! Foreign event loops can watch a handle's readiness descriptor ([`AsyncSocket::readiness`],
//! libzmq's `ZMQ_FD` role); every API has `disconnect` / `unbind`, per-socket counters
//! (`stats()`, and the `metrics` facade behind the `metrics` feature), and
//! [`Runtime::shutdown`] flushes every socket and reports what was delivered and abandoned.
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
pub use config::{
    Backend, Config, IoUringSettings, Spin, DEFAULT_ADAPTIVE_SPIN_US, DEFAULT_INBOUND_BUDGET_BYTES,
};
pub use error::{Error, ErrorKind, SendError};
pub use monitor::{HandshakeFailure, Monitor, MonitorEvent};
pub use proxy::{proxy, proxy_steerable, ControlSource, ProxyControl, ProxyStatistics};
pub use ringmq_transports::{Message, SocketType, SOURCE_FD_PROPERTY};
pub use runtime::{
    block_on, current_shard, settle_all, sleep, spawn_local, Runtime, ShardHandle, ShardId,
};
pub use security::{
    generate_keypair, hash_password, Authorizer, IpNet, KeyPair, Mechanism, PublicKey, SecretKey,
    SecurityPolicy,
};
pub use socket::poll::{poll, select_recv, PollEvents, PollItem};
pub use socket::shutdown::{ShutdownReport, SocketReport};
pub use socket::{
    AsyncReceiver, AsyncSender, AsyncSocket, BlockingSocket, IpcFilter, Options, RateLimit,
    Readiness, Socket, TcpTuning,
};
pub use stats::{DropCounts, HandshakeFailures, SocketStats};
