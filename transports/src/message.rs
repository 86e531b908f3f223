//! Multipart messages. A message is one or more frames delivered atomically: a peer sees all of them
//! or none.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use smallvec::SmallVec;

use crate::metadata::Metadata;

/// The property naming the file descriptor of the connection a message was read from (libzmq's
/// deprecated `ZMQ_SRCFD`), attached with the others under `Options::message_properties` on tcp
/// and ipc. A colon is not allowed in ZMTP property names, so no peer's metadata can take it.
pub const SOURCE_FD_PROPERTY: &str = ":source-fd";

/// A ZeroMQ message: one or more frames, each a cheaply clonable [`Bytes`].
///
/// Single- and two-frame messages are stored inline (no allocation beyond the frame bodies).
/// A received message may carry its connection's properties (`User-Id`, `Peer-Address`), as
/// libzmq's `zmq_msg_gets`; equality compares frames only.
#[derive(Clone, Default)]
pub struct Message {
    frames: SmallVec<[Bytes; 2]>,
    properties: Option<Arc<Metadata>>,
    /// Told when the message's last clone goes (the engine's credit for exact inproc HWMs);
    /// never on the wire.
    guard: Option<Arc<Guard>>,
}

/// What a [`Guard`] tells when the last clone of its message goes.
pub trait OnDrop: Send + Sync {
    /// The guarded message's last clone went (or the guard did, taken off it).
    fn dropped(&self);
}

/// Tells its target once, when dropped, unless disarmed first. A message carries at most one.
pub struct Guard {
    target: Arc<dyn OnDrop>,
    armed: AtomicBool,
}

impl Guard {
    /// A guard that tells `target`.
    pub fn new(target: Arc<dyn OnDrop>) -> Guard {
        Guard {
            target,
            armed: AtomicBool::new(true),
        }
    }

    /// Never tell the target; returns whether it would have (the first disarm only).
    pub fn disarm(&self) -> bool {
        self.armed.swap(false, Ordering::SeqCst)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.armed.load(Ordering::SeqCst) {
            self.target.dropped();
        }
    }
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("armed", &self.armed.load(Ordering::Relaxed))
            .finish()
    }
}

impl PartialEq for Message {
    fn eq(&self, other: &Message) -> bool {
        self.frames == other.frames
    }
}

impl Eq for Message {}

impl Message {
    /// An empty message with no frames; push frames before sending it.
    pub fn new() -> Self {
        Message::default()
    }

    /// A one-frame message.
    pub fn single(body: impl Into<Bytes>) -> Self {
        let mut frames = SmallVec::new();
        frames.push(body.into());
        Message {
            frames,
            properties: None,
            guard: None,
        }
    }

    /// A message of the given frames.
    pub fn from_frames<I, B>(frames: I) -> Self
    where
        I: IntoIterator<Item = B>,
        B: Into<Bytes>,
    {
        Message {
            frames: frames.into_iter().map(Into::into).collect(),
            properties: None,
            guard: None,
        }
    }

    /// Append a frame.
    pub fn push(&mut self, frame: impl Into<Bytes>) {
        self.frames.push(frame.into());
    }

    /// Insert a frame at the front (envelopes).
    pub fn push_front(&mut self, frame: impl Into<Bytes>) {
        self.frames.insert(0, frame.into());
    }

    /// Remove and return the first frame.
    pub fn pop_front(&mut self) -> Option<Bytes> {
        if self.frames.is_empty() {
            None
        } else {
            Some(self.frames.remove(0))
        }
    }

    /// The frames, in order.
    pub fn frames(&self) -> &[Bytes] {
        &self.frames
    }

    /// The first frame, if any (the topic of a PUB message).
    pub fn first(&self) -> Option<&Bytes> {
        self.frames.first()
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether the message has no frames.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Sum of the frame sizes in bytes.
    pub fn size(&self) -> usize {
        self.frames.iter().map(Bytes::len).sum()
    }

    /// A property of the connection the message came from (`User-Id`, `Peer-Address`), if any.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .as_ref()?
            .get(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// All properties of the connection the message came from, if it carries them.
    pub fn properties(&self) -> Option<&Arc<Metadata>> {
        self.properties.as_ref()
    }

    /// Attach connection properties (done by the receiving socket).
    pub fn set_properties(&mut self, properties: Arc<Metadata>) {
        self.properties = Some(properties);
    }

    /// Attach `guard`, dropped when the last clone of the message is (see the field).
    pub fn set_guard(&mut self, guard: Guard) {
        self.guard = Some(Arc::new(guard));
    }

    /// Take the guard off, if any.
    pub fn take_guard(&mut self) -> Option<Arc<Guard>> {
        self.guard.take()
    }

    /// Consume the message into its frames.
    pub fn into_frames(self) -> impl Iterator<Item = Bytes> {
        self.frames.into_iter()
    }
}

impl From<Bytes> for Message {
    fn from(b: Bytes) -> Self {
        Message::single(b)
    }
}

impl From<&'static str> for Message {
    fn from(s: &'static str) -> Self {
        Message::single(Bytes::from_static(s.as_bytes()))
    }
}

impl From<Vec<u8>> for Message {
    fn from(v: Vec<u8>) -> Self {
        Message::single(v)
    }
}

/// Debug prints frame sizes only, never payload bytes (payloads can hold secrets).
impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sizes: SmallVec<[usize; 4]> = self.frames.iter().map(Bytes::len).collect();
        write!(f, "Message(frame sizes {:?})", sizes.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_payload() {
        let m = Message::from_frames(["secret", "x"]);
        let s = format!("{m:?}");
        assert!(!s.contains("secret"));
        assert_eq!(s, "Message(frame sizes [6, 1])");
    }

    #[test]
    fn envelope_ops() {
        let mut m = Message::single("body");
        m.push_front("id");
        assert_eq!(m.len(), 2);
        assert_eq!(m.pop_front().unwrap(), "id");
        assert_eq!(m.frames(), &[Bytes::from_static(b"body")]);
        assert_eq!(m.size(), 4);
    }
}
