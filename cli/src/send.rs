//! `ringmq send`: lines of standard input, or `--data`, out as messages.

use std::io::{BufRead, ErrorKind as IoErrorKind};
use std::time::{Duration, Instant};

use clap::Args;
use ringmq::{BlockingSocket, Bytes, Message, Options, SendError, SocketType};

use crate::socket::{parse_seconds, resolve_type, Attached, Direction, Session, SocketArgs};
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
    /// Pause after bind/connect before the first send: time for peers to connect/subscribe.
    /// Default 200 for pub (a PUB drops what it sends before a subscription arrives), else 0.
    #[arg(long, value_name = "MS")]
    pub delay_ms: Option<u64>,
    /// After the last send, wait at most MS for queued messages to be written [default: 30000].
    #[arg(long, value_name = "MS")]
    pub linger_ms: Option<u64>,
    /// Fail when a bound push or pair socket sees no peer, or a message cannot be queued, within
    /// SECONDS. Default: wait as long as it takes.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,
}

pub fn run(args: &SendArgs) -> Result<(), Failure> {
    let socket_type = resolve_type(&args.socket.socket_type, Direction::Send)?;
    let defaults = Options::default();
    let options = Options {
        linger: args
            .linger_ms
            .map(Duration::from_millis)
            .or(defaults.linger),
        ..defaults
    };
    let mut session = Session::open(socket_type, options)?;
    session.socket.set_sndtimeo(args.timeout);
    let attached = args.socket.attach(&session.socket)?;
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
    let send = |body: Bytes| send_one(&session.socket, topic.as_ref(), body, args.timeout);
    match &args.data {
        Some(data) => {
            let body = Bytes::copy_from_slice(data.as_bytes());
            for _ in 0..args.count.unwrap_or(1) {
                send(body.clone())?;
            }
        }
        None => {
            let mut input = std::io::stdin().lock();
            let mut sent = 0;
            while args.count.is_none_or(|count| sent < count) {
                let Some(line) = read_line(&mut input)? else {
                    break;
                };
                send(line)?;
                sent += 1;
            }
        }
    }

    // Dropping the session closes the socket and waits out its linger.
    drop(session);
    Ok(())
}

/// Whether a socket of this type holds messages for peers that are not there yet. PUB does not:
/// it drops what no subscriber wants.
fn waits_for_peers(socket_type: SocketType) -> bool {
    !matches!(socket_type, SocketType::Pub | SocketType::XPub)
}

fn default_delay(socket_type: SocketType) -> Duration {
    match socket_type {
        SocketType::Pub | SocketType::XPub => Duration::from_millis(200),
        _ => Duration::ZERO,
    }
}

fn wait_for_peer(socket: &BlockingSocket, timeout: Option<Duration>) -> Result<(), Failure> {
    let deadline = timeout.map(|t| (Instant::now() + t, t));
    // A blocking socket has no "peer connected" event to wait on; polling the count is cheap.
    while socket.connected_peers()? == 0 {
        if let Some((deadline, timeout)) = deadline {
            if Instant::now() >= deadline {
                return Err(Failure::new(format!(
                    "no peer connected within {timeout:?}"
                )));
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// The next line of `input` without its `\n`, or `None` at the end of input. Bytes are kept as
/// they are, valid UTF-8 or not.
fn read_line(input: &mut impl BufRead) -> Result<Option<Bytes>, Failure> {
    let mut line = Vec::new();
    loop {
        match input.read_until(b'\n', &mut line) {
            Ok(0) if line.is_empty() => return Ok(None),
            Ok(_) => break,
            Err(e) if e.kind() == IoErrorKind::Interrupted => continue,
            Err(e) => return Err(Failure::new(format!("reading standard input: {e}"))),
        }
    }
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    Ok(Some(Bytes::from(line)))
}

/// The message for `body`: `[topic, body]` with a topic, `[body]` without.
fn message(topic: Option<&Bytes>, body: Bytes) -> Message {
    let mut msg = Message::new();
    if let Some(topic) = topic {
        msg.push(topic.clone());
    }
    msg.push(body);
    msg
}

fn send_one(
    socket: &BlockingSocket,
    topic: Option<&Bytes>,
    body: Bytes,
    timeout: Option<Duration>,
) -> Result<(), Failure> {
    socket.send(message(topic, body)).map_err(|e| match e {
        SendError::Full(_) => Failure::new(format!(
            "could not queue a message within {:?}: every peer is at its high-water mark",
            timeout.unwrap_or_default()
        )),
        SendError::Failed(e, _) => Failure::from(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_lose_only_their_newline() {
        let mut input: &[u8] = b"one\n\n\x00\xff\r\nlast";
        let mut lines = Vec::new();
        while let Some(line) = read_line(&mut input).unwrap() {
            lines.push(line);
        }
        assert_eq!(lines, ["one".as_bytes(), b"", b"\x00\xff\r", b"last"]);
    }

    #[test]
    fn topic_is_the_first_frame() {
        let topic = Bytes::from_static(b"a");
        let msg = message(Some(&topic), Bytes::from_static(b"line"));
        assert_eq!(msg.frames(), ["a", "line"]);
        let msg = message(None, Bytes::from_static(b"line"));
        assert_eq!(msg.frames(), ["line"]);
    }
}
