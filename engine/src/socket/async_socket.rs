//! The any-executor async handle: a socket used from tokio, async-std, smol, a bare
//! `futures::executor`, or a task on a ringmq shard, with nothing but wakers between them.

use std::future::Future;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{ready, Context, Poll};

use ringmq_patterns::Turn;
use ringmq_transports::{Message, SocketType};

use super::blocking::handle_stats;
use super::hosted::{Hosted, WaitList};
use super::poll::PollEvents;
use super::Options;
use crate::error::{Error, ErrorKind, SendError};
use crate::monitor::Monitor;
use crate::runtime::{ShardHandle, ShardId};
use crate::stats::SocketStats;

/// What every clone and half of one async socket shares; the socket closes when the last goes.
struct Inner {
    hosted: Hosted,
    /// REQ/REP alternation, kept here so a misuse is reported at once and clones agree.
    turn: Option<Mutex<Turn>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.hosted.close();
    }
}

impl Inner {
    fn turn(&self) -> Option<MutexGuard<'_, Turn>> {
        self.turn
            .as_ref()
            .map(|t| t.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        key: &mut Option<usize>,
    ) -> Poll<Result<Message, Error>> {
        let mut turn = self.turn();
        if let Some(t) = &turn {
            if let Err(e) = t.check_recv() {
                return Poll::Ready(Err(Error::new(ErrorKind::InvalidState, e.to_string())));
            }
        }
        let result = ready!(self.hosted.poll_pop(cx, key));
        if result.is_ok() {
            if let Some(t) = turn.as_mut() {
                t.received();
            }
        }
        Poll::Ready(result)
    }

    fn try_recv(&self) -> Result<Option<Message>, Error> {
        if !ringmq_patterns::Pattern::can_recv(self.hosted.socket_type) {
            return Err(Error::new(
                ErrorKind::NotSupported,
                format!("{} sockets cannot receive", self.hosted.socket_type),
            ));
        }
        let mut turn = self.turn();
        if let Some(t) = &turn {
            if let Err(e) = t.check_recv() {
                return Err(Error::new(ErrorKind::InvalidState, e.to_string()));
            }
        }
        let msg = self.hosted.try_pop()?;
        if msg.is_some() {
            if let Some(t) = turn.as_mut() {
                t.received();
            }
        }
        Ok(msg)
    }

    /// Hand `msg` over now, or give it back (`Full`, or `Failed`).
    fn try_send(&self, msg: Message) -> Result<(), SendError> {
        let msg = self.hosted.check_send(msg)?;
        let mut turn = self.turn();
        if let Some(t) = &turn {
            if let Err(e) = t.check_send() {
                return Err(SendError::Failed(
                    Error::new(ErrorKind::InvalidState, e.to_string()),
                    msg,
                ));
            }
        }
        self.hosted.try_push(msg)?;
        if let Some(t) = turn.as_mut() {
            t.sent();
        }
        Ok(())
    }

    /// Send `msg`, waiting for room: `Pending` keeps the message in `msg`.
    fn poll_send(
        &self,
        cx: &mut Context<'_>,
        key: &mut Option<usize>,
        msg: &mut Option<Message>,
    ) -> Poll<Result<(), SendError>> {
        loop {
            let m = msg.take().expect("a message to send");
            match self.try_send(m) {
                Ok(()) => return Poll::Ready(Ok(())),
                Err(SendError::Full(m)) => *msg = Some(m),
                Err(e) => return Poll::Ready(Err(e)),
            }
            match self.hosted.poll_room(cx, key) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(())) => continue,
                Poll::Ready(Err(e)) => {
                    return Poll::Ready(Err(SendError::Failed(
                        e,
                        msg.take().expect("kept while waiting"),
                    )))
                }
            }
        }
    }
}

/// A waiting future's slot in a [`WaitList`], freed when the future goes (completed or
/// cancelled).
struct Slot<'a> {
    list: &'a WaitList,
    key: Option<usize>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.list.unregister(&mut self.key);
    }
}

type ShardSend = Mutex<Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>>;

/// A ZeroMQ socket for async code on any executor: `Send + Sync`, cheap to clone (clones share
/// one socket, which closes when the last clone or half is dropped), with no dependency on any
/// runtime (it only uses wakers).
///
/// The socket lives on a ringmq shard; each message crosses one bounded lock-free queue to or
/// from it, and the shard batches what it finds. `send` waits while the socket is at its
/// high-water mark (back-pressure); [`AsyncSocket::try_send`] hands the message back instead
/// ([`SendError::Full`]). Timeouts are the caller's: wrap a call in `tokio::time::timeout` (or any
/// executor's equivalent); every method is cancel-safe (see each `# Cancel safety`).
///
/// It is a [`futures_core::Stream`] of received messages (ending when the socket closes) and a
/// [`futures_sink::Sink`] of messages to send, and [`AsyncSocket::split`]s into a send half and a
/// receive half for two tasks.
///
/// ```no_run
/// use ringmq::{AsyncSocket, Config, Message, Options, Runtime, SocketType};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let rt = Runtime::new(Config::default())?;
/// let pull = AsyncSocket::new(rt.next_shard(), SocketType::Pull, Options::default())?;
/// let endpoint = pull.bind("tcp://127.0.0.1:0").await?;
/// let push = AsyncSocket::new(rt.next_shard(), SocketType::Push, Options::default())?;
/// push.connect(&endpoint).await?;
/// push.send(Message::single("hello")).await?;
/// let msg = pull.recv().await?;
/// assert_eq!(msg.frames()[0], "hello");
/// # Ok(())
/// # }
/// ```
pub struct AsyncSocket {
    inner: Arc<Inner>,
    /// This handle's waker slot as a `Stream`.
    stream_key: Option<usize>,
    /// This handle's waker slot as a `Sink`, and the message `start_send` took.
    sink_key: Option<usize>,
    sink_pending: Option<Message>,
    /// `router_mandatory`: a `Sink` send in progress on the shard.
    sink_on_shard: Option<ShardSend>,
}

impl std::fmt::Debug for AsyncSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncSocket")
            .field("type", &self.inner.hosted.socket_type)
            .field("shard", &self.inner.hosted.shard.id())
            .finish()
    }
}

impl Clone for AsyncSocket {
    /// Another handle to the same socket (not a new socket).
    fn clone(&self) -> AsyncSocket {
        AsyncSocket::from_inner(self.inner.clone())
    }
}

impl AsyncSocket {
    /// Create a socket of `socket_type` on `shard`. Waits (briefly, no I/O) for the shard to
    /// create it.
    pub fn new(
        shard: &ShardHandle,
        socket_type: SocketType,
        options: Options,
    ) -> Result<AsyncSocket, Error> {
        let hosted = Hosted::new(shard, socket_type, options)?;
        let turn = matches!(socket_type, SocketType::Req | SocketType::Rep)
            .then(|| Mutex::new(Turn::new(socket_type, hosted.req_relaxed)));
        Ok(AsyncSocket::from_inner(Arc::new(Inner { hosted, turn })))
    }

    fn from_inner(inner: Arc<Inner>) -> AsyncSocket {
        AsyncSocket {
            inner,
            stream_key: None,
            sink_key: None,
            sink_pending: None,
            sink_on_shard: None,
        }
    }

    /// The socket type.
    pub fn socket_type(&self) -> SocketType {
        self.inner.hosted.socket_type
    }

    /// The shard the socket lives on.
    pub fn shard(&self) -> ShardId {
        self.inner.hosted.shard.id()
    }

    /// Listen on `endpoint`; resolves to the bound endpoint (see [`super::Socket::bind`]).
    ///
    /// # Cancel safety
    /// The bind is made on the shard whether or not the future is awaited to the end; a cancelled
    /// future only loses the answer.
    pub async fn bind(&self, endpoint: &str) -> Result<String, Error> {
        let endpoint = endpoint.to_owned();
        self.inner
            .hosted
            .call_async(move |s| s.bind(&endpoint))
            .await
    }

    /// Connect to `endpoint` (see [`super::Socket::connect`]).
    ///
    /// # Cancel safety
    /// As [`AsyncSocket::bind`].
    pub async fn connect(&self, endpoint: &str) -> Result<(), Error> {
        let endpoint = endpoint.to_owned();
        self.inner
            .hosted
            .call_async(move |s| s.connect(&endpoint))
            .await
    }

    /// Stop listening on `endpoint` (see [`super::Socket::unbind`]); resolves once the port or
    /// file is free. [`ErrorKind::NotFound`] when the socket is not bound there.
    ///
    /// # Cancel safety
    /// As [`AsyncSocket::bind`]: the unbind happens; a cancelled future only stops waiting for
    /// the listener to close.
    pub async fn unbind(&self, endpoint: &str) -> Result<(), Error> {
        self.inner.hosted.unbind(endpoint).await
    }

    /// Stop connecting to `endpoint` (see [`super::Socket::disconnect`]).
    /// [`ErrorKind::NotFound`] when the socket has no such connect.
    ///
    /// # Cancel safety
    /// As [`AsyncSocket::bind`].
    pub async fn disconnect(&self, endpoint: &str) -> Result<(), Error> {
        self.inner.hosted.disconnect(endpoint).await
    }

    /// Subscribe to `prefix` (SUB).
    ///
    /// # Cancel safety
    /// As [`AsyncSocket::bind`].
    pub async fn subscribe(&self, prefix: &[u8]) -> Result<(), Error> {
        let prefix = prefix.to_vec();
        self.inner
            .hosted
            .call_async(move |s| s.subscribe(&prefix))
            .await
    }

    /// Cancel a subscription to `prefix` (SUB).
    ///
    /// # Cancel safety
    /// As [`AsyncSocket::bind`].
    pub async fn unsubscribe(&self, prefix: &[u8]) -> Result<(), Error> {
        let prefix = prefix.to_vec();
        self.inner
            .hosted
            .call_async(move |s| s.unsubscribe(&prefix))
            .await
    }

    /// Replace the socket's options (see [`super::Socket::set_options`]).
    ///
    /// # Cancel safety
    /// As [`AsyncSocket::bind`].
    pub async fn set_options(&self, options: Options) -> Result<(), Error> {
        self.inner.hosted.options_changed(&options);
        self.inner
            .hosted
            .call_async(move |s| {
                s.set_options(options);
                Ok(())
            })
            .await
    }

    /// The socket's options.
    ///
    /// # Cancel safety
    /// Cancel-safe: it only reads.
    pub async fn options(&self) -> Result<Options, Error> {
        self.inner.hosted.call_async(|s| Ok(s.options())).await
    }

    /// Start monitoring the socket (see [`super::Socket::monitor`]).
    ///
    /// # Cancel safety
    /// A cancelled future may leave a monitor attached that nobody reads; it is dropped (and
    /// stops costing anything) with the socket.
    pub async fn monitor(&self) -> Result<Monitor, Error> {
        self.inner.hosted.call_async(|s| Ok(s.monitor())).await
    }

    /// Number of peers whose handshake completed.
    ///
    /// # Cancel safety
    /// Cancel-safe: it only reads.
    pub async fn connected_peers(&self) -> Result<usize, Error> {
        self.inner
            .hosted
            .call_async(|s| Ok(s.connected_peers()))
            .await
    }

    /// A snapshot of the socket's counters (see [`SocketStats`]), including the hand-off queues.
    ///
    /// # Cancel safety
    /// Cancel-safe: it only reads.
    pub async fn stats(&self) -> Result<SocketStats, Error> {
        let bridge = self.inner.hosted.bridge.clone();
        self.inner
            .hosted
            .call_async(move |s| Ok(handle_stats(s.stats(), &bridge)))
            .await
    }

    /// Send a message, waiting while the socket is at its high-water mark. A message handed back
    /// in the error was not sent.
    ///
    /// # Cancel safety
    /// Cancel-safe: the message is handed over in the same poll that completes the future, so a
    /// future dropped before completing never sent it, and every message a completed `send`
    /// handed over is delivered as if the socket had sent it (within `linger` at close). With
    /// ROUTER's `router_mandatory`, each send is decided on the shard: a future cancelled after
    /// the shard took the message may still deliver it.
    pub async fn send(&self, msg: impl Into<Message>) -> Result<(), SendError> {
        let msg = msg.into();
        if self.inner.hosted.synchronous_send() {
            let msg = self.inner.hosted.check_send(msg)?;
            let copy = msg.clone();
            return self
                .inner
                .hosted
                .send_on_shard(msg)
                .await
                .map_err(|e| SendError::Failed(e, copy));
        }
        let mut slot = Slot {
            list: &self.inner.hosted.bridge.senders,
            key: None,
        };
        let mut msg = Some(msg);
        std::future::poll_fn(|cx| self.inner.poll_send(cx, &mut slot.key, &mut msg)).await
    }

    /// Send without waiting: [`SendError::Full`] hands the message back when the socket is at its
    /// high-water mark. With `router_mandatory` (ROUTER), the shard decides, and this call waits
    /// for its answer (microseconds, no I/O).
    pub fn try_send(&self, msg: impl Into<Message>) -> Result<(), SendError> {
        let msg = msg.into();
        if self.inner.hosted.synchronous_send() {
            let msg = self.inner.hosted.check_send(msg)?;
            return self.inner.hosted.try_send_on_shard(msg);
        }
        self.inner.try_send(msg)
    }

    /// Wait for the next message. Fails with [`ErrorKind::Closed`] once the socket is closed and
    /// every message it received was taken.
    ///
    /// # Cancel safety
    /// Cancel-safe: a message is taken only in the poll that completes the future.
    pub async fn recv(&self) -> Result<Message, Error> {
        let mut slot = Slot {
            list: &self.inner.hosted.bridge.receivers,
            key: None,
        };
        std::future::poll_fn(|cx| self.inner.poll_recv(cx, &mut slot.key)).await
    }

    /// Take a message if one is waiting.
    pub fn try_recv(&self) -> Result<Option<Message>, Error> {
        self.inner.try_recv()
    }

    /// The readiness descriptor for foreign event loops (libzmq's `ZMQ_FD`), e.g. for
    /// `tokio::io::unix::AsyncFd`: it becomes readable when the socket may have become readable
    /// or writable. After it does, call [`AsyncSocket::events`] (which clears it), then
    /// `try_recv` until `None` (or `try_send` until `Full`), and only then wait on it again.
    /// Signals may be spurious. The descriptor belongs to the socket: do not close it.
    pub fn readiness_fd(&self) -> Result<RawFd, Error> {
        self.inner.hosted.bridge.readiness_fd()
    }

    /// The readiness descriptor as an owned value that keeps it open (for registering with an
    /// event loop such as tokio's `AsyncFd`); same contract as `readiness_fd`.
    pub fn readiness(&self) -> Result<super::hosted::Readiness, Error> {
        super::hosted::Readiness::new(&self.inner.hosted.bridge)
    }

    /// Clear the readiness descriptor and say what the socket can do now without waiting
    /// (libzmq's `ZMQ_EVENTS`).
    pub fn events(&self) -> PollEvents {
        self.inner.hosted.bridge.events()
    }

    /// Split into a send half and a receive half, for two tasks (each is also a `Sink` /
    /// `Stream`). The socket closes when both halves (and every clone) are gone.
    pub fn split(self) -> (AsyncSender, AsyncReceiver) {
        let inner = self.inner.clone();
        (
            AsyncSender {
                socket: AsyncSocket::from_inner(inner.clone()),
            },
            AsyncReceiver {
                socket: AsyncSocket::from_inner(inner),
            },
        )
    }

    /// Close the socket for every clone now and wait until it has lingered out: what was
    /// handed over is written (within `linger`), then every connection closes. Other clones'
    /// calls fail with [`ErrorKind::Closed`] afterwards. Resolves to the number of messages
    /// abandoned when linger ran out.
    ///
    /// # Cancel safety
    /// Cancel-safe: the close goes on in the background; only the answer is lost.
    pub async fn close(self) -> Result<usize, Error> {
        let id = self.inner.hosted.id;
        let bridge = self.inner.hosted.bridge.clone();
        let (tx, rx) = futures_channel::oneshot::channel();
        self.inner
            .hosted
            .shard
            .call_async(move || match super::hosted::take_hosted(id) {
                Some(socket) => crate::runtime::spawn_local(async move {
                    let abandoned = super::hosted::close_hosted(socket, bridge, None).await;
                    let _ = tx.send(abandoned);
                })
                .detach(),
                None => {
                    let _ = tx.send(0);
                }
            })?;
        rx.await
            .map_err(|_| Error::new(ErrorKind::Closed, "the shard stopped"))
    }

    fn poll_sink_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if let Some(op) = self.sink_on_shard.as_mut() {
            let op = op.get_mut().unwrap_or_else(|p| p.into_inner());
            let result = ready!(op.as_mut().poll(cx));
            self.sink_on_shard = None;
            result?;
        }
        if self.sink_pending.is_some() {
            match ready!(self
                .inner
                .poll_send(cx, &mut self.sink_key, &mut self.sink_pending))
            {
                Ok(()) => {}
                Err(e) => return Poll::Ready(Err(error_of(e))),
            }
        }
        Poll::Ready(Ok(()))
    }

    fn start_sink_send(&mut self, msg: Message) -> Result<(), Error> {
        if self.inner.hosted.synchronous_send() {
            let inner = self.inner.clone();
            let msg = self.inner.hosted.check_send(msg).map_err(error_of)?;
            self.sink_on_shard = Some(Mutex::new(Box::pin(async move {
                inner.hosted.send_on_shard(msg).await
            })));
            return Ok(());
        }
        match self.inner.try_send(msg) {
            Ok(()) => Ok(()),
            Err(SendError::Full(m)) => {
                self.sink_pending = Some(m);
                Ok(())
            }
            Err(e) => Err(error_of(e)),
        }
    }
}

fn error_of(e: SendError) -> Error {
    match e {
        SendError::Full(_) => Error::new(ErrorKind::WouldBlock, "the socket is full"),
        SendError::Failed(e, _) => e,
    }
}

impl Drop for AsyncSocket {
    fn drop(&mut self) {
        self.inner
            .hosted
            .bridge
            .receivers
            .unregister(&mut self.stream_key);
        self.inner
            .hosted
            .bridge
            .senders
            .unregister(&mut self.sink_key);
    }
}

impl futures_core::Stream for AsyncSocket {
    type Item = Result<Message, Error>;

    /// The next message; the stream ends when the socket is closed and drained.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match ready!(this.inner.poll_recv(cx, &mut this.stream_key)) {
            Ok(m) => Poll::Ready(Some(Ok(m))),
            Err(e) if e.kind() == ErrorKind::Closed => Poll::Ready(None),
            Err(e) => Poll::Ready(Some(Err(e))),
        }
    }
}

impl futures_sink::Sink<Message> for AsyncSocket {
    type Error = Error;

    /// Ready when the message `start_send` took last is handed over (waits at the HWM).
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_sink_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, msg: Message) -> Result<(), Error> {
        self.get_mut().start_sink_send(msg)
    }

    /// Done when every message given to the sink is handed over to the socket (which then sends
    /// it as any accepted message, within `linger` at close).
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_sink_ready(cx)
    }

    /// Flushes; the socket itself closes when its last handle goes.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_sink_ready(cx)
    }
}

/// The send half of an [`AsyncSocket`] ([`AsyncSocket::split`]); also a `Sink`.
#[derive(Debug, Clone)]
pub struct AsyncSender {
    socket: AsyncSocket,
}

impl AsyncSender {
    /// See [`AsyncSocket::send`].
    ///
    /// # Cancel safety
    /// As [`AsyncSocket::send`].
    pub async fn send(&self, msg: impl Into<Message>) -> Result<(), SendError> {
        self.socket.send(msg).await
    }

    /// See [`AsyncSocket::try_send`].
    pub fn try_send(&self, msg: impl Into<Message>) -> Result<(), SendError> {
        self.socket.try_send(msg)
    }

    /// The whole socket again, for its other methods.
    pub fn socket(&self) -> &AsyncSocket {
        &self.socket
    }
}

impl futures_sink::Sink<Message> for AsyncSender {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.get_mut().socket).poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, msg: Message) -> Result<(), Error> {
        Pin::new(&mut self.get_mut().socket).start_send(msg)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.get_mut().socket).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.get_mut().socket).poll_close(cx)
    }
}

/// The receive half of an [`AsyncSocket`] ([`AsyncSocket::split`]); also a `Stream`.
#[derive(Debug, Clone)]
pub struct AsyncReceiver {
    socket: AsyncSocket,
}

impl AsyncReceiver {
    /// See [`AsyncSocket::recv`].
    ///
    /// # Cancel safety
    /// As [`AsyncSocket::recv`].
    pub async fn recv(&self) -> Result<Message, Error> {
        self.socket.recv().await
    }

    /// See [`AsyncSocket::try_recv`].
    pub fn try_recv(&self) -> Result<Option<Message>, Error> {
        self.socket.try_recv()
    }

    /// The whole socket again, for its other methods.
    pub fn socket(&self) -> &AsyncSocket {
        &self.socket
    }
}

impl futures_core::Stream for AsyncReceiver {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.get_mut().socket).poll_next(cx)
    }
}
