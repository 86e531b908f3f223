//! The shard's timers: a heap of deadlines with a waker each, fired by the shard loop.
//!
//! Timers belong to the shard, not to an I/O backend: the loop fires what is due and hands the
//! next deadline to the backend as the longest it may block.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use slab::Slab;

struct TimerEntry {
    deadline: Instant,
    waker: Option<Waker>,
}

/// Pending deadlines of one shard. Used from the shard thread only.
#[derive(Default)]
pub(crate) struct Timers {
    /// One entry per live [`Sleep`]; bounded by the number of sleeps the shard's tasks hold.
    entries: RefCell<Slab<TimerEntry>>,
    /// Deadlines in order; entries whose sleep has gone are skipped lazily.
    heap: RefCell<BinaryHeap<Reverse<(Instant, usize)>>>,
}

impl Timers {
    fn add(&self, deadline: Instant, waker: Waker) -> usize {
        let key = self.entries.borrow_mut().insert(TimerEntry {
            deadline,
            waker: Some(waker),
        });
        self.heap.borrow_mut().push(Reverse((deadline, key)));
        key
    }

    fn update(&self, key: usize, waker: &Waker) {
        if let Some(t) = self.entries.borrow_mut().get_mut(key) {
            match &t.waker {
                Some(w) if w.will_wake(waker) => {}
                _ => t.waker = Some(waker.clone()),
            }
        }
    }

    fn remove(&self, key: usize) {
        self.entries.borrow_mut().try_remove(key);
    }

    /// Wake every timer due at `now`, earliest first; return the next deadline.
    pub(crate) fn fire(&self, now: Instant) -> Option<Instant> {
        let mut heap = self.heap.borrow_mut();
        loop {
            let &Reverse((deadline, key)) = heap.peek()?;
            let mut entries = self.entries.borrow_mut();
            let live = entries.get(key).is_some_and(|t| t.deadline == deadline);
            if !live {
                heap.pop();
                continue;
            }
            if deadline > now {
                return Some(deadline);
            }
            heap.pop();
            let waker = entries.get_mut(key).and_then(|t| t.waker.take());
            drop(entries);
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    /// Number of live timers.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.borrow().len()
    }
}

/// A future that completes at `deadline`. It registers with the timers of the shard it is first
/// polled on, so it is not `Send`: it cannot move to another shard's thread.
///
/// # Panics
/// Polled off a ringmq shard.
pub struct Sleep {
    deadline: Instant,
    key: Option<usize>,
    /// The key is into one shard's timer table.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Sleep {
    /// The instant this sleep ends.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

/// Sleep until `deadline` (on the current shard; the returned future panics if polled off one).
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        key: None,
        _not_send: std::marker::PhantomData,
    }
}

/// Sleep for `duration` (on the current shard; the returned future panics if polled off one).
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(Instant::now() + duration)
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            if let Some(key) = self.key.take() {
                super::with_timers(|t| t.remove(key));
            }
            return Poll::Ready(());
        }
        match self.key {
            Some(key) => super::with_timers(|t| t.update(key, cx.waker())),
            None => {
                let deadline = self.deadline;
                self.key = Some(super::with_timers(|t| t.add(deadline, cx.waker().clone())));
            }
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            super::try_with_timers(|t| t.remove(key));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::task::Wake;

    struct Record(Arc<Mutex<Vec<u32>>>, u32);
    impl Wake for Record {
        fn wake(self: Arc<Self>) {
            self.0.lock().unwrap().push(self.1);
        }
    }

    #[test]
    fn timers_fire_in_deadline_order_and_report_the_next() {
        let timers = Timers::default();
        let fired = Arc::new(Mutex::new(Vec::new()));
        let t0 = Instant::now();
        let waker = |n| Waker::from(Arc::new(Record(fired.clone(), n)));
        // Added out of order.
        timers.add(t0 + Duration::from_millis(30), waker(3));
        timers.add(t0 + Duration::from_millis(10), waker(1));
        let removed = timers.add(t0 + Duration::from_millis(15), waker(99));
        timers.add(t0 + Duration::from_millis(20), waker(2));
        timers.remove(removed);
        assert_eq!(timers.fire(t0), Some(t0 + Duration::from_millis(10)));
        assert!(fired.lock().unwrap().is_empty());
        assert_eq!(
            timers.fire(t0 + Duration::from_millis(25)),
            Some(t0 + Duration::from_millis(30))
        );
        assert_eq!(*fired.lock().unwrap(), vec![1, 2]);
        assert_eq!(timers.fire(t0 + Duration::from_millis(30)), None);
        assert_eq!(*fired.lock().unwrap(), vec![1, 2, 3]);
        // Fired entries stay until their Sleep goes (it removes its key).
        assert_eq!(timers.len(), 3);
    }
}
