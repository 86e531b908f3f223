//! Endpoint strings as libzmq writes them: `tcp://host:port`, `tcp://*:port`, `tcp://[::1]:port`,
//! `ipc:///path`, `ipc://@abstract`, `inproc://name`.

use std::fmt;
use std::net::IpAddr;

/// The host part of a tcp endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// `*`: every local interface (bind only).
    Any,
    /// A literal IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A name to resolve (connect), e.g. `localhost`.
    Name(String),
}

/// A parsed endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// TCP; port 0 or `*` asks the kernel for an ephemeral port on bind.
    Tcp {
        /// Host or interface.
        host: Host,
        /// Port (0: ephemeral).
        port: u16,
    },
    /// A Unix domain socket path; a leading `@` names the Linux abstract namespace.
    Ipc(String),
    /// In-process, by name.
    Inproc(String),
}

/// An endpoint string that does not parse.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// No `transport://` prefix.
    #[error("endpoint {0:?} has no transport:// prefix")]
    MissingTransport(String),
    /// A transport ringmq does not support.
    #[error("unsupported transport {0:?} (ringmq supports tcp, ipc and inproc)")]
    UnsupportedTransport(String),
    /// A tcp address without a valid port.
    #[error("invalid tcp address {0:?}: expected host:port")]
    InvalidTcpAddress(String),
    /// An empty ipc path or inproc name.
    #[error("empty {0} address")]
    EmptyAddress(&'static str),
}

/// libzmq's `tcp://source;destination` connect syntax: the local address to connect from
/// (`host:port`, `*:port`; port 0 or `*` for any) and the endpoint without it. `Ok((None, s))`
/// for any other endpoint. A host name is left for the caller to resolve.
pub fn split_tcp_source(endpoint: &str) -> Result<(Option<(Host, u16)>, String), EndpointError> {
    let Some(rest) = endpoint.strip_prefix("tcp://") else {
        return Ok((None, endpoint.to_owned()));
    };
    let Some((source, destination)) = rest.split_once(';') else {
        return Ok((None, endpoint.to_owned()));
    };
    let Endpoint::Tcp { host, port } = parse_tcp(source)? else {
        return Err(EndpointError::InvalidTcpAddress(source.to_owned()));
    };
    Ok((Some((host, port)), format!("tcp://{destination}")))
}

impl Endpoint {
    /// Parse an endpoint string.
    pub fn parse(s: &str) -> Result<Endpoint, EndpointError> {
        let (transport, rest) = s
            .split_once("://")
            .ok_or_else(|| EndpointError::MissingTransport(s.to_owned()))?;
        match transport {
            "tcp" => parse_tcp(rest),
            "ipc" => {
                if rest.is_empty() || rest == "@" {
                    return Err(EndpointError::EmptyAddress("ipc"));
                }
                Ok(Endpoint::Ipc(rest.to_owned()))
            }
            "inproc" => {
                if rest.is_empty() {
                    return Err(EndpointError::EmptyAddress("inproc"));
                }
                Ok(Endpoint::Inproc(rest.to_owned()))
            }
            other => Err(EndpointError::UnsupportedTransport(other.to_owned())),
        }
    }

    /// Whether a tcp endpoint is a loopback address (used by the security audit).
    pub fn is_loopback(&self) -> bool {
        match self {
            Endpoint::Tcp { host, .. } => match host {
                Host::Ip(ip) => ip.is_loopback(),
                Host::Name(n) => n == "localhost",
                Host::Any => false,
            },
            _ => true,
        }
    }
}

fn parse_tcp(rest: &str) -> Result<Endpoint, EndpointError> {
    let bad = || EndpointError::InvalidTcpAddress(rest.to_owned());
    // libzmq's "source;dest" for connect is taken apart by `split_tcp_source` first.
    let (host, port) = if let Some(after) = rest.strip_prefix('[') {
        let (ip, port) = after.split_once("]:").ok_or_else(bad)?;
        (Host::Ip(ip.parse::<IpAddr>().map_err(|_| bad())?), port)
    } else {
        let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
        let host = if host == "*" {
            Host::Any
        } else if let Ok(ip) = host.parse::<IpAddr>() {
            Host::Ip(ip)
        } else if !host.is_empty()
            && host
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-')
        {
            Host::Name(host.to_owned())
        } else {
            return Err(bad());
        };
        (host, port)
    };
    let port = if port == "*" {
        0
    } else {
        port.parse::<u16>().map_err(|_| bad())?
    };
    Ok(Endpoint::Tcp { host, port })
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp { host, port } => match host {
                Host::Any => write!(f, "tcp://*:{port}"),
                Host::Ip(IpAddr::V6(ip)) => write!(f, "tcp://[{ip}]:{port}"),
                Host::Ip(ip) => write!(f, "tcp://{ip}:{port}"),
                Host::Name(n) => write!(f, "tcp://{n}:{port}"),
            },
            Endpoint::Ipc(p) => write!(f, "ipc://{p}"),
            Endpoint::Inproc(n) => write!(f, "inproc://{n}"),
        }
    }
}

impl std::str::FromStr for Endpoint {
    type Err = EndpointError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Endpoint::parse(s)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn tcp_source_is_split_off() {
        let (source, rest) = split_tcp_source("tcp://127.0.0.2:0;127.0.0.1:5555").unwrap();
        assert_eq!(source, Some((Host::Ip("127.0.0.2".parse().unwrap()), 0)));
        assert_eq!(rest, "tcp://127.0.0.1:5555");
        let (source, _) = split_tcp_source("tcp://*:7000;host:1").unwrap();
        assert_eq!(source, Some((Host::Any, 7000)));
        let (source, _) = split_tcp_source("tcp://localhost:5555;localhost:1235").unwrap();
        assert_eq!(source, Some((Host::Name("localhost".into()), 5555)));
        assert_eq!(
            split_tcp_source("tcp://a:1").unwrap(),
            (None, "tcp://a:1".to_owned())
        );
        assert_eq!(split_tcp_source("ipc:///x;y").unwrap().0, None);
        assert!(split_tcp_source("tcp://bad;host:2").is_err());
    }

    use super::*;

    #[test]
    fn parses_libzmq_forms() {
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.1:5555").unwrap(),
            Endpoint::Tcp {
                host: Host::Ip("127.0.0.1".parse().unwrap()),
                port: 5555
            }
        );
        assert_eq!(
            Endpoint::parse("tcp://*:0").unwrap(),
            Endpoint::Tcp {
                host: Host::Any,
                port: 0
            }
        );
        assert_eq!(
            Endpoint::parse("tcp://[::1]:7").unwrap().to_string(),
            "tcp://[::1]:7"
        );
        assert_eq!(
            Endpoint::parse("tcp://localhost:*").unwrap(),
            Endpoint::Tcp {
                host: Host::Name("localhost".into()),
                port: 0
            }
        );
        assert_eq!(
            Endpoint::parse("ipc:///tmp/x.sock").unwrap(),
            Endpoint::Ipc("/tmp/x.sock".into())
        );
        assert_eq!(
            Endpoint::parse("inproc://a").unwrap(),
            Endpoint::Inproc("a".into())
        );
    }

    #[test]
    fn refuses_bad_forms() {
        for bad in [
            "127.0.0.1:5555",
            "udp://1.2.3.4:5",
            "tcp://1.2.3.4",
            "tcp://1.2.3.4:99999",
            "tcp://[::1:5",
            "tcp://:5",
            "tcp://a b:5",
            "ipc://",
            "inproc://",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }
}
