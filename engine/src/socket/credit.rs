//! Exact inproc HWMs, as libzmq counts them (`Options::exact_inproc_hwm`).
//!
//! A libzmq inproc pipe holds at most the sender's `sndhwm` plus the receiver's `rcvhwm`
//! messages (unbounded when either is 0), counted from the sending application's send to the
//! receiving application's receive. ringmq's messages cross more queues on that way (the
//! sender's hand-off queue and pipe, the channel, the receiver's pipe and hand-off queue), each
//! bounded by its own HWM, so a sender fits about three times as many. libzmq's own tests count
//! them exactly.
//!
//! So a socket whose only peer is an inproc one gets a [`Credit`] for that link: its
//! application hands a message over only while fewer than the limit are on their way, and each
//! message carries a guard (`Message::set_guard`) that gives the credit back when the receiving
//! application takes the message, or when the message is dropped on the way. No allocation:
//! the guard is a reference to the link's count.
//! A message a PUB's subscriber did not ask for is dropped on the shard, giving its credit
//! back. Load-balancing over several peers, and the types that route (ROUTER, REQ, REP), keep
//! the queues' own bounds: which message goes to which peer is decided on the shard, not where
//! credit is counted.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use crossbeam_utils::CachePadded;
use ringmq_transports::{Guard, Message, Returns};

use super::hosted::Bridge;

/// The credit of one inproc link, in the direction from the socket that holds it.
#[derive(Debug)]
pub(crate) struct Credit {
    /// The most messages on their way: `sndhwm` + the peer's `rcvhwm`; 0: no bound.
    limit: AtomicUsize,
    sndhwm: AtomicUsize,
    /// The peer's `rcvhwm` when it connected; [`NO_PEER_YET`] before (a connect before the
    /// bind queues up to `sndhwm` alone, as libzmq's pipe does until the peer is there).
    peer_rcvhwm: AtomicUsize,
    /// Messages the sending application handed over under this credit (its own cache line:
    /// the sender writes it, the receiver writes `returns`).
    granted: CachePadded<AtomicU64>,
    /// Of those, the ones given back (received by the peer's application, or dropped); a
    /// return wakes the sending application when it waits for credit.
    returns: Arc<Returns>,
}

/// See [`Credit::peer_rcvhwm`].
pub(crate) const NO_PEER_YET: usize = usize::MAX;

/// The limit for a sender's `sndhwm` and its peer's `rcvhwm`: 0 (none) when either is 0.
fn limit_of(sndhwm: usize, peer_rcvhwm: usize) -> usize {
    match (sndhwm, peer_rcvhwm) {
        (0, _) | (_, 0) => 0,
        (sndhwm, NO_PEER_YET) => sndhwm,
        (sndhwm, rcvhwm) => sndhwm.saturating_add(rcvhwm),
    }
}

impl Credit {
    pub(crate) fn new(sndhwm: usize, peer_rcvhwm: usize) -> Arc<Credit> {
        Arc::new(Credit {
            limit: AtomicUsize::new(limit_of(sndhwm, peer_rcvhwm)),
            sndhwm: AtomicUsize::new(sndhwm),
            peer_rcvhwm: AtomicUsize::new(peer_rcvhwm),
            granted: CachePadded::new(AtomicU64::new(0)),
            returns: Returns::new(),
        })
    }

    /// The sender's `sndhwm` changed (libzmq applies it to live pipes too).
    pub(crate) fn set_sndhwm(&self, sndhwm: usize) {
        self.sndhwm.store(sndhwm, Ordering::SeqCst);
        self.update_limit();
    }

    /// The peer is there (a connect made before its bind).
    pub(crate) fn set_peer_rcvhwm(&self, rcvhwm: usize) {
        self.peer_rcvhwm.store(rcvhwm, Ordering::SeqCst);
        self.update_limit();
    }

    fn update_limit(&self) {
        let limit = limit_of(
            self.sndhwm.load(Ordering::SeqCst),
            self.peer_rcvhwm.load(Ordering::SeqCst),
        );
        self.limit.store(limit, Ordering::SeqCst);
        self.returns.wake_waiter();
    }

    /// Where a returned credit wakes the sender (its bridge; set once).
    pub(crate) fn set_sender(&self, bridge: &Arc<Bridge>) {
        let sender: Weak<Bridge> = Arc::downgrade(bridge);
        self.returns.set_wake(Box::new(move || {
            if let Some(bridge) = sender.upgrade() {
                bridge.notify_app();
            }
        }));
    }

    /// Messages on their way now.
    pub(crate) fn on_the_way(&self) -> u64 {
        let returned = self.returns.returned();
        self.granted.load(Ordering::SeqCst).saturating_sub(returned)
    }

    /// Whether one more message may be handed over.
    pub(crate) fn available(&self) -> bool {
        let limit = self.limit.load(Ordering::SeqCst) as u64;
        limit == 0 || self.on_the_way() < limit
    }

    /// The sender is about to wait for credit: a credit returned from now on wakes it. Returns
    /// whether credit is available after all (then it must not wait).
    pub(crate) fn wait_for_credit(&self) -> bool {
        self.returns.wait();
        self.available()
    }

    /// Count `msg` as on its way: it carries the credit back. `false` (and `msg` untouched)
    /// when no credit is left.
    pub(crate) fn grant(&self, msg: &mut Message) -> bool {
        if !self.available() {
            return false;
        }
        self.granted.fetch_add(1, Ordering::SeqCst);
        msg.set_guard(Guard::new(self.returns.clone()));
        true
    }

    /// Undo [`Credit::grant`] for a message that was not handed over after all.
    pub(crate) fn revoke(&self, msg: &mut Message) {
        if msg.take_guard().disarm() {
            self.granted.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_bounds_the_messages_on_their_way_and_comes_back_with_them() {
        let credit = Credit::new(2, 1);
        let mut held: Vec<Message> = (0..3)
            .map(|_| {
                let mut m = Message::single("m");
                assert!(credit.grant(&mut m));
                m
            })
            .collect();
        let mut refused = Message::single("over");
        assert!(!credit.grant(&mut refused), "sndhwm 2 + rcvhwm 1 is 3");
        // A clone carries none of it: dropping one returns nothing; the original does.
        drop(held[0].clone());
        assert!(!credit.available());
        held.remove(0);
        assert!(credit.available());
        // A revoked grant neither counts nor comes back twice.
        let mut m = Message::single("m");
        assert!(credit.grant(&mut m));
        credit.revoke(&mut m);
        drop(m);
        assert_eq!(credit.on_the_way(), 2);
        // A bigger sndhwm applies at once; 0 on either side is no bound.
        credit.set_sndhwm(5);
        assert_eq!(credit.limit.load(Ordering::SeqCst), 6);
        credit.set_sndhwm(0);
        for _ in 0..100 {
            let mut m = Message::single("m");
            assert!(credit.grant(&mut m));
            held.push(m);
        }
        assert!(Credit::new(3, 0).available());
        // Before the peer is there: sndhwm alone.
        let pending = Credit::new(2, NO_PEER_YET);
        assert_eq!(pending.limit.load(Ordering::SeqCst), 2);
        pending.set_peer_rcvhwm(3);
        assert_eq!(pending.limit.load(Ordering::SeqCst), 5);
    }
}
