//! The shard runtime: N threads, each pinned to a core, each with its own I/O driver (io_uring or
//! epoll, see [`driver`]), run queue and timers. A shard owns its sockets and never shares a lock
//! with another on the hot path.
//!
//! Work reaches a shard from its own tasks (a local run queue) or from other threads through a
//! lock-free injector queue; a parked shard is woken through its driver's eventfd, and only when
//! it is actually parked.
//!
//! The runtime knows nothing of sockets: the socket layer keeps its runtime-wide state (the inproc
//! names) through [`ShardShared::runtime_state`], and has its tasks stopped at shutdown through
//! [`ShutdownHook`].

pub(crate) mod driver;
mod spin;
pub(crate) mod timers;

use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_task::{Runnable, Task};
use crossbeam_queue::SegQueue;

use crate::config::{Backend, Config, Spin};
use crate::error::{Error, ErrorKind};
use driver::{Driver, Wait, WakeFd};
use spin::Spinner;
use timers::Timers;

pub use timers::{sleep, sleep_until, Sleep};

/// Identifies a shard of a [`Runtime`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardId(pub u16);

enum Injected {
    Run(Runnable),
    Call(Box<dyn FnOnce() + Send>),
    Stop,
}

/// State shared by every shard of one runtime, one value per type: the layers above the runtime
/// keep theirs here (the socket layer's inproc names) without the runtime knowing them.
#[derive(Default)]
struct RuntimeState {
    values: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

/// The runtime-wide budget of received bytes held for the application
/// ([`Config::inbound_budget_bytes`]): sockets report what their receive queues hold, in steps,
/// and their connections stop reading while it is spent.
#[derive(Debug, Default)]
pub(crate) struct InboundBudget {
    limit: Option<u64>,
    held: AtomicI64,
}

impl InboundBudget {
    pub(crate) fn new(limit: Option<u64>) -> InboundBudget {
        InboundBudget {
            limit,
            held: AtomicI64::new(0),
        }
    }

    /// Bytes taken (positive) or given back (negative).
    pub(crate) fn apply(&self, delta: i64) {
        if self.limit.is_some() && delta != 0 {
            self.held.fetch_add(delta, Ordering::Relaxed);
        }
    }

    /// Whether the budget is spent.
    pub(crate) fn exhausted(&self) -> bool {
        self.limit
            .is_some_and(|limit| self.held.load(Ordering::Relaxed) >= limit as i64)
    }
}

/// The part of a shard other threads may touch.
pub(crate) struct ShardShared {
    id: ShardId,
    /// The backend this shard's driver runs.
    backend: Backend,
    runtime: Arc<RuntimeState>,
    /// The runtime-wide security policy.
    pub(crate) policy: crate::security::SecurityPolicy,
    /// The runtime-wide inbound byte budget (one for every shard).
    pub(crate) inbound: Arc<InboundBudget>,
    /// Work from other threads; bounded by what they hand over (each blocking socket bounds its
    /// own hand-off queue by its HWM).
    injector: SegQueue<Injected>,
    parked: AtomicBool,
    wake: Arc<WakeFd>,
    stopped: AtomicBool,
}

impl ShardShared {
    /// This shard's id.
    pub(crate) fn id(&self) -> ShardId {
        self.id
    }

    /// The runtime-wide value of type `T`, created on first use.
    pub(crate) fn runtime_state<T: Any + Send + Sync + Default>(&self) -> Arc<T> {
        let mut values = self
            .runtime
            .values
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let value = values
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(T::default()))
            .clone();
        drop(values);
        // The map is keyed by the value's own TypeId, so the downcast cannot fail.
        value.downcast::<T>().unwrap_or_else(|_| unreachable!())
    }

    fn unpark(&self) {
        if self.parked.swap(false, Ordering::AcqRel) {
            if let Err(e) = self.wake.notify() {
                tracing::warn!(shard = self.id.0, "eventfd write failed: {e}");
            }
        }
    }

    fn inject(&self, item: Injected) {
        self.injector.push(item);
        self.unpark();
    }
}

/// Something to stop when its shard stops (a socket's tasks), after lingering work is done.
pub(crate) trait ShutdownHook {
    fn shut_down(&self);
}

/// The shard-local state, reachable through a thread-local on the shard thread.
pub(crate) struct ShardLocal {
    pub(crate) shared: Arc<ShardShared>,
    pub(crate) driver: Driver,
    timers: Timers,
    run_queue: RefCell<VecDeque<Runnable>>,
    /// Tasks that must finish before the shard may stop (lingering sockets).
    pub(crate) lingering: Cell<usize>,
    /// Run at shutdown; pruned of dead entries on every registration, so bounded by the live
    /// hooks.
    shutdown_hooks: RefCell<Vec<Weak<dyn ShutdownHook>>>,
}

impl ShardLocal {
    /// Run `hook` when the shard stops (unless it has gone by then).
    pub(crate) fn on_shutdown(&self, hook: Rc<dyn ShutdownHook>) {
        let mut hooks = self.shutdown_hooks.borrow_mut();
        hooks.retain(|w| w.strong_count() > 0);
        hooks.push(Rc::downgrade(&hook));
    }

    fn run_shutdown_hooks(&self) {
        let hooks: Vec<_> = self.shutdown_hooks.borrow_mut().drain(..).collect();
        for hook in hooks.into_iter().filter_map(|w| w.upgrade()) {
            hook.shut_down();
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<ShardLocal>>> = const { RefCell::new(None) };
}

/// Run `f` with the current shard's driver. Panics off a shard: ringmq's async API only works on
/// shard threads (the blocking API works anywhere).
pub(crate) fn with_driver<R>(f: impl FnOnce(&Driver) -> R) -> R {
    let shard = current().expect("ringmq async operations must run on a ringmq shard");
    f(&shard.driver)
}

/// Like [`with_driver`], but does nothing off a shard (for destructors).
pub(crate) fn try_with_driver(f: impl FnOnce(&Driver)) {
    if let Some(shard) = current() {
        f(&shard.driver)
    }
}

/// Run `f` with the current shard's timers. Panics off a shard.
fn with_timers<R>(f: impl FnOnce(&Timers) -> R) -> R {
    let shard = current().expect("ringmq timers must run on a ringmq shard");
    f(&shard.timers)
}

/// Like [`with_timers`], but does nothing off a shard (for destructors).
fn try_with_timers(f: impl FnOnce(&Timers)) {
    if let Some(shard) = current() {
        f(&shard.timers)
    }
}

/// The shard this thread runs, if any.
pub(crate) fn current() -> Option<Rc<ShardLocal>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// The id of the shard this thread runs, if it is a shard thread.
pub fn current_shard() -> Option<ShardId> {
    current().map(|s| s.shared.id)
}

fn make_schedule(shared: Arc<ShardShared>) -> impl Fn(Runnable) + Send + Sync + 'static {
    move |runnable: Runnable| {
        let on_this_shard = CURRENT.with(|c| {
            c.borrow()
                .as_ref()
                .is_some_and(|s| Arc::ptr_eq(&s.shared, &shared))
        });
        if on_this_shard {
            CURRENT.with(|c| {
                if let Some(s) = c.borrow().as_ref() {
                    s.run_queue.borrow_mut().push_back(runnable);
                }
            });
        } else if !shared.stopped.load(Ordering::Acquire) {
            shared.inject(Injected::Run(runnable));
        }
    }
}

/// Spawn a task on the current shard. Panics off a shard.
pub fn spawn_local<F>(future: F) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let shard = current().expect("spawn_local must be called on a ringmq shard");
    let (runnable, task) = async_task::spawn_local(future, make_schedule(shard.shared.clone()));
    runnable.schedule();
    task
}

/// A cheap, clonable, thread-safe handle to one shard.
#[derive(Clone)]
pub struct ShardHandle {
    shared: Arc<ShardShared>,
}

impl std::fmt::Debug for ShardHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ShardHandle({})", self.shared.id.0)
    }
}

impl ShardHandle {
    pub(crate) fn from_shared(shared: Arc<ShardShared>) -> ShardHandle {
        ShardHandle { shared }
    }

    /// This shard's id.
    pub fn id(&self) -> ShardId {
        self.shared.id
    }

    /// Whether the calling thread is this shard's.
    pub(crate) fn is_current(&self) -> bool {
        current().is_some_and(|s| Arc::ptr_eq(&s.shared, &self.shared))
    }

    /// The I/O backend this shard runs ([`Backend::IoUring`] or [`Backend::Epoll`]).
    pub fn backend(&self) -> Backend {
        self.shared.backend
    }

    /// Run `f` on the shard and return what it returns, blocking the caller. Fails when the shard
    /// has stopped. Must not be called from this shard itself (it would wait on itself).
    pub fn call<R, F>(&self, f: F) -> Result<R, Error>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        if current().is_some_and(|s| Arc::ptr_eq(&s.shared, &self.shared)) {
            return Ok(f());
        }
        let (tx, rx) = mpsc::sync_channel(1);
        self.call_async(move || {
            let _ = tx.send(f());
        })?;
        self.reply(&rx)
    }

    /// Wait for what a queued call sends back. A call queued as the shard stopped may never
    /// run (nor be dropped, while the queue lives on), so the wait looks at `stopped` now and
    /// then rather than trusting the channel to close.
    fn reply<R>(&self, rx: &mpsc::Receiver<R>) -> Result<R, Error> {
        const LOOK: std::time::Duration = std::time::Duration::from_millis(20);
        loop {
            match rx.recv_timeout(LOOK) {
                Ok(reply) => return Ok(reply),
                Err(mpsc::RecvTimeoutError::Timeout)
                    if !self.shared.stopped.load(Ordering::Acquire) => {}
                // Stopped: a reply sent as it stopped still counts.
                Err(_) => {
                    return rx
                        .try_recv()
                        .map_err(|_| Error::new(ErrorKind::Closed, "the shard stopped"))
                }
            }
        }
    }

    /// Wait until the shard has run what was ready when this was called (tasks woken and calls
    /// queued from other threads before it) and what that work made ready on the shard in turn:
    /// a message handed to a socket on this shard before the call has been routed, and when its
    /// receiver is on this shard too (inproc), it is in the receiver's hand-off queue, so a
    /// non-blocking receive sees it, as one would right after a libzmq inproc send.
    ///
    /// A shard that never runs dry (a stream of messages) is waited for at most
    /// [`SETTLE_ROUNDS`] passes of its loop. Costs a wake-up of the shard when it is parked.
    /// On any shard's thread it returns at once: on this one it would wait on itself, and on
    /// another, two shards settling each other would wait on each other. Best effort, then:
    /// it covers what was queued before it, not what a busy shard keeps making. Fails when the
    /// shard has stopped.
    pub fn settle(&self) -> Result<(), Error> {
        if current().is_some() {
            return Ok(());
        }
        let (tx, rx) = mpsc::sync_channel(1);
        // A task, not a call: calls run as the injector is drained, before the tasks it held.
        self.call_async(move || {
            spawn_local(async move {
                for _ in 0..SETTLE_ROUNDS {
                    let idle = current().is_some_and(|s| {
                        s.run_queue.borrow().is_empty() && s.shared.injector.is_empty()
                    });
                    if idle {
                        break;
                    }
                    YieldNow(false).await;
                }
                let _ = tx.send(());
            })
            .detach();
        })?;
        self.reply(&rx)
    }

    /// Queue `f` to run on the shard, without waiting.
    pub(crate) fn call_async<F>(&self, f: F) -> Result<(), Error>
    where
        F: FnOnce() + Send + 'static,
    {
        if self.shared.stopped.load(Ordering::Acquire) {
            return Err(Error::new(ErrorKind::Closed, "the shard stopped"));
        }
        self.shared.inject(Injected::Call(Box::new(f)));
        Ok(())
    }

    /// Spawn a task on the shard: `f` runs there and builds the (not necessarily `Send`) future.
    /// The returned [`Task`] may be awaited from anywhere, or blocked on with [`block_on`];
    /// dropping it cancels the task, [`Task::detach`] lets it run on.
    pub fn spawn<F, Fut>(&self, f: F) -> Result<Task<Fut::Output>, Error>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        self.call(move || spawn_local(f()))
    }
}

/// [`Runtime::settle`] over `shards`, for those who keep the handles rather than the runtime.
pub fn settle_all(shards: &[ShardHandle]) -> Result<(), Error> {
    let passes = if shards.len() > 1 { 2 } else { 1 };
    for _ in 0..passes {
        for shard in shards {
            shard.settle()?;
        }
    }
    Ok(())
}

/// The most passes of its loop a [`ShardHandle::settle`] lets a busy shard's other work go first.
pub const SETTLE_ROUNDS: usize = 64;

/// Ready on its second poll: goes to the back of the run queue once.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// Block the calling (non-shard) thread on a future, e.g. a [`Task`] returned by
/// [`ShardHandle::spawn`].
pub fn block_on<F: Future>(future: F) -> F::Output {
    let thread = std::thread::current();
    let waker = std::task::Waker::from(Arc::new(ThreadWaker(thread)));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

struct ThreadWaker(std::thread::Thread);

impl std::task::Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// A set of running shards. Dropping it stops them after their lingering sockets finish.
pub struct Runtime {
    shards: Vec<ShardHandle>,
    threads: Vec<JoinHandle<()>>,
    next: AtomicUsize,
    config: Config,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("shards", &self.shards.len())
            .field("backends", &self.backends())
            .field("config", &self.config)
            .finish()
    }
}

impl Runtime {
    /// Start the shards `config` describes, on the backend [`Config::backend`] chooses (see
    /// [`Backend`]). Fails with [`ErrorKind::BackendUnavailable`] and the likely cause when the
    /// backend asked for cannot run here (io_uring asked for explicitly where it is forbidden).
    pub fn new(config: Config) -> Result<Runtime, Error> {
        config.validate()?;
        raise_fd_limit();
        let backend = resolve_backend(config.backend)?;
        let mut shards = Vec::with_capacity(config.shards);
        let mut threads = Vec::with_capacity(config.shards);
        let runtime = Arc::new(RuntimeState::default());
        let inbound = Arc::new(InboundBudget::new(config.inbound_budget_bytes));
        for i in 0..config.shards {
            let wake = Arc::new(WakeFd::new()?);
            let core = (!config.cores.is_empty()).then(|| config.cores[i % config.cores.len()]);
            let (ready_tx, ready_rx) = mpsc::sync_channel(1);
            let thread_config = config.clone();
            let thread_wake = wake.clone();
            let (driver_tx, driver_rx) = mpsc::sync_channel::<Arc<ShardShared>>(1);
            let thread = std::thread::Builder::new()
                .name(format!("ringmq-shard-{i}"))
                .spawn(move || {
                    let driver = match start_driver(backend, &thread_config, thread_wake, i) {
                        Ok(d) => d,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(driver.backend()));
                    let Ok(shared) = driver_rx.recv() else {
                        return;
                    };
                    run_shard(shared, core, driver, thread_config.spin());
                })
                .map_err(|e| Error::io("spawning a shard thread", e))?;
            let shard_backend = ready_rx
                .recv()
                .map_err(|_| Error::new(ErrorKind::BackendUnavailable, "shard thread died"))??;
            let shared = Arc::new(ShardShared {
                id: ShardId(i as u16),
                backend: shard_backend,
                runtime: runtime.clone(),
                policy: config.security_policy,
                inbound: inbound.clone(),
                injector: SegQueue::new(),
                parked: AtomicBool::new(false),
                wake,
                stopped: AtomicBool::new(false),
            });
            driver_tx
                .send(shared.clone())
                .map_err(|_| Error::new(ErrorKind::BackendUnavailable, "shard thread died"))?;
            shards.push(ShardHandle { shared });
            threads.push(thread);
        }
        Ok(Runtime {
            shards,
            threads,
            next: AtomicUsize::new(0),
            config,
        })
    }

    /// One shard with default settings, overridden by the environment.
    pub fn from_env() -> Result<Runtime, Error> {
        Runtime::new(Config::default().with_env()?)
    }

    /// Number of shards.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// The handle of shard `id`.
    pub fn shard(&self, id: ShardId) -> Option<&ShardHandle> {
        self.shards.get(usize::from(id.0))
    }

    /// Every shard's handle, in shard order.
    pub fn shards(&self) -> &[ShardHandle] {
        &self.shards
    }

    /// The next shard in round-robin order (where new sockets go by default).
    pub fn next_shard(&self) -> &ShardHandle {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.shards.len();
        &self.shards[i]
    }

    /// Wait until every shard has run what was ready when this was called, and what that made
    /// ready in turn (see [`ShardHandle::settle`]); with several shards, every shard twice in
    /// order, so that work handed from one shard to another is covered too. After it, on shards
    /// that ran dry within [`SETTLE_ROUNDS`] passes, a message sent over inproc before the call
    /// is in its receiver's hand-off queue, and a subscription or connection made over inproc is
    /// in place. Best effort: a shard kept busy by a stream of messages, or a hand-off that
    /// takes more steps than two passes cover, may still have it on the way; and on a shard's
    /// own thread it returns at once. Code that must see a message waits for it.
    pub fn settle(&self) -> Result<(), Error> {
        settle_all(&self.shards)
    }

    /// The backend each shard runs, in shard order.
    pub fn backends(&self) -> Vec<Backend> {
        self.shards.iter().map(|s| s.backend()).collect()
    }

    /// The backend of the first shard: with `auto`, every shard's (they probe once, together).
    pub fn backend(&self) -> Backend {
        self.shards[0].backend()
    }

    /// Spawn a task on `shard`; see [`ShardHandle::spawn`].
    pub fn spawn_on<F, Fut>(&self, shard: ShardId, f: F) -> Result<Task<Fut::Output>, Error>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        self.shard(shard)
            .ok_or_else(|| Error::new(ErrorKind::InvalidConfig, "no such shard"))?
            .spawn(f)
    }

    /// The configuration the runtime runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        for s in &self.shards {
            s.shared.inject(Injected::Stop);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Raise the soft `RLIMIT_NOFILE` to the hard limit, once per process (logged): every
/// connection is a descriptor, and the usual soft limit of 1024 would let a flood of idle
/// connections exhaust them long before the socket's own limits apply.
fn raise_fd_limit() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one rlimit into the live struct it is given.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return;
        }
        if limit.rlim_cur >= limit.rlim_max {
            return;
        }
        let old = limit.rlim_cur;
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: setrlimit reads one rlimit from the live struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } == 0 {
            tracing::info!(
                "raised the soft RLIMIT_NOFILE from {old} to the hard limit {}",
                limit.rlim_max
            );
        }
    });
}

/// How the seccomp allowance for io_uring is spelt, for the fallback log line and errors.
const IO_URING_SECCOMP_HINT: &str = "to use io_uring in a container, allow the syscalls \
    io_uring_setup, io_uring_enter and io_uring_register in its seccomp profile (and \
    kernel.io_uring_disabled=0 on the host)";

impl Backend {
    /// The backend a runtime configured with `self` would run here, probing io_uring as
    /// [`Runtime::new`] does: `auto` becomes `RINGMQ_BACKEND` when set, else `io-uring` where it
    /// works, else `epoll`; `io-uring` fails with [`ErrorKind::BackendUnavailable`] where it
    /// cannot run.
    pub fn resolve(self) -> Result<Backend, Error> {
        resolve_backend(self)
    }
}

/// Turn `auto` into a concrete backend, once per runtime: `RINGMQ_BACKEND` when set, else
/// io_uring when it works here, else epoll (logged once, with the cause and the fix).
fn resolve_backend(requested: Backend) -> Result<Backend, Error> {
    let requested = match requested {
        Backend::Auto => match std::env::var("RINGMQ_BACKEND") {
            Ok(v) if !v.trim().is_empty() => v.parse::<Backend>()?,
            _ => Backend::Auto,
        },
        explicit => explicit,
    };
    match requested {
        Backend::IoUring => {
            driver::uring::probe()?;
            Ok(Backend::IoUring)
        }
        Backend::Epoll => Ok(Backend::Epoll),
        Backend::Auto => match driver::uring::probe() {
            Ok(()) => Ok(Backend::IoUring),
            Err(e) => {
                tracing::info!(
                    "io_uring unavailable ({}); using the epoll backend. {IO_URING_SECCOMP_HINT}",
                    e.message()
                );
                Ok(Backend::Epoll)
            }
        },
    }
}

/// Build shard `index`'s driver. The probe passed, but one shard's ring can still fail (memlock
/// for a large ring): that is an error when io_uring was asked for by name, and a logged fallback
/// under `auto`.
fn start_driver(
    backend: Backend,
    config: &Config,
    wake: Arc<WakeFd>,
    index: usize,
) -> Result<Driver, Error> {
    match Driver::new(backend, config, wake.clone()) {
        Err(e) if backend == Backend::IoUring && config.backend == Backend::Auto => {
            tracing::info!(
                shard = index,
                "io_uring ring failed ({}); this shard uses epoll",
                e.message()
            );
            Driver::new(Backend::Epoll, config, wake)
        }
        other => other,
    }
}

fn run_shard(shared: Arc<ShardShared>, core: Option<usize>, driver: Driver, spin: Spin) {
    if let Some(core) = core {
        if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
            tracing::warn!(shard = shared.id.0, core, "could not pin shard to core");
        }
    }
    let local = Rc::new(ShardLocal {
        shared: shared.clone(),
        driver,
        timers: Timers::default(),
        run_queue: RefCell::new(VecDeque::with_capacity(256)),
        lingering: Cell::new(0),
        shutdown_hooks: RefCell::new(Vec::new()),
    });
    // How long to spin before parking: only this loop reads and teaches it.
    let mut spinner = Spinner::new(spin);
    CURRENT.with(|c| *c.borrow_mut() = Some(local.clone()));
    tracing::debug!(
        shard = shared.id.0,
        ?core,
        backend = %shared.backend,
        "shard started"
    );

    let mut stopping = false;
    let mut stopped_sockets = false;
    loop {
        // 1. Work from other threads.
        while let Some(item) = shared.injector.pop() {
            match item {
                Injected::Run(r) => local.run_queue.borrow_mut().push_back(r),
                Injected::Call(f) => f(),
                Injected::Stop => stopping = true,
            }
        }
        // 2. Run what is ready, a bounded batch so I/O is reaped between batches.
        let mut ran = 0;
        while ran < 1024 {
            let next = local.run_queue.borrow_mut().pop_front();
            let Some(r) = next else { break };
            r.run();
            ran += 1;
        }
        if stopping && local.lingering.get() == 0 {
            // Lingering closes are done: stop every remaining socket task, let them unwind (their
            // dropped operations cancel), then leave.
            if !stopped_sockets {
                stopped_sockets = true;
                local.run_shutdown_hooks();
                continue;
            }
            if local.run_queue.borrow().is_empty() {
                break;
            }
        }
        // 3. Timers and I/O.
        let next_timer = local.timers.fire(Instant::now());
        let has_work = !local.run_queue.borrow().is_empty() || !shared.injector.is_empty();
        if let Err(e) = local.driver.poll(Wait::No, false) {
            tracing::error!(shard = shared.id.0, error = %e, "I/O poll failed");
        }
        if has_work || !local.run_queue.borrow().is_empty() {
            continue;
        }
        // 4. Nothing to do: spin for as long as the spin policy says, then park.
        let idle_since = Instant::now();
        let spin_for = spinner.budget();
        if !spin_for.is_zero() {
            let spin_until = idle_since + spin_for;
            let mut found = false;
            while Instant::now() < spin_until {
                if !shared.injector.is_empty() {
                    found = true;
                    break;
                }
                let _ = local.driver.poll(Wait::No, true);
                if !local.run_queue.borrow().is_empty() {
                    found = true;
                    break;
                }
                if next_timer.is_some_and(|t| Instant::now() >= t) {
                    found = true;
                    break;
                }
                spinner.pause();
            }
            if found {
                spinner.woke_after(idle_since.elapsed());
                continue;
            }
        }
        shared.parked.store(true, Ordering::SeqCst);
        if !shared.injector.is_empty() {
            shared.parked.store(false, Ordering::SeqCst);
            continue;
        }
        let wait = match next_timer {
            Some(t) => Wait::Timeout(t.saturating_duration_since(Instant::now())),
            None => Wait::Forever,
        };
        if let Err(e) = local.driver.poll(wait, false) {
            tracing::error!(shard = shared.id.0, error = %e, "I/O wait failed");
        }
        shared.parked.store(false, Ordering::SeqCst);
        spinner.woke_after(idle_since.elapsed());
    }

    shared.stopped.store(true, Ordering::Release);
    // Drop every task still queued; their futures release sockets and cancel their operations.
    local.run_queue.borrow_mut().clear();
    while let Some(item) = shared.injector.pop() {
        drop(item);
    }
    // Let the kernel give back every buffer lent to it before the driver goes.
    local.driver.shut_down(Duration::from_secs(1));
    CURRENT.with(|c| *c.borrow_mut() = None);
    drop(local);
}
