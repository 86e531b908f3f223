//! libzmq's helpers that have nothing to do with sockets: atomic counters, timers, a stopwatch,
//! `zmq_sleep` and threads (zmq_atomic_counter_new(3), zmq_timers(3)).
//!
//! Each object is a leaked `Box` handed to C as `void *` and taken back by its destroy call.
//! Timer sets are checked against the live ones (libzmq checks a tag, and its tests pass bogus
//! pointers); for the others libzmq does not check (a bad one is undefined behaviour there
//! too), and we check only for NULL.

use std::collections::HashSet;
use std::ffi::{c_int, c_long, c_ulong, c_void};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{fail, set_errno};

// ---- atomic counters ---------------------------------------------------------------------------

/// A new counter at 0; free it with [`zmq_atomic_counter_destroy`].
#[no_mangle]
pub extern "C" fn zmq_atomic_counter_new() -> *mut c_void {
    Box::into_raw(Box::new(AtomicI32::new(0))).cast()
}

/// The counter behind a C pointer.
///
/// # Safety
/// `counter` must come from [`zmq_atomic_counter_new`] and not be destroyed yet.
unsafe fn counter<'a>(counter: *mut c_void) -> Option<&'a AtomicI32> {
    // SAFETY: by the contract, null or a live `AtomicI32` from `Box::into_raw`; atomics are
    // shared between threads by design, so a shared reference is what every caller gets.
    unsafe { counter.cast::<AtomicI32>().as_ref() }
}

/// Set the counter to `value`.
///
/// # Safety
/// As [`counter`].
#[no_mangle]
pub unsafe extern "C" fn zmq_atomic_counter_set(counter_: *mut c_void, value: c_int) {
    // SAFETY: by this function's contract.
    if let Some(c) = unsafe { counter(counter_) } {
        c.store(value, Ordering::SeqCst);
    }
}

/// Add one; returns the value before (libzmq's contract).
///
/// # Safety
/// As [`counter`].
#[no_mangle]
pub unsafe extern "C" fn zmq_atomic_counter_inc(counter_: *mut c_void) -> c_int {
    // SAFETY: by this function's contract.
    unsafe { counter(counter_) }.map_or(0, |c| c.fetch_add(1, Ordering::SeqCst))
}

/// Subtract one; returns 0 if the counter is zero afterwards, 1 if it is not (below zero
/// included: libzmq's counter is unsigned, so from 0 it wraps to -1 and is "still non-zero").
///
/// # Safety
/// As [`counter`].
#[no_mangle]
pub unsafe extern "C" fn zmq_atomic_counter_dec(counter_: *mut c_void) -> c_int {
    // SAFETY: by this function's contract.
    unsafe { counter(counter_) }.map_or(0, |c| {
        c_int::from(c.fetch_sub(1, Ordering::SeqCst).wrapping_sub(1) != 0)
    })
}

/// The counter's value.
///
/// # Safety
/// As [`counter`].
#[no_mangle]
pub unsafe extern "C" fn zmq_atomic_counter_value(counter_: *mut c_void) -> c_int {
    // SAFETY: by this function's contract.
    unsafe { counter(counter_) }.map_or(0, |c| c.load(Ordering::SeqCst))
}

/// Free the counter at `*counter_p` and set `*counter_p` to NULL.
///
/// # Safety
/// `counter_p` must be null or point to null or to a live counter no other thread uses.
#[no_mangle]
pub unsafe extern "C" fn zmq_atomic_counter_destroy(counter_p: *mut *mut c_void) {
    if counter_p.is_null() {
        return;
    }
    // SAFETY: non-null and, by the contract, a readable and writable pointer slot.
    let counter = unsafe { counter_p.replace(std::ptr::null_mut()) };
    if !counter.is_null() {
        // SAFETY: from `Box::into_raw` in `zmq_atomic_counter_new`, destroyed once (the slot is
        // cleared above).
        drop(unsafe { Box::from_raw(counter.cast::<AtomicI32>()) });
    }
}

// ---- timers ------------------------------------------------------------------------------------

/// A timer's callback: `(timer_id, arg)`.
#[allow(non_camel_case_types)]
pub type zmq_timer_fn = unsafe extern "C" fn(timer_id: c_int, arg: *mut c_void);

struct Timer {
    id: c_int,
    interval: Duration,
    due: Instant,
    handler: zmq_timer_fn,
    arg: *mut c_void,
}

/// A set of timers (zmq_timers(3)): nothing runs on its own; `zmq_timers_execute` calls the
/// handlers of the due ones, on the caller's thread, and re-arms them.
#[derive(Default)]
struct Timers {
    timers: Vec<Timer>,
    next_id: c_int,
}

impl Timers {
    fn find(&mut self, id: c_int) -> Result<&mut Timer, c_int> {
        self.timers
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or(libc::EINVAL)
    }
}

/// Addresses of the live timer sets: anything else given as one is `EFAULT` (libzmq checks a
/// tag; its own test passes the address of a local variable), never dereferenced.
static LIVE_TIMERS: Mutex<Option<HashSet<usize>>> = Mutex::new(None);

fn timers_live(timers: *mut c_void) -> bool {
    LIVE_TIMERS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .is_some_and(|live| live.contains(&(timers as usize)))
}

/// # Safety
/// `timers`, if it is a live set (from [`zmq_timers_new`], not destroyed), must not be in use
/// by another thread.
unsafe fn timers<'a>(timers: *mut c_void) -> Result<&'a mut Timers, c_int> {
    if timers.is_null() || !timers_live(timers) {
        return Err(libc::EFAULT);
    }
    // SAFETY: the address is in LIVE_TIMERS, so it came from `Box::into_raw` in
    // `zmq_timers_new` and is not freed (destroy removes it first); by the contract this thread
    // alone uses it.
    Ok(unsafe { &mut *timers.cast::<Timers>() })
}

/// A new, empty set of timers.
#[no_mangle]
pub extern "C" fn zmq_timers_new() -> *mut c_void {
    let timers = Box::into_raw(Box::<Timers>::default()).cast::<c_void>();
    LIVE_TIMERS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(HashSet::new)
        .insert(timers as usize);
    timers
}

/// Free the timers at `*timers_p` and set it to NULL; `EFAULT` if there are none.
///
/// # Safety
/// `timers_p` must be null or point to null or to live timers no other thread uses.
#[no_mangle]
pub unsafe extern "C" fn zmq_timers_destroy(timers_p: *mut *mut c_void) -> c_int {
    if timers_p.is_null() {
        return fail(libc::EFAULT);
    }
    // SAFETY: non-null and, by the contract, a readable pointer slot.
    let timers = unsafe { timers_p.read() };
    let removed = !timers.is_null()
        && LIVE_TIMERS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
            .is_some_and(|live| live.remove(&(timers as usize)));
    if !removed {
        return fail(libc::EFAULT);
    }
    // SAFETY: as above, writable.
    unsafe { timers_p.write(std::ptr::null_mut()) };
    // SAFETY: it was live (from `Box::into_raw` in `zmq_timers_new`) and this call removed it,
    // so it is freed exactly once.
    drop(unsafe { Box::from_raw(timers.cast::<Timers>()) });
    0
}

/// Add a timer that calls `handler(id, arg)` every `interval` ms; returns its id (> 0).
///
/// # Safety
/// As [`timers`].
#[no_mangle]
pub unsafe extern "C" fn zmq_timers_add(
    timers_: *mut c_void,
    interval: usize,
    handler: Option<zmq_timer_fn>,
    arg: *mut c_void,
) -> c_int {
    // SAFETY: by this function's contract.
    let set = match unsafe { timers(timers_) } {
        Ok(set) => set,
        Err(code) => return fail(code),
    };
    let Some(handler) = handler else {
        return fail(libc::EFAULT);
    };
    set.next_id += 1;
    let interval = Duration::from_millis(interval as u64);
    set.timers.push(Timer {
        id: set.next_id,
        interval,
        due: Instant::now() + interval,
        handler,
        arg,
    });
    set.next_id
}

/// Remove timer `timer_id`; `EINVAL` if there is none.
///
/// # Safety
/// As [`timers`].
#[no_mangle]
pub unsafe extern "C" fn zmq_timers_cancel(timers_: *mut c_void, timer_id: c_int) -> c_int {
    // SAFETY: by this function's contract.
    let result = unsafe { timers(timers_) }.and_then(|set| {
        let before = set.timers.len();
        set.timers.retain(|t| t.id != timer_id);
        if set.timers.len() == before {
            Err(libc::EINVAL)
        } else {
            Ok(0)
        }
    });
    result.unwrap_or_else(fail)
}

/// Give timer `timer_id` a new interval, counted from now.
///
/// # Safety
/// As [`timers`].
#[no_mangle]
pub unsafe extern "C" fn zmq_timers_set_interval(
    timers_: *mut c_void,
    timer_id: c_int,
    interval: usize,
) -> c_int {
    // SAFETY: by this function's contract.
    let result = unsafe { timers(timers_) }.and_then(|set| {
        let timer = set.find(timer_id)?;
        timer.interval = Duration::from_millis(interval as u64);
        timer.due = Instant::now() + timer.interval;
        Ok(0)
    });
    result.unwrap_or_else(fail)
}

/// Restart timer `timer_id`'s interval from now.
///
/// # Safety
/// As [`timers`].
#[no_mangle]
pub unsafe extern "C" fn zmq_timers_reset(timers_: *mut c_void, timer_id: c_int) -> c_int {
    // SAFETY: by this function's contract.
    let result = unsafe { timers(timers_) }.and_then(|set| {
        let timer = set.find(timer_id)?;
        timer.due = Instant::now() + timer.interval;
        Ok(0)
    });
    result.unwrap_or_else(fail)
}

/// Milliseconds until the next timer is due (0 if one is due now), -1 if there are none.
///
/// # Safety
/// As [`timers`].
#[no_mangle]
pub unsafe extern "C" fn zmq_timers_timeout(timers_: *mut c_void) -> c_long {
    // SAFETY: by this function's contract.
    let set = match unsafe { timers(timers_) } {
        Ok(set) => set,
        Err(code) => {
            set_errno(code);
            return -1;
        }
    };
    let now = Instant::now();
    match set.timers.iter().map(|t| t.due).min() {
        None => -1,
        Some(due) => {
            // Round up, so a caller that sleeps this long finds the timer due.
            let wait = due.saturating_duration_since(now);
            let ms = wait.as_micros().div_ceil(1000);
            c_long::try_from(ms).unwrap_or(c_long::MAX)
        }
    }
}

/// Call the handler of every due timer and re-arm it for its next interval.
///
/// # Safety
/// As [`timers`]. A handler may cancel or add timers on the same set.
#[no_mangle]
pub unsafe extern "C" fn zmq_timers_execute(timers_: *mut c_void) -> c_int {
    // SAFETY: by this function's contract.
    let due: Vec<(c_int, zmq_timer_fn, *mut c_void)> = match unsafe { timers(timers_) } {
        Ok(set) => {
            let now = Instant::now();
            let mut due = Vec::new();
            for timer in set.timers.iter_mut().filter(|t| t.due <= now) {
                due.push((timer.id, timer.handler, timer.arg));
                timer.due = now + timer.interval;
            }
            due
        }
        Err(code) => return fail(code),
    };
    // The borrow of the set has ended: a handler may call back into it.
    for (id, handler, arg) in due {
        // A handler cancelled by an earlier one this round is not called.
        // SAFETY: by this function's contract the set is still live and ours.
        let still_there = unsafe { timers(timers_) }.is_ok_and(|set| set.find(id).is_ok());
        if still_there {
            // SAFETY: the caller's function with the argument it gave to `zmq_timers_add`.
            unsafe { handler(id, arg) };
        }
    }
    0
}

// ---- stopwatch, sleep, threads -----------------------------------------------------------------

/// Start a stopwatch; read it with [`zmq_stopwatch_intermediate`], free it with
/// [`zmq_stopwatch_stop`].
#[no_mangle]
pub extern "C" fn zmq_stopwatch_start() -> *mut c_void {
    Box::into_raw(Box::new(Instant::now())).cast()
}

fn micros_since(start: Instant) -> c_ulong {
    c_ulong::try_from(start.elapsed().as_micros()).unwrap_or(c_ulong::MAX)
}

/// Microseconds since the stopwatch started.
///
/// # Safety
/// `watch` must come from [`zmq_stopwatch_start`] and not be stopped yet.
#[no_mangle]
pub unsafe extern "C" fn zmq_stopwatch_intermediate(watch: *mut c_void) -> c_ulong {
    // SAFETY: by the contract, null or a live `Instant`.
    unsafe { watch.cast::<Instant>().as_ref() }.map_or(0, |start| micros_since(*start))
}

/// Microseconds since the stopwatch started; frees it.
///
/// # Safety
/// As [`zmq_stopwatch_intermediate`]; the pointer is invalid afterwards.
#[no_mangle]
pub unsafe extern "C" fn zmq_stopwatch_stop(watch: *mut c_void) -> c_ulong {
    if watch.is_null() {
        return 0;
    }
    // SAFETY: from `Box::into_raw` in `zmq_stopwatch_start`; stopped (freed) once by contract.
    let start = unsafe { Box::from_raw(watch.cast::<Instant>()) };
    micros_since(*start)
}

/// Sleep `seconds` seconds.
#[no_mangle]
pub extern "C" fn zmq_sleep(seconds: c_int) {
    std::thread::sleep(Duration::from_secs(u64::try_from(seconds).unwrap_or(0)));
}

/// A thread's entry point: `func(arg)`.
#[allow(non_camel_case_types)]
pub type zmq_thread_fn = unsafe extern "C" fn(arg: *mut c_void);

/// The caller's argument, handed to the new thread.
struct ThreadArg(*mut c_void);

// SAFETY: `zmq_threadstart`'s contract is that `arg` is for the new thread; libzmq hands it over
// the same way.
unsafe impl Send for ThreadArg {}

/// Start a thread running `func(arg)`; join it with [`zmq_threadclose`]. NULL with errno when it
/// cannot be started.
///
/// # Safety
/// `func` must be safe to call on another thread with `arg`.
#[no_mangle]
pub unsafe extern "C" fn zmq_threadstart(
    func: Option<zmq_thread_fn>,
    arg: *mut c_void,
) -> *mut c_void {
    let Some(func) = func else {
        set_errno(libc::EINVAL);
        return std::ptr::null_mut();
    };
    let arg = ThreadArg(arg);
    let spawned = std::thread::Builder::new()
        .name("zmq-thread".into())
        .spawn(move || {
            let arg = arg;
            // SAFETY: the caller's function with its own argument, by this function's contract.
            unsafe { func(arg.0) }
        });
    match spawned {
        Ok(handle) => Box::into_raw(Box::new(handle)).cast(),
        Err(e) => {
            set_errno(e.raw_os_error().unwrap_or(libc::EAGAIN));
            std::ptr::null_mut()
        }
    }
}

/// Wait for the thread to finish and free it.
///
/// # Safety
/// `thread` must come from [`zmq_threadstart`] and be closed once.
#[no_mangle]
pub unsafe extern "C" fn zmq_threadclose(thread: *mut c_void) {
    if thread.is_null() {
        return;
    }
    // SAFETY: from `Box::into_raw` in `zmq_threadstart`; closed (freed) once by contract.
    let handle = unsafe { Box::from_raw(thread.cast::<JoinHandle<()>>()) };
    // A panic cannot cross the C function, so the thread cannot have panicked in Rust code of
    // ours; a join error has nothing left to report.
    let _ = handle.join();
}
