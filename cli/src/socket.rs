//! What every command shares: the socket type, the endpoint, and opening the socket.

use std::time::Duration;

use clap::{ArgGroup, Args};
use ringmq::{BlockingSocket, Config, Options, Runtime, SocketType};

use crate::Failure;

/// The socket a command opens: its type and where it attaches. Flattened into every command.
#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("endpoint").required(true).args(["bind", "connect"])))]
pub struct SocketArgs {
    /// Socket type, any case: push, pub or pair to send; pull, sub or pair to receive.
    #[arg(long = "type", value_name = "TYPE")]
    pub socket_type: String,
    /// Listen on ENDPOINT, e.g. tcp://127.0.0.1:5555 or tcp://*:5555; port 0 picks a free port.
    /// The bound endpoint is printed on standard error: `ringmq: bound tcp://127.0.0.1:PORT`.
    #[arg(long, value_name = "ENDPOINT")]
    pub bind: Option<String>,
    /// Connect to ENDPOINT; the connection is made, and remade after failures, in the background.
    #[arg(long, value_name = "ENDPOINT")]
    pub connect: Option<String>,
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
}

impl KnownType {
    fn allows(&self, direction: Direction) -> bool {
        match direction {
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
    },
    KnownType {
        name: "pull",
        socket_type: SocketType::Pull,
        sends: false,
        receives: true,
    },
    KnownType {
        name: "pub",
        socket_type: SocketType::Pub,
        sends: true,
        receives: false,
    },
    KnownType {
        name: "sub",
        socket_type: SocketType::Sub,
        sends: false,
        receives: true,
    },
    KnownType {
        name: "pair",
        socket_type: SocketType::Pair,
        sends: true,
        receives: true,
    },
];

/// "push, pub or pair": the names `direction` takes, for error messages.
fn names_for(direction: Direction) -> String {
    let names: Vec<&str> = KNOWN_TYPES
        .iter()
        .filter(|t| t.allows(direction))
        .map(|t| t.name)
        .collect();
    match names.split_last() {
        None => String::from("none"),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
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

/// A socket and the runtime it lives on.
///
/// Fields drop in declaration order: the socket first, which starts its close and linger on its
/// shard, then the runtime, whose drop waits for that linger to finish.
pub struct Session {
    pub socket: BlockingSocket,
    _runtime: Runtime,
}

impl Session {
    /// Start a one-shard runtime (`RINGMQ_*` environment variables apply) and open a socket on it.
    pub fn open(socket_type: SocketType, options: Options) -> Result<Session, Failure> {
        let runtime = Runtime::new(Config::default().with_env()?)?;
        let socket = BlockingSocket::new(runtime.next_shard(), socket_type, options)?;
        Ok(Session {
            socket,
            _runtime: runtime,
        })
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

impl SocketArgs {
    /// Bind or connect `socket` as the command line says; a bound endpoint is printed on stderr.
    pub fn attach(&self, socket: &BlockingSocket) -> Result<Attached, Failure> {
        match (&self.bind, &self.connect) {
            (Some(endpoint), None) => {
                let bound = socket.bind(endpoint)?;
                eprintln!("ringmq: bound {bound}");
                Ok(Attached::Bound(bound))
            }
            (None, Some(endpoint)) => {
                socket.connect(endpoint)?;
                Ok(Attached::Connected)
            }
            // clap's "endpoint" group already insists on exactly one.
            _ => Err(Failure::new(
                "exactly one of --bind and --connect is required",
            )),
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
        assert_eq!(
            resolve_type("push", Direction::Recv),
            Err(Failure::new(
                "recv cannot use a PUSH socket, which only sends (recv takes pull, sub or pair)"
            ))
        );
        assert_eq!(
            resolve_type("sub", Direction::Send),
            Err(Failure::new(
                "send cannot use a SUB socket, which only receives (send takes push, pub or pair)"
            ))
        );
        assert_eq!(
            resolve_type("req", Direction::Send),
            Err(Failure::new(
                "REQ sockets are not supported by this tool yet (send takes push, pub or pair)"
            ))
        );
        assert_eq!(
            resolve_type("bogus", Direction::Recv),
            Err(Failure::new(
                "unknown socket type \"bogus\" (recv takes pull, sub or pair)"
            ))
        );
    }

    #[test]
    fn every_known_type_is_a_ringmq_type() {
        for t in KNOWN_TYPES {
            assert_eq!(
                SocketType::from_name(t.name.as_bytes()),
                Some(t.socket_type)
            );
            assert!(t.sends || t.receives, "{} is usable by no command", t.name);
        }
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("1"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_seconds("0.25"), Ok(Duration::from_millis(250)));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("NaN").is_err());
        assert!(parse_seconds("soon").is_err());
    }
}
