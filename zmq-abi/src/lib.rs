//! libzmq's C ABI (`zmq.h`) over ringmq, built as the shared library `libzmq.so.5`.
//!
//! Every stable function of libzmq 4.3 is exported (the draft API is not): contexts, sockets,
//! every socket option (stored and readable; which ones ringmq acts on is in `sockopt`),
//! frame-by-frame `zmq_send`/`zmq_recv` and `zmq_msg_*` with connection properties,
//! `zmq_poll` over sockets and descriptors, `ZMQ_FD`/`ZMQ_EVENTS`, proxies, `zmq_socket_monitor`,
//! NULL/PLAIN/CURVE with a ZAP handler at `inproc://zeromq.zap.01`, Z85 and CURVE keys, and the
//! utilities (atomic counters, timers, stopwatch, threads). `include/zmq.h` declares exactly
//! what is exported, and every socket type of the stable API, `ZMQ_STREAM` (raw tcp) included.
//!
//! How it maps onto ringmq: a context is one [`ringmq::Runtime`] (so inproc works between the
//! sockets of one context, as in libzmq); a socket is one [`ringmq::BlockingSocket`], made at
//! the socket's first bind, connect, send or receive so that the options set before apply to
//! its hand-off queues too. ringmq
//! sends and receives whole messages, so frames sent with `ZMQ_SNDMORE` are buffered here until
//! the last one, and a received message is handed out one frame at a time with `ZMQ_RCVMORE`.
//!
//! Errors set the C `errno` and return -1 or `NULL`, as libzmq does; [`zmq_errno`] reads it.

#![warn(missing_docs)]

mod context;
mod error;
mod monitor;
mod msg;
mod poll;
mod proxy;
mod socket;
mod sockopt;
mod utility;

use std::ffi::{c_char, c_int, CStr};

pub use context::{
    zmq_ctx_destroy, zmq_ctx_get, zmq_ctx_new, zmq_ctx_set, zmq_ctx_shutdown, zmq_ctx_term,
    zmq_init, zmq_term,
};
pub use error::{zmq_errno, zmq_strerror};
pub use error::{EFSM, EMTHREAD, ENOCOMPATPROTO, ETERM, HAUSNUMERO};
pub use monitor::zmq_socket_monitor;
pub use msg::{
    zmq_free_fn, zmq_msg_close, zmq_msg_copy, zmq_msg_data, zmq_msg_get, zmq_msg_gets,
    zmq_msg_init, zmq_msg_init_data, zmq_msg_init_size, zmq_msg_more, zmq_msg_move, zmq_msg_set,
    zmq_msg_size, zmq_msg_t,
};
pub use poll::{zmq_poll, zmq_pollitem_t, ZMQ_POLLERR, ZMQ_POLLPRI};
pub use proxy::{zmq_device, zmq_proxy, zmq_proxy_steerable};
pub use socket::{
    zmq_bind, zmq_close, zmq_connect, zmq_disconnect, zmq_getsockopt, zmq_msg_recv, zmq_msg_send,
    zmq_recv, zmq_recviov, zmq_recvmsg, zmq_send, zmq_send_const, zmq_sendiov, zmq_sendmsg,
    zmq_setsockopt, zmq_socket, zmq_unbind, ZMQ_DONTWAIT, ZMQ_POLLIN, ZMQ_POLLOUT, ZMQ_SNDMORE,
};
pub use utility::{
    zmq_atomic_counter_dec, zmq_atomic_counter_destroy, zmq_atomic_counter_inc,
    zmq_atomic_counter_new, zmq_atomic_counter_set, zmq_atomic_counter_value, zmq_sleep,
    zmq_stopwatch_intermediate, zmq_stopwatch_start, zmq_stopwatch_stop, zmq_thread_fn,
    zmq_threadclose, zmq_threadstart, zmq_timer_fn, zmq_timers_add, zmq_timers_cancel,
    zmq_timers_destroy, zmq_timers_execute, zmq_timers_new, zmq_timers_reset,
    zmq_timers_set_interval, zmq_timers_timeout,
};

use error::{fail, set_errno};

/// The libzmq version this library stands in for (what `zmq_version` reports).
pub const VERSION: (c_int, c_int, c_int) = (4, 3, 4);

/// Z85 text length of a 32-byte CURVE key, without the terminating NUL.
const KEY_Z85_LEN: usize = 40;

/// The marker a program (and ringmq's own interop tests, which must test against the real
/// libzmq) looks up with `dlsym` to tell that the `libzmq.so.5` it loaded is ringmq's: a
/// NUL-terminated string naming the ringmq version.
#[no_mangle]
pub static ringmq_zmq_abi: [u8; 13] = *b"ringmq 0.1.0\0";

/// Write the libzmq version this library implements into `major`, `minor`, `patch` (each may be
/// NULL).
///
/// # Safety
/// Each non-null pointer must point to a writable `int`.
#[no_mangle]
pub unsafe extern "C" fn zmq_version(major: *mut c_int, minor: *mut c_int, patch: *mut c_int) {
    for (out, value) in [(major, VERSION.0), (minor, VERSION.1), (patch, VERSION.2)] {
        if !out.is_null() {
            // SAFETY: the caller passes null or a pointer to a writable int; null is skipped.
            unsafe { out.write(value) };
        }
    }
}

/// 1 if this library has `capability`: "ipc", "curve" (and "plain", "null"); 0 for the others
/// libzmq may have ("pgm", "tipc", "norm", "gssapi", "draft", "ws", "wss", "vmci").
///
/// # Safety
/// `capability` must be null or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn zmq_has(capability: *const c_char) -> c_int {
    if capability.is_null() {
        return 0;
    }
    // SAFETY: non-null and, by the contract above, NUL-terminated.
    let capability = unsafe { CStr::from_ptr(capability) };
    c_int::from(matches!(capability.to_bytes(), b"ipc" | b"curve"))
}

/// Encode `size` bytes of `data` (a multiple of 4) as Z85 into `dest`, which must hold
/// `size * 5 / 4 + 1` bytes; returns `dest`, or NULL with `EINVAL`.
///
/// # Safety
/// `data` must be readable for `size` bytes and `dest` writable for `size * 5 / 4 + 1`.
#[no_mangle]
pub unsafe extern "C" fn zmq_z85_encode(
    dest: *mut c_char,
    data: *const u8,
    size: usize,
) -> *mut c_char {
    if dest.is_null() || (data.is_null() && size > 0) {
        set_errno(libc::EINVAL);
        return std::ptr::null_mut();
    }
    let input: &[u8] = if size == 0 {
        &[]
    } else {
        // SAFETY: non-null, and the caller guarantees `size` readable bytes.
        unsafe { std::slice::from_raw_parts(data, size) }
    };
    let Some(text) = ringmq_transports::z85::encode(input) else {
        set_errno(libc::EINVAL);
        return std::ptr::null_mut();
    };
    // SAFETY: `text` is `size * 5 / 4` bytes; the caller guarantees one more for the NUL.
    unsafe { write_c_string(dest, &text) };
    dest
}

/// Decode the NUL-terminated Z85 `string` (its length a multiple of 5) into `dest`, which must
/// hold `strlen(string) * 4 / 5` bytes; returns `dest`, or NULL with `EINVAL`.
///
/// # Safety
/// `string` must be NUL-terminated and `dest` writable for `strlen(string) * 4 / 5` bytes.
#[no_mangle]
pub unsafe extern "C" fn zmq_z85_decode(dest: *mut u8, string: *const c_char) -> *mut u8 {
    if dest.is_null() || string.is_null() {
        set_errno(libc::EINVAL);
        return std::ptr::null_mut();
    }
    // SAFETY: non-null and, by the contract above, NUL-terminated.
    let text = unsafe { CStr::from_ptr(string) };
    let decoded = text.to_str().ok().and_then(ringmq_transports::z85::decode);
    let Some(bytes) = decoded else {
        set_errno(libc::EINVAL);
        return std::ptr::null_mut();
    };
    // SAFETY: `bytes` is `strlen * 4 / 5` long, which the caller guarantees `dest` can hold; the
    // regions cannot overlap, `bytes` being our own allocation.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), dest, bytes.len()) };
    dest
}

/// Make a new CURVE key pair and write both keys as Z85 (40 characters and a NUL each).
///
/// # Safety
/// Both pointers must be writable for 41 bytes.
#[no_mangle]
pub unsafe extern "C" fn zmq_curve_keypair(
    z85_public: *mut c_char,
    z85_secret: *mut c_char,
) -> c_int {
    if z85_public.is_null() || z85_secret.is_null() {
        return fail(libc::EINVAL);
    }
    let keys = match ringmq::generate_keypair() {
        Ok(keys) => keys,
        Err(_) => return fail(libc::EIO),
    };
    let public = keys.public.to_z85();
    let secret = keys.secret.to_z85();
    debug_assert_eq!(public.len(), KEY_Z85_LEN);
    debug_assert_eq!(secret.len(), KEY_Z85_LEN);
    // SAFETY: each text is 40 bytes and the caller guarantees 41 writable bytes at each pointer.
    unsafe {
        write_c_string(z85_public, &public);
        write_c_string(z85_secret, &secret);
    }
    0
}

/// Derive the Z85 public key of the Z85 secret key `z85_secret` (40 characters) into
/// `z85_public` (41 bytes with the NUL). `EINVAL` for a bad key.
///
/// # Safety
/// `z85_secret` must be NUL-terminated; `z85_public` writable for 41 bytes.
#[no_mangle]
pub unsafe extern "C" fn zmq_curve_public(
    z85_public: *mut c_char,
    z85_secret: *const c_char,
) -> c_int {
    if z85_public.is_null() || z85_secret.is_null() {
        return fail(libc::EINVAL);
    }
    // SAFETY: non-null and, by the contract, NUL-terminated.
    let text = unsafe { CStr::from_ptr(z85_secret) };
    let secret = text
        .to_str()
        .ok()
        .and_then(|t| ringmq::SecretKey::from_z85(t).ok());
    let Some(secret) = secret else {
        return fail(libc::EINVAL);
    };
    let public = secret.public_key().to_z85();
    // SAFETY: the text is 40 bytes and the caller guarantees 41 writable bytes.
    unsafe { write_c_string(z85_public, &public) };
    0
}

/// Copy `text` and a NUL to `dest`.
///
/// # Safety
/// `dest` must be writable for `text.len() + 1` bytes and not overlap `text`.
unsafe fn write_c_string(dest: *mut c_char, text: &str) {
    // SAFETY: by this function's contract.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr().cast::<c_char>(), dest, text.len());
        dest.add(text.len()).write(0);
    }
}
