//! `ringmq recv`: messages in, one line each on standard output.

use std::io::{ErrorKind as IoErrorKind, Write};
use std::time::Duration;

use clap::Args;
use ringmq::{ErrorKind, Message, Options, SocketType};

use crate::socket::{parse_seconds, resolve_type, Direction, Session, SocketArgs};
use crate::Failure;

/// Print received messages, one line each.
///
/// A message's frames are joined by a tab and printed as text (invalid UTF-8 replaced) or, with
/// --hex, as lowercase hex.
#[derive(Debug, Args)]
pub struct RecvArgs {
    #[command(flatten)]
    pub socket: SocketArgs,
    /// Exit after N messages. Default: run until interrupted.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Receive only messages whose first frame starts with PREFIX (sub; repeatable). Default: all.
    #[arg(long, value_name = "PREFIX")]
    pub subscribe: Vec<String>,
    /// Print every frame as lowercase hex, byte for byte.
    #[arg(long)]
    pub hex: bool,
    /// Fail when no message arrives within SECONDS of the previous one (or of the start).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,
}

pub fn run(args: &RecvArgs) -> Result<(), Failure> {
    let socket_type = resolve_type(&args.socket.socket_type, Direction::Recv)?;
    if !args.subscribe.is_empty() && socket_type != SocketType::Sub {
        return Err(Failure::new(format!(
            "--subscribe applies to sub sockets, not {socket_type}"
        )));
    }
    let session = Session::open(socket_type, Options::default())?;
    if socket_type == SocketType::Sub {
        if args.subscribe.is_empty() {
            session.socket.subscribe(b"")?;
        }
        for prefix in &args.subscribe {
            session.socket.subscribe(prefix.as_bytes())?;
        }
    }
    args.socket.attach(&session.socket)?;

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
        let written = out
            .write_all(&line(&msg, args.hex))
            .and_then(|()| out.flush());
        match written {
            Ok(()) => {}
            // The reader went away (`ringmq recv … | head -1`): a normal way to stop.
            Err(e) if e.kind() == IoErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(Failure::new(format!("writing standard output: {e}"))),
        }
        received += 1;
    }
    Ok(())
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// One output line for `msg`, newline included.
fn line(msg: &Message, hex: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.size() * if hex { 2 } else { 1 } + msg.len() + 1);
    for (i, frame) in msg.frames().iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        if hex {
            for &byte in frame.iter() {
                out.push(HEX_DIGITS[usize::from(byte >> 4)]);
                out.push(HEX_DIGITS[usize::from(byte & 0x0f)]);
            }
        } else {
            out.extend_from_slice(String::from_utf8_lossy(frame).as_bytes());
        }
    }
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_join_with_tabs() {
        let msg = Message::from_frames(["topic", "hello world"]);
        assert_eq!(line(&msg, false), b"topic\thello world\n");
        assert_eq!(line(&Message::from_frames([""]), false), b"\n");
    }

    #[test]
    fn invalid_utf8_is_replaced_and_hex_is_exact() {
        let msg = Message::from_frames([&b"a\x00\xff"[..], &b"\x10"[..]]);
        assert_eq!(line(&msg, false), "a\u{0}\u{fffd}\t\u{10}\n".as_bytes());
        assert_eq!(line(&msg, true), b"6100ff\t10\n");
    }
}
