//! The per-shard I/O driver: one interface, two backends.
//!
//! Socket and connection code reaches I/O only through the functions of this module — [`recv`],
//! [`send`], [`accept`], [`connect`] — on an [`IoFd`], the registered-descriptor type. Every
//! operation passes its buffers by ownership and gives them back with the result, which suits a
//! completion backend (io_uring: the kernel owns the memory while the operation is in flight) and
//! a readiness backend (epoll: the syscall runs when the descriptor is ready) alike. `EAGAIN` and
//! `EINPROGRESS` never leave a backend.
//!
//! The backends are a closed set, so [`Driver`] is an enum:
//! - [`uring`]: one io_uring per shard, the fast path where the kernel and sandbox allow it;
//! - [`epoll`]: edge-triggered epoll over non-blocking sockets, for hosts and containers that
//!   forbid io_uring (Docker's and containerd's default seccomp profiles, for one).
//!
//! The driver also owns the shard's wake-up: other threads write the shard's [`WakeFd`] and the
//! driver turns that into a return from a blocking [`Driver::poll`]. Timers are not the driver's:
//! the shard loop keeps them (`runtime::timers`) and passes the next deadline as [`Wait`].

pub(crate) mod epoll;
pub(crate) mod uring;

use std::future::Future;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::config::{Backend, Config};
use crate::error::{Error, ErrorKind};

/// How long [`Driver::poll`] may block.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait {
    /// Not at all: reap what is ready.
    No,
    /// Until I/O completes or the shard is woken.
    Forever,
    /// At most this long.
    Timeout(Duration),
}

/// The eventfd through which other threads wake a parked shard. Shared between the shard's
/// [`crate::runtime::ShardShared`] (writers) and its driver (the one reader).
pub(crate) struct WakeFd(OwnedFd);

impl WakeFd {
    pub(crate) fn new() -> Result<WakeFd, Error> {
        // SAFETY: eventfd(2) with valid flags; the result is checked below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(Error::io("eventfd", io::Error::last_os_error()));
        }
        // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
        Ok(WakeFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Make the shard's next (or current) blocking poll return.
    pub(crate) fn notify(&self) -> io::Result<()> {
        let one: u64 = 1;
        // SAFETY: writing 8 bytes from a live u64 to an eventfd we own.
        let n = unsafe {
            libc::write(
                self.0.as_raw_fd(),
                (&one as *const u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// One shard's I/O backend. Used from the shard thread only.
pub(crate) enum Driver {
    IoUring(uring::UringDriver),
    Epoll(epoll::EpollDriver),
}

impl Driver {
    /// Build the driver `backend` names (already resolved: never [`Backend::Auto`]).
    pub(crate) fn new(backend: Backend, config: &Config, wake: Arc<WakeFd>) -> Result<Driver, Error> {
        match backend {
            Backend::Epoll => Ok(Driver::Epoll(epoll::EpollDriver::new(wake)?)),
            Backend::IoUring | Backend::Auto => Ok(Driver::IoUring(uring::UringDriver::new(
                config.io_uring.ring_entries,
                wake,
            )?)),
        }
    }

    /// Which backend this is.
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Driver::IoUring(_) => Backend::IoUring,
            Driver::Epoll(_) => Backend::Epoll,
        }
    }

    /// Make progress on I/O: submit what is queued, wait as `wait` allows, and wake the tasks
    /// whose operations finished or whose descriptors became ready. A write to the shard's
    /// [`WakeFd`] ends a wait. `force` enters the kernel even when nothing seems pending
    /// (busy-poll).
    pub(crate) fn poll(&self, wait: Wait, force: bool) -> io::Result<()> {
        match self {
            Driver::IoUring(d) => d.poll(wait, force),
            Driver::Epoll(d) => d.poll(wait),
        }
    }

    /// Release what the backend still holds at shard exit, waiting up to `deadline` for the
    /// kernel to give back memory lent to it.
    pub(crate) fn shut_down(&self, deadline: Duration) {
        if let Driver::IoUring(d) = self {
            d.shut_down(deadline);
        }
    }
}

/// A socket descriptor registered with the shard's driver: non-blocking, closed when the last
/// handle (the owner's, or an operation's still in flight) goes. It belongs to the shard it was
/// created on.
#[derive(Clone)]
pub(crate) struct IoFd(Rc<Registered>);

struct Registered {
    fd: OwnedFd,
    /// The epoll backend's interest slot; `None` on io_uring, which needs no registration.
    token: Option<usize>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Some(token) = self.token {
            super::try_with_driver(|d| {
                if let Driver::Epoll(e) = d {
                    e.deregister(self.fd.as_raw_fd(), token);
                }
            });
        }
    }
}

impl IoFd {
    /// Register `fd` (a socket) with the current shard's driver, making it non-blocking.
    ///
    /// # Panics
    /// Off a shard thread.
    pub(crate) fn new(fd: OwnedFd) -> io::Result<IoFd> {
        set_nonblocking(fd.as_raw_fd())?;
        let token = super::with_driver(|d| match d {
            Driver::IoUring(_) => Ok(None),
            Driver::Epoll(e) => e.register(fd.as_raw_fd()).map(Some),
        })?;
        Ok(IoFd(Rc::new(Registered { fd, token })))
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.0.fd.as_raw_fd()
    }

    fn token(&self) -> Option<usize> {
        self.0.token
    }
}

impl AsFd for IoFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.fd.as_fd()
    }
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor the caller owns; F_GETFL takes no argument.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::O_NONBLOCK == 0 {
        // SAFETY: F_SETFL with an int argument on a descriptor the caller owns.
        if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// One of two futures, for operations that dispatch on the backend once, when they start.
pub(crate) enum Either<A, B> {
    Left(A),
    Right(B),
}

impl<A, B, T> Future for Either<A, B>
where
    A: Future<Output = T> + Unpin,
    B: Future<Output = T> + Unpin,
{
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.get_mut() {
            Either::Left(a) => Pin::new(a).poll(cx),
            Either::Right(b) => Pin::new(b).poll(cx),
        }
    }
}

/// Receive into the spare capacity of `buf`: whatever the kernel has, up to the spare room
/// (grown to 64 KiB when less than 4 KiB is left). Resolves to the bytes read (0: end of stream)
/// and the buffer with its length advanced.
///
/// Dropping the future cancels the receive; no data is lost to a cancelled receive on epoll, and
/// on io_uring the kernel's completion is reaped (and its memory freed) by the driver.
pub(crate) fn recv(
    fd: &IoFd,
    mut buf: BytesMut,
) -> impl Future<Output = (io::Result<usize>, BytesMut)> + 'static {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(64 * 1024);
    }
    super::with_driver(|d| match d {
        Driver::IoUring(u) => Either::Left(uring::recv(u, fd.clone(), buf)),
        Driver::Epoll(_) => Either::Right(epoll::RecvOp::new(fd.clone(), buf)),
    })
}

/// Send `chunks` with one vectored `sendmsg` (at most `UIO_MAXIOV` of them); resolves to the bytes
/// written, which may be fewer than given, and the chunks.
pub(crate) fn send(
    fd: &IoFd,
    chunks: Vec<Bytes>,
) -> impl Future<Output = (io::Result<usize>, Vec<Bytes>)> + 'static {
    super::with_driver(|d| match d {
        Driver::IoUring(u) => Either::Left(uring::send(u, fd.clone(), chunks)),
        Driver::Epoll(_) => Either::Right(epoll::SendOp::new(fd.clone(), chunks)),
    })
}

/// Accept one connection on a listening descriptor; the new one comes registered.
pub(crate) fn accept(fd: &IoFd) -> impl Future<Output = io::Result<IoFd>> + 'static {
    super::with_driver(|d| match d {
        Driver::IoUring(u) => Either::Left(uring::accept(u, fd.clone())),
        Driver::Epoll(_) => Either::Right(epoll::AcceptOp::new(fd.clone())),
    })
}

/// Connect the unconnected socket `socket` to `addr`; resolves to it, registered, once the
/// connection is established.
pub(crate) fn connect(
    socket: OwnedFd,
    addr: socket2::SockAddr,
) -> impl Future<Output = io::Result<IoFd>> + 'static {
    super::with_driver(|d| match d {
        Driver::IoUring(u) => Either::Left(uring::connect(u, socket, addr)),
        Driver::Epoll(_) => Either::Right(epoll::ConnectOp::new(socket, addr)),
    })
}

/// A negative syscall result as an error, else the count.
fn result_to_io(result: i32) -> io::Result<usize> {
    if result < 0 {
        Err(io::Error::from_raw_os_error(-result))
    } else {
        Ok(result as usize)
    }
}

/// The error `ErrorKind::BackendUnavailable` carries when a backend cannot start.
pub(crate) fn unavailable(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::BackendUnavailable, message)
}
