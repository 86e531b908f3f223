//! `zmq_poll`: wait until sockets can receive or send, or file descriptors are ready.
//!
//! Each socket contributes its readiness descriptor (`ZMQ_FD`) to one `poll(2)` together with
//! the raw descriptors; after every wake the sockets' `ZMQ_EVENTS` are read again, as libzmq's
//! edge-triggered contract requires (a signal means "look again", not "ready").

use std::ffi::{c_int, c_long, c_short, c_void};
use std::time::{Duration, Instant};

use crate::error::fail;
use crate::socket::{with_socket, ZMQ_POLLIN, ZMQ_POLLOUT};

/// `zmq_pollitem_t` event bit: an error on a file descriptor.
pub const ZMQ_POLLERR: c_short = 4;
/// `zmq_pollitem_t` event bit: urgent data on a file descriptor.
pub const ZMQ_POLLPRI: c_short = 8;

/// Longest single `poll(2)`, so a terminated context is noticed (`ETERM`) while waiting.
const TERM_CHECK: Duration = Duration::from_millis(100);

/// One thing to poll (zmq_poll(3)): a socket when `socket` is non-null, else `fd`.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy)]
pub struct zmq_pollitem_t {
    /// A socket from `zmq_socket`, or NULL.
    pub socket: *mut c_void,
    /// A file descriptor, used when `socket` is NULL.
    pub fd: c_int,
    /// What to wait for: `ZMQ_POLLIN`, `ZMQ_POLLOUT`, `ZMQ_POLLPRI` (descriptors), `ZMQ_POLLERR`.
    pub events: c_short,
    /// What was found.
    pub revents: c_short,
}

/// The `poll(2)` events a raw descriptor item asks for.
fn fd_events(events: c_short) -> c_short {
    let mut wanted = 0;
    if events & ZMQ_POLLIN as c_short != 0 {
        wanted |= libc::POLLIN;
    }
    if events & ZMQ_POLLOUT as c_short != 0 {
        wanted |= libc::POLLOUT;
    }
    if events & ZMQ_POLLPRI != 0 {
        wanted |= libc::POLLPRI;
    }
    wanted
}

/// What `poll(2)` found on a raw descriptor, as `zmq_pollitem_t` bits.
fn fd_revents(revents: c_short, events: c_short) -> c_short {
    let mut found = 0;
    if revents & libc::POLLIN != 0 {
        found |= ZMQ_POLLIN as c_short;
    }
    if revents & libc::POLLOUT != 0 {
        found |= ZMQ_POLLOUT as c_short;
    }
    if revents & libc::POLLPRI != 0 {
        found |= ZMQ_POLLPRI;
    }
    if revents & !(libc::POLLIN | libc::POLLOUT | libc::POLLPRI) != 0 {
        found |= ZMQ_POLLERR;
    }
    found & (events | ZMQ_POLLERR)
}

/// Poll `items` (see the module doc); the number of items with events, or the errno.
///
/// # Safety
/// Each item's socket must be null, live or closed, and not used by another thread meanwhile.
pub(crate) unsafe fn poll_items(
    items: &mut [zmq_pollitem_t],
    timeout: Option<Duration>,
) -> Result<c_int, c_int> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut pollfds = Vec::with_capacity(items.len());
    for item in items.iter() {
        let (fd, events) = if item.socket.is_null() {
            (item.fd, fd_events(item.events))
        } else {
            // SAFETY: by this function's contract.
            let fd = unsafe { with_socket(item.socket, |s| s.readiness_fd()) }?;
            (fd, libc::POLLIN)
        };
        pollfds.push(libc::pollfd {
            fd,
            events,
            revents: 0,
        });
    }
    let mut first = true;
    loop {
        let wait_ms = if first {
            0
        } else {
            let slice = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()).min(TERM_CHECK),
                None => TERM_CHECK,
            };
            // Round up so the deadline has passed when a timed-out wait returns.
            c_int::try_from(slice.as_micros().div_ceil(1000)).unwrap_or(c_int::MAX)
        };
        first = false;
        // SAFETY: `pollfds` is a live array of `pollfds.len()` entries.
        let rc =
            unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, wait_ms) };
        if rc < 0 {
            let errno = std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EINTR);
            return Err(errno);
        }
        let mut ready = 0;
        for (item, pollfd) in items.iter_mut().zip(&pollfds) {
            item.revents = if item.socket.is_null() {
                fd_revents(pollfd.revents, item.events)
            } else {
                // SAFETY: by this function's contract.
                let events = unsafe { with_socket(item.socket, |s| s.events()) }?;
                (events as c_short) & item.events & (ZMQ_POLLIN | ZMQ_POLLOUT) as c_short
            };
            if item.revents != 0 {
                ready += 1;
            }
        }
        if ready > 0 {
            return Ok(ready);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(0);
        }
    }
}

/// Wait up to `timeout` ms (-1: forever, 0: not at all) until one of the `nitems` items is ready;
/// returns how many are, with each item's `revents` set. `ETERM` when a socket's context was
/// terminated, `ENOTSOCK` for a bad socket, `EFAULT` for NULL items, `EINTR` on a signal.
///
/// # Safety
/// `items` must point to `nitems` writable items whose sockets are null, live or closed and
/// used by this thread alone while it polls.
#[no_mangle]
pub unsafe extern "C" fn zmq_poll(
    items: *mut zmq_pollitem_t,
    nitems: c_int,
    timeout: c_long,
) -> c_int {
    let timeout = u64::try_from(timeout).ok().map(Duration::from_millis);
    let count = match usize::try_from(nitems) {
        Ok(n) => n,
        Err(_) => return fail(libc::EINVAL),
    };
    if count == 0 {
        match timeout {
            Some(t) => std::thread::sleep(t),
            None => return fail(libc::EFAULT),
        }
        return 0;
    }
    if items.is_null() {
        return fail(libc::EFAULT);
    }
    // SAFETY: non-null and, by the contract, `nitems` writable items.
    let items = unsafe { std::slice::from_raw_parts_mut(items, count) };
    // SAFETY: by this function's contract.
    unsafe { poll_items(items, timeout) }.unwrap_or_else(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_bits_map_both_ways() {
        let all = ZMQ_POLLIN as c_short | ZMQ_POLLOUT as c_short | ZMQ_POLLPRI;
        assert_eq!(fd_events(all), libc::POLLIN | libc::POLLOUT | libc::POLLPRI);
        assert_eq!(
            fd_revents(libc::POLLIN, ZMQ_POLLIN as c_short),
            ZMQ_POLLIN as c_short
        );
        // Only what was asked for, but errors always.
        assert_eq!(fd_revents(libc::POLLOUT, ZMQ_POLLIN as c_short), 0);
        assert_eq!(
            fd_revents(libc::POLLHUP, ZMQ_POLLIN as c_short),
            ZMQ_POLLERR
        );
    }
}
