//! The one thread parker of the blocking API: a thread that waits for something another thread
//! (usually a shard) will make true announces itself, checks once more, and parks; the other side
//! unparks it only when it announced itself, so the common case costs no syscall.
//!
//! The order that makes it race-free: the waiter calls [`ThreadParker::prepare`] *before* its last
//! check of the condition, and the waker makes the condition true *before* calling
//! [`ThreadParker::unpark`]. A wake-up between the check and the park is not lost: `unpark` on a
//! thread that has not parked yet makes its next park return at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::thread::Thread;
use std::time::{Duration, Instant};

/// Where one waiting thread can be found. Several parkers may name the same thread (a poll over
/// several sockets prepares each of them).
pub(crate) struct ThreadParker {
    thread: Mutex<Option<Thread>>,
    waiting: AtomicBool,
}

impl ThreadParker {
    pub(crate) const fn new() -> ThreadParker {
        ThreadParker {
            thread: Mutex::new(None),
            waiting: AtomicBool::new(false),
        }
    }

    /// The calling thread is about to check its condition one last time and park.
    pub(crate) fn prepare(&self) {
        if let Ok(mut t) = self.thread.lock() {
            *t = Some(std::thread::current());
        }
        self.waiting.store(true, Ordering::SeqCst);
    }

    /// The calling thread stopped waiting.
    pub(crate) fn finish(&self) {
        self.waiting.store(false, Ordering::SeqCst);
    }

    /// Wake the thread that prepared, if one is waiting (call after making its condition true).
    pub(crate) fn unpark(&self) {
        if self.waiting.swap(false, Ordering::SeqCst) {
            if let Ok(t) = self.thread.lock() {
                if let Some(t) = t.as_ref() {
                    t.unpark();
                }
            }
        }
    }

    /// Block the calling thread until `ready()` holds, `closed()` holds, or `deadline` passes
    /// (`None`: no deadline), parking at most `slice` at a time; returns `ready()`'s last answer.
    pub(crate) fn wait_until(
        &self,
        deadline: Option<Instant>,
        slice: Duration,
        mut ready: impl FnMut() -> bool,
        closed: impl Fn() -> bool,
    ) -> bool {
        loop {
            self.prepare();
            if ready() {
                self.finish();
                return true;
            }
            if closed() {
                self.finish();
                return ready();
            }
            let now = Instant::now();
            let park_for = match deadline {
                Some(d) if d <= now => {
                    self.finish();
                    return ready();
                }
                Some(d) => (d - now).min(slice),
                None => slice,
            };
            std::thread::park_timeout(park_for);
            self.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    #[test]
    fn a_wake_up_from_another_thread_ends_the_wait() {
        let parker = Arc::new(ThreadParker::new());
        let value = Arc::new(AtomicUsize::new(0));
        let (p, v) = (parker.clone(), value.clone());
        let waker = std::thread::spawn(move || {
            for _ in 0..1000 {
                v.fetch_add(1, Ordering::SeqCst);
                p.unpark();
            }
        });
        let ready = parker.wait_until(
            Some(Instant::now() + Duration::from_secs(10)),
            Duration::from_secs(10),
            || value.load(Ordering::SeqCst) >= 1000,
            || false,
        );
        waker.join().unwrap();
        assert!(ready);
    }

    #[test]
    fn deadline_and_closed_end_the_wait_unready() {
        let parker = ThreadParker::new();
        let start = Instant::now();
        assert!(!parker.wait_until(
            Some(start + Duration::from_millis(20)),
            Duration::from_millis(5),
            || false,
            || false
        ));
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert!(!parker.wait_until(None, Duration::from_secs(60), || false, || true));
    }
}
