//! libzmq's C ABI (`zmq.h`) over ringmq, built as the shared library `libzmq.so.5`.
//!
//! This is the first slice: contexts, sockets, bind/connect/unbind/disconnect, a handful of
//! socket options, frame-by-frame `zmq_send`/`zmq_recv` and `zmq_msg_*`, Z85 and CURVE key
//! generation. Every function declared in `include/zmq.h` is implemented here, and nothing else
//! is exported. It does not have `zmq_poll`, `zmq_proxy`, `zmq_socket_monitor`, `ZMQ_FD` or the
//! security options yet.
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
mod msg;
mod socket;

use std::ffi::{c_char, c_int, CStr};

pub use context::{zmq_ctx_destroy, zmq_ctx_new, zmq_ctx_term};
pub use error::{zmq_errno, zmq_strerror};
pub use error::{EFSM, EMTHREAD, ENOCOMPATPROTO, ETERM, HAUSNUMERO};
pub use msg::{
    zmq_free_fn, zmq_msg_close, zmq_msg_copy, zmq_msg_data, zmq_msg_init, zmq_msg_init_data,
    zmq_msg_init_size, zmq_msg_more, zmq_msg_move, zmq_msg_size, zmq_msg_t,
};
pub use socket::{
    zmq_bind, zmq_close, zmq_connect, zmq_disconnect, zmq_getsockopt, zmq_msg_recv, zmq_msg_send,
    zmq_recv, zmq_send, zmq_setsockopt, zmq_socket, zmq_unbind, ZMQ_DONTWAIT, ZMQ_POLLIN,
    ZMQ_POLLOUT, ZMQ_SNDMORE,
};

use error::{fail, set_errno};

/// The libzmq version this library stands in for (what `zmq_version` reports).
pub const VERSION: (c_int, c_int, c_int) = (4, 3, 5);

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

/// 1 if this library has `capability` ("ipc"), 0 otherwise. "curve" is 0 in this slice: CURVE
/// keys can be made ([`zmq_curve_keypair`]) but the socket options that turn CURVE on are not
/// mapped yet.
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
    c_int::from(capability.to_bytes() == b"ipc")
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
