//! The ZMTP 3.x frame: a flags byte, a 1- or 8-byte size, and the body (RFC 37 §"Framing").
//!
//! [`FrameDecoder`] is incremental: it takes whatever bytes have arrived, in any split, and yields each
//! complete frame as a zero-copy [`Bytes`] slice of the read buffer. Every announced size is checked
//! against the limit before anything is reserved for it.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::DecodeError;

/// The flags byte of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameFlags(u8);

impl FrameFlags {
    /// More frames of this message follow.
    pub const MORE: FrameFlags = FrameFlags(0x01);
    /// The size field is 8 bytes, big-endian.
    pub const LONG: FrameFlags = FrameFlags(0x02);
    /// The frame is a command, not a message frame.
    pub const COMMAND: FrameFlags = FrameFlags(0x04);
    const RESERVED: u8 = 0xF8;

    /// The raw byte.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: FrameFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for FrameFlags {
    type Output = FrameFlags;
    fn bitor(self, rhs: FrameFlags) -> FrameFlags {
        FrameFlags(self.0 | rhs.0)
    }
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawFrame {
    /// A message frame; `more` is the MORE flag.
    Message {
        /// More frames of the same message follow.
        more: bool,
        /// The frame body.
        body: Bytes,
    },
    /// A command frame (name length, name, data).
    Command(Bytes),
}

/// Incremental frame decoder with a size limit.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    frame_size_max: u64,
    /// Bytes the frame at the front of the buffer still lacks (0: none known).
    wanted: usize,
}

/// A checked frame header: its flags, its length and the body's.
struct Header {
    flags: FrameFlags,
    header_len: usize,
    size: usize,
}

impl Header {
    fn total(&self) -> usize {
        self.header_len.saturating_add(self.size)
    }
}

impl FrameDecoder {
    /// A decoder that refuses any frame body above `frame_size_max` bytes.
    pub fn new(frame_size_max: u64) -> Self {
        FrameDecoder {
            frame_size_max,
            wanted: 0,
        }
    }

    /// How many more bytes the frame at the front of the buffer needs before it can be decoded
    /// (0 when none is known to be incomplete): the caller makes room for them before its next
    /// read, in a buffer of its choosing (the decoder allocates nothing itself).
    pub fn wanted(&self) -> usize {
        self.wanted
    }

    /// The limit in force.
    pub fn frame_size_max(&self) -> u64 {
        self.frame_size_max
    }

    /// Reads the header at the front of `bytes`: `Ok(None)` while it is incomplete, an error for
    /// reserved flags, a command with MORE or a size above the limit.
    fn header(&self, bytes: &[u8]) -> Result<Option<Header>, DecodeError> {
        let Some(&flags) = bytes.first() else {
            return Ok(None);
        };
        if flags & FrameFlags::RESERVED != 0 {
            return Err(DecodeError::ReservedFlags(flags));
        }
        let flags = FrameFlags(flags);
        if flags.contains(FrameFlags::COMMAND) && flags.contains(FrameFlags::MORE) {
            return Err(DecodeError::CommandWithMore);
        }
        let (header_len, size) = if flags.contains(FrameFlags::LONG) {
            let Some(field) = bytes.get(1..9) else {
                return Ok(None);
            };
            let mut size = [0u8; 8];
            size.copy_from_slice(field);
            (9usize, u64::from_be_bytes(size))
        } else {
            let Some(&size) = bytes.get(1) else {
                return Ok(None);
            };
            (2usize, u64::from(size))
        };
        if size > self.frame_size_max {
            return Err(DecodeError::FrameTooLarge {
                size,
                limit: self.frame_size_max,
            });
        }
        // The limit is below usize::MAX on every supported target once checked above, but a limit of
        // u64::MAX ("unlimited") must not wrap on 32-bit targets.
        let Ok(size) = usize::try_from(size) else {
            return Err(DecodeError::FrameTooLarge {
                size,
                limit: usize::MAX as u64,
            });
        };
        Ok(Some(Header {
            flags,
            header_len,
            size,
        }))
    }

    fn frame(flags: FrameFlags, body: Bytes) -> RawFrame {
        if flags.contains(FrameFlags::COMMAND) {
            RawFrame::Command(body)
        } else {
            RawFrame::Message {
                more: flags.contains(FrameFlags::MORE),
                body,
            }
        }
    }

    /// Take one complete frame off the front of `buf`, or `Ok(None)` when more bytes are needed.
    ///
    /// When a frame is incomplete, `buf` is left untouched and [`FrameDecoder::wanted`] says how
    /// many more bytes it needs; the caller appends them and calls again. Errors are final: the
    /// stream cannot be resynchronised.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<RawFrame>, DecodeError> {
        let Some(header) = self.header(buf)? else {
            self.wanted = 0;
            return Ok(None);
        };
        let total = header.total();
        if buf.len() < total {
            // The size passed the limit check above.
            self.wanted = total - buf.len();
            return Ok(None);
        }
        self.wanted = 0;
        buf.advance(header.header_len);
        let body = buf.split_to(header.size).freeze();
        Ok(Some(Self::frame(header.flags, body)))
    }
}

/// Length of the header that [`encode_header`] writes for a body of `len` bytes.
pub fn header_len(len: usize) -> usize {
    if len > 255 {
        9
    } else {
        2
    }
}

/// Write a frame header (flags and size) for a body of `len` bytes. `flags` may hold MORE and
/// COMMAND; LONG is chosen from the length.
pub fn encode_header(out: &mut impl BufMut, flags: FrameFlags, len: usize) {
    let flags = flags.bits() & !FrameFlags::LONG.bits();
    if len > 255 {
        out.put_u8(flags | FrameFlags::LONG.bits());
        out.put_u64(len as u64);
    } else {
        out.put_u8(flags);
        out.put_u8(len as u8);
    }
}

/// Write one message frame, header and body.
pub fn encode_message_frame(out: &mut impl BufMut, more: bool, body: &[u8]) {
    let flags = if more {
        FrameFlags::MORE
    } else {
        FrameFlags::default()
    };
    encode_header(out, flags, body.len());
    out.put_slice(body);
}

/// Write one command frame whose body is `name_len name data`.
pub fn encode_command_frame(out: &mut impl BufMut, name: &str, data: &[u8]) {
    debug_assert!(
        !name.is_empty() && name.len() <= 255,
        "command names are 1..=255 bytes"
    );
    let body_len = 1 + name.len() + data.len();
    encode_header(out, FrameFlags::COMMAND, body_len);
    out.put_u8(name.len() as u8);
    out.put_slice(name.as_bytes());
    out.put_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(dec: &mut FrameDecoder, buf: &mut BytesMut) -> Vec<RawFrame> {
        let mut out = Vec::new();
        while let Some(f) = dec.decode(buf).expect("valid stream") {
            out.push(f);
        }
        out
    }

    #[test]
    fn short_frame_wire_bytes() {
        // RFC 37: a final short frame "hello" is 0x00 0x05 'hello'.
        let mut out = BytesMut::new();
        encode_message_frame(&mut out, false, b"hello");
        assert_eq!(&out[..], b"\x00\x05hello");
        let mut out = BytesMut::new();
        encode_message_frame(&mut out, true, b"");
        assert_eq!(&out[..], b"\x01\x00");
    }

    #[test]
    fn long_frame_wire_bytes() {
        let body = vec![7u8; 256];
        let mut out = BytesMut::new();
        encode_message_frame(&mut out, false, &body);
        assert_eq!(&out[..9], &[0x02, 0, 0, 0, 0, 0, 0, 1, 0]);
        assert_eq!(out.len(), 9 + 256);
    }

    #[test]
    fn command_frame_wire_bytes() {
        // A PING with TTL 0 and no context, as libzmq sends it: 04 07 04 'PING' 00 00.
        let mut out = BytesMut::new();
        encode_command_frame(&mut out, "PING", &[0, 0]);
        assert_eq!(&out[..], b"\x04\x07\x04PING\x00\x00");
    }

    #[test]
    fn reserved_bits_are_refused() {
        let mut dec = FrameDecoder::new(1024);
        let mut buf = BytesMut::from(&b"\x08\x00"[..]);
        assert_eq!(dec.decode(&mut buf), Err(DecodeError::ReservedFlags(0x08)));
    }

    #[test]
    fn command_with_more_is_refused() {
        let mut dec = FrameDecoder::new(1024);
        let mut buf = BytesMut::from(&b"\x05\x00"[..]);
        assert_eq!(dec.decode(&mut buf), Err(DecodeError::CommandWithMore));
    }

    #[test]
    fn oversize_frame_is_refused_before_allocation() {
        let mut dec = FrameDecoder::new(1000);
        // Announces 2^62 bytes; must fail on the header alone.
        let mut buf = BytesMut::from(&[0x02, 0x40, 0, 0, 0, 0, 0, 0, 0][..]);
        assert_eq!(
            dec.decode(&mut buf),
            Err(DecodeError::FrameTooLarge {
                size: 1 << 62,
                limit: 1000
            })
        );
        assert!(buf.capacity() < 4096);
    }

    #[test]
    fn incomplete_frame_waits() {
        let mut dec = FrameDecoder::new(1024);
        let mut buf = BytesMut::from(&b"\x00\x05hel"[..]);
        assert_eq!(dec.decode(&mut buf), Ok(None));
        buf.extend_from_slice(b"lo");
        assert_eq!(
            dec.decode(&mut buf),
            Ok(Some(RawFrame::Message {
                more: false,
                body: Bytes::from_static(b"hello")
            }))
        );
        assert!(buf.is_empty());
    }

    fn frame_strategy() -> impl Strategy<Value = (bool, bool, Vec<u8>)> {
        (
            any::<bool>(),
            any::<bool>(),
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..300),
                proptest::collection::vec(any::<u8>(), 0..3000)
            ],
        )
    }

    proptest! {
        #[test]
        fn decode_any_split_of_encode(frames in proptest::collection::vec(frame_strategy(), 0..20),
                                      cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8)) {
            let mut wire = BytesMut::new();
            let mut expected = Vec::new();
            for (is_command, more, body) in &frames {
                if *is_command {
                    let mut data = body.clone();
                    data.truncate(200);
                    encode_command_frame(&mut wire, "X-TEST", &data);
                    let mut b = vec![6u8];
                    b.extend_from_slice(b"X-TEST");
                    b.extend_from_slice(&data);
                    expected.push(RawFrame::Command(Bytes::from(b)));
                } else {
                    encode_message_frame(&mut wire, *more, body);
                    expected.push(RawFrame::Message { more: *more, body: Bytes::from(body.clone()) });
                }
            }
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
            points.push(wire.len());
            points.sort_unstable();
            let mut dec = FrameDecoder::new(1 << 20);
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            let mut start = 0;
            for p in points {
                buf.extend_from_slice(&wire[start..p]);
                start = p;
                got.extend(decode_all(&mut dec, &mut buf));
            }
            prop_assert!(buf.is_empty());
            prop_assert_eq!(got, expected);
        }
    }
}
