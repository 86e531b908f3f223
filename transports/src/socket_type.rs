//! Socket types and which may talk to which (RFC 37 §"The Socket Type Property").

/// A ZeroMQ socket type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocketType {
    /// Exclusive pair.
    Pair,
    /// Publisher.
    Pub,
    /// Subscriber.
    Sub,
    /// Requester.
    Req,
    /// Replier.
    Rep,
    /// Asynchronous requester.
    Dealer,
    /// Asynchronous replier with routing ids.
    Router,
    /// Pipeline consumer.
    Pull,
    /// Pipeline producer.
    Push,
    /// Publisher that sees subscriptions.
    XPub,
    /// Subscriber that sends raw subscriptions.
    XSub,
    /// Raw TCP (`ZMQ_STREAM`): no ZMTP; each peer is a plain byte stream, addressed by a
    /// routing id as with ROUTER. Never appears in a ZMTP handshake.
    Stream,
}

impl SocketType {
    /// The name sent in the `Socket-Type` metadata property.
    pub fn as_str(self) -> &'static str {
        match self {
            SocketType::Pair => "PAIR",
            SocketType::Pub => "PUB",
            SocketType::Sub => "SUB",
            SocketType::Req => "REQ",
            SocketType::Rep => "REP",
            SocketType::Dealer => "DEALER",
            SocketType::Router => "ROUTER",
            SocketType::Pull => "PULL",
            SocketType::Push => "PUSH",
            SocketType::XPub => "XPUB",
            SocketType::XSub => "XSUB",
            SocketType::Stream => "STREAM",
        }
    }

    /// Every socket type, in libzmq's numbering (`ZMQ_PAIR` = 0 … `ZMQ_XSUB` = 10,
    /// `ZMQ_STREAM` = 11).
    pub const ALL: [SocketType; 12] = [
        SocketType::Pair,
        SocketType::Pub,
        SocketType::Sub,
        SocketType::Req,
        SocketType::Rep,
        SocketType::Dealer,
        SocketType::Router,
        SocketType::Pull,
        SocketType::Push,
        SocketType::XPub,
        SocketType::XSub,
        SocketType::Stream,
    ];

    /// Parse a `Socket-Type` value. ZMTP names are upper case; lower case is accepted for CLIs.
    pub fn from_name(name: &[u8]) -> Option<SocketType> {
        SocketType::ALL
            .into_iter()
            .find(|t| t.as_str().as_bytes().eq_ignore_ascii_case(name))
    }

    /// Whether a socket of this type may exchange messages with a peer of type `peer`.
    pub fn is_compatible(self, peer: SocketType) -> bool {
        use SocketType::*;
        matches!(
            (self, peer),
            (Req, Rep | Router)
                | (Rep, Req | Dealer)
                | (Dealer, Rep | Dealer | Router)
                | (Router, Req | Dealer | Router)
                | (Pub | XPub, Sub | XSub)
                | (Sub | XSub, Pub | XPub)
                | (Push, Pull)
                | (Pull, Push)
                | (Pair, Pair)
        )
    }

    /// Whether this type sends an `Identity` property in READY.
    pub fn sends_identity(self) -> bool {
        matches!(
            self,
            SocketType::Req | SocketType::Dealer | SocketType::Router
        )
    }
}

impl std::fmt::Display for SocketType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compatibility_is_symmetric_and_matches_rfc() {
        for a in SocketType::ALL {
            for b in SocketType::ALL {
                assert_eq!(a.is_compatible(b), b.is_compatible(a), "{a} {b}");
            }
        }
        assert!(SocketType::Push.is_compatible(SocketType::Pull));
        assert!(!SocketType::Push.is_compatible(SocketType::Push));
        assert!(!SocketType::Pub.is_compatible(SocketType::Pull));
        assert!(!SocketType::Pair.is_compatible(SocketType::Push));
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(SocketType::from_name(b"XPUB"), Some(SocketType::XPub));
        assert_eq!(SocketType::from_name(b"pull"), Some(SocketType::Pull));
        assert_eq!(SocketType::from_name(b"NOPE"), None);
    }
}
