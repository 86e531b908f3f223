//! The io_uring driver of one shard: submission, completion, in-flight operation state and timers.
//!
//! Every in-flight operation owns the memory the kernel reads or writes (buffers, iovecs, socket
//! addresses) in its slot until its completion arrives, even when the future that started it is
//! dropped: a dropped future marks its slot cancelled and submits an `ASYNC_CANCEL`; the slot, and
//! the memory with it, is freed only when the kernel reports the operation finished.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::io;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use io_uring::{opcode, squeue, types, IoUring};
use slab::Slab;

/// user_data of the eventfd read that wakes a parked shard.
pub(crate) const WAKE_TAG: u64 = u64::MAX;
/// user_data of cancellation requests, whose completions are ignored.
const CANCEL_TAG: u64 = u64::MAX - 1;

/// Memory an operation lends to the kernel, kept alive until the operation completes.
pub(crate) enum Resources {
    None,
    Recv(BytesMut),
    Send(Box<SendResources>),
    Addr(Box<socket2::SockAddr>),
}

/// The chunks of a vectored send, their iovecs and the msghdr pointing at them.
pub(crate) struct SendResources {
    chunks: Vec<Bytes>,
    iovecs: Vec<libc::iovec>,
    msghdr: libc::msghdr,
}

enum SlotState {
    Submitted(Option<Waker>),
    Completed(i32),
    Cancelled,
}

struct Slot {
    state: SlotState,
    resources: Resources,
}

struct TimerEntry {
    deadline: Instant,
    waker: Option<Waker>,
}

/// The shard's ring and everything in flight on it. Used from the shard thread only.
pub(crate) struct Driver {
    ring: RefCell<IoUring>,
    slots: RefCell<Slab<Slot>>,
    timers: RefCell<Slab<TimerEntry>>,
    timer_heap: RefCell<BinaryHeap<Reverse<(Instant, usize)>>>,
    defer_taskrun: bool,
}

/// What the ring was built with, for logs and reports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RingFeatures {
    pub defer_taskrun: bool,
}

/// Build a ring with SINGLE_ISSUER | DEFER_TASKRUN | TASKRUN_FLAG where the kernel has them,
/// falling back to a plain ring; errors name the likely cause.
pub(crate) fn build_ring(entries: u32) -> io::Result<(IoUring, RingFeatures)> {
    let fancy = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_taskrun_flag()
        .setup_coop_taskrun()
        .build(entries);
    match fancy {
        Ok(ring) => Ok((
            ring,
            RingFeatures {
                defer_taskrun: true,
            },
        )),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            let ring = IoUring::builder().build(entries)?;
            Ok((
                ring,
                RingFeatures {
                    defer_taskrun: false,
                },
            ))
        }
        Err(e) => Err(e),
    }
}

impl Driver {
    pub(crate) fn new(ring: IoUring, features: RingFeatures) -> Driver {
        Driver {
            ring: RefCell::new(ring),
            slots: RefCell::new(Slab::with_capacity(256)),
            timers: RefCell::new(Slab::new()),
            timer_heap: RefCell::new(BinaryHeap::new()),
            defer_taskrun: features.defer_taskrun,
        }
    }

    /// Queue one SQE, flushing the submission queue to the kernel first when it is full.
    ///
    /// # Safety
    /// Every pointer in `entry` must stay valid until its completion is reaped.
    unsafe fn push(&self, entry: squeue::Entry) {
        let mut ring = self.ring.borrow_mut();
        loop {
            // SAFETY: the caller guarantees the entry's pointers outlive the operation.
            if unsafe { ring.submission().push(&entry) }.is_ok() {
                return;
            }
            if let Err(e) = ring.submit() {
                if e.raw_os_error() != Some(libc::EBUSY) && e.raw_os_error() != Some(libc::EINTR) {
                    tracing::error!(error = %e, "io_uring submit failed while the queue was full");
                }
            }
        }
    }

    /// Start an operation: `build` gets the slot's resources (already at their final address) and
    /// returns the SQE to submit.
    fn start(
        &self,
        resources: Resources,
        build: impl FnOnce(&mut Resources) -> squeue::Entry,
    ) -> OpFuture {
        let mut slots = self.slots.borrow_mut();
        let entry = slots.vacant_entry();
        let key = entry.key();
        let slot = entry.insert(Slot {
            state: SlotState::Submitted(None),
            resources,
        });
        let sqe = build(&mut slot.resources).user_data(key as u64);
        drop(slots);
        // SAFETY: the pointers in `sqe` point into `slot.resources`, whose heap memory (BytesMut
        // buffer, boxed SendResources / SockAddr) does not move and is not freed until the slot is
        // removed, which happens only after this operation's completion (see `complete`).
        unsafe { self.push(sqe) };
        OpFuture { key, done: false }
    }

    /// Queue the eventfd read that wakes this shard; `buf` is owned by the shard for its lifetime.
    ///
    /// # Safety
    /// `buf` must stay valid until the shard's ring is dropped.
    pub(crate) unsafe fn arm_wake(&self, eventfd: RawFd, buf: *mut u64) {
        let sqe = opcode::Read::new(types::Fd(eventfd), buf.cast(), 8)
            .build()
            .user_data(WAKE_TAG);
        // SAFETY: guaranteed by the caller.
        unsafe { self.push(sqe) };
    }

    /// Submit queued SQEs, optionally wait, and reap completions. Returns whether the eventfd
    /// fired. `force` enters the kernel even when nothing seems pending (busy-poll).
    pub(crate) fn poll_completions(&self, wait: Wait, force: bool) -> io::Result<bool> {
        {
            let mut ring = self.ring.borrow_mut();
            let (sq_len, taskrun) = {
                let sq = ring.submission();
                (sq.len(), sq.taskrun())
            };
            let result = match wait {
                Wait::No => {
                    // With DEFER_TASKRUN, completions appear only after an enter with GETEVENTS;
                    // TASKRUN_FLAG tells us cheaply whether one is needed.
                    if sq_len == 0 && !(self.defer_taskrun && (taskrun || force)) {
                        Ok(0)
                    } else {
                        // SAFETY: a plain io_uring_enter with no extra argument; the SQEs it
                        // submits were validated when pushed.
                        unsafe {
                            ring.submitter().enter::<libc::sigset_t>(
                                sq_len as u32,
                                0,
                                ENTER_GETEVENTS,
                                None,
                            )
                        }
                    }
                }
                Wait::Forever => ring.submitter().submit_and_wait(1),
                Wait::Timeout(timeout) => {
                    let ts = types::Timespec::new()
                        .sec(timeout.as_secs())
                        .nsec(timeout.subsec_nanos());
                    let args = types::SubmitArgs::new().timespec(&ts);
                    ring.submitter().submit_with_args(1, &args)
                }
            };
            match result {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY)
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        let mut woke = false;
        loop {
            let mut batch: [(u64, i32); 64] = [(0, 0); 64];
            let mut n = 0;
            {
                let mut ring = self.ring.borrow_mut();
                for cqe in &mut ring.completion() {
                    batch[n] = (cqe.user_data(), cqe.result());
                    n += 1;
                    if n == batch.len() {
                        break;
                    }
                }
            }
            if n == 0 {
                break;
            }
            for &(user_data, result) in &batch[..n] {
                match user_data {
                    WAKE_TAG => woke = true,
                    CANCEL_TAG => {}
                    key => self.complete(key as usize, result),
                }
            }
        }
        Ok(woke)
    }

    fn complete(&self, key: usize, result: i32) {
        let mut slots = self.slots.borrow_mut();
        let Some(slot) = slots.get_mut(key) else {
            return;
        };
        match std::mem::replace(&mut slot.state, SlotState::Completed(result)) {
            SlotState::Submitted(waker) => {
                drop(slots);
                if let Some(w) = waker {
                    w.wake();
                }
            }
            SlotState::Cancelled => {
                // Nobody waits: free the slot and the memory it kept alive for the kernel.
                let slot = slots.remove(key);
                drop(slots);
                drop(slot);
            }
            SlotState::Completed(_) => {}
        }
    }

    fn poll_op(&self, key: usize, cx: &mut Context<'_>) -> Poll<(i32, Resources)> {
        let mut slots = self.slots.borrow_mut();
        let slot = slots
            .get_mut(key)
            .expect("an op's slot lives until the op is done");
        match &mut slot.state {
            SlotState::Completed(result) => {
                let result = *result;
                let slot = slots.remove(key);
                Poll::Ready((result, slot.resources))
            }
            SlotState::Submitted(waker) => {
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            SlotState::Cancelled => unreachable!("a cancelled op is never polled"),
        }
    }

    fn cancel_op(&self, key: usize) {
        let mut slots = self.slots.borrow_mut();
        let Some(slot) = slots.get_mut(key) else {
            return;
        };
        match slot.state {
            SlotState::Completed(_) => {
                let slot = slots.remove(key);
                drop(slots);
                drop(slot);
            }
            SlotState::Submitted(_) => {
                slot.state = SlotState::Cancelled;
                drop(slots);
                let sqe = opcode::AsyncCancel::new(key as u64)
                    .build()
                    .user_data(CANCEL_TAG);
                // SAFETY: a cancel request carries no pointers.
                unsafe { self.push(sqe) };
            }
            SlotState::Cancelled => {}
        }
    }

    /// Forget every in-flight slot without freeing its memory (shutdown with stuck operations).
    pub(crate) fn leak_in_flight(&self) {
        let slots = std::mem::take(&mut *self.slots.borrow_mut());
        std::mem::forget(slots);
    }

    /// Number of operations in flight (for shutdown).
    pub(crate) fn in_flight(&self) -> usize {
        self.slots.borrow().len()
    }

    // ---- timers ----

    fn add_timer(&self, deadline: Instant, waker: Waker) -> usize {
        let key = self.timers.borrow_mut().insert(TimerEntry {
            deadline,
            waker: Some(waker),
        });
        self.timer_heap.borrow_mut().push(Reverse((deadline, key)));
        key
    }

    fn update_timer(&self, key: usize, waker: &Waker) {
        if let Some(t) = self.timers.borrow_mut().get_mut(key) {
            match &t.waker {
                Some(w) if w.will_wake(waker) => {}
                _ => t.waker = Some(waker.clone()),
            }
        }
    }

    fn remove_timer(&self, key: usize) {
        self.timers.borrow_mut().try_remove(key);
    }

    /// Wake every timer due at `now`; return the next deadline.
    pub(crate) fn fire_timers(&self, now: Instant) -> Option<Instant> {
        let mut heap = self.timer_heap.borrow_mut();
        loop {
            let &Reverse((deadline, key)) = heap.peek()?;
            let mut timers = self.timers.borrow_mut();
            let live = timers.get(key).is_some_and(|t| t.deadline == deadline);
            if !live {
                heap.pop();
                continue;
            }
            if deadline > now {
                return Some(deadline);
            }
            heap.pop();
            let waker = timers.get_mut(key).and_then(|t| t.waker.take());
            drop(timers);
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}

/// IORING_ENTER_GETEVENTS.
const ENTER_GETEVENTS: u32 = 1;

/// How long `poll_completions` may block.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait {
    No,
    Forever,
    Timeout(Duration),
}

/// A future for one in-flight operation.
pub(crate) struct OpFuture {
    key: usize,
    done: bool,
}

impl OpFuture {
    fn poll_with(&mut self, driver: &Driver, cx: &mut Context<'_>) -> Poll<(i32, Resources)> {
        let r = driver.poll_op(self.key, cx);
        if r.is_ready() {
            self.done = true;
        }
        r
    }
}

impl Drop for OpFuture {
    fn drop(&mut self) {
        if !self.done {
            super::try_with_driver(|d| d.cancel_op(self.key));
        }
    }
}

fn result_to_io(result: i32) -> io::Result<usize> {
    if result < 0 {
        Err(io::Error::from_raw_os_error(-result))
    } else {
        Ok(result as usize)
    }
}

/// Receive into the spare capacity of `buf`; resolves to the bytes read (0: end of stream) and the
/// buffer with its length advanced.
pub(crate) fn recv(
    fd: RawFd,
    mut buf: BytesMut,
) -> impl Future<Output = (io::Result<usize>, BytesMut)> {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(64 * 1024);
    }
    let mut op = super::with_driver(|d| {
        d.start(Resources::Recv(buf), |res| {
            let Resources::Recv(buf) = res else {
                unreachable!("started with a Recv resource")
            };
            let spare = buf.spare_capacity_mut();
            opcode::Recv::new(types::Fd(fd), spare.as_mut_ptr().cast(), spare.len() as u32).build()
        })
    });
    std::future::poll_fn(move |cx| {
        let (result, res) = std::task::ready!(super::with_driver(|d| op.poll_with(d, cx)));
        let Resources::Recv(mut buf) = res else {
            unreachable!("started with a Recv resource")
        };
        let r = result_to_io(result);
        if let Ok(n) = r {
            // SAFETY: the kernel wrote `n` bytes into the spare capacity starting at `len()`,
            // and `n` is at most the spare length we passed.
            unsafe { buf.set_len(buf.len() + n) };
        }
        Poll::Ready((r, std::mem::take(&mut buf)))
    })
}

/// Send `chunks` with one vectored `sendmsg`; resolves to the bytes written and the chunks.
pub(crate) fn send(
    fd: RawFd,
    chunks: Vec<Bytes>,
) -> impl Future<Output = (io::Result<usize>, Vec<Bytes>)> {
    let iovecs: Vec<libc::iovec> = chunks
        .iter()
        .take(libc::UIO_MAXIOV as usize)
        .map(|c| libc::iovec {
            iov_base: c.as_ptr() as *mut libc::c_void,
            iov_len: c.len(),
        })
        .collect();
    // SAFETY: msghdr is a plain C struct; all-zero is a valid empty header.
    let msghdr: libc::msghdr = unsafe { std::mem::zeroed() };
    let resources = Box::new(SendResources {
        chunks,
        iovecs,
        msghdr,
    });
    let mut op = super::with_driver(|d| {
        d.start(Resources::Send(resources), |res| {
            let Resources::Send(r) = res else {
                unreachable!("started with a Send resource")
            };
            r.msghdr.msg_iov = r.iovecs.as_mut_ptr();
            r.msghdr.msg_iovlen = r.iovecs.len();
            opcode::SendMsg::new(types::Fd(fd), &r.msghdr as *const libc::msghdr)
                .flags(libc::MSG_NOSIGNAL as u32)
                .build()
        })
    });
    std::future::poll_fn(move |cx| {
        let (result, res) = std::task::ready!(super::with_driver(|d| op.poll_with(d, cx)));
        let Resources::Send(r) = res else {
            unreachable!("started with a Send resource")
        };
        Poll::Ready((result_to_io(result), r.chunks))
    })
}

/// Accept one connection on a listening socket.
pub(crate) fn accept(fd: RawFd) -> impl Future<Output = io::Result<RawFd>> {
    let mut op = super::with_driver(|d| {
        d.start(Resources::None, |_| {
            opcode::Accept::new(types::Fd(fd), std::ptr::null_mut(), std::ptr::null_mut())
                .flags(libc::SOCK_CLOEXEC)
                .build()
        })
    });
    std::future::poll_fn(move |cx| {
        let (result, _) = std::task::ready!(super::with_driver(|d| op.poll_with(d, cx)));
        Poll::Ready(result_to_io(result).map(|fd| fd as RawFd))
    })
}

/// Connect a socket to `addr`.
pub(crate) fn connect(fd: RawFd, addr: socket2::SockAddr) -> impl Future<Output = io::Result<()>> {
    let mut op = super::with_driver(|d| {
        d.start(Resources::Addr(Box::new(addr)), |res| {
            let Resources::Addr(a) = res else {
                unreachable!("started with an Addr resource")
            };
            opcode::Connect::new(types::Fd(fd), a.as_ptr().cast(), a.len()).build()
        })
    });
    std::future::poll_fn(move |cx| {
        let (result, _) = std::task::ready!(super::with_driver(|d| op.poll_with(d, cx)));
        Poll::Ready(result_to_io(result).map(|_| ()))
    })
}

/// A future that completes at `deadline`.
pub struct Sleep {
    deadline: Instant,
    key: Option<usize>,
}

impl Sleep {
    /// The instant this sleep ends.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

/// Sleep until `deadline` (on the current shard).
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        key: None,
    }
}

/// Sleep for `duration` (on the current shard).
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(Instant::now() + duration)
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            if let Some(key) = self.key.take() {
                super::with_driver(|d| d.remove_timer(key));
            }
            return Poll::Ready(());
        }
        match self.key {
            Some(key) => super::with_driver(|d| d.update_timer(key, cx.waker())),
            None => {
                let deadline = self.deadline;
                self.key = Some(super::with_driver(|d| {
                    d.add_timer(deadline, cx.waker().clone())
                }));
            }
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            super::try_with_driver(|d| d.remove_timer(key));
        }
    }
}
