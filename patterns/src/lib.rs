//! Socket-type semantics for ringmq, as pure data structures.
//!
//! For each socket type this crate says which peer an outgoing message goes to (load-balance,
//! fan-out with subscription filtering, exclusive pair), which incoming message is delivered next
//! (fair-queueing), what happens at the high-water mark (block or drop), and it holds the
//! subscription trie. It performs no I/O, reads no clock and spawns no thread: the engine asks it
//! questions about peers identified by [`PeerId`] and acts on the answers.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod queue;
pub mod reqrep;
pub mod router;
pub mod routing;
pub mod subscriptions;

pub use queue::{FairQueue, LoadBalance};
pub use reqrep::{Rep, Req, StateError, Turn};
pub use router::{Identified, RoutingTable};
pub use routing::{PeerView, Routing, SendPlan, SendRefusal};
pub use subscriptions::Subscriptions;

use ringmq_transports::SocketType;

/// Identifies one peer (pipe) of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u32);

/// How a socket type routes outgoing messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStrategy {
    /// The type cannot send (PULL, SUB).
    None,
    /// Round-robin over peers that have room; block (or `Full`) when none has (PUSH, DEALER, REQ).
    LoadBalance,
    /// Copy to every peer whose subscriptions match the first frame; drop for peers at HWM (PUB).
    FanOut,
    /// The single connected peer; block at HWM (PAIR).
    Exclusive,
    /// To the peer the first frame names (ROUTER), or the one the request came from (REP).
    Route,
    /// Copy to every peer, unfiltered (XSUB sending upstream).
    Broadcast,
}

/// How a socket type delivers incoming messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvStrategy {
    /// The type cannot receive (PUSH, PUB).
    None,
    /// Round-robin over peers with messages waiting (PULL, SUB, PAIR, DEALER, ROUTER, REP, REQ).
    FairQueue,
    /// Subscription messages from the peers (XPUB).
    Subscriptions,
}

/// The routing behaviour of a socket type, as zmq_socket(3) documents it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pattern {
    /// Outgoing routing.
    pub send: SendStrategy,
    /// Incoming delivery.
    pub recv: RecvStrategy,
    /// At most one peer (PAIR).
    pub exclusive: bool,
    /// Keeps its own subscriptions and tells every peer of them, new ones included (SUB, XSUB).
    pub subscribes: bool,
    /// Incoming messages are filtered by our own subscriptions (SUB; an XSUB hands out all its
    /// publishers send, as libzmq's does).
    pub filters_incoming: bool,
}

impl Pattern {
    /// The pattern of `socket_type` (`None` is kept for types a later version may add).
    pub fn of(socket_type: SocketType) -> Option<Pattern> {
        let p = |send, recv, exclusive, subscribes, filters_incoming| Pattern {
            send,
            recv,
            exclusive,
            subscribes,
            filters_incoming,
        };
        use RecvStrategy as R;
        use SendStrategy as S;
        Some(match socket_type {
            SocketType::Push => p(S::LoadBalance, R::None, false, false, false),
            SocketType::Pull => p(S::None, R::FairQueue, false, false, false),
            SocketType::Pub => p(S::FanOut, R::None, false, false, false),
            SocketType::Sub => p(S::None, R::FairQueue, false, true, true),
            SocketType::Pair => p(S::Exclusive, R::FairQueue, true, false, false),
            SocketType::Req => p(S::LoadBalance, R::FairQueue, false, false, false),
            SocketType::Rep => p(S::Route, R::FairQueue, false, false, false),
            SocketType::Dealer => p(S::LoadBalance, R::FairQueue, false, false, false),
            SocketType::Router => p(S::Route, R::FairQueue, false, false, false),
            SocketType::XPub => p(S::FanOut, R::Subscriptions, false, false, false),
            SocketType::XSub => p(S::Broadcast, R::FairQueue, false, true, false),
            SocketType::Stream => p(S::Route, R::FairQueue, false, false, false),
        })
    }

    /// Whether an application may send on `socket_type` (PULL and SUB may not).
    pub fn can_send(socket_type: SocketType) -> bool {
        Pattern::of(socket_type).is_some_and(|p| p.send != SendStrategy::None)
    }

    /// Whether an application may receive on `socket_type` (PUSH and PUB may not).
    pub fn can_recv(socket_type: SocketType) -> bool {
        Pattern::of(socket_type).is_some_and(|p| p.recv != RecvStrategy::None)
    }

    /// Whether a full peer makes the sender wait (true) or drops the message (false: PUB, XPUB,
    /// XSUB, and ROUTER/REP, which drop for a full peer unless `router_mandatory`).
    pub fn blocks_at_hwm(&self) -> bool {
        matches!(
            self.send,
            SendStrategy::LoadBalance | SendStrategy::Exclusive
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_zmq_socket_docs() {
        let push = Pattern::of(SocketType::Push).unwrap();
        assert_eq!(push.send, SendStrategy::LoadBalance);
        assert!(push.blocks_at_hwm());
        let publ = Pattern::of(SocketType::Pub).unwrap();
        assert!(!publ.blocks_at_hwm());
        assert_eq!(publ.recv, RecvStrategy::None);
        assert!(Pattern::of(SocketType::Sub).unwrap().filters_incoming);
        let xsub = Pattern::of(SocketType::XSub).unwrap();
        assert!(xsub.subscribes && !xsub.filters_incoming);
        assert!(Pattern::of(SocketType::Pair).unwrap().exclusive);
        for t in [SocketType::Pull, SocketType::Sub] {
            assert!(!Pattern::can_send(t) && Pattern::can_recv(t), "{t:?}");
        }
        for t in [SocketType::Push, SocketType::Pub] {
            assert!(Pattern::can_send(t) && !Pattern::can_recv(t), "{t:?}");
        }
        assert!(Pattern::can_send(SocketType::XPub) && Pattern::can_recv(SocketType::XPub));
    }
}
