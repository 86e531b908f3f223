//! What every command shares: the socket types, the endpoint, and opening the socket.

use std::time::Duration;

use clap::{ArgGroup, Args};
use ringmq::{BlockingSocket, Bytes, Config, Options, Runtime, Socket, SocketStats, SocketType};

use crate::security::SecurityArgs;
use crate::text::{decode_hex, encode_hex};
use crate::Failure;

/// The socket `send` or `recv` opens: its type and where it attaches.
#[derive(Debug, Clone, Args)]
pub struct SocketArgs {
    /// Socket type, any case. send: push, pub, pair, dealer, router, xpub or xsub; recv: pull,
    /// sub, pair, dealer, router, xpub or xsub (req and rep have their own commands).
    #[arg(long = "type", value_name = "TYPE")]
    pub socket_type: String,
    #[command(flatten)]
    pub attach: AttachArgs,
}

/// Where a socket attaches, and how it names itself to its peers. Flattened into every command
/// that opens one socket.
#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("endpoint").required(true).args(["bind", "connect"])))]
pub struct AttachArgs {
    /// Listen on ENDPOINT: tcp://127.0.0.1:5555, tcp://*:5555 (port 0 picks a free port),
    /// ipc:///path/to/socket or ipc://@abstract-name. The bound endpoint is printed on standard
    /// error: `ringmq: bound tcp://127.0.0.1:PORT`.
    #[arg(long, value_name = "ENDPOINT")]
    pub bind: Option<String>,
    /// Connect to ENDPOINT; the connection is made, and remade after failures, in the background.
    #[arg(long, value_name = "ENDPOINT")]
    pub connect: Option<String>,
    /// This socket's routing id (ZMQ_ROUTING_ID, once ZMQ_IDENTITY): what a ROUTER peer sees as
    /// the first frame of its messages. Text, or 0x and hex digits for binary ids.
    #[arg(long, value_name = "ID", value_parser = parse_routing_id)]
    pub identity: Option<Bytes>,
    #[command(flatten)]
    pub security: SecurityArgs,
}

impl AttachArgs {
    /// Bind or connect, as the command line says.
    pub fn attach(&self) -> Result<Attach, Failure> {
        match (&self.bind, &self.connect) {
            (Some(endpoint), None) => Ok(Attach::Bind(endpoint.clone())),
            (None, Some(endpoint)) => Ok(Attach::Connect(endpoint.clone())),
            // clap's "endpoint" group already insists on exactly one.
            _ => Err(Failure::new(
                "exactly one of --bind and --connect is required",
            )),
        }
    }

    /// `options` with this socket's routing id, if the command line gives one, and the security
    /// its flags ask for (which may print a key or a warning on standard error).
    pub fn options(&self, options: Options) -> Result<Options, Failure> {
        let options = Options {
            routing_id: self.identity.clone().or(options.routing_id),
            ..options
        };
        self.security.apply(options, self.attach()?.endpoint())
    }
}

/// Which way a command moves messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `ringmq send`.
    Send,
    /// `ringmq recv`.
    Recv,
}

impl Direction {
    fn command(self) -> &'static str {
        match self {
            Direction::Send => "send",
            Direction::Recv => "recv",
        }
    }
}

/// A socket type the tool offers, and the commands that may use it.
struct KnownType {
    name: &'static str,
    socket_type: SocketType,
    sends: bool,
    receives: bool,
    /// The command made for this type, which `send` and `recv` leave to it (REQ and REP must
    /// alternate sends and receives).
    own_command: Option<&'static str>,
}

impl KnownType {
    fn allows(&self, direction: Direction) -> bool {
        self.own_command.is_none()
            && match direction {
                Direction::Send => self.sends,
                Direction::Recv => self.receives,
            }
    }
}

/// The socket types the tool offers. A type ringmq gains is one more row here.
const KNOWN_TYPES: &[KnownType] = &[
    KnownType {
        name: "push",
        socket_type: SocketType::Push,
        sends: true,
        receives: false,
        own_command: None,
    },
    KnownType {
        name: "pull",
        socket_type: SocketType::Pull,
        sends: false,
        receives: true,
        own_command: None,
    },
    KnownType {
        name: "pub",
        socket_type: SocketType::Pub,
        sends: true,
        receives: false,
        own_command: None,
    },
    KnownType {
        name: "sub",
        socket_type: SocketType::Sub,
        sends: false,
        receives: true,
        own_command: None,
    },
    KnownType {
        name: "pair",
        socket_type: SocketType::Pair,
        sends: true,
        receives: true,
        own_command: None,
    },
    KnownType {
        name: "req",
        socket_type: SocketType::Req,
        sends: true,
        receives: true,
        own_command: Some("req"),
    },
    KnownType {
        name: "rep",
        socket_type: SocketType::Rep,
        sends: true,
        receives: true,
        own_command: Some("rep"),
    },
    KnownType {
        name: "dealer",
        socket_type: SocketType::Dealer,
        sends: true,
        receives: true,
        own_command: None,
    },
    KnownType {
        name: "router",
        socket_type: SocketType::Router,
        sends: true,
        receives: true,
        own_command: None,
    },
    KnownType {
        name: "xpub",
        socket_type: SocketType::XPub,
        sends: true,
        receives: true,
        own_command: None,
    },
    KnownType {
        name: "xsub",
        socket_type: SocketType::XSub,
        sends: true,
        receives: true,
        own_command: None,
    },
];

/// "a, b or c".
fn either_of(names: &[&str]) -> String {
    match names.split_last() {
        None => String::from("none"),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// "push, pub, pair, dealer, router, xpub or xsub": the names `direction` takes.
fn names_for(direction: Direction) -> String {
    let names: Vec<&str> = KNOWN_TYPES
        .iter()
        .filter(|t| t.allows(direction))
        .map(|t| t.name)
        .collect();
    either_of(&names)
}

fn known(socket_type: SocketType) -> Option<&'static KnownType> {
    KNOWN_TYPES.iter().find(|t| t.socket_type == socket_type)
}

/// Whether the tool knows `socket_type` to send.
pub fn sends(socket_type: SocketType) -> bool {
    known(socket_type).is_some_and(|t| t.sends)
}

/// Whether the tool knows `socket_type` to receive.
pub fn receives(socket_type: SocketType) -> bool {
    known(socket_type).is_some_and(|t| t.receives)
}

/// The socket type named `name` (any case), if `direction`'s command may use it.
pub fn resolve_type(name: &str, direction: Direction) -> Result<SocketType, Failure> {
    let command = direction.command();
    let takes = names_for(direction);
    if let Some(known) = KNOWN_TYPES
        .iter()
        .find(|t| t.name.eq_ignore_ascii_case(name))
    {
        if known.allows(direction) {
            return Ok(known.socket_type);
        }
        if let Some(own) = known.own_command {
            return Err(Failure::new(format!(
                "{command} cannot use a {} socket, which must alternate requests and replies: \
                 use `ringmq {own}`",
                known.socket_type
            )));
        }
        let does = if known.sends {
            "only sends"
        } else {
            "only receives"
        };
        return Err(Failure::new(format!(
            "{command} cannot use a {} socket, which {does} ({command} takes {takes})",
            known.socket_type
        )));
    }
    match SocketType::from_name(name.as_bytes()) {
        Some(t) => Err(Failure::new(format!(
            "{t} sockets are not supported by this tool yet ({command} takes {takes})"
        ))),
        None => Err(Failure::new(format!(
            "unknown socket type {name:?} ({command} takes {takes})"
        ))),
    }
}

/// The socket type named `name` (any case), for commands that take every type (`proxy`,
/// `monitor`). A clap value parser.
pub fn any_type(name: &str) -> Result<SocketType, String> {
    KNOWN_TYPES
        .iter()
        .find(|t| t.name.eq_ignore_ascii_case(name))
        .map(|t| t.socket_type)
        .ok_or_else(|| {
            let names: Vec<&str> = KNOWN_TYPES.iter().map(|t| t.name).collect();
            format!(
                "unknown socket type {name:?} (one of {})",
                either_of(&names)
            )
        })
}

/// Start a runtime as the library does by default, `RINGMQ_*` environment variables applied.
/// With `--verbose`, says which backend each shard runs.
pub fn runtime() -> Result<Runtime, Failure> {
    let runtime = Runtime::new(Config::default().with_env()?)?;
    if crate::VERBOSE.load(std::sync::atomic::Ordering::Relaxed) {
        let backends: Vec<&str> = runtime.backends().iter().map(|b| b.name()).collect();
        eprintln!(
            "ringmq: runtime: {} shard(s), backend {}",
            runtime.shard_count(),
            backends.join(",")
        );
    }
    Ok(runtime)
}

/// A socket and the runtime it lives on.
///
/// Fields drop in declaration order: the socket first, which starts its close and linger on its
/// shard, then the runtime, whose drop waits for that linger to finish.
pub struct Session {
    pub socket: BlockingSocket,
    runtime: Runtime,
    /// The socket's linger, which [`Session::close`] waits out as dropping the session does.
    linger: Option<Duration>,
}

/// The shutdown deadline standing in for a linger of `None` (forever): far beyond any run, and
/// still a deadline `Instant` can hold.
const NO_DEADLINE: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

impl Session {
    /// Start a runtime and open a socket on it.
    pub fn open(socket_type: SocketType, options: Options) -> Result<Session, Failure> {
        let runtime = runtime()?;
        let linger = options.linger;
        let socket = BlockingSocket::new(runtime.next_shard(), socket_type, options)?;
        Ok(Session {
            socket,
            runtime,
            linger,
        })
    }

    /// Close the socket and stop the runtime, waiting out the socket's linger as dropping the
    /// session does, and return the socket's counters as it closed: what was sent counts every
    /// message handed to the socket during the linger too, not only those it had taken so far.
    /// `queued_in` and `connected_peers` are as they were when the command finished its work
    /// (at close there are no peers, and nothing is left for the application).
    ///
    /// Call it once the command has stopped sending and receiving.
    pub fn close(self) -> Result<SocketStats, Failure> {
        let Session {
            socket,
            runtime,
            linger,
        } = self;
        // The handle's own figures (the hand-off queue's drops and the messages waiting in it
        // for the application) are not in the shutdown report; nothing is sent or received after
        // this point, so they are final here. So is the number of peers worth reporting: the
        // close disconnects them all.
        let at_end = socket.stats()?;
        let report = runtime.shutdown(linger.unwrap_or(NO_DEADLINE));
        drop(socket);
        // One runtime, one socket: its report is the only one.
        let Some(closed) = report.sockets.into_iter().next() else {
            return Ok(at_end);
        };
        let mut stats = closed.stats;
        stats.dropped.handoff_full = at_end.dropped.handoff_full;
        stats.queued_in = at_end.queued_in;
        stats.connected_peers = at_end.connected_peers;
        Ok(stats)
    }

    /// End a command whose work came to `outcome`: close the session (waiting out the linger)
    /// and, with `print_stats` (`--stats`), print the socket's counters on standard error,
    /// whether the work succeeded or not. The work's own failure is the one reported.
    pub fn finish(self, outcome: Result<(), Failure>, print_stats: bool) -> Result<(), Failure> {
        if !print_stats {
            drop(self);
            return outcome;
        }
        match self.close() {
            Ok(stats) => {
                crate::stats::print(&stats);
                outcome
            }
            Err(e) => outcome.and(Err(e)),
        }
    }
}

/// What to do with a socket's endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attach {
    /// Listen on it.
    Bind(String),
    /// Connect to it.
    Connect(String),
}

impl Attach {
    /// The endpoint, bound or connected.
    pub fn endpoint(&self) -> &str {
        match self {
            Attach::Bind(endpoint) | Attach::Connect(endpoint) => endpoint,
        }
    }
}

/// How the socket was attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attached {
    /// Listening on this endpoint (the real port when 0 was asked for).
    Bound(String),
    /// Connecting in the background.
    Connected,
}

impl Attach {
    /// Bind or connect a blocking handle; a bound endpoint is printed on stderr.
    pub fn blocking(&self, socket: &BlockingSocket) -> Result<Attached, Failure> {
        self.apply(|e| socket.bind(e), |e| socket.connect(e))
    }

    /// Bind or connect a socket, on its shard; a bound endpoint is printed on stderr.
    pub fn on_shard(&self, socket: &Socket) -> Result<Attached, Failure> {
        self.apply(|e| socket.bind(e), |e| socket.connect(e))
    }

    fn apply(
        &self,
        bind: impl FnOnce(&str) -> Result<String, ringmq::Error>,
        connect: impl FnOnce(&str) -> Result<(), ringmq::Error>,
    ) -> Result<Attached, Failure> {
        match self {
            Attach::Bind(endpoint) => {
                let bound = bind(endpoint)?;
                eprintln!("ringmq: bound {bound}");
                Ok(Attached::Bound(bound))
            }
            Attach::Connect(endpoint) => {
                connect(endpoint)?;
                Ok(Attached::Connected)
            }
        }
    }
}

/// Parse a `--timeout` value: seconds, fractions allowed (`0.5`).
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| format!("{text:?} is not a non-negative number of seconds"))
}

/// Parse a routing id: text as its UTF-8 bytes, or `0x` and hex digits for any bytes.
pub fn parse_routing_id(text: &str) -> Result<Bytes, String> {
    let id = match text.strip_prefix("0x") {
        Some(hex) => {
            decode_hex(hex).ok_or_else(|| format!("{text:?}: 0x must be followed by hex digits"))?
        }
        None => text.as_bytes().to_vec(),
    };
    if id.is_empty() || id.len() > 255 {
        return Err(format!(
            "{text:?}: a routing id is 1 to 255 bytes, not {}",
            id.len()
        ));
    }
    Ok(Bytes::from(id))
}

/// A routing id as the user would type it back: text when it is printable ASCII (and does not
/// look like hex), else `0x` and hex.
pub fn show_routing_id(id: &[u8]) -> String {
    let printable = id.iter().all(|b| b.is_ascii_graphic() || *b == b' ');
    match std::str::from_utf8(id) {
        Ok(text) if printable && !text.starts_with("0x") => text.to_owned(),
        _ => format!("0x{}", String::from_utf8_lossy(&encode_hex(id))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_resolve_by_direction() {
        assert_eq!(resolve_type("push", Direction::Send), Ok(SocketType::Push));
        assert_eq!(resolve_type("PUB", Direction::Send), Ok(SocketType::Pub));
        assert_eq!(resolve_type("Sub", Direction::Recv), Ok(SocketType::Sub));
        assert_eq!(resolve_type("pair", Direction::Send), Ok(SocketType::Pair));
        assert_eq!(resolve_type("pair", Direction::Recv), Ok(SocketType::Pair));
        for both in ["dealer", "router", "xpub", "xsub"] {
            assert!(resolve_type(both, Direction::Send).is_ok(), "{both}");
            assert!(resolve_type(both, Direction::Recv).is_ok(), "{both}");
        }
        assert_eq!(
            resolve_type("push", Direction::Recv),
            Err(Failure::new(
                "recv cannot use a PUSH socket, which only sends \
                 (recv takes pull, sub, pair, dealer, router, xpub or xsub)"
            ))
        );
        assert_eq!(
            resolve_type("sub", Direction::Send),
            Err(Failure::new(
                "send cannot use a SUB socket, which only receives \
                 (send takes push, pub, pair, dealer, router, xpub or xsub)"
            ))
        );
        assert_eq!(
            resolve_type("req", Direction::Send),
            Err(Failure::new(
                "send cannot use a REQ socket, which must alternate requests and replies: \
                 use `ringmq req`"
            ))
        );
        assert_eq!(
            resolve_type("Rep", Direction::Recv),
            Err(Failure::new(
                "recv cannot use a REP socket, which must alternate requests and replies: \
                 use `ringmq rep`"
            ))
        );
        assert_eq!(
            resolve_type("bogus", Direction::Recv),
            Err(Failure::new(
                "unknown socket type \"bogus\" \
                 (recv takes pull, sub, pair, dealer, router, xpub or xsub)"
            ))
        );
    }

    #[test]
    fn every_ringmq_type_is_known() {
        for t in KNOWN_TYPES {
            assert_eq!(
                SocketType::from_name(t.name.as_bytes()),
                Some(t.socket_type)
            );
            assert!(t.sends || t.receives, "{} is usable by no command", t.name);
        }
        assert_eq!(any_type("XPUB"), Ok(SocketType::XPub));
        assert_eq!(any_type("req"), Ok(SocketType::Req));
        assert!(any_type("stream").is_err());
        assert_eq!(KNOWN_TYPES.len(), 11);
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("1"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_seconds("0.25"), Ok(Duration::from_millis(250)));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("NaN").is_err());
        assert!(parse_seconds("soon").is_err());
    }

    #[test]
    fn routing_ids_are_text_or_hex() {
        assert_eq!(parse_routing_id("alice"), Ok(Bytes::from_static(b"alice")));
        // A generated id as libzmq makes them: a zero byte, then a 32-bit counter.
        assert_eq!(
            parse_routing_id("0x006b8b4567"),
            Ok(Bytes::from_static(b"\x00\x6b\x8b\x45\x67"))
        );
        assert_eq!(parse_routing_id("0xFF"), Ok(Bytes::from_static(b"\xff")));
        assert!(parse_routing_id("").is_err());
        assert!(parse_routing_id("0x").is_err());
        assert!(parse_routing_id("0xabc").is_err());
        assert!(parse_routing_id("0xzz").is_err());
        assert!(parse_routing_id(&"a".repeat(256)).is_err());
        assert_eq!(show_routing_id(b"alice"), "alice");
        assert_eq!(show_routing_id(b"\x00\x6b\x8b\x45\x67"), "0x006b8b4567");
        assert_eq!(show_routing_id(b"0x41"), "0x30783431");
        for id in [&b"alice"[..], b"\x00\x01", b"0x41", b"a b"] {
            assert_eq!(parse_routing_id(&show_routing_id(id)).as_deref(), Ok(id));
        }
    }
}
