//! `zmq_ctx_*`: a context is one ringmq [`Runtime`] and the count of its open sockets.
//!
//! Ownership: `zmq_ctx_new` leaks a boxed [`Context`] to C; `zmq_ctx_term` takes it back. Each
//! socket holds an `Arc` of the context's [`ContextShared`], so a terminated context is seen
//! by its sockets (their calls fail with `ETERM`) while `zmq_ctx_term` waits for them to close.

use std::collections::HashSet;
use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use ringmq::{Config, Runtime};

use crate::error::{errno_of, fail, set_errno};

/// What a context shares with its sockets.
#[derive(Debug, Default)]
pub(crate) struct ContextShared {
    /// Set by `zmq_ctx_term`: every later call on the context's sockets fails with `ETERM`.
    terminated: AtomicBool,
    /// Sockets of this context not yet closed.
    open_sockets: Mutex<usize>,
    /// Signalled when `open_sockets` drops.
    socket_closed: Condvar,
}

impl ContextShared {
    pub(crate) fn is_terminated(&self) -> bool {
        self.terminated.load(Ordering::SeqCst)
    }

    /// Count a new socket.
    fn opened(&self) {
        *self
            .open_sockets
            .lock()
            .unwrap_or_else(PoisonError::into_inner) += 1;
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

/// A context as C holds it (`void *`).
#[derive(Debug)]
pub(crate) struct Context {
    runtime: Runtime,
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
        self.shared.opened();
        Ok((self.runtime.next_shard(), self.shared.clone()))
    }
}

/// A new context: one ringmq runtime with the default configuration (one shard; the
/// `RINGMQ_*` environment variables are not read). NULL with errno on failure.
#[no_mangle]
pub extern "C" fn zmq_ctx_new() -> *mut c_void {
    let runtime = match Runtime::new(Config::default()) {
        Ok(runtime) => runtime,
        Err(e) => {
            set_errno(errno_of(e.kind()));
            return std::ptr::null_mut();
        }
    };
    let context = Box::new(Context {
        runtime,
        shared: Arc::default(),
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
    shared.wait_all_closed();
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

/// The older name of [`zmq_ctx_term`].
///
/// # Safety
/// As [`zmq_ctx_term`].
#[no_mangle]
pub unsafe extern "C" fn zmq_ctx_destroy(ctx: *mut c_void) -> c_int {
    // SAFETY: same contract.
    unsafe { zmq_ctx_term(ctx) }
}
