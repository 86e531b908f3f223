//! `ringmq send`: lines of standard input, or `--data`, out as messages.

use std::time::{Duration, Instant};

use clap::Args;
use ringmq::{BlockingSocket, Bytes, ErrorKind, Message, Options, SendError, SocketType};

use crate::socket::{
    parse_routing_id, parse_seconds, resolve_type, show_routing_id, Attach, Attached, Direction,
    Session, SocketArgs,
};
use crate::text::Bodies;
use crate::Failure;

/// Send lines of standard input, or --data, as messages.
///
/// Each line of standard input is one message, without its newline; with --data, STRING is sent
/// --count times. Exits once everything sent is written, or when --linger-ms runs out.
#[derive(Debug, Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub socket: SocketArgs,
    /// Send STRING instead of reading standard input.
    #[arg(long, value_name = "STRING")]
    pub data: Option<String>,
    /// Messages to send: --data this many times (default 1), or at most this many input lines.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Send each message as two frames, T then the line; SUB filters on this first frame.
    #[arg(long, value_name = "T")]
    pub topic: Option<String>,
    /// router only, and required there: the routing id of the peer to send to, put in front of
    /// every message. Text, or 0x and hex digits (as `recv --hex` prints a generated id).
    #[arg(long, value_name = "ID", value_parser = parse_routing_id)]
    pub routing_id: Option<Bytes>,
    /// Pause after bind/connect before the first send: time for peers to connect/subscribe.
    /// Default 200 for pub and xpub (which drop what they send before a subscription arrives),
    /// else 0.
    #[arg(long, value_name = "MS")]
    pub delay_ms: Option<u64>,
    /// After the last send, wait at most MS for queued messages to be written [default: 30000].
    #[arg(long, value_name = "MS")]
    pub linger_ms: Option<u64>,
    /// Fail when a bound socket sees no peer (router: no peer with --routing-id), or a message
    /// cannot be queued, within SECONDS. Default: wait as long as it takes.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,
    /// On exit (after the linger), print the socket's counters on standard error: messages and
    /// bytes sent, drops by reason, connects, handshake failures...
    #[arg(long)]
    pub stats: bool,
}

pub fn run(args: &SendArgs) -> Result<(), Failure> {
    let socket_type = resolve_type(&args.socket.socket_type, Direction::Send)?;
    match (socket_type, &args.routing_id) {
        (SocketType::Router, None) => {
            return Err(Failure::new(
                "send --type router needs --routing-id ID: the peer to send to",
            ))
        }
        (SocketType::Router, Some(_)) | (_, None) => {}
        (_, Some(_)) => {
            return Err(Failure::new(format!(
                "--routing-id applies to router sockets, not {socket_type} \
                 (--identity sets a socket's own routing id)"
            )))
        }
    }
    let attach = args.socket.attach.attach()?;
    let defaults = Options::default();
    let options = args.socket.attach.options(Options {
        linger: args
            .linger_ms
            .map(Duration::from_millis)
            .or(defaults.linger),
        // Report an unknown routing id instead of dropping the message: `send_one` waits for the
        // peer to connect.
        router_mandatory: socket_type == SocketType::Router,
        ..defaults
    })?;
    let mut session = Session::open(socket_type, options)?;
    session.socket.set_sndtimeo(args.timeout);
    let sent = send_all(&session, &attach, socket_type, args);
    // Closing waits out the linger, so the counters include what was written meanwhile.
    session.finish(sent, args.stats)
}

/// Attach the session's socket and send every body.
fn send_all(
    session: &Session,
    attach: &Attach,
    socket_type: SocketType,
    args: &SendArgs,
) -> Result<(), Failure> {
    let attached = attach.blocking(&session.socket)?;
    if matches!(attached, Attached::Bound(_)) && waits_for_peers(socket_type) {
        // A bound socket with no peer accepts messages it can never deliver; wait for one, as a
        // libzmq send would block.
        wait_for_peer(&session.socket, args.timeout)?;
    }
    let delay = args
        .delay_ms
        .map_or_else(|| default_delay(socket_type), Duration::from_millis);
    std::thread::sleep(delay);

    let topic = args
        .topic
        .as_deref()
        .map(|t| Bytes::copy_from_slice(t.as_bytes()));
    let envelope = Envelope {
        routing_id: args.routing_id.clone(),
        topic,
    };
    let mut bodies = Bodies::new(args.data.as_deref(), args.count);
    let mut input = std::io::stdin().lock();
    while let Some(body) = bodies.next(&mut input)? {
        send_one(&session.socket, envelope.wrap(body), args.timeout)?;
    }
    Ok(())
}

/// Whether a bound socket of this type should wait for a peer before its first send. PUB and
/// XPUB do not: they drop what no subscriber wants. ROUTER waits for its addressee instead.
fn waits_for_peers(socket_type: SocketType) -> bool {
    !matches!(
        socket_type,
        SocketType::Pub | SocketType::XPub | SocketType::Router
    )
}

fn default_delay(socket_type: SocketType) -> Duration {
    match socket_type {
        SocketType::Pub | SocketType::XPub => Duration::from_millis(200),
        _ => Duration::ZERO,
    }
}

/// How often to look again for a peer that is not there yet. A blocking socket has no "peer
/// connected" event to wait on; polling is cheap.
const PEER_POLL: Duration = Duration::from_millis(10);

fn wait_for_peer(socket: &BlockingSocket, timeout: Option<Duration>) -> Result<(), Failure> {
    let deadline = timeout.map(|t| Instant::now() + t);
    while socket.connected_peers()? == 0 {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Failure::new(format!(
                "no peer connected within {:?}",
                timeout.unwrap_or_default()
            )));
        }
        std::thread::sleep(PEER_POLL);
    }
    Ok(())
}

/// The frames put in front of every body.
struct Envelope {
    /// ROUTER: the peer to send to.
    routing_id: Option<Bytes>,
    topic: Option<Bytes>,
}

impl Envelope {
    /// The message for `body`: `[routing id,] [topic,] body`.
    fn wrap(&self, body: Bytes) -> Message {
        let mut msg = Message::new();
        for frame in [&self.routing_id, &self.topic].into_iter().flatten() {
            msg.push(frame.clone());
        }
        msg.push(body);
        msg
    }
}

/// Send `msg`, waiting up to `timeout` (forever without one) for room, and for a ROUTER's
/// addressee to connect.
fn send_one(
    socket: &BlockingSocket,
    msg: Message,
    timeout: Option<Duration>,
) -> Result<(), Failure> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut msg = msg;
    loop {
        match socket.send(msg) {
            Ok(()) => return Ok(()),
            Err(SendError::Full(_)) => {
                return Err(Failure::new(format!(
                    "could not queue a message within {:?}: every peer is at its high-water mark",
                    timeout.unwrap_or_default()
                )))
            }
            // ROUTER (mandatory): the addressee has not connected, or not finished its handshake.
            Err(SendError::Failed(e, unsent)) if e.kind() == ErrorKind::HostUnreachable => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    let id = unsent
                        .frames()
                        .first()
                        .map_or_else(String::new, |id| show_routing_id(id));
                    return Err(Failure::new(format!(
                        "no peer with routing id {id} connected within {:?}",
                        timeout.unwrap_or_default()
                    )));
                }
                msg = unsent;
                std::thread::sleep(PEER_POLL);
            }
            Err(SendError::Failed(e, _)) => return Err(Failure::from(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_frames_come_first() {
        let plain = Envelope {
            routing_id: None,
            topic: None,
        };
        assert_eq!(plain.wrap(Bytes::from_static(b"line")).frames(), ["line"]);
        let topic = Envelope {
            routing_id: None,
            topic: Some(Bytes::from_static(b"a")),
        };
        assert_eq!(
            topic.wrap(Bytes::from_static(b"line")).frames(),
            ["a", "line"]
        );
        let routed = Envelope {
            routing_id: Some(Bytes::from_static(b"alice")),
            topic: Some(Bytes::from_static(b"a")),
        };
        assert_eq!(
            routed.wrap(Bytes::from_static(b"line")).frames(),
            ["alice", "a", "line"]
        );
    }
}
