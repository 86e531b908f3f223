//! A socket hosted on its shard for handles that live elsewhere: the blocking handle
//! ([`super::BlockingSocket`]) and the any-executor async handle ([`super::AsyncSocket`]) share
//! this. The socket itself stays on its shard; each message crosses one bounded lock-free queue
//! per direction (the [`Bridge`]), moved by a pump task on the shard that batches what it finds.
//!
//! Who waits, and how they are woken: a blocking thread parks on the bridge's [`ThreadParker`];
//! async tasks leave their waker in a [`WaitList`]; a foreign event loop watches the
//! [`ReadinessFd`]. The pump signals all three after each batch that made progress, and the
//! application side wakes the pump when it takes from a full queue or adds to an empty one.

use std::cell::RefCell;
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use arc_swap::ArcSwapOption;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use atomic_waker::AtomicWaker;
use crossbeam_queue::ArrayQueue;
use ringmq_patterns::Pattern;
use ringmq_transports::{Message, SocketType};
use slab::Slab;

use super::core::{killable, Core};
use super::credit::Credit;
use super::poll::PollEvents;
use super::{close_core, Socket};
use crate::error::{Error, ErrorKind, SendError};
use crate::park::ThreadParker;
use crate::runtime::{self, spawn_local, ShardHandle};

/// Tasks waiting for one condition (a message, room). Each waiting future owns a slot and frees
/// it when dropped, so the list is bounded by the futures alive, however many are cancelled.
#[derive(Default)]
pub(crate) struct WaitList {
    /// Whether any slot holds a waker (checked without the lock by the side that wakes).
    armed: AtomicBool,
    slots: Mutex<Slab<Option<Waker>>>,
}

impl WaitList {
    /// Leave `waker` in the slot `key` (allocated on first use). The caller checks its condition
    /// again afterwards: a wake between its first check and this call is then not lost.
    pub(crate) fn register(&self, key: &mut Option<usize>, waker: &Waker) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        match key.and_then(|k| slots.get_mut(k)) {
            Some(Some(w)) if w.will_wake(waker) => {}
            Some(slot) => *slot = Some(waker.clone()),
            None => *key = Some(slots.insert(Some(waker.clone()))),
        }
        self.armed.store(true, Ordering::SeqCst);
        drop(slots);
        fence(Ordering::SeqCst);
    }

    /// Free the slot `key` (the waiting future is gone).
    pub(crate) fn unregister(&self, key: &mut Option<usize>) {
        if let Some(k) = key.take() {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.try_remove(k);
        }
    }

    /// Wake every waiting task (after making the condition true).
    pub(crate) fn wake_all(&self) {
        fence(Ordering::SeqCst);
        if !self.armed.load(Ordering::SeqCst) {
            return;
        }
        let wakers: Vec<Waker> = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            self.armed.store(false, Ordering::SeqCst);
            slots.iter_mut().filter_map(|(_, w)| w.take()).collect()
        };
        for w in wakers {
            w.wake();
        }
    }
}

/// The readiness descriptor of a hosted socket, for foreign event loops (libzmq's `ZMQ_FD`): an
/// eventfd that becomes readable when the socket may have become readable or writable.
///
/// The contract, as libzmq's: the descriptor signals a change, not a state. After it becomes
/// readable, call `events()` (which clears it) and then receive (or send) until that returns
/// nothing (or `Full`); only then wait on the descriptor again. A signal may be spurious, and
/// nothing is signalled for messages that were already waiting when `events()` last ran and that
/// it reported.
pub(crate) struct ReadinessFd {
    fd: OwnedFd,
    /// A signal is pending in the eventfd (at most one write until `events()` clears it).
    signalled: AtomicBool,
}

impl ReadinessFd {
    fn new() -> Result<ReadinessFd, Error> {
        // SAFETY: eventfd(2) with valid flags; the result is checked below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(Error::io(
                "creating the readiness eventfd",
                std::io::Error::last_os_error(),
            ));
        }
        Ok(ReadinessFd {
            // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            signalled: AtomicBool::new(false),
        })
    }

    fn signal(&self) {
        if !self.signalled.swap(true, Ordering::SeqCst) {
            let one: u64 = 1;
            // SAFETY: writing 8 bytes from a live u64 to an eventfd we own. A full counter
            // (EAGAIN) already means "readable", so the result needs no handling.
            let _ = unsafe {
                libc::write(
                    self.fd.as_raw_fd(),
                    (&one as *const u64).cast(),
                    std::mem::size_of::<u64>(),
                )
            };
        }
    }

    fn clear(&self) {
        let mut count: u64 = 0;
        // SAFETY: reading 8 bytes into a live u64 from a non-blocking eventfd we own; EAGAIN
        // (nothing pending) is the only expected failure and means the same as success here.
        let _ = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                (&mut count as *mut u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
        self.signalled.store(false, Ordering::SeqCst);
    }
}

/// Messages crossing between the application and the socket's shard.
pub(crate) struct Bridge {
    /// Bounded by the socket's `sndhwm` (at most [`HANDOFF_MAX`]): a sender waits, or a PUB-like type drops
    /// and counts in `dropped`, when it is full.
    pub(crate) to_shard: ArrayQueue<Message>,
    /// Bounded by `rcvhwm` (at most [`HANDOFF_MAX`]): the pump stops taking from the socket when full.
    /// Whether sends wait for a peer: PUSH, DEALER, REQ and PAIR with no peer at all refuse
    /// (libzmq's `EAGAIN`), the others do not look.
    needs_peer: bool,
    /// Whether the socket has a peer to send to (kept by the core, see `Core::on_routable`).
    pub(crate) routable: AtomicBool,
    /// The credit of the socket's only peer, an inproc one, under `exact_inproc_hwm` (kept by
    /// the core, see `Core::on_credit`); `has_credit` says whether there is one without a lock.
    credit: ArcSwapOption<Credit>,
    has_credit: AtomicBool,
    pub(crate) from_shard: ArrayQueue<Message>,
    pub(crate) pump: AtomicWaker,
    /// The pump found nothing to do and waits: only then does a new message wake it (a pump
    /// that is running sees the message anyway, so waking it per message would only reschedule
    /// it).
    pub(crate) pump_asleep: AtomicBool,
    pub(crate) pump_wants_room: AtomicBool,
    /// The socket holds received messages the hand-off queue had no room for: set by the pump
    /// when it stops at a full queue, cleared (with a wake-up of the application) once it finds
    /// the socket empty. A receive that must not wait (`try_recv`) waits for those rather than
    /// say there is nothing, as a libzmq socket would hand them out at once.
    pub(crate) socket_has_more: AtomicBool,
    /// The pump holds a message the socket refused (peers at HWM): not yet handed over.
    pub(crate) pump_holding: AtomicBool,
    /// Messages a non-blocking type (PUB...) dropped because the hand-off queue was full, and
    /// their bytes.
    pub(crate) dropped: AtomicU64,
    pub(crate) dropped_bytes: AtomicU64,
    /// The application thread blocked on this socket, if any.
    pub(crate) app: ThreadParker,
    /// Async tasks waiting for a message.
    pub(crate) receivers: WaitList,
    /// Async tasks waiting for room.
    pub(crate) senders: WaitList,
    /// Created on first use.
    readiness: OnceLock<ReadinessFd>,
    pub(crate) closed: AtomicBool,
    /// REQ: requests the application handed over. The pump takes replies from the socket only
    /// while it has passed on as many, so a reply to an older request that arrives while a newer
    /// one is still in the hand-off is judged (and dropped) by the socket against the newer one.
    pub(crate) requests_pushed: AtomicU64,
}

/// The most messages a handle's hand-off queue holds each way, whatever the HWM: as many as an
/// inproc channel. Its slots are allocated with the socket (about 100 bytes each), so only a
/// socket whose HWM asks for this many pays for them; below it a burst of up to a whole HWM is
/// taken without a drop (libzmq's test_hwm_pubsub sends 9 999 at once with an HWM of 11 024).
pub(crate) const HANDOFF_MAX: usize = 65_536;

impl Bridge {
    fn new(options: &super::Options, blocks_at_hwm: bool, needs_peer: bool) -> Bridge {
        // Bounded by the HWM, at most HANDOFF_MAX (0, no HWM: HANDOFF_MAX). A type that waits at its HWM keeps
        // one message in the pump while the socket is full, so its queue holds one less (but at
        // least one) and a handle buffers at most twice its sndhwm (3 with sndhwm 1); a type that drops (PUB, XPUB, ROUTER) holds a
        // whole sndhwm, so a burst of sndhwm messages is never dropped here.
        let cap = |hwm: usize| {
            if hwm == 0 {
                HANDOFF_MAX
            } else {
                hwm.clamp(1, HANDOFF_MAX)
            }
        };
        let to_shard = match options.sndhwm {
            0 => HANDOFF_MAX,
            hwm if blocks_at_hwm => cap(hwm.saturating_sub(1).max(1)),
            hwm => cap(hwm),
        };
        Bridge {
            needs_peer,
            routable: AtomicBool::new(false),
            credit: ArcSwapOption::empty(),
            has_credit: AtomicBool::new(false),
            to_shard: ArrayQueue::new(to_shard),
            // A conflating socket keeps its newest message in the core; the hand-off holds one.
            from_shard: ArrayQueue::new(if options.conflate {
                1
            } else {
                cap(options.rcvhwm)
            }),
            pump: AtomicWaker::new(),
            pump_asleep: AtomicBool::new(false),
            pump_wants_room: AtomicBool::new(false),
            socket_has_more: AtomicBool::new(false),
            pump_holding: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            dropped_bytes: AtomicU64::new(0),
            app: ThreadParker::new(),
            receivers: WaitList::default(),
            senders: WaitList::default(),
            readiness: OnceLock::new(),
            closed: AtomicBool::new(false),
            requests_pushed: AtomicU64::new(0),
        }
    }

    /// Wake whoever waits on the application side (after the pump made progress or closed).
    pub(crate) fn notify_app(&self) {
        self.app.unpark();
        self.receivers.wake_all();
        self.senders.wake_all();
        if let Some(r) = self.readiness.get() {
            r.signal();
        }
    }

    /// Whether a send can be handed over now: room in the hand-off queue, and a peer to send to
    /// for the types that wait for one.
    pub(crate) fn has_room(&self) -> bool {
        !self.to_shard.is_full()
            && (!self.needs_peer || self.routable.load(Ordering::SeqCst))
            && (!self.has_credit()
                || self
                    .credit
                    .load()
                    .as_ref()
                    .is_none_or(|c| c.available() || c.wait_for_credit()))
    }

    /// Whether the socket counts the credit of an only, inproc peer now (see the field).
    pub(crate) fn has_credit(&self) -> bool {
        self.has_credit.load(Ordering::Relaxed)
    }

    /// The core's report of the only peer's credit (or that there is none now). Only the
    /// socket's shard calls it.
    fn set_credit(self: &Arc<Self>, credit: Option<Arc<Credit>>) {
        let same = match (&*self.credit.load(), &credit) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if same {
            return;
        }
        if let Some(c) = &credit {
            c.set_sender(self);
        }
        self.has_credit.store(credit.is_some(), Ordering::SeqCst);
        self.credit.store(credit);
        self.notify_app();
    }

    /// Wait until `ready` holds, the bridge closes, or `deadline` passes (blocking threads).
    pub(crate) fn wait(&self, deadline: Option<Instant>, mut ready: impl FnMut() -> bool) -> bool {
        // A short spin first: a reply often arrives within microseconds.
        for _ in 0..200 {
            if ready() {
                return true;
            }
            std::hint::spin_loop();
        }
        // Park in slices, so a wake-up lost to a bug costs latency, never a hang.
        self.app
            .wait_until(deadline, Duration::from_millis(100), ready, || {
                self.closed.load(Ordering::SeqCst)
            })
    }

    /// Take a received message, waking the pump if it waits for room.
    pub(crate) fn pop(&self) -> Option<Message> {
        let mut m = self.from_shard.pop()?;
        // The application has it: its inproc credit goes back to the sender (see `credit`).
        drop(m.take_guard());
        // A load first: the flag is rarely set, and a read-modify-write per message would move
        // its cache line between the threads every time.
        fence(Ordering::SeqCst);
        if self.pump_wants_room.load(Ordering::Relaxed)
            && self.pump_wants_room.swap(false, Ordering::SeqCst)
        {
            self.pump.wake();
        }
        Some(m)
    }

    /// Hand a message to the pump, or give it back when the queue is full.
    pub(crate) fn push(&self, msg: Message) -> Result<(), Message> {
        self.to_shard.push(msg)?;
        // Pairs with the pump's store of `pump_asleep` and its look at the queue after it.
        fence(Ordering::SeqCst);
        if self.pump_asleep.load(Ordering::Relaxed)
            && self.pump_asleep.swap(false, Ordering::SeqCst)
        {
            self.pump.wake();
        }
        Ok(())
    }

    /// The readiness descriptor (created on first call).
    pub(crate) fn readiness_fd(&self) -> Result<RawFd, Error> {
        if let Some(r) = self.readiness.get() {
            return Ok(r.fd.as_raw_fd());
        }
        let fresh = ReadinessFd::new()?;
        let r = self.readiness.get_or_init(|| fresh);
        // Whatever was already there is news to a loop that starts watching now.
        r.signal();
        Ok(r.fd.as_raw_fd())
    }

    /// Clear the readiness descriptor and say what the socket can do now without waiting.
    pub(crate) fn events(&self) -> PollEvents {
        if let Some(r) = self.readiness.get() {
            r.clear();
        }
        fence(Ordering::SeqCst);
        PollEvents {
            readable: !self.from_shard.is_empty() || self.socket_has_more.load(Ordering::SeqCst),
            writable: self.has_room() && !self.closed.load(Ordering::SeqCst),
        }
    }
}

/// A socket's readiness descriptor, owned: it stays open while this value lives, even if the
/// socket closes meanwhile, so it can be registered with an event loop (e.g. tokio's `AsyncFd`)
/// for as long as the registration lasts. See [`super::AsyncSocket::readiness`] for the
/// contract.
pub struct Readiness {
    bridge: Arc<Bridge>,
}

impl Readiness {
    pub(crate) fn new(bridge: &Arc<Bridge>) -> Result<Readiness, Error> {
        bridge.readiness_fd()?;
        Ok(Readiness {
            bridge: bridge.clone(),
        })
    }

    fn fd(&self) -> &OwnedFd {
        &self
            .bridge
            .readiness
            .get()
            .expect("created before a Readiness is made")
            .fd
    }

    /// Clear the descriptor and say what the socket can do now (as the socket's `events()`).
    pub fn events(&self) -> PollEvents {
        self.bridge.events()
    }
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Readiness").field(&self.as_raw_fd()).finish()
    }
}

impl AsRawFd for Readiness {
    fn as_raw_fd(&self) -> RawFd {
        self.fd().as_raw_fd()
    }
}

impl AsFd for Readiness {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd().as_fd()
    }
}

static NEXT_SOCKET_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The sockets of blocking and async handles, on their shard.
    static HOSTED: RefCell<HashMap<u64, Socket>> = RefCell::new(HashMap::new());
    /// Their bridges (for shutdown, which closes them without their handles).
    static BRIDGES: RefCell<HashMap<u64, Arc<Bridge>>> = RefCell::new(HashMap::new());
}

/// Run `f` with the hosted socket `id`, on its shard.
pub(crate) fn with_hosted<R>(
    id: u64,
    f: impl FnOnce(&Socket) -> Result<R, Error>,
) -> Result<R, Error> {
    HOSTED.with(|h| match h.borrow().get(&id) {
        Some(s) => f(s),
        None => Err(Error::new(ErrorKind::Closed, "socket is closed")),
    })
}

/// The hosted socket's core, for work that awaits on the shard.
pub(crate) fn hosted_core(id: u64) -> Result<Rc<RefCell<Core>>, Error> {
    with_hosted(id, |s| Ok(s.core.clone()))
}

/// Every hosted socket of this shard (shutdown).
pub(crate) fn hosted_ids() -> Vec<u64> {
    HOSTED.with(|h| h.borrow().keys().copied().collect())
}

/// What a handle keeps of its hosted socket.
pub(crate) struct Hosted {
    pub(crate) shard: ShardHandle,
    pub(crate) id: u64,
    pub(crate) bridge: Arc<Bridge>,
    pub(crate) socket_type: SocketType,
    /// ROUTER with `router_mandatory`: each send asks the shard directly, so an unroutable or
    /// full peer is reported to the caller (slower than the queued hand-off). Kept up to date by
    /// [`Hosted::options_changed`]: libzmq lets `ZMQ_ROUTER_MANDATORY` change at any time.
    synchronous_send: AtomicBool,
    /// Whether the socket type makes senders wait at the HWM (PUSH, DEALER, REQ, PAIR) or drops.
    /// Whether a full hand-off queue refuses (`Full`) instead of dropping: PUSH-like types, a
    /// ROUTER under `router_mandatory`, and a PUB or XPUB with `xpub_nodrop` (kept up to date by
    /// [`Hosted::options_changed`]).
    blocks_at_hwm: AtomicBool,
    pub(crate) req_relaxed: bool,
}

impl Hosted {
    /// Create a socket of `socket_type` on `shard`, with its pump.
    pub(crate) fn new(
        shard: &ShardHandle,
        socket_type: SocketType,
        options: super::Options,
    ) -> Result<Hosted, Error> {
        let synchronous_send = socket_type == SocketType::Router && options.router_mandatory;
        // A NODROP publisher waits at its subscribers' HWM like a PUSH does.
        let load_balances = Pattern::of(socket_type).is_some_and(|p| p.blocks_at_hwm());
        let blocks_at_hwm = load_balances
            || synchronous_send
            || (options.xpub_nodrop && matches!(socket_type, SocketType::Pub | SocketType::XPub));
        let needs_peer = load_balances && !synchronous_send;
        let bridge = Arc::new(Bridge::new(&options, blocks_at_hwm, needs_peer));
        let id = NEXT_SOCKET_ID.fetch_add(1, Ordering::Relaxed);
        let req_relaxed = options.req_relaxed;
        let b = bridge.clone();
        let b2 = bridge.clone();
        shard.call(move || -> Result<(), Error> {
            let socket = Socket::with_options(socket_type, options)?;
            let core = socket.core.clone();
            let reported = b.clone();
            core.borrow_mut().on_routable = Some(Box::new(move |routable| {
                if reported.routable.swap(routable, Ordering::SeqCst) != routable {
                    reported.notify_app();
                }
            }));
            let reported = b.clone();
            core.borrow_mut().on_credit = Some(Box::new(move |credit| {
                reported.set_credit(credit);
            }));
            core.borrow().routable_changed();
            let kill = core.borrow().kill.clone();
            spawn_local(async move {
                killable(kill, pump(core, b.clone())).await;
                b.closed.store(true, Ordering::SeqCst);
                b.notify_app();
            })
            .detach();
            HOSTED.with(|h| h.borrow_mut().insert(id, socket));
            BRIDGES.with(|h| h.borrow_mut().insert(id, b2));
            Ok(())
        })??;
        Ok(Hosted {
            shard: shard.clone(),
            id,
            bridge,
            socket_type,
            synchronous_send: AtomicBool::new(synchronous_send),
            blocks_at_hwm: AtomicBool::new(blocks_at_hwm),
            req_relaxed,
        })
    }

    /// See the field.
    pub(crate) fn blocks_at_hwm(&self) -> bool {
        self.blocks_at_hwm.load(Ordering::Relaxed)
    }

    /// See the field.
    pub(crate) fn synchronous_send(&self) -> bool {
        self.synchronous_send.load(Ordering::Relaxed)
    }

    /// The socket's options were replaced: a PUB or XPUB that turned `xpub_nodrop` on or off
    /// now waits at its HWM, or drops, accordingly; a ROUTER that turned `router_mandatory` on
    /// or off now has each send decided on the shard, or queued.
    pub(crate) fn options_changed(&self, options: &super::Options) {
        if matches!(self.socket_type, SocketType::Pub | SocketType::XPub) {
            self.blocks_at_hwm
                .store(options.xpub_nodrop, Ordering::Relaxed);
        }
        if self.socket_type == SocketType::Router {
            self.synchronous_send
                .store(options.router_mandatory, Ordering::Relaxed);
            self.blocks_at_hwm
                .store(options.router_mandatory, Ordering::Relaxed);
        }
    }

    /// ROUTER: whether the peer with `routing_id` would take a message now (see
    /// [`super::BlockingSocket::peer_state`]).
    pub(crate) fn peer_state(&self, routing_id: &[u8]) -> Result<Option<bool>, Error> {
        let id = self.id;
        let routing_id = routing_id.to_vec();
        self.shard
            .call(move || hosted_core(id).map(|core| core.borrow().peer_state(&routing_id)))?
    }

    /// Run `f` on the shard with the socket, blocking the caller.
    pub(crate) fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Socket) -> Result<R, Error> + Send + 'static,
    ) -> Result<R, Error> {
        let id = self.id;
        self.shard.call(move || with_hosted(id, f))?
    }

    /// Run `f` on the shard with the socket; the future resolves with its answer. No thread
    /// blocks.
    pub(crate) async fn call_async<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Socket) -> Result<R, Error> + Send + 'static,
    ) -> Result<R, Error> {
        let id = self.id;
        let (tx, rx) = futures_channel::oneshot::channel();
        self.shard.call_async(move || {
            let _ = tx.send(with_hosted(id, f));
        })?;
        rx.await
            .map_err(|_| Error::new(ErrorKind::Closed, "the shard stopped"))?
    }

    /// Run the future `f` makes from the socket's core on the shard; resolves with its output.
    pub(crate) async fn spawn_async<R, Fut>(
        &self,
        f: impl FnOnce(Rc<RefCell<Core>>) -> Fut + Send + 'static,
    ) -> Result<R, Error>
    where
        Fut: std::future::Future<Output = Result<R, Error>> + 'static,
        R: Send + 'static,
    {
        let id = self.id;
        let (tx, rx) = futures_channel::oneshot::channel();
        self.shard.call_async(move || match hosted_core(id) {
            Ok(core) => spawn_local(async move {
                let _ = tx.send(f(core).await);
            })
            .detach(),
            Err(e) => {
                let _ = tx.send(Err(e));
            }
        })?;
        rx.await
            .map_err(|_| Error::new(ErrorKind::Closed, "the shard stopped"))?
    }

    /// `unbind(endpoint)` on the shard, after what the application handed over before the call
    /// reached the socket (so it is routed as it would have been before).
    pub(crate) async fn unbind(&self, endpoint: &str) -> Result<(), Error> {
        let endpoint = endpoint.to_owned();
        let bridge = self.bridge.clone();
        self.spawn_async(move |core| async move {
            settle(&bridge).await;
            super::unbind_core(&core, &endpoint).await
        })
        .await
    }

    /// Stop the socket's tcp and ipc listeners on the shard (see [`super::stop_listening`]).
    pub(crate) async fn stop_listening(&self) -> Result<(), Error> {
        self.spawn_async(move |core| async move {
            super::stop_listening(&core).await;
            Ok(())
        })
        .await
    }

    /// `disconnect(endpoint)` on the shard, after what was handed over before (see `unbind`).
    pub(crate) async fn disconnect(&self, endpoint: &str) -> Result<(), Error> {
        let endpoint = endpoint.to_owned();
        let bridge = self.bridge.clone();
        self.spawn_async(move |core| async move {
            settle(&bridge).await;
            super::disconnect_released(&core, &endpoint).await
        })
        .await
    }

    /// The checks every send makes before the message leaves the caller.
    pub(crate) fn check_send(&self, msg: Message) -> Result<Message, SendError> {
        if !Pattern::can_send(self.socket_type) {
            return Err(SendError::Failed(
                Error::new(
                    ErrorKind::NotSupported,
                    format!("{} sockets cannot send", self.socket_type),
                ),
                msg,
            ));
        }
        if msg.is_empty() {
            return Err(SendError::Failed(
                Error::new(
                    ErrorKind::InvalidOption,
                    "a message needs at least one frame",
                ),
                msg,
            ));
        }
        Ok(msg)
    }

    /// Hand `msg` over without waiting. `Err(Full)` when the hand-off queue is full and the type
    /// waits at its HWM; a PUB-like type drops and counts instead.
    pub(crate) fn try_push(&self, msg: Message) -> Result<(), SendError> {
        if self.bridge.closed.load(Ordering::SeqCst) {
            return Err(SendError::Failed(
                Error::new(ErrorKind::Closed, "socket is closed"),
                msg,
            ));
        }
        if self.bridge.needs_peer && !self.bridge.routable.load(Ordering::SeqCst) {
            return Err(SendError::Full(msg));
        }
        if self.socket_type == SocketType::Req {
            return self.push_request(msg);
        }
        let mut msg = msg;
        let credit = self.bridge.has_credit().then(|| self.bridge.credit.load());
        let credit = credit.as_ref().and_then(|c| c.as_ref());
        if credit.is_some_and(|c| !c.grant(&mut msg)) {
            if self.blocks_at_hwm() {
                return Err(SendError::Full(msg));
            }
            // A PUB-like type drops at its only subscriber's HWM.
            self.bridge.dropped.fetch_add(1, Ordering::Relaxed);
            self.bridge
                .dropped_bytes
                .fetch_add(msg.size() as u64, Ordering::Relaxed);
            return Ok(());
        }
        match self.bridge.push(msg) {
            Ok(()) => Ok(()),
            Err(mut msg) if self.blocks_at_hwm() => {
                if let Some(c) = credit {
                    c.revoke(&mut msg);
                }
                Err(SendError::Full(msg))
            }
            Err(msg) => {
                // PUB-like types never block: a full hand-off queue is their HWM, so drop.
                self.bridge.dropped.fetch_add(1, Ordering::Relaxed);
                self.bridge
                    .dropped_bytes
                    .fetch_add(msg.size() as u64, Ordering::Relaxed);
                Ok(())
            }
        }
    }

    /// REQ: a new request makes every reply already handed over stale (they answer earlier
    /// requests; libzmq's REQ discards them too). Counted before the push so that the pump, which
    /// holds replies back while a request is on its way, cannot pass one on in between.
    fn push_request(&self, msg: Message) -> Result<(), SendError> {
        self.bridge.requests_pushed.fetch_add(1, Ordering::SeqCst);
        while self.bridge.pop().is_some() {}
        match self.bridge.push(msg) {
            Ok(()) => Ok(()),
            Err(msg) => {
                self.bridge.requests_pushed.fetch_sub(1, Ordering::SeqCst);
                Err(SendError::Full(msg))
            }
        }
    }

    /// A received message if one is waiting; `Err(Closed)` once the socket closed and nothing is
    /// left.
    pub(crate) fn try_pop(&self) -> Result<Option<Message>, Error> {
        if let Some(m) = self.bridge.pop() {
            return Ok(Some(m));
        }
        if self.bridge.closed.load(Ordering::SeqCst) {
            // A last message may have arrived just before the close.
            return match self.bridge.pop() {
                Some(m) => Ok(Some(m)),
                None => Err(Error::new(ErrorKind::Closed, "socket is closed")),
            };
        }
        Ok(None)
    }

    /// Poll for a received message, leaving `cx`'s waker in slot `key` when there is none.
    pub(crate) fn poll_pop(
        &self,
        cx: &mut std::task::Context<'_>,
        key: &mut Option<usize>,
    ) -> Poll<Result<Message, Error>> {
        if !Pattern::can_recv(self.socket_type) {
            return Poll::Ready(Err(Error::new(
                ErrorKind::NotSupported,
                format!("{} sockets cannot receive", self.socket_type),
            )));
        }
        match self.try_pop() {
            Ok(Some(m)) => return Poll::Ready(Ok(m)),
            Err(e) => return Poll::Ready(Err(e)),
            Ok(None) => {}
        }
        self.bridge.receivers.register(key, cx.waker());
        match self.try_pop() {
            Ok(Some(m)) => Poll::Ready(Ok(m)),
            Err(e) => Poll::Ready(Err(e)),
            Ok(None) => Poll::Pending,
        }
    }

    /// Poll for room in the hand-off queue, leaving `cx`'s waker in slot `key` when full.
    pub(crate) fn poll_room(
        &self,
        cx: &mut std::task::Context<'_>,
        key: &mut Option<usize>,
    ) -> Poll<Result<(), Error>> {
        let ready = || {
            if self.bridge.closed.load(Ordering::SeqCst) {
                Some(Err(Error::new(ErrorKind::Closed, "socket is closed")))
            } else if self.bridge.has_room() || !self.blocks_at_hwm() {
                Some(Ok(()))
            } else {
                None
            }
        };
        if let Some(r) = ready() {
            return Poll::Ready(r);
        }
        self.bridge.senders.register(key, cx.waker());
        match ready() {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    }

    /// One send decided on the shard, without waiting (`router_mandatory`: the caller learns of an
    /// unroutable or full peer). Blocks the caller until the shard answers (microseconds, no I/O).
    /// The message travels in a slot, so a shard that stopped before running the call hands it
    /// back.
    pub(crate) fn try_send_on_shard(&self, msg: Message) -> Result<(), SendError> {
        let slot = Arc::new(Mutex::new(Some(msg)));
        let in_call = slot.clone();
        let id = self.id;
        let answer = self.shard.call(move || {
            let msg = in_call
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .expect("the message is in the slot until the call takes it");
            match hosted_core(id) {
                Ok(core) => core.borrow_mut().try_send(msg),
                Err(e) => Err(SendError::Failed(e, msg)),
            }
        });
        answer.unwrap_or_else(|e| {
            // The call never ran (a call that ran always answers): the slot holds the message.
            let msg = slot
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .unwrap_or_default();
            Err(SendError::Failed(e, msg))
        })
    }

    /// Send through the shard, waiting there while the peer is at its HWM (`router_mandatory`:
    /// the caller learns of an unroutable or full peer). A send cancelled after the shard took
    /// the message may still be delivered.
    pub(crate) async fn send_on_shard(&self, msg: Message) -> Result<(), Error> {
        let id = self.id;
        let (tx, rx) = futures_channel::oneshot::channel::<Result<(), Error>>();
        let slot = Arc::new(Mutex::new(Some((msg, tx))));
        let in_call = slot.clone();
        self.shard.call_async(move || {
            let Some((msg, mut tx)) = in_call.lock().unwrap_or_else(|p| p.into_inner()).take()
            else {
                return;
            };
            let core = match hosted_core(id) {
                Ok(core) => core,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            spawn_local(async move {
                let mut msg = Some(msg);
                let result = std::future::poll_fn(|cx| {
                    if tx.poll_canceled(cx).is_ready() {
                        return Poll::Ready(None);
                    }
                    let mut c = core.borrow_mut();
                    match c.try_send(msg.take().expect("present until sent")) {
                        Ok(()) => Poll::Ready(Some(Ok(()))),
                        Err(SendError::Full(m)) => {
                            msg = Some(m);
                            c.register_send(cx);
                            Poll::Pending
                        }
                        Err(SendError::Failed(e, _)) => Poll::Ready(Some(Err(e))),
                    }
                })
                .await;
                if let Some(result) = result {
                    let _ = tx.send(result);
                }
            })
            .detach();
        })?;
        rx.await
            .map_err(|_| Error::new(ErrorKind::Closed, "socket is closed"))?
    }

    /// Close the hosted socket on its shard: first every message already handed over reaches
    /// the socket (within `linger`), then the socket lingers on its queues as usual. Returns at
    /// once; the close finishes in the background.
    pub(crate) fn close(&self) {
        let id = self.id;
        let bridge = self.bridge.clone();
        let _ = self.shard.call_async(move || {
            if let Some(socket) = take_hosted(id) {
                spawn_local(close_hosted(socket, bridge, None)).detach();
            }
        });
    }
}

/// Wait (on the shard) until the pump has given the socket everything handed over, or holds a
/// message the socket refused (its peers are at their HWM), at most 100 ms.
async fn settle(bridge: &Bridge) {
    let give_up = Instant::now() + Duration::from_millis(100);
    while !bridge.to_shard.is_empty()
        && !bridge.pump_holding.load(Ordering::SeqCst)
        && Instant::now() < give_up
    {
        bridge.pump.wake();
        // Let the pump run (it is a task of this shard), then look again.
        let mut yielded = false;
        std::future::poll_fn(|cx| {
            if std::mem::replace(&mut yielded, true) {
                Poll::Ready(())
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
        .await;
    }
}

/// Messages in a bridge's hand-off queue and pump, not yet given to the socket.
pub(crate) fn handoff_len(bridge: &Bridge) -> usize {
    bridge.to_shard.len() + usize::from(bridge.pump_holding.load(Ordering::SeqCst))
}

/// [`take_hosted`], with the socket's bridge.
pub(crate) fn take_hosted_with_bridge(id: u64) -> Option<(Socket, Arc<Bridge>)> {
    let bridge = BRIDGES.with(|b| b.borrow().get(&id).cloned())?;
    take_hosted(id).map(|s| (s, bridge))
}

/// Remove hosted socket `id` from this shard's table, counting it as lingering until
/// [`close_hosted`] is done.
pub(crate) fn take_hosted(id: u64) -> Option<Socket> {
    BRIDGES.with(|b| b.borrow_mut().remove(&id));
    let mut socket = HOSTED.with(|h| h.borrow_mut().remove(&id))?;
    socket.closed = true;
    if let Some(shard) = runtime::current() {
        shard.lingering.set(shard.lingering.get() + 1);
    }
    Some(socket)
}

/// Close a socket taken with [`take_hosted`]: let the pump hand over what the application queued,
/// then close within `linger`, shortened to `deadline` when one is given (runtime shutdown).
/// Returns how many messages were still queued (in the hand-off queue and for peers) when the
/// close ended: the ones abandoned.
pub(crate) async fn close_hosted(
    socket: Socket,
    bridge: Arc<Bridge>,
    deadline: Option<Instant>,
) -> usize {
    let start = Instant::now();
    let linger = {
        let mut c = socket.core.borrow_mut();
        let linger = match (c.options.linger, deadline) {
            (Some(l), Some(d)) => Some(l.min(d.saturating_duration_since(start))),
            (None, Some(d)) => Some(d.saturating_duration_since(start)),
            (l, None) => l,
        };
        c.options.linger = linger;
        linger
    };
    let handed_over = || bridge.to_shard.is_empty() && !bridge.pump_holding.load(Ordering::SeqCst);
    // With no pipe at all (every connect over, no peer on any bind) nothing queued can go
    // anywhere: libzmq keeps only what is in a pipe across a close, so the rest is dropped
    // rather than waited on for the whole linger (a refused client's, say, whose connect
    // ended with its handshake).
    let nowhere_to_go = || socket.core.borrow().pipes.is_empty();
    while !handed_over() && !nowhere_to_go() && linger.is_none_or(|l| start.elapsed() < l) {
        runtime::sleep(Duration::from_millis(1)).await;
    }
    if let Some(l) = linger {
        socket.core.borrow_mut().options.linger = Some(l.saturating_sub(start.elapsed()));
    }
    let abandoned_in_handoff = handoff_len(&bridge);
    let abandoned = close_core(socket.core.clone()).await + abandoned_in_handoff;
    // The pump learns of the close when it next runs; the handles must know now.
    bridge.closed.store(true, Ordering::SeqCst);
    bridge.notify_app();
    if let Some(shard) = runtime::current() {
        shard.lingering.set(shard.lingering.get() - 1);
    }
    drop(socket);
    abandoned
}

/// Moves messages between a handle's queues and its socket, on the shard.
async fn pump(core: Rc<RefCell<Core>>, bridge: Arc<Bridge>) {
    let sends = Pattern::can_send(core.borrow().socket_type);
    let recvs = Pattern::can_recv(core.borrow().socket_type);
    let is_req = core.borrow().socket_type == SocketType::Req;
    // REQ: requests taken from the hand-off (see `Bridge::requests_pushed`).
    let mut requests_passed = 0u64;
    let mut stash: Option<Message> = None;
    std::future::poll_fn(|cx| {
        bridge.pump_asleep.store(false, Ordering::SeqCst);
        for _ in 0..64 {
            // Registered before looking: a consumer that makes room later wakes this poll.
            bridge.pump.register(cx.waker());
            let mut progress = false;
            let mut core = core.borrow_mut();
            if sends {
                bridge.pump_holding.store(stash.is_some(), Ordering::SeqCst);
                loop {
                    let msg = match stash.take() {
                        Some(m) => m,
                        None => match bridge.to_shard.pop() {
                            Some(m) => {
                                progress = true;
                                requests_passed += u64::from(is_req);
                                m
                            }
                            None => break,
                        },
                    };
                    match core.try_send(msg) {
                        Ok(()) => {}
                        Err(SendError::Full(m)) => {
                            stash = Some(m);
                            core.register_send(cx);
                            break;
                        }
                        Err(SendError::Failed(e, _)) => {
                            tracing::debug!(error = %e, "handed-over send failed on the shard");
                        }
                    }
                }
                bridge.pump_holding.store(stash.is_some(), Ordering::SeqCst);
            }
            // REQ: no reply while a request is still on its way to the socket.
            let request_pending = is_req
                && (stash.is_some()
                    || bridge.requests_pushed.load(Ordering::SeqCst) != requests_passed);
            if recvs && !request_pending {
                let mut delivered = false;
                loop {
                    if bridge.from_shard.is_full() {
                        bridge.socket_has_more.store(true, Ordering::SeqCst);
                        bridge.pump_wants_room.store(true, Ordering::SeqCst);
                        break;
                    }
                    match core.try_recv() {
                        Ok(Some(m)) => {
                            // Room was checked above and only this task pushes.
                            let _ = bridge.from_shard.push(m);
                            delivered = true;
                        }
                        _ => {
                            // A load first, as in `pop`: the flag is rarely set.
                            if bridge.socket_has_more.load(Ordering::Relaxed)
                                && bridge.socket_has_more.swap(false, Ordering::SeqCst)
                            {
                                // A receiver may be waiting to learn there is no more.
                                delivered = true;
                            }
                            core.register_recv(cx);
                            break;
                        }
                    }
                }
                if delivered {
                    progress = true;
                }
            }
            drop(core);
            if progress {
                bridge.notify_app();
                continue;
            }
            // Going to sleep: announce it, then look once more, so a message handed over
            // between the last look and the announcement is not left waiting.
            bridge.pump_asleep.store(true, Ordering::SeqCst);
            if sends && stash.is_none() && !bridge.to_shard.is_empty() {
                bridge.pump_asleep.store(false, Ordering::SeqCst);
                continue;
            }
            return Poll::<()>::Pending;
        }
        // Busy for a while: let the shard's other tasks run, then continue.
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}
