//! The shard runtime: N threads, each pinned to a core, each with its own io_uring, run queue and
//! timers. A shard owns its sockets and never shares a lock with another on the hot path.
//!
//! Work reaches a shard from its own tasks (a local run queue) or from other threads through a
//! lock-free injector queue; a parked shard is woken through an eventfd whose read is always in
//! flight on its ring, and only when it is actually parked.

pub(crate) mod driver;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_task::{Runnable, Task};
use crossbeam_queue::SegQueue;

use crate::config::Config;
use crate::error::{Error, ErrorKind};
use crate::socket::core::KillSwitch;
use driver::{Driver, Wait};

pub use driver::{sleep, sleep_until, Sleep};

/// Identifies a shard of a [`Runtime`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardId(pub u16);

enum Injected {
    Run(Runnable),
    Call(Box<dyn FnOnce() + Send>),
    Stop,
}

/// The part of a shard other threads may touch.
pub(crate) struct ShardShared {
    id: ShardId,
    /// The inproc names of the runtime this shard belongs to.
    pub(crate) inproc: Arc<crate::socket::inproc::Registry>,
    /// The runtime-wide security policy.
    pub(crate) policy: crate::security::SecurityPolicy,
    injector: SegQueue<Injected>,
    parked: AtomicBool,
    eventfd: OwnedFd,
    stopped: AtomicBool,
}

impl ShardShared {
    fn unpark(&self) {
        if self.parked.swap(false, Ordering::AcqRel) {
            let one: u64 = 1;
            // SAFETY: writing 8 bytes from a live u64 to an eventfd we own.
            let n = unsafe {
                libc::write(
                    self.eventfd.as_raw_fd(),
                    (&one as *const u64).cast(),
                    std::mem::size_of::<u64>(),
                )
            };
            if n < 0 {
                tracing::warn!(
                    shard = self.id.0,
                    "eventfd write failed: {}",
                    std::io::Error::last_os_error()
                );
            }
        }
    }

    fn inject(&self, item: Injected) {
        self.injector.push(item);
        self.unpark();
    }
}

/// The shard-local state, reachable through a thread-local on the shard thread.
pub(crate) struct ShardLocal {
    pub(crate) shared: Arc<ShardShared>,
    pub(crate) driver: Driver,
    run_queue: RefCell<VecDeque<Runnable>>,
    /// Tasks that must finish before the shard may stop (lingering sockets).
    pub(crate) lingering: Cell<usize>,
    /// Kill switches of the sockets on this shard, fired at shutdown.
    sockets: RefCell<Vec<std::rc::Weak<KillSwitch>>>,
    busy_poll: Duration,
}

impl ShardLocal {
    /// Make `switch` fire when the shard stops.
    pub(crate) fn register_kill(&self, switch: &Rc<KillSwitch>) {
        let mut sockets = self.sockets.borrow_mut();
        sockets.retain(|w| w.strong_count() > 0);
        sockets.push(Rc::downgrade(switch));
    }

    fn kill_all(&self) {
        let sockets: Vec<_> = self.sockets.borrow_mut().drain(..).collect();
        for s in sockets.into_iter().filter_map(|w| w.upgrade()) {
            s.kill();
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
        rx.recv()
            .map_err(|_| Error::new(ErrorKind::Closed, "the shard stopped"))
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
            .field("config", &self.config)
            .finish()
    }
}

impl Runtime {
    /// Start the shards `config` describes. Fails with [`ErrorKind::IoUringUnavailable`] and the
    /// likely cause when io_uring cannot be used here.
    pub fn new(config: Config) -> Result<Runtime, Error> {
        config.validate()?;
        probe_io_uring()?;
        let mut shards = Vec::with_capacity(config.shards);
        let mut threads = Vec::with_capacity(config.shards);
        let inproc = Arc::new(crate::socket::inproc::Registry::default());
        for i in 0..config.shards {
            // SAFETY: eventfd(2) with valid flags; the result is checked below.
            let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
            if fd < 0 {
                return Err(Error::io("eventfd", std::io::Error::last_os_error()));
            }
            // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
            let eventfd = unsafe { OwnedFd::from_raw_fd(fd) };
            let shared = Arc::new(ShardShared {
                id: ShardId(i as u16),
                inproc: inproc.clone(),
                policy: config.security_policy,
                injector: SegQueue::new(),
                parked: AtomicBool::new(false),
                eventfd,
                stopped: AtomicBool::new(false),
            });
            let core = (!config.cores.is_empty()).then(|| config.cores[i % config.cores.len()]);
            let (ready_tx, ready_rx) = mpsc::sync_channel(1);
            let thread_shared = shared.clone();
            let ring_entries = config.ring_entries;
            let busy_poll = config.busy_poll();
            let thread = std::thread::Builder::new()
                .name(format!("ringmq-shard-{i}"))
                .spawn(move || run_shard(thread_shared, core, ring_entries, busy_poll, ready_tx))
                .map_err(|e| Error::io("spawning a shard thread", e))?;
            ready_rx
                .recv()
                .map_err(|_| Error::new(ErrorKind::IoUringUnavailable, "shard thread died"))??;
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

    /// The next shard in round-robin order (where new sockets go by default).
    pub fn next_shard(&self) -> &ShardHandle {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.shards.len();
        &self.shards[i]
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

/// Check that io_uring works here, turning each known failure into a clear error.
fn probe_io_uring() -> Result<(), Error> {
    if let Ok(v) = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled") {
        match v.trim() {
            "2" => {
                return Err(Error::new(
                    ErrorKind::IoUringUnavailable,
                    "io_uring is disabled on this host (sysctl kernel.io_uring_disabled=2)",
                ))
            }
            "1" => tracing::debug!("kernel.io_uring_disabled=1: io_uring limited to a group"),
            _ => {}
        }
    }
    match driver::build_ring(8) {
        Ok(_) => Ok(()),
        Err(e) => Err(explain_ring_error(&e)),
    }
}

fn explain_ring_error(e: &std::io::Error) -> Error {
    let cause = match e.raw_os_error() {
        Some(libc::ENOSYS) => "the kernel has no io_uring (Linux 5.19 or newer is needed), or a seccomp profile such as Docker's default blocks it",
        Some(libc::EPERM) | Some(libc::EACCES) => "io_uring is forbidden here (kernel.io_uring_disabled, or a seccomp or LSM policy)",
        Some(libc::ENOMEM) => "not enough locked memory for the ring (raise RLIMIT_MEMLOCK, e.g. ulimit -l)",
        _ => "io_uring setup failed",
    };
    Error::new(ErrorKind::IoUringUnavailable, format!("{cause}: {e}"))
}

fn run_shard(
    shared: Arc<ShardShared>,
    core: Option<usize>,
    ring_entries: u32,
    busy_poll: Duration,
    ready: mpsc::SyncSender<Result<(), Error>>,
) {
    if let Some(core) = core {
        if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
            tracing::warn!(shard = shared.id.0, core, "could not pin shard to core");
        }
    }
    let (ring, features) = match driver::build_ring(ring_entries) {
        Ok(r) => r,
        Err(e) => {
            let _ = ready.send(Err(explain_ring_error(&e)));
            return;
        }
    };
    let local = Rc::new(ShardLocal {
        shared: shared.clone(),
        driver: Driver::new(ring, features),
        run_queue: RefCell::new(VecDeque::with_capacity(256)),
        lingering: Cell::new(0),
        sockets: RefCell::new(Vec::new()),
        busy_poll,
    });
    CURRENT.with(|c| *c.borrow_mut() = Some(local.clone()));
    let mut wake_buf: Box<u64> = Box::new(0);
    // SAFETY: `wake_buf` lives until the end of this function, after the ring is torn down below.
    unsafe {
        local
            .driver
            .arm_wake(shared.eventfd.as_raw_fd(), &mut *wake_buf)
    };
    let _ = ready.send(Ok(()));
    tracing::debug!(
        shard = shared.id.0,
        ?core,
        defer_taskrun = features.defer_taskrun,
        "shard started"
    );

    let mut stopping = false;
    let mut killed_all = false;
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
            if !killed_all {
                killed_all = true;
                local.kill_all();
                continue;
            }
            if local.run_queue.borrow().is_empty() {
                break;
            }
        }
        // 3. Timers and I/O.
        let next_timer = local.driver.fire_timers(Instant::now());
        let has_work = !local.run_queue.borrow().is_empty() || !shared.injector.is_empty();
        let woke = match local.driver.poll_completions(Wait::No, false) {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(shard = shared.id.0, error = %e, "io_uring enter failed");
                false
            }
        };
        if woke {
            // SAFETY: as above; re-arm the eventfd read into the same live buffer.
            unsafe {
                local
                    .driver
                    .arm_wake(shared.eventfd.as_raw_fd(), &mut *wake_buf)
            };
        }
        if has_work || !local.run_queue.borrow().is_empty() {
            continue;
        }
        // 4. Nothing to do: spin for the busy-poll time, then park.
        if !local.busy_poll.is_zero() {
            let spin_until = Instant::now() + local.busy_poll;
            let mut found = false;
            while Instant::now() < spin_until {
                if !shared.injector.is_empty() {
                    found = true;
                    break;
                }
                if let Ok(w) = local.driver.poll_completions(Wait::No, true) {
                    if w {
                        // SAFETY: as above.
                        unsafe {
                            local
                                .driver
                                .arm_wake(shared.eventfd.as_raw_fd(), &mut *wake_buf)
                        };
                    }
                }
                if !local.run_queue.borrow().is_empty() {
                    found = true;
                    break;
                }
                if next_timer.is_some_and(|t| Instant::now() >= t) {
                    found = true;
                    break;
                }
                std::hint::spin_loop();
            }
            if found {
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
        match local.driver.poll_completions(wait, false) {
            Ok(true) => {
                // SAFETY: as above.
                unsafe {
                    local
                        .driver
                        .arm_wake(shared.eventfd.as_raw_fd(), &mut *wake_buf)
                };
            }
            Ok(false) => {}
            Err(e) => tracing::error!(shard = shared.id.0, error = %e, "io_uring wait failed"),
        }
        shared.parked.store(false, Ordering::SeqCst);
    }

    shared.stopped.store(true, Ordering::Release);
    // Drop every task still queued; their futures release sockets and cancel their operations.
    local.run_queue.borrow_mut().clear();
    while let Some(item) = shared.injector.pop() {
        drop(item);
    }
    // Let cancellations complete so every buffer lent to the kernel comes back before the ring and
    // `wake_buf` go away.
    let deadline = Instant::now() + Duration::from_secs(1);
    while local.driver.in_flight() > 0 && Instant::now() < deadline {
        let _ = local
            .driver
            .poll_completions(Wait::Timeout(Duration::from_millis(10)), true);
    }
    if local.driver.in_flight() > 0 {
        // The kernel may still write into memory lent to operations that never completed: leak
        // it (and the wake buffer) rather than free it under the kernel's feet.
        tracing::warn!(
            shard = shared.id.0,
            "operations still in flight at shutdown; leaking their buffers"
        );
        local.driver.leak_in_flight();
        std::mem::forget(wake_buf);
    } else {
        drop(wake_buf);
    }
    CURRENT.with(|c| *c.borrow_mut() = None);
    drop(local);
}
