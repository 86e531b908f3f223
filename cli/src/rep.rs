//! `ringmq rep`: answer requests on a REP socket, with the request itself or a fixed reply.

use std::time::Duration;

use clap::{ArgGroup, Args};
use ringmq::{Bytes, ErrorKind, Message, Options, SendError, SocketType};

use crate::socket::{parse_seconds, AttachArgs, Session};
use crate::text::{line, print};
use crate::Failure;

/// Answer requests on a REP socket, and print each request received.
///
/// Every request gets an answer: itself, every frame, with --echo, or the one frame --reply.
/// Requests are printed one line each, frames joined by a tab, as `recv` prints them.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("answer").required(true).args(["echo", "reply"])))]
pub struct RepArgs {
    #[command(flatten)]
    pub socket: AttachArgs,
    /// Answer each request with the request itself.
    #[arg(long)]
    pub echo: bool,
    /// Answer each request with STRING.
    #[arg(long, value_name = "STRING")]
    pub reply: Option<String>,
    /// Exit after answering N requests. Default: run until interrupted.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Print every request frame as lowercase hex, byte for byte.
    #[arg(long)]
    pub hex: bool,
    /// Fail when no request arrives within SECONDS of the previous one (or of the start).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,
}

pub fn run(args: &RepArgs) -> Result<(), Failure> {
    let attach = args.socket.attach()?;
    let session = Session::open(SocketType::Rep, args.socket.options(Options::default())?)?;
    attach.blocking(&session.socket)?;
    let fixed = args
        .reply
        .as_deref()
        .map(|r| Message::single(Bytes::copy_from_slice(r.as_bytes())));

    let mut out = std::io::stdout().lock();
    let mut answered = 0;
    while args.count.is_none_or(|count| answered < count) {
        let request = match args.timeout {
            Some(timeout) => session.socket.recv_timeout(timeout),
            None => session.socket.recv(),
        };
        let request = match request {
            Ok(request) => request,
            Err(e) if e.kind() == ErrorKind::Timeout => {
                return Err(Failure::new(format!(
                    "no request arrived within {:?}",
                    args.timeout.unwrap_or_default()
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let printed = line(&request, args.hex);
        // Answer first: a reader that went away from standard output leaves no request
        // unanswered.
        let reply = fixed.clone().unwrap_or(request);
        session.socket.send(reply).map_err(|e| match e {
            // REP does not wait at the high-water mark; a reply it cannot queue is dropped.
            SendError::Full(_) => Failure::new("could not queue a reply"),
            SendError::Failed(e, _) => Failure::from(e),
        })?;
        answered += 1;
        if !print(&mut out, &printed)? {
            return Ok(());
        }
    }
    // Dropping the session closes the socket and waits out its linger: the last reply is written.
    Ok(())
}
