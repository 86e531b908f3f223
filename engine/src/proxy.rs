//! The built-in proxy: zmq_proxy(3) and zmq_proxy_steerable(3) for ringmq sockets.
//!
//! [`proxy`] moves every message that arrives on the frontend to the backend and, where both
//! socket types allow it, every message that arrives on the backend to the frontend (a streamer
//! PULL→PUSH is one-way, a forwarder SUB→PUB or XSUB↔XPUB, a broker ROUTER↔DEALER or PAIR↔PAIR
//! two-way). Multipart messages move whole. An optional capture socket gets a copy of every
//! message, dropped rather than waited for when the capture socket is at its high-water mark.
//!
//! [`proxy_steerable`] adds the control commands of zmq_proxy_steerable(3): pause, resume,
//! terminate and statistics, from a thread-safe [`ProxyControl`] handle or from a control socket
//! that receives the libzmq command strings.
//!
//! The proxy is a future that runs on the shard owning its sockets (they are not `Send`, so this
//! holds by construction); it takes no thread of its own and shares the shard with other tasks.
//! It does no I/O of its own beyond what the sockets do, and reads no clock.
//!
//! ```no_run
//! use ringmq::{Config, Runtime, ShardId, Socket, SocketType};
//!
//! let rt = Runtime::new(Config::default())?;
//! let task = rt.spawn_on(ShardId(0), || async {
//!     let frontend = Socket::new(SocketType::Pull)?;
//!     frontend.bind("tcp://127.0.0.1:5557")?;
//!     let backend = Socket::new(SocketType::Push)?;
//!     backend.bind("tcp://127.0.0.1:5558")?;
//!     ringmq::proxy(&frontend, &backend, None).await
//! })?;
//! ringmq::block_on(task)?; // runs until a socket fails or the task is dropped
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::Poll;

use atomic_waker::AtomicWaker;
use bytes::Bytes;
use ringmq_patterns::Pattern;
use ringmq_transports::{Message, SocketType};

use crate::error::{Error, ErrorKind, SendError};
use crate::socket::Socket;

/// Messages moved in one direction before the proxy looks at the other direction and its control
/// again, and yields to the shard's other tasks if all of them came without waiting.
const BURST: usize = 256;

/// Message and byte counts of one proxy run, as the STATISTICS command of zmq_proxy_steerable(3)
/// reports them.
///
/// A multipart message counts as one message; its bytes are the sum of its frame sizes. A
/// message counts as "in" when the proxy takes it from a socket and as "out" once the other
/// socket has queued it, so `in` exceeds `out` by the message the proxy holds while it waits at
/// a high-water mark. Copies sent to the capture socket are not counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ProxyStatistics {
    /// Messages received from the frontend.
    pub frontend_messages_in: u64,
    /// Bytes received from the frontend.
    pub frontend_bytes_in: u64,
    /// Messages sent out through the frontend (coming from the backend).
    pub frontend_messages_out: u64,
    /// Bytes sent out through the frontend.
    pub frontend_bytes_out: u64,
    /// Messages received from the backend.
    pub backend_messages_in: u64,
    /// Bytes received from the backend.
    pub backend_bytes_in: u64,
    /// Messages sent out through the backend (coming from the frontend).
    pub backend_messages_out: u64,
    /// Bytes sent out through the backend.
    pub backend_bytes_out: u64,
}

impl ProxyStatistics {
    /// The eight counters in libzmq's STATISTICS order: frontend messages in, bytes in, messages
    /// out, bytes out, then the same four for the backend.
    pub fn to_array(&self) -> [u64; 8] {
        [
            self.frontend_messages_in,
            self.frontend_bytes_in,
            self.frontend_messages_out,
            self.frontend_bytes_out,
            self.backend_messages_in,
            self.backend_bytes_in,
            self.backend_messages_out,
            self.backend_bytes_out,
        ]
    }

    /// The counters from an array in [`ProxyStatistics::to_array`]'s order.
    pub fn from_array(counters: [u64; 8]) -> ProxyStatistics {
        let [a, b, c, d, e, f, g, h] = counters;
        ProxyStatistics {
            frontend_messages_in: a,
            frontend_bytes_in: b,
            frontend_messages_out: c,
            frontend_bytes_out: d,
            backend_messages_in: e,
            backend_bytes_in: f,
            backend_messages_out: g,
            backend_bytes_out: h,
        }
    }

    /// The reply to a STATISTICS command: eight frames of eight bytes each, one counter per frame
    /// in [`ProxyStatistics::to_array`]'s order, each a `u64` in the host's byte order (as libzmq
    /// sends them, so a libzmq peer on the same architecture reads them with a plain `memcpy`).
    pub fn to_message(&self) -> Message {
        Message::from_frames(
            self.to_array()
                .map(|counter| Bytes::copy_from_slice(&counter.to_ne_bytes())),
        )
    }

    /// Parse a STATISTICS reply made by [`ProxyStatistics::to_message`] or by libzmq on a host of
    /// the same byte order; `None` unless it is exactly eight frames of eight bytes.
    pub fn from_message(msg: &Message) -> Option<ProxyStatistics> {
        let frames = msg.frames();
        if frames.len() != 8 {
            return None;
        }
        let mut counters = [0u64; 8];
        for (counter, frame) in counters.iter_mut().zip(frames) {
            *counter = u64::from_ne_bytes(frame[..].try_into().ok()?);
        }
        Some(ProxyStatistics::from_array(counters))
    }
}

const RUNNING: u8 = 0;
const PAUSED: u8 = 1;
const TERMINATED: u8 = 2;

/// What a [`ProxyControl`] and the proxy it steers share.
#[derive(Debug)]
struct Shared {
    /// RUNNING, PAUSED or TERMINATED: what the controller asks for.
    state: AtomicU8,
    /// The proxy task waiting for a change of `state`.
    waker: AtomicWaker,
    /// The proxy's counters in [`ProxyStatistics::to_array`]'s order; written only by the proxy.
    counters: [AtomicU64; 8],
}

impl Shared {
    /// The command that takes a proxy in state `paused` to the requested state, if any.
    fn command(&self, paused: bool) -> Option<Command> {
        match (self.state.load(Ordering::Acquire), paused) {
            (TERMINATED, _) => Some(Command::Terminate),
            (PAUSED, false) => Some(Command::Pause),
            (RUNNING, true) => Some(Command::Resume),
            _ => None,
        }
    }
}

/// Steers a [`proxy_steerable`] run from any thread: pause, resume, terminate, read statistics.
///
/// Cheap to clone; every clone steers the same proxy. Create one, pass it to
/// [`proxy_steerable`] (as `&control`), and keep a clone wherever commands come from. Commands
/// are states, not a queue: `pause()` then `resume()` before the proxy looks may leave it
/// running throughout. `terminate()` is final: a proxy started with a terminated handle returns
/// at once. Meant for one proxy run at a time; several runs sharing a handle all obey it, but
/// the statistics are those of whichever wrote last, and only the last to wait is woken.
#[derive(Debug, Clone, Default)]
pub struct ProxyControl {
    shared: Arc<Shared>,
}

impl Default for Shared {
    fn default() -> Shared {
        Shared {
            state: AtomicU8::new(RUNNING),
            waker: AtomicWaker::new(),
            counters: Default::default(),
        }
    }
}

impl ProxyControl {
    /// A handle for a proxy that is to run (not paused).
    pub fn new() -> ProxyControl {
        ProxyControl::default()
    }

    /// Stop forwarding. Messages stay queued in the sockets, so senders meet the high-water marks
    /// there, as with libzmq's PAUSE. A message the proxy already holds (waiting for room at its
    /// destination) is still delivered.
    pub fn pause(&self) {
        self.transition(RUNNING, PAUSED);
    }

    /// Forward again after [`ProxyControl::pause`].
    pub fn resume(&self) {
        self.transition(PAUSED, RUNNING);
    }

    /// Make the proxy return `Ok` with its statistics. A message it holds while waiting for room
    /// at its destination is dropped; messages still queued in the sockets stay there.
    pub fn terminate(&self) {
        self.shared.state.store(TERMINATED, Ordering::Release);
        self.shared.waker.wake();
    }

    /// The proxy's counters (zero before it starts). Each counter is read atomically, but the
    /// eight are not one snapshot: a message moving meanwhile may be counted in some only.
    pub fn statistics(&self) -> ProxyStatistics {
        ProxyStatistics::from_array(
            self.shared
                .counters
                .each_ref()
                .map(|c| c.load(Ordering::Relaxed)),
        )
    }

    fn transition(&self, from: u8, to: u8) {
        if self
            .shared
            .state
            .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.shared.waker.wake();
        }
    }
}

/// Where a [`proxy_steerable`] takes its commands from.
#[derive(Debug, Clone, Copy)]
pub enum ControlSource<'a> {
    /// A [`ProxyControl`] handle, usable from any thread.
    Handle(&'a ProxyControl),
    /// A socket on the proxy's shard receiving libzmq's command strings as single-frame
    /// messages: `PAUSE`, `RESUME`, `TERMINATE`, `STATISTICS`.
    ///
    /// `STATISTICS` is answered on the socket with [`ProxyStatistics::to_message`] (eight
    /// `u64` frames in host byte order). A REP control socket also answers every other command
    /// with one empty frame, keeping the request-reply lockstep as libzmq 4.3.5 does; other types
    /// get no answer to them. Anything else is ignored (libzmq asserts). Replies are sent
    /// without waiting and dropped if the control socket is at its high-water mark.
    Socket(&'a Socket),
}

impl<'a> From<&'a ProxyControl> for ControlSource<'a> {
    fn from(control: &'a ProxyControl) -> ControlSource<'a> {
        ControlSource::Handle(control)
    }
}

impl<'a> From<&'a Socket> for ControlSource<'a> {
    fn from(socket: &'a Socket) -> ControlSource<'a> {
        ControlSource::Socket(socket)
    }
}

/// Move messages between `frontend` and `backend`, copying each one to `capture`, until a socket
/// fails (zmq_proxy(3)).
///
/// Frontend→backend runs when the frontend's type can receive and the backend's can send;
/// backend→frontend when the reverse holds; at least one must, or this fails at once with
/// [`ErrorKind::NotSupported`], as it does for a capture socket that cannot send. Messages from
/// each side keep their order. The two directions take turns, a burst of up to 256 messages at a
/// time. Sending waits while the destination is at its high-water mark (so senders upstream meet
/// back-pressure, as with libzmq) and the other direction waits meanwhile; the capture socket
/// never makes the proxy wait: a copy it has no room for is dropped.
///
/// Call it on the shard owning the sockets, from a task spawned there. Like libzmq's, it does
/// not return while the sockets work: it ends with an error from a socket, or when the task
/// running it is dropped (which also happens when the runtime stops). Use [`proxy_steerable`] to
/// stop it cleanly.
///
/// # Cancel safety
/// Dropping the future while it waits for a message loses nothing. Dropping it while it waits
/// for room at a destination loses the one message it holds (already taken from its source).
pub async fn proxy(
    frontend: &Socket,
    backend: &Socket,
    capture: Option<&Socket>,
) -> Result<(), Error> {
    Proxy::new(frontend, backend, capture, Control::None)?
        .run()
        .await
        .map(|_| ())
}

/// [`proxy`] with control commands (zmq_proxy_steerable(3)): pause, resume, terminate and
/// statistics, from a [`ProxyControl`] handle or a control socket (see [`ControlSource`]).
///
/// `control` is a `&ProxyControl`, a `&Socket` or a [`ControlSource`]. The proxy starts running;
/// a pause stops forwarding until a resume (messages stay in the sockets' queues); a terminate
/// makes it return `Ok` with the statistics of this run. A handle's counters are reset to zero
/// when the run starts and updated as each message moves. Commands are obeyed between bursts
/// (a handle's between messages) and also while the proxy waits for room at a destination, so a
/// terminate ends a proxy stuck at a high-water mark. A control socket that cannot receive is refused with
/// [`ErrorKind::NotSupported`]; an error receiving from it ends the proxy with that error.
///
/// # Cancel safety
/// As for [`proxy`]: dropping the future loses at most the one message it holds while waiting
/// for room at a destination. A command already taken from a control socket has been obeyed.
pub async fn proxy_steerable<'a>(
    frontend: &Socket,
    backend: &Socket,
    capture: Option<&Socket>,
    control: impl Into<ControlSource<'a>>,
) -> Result<ProxyStatistics, Error> {
    let control = match control.into() {
        ControlSource::Handle(handle) => Control::Handle(&handle.shared),
        ControlSource::Socket(socket) => Control::Socket {
            socket,
            acknowledges: socket.socket_type() == SocketType::Rep,
        },
    };
    Proxy::new(frontend, backend, capture, control)?.run().await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Frontend,
    Backend,
}

#[derive(Debug)]
enum Command {
    Pause,
    Resume,
    Terminate,
    Statistics,
    /// Not a command we know: the message as received.
    Unknown(Message),
}

impl Command {
    fn parse(msg: Message) -> Command {
        match msg.frames() {
            [only] => match &only[..] {
                b"PAUSE" => Command::Pause,
                b"RESUME" => Command::Resume,
                b"TERMINATE" => Command::Terminate,
                b"STATISTICS" => Command::Statistics,
                _ => Command::Unknown(msg),
            },
            _ => Command::Unknown(msg),
        }
    }
}

enum Control<'a> {
    None,
    Handle(&'a Shared),
    Socket {
        socket: &'a Socket,
        /// Answer PAUSE, RESUME, TERMINATE (and unknown commands) with an empty frame (REP).
        acknowledges: bool,
    },
}

impl Control<'_> {
    /// The next command for a proxy whose state is `paused`. Cancel-safe: nothing is taken until
    /// it completes.
    async fn next_command(&self, paused: bool) -> Result<Command, Error> {
        match *self {
            Control::None => std::future::pending().await,
            Control::Handle(shared) => {
                poll_fn(|cx| {
                    if let Some(command) = shared.command(paused) {
                        return Poll::Ready(Ok(command));
                    }
                    shared.waker.register(cx.waker());
                    // Look again: a command set before the registration woke no one.
                    match shared.command(paused) {
                        Some(command) => Poll::Ready(Ok(command)),
                        None => Poll::Pending,
                    }
                })
                .await
            }
            Control::Socket { socket, .. } => socket.recv().await.map(Command::parse),
        }
    }

    /// Whether a handle asks for something other than running (checked between messages).
    fn interrupts(&self) -> bool {
        match *self {
            Control::Handle(shared) => shared.state.load(Ordering::Acquire) != RUNNING,
            _ => false,
        }
    }
}

enum Event {
    Command(Command),
    Message(Side, Message),
}

/// What the proxy does after obeying a command or moving a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Terminate,
}

/// One proxy run: the sockets, which directions are open, and the counters.
struct Proxy<'a> {
    frontend: &'a Socket,
    backend: &'a Socket,
    capture: Option<&'a Socket>,
    control: Control<'a>,
    /// Frontend→backend is open.
    forward: bool,
    /// Backend→frontend is open.
    reverse: bool,
    paused: bool,
    statistics: ProxyStatistics,
}

impl<'a> Proxy<'a> {
    fn new(
        frontend: &'a Socket,
        backend: &'a Socket,
        capture: Option<&'a Socket>,
        control: Control<'a>,
    ) -> Result<Proxy<'a>, Error> {
        let (front_type, back_type) = (frontend.socket_type(), backend.socket_type());
        let forward = Pattern::can_recv(front_type) && Pattern::can_send(back_type);
        let reverse = Pattern::can_recv(back_type) && Pattern::can_send(front_type);
        if !forward && !reverse {
            return Err(Error::new(
                ErrorKind::NotSupported,
                format!(
                    "a proxy cannot move messages between a {front_type} frontend and a {back_type} backend"
                ),
            ));
        }
        if let Some(capture) = capture {
            if !Pattern::can_send(capture.socket_type()) {
                return Err(Error::new(
                    ErrorKind::NotSupported,
                    format!(
                        "a {} socket cannot capture: it cannot send",
                        capture.socket_type()
                    ),
                ));
            }
        }
        if let Control::Socket { socket, .. } = control {
            if !Pattern::can_recv(socket.socket_type()) {
                return Err(Error::new(
                    ErrorKind::NotSupported,
                    format!(
                        "a {} socket cannot be a proxy's control socket: it cannot receive",
                        socket.socket_type()
                    ),
                ));
            }
        }
        Ok(Proxy {
            frontend,
            backend,
            capture,
            control,
            forward,
            reverse,
            paused: false,
            statistics: ProxyStatistics::default(),
        })
    }

    async fn run(mut self) -> Result<ProxyStatistics, Error> {
        self.publish();
        let mut frontend_first = true;
        loop {
            let flow = match self.next_event(frontend_first).await? {
                Event::Command(command) => self.obey(command),
                Event::Message(side, msg) => {
                    // Fairness: the side that did not just move goes first next time.
                    frontend_first = side == Side::Backend;
                    self.forward_burst(side, msg).await?
                }
            };
            if flow == Flow::Terminate {
                return Ok(self.statistics);
            }
        }
    }

    /// Wait for a command or (unless paused) a message from an open direction. The control comes
    /// first, then the two sides in the given order.
    async fn next_event(&self, frontend_first: bool) -> Result<Event, Error> {
        let listen = !self.paused;
        let mut command = pin!(self.control.next_command(self.paused));
        let mut front = pin!((listen && self.forward).then(|| self.frontend.recv()));
        let mut back = pin!((listen && self.reverse).then(|| self.backend.recv()));
        let order = if frontend_first {
            [Side::Frontend, Side::Backend]
        } else {
            [Side::Backend, Side::Frontend]
        };
        poll_fn(|cx| {
            if let Poll::Ready(command) = command.as_mut().poll(cx) {
                return Poll::Ready(command.map(Event::Command));
            }
            for side in order {
                let recv = match side {
                    Side::Frontend => front.as_mut().as_pin_mut(),
                    Side::Backend => back.as_mut().as_pin_mut(),
                };
                if let Some(recv) = recv {
                    if let Poll::Ready(msg) = recv.poll(cx) {
                        return Poll::Ready(msg.map(|m| Event::Message(side, m)));
                    }
                }
            }
            Poll::Pending
        })
        .await
    }

    /// Move `first` and then whatever else `side` has waiting, up to a burst.
    async fn forward_burst(&mut self, side: Side, first: Message) -> Result<Flow, Error> {
        let source = match side {
            Side::Frontend => self.frontend,
            Side::Backend => self.backend,
        };
        let mut msg = first;
        let mut moved = 0;
        loop {
            if self.forward_one(side, msg).await? == Flow::Terminate {
                return Ok(Flow::Terminate);
            }
            moved += 1;
            if self.paused || self.control.interrupts() {
                return Ok(Flow::Continue);
            }
            if moved == BURST {
                // A whole burst came without waiting: let the shard's other tasks run.
                yield_now().await;
                return Ok(Flow::Continue);
            }
            match source.try_recv()? {
                Some(next) => msg = next,
                None => return Ok(Flow::Continue),
            }
        }
    }

    /// Copy `msg` to the capture socket and send it on, waiting for room while obeying commands.
    async fn forward_one(&mut self, side: Side, msg: Message) -> Result<Flow, Error> {
        let destination = match side {
            Side::Frontend => self.backend,
            Side::Backend => self.frontend,
        };
        let bytes = msg.size() as u64;
        self.count(side, bytes, true);
        if let Some(capture) = self.capture {
            match capture.try_send(msg.clone()) {
                Ok(()) => {}
                Err(SendError::Full(_)) => {
                    tracing::trace!("proxy: capture socket full, copy dropped");
                }
                Err(SendError::Failed(e, _)) => return Err(e),
            }
        }
        let msg = match destination.try_send(msg) {
            Ok(()) => {
                self.count(side, bytes, false);
                return Ok(Flow::Continue);
            }
            Err(SendError::Full(msg)) => msg,
            Err(SendError::Failed(e, _)) => return Err(e),
        };
        // The destination is at its high-water mark: wait for room, obeying commands meanwhile.
        let mut send = pin!(destination.send(msg));
        loop {
            let event = {
                let mut command = pin!(self.control.next_command(self.paused));
                poll_fn(|cx| {
                    if let Poll::Ready(command) = command.as_mut().poll(cx) {
                        return Poll::Ready(Err(command));
                    }
                    send.as_mut().poll(cx).map(Ok)
                })
                .await
            };
            match event {
                Ok(sent) => {
                    sent?;
                    self.count(side, bytes, false);
                    return Ok(Flow::Continue);
                }
                Err(command) => {
                    if self.obey(command?) == Flow::Terminate {
                        return Ok(Flow::Terminate);
                    }
                }
            }
        }
    }

    fn obey(&mut self, command: Command) -> Flow {
        match command {
            Command::Pause => {
                self.paused = true;
                self.acknowledge();
                Flow::Continue
            }
            Command::Resume => {
                self.paused = false;
                self.acknowledge();
                Flow::Continue
            }
            Command::Terminate => {
                self.acknowledge();
                Flow::Terminate
            }
            Command::Statistics => {
                self.reply(self.statistics.to_message());
                Flow::Continue
            }
            Command::Unknown(msg) => {
                tracing::debug!(
                    frames = msg.len(),
                    bytes = msg.size(),
                    "proxy: unknown control command ignored"
                );
                self.acknowledge();
                Flow::Continue
            }
        }
    }

    /// The empty reply a REP control socket owes for a command without other answer.
    fn acknowledge(&self) {
        if let Control::Socket {
            acknowledges: true, ..
        } = self.control
        {
            self.reply(Message::single(Bytes::new()));
        }
    }

    fn reply(&self, msg: Message) {
        if let Control::Socket { socket, .. } = self.control {
            if let Err(e) = socket.try_send(msg) {
                tracing::debug!(error = %e, "proxy: control reply dropped");
            }
        }
    }

    /// Count a message of `bytes` taken from (`incoming`) or sent to the other socket for a
    /// message coming from `side`.
    fn count(&mut self, side: Side, bytes: u64, incoming: bool) {
        let s = &mut self.statistics;
        let (messages, total) = match (side, incoming) {
            (Side::Frontend, true) => (&mut s.frontend_messages_in, &mut s.frontend_bytes_in),
            (Side::Frontend, false) => (&mut s.backend_messages_out, &mut s.backend_bytes_out),
            (Side::Backend, true) => (&mut s.backend_messages_in, &mut s.backend_bytes_in),
            (Side::Backend, false) => (&mut s.frontend_messages_out, &mut s.frontend_bytes_out),
        };
        *messages = messages.wrapping_add(1);
        *total = total.wrapping_add(bytes);
        self.publish();
    }

    /// Make the counters visible through the handle, if one steers this run. Relaxed stores by
    /// the only writer: plain moves, no read-modify-write on the message path.
    fn publish(&self) {
        if let Control::Handle(shared) = self.control {
            for (slot, value) in shared.counters.iter().zip(self.statistics.to_array()) {
                slot.store(value, Ordering::Relaxed);
            }
        }
    }
}

/// Return to the shard's run queue once.
async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_round_trip_through_a_reply() {
        let stats = ProxyStatistics::from_array([1, 2, 3, 4, 5, 6, 7, u64::MAX]);
        let reply = stats.to_message();
        assert_eq!(reply.len(), 8);
        assert!(reply.frames().iter().all(|f| f.len() == 8));
        assert_eq!(reply.frames()[7][..], u64::MAX.to_ne_bytes());
        assert_eq!(ProxyStatistics::from_message(&reply), Some(stats));
        assert_eq!(stats.to_array(), [1, 2, 3, 4, 5, 6, 7, u64::MAX]);
    }

    #[test]
    fn malformed_statistics_replies_are_refused() {
        assert_eq!(
            ProxyStatistics::from_message(&Message::single("STATISTICS")),
            None
        );
        let mut short = ProxyStatistics::default().to_message();
        short.push(Bytes::new());
        assert_eq!(ProxyStatistics::from_message(&short), None);
        let odd = Message::from_frames((0..8).map(|i| vec![0u8; i]));
        assert_eq!(ProxyStatistics::from_message(&odd), None);
    }

    #[test]
    fn commands_parse_exactly() {
        assert!(matches!(
            Command::parse(Message::single("PAUSE")),
            Command::Pause
        ));
        assert!(matches!(
            Command::parse(Message::single("STATISTICS")),
            Command::Statistics
        ));
        assert!(matches!(
            Command::parse(Message::single("pause")),
            Command::Unknown(_)
        ));
        assert!(matches!(
            Command::parse(Message::from_frames(["TERMINATE", ""])),
            Command::Unknown(_)
        ));
    }

    #[test]
    fn control_handle_is_shareable_across_threads() {
        fn shareable<T: Clone + Send + Sync + 'static>() {}
        shareable::<ProxyControl>();
    }

    #[test]
    fn handle_states_become_commands() {
        let control = ProxyControl::new();
        let shared = &control.shared;
        assert!(shared.command(false).is_none());
        control.resume();
        assert!(shared.command(false).is_none());
        control.pause();
        assert!(matches!(shared.command(false), Some(Command::Pause)));
        assert!(shared.command(true).is_none());
        control.resume();
        assert!(matches!(shared.command(true), Some(Command::Resume)));
        control.terminate();
        control.resume();
        control.pause();
        assert!(matches!(shared.command(true), Some(Command::Terminate)));
        assert!(matches!(shared.command(false), Some(Command::Terminate)));
    }
}
