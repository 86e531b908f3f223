//! `zmq_ctx_*`: a context is one ringmq [`Runtime`] (started at its first socket, with one shard
//! per `ZMQ_IO_THREADS`), its options and the count of its open sockets.
//!
//! Ownership: `zmq_ctx_new` leaks a boxed [`Context`] to C; `zmq_ctx_term` takes it back. Each
//! socket holds an `Arc` of the context's [`ContextShared`], so a terminated context is seen
//! by its sockets (their calls fail with `ETERM`) while `zmq_ctx_term` waits for them to close.

use std::collections::HashSet;
use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use std::sync::OnceLock;

use ringmq::{Config, Runtime, ShardHandle};

use crate::error::{errno_of, fail, set_errno};

/// Context option numbers (zmq_ctx_set(3)).
mod option {
    use std::ffi::c_int;
    pub const IO_THREADS: c_int = 1;
    pub const MAX_SOCKETS: c_int = 2;
    pub const SOCKET_LIMIT: c_int = 3;
    pub const THREAD_SCHED_POLICY: c_int = 4;
    pub const MAX_MSGSZ: c_int = 5;
    pub const MSG_T_SIZE: c_int = 6;
    pub const THREAD_AFFINITY_CPU_ADD: c_int = 7;
    pub const THREAD_AFFINITY_CPU_REMOVE: c_int = 8;
    pub const THREAD_NAME_PREFIX: c_int = 9;
    /// `ZMQ_THREAD_PRIORITY` shares its number with `ZMQ_SOCKET_LIMIT`; only `zmq_ctx_set`
    /// takes it (the limit is read-only).
    pub const THREAD_PRIORITY: c_int = 3;
    /// Draft API, read-only here: received messages are never copied.
    pub const ZERO_COPY_RECV: c_int = 10;
    pub const IPV6: c_int = 42;
    pub const BLOCKY: c_int = 70;
}

/// The most sockets a context can have (`ZMQ_SOCKET_LIMIT`; `ZMQ_MAX_SOCKETS` up to it).
const SOCKET_LIMIT: c_int = 65_535;

/// A context's options, as `zmq_ctx_set` left them.
#[derive(Debug, Clone)]
pub(crate) struct ContextOptions {
    /// Shards of the runtime, fixed when the first socket starts it (0 is taken as 1).
    pub(crate) io_threads: c_int,
    pub(crate) max_sockets: c_int,
    /// New sockets linger forever (-1) when set, not at all when cleared.
    pub(crate) blocky: bool,
    /// New sockets start with `ZMQ_IPV6` set.
    pub(crate) ipv6: bool,
    pub(crate) max_msgsz: c_int,
    thread_priority: c_int,
    thread_sched_policy: c_int,
    thread_name_prefix: c_int,
}

impl Default for ContextOptions {
    fn default() -> Self {
        ContextOptions {
            io_threads: 1,
            max_sockets: 1023,
            blocky: true,
            ipv6: false,
            max_msgsz: c_int::MAX,
            thread_priority: -1,
            thread_sched_policy: -1,
            thread_name_prefix: 0,
        }
    }
}

/// What a context shares with its sockets.
#[derive(Debug, Default)]
pub(crate) struct ContextShared {
    /// Set by `zmq_ctx_shutdown` or `zmq_ctx_term`: every later call on the context's sockets
    /// fails with `ETERM`.
    terminated: AtomicBool,
    options: Mutex<ContextOptions>,
    /// Sockets of this context not yet closed.
    open_sockets: Mutex<usize>,
    /// Signalled when `open_sockets` drops.
    socket_closed: Condvar,
    /// The threads of `zmq_socket_monitor`, joined by `zmq_ctx_term` before the runtime stops.
    monitors: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// The process that made the context: a forked child inherits it without its threads.
    owner_pid: OnceLock<u32>,
    /// The runtime's shards, once it started (see [`ContextShared::settle`]).
    shards: OnceLock<Vec<ShardHandle>>,
    /// Counts the calls after which an inproc peer may see something new: binds, connects,
    /// disconnects, closes, options (subscriptions among them); and messages sent or received
    /// over inproc (a receive makes room for its senders).
    changes: AtomicU64,
    moves: AtomicU64,
    /// How far the changes and moves are known settled: what the latest settle of any of the
    /// context's sockets started from. One settle serves every socket (a poll over many inproc
    /// sockets settles once per change, not once per socket).
    settled: Mutex<Settled>,
}

/// A point in the context's changes and moves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Settled {
    changes: u64,
    moves: u64,
}

impl Settled {
    /// Whether everything up to `self` is settled once `covered` is.
    fn within(self, covered: Settled) -> bool {
        self.changes <= covered.changes && self.moves <= covered.moves
    }

    /// Both counters count events in order, so two settles together cover each one's most.
    fn union(self, other: Settled) -> Settled {
        Settled {
            changes: self.changes.max(other.changes),
            moves: self.moves.max(other.moves),
        }
    }
}

impl ContextShared {
    /// Whether every call on the context's sockets fails with `ETERM`: it was shut down or
    /// terminated, or this is a forked child, which inherited the context without the threads
    /// that run it (it may only close what it inherited, as in libzmq).
    pub(crate) fn is_terminated(&self) -> bool {
        self.terminated.load(Ordering::SeqCst) || self.inherited()
    }

    /// A bind, connect, disconnect, close or option change was made on one of its sockets.
    pub(crate) fn changed(&self) {
        self.changes.fetch_add(1, Ordering::Release);
    }

    /// A socket that uses inproc sent or received a message.
    pub(crate) fn moved(&self) {
        self.moves.fetch_add(1, Ordering::Release);
    }

    /// libzmq's inproc is synchronous: a message sent is in the receiver's pipe when the send
    /// returns, and a subscription or connection is in place when its call returns. Its tests
    /// (and pyzmq's) rely on that, with a non-blocking receive right after a send, or a publish
    /// right after a subscriber connected and subscribed. ringmq moves these through its
    /// shards, so before a receive or send says `EAGAIN` (`with_moves`), or before a send after
    /// a change, a socket that uses inproc lets the shards settle ([`ringmq::settle_all`]),
    /// when something changed (or moved) since the context's sockets last did. Returns whether
    /// it settled.
    pub(crate) fn settle(&self, with_moves: bool) -> bool {
        let covered = *self.settled.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Settled {
            changes: self.changes.load(Ordering::Acquire),
            moves: if with_moves {
                self.moves.load(Ordering::Acquire)
            } else {
                covered.moves
            },
        };
        let Some(shards) = self.shards.get() else {
            return false;
        };
        if now.within(covered) {
            return false;
        }
        // A stopped shard: the context is going; what the call then does reports it.
        if ringmq::settle_all(shards).is_err() {
            return false;
        }
        let mut settled = self.settled.lock().unwrap_or_else(PoisonError::into_inner);
        *settled = settled.union(now);
        true
    }

    /// Whether this process is a fork of the one that made the context.
    pub(crate) fn inherited(&self) -> bool {
        self.owner_pid
            .get()
            .is_some_and(|&pid| pid != current_pid())
    }

    /// The context's options now.
    pub(crate) fn options(&self) -> ContextOptions {
        self.options
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Count a new socket; `EMFILE` at `ZMQ_MAX_SOCKETS`.
    fn opened(&self) -> Result<(), c_int> {
        let max = self.options().max_sockets;
        let mut open = self
            .open_sockets
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *open >= usize::try_from(max).unwrap_or(0) {
            return Err(libc::EMFILE);
        }
        *open += 1;
        Ok(())
    }

    /// Count a closed socket and wake a waiting `zmq_ctx_term`.
    pub(crate) fn closed(&self) {
        let mut open = self
            .open_sockets
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *open = open.saturating_sub(1);
        self.socket_closed.notify_all();
    }

    /// Keep a monitor thread, to be joined at term.
    pub(crate) fn add_monitor(&self, thread: std::thread::JoinHandle<()>) {
        let mut monitors = self.monitors.lock().unwrap_or_else(PoisonError::into_inner);
        monitors.retain(|t| !t.is_finished());
        monitors.push(thread);
    }

    /// Wait for the monitor threads, which end once the context is terminated.
    fn join_monitors(&self) {
        let monitors =
            std::mem::take(&mut *self.monitors.lock().unwrap_or_else(PoisonError::into_inner));
        for thread in monitors {
            // A monitor thread does not panic; if it did, there is nothing left to clean up.
            let _ = thread.join();
        }
    }

    fn wait_all_closed(&self) {
        let mut open = self
            .open_sockets
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while *open > 0 {
            open = self
                .socket_closed
                .wait(open)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// This process's id, kept up to date across `fork` by an atfork handler, so looking whether a
/// context was inherited costs no system call (every socket call looks).
static PID: AtomicU32 = AtomicU32::new(0);

fn current_pid() -> u32 {
    PID.load(Ordering::Relaxed)
}

extern "C" fn forked_child() {
    PID.store(std::process::id(), Ordering::Relaxed);
}

/// Record the process id, and arrange for a forked child to record its own (once).
fn track_pid() {
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    REGISTERED.call_once(|| {
        PID.store(std::process::id(), Ordering::Relaxed);
        // SAFETY: registers a handler that only stores the child's pid in an atomic (no locks,
        // no allocation), the kind of work pthread_atfork(3) child handlers may do.
        unsafe { libc::pthread_atfork(None, None, Some(forked_child)) };
    });
}

/// A context as C holds it (`void *`).
#[derive(Debug)]
pub(crate) struct Context {
    /// Started by the first socket, so `ZMQ_IO_THREADS` set before it applies.
    runtime: OnceLock<Runtime>,
    shared: Arc<ContextShared>,
}

/// Addresses of the live contexts, so a terminated or foreign pointer is refused with `EFAULT`
/// instead of being dereferenced.
static LIVE_CONTEXTS: Mutex<Option<HashSet<usize>>> = Mutex::new(None);

fn is_live(ctx: *mut c_void) -> bool {
    LIVE_CONTEXTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .is_some_and(|live| live.contains(&(ctx as usize)))
}

/// Run `f` on the live context at `ctx`; `EFAULT` for null or unknown pointers.
///
/// # Safety
/// The context must not be terminated by another thread while `f` runs (libzmq's rule: no call
/// on a context races with `zmq_ctx_term`).
pub(crate) unsafe fn with_context<R>(
    ctx: *mut c_void,
    f: impl FnOnce(&Context) -> Result<R, c_int>,
) -> Result<R, c_int> {
    if ctx.is_null() || !is_live(ctx) {
        return Err(libc::EFAULT);
    }
    // SAFETY: `ctx` is in LIVE_CONTEXTS, so it came from `Box::into_raw` in `zmq_ctx_new` and has
    // not been freed (it leaves the set before `zmq_ctx_term` frees it); only shared references
    // are made to it.
    let context = unsafe { &*(ctx as *const Context) };
    f(context)
}

impl Context {
    /// A new socket's place: a shard and the shared state. Fails with `ETERM` after term.
    pub(crate) fn open_socket(&self) -> Result<(&ringmq::ShardHandle, Arc<ContextShared>), c_int> {
        if self.shared.is_terminated() {
            return Err(crate::error::ETERM);
        }
        let runtime = self.runtime()?;
        self.shared.opened()?;
        Ok((runtime.next_shard(), self.shared.clone()))
    }

    /// The runtime, started now with `ZMQ_IO_THREADS` shards if it is not running yet.
    fn runtime(&self) -> Result<&Runtime, c_int> {
        if let Some(runtime) = self.runtime.get() {
            return Ok(runtime);
        }
        let config = Config {
            shards: usize::try_from(self.shared.options().io_threads)
                .unwrap_or(1)
                .max(1),
            ..Config::default()
        };
        let runtime = Runtime::new(config).map_err(|e| errno_of(e.kind()))?;
        // Two threads making a context's first sockets at once: one runtime wins, the other is
        // dropped unused.
        let runtime = self.runtime.get_or_init(|| runtime);
        let _ = self.shared.shards.set(runtime.shards().to_vec());
        Ok(runtime)
    }
}

/// A new context. Its ringmq runtime starts with its first socket, with the default
/// configuration but `ZMQ_IO_THREADS` shards (the `RINGMQ_*` environment variables are not
/// read, except `RINGMQ_BACKEND`).
#[no_mangle]
pub extern "C" fn zmq_ctx_new() -> *mut c_void {
    track_pid();
    let shared = ContextShared::default();
    let _ = shared.owner_pid.set(current_pid());
    let context = Box::new(Context {
        runtime: OnceLock::new(),
        shared: Arc::new(shared),
    });
    let ptr = Box::into_raw(context).cast::<c_void>();
    LIVE_CONTEXTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(HashSet::new)
        .insert(ptr as usize);
    ptr
}

/// Terminate the context: its sockets' calls fail with `ETERM` from now on (a blocked
/// `zmq_send`/`zmq_recv` within 100 ms), then wait until every socket is closed, then stop the
/// runtime, which first lets each socket's queued messages go within its linger. `EFAULT` for
/// null or an already terminated context.
///
/// # Safety
/// `ctx` must be null or a pointer from `zmq_ctx_new`; no other call on it may race with this.
#[no_mangle]
pub unsafe extern "C" fn zmq_ctx_term(ctx: *mut c_void) -> c_int {
    // SAFETY: by this function's contract; the shared reference ends before the box is freed.
    let shared = match unsafe { with_context(ctx, |c| Ok(c.shared.clone())) } {
        Ok(shared) => shared,
        Err(code) => return fail(code),
    };
    shared.terminated.store(true, Ordering::SeqCst);
    if shared.inherited() {
        // A forked child: the runtime's threads (and the monitors') are the parent's. Forget
        // the context without stopping anything; the child's own contexts work as usual.
        let removed = LIVE_CONTEXTS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
            .is_some_and(|live| live.remove(&(ctx as usize)));
        if !removed {
            return fail(libc::EFAULT);
        }
        // SAFETY: `ctx` came from `Box::into_raw` in `zmq_ctx_new` and this thread removed it
        // from LIVE_CONTEXTS; it is leaked, not dropped, so no thread of the parent's is waited
        // for.
        std::mem::forget(unsafe { Box::from_raw(ctx.cast::<Context>()) });
        return 0;
    }
    shared.wait_all_closed();
    shared.join_monitors();
    let removed = LIVE_CONTEXTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_mut()
        .is_some_and(|live| live.remove(&(ctx as usize)));
    if !removed {
        // Another thread terminated it while we waited.
        return fail(libc::EFAULT);
    }
    // SAFETY: `ctx` came from `Box::into_raw` in `zmq_ctx_new`, and this thread removed it from
    // LIVE_CONTEXTS, so no later call can reach it and it is freed exactly once.
    drop(unsafe { Box::from_raw(ctx.cast::<Context>()) });
    0
}

/// Make every blocking call on the context's sockets return `ETERM` (within 100 ms), and every
/// later call too, without waiting for anything; `zmq_ctx_term` must still be called.
///
/// # Safety
/// As [`zmq_ctx_term`].
#[no_mangle]
pub unsafe extern "C" fn zmq_ctx_shutdown(ctx: *mut c_void) -> c_int {
    // SAFETY: by this function's contract.
    let result = unsafe {
        with_context(ctx, |c| {
            c.shared.terminated.store(true, Ordering::SeqCst);
            Ok(0)
        })
    };
    result.unwrap_or_else(fail)
}

/// Set a context option: `ZMQ_IO_THREADS` (before the first socket), `ZMQ_MAX_SOCKETS` (1 to
/// `ZMQ_SOCKET_LIMIT`), `ZMQ_IPV6`, `ZMQ_BLOCKY`, `ZMQ_MAX_MSGSZ`, and the thread options, which
/// are kept but change nothing (ringmq's shards are placed by its own configuration). `EINVAL`
/// for other options and bad values.
///
/// # Safety
/// As [`zmq_ctx_term`].
#[no_mangle]
pub unsafe extern "C" fn zmq_ctx_set(ctx: *mut c_void, option_name: c_int, value: c_int) -> c_int {
    let set = |c: &Context| {
        let mut options = c
            .shared
            .options
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let non_negative = |v: c_int| if v >= 0 { Ok(v) } else { Err(libc::EINVAL) };
        match option_name {
            option::IO_THREADS => options.io_threads = non_negative(value)?,
            option::MAX_SOCKETS => {
                if !(1..=SOCKET_LIMIT).contains(&value) {
                    return Err(libc::EINVAL);
                }
                options.max_sockets = value;
            }
            option::THREAD_PRIORITY => options.thread_priority = non_negative(value)?,
            option::THREAD_SCHED_POLICY => options.thread_sched_policy = non_negative(value)?,
            option::THREAD_AFFINITY_CPU_ADD | option::THREAD_AFFINITY_CPU_REMOVE => {
                non_negative(value)?;
            }
            option::THREAD_NAME_PREFIX => options.thread_name_prefix = value,
            option::MAX_MSGSZ => options.max_msgsz = non_negative(value)?,
            option::IPV6 => options.ipv6 = value != 0,
            option::BLOCKY => options.blocky = value != 0,
            _ => return Err(libc::EINVAL),
        }
        Ok(0)
    };
    // SAFETY: by this function's contract.
    unsafe { with_context(ctx, set) }.unwrap_or_else(fail)
}

/// Read a context option (as [`zmq_ctx_set`], plus `ZMQ_SOCKET_LIMIT` and `ZMQ_MSG_T_SIZE`);
/// -1 with `EINVAL` for others, `EFAULT` for a bad context.
///
/// # Safety
/// As [`zmq_ctx_term`].
#[no_mangle]
pub unsafe extern "C" fn zmq_ctx_get(ctx: *mut c_void, option_name: c_int) -> c_int {
    let get = |c: &Context| {
        let options = c.shared.options();
        Ok(match option_name {
            option::IO_THREADS => options.io_threads,
            option::MAX_SOCKETS => options.max_sockets,
            option::SOCKET_LIMIT => SOCKET_LIMIT,
            option::THREAD_SCHED_POLICY => options.thread_sched_policy,
            option::THREAD_NAME_PREFIX => options.thread_name_prefix,
            option::MAX_MSGSZ => options.max_msgsz,
            option::MSG_T_SIZE => std::mem::size_of::<crate::zmq_msg_t>() as c_int,
            option::IPV6 => c_int::from(options.ipv6),
            option::BLOCKY => c_int::from(options.blocky),
            option::ZERO_COPY_RECV => 1,
            _ => return Err(libc::EINVAL),
        })
    };
    // SAFETY: by this function's contract.
    unsafe { with_context(ctx, get) }.unwrap_or_else(fail)
}

/// The older way to make a context: [`zmq_ctx_new`] with `ZMQ_IO_THREADS` set to `io_threads`
/// (`EINVAL` if negative).
#[no_mangle]
pub extern "C" fn zmq_init(io_threads: c_int) -> *mut c_void {
    if io_threads < 0 {
        set_errno(libc::EINVAL);
        return std::ptr::null_mut();
    }
    let ctx = zmq_ctx_new();
    // SAFETY: a live context just made, not shared with anyone yet.
    if unsafe { zmq_ctx_set(ctx, option::IO_THREADS, io_threads) } != 0 {
        // SAFETY: as above; it has no sockets.
        unsafe { zmq_ctx_term(ctx) };
        set_errno(libc::EINVAL);
        return std::ptr::null_mut();
    }
    ctx
}

/// The older name of [`zmq_ctx_term`].
///
/// # Safety
/// As [`zmq_ctx_term`].
#[no_mangle]
pub unsafe extern "C" fn zmq_term(ctx: *mut c_void) -> c_int {
    // SAFETY: same contract.
    unsafe { zmq_ctx_term(ctx) }
}

/// The older name of [`zmq_ctx_term`].
///
/// # Safety
/// As [`zmq_ctx_term`].
#[no_mangle]
pub unsafe extern "C" fn zmq_ctx_destroy(ctx: *mut c_void) -> c_int {
    // SAFETY: same contract.
    unsafe { zmq_ctx_term(ctx) }
}
