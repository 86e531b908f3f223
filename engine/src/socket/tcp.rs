//! tcp transport: addresses (names resolved off the shard thread), listening sockets and
//! connection attempts. What happens on the stream is shared with ipc (`stream.rs`).

use std::cell::RefCell;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use ringmq_transports::endpoint::Host;
use socket2::{Domain, Protocol, SockRef, Socket as RawSocket, Type};

use super::core::Core;
use crate::error::{Error, ErrorKind};
use crate::runtime::driver::{self, IoFd};

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
        // A local address may be named by its interface (`tcp://lo:5555`, `tcp://eth0:*`), as
        // libzmq allows for binds and connect sources.
        Host::Name(name) => {
            let interface = if for_bind {
                interface_addresses(name)
            } else {
                Vec::new()
            };
            if interface.is_empty() {
                resolve_name(name, port)?
            } else {
                interface
                    .into_iter()
                    .map(|ip| SocketAddr::new(ip, port))
                    .collect()
            }
        }
    };
    if addrs.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidEndpoint,
            "host resolves to no address",
        ));
    }
    Ok(addrs)
}

/// A host name through the system resolver.
fn resolve_name(name: &str, port: u16) -> Result<Vec<SocketAddr>, Error> {
    Ok((name, port)
        .to_socket_addrs()
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidEndpoint,
                format!("cannot resolve {name}: {e}"),
            )
        })?
        .collect())
}

/// The addresses of the network interface called `name` (IPv4 first), from getifaddrs(3); empty
/// when there is no such interface.
fn interface_addresses(name: &str) -> Vec<std::net::IpAddr> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list it allocates into `list`, freed below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Vec::new();
    }
    let mut found = Vec::new();
    let mut entry = list;
    while !entry.is_null() {
        // SAFETY: `entry` is a node of the list getifaddrs returned, live until freeifaddrs;
        // `ifa_name` is a NUL-terminated string and `ifa_addr`, when not null, points to a
        // sockaddr whose family says its size.
        unsafe {
            let ifa = &*entry;
            let matches = !ifa.ifa_name.is_null()
                && std::ffi::CStr::from_ptr(ifa.ifa_name).to_bytes() == name.as_bytes();
            if matches && !ifa.ifa_addr.is_null() {
                match i32::from((*ifa.ifa_addr).sa_family) {
                    libc::AF_INET => {
                        let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                        let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                        found.insert(0, std::net::IpAddr::V4(ip));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                        found.push(std::net::IpAddr::V6(sin6.sin6_addr.s6_addr.into()));
                    }
                    _ => {}
                }
            }
            entry = ifa.ifa_next;
        }
    }
    // SAFETY: the list from getifaddrs above, freed once, after its last use.
    unsafe { libc::freeifaddrs(list) };
    found
}

/// Apply `tuning` to a tcp socket before it listens or connects.
pub(crate) fn apply_tuning(
    socket: &RawSocket,
    tuning: &super::options::TcpTuning,
) -> std::io::Result<()> {
    if let Some(size) = tuning.send_buffer_size {
        socket.set_send_buffer_size(size)?;
    }
    if let Some(size) = tuning.recv_buffer_size {
        socket.set_recv_buffer_size(size)?;
    }
    if let Some(tos) = tuning.tos {
        match socket.domain()? {
            Domain::IPV6 => socket.set_tclass_v6(tos)?,
            _ => socket.set_tos(tos)?,
        }
    }
    if let Some(on) = tuning.keepalive {
        socket.set_keepalive(on)?;
    }
    let mut keepalive = socket2::TcpKeepalive::new();
    let mut tune_keepalive = false;
    if let Some(idle) = tuning.keepalive_idle {
        keepalive = keepalive.with_time(idle);
        tune_keepalive = true;
    }
    if let Some(interval) = tuning.keepalive_interval {
        keepalive = keepalive.with_interval(interval);
        tune_keepalive = true;
    }
    if let Some(count) = tuning.keepalive_count {
        keepalive = keepalive.with_retries(count);
        tune_keepalive = true;
    }
    if tune_keepalive {
        socket.set_tcp_keepalive(&keepalive)?;
    }
    if let Some(device) = &tuning.bind_to_device {
        socket.bind_device(Some(device.as_bytes()))?;
    }
    Ok(())
}

/// Bind a listener and start accepting; returns the bound endpoint (with the real port).
pub(crate) fn bind(
    core: &Rc<RefCell<Core>>,
    requested: &str,
    host: &Host,
    port: u16,
) -> Result<String, Error> {
    let addr = resolve(host, port, true)?[0];
    let (backlog, tuning, use_fd) = {
        let core = core.borrow();
        (
            core.options.backlog,
            core.options.tcp.clone(),
            core.options.use_fd,
        )
    };
    let bind_err = |e: std::io::Error| {
        Error::new(
            ErrorKind::BindFailed,
            format!("cannot bind tcp://{addr}: {e}"),
        )
        .with_os_error(&e)
    };
    let socket = match use_fd {
        Some(fd) => super::stream::adopt_listener(fd).map_err(bind_err)?,
        None => {
            let socket = RawSocket::new(
                Domain::for_address(addr),
                Type::STREAM.cloexec(),
                Some(Protocol::TCP),
            )
            .map_err(|e| Error::io("creating a tcp socket", e))?;
            socket.set_reuse_address(true).map_err(bind_err)?;
            apply_tuning(&socket, &tuning).map_err(bind_err)?;
            if addr.is_ipv6() {
                let _ = socket.set_only_v6(true);
            }
            socket.bind(&addr.into()).map_err(bind_err)?;
            socket
        }
    };
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
    let listener =
        IoFd::new(OwnedFd::from(socket)).map_err(|e| Error::io("registering a tcp listener", e))?;
    super::stream::listen(
        core,
        listener,
        requested,
        &endpoint,
        super::stream::Listening::Tcp,
        None,
    );
    Ok(endpoint)
}

/// Resolve `host` without blocking the shard: a name is looked up on a thread of its own (the
/// system resolver may take seconds), an address is used as it is.
async fn resolve_off_shard(host: &Host, port: u16) -> Result<Vec<SocketAddr>, Error> {
    let Host::Name(name) = host else {
        return resolve(host, port, false);
    };
    #[derive(Default)]
    struct Slot {
        result: Option<Result<Vec<SocketAddr>, Error>>,
        waker: Option<Waker>,
    }
    let slot = Arc::new(Mutex::new(Slot::default()));
    let (thread_slot, thread_host) = (slot.clone(), Host::Name(name.clone()));
    std::thread::Builder::new()
        .name("ringmq-resolve".into())
        .spawn(move || {
            let result = resolve(&thread_host, port, false);
            let mut slot = thread_slot.lock().unwrap_or_else(|p| p.into_inner());
            slot.result = Some(result);
            if let Some(w) = slot.waker.take() {
                w.wake();
            }
        })
        .map_err(|e| Error::io("spawning a resolver thread", e))?;
    std::future::poll_fn(|cx| {
        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        match slot.result.take() {
            Some(result) => Poll::Ready(result),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    })
    .await
}

/// One connection attempt to `host:port`: every address it resolves to, in order.
pub(crate) async fn try_connect(
    host: &Host,
    port: u16,
    source: Option<SocketAddr>,
    tuning: &super::options::TcpTuning,
) -> std::io::Result<IoFd> {
    let addrs = resolve_off_shard(host, port)
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut last = None;
    for addr in addrs {
        let socket = RawSocket::new(
            Domain::for_address(addr),
            Type::STREAM.cloexec(),
            Some(Protocol::TCP),
        )?;
        apply_tuning(&socket, tuning)?;
        if let Some(source) = source {
            // Connect from the address asked for (`tcp://source;destination`).
            if source.port() != 0 {
                socket.set_reuse_address(true)?;
            }
            socket.bind(&source.into())?;
        }
        match driver::connect(OwnedFd::from(socket), addr.into()).await {
            Ok(fd) if is_self_connected(&fd) => {
                // Connecting to a port in the ephemeral range that nothing listens on can pick
                // that very port as the source (TCP simultaneous open): the socket is then
                // connected to itself and holds the port a restarting peer needs.
                last = Some(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
            }
            Ok(fd) => {
                let _ = SockRef::from(&fd).set_nodelay(true);
                return Ok(fd);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no address")))
}

/// Whether `fd` is a tcp socket connected to itself.
fn is_self_connected(fd: &IoFd) -> bool {
    let sock = SockRef::from(fd);
    match (sock.local_addr(), sock.peer_addr()) {
        (Ok(local), Ok(peer)) => {
            local.as_socket().is_some() && local.as_socket() == peer.as_socket()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::socket::options::TcpTuning;

    #[test]
    fn tuning_reaches_the_socket() {
        let socket = RawSocket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
        let tuning = TcpTuning {
            send_buffer_size: Some(64 * 1024),
            recv_buffer_size: Some(96 * 1024),
            tos: Some(0x10),
            keepalive: Some(true),
            keepalive_idle: Some(Duration::from_secs(7)),
            keepalive_interval: Some(Duration::from_secs(3)),
            keepalive_count: Some(4),
            bind_to_device: None,
        };
        apply_tuning(&socket, &tuning).unwrap();
        // Linux doubles the buffer sizes it is given (socket(7)).
        assert_eq!(socket.send_buffer_size().unwrap(), 128 * 1024);
        assert_eq!(socket.recv_buffer_size().unwrap(), 192 * 1024);
        assert_eq!(socket.tos().unwrap(), 0x10);
        assert!(socket.keepalive().unwrap());
        assert_eq!(socket.keepalive_time().unwrap(), Duration::from_secs(7));
        assert_eq!(socket.keepalive_interval().unwrap(), Duration::from_secs(3));
        assert_eq!(socket.keepalive_retries().unwrap(), 4);
    }

    #[test]
    fn interface_names_resolve_for_binds() {
        let lo = resolve(&Host::Name("lo".into()), 5555, true).unwrap();
        assert_eq!(lo[0], "127.0.0.1:5555".parse().unwrap());
        assert!(interface_addresses("no-such-interface-ringmq").is_empty());
    }

    #[test]
    fn default_tuning_leaves_the_system_defaults() {
        let tuned = RawSocket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
        let plain = RawSocket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
        apply_tuning(&tuned, &TcpTuning::default()).unwrap();
        assert_eq!(
            tuned.send_buffer_size().unwrap(),
            plain.send_buffer_size().unwrap()
        );
        assert_eq!(tuned.keepalive().unwrap(), plain.keepalive().unwrap());
        assert_eq!(tuned.tos().unwrap(), plain.tos().unwrap());
    }
}
