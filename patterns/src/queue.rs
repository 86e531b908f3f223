//! Round-robin choice among peers: load-balancing for sends, fair-queueing for receives.

use crate::PeerId;

/// Round-robin over attached peers, skipping those a predicate rejects.
#[derive(Debug, Default, Clone)]
struct RoundRobin {
    peers: Vec<PeerId>,
    next: usize,
}

impl RoundRobin {
    fn attach(&mut self, peer: PeerId) {
        if !self.peers.contains(&peer) {
            self.peers.push(peer);
        }
    }

    fn detach(&mut self, peer: PeerId) {
        if let Some(i) = self.peers.iter().position(|&p| p == peer) {
            self.peers.remove(i);
            if i < self.next {
                self.next -= 1;
            }
            if self.next >= self.peers.len() {
                self.next = 0;
            }
        }
    }

    fn pick(&mut self, mut eligible: impl FnMut(PeerId) -> bool) -> Option<PeerId> {
        let n = self.peers.len();
        for i in 0..n {
            let idx = (self.next + i) % n;
            let peer = self.peers[idx];
            if eligible(peer) {
                self.next = (idx + 1) % n;
                return Some(peer);
            }
        }
        None
    }

    /// Like `pick` but does not advance past the chosen peer (for multi-message batches).
    fn peek(&self, mut eligible: impl FnMut(PeerId) -> bool) -> Option<PeerId> {
        let n = self.peers.len();
        (0..n)
            .map(|i| self.peers[(self.next + i) % n])
            .find(|&p| eligible(p))
    }
}

/// Load-balancing (PUSH, DEALER, REQ): each message goes to the next peer with room below its HWM.
#[derive(Debug, Default, Clone)]
pub struct LoadBalance(RoundRobin);

impl LoadBalance {
    /// An empty balancer.
    pub fn new() -> Self {
        LoadBalance::default()
    }
    /// Add a peer; it takes its turn after the current one.
    pub fn attach(&mut self, peer: PeerId) {
        self.0.attach(peer)
    }
    /// Remove a peer.
    pub fn detach(&mut self, peer: PeerId) {
        self.0.detach(peer)
    }
    /// The peer for the next message among those `has_room` accepts, advancing the turn.
    pub fn pick(&mut self, has_room: impl FnMut(PeerId) -> bool) -> Option<PeerId> {
        self.0.pick(has_room)
    }
    /// Attached peers in turn order.
    pub fn peers(&self) -> &[PeerId] {
        &self.0.peers
    }
}

/// Fair-queueing (PULL, SUB, PAIR, DEALER): take the next message from the next peer that has one,
/// so one busy peer cannot starve the others.
#[derive(Debug, Default, Clone)]
pub struct FairQueue(RoundRobin);

impl FairQueue {
    /// An empty queue.
    pub fn new() -> Self {
        FairQueue::default()
    }
    /// Add a peer.
    pub fn attach(&mut self, peer: PeerId) {
        self.0.attach(peer)
    }
    /// Remove a peer.
    pub fn detach(&mut self, peer: PeerId) {
        self.0.detach(peer)
    }
    /// The peer to read from next among those `has_message` accepts, advancing the turn.
    pub fn pick(&mut self, has_message: impl FnMut(PeerId) -> bool) -> Option<PeerId> {
        self.0.pick(has_message)
    }
    /// The peer `pick` would choose, without advancing.
    pub fn peek(&self, has_message: impl FnMut(PeerId) -> bool) -> Option<PeerId> {
        self.0.peek(has_message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_skips_full_peers() {
        let mut lb = LoadBalance::new();
        for i in 0..3 {
            lb.attach(PeerId(i));
        }
        let picks: Vec<_> = (0..6).map(|_| lb.pick(|_| true).unwrap().0).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        let picks: Vec<_> = (0..4).map(|_| lb.pick(|p| p.0 != 1).unwrap().0).collect();
        assert_eq!(picks, [0, 2, 0, 2]);
        assert_eq!(lb.pick(|_| false), None);
    }

    #[test]
    fn detach_keeps_turn_order() {
        let mut fq = FairQueue::new();
        for i in 0..4 {
            fq.attach(PeerId(i));
        }
        assert_eq!(fq.pick(|_| true), Some(PeerId(0)));
        assert_eq!(fq.pick(|_| true), Some(PeerId(1)));
        fq.detach(PeerId(0));
        assert_eq!(fq.pick(|_| true), Some(PeerId(2)));
        fq.detach(PeerId(3));
        assert_eq!(fq.pick(|_| true), Some(PeerId(1)));
        fq.detach(PeerId(1));
        fq.detach(PeerId(2));
        assert_eq!(fq.pick(|_| true), None);
    }
}
