//! The shard-local state of one socket: its pipes (one per peer), the pattern that routes between
//! them, and the wakers of whoever waits on it. Everything here runs on the socket's shard only.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::task::{Context, Waker};

use crate::stats::Counters;
use bytes::Bytes;
use ringmq_patterns::{
    FairQueue, Identified, Pattern, PeerId, PeerView, RecvStrategy, Routing, SendPlan, SendRefusal,
    SendStrategy, Subscriptions,
};
use ringmq_transports::{Message, SocketType};
use slab::Slab;

use super::credit::Credit;
use super::options::Options;
use crate::error::{Error, ErrorKind, SendError};

/// Peer ids are small sequential integers: hash them as themselves (SipHash showed up at ~11% of
/// the 16 B PUSH/PULL profile).
#[derive(Default, Clone, Copy)]
pub(crate) struct PeerIdHasher(u64);

impl std::hash::Hasher for PeerIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n);
    }
}

pub(crate) type PipeMap = HashMap<PeerId, Pipe, std::hash::BuildHasherDefault<PeerIdHasher>>;

/// A set of wakers, each woken once.
#[derive(Default)]
pub(crate) struct Wakers(Vec<Waker>);

impl Wakers {
    pub(crate) fn register(&mut self, waker: &Waker) {
        if !self.0.iter().any(|w| w.will_wake(waker)) {
            self.0.push(waker.clone());
        }
    }
    pub(crate) fn wake_all(&mut self) {
        for w in self.0.drain(..) {
            w.wake();
        }
    }
}

/// Lets every task of a socket be stopped at once (close, shutdown).
#[derive(Default)]
pub(crate) struct KillSwitch {
    killed: Cell<bool>,
    wakers: RefCell<Slab<Waker>>,
}

impl KillSwitch {
    pub(crate) fn kill(&self) {
        self.killed.set(true);
        let wakers: Vec<Waker> = self.wakers.borrow_mut().drain().collect();
        for w in wakers {
            w.wake();
        }
    }
    pub(crate) fn is_killed(&self) -> bool {
        self.killed.get()
    }
}

impl crate::runtime::ShutdownHook for KillSwitch {
    fn shut_down(&self) {
        self.kill();
    }
}

/// Run `fut` until it finishes (`Some` of its output) or `switch` is killed (`None`).
pub(crate) async fn killable<T, F: std::future::Future<Output = T>>(
    switch: Rc<KillSwitch>,
    fut: F,
) -> Option<T> {
    struct Registration {
        switch: Rc<KillSwitch>,
        key: Cell<Option<usize>>,
    }
    impl Drop for Registration {
        fn drop(&mut self) {
            if let Some(k) = self.key.take() {
                self.switch.wakers.borrow_mut().try_remove(k);
            }
        }
    }
    let registration = Registration {
        switch,
        key: Cell::new(None),
    };
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx: &mut Context<'_>| {
        if registration.switch.is_killed() {
            return std::task::Poll::Ready(None);
        }
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(cx) {
            return std::task::Poll::Ready(Some(v));
        }
        let mut wakers = registration.switch.wakers.borrow_mut();
        match registration.key.get().and_then(|k| wakers.get_mut(k)) {
            Some(w) if w.will_wake(cx.waker()) => {}
            Some(w) => *w = cx.waker().clone(),
            None => registration
                .key
                .set(Some(wakers.insert(cx.waker().clone()))),
        }
        std::task::Poll::Pending
    })
    .await
}

/// One of a socket's binds or connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct EndpointId(u32);

/// Whether an endpoint was bound or connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndpointRole {
    Bound,
    Connected,
}

/// A bind or a connect the application made, until it unbinds or disconnects it.
pub(crate) struct EndpointEntry {
    pub(crate) id: EndpointId,
    pub(crate) role: EndpointRole,
    /// As the application wrote it (`tcp://*:0`).
    pub(crate) requested: String,
    /// As bound (`tcp://0.0.0.0:41234`); the same as `requested` for a connect.
    pub(crate) resolved: String,
    /// Stops the endpoint's accept loop, or its connection attempts.
    pub(crate) stop: Rc<KillSwitch>,
    /// A listener: closed once the accept loop has let it go (the port or file is free then).
    pub(crate) listener: Option<crate::runtime::driver::WeakIoFd>,
    /// An inproc bind: the name to forget.
    pub(crate) inproc_name: Option<String>,
}

/// One peer of a socket: its queues and what we know about it.
pub(crate) struct Pipe {
    /// Messages for the peer; the application fills it, up to `sndhwm`.
    pub(crate) outq: VecDeque<Message>,
    /// Messages from the peer: the connection stops reading at `rcvhwm` (and while the
    /// runtime's inbound budget is spent), each message at most `max_msg_size`.
    pub(crate) inq: VecDeque<Message>,
    /// Wakes the connection driver (new outgoing message, room in `inq`).
    pub(crate) driver_waker: Option<Waker>,
    /// The handshake completed on the current connection.
    pub(crate) connected: bool,
    /// The pipe outlives its connections (connect side) and queues while disconnected.
    pub(crate) persistent: bool,
    /// The connection ended; remove once `inq` is drained.
    pub(crate) dead: bool,
    /// What the peer subscribed to (PUB side): at most `max_subscriptions` distinct prefixes.
    /// Under `xpub_manual`, what the application applied for it instead.
    pub(crate) peer_subscriptions: Subscriptions,
    /// The link's credit (an inproc pipe under `exact_inproc_hwm`), see [`Credit`].
    pub(crate) credit: Option<std::sync::Arc<Credit>>,
    /// `xpub_manual`: what the peer asked for, whose cancels the application is handed when
    /// the peer leaves (as libzmq does), at most `max_subscriptions` distinct prefixes.
    pub(crate) peer_requests: Subscriptions,
    /// Subscriptions to send to the peer (SUB side): (topic, subscribe?).
    pub(crate) subscription_commands: VecDeque<(Bytes, bool)>,
    /// Messages received from the peer, counted.
    pub(crate) received: u64,
    /// Properties attached to the peer's messages (`User-Id`, `Peer-Address`).
    pub(crate) properties: Option<std::sync::Arc<ringmq_transports::Metadata>>,
    /// ROUTER: the peer's routing id, kept with the pipe so messages that arrived before a
    /// disconnect are still delivered with it.
    pub(crate) routing_id: Option<Bytes>,
    /// Closed to make room for newer connections in the handshake (`max_handshakes`).
    pub(crate) evicted: bool,
    /// Counted in `Core::established` (an accepted peer whose handshake completed).
    pub(crate) established: bool,
    /// The bind or connect this pipe came from (`unbind` / `disconnect` close it).
    pub(crate) endpoint: Option<EndpointId>,
    /// A connection task drives this pipe now.
    pub(crate) live: bool,
    /// `unbind` / `disconnect` asked this pipe to go: its connection writes what is queued and
    /// closes, at the latest at `leave_deadline` (the socket's linger; `None`: no limit).
    pub(crate) leaving: bool,
    pub(crate) leave_deadline: Option<std::time::Instant>,
    /// The routing id a ROUTER gives the peer of this connect (`ZMQ_CONNECT_ROUTING_ID`),
    /// instead of the one the peer names or a generated one.
    pub(crate) connect_routing_id: Option<Bytes>,
    /// Bytes of the messages in `inq`, counted against the runtime's inbound budget.
    pub(crate) inq_bytes: usize,
    /// XPUB: this peer's own messages waiting in the socket's `xpub_inbox` (bounded by
    /// `rcvhwm`, as `inq` is elsewhere).
    pub(crate) xpub_held: usize,
    /// The connection stopped reading because the runtime's inbound budget is spent (woken when
    /// the application takes one of this pipe's messages).
    pub(crate) budget_blocked: bool,
    /// Why the peer must be disconnected (it went past a bound, e.g. `max_subscriptions`).
    pub(crate) overflow: Option<&'static str>,
    /// inproc: the channel this pipe's peer writes into, through which `unbind` / `disconnect`
    /// tell the peer to stop routing here (and learn that it has).
    pub(crate) inproc_rx: Option<std::sync::Arc<super::inproc::Channel>>,
    /// inproc: the channel this pipe writes into (what is there is the peer's already, as a
    /// libzmq inproc pipe's messages are: closing with linger 0 does not take them back).
    pub(crate) inproc_tx: Option<std::sync::Arc<super::inproc::Channel>>,
}

impl Pipe {
    fn new(persistent: bool) -> Pipe {
        Pipe {
            outq: VecDeque::new(),
            inq: VecDeque::new(),
            driver_waker: None,
            connected: false,
            persistent,
            dead: false,
            peer_subscriptions: Subscriptions::new(),
            peer_requests: Subscriptions::new(),
            credit: None,
            subscription_commands: VecDeque::new(),
            received: 0,
            properties: None,
            routing_id: None,
            evicted: false,
            established: false,
            endpoint: None,
            live: false,
            leaving: false,
            leave_deadline: None,
            inq_bytes: 0,
            xpub_held: 0,
            budget_blocked: false,
            overflow: None,
            connect_routing_id: None,
            inproc_rx: None,
            inproc_tx: None,
        }
    }

    /// Whether the pipe's connection should close now: it is leaving and its queue is written,
    /// or its linger ran out.
    pub(crate) fn leave_now(&self, written: bool, now: std::time::Instant) -> bool {
        self.leaving
            && ((written && self.outq.is_empty()) || self.leave_deadline.is_some_and(|d| now >= d))
    }

    /// The peer's messages received and not yet taken by the application.
    pub(crate) fn held(&self) -> usize {
        self.inq.len() + self.xpub_held
    }

    pub(crate) fn wake_driver(&mut self) {
        if let Some(w) = self.driver_waker.take() {
            w.wake();
        }
    }
}

/// The pipes as the routing rules see them.
struct Peers<'a> {
    pipes: &'a PipeMap,
    sndhwm: usize,
}

impl PeerView for Peers<'_> {
    fn has_room(&self, peer: PeerId) -> bool {
        self.pipes
            .get(&peer)
            .is_some_and(|p| !p.dead && !Options::at_hwm(self.sndhwm, p.outq.len()))
    }
}

/// See `Core::on_credit`.
pub(crate) type CreditReport = dyn Fn(Option<std::sync::Arc<Credit>>);

/// The state of one socket on its shard.
pub(crate) struct Core {
    /// Process-unique, for the metrics' `socket` label.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) id: u64,
    /// Told whether the socket has a peer to send to, whenever that may have changed (the
    /// hosted handles' bridge: a PUSH, DEALER, REQ or PAIR with no peer refuses a send, as
    /// libzmq says `EAGAIN`).
    pub(crate) on_routable: Option<Box<dyn Fn(bool)>>,
    /// Told the credit of the socket's only peer under `exact_inproc_hwm` (or that there is
    /// none), whenever that may have changed (the hosted handles' bridge).
    pub(crate) on_credit: Option<Box<CreditReport>>,
    pub(crate) socket_type: SocketType,
    pub(crate) pattern: Pattern,
    pub(crate) options: Options,
    pub(crate) pipes: PipeMap,
    next_peer: u32,
    /// The socket type's routing rules (load-balance, REQ/REP envelopes, ROUTER ids).
    routing: Routing,
    fq: FairQueue,
    /// Our own subscriptions (SUB).
    pub(crate) subscriptions: Subscriptions,
    send_wakers: Wakers,
    recv_wakers: Wakers,
    pub(crate) kill: Rc<KillSwitch>,
    pub(crate) closing: bool,
    /// When linger ends (set by close; `None`: linger without end).
    pub(crate) close_deadline: Option<std::time::Instant>,
    /// Live connections (accepted and connected), for linger.
    pub(crate) connections: usize,
    /// Accepted peers whose handshake completed, against `max_connections`.
    pub(crate) established: usize,
    /// Accepted connections still in the handshake, oldest first; at most `max_handshakes`.
    pub(crate) handshaking: VecDeque<PeerId>,
    /// What the socket counted (messages, bytes, drops, connection events).
    pub(crate) counters: Counters,
    pub(crate) endpoints: Vec<String>,
    /// Each bind and connect, for `unbind` / `disconnect`; grows only with the application's
    /// own calls and shrinks with them.
    pub(crate) endpoint_entries: Vec<EndpointEntry>,
    next_endpoint: u32,
    /// Wakes whoever waits for connections to finish (close with linger).
    pub(crate) idle_wakers: Wakers,
    /// XPUB: subscription messages and subscribers' own messages for the application, in the
    /// order they came; of those, the own messages (count and bytes); and every peer's
    /// subscriptions counted.
    xpub_inbox: VecDeque<XpubEntry>,
    xpub_data: usize,
    xpub_data_bytes: usize,
    xpub_all: Subscriptions,
    /// Monitors attached to this socket.
    monitors: Vec<std::sync::Arc<crate::monitor::MonitorShared>>,
    /// XPUB with `xpub_manual`: the peer whose subscription message was delivered last.
    xpub_last_peer: Option<PeerId>,
    /// inproc names this socket bound (forgotten on close).
    pub(crate) inproc_names: Vec<String>,
    /// The runtime-wide budget of received bytes (`Config::inbound_budget_bytes`), and what this
    /// socket took or gave back since it last told it (told in steps of `BUDGET_STEP`, so the
    /// shared counter is not touched per message).
    budget: Option<std::sync::Arc<crate::runtime::InboundBudget>>,
    budget_unreported: i64,
}

/// How far a socket's held bytes may drift from what the runtime-wide budget knows.
const BUDGET_STEP: i64 = 64 * 1024;

/// Most subscription notices an XPUB holds for an application that does not read them; past it
/// new ones are dropped (and counted), so peers cannot grow the queue without bound. (The
/// subscribers' own messages are bounded by `rcvhwm` per peer and by the inbound budget.)
pub(crate) const XPUB_INBOX_MAX: usize = 100_000;

impl Drop for Core {
    fn drop(&mut self) {
        // Give back what this socket still holds, and what it never reported.
        let held: usize =
            self.pipes.values().map(|p| p.inq_bytes).sum::<usize>() + self.xpub_data_bytes;
        if let Some(b) = &self.budget {
            b.apply(self.budget_unreported - held as i64);
        }
    }
}

/// A message in an XPUB's `xpub_inbox`: a subscription notice, or a subscriber's own message
/// (with the peer it came from, whose reading waits while it holds `rcvhwm` of them).
#[derive(Debug)]
struct XpubEntry {
    from: Option<PeerId>,
    msg: Message,
}

impl Core {
    pub(crate) fn new(socket_type: SocketType, options: Options) -> Result<Core, Error> {
        let unsupported = || {
            Error::new(
                ErrorKind::NotSupported,
                format!("{socket_type} sockets are not supported yet"),
            )
        };
        let pattern = Pattern::of(socket_type).ok_or_else(unsupported)?;
        let routing = Routing::new(
            socket_type,
            options.req_relaxed,
            options.req_correlate,
            options.router_mandatory,
            random_u32(),
        )
        .ok_or_else(unsupported)?;
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Ok(Core {
            on_routable: None,
            on_credit: None,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            socket_type,
            pattern,
            pipes: PipeMap::default(),
            next_peer: 0,
            routing,
            fq: FairQueue::new(),
            subscriptions: Subscriptions::new(),
            send_wakers: Wakers::default(),
            recv_wakers: Wakers::default(),
            kill: Rc::new(KillSwitch::default()),
            closing: false,
            close_deadline: None,
            established: 0,
            handshaking: VecDeque::new(),
            connections: 0,
            counters: Counters::default(),
            endpoints: Vec::new(),
            endpoint_entries: Vec::new(),
            next_endpoint: 0,
            idle_wakers: Wakers::default(),
            xpub_inbox: VecDeque::new(),
            xpub_data: 0,
            xpub_data_bytes: 0,
            xpub_all: Subscriptions::new(),
            monitors: Vec::new(),
            xpub_last_peer: None,
            inproc_names: Vec::new(),
            budget: crate::runtime::current().map(|s| s.shared.inbound.clone()),
            budget_unreported: 0,
            options,
        })
    }

    /// Create a pipe. A persistent (connect-side) pipe takes part in routing at once, so messages
    /// queue before the peer is there, as libzmq does; others join when their handshake is done.
    pub(crate) fn add_pipe(&mut self, persistent: bool) -> PeerId {
        let id = PeerId(self.next_peer);
        self.next_peer = self.next_peer.wrapping_add(1);
        let mut pipe = Pipe::new(persistent);
        if persistent {
            // Set for the next connect only, as libzmq does.
            pipe.connect_routing_id = self.options.connect_routing_id.take();
        }
        // ROUTER, STREAM: a connect given its peer's routing id is routable by it at once, so
        // what is sent to that id before the connection is up queues for it (libzmq's
        // test_connect_rid sends right after zmq_connect).
        if let Some(Identified::Assigned(routing_id)) = pipe
            .connect_routing_id
            .as_deref()
            .and_then(|rid| self.routing.identify(id, rid, false))
        {
            pipe.routing_id = Some(routing_id);
        }
        self.pipes.insert(id, pipe);
        if persistent && !self.options.immediate && self.pattern.send != SendStrategy::FanOut {
            self.attach(id);
        }
        id
    }

    /// A connection was accepted: give it a pipe and a place in the handshake budget, closing
    /// the oldest connection still in its handshake when the budget is full.
    pub(crate) fn accept_pipe(&mut self) -> PeerId {
        if self.handshaking.len() >= self.options.max_handshakes.max(1) {
            if let Some(oldest) = self.handshaking.pop_front() {
                if let Some(pipe) = self.pipes.get_mut(&oldest) {
                    pipe.evicted = true;
                    pipe.wake_driver();
                }
            }
        }
        let id = self.add_pipe(false);
        self.handshaking.push_back(id);
        id
    }

    /// `id`'s handshake completed: it leaves the handshake budget; an accepted peer takes a place
    /// among the established ones, or is refused (false) when `max_connections` are taken.
    pub(crate) fn establish(&mut self, id: PeerId) -> bool {
        let Some(position) = self.handshaking.iter().position(|&p| p == id) else {
            return true; // a connecting pipe: not subject to the listener's limits
        };
        self.handshaking.remove(position);
        if self.established >= self.options.max_connections {
            return false;
        }
        self.established += 1;
        if let Some(pipe) = self.pipes.get_mut(&id) {
            pipe.established = true;
        }
        true
    }

    /// `id`'s connection ended: release what it held in the handshake and connection budgets.
    pub(crate) fn release_budgets(&mut self, id: PeerId) {
        if let Some(position) = self.handshaking.iter().position(|&p| p == id) {
            self.handshaking.remove(position);
        }
        if let Some(pipe) = self.pipes.get_mut(&id) {
            if std::mem::take(&mut pipe.established) {
                self.established -= 1;
            }
            pipe.evicted = false;
        }
    }

    /// Record a bind or connect; returns its id and the switch that stops its tasks.
    pub(crate) fn add_endpoint(
        &mut self,
        role: EndpointRole,
        requested: &str,
        resolved: &str,
    ) -> (EndpointId, Rc<KillSwitch>) {
        let id = EndpointId(self.next_endpoint);
        self.next_endpoint = self.next_endpoint.wrapping_add(1);
        let stop = Rc::new(KillSwitch::default());
        self.endpoint_entries.push(EndpointEntry {
            id,
            role,
            requested: requested.to_owned(),
            resolved: resolved.to_owned(),
            stop: stop.clone(),
            listener: None,
            inproc_name: None,
        });
        (id, stop)
    }

    /// The entry of endpoint `id`, to complete it.
    pub(crate) fn endpoint_entry(&mut self, id: EndpointId) -> Option<&mut EndpointEntry> {
        self.endpoint_entries.iter_mut().find(|e| e.id == id)
    }

    /// Forget the bind or connect named `endpoint` (as written or as bound) and close its
    /// connections: each writes what is queued for it within linger, then closes. Returns the
    /// entry, or `None` when the socket has no such endpoint.
    pub(crate) fn remove_endpoint(
        &mut self,
        role: EndpointRole,
        endpoint: &str,
    ) -> Option<EndpointEntry> {
        let position = self
            .endpoint_entries
            .iter()
            .position(|e| e.role == role && (e.resolved == endpoint || e.requested == endpoint))?;
        Some(self.remove_endpoint_at(position))
    }

    /// A connect that will not reconnect (`Options::reconnect` off) is over: its endpoint is
    /// forgotten, as libzmq's is, and its pipe goes with what is queued for it.
    pub(crate) fn end_connect(&mut self, id: EndpointId) {
        if let Some(position) = self.endpoint_entries.iter().position(|e| e.id == id) {
            self.remove_endpoint_at(position);
        }
    }

    fn remove_endpoint_at(&mut self, position: usize) -> EndpointEntry {
        let entry = self.endpoint_entries.remove(position);
        entry.stop.kill();
        if let Some(i) = self.endpoints.iter().position(|e| *e == entry.resolved) {
            self.endpoints.remove(i);
        }
        let deadline = self.options.linger.map(|l| std::time::Instant::now() + l);
        let pipes: Vec<PeerId> = self
            .pipes
            .iter()
            .filter(|(_, p)| p.endpoint == Some(entry.id))
            .map(|(&id, _)| id)
            .collect();
        for id in pipes {
            self.leave(id, deadline);
        }
        entry
    }

    /// Replace the options; the routing rules follow `router_mandatory`.
    pub(crate) fn set_options(&mut self, options: Options) {
        self.routing.set_router_mandatory(options.router_mandatory);
        if options.sndhwm != self.options.sndhwm {
            for credit in self.pipes.values().filter_map(|p| p.credit.as_ref()) {
                credit.set_sndhwm(options.sndhwm);
            }
        }
        self.options = options;
        self.routable_changed();
    }

    /// ROUTER: whether the connected peer with `routing_id` has room for a message now (`None`:
    /// no such peer).
    pub(crate) fn peer_state(&self, routing_id: &[u8]) -> Option<bool> {
        let peer = self.routing.peer_by_routing_id(routing_id)?;
        let pipe = self.pipes.get(&peer).filter(|p| p.connected)?;
        Some(!Options::at_hwm(self.options.sndhwm, pipe.outq.len()))
    }

    /// The peer of pipe `id` is going (it unbound or disconnected): nothing more is routed to
    /// it. What was already queued for it still goes while its connection lasts (a libzmq
    /// message sent before the peer's disconnect is already in its pipe), and messages on the
    /// way from it are still received until the connection ends.
    pub(crate) fn peer_leaving(&mut self, id: PeerId) {
        let Some(pipe) = self.pipes.get_mut(&id) else {
            return;
        };
        pipe.persistent = false;
        pipe.connected = false;
        self.unroute(id);
    }

    /// Route nothing more to pipe `id`, and let blocked senders look again elsewhere.
    fn unroute(&mut self, id: PeerId) {
        self.routing.disconnected(id);
        self.routing.detach(id);
        self.routable_changed();
        self.send_wakers.wake_all();
    }

    /// Pipe `id` goes: nothing more is routed to it; a live connection writes what is queued
    /// and closes by `deadline`; a pipe without a connection goes at once with its queue.
    fn leave(&mut self, id: PeerId, deadline: Option<std::time::Instant>) {
        let Some(pipe) = self.pipes.get_mut(&id) else {
            return;
        };
        pipe.persistent = false;
        pipe.leaving = true;
        pipe.leave_deadline = deadline;
        pipe.connected = false;
        let live = pipe.live;
        pipe.wake_driver();
        if live {
            self.unroute(id);
        } else {
            pipe.outq.clear();
            self.pipe_disconnected(id);
        }
    }

    /// Publish the counters to the `metrics` facade.
    #[cfg(feature = "metrics")]
    pub(crate) fn publish_metrics(&self) {
        crate::stats::publish(
            self.id,
            &self.socket_type.to_string(),
            &self.endpoints.join(" "),
            &self.stats(),
        );
    }

    /// A snapshot of the counters and queue depths.
    pub(crate) fn stats(&self) -> crate::stats::SocketStats {
        let c = &self.counters;
        crate::stats::SocketStats {
            messages_sent: c.messages_sent,
            bytes_sent: c.bytes_sent,
            messages_received: c.messages_received,
            bytes_received: c.bytes_received,
            dropped: c.dropped,
            queued_out: self.pipes.values().map(|p| p.outq.len()).sum(),
            queued_in: self.pipes.values().map(|p| p.inq.len()).sum::<usize>()
                + self.xpub_inbox.len(),
            sndhwm: self.options.sndhwm,
            rcvhwm: self.options.rcvhwm,
            connects: c.connects,
            accepts: c.accepts,
            disconnects: c.disconnects,
            reconnect_attempts: c.reconnect_attempts,
            handshake_failures: c.handshake_failures,
            auth_refusals: c.auth_refusals,
            connected_peers: self.pipes.values().filter(|p| p.connected).count(),
        }
    }

    /// Tell `on_routable` whether there is a peer to send to now.
    pub(crate) fn routable_changed(&self) {
        if let Some(report) = &self.on_routable {
            report(self.routing.has_send_peers());
        }
        if let Some(report) = &self.on_credit {
            report(self.sole_credit());
        }
    }

    /// The credit of the only connected peer, if the socket counts one (see [`Credit`]).
    fn sole_credit(&self) -> Option<std::sync::Arc<Credit>> {
        if !self.options.exact_inproc_hwm
            || self.options.conflate
            || !matches!(
                self.socket_type,
                SocketType::Push
                    | SocketType::Dealer
                    | SocketType::Pair
                    | SocketType::Pub
                    | SocketType::XPub
            )
        {
            return None;
        }
        // Connected, or a connect waiting for its peer (whose pipe queues meanwhile).
        let mut live = self
            .pipes
            .values()
            .filter(|p| !p.dead && (p.connected || p.persistent));
        let only = live.next()?;
        if live.next().is_some() {
            return None;
        }
        only.credit.clone()
    }

    fn attach(&mut self, id: PeerId) {
        self.routing.attach(id);
        self.routable_changed();
        if self.pattern.recv != RecvStrategy::None {
            self.fq.attach(id);
        }
        self.send_wakers.wake_all();
    }

    /// Whether an exclusive (PAIR) socket already has another peer.
    pub(crate) fn exclusive_taken(&self, id: PeerId) -> bool {
        self.pattern.exclusive
            && self
                .pipes
                .iter()
                .any(|(&other, p)| other != id && !p.dead && (p.connected || p.persistent))
    }

    /// The handshake on `id`'s connection completed; `identity` is the peer's `Identity`
    /// property. Returns false when the peer must be refused (a ROUTER id already taken).
    pub(crate) fn pipe_connected(&mut self, id: PeerId, identity: &[u8]) -> bool {
        if self.pipes.get(&id).is_some_and(|p| p.leaving) {
            return false; // disconnected or unbound meanwhile
        }
        let preset = self
            .pipes
            .get(&id)
            .and_then(|p| p.connect_routing_id.clone());
        let identity = preset.as_deref().unwrap_or(identity);
        if let Some(identified) = self
            .routing
            .identify(id, identity, self.options.router_handover)
        {
            let routing_id = match identified {
                Identified::Assigned(routing_id) => routing_id,
                Identified::HandedOver {
                    previous,
                    id: routing_id,
                } => {
                    tracing::debug!(?previous, "routing id handed over to a new peer");
                    routing_id
                }
                Identified::Refused => return false,
            };
            if let Some(pipe) = self.pipes.get_mut(&id) {
                pipe.routing_id = Some(routing_id);
            }
        }
        let topics = if self.pattern.subscribes {
            self.subscriptions.prefixes()
        } else {
            Vec::new()
        };
        let welcome = (self.socket_type == SocketType::XPub)
            .then(|| self.options.xpub_welcome_msg.clone())
            .flatten();
        let probe = self.options.probe_router
            && matches!(
                self.socket_type,
                SocketType::Router | SocketType::Dealer | SocketType::Req
            );
        let Some(pipe) = self.pipes.get_mut(&id) else {
            return true;
        };
        pipe.connected = true;
        pipe.dead = false;
        // A new connection starts with no peer subscriptions; ours are sent afresh.
        pipe.peer_subscriptions = Subscriptions::new();
        pipe.subscription_commands = topics.into_iter().map(|t| (Bytes::from(t), true)).collect();
        if let Some(welcome) = welcome {
            pipe.outq.push_back(Message::single(welcome));
            pipe.wake_driver();
        }
        if probe {
            // Ahead of anything queued before the connection was up.
            pipe.outq.push_front(Message::single(Bytes::new()));
            pipe.wake_driver();
        }
        self.attach(id);
        if self.socket_type == SocketType::Stream && self.options.stream_notify {
            // STREAM: the application learns of the peer by its id and an empty frame.
            self.deliver(id, Message::single(Bytes::new()));
        }
        true
    }

    /// The connection of `id` ended. A persistent pipe waits for the next one; others leave once
    /// their received messages are delivered.
    pub(crate) fn pipe_disconnected(&mut self, id: PeerId) {
        if self.socket_type == SocketType::Stream
            && self.options.stream_notify
            && self.pipes.get(&id).is_some_and(|p| p.connected)
        {
            // STREAM: the peer's end is reported as its id and an empty frame too.
            self.deliver(id, Message::single(Bytes::new()));
        }
        self.routing.disconnected(id);
        if self.socket_type == SocketType::XPub && self.options.xpub_manual {
            // The application decided what the peer gets; it is told of every request of the
            // peer's that ends with it.
            let requests = self
                .pipes
                .get_mut(&id)
                .map(|p| {
                    p.peer_subscriptions = Subscriptions::new();
                    std::mem::take(&mut p.peer_requests).prefixes()
                })
                .unwrap_or_default();
            for prefix in requests {
                self.xpub_notify(&prefix, false);
            }
        } else if self.socket_type == SocketType::XPub {
            // The peer's subscriptions go with it; tell the application about the ones that end.
            // `xpub_all` counts each prefix once per peer, so one cancel per distinct prefix.
            let prefixes = self
                .pipes
                .get_mut(&id)
                .map(|p| std::mem::take(&mut p.peer_subscriptions).prefixes())
                .unwrap_or_default();
            for prefix in prefixes {
                if self.xpub_all.unsubscribe(&prefix) {
                    self.xpub_notify(&prefix, false);
                }
            }
        }
        let Some(pipe) = self.pipes.get_mut(&id) else {
            return;
        };
        pipe.connected = false;
        if pipe.persistent && (!self.closing || !pipe.outq.is_empty()) {
            if self.options.immediate {
                // Nothing new is queued for it until it is connected again.
                self.routing.detach(id);
            }
            self.routable_changed();
            return;
        }
        pipe.dead = true;
        let drained = pipe.inq.is_empty();
        self.routing.detach(id);
        self.routable_changed();
        if drained {
            self.fq.detach(id);
            self.pipes.remove(&id);
        }
        self.send_wakers.wake_all();
    }

    /// Queue `msg` for sending as the pattern says, or hand it back.
    pub(crate) fn try_send(&mut self, msg: Message) -> Result<(), SendError> {
        if self.closing {
            return Err(SendError::Failed(
                Error::new(ErrorKind::Closed, "socket is closed"),
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
        let bytes = msg.size();
        // A conflating socket always has room: the new message replaces the queued one.
        let sndhwm = if self.options.conflate {
            0
        } else {
            self.options.sndhwm
        };
        let plan = self.routing.plan_send(
            msg,
            &Peers {
                pipes: &self.pipes,
                sndhwm,
            },
        );
        let result = self.execute(plan);
        if result.is_ok() {
            self.counters.sent(bytes);
        }
        result
    }

    /// Carry out what the routing rules decided.
    fn execute(&mut self, plan: SendPlan) -> Result<(), SendError> {
        let hwm = self.options.sndhwm;
        match plan {
            SendPlan::Queue(id, msg) => {
                let pipe = self.pipes.get_mut(&id).expect("planned pipes exist");
                if self.options.conflate {
                    pipe.outq.clear();
                }
                pipe.outq.push_back(msg);
                pipe.wake_driver();
                Ok(())
            }
            SendPlan::Route {
                peer,
                msg,
                mandatory,
                prefix,
            } => match self.pipes.get_mut(&peer) {
                // A connect-side pipe queues before its connection is up (see `add_pipe`).
                Some(pipe) if (pipe.connected || pipe.persistent) && !pipe.dead => {
                    if Options::at_hwm(hwm, pipe.outq.len()) {
                        if mandatory {
                            // Hand back the message as the caller gave it.
                            let mut msg = msg;
                            if let Some(prefix) = prefix {
                                msg.push_front(prefix);
                            }
                            return Err(SendError::Full(msg));
                        }
                        self.counters.dropped.peer_at_hwm += 1;
                        return Ok(());
                    }
                    pipe.outq.push_back(msg);
                    pipe.wake_driver();
                    Ok(())
                }
                // The peer left (or never was): the message has nowhere to go.
                _ => {
                    self.counters.dropped.unroutable += 1;
                    Ok(())
                }
            },
            SendPlan::FanOut(mut msg) => {
                // The inproc credit (see `Credit`) goes with the copy that is queued (a socket
                // counts credit only with one peer), back at once when none is.
                let mut guard = Some(msg.take_guard());
                let topic: &[u8] = msg.first().map(|b| &b[..]).unwrap_or(&[]);
                let invert = self.options.invert_matching;
                let wants = |pipe: &Pipe| {
                    pipe.connected && pipe.peer_subscriptions.matches(topic) != invert
                };
                if self.options.xpub_nodrop
                    && !self.options.conflate
                    && self
                        .pipes
                        .values()
                        .any(|p| wants(p) && Options::at_hwm(hwm, p.outq.len()))
                {
                    if let Some(guard) = guard {
                        msg.set_guard(guard);
                    }
                    return Err(SendError::Full(msg));
                }
                let mut dropped = 0;
                for pipe in self.pipes.values_mut() {
                    if !wants(pipe) {
                        continue;
                    }
                    if self.options.conflate {
                        pipe.outq.clear();
                    } else if Options::at_hwm(hwm, pipe.outq.len()) {
                        dropped += 1;
                        continue;
                    }
                    let mut copy = msg.clone();
                    if let Some(guard) = guard.take() {
                        copy.set_guard(guard);
                    }
                    pipe.outq.push_back(copy);
                    pipe.wake_driver();
                }
                self.counters.dropped.peer_at_hwm += dropped;
                Ok(())
            }
            SendPlan::Broadcast(msg) => {
                for pipe in self.pipes.values_mut().filter(|p| p.connected) {
                    if Options::at_hwm(hwm, pipe.outq.len()) {
                        self.counters.dropped.peer_at_hwm += 1;
                        continue;
                    }
                    pipe.outq.push_back(msg.clone());
                    pipe.wake_driver();
                }
                Ok(())
            }
            SendPlan::Subscription { topic, subscribe } => {
                let changed = if subscribe {
                    self.subscriptions.subscribe(&topic);
                    true
                } else {
                    self.subscriptions.unsubscribe(&topic)
                };
                if changed {
                    self.queue_subscription(topic, subscribe);
                }
                Ok(())
            }
            SendPlan::Full(msg) => Err(SendError::Full(msg)),
            SendPlan::Disconnect(peer) => {
                // STREAM: write what is queued for the peer, then close (within linger).
                let deadline = self.options.linger.map(|l| std::time::Instant::now() + l);
                self.leave(peer, deadline);
                Ok(())
            }
            SendPlan::Dropped => {
                self.counters.dropped.unroutable += 1;
                Ok(())
            }
            SendPlan::Refused(refusal, msg) => {
                let error = match refusal {
                    SendRefusal::CannotSend => Error::new(
                        ErrorKind::NotSupported,
                        format!("{} sockets cannot send", self.socket_type),
                    ),
                    SendRefusal::State(e) => Error::new(ErrorKind::InvalidState, e.to_string()),
                    SendRefusal::HostUnreachable => {
                        Error::new(ErrorKind::HostUnreachable, "no peer with that routing id")
                    }
                };
                Err(SendError::Failed(error, msg))
            }
        }
    }

    fn queue_subscription(&mut self, topic: Bytes, subscribe: bool) {
        for pipe in self.pipes.values_mut().filter(|p| p.connected) {
            pipe.subscription_commands
                .push_back((topic.clone(), subscribe));
            pipe.wake_driver();
        }
    }

    /// Take the next received message, fair-queued across peers.
    pub(crate) fn try_recv(&mut self) -> Result<Option<Message>, Error> {
        match self.pattern.recv {
            RecvStrategy::None => {
                return Err(Error::new(
                    ErrorKind::NotSupported,
                    format!("{} sockets cannot receive", self.socket_type),
                ))
            }
            RecvStrategy::Subscriptions => {
                let Some(entry) = self.xpub_inbox.pop_front() else {
                    return Ok(None);
                };
                let bytes = entry.msg.size();
                if let Some(id) = entry.from {
                    self.xpub_data -= 1;
                    self.xpub_data_bytes -= bytes;
                    let rcvhwm = self.options.rcvhwm;
                    if let Some(pipe) = self.pipes.get_mut(&id) {
                        let was_full = Options::at_hwm(rcvhwm, pipe.held());
                        pipe.xpub_held -= 1;
                        if was_full || std::mem::take(&mut pipe.budget_blocked) {
                            pipe.wake_driver();
                        }
                    }
                    self.budget_change(-(bytes as i64));
                }
                self.counters.received(bytes);
                return Ok(Some(entry.msg));
            }
            RecvStrategy::FairQueue => {}
        }
        self.routing
            .check_recv()
            .map_err(|e| Error::new(ErrorKind::InvalidState, e.to_string()))?;
        loop {
            let Some((id, msg, routing_id)) = self.pop_fair() else {
                return Ok(None);
            };
            // What the rules drop (a reply from another peer or to an abandoned request, a
            // request without an envelope delimiter) is skipped.
            if let Some(msg) = self.routing.incoming(id, msg, routing_id) {
                self.counters.received(msg.size());
                return Ok(Some(msg));
            }
        }
    }

    /// Pop the next message fair-queued across pipes, with the pipe's routing id (ROUTER).
    fn pop_fair(&mut self) -> Option<(PeerId, Message, Option<Bytes>)> {
        let pipes = &self.pipes;
        let id = self
            .fq
            .pick(|id| pipes.get(&id).is_some_and(|p| !p.inq.is_empty()))?;
        let rcvhwm = self.options.rcvhwm;
        let pipe = self.pipes.get_mut(&id).expect("picked pipes exist");
        let was_full = Options::at_hwm(rcvhwm, pipe.inq.len());
        let msg = pipe.inq.pop_front()?;
        let bytes = msg.size();
        pipe.inq_bytes -= bytes;
        let routing_id = pipe.routing_id.clone();
        if was_full || std::mem::take(&mut pipe.budget_blocked) {
            pipe.wake_driver();
        }
        if pipe.dead && pipe.inq.is_empty() {
            self.fq.detach(id);
            self.pipes.remove(&id);
        }
        self.budget_change(-(bytes as i64));
        Some((id, msg, routing_id))
    }

    /// A message arrived from `id`. SUB drops what it is not subscribed to.
    pub(crate) fn deliver(&mut self, id: PeerId, msg: Message) {
        if self.pattern.recv == RecvStrategy::None {
            return;
        }
        if self.pattern.recv == RecvStrategy::Subscriptions {
            // XPUB: a subscriber's own message (neither a subscribe nor a cancel) goes to the
            // application in order with the subscription notices, as libzmq 4.3's does.
            let Some(pipe) = self.pipes.get_mut(&id) else {
                return;
            };
            let mut msg = msg;
            if let Some(props) = &pipe.properties {
                msg.set_properties(props.clone());
            }
            pipe.xpub_held += 1;
            let bytes = msg.size();
            self.xpub_data += 1;
            self.xpub_data_bytes += bytes;
            self.budget_change(bytes as i64);
            self.xpub_inbox.push_back(XpubEntry {
                from: Some(id),
                msg,
            });
            self.recv_wakers.wake_all();
            return;
        }
        if self.pattern.filters_incoming {
            let topic: &[u8] = msg.first().map(|b| &b[..]).unwrap_or(&[]);
            if self.subscriptions.matches(topic) == self.options.invert_matching {
                return;
            }
        }
        if let Some(pipe) = self.pipes.get_mut(&id) {
            let mut msg = msg;
            if let Some(props) = &pipe.properties {
                msg.set_properties(props.clone());
            }
            let bytes = msg.size();
            if self.options.conflate {
                let replaced: usize = pipe.inq.drain(..).map(|m| m.size()).sum();
                pipe.inq_bytes -= replaced;
                self.budget_unreported -= replaced as i64;
            }
            pipe.inq.push_back(msg);
            pipe.inq_bytes += bytes;
            pipe.received += 1;
            self.budget_change(bytes as i64);
            self.recv_wakers.wake_all();
        }
    }

    /// Track `delta` bytes taken (or given back) from the runtime's inbound budget.
    fn budget_change(&mut self, delta: i64) {
        self.budget_unreported += delta;
        if self.budget_unreported.abs() >= BUDGET_STEP {
            if let Some(b) = &self.budget {
                b.apply(self.budget_unreported);
            }
            self.budget_unreported = 0;
        }
    }

    /// Whether `id`'s connection may read now: its receive queue is below its HWM, and either
    /// the runtime's inbound budget has room or the pipe holds nothing yet (so every peer gets to
    /// deliver, and the peers holding the most wait first). Marks a pipe stopped by the budget,
    /// so that taking one of its messages wakes its connection.
    pub(crate) fn may_read(&mut self, id: PeerId) -> bool {
        if self.inq_full(id) {
            return false;
        }
        let exhausted = !self.may_read_budget();
        match self.pipes.get_mut(&id) {
            Some(pipe) if exhausted && pipe.held() > 0 => {
                pipe.budget_blocked = true;
                false
            }
            _ => true,
        }
    }

    /// Whether the runtime's inbound budget has room.
    pub(crate) fn may_read_budget(&self) -> bool {
        !self.budget.as_ref().is_some_and(|b| b.exhausted())
    }

    /// Why the peer of `id` must be disconnected, if it went past a bound.
    pub(crate) fn overflow(&self, id: PeerId) -> Option<&'static str> {
        self.pipes.get(&id).and_then(|p| p.overflow)
    }

    /// Whether `id`'s receive queue is at its HWM (the driver stops reading until there is room).
    pub(crate) fn inq_full(&self, id: PeerId) -> bool {
        self.pipes
            .get(&id)
            .is_some_and(|p| Options::at_hwm(self.options.rcvhwm, p.held()))
    }

    /// The peer subscribed or cancelled (PUB and XPUB).
    pub(crate) fn peer_subscription(&mut self, id: PeerId, topic: &[u8], subscribe: bool) {
        if self.socket_type == SocketType::XPub && self.options.xpub_manual {
            // Manual mode: the application decides (see `set_subscription`).
            let Some(pipe) = self.pipes.get_mut(&id) else {
                return;
            };
            if subscribe {
                if pipe.peer_requests.insert(topic)
                    && pipe.peer_requests.len() > self.options.max_subscriptions
                {
                    pipe.peer_requests.remove(topic);
                    pipe.overflow =
                        Some("the peer subscribed to more than max_subscriptions prefixes");
                    pipe.wake_driver();
                    return;
                }
            } else {
                pipe.peer_requests.remove(topic);
            }
            self.xpub_last_peer = Some(id);
            self.xpub_notify(topic, subscribe);
            return;
        }
        let Some(pipe) = self.pipes.get_mut(&id) else {
            return;
        };
        let changed_for_peer = if subscribe {
            // A peer's subscriptions are a set: libzmq's SUB repeats a subscribe it was asked
            // for twice, and cancels once, when its own count reaches zero.
            let new = pipe.peer_subscriptions.insert(topic);
            if new && pipe.peer_subscriptions.len() > self.options.max_subscriptions {
                // Past the bound: undo, and have the connection closed.
                pipe.peer_subscriptions.remove(topic);
                pipe.overflow = Some("the peer subscribed to more than max_subscriptions prefixes");
                pipe.wake_driver();
                return;
            }
            new
        } else {
            pipe.peer_subscriptions.remove(topic)
        };
        if self.socket_type != SocketType::XPub {
            return;
        }
        let changed_overall = changed_for_peer
            && if subscribe {
                self.xpub_all.subscribe(topic)
            } else {
                self.xpub_all.unsubscribe(topic)
            };
        // xpub_verbose passes every subscribe on; cancels only when the last one goes, unless
        // xpub_verboser, which passes each peer's cancel too.
        let verbose = self.options.xpub_verbose || self.options.xpub_verboser;
        if changed_overall
            || (subscribe && verbose)
            || (!subscribe && changed_for_peer && self.options.xpub_verboser)
        {
            self.xpub_notify(topic, subscribe);
        }
    }

    fn xpub_notify(&mut self, topic: &[u8], subscribe: bool) {
        if self.xpub_inbox.len() - self.xpub_data >= XPUB_INBOX_MAX {
            self.counters.dropped.subscription_notices += 1;
            return;
        }
        let body = ringmq_transports::subscription::encode(topic, subscribe);
        self.xpub_inbox.push_back(XpubEntry {
            from: None,
            msg: Message::single(body),
        });
        self.recv_wakers.wake_all();
    }

    /// Our own subscription changed (SUB, XSUB): tell every connected peer when the set changed.
    pub(crate) fn set_subscription(&mut self, topic: &[u8], subscribe: bool) -> Result<(), Error> {
        if self.socket_type == SocketType::XPub && self.options.xpub_manual {
            // Apply to the peer whose subscription message the application received last.
            let peer = self.xpub_last_peer.ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidState,
                    "no subscription received yet to apply",
                )
            })?;
            if let Some(pipe) = self.pipes.get_mut(&peer) {
                if subscribe {
                    pipe.peer_subscriptions.insert(topic);
                } else {
                    pipe.peer_subscriptions.remove(topic);
                }
            }
            return Ok(());
        }
        if !self.pattern.subscribes {
            return Err(Error::new(
                ErrorKind::NotSupported,
                format!("{} sockets do not subscribe", self.socket_type),
            ));
        }
        // As libzmq's SUB: every subscribe goes upstream, repeats included (a publisher keeps
        // one per peer, and ZMQ_XPUB_VERBOSE shows the repeats); a cancel only when the last
        // of ours goes.
        let forward = if subscribe {
            self.subscriptions.subscribe(topic);
            true
        } else {
            self.subscriptions.unsubscribe(topic)
        };
        if forward {
            let topic = Bytes::copy_from_slice(topic);
            for pipe in self.pipes.values_mut().filter(|p| p.connected) {
                pipe.subscription_commands
                    .push_back((topic.clone(), subscribe));
                pipe.wake_driver();
            }
        }
        Ok(())
    }

    /// Properties for the messages of `id` (set once its peer is authenticated).
    pub(crate) fn set_pipe_properties(
        &mut self,
        id: PeerId,
        properties: std::sync::Arc<ringmq_transports::Metadata>,
    ) {
        if let Some(pipe) = self.pipes.get_mut(&id) {
            pipe.properties = Some(properties);
        }
    }

    /// Attach a monitor.
    pub(crate) fn add_monitor(&mut self, monitor: std::sync::Arc<crate::monitor::MonitorShared>) {
        self.monitors.push(monitor);
    }

    /// Report an event to every monitor whose reader is still there.
    pub(crate) fn emit(&mut self, event: crate::monitor::MonitorEvent) {
        self.counters.count(&event);
        if self.monitors.is_empty() {
            return;
        }
        tracing::trace!(%event, "monitor event");
        for m in &self.monitors {
            if std::sync::Arc::strong_count(m) > 1 {
                m.push(event.clone());
            }
        }
    }

    /// Close every monitor (the socket is gone).
    pub(crate) fn close_monitors(&mut self) {
        for m in self.monitors.drain(..) {
            m.close();
        }
    }

    pub(crate) fn register_send(&mut self, cx: &Context<'_>) {
        self.send_wakers.register(cx.waker());
    }

    pub(crate) fn register_recv(&mut self, cx: &Context<'_>) {
        self.recv_wakers.register(cx.waker());
    }

    /// Wake every sender (a pipe freed room).
    pub(crate) fn wake_senders(&mut self) {
        self.send_wakers.wake_all();
    }

    /// Wake everyone (close).
    pub(crate) fn wake_everyone(&mut self) {
        self.send_wakers.wake_all();
        self.recv_wakers.wake_all();
        self.idle_wakers.wake_all();
        for p in self.pipes.values_mut() {
            p.wake_driver();
        }
    }
}

/// A random starting point for request ids and generated routing ids, as libzmq uses.
fn random_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    h.finish() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_blocks_at_hwm_and_round_robins() {
        let options = Options {
            sndhwm: 2,
            ..Options::default()
        };
        let mut core = Core::new(SocketType::Push, options).unwrap();
        let a = core.add_pipe(true);
        let b = core.add_pipe(true);
        for i in 0..4u8 {
            core.try_send(Message::single(vec![i])).unwrap();
        }
        assert!(matches!(
            core.try_send(Message::single("x")),
            Err(SendError::Full(_))
        ));
        assert_eq!(core.pipes[&a].outq.len(), 2);
        assert_eq!(core.pipes[&b].outq.len(), 2);
        assert_eq!(core.pipes[&a].outq[0].frames()[0][..], [0]);
        assert_eq!(core.pipes[&b].outq[0].frames()[0][..], [1]);
    }

    #[test]
    fn pub_drops_at_hwm_and_filters() {
        let options = Options {
            sndhwm: 1,
            ..Options::default()
        };
        let mut core = Core::new(SocketType::Pub, options).unwrap();
        let a = core.add_pipe(false);
        core.pipe_connected(a, b"");
        core.peer_subscription(a, b"t", true);
        core.try_send(Message::single("other")).unwrap();
        assert!(core.pipes[&a].outq.is_empty());
        core.try_send(Message::single("t1")).unwrap();
        core.try_send(Message::single("t2")).unwrap();
        assert_eq!(core.pipes[&a].outq.len(), 1);
        assert_eq!(core.counters.dropped.peer_at_hwm, 1);
    }

    #[test]
    fn xpub_manual_applies_only_what_the_application_says() {
        let options = Options {
            xpub_manual: true,
            ..Options::default()
        };
        let mut core = Core::new(SocketType::XPub, options).unwrap();
        let p = core.add_pipe(false);
        core.pipe_connected(p, b"");
        core.peer_subscription(p, b"weather", true);
        // Delivered to the application, not applied: nothing matches yet.
        assert_eq!(
            core.try_recv().unwrap().unwrap(),
            Message::single(b"\x01weather".to_vec())
        );
        core.try_send(Message::single("weather now")).unwrap();
        assert!(core.pipes[&p].outq.is_empty());
        // The application applies a (different) subscription for that peer.
        core.set_subscription(b"weather.eu", true).unwrap();
        core.try_send(Message::single("weather now")).unwrap();
        core.try_send(Message::single("weather.eu now")).unwrap();
        assert_eq!(core.pipes[&p].outq.len(), 1);
        // When the peer leaves, the application is told its requests end, not what it applied.
        core.peer_subscription(p, b"sport", true);
        core.peer_subscription(p, b"sport", false);
        core.peer_subscription(p, b"news", true);
        for notice in ["\x01sport", "\x00sport", "\x01news"] {
            assert_eq!(
                core.try_recv().unwrap().unwrap(),
                Message::single(notice.as_bytes().to_vec())
            );
        }
        core.pipe_disconnected(p);
        let mut cancels = Vec::new();
        while let Some(m) = core.try_recv().unwrap() {
            cancels.push(m);
        }
        assert_eq!(
            cancels,
            [
                Message::single(b"\x00news".to_vec()),
                Message::single(b"\x00weather".to_vec())
            ]
        );
    }

    #[test]
    fn router_delivers_messages_of_a_departed_peer_with_its_id() {
        let mut core = Core::new(SocketType::Router, Options::default()).unwrap();
        let p = core.add_pipe(false);
        assert!(core.pipe_connected(p, b"alice"));
        core.deliver(p, Message::single("last words"));
        core.pipe_disconnected(p);
        assert_eq!(
            core.try_recv().unwrap().unwrap(),
            Message::from_frames(["alice", "last words"])
        );
        // The id is free again for a new peer.
        let q = core.add_pipe(false);
        assert!(core.pipe_connected(q, b"alice"));
    }

    #[test]
    fn xpub_hands_a_subscribers_own_messages_to_the_application_in_order() {
        let mut core = Core::new(SocketType::XPub, Options::default()).unwrap();
        let p = core.add_pipe(false);
        core.pipe_connected(p, b"");
        core.peer_subscription(p, b"a", true);
        core.deliver(p, Message::single(b"\x02hello".to_vec()));
        core.peer_subscription(p, b"b", true);
        let mut got = Vec::new();
        while let Some(m) = core.try_recv().unwrap() {
            got.push(m);
        }
        assert_eq!(
            got,
            [
                Message::single(b"\x01a".to_vec()),
                Message::single(b"\x02hello".to_vec()),
                Message::single(b"\x01b".to_vec())
            ]
        );
    }

    #[test]
    fn xsub_hands_out_everything_but_still_subscribes() {
        let mut core = Core::new(SocketType::XSub, Options::default()).unwrap();
        core.try_send(Message::single(b"\x01a".to_vec())).unwrap();
        // A new peer is told of the subscription...
        let p = core.add_pipe(false);
        core.pipe_connected(p, b"");
        assert_eq!(core.pipes[&p].subscription_commands.len(), 1);
        // ...and whatever the publisher sends is handed out, as libzmq's XSUB does: the
        // filtering is the publisher's.
        core.deliver(p, Message::single("b-unfiltered"));
        assert_eq!(
            core.try_recv().unwrap().unwrap(),
            Message::single("b-unfiltered")
        );
    }

    #[test]
    fn sub_filters_and_keeps_messages_of_dead_pipes() {
        let mut core = Core::new(SocketType::Sub, Options::default()).unwrap();
        core.set_subscription(b"a", true).unwrap();
        let p = core.add_pipe(false);
        core.pipe_connected(p, b"");
        assert_eq!(core.pipes[&p].subscription_commands.len(), 1);
        core.deliver(p, Message::single("b-no"));
        core.deliver(p, Message::single("a-yes"));
        core.pipe_disconnected(p);
        assert_eq!(core.try_recv().unwrap().unwrap().frames()[0], "a-yes");
        assert!(core.pipes.is_empty());
        assert!(core.try_recv().unwrap().is_none());
    }
}
