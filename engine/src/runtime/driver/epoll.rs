//! The epoll backend of one shard: readiness over non-blocking sockets, for hosts and containers
//! where io_uring is forbidden.
//!
//! Each [`IoFd`] is registered once, edge-triggered for reading and writing, and has an interest
//! slot holding what the backend knows of it: readable, writable, and the tasks waiting for each.
//! An operation first tries its syscall; only `EAGAIN` (or a short read or write, which means the
//! kernel buffer was drained or filled) clears the readiness it consumed and parks the task until
//! the next edge. Hang-ups and errors are sticky, so an end of stream is never missed. Nothing is
//! lent to the kernel across a wait, so a dropped operation only forgets its waker: it leaves no
//! registration and no buffer behind. The shard's [`WakeFd`] sits in the same epoll set
//! (level-triggered), and the longest a poll may block is the next timer deadline.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use slab::Slab;

use super::{set_nonblocking, IoFd, Wait, WakeFd};
use crate::error::Error;

/// epoll data of the shard's wake-up eventfd.
const WAKE_TOKEN: u64 = u64::MAX;
/// Events taken from the kernel per `epoll_wait`.
const EVENTS_PER_WAIT: usize = 256;
/// iovecs per `sendmsg` (the rest of a longer send goes in the next one).
const IOVECS_PER_SEND: usize = 128;

/// What the backend knows of one registered descriptor.
#[derive(Default)]
struct Interest {
    readable: bool,
    writable: bool,
    /// A hang-up or error was reported: reads never wait again.
    read_closed: bool,
    /// A hang-up or error was reported: writes never wait again.
    write_closed: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

#[derive(Debug, Clone, Copy)]
enum Direction {
    Read,
    Write,
}

/// The shard's epoll set and the interest of every descriptor in it. Used from the shard thread
/// only.
pub(crate) struct EpollDriver {
    epoll: OwnedFd,
    wake: Arc<WakeFd>,
    /// One slot per registered descriptor: bounded by the descriptors the shard's sockets hold
    /// (each socket's `max_connections` plus its listeners).
    interests: RefCell<Slab<Interest>>,
    events: RefCell<Vec<libc::epoll_event>>,
    /// Wakers collected while the interest table is borrowed, woken after.
    to_wake: RefCell<Vec<Waker>>,
}

impl EpollDriver {
    pub(crate) fn new(wake: Arc<WakeFd>) -> Result<EpollDriver, Error> {
        // SAFETY: epoll_create1 with a valid flag; the result is checked below.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(super::unavailable(format!(
                "epoll_create1 failed: {}",
                io::Error::last_os_error()
            )));
        }
        // SAFETY: `fd` was just returned by epoll_create1 and is owned by nobody else.
        let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
        let driver = EpollDriver {
            epoll,
            wake,
            interests: RefCell::new(Slab::with_capacity(64)),
            events: RefCell::new(Vec::with_capacity(EVENTS_PER_WAIT)),
            to_wake: RefCell::new(Vec::new()),
        };
        driver
            .ctl(
                libc::EPOLL_CTL_ADD,
                driver.wake.raw(),
                libc::EPOLLIN as u32,
                WAKE_TOKEN,
            )
            .map_err(|e| super::unavailable(format!("cannot watch the wake-up eventfd: {e}")))?;
        Ok(driver)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event { events, u64: token };
        // SAFETY: `event` is a live epoll_event; the epoll fd and `fd` are open descriptors.
        if unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut event) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Add `fd` to the set, edge-triggered for both directions; returns its interest slot.
    /// The descriptor starts out assumed ready both ways, so the first operation just tries.
    pub(crate) fn register(&self, fd: RawFd) -> io::Result<usize> {
        let token = self.interests.borrow_mut().insert(Interest {
            readable: true,
            writable: true,
            ..Interest::default()
        });
        let events = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
        if let Err(e) = self.ctl(libc::EPOLL_CTL_ADD, fd, events, token as u64) {
            self.interests.borrow_mut().remove(token);
            return Err(e);
        }
        Ok(token)
    }

    /// Remove `fd` from the set and free its slot (the descriptor is about to close).
    pub(crate) fn deregister(&self, fd: RawFd, token: usize) {
        let _ = self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0);
        self.interests.borrow_mut().try_remove(token);
    }

    /// Wait for readiness as `wait` allows and wake the tasks it concerns.
    pub(crate) fn poll(&self, wait: Wait) -> io::Result<()> {
        let mut timeout_ms = match wait {
            Wait::No => 0,
            Wait::Forever => -1,
            // Round up: waking before the deadline would only spin back into a wait.
            Wait::Timeout(d) => {
                let ms = d.as_nanos().div_ceil(1_000_000);
                ms.min(i32::MAX as u128) as i32
            }
        };
        loop {
            let mut events = self.events.borrow_mut();
            events.clear();
            // SAFETY: the kernel writes at most EVENTS_PER_WAIT entries into the vector's
            // spare capacity, which holds that many; the count it returns is checked below.
            let n = unsafe {
                libc::epoll_wait(
                    self.epoll.as_raw_fd(),
                    events.as_mut_ptr(),
                    EVENTS_PER_WAIT as i32,
                    timeout_ms,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EINTR) {
                    return Ok(());
                }
                return Err(e);
            }
            // SAFETY: epoll_wait initialised the first `n` entries (n <= EVENTS_PER_WAIT).
            unsafe { events.set_len(n as usize) };
            self.dispatch(&events);
            drop(events);
            for waker in self.to_wake.borrow_mut().drain(..) {
                waker.wake();
            }
            if (n as usize) < EVENTS_PER_WAIT {
                return Ok(());
            }
            // A full batch: take what else is ready without blocking.
            timeout_ms = 0;
        }
    }

    fn dispatch(&self, events: &[libc::epoll_event]) {
        let mut interests = self.interests.borrow_mut();
        let mut to_wake = self.to_wake.borrow_mut();
        for event in events {
            let (token, bits) = (event.u64, event.events);
            if token == WAKE_TOKEN {
                self.drain_wake();
                continue;
            }
            let Some(interest) = interests.get_mut(token as usize) else {
                continue;
            };
            let has = |flag: libc::c_int| bits & flag as u32 != 0;
            let failed = has(libc::EPOLLHUP) || has(libc::EPOLLERR);
            if has(libc::EPOLLIN) || has(libc::EPOLLRDHUP) || failed {
                interest.readable = true;
                interest.read_closed |= has(libc::EPOLLRDHUP) || failed;
                to_wake.extend(interest.reader.take());
            }
            if has(libc::EPOLLOUT) || failed {
                interest.writable = true;
                interest.write_closed |= failed;
                to_wake.extend(interest.writer.take());
            }
        }
    }

    fn drain_wake(&self) {
        let mut counter: u64 = 0;
        // SAFETY: reading 8 bytes into a live u64 from the eventfd `self.wake` keeps open; epoll
        // reported it readable, so the read does not block.
        let _ = unsafe {
            libc::read(
                self.wake.raw(),
                (&mut counter as *mut u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
    }

    /// Whether `token` is ready in `direction`; if not, `cx`'s waker is kept for the next edge.
    fn poll_ready(&self, token: usize, direction: Direction, cx: &Context<'_>) -> bool {
        let mut interests = self.interests.borrow_mut();
        let Some(interest) = interests.get_mut(token) else {
            // Not registered any more: let the syscall report EBADF.
            return true;
        };
        let (ready, waker) = match direction {
            Direction::Read => (interest.readable, &mut interest.reader),
            Direction::Write => (interest.writable, &mut interest.writer),
        };
        if !ready {
            match waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *waker = Some(cx.waker().clone()),
            }
        }
        ready
    }

    /// The kernel has nothing more to give (or take) in `direction` until the next edge.
    fn clear(&self, token: usize, direction: Direction) {
        if let Some(interest) = self.interests.borrow_mut().get_mut(token) {
            match direction {
                Direction::Read if !interest.read_closed => interest.readable = false,
                Direction::Write if !interest.write_closed => interest.writable = false,
                _ => {}
            }
        }
    }

    /// A dropped operation's waker goes with it.
    fn forget(&self, token: usize, direction: Direction) {
        if let Some(interest) = self.interests.borrow_mut().get_mut(token) {
            match direction {
                Direction::Read => interest.reader = None,
                Direction::Write => interest.writer = None,
            }
        }
    }

    /// Number of registered descriptors.
    #[cfg(test)]
    pub(crate) fn registered(&self) -> usize {
        self.interests.borrow().len()
    }

    /// Number of tasks waiting for an edge.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.interests
            .borrow()
            .iter()
            .map(|(_, i)| usize::from(i.reader.is_some()) + usize::from(i.writer.is_some()))
            .sum()
    }
}

/// Run `f` with the current shard's epoll driver.
fn with_epoll<R>(f: impl FnOnce(&EpollDriver) -> R) -> R {
    crate::runtime::with_driver(|d| match d {
        super::Driver::Epoll(e) => f(e),
        super::Driver::IoUring(_) => unreachable!("an epoll operation runs on an epoll shard"),
    })
}

fn token_of(fd: &IoFd) -> usize {
    fd.token()
        .expect("a descriptor on an epoll shard is registered")
}

fn last_errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// A waiting operation on one descriptor and direction: forgets its waker when dropped.
pub(crate) struct Waiting {
    fd: IoFd,
    direction: Direction,
}

impl Waiting {
    fn ready(&self, cx: &Context<'_>) -> bool {
        with_epoll(|e| e.poll_ready(token_of(&self.fd), self.direction, cx))
    }

    fn clear(&self) {
        with_epoll(|e| e.clear(token_of(&self.fd), self.direction));
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let token = token_of(&self.fd);
        let direction = self.direction;
        crate::runtime::try_with_driver(|d| {
            if let super::Driver::Epoll(e) = d {
                e.forget(token, direction);
            }
        });
    }
}

/// See [`super::recv`].
pub(crate) struct RecvOp {
    waiting: Waiting,
    buf: Option<BytesMut>,
}

impl RecvOp {
    pub(crate) fn new(fd: IoFd, buf: BytesMut) -> RecvOp {
        RecvOp {
            waiting: Waiting {
                fd,
                direction: Direction::Read,
            },
            buf: Some(buf),
        }
    }
}

impl Future for RecvOp {
    type Output = (io::Result<usize>, BytesMut);
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            if !self.waiting.ready(cx) {
                return Poll::Pending;
            }
            let raw = self.waiting.fd.raw();
            let buf = self
                .buf
                .as_mut()
                .expect("a finished recv is not polled again");
            let spare = buf.spare_capacity_mut();
            let room = spare.len();
            // SAFETY: recv writes at most `room` bytes into the spare capacity, which is valid
            // for writes of that many bytes.
            let n = unsafe { libc::recv(raw, spare.as_mut_ptr().cast(), room, libc::MSG_DONTWAIT) };
            if n >= 0 {
                let n = n as usize;
                // SAFETY: the kernel initialised `n <= room` bytes at the end of the buffer.
                unsafe { buf.set_len(buf.len() + n) };
                if n < room {
                    // A short read drained the socket: wait for the next edge.
                    self.waiting.clear();
                }
                let buf = self.buf.take().expect("checked above");
                return Poll::Ready((Ok(n), buf));
            }
            match last_errno() {
                libc::EAGAIN => self.waiting.clear(),
                libc::EINTR => {}
                errno => {
                    let buf = self.buf.take().expect("checked above");
                    return Poll::Ready((Err(io::Error::from_raw_os_error(errno)), buf));
                }
            }
        }
    }
}

/// See [`super::send`].
pub(crate) struct SendOp {
    waiting: Waiting,
    chunks: Option<Vec<Bytes>>,
}

impl SendOp {
    pub(crate) fn new(fd: IoFd, chunks: Vec<Bytes>) -> SendOp {
        SendOp {
            waiting: Waiting {
                fd,
                direction: Direction::Write,
            },
            chunks: Some(chunks),
        }
    }
}

impl Future for SendOp {
    type Output = (io::Result<usize>, Vec<Bytes>);
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            if !self.waiting.ready(cx) {
                return Poll::Pending;
            }
            let raw = self.waiting.fd.raw();
            let chunks = self
                .chunks
                .as_ref()
                .expect("a finished send is not polled again");
            let count = chunks.len().min(IOVECS_PER_SEND);
            let mut iovecs = [libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            }; IOVECS_PER_SEND];
            let mut total = 0;
            for (iov, chunk) in iovecs.iter_mut().zip(&chunks[..count]) {
                iov.iov_base = chunk.as_ptr() as *mut libc::c_void;
                iov.iov_len = chunk.len();
                total += chunk.len();
            }
            // SAFETY: msghdr is a plain C struct; all-zero is a valid empty header.
            let mut msghdr: libc::msghdr = unsafe { std::mem::zeroed() };
            msghdr.msg_iov = iovecs.as_mut_ptr();
            msghdr.msg_iovlen = count;
            // SAFETY: `msghdr` points at `count` iovecs, each describing a live `Bytes` chunk
            // that `self.chunks` keeps alive for the duration of the call.
            let n = unsafe { libc::sendmsg(raw, &msghdr, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) };
            if n >= 0 {
                let n = n as usize;
                if n < total {
                    // A short write filled the socket buffer: wait for the next edge.
                    self.waiting.clear();
                }
                let chunks = self.chunks.take().expect("checked above");
                return Poll::Ready((Ok(n), chunks));
            }
            match last_errno() {
                libc::EAGAIN => self.waiting.clear(),
                libc::EINTR => {}
                errno => {
                    let chunks = self.chunks.take().expect("checked above");
                    return Poll::Ready((Err(io::Error::from_raw_os_error(errno)), chunks));
                }
            }
        }
    }
}

/// See [`super::accept`].
pub(crate) struct AcceptOp {
    waiting: Waiting,
}

impl AcceptOp {
    pub(crate) fn new(fd: IoFd) -> AcceptOp {
        AcceptOp {
            waiting: Waiting {
                fd,
                direction: Direction::Read,
            },
        }
    }
}

impl Future for AcceptOp {
    type Output = io::Result<IoFd>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            if !self.waiting.ready(cx) {
                return Poll::Pending;
            }
            match super::accept_now(&self.waiting.fd) {
                Some(result) => return Poll::Ready(result),
                None => self.waiting.clear(),
            }
        }
    }
}

/// See [`super::connect`].
pub(crate) enum ConnectOp {
    Start(Option<(OwnedFd, socket2::SockAddr)>),
    /// `connect` said `EINPROGRESS`; the descriptor is registered and waits to become writable.
    InProgress(Waiting),
}

impl ConnectOp {
    pub(crate) fn new(socket: OwnedFd, addr: socket2::SockAddr) -> ConnectOp {
        ConnectOp::Start(Some((socket, addr)))
    }
}

impl Future for ConnectOp {
    type Output = io::Result<IoFd>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match &mut *self {
                ConnectOp::Start(start) => {
                    let (socket, addr) = start.take().expect("a finished connect is not polled");
                    if let Err(e) = set_nonblocking(socket.as_raw_fd()) {
                        return Poll::Ready(Err(e));
                    }
                    // SAFETY: `addr` is a valid socket address of `addr.len()` bytes.
                    let rc =
                        unsafe { libc::connect(socket.as_raw_fd(), addr.as_ptr(), addr.len()) };
                    let errno = if rc == 0 { 0 } else { last_errno() };
                    match errno {
                        0 => return Poll::Ready(IoFd::new(socket)),
                        // Registered only now: a socket that has not started connecting
                        // reports a hang-up, which would mark it closed for good.
                        libc::EINPROGRESS | libc::EINTR => match IoFd::new(socket) {
                            Ok(fd) => {
                                let waiting = Waiting {
                                    fd,
                                    direction: Direction::Write,
                                };
                                waiting.clear();
                                *self = ConnectOp::InProgress(waiting);
                            }
                            Err(e) => return Poll::Ready(Err(e)),
                        },
                        // A unix listener's backlog is full.
                        libc::EAGAIN => {
                            return Poll::Ready(Err(io::Error::new(
                                io::ErrorKind::ConnectionRefused,
                                "the listener's backlog is full",
                            )))
                        }
                        errno => return Poll::Ready(Err(io::Error::from_raw_os_error(errno))),
                    }
                }
                ConnectOp::InProgress(waiting) => {
                    if !waiting.ready(cx) {
                        return Poll::Pending;
                    }
                    let socket = socket2::SockRef::from(&waiting.fd);
                    match socket.take_error() {
                        Ok(Some(e)) | Err(e) => return Poll::Ready(Err(e)),
                        Ok(None) => {}
                    }
                    match socket.peer_addr() {
                        Ok(_) => {
                            let fd = waiting.fd.clone();
                            return Poll::Ready(Ok(fd));
                        }
                        // A stale edge: still connecting.
                        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => waiting.clear(),
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                }
            }
        }
    }
}
