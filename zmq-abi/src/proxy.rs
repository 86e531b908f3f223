//! `zmq_proxy`, `zmq_proxy_steerable` and `zmq_device`: move messages between two sockets on the
//! caller's thread until the context is terminated (or the control socket says `TERMINATE`).
//!
//! Messages move whole: every frame of a message is read (ringmq has them all once the first
//! arrives) and sent on with `ZMQ_SNDMORE` on all but the last; the capture socket, if any, gets
//! a copy of each frame first.

use std::ffi::{c_int, c_void};

use bytes::Bytes;

use crate::error::fail;
use crate::poll::{poll_items, zmq_pollitem_t};
use crate::socket::{with_socket, ZMQ_DONTWAIT, ZMQ_POLLIN, ZMQ_POLLOUT, ZMQ_SNDMORE};

/// Messages and bytes one side of a proxy has received and sent (`STATISTICS`).
#[derive(Debug, Default, Clone, Copy)]
struct SideStatistics {
    messages_in: u64,
    bytes_in: u64,
    messages_out: u64,
    bytes_out: u64,
}

/// Read one whole message from `from`, without waiting; `None` when there is none.
///
/// # Safety
/// `from` must be null, live or closed, and used by this thread alone.
unsafe fn recv_message(from: *mut c_void) -> Result<Option<Vec<Bytes>>, c_int> {
    // SAFETY: by this function's contract.
    unsafe {
        with_socket(from, |s| {
            let mut frames = Vec::new();
            loop {
                match s.recv_frame(if frames.is_empty() { ZMQ_DONTWAIT } else { 0 }) {
                    Ok(frame) => frames.push(frame),
                    Err(libc::EAGAIN) if frames.is_empty() => return Ok(None),
                    Err(code) => return Err(code),
                }
                if !s.rcvmore {
                    return Ok(Some(frames));
                }
            }
        })
    }
}

/// Send `frames` as one message on `to`, waiting at its HWM.
///
/// # Safety
/// As [`recv_message`].
unsafe fn send_message(to: *mut c_void, frames: &[Bytes]) -> Result<(), c_int> {
    // SAFETY: by this function's contract.
    unsafe {
        with_socket(to, |s| {
            for (i, frame) in frames.iter().enumerate() {
                let flags = if i + 1 < frames.len() { ZMQ_SNDMORE } else { 0 };
                s.send_frame(frame.clone(), flags)?;
            }
            Ok(())
        })
    }
}

/// Move one message from `from` to `to` (and a copy to `capture`), if one is waiting.
///
/// # Safety
/// As [`recv_message`], for all three sockets.
unsafe fn forward(
    from: *mut c_void,
    to: *mut c_void,
    capture: *mut c_void,
    from_stats: &mut SideStatistics,
    to_stats: &mut SideStatistics,
) -> Result<(), c_int> {
    // SAFETY: by this function's contract.
    let Some(frames) = (unsafe { recv_message(from) })? else {
        return Ok(());
    };
    let bytes: u64 = frames.iter().map(|f| f.len() as u64).sum();
    from_stats.messages_in += 1;
    from_stats.bytes_in += bytes;
    if !capture.is_null() {
        // SAFETY: by this function's contract.
        unsafe { send_message(capture, &frames) }?;
    }
    // SAFETY: by this function's contract.
    unsafe { send_message(to, &frames) }?;
    to_stats.messages_out += 1;
    to_stats.bytes_out += bytes;
    Ok(())
}

/// What the control socket asked for.
enum Command {
    Pause,
    Resume,
    Terminate,
    Statistics,
    Unknown,
}

fn command(frames: &[Bytes]) -> Command {
    match frames.first().map(|f| &f[..]) {
        Some(b"PAUSE") => Command::Pause,
        Some(b"RESUME") => Command::Resume,
        Some(b"TERMINATE") => Command::Terminate,
        Some(b"STATISTICS") => Command::Statistics,
        _ => Command::Unknown,
    }
}

/// The proxy loop (see the module doc).
///
/// # Safety
/// Every non-null socket must be live or closed and used by this thread alone while it runs.
unsafe fn run(
    frontend: *mut c_void,
    backend: *mut c_void,
    capture: *mut c_void,
    control: *mut c_void,
) -> Result<(), c_int> {
    if frontend.is_null() || backend.is_null() {
        return Err(libc::EFAULT);
    }
    let mut front = SideStatistics::default();
    let mut back = SideStatistics::default();
    let mut paused = false;
    // A side with a message waiting whose destination cannot take it: the loop then waits for
    // that destination's POLLOUT instead of the source's POLLIN (libzmq's proxy does the same:
    // it reads only what it can pass on, so a stuck backend cannot block TERMINATE).
    let mut front_waits = false;
    let mut back_waits = false;
    let item = |socket, events: c_int| zmq_pollitem_t {
        socket,
        fd: 0,
        events: events as i16,
        revents: 0,
    };
    loop {
        let (front_events, back_events) = if paused {
            (0, 0)
        } else if frontend == backend {
            (ZMQ_POLLIN, 0)
        } else {
            (
                if front_waits { 0 } else { ZMQ_POLLIN } | if back_waits { ZMQ_POLLOUT } else { 0 },
                if back_waits { 0 } else { ZMQ_POLLIN } | if front_waits { ZMQ_POLLOUT } else { 0 },
            )
        };
        // No allocation per pass: the control socket is the third item when there is one.
        let mut all = [
            item(frontend, front_events),
            item(backend, back_events),
            item(control, ZMQ_POLLIN),
        ];
        let items = &mut all[..if control.is_null() { 2 } else { 3 }];
        // SAFETY: by this function's contract.
        unsafe { poll_items(items, None) }?;
        if items.get(2).is_some_and(|i| i.revents != 0) {
            // SAFETY: by this function's contract.
            if let Some(frames) = unsafe { recv_message(control) }? {
                match command(&frames) {
                    Command::Pause => paused = true,
                    Command::Resume => paused = false,
                    Command::Terminate => return Ok(()),
                    Command::Statistics => {
                        let reply: Vec<Bytes> = [front, back]
                            .iter()
                            .flat_map(|s| [s.messages_in, s.bytes_in, s.messages_out, s.bytes_out])
                            .map(|v| Bytes::copy_from_slice(&v.to_ne_bytes()))
                            .collect();
                        // SAFETY: by this function's contract.
                        unsafe { send_message(control, &reply) }?;
                    }
                    // libzmq asserts on an unknown command; ignoring it keeps the proxy up.
                    Command::Unknown => {}
                }
            }
        }
        if paused {
            continue;
        }
        // SAFETY (both): by this function's contract.
        let front_now = unsafe { with_socket(frontend, |s| s.events()) }?;
        let back_now = unsafe { with_socket(backend, |s| s.events()) }?;
        if frontend == backend {
            if front_now & ZMQ_POLLIN != 0 {
                // SAFETY: by this function's contract.
                unsafe { forward(frontend, backend, capture, &mut front, &mut back) }?;
            }
            continue;
        }
        front_waits = false;
        if front_now & ZMQ_POLLIN != 0 {
            if back_now & ZMQ_POLLOUT != 0 {
                // SAFETY: by this function's contract.
                unsafe { forward(frontend, backend, capture, &mut front, &mut back) }?;
            } else {
                front_waits = true;
            }
        }
        back_waits = false;
        if back_now & ZMQ_POLLIN != 0 {
            if front_now & ZMQ_POLLOUT != 0 {
                // SAFETY: by this function's contract.
                unsafe { forward(backend, frontend, capture, &mut back, &mut front) }?;
            } else {
                back_waits = true;
            }
        }
    }
}

/// Forward messages between `frontend` and `backend` both ways (a copy of each to `capture`,
/// which may be NULL) until the context is terminated; then -1 with `ETERM`.
///
/// # Safety
/// The sockets must be live (or NULL for `capture`) and used by this thread alone meanwhile.
#[no_mangle]
pub unsafe extern "C" fn zmq_proxy(
    frontend: *mut c_void,
    backend: *mut c_void,
    capture: *mut c_void,
) -> c_int {
    // SAFETY: by this function's contract.
    match unsafe { run(frontend, backend, capture, std::ptr::null_mut()) } {
        Ok(()) => 0,
        Err(code) => fail(code),
    }
}

/// As [`zmq_proxy`], steered by messages on `control` (may be NULL): `PAUSE`, `RESUME`,
/// `TERMINATE` (returns 0) and `STATISTICS` (answered with eight 64-bit frames: messages and
/// bytes received, messages and bytes sent, for the frontend and then the backend).
///
/// # Safety
/// As [`zmq_proxy`], for `control` too.
#[no_mangle]
pub unsafe extern "C" fn zmq_proxy_steerable(
    frontend: *mut c_void,
    backend: *mut c_void,
    capture: *mut c_void,
    control: *mut c_void,
) -> c_int {
    // SAFETY: by this function's contract.
    match unsafe { run(frontend, backend, capture, control) } {
        Ok(()) => 0,
        Err(code) => fail(code),
    }
}

/// The older form of [`zmq_proxy`] without capture; `type_` (`ZMQ_QUEUE`, `ZMQ_FORWARDER`,
/// `ZMQ_STREAMER`) is ignored, as in libzmq.
///
/// # Safety
/// As [`zmq_proxy`].
#[no_mangle]
pub unsafe extern "C" fn zmq_device(
    type_: c_int,
    frontend: *mut c_void,
    backend: *mut c_void,
) -> c_int {
    let _ = type_;
    // SAFETY: same contract.
    unsafe { zmq_proxy(frontend, backend, std::ptr::null_mut()) }
}
