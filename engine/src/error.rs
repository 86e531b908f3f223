//! The one public error type, with a [`ErrorKind`] to match on.

use std::fmt;

use ringmq_transports::Message;

/// What went wrong, broadly.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The I/O backend asked for cannot run on this host: io_uring requested explicitly where the
    /// kernel, a sysctl, a seccomp profile or memlock forbids it (the message names which).
    /// Formerly `IoUringUnavailable`, which remains as an alias.
    BackendUnavailable,
    /// A configuration value is invalid.
    InvalidConfig,
    /// An endpoint string does not parse or names an unsupported transport.
    InvalidEndpoint,
    /// Binding failed (address in use, permission, bad interface).
    BindFailed,
    /// The operation is not valid for this socket type (e.g. `send` on PULL).
    NotSupported,
    /// An option value is invalid.
    InvalidOption,
    /// A non-blocking send found every peer at its high-water mark, or a timed send timed out.
    WouldBlock,
    /// A timed receive found nothing in time.
    Timeout,
    /// The socket or runtime is closed.
    Closed,
    /// The operation is not allowed in the socket's current state (REQ sending twice, REP sending
    /// before receiving; libzmq's `EFSM`).
    InvalidState,
    /// ROUTER with `router_mandatory`: no peer has that routing id (`EHOSTUNREACH`).
    HostUnreachable,
    /// The security policy forbids this (e.g. NULL over tcp under `RequireCurve`).
    PolicyViolation,
    /// `unbind` or `disconnect` of an endpoint the socket is not bound or connected to
    /// (libzmq's `ENOENT`).
    NotFound,
    /// An operating-system I/O error.
    Io,
}

impl ErrorKind {
    /// The former name of [`ErrorKind::BackendUnavailable`], from when io_uring was the only
    /// backend.
    #[allow(non_upper_case_globals)]
    #[deprecated(note = "renamed to ErrorKind::BackendUnavailable")]
    pub const IoUringUnavailable: ErrorKind = ErrorKind::BackendUnavailable;
}

/// ringmq's error: a kind and a message with the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    /// The operating system's error number behind it, if any (never 0; the niche keeps
    /// `SendError`, which carries an `Error` and a `Message`, small).
    os_error: Option<std::num::NonZeroI32>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            os_error: None,
        }
    }

    pub(crate) fn io(context: &str, e: std::io::Error) -> Error {
        Error::new(ErrorKind::Io, format!("{context}: {e}")).with_os_error(&e)
    }

    /// Keep `e`'s error number (see [`Error::raw_os_error`]).
    pub(crate) fn with_os_error(mut self, e: &std::io::Error) -> Error {
        self.os_error = e.raw_os_error().and_then(std::num::NonZeroI32::new);
        self
    }

    /// The operating system's error number behind this error (`ENOENT` for an ipc path in a
    /// missing directory, `EADDRINUSE`, `EACCES`...), when there is one; as
    /// [`std::io::Error::raw_os_error`].
    pub fn raw_os_error(&self) -> Option<i32> {
        self.os_error.map(std::num::NonZeroI32::get)
    }

    /// What went wrong, with its context (the same text `Display` prints).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// A send that did not happen hands the message back (tokio's `TrySendError` shape).
#[derive(Debug)]
pub enum SendError {
    /// Every eligible peer is at its high-water mark; try again later.
    Full(Message),
    /// The socket cannot send: wrong type or closed.
    Failed(Error, Message),
}

impl SendError {
    /// The error's kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SendError::Full(_) => ErrorKind::WouldBlock,
            SendError::Failed(e, _) => e.kind(),
        }
    }

    /// Take the message back.
    pub fn into_message(self) -> Message {
        match self {
            SendError::Full(m) | SendError::Failed(_, m) => m,
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Full(_) => f.write_str("every peer is at its high-water mark"),
            SendError::Failed(e, _) => e.fmt(f),
        }
    }
}

impl std::error::Error for SendError {}

impl From<SendError> for Error {
    fn from(e: SendError) -> Error {
        match e {
            SendError::Full(_) => Error::new(
                ErrorKind::WouldBlock,
                "every peer is at its high-water mark",
            ),
            SendError::Failed(e, _) => e,
        }
    }
}
