//! The shard's side of [`crate::Runtime::shutdown`]: every socket on the shard stops accepting,
//! flushes within its linger (cut to the shutdown deadline) and reports what it delivered and
//! what it abandoned.

use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use ringmq_transports::SocketType;

use super::core::Core;
use super::hosted;
use crate::error::{Error, ErrorKind};
use crate::runtime::{self, Runtime, ShardId};
use crate::stats::SocketStats;

thread_local! {
    /// Every socket created on this shard that may still be alive; pruned on each registration,
    /// so bounded by the live sockets.
    static LIVE: RefCell<Vec<Weak<RefCell<Core>>>> = const { RefCell::new(Vec::new()) };
}

/// Remember a new socket for shutdown.
pub(crate) fn register(core: &Rc<RefCell<Core>>) {
    LIVE.with(|l| {
        let mut live = l.borrow_mut();
        live.retain(|w| w.strong_count() > 0);
        live.push(Rc::downgrade(core));
    });
}

/// What one socket did during a [`crate::Runtime::shutdown`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketReport {
    /// The shard it lived on.
    pub shard: ShardId,
    /// Its type.
    pub socket_type: SocketType,
    /// Its endpoints when the shutdown began.
    pub endpoints: Vec<String>,
    /// Messages queued for peers (and in a handle's hand-off queue) when the shutdown began.
    pub queued: u64,
    /// Of those, the ones written out before the socket closed.
    pub delivered: u64,
    /// Of those, the ones still queued when linger or the deadline ran out.
    pub abandoned: u64,
    /// Its counters when it closed.
    pub stats: SocketStats,
}

/// Shut down every socket of this shard by `deadline`; resolves with their reports.
pub(crate) async fn shutdown_shard(deadline: Instant) -> Vec<SocketReport> {
    let Some(shard) = runtime::current() else {
        return Vec::new();
    };
    let shard_id = shard.shared.id();
    let mut tasks = Vec::new();
    // Sockets behind blocking and async handles: their hand-off queues are flushed first.
    let mut hosted_cores = Vec::new();
    for id in hosted::hosted_ids() {
        let Some((socket, bridge)) = hosted::take_hosted_with_bridge(id) else {
            continue;
        };
        let core = socket.core.clone();
        hosted_cores.push(core.clone());
        let queued = queued_out(&core.borrow()) + hosted::handoff_len(&bridge);
        let (socket_type, endpoints) = describe(&core.borrow());
        stop_accepting(&core);
        tasks.push(runtime::spawn_local(async move {
            let handle = bridge.clone();
            let abandoned = hosted::close_hosted(socket, bridge, Some(deadline)).await;
            let mut report = report(shard_id, socket_type, endpoints, queued, abandoned, &core);
            // The handle's own figures (hand-off drops and queues) belong to the socket's.
            report.stats = super::blocking::handle_stats(report.stats, &handle);
            report
        }));
    }
    // Sockets used directly by tasks on this shard.
    let live: Vec<Rc<RefCell<Core>>> =
        LIVE.with(|l| l.borrow().iter().filter_map(Weak::upgrade).collect());
    for core in live {
        if core.borrow().closing || hosted_cores.iter().any(|h| Rc::ptr_eq(h, &core)) {
            continue;
        }
        let queued = queued_out(&core.borrow());
        let (socket_type, endpoints) = describe(&core.borrow());
        stop_accepting(&core);
        clip_linger(&core, deadline);
        tasks.push(runtime::spawn_local(async move {
            let abandoned = super::close_core(core.clone()).await;
            report(shard_id, socket_type, endpoints, queued, abandoned, &core)
        }));
    }
    let mut reports = Vec::with_capacity(tasks.len());
    for task in tasks {
        reports.push(task.await);
    }
    reports
}

fn queued_out(core: &Core) -> usize {
    core.pipes.values().map(|p| p.outq.len()).sum()
}

fn describe(core: &Core) -> (SocketType, Vec<String>) {
    (core.socket_type, core.endpoints.clone())
}

/// Stop every accept loop of the socket (its existing connections flush and close with it).
fn stop_accepting(core: &Rc<RefCell<Core>>) {
    for entry in &core.borrow().endpoint_entries {
        if entry.role == super::core::EndpointRole::Bound {
            entry.stop.kill();
        }
    }
}

fn clip_linger(core: &Rc<RefCell<Core>>, deadline: Instant) {
    let left = deadline.saturating_duration_since(Instant::now());
    let mut c = core.borrow_mut();
    c.options.linger = Some(c.options.linger.map_or(left, |l| l.min(left)));
}

fn report(
    shard: ShardId,
    socket_type: SocketType,
    endpoints: Vec<String>,
    queued: usize,
    abandoned: usize,
    core: &Rc<RefCell<Core>>,
) -> SocketReport {
    let abandoned = abandoned.min(queued) as u64;
    SocketReport {
        shard,
        socket_type,
        endpoints,
        queued: queued as u64,
        delivered: queued as u64 - abandoned,
        abandoned,
        stats: core.borrow().stats(),
    }
}

/// What [`Runtime::shutdown`] did: one report per socket that was open.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Every socket that was open when the shutdown began, shard by shard.
    pub sockets: Vec<SocketReport>,
    /// Whether every shard answered (a shard that had already stopped is missing).
    pub complete: bool,
}

impl ShutdownReport {
    /// Messages delivered during the shutdown, over every socket.
    pub fn delivered(&self) -> u64 {
        self.sockets.iter().map(|s| s.delivered).sum()
    }

    /// Messages abandoned, over every socket.
    pub fn abandoned(&self) -> u64 {
        self.sockets.iter().map(|s| s.abandoned).sum()
    }
}

impl Runtime {
    /// Shut the runtime down gracefully, blocking the caller: every socket stops accepting,
    /// writes what is queued within its linger (cut to `deadline` from now), and closes; then the
    /// shards stop. Returns what each socket delivered and abandoned. Handles still held
    /// ([`crate::BlockingSocket`], [`crate::AsyncSocket`]) fail with [`ErrorKind::Closed`]
    /// afterwards. Dropping a `Runtime` instead stays prompt (sockets linger, with no report).
    ///
    /// Called on one of the runtime's own shard threads, it cannot wait for that shard: the
    /// report then misses its sockets and says `complete: false`.
    pub fn shutdown(self, deadline: Duration) -> ShutdownReport {
        let report = runtime::block_on(self.close_every_socket(deadline));
        drop(self);
        report
    }

    /// [`Runtime::shutdown`] for async callers: no thread of the caller's executor blocks (the
    /// shards are joined on a thread of their own).
    ///
    /// # Cancel safety
    /// The shutdown goes on if the future is dropped; only the report is lost.
    pub async fn shutdown_async(self, deadline: Duration) -> ShutdownReport {
        let report = self.close_every_socket(deadline).await;
        let (tx, rx) = futures_channel::oneshot::channel::<()>();
        let joined = std::thread::Builder::new()
            .name("ringmq-shutdown".into())
            .spawn(move || {
                drop(self);
                let _ = tx.send(());
            });
        if joined.is_ok() {
            let _ = rx.await;
        }
        report
    }

    /// Shut down every shard's sockets by `deadline` from now, all shards at once, and gather
    /// their reports.
    async fn close_every_socket(&self, deadline: Duration) -> ShutdownReport {
        let until = Instant::now() + deadline;
        let pending: Vec<_> = (0..self.shard_count())
            .filter_map(|i| self.shard(ShardId(i as u16)).cloned())
            .map(|shard| start_on(&shard, until))
            .collect();
        let mut report = ShutdownReport {
            sockets: Vec::new(),
            complete: true,
        };
        for rx in pending {
            let answer = match rx {
                Ok(rx) => rx.await.ok(),
                Err(_) => None,
            };
            match answer {
                Some(mut sockets) => report.sockets.append(&mut sockets),
                None => report.complete = false,
            }
        }
        report
    }
}

/// Start the shutdown of `shard`'s sockets; the receiver answers with their reports.
fn start_on(
    shard: &runtime::ShardHandle,
    until: Instant,
) -> Result<futures_channel::oneshot::Receiver<Vec<SocketReport>>, Error> {
    if shard.is_current() {
        return Err(Error::new(
            ErrorKind::InvalidState,
            "shutdown called on a shard of the runtime",
        ));
    }
    let (tx, rx) = futures_channel::oneshot::channel();
    shard.call_async(move || {
        runtime::spawn_local(async move {
            let _ = tx.send(shutdown_shard(until).await);
        })
        .detach();
    })?;
    Ok(rx)
}
