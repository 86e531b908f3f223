//! Interop with the reference ZeroMQ implementation: safe bindings to the system libzmq.
//!
//! ringmq's interop tests and `loadgen` comparisons drive libzmq through [`libzmq`]. The library is
//! opened with `dlopen` on first use ([`libzmq::load`]), not linked, so everything that depends on this
//! crate builds and runs on machines without libzmq and only fails, with a message saying what to
//! install, when a libzmq socket is actually asked for.
//!
//! What it does not do: it is not a complete binding (no `zmq_poller`, no zero-copy
//! `zmq_msg_init_data`, no draft socket types), and it does not implement ZMTP itself; that is
//! `ringmq-transports`. The raw entry points are public on [`libzmq::Lib`] for anything not wrapped.
#![warn(missing_docs)]

pub mod libzmq;

pub use libzmq::{Context, LoadError, Socket, ZmqError};
