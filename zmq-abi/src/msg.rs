//! `zmq_msg_t`: one frame, held in the 64 opaque bytes C gives us.
//!
//! The bytes hold a [`Frame`]: its content and its "more" flag. `zmq_msg_init*` writes one,
//! `zmq_msg_close` drops it and leaves an empty one behind (so a second close is harmless), and
//! every other call works on it in place. Content starts writable (`zmq_msg_init_size`) and is
//! frozen into shared [`Bytes`] when it is sent or copied, so neither copies the data.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use bytes::{Bytes, BytesMut};
use ringmq_transports::Metadata;

use crate::error::{fail, set_errno};

/// libzmq's message type: 64 opaque bytes, pointer-aligned, that the caller allocates.
#[repr(C, align(8))]
#[allow(non_camel_case_types)]
pub struct zmq_msg_t {
    opaque: [u8; 64],
}

/// The function `zmq_msg_init_data` calls to free the caller's buffer: `(data, hint)`.
#[allow(non_camel_case_types)]
pub type zmq_free_fn = unsafe extern "C" fn(data: *mut c_void, hint: *mut c_void);

/// A frame's bytes.
#[derive(Debug)]
enum Content {
    /// Ours alone, writable through `zmq_msg_data`.
    Writable(BytesMut),
    /// Shared (sent, received, copied, or the caller's buffer); `zmq_msg_data` gives a pointer
    /// into it that must not be written.
    Shared(Bytes),
}

/// What a `zmq_msg_t` holds.
#[derive(Debug)]
pub(crate) struct Frame {
    content: Content,
    /// Set on a received frame that is not the last of its message.
    pub(crate) more: bool,
    /// The connection properties of a received frame (`zmq_msg_gets`).
    properties: Option<Arc<Metadata>>,
}

const _: () = assert!(std::mem::size_of::<Frame>() <= std::mem::size_of::<zmq_msg_t>());
const _: () = assert!(std::mem::align_of::<Frame>() <= std::mem::align_of::<zmq_msg_t>());

impl Frame {
    pub(crate) fn shared(data: Bytes, more: bool) -> Frame {
        Frame {
            content: Content::Shared(data),
            more,
            properties: None,
        }
    }

    /// A received frame, with its connection's properties.
    pub(crate) fn received(data: Bytes, more: bool, properties: Option<Arc<Metadata>>) -> Frame {
        Frame {
            content: Content::Shared(data),
            more,
            properties,
        }
    }

    fn empty() -> Frame {
        Frame::shared(Bytes::new(), false)
    }

    /// The content as shared bytes, freezing writable content in place (no copy).
    pub(crate) fn freeze(&mut self) -> Bytes {
        if let Content::Writable(buffer) = &mut self.content {
            self.content = Content::Shared(std::mem::take(buffer).freeze());
        }
        match &self.content {
            Content::Shared(bytes) => bytes.clone(),
            // Frozen just above.
            Content::Writable(_) => unreachable!("writable content was frozen above"),
        }
    }

    fn len(&self) -> usize {
        match &self.content {
            Content::Writable(buffer) => buffer.len(),
            Content::Shared(bytes) => bytes.len(),
        }
    }
}

/// Write a fresh `frame` into `msg` without reading what was there (it may be uninitialised).
///
/// # Safety
/// `msg` must be non-null and point to a writable `zmq_msg_t`.
unsafe fn init(msg: *mut zmq_msg_t, frame: Frame) {
    // SAFETY: `msg` is valid for writes of 64 bytes, aligned to 8, which fits a `Frame` (checked
    // at compile time above); `write` does not drop the old bytes.
    unsafe { msg.cast::<Frame>().write(frame) };
}

/// The frame in an initialised `msg`.
///
/// # Safety
/// `msg` must point to a `zmq_msg_t` initialised by `zmq_msg_init*` (or filled by
/// `zmq_msg_recv`/`zmq_msg_move`/`zmq_msg_copy`), not used by another thread meanwhile.
pub(crate) unsafe fn frame<'a>(msg: *mut zmq_msg_t) -> &'a mut Frame {
    // SAFETY: by this function's contract the bytes hold a live `Frame`, exclusively ours.
    unsafe { &mut *msg.cast::<Frame>() }
}

/// The frame in an initialised `msg`, to read.
///
/// # Safety
/// `msg` must point to an initialised `zmq_msg_t` that no other thread writes meanwhile.
unsafe fn frame_ref<'a>(msg: *const zmq_msg_t) -> &'a Frame {
    // SAFETY: by this function's contract the bytes hold a live `Frame`, only read here.
    unsafe { &*msg.cast::<Frame>() }
}

/// Replace the frame in an initialised `msg` with `frame`, dropping the old one.
///
/// # Safety
/// As [`frame`].
pub(crate) unsafe fn replace(msg: *mut zmq_msg_t, frame_in: Frame) {
    // SAFETY: by this function's contract.
    *unsafe { frame(msg) } = frame_in;
}

/// Take the frame out of an initialised `msg`, leaving an empty one.
///
/// # Safety
/// As [`frame`].
pub(crate) unsafe fn take(msg: *mut zmq_msg_t) -> Frame {
    // SAFETY: by this function's contract.
    std::mem::replace(unsafe { frame(msg) }, Frame::empty())
}

/// Initialise an empty message.
///
/// # Safety
/// `msg` must point to a writable `zmq_msg_t`.
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_init(msg: *mut zmq_msg_t) -> c_int {
    if msg.is_null() {
        return fail(libc::EFAULT);
    }
    // SAFETY: non-null; the caller guarantees it is writable.
    unsafe { init(msg, Frame::empty()) };
    0
}

/// Initialise a message of `size` bytes (zeroed) for the caller to fill via `zmq_msg_data`.
///
/// # Safety
/// `msg` must point to a writable `zmq_msg_t`.
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_init_size(msg: *mut zmq_msg_t, size: usize) -> c_int {
    if msg.is_null() {
        return fail(libc::EFAULT);
    }
    let frame = Frame {
        content: Content::Writable(BytesMut::zeroed(size)),
        more: false,
        properties: None,
    };
    // SAFETY: non-null; the caller guarantees it is writable.
    unsafe { init(msg, frame) };
    0
}

/// The caller's buffer given to `zmq_msg_init_data`; dropping the last reference to it calls
/// the caller's free function once.
struct ForeignBuffer {
    data: *mut c_void,
    size: usize,
    free: Option<zmq_free_fn>,
    hint: *mut c_void,
}

// SAFETY: the buffer is only read after `zmq_msg_init_data` (its contract hands it to us), and the
// free function is one libzmq's contract requires to be callable from any thread, since libzmq
// also frees from its I/O threads.
unsafe impl Send for ForeignBuffer {}

impl AsRef<[u8]> for ForeignBuffer {
    fn as_ref(&self) -> &[u8] {
        if self.size == 0 {
            return &[];
        }
        // SAFETY: `zmq_msg_init_data`'s caller guarantees `data` is readable for `size` bytes
        // until the free function is called, which happens only in `drop`.
        unsafe { std::slice::from_raw_parts(self.data.cast::<u8>(), self.size) }
    }
}

impl Drop for ForeignBuffer {
    fn drop(&mut self) {
        if let Some(free) = self.free {
            // SAFETY: the caller's function for its own buffer, with the hint it gave; `drop`
            // runs once, when the last `Bytes` referring to the buffer goes.
            unsafe { free(self.data, self.hint) };
        }
    }
}

/// Initialise a message over the caller's `size` bytes at `data`, without copying; `ffn` (may
/// be NULL) is called with `(data, hint)` exactly once, when the last reference to the bytes
/// goes (after `zmq_msg_close`, or once a sent message has been written), possibly from
/// another thread.
///
/// # Safety
/// `msg` must point to a writable `zmq_msg_t`; `data` must stay readable for `size` bytes and
/// unchanged until `ffn` is called (forever when `ffn` is NULL).
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_init_data(
    msg: *mut zmq_msg_t,
    data: *mut c_void,
    size: usize,
    ffn: Option<zmq_free_fn>,
    hint: *mut c_void,
) -> c_int {
    if msg.is_null() || (data.is_null() && size > 0) {
        return fail(libc::EINVAL);
    }
    let owner = ForeignBuffer {
        data,
        size,
        free: ffn,
        hint,
    };
    // SAFETY: non-null; the caller guarantees it is writable.
    unsafe { init(msg, Frame::shared(Bytes::from_owner(owner), false)) };
    0
}

/// Release the message's reference to its bytes; the message may be initialised again.
///
/// # Safety
/// `msg` must point to an initialised `zmq_msg_t`.
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_close(msg: *mut zmq_msg_t) -> c_int {
    if msg.is_null() {
        return fail(libc::EFAULT);
    }
    // SAFETY: non-null and, by the contract, initialised.
    drop(unsafe { take(msg) });
    0
}

/// A pointer to the message's bytes. Writable for `zmq_msg_init_size` messages and for received
/// ones this message alone refers to; others must only be read.
///
/// # Safety
/// `msg` must point to an initialised `zmq_msg_t`.
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_data(msg: *mut zmq_msg_t) -> *mut c_void {
    if msg.is_null() {
        set_errno(libc::EFAULT);
        return std::ptr::null_mut();
    }
    // SAFETY: non-null and, by the contract, initialised.
    let frame = unsafe { frame(msg) };
    if let Content::Shared(bytes) = &mut frame.content {
        // Sole owner of ordinary bytes (a received frame): make it writable, without copying.
        match std::mem::take(bytes).try_into_mut() {
            Ok(buffer) => frame.content = Content::Writable(buffer),
            Err(still_shared) => *bytes = still_shared,
        }
    }
    match &mut frame.content {
        Content::Writable(buffer) => buffer.as_mut_ptr().cast(),
        Content::Shared(bytes) => bytes.as_ptr().cast_mut().cast(),
    }
}

/// The message's size in bytes.
///
/// # Safety
/// `msg` must point to an initialised `zmq_msg_t`.
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_size(msg: *const zmq_msg_t) -> usize {
    if msg.is_null() {
        return 0;
    }
    // SAFETY: non-null and, by the contract, initialised.
    unsafe { frame_ref(msg) }.len()
}

/// 1 if the message is a received frame with more frames of its message to follow.
///
/// # Safety
/// `msg` must point to an initialised `zmq_msg_t`.
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_more(msg: *const zmq_msg_t) -> c_int {
    if msg.is_null() {
        return 0;
    }
    // SAFETY: non-null and, by the contract, initialised.
    c_int::from(unsafe { frame_ref(msg) }.more)
}

/// Make `dest` refer to the same bytes as `src` (no copy; both stay valid). `dest`'s old
/// content is released.
///
/// # Safety
/// Both must point to initialised `zmq_msg_t`s.
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_copy(dest: *mut zmq_msg_t, src: *mut zmq_msg_t) -> c_int {
    if dest.is_null() || src.is_null() {
        return fail(libc::EFAULT);
    }
    if dest == src {
        return 0;
    }
    let copy = {
        // SAFETY: non-null, initialised by the contract, and distinct from `dest` (checked
        // above), so this is the only reference to it.
        let source = unsafe { frame(src) };
        Frame::received(source.freeze(), source.more, source.properties.clone())
    };
    // SAFETY: non-null, initialised by the contract; the borrow of `src` has ended.
    unsafe { replace(dest, copy) };
    0
}

/// Move `src`'s content to `dest` (whose old content is released); `src` becomes empty.
///
/// # Safety
/// Both must point to initialised `zmq_msg_t`s.
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_move(dest: *mut zmq_msg_t, src: *mut zmq_msg_t) -> c_int {
    if dest.is_null() || src.is_null() {
        return fail(libc::EFAULT);
    }
    if dest == src {
        return 0;
    }
    // SAFETY: non-null, initialised by the contract, and distinct (checked above).
    unsafe {
        let moved = take(src);
        replace(dest, moved);
    }
    0
}

/// `zmq_msg_get` property: more frames follow.
const ZMQ_MORE: c_int = 1;
/// `zmq_msg_get` property: the file descriptor the frame was read from (deprecated).
const ZMQ_SRCFD: c_int = 2;
/// `zmq_msg_get` property: the frame's bytes are shared with another message.
const ZMQ_SHARED: c_int = 3;

/// An integer property: `ZMQ_MORE`, `ZMQ_SHARED` (1 when the bytes are shared with another
/// message or the caller's buffer), `ZMQ_SRCFD` (the descriptor of the tcp or ipc connection the
/// message was read from, -1 for inproc and for messages not received). `EINVAL` for others.
///
/// # Safety
/// `msg` must point to an initialised `zmq_msg_t`.
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_get(msg: *const zmq_msg_t, property: c_int) -> c_int {
    if msg.is_null() {
        return fail(libc::EFAULT);
    }
    // SAFETY: non-null and, by the contract, initialised.
    let frame = unsafe { frame_ref(msg) };
    match property {
        ZMQ_MORE => c_int::from(frame.more),
        ZMQ_SRCFD => frame
            .properties
            .as_ref()
            .and_then(|p| p.get(ringmq::SOURCE_FD_PROPERTY))
            .and_then(|fd| std::str::from_utf8(fd).ok()?.parse().ok())
            .unwrap_or(-1),
        ZMQ_SHARED => c_int::from(match &frame.content {
            Content::Writable(_) => false,
            Content::Shared(bytes) => !bytes.is_unique(),
        }),
        _ => fail(libc::EINVAL),
    }
}

/// Set an integer property: libzmq 4.3 has none that can be set, so always `EINVAL`.
///
/// # Safety
/// `msg` must be null or point to an initialised `zmq_msg_t`.
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_set(msg: *mut zmq_msg_t, property: c_int, value: c_int) -> c_int {
    let _ = (msg, property, value);
    fail(libc::EINVAL)
}

/// NUL-terminated copies of one connection's properties, made once per connection the first
/// time a program asks, and kept while the connection's properties live.
type CProperties = HashMap<String, CString>;

/// The copies by the address of the properties they were made from. An entry whose properties
/// are gone is replaced when the address is reused and pruned as the table grows.
static C_PROPERTIES: Mutex<Vec<(Weak<Metadata>, Arc<CProperties>)>> = Mutex::new(Vec::new());

fn c_properties(properties: &Arc<Metadata>) -> Arc<CProperties> {
    let mut table = C_PROPERTIES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, copies)) = table
        .iter()
        .find(|(weak, _)| std::ptr::eq(weak.as_ptr(), Arc::as_ptr(properties)))
    {
        return copies.clone();
    }
    table.retain(|(weak, _)| weak.strong_count() > 0);
    let copies: CProperties = properties
        .iter()
        .filter(|(name, _)| *name != ringmq::SOURCE_FD_PROPERTY)
        .filter_map(|(name, value)| {
            let value = CString::new(value.to_vec()).ok()?;
            Some((name.to_ascii_lowercase(), value))
        })
        .collect();
    let copies = Arc::new(copies);
    table.push((Arc::downgrade(properties), copies.clone()));
    copies
}

/// A connection property of a received message, as a NUL-terminated string that lives as long
/// as the message: `Socket-Type`, `Identity` / `Routing-Id` (the peer's, when it sent one),
/// `Peer-Address` (tcp), `User-Id` (PLAIN, CURVE), and the peer's other metadata. Names match
/// without regard to case. NULL with `EINVAL` when the message has no such property.
///
/// # Safety
/// `msg` must point to an initialised `zmq_msg_t`; `property` must be NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_gets(
    msg: *const zmq_msg_t,
    property: *const c_char,
) -> *const c_char {
    if msg.is_null() || property.is_null() {
        set_errno(libc::EINVAL);
        return std::ptr::null();
    }
    // SAFETY: non-null and, by the contract, NUL-terminated.
    let name = unsafe { CStr::from_ptr(property) }
        .to_string_lossy()
        .to_ascii_lowercase();
    let name = if name == "routing-id" {
        "identity".to_owned()
    } else {
        name
    };
    // SAFETY: non-null and, by the contract, initialised.
    let frame = unsafe { frame_ref(msg) };
    let found = frame.properties.as_ref().and_then(|properties| {
        let copies = c_properties(properties);
        // The string lives in `copies`, which the table keeps while `properties` (held by this
        // message) lives.
        copies.get(&name).map(|value| value.as_ptr())
    });
    match found {
        Some(pointer) => pointer,
        None => {
            set_errno(libc::EINVAL);
            std::ptr::null()
        }
    }
}
