//! `ringmq recv`: messages in, one line each on standard output.

use std::time::Duration;

use clap::Args;
use ringmq::{ErrorKind, Options, SocketType};

use crate::socket::{parse_seconds, resolve_type, Attach, Direction, Session, SocketArgs};
use crate::text::{line, print};
use crate::Failure;

/// Print received messages, one line each.
///
/// A message's frames are joined by a tab and printed as text (invalid UTF-8 replaced) or, with
/// --hex, as lowercase hex. A router prints the sender's routing id as the first field.
#[derive(Debug, Args)]
pub struct RecvArgs {
    #[command(flatten)]
    pub socket: SocketArgs,
    /// Exit after N messages. Default: run until interrupted.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Receive only messages whose first frame starts with PREFIX (sub and xsub; repeatable).
    /// Default: all.
    #[arg(long, value_name = "PREFIX")]
    pub subscribe: Vec<String>,
    /// Print every frame as lowercase hex, byte for byte.
    #[arg(long)]
    pub hex: bool,
    /// Fail when no message arrives within SECONDS of the previous one (or of the start).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,
    /// On exit, print the socket's counters on standard error: messages and bytes received,
    /// drops by reason, accepts, disconnects, handshake failures...
    #[arg(long)]
    pub stats: bool,
}

pub fn run(args: &RecvArgs) -> Result<(), Failure> {
    let socket_type = resolve_type(&args.socket.socket_type, Direction::Recv)?;
    let subscribes = matches!(socket_type, SocketType::Sub | SocketType::XSub);
    if !args.subscribe.is_empty() && !subscribes {
        return Err(Failure::new(format!(
            "--subscribe applies to sub and xsub sockets, not {socket_type}"
        )));
    }
    let attach = args.socket.attach.attach()?;
    let session = Session::open(socket_type, args.socket.attach.options(Options::default())?)?;
    let received = recv_all(&session, &attach, subscribes, args);
    session.finish(received, args.stats)
}

/// Subscribe and attach the session's socket, then print what it receives.
fn recv_all(
    session: &Session,
    attach: &Attach,
    subscribes: bool,
    args: &RecvArgs,
) -> Result<(), Failure> {
    if subscribes {
        if args.subscribe.is_empty() {
            session.socket.subscribe(b"")?;
        }
        for prefix in &args.subscribe {
            session.socket.subscribe(prefix.as_bytes())?;
        }
    }
    attach.blocking(&session.socket)?;

    let mut out = std::io::stdout().lock();
    let mut received = 0;
    while args.count.is_none_or(|count| received < count) {
        let msg = match args.timeout {
            Some(timeout) => session.socket.recv_timeout(timeout),
            None => session.socket.recv(),
        };
        let msg = match msg {
            Ok(msg) => msg,
            Err(e) if e.kind() == ErrorKind::Timeout => {
                return Err(Failure::new(format!(
                    "no message arrived within {:?}",
                    args.timeout.unwrap_or_default()
                )))
            }
            Err(e) => return Err(e.into()),
        };
        if !print(&mut out, &line(&msg, args.hex))? {
            return Ok(());
        }
        received += 1;
    }
    Ok(())
}
