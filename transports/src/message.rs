//! Multipart messages. A message is one or more frames delivered atomically: a peer sees all of them
//! or none.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

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
    /// Counted back when the message goes (the engine's credit for exact inproc HWMs); a
    /// clone does not carry it. Never on the wire.
    guard: Guard,
}

/// Where a [`Guard`] counts its message back.
pub struct Returns {
    returned: AtomicU64,
    /// Someone waits for a return: the next one calls `wake`.
    waiting: AtomicBool,
    wake: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

impl Returns {
    /// A new count at zero.
    pub fn new() -> Arc<Returns> {
        Arc::new(Returns {
            returned: AtomicU64::new(0),
            waiting: AtomicBool::new(false),
            wake: OnceLock::new(),
        })
    }

    /// Messages counted back so far.
    pub fn returned(&self) -> u64 {
        self.returned.load(Ordering::SeqCst)
    }

    /// What the next return after [`Returns::wait`] calls (set once).
    pub fn set_wake(&self, wake: Box<dyn Fn() + Send + Sync>) {
        let _ = self.wake.set(wake);
    }

    /// Have the next return call the wake (a caller about to wait, who looks once more after).
    pub fn wait(&self) {
        self.waiting.store(true, Ordering::SeqCst);
    }

    /// Call the wake, if someone waits.
    pub fn wake_waiter(&self) {
        if self.waiting.load(Ordering::SeqCst) && self.waiting.swap(false, Ordering::SeqCst) {
            if let Some(wake) = self.wake.get() {
                wake();
            }
        }
    }
}

impl std::fmt::Debug for Returns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Returns")
            .field("returned", &self.returned())
            .finish()
    }
}

/// Counts its message back into a [`Returns`] when dropped, unless disarmed. A clone carries
/// nothing: a message cloned for several peers is counted once, with the original.
#[derive(Default)]
pub struct Guard(Option<Arc<Returns>>);

impl Guard {
    /// A guard that counts back into `returns`.
    pub fn new(returns: Arc<Returns>) -> Guard {
        Guard(Some(returns))
    }

    /// Whether it counts anything back.
    pub fn is_armed(&self) -> bool {
        self.0.is_some()
    }

    /// Never count back; returns whether it would have.
    pub fn disarm(&mut self) -> bool {
        self.0.take().is_some()
    }
}

impl Clone for Guard {
    fn clone(&self) -> Guard {
        Guard(None)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(returns) = self.0.take() {
            returns.returned.fetch_add(1, Ordering::SeqCst);
            returns.wake_waiter();
        }
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
            guard: Guard::default(),
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
            guard: Guard::default(),
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

    /// Attach `guard` (see the field); one it had already is dropped, so counted back.
    pub fn set_guard(&mut self, guard: Guard) {
        self.guard = guard;
    }

    /// Take the guard off (an unarmed one if it had none).
    pub fn take_guard(&mut self) -> Guard {
        std::mem::take(&mut self.guard)
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
    fn a_guard_counts_its_message_back_once_and_a_clone_carries_none() {
        let returns = Returns::new();
        let mut m = Message::single("m");
        m.set_guard(Guard::new(returns.clone()));
        let copy = m.clone();
        drop(copy);
        assert_eq!(returns.returned(), 0, "a clone carries nothing");
        let mut moved = m;
        let mut guard = moved.take_guard();
        assert!(guard.is_armed());
        drop(moved);
        assert_eq!(returns.returned(), 0, "the guard was taken off");
        assert!(guard.disarm());
        drop(guard);
        assert_eq!(returns.returned(), 0, "disarmed");
        let mut m = Message::single("m");
        m.set_guard(Guard::new(returns.clone()));
        let woke = Arc::new(AtomicBool::new(false));
        let flag = woke.clone();
        returns.set_wake(Box::new(move || flag.store(true, Ordering::SeqCst)));
        returns.wait();
        drop(m);
        assert_eq!(returns.returned(), 1);
        assert!(
            woke.load(Ordering::SeqCst),
            "a waiter is woken by the return"
        );
    }

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
