//! `ringmq monitor`: a socket's monitor events, one line each.

use std::time::{Duration, Instant};

use clap::{ArgGroup, Args};
use ringmq::{Bytes, Error, Monitor, Options, Socket, SocketType};

use crate::security::SecurityArgs;
use crate::shard::{self, race, until, Either};
use crate::socket::{any_type, parse_routing_id, parse_seconds, receives, Attach};
use crate::stats;
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
    /// On exit, print the socket's counters on standard error (as `send --stats` does):
    /// connects, accepts, disconnects, reconnect attempts, handshake failures, messages
    /// discarded...
    #[arg(long)]
    pub stats: bool,
    /// Print the counters every SECONDS while watching, too (implies --stats).
    #[arg(long, value_name = "SECONDS", value_parser = parse_interval)]
    pub stats_interval: Option<Duration>,
    #[command(flatten)]
    pub security: SecurityArgs,
}

/// Parse `--stats-interval`: seconds as for `--timeout`, but more than zero.
fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval = parse_seconds(text)?;
    if interval.is_zero() {
        return Err(format!(
            "{text:?}: the interval must be more than 0 seconds"
        ));
    }
    Ok(interval)
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

/// When and how the watch ends, and what it prints besides the events.
struct Limits {
    count: Option<u64>,
    /// Between events: past it, fail.
    timeout: Option<Duration>,
    /// Of the whole watch: past it, stop.
    end: Option<Instant>,
    /// How often to print the socket's counters while watching.
    stats_every: Option<Duration>,
}

/// What the first deadline of a wait stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// `--duration` is over: the watch ends.
    End,
    /// No event within `--timeout`: the watch fails.
    Timeout,
    /// Time to print the counters (`--stats-interval`); the watch goes on.
    Stats,
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
        stats_every: args.stats_interval,
    };
    let print_stats = args.stats || args.stats_interval.is_some();
    shard::run(move || async move {
        let socket = Socket::with_options(socket_type, options)?;
        let monitor = socket.monitor();
        let outcome = match attach.on_shard(&socket) {
            Ok(_) => watch(&socket, &monitor, &limits).await,
            Err(e) => Err(e),
        };
        if print_stats {
            // Whether the watch ended or failed: the counters say what it saw.
            stats::print(&socket.stats());
        }
        outcome
    })
}

/// Print `monitor`'s events until `limits` end the watch.
async fn watch(socket: &Socket, monitor: &Monitor, limits: &Limits) -> Result<(), Failure> {
    let socket_type = socket.socket_type();
    // REQ and REP cannot receive out of turn; they are left alone (a REP's requests wait).
    let drains = receives(socket_type) && !matches!(socket_type, SocketType::Req | SocketType::Rep);
    let mut out = std::io::stdout().lock();
    let mut seen = 0;
    let mut timeout_at = limits.timeout.map(|t| Instant::now() + t);
    let mut stats_at = limits.stats_every.map(|every| Instant::now() + every);
    while limits.count.is_none_or(|count| seen < count) {
        // Which deadline comes first decides whether running out of time is the end of the
        // watch (--duration, which wins a tie), a failure (--timeout), or time to print the
        // counters (--stats-interval).
        let first = [
            (limits.end, Wake::End),
            (timeout_at, Wake::Timeout),
            (stats_at, Wake::Stats),
        ]
        .into_iter()
        .filter_map(|(at, wake)| Some((at?, wake)))
        .min_by_key(|(at, _)| *at);
        let next = race(
            race(monitor.recv(), discard(socket, drains)),
            until(first.map(|(at, _)| at)),
        );
        match next.await {
            Either::Left(Either::Left(Some(event))) => {
                if !print(&mut out, format!("{event}\n").as_bytes())? {
                    return Ok(());
                }
                seen += 1;
                timeout_at = limits.timeout.map(|t| Instant::now() + t);
            }
            // The socket closed: no more events.
            Either::Left(Either::Left(None)) => return Ok(()),
            Either::Left(Either::Right(e)) => return Err(e.into()),
            Either::Right(()) => match first.map(|(_, wake)| wake) {
                Some(Wake::End) => return Ok(()),
                Some(Wake::Timeout) => {
                    return Err(Failure::new(format!(
                        "no event arrived within {:?}",
                        limits.timeout.unwrap_or_default()
                    )))
                }
                Some(Wake::Stats) => {
                    stats::print(&socket.stats());
                    stats_at = limits.stats_every.map(|every| Instant::now() + every);
                }
                // `until(None)` waits forever, so a wait without a deadline never ends here.
                None => unreachable!("a wait without a deadline timed out"),
            },
        }
    }
    Ok(())
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
