//! `ringmq req`: each line of standard input, or `--data`, as a request; each reply printed.

use std::time::Duration;

use clap::Args;
use ringmq::{ErrorKind, Message, Options, SendError, SocketType};

use crate::socket::{parse_seconds, AttachArgs, Session};
use crate::text::{line, print, Bodies};
use crate::Failure;

/// Send each line of standard input (or --data) as a request on a REQ socket and print its reply.
///
/// One request at a time: the next is sent once the reply to the last one is printed, a line
/// per reply with its frames joined by a tab, as `recv` prints them.
#[derive(Debug, Args)]
pub struct ReqArgs {
    #[command(flatten)]
    pub socket: AttachArgs,
    /// Send STRING as the request instead of reading standard input.
    #[arg(long, value_name = "STRING")]
    pub data: Option<String>,
    /// Requests to send: --data this many times (default 1), or at most this many input lines.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Print every reply frame as lowercase hex, byte for byte.
    #[arg(long)]
    pub hex: bool,
    /// Fail when a reply does not arrive within SECONDS of its request (the time to connect
    /// included). Default: wait as long as it takes.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,
}

pub fn run(args: &ReqArgs) -> Result<(), Failure> {
    let attach = args.socket.attach()?;
    let options = Options {
        // A request whose reply came was delivered; one whose reply did not is given up on.
        linger: Some(Duration::ZERO),
        ..Options::default()
    };
    let mut session = Session::open(SocketType::Req, args.socket.options(options)?)?;
    session.socket.set_sndtimeo(args.timeout);
    attach.blocking(&session.socket)?;

    let mut bodies = Bodies::new(args.data.as_deref(), args.count);
    let mut input = std::io::stdin().lock();
    let mut out = std::io::stdout().lock();
    while let Some(body) = bodies.next(&mut input)? {
        session
            .socket
            .send(Message::single(body))
            .map_err(|e| match e {
                SendError::Full(_) => Failure::new(format!(
                    "could not queue a request within {:?}: no peer has room",
                    args.timeout.unwrap_or_default()
                )),
                SendError::Failed(e, _) => Failure::from(e),
            })?;
        let reply = match args.timeout {
            Some(timeout) => session.socket.recv_timeout(timeout),
            None => session.socket.recv(),
        };
        let reply = match reply {
            Ok(reply) => reply,
            Err(e) if e.kind() == ErrorKind::Timeout => {
                return Err(Failure::new(format!(
                    "no reply arrived within {:?}",
                    args.timeout.unwrap_or_default()
                )))
            }
            Err(e) => return Err(e.into()),
        };
        if !print(&mut out, &line(&reply, args.hex))? {
            return Ok(());
        }
    }
    Ok(())
}
