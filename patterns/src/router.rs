//! ROUTER routing ids: the peer-chosen `Identity`, or a generated 5-byte id as libzmq makes them
//! (a zero byte, then a 32-bit counter), and what happens when two peers claim one id.

use std::collections::HashMap;

use bytes::Bytes;

use crate::PeerId;

/// The outcome of naming a newly connected peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identified {
    /// The peer is known by this id.
    Assigned(Bytes),
    /// The id was taken from `previous`, which now has no id (`router_handover`).
    HandedOver {
        /// The id.
        id: Bytes,
        /// The peer that held it before.
        previous: PeerId,
    },
    /// The id is in use and handover is off: refuse the new peer.
    Refused,
}

/// Routing ids of a ROUTER's peers, both ways.
#[derive(Debug, Clone, Default)]
pub struct RoutingTable {
    by_id: HashMap<Bytes, PeerId>,
    by_peer: HashMap<PeerId, Bytes>,
    next_generated: u32,
}

impl RoutingTable {
    /// An empty table; generated ids count up from `first_generated` (libzmq starts at a random
    /// value).
    pub fn new(first_generated: u32) -> RoutingTable {
        RoutingTable {
            next_generated: first_generated,
            ..RoutingTable::default()
        }
    }

    /// Name `peer`, which announced `requested` (its `Identity`, possibly empty).
    pub fn identify(&mut self, peer: PeerId, requested: &[u8], handover: bool) -> Identified {
        self.remove(peer);
        if requested.is_empty() {
            let id = self.generate();
            self.insert(peer, id.clone());
            return Identified::Assigned(id);
        }
        let id = Bytes::copy_from_slice(requested);
        match self.by_id.get(&id).copied() {
            None => {
                self.insert(peer, id.clone());
                Identified::Assigned(id)
            }
            Some(previous) if handover => {
                self.by_peer.remove(&previous);
                self.insert(peer, id.clone());
                Identified::HandedOver { id, previous }
            }
            Some(_) => Identified::Refused,
        }
    }

    fn generate(&mut self) -> Bytes {
        loop {
            let mut id = [0u8; 5];
            id[1..].copy_from_slice(&self.next_generated.to_be_bytes());
            self.next_generated = self.next_generated.wrapping_add(1);
            let id = Bytes::copy_from_slice(&id);
            if !self.by_id.contains_key(&id) {
                return id;
            }
        }
    }

    fn insert(&mut self, peer: PeerId, id: Bytes) {
        self.by_id.insert(id.clone(), peer);
        self.by_peer.insert(peer, id);
    }

    /// Forget `peer`.
    pub fn remove(&mut self, peer: PeerId) {
        if let Some(id) = self.by_peer.remove(&peer) {
            if self.by_id.get(&id) == Some(&peer) {
                self.by_id.remove(&id);
            }
        }
    }

    /// The peer with routing id `id`.
    pub fn lookup(&self, id: &[u8]) -> Option<PeerId> {
        self.by_id.get(id).copied()
    }

    /// The routing id of `peer`.
    pub fn id_of(&self, peer: PeerId) -> Option<&Bytes> {
        self.by_peer.get(&peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_five_bytes_with_a_zero_first() {
        let mut t = RoutingTable::new(7);
        let Identified::Assigned(id) = t.identify(PeerId(1), b"", false) else {
            panic!("assigned")
        };
        assert_eq!(&id[..], &[0, 0, 0, 0, 7]);
        assert_eq!(t.lookup(&id), Some(PeerId(1)));
        assert_eq!(t.id_of(PeerId(1)), Some(&id));
    }

    #[test]
    fn duplicate_ids_refused_or_handed_over() {
        let mut t = RoutingTable::new(0);
        assert_eq!(
            t.identify(PeerId(1), b"alice", false),
            Identified::Assigned(Bytes::from_static(b"alice"))
        );
        assert_eq!(t.identify(PeerId(2), b"alice", false), Identified::Refused);
        assert_eq!(
            t.identify(PeerId(2), b"alice", true),
            Identified::HandedOver {
                id: Bytes::from_static(b"alice"),
                previous: PeerId(1)
            }
        );
        assert_eq!(t.lookup(b"alice"), Some(PeerId(2)));
        assert_eq!(t.id_of(PeerId(1)), None);
        t.remove(PeerId(1));
        assert_eq!(t.lookup(b"alice"), Some(PeerId(2)));
        t.remove(PeerId(2));
        assert_eq!(t.lookup(b"alice"), None);
    }
}
