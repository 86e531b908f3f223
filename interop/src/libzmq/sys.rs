//! Run-time loading of the system libzmq and its raw C entry points.
//!
//! Nothing here links against libzmq: [`load`] opens the shared library with `dlopen` the first time it
//! is called and resolves every symbol the safe wrappers need. A binary that never asks for libzmq
//! therefore builds and runs on a machine without it.

use std::ffi::{c_char, c_int, c_long, c_short, c_void};
use std::fmt;
use std::sync::OnceLock;

use libloading::Library;

/// File names tried, in order, by [`load`]. The versioned name comes first because it is the one the
/// runtime package (`libzmq5`) installs; the unversioned one only comes with `libzmq3-dev`.
pub const LIBRARY_NAMES: [&str; 2] = ["libzmq.so.5", "libzmq.so"];

/// libzmq's `zmq_msg_t`: 64 opaque bytes, aligned to a pointer as zmq.h requires.
///
/// Only libzmq reads or writes the contents. A value must be initialised with `zmq_msg_init*` before
/// any other `zmq_msg_*` call and released with `zmq_msg_close`. Keep it in one place between those
/// calls: the safe wrappers never move an initialised message.
#[repr(C, align(8))]
pub struct ZmqMsg(pub [u8; 64]);

impl ZmqMsg {
    /// An all-zero message, ready to be passed to `zmq_msg_init`.
    pub const fn zeroed() -> Self {
        Self([0; 64])
    }
}

/// libzmq's `zmq_pollitem_t` on Unix, where `zmq_fd_t` is an `int`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ZmqPollItem {
    /// The libzmq socket to poll, or null to poll `fd` instead.
    pub socket: *mut c_void,
    /// A plain file descriptor, used only when `socket` is null.
    pub fd: c_int,
    /// Requested events: `ZMQ_POLLIN`, `ZMQ_POLLOUT`, `ZMQ_POLLERR` ORed together.
    pub events: c_short,
    /// Events that occurred, written by `zmq_poll`.
    pub revents: c_short,
}

/// Declares the required symbols once: the `Lib` fields and the code that resolves them.
macro_rules! required_symbols {
    ($( $name:ident : fn($($arg:ty),*) $(-> $ret:ty)? ; )*) => {
        /// The loaded libzmq and its raw entry points, valid for the life of the process.
        ///
        /// Each field is the C function of the same name from zmq.h. Calling one is `unsafe` and the
        /// caller upholds zmq.h's contract for it; prefer the safe wrappers in
        /// [`crate::libzmq`]. Obtain the process-wide instance with [`load`].
        pub struct Lib {
            $(
                #[doc = concat!("Raw `", stringify!($name), "` from zmq.h.")]
                pub $name: unsafe extern "C" fn($($arg),*) $(-> $ret)?,
            )*
            /// Raw `zmq_poll` from zmq.h; `None` if this libzmq build does not export it.
            pub zmq_poll: Option<unsafe extern "C" fn(*mut ZmqPollItem, c_int, c_long) -> c_int>,
            /// File name the library was opened under.
            name: &'static str,
            /// Keeps the library mapped. The function pointers above point into it, so it must outlive
            /// them: it is only dropped together with them, and the process-wide `Lib` is never dropped.
            _library: Library,
        }

        impl Lib {
            /// Resolves every symbol from `library`, which was opened as `name`.
            fn resolve(library: Library, name: &'static str) -> Result<Self, LoadError> {
                Ok(Self {
                    $(
                        $name: {
                            const SYMBOL: &str = concat!(stringify!($name), "\0");
                            // SAFETY: the requested type is the exact C signature declared for this
                            // symbol in zmq.h 4.3.4 (checked by hand, one line per symbol in the
                            // `required_symbols!` call), and `SYMBOL` is NUL-terminated. The pointer is
                            // copied out of the `Symbol` guard; it stays valid because `library` is
                            // stored in the same `Lib` and so outlives every copy of it.
                            let symbol = unsafe {
                                library.get::<unsafe extern "C" fn($($arg),*) $(-> $ret)?>(SYMBOL.as_bytes())
                            };
                            *symbol.map_err(|error| LoadError::MissingSymbol {
                                library: name,
                                symbol: stringify!($name),
                                reason: error.to_string(),
                            })?
                        },
                    )*
                    // SAFETY: as above; `zmq_poll(zmq_pollitem_t *, int, long)` per zmq.h.
                    zmq_poll: unsafe {
                        library
                            .get::<unsafe extern "C" fn(*mut ZmqPollItem, c_int, c_long) -> c_int>(b"zmq_poll\0")
                            .ok()
                            .map(|symbol| *symbol)
                    },
                    name,
                    _library: library,
                })
            }
        }
    };
}

// One line per symbol, copied from the prototypes in /usr/include/zmq.h (libzmq 4.3.4). `void *` is
// `*mut c_void`, `size_t` is `usize`, `int` is `c_int`.
required_symbols! {
    zmq_errno: fn() -> c_int;
    zmq_strerror: fn(c_int) -> *const c_char;
    zmq_version: fn(*mut c_int, *mut c_int, *mut c_int);
    zmq_has: fn(*const c_char) -> c_int;

    zmq_ctx_new: fn() -> *mut c_void;
    zmq_ctx_term: fn(*mut c_void) -> c_int;
    zmq_ctx_set: fn(*mut c_void, c_int, c_int) -> c_int;

    zmq_socket: fn(*mut c_void, c_int) -> *mut c_void;
    zmq_close: fn(*mut c_void) -> c_int;
    zmq_setsockopt: fn(*mut c_void, c_int, *const c_void, usize) -> c_int;
    zmq_getsockopt: fn(*mut c_void, c_int, *mut c_void, *mut usize) -> c_int;
    zmq_bind: fn(*mut c_void, *const c_char) -> c_int;
    zmq_connect: fn(*mut c_void, *const c_char) -> c_int;
    zmq_unbind: fn(*mut c_void, *const c_char) -> c_int;
    zmq_disconnect: fn(*mut c_void, *const c_char) -> c_int;
    zmq_send: fn(*mut c_void, *const c_void, usize, c_int) -> c_int;
    zmq_recv: fn(*mut c_void, *mut c_void, usize, c_int) -> c_int;
    zmq_socket_monitor: fn(*mut c_void, *const c_char, c_int) -> c_int;

    zmq_msg_init: fn(*mut ZmqMsg) -> c_int;
    zmq_msg_init_size: fn(*mut ZmqMsg, usize) -> c_int;
    zmq_msg_data: fn(*mut ZmqMsg) -> *mut c_void;
    zmq_msg_size: fn(*const ZmqMsg) -> usize;
    zmq_msg_close: fn(*mut ZmqMsg) -> c_int;
    zmq_msg_send: fn(*mut ZmqMsg, *mut c_void, c_int) -> c_int;
    zmq_msg_recv: fn(*mut ZmqMsg, *mut c_void, c_int) -> c_int;
    zmq_msg_more: fn(*const ZmqMsg) -> c_int;

    zmq_z85_encode: fn(*mut c_char, *const u8, usize) -> *mut c_char;
    zmq_z85_decode: fn(*mut u8, *const c_char) -> *mut u8;
    zmq_curve_keypair: fn(*mut c_char, *mut c_char) -> c_int;
    zmq_curve_public: fn(*mut c_char, *const c_char) -> c_int;
}

impl Lib {
    /// Opens the first of `names` that `dlopen` accepts and resolves every required symbol from it.
    ///
    /// [`load`] calls this once with [`LIBRARY_NAMES`]; it is public so a caller can point at a
    /// specific build (for example a libzmq compiled with draft APIs) without the cache.
    pub fn open(names: &[&'static str]) -> Result<Self, LoadError> {
        let mut attempts = Vec::with_capacity(names.len());
        for &name in names {
            // SAFETY: opening a library runs its initialisers. libzmq's only set up process-local
            // state (C++ static objects, its own allocator hooks) and have no preconditions on us.
            match unsafe { Library::new(name) } {
                Ok(library) if Self::is_ringmq(&library) => attempts.push((
                    name,
                    "this is ringmq's own zmq ABI (it exports `ringmq_zmq_abi`), not libzmq"
                        .to_owned(),
                )),
                Ok(library) => return Self::resolve(library, name),
                Err(error) => attempts.push((name, error.to_string())),
            }
        }
        Err(LoadError::NotFound { attempts })
    }

    /// Whether `library` is ringmq's `zmq-abi` build (its marker symbol is there): the
    /// interop tests and loadgen must compare against the real libzmq, never against ringmq.
    fn is_ringmq(library: &Library) -> bool {
        // SAFETY: only the symbol's presence is checked; it is never read or called.
        unsafe { library.get::<*const u8>(b"ringmq_zmq_abi\0").is_ok() }
    }

    /// The file name the library was opened under, for example `"libzmq.so.5"`.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl fmt::Debug for Lib {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lib")
            .field("name", &self.name)
            .field("zmq_poll", &self.zmq_poll.is_some())
            .finish_non_exhaustive()
    }
}

/// Why libzmq could not be loaded.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// No candidate file name could be opened.
    NotFound {
        /// Each file name tried, with the loader's reason for refusing it.
        attempts: Vec<(&'static str, String)>,
    },
    /// The library opened but lacks a function these bindings need (it is too old, or not libzmq).
    MissingSymbol {
        /// File name the library was opened under.
        library: &'static str,
        /// The missing C function.
        symbol: &'static str,
        /// The loader's message.
        reason: String,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound { attempts } => {
                write!(f, "could not load the libzmq shared library (tried ")?;
                for (index, (name, reason)) in attempts.iter().enumerate() {
                    if index > 0 {
                        write!(f, "; ")?;
                    }
                    write!(f, "{name}: {reason}")?;
                }
                write!(
                    f,
                    "); install libzmq 4.x, e.g. `apt-get install libzmq5` (or `libzmq3-dev`), \
                     to run libzmq comparisons"
                )
            }
            Self::MissingSymbol {
                library,
                symbol,
                reason,
            } => write!(
                f,
                "{library} does not export `{symbol}` ({reason}); libzmq 4.3 or newer is required \
                 (Debian/Ubuntu package `libzmq5`)"
            ),
        }
    }
}

impl std::error::Error for LoadError {}

/// The process-wide libzmq, loaded on first use from [`LIBRARY_NAMES`].
///
/// The outcome is cached, success or failure, so later calls cost one atomic load. The library stays
/// loaded until the process exits.
pub fn load() -> Result<&'static Lib, LoadError> {
    static LIB: OnceLock<Result<Lib, LoadError>> = OnceLock::new();
    LIB.get_or_init(|| Lib::open(&LIBRARY_NAMES))
        .as_ref()
        .map_err(Clone::clone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msg_layout_matches_zmq_h() {
        assert_eq!(std::mem::size_of::<ZmqMsg>(), 64);
        assert!(std::mem::align_of::<ZmqMsg>() >= std::mem::align_of::<*mut c_void>());
        // zmq_pollitem_t on LP64 Unix: void *, int, short, short.
        assert_eq!(std::mem::size_of::<ZmqPollItem>(), 16);
    }

    #[test]
    fn missing_library_error_names_library_and_package() {
        let error = Lib::open(&["libzmq-ringmq-does-not-exist.so.99"]).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("libzmq-ringmq-does-not-exist.so.99"),
            "{text}"
        );
        assert!(text.contains("libzmq5"), "{text}");
        assert!(text.contains("libzmq3-dev"), "{text}");
    }

    #[test]
    fn system_libzmq_loads_with_every_symbol() {
        let lib = load().expect("libzmq must be installed on the test machine");
        assert!(LIBRARY_NAMES.contains(&lib.name()));
        assert!(lib.zmq_poll.is_some());
    }
}
