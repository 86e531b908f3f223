//! What tcp and ipc share: a stream socket carrying ZMTP. Accepting on a listener, driving each
//! connection to its end and accounting for it, and connecting with reconnection and back-off.
//! Only addresses and socket options differ per transport (`tcp.rs`, `ipc.rs`).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use ringmq_transports::endpoint::Host;
use ringmq_transports::ConnectionConfig;
use socket2::SockRef;

use super::conn::{self, ConnEnd};
use super::core::{killable, Core, EndpointId, EndpointRole};
use crate::error::Error;
use crate::monitor::{HandshakeFailure, MonitorEvent};
use crate::runtime::driver::{self, IoFd};
use crate::runtime::{sleep, spawn_local};

/// Removes an ipc socket file when its listener goes away.
pub(crate) struct RemoveOnDrop(pub(crate) std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        // The private directory a wildcard `ipc://*` bind made for it goes too.
        if let Some(dir) = self.0.parent() {
            if dir.file_name().is_some_and(|n| {
                n.to_string_lossy()
                    .starts_with(super::ipc::WILDCARD_DIR_PREFIX)
            }) {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
}

/// Take over `fd`, a bound socket the program handed over with `Options::use_fd`
/// (`ZMQ_USE_FD`). Refused unless it is a stream socket.
pub(crate) fn adopt_listener(fd: std::os::fd::RawFd) -> std::io::Result<socket2::Socket> {
    use std::os::fd::{BorrowedFd, FromRawFd};
    if fd < 0 {
        return Err(std::io::Error::from_raw_os_error(libc::EBADF));
    }
    {
        // SAFETY: only borrowed for the type check below, while the program (which gave it to
        // us) keeps it open; nothing is closed if the check fails.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        if socket2::SockRef::from(&borrowed).r#type()? != socket2::Type::STREAM {
            return Err(std::io::Error::from_raw_os_error(libc::ENOTSOCK));
        }
    }
    // SAFETY: `Options::use_fd` documents that the socket takes ownership of the descriptor the
    // program gives it (libzmq's ZMQ_USE_FD contract): it is an open stream socket (checked
    // above) and nothing else closes it.
    let socket = unsafe { socket2::Socket::from_raw_fd(fd) };
    socket.set_cloexec(true)?;
    Ok(socket)
}

/// The stream transports a listener accepts for: they differ in the options that apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listening {
    /// tcp: `TCP_NODELAY` on each connection, `tcp_accept_filter`.
    Tcp,
    /// ipc: the uid/gid/pid accept filter.
    Ipc,
}

/// Start accepting on `listener`, bound as `endpoint` (asked for as `requested`): the accept loop
/// runs until the socket closes or `unbind` stops it.
pub(crate) fn listen(
    core: &Rc<RefCell<Core>>,
    listener: IoFd,
    requested: &str,
    endpoint: &str,
    transport: Listening,
    cleanup: Option<RemoveOnDrop>,
) {
    let (id, stop) = core
        .borrow_mut()
        .add_endpoint(EndpointRole::Bound, requested, endpoint);
    if let Some(entry) = core.borrow_mut().endpoint_entry(id) {
        entry.listener = Some(listener.downgrade());
    }
    let kill = core.borrow().kill.clone();
    spawn_local(killable(
        kill,
        killable(
            stop,
            accept_loop(
                core.clone(),
                listener,
                endpoint.to_owned(),
                id,
                transport,
                cleanup,
            ),
        ),
    ))
    .detach();
    core.borrow_mut().endpoints.push(endpoint.to_owned());
}

/// Whether a tcp connection's peer address is in `filter` (`Options::tcp_accept_filter`; an empty
/// filter allows every peer). A peer whose address cannot be read is refused.
fn accept_filter_allows(filter: &[crate::security::IpNet], fd: &IoFd) -> bool {
    if filter.is_empty() {
        return true;
    }
    match SockRef::from(fd)
        .peer_addr()
        .ok()
        .and_then(|a| a.as_socket())
    {
        Some(peer) => filter.iter().any(|net| net.contains(peer.ip())),
        None => false,
    }
}

/// Whether an ipc connection's peer passes `filter` (`Options::ipc_accept_filter`), as libzmq's
/// ipc listener decides: its user id, group id or process id is listed, or one of the listed
/// groups has the peer's user as a member. An empty filter admits every peer; a peer whose
/// credentials cannot be read is refused.
fn ipc_filter_allows(filter: &super::IpcFilter, fd: &IoFd) -> bool {
    if filter.is_empty() {
        return true;
    }
    let Some(peer) = peer_credentials(fd) else {
        return false;
    };
    if filter.uids.contains(&peer.uid)
        || filter.gids.contains(&peer.gid)
        || filter.pids.contains(&peer.pid)
    {
        return true;
    }
    !filter.gids.is_empty()
        && user_groups(peer.uid, peer.gid)
            .iter()
            .any(|g| filter.gids.contains(g))
}

/// A Unix-socket peer's process, user and group (`SO_PEERCRED`); `None` off Unix sockets.
fn peer_credentials(fd: &IoFd) -> Option<libc::ucred> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` is a writable `ucred` and `len` its size, as SO_PEERCRED requires; the
    // descriptor is open (the `IoFd` holds it) and the kernel writes at most `len` bytes.
    let rc = unsafe {
        libc::getsockopt(
            fd.raw(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0 && len as usize == std::mem::size_of::<libc::ucred>()).then_some(cred)
}

/// The groups of user `uid` (primary group `gid` included), from the system's user and group
/// databases (`getpwuid_r`, `getgrouplist`); empty when the user is unknown.
fn user_groups(uid: u32, gid: u32) -> Vec<u32> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: all-zero is a valid `passwd` (null pointers, zero ids) for getpwuid_r to fill.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: `pwd`, `buf` (with its true length) and `found` are valid for writes for the
    // whole call; getpwuid_r stores the strings it returns in `buf`, which outlives their use.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc != 0 || found.is_null() {
        return Vec::new();
    }
    let mut groups = vec![0 as libc::gid_t; 256];
    let mut count = groups.len() as libc::c_int;
    // SAFETY: `pwd.pw_name` points into `buf` (a NUL-terminated name getpwuid_r wrote), still
    // alive; `groups` has room for `count` entries and getgrouplist writes at most that many,
    // setting `count` to how many there are.
    let rc = unsafe { libc::getgrouplist(pwd.pw_name, gid, groups.as_mut_ptr(), &mut count) };
    if rc < 0 {
        // More than 256 groups: the first 256 are what was written.
        count = groups.len() as libc::c_int;
    }
    groups.truncate(count.max(0) as usize);
    groups
}

async fn accept_loop(
    core: Rc<RefCell<Core>>,
    listener: IoFd,
    endpoint: String,
    endpoint_id: EndpointId,
    transport: Listening,
    cleanup: Option<RemoveOnDrop>,
) {
    let _cleanup = cleanup;
    loop {
        match driver::accept(&listener).await {
            Ok(fd) => {
                let allowed = match transport {
                    Listening::Tcp => {
                        let _ = SockRef::from(&fd).set_nodelay(true);
                        accept_filter_allows(&core.borrow().options.tcp_accept_filter, &fd)
                    }
                    Listening::Ipc => {
                        ipc_filter_allows(&core.borrow().options.ipc_accept_filter, &fd)
                    }
                };
                if !allowed {
                    tracing::debug!(%endpoint, "connection refused by the accept filter");
                    continue;
                }
                let peer = core.borrow_mut().accept_pipe();
                if let Some(pipe) = core.borrow_mut().pipes.get_mut(&peer) {
                    pipe.endpoint = Some(endpoint_id);
                }
                let config = connection_config(&core.borrow());
                let kill = core.borrow().kill.clone();
                let core2 = core.clone();
                core.borrow_mut().emit(MonitorEvent::Accepted {
                    endpoint: endpoint.clone(),
                });
                let endpoint = endpoint.clone();
                spawn_local(killable(kill, async move {
                    run_connection(&core2, peer, fd, config, endpoint).await;
                }))
                .detach();
            }
            Err(e) => {
                tracing::warn!(%endpoint, error = %e, "accept failed");
                core.borrow_mut().emit(MonitorEvent::AcceptFailed {
                    endpoint: endpoint.clone(),
                    error: e.to_string(),
                });
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EMFILE)
                        | Some(libc::ENFILE)
                        | Some(libc::ENOBUFS)
                        | Some(libc::ENOMEM)
                ) {
                    sleep(Duration::from_millis(100)).await;
                } else if matches!(
                    e.raw_os_error(),
                    Some(libc::EBADF) | Some(libc::EINVAL) | Some(libc::ENOTSOCK)
                ) {
                    return;
                }
            }
        }
    }
}

pub(crate) fn connection_config(core: &Core) -> ConnectionConfig {
    let mut config = ConnectionConfig::new(core.socket_type);
    config.routing_id = core.options.routing_id.clone();
    config.max_msg_size = core.options.max_msg_size;
    config.handshake_timeout = core.options.handshake_timeout;
    config.greeting_timeout = core.options.greeting_timeout;
    config.heartbeat_ivl = core.options.heartbeat_ivl;
    config.heartbeat_timeout = core.options.heartbeat_timeout;
    config.heartbeat_ttl = core.options.heartbeat_ttl;
    config.mechanism = core.options.security.clone();
    // As libzmq: a NULL peer is put to the ZAP handler when a ZAP domain is set and a handler
    // is there to ask.
    config.authenticate_null = matches!(config.mechanism, ringmq_transports::Mechanism::Null)
        && !core.options.zap_domain.is_empty()
        && crate::security::zap_handler(&core.options).is_some();
    if matches!(
        config.mechanism,
        ringmq_transports::Mechanism::CurveClient { .. }
            | ringmq_transports::Mechanism::CurveServer { .. }
    ) {
        config.random = Some(crate::security::os_random());
    }
    config
}

/// Drive one connection to its end, then account for it: the connection count, the pipe, the
/// log line and the monitor event. True when its handshake failed (a refusal or a protocol
/// error before the handshake completed; not a timeout, not a plain close).
async fn run_connection(
    core: &Rc<RefCell<Core>>,
    peer: ringmq_patterns::PeerId,
    fd: IoFd,
    config: ConnectionConfig,
    endpoint: String,
) -> bool {
    core.borrow_mut().connections += 1;
    if let Some(pipe) = core.borrow_mut().pipes.get_mut(&peer) {
        pipe.live = true;
    }
    let (end, handshaken) = conn::run(core.clone(), peer, fd, config, endpoint.clone()).await;
    let handshake_failed = !handshaken
        && matches!(&end, ConnEnd::Protocol(e)
            if *e != ringmq_transports::ProtocolError::HandshakeTimeout);
    let event = match &end {
        ConnEnd::Protocol(ringmq_transports::ProtocolError::AuthFailed(reason)) => {
            tracing::info!(%endpoint, %reason, "peer refused by authentication");
            MonitorEvent::HandshakeFailed {
                endpoint,
                reason: HandshakeFailure::Auth(reason.clone()),
            }
        }
        // A server that refused us says so with a ZAP status code (libzmq sends the code alone).
        ConnEnd::Protocol(ringmq_transports::ProtocolError::PeerError(code))
            if !handshaken && is_zap_refusal_code(code) =>
        {
            tracing::info!(%endpoint, %code, "the server refused our credentials");
            MonitorEvent::HandshakeFailed {
                endpoint,
                reason: HandshakeFailure::Auth(format!("ZAP {code}: refused by the server")),
            }
        }
        ConnEnd::Protocol(e) => {
            if e.is_peer_fault() {
                tracing::info!(%endpoint, error = %e, "connection closed: protocol error");
            } else {
                tracing::error!(%endpoint, error = %e, "connection closed: this socket is misconfigured");
            }
            if handshaken {
                MonitorEvent::Disconnected {
                    endpoint,
                    reason: format!("protocol error: {e}"),
                }
            } else {
                MonitorEvent::HandshakeFailed {
                    endpoint,
                    reason: HandshakeFailure::Protocol(e.to_string()),
                }
            }
        }
        ConnEnd::Evicted => {
            tracing::debug!(%endpoint, "closed a connection still in its handshake to make room");
            MonitorEvent::HandshakeFailed {
                endpoint,
                reason: HandshakeFailure::Protocol(
                    "closed to make room: too many connections in the handshake".into(),
                ),
            }
        }
        ConnEnd::Refused => {
            tracing::info!(%endpoint, "connection refused: the socket cannot take this peer");
            MonitorEvent::HandshakeFailed {
                endpoint,
                reason: HandshakeFailure::Protocol(
                    "peer refused (exclusive socket or routing id in use)".into(),
                ),
            }
        }
        ConnEnd::Overflow(reason) => {
            tracing::info!(%endpoint, %reason, "peer disconnected");
            MonitorEvent::Disconnected {
                endpoint,
                reason: (*reason).to_owned(),
            }
        }
        ConnEnd::Io(e) => {
            tracing::debug!(%endpoint, error = %e, "connection closed: I/O error");
            MonitorEvent::Disconnected {
                endpoint,
                reason: e.to_string(),
            }
        }
        ConnEnd::Eof => MonitorEvent::Disconnected {
            endpoint,
            reason: "peer closed the connection".into(),
        },
        ConnEnd::Closed => MonitorEvent::Disconnected {
            endpoint,
            reason: "socket closed".into(),
        },
    };
    let mut c = core.borrow_mut();
    // A connection that ends in its handshake failed it, and libzmq says so before the
    // disconnect (`HANDSHAKE_FAILED_NO_DETAIL`, with the error number).
    let cut_short = match &end {
        ConnEnd::Eof if !handshaken => Some(("peer closed the connection".into(), libc::EPIPE)),
        ConnEnd::Io(e) if !handshaken => {
            Some((e.to_string(), e.raw_os_error().unwrap_or(libc::EIO)))
        }
        _ => None,
    };
    if let Some((reason, errno)) = cut_short {
        c.emit(MonitorEvent::HandshakeFailed {
            endpoint: event.endpoint().to_owned(),
            reason: HandshakeFailure::Connection { reason, errno },
        });
    }
    c.emit(event);
    if let Some(pipe) = c.pipes.get_mut(&peer) {
        pipe.live = false;
    }
    c.release_budgets(peer);
    c.connections -= 1;
    c.pipe_disconnected(peer);
    c.idle_wakers.wake_all();
    handshake_failed
}

/// Whether an ERROR reason is a ZAP refusal's status code: 300, 400 or 500 style, three digits.
fn is_zap_refusal_code(reason: &str) -> bool {
    reason.len() == 3
        && reason.bytes().all(|b| b.is_ascii_digit())
        && matches!(reason.as_bytes()[0], b'3' | b'4' | b'5')
}

/// Where a connecting socket goes.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Tcp(Host, u16, Option<std::net::SocketAddr>),
    Ipc(String),
}

impl Target {
    /// The tcp target of `connect(tcp://host:port)`, refusing what only a bind may name.
    pub(crate) fn tcp(
        host: Host,
        port: u16,
        source: Option<std::net::SocketAddr>,
    ) -> Result<Target, Error> {
        if matches!(host, Host::Any) || port == 0 {
            return Err(Error::new(
                crate::error::ErrorKind::InvalidEndpoint,
                "connect needs a host and a port",
            ));
        }
        Ok(Target::Tcp(host, port, source))
    }
}

/// Start connecting (and reconnecting) to `target`, reporting as `endpoint`, until the socket
/// closes or `disconnect(endpoint)` stops it.
pub(crate) fn connect_to(
    core: &Rc<RefCell<Core>>,
    target: Target,
    endpoint: String,
) -> Result<(), Error> {
    let peer = core.borrow_mut().add_pipe(true);
    let (endpoint_id, stop) =
        core.borrow_mut()
            .add_endpoint(EndpointRole::Connected, &endpoint, &endpoint);
    if let Some(pipe) = core.borrow_mut().pipes.get_mut(&peer) {
        pipe.endpoint = Some(endpoint_id);
    }
    let kill = core.borrow().kill.clone();
    let core2 = core.clone();
    spawn_local(killable(kill, async move {
        let (mut ivl, ivl_first, ivl_max) = {
            let c = core2.borrow();
            (
                c.options.reconnect_ivl,
                c.options.reconnect_ivl,
                c.options.reconnect_ivl_max,
            )
        };
        loop {
            if stop.is_killed() || (core2.borrow().closing && !has_queued(&core2, peer)) {
                break;
            }
            core2.borrow_mut().emit(MonitorEvent::ConnectDelayed {
                endpoint: endpoint.clone(),
            });
            let tuning = core2.borrow().options.tcp.clone();
            match killable(stop.clone(), try_connect(&target, &tuning)).await {
                None => break,
                Some(Ok(fd)) => {
                    ivl = ivl_first;
                    core2.borrow_mut().emit(MonitorEvent::Connected {
                        endpoint: endpoint.clone(),
                    });
                    let config = connection_config(&core2.borrow());
                    // Not cut short by `disconnect`: the connection lingers on its own.
                    let failed = run_connection(&core2, peer, fd, config, endpoint.clone()).await;
                    let mut c = core2.borrow_mut();
                    if stop.is_killed()
                        || (c.closing && c.pipes.get(&peer).is_none_or(|p| p.outq.is_empty()))
                    {
                        break;
                    }
                    if failed && c.options.reconnect_stop_handshake_failed {
                        tracing::info!(%endpoint, "handshake failed: not reconnecting");
                        c.end_connect(endpoint_id);
                        break;
                    }
                }
                Some(Err(e)) => {
                    tracing::debug!(%endpoint, error = %e, "connect failed")
                }
            }
            if !core2.borrow().options.reconnect {
                core2.borrow_mut().end_connect(endpoint_id);
                break;
            }
            core2.borrow_mut().emit(MonitorEvent::ConnectRetried {
                endpoint: endpoint.clone(),
                interval: ivl,
            });
            if killable(stop.clone(), sleep(ivl)).await.is_none() {
                break;
            }
            if !ivl_max.is_zero() {
                ivl = (ivl * 2).min(ivl_max);
            }
        }
    }))
    .detach();
    Ok(())
}

fn has_queued(core: &Rc<RefCell<Core>>, peer: ringmq_patterns::PeerId) -> bool {
    core.borrow()
        .pipes
        .get(&peer)
        .is_some_and(|p| !p.outq.is_empty())
}

/// One connection attempt to `target`.
async fn try_connect(target: &Target, tuning: &super::options::TcpTuning) -> std::io::Result<IoFd> {
    match target {
        Target::Tcp(host, port, source) => {
            super::tcp::try_connect(host, *port, *source, tuning).await
        }
        Target::Ipc(path) => super::ipc::try_connect(path).await,
    }
}
