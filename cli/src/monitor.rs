//! `ringmq monitor`: a socket's monitor events, one line each.

use std::time::{Duration, Instant};

use clap::{ArgGroup, Args};
use ringmq::{Bytes, Error, Options, Socket, SocketType};

use crate::security::SecurityArgs;
use crate::shard::{self, race, until, Either};
use crate::socket::{any_type, parse_routing_id, parse_seconds, receives, Attach};
use crate::text::print;
use crate::Failure;

/// Open a socket, watch it, and print each monitor event as one line.
///
/// Lines are `EVENT ENDPOINT[ DETAIL]`, e.g. `listening tcp://127.0.0.1:5555`,
/// `handshake-succeeded tcp://127.0.0.1:5555 peer PUSH`, `connect-retried tcp://…:5555 in 100ms`.
/// Messages arriving on the socket are discarded. `ringmq monitor ENDPOINT` connects a dealer
/// socket, which most peer types accept (a peer that does not shows as handshake-failed).
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("where").required(true).args(["endpoint", "bind", "connect"])))]
pub struct MonitorArgs {
    /// Connect to ENDPOINT (the same as --connect ENDPOINT).
    #[arg(value_name = "ENDPOINT")]
    pub endpoint: Option<String>,
    /// Socket type to open, any case; the peer must accept it.
    #[arg(long = "type", value_name = "TYPE", default_value = "dealer", value_parser = any_type)]
    pub socket_type: SocketType,
    /// Listen on ENDPOINT; the bound endpoint is printed on standard error.
    #[arg(long, value_name = "ENDPOINT")]
    pub bind: Option<String>,
    /// Connect to ENDPOINT.
    #[arg(long, value_name = "ENDPOINT")]
    pub connect: Option<String>,
    /// This socket's routing id, as for the other commands.
    #[arg(long, value_name = "ID", value_parser = parse_routing_id)]
    pub identity: Option<Bytes>,
    /// Exit after N events.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Fail when no event arrives within SECONDS of the previous one (or of the start).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,
    /// Stop after SECONDS and exit 0. Default: run until killed, or --count.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub duration: Option<Duration>,
    #[command(flatten)]
    pub security: SecurityArgs,
}

impl MonitorArgs {
    fn attach(&self) -> Result<Attach, Failure> {
        match (&self.endpoint, &self.bind, &self.connect) {
            (Some(endpoint), None, None) | (None, None, Some(endpoint)) => {
                Ok(Attach::Connect(endpoint.clone()))
            }
            (None, Some(endpoint), None) => Ok(Attach::Bind(endpoint.clone())),
            // clap's "where" group already insists on exactly one.
            _ => Err(Failure::new(
                "exactly one of ENDPOINT, --bind and --connect is required",
            )),
        }
    }
}

/// When and how the watch ends.
struct Limits {
    count: Option<u64>,
    /// Between events: past it, fail.
    timeout: Option<Duration>,
    /// Of the whole watch: past it, stop.
    end: Option<Instant>,
}

pub fn run(args: &MonitorArgs) -> Result<(), Failure> {
    let attach = args.attach()?;
    let socket_type = args.socket_type;
    let options = Options {
        routing_id: args.identity.clone(),
        // Nothing is sent, so nothing needs to linger.
        linger: Some(Duration::ZERO),
        ..Options::default()
    };
    let options = args.security.apply(options, attach.endpoint())?;
    let limits = Limits {
        count: args.count,
        timeout: args.timeout,
        end: args.duration.map(|d| Instant::now() + d),
    };
    shard::run(move || async move {
        let socket = Socket::with_options(socket_type, options)?;
        let monitor = socket.monitor();
        attach.on_shard(&socket)?;
        // REQ and REP cannot receive out of turn; they are left alone (a REP's requests wait).
        let drains =
            receives(socket_type) && !matches!(socket_type, SocketType::Req | SocketType::Rep);
        let mut out = std::io::stdout().lock();
        let mut seen = 0;
        while limits.count.is_none_or(|count| seen < count) {
            let timeout_at = limits.timeout.map(|t| Instant::now() + t);
            // Which deadline comes first decides whether running out of time is the end of the
            // watch (--duration) or a failure (--timeout).
            let ends_first = match (limits.end, timeout_at) {
                (Some(end), Some(timeout_at)) => end <= timeout_at,
                (end, _) => end.is_some(),
            };
            let deadline = if ends_first { limits.end } else { timeout_at };
            let next = race(
                race(monitor.recv(), discard(&socket, drains)),
                until(deadline),
            );
            match next.await {
                Either::Left(Either::Left(Some(event))) => {
                    if !print(&mut out, format!("{event}\n").as_bytes())? {
                        return Ok(());
                    }
                    seen += 1;
                }
                // The socket closed: no more events.
                Either::Left(Either::Left(None)) => return Ok(()),
                Either::Left(Either::Right(e)) => return Err(e.into()),
                Either::Right(()) if ends_first => return Ok(()),
                Either::Right(()) => {
                    return Err(Failure::new(format!(
                        "no event arrived within {:?}",
                        limits.timeout.unwrap_or_default()
                    )))
                }
            }
        }
        Ok(())
    })
}

/// Receive and drop messages until receiving fails; with `enabled` false, wait forever.
async fn discard(socket: &Socket, enabled: bool) -> Error {
    if !enabled {
        return std::future::pending().await;
    }
    loop {
        if let Err(e) = socket.recv().await {
            return e;
        }
    }
}
