//! REQ and REP envelopes (zmq_socket(3), RFC 28 REQREP).
//!
//! A REQ sends `[request-id]`, an empty delimiter, then the body; it accepts exactly one reply,
//! from the peer it asked, and strips the same envelope from it. A REP remembers everything up to
//! and including the delimiter of the request it delivered (the routing envelope) and puts it back
//! in front of the reply, which goes to the peer the request came from.

use bytes::Bytes;
use ringmq_transports::Message;

use crate::PeerId;

/// What a REQ or REP refuses in its current state (libzmq's EFSM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateError {
    /// REQ: a request is outstanding (set `req_relaxed` to allow a new one).
    AwaitingReply,
    /// REQ: recv without a request outstanding. REP: send without a request received.
    NothingToAnswer,
    /// REP: recv while the last request is not answered yet.
    ReplyPending,
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StateError::AwaitingReply => {
                "a request is outstanding: receive its reply first (or set req_relaxed)"
            }
            StateError::NothingToAnswer => {
                "nothing to answer: REQ must send first, REP must receive first"
            }
            StateError::ReplyPending => {
                "the last request is not answered yet: send the reply first"
            }
        })
    }
}

/// The application's turn on a REQ or REP socket, for a handle that reports a misuse to its
/// caller before the message reaches the socket (whose [`Req`] and [`Rep`] enforce the same
/// order): REQ sends, then receives; REP receives, then sends. Other types are never refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Turn {
    role: Role,
    relaxed: bool,
    /// REQ: a request is outstanding. REP: a request awaits its reply.
    outstanding: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Req,
    Rep,
    Free,
}

impl Turn {
    /// The turn of a fresh `socket_type` socket (`req_relaxed` lets a REQ send again).
    pub fn new(socket_type: ringmq_transports::SocketType, req_relaxed: bool) -> Turn {
        use ringmq_transports::SocketType;
        let role = match socket_type {
            SocketType::Req => Role::Req,
            SocketType::Rep => Role::Rep,
            _ => Role::Free,
        };
        Turn {
            role,
            relaxed: req_relaxed,
            outstanding: false,
        }
    }

    /// Whether the application may send now.
    pub fn check_send(&self) -> Result<(), StateError> {
        match self.role {
            Role::Req if self.outstanding && !self.relaxed => Err(StateError::AwaitingReply),
            Role::Rep if !self.outstanding => Err(StateError::NothingToAnswer),
            _ => Ok(()),
        }
    }

    /// Whether the application may receive now.
    pub fn check_recv(&self) -> Result<(), StateError> {
        match self.role {
            Role::Req if !self.outstanding => Err(StateError::NothingToAnswer),
            Role::Rep if self.outstanding => Err(StateError::ReplyPending),
            _ => Ok(()),
        }
    }

    /// A message was sent (after [`Turn::check_send`]).
    pub fn sent(&mut self) {
        match self.role {
            Role::Req => self.outstanding = true,
            Role::Rep => self.outstanding = false,
            Role::Free => {}
        }
    }

    /// A message was received (after [`Turn::check_recv`]).
    pub fn received(&mut self) {
        match self.role {
            Role::Req => self.outstanding = false,
            Role::Rep => self.outstanding = true,
            Role::Free => {}
        }
    }
}

/// The REQ side.
#[derive(Debug, Clone, Default)]
pub struct Req {
    relaxed: bool,
    correlate: bool,
    awaiting: Option<PeerId>,
    request_id: u32,
    sent: bool,
}

impl Req {
    /// A REQ with libzmq's `req_relaxed` and `req_correlate` options.
    pub fn new(relaxed: bool, correlate: bool, first_request_id: u32) -> Req {
        Req {
            relaxed,
            correlate,
            awaiting: None,
            request_id: first_request_id,
            sent: false,
        }
    }

    /// Whether a new request may be sent now.
    pub fn can_send(&self) -> Result<(), StateError> {
        if self.sent && !self.relaxed {
            return Err(StateError::AwaitingReply);
        }
        Ok(())
    }

    /// Wrap `body` as a request (after `can_send`); the caller then sends it to one peer and
    /// reports which with [`Req::sent_to`].
    pub fn wrap(&mut self, mut body: Message) -> Message {
        body.push_front(Bytes::new());
        if self.correlate {
            self.request_id = self.request_id.wrapping_add(1);
            body.push_front(Bytes::copy_from_slice(&self.request_id.to_be_bytes()));
        }
        body
    }

    /// The request went to `peer`: only its reply will be accepted.
    pub fn sent_to(&mut self, peer: PeerId) {
        self.awaiting = Some(peer);
        self.sent = true;
    }

    /// Whether a reply may be received now.
    pub fn can_recv(&self) -> Result<(), StateError> {
        if !self.sent {
            return Err(StateError::NothingToAnswer);
        }
        Ok(())
    }

    /// The peer whose reply is awaited.
    pub fn awaiting(&self) -> Option<PeerId> {
        self.awaiting
    }

    /// Check a message from `peer`: the reply (envelope stripped) or `None` to drop it (wrong peer,
    /// stale request id, no delimiter).
    pub fn accept_reply(&mut self, peer: PeerId, mut msg: Message) -> Option<Message> {
        if self.awaiting != Some(peer) {
            return None;
        }
        if self.correlate {
            let id = msg.pop_front()?;
            if id[..] != self.request_id.to_be_bytes() {
                return None;
            }
        }
        let delimiter = msg.pop_front()?;
        if !delimiter.is_empty() || msg.is_empty() {
            return None;
        }
        self.awaiting = None;
        self.sent = false;
        Some(msg)
    }

    /// The awaited peer went away: with `req_relaxed` a new request may go elsewhere.
    pub fn peer_gone(&mut self, peer: PeerId) {
        if self.awaiting == Some(peer) && self.relaxed {
            self.awaiting = None;
        }
    }
}

/// The REP side.
#[derive(Debug, Clone, Default)]
pub struct Rep {
    pending: Option<(PeerId, Vec<Bytes>)>,
}

impl Rep {
    /// A REP with nothing received.
    pub fn new() -> Rep {
        Rep::default()
    }

    /// Whether a request is being processed (recv refuses until it is answered).
    pub fn is_answering(&self) -> bool {
        self.pending.is_some()
    }

    /// Split a request from `peer` into its envelope (kept) and body (returned); `None` drops a
    /// message without a delimiter.
    pub fn take_request(&mut self, peer: PeerId, msg: Message) -> Option<Message> {
        let frames = msg.frames();
        let delimiter = frames.iter().position(|f| f.is_empty())?;
        let envelope = frames[..=delimiter].to_vec();
        let mut body = Message::from_frames(frames[delimiter + 1..].iter().cloned());
        if body.is_empty() {
            return None;
        }
        if let Some(properties) = msg.properties() {
            body.set_properties(properties.clone());
        }
        self.pending = Some((peer, envelope));
        Some(body)
    }

    /// Wrap `body` as the reply to the last request: the peer to send it to and the message.
    pub fn reply(&mut self, body: Message) -> Result<(PeerId, Message), StateError> {
        let (peer, envelope) = self.pending.take().ok_or(StateError::NothingToAnswer)?;
        let mut frames = envelope;
        frames.extend(body.into_frames());
        Ok((peer, Message::from_frames(frames)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_alternates_like_the_sockets() {
        use ringmq_transports::SocketType;
        let mut req = Turn::new(SocketType::Req, false);
        assert_eq!(req.check_recv(), Err(StateError::NothingToAnswer));
        assert_eq!(req.check_send(), Ok(()));
        req.sent();
        assert_eq!(req.check_send(), Err(StateError::AwaitingReply));
        assert_eq!(req.check_recv(), Ok(()));
        req.received();
        assert_eq!(req.check_send(), Ok(()));
        let mut relaxed = Turn::new(SocketType::Req, true);
        relaxed.sent();
        assert_eq!(relaxed.check_send(), Ok(()));
        let mut rep = Turn::new(SocketType::Rep, false);
        assert_eq!(rep.check_send(), Err(StateError::NothingToAnswer));
        rep.received();
        assert_eq!(rep.check_recv(), Err(StateError::ReplyPending));
        rep.sent();
        assert_eq!(rep.check_recv(), Ok(()));
        let mut push = Turn::new(SocketType::Push, false);
        push.sent();
        push.sent();
        assert_eq!(push.check_send(), Ok(()));
    }

    #[test]
    fn req_strict_alternation_and_envelope() {
        let mut req = Req::new(false, false, 0);
        req.can_send().unwrap();
        let wire = req.wrap(Message::single("hello"));
        assert_eq!(wire, Message::from_frames(["", "hello"]));
        req.sent_to(PeerId(1));
        assert_eq!(req.can_send(), Err(StateError::AwaitingReply));
        // From another peer: dropped.
        assert!(req
            .accept_reply(PeerId(2), Message::from_frames(["", "x"]))
            .is_none());
        // No delimiter: dropped.
        assert!(req.accept_reply(PeerId(1), Message::single("x")).is_none());
        let reply = req
            .accept_reply(PeerId(1), Message::from_frames(["", "world"]))
            .unwrap();
        assert_eq!(reply, Message::single("world"));
        req.can_send().unwrap();
        assert_eq!(req.can_recv(), Err(StateError::NothingToAnswer));
    }

    #[test]
    fn req_correlate_drops_stale_replies() {
        let mut req = Req::new(true, true, 41);
        let first = req.wrap(Message::single("a"));
        assert_eq!(first.frames()[0][..], 42u32.to_be_bytes());
        req.sent_to(PeerId(1));
        // Relaxed: a second request may go before the first is answered.
        req.can_send().unwrap();
        let second = req.wrap(Message::single("b"));
        req.sent_to(PeerId(1));
        let stale =
            Message::from_frames([first.frames()[0].clone(), Bytes::new(), Bytes::from("r1")]);
        assert!(req.accept_reply(PeerId(1), stale).is_none());
        let fresh =
            Message::from_frames([second.frames()[0].clone(), Bytes::new(), Bytes::from("r2")]);
        assert_eq!(
            req.accept_reply(PeerId(1), fresh).unwrap(),
            Message::single("r2")
        );
    }

    #[test]
    fn rep_keeps_and_restores_the_envelope() {
        let mut rep = Rep::new();
        assert_eq!(
            rep.reply(Message::single("x")).unwrap_err(),
            StateError::NothingToAnswer
        );
        let body = rep
            .take_request(
                PeerId(3),
                Message::from_frames(["id1", "id2", "", "q1", "q2"]),
            )
            .unwrap();
        assert_eq!(body, Message::from_frames(["q1", "q2"]));
        let (peer, wire) = rep.reply(Message::single("a")).unwrap();
        assert_eq!(peer, PeerId(3));
        assert_eq!(wire, Message::from_frames(["id1", "id2", "", "a"]));
        assert!(rep
            .take_request(PeerId(3), Message::single("no delimiter"))
            .is_none());
    }

    #[test]
    fn a_request_body_keeps_its_connection_properties() {
        let mut props = ringmq_transports::Metadata::new();
        props.insert("User-Id", "alice");
        let mut request = Message::from_frames(["", "q"]);
        request.set_properties(std::sync::Arc::new(props));
        let body = Rep::new().take_request(PeerId(1), request).unwrap();
        assert_eq!(body.property("User-Id"), Some("alice"));
    }
}
