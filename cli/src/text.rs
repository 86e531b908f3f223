//! Lines in and out: a line of input becomes a message body, a message becomes a line of output.

use std::io::{BufRead, ErrorKind as IoErrorKind, Write};

use ringmq::{Bytes, Message};

use crate::Failure;

/// The next line of `input` without its `\n`, or `None` at the end of input. Bytes are kept as
/// they are, valid UTF-8 or not.
pub fn read_line(input: &mut impl BufRead) -> Result<Option<Bytes>, Failure> {
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

/// The bodies a command sends: `--data` `count` times (default once), or at most `count` lines
/// of standard input.
pub struct Bodies {
    data: Option<Bytes>,
    left: Option<u64>,
}

impl Bodies {
    /// `data` repeated, or standard input's lines; `count` bounds both.
    pub fn new(data: Option<&str>, count: Option<u64>) -> Bodies {
        let data = data.map(|d| Bytes::copy_from_slice(d.as_bytes()));
        let left = if data.is_some() {
            Some(count.unwrap_or(1))
        } else {
            count
        };
        Bodies { data, left }
    }

    /// The next body, or `None` when done.
    pub fn next(&mut self, input: &mut impl BufRead) -> Result<Option<Bytes>, Failure> {
        if self.left == Some(0) {
            return Ok(None);
        }
        let body = match &self.data {
            Some(data) => Some(data.clone()),
            None => read_line(input)?,
        };
        if body.is_some() {
            if let Some(left) = &mut self.left {
                *left -= 1;
            }
        }
        Ok(body)
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// `bytes` as lowercase hex.
pub fn encode_hex(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        out.push(HEX_DIGITS[usize::from(byte >> 4)]);
        out.push(HEX_DIGITS[usize::from(byte & 0x0f)]);
    }
    out
}

/// The bytes `hex` spells (either case), or `None` if it is empty, odd-length or not hex.
pub fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    let digits = hex.as_bytes();
    if digits.is_empty() || !digits.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |d: u8| char::from(d).to_digit(16).map(|v| v as u8);
    digits
        .chunks(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

/// One output line for `msg`, newline included: frames joined by a tab, as text (invalid UTF-8
/// replaced) or as lowercase hex.
pub fn line(msg: &Message, hex: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.size() * if hex { 2 } else { 1 } + msg.len() + 1);
    for (i, frame) in msg.frames().iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        if hex {
            out.extend_from_slice(&encode_hex(frame));
        } else {
            out.extend_from_slice(String::from_utf8_lossy(frame).as_bytes());
        }
    }
    out.push(b'\n');
    out
}

/// Write `bytes` and flush. `Ok(false)` when the reader went away (`ringmq recv … | head -1`):
/// a normal way for a command to stop.
pub fn print(out: &mut impl Write, bytes: &[u8]) -> Result<bool, Failure> {
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == IoErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(Failure::new(format!("writing standard output: {e}"))),
    }
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
    fn bodies_are_data_or_lines() {
        let mut input: &[u8] = b"a\nb\nc\n";
        let all = |mut bodies: Bodies, input: &mut &[u8]| {
            let mut out = Vec::new();
            while let Some(body) = bodies.next(input).unwrap() {
                out.push(body);
            }
            out
        };
        assert_eq!(all(Bodies::new(Some("x"), None), &mut input), ["x"]);
        assert_eq!(all(Bodies::new(Some("x"), Some(2)), &mut input), ["x", "x"]);
        assert!(all(Bodies::new(Some("x"), Some(0)), &mut input).is_empty());
        assert_eq!(all(Bodies::new(None, Some(2)), &mut input), ["a", "b"]);
        assert_eq!(all(Bodies::new(None, None), &mut input), ["c"]);
    }

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

    #[test]
    fn hex_round_trips() {
        assert_eq!(encode_hex(b"\x00\xab\x10"), b"00ab10");
        assert_eq!(decode_hex("00aB10"), Some(b"\x00\xab\x10".to_vec()));
        assert_eq!(decode_hex(""), None);
        assert_eq!(decode_hex("0"), None);
        assert_eq!(decode_hex("0g"), None);
        assert_eq!(decode_hex("+1"), None);
    }
}
