//! ipc transport: Unix domain stream sockets, `ipc:///path` and Linux abstract `ipc://@name`.
//!
//! Socket files are created with mode 0600 by default (`ipc_mode` widens it), binding into a
//! world-writable directory without the sticky bit is refused unless `ipc_allow_insecure_dir`, a
//! stale socket file is replaced only when nothing listens on it, and the file is removed when the
//! listener closes.

use std::cell::RefCell;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::Path;
use std::rc::Rc;

use socket2::{Domain, SockAddr, Socket as RawSocket, Type};

use super::core::Core;
use super::stream::RemoveOnDrop;
use crate::error::{Error, ErrorKind};
use crate::runtime::driver::{self, IoFd};

/// The socket address of an ipc endpoint path (`@name`: abstract namespace).
fn address(path: &str) -> std::io::Result<SockAddr> {
    // sun_path holds 108 bytes with the terminating NUL (unix(7)); say so as the kernel would.
    if path.len() >= 108 {
        return Err(std::io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    match path.strip_prefix('@') {
        Some(name) => {
            let mut bytes = vec![0u8];
            bytes.extend_from_slice(name.as_bytes());
            // A leading NUL selects the abstract namespace (unix(7)).
            use std::os::unix::ffi::OsStrExt;
            SockAddr::unix(std::ffi::OsStr::from_bytes(&bytes))
        }
        None => SockAddr::unix(path),
    }
}

/// The directory an ipc socket file at `path` goes in.
pub(crate) fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Whether a directory of this mode lets another user replace our socket file: world-writable
/// without the sticky bit (which /tmp has).
pub(crate) fn is_insecure_mode(mode: u32) -> bool {
    let world_writable = mode & 0o002 != 0;
    let sticky = mode & 0o1000 != 0;
    world_writable && !sticky
}

/// Refuse a directory anyone may write to unless it has the sticky bit (as /tmp does): there
/// another user could replace our socket file.
fn check_directory(path: &Path, allow_insecure: bool) -> Result<(), Error> {
    let dir = directory_of(path);
    let meta = std::fs::metadata(dir).map_err(|e| {
        Error::new(
            ErrorKind::BindFailed,
            format!("ipc directory {}: {e}", dir.display()),
        )
        .with_os_error(&e)
    })?;
    if is_insecure_mode(meta.permissions().mode()) && !allow_insecure {
        return Err(Error::new(
            ErrorKind::BindFailed,
            format!(
                "refusing to bind ipc in {}: the directory is world-writable without the sticky bit \
                 (set ipc_allow_insecure_dir to override)",
                dir.display()
            ),
        ));
    }
    Ok(())
}

/// Remove a socket file left by a dead process; refuse when something still listens on it or the
/// path is not a socket.
fn clear_stale(path: &Path) -> Result<(), Error> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !meta.file_type().is_socket() {
        return Err(Error::new(
            ErrorKind::BindFailed,
            format!("{} exists and is not a socket", path.display()),
        ));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(Error::new(
            ErrorKind::BindFailed,
            format!("{} is in use by a listening socket", path.display()),
        )),
        Err(_) => std::fs::remove_file(path).map_err(|e| {
            Error::new(
                ErrorKind::BindFailed,
                format!("cannot remove stale {}: {e}", path.display()),
            )
        }),
    }
}

/// Bind and listen on `ipc://path`; returns the endpoint.
/// Name prefix of the private directories made for `ipc://*` binds.
pub(crate) const WILDCARD_DIR_PREFIX: &str = "ringmq-ipc-";

/// For `ipc://*` (libzmq's wildcard): a fresh directory of our own (mode 0700) in the system's
/// temporary directory, and a socket path in it.
fn wildcard_path() -> Result<String, Error> {
    let base = std::env::temp_dir();
    for _ in 0..16 {
        let mut random = [0u8; 6];
        getrandom::fill(&mut random).map_err(|e| {
            Error::new(
                ErrorKind::BindFailed,
                format!("no randomness for ipc://*: {e}"),
            )
        })?;
        let name: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let dir = base.join(format!("{WILDCARD_DIR_PREFIX}{name}"));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir.join("socket").to_string_lossy().into_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io("creating a directory for ipc://*", e)),
        }
    }
    Err(Error::new(
        ErrorKind::BindFailed,
        "no free directory name for ipc://*",
    ))
}

pub(crate) fn bind(core: &Rc<RefCell<Core>>, requested: &str, path: &str) -> Result<String, Error> {
    let wildcard;
    let path = if path == "*" {
        wildcard = wildcard_path()?;
        wildcard.as_str()
    } else {
        path
    };
    let (mode, allow_insecure, backlog) = {
        let c = core.borrow();
        (
            c.options.ipc_mode,
            c.options.ipc_allow_insecure_dir,
            c.options.backlog,
        )
    };
    let use_fd = core.borrow().options.use_fd;
    if let Some(fd) = use_fd {
        let bind_err = |e: std::io::Error| {
            Error::new(
                ErrorKind::BindFailed,
                format!("cannot use descriptor {fd} for ipc://{path}: {e}"),
            )
        };
        let socket = super::stream::adopt_listener(fd).map_err(bind_err)?;
        return listen_on(core, socket, backlog, requested, path, None).map_err(bind_err);
    }
    let abstract_name = path.starts_with('@');
    if !abstract_name {
        check_directory(Path::new(path), allow_insecure)?;
        clear_stale(Path::new(path))?;
    }
    let bind_err = |e: std::io::Error| {
        Error::new(
            ErrorKind::BindFailed,
            format!("cannot bind ipc://{path}: {e}"),
        )
        .with_os_error(&e)
    };
    let socket = RawSocket::new(Domain::UNIX, Type::STREAM.cloexec(), None).map_err(bind_err)?;
    socket
        .bind(&address(path).map_err(bind_err)?)
        .map_err(bind_err)?;
    let cleanup = (!abstract_name).then(|| RemoveOnDrop(path.into()));
    if !abstract_name {
        // Before listen(): no peer can connect while the file still has the umask's mode.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(bind_err)?;
    }
    listen_on(core, socket, backlog, requested, path, cleanup).map_err(bind_err)
}

/// Listen on `socket`, bound at `path`, and start accepting; `cleanup` removes the socket file
/// when the listener goes. Returns the endpoint as bound.
fn listen_on(
    core: &Rc<RefCell<Core>>,
    socket: RawSocket,
    backlog: i32,
    requested: &str,
    path: &str,
    cleanup: Option<RemoveOnDrop>,
) -> std::io::Result<String> {
    socket.listen(backlog)?;
    let listener = IoFd::new(OwnedFd::from(socket))?;
    let endpoint = format!("ipc://{path}");
    super::stream::listen(
        core,
        listener,
        requested,
        &endpoint,
        super::stream::Listening::Ipc,
        cleanup,
    );
    Ok(endpoint)
}

/// One connection attempt to `ipc://path`.
pub(crate) async fn try_connect(path: &str) -> std::io::Result<IoFd> {
    let socket = RawSocket::new(Domain::UNIX, Type::STREAM.cloexec(), None)?;
    driver::connect(OwnedFd::from(socket), address(path)?).await
}
