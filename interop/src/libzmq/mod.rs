//! Safe wrappers over the system libzmq, loaded at run time.
//!
//! The driving order is the one libzmq itself uses: create a [`Context`], make sockets from it with
//! [`Context::socket`], set options, [`Socket::bind`] or [`Socket::connect`], then [`Socket::send`] and
//! [`Socket::recv`]. Dropping a [`Socket`] closes it; the context is terminated when the [`Context`] and
//! every socket made from it have been dropped, so drop order never deadlocks.
//!
//! Blocking calls block the calling thread inside libzmq; bound them with [`Socket::set_rcvtimeo`] and
//! [`Socket::set_sndtimeo`], after which a timed-out call fails with [`ZmqError::is_again`].
//!
//! Linger is libzmq's default (infinite): a socket dropped with undelivered messages makes the final
//! context termination wait for them. Set [`ZMQ_LINGER`] to 0 where that is not wanted.
//!
//! ```no_run
//! use ringmq_interop::libzmq::{Context, PULL, PUSH, ZMQ_LINGER};
//! use std::time::Duration;
//!
//! let context = Context::new()?;
//! let pull = context.socket(PULL)?;
//! pull.bind("tcp://127.0.0.1:*")?;
//! let push = context.socket(PUSH)?;
//! push.set_int(ZMQ_LINGER, 0)?;
//! push.connect(&pull.last_endpoint()?)?;
//! push.send_multipart(["hello", "world"])?;
//! pull.set_rcvtimeo(Duration::from_secs(5))?;
//! assert_eq!(pull.recv_multipart()?, vec![b"hello".to_vec(), b"world".to_vec()]);
//! # Ok::<(), ringmq_interop::libzmq::ZmqError>(())
//! ```

pub mod sys;

use std::ffi::{c_char, c_int, c_long, c_void, CStr, CString};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use sys::{load, Lib, LoadError, LIBRARY_NAMES};
use sys::{ZmqMsg, ZmqPollItem};

// Socket types (zmq.h "Socket types").
/// `ZMQ_PAIR`: exclusive pair.
pub const PAIR: i32 = 0;
/// `ZMQ_PUB`: publisher.
pub const PUB: i32 = 1;
/// `ZMQ_SUB`: subscriber.
pub const SUB: i32 = 2;
/// `ZMQ_REQ`: strict request side of request-reply.
pub const REQ: i32 = 3;
/// `ZMQ_REP`: strict reply side of request-reply.
pub const REP: i32 = 4;
/// `ZMQ_DEALER`: asynchronous request side.
pub const DEALER: i32 = 5;
/// `ZMQ_ROUTER`: asynchronous reply side, addresses peers by routing id.
pub const ROUTER: i32 = 6;
/// `ZMQ_PULL`: pipeline sink.
pub const PULL: i32 = 7;
/// `ZMQ_PUSH`: pipeline source.
pub const PUSH: i32 = 8;
/// `ZMQ_XPUB`: publisher that sees subscriptions.
pub const XPUB: i32 = 9;
/// `ZMQ_XSUB`: subscriber that sends subscriptions as messages.
pub const XSUB: i32 = 10;
/// Raw tcp peers (`ZMQ_STREAM`).
pub const STREAM: i32 = 11;

// Context options (zmq.h "Context options").
/// Context option: number of I/O threads (default 1).
pub const ZMQ_IO_THREADS: i32 = 1;
/// Context option: maximum number of sockets (default 1023).
pub const ZMQ_MAX_SOCKETS: i32 = 2;

// Socket options (zmq.h "Socket options"). The comment says the C type libzmq expects.
/// Socket option (binary, up to 255 bytes): routing id, formerly `ZMQ_IDENTITY`.
pub const ZMQ_ROUTING_ID: i32 = 5;
/// Socket option (binary): add a subscription prefix on SUB/XSUB.
pub const ZMQ_SUBSCRIBE: i32 = 6;
/// Socket option (binary): remove a subscription prefix on SUB/XSUB.
pub const ZMQ_UNSUBSCRIBE: i32 = 7;
/// Socket option (int, read-only): 1 if the last frame received has more frames after it.
pub const ZMQ_RCVMORE: i32 = 13;
/// Socket option (int, milliseconds, -1 infinite): how long undelivered messages outlive close.
pub const ZMQ_LINGER: i32 = 17;
/// Socket option (**int64**, bytes, -1 unlimited): largest inbound message; use [`Socket::set_i64`].
pub const ZMQ_MAXMSGSIZE: i32 = 22;
/// Socket option (int, messages): send high-water mark.
pub const ZMQ_SNDHWM: i32 = 23;
/// Socket option (int, messages): receive high-water mark.
pub const ZMQ_RCVHWM: i32 = 24;
/// Socket option (int, milliseconds, -1 infinite): receive timeout.
pub const ZMQ_RCVTIMEO: i32 = 27;
/// Socket option (int, milliseconds, -1 infinite): send timeout.
pub const ZMQ_SNDTIMEO: i32 = 28;
/// Socket option (string, read-only): the endpoint last bound or connected, with the real port.
pub const ZMQ_LAST_ENDPOINT: i32 = 32;
/// Socket option (int, 0/1): ROUTER fails with `EHOSTUNREACH` instead of dropping unroutable messages.
pub const ZMQ_ROUTER_MANDATORY: i32 = 33;
/// Socket option (int, 0/1): queue messages only to completed connections.
pub const ZMQ_IMMEDIATE: i32 = 39;
/// Socket option (int, 0/1): XPUB passes duplicate subscriptions up too.
pub const ZMQ_XPUB_VERBOSE: i32 = 40;
/// Socket option (int, 0/1): act as PLAIN server.
pub const ZMQ_PLAIN_SERVER: i32 = 44;
/// Socket option (string): PLAIN client user name.
pub const ZMQ_PLAIN_USERNAME: i32 = 45;
/// Socket option (string): PLAIN client password.
pub const ZMQ_PLAIN_PASSWORD: i32 = 46;
/// Socket option (int, 0/1): act as CURVE server.
pub const ZMQ_CURVE_SERVER: i32 = 47;
/// Socket option (32 binary bytes or 40 Z85 characters): own long-term public key.
pub const ZMQ_CURVE_PUBLICKEY: i32 = 48;
/// Socket option (32 binary bytes or 40 Z85 characters): own long-term secret key.
pub const ZMQ_CURVE_SECRETKEY: i32 = 49;
/// Socket option (32 binary bytes or 40 Z85 characters): the server's public key, on a client.
pub const ZMQ_CURVE_SERVERKEY: i32 = 50;
/// Socket option (string): ZAP domain; setting it on a NULL-mechanism server turns ZAP on.
pub const ZMQ_ZAP_DOMAIN: i32 = 55;
/// Socket option (int, milliseconds, 0 off): interval between ZMTP PINGs.
pub const ZMQ_HEARTBEAT_IVL: i32 = 75;
/// Socket option (int, milliseconds): time-to-live the peer is asked to apply, sent in PING.
pub const ZMQ_HEARTBEAT_TTL: i32 = 76;
/// Socket option (int, milliseconds): how long to wait for traffic after a PING.
pub const ZMQ_HEARTBEAT_TIMEOUT: i32 = 77;

// Send and receive flags.
/// Flag: fail with `EAGAIN` instead of blocking.
pub const ZMQ_DONTWAIT: i32 = 1;
/// Send flag: more frames of this message follow.
pub const ZMQ_SNDMORE: i32 = 2;

// Poll events, for [`poll`].
/// Poll event: a message can be received without blocking.
pub const ZMQ_POLLIN: i16 = 1;
/// Poll event: a message can be sent without blocking.
pub const ZMQ_POLLOUT: i16 = 2;
/// Poll event: an error condition (plain file descriptors only).
pub const ZMQ_POLLERR: i16 = 4;

// Monitor events (zmq.h "Socket transport events"), as carried in the first monitor frame.
/// Monitor event: connection established; value is the file descriptor.
pub const ZMQ_EVENT_CONNECTED: u16 = 0x0001;
/// Monitor event: synchronous connect failed, will be retried; value is errno.
pub const ZMQ_EVENT_CONNECT_DELAYED: u16 = 0x0002;
/// Monitor event: asynchronous reconnect attempt; value is the reconnect interval in ms.
pub const ZMQ_EVENT_CONNECT_RETRIED: u16 = 0x0004;
/// Monitor event: socket bound; value is the file descriptor.
pub const ZMQ_EVENT_LISTENING: u16 = 0x0008;
/// Monitor event: bind failed; value is errno.
pub const ZMQ_EVENT_BIND_FAILED: u16 = 0x0010;
/// Monitor event: connection accepted; value is the file descriptor.
pub const ZMQ_EVENT_ACCEPTED: u16 = 0x0020;
/// Monitor event: accept failed; value is errno.
pub const ZMQ_EVENT_ACCEPT_FAILED: u16 = 0x0040;
/// Monitor event: connection closed; value is the file descriptor.
pub const ZMQ_EVENT_CLOSED: u16 = 0x0080;
/// Monitor event: close failed; value is errno.
pub const ZMQ_EVENT_CLOSE_FAILED: u16 = 0x0100;
/// Monitor event: session broken; value is the file descriptor.
pub const ZMQ_EVENT_DISCONNECTED: u16 = 0x0200;
/// Monitor event: monitoring stopped (the monitored socket closed); last event.
pub const ZMQ_EVENT_MONITOR_STOPPED: u16 = 0x0400;
/// Monitor event mask: every event above and below.
pub const ZMQ_EVENT_ALL: u16 = 0xFFFF;
/// Monitor event: handshake failed for an unspecified system reason; value is errno.
pub const ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL: u16 = 0x0800;
/// Monitor event: handshake (and authentication, if any) succeeded.
pub const ZMQ_EVENT_HANDSHAKE_SUCCEEDED: u16 = 0x1000;
/// Monitor event: ZMTP or ZAP protocol error; value is a `ZMQ_PROTOCOL_ERROR_*` code.
pub const ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL: u16 = 0x2000;
/// Monitor event: authentication refused; value is the ZAP status code (300, 400 or 500).
pub const ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: u16 = 0x4000;

/// Size of a CURVE key in bytes.
pub const CURVE_KEY_SIZE: usize = 32;
/// Size of a CURVE key in Z85 characters.
pub const CURVE_KEY_Z85_SIZE: usize = 40;

/// Buffer size [`Socket::get_bytes`] offers libzmq: enough for routing ids (255), endpoints and
/// PLAIN credentials (255).
const GET_BYTES_CAPACITY: usize = 512;

/// A libzmq call failed.
///
/// `errno` is libzmq's error number: a system errno such as `EAGAIN`, or one of libzmq's own numbers
/// above `ZMQ_HAUSNUMERO` (156384712) such as `ETERM`. `message` is `zmq_strerror(errno)`, or a
/// sentence from these bindings when the failure happened before libzmq was called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZmqError {
    /// The error number.
    pub errno: i32,
    /// Human-readable description.
    pub message: String,
}

impl ZmqError {
    /// The error number libzmq reported for the calling thread's last failed call.
    fn last(lib: &Lib) -> Self {
        // SAFETY: zmq_errno takes no arguments and only reads the calling thread's errno.
        let errno = unsafe { (lib.zmq_errno)() };
        Self::from_errno(lib, errno)
    }

    /// Describes `errno` with `zmq_strerror`.
    fn from_errno(lib: &Lib, errno: i32) -> Self {
        // SAFETY: zmq_strerror accepts any int and returns a pointer to a NUL-terminated string in
        // static storage (libzmq's own table or the C library's strerror buffer), or null in theory.
        let text = unsafe { (lib.zmq_strerror)(errno) };
        let message = if text.is_null() {
            format!("unknown libzmq error {errno}")
        } else {
            // SAFETY: non-null, NUL-terminated (see above); copied out before any other libzmq call
            // on this thread could overwrite a strerror buffer.
            unsafe { CStr::from_ptr(text) }
                .to_string_lossy()
                .into_owned()
        };
        Self { errno, message }
    }

    /// An error raised by these bindings rather than by libzmq.
    fn invalid(message: impl Into<String>) -> Self {
        Self {
            errno: libc::EINVAL,
            message: message.into(),
        }
    }

    /// True for `EAGAIN`: a timeout ([`ZMQ_RCVTIMEO`], [`ZMQ_SNDTIMEO`]) expired or a
    /// [`ZMQ_DONTWAIT`] call would have blocked.
    pub fn is_again(&self) -> bool {
        self.errno == libc::EAGAIN
    }

    /// True when libzmq itself could not be loaded (see [`load`]); `errno` is then `ELIBACC` and
    /// `message` says which library to install.
    pub fn is_load_failure(&self) -> bool {
        self.errno == libc::ELIBACC
    }
}

impl fmt::Display for ZmqError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "libzmq: {} (errno {})", self.message, self.errno)
    }
}

impl std::error::Error for ZmqError {}

impl From<LoadError> for ZmqError {
    fn from(error: LoadError) -> Self {
        Self {
            errno: libc::ELIBACC,
            message: error.to_string(),
        }
    }
}

/// Turns a libzmq `int` return value into a `Result`: `-1` means failure with `zmq_errno()` set.
fn check(lib: &Lib, rc: c_int) -> Result<c_int, ZmqError> {
    if rc == -1 {
        Err(ZmqError::last(lib))
    } else {
        Ok(rc)
    }
}

/// Milliseconds for a libzmq timeout option, saturating at `i32::MAX` (about 24 days).
fn duration_ms(duration: Duration) -> i32 {
    i32::try_from(duration.as_millis()).unwrap_or(i32::MAX)
}

fn c_string(what: &str, text: &str) -> Result<CString, ZmqError> {
    CString::new(text)
        .map_err(|_| ZmqError::invalid(format!("{what} contains a NUL byte: {text:?}")))
}

/// The libzmq version the process loaded, as `(major, minor, patch)`.
pub fn version() -> Result<(i32, i32, i32), ZmqError> {
    let lib = load()?;
    let (mut major, mut minor, mut patch) = (0, 0, 0);
    // SAFETY: three valid, writable, exclusive `int` locations.
    unsafe { (lib.zmq_version)(&mut major, &mut minor, &mut patch) };
    Ok((major, minor, patch))
}

/// Whether the loaded libzmq supports `capability` (`"curve"`, `"ipc"`, `"draft"`, ...).
///
/// False as well when libzmq cannot be loaded or `capability` contains a NUL byte.
pub fn has(capability: &str) -> bool {
    let (Ok(lib), Ok(capability)) = (load(), CString::new(capability)) else {
        return false;
    };
    // SAFETY: `capability` is a valid NUL-terminated string that outlives the call.
    unsafe { (lib.zmq_has)(capability.as_ptr()) == 1 }
}

/// Z85-encodes `data` (RFC 32). Fails with `EINVAL` unless its length is a multiple of 4.
pub fn z85_encode_bytes(data: &[u8]) -> Result<String, ZmqError> {
    let lib = load()?;
    if !data.len().is_multiple_of(4) {
        return Err(ZmqError::invalid(format!(
            "Z85 encodes whole 4-byte groups; got {} bytes",
            data.len()
        )));
    }
    let mut encoded = vec![0u8; data.len() / 4 * 5 + 1];
    // SAFETY: `encoded` has room for size * 5 / 4 characters plus the NUL that zmq_z85_encode writes;
    // `data` is readable for `data.len()` bytes, a multiple of 4 as the function requires.
    let result = unsafe {
        (lib.zmq_z85_encode)(
            encoded.as_mut_ptr().cast::<c_char>(),
            data.as_ptr(),
            data.len(),
        )
    };
    if result.is_null() {
        return Err(ZmqError::last(lib));
    }
    encoded.pop(); // the NUL terminator
    String::from_utf8(encoded)
        .map_err(|_| ZmqError::invalid("zmq_z85_encode produced non-ASCII output"))
}

/// Decodes Z85 text (RFC 32). Fails with `EINVAL` unless its length is a multiple of 5 and every
/// character is in the Z85 alphabet.
pub fn z85_decode_bytes(text: &str) -> Result<Vec<u8>, ZmqError> {
    let lib = load()?;
    if !text.len().is_multiple_of(5) {
        return Err(ZmqError::invalid(format!(
            "Z85 decodes whole 5-character groups; got {} characters",
            text.len()
        )));
    }
    let input = c_string("Z85 text", text)?;
    let mut decoded = vec![0u8; text.len() / 5 * 4];
    // SAFETY: `input` is NUL-terminated with strlen a multiple of 5; `decoded` holds strlen * 4 / 5
    // bytes, exactly what zmq_z85_decode writes. Both outlive the call.
    let result = unsafe { (lib.zmq_z85_decode)(decoded.as_mut_ptr(), input.as_ptr()) };
    if result.is_null() {
        return Err(ZmqError::invalid(format!("not valid Z85: {text:?}")));
    }
    Ok(decoded)
}

/// Z85-encodes a 32-byte CURVE key into its 40-character text form.
pub fn z85_encode(key: &[u8; CURVE_KEY_SIZE]) -> Result<String, ZmqError> {
    z85_encode_bytes(key)
}

/// Decodes a 40-character Z85 CURVE key. Fails with `EINVAL` for any other length or bad characters.
pub fn z85_decode(text: &str) -> Result<[u8; CURVE_KEY_SIZE], ZmqError> {
    if text.len() != CURVE_KEY_Z85_SIZE {
        return Err(ZmqError::invalid(format!(
            "a Z85 CURVE key is {CURVE_KEY_Z85_SIZE} characters; got {}",
            text.len()
        )));
    }
    let bytes = z85_decode_bytes(text)?;
    <[u8; CURVE_KEY_SIZE]>::try_from(bytes.as_slice())
        .map_err(|_| ZmqError::invalid("Z85 CURVE key did not decode to 32 bytes"))
}

/// Reads a NUL-terminated Z85 key out of a 41-byte buffer that libzmq filled.
fn z85_key_text(buffer: &[u8; CURVE_KEY_Z85_SIZE + 1]) -> Result<String, ZmqError> {
    let text = CStr::from_bytes_until_nul(buffer)
        .map_err(|_| ZmqError::invalid("libzmq returned an unterminated Z85 key"))?;
    Ok(text.to_string_lossy().into_owned())
}

/// Generates a fresh CURVE key pair, returned as Z85 `(public, secret)`.
///
/// Fails with `ENOTSUP` when libzmq was built without CURVE (see [`has`]).
pub fn curve_keypair() -> Result<(String, String), ZmqError> {
    let lib = load()?;
    let mut public = [0u8; CURVE_KEY_Z85_SIZE + 1];
    let mut secret = [0u8; CURVE_KEY_Z85_SIZE + 1];
    // SAFETY: both buffers hold the 40 Z85 characters plus NUL that zmq_curve_keypair writes, and are
    // distinct and writable for the whole call.
    let rc = unsafe {
        (lib.zmq_curve_keypair)(
            public.as_mut_ptr().cast::<c_char>(),
            secret.as_mut_ptr().cast::<c_char>(),
        )
    };
    check(lib, rc)?;
    Ok((z85_key_text(&public)?, z85_key_text(&secret)?))
}

/// Derives the Z85 public key from a Z85 CURVE secret key.
pub fn curve_public(secret: &str) -> Result<String, ZmqError> {
    let lib = load()?;
    if secret.len() != CURVE_KEY_Z85_SIZE {
        return Err(ZmqError::invalid(format!(
            "a Z85 CURVE key is {CURVE_KEY_Z85_SIZE} characters; got {}",
            secret.len()
        )));
    }
    let secret = c_string("Z85 secret key", secret)?;
    let mut public = [0u8; CURVE_KEY_Z85_SIZE + 1];
    // SAFETY: `secret` is NUL-terminated with the 40 characters zmq_curve_public reads; `public` has
    // room for the 40 characters plus NUL it writes. Both outlive the call.
    let rc =
        unsafe { (lib.zmq_curve_public)(public.as_mut_ptr().cast::<c_char>(), secret.as_ptr()) };
    check(lib, rc)?;
    z85_key_text(&public)
}

/// Owns one libzmq context; shared by [`Context`] clones and by every [`Socket`] made from it.
struct ContextInner {
    lib: &'static Lib,
    raw: *mut c_void,
}

// SAFETY: libzmq contexts are thread-safe: every zmq_ctx_* and zmq_socket call may be made from any
// thread, concurrently (zmq_ctx(3)). The pointer is only freed in Drop, when no clone remains.
unsafe impl Send for ContextInner {}
// SAFETY: as above; shared access only ever passes the pointer to thread-safe libzmq calls.
unsafe impl Sync for ContextInner {}

impl Drop for ContextInner {
    fn drop(&mut self) {
        // Every socket holds an `Arc` to this context, so all of them are closed by now and
        // zmq_ctx_term only waits for lingering messages. It is restarted if a signal interrupts it.
        loop {
            // SAFETY: `raw` came from zmq_ctx_new, is non-null, and is terminated exactly once, here.
            let rc = unsafe { (self.lib.zmq_ctx_term)(self.raw) };
            // SAFETY: zmq_errno only reads the calling thread's errno.
            if rc == 0 || unsafe { (self.lib.zmq_errno)() } != libc::EINTR {
                break;
            }
        }
    }
}

/// A libzmq context: owns the I/O threads and makes sockets.
///
/// Cheap to clone (an `Arc`); `Send` and `Sync`, like the libzmq context it wraps. The context is
/// terminated with `zmq_ctx_term` once every clone and every socket made from it has been dropped.
#[derive(Clone)]
pub struct Context {
    inner: Arc<ContextInner>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("raw", &self.inner.raw)
            .finish()
    }
}

impl Context {
    /// Loads libzmq if needed and creates a context with default settings.
    ///
    /// Fails with [`ZmqError::is_load_failure`] when libzmq is not installed.
    pub fn new() -> Result<Self, ZmqError> {
        let lib = load()?;
        // SAFETY: zmq_ctx_new takes no arguments; it returns a new context or null with errno set.
        let raw = unsafe { (lib.zmq_ctx_new)() };
        if raw.is_null() {
            return Err(ZmqError::last(lib));
        }
        Ok(Self {
            inner: Arc::new(ContextInner { lib, raw }),
        })
    }

    /// Sets a context option such as [`ZMQ_IO_THREADS`] (`zmq_ctx_set`). Call before making sockets.
    pub fn set(&self, option: i32, value: i32) -> Result<(), ZmqError> {
        let lib = self.inner.lib;
        // SAFETY: `raw` is a live context (we hold a reference to it); options are plain ints.
        let rc = unsafe { (lib.zmq_ctx_set)(self.inner.raw, option, value) };
        check(lib, rc).map(drop)
    }

    /// Creates a socket of `kind` ([`PAIR`] .. [`XSUB`]).
    pub fn socket(&self, kind: i32) -> Result<Socket, ZmqError> {
        let lib = self.inner.lib;
        // SAFETY: `raw` is a live context; zmq_socket validates `kind` and returns null on error.
        let raw = unsafe { (lib.zmq_socket)(self.inner.raw, kind) };
        if raw.is_null() {
            return Err(ZmqError::last(lib));
        }
        Ok(Socket {
            raw,
            context: Arc::clone(&self.inner),
        })
    }

    /// The raw `void *` context, for calling [`Lib`]'s functions directly. It stays valid while
    /// `self` is alive.
    pub fn as_raw(&self) -> *mut c_void {
        self.inner.raw
    }
}

/// Counter that makes each monitor endpoint name unique within the process.
static MONITOR_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A libzmq socket.
///
/// `Send` but not `Sync`: libzmq sockets are not thread-safe, but may move to another thread (moving a
/// value between threads in Rust includes the full memory barrier libzmq asks for). Dropping it calls
/// `zmq_close`.
pub struct Socket {
    raw: *mut c_void,
    /// Keeps the context alive until this socket is closed.
    context: Arc<ContextInner>,
}

// SAFETY: libzmq allows a socket to be used from another thread after a full memory barrier
// (zmq_socket(3)); transferring ownership between threads provides one. Not `Sync`: concurrent use
// from two threads is undefined in libzmq, and every method takes `&self`.
unsafe impl Send for Socket {}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket").field("raw", &self.raw).finish()
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: `raw` came from zmq_socket, is closed exactly once, here, and no borrow of it
        // outlives `self`. The context it belongs to is still alive (`self.context`).
        unsafe { (self.lib().zmq_close)(self.raw) };
    }
}

/// Closes an initialised `zmq_msg_t` when dropped. Borrows the storage, so the message cannot move
/// while it is initialised.
struct MsgGuard<'a> {
    lib: &'static Lib,
    msg: &'a mut ZmqMsg,
}

impl<'a> MsgGuard<'a> {
    /// Initialises `msg` as an empty message (`zmq_msg_init`).
    fn empty(lib: &'static Lib, msg: &'a mut ZmqMsg) -> Self {
        // SAFETY: `msg` is a valid, aligned, writable `zmq_msg_t`; zmq_msg_init cannot fail.
        unsafe { (lib.zmq_msg_init)(msg) };
        Self { lib, msg }
    }

    /// Pointer to the initialised message, for `zmq_msg_*` calls.
    fn as_ptr(&mut self) -> *mut ZmqMsg {
        self.msg
    }
}

impl Drop for MsgGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: the message was initialised in `MsgGuard::empty` and is closed once, here. Closing a
        // message that zmq_msg_recv filled frees its data; the message is not used afterwards.
        unsafe { (self.lib.zmq_msg_close)(self.msg) };
    }
}

impl Socket {
    fn lib(&self) -> &'static Lib {
        self.context.lib
    }

    /// The raw `void *` socket, for calling [`Lib`]'s functions directly. It stays valid while `self`
    /// is alive; do not close it.
    pub fn as_raw(&self) -> *mut c_void {
        self.raw
    }

    fn set_raw(&self, option: i32, value: *const c_void, len: usize) -> Result<(), ZmqError> {
        let lib = self.lib();
        // SAFETY: `raw` is a live socket; callers pass `value` readable for `len` bytes for the call.
        let rc = unsafe { (lib.zmq_setsockopt)(self.raw, option, value, len) };
        check(lib, rc).map(drop)
    }

    /// Sets an `int` socket option, such as [`ZMQ_LINGER`] or [`ZMQ_SNDHWM`].
    pub fn set_int(&self, option: i32, value: i32) -> Result<(), ZmqError> {
        let value: c_int = value;
        self.set_raw(
            option,
            std::ptr::from_ref(&value).cast(),
            std::mem::size_of::<c_int>(),
        )
    }

    /// Sets an `int64_t` socket option, such as [`ZMQ_MAXMSGSIZE`].
    pub fn set_i64(&self, option: i32, value: i64) -> Result<(), ZmqError> {
        self.set_raw(
            option,
            std::ptr::from_ref(&value).cast(),
            std::mem::size_of::<i64>(),
        )
    }

    /// Sets a binary or string socket option, such as [`ZMQ_SUBSCRIBE`] or [`ZMQ_ROUTING_ID`].
    pub fn set_bytes(&self, option: i32, value: &[u8]) -> Result<(), ZmqError> {
        self.set_raw(option, value.as_ptr().cast(), value.len())
    }

    /// Subscribes a SUB socket to messages starting with `prefix` (empty: everything).
    pub fn subscribe(&self, prefix: &[u8]) -> Result<(), ZmqError> {
        self.set_bytes(ZMQ_SUBSCRIBE, prefix)
    }

    /// Sets [`ZMQ_RCVTIMEO`]: blocking receives fail with [`ZmqError::is_again`] after `timeout`.
    /// Saturates at `i32::MAX` milliseconds.
    pub fn set_rcvtimeo(&self, timeout: Duration) -> Result<(), ZmqError> {
        self.set_int(ZMQ_RCVTIMEO, duration_ms(timeout))
    }

    /// Sets [`ZMQ_SNDTIMEO`]: blocking sends fail with [`ZmqError::is_again`] after `timeout`.
    /// Saturates at `i32::MAX` milliseconds.
    pub fn set_sndtimeo(&self, timeout: Duration) -> Result<(), ZmqError> {
        self.set_int(ZMQ_SNDTIMEO, duration_ms(timeout))
    }

    /// Reads an `int` socket option, such as [`ZMQ_RCVMORE`] or [`ZMQ_LINGER`].
    pub fn get_int(&self, option: i32) -> Result<i32, ZmqError> {
        let lib = self.lib();
        let mut value: c_int = 0;
        let mut len = std::mem::size_of::<c_int>();
        // SAFETY: `raw` is a live socket; `value` is writable for `len` bytes and `len` is a valid
        // in/out size, both exclusive and alive for the call.
        let rc = unsafe {
            (lib.zmq_getsockopt)(
                self.raw,
                option,
                std::ptr::from_mut(&mut value).cast(),
                &mut len,
            )
        };
        check(lib, rc)?;
        Ok(value)
    }

    /// Reads an `int64_t` socket option, such as [`ZMQ_MAXMSGSIZE`].
    pub fn get_i64(&self, option: i32) -> Result<i64, ZmqError> {
        let lib = self.lib();
        let mut value: i64 = 0;
        let mut len = std::mem::size_of::<i64>();
        // SAFETY: as in `get_int`, with an 8-byte `value`.
        let rc = unsafe {
            (lib.zmq_getsockopt)(
                self.raw,
                option,
                std::ptr::from_mut(&mut value).cast(),
                &mut len,
            )
        };
        check(lib, rc)?;
        Ok(value)
    }

    /// Reads a binary or string option into a buffer of exactly `len` bytes and returns what libzmq
    /// wrote. Needed where libzmq picks the format from the size: CURVE keys are returned as 32 raw
    /// bytes for `len` 32 and as Z85 text plus NUL for `len` 41.
    pub fn get_bytes_with_len(&self, option: i32, len: usize) -> Result<Vec<u8>, ZmqError> {
        let lib = self.lib();
        let mut buffer = vec![0u8; len];
        let mut written = len;
        // SAFETY: `raw` is a live socket; `buffer` is writable for `written` bytes, and libzmq writes
        // at most that many and stores the actual length back into `written`.
        let rc = unsafe {
            (lib.zmq_getsockopt)(self.raw, option, buffer.as_mut_ptr().cast(), &mut written)
        };
        check(lib, rc)?;
        buffer.truncate(written.min(len));
        Ok(buffer)
    }

    /// Reads a binary or string socket option such as [`ZMQ_ROUTING_ID`] or [`ZMQ_LAST_ENDPOINT`]
    /// (up to 512 bytes). String options keep libzmq's trailing NUL. For CURVE keys use
    /// [`Socket::get_bytes_with_len`].
    pub fn get_bytes(&self, option: i32) -> Result<Vec<u8>, ZmqError> {
        self.get_bytes_with_len(option, GET_BYTES_CAPACITY)
    }

    /// The endpoint this socket last bound or connected, with a wildcard port resolved, for example
    /// `"tcp://127.0.0.1:41234"` after binding `"tcp://127.0.0.1:*"`.
    pub fn last_endpoint(&self) -> Result<String, ZmqError> {
        let mut bytes = self.get_bytes(ZMQ_LAST_ENDPOINT)?;
        if let Some(end) = bytes.iter().position(|&byte| byte == 0) {
            bytes.truncate(end);
        }
        String::from_utf8(bytes).map_err(|_| ZmqError::invalid("last endpoint is not UTF-8"))
    }

    fn endpoint_call(
        &self,
        call: unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int,
        endpoint: &str,
    ) -> Result<(), ZmqError> {
        let lib = self.lib();
        let endpoint = c_string("endpoint", endpoint)?;
        // SAFETY: `call` is one of zmq_bind/connect/unbind/disconnect from `lib`; `raw` is a live
        // socket and `endpoint` a NUL-terminated string alive for the call (libzmq copies it).
        let rc = unsafe { call(self.raw, endpoint.as_ptr()) };
        check(lib, rc).map(drop)
    }

    /// Binds to `endpoint` (`zmq_bind`), e.g. `"tcp://127.0.0.1:*"` or `"inproc://name"`.
    pub fn bind(&self, endpoint: &str) -> Result<(), ZmqError> {
        self.endpoint_call(self.lib().zmq_bind, endpoint)
    }

    /// Connects to `endpoint` (`zmq_connect`). Returns before the connection is made.
    pub fn connect(&self, endpoint: &str) -> Result<(), ZmqError> {
        self.endpoint_call(self.lib().zmq_connect, endpoint)
    }

    /// Stops listening on `endpoint` (`zmq_unbind`); use the resolved [`Socket::last_endpoint`].
    pub fn unbind(&self, endpoint: &str) -> Result<(), ZmqError> {
        self.endpoint_call(self.lib().zmq_unbind, endpoint)
    }

    /// Drops the connection to `endpoint` (`zmq_disconnect`).
    pub fn disconnect(&self, endpoint: &str) -> Result<(), ZmqError> {
        self.endpoint_call(self.lib().zmq_disconnect, endpoint)
    }

    /// Sends one frame (`zmq_send`, which copies it). `flags` combines [`ZMQ_SNDMORE`] and
    /// [`ZMQ_DONTWAIT`].
    pub fn send(&self, frame: &[u8], flags: i32) -> Result<(), ZmqError> {
        let lib = self.lib();
        // SAFETY: `raw` is a live socket; `frame` is readable for `frame.len()` bytes and libzmq
        // copies it before returning.
        let rc = unsafe { (lib.zmq_send)(self.raw, frame.as_ptr().cast(), frame.len(), flags) };
        check(lib, rc).map(drop)
    }

    /// Sends every frame as one message, blocking as [`Socket::send`] does. Fails with `EINVAL`
    /// before sending anything if `frames` is empty. If a frame after the first fails (a send
    /// timeout, say), the earlier frames may already sit inside libzmq as an unfinished message, so
    /// drop the socket rather than send on it again.
    pub fn send_multipart<I>(&self, frames: I) -> Result<(), ZmqError>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let mut frames = frames.into_iter().peekable();
        if frames.peek().is_none() {
            return Err(ZmqError::invalid("a message has at least one frame"));
        }
        while let Some(frame) = frames.next() {
            let flags = if frames.peek().is_some() {
                ZMQ_SNDMORE
            } else {
                0
            };
            self.send(frame.as_ref(), flags)?;
        }
        Ok(())
    }

    /// Receives one frame into `buffer` (replacing its contents) and returns whether more frames of
    /// the same message follow. Reuses `buffer`'s allocation, so a loop can receive without allocating.
    pub fn recv_into(&self, buffer: &mut Vec<u8>, flags: i32) -> Result<bool, ZmqError> {
        let lib = self.lib();
        let mut storage = ZmqMsg::zeroed();
        let mut guard = MsgGuard::empty(lib, &mut storage);
        let msg = guard.as_ptr();
        // SAFETY: `msg` points at an initialised message that `guard` keeps in place and open until
        // the end of this function; `raw` is a live socket.
        let rc = unsafe { (lib.zmq_msg_recv)(msg, self.raw, flags) };
        if rc == -1 {
            // Read errno now, before the guard's zmq_msg_close could touch it.
            return Err(ZmqError::last(lib));
        }
        // SAFETY: `msg` holds the received frame (see above); these calls only read its header.
        let (data, size, more) = unsafe {
            (
                (lib.zmq_msg_data)(msg).cast::<u8>().cast_const(),
                (lib.zmq_msg_size)(msg),
                (lib.zmq_msg_more)(msg) != 0,
            )
        };
        buffer.clear();
        if size > 0 {
            // SAFETY: zmq_msg_data points at `size` initialised bytes owned by the message, which stays
            // alive and unmodified until the guard closes it after this copy.
            buffer.extend_from_slice(unsafe { std::slice::from_raw_parts(data, size) });
        }
        Ok(more)
    }

    /// Receives one frame and whether more frames of the same message follow.
    pub fn recv_frame(&self, flags: i32) -> Result<(Vec<u8>, bool), ZmqError> {
        let mut frame = Vec::new();
        let more = self.recv_into(&mut frame, flags)?;
        Ok((frame, more))
    }

    /// Receives one frame of any size (`zmq_msg_recv`). `flags` may be [`ZMQ_DONTWAIT`]. Check
    /// [`ZMQ_RCVMORE`] or use [`Socket::recv_multipart`] for the rest of a multipart message.
    pub fn recv(&self, flags: i32) -> Result<Vec<u8>, ZmqError> {
        self.recv_frame(flags).map(|(frame, _)| frame)
    }

    /// Receives a whole message, blocking (up to [`ZMQ_RCVTIMEO`]) for its first frame. libzmq
    /// delivers messages atomically, so the remaining frames are already there.
    pub fn recv_multipart(&self) -> Result<Vec<Vec<u8>>, ZmqError> {
        let mut frames = Vec::new();
        loop {
            let (frame, more) = self.recv_frame(0)?;
            frames.push(frame);
            if !more {
                return Ok(frames);
            }
        }
    }

    /// Starts monitoring this socket for `events` (a mask of `ZMQ_EVENT_*`) and returns a PAIR socket
    /// connected to the monitor; read it with [`recv_monitor_event`].
    ///
    /// `context` must be the context this socket was made from (the monitor endpoint is `inproc`);
    /// anything else fails with `EINVAL`. Call before `bind`/`connect` to see their events. Each call
    /// uses a fresh `inproc://ringmq-interop-monitor-N` endpoint.
    pub fn monitor(&self, context: &Context, events: impl Into<i32>) -> Result<Socket, ZmqError> {
        if !Arc::ptr_eq(&self.context, &context.inner) {
            return Err(ZmqError::invalid(
                "monitor: the context must be the one the socket was made from",
            ));
        }
        let lib = self.lib();
        let number = MONITOR_COUNTER.fetch_add(1, Ordering::Relaxed);
        let endpoint = format!("inproc://ringmq-interop-monitor-{number}");
        let endpoint_c = c_string("monitor endpoint", &endpoint)?;
        // SAFETY: `raw` is a live socket; `endpoint_c` is a NUL-terminated string alive for the call.
        let rc = unsafe { (lib.zmq_socket_monitor)(self.raw, endpoint_c.as_ptr(), events.into()) };
        check(lib, rc)?;
        let monitor = context.socket(PAIR)?;
        monitor.connect(&endpoint)?;
        Ok(monitor)
    }
}

/// Parses libzmq's two-frame monitor event: frame 1 is a native-endian `u16` event and `u32` value,
/// frame 2 the endpoint the event concerns.
fn parse_monitor_event(frames: &[Vec<u8>]) -> Result<(u16, u32, String), ZmqError> {
    let [header, endpoint] = frames else {
        return Err(ZmqError::invalid(format!(
            "monitor event has {} frames; expected 2",
            frames.len()
        )));
    };
    let &[e0, e1, v0, v1, v2, v3] = header.as_slice() else {
        return Err(ZmqError::invalid(format!(
            "monitor event header is {} bytes; expected 6",
            header.len()
        )));
    };
    let event = u16::from_ne_bytes([e0, e1]);
    let value = u32::from_ne_bytes([v0, v1, v2, v3]);
    let endpoint = String::from_utf8_lossy(endpoint).into_owned();
    Ok((event, value, endpoint))
}

/// Receives one event from a socket returned by [`Socket::monitor`], as `(event, value, endpoint)`:
/// `event` is one `ZMQ_EVENT_*`, `value` its argument (a file descriptor, errno, interval or status
/// code, see the constants), `endpoint` the address concerned. Honours the monitor socket's
/// [`ZMQ_RCVTIMEO`]; a malformed event fails with `EINVAL`.
pub fn recv_monitor_event(monitor: &Socket) -> Result<(u16, u32, String), ZmqError> {
    parse_monitor_event(&monitor.recv_multipart()?)
}

/// One socket and the events to wait for, for [`poll`].
#[derive(Debug)]
pub struct PollItem<'a> {
    /// The socket to watch.
    pub socket: &'a Socket,
    /// Events to wait for: [`ZMQ_POLLIN`] and/or [`ZMQ_POLLOUT`].
    pub events: i16,
    /// Events that are ready, filled in by [`poll`].
    pub revents: i16,
}

impl<'a> PollItem<'a> {
    /// Watches `socket` for `events`.
    pub fn new(socket: &'a Socket, events: i16) -> Self {
        Self {
            socket,
            events,
            revents: 0,
        }
    }
}

/// Waits until at least one item is ready or `timeout` passes (`None`: forever), filling each
/// `revents`, and returns how many items are ready (0 on timeout). Fails with `ENOTSUP` if the loaded
/// libzmq has no `zmq_poll`.
pub fn poll(items: &mut [PollItem<'_>], timeout: Option<Duration>) -> Result<usize, ZmqError> {
    let lib = load()?;
    let Some(zmq_poll) = lib.zmq_poll else {
        return Err(ZmqError::from_errno(lib, libc::ENOTSUP));
    };
    let count = c_int::try_from(items.len())
        .map_err(|_| ZmqError::invalid("too many items for zmq_poll"))?;
    let mut raw: Vec<ZmqPollItem> = items
        .iter()
        .map(|item| ZmqPollItem {
            socket: item.socket.raw,
            fd: 0,
            events: item.events,
            revents: 0,
        })
        .collect();
    let timeout_ms: c_long = match timeout {
        Some(timeout) => c_long::try_from(timeout.as_millis()).unwrap_or(c_long::MAX),
        None => -1,
    };
    // SAFETY: `raw` holds `count` initialised items whose sockets are live (borrowed by `items` for
    // the whole call); zmq_poll only writes their `revents`.
    let rc = unsafe { zmq_poll(raw.as_mut_ptr(), count, timeout_ms) };
    let ready = check(lib, rc)?;
    for (item, raw) in items.iter_mut().zip(&raw) {
        item.revents = raw.revents;
    }
    // `ready` is non-negative after `check`, so the conversion cannot fail.
    Ok(usize::try_from(ready).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Frame 1 of a ZMQ_EVENT_ACCEPTED event with value (fd) 9, as libzmq 4.3 lays it out on a
    // little-endian machine: u16 0x0020, u32 9.
    #[cfg(target_endian = "little")]
    const ACCEPTED_FD_9: [u8; 6] = [0x20, 0x00, 0x09, 0x00, 0x00, 0x00];

    #[test]
    #[cfg(target_endian = "little")]
    fn parses_monitor_event_frames() {
        let frames = vec![ACCEPTED_FD_9.to_vec(), b"tcp://127.0.0.1:5555".to_vec()];
        assert_eq!(
            parse_monitor_event(&frames).unwrap(),
            (ZMQ_EVENT_ACCEPTED, 9, "tcp://127.0.0.1:5555".to_owned())
        );
    }

    #[test]
    fn rejects_malformed_monitor_events() {
        assert_eq!(
            parse_monitor_event(&[vec![0; 6]]).unwrap_err().errno,
            libc::EINVAL
        );
        assert_eq!(
            parse_monitor_event(&[vec![0; 5], vec![]])
                .unwrap_err()
                .errno,
            libc::EINVAL
        );
        assert_eq!(
            parse_monitor_event(&[vec![0; 7], vec![]])
                .unwrap_err()
                .errno,
            libc::EINVAL
        );
    }

    #[test]
    fn duration_saturates() {
        assert_eq!(duration_ms(Duration::from_millis(250)), 250);
        assert_eq!(duration_ms(Duration::from_secs(u64::MAX)), i32::MAX);
    }

    #[test]
    fn load_failure_maps_to_elibacc() {
        let error = ZmqError::from(LoadError::NotFound { attempts: vec![] });
        assert!(error.is_load_failure());
        assert!(!error.is_again());
        assert!(error.to_string().contains("libzmq5"));
    }
}
