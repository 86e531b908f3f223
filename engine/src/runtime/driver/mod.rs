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
// One per shard, built once and never moved: boxing the larger variant would only add an
// indirection to every operation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Driver {
    IoUring(uring::UringDriver),
    Epoll(epoll::EpollDriver),
}

impl Driver {
    /// Build the driver `backend` names (already resolved: never [`Backend::Auto`]).
    pub(crate) fn new(
        backend: Backend,
        config: &Config,
        wake: Arc<WakeFd>,
    ) -> Result<Driver, Error> {
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

/// See [`IoFd::downgrade`].
#[derive(Clone)]
pub(crate) struct WeakIoFd(std::rc::Weak<Registered>);

impl WeakIoFd {
    /// Whether the descriptor is closed: its owner and every operation in flight let it go.
    pub(crate) fn is_closed(&self) -> bool {
        self.0.strong_count() == 0
    }
}

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

    /// A handle that does not keep the descriptor open, to learn when it has closed.
    pub(crate) fn downgrade(&self) -> WeakIoFd {
        WeakIoFd(Rc::downgrade(&self.0))
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

/// A receive in flight, on either backend: a named type, so a connection keeps it in place
/// instead of boxing each one.
pub(crate) type RecvFuture = Either<uring::RecvFuture, epoll::RecvOp>;
/// A send in flight, on either backend (see [`RecvFuture`]).
pub(crate) type SendFuture = Either<uring::SendFuture, epoll::SendOp>;

/// Receive into the spare capacity of `buf`: whatever the kernel has, up to the spare room
/// (grown to 64 KiB when less than 4 KiB is left). Resolves to the bytes read (0: end of stream)
/// and the buffer with its length advanced.
///
/// Dropping the future cancels the receive. On epoll nothing is read until the future is polled
/// ready, so a cancelled receive loses nothing. On io_uring the kernel may complete the receive
/// before the cancellation reaches it; the driver reaps that completion and frees its buffer, and
/// the bytes it took are gone, so the engine drops a pending receive only when its connection is
/// ending anyway.
pub(crate) fn recv(fd: &IoFd, mut buf: BytesMut) -> RecvFuture {
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
pub(crate) fn send(fd: &IoFd, chunks: Vec<Bytes>) -> SendFuture {
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

/// Take a waiting connection off `listener` without blocking (epoll): `None` when none is
/// waiting.
fn accept_now(listener: &IoFd) -> Option<io::Result<IoFd>> {
    loop {
        // SAFETY: accept4 on a listening descriptor we own, asking for no peer address.
        let fd = unsafe {
            libc::accept4(
                listener.raw(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            )
        };
        if fd >= 0 {
            // SAFETY: accept4 returned a new descriptor that nothing else owns.
            return Some(IoFd::new(unsafe { OwnedFd::from_raw_fd(fd) }));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN) => return None,
            Some(libc::EINTR) => {}
            _ => return Some(Err(e)),
        }
    }
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

#[cfg(test)]
mod tests {
    //! Backend-level tests, run on both backends: partial writes, `EAGAIN` storms, a peer that
    //! resets mid-write, cancellation of every pending operation kind, timers in order.

    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    use std::time::Instant;

    use crate::runtime::{sleep, sleep_until, spawn_local};
    use crate::{block_on, Runtime};

    const BOTH: [Backend; 2] = [Backend::IoUring, Backend::Epoll];
    const STORM: usize = 1000;

    /// Run `f` as a task on a one-shard runtime of `backend` and return its result.
    fn on_shard<T, F, Fut>(backend: Backend, f: F) -> T
    where
        F: FnOnce() -> Fut + std::marker::Send + 'static,
        Fut: Future<Output = T> + 'static,
        T: std::marker::Send + 'static,
    {
        let rt = Runtime::new(Config {
            backend,
            ..Config::default()
        })
        .expect("runtime");
        assert_eq!(rt.backend(), backend);
        // A failed assertion on the shard comes back here as the test's panic.
        let task = rt
            .spawn_on(crate::ShardId(0), move || {
                futures_lite::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(f()))
            })
            .expect("spawn");
        match block_on(task) {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Poll `fut` once and say what it said.
    async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
        std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *fut).poll(cx))).await
    }

    /// Poll `fut` once; true when it is still pending.
    async fn pending_once<F: Future + Unpin>(fut: &mut F) -> bool {
        poll_once(fut).await.is_pending()
    }

    /// How many tasks wait on the epoll backend (0 on io_uring, which keeps no interest).
    fn epoll_waiting() -> usize {
        crate::runtime::with_driver(|d| match d {
            Driver::Epoll(e) => e.waiting(),
            Driver::IoUring(_) => 0,
        })
    }

    /// Wait (bounded) until io_uring has given back every cancelled operation, so that what the
    /// test does next cannot race a cancellation still on its way to the kernel.
    async fn settle() {
        let deadline = Instant::now() + Duration::from_secs(5);
        while crate::runtime::with_driver(|d| match d {
            Driver::IoUring(u) => u.in_flight(),
            Driver::Epoll(_) => 0,
        }) > 0
        {
            assert!(Instant::now() < deadline, "cancellations never completed");
            sleep(Duration::from_millis(1)).await;
        }
    }

    fn epoll_registered() -> usize {
        crate::runtime::with_driver(|d| match d {
            Driver::Epoll(e) => e.registered(),
            Driver::IoUring(_) => 0,
        })
    }

    fn pair() -> (IoFd, UnixStream) {
        let (ours, theirs) = UnixStream::pair().expect("socketpair");
        (IoFd::new(OwnedFd::from(ours)).expect("register"), theirs)
    }

    #[test]
    fn partial_writes_are_reported_and_resume_in_order() {
        for backend in BOTH {
            let (partials, total) = on_shard(backend, || async {
                let (fd, mut theirs) = pair();
                let data: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
                let expected = data.clone();
                let reader = std::thread::spawn(move || {
                    let mut got = Vec::new();
                    theirs.read_to_end(&mut got).expect("read");
                    got
                });
                let mut chunks = vec![Bytes::from(data)];
                let mut partials = 0;
                while !chunks.is_empty() {
                    let (result, mut rest) = send(&fd, chunks).await;
                    let n = result.expect("send");
                    let left: usize = rest.iter().map(|c| c.len()).sum();
                    if n < left {
                        partials += 1;
                    }
                    let mut skip = n;
                    rest.retain_mut(|c| {
                        let take = skip.min(c.len());
                        skip -= take;
                        *c = c.slice(take..);
                        !c.is_empty()
                    });
                    chunks = rest;
                }
                drop(fd);
                let got = reader.join().expect("reader");
                assert!(got == expected, "bytes arrive complete and in order");
                (partials, got.len())
            });
            assert_eq!(total, 4 * 1024 * 1024, "{backend}");
            assert!(
                partials > 0,
                "{backend}: a 4 MiB send cannot fit one socket buffer"
            );
        }
    }

    #[test]
    fn eagain_storm_loses_nothing_and_leaves_no_waiter() {
        for backend in BOTH {
            on_shard(backend, || async {
                let (fd, mut theirs) = pair();
                // A thousand receives that find nothing, each dropped while pending.
                for _ in 0..STORM {
                    let mut op = recv(&fd, BytesMut::with_capacity(1024));
                    assert!(pending_once(&mut op).await);
                    drop(op);
                    assert_eq!(epoll_waiting(), 0, "a dropped receive forgets its waker");
                }
                settle().await;
                theirs.write_all(b"after the storm").expect("write");
                let (result, buf) = recv(&fd, BytesMut::with_capacity(1024)).await;
                assert_eq!(result.expect("recv"), 15);
                assert_eq!(&buf[..], b"after the storm");
            });
        }
    }

    #[test]
    fn peer_reset_mid_write_is_an_error_not_a_hang() {
        for backend in BOTH {
            on_shard(backend, || async {
                let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
                let addr = listener.local_addr().expect("addr");
                let socket =
                    socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                        .expect("socket");
                let fd = connect(OwnedFd::from(socket), addr.into())
                    .await
                    .expect("connect");
                let (peer, _) = listener.accept().expect("accept");
                // Reset: close with SO_LINGER 0 and unread data.
                socket2::SockRef::from(&peer)
                    .set_linger(Some(Duration::ZERO))
                    .expect("linger");
                let chunk = Bytes::from(vec![7u8; 256 * 1024]);
                let (first, _) = send(&fd, vec![chunk.clone()]).await;
                assert!(first.expect("first send") > 0);
                drop(peer);
                let mut failed = None;
                for _ in 0..100 {
                    match send(&fd, vec![chunk.clone()]).await {
                        (Ok(_), _) => sleep(Duration::from_millis(1)).await,
                        (Err(e), _) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                let e = failed.expect("a send to a reset peer fails");
                assert!(
                    matches!(e.raw_os_error(), Some(libc::ECONNRESET) | Some(libc::EPIPE)),
                    "{e}"
                );
                let (result, _) = recv(&fd, BytesMut::with_capacity(64)).await;
                assert!(matches!(result, Ok(0) | Err(_)), "{result:?}");
            });
        }
    }

    #[test]
    fn pending_operations_cancel_cleanly() {
        for backend in BOTH {
            on_shard(backend, || async {
                let base = epoll_registered();
                // recv: cancelled, then the data is still there for the next receive.
                let (fd, mut theirs) = pair();
                let mut op = recv(&fd, BytesMut::with_capacity(64));
                assert!(pending_once(&mut op).await);
                drop(op);
                settle().await;
                theirs.write_all(b"kept").expect("write");
                let (r, buf) = recv(&fd, BytesMut::with_capacity(64)).await;
                assert_eq!((r.expect("recv"), &buf[..]), (4, &b"kept"[..]));
                // send: fill the buffer until a send waits, cancel it, then drain and send again.
                let big = Bytes::from(vec![1u8; 64 * 1024]);
                loop {
                    let mut op = send(&fd, vec![big.clone()]);
                    match poll_once(&mut op).await {
                        Poll::Pending => {
                            drop(op);
                            settle().await;
                            break;
                        }
                        Poll::Ready((r, _)) => {
                            r.expect("send");
                        }
                    }
                }
                assert_eq!(epoll_waiting(), 0);
                theirs.set_nonblocking(true).expect("nonblocking");
                let mut sink = vec![0u8; 1 << 20];
                while theirs.read(&mut sink).is_ok_and(|n| n > 0) {}
                let (r, _) = send(&fd, vec![Bytes::from_static(b"x")]).await;
                assert_eq!(r.expect("send after cancel"), 1);
                // accept: nobody connects; cancel, then a connection is accepted by a new one.
                let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
                let addr = listener.local_addr().expect("addr");
                let listener = IoFd::new(OwnedFd::from(listener)).expect("register");
                let mut op = accept(&listener);
                assert!(pending_once(&mut op).await);
                drop(op);
                settle().await;
                let _client = std::net::TcpStream::connect(addr).expect("connect");
                let accepted = accept(&listener).await.expect("accept");
                drop(accepted);
                // connect: to a listener whose accept queue is full, so the SYN is dropped and
                // the connect stays pending; cancel it.
                let full = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                    .expect("socket");
                full.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
                    .expect("bind");
                full.listen(0).expect("listen");
                let full_addr = full.local_addr().expect("addr");
                let mut fillers = Vec::new();
                for _ in 0..4 {
                    let s =
                        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                            .expect("socket");
                    s.set_nonblocking(true).expect("nonblocking");
                    let _ = s.connect(&full_addr);
                    fillers.push(s);
                }
                sleep(Duration::from_millis(50)).await;
                let socket =
                    socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                        .expect("socket");
                let mut op = connect(OwnedFd::from(socket), full_addr);
                assert!(pending_once(&mut op).await, "connect to a full queue waits");
                drop(op);
                settle().await;
                assert_eq!(epoll_waiting(), 0);
                drop((fd, listener));
                assert_eq!(epoll_registered(), base, "nothing stays registered");
            });
        }
    }

    #[test]
    fn timers_fire_in_deadline_order() {
        for backend in BOTH {
            let order = on_shard(backend, || async {
                let order = Rc::new(std::cell::RefCell::new(Vec::new()));
                let start = Instant::now();
                let mut tasks = Vec::new();
                for (n, ms) in [(3u32, 30u64), (1, 10), (4, 40), (2, 20)] {
                    let order = order.clone();
                    tasks.push(spawn_local(async move {
                        sleep_until(start + Duration::from_millis(ms)).await;
                        assert!(Instant::now() >= start + Duration::from_millis(ms));
                        order.borrow_mut().push(n);
                    }));
                }
                for t in tasks {
                    t.await;
                }
                let order = order.borrow().clone();
                order
            });
            assert_eq!(order, vec![1, 2, 3, 4], "{backend}");
        }
    }
}
