//! inproc transport: sockets of one [`crate::Runtime`] talking without encoding anything.
//!
//! A connection is two bounded lock-free queues of [`Message`]s, one per direction; the `Bytes`
//! frames move, nothing is copied or encoded. Each side runs a small driver task that moves
//! messages between its pipe and the queues and wakes the other side's driver (through the
//! other shard's injector when the sockets live on different shards; directly when on the same).
//! There is no ZMTP handshake: socket types are checked and routing ids exchanged when the
//! connection is attached. As in libzmq 4.x, connect may come before bind: the connecting side
//! queues (up to its HWM) and the connection completes when the name is bound.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::Poll;

use atomic_waker::AtomicWaker;
use bytes::Bytes;
use crossbeam_queue::ArrayQueue;
use ringmq_patterns::PeerId;
use ringmq_transports::{Message, SocketType};

use super::core::{killable, Core, EndpointId, EndpointRole};
use super::credit::{Credit, NO_PEER_YET};
use crate::error::{Error, ErrorKind};
use crate::monitor::MonitorEvent;
use crate::runtime::{self, spawn_local, ShardHandle};

/// One direction of a connection.
pub(crate) struct Channel {
    queue: ArrayQueue<Message>,
    /// Wakes the consumer: messages arrived, or the producer went away.
    consumer: AtomicWaker,
    /// Wakes the producer: room appeared, or the consumer went away.
    producer: AtomicWaker,
    /// The producer is gone (no more messages will come).
    producer_gone: AtomicBool,
    /// The consumer's socket unbound or disconnected this connection: the producer's socket
    /// must stop routing to it.
    consumer_leaving: AtomicBool,
    /// The producer's socket routes nothing more here (its answer to `consumer_leaving`).
    producer_stopped: AtomicBool,
    /// Wakes the consumer's `unbind` / `disconnect` waiting for `producer_stopped`.
    stopped: AtomicWaker,
}

impl Channel {
    fn new(capacity: usize) -> Arc<Channel> {
        Arc::new(Channel {
            queue: ArrayQueue::new(capacity.max(1)),
            consumer: AtomicWaker::new(),
            producer: AtomicWaker::new(),
            producer_gone: AtomicBool::new(false),
            consumer_leaving: AtomicBool::new(false),
            producer_stopped: AtomicBool::new(false),
            stopped: AtomicWaker::new(),
        })
    }

    /// The producer routes nothing more here: it answered `consumer_leaving`, or it is gone.
    fn producer_done(&self) -> bool {
        self.producer_stopped.load(Ordering::SeqCst) || self.producer_gone.load(Ordering::SeqCst)
    }
}

/// At close, before the linger runs out: hand each inproc peer what is queued for it, as far as
/// its channel has room. A libzmq inproc send writes into the peer's own pipe, so a message sent
/// just before closing with linger 0 still arrives (libzmq's test_proxy relies on it); here the
/// message waits in the pipe until the connection's driver runs, and a linger of 0 would end the
/// driver before it did.
pub(crate) fn hand_over_on_close(core: &mut Core) {
    for pipe in core.pipes.values_mut() {
        let Some(tx) = pipe.inproc_tx.clone() else {
            continue;
        };
        if hand_over(&mut pipe.outq, &tx) {
            tx.consumer.wake();
        }
    }
}

/// Move queued messages from `outq` into channel `tx` while it has room, in order; true when any
/// moved (the caller wakes the consumer).
fn hand_over(outq: &mut VecDeque<Message>, tx: &Channel) -> bool {
    let mut sent = false;
    while let Some(msg) = outq.pop_front() {
        if let Err(msg) = tx.queue.push(msg) {
            outq.push_front(msg);
            break;
        }
        sent = true;
    }
    sent
}

/// After `unbind` or `disconnect` took endpoint `endpoint`'s pipes away: tell each inproc peer
/// to stop routing to its connection, and wait (within reason) until every peer has. libzmq's
/// pipe termination reaches the peer socket before that socket's next call, so a program that
/// disconnects and then sends on the peer sees `EAGAIN`, not a message queued for nobody; the
/// peer here lives on another shard and needs this answer to behave the same way.
pub(crate) async fn release_peers(core: &Rc<RefCell<Core>>, endpoint: EndpointId) {
    let links: Vec<Arc<Channel>> = core
        .borrow()
        .pipes
        .values()
        .filter(|p| p.endpoint == Some(endpoint))
        .filter_map(|p| p.inproc_rx.clone())
        .collect();
    if links.is_empty() {
        return;
    }
    for link in &links {
        link.consumer_leaving.store(true, Ordering::SeqCst);
        link.producer.wake();
    }
    // A peer shard answers within microseconds; one that is stuck does not hold the caller.
    let mut give_up = std::pin::pin!(runtime::sleep(std::time::Duration::from_secs(1)));
    std::future::poll_fn(|cx| {
        for link in &links {
            link.stopped.register(cx.waker());
        }
        if links.iter().all(|l| l.producer_done()) || give_up.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        Poll::Pending
    })
    .await;
}

/// What one side of a connection learns about the other when it is attached.
#[derive(Debug, Clone)]
struct PeerInfo {
    socket_type: SocketType,
    routing_id: Bytes,
    /// `Options::inproc_type_check` of the socket described.
    checks_type: bool,
    /// Its `rcvhwm`, for the credit of a sender to it (`Options::exact_inproc_hwm`).
    rcvhwm: usize,
}

/// One side's view of a connection.
struct End {
    tx: Arc<Channel>,
    rx: Arc<Channel>,
    /// Set by the binding side when it attaches (the connecting side waits for it).
    peer: Arc<OnceLock<Result<PeerInfo, String>>>,
}

/// A connection waiting for its name to be bound.
struct PendingConnect {
    info: PeerInfo,
    end: End,
}

/// A bound name.
struct Binding {
    shard: ShardHandle,
    listener: u64,
    info: PeerInfo,
}

/// The names bound in one runtime. Touched only on bind, connect and close.
#[derive(Default)]
pub(crate) struct Registry {
    inner: Mutex<RegistryInner>,
    next_listener: AtomicU64,
}

#[derive(Default)]
struct RegistryInner {
    bound: HashMap<String, Binding>,
    pending: HashMap<String, Vec<PendingConnect>>,
}

impl Registry {
    /// Whether `name` is bound.
    pub(crate) fn is_bound(&self, name: &str) -> bool {
        self.inner.lock().is_ok_and(|i| i.bound.contains_key(name))
    }
}

thread_local! {
    /// Listening sockets on this shard, by listener id.
    static LISTENERS: RefCell<HashMap<u64, Weak<RefCell<Core>>>> = RefCell::new(HashMap::new());
    /// Which of its socket's endpoints each listener is (connections it accepts belong to it).
    static BOUND_AS: RefCell<HashMap<u64, EndpointId>> = RefCell::new(HashMap::new());
}

fn info_of(core: &Core) -> PeerInfo {
    PeerInfo {
        socket_type: core.socket_type,
        routing_id: core.options.routing_id.clone().unwrap_or_default(),
        checks_type: core.options.inproc_type_check,
        rcvhwm: core.options.rcvhwm,
    }
}

impl PeerInfo {
    /// Whether sockets described by `self` and `other` may be connected: compatible types, or
    /// either socket does not check (`Options::inproc_type_check`).
    fn may_pair_with(&self, other: &PeerInfo) -> bool {
        !(self.checks_type && other.checks_type)
            || self.socket_type.is_compatible(other.socket_type)
    }
}

fn channel_capacity(core: &Core) -> usize {
    match core.options.sndhwm {
        0 => 65_536,
        hwm => hwm.min(65_536),
    }
}

/// Bind `inproc://name`.
pub(crate) fn bind(core: &Rc<RefCell<Core>>, name: &str) -> Result<String, Error> {
    let shard = runtime::current()
        .ok_or_else(|| Error::new(ErrorKind::NotSupported, "inproc bind off a shard"))?;
    let registry = shard.shared.runtime_state::<Registry>();
    let listener = registry.next_listener.fetch_add(1, Ordering::Relaxed);
    let info = info_of(&core.borrow());
    let pending = {
        let mut inner = registry
            .inner
            .lock()
            .map_err(|_| Error::new(ErrorKind::Io, "inproc registry poisoned"))?;
        if inner.bound.contains_key(name) {
            return Err(Error::new(
                ErrorKind::BindFailed,
                format!("inproc://{name} is already bound"),
            ));
        }
        inner.bound.insert(
            name.to_owned(),
            Binding {
                shard: ShardHandle::from_shared(shard.shared.clone()),
                listener,
                info,
            },
        );
        inner.pending.remove(name).unwrap_or_default()
    };
    LISTENERS.with(|l| l.borrow_mut().insert(listener, Rc::downgrade(core)));
    let endpoint = format!("inproc://{name}");
    let endpoint_id = {
        let mut c = core.borrow_mut();
        c.endpoints.push(endpoint.clone());
        c.inproc_names.push(name.to_owned());
        let (id, _) = c.add_endpoint(EndpointRole::Bound, &endpoint, &endpoint);
        if let Some(entry) = c.endpoint_entry(id) {
            entry.inproc_name = Some(name.to_owned());
        }
        id
    };
    BOUND_AS.with(|b| b.borrow_mut().insert(listener, endpoint_id));
    for p in pending {
        attach(core, p.info, p.end, &endpoint, Some(endpoint_id));
    }
    Ok(endpoint)
}

/// Forget the name `name` that `core` bound (`unbind`): new connects queue for the next bind;
/// connections already made are closed by the caller.
pub(crate) fn unbind(core: &Rc<RefCell<Core>>, name: &str) {
    let Some(shard) = runtime::current() else {
        return;
    };
    let registry = shard.shared.runtime_state::<Registry>();
    let listener = registry.inner.lock().ok().and_then(|mut inner| {
        let is_ours = inner.bound.get(name).is_some_and(|b| {
            LISTENERS.with(|l| {
                l.borrow()
                    .get(&b.listener)
                    .and_then(Weak::upgrade)
                    .is_some_and(|c| Rc::ptr_eq(&c, core))
            })
        });
        is_ours
            .then(|| inner.bound.remove(name))
            .flatten()
            .map(|b| b.listener)
    });
    if let Some(listener) = listener {
        LISTENERS.with(|l| l.borrow_mut().remove(&listener));
        BOUND_AS.with(|b| b.borrow_mut().remove(&listener));
    }
    core.borrow_mut().inproc_names.retain(|n| n != name);
}

/// Forget the names `core` bound (on close).
pub(crate) fn unbind_all(core: &Core) {
    let Some(shard) = runtime::current() else {
        return;
    };
    let registry = shard.shared.runtime_state::<Registry>();
    if let Ok(mut inner) = registry.inner.lock() {
        for name in &core.inproc_names {
            inner.bound.remove(name);
        }
    };
}

/// Connect to `inproc://name`, now or when it is bound.
pub(crate) fn connect(core: &Rc<RefCell<Core>>, name: &str) -> Result<(), Error> {
    let shard = runtime::current()
        .ok_or_else(|| Error::new(ErrorKind::NotSupported, "inproc connect off a shard"))?;
    let registry = shard.shared.runtime_state::<Registry>();
    let (info, capacity) = {
        let c = core.borrow();
        (info_of(&c), channel_capacity(&c))
    };
    let to_binder = Channel::new(capacity);
    let to_connector = Channel::new(capacity);
    let peer = Arc::new(OnceLock::new());
    let mine = End {
        tx: to_binder.clone(),
        rx: to_connector.clone(),
        peer: peer.clone(),
    };
    let theirs = End {
        tx: to_connector,
        rx: to_binder,
        peer,
    };
    let endpoint = format!("inproc://{name}");
    {
        let mut inner = registry
            .inner
            .lock()
            .map_err(|_| Error::new(ErrorKind::Io, "inproc registry poisoned"))?;
        match inner.bound.get(name) {
            Some(binding) => {
                if !info.may_pair_with(&binding.info) {
                    return Err(Error::new(
                        ErrorKind::InvalidEndpoint,
                        format!(
                            "{} may not connect to the {} bound at {endpoint}",
                            info.socket_type, binding.info.socket_type
                        ),
                    ));
                }
                let listener = binding.listener;
                let info = info.clone();
                let endpoint = endpoint.clone();
                binding.shard.call_async(move || {
                    let core =
                        LISTENERS.with(|l| l.borrow().get(&listener).and_then(Weak::upgrade));
                    let endpoint_id = BOUND_AS.with(|b| b.borrow().get(&listener).copied());
                    match core {
                        Some(core) => attach(&core, info, theirs, &endpoint, endpoint_id),
                        None => {
                            let _ = theirs.peer.set(Err("the bound socket closed".into()));
                            theirs.tx.producer_gone.store(true, Ordering::SeqCst);
                            theirs.tx.consumer.wake();
                        }
                    }
                })?;
            }
            None => inner
                .pending
                .entry(name.to_owned())
                .or_default()
                .push(PendingConnect { info, end: theirs }),
        }
    }
    // The connecting side queues at once, as a tcp connect does before its peer is there.
    let id = {
        let mut c = core.borrow_mut();
        let id = c.add_pipe(true);
        let (endpoint_id, _) = c.add_endpoint(EndpointRole::Connected, &endpoint, &endpoint);
        let credit = c
            .options
            .exact_inproc_hwm
            .then(|| Credit::new(c.options.sndhwm, NO_PEER_YET));
        if let Some(pipe) = c.pipes.get_mut(&id) {
            pipe.endpoint = Some(endpoint_id);
            pipe.credit = credit;
        }
        c.routable_changed();
        id
    };
    spawn_driver(core, id, mine, endpoint, true);
    Ok(())
}

/// On the binding shard: accept a connection from a socket described by `info`.
fn attach(
    core: &Rc<RefCell<Core>>,
    info: PeerInfo,
    end: End,
    endpoint: &str,
    endpoint_id: Option<EndpointId>,
) {
    let ours = info_of(&core.borrow());
    let compatible = ours.may_pair_with(&info);
    if !compatible {
        let reason = format!(
            "socket type {} may not connect to {}",
            info.socket_type, ours.socket_type
        );
        tracing::info!(%endpoint, "{reason}");
        let _ = end.peer.set(Err(reason));
        end.tx.producer_gone.store(true, Ordering::SeqCst);
        end.tx.consumer.wake();
        return;
    }
    let id = core.borrow_mut().add_pipe(false);
    {
        let mut c = core.borrow_mut();
        let credit = c
            .options
            .exact_inproc_hwm
            .then(|| Credit::new(c.options.sndhwm, info.rcvhwm));
        if let Some(pipe) = c.pipes.get_mut(&id) {
            pipe.endpoint = endpoint_id;
            pipe.credit = credit;
        }
    }
    let accepted = core.borrow_mut().pipe_connected(id, &info.routing_id);
    core.borrow_mut().emit(MonitorEvent::Accepted {
        endpoint: endpoint.to_owned(),
    });
    if !accepted {
        let _ = end
            .peer
            .set(Err("refused (exclusive socket or routing id in use)".into()));
        end.tx.producer_gone.store(true, Ordering::SeqCst);
        end.tx.consumer.wake();
        core.borrow_mut().pipe_disconnected(id);
        return;
    }
    let _ = end.peer.set(Ok(ours));
    // The connecting side waits on its receive channel for this answer.
    end.tx.consumer.wake();
    core.borrow_mut().emit(MonitorEvent::HandshakeSucceeded {
        endpoint: endpoint.to_owned(),
        peer_socket_type: info.socket_type,
    });
    spawn_driver(core, id, end, endpoint.to_owned(), false);
}

fn spawn_driver(
    core: &Rc<RefCell<Core>>,
    id: PeerId,
    end: End,
    endpoint: String,
    connecting: bool,
) {
    let kill = core.borrow().kill.clone();
    let core = core.clone();
    spawn_local(killable(kill, async move {
        core.borrow_mut().connections += 1;
        if let Some(pipe) = core.borrow_mut().pipes.get_mut(&id) {
            pipe.live = true;
            pipe.inproc_rx = Some(end.rx.clone());
            pipe.inproc_tx = Some(end.tx.clone());
        }
        // Whatever happens, the other side learns this one is gone: also when the socket's
        // close kills this task (linger 0) before `drive` returns, so that a peer's `unbind`
        // or `disconnect` waiting for this side's answer is not left to its timeout.
        let departure = Departure {
            tx: end.tx.clone(),
            rx: end.rx.clone(),
        };
        let reason = drive(&core, id, &end, connecting, &endpoint).await;
        drop(departure);
        let mut c = core.borrow_mut();
        c.emit(MonitorEvent::Disconnected { endpoint, reason });
        if let Some(pipe) = c.pipes.get_mut(&id) {
            pipe.live = false;
        }
        c.connections -= 1;
        if connecting {
            // An inproc connection is not re-established: the pipe goes once drained.
            if let Some(p) = c.pipes.get_mut(&id) {
                p.persistent = false;
            }
        }
        c.pipe_disconnected(id);
        c.idle_wakers.wake_all();
    }))
    .detach();
}

/// Tells the peer of an inproc connection that this side is gone, when dropped.
struct Departure {
    tx: Arc<Channel>,
    rx: Arc<Channel>,
}

impl Drop for Departure {
    fn drop(&mut self) {
        self.tx.producer_gone.store(true, Ordering::SeqCst);
        self.tx.consumer.wake();
        self.tx.stopped.wake();
        self.rx.producer.wake();
    }
}

/// Move messages between pipe `id` and the channels until either side goes away.
async fn drive(
    core: &Rc<RefCell<Core>>,
    id: PeerId,
    end: &End,
    connecting: bool,
    endpoint: &str,
) -> String {
    let mut attached = !connecting;
    let mut peer_left = false;
    let receives_subscriptions = matches!(
        core.borrow().socket_type,
        SocketType::Pub | SocketType::XPub
    );
    std::future::poll_fn(|cx| {
        end.rx.consumer.register(cx.waker());
        end.tx.producer.register(cx.waker());
        if !attached {
            match end.peer.get() {
                None => {}
                Some(Ok(peer)) => {
                    attached = true;
                    let mut c = core.borrow_mut();
                    if let Some(credit) = c.pipes.get(&id).and_then(|p| p.credit.as_ref()) {
                        credit.set_peer_rcvhwm(peer.rcvhwm);
                    }
                    if !c.pipe_connected(id, &peer.routing_id) {
                        return Poll::Ready("refused by this socket".to_owned());
                    }
                    c.emit(MonitorEvent::Connected {
                        endpoint: endpoint.to_owned(),
                    });
                    c.emit(MonitorEvent::HandshakeSucceeded {
                        endpoint: endpoint.to_owned(),
                        peer_socket_type: peer.socket_type,
                    });
                }
                Some(Err(reason)) => return Poll::Ready(reason.clone()),
            }
        }
        let mut c = core.borrow_mut();
        if !peer_left && end.tx.consumer_leaving.load(Ordering::SeqCst) {
            // The peer unbound or disconnected: route nothing more to it, then say so.
            peer_left = true;
            c.peer_leaving(id);
            end.tx.producer_stopped.store(true, Ordering::SeqCst);
            end.tx.stopped.wake();
        }
        let mut sent = false;
        let mut received = false;
        let mut deliveries = Vec::new();
        let mut subscriptions = Vec::new();
        {
            let rcvhwm = c.options.rcvhwm;
            let over_budget = !c.may_read_budget();
            let Some(pipe) = c.pipes.get_mut(&id) else {
                return Poll::Ready("pipe removed".to_owned());
            };
            // Outbound: subscriptions first (as 0x01/0x00-prefixed messages, ZMTP 3.0 style), then
            // queued messages, while the channel has room.
            if attached {
                while let Some((topic, subscribe)) = pipe.subscription_commands.front().cloned() {
                    let body = ringmq_transports::subscription::encode(&topic, subscribe);
                    if end.tx.queue.push(Message::single(body)).is_err() {
                        break;
                    }
                    pipe.subscription_commands.pop_front();
                    sent = true;
                }
            }
            sent |= hand_over(&mut pipe.outq, &end.tx);
            if let Some(reason) = pipe.overflow {
                return Poll::Ready(reason.to_owned());
            }
            // Inbound, up to the receive HWM (and none while the runtime's inbound budget is
            // spent and this pipe already holds messages).
            let mut room = if rcvhwm == 0 {
                usize::MAX
            } else {
                rcvhwm.saturating_sub(pipe.held())
            };
            if over_budget && pipe.held() > 0 {
                pipe.budget_blocked = true;
                room = 0;
            }
            while room > 0 {
                let Some(msg) = end.rx.queue.pop() else { break };
                received = true;
                if receives_subscriptions {
                    if let Some(subscription) = ringmq_transports::subscription::decode(&msg) {
                        subscriptions.push(subscription);
                        continue;
                    }
                }
                deliveries.push(msg);
                room -= 1;
            }
            match &pipe.driver_waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => pipe.driver_waker = Some(cx.waker().clone()),
            }
        }
        for (topic, subscribe) in subscriptions {
            c.peer_subscription(id, &topic, subscribe);
        }
        for msg in deliveries {
            c.deliver(id, msg);
        }
        if sent {
            end.tx.consumer.wake();
            c.wake_senders();
        }
        if received {
            end.rx.producer.wake();
        }
        let outq_empty = c.pipes.get(&id).is_none_or(|p| p.outq.is_empty());
        if c.closing && outq_empty {
            return Poll::Ready("socket closed".to_owned());
        }
        if c.pipes
            .get(&id)
            .is_some_and(|p| p.leave_now(true, std::time::Instant::now()))
        {
            return Poll::Ready("disconnected by the application".to_owned());
        }
        if end.rx.producer_gone.load(Ordering::SeqCst) && end.rx.queue.is_empty() {
            return Poll::Ready("peer closed".to_owned());
        }
        if sent || received {
            // More may have arrived meanwhile: look again soon, after other tasks ran.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    })
    .await
}
