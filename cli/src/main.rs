//! `ringmq`, the command-line tool for poking at ZeroMQ sockets: `ringmq send` turns lines of
//! standard input into messages, `ringmq recv` prints the messages it receives, one per line;
//! `ringmq req` and `ringmq rep` make and answer requests; `ringmq proxy` runs zmq_proxy(3)
//! between two sockets; `ringmq monitor` prints a socket's connection events. The socket commands
//! speak NULL, PLAIN or CURVE (`--curve-server`, `--plain-user`, ...); `ringmq keygen` makes
//! CURVE keys and `ringmq audit` checks a deployment description for exposed sockets.
//!
//! It talks to any ZMTP 3 peer (libzmq programs, pyzmq, another `ringmq`), over tcp and ipc. It
//! is a probe, not a broker or a benchmark: one socket per process (the proxy's two or three
//! aside), one message at a time, and no retries beyond the socket's own reconnects. See
//! `loadgen` for throughput.
//!
//! Errors are one line on standard error, `ringmq: <message>`, with exit status 1; a command line
//! clap rejects exits with status 2.

mod audit;
mod keygen;
mod monitor;
mod proxy;
mod recv;
mod rep;
mod req;
mod security;
mod send;
mod shard;
mod socket;
mod stats;
mod text;

use std::fmt;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Send and receive messages on ZeroMQ sockets (ZMTP 3.1 over tcp and ipc).
#[derive(Debug, Parser)]
#[command(name = "ringmq", version)]
struct Cli {
    /// Say on standard error which I/O backend (io-uring or epoll) and how many shards the
    /// runtime runs, and print the library's info-level log lines (such as why `auto` fell back
    /// to epoll).
    #[arg(long, short, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

/// Whether `--verbose` was given.
pub static VERBOSE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[derive(Debug, Subcommand)]
enum Command {
    Send(send::SendArgs),
    Recv(recv::RecvArgs),
    Req(req::ReqArgs),
    Rep(rep::RepArgs),
    Proxy(proxy::ProxyArgs),
    Monitor(monitor::MonitorArgs),
    Keygen(keygen::KeygenArgs),
    Audit(audit::AuditArgs),
}

/// Something that stops a command: printed as one line, `ringmq: <message>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(String);

impl Failure {
    /// A failure with this message (one line, no trailing period).
    pub fn new(message: impl Into<String>) -> Failure {
        Failure(message.into())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ringmq::Error> for Failure {
    fn from(e: ringmq::Error) -> Failure {
        Failure(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.verbose {
        VERBOSE.store(true, std::sync::atomic::Ordering::Relaxed);
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_writer(std::io::stderr)
            .with_target(false)
            .without_time()
            .init();
    }
    let result = match cli.command {
        Command::Send(args) => send::run(&args),
        Command::Recv(args) => recv::run(&args),
        Command::Req(args) => req::run(&args),
        Command::Rep(args) => rep::run(&args),
        Command::Proxy(args) => proxy::run(&args),
        Command::Monitor(args) => monitor::run(&args),
        Command::Keygen(args) => keygen::run(&args),
        Command::Audit(args) => audit::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("ringmq: {failure}");
            ExitCode::FAILURE
        }
    }
}
