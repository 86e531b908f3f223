//! The C `errno`: libzmq's own error numbers, and how ringmq's error kinds map onto them.

use std::ffi::{c_char, c_int};

use ringmq::ErrorKind;

/// Base of the error numbers libzmq defines itself (where the platform has none).
pub const HAUSNUMERO: c_int = 156_384_712;
/// Operation not valid in the socket's state (REQ sending twice).
pub const EFSM: c_int = HAUSNUMERO + 51;
/// The peer speaks an incompatible protocol.
pub const ENOCOMPATPROTO: c_int = HAUSNUMERO + 52;
/// The context was terminated.
pub const ETERM: c_int = HAUSNUMERO + 53;
/// No I/O thread is available.
pub const EMTHREAD: c_int = HAUSNUMERO + 54;

/// Set the calling thread's `errno`.
pub(crate) fn set_errno(code: c_int) {
    // SAFETY: `__errno_location` returns the calling thread's errno slot, valid for the thread's
    // lifetime and written only by this thread.
    unsafe { *libc::__errno_location() = code };
}

/// Set `errno` to `code` and return -1, libzmq's failure value.
pub(crate) fn fail(code: c_int) -> c_int {
    set_errno(code);
    -1
}

/// The errno a C program sees for a ringmq error of `kind`.
pub(crate) fn errno_of(kind: ErrorKind) -> c_int {
    match kind {
        ErrorKind::InvalidEndpoint | ErrorKind::InvalidOption | ErrorKind::InvalidConfig => {
            libc::EINVAL
        }
        ErrorKind::BindFailed => libc::EADDRINUSE,
        ErrorKind::NotSupported => libc::ENOTSUP,
        ErrorKind::WouldBlock | ErrorKind::Timeout => libc::EAGAIN,
        ErrorKind::Closed => ETERM,
        ErrorKind::InvalidState => EFSM,
        ErrorKind::HostUnreachable => libc::EHOSTUNREACH,
        ErrorKind::PolicyViolation => libc::EACCES,
        ErrorKind::NotFound => libc::ENOENT,
        ErrorKind::BackendUnavailable => EMTHREAD,
        _ => libc::EIO,
    }
}

/// The calling thread's `errno`.
#[no_mangle]
pub extern "C" fn zmq_errno() -> c_int {
    // SAFETY: as in `set_errno`; reading the calling thread's own slot.
    unsafe { *libc::__errno_location() }
}

/// A message for `errnum`: ours for libzmq's own numbers, the C library's for the rest. The
/// string is static for libzmq's numbers; for the others it is `strerror`'s.
#[no_mangle]
pub extern "C" fn zmq_strerror(errnum: c_int) -> *const c_char {
    let own: Option<&'static [u8]> = match errnum {
        EFSM => Some(b"not allowed in the socket's current state\0"),
        ENOCOMPATPROTO => Some(b"the peer's protocol is not compatible\0"),
        ETERM => Some(b"the context has been terminated\0"),
        EMTHREAD => Some(b"no I/O thread could be started\0"),
        _ => None,
    };
    match own {
        Some(text) => text.as_ptr().cast(),
        // SAFETY: strerror accepts any number and returns a pointer to a NUL-terminated string
        // that stays valid until the next strerror call (the contract libzmq's callers know).
        None => unsafe { libc::strerror(errnum) },
    }
}
