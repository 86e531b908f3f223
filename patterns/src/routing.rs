//! The routing rules of every socket type, in one place and free of I/O: which peer an outgoing
//! message goes to ([`Routing::plan_send`]), and what an incoming message becomes before the
//! application sees it ([`Routing::incoming`]). The engine owns the peers' queues and executes
//! the plan; it asks the peers' state through [`PeerView`].
//!
//! | type | outgoing | incoming |
//! |---|---|---|
//! | PUSH, DEALER, PAIR | next peer with room, round-robin; none: back-pressure | as is |
//! | REQ | REQ envelope, next *connected* peer with room first; one request at a time | the awaited peer's reply, envelope stripped; others dropped |
//! | REP | back to the peer of the last request, envelope restored | envelope kept for the reply |
//! | ROUTER | first frame names the peer; unknown: dropped (`router_mandatory`: refused) | prefixed with the peer's routing id |
//! | PUB, XPUB | every connected peer subscribed to the first frame | (XPUB: subscriptions) |
//! | XSUB | `\x01`/`\x00` + topic changes our subscriptions; anything else to every peer | as is |

use bytes::Bytes;
use ringmq_transports::{Message, SocketType};

use crate::reqrep::{Rep, Req, StateError};
use crate::router::{Identified, RoutingTable};
use crate::{LoadBalance, Pattern, PeerId, SendStrategy};

/// What routing needs to know of the peers, from the engine that owns their queues.
pub trait PeerView {
    /// The peer can take one more message now (alive, below the send high-water mark).
    fn has_room(&self, peer: PeerId) -> bool;
}

/// Why a message cannot be sent at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendRefusal {
    /// The socket type does not send (PULL, SUB).
    CannotSend,
    /// REQ/REP alternation (libzmq's `EFSM`).
    State(StateError),
    /// ROUTER with `router_mandatory`: no peer has that routing id (`EHOSTUNREACH`).
    HostUnreachable,
}

/// Where an outgoing message goes, for the engine to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendPlan {
    /// Queue on this peer; its room was checked.
    Queue(PeerId, Message),
    /// Queue on this peer if it is connected and has room. Otherwise drop it, counted, unless
    /// `mandatory`: then hand it back as back-pressure, with `prefix` (the routing id the caller
    /// gave) put back in front.
    Route {
        /// The peer the rules chose.
        peer: PeerId,
        /// What to queue on it.
        msg: Message,
        /// Hand the message back instead of dropping it when the peer is full.
        mandatory: bool,
        /// The routing id to put back in front of a handed-back message.
        prefix: Option<Bytes>,
    },
    /// Queue a copy on every connected peer subscribed to the first frame; a peer at its
    /// high-water mark misses it (counted).
    FanOut(Message),
    /// Queue a copy on every connected peer; one at its high-water mark misses it (counted).
    Broadcast(Message),
    /// XSUB: subscribe to (or cancel) `topic` and tell every peer.
    Subscription {
        /// The topic prefix.
        topic: Bytes,
        /// Subscribe (true) or cancel (false).
        subscribe: bool,
    },
    /// No peer can take it now: hand it back (back-pressure).
    Full(Message),
    /// Dropped by the rules: an unroutable ROUTER message, or one with nothing after the id.
    Dropped,
    /// STREAM: close the connection to this peer (the application sent its id and an empty
    /// frame).
    Disconnect(PeerId),
    /// Refused; the message goes back to the caller.
    Refused(SendRefusal, Message),
}

/// The routing state of one socket: its load-balancer, REQ/REP envelopes and ROUTER ids.
#[derive(Debug, Clone)]
pub struct Routing {
    socket_type: SocketType,
    pattern: Pattern,
    lb: LoadBalance,
    req: Option<Req>,
    rep: Option<Rep>,
    routing: Option<RoutingTable>,
    router_mandatory: bool,
}

impl Routing {
    /// ROUTER: refuse (or, off, drop) messages for unknown routing ids from now on; libzmq lets
    /// `ZMQ_ROUTER_MANDATORY` change at any time.
    pub fn set_router_mandatory(&mut self, on: bool) {
        self.router_mandatory = on;
    }

    /// ROUTER: the peer that has `routing_id` now, if any.
    pub fn peer_by_routing_id(&self, routing_id: &[u8]) -> Option<PeerId> {
        self.routing.as_ref()?.lookup(routing_id)
    }

    /// The rules of `socket_type` with libzmq's `req_relaxed`, `req_correlate` and
    /// `router_mandatory`; `seed` starts REQ request ids and ROUTER's generated routing ids.
    /// `None` for a type without a pattern.
    pub fn new(
        socket_type: SocketType,
        req_relaxed: bool,
        req_correlate: bool,
        router_mandatory: bool,
        seed: u32,
    ) -> Option<Routing> {
        Some(Routing {
            socket_type,
            pattern: Pattern::of(socket_type)?,
            lb: LoadBalance::new(),
            req: (socket_type == SocketType::Req)
                .then(|| Req::new(req_relaxed, req_correlate, seed)),
            rep: (socket_type == SocketType::Rep).then(Rep::new),
            routing: matches!(socket_type, SocketType::Router | SocketType::Stream)
                .then(|| RoutingTable::new(seed)),
            router_mandatory,
        })
    }

    /// `peer` takes part in outgoing routing (its handshake is done, or it is a connect-side
    /// pipe that queues before its peer is there).
    pub fn attach(&mut self, peer: PeerId) {
        if self.pattern.send != SendStrategy::None {
            self.lb.attach(peer);
        }
    }

    /// `peer` is gone for good.
    pub fn detach(&mut self, peer: PeerId) {
        self.lb.detach(peer);
    }

    /// Whether a load-balancing or exclusive type has a peer to send to at all (connected, or
    /// connect-side and queueing for its peer).
    pub fn has_send_peers(&self) -> bool {
        !self.lb.peers().is_empty()
    }

    /// ROUTER: give the newly connected `peer` a routing id (the `Identity` it asked for, or a
    /// generated one). Other types: nothing to do, `None`.
    pub fn identify(
        &mut self,
        peer: PeerId,
        identity: &[u8],
        handover: bool,
    ) -> Option<Identified> {
        self.routing
            .as_mut()
            .map(|table| table.identify(peer, identity, handover))
    }

    /// `peer`'s connection ended: it loses its routing id; a REQ awaiting its reply may send
    /// elsewhere (`req_relaxed`).
    pub fn disconnected(&mut self, peer: PeerId) {
        if let Some(table) = self.routing.as_mut() {
            table.remove(peer);
        }
        if let Some(req) = self.req.as_mut() {
            req.peer_gone(peer);
        }
    }

    /// Decide where `msg` (not empty) goes.
    pub fn plan_send(&mut self, msg: Message, peers: &impl PeerView) -> SendPlan {
        match self.socket_type {
            SocketType::Req => return self.plan_request(msg, peers),
            SocketType::Rep => return self.plan_reply(msg),
            SocketType::Router | SocketType::Stream => return self.plan_routed(msg),
            SocketType::XSub => {
                return match ringmq_transports::subscription::decode(&msg) {
                    Some((topic, subscribe)) => SendPlan::Subscription { topic, subscribe },
                    None => SendPlan::Broadcast(msg),
                }
            }
            _ => {}
        }
        match self.pattern.send {
            SendStrategy::None => SendPlan::Refused(SendRefusal::CannotSend, msg),
            SendStrategy::LoadBalance | SendStrategy::Exclusive => {
                match self.lb.pick(|p| peers.has_room(p)) {
                    Some(peer) => SendPlan::Queue(peer, msg),
                    None => SendPlan::Full(msg),
                }
            }
            SendStrategy::FanOut => SendPlan::FanOut(msg),
            SendStrategy::Broadcast => SendPlan::Broadcast(msg),
            SendStrategy::Route => unreachable!("ROUTER and REP are planned above"),
        }
    }

    fn plan_request(&mut self, msg: Message, peers: &impl PeerView) -> SendPlan {
        let req = self.req.as_mut().expect("REQ sockets have REQ state");
        if let Err(e) = req.can_send() {
            return SendPlan::Refused(SendRefusal::State(e), msg);
        }
        // Strict turns over every pipe, connected or still connecting, as libzmq's REQ: a
        // request for a peer that is not there yet waits for it (programs rely on the order).
        let Some(peer) = self.lb.pick(|p| peers.has_room(p)) else {
            return SendPlan::Full(msg);
        };
        let wire = req.wrap(msg);
        req.sent_to(peer);
        SendPlan::Queue(peer, wire)
    }

    fn plan_reply(&mut self, msg: Message) -> SendPlan {
        let rep = self.rep.as_mut().expect("REP sockets have REP state");
        match rep.reply(msg.clone()) {
            Ok((peer, wire)) => SendPlan::Route {
                peer,
                msg: wire,
                mandatory: false,
                prefix: None,
            },
            Err(e) => SendPlan::Refused(SendRefusal::State(e), msg),
        }
    }

    fn plan_routed(&mut self, mut msg: Message) -> SendPlan {
        let Some(routing_id) = msg.pop_front() else {
            return SendPlan::Dropped;
        };
        let table = self
            .routing
            .as_ref()
            .expect("ROUTER sockets have a routing table");
        let closes = self.socket_type == SocketType::Stream
            && msg.len() == 1
            && msg.first().is_some_and(|f| f.is_empty());
        match table.lookup(&routing_id) {
            // STREAM: an empty body closes the connection to that peer (zmq_socket(3)).
            Some(peer) if closes => SendPlan::Disconnect(peer),
            Some(peer) if !msg.is_empty() => SendPlan::Route {
                peer,
                msg,
                mandatory: self.router_mandatory,
                prefix: Some(routing_id),
            },
            Some(_) => SendPlan::Dropped,
            None if self.router_mandatory => {
                msg.push_front(routing_id);
                SendPlan::Refused(SendRefusal::HostUnreachable, msg)
            }
            // Unroutable: dropped silently, as libzmq does without router_mandatory.
            None => SendPlan::Dropped,
        }
    }

    /// Whether the application may receive now (REQ: a request is outstanding; REP: the last
    /// request is answered).
    pub fn check_recv(&self) -> Result<(), StateError> {
        if let Some(req) = self.req.as_ref() {
            req.can_recv()?;
        }
        if self.rep.as_ref().is_some_and(Rep::is_answering) {
            return Err(StateError::ReplyPending);
        }
        Ok(())
    }

    /// What `msg`, fair-queued from `peer` (whose routing id is `routing_id`, ROUTER), becomes
    /// for the application; `None` drops it (a reply from the wrong peer or to an abandoned
    /// request, a request without an envelope, a ROUTER message from a peer without an id).
    pub fn incoming(
        &mut self,
        peer: PeerId,
        mut msg: Message,
        routing_id: Option<Bytes>,
    ) -> Option<Message> {
        match self.socket_type {
            SocketType::Req => self
                .req
                .as_mut()
                .expect("REQ sockets have REQ state")
                .accept_reply(peer, msg),
            SocketType::Rep => self
                .rep
                .as_mut()
                .expect("REP sockets have REP state")
                .take_request(peer, msg),
            // The routing id travels with the pipe: a peer that has already left still gets its
            // last messages delivered under its id.
            SocketType::Router | SocketType::Stream => routing_id.map(|id| {
                msg.push_front(id);
                msg
            }),
            _ => Some(msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Peers: id -> (connected, has room).
    /// Each peer's room.
    struct Peers(HashMap<u32, bool>);

    impl PeerView for Peers {
        fn has_room(&self, peer: PeerId) -> bool {
            self.0.get(&peer.0).copied().unwrap_or(false)
        }
    }

    fn routing(t: SocketType, mandatory: bool) -> Routing {
        Routing::new(t, false, false, mandatory, 7).unwrap()
    }

    #[test]
    fn push_round_robins_over_peers_with_room_and_pushes_back_when_none() {
        let mut r = routing(SocketType::Push, false);
        for id in 0..3 {
            r.attach(PeerId(id));
        }
        let peers = Peers(HashMap::from([(0, true), (1, false), (2, true)]));
        let mut picked = Vec::new();
        for _ in 0..4 {
            match r.plan_send(Message::single("m"), &peers) {
                SendPlan::Queue(p, _) => picked.push(p.0),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(
            picked,
            vec![0, 2, 0, 2],
            "the full peer is skipped, order kept"
        );
        let full = Peers(HashMap::from([(0, false)]));
        assert!(matches!(
            r.plan_send(Message::single("m"), &full),
            SendPlan::Full(_)
        ));
        let mut pull = routing(SocketType::Pull, false);
        assert!(matches!(
            pull.plan_send(Message::single("m"), &peers),
            SendPlan::Refused(SendRefusal::CannotSend, _)
        ));
    }

    #[test]
    fn req_takes_strict_turns_and_strips_the_reply_envelope() {
        let mut r = routing(SocketType::Req, false);
        r.attach(PeerId(0));
        r.attach(PeerId(1));
        // Whether a peer is connected yet does not matter (routing is not told): as libzmq's,
        // the turn is 0's, and a request for a peer not up yet waits in its pipe.
        let peers = Peers(HashMap::from([(0, true), (1, true)]));
        let SendPlan::Queue(peer, _) = r.plan_send(Message::single("first"), &peers) else {
            panic!("queued")
        };
        assert_eq!(peer, PeerId(0));
        let mut r = routing(SocketType::Req, false);
        r.attach(PeerId(0));
        r.attach(PeerId(1));
        let peers = Peers(HashMap::from([(0, false), (1, true)]));
        // Peer 0 has no room: the request goes to 1.
        let SendPlan::Queue(peer, wire) = r.plan_send(Message::single("q"), &peers) else {
            panic!("queued")
        };
        assert_eq!(peer, PeerId(1));
        assert_eq!(wire.frames().len(), 2, "delimiter + body");
        assert!(matches!(
            r.plan_send(Message::single("again"), &peers),
            SendPlan::Refused(SendRefusal::State(StateError::AwaitingReply), _)
        ));
        // A reply from the other peer is dropped; the awaited one is delivered.
        let reply = Message::from_frames(["", "a"]);
        assert!(r.incoming(PeerId(0), reply.clone(), None).is_none());
        let got = r.incoming(PeerId(1), reply, None).unwrap();
        assert_eq!(got.frames()[0], "a");
        assert_eq!(r.check_recv(), Err(StateError::NothingToAnswer));
    }

    #[test]
    fn rep_routes_the_reply_to_the_requester_with_its_envelope() {
        let mut r = routing(SocketType::Rep, false);
        assert!(matches!(
            r.plan_send(Message::single("x"), &Peers(HashMap::new())),
            SendPlan::Refused(SendRefusal::State(StateError::NothingToAnswer), _)
        ));
        let body = r
            .incoming(PeerId(4), Message::from_frames(["id", "", "q"]), None)
            .unwrap();
        assert_eq!(body.frames().len(), 1);
        assert_eq!(r.check_recv(), Err(StateError::ReplyPending));
        let SendPlan::Route {
            peer,
            msg,
            mandatory,
            ..
        } = r.plan_send(Message::single("a"), &Peers(HashMap::new()))
        else {
            panic!("routed")
        };
        assert_eq!((peer, mandatory), (PeerId(4), false));
        assert_eq!(msg.frames()[0], "id");
        assert_eq!(msg.frames()[2], "a");
    }

    #[test]
    fn router_routes_by_id_drops_or_refuses_unknown_and_prefixes_incoming() {
        for mandatory in [false, true] {
            let mut r = routing(SocketType::Router, mandatory);
            assert!(matches!(
                r.identify(PeerId(1), b"alice", false),
                Some(Identified::Assigned(_))
            ));
            let none = Peers(HashMap::new());
            match r.plan_send(Message::from_frames(["alice", "hi"]), &none) {
                SendPlan::Route {
                    peer,
                    prefix,
                    mandatory: m,
                    ..
                } => {
                    assert_eq!((peer, m), (PeerId(1), mandatory));
                    assert_eq!(prefix.unwrap(), "alice");
                }
                other => panic!("{other:?}"),
            }
            let unknown = r.plan_send(Message::from_frames(["bob", "hi"]), &none);
            if mandatory {
                let SendPlan::Refused(SendRefusal::HostUnreachable, back) = unknown else {
                    panic!("{unknown:?}")
                };
                assert_eq!(back.frames()[0], "bob", "handed back whole");
            } else {
                assert_eq!(unknown, SendPlan::Dropped);
            }
            let msg = r
                .incoming(
                    PeerId(1),
                    Message::single("up"),
                    Some(Bytes::from_static(b"alice")),
                )
                .unwrap();
            assert_eq!(msg.frames()[0], "alice");
            r.disconnected(PeerId(1));
            let gone = r.plan_send(Message::from_frames(["alice", "hi"]), &none);
            assert!(!matches!(gone, SendPlan::Route { .. }), "{gone:?}");
        }
    }

    #[test]
    fn xsub_turns_subscription_messages_into_subscriptions_and_broadcasts_the_rest() {
        let mut r = routing(SocketType::XSub, false);
        let none = Peers(HashMap::new());
        assert_eq!(
            r.plan_send(Message::single(Bytes::from_static(b"\x01news")), &none),
            SendPlan::Subscription {
                topic: Bytes::from_static(b"news"),
                subscribe: true
            }
        );
        assert!(matches!(
            r.plan_send(Message::single("plain"), &none),
            SendPlan::Broadcast(_)
        ));
        let mut publ = routing(SocketType::Pub, false);
        assert!(matches!(
            publ.plan_send(Message::single("t"), &none),
            SendPlan::FanOut(_)
        ));
    }
}
