//! The io_uring backend of one shard: submission, completion and in-flight operation state.
//!
//! Every in-flight operation owns the memory the kernel reads or writes (buffers, iovecs, socket
//! addresses) in its slot until its completion arrives, even when the future that started it is
//! dropped: a dropped future marks its slot cancelled and submits an `ASYNC_CANCEL`; the slot, and
//! the memory with it, is freed only when the kernel reports the operation finished. The same rule
//! holds for the driver's own eventfd read (the shard's wake-up): its 8-byte buffer is freed only
//! once that read has completed, and leaked if the kernel never says so.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use io_uring::{opcode, squeue, types, IoUring};
use slab::Slab;

use super::{result_to_io, IoFd, Wait, WakeFd};
use crate::error::Error;

/// user_data of the eventfd read that wakes a parked shard.
const WAKE_TAG: u64 = u64::MAX;
/// user_data of cancellation requests, whose completions are ignored.
const CANCEL_TAG: u64 = u64::MAX - 1;
/// How many times a full submission queue is flushed to the kernel before an operation fails
/// with `EBUSY` instead of spinning.
const SUBMIT_ATTEMPTS: usize = 64;

/// Memory an operation lends to the kernel, kept alive until the operation completes.
pub(crate) enum Resources {
    /// An accept: nothing lent, but a cancelled one that completed holds a descriptor to close.
    Accept,
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

/// The shard's ring and everything in flight on it. Used from the shard thread only.
pub(crate) struct UringDriver {
    ring: RefCell<IoUring>,
    /// One slot per operation in flight: bounded by the operations the shard's tasks start (a
    /// connection has at most one receive and one send in flight).
    slots: RefCell<Slab<Slot>>,
    defer_taskrun: bool,
    wake: Arc<WakeFd>,
    /// The eventfd read's buffer (from `Box::into_raw`), lent to the kernel while `wake_armed`.
    wake_buf: *mut u64,
    wake_armed: Cell<bool>,
    /// Set at shard exit: the wake-up read is no longer re-armed.
    stopping: Cell<bool>,
    /// The boxed iovecs and msghdr of finished sends, reused by the next ones so that a send
    /// allocates nothing once a connection is warm. Boxed because that is how an operation
    /// holds them: the kernel reads the msghdr and iovecs at a heap address that must not move.
    #[allow(clippy::vec_box)]
    spare_sends: RefCell<Vec<Box<SendResources>>>,
}

/// At most this many finished sends' resources are kept for reuse per shard.
const SPARE_SENDS: usize = 32;

/// Build a ring with SINGLE_ISSUER | DEFER_TASKRUN | TASKRUN_FLAG where the kernel has them,
/// falling back to a plain ring; also says whether DEFER_TASKRUN is on.
pub(crate) fn build_ring(entries: u32) -> io::Result<(IoUring, bool)> {
    let fancy = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_taskrun_flag()
        .setup_coop_taskrun()
        .build(entries);
    match fancy {
        Ok(ring) => Ok((ring, true)),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            Ok((IoUring::builder().build(entries)?, false))
        }
        Err(e) => Err(e),
    }
}

/// Check that io_uring works here, turning each known failure into a clear error.
pub(crate) fn probe() -> Result<(), Error> {
    if let Ok(v) = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled") {
        match v.trim() {
            "2" => {
                return Err(super::unavailable(
                    "io_uring is disabled on this host (sysctl kernel.io_uring_disabled=2)",
                ))
            }
            "1" => tracing::debug!("kernel.io_uring_disabled=1: io_uring limited to a group"),
            _ => {}
        }
    }
    match build_ring(8) {
        Ok(_) => Ok(()),
        Err(e) => Err(explain_ring_error(&e)),
    }
}

fn explain_ring_error(e: &io::Error) -> Error {
    let cause = match e.raw_os_error() {
        Some(libc::ENOSYS) => "the kernel has no io_uring (Linux 5.19 or newer is needed), or a seccomp profile such as Docker's default blocks it",
        Some(libc::EPERM) | Some(libc::EACCES) => "io_uring is forbidden here (kernel.io_uring_disabled, or a seccomp or LSM policy)",
        Some(libc::ENOMEM) => "not enough locked memory for the ring (raise RLIMIT_MEMLOCK, e.g. ulimit -l)",
        _ => "io_uring setup failed",
    };
    super::unavailable(format!("{cause}: {e}"))
}

impl UringDriver {
    pub(crate) fn new(entries: u32, wake: Arc<WakeFd>) -> Result<UringDriver, Error> {
        let (ring, defer_taskrun) = build_ring(entries).map_err(|e| explain_ring_error(&e))?;
        tracing::debug!(defer_taskrun, entries, "io_uring ring built");
        let driver = UringDriver {
            ring: RefCell::new(ring),
            slots: RefCell::new(Slab::with_capacity(256)),
            defer_taskrun,
            wake,
            wake_buf: Box::into_raw(Box::new(0u64)),
            wake_armed: Cell::new(false),
            stopping: Cell::new(false),
            spare_sends: RefCell::new(Vec::new()),
        };
        driver.arm_wake();
        Ok(driver)
    }

    /// Queue one SQE, flushing the submission queue to the kernel when it is full, a bounded
    /// number of times.
    ///
    /// # Safety
    /// Every pointer in `entry` must stay valid until its completion is reaped.
    unsafe fn push(&self, entry: &squeue::Entry) -> io::Result<()> {
        let mut ring = self.ring.borrow_mut();
        for _ in 0..SUBMIT_ATTEMPTS {
            // SAFETY: the caller guarantees the entry's pointers outlive the operation.
            if unsafe { ring.submission().push(entry) }.is_ok() {
                return Ok(());
            }
            match ring.submit() {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY) | Some(libc::EINTR)) => {}
                Err(e) => {
                    tracing::error!(error = %e, "io_uring submit failed while the queue was full");
                    return Err(e);
                }
            }
        }
        Err(io::Error::from_raw_os_error(libc::EBUSY))
    }

    /// Start an operation: `build` gets the slot's resources (already at their final address) and
    /// returns the SQE to submit. An operation that cannot be queued completes at once with the
    /// error.
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
        // removed, which happens only after this operation's completion (see `complete`), or
        // below when the entry never reached the queue.
        if let Err(e) = unsafe { self.push(&sqe) } {
            let errno = e.raw_os_error().unwrap_or(libc::EBUSY);
            if let Some(slot) = self.slots.borrow_mut().get_mut(key) {
                slot.state = SlotState::Completed(-errno);
            }
        }
        OpFuture { key, done: false }
    }

    /// Queue the eventfd read that wakes this shard.
    fn arm_wake(&self) {
        let sqe = opcode::Read::new(types::Fd(self.wake.raw()), self.wake_buf.cast(), 8)
            .build()
            .user_data(WAKE_TAG);
        // SAFETY: `wake_buf` is a live heap allocation the driver owns; it is freed only when no
        // read into it is armed (see `Drop`), and `self.wake` keeps the eventfd open.
        match unsafe { self.push(&sqe) } {
            Ok(()) => self.wake_armed.set(true),
            Err(e) => tracing::error!(error = %e, "cannot arm the shard's wake-up read"),
        }
    }

    /// Submit queued SQEs, optionally wait, and reap completions. `force` enters the kernel even
    /// when nothing seems pending (busy-poll).
    pub(crate) fn poll(&self, wait: Wait, force: bool) -> io::Result<()> {
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
                    WAKE_TAG => {
                        self.wake_armed.set(false);
                        woke = true;
                    }
                    CANCEL_TAG => {}
                    key => self.complete(key as usize, result),
                }
            }
        }
        if woke && !self.stopping.get() {
            self.arm_wake();
        }
        Ok(())
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
                // Nobody waits: free the slot and the memory it kept alive for the kernel, and
                // close what an accept that beat its cancellation brought in.
                let slot = slots.remove(key);
                drop(slots);
                if matches!(slot.resources, Resources::Accept) && result >= 0 {
                    use std::os::fd::FromRawFd;
                    // SAFETY: the kernel returned a new descriptor nobody else has seen.
                    drop(unsafe { OwnedFd::from_raw_fd(result) });
                }
                drop(slot);
            }
            SlotState::Completed(_) => {}
        }
    }

    /// Number of operations in flight (for tests).
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.slots.borrow().len()
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
                self.submit_cancel(key as u64);
            }
            SlotState::Cancelled => {}
        }
    }

    fn submit_cancel(&self, user_data: u64) {
        let sqe = opcode::AsyncCancel::new(user_data)
            .build()
            .user_data(CANCEL_TAG);
        // SAFETY: a cancel request carries no pointers.
        if let Err(e) = unsafe { self.push(&sqe) } {
            tracing::warn!(error = %e, "could not queue an io_uring cancellation");
        }
    }

    /// At shard exit: cancel the wake-up read, then reap completions until every operation has
    /// given its memory back or `deadline` passes; whatever is still in flight then is leaked
    /// rather than freed under the kernel's feet.
    pub(crate) fn shut_down(&self, deadline: Duration) {
        self.stopping.set(true);
        if self.wake_armed.get() {
            self.submit_cancel(WAKE_TAG);
        }
        let until = Instant::now() + deadline;
        while (!self.slots.borrow().is_empty() || self.wake_armed.get()) && Instant::now() < until {
            let _ = self.poll(Wait::Timeout(Duration::from_millis(10)), true);
        }
        if !self.slots.borrow().is_empty() {
            tracing::warn!(
                "io_uring operations still in flight at shutdown; leaking their buffers"
            );
            std::mem::forget(std::mem::take(&mut *self.slots.borrow_mut()));
        }
    }
}

impl Drop for UringDriver {
    fn drop(&mut self) {
        if self.wake_armed.get() {
            // The kernel may still write the eventfd's counter into it: leak 8 bytes.
            tracing::warn!("the shard's wake-up read was still in flight; leaking its buffer");
        } else {
            // SAFETY: from Box::into_raw in `new`, and no read into it is in flight any more.
            drop(unsafe { Box::from_raw(self.wake_buf) });
        }
    }
}

/// IORING_ENTER_GETEVENTS.
const ENTER_GETEVENTS: u32 = 1;

/// A future for one in-flight operation.
struct OpFuture {
    key: usize,
    done: bool,
}

impl OpFuture {
    fn poll_with(&mut self, cx: &mut Context<'_>) -> Poll<(i32, Resources)> {
        let r = with_uring(|d| d.poll_op(self.key, cx));
        if r.is_ready() {
            self.done = true;
        }
        r
    }
}

impl Drop for OpFuture {
    fn drop(&mut self) {
        if !self.done {
            crate::runtime::try_with_driver(|d| {
                if let super::Driver::IoUring(u) = d {
                    u.cancel_op(self.key)
                }
            });
        }
    }
}

/// Run `f` with the current shard's io_uring driver.
fn with_uring<R>(f: impl FnOnce(&UringDriver) -> R) -> R {
    crate::runtime::with_driver(|d| match d {
        super::Driver::IoUring(u) => f(u),
        super::Driver::Epoll(_) => unreachable!("an io_uring operation runs on an io_uring shard"),
    })
}

/// A receive in flight (see [`super::recv`]); it holds the descriptor open until it is done.
pub(crate) struct RecvFuture {
    _fd: IoFd,
    op: OpFuture,
}

/// See [`super::recv`].
pub(super) fn recv(driver: &UringDriver, fd: IoFd, buf: BytesMut) -> RecvFuture {
    let raw = fd.raw();
    let op = driver.start(Resources::Recv(buf), |res| {
        let Resources::Recv(buf) = res else {
            unreachable!("started with a Recv resource")
        };
        let spare = buf.spare_capacity_mut();
        opcode::Recv::new(
            types::Fd(raw),
            spare.as_mut_ptr().cast(),
            spare.len() as u32,
        )
        .build()
    });
    RecvFuture { _fd: fd, op }
}

impl Future for RecvFuture {
    type Output = (io::Result<usize>, BytesMut);

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (result, res) = std::task::ready!(self.op.poll_with(cx));
        let Resources::Recv(mut buf) = res else {
            unreachable!("started with a Recv resource")
        };
        let r = result_to_io(result);
        if let Ok(n) = r {
            // SAFETY: the kernel wrote `n` bytes into the spare capacity starting at `len()`,
            // and `n` is at most the spare length we passed.
            unsafe { buf.set_len(buf.len() + n) };
        }
        Poll::Ready((r, buf))
    }
}

/// A send in flight (see [`super::send`]); it holds the descriptor open until it is done.
pub(crate) struct SendFuture {
    _fd: IoFd,
    op: OpFuture,
}

/// See [`super::send`].
pub(super) fn send(driver: &UringDriver, fd: IoFd, chunks: Vec<Bytes>) -> SendFuture {
    let mut resources = driver.spare_sends.borrow_mut().pop().unwrap_or_else(|| {
        Box::new(SendResources {
            chunks: Vec::new(),
            iovecs: Vec::new(),
            // SAFETY: msghdr is a plain C struct; all-zero is a valid empty header.
            msghdr: unsafe { std::mem::zeroed() },
        })
    });
    resources.iovecs.clear();
    resources.iovecs.extend(
        chunks
            .iter()
            .take(libc::UIO_MAXIOV as usize)
            .map(|c| libc::iovec {
                iov_base: c.as_ptr() as *mut libc::c_void,
                iov_len: c.len(),
            }),
    );
    // SAFETY: msghdr is a plain C struct; all-zero is a valid empty header.
    resources.msghdr = unsafe { std::mem::zeroed() };
    resources.chunks = chunks;
    let raw = fd.raw();
    let op = driver.start(Resources::Send(resources), |res| {
        let Resources::Send(r) = res else {
            unreachable!("started with a Send resource")
        };
        r.msghdr.msg_iov = r.iovecs.as_mut_ptr();
        r.msghdr.msg_iovlen = r.iovecs.len();
        opcode::SendMsg::new(types::Fd(raw), &r.msghdr as *const libc::msghdr)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build()
    });
    SendFuture { _fd: fd, op }
}

impl Future for SendFuture {
    type Output = (io::Result<usize>, Vec<Bytes>);

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (result, res) = std::task::ready!(self.op.poll_with(cx));
        let Resources::Send(mut r) = res else {
            unreachable!("started with a Send resource")
        };
        let chunks = std::mem::take(&mut r.chunks);
        // The kernel is done with the iovecs and msghdr: keep them for the next send (the
        // iovecs' pointers are stale now and are overwritten before any use).
        with_uring(|d| {
            let mut spare = d.spare_sends.borrow_mut();
            if spare.len() < SPARE_SENDS {
                spare.push(r);
            }
        });
        Poll::Ready((result_to_io(result), chunks))
    }
}

/// See [`super::accept`].
pub(super) fn accept(
    driver: &UringDriver,
    fd: IoFd,
) -> impl Future<Output = io::Result<IoFd>> + Unpin + 'static {
    let raw = fd.raw();
    let mut op = driver.start(Resources::Accept, |_| {
        opcode::Accept::new(types::Fd(raw), std::ptr::null_mut(), std::ptr::null_mut())
            .flags(libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK)
            .build()
    });
    std::future::poll_fn(move |cx| {
        let _keep_open = &fd;
        let (result, _) = std::task::ready!(op.poll_with(cx));
        Poll::Ready(result_to_io(result).and_then(|accepted| {
            use std::os::fd::FromRawFd;
            // SAFETY: accept returned a new descriptor that nothing else owns.
            let accepted = unsafe { OwnedFd::from_raw_fd(accepted as i32) };
            IoFd::new(accepted)
        }))
    })
}

/// See [`super::connect`].
pub(super) fn connect(
    driver: &UringDriver,
    socket: OwnedFd,
    addr: socket2::SockAddr,
) -> impl Future<Output = io::Result<IoFd>> + Unpin + 'static {
    let raw = socket.as_raw_fd();
    let mut op = driver.start(Resources::Addr(Box::new(addr)), |res| {
        let Resources::Addr(a) = res else {
            unreachable!("started with an Addr resource")
        };
        opcode::Connect::new(types::Fd(raw), a.as_ptr().cast(), a.len()).build()
    });
    let mut socket = Some(socket);
    std::future::poll_fn(move |cx| {
        let (result, _) = std::task::ready!(op.poll_with(cx));
        let socket = socket
            .take()
            .expect("a finished connect is not polled again");
        Poll::Ready(result_to_io(result).and_then(|_| IoFd::new(socket)))
    })
}
