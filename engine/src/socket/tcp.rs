//! Stream transports (tcp and ipc): listening and accepting, connecting and reconnecting with
//! back-off. Both carry ZMTP the same way; only the addresses and socket options differ.

use std::cell::RefCell;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::rc::Rc;
use std::time::Duration;

use ringmq_transports::endpoint::Host;
use ringmq_transports::ConnectionConfig;
use socket2::{Domain, Protocol, SockRef, Socket as RawSocket, Type};

use super::conn::{self, ConnEnd};
use super::core::{killable, Core};
use crate::error::{Error, ErrorKind};
use crate::monitor::{HandshakeFailure, MonitorEvent};
use crate::runtime::{driver, spawn_local};

/// Resolve a tcp host and port to socket addresses.
pub(crate) fn resolve(host: &Host, port: u16, for_bind: bool) -> Result<Vec<SocketAddr>, Error> {
    let addrs: Vec<SocketAddr> = match host {
        Host::Any if for_bind => vec![SocketAddr::from(([0, 0, 0, 0], port))],
        Host::Any => {
            return Err(Error::new(
                ErrorKind::InvalidEndpoint,
                "tcp://*:port is for bind; connect needs a host",
            ))
        }
        Host::Ip(ip) => vec![SocketAddr::new(*ip, port)],
        Host::Name(name) => (name.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| {
                Error::new(
                    ErrorKind::InvalidEndpoint,
                    format!("cannot resolve {name}: {e}"),
                )
            })?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidEndpoint,
            "host resolves to no address",
        ));
    }
    Ok(addrs)
}

/// Bind a listener and start accepting; returns the bound endpoint (with the real port).
pub(crate) fn bind(core: &Rc<RefCell<Core>>, host: &Host, port: u16) -> Result<String, Error> {
    let addr = resolve(host, port, true)?[0];
    let backlog = core.borrow().options.backlog;
    let socket = RawSocket::new(
        Domain::for_address(addr),
        Type::STREAM.cloexec(),
        Some(Protocol::TCP),
    )
    .map_err(|e| Error::io("creating a tcp socket", e))?;
    let bind_err = |e: std::io::Error| {
        Error::new(
            ErrorKind::BindFailed,
            format!("cannot bind tcp://{addr}: {e}"),
        )
    };
    socket.set_reuse_address(true).map_err(bind_err)?;
    if addr.is_ipv6() {
        let _ = socket.set_only_v6(true);
    }
    socket.bind(&addr.into()).map_err(bind_err)?;
    socket.listen(backlog).map_err(bind_err)?;
    let local = socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .ok_or_else(|| Error::new(ErrorKind::BindFailed, "bound socket has no address"))?;
    let endpoint = match local {
        SocketAddr::V6(a) => format!("tcp://[{}]:{}", a.ip(), a.port()),
        SocketAddr::V4(a) => format!("tcp://{}:{}", a.ip(), a.port()),
    };
    // SAFETY: into_raw_fd hands over sole ownership of a valid descriptor.
    let listener = unsafe { OwnedFd::from_raw_fd(socket.into_raw_fd()) };
    let kill = core.borrow().kill.clone();
    let core2 = core.clone();
    spawn_local(killable(
        kill,
        accept_loop(core2, listener, endpoint.clone(), true, None),
    ))
    .detach();
    core.borrow_mut().endpoints.push(endpoint.clone());
    Ok(endpoint)
}

/// Removes an ipc socket file when its listener goes away.
pub(crate) struct RemoveOnDrop(pub(crate) std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub(crate) async fn accept_loop(
    core: Rc<RefCell<Core>>,
    listener: OwnedFd,
    endpoint: String,
    nodelay: bool,
    cleanup: Option<RemoveOnDrop>,
) {
    let _cleanup = cleanup;
    use std::os::fd::AsRawFd;
    loop {
        match driver::accept(listener.as_raw_fd()).await {
            Ok(fd) => {
                // SAFETY: accept returned a new descriptor that nothing else owns.
                let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                let (limit, count) = {
                    let c = core.borrow();
                    (c.options.max_connections, c.connections)
                };
                if count >= limit {
                    tracing::warn!(%endpoint, limit, "connection limit reached; closing new peer");
                    continue;
                }
                if nodelay {
                    let _ = SockRef::from(&fd).set_nodelay(true);
                }
                let peer = core.borrow_mut().add_pipe(false);
                let config = connection_config(&core.borrow());
                let kill = core.borrow().kill.clone();
                let core2 = core.clone();
                core.borrow().emit(MonitorEvent::Accepted {
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
                core.borrow().emit(MonitorEvent::AcceptFailed {
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
                    driver::sleep(Duration::from_millis(100)).await;
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
    config.heartbeat_ivl = core.options.heartbeat_ivl;
    config.heartbeat_timeout = core.options.heartbeat_timeout;
    config.mechanism = core.options.security.clone();
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
/// log line and the monitor event.
async fn run_connection(
    core: &Rc<RefCell<Core>>,
    peer: ringmq_patterns::PeerId,
    fd: OwnedFd,
    config: ConnectionConfig,
    endpoint: String,
) {
    core.borrow_mut().connections += 1;
    let (end, handshaken) = conn::run(core.clone(), peer, fd, config, endpoint.clone()).await;
    let event = match &end {
        ConnEnd::Protocol(ringmq_transports::ProtocolError::AuthFailed(reason)) => {
            tracing::info!(%endpoint, %reason, "peer refused by authentication");
            MonitorEvent::HandshakeFailed {
                endpoint,
                reason: HandshakeFailure::Auth(reason.clone()),
            }
        }
        ConnEnd::Protocol(e) => {
            tracing::info!(%endpoint, error = %e, "connection closed: protocol error");
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
        ConnEnd::Refused => {
            tracing::info!(%endpoint, "connection refused: the socket cannot take this peer");
            MonitorEvent::HandshakeFailed {
                endpoint,
                reason: HandshakeFailure::Protocol(
                    "peer refused (exclusive socket or routing id in use)".into(),
                ),
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
    c.emit(event);
    c.connections -= 1;
    c.pipe_disconnected(peer);
    c.idle_wakers.wake_all();
}

/// Where a connecting socket goes.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Tcp(Host, u16),
    Ipc(String),
}

/// Start connecting (and reconnecting) to `host:port`. Returns at once, as libzmq's connect does.
pub(crate) fn connect(
    core: &Rc<RefCell<Core>>,
    host: Host,
    port: u16,
    endpoint: String,
) -> Result<(), Error> {
    if matches!(host, Host::Any) || port == 0 {
        return Err(Error::new(
            ErrorKind::InvalidEndpoint,
            "connect needs a host and a port",
        ));
    }
    connect_to(core, Target::Tcp(host, port), endpoint)
}

/// Start connecting (and reconnecting) to `target`, reporting as `endpoint`.
pub(crate) fn connect_to(
    core: &Rc<RefCell<Core>>,
    target: Target,
    endpoint: String,
) -> Result<(), Error> {
    let peer = core.borrow_mut().add_pipe(true);
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
            if core2.borrow().closing && !has_queued(&core2, peer) {
                break;
            }
            core2.borrow().emit(MonitorEvent::ConnectDelayed {
                endpoint: endpoint.clone(),
            });
            match try_connect(&target).await {
                Ok(fd) => {
                    ivl = ivl_first;
                    core2.borrow().emit(MonitorEvent::Connected {
                        endpoint: endpoint.clone(),
                    });
                    let config = connection_config(&core2.borrow());
                    run_connection(&core2, peer, fd, config, endpoint.clone()).await;
                    let c = core2.borrow();
                    if c.closing && c.pipes.get(&peer).is_none_or(|p| p.outq.is_empty()) {
                        break;
                    }
                }
                Err(e) => tracing::debug!(%endpoint, error = %e, "connect failed; will retry"),
            }
            core2.borrow().emit(MonitorEvent::ConnectRetried {
                endpoint: endpoint.clone(),
                interval: ivl,
            });
            driver::sleep(ivl).await;
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

async fn try_connect(target: &Target) -> std::io::Result<OwnedFd> {
    let (host, port) = match target {
        Target::Tcp(host, port) => (host, *port),
        Target::Ipc(path) => return super::ipc::try_connect(path).await,
    };
    let addrs = resolve(host, port, false).map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut last = None;
    for addr in addrs {
        let socket = RawSocket::new(
            Domain::for_address(addr),
            Type::STREAM.cloexec(),
            Some(Protocol::TCP),
        )?;
        // SAFETY: into_raw_fd hands over sole ownership of a valid descriptor.
        let fd = unsafe { OwnedFd::from_raw_fd(socket.into_raw_fd()) };
        use std::os::fd::AsRawFd;
        match driver::connect(fd.as_raw_fd(), addr.into()).await {
            Ok(()) => {
                let _ = SockRef::from(&fd).set_nodelay(true);
                return Ok(fd);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no address")))
}
