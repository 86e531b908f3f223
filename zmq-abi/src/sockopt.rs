//! `zmq_setsockopt` / `zmq_getsockopt`: every option libzmq 4.3 accepts, by number.
//!
//! Each option has a kind (how its value is passed) and is one of three things:
//! - **computed**: read from the socket's state (`ZMQ_TYPE`, `ZMQ_RCVMORE`, `ZMQ_EVENTS`,
//!   `ZMQ_FD`, `ZMQ_LAST_ENDPOINT`, `ZMQ_MECHANISM`, `ZMQ_THREAD_SAFE`, the CURVE keys);
//! - **mapped**: it changes the ringmq socket's [`ringmq::Options`] (HWMs, linger, timeouts,
//!   reconnection, heartbeats, routing id, the ROUTER/REQ/XPUB switches, the security
//!   mechanism), and reads back from them;
//! - **kept**: accepted, checked and read back, but ringmq does not act on it (yet): multicast
//!   options (ringmq has no pgm), `ZMQ_AFFINITY`, and the options the README's C section lists
//!   as not honoured.
//!
//! The tcp options (`ZMQ_SNDBUF`, `ZMQ_RCVBUF`, `ZMQ_TOS`, `ZMQ_TCP_KEEPALIVE*`,
//! `ZMQ_BINDTODEVICE`) are mapped onto [`ringmq::TcpTuning`] and kept for reading back.

use std::ffi::c_int;
use std::time::Duration;

use bytes::Bytes;
use ringmq::{Mechanism, SocketType};
use ringmq_patterns::Turn;
use ringmq_transports::keys::{KeyPair, PublicKey, SecretKey};

use crate::socket::Socket;

/// Socket option numbers (zmq_setsockopt(3)).
pub(crate) mod option {
    use std::ffi::c_int;
    pub const AFFINITY: c_int = 4;
    pub const ROUTING_ID: c_int = 5;
    pub const SUBSCRIBE: c_int = 6;
    pub const UNSUBSCRIBE: c_int = 7;
    pub const RATE: c_int = 8;
    pub const RECOVERY_IVL: c_int = 9;
    pub const SNDBUF: c_int = 11;
    pub const RCVBUF: c_int = 12;
    pub const RCVMORE: c_int = 13;
    pub const FD: c_int = 14;
    pub const EVENTS: c_int = 15;
    pub const TYPE: c_int = 16;
    pub const LINGER: c_int = 17;
    pub const RECONNECT_IVL: c_int = 18;
    pub const BACKLOG: c_int = 19;
    pub const RECONNECT_IVL_MAX: c_int = 21;
    pub const MAXMSGSIZE: c_int = 22;
    pub const SNDHWM: c_int = 23;
    pub const RCVHWM: c_int = 24;
    pub const MULTICAST_HOPS: c_int = 25;
    pub const RCVTIMEO: c_int = 27;
    pub const SNDTIMEO: c_int = 28;
    pub const IPV4ONLY: c_int = 31;
    pub const LAST_ENDPOINT: c_int = 32;
    pub const ROUTER_MANDATORY: c_int = 33;
    pub const TCP_KEEPALIVE: c_int = 34;
    pub const TCP_KEEPALIVE_CNT: c_int = 35;
    pub const TCP_KEEPALIVE_IDLE: c_int = 36;
    pub const TCP_KEEPALIVE_INTVL: c_int = 37;
    pub const TCP_ACCEPT_FILTER: c_int = 38;
    pub const IMMEDIATE: c_int = 39;
    pub const XPUB_VERBOSE: c_int = 40;
    pub const ROUTER_RAW: c_int = 41;
    pub const IPV6: c_int = 42;
    pub const MECHANISM: c_int = 43;
    pub const PLAIN_SERVER: c_int = 44;
    pub const PLAIN_USERNAME: c_int = 45;
    pub const PLAIN_PASSWORD: c_int = 46;
    pub const CURVE_SERVER: c_int = 47;
    pub const CURVE_PUBLICKEY: c_int = 48;
    pub const CURVE_SECRETKEY: c_int = 49;
    pub const CURVE_SERVERKEY: c_int = 50;
    pub const PROBE_ROUTER: c_int = 51;
    pub const REQ_CORRELATE: c_int = 52;
    pub const REQ_RELAXED: c_int = 53;
    pub const CONFLATE: c_int = 54;
    pub const ZAP_DOMAIN: c_int = 55;
    pub const ROUTER_HANDOVER: c_int = 56;
    pub const TOS: c_int = 57;
    pub const IPC_FILTER_PID: c_int = 58;
    pub const IPC_FILTER_UID: c_int = 59;
    pub const IPC_FILTER_GID: c_int = 60;
    pub const CONNECT_ROUTING_ID: c_int = 61;
    pub const HANDSHAKE_IVL: c_int = 66;
    pub const SOCKS_PROXY: c_int = 68;
    pub const XPUB_NODROP: c_int = 69;
    pub const XPUB_MANUAL: c_int = 71;
    pub const XPUB_WELCOME_MSG: c_int = 72;
    pub const STREAM_NOTIFY: c_int = 73;
    pub const INVERT_MATCHING: c_int = 74;
    pub const HEARTBEAT_IVL: c_int = 75;
    pub const HEARTBEAT_TTL: c_int = 76;
    pub const HEARTBEAT_TIMEOUT: c_int = 77;
    pub const XPUB_VERBOSER: c_int = 78;
    pub const CONNECT_TIMEOUT: c_int = 79;
    pub const TCP_MAXRT: c_int = 80;
    pub const THREAD_SAFE: c_int = 81;
    pub const MULTICAST_MAXTPDU: c_int = 84;
    pub const USE_FD: c_int = 89;
    pub const BINDTODEVICE: c_int = 92;
    // GSSAPI's options: accepted and kept (Debian's libzmq has GSSAPI; ringmq has not, and a
    // GSSAPI handshake is never offered).
    pub const GSSAPI_SERVER: c_int = 62;
    pub const GSSAPI_PRINCIPAL: c_int = 63;
    pub const GSSAPI_SERVICE_PRINCIPAL: c_int = 64;
    pub const GSSAPI_PLAINTEXT: c_int = 65;
    pub const GSSAPI_PRINCIPAL_NAMETYPE: c_int = 90;
    pub const GSSAPI_SERVICE_PRINCIPAL_NAMETYPE: c_int = 91;
    // Draft-API options that libzmq builds with the draft API (Debian's does) accept; kept.
    pub const ZAP_ENFORCE_DOMAIN: c_int = 93;
    pub const LOOPBACK_FASTPATH: c_int = 94;
    pub const METADATA: c_int = 95;
    pub const MULTICAST_LOOP: c_int = 96;
    pub const ROUTER_NOTIFY: c_int = 97;
    pub const XPUB_MANUAL_LAST_VALUE: c_int = 98;
    pub const SOCKS_USERNAME: c_int = 99;
    pub const SOCKS_PASSWORD: c_int = 100;
    pub const IN_BATCH_SIZE: c_int = 101;
    pub const OUT_BATCH_SIZE: c_int = 102;
    pub const ONLY_FIRST_SUBSCRIBE: c_int = 108;
    pub const RECONNECT_STOP: c_int = 109;
    pub const HELLO_MSG: c_int = 110;
    pub const DISCONNECT_MSG: c_int = 111;
    pub const PRIORITY: c_int = 112;
}

/// Whether reading `name` clears the caller's whole buffer first, as libzmq does for the
/// socket's own state (`ZMQ_RCVMORE`, `ZMQ_FD`, `ZMQ_EVENTS`, `ZMQ_THREAD_SAFE`), which may be
/// read into a buffer larger than an `int`.
pub(crate) fn zeroes_buffer(name: c_int) -> bool {
    use option::*;
    matches!(name, RCVMORE | FD | EVENTS | THREAD_SAFE)
}

/// How an option's value is passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An `int`.
    Int,
    /// An `int64_t`.
    Int64,
    /// A `uint64_t`.
    Uint64,
    /// Bytes, at most 255 (a routing id, a subscription prefix may be longer).
    Bytes,
    /// A string: set without or with its NUL, read back with it.
    Text,
    /// A CURVE key: 32 bytes, or 40 Z85 characters (with or without a NUL).
    Key,
}

/// What libzmq lets a program do with an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    ReadWrite,
    ReadOnly,
    WriteOnly,
}

/// The option's kind and access; `None` for numbers libzmq 4.3 (without the draft API, GSSAPI
/// or VMCI) does not accept.
fn spec(name: c_int) -> Option<(Kind, Access)> {
    use option::*;
    use Access::*;
    use Kind::*;
    Some(match name {
        AFFINITY => (Uint64, ReadWrite),
        ROUTING_ID => (Bytes, ReadWrite),
        SUBSCRIBE | UNSUBSCRIBE => (Bytes, WriteOnly),
        MAXMSGSIZE => (Int64, ReadWrite),
        RCVMORE | FD | EVENTS | TYPE | MECHANISM | THREAD_SAFE => (Int, ReadOnly),
        LAST_ENDPOINT => (Text, ReadOnly),
        CURVE_PUBLICKEY | CURVE_SECRETKEY | CURVE_SERVERKEY => (Key, ReadWrite),
        PLAIN_USERNAME
        | PLAIN_PASSWORD
        | ZAP_DOMAIN
        | SOCKS_PROXY
        | BINDTODEVICE
        | GSSAPI_PRINCIPAL
        | GSSAPI_SERVICE_PRINCIPAL
        | SOCKS_USERNAME
        | SOCKS_PASSWORD => (Text, ReadWrite),
        GSSAPI_SERVER
        | GSSAPI_PLAINTEXT
        | GSSAPI_PRINCIPAL_NAMETYPE
        | GSSAPI_SERVICE_PRINCIPAL_NAMETYPE
        | ZAP_ENFORCE_DOMAIN
        | LOOPBACK_FASTPATH
        | MULTICAST_LOOP
        | RECONNECT_STOP => (Int, ReadWrite),
        METADATA | HELLO_MSG | DISCONNECT_MSG => (Bytes, WriteOnly),
        ROUTER_NOTIFY
        | XPUB_MANUAL_LAST_VALUE
        | IN_BATCH_SIZE
        | OUT_BATCH_SIZE
        | ONLY_FIRST_SUBSCRIBE
        | PRIORITY => (Int, WriteOnly),
        TCP_ACCEPT_FILTER => (Text, WriteOnly),
        CONNECT_ROUTING_ID | XPUB_WELCOME_MSG => (Bytes, WriteOnly),
        ROUTER_MANDATORY | XPUB_VERBOSE | XPUB_VERBOSER | XPUB_NODROP | XPUB_MANUAL
        | ROUTER_RAW | PROBE_ROUTER | REQ_CORRELATE | REQ_RELAXED | ROUTER_HANDOVER
        | IPC_FILTER_PID | IPC_FILTER_UID | IPC_FILTER_GID | STREAM_NOTIFY => (Int, WriteOnly),
        RATE | RECOVERY_IVL | SNDBUF | RCVBUF | LINGER | RECONNECT_IVL | BACKLOG
        | RECONNECT_IVL_MAX | SNDHWM | RCVHWM | MULTICAST_HOPS | RCVTIMEO | SNDTIMEO | IPV4ONLY
        | TCP_KEEPALIVE | TCP_KEEPALIVE_CNT | TCP_KEEPALIVE_IDLE | TCP_KEEPALIVE_INTVL
        | IMMEDIATE | IPV6 | PLAIN_SERVER | CURVE_SERVER | CONFLATE | TOS | HANDSHAKE_IVL
        | INVERT_MATCHING | HEARTBEAT_IVL | HEARTBEAT_TTL | HEARTBEAT_TIMEOUT | CONNECT_TIMEOUT
        | TCP_MAXRT | MULTICAST_MAXTPDU | USE_FD => (Int, ReadWrite),
        _ => return None,
    })
}

/// libzmq's default for a kept option (as its bytes).
fn kept_default(name: c_int) -> Vec<u8> {
    use option::*;
    let int = |v: c_int| v.to_ne_bytes().to_vec();
    match name {
        AFFINITY => 0u64.to_ne_bytes().to_vec(),
        RATE => int(100),
        RECOVERY_IVL => int(10_000),
        SNDBUF | RCVBUF | TCP_KEEPALIVE | TCP_KEEPALIVE_CNT | TCP_KEEPALIVE_IDLE
        | TCP_KEEPALIVE_INTVL | USE_FD => int(-1),
        MULTICAST_HOPS | MULTICAST_LOOP => int(1),
        MULTICAST_MAXTPDU => int(1500),
        ZAP_DOMAIN
        | SOCKS_PROXY
        | BINDTODEVICE
        | PLAIN_USERNAME
        | PLAIN_PASSWORD
        | GSSAPI_PRINCIPAL
        | GSSAPI_SERVICE_PRINCIPAL
        | SOCKS_USERNAME
        | SOCKS_PASSWORD => vec![0],
        _ => int(0),
    }
}

/// The socket's security settings as the options left them, libzmq's way: the last option
/// set picks the mechanism and role.
#[derive(Debug, Clone, Default)]
pub(crate) struct Security {
    /// `ZMQ_NULL` 0, `ZMQ_PLAIN` 1, `ZMQ_CURVE` 2.
    mechanism: c_int,
    as_server: bool,
    username: String,
    password: String,
    curve_public: Option<[u8; 32]>,
    curve_secret: Option<[u8; 32]>,
    curve_server_key: Option<[u8; 32]>,
}

impl Security {
    /// The ringmq mechanism these settings make; NULL while a CURVE side lacks its keys (as in
    /// libzmq, such a socket cannot complete a CURVE handshake).
    fn mechanism(&self) -> Mechanism {
        match (self.mechanism, self.as_server) {
            (1, true) => Mechanism::PlainServer,
            (1, false) => Mechanism::PlainClient {
                username: self.username.clone(),
                password: self.password.clone().into(),
            },
            (2, server) => {
                let Some(secret) = self.curve_secret else {
                    return Mechanism::Null;
                };
                // The public key as the program set it, as libzmq sends it: a pair that does not
                // match fails the handshake (test_security_curve's null keys), it is not mended
                // by deriving the public key from the secret one. Unset, it is derived.
                let secret = SecretKey::from_bytes(secret);
                let public = self
                    .curve_public
                    .map(PublicKey)
                    .unwrap_or_else(|| secret.public_key());
                let keys = KeyPair { public, secret };
                if server {
                    Mechanism::CurveServer { keys }
                } else {
                    match self.curve_server_key {
                        Some(key) => Mechanism::CurveClient {
                            keys,
                            server_key: PublicKey(key),
                        },
                        None => Mechanism::Null,
                    }
                }
            }
            _ => Mechanism::Null,
        }
    }
}

/// The value as an `int`; `EINVAL` unless it is exactly one.
fn value_int(bytes: &[u8]) -> Result<c_int, c_int> {
    let bytes: [u8; 4] = bytes.try_into().map_err(|_| libc::EINVAL)?;
    Ok(c_int::from_ne_bytes(bytes))
}

/// A 0-or-1 `int`.
fn value_bool(bytes: &[u8]) -> Result<bool, c_int> {
    match value_int(bytes)? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(libc::EINVAL),
    }
}

/// A socket type's switch (`ZMQ_ROUTER_MANDATORY`, `ZMQ_REQ_CORRELATE`, the `ZMQ_XPUB_*`
/// ones...): libzmq's socket types take any int of 0 or more, and any but 0 is on.
fn value_flag(bytes: &[u8]) -> Result<bool, c_int> {
    match value_int(bytes)? {
        v if v < 0 => Err(libc::EINVAL),
        v => Ok(v != 0),
    }
}

/// A string value without its terminating NUL, if it has one.
fn value_text(bytes: &[u8]) -> Result<String, c_int> {
    let text = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    String::from_utf8(text.to_vec()).map_err(|_| libc::EINVAL)
}

/// A CURVE key: 32 bytes, or Z85 (40 characters, or 41 with a NUL).
fn value_key(bytes: &[u8]) -> Result<[u8; 32], c_int> {
    match bytes.len() {
        32 => Ok(bytes.try_into().map_err(|_| libc::EINVAL)?),
        40 | 41 => {
            let text = value_text(bytes)?;
            let key = ringmq_transports::z85::decode(&text).ok_or(libc::EINVAL)?;
            key.try_into().map_err(|_| libc::EINVAL)
        }
        _ => Err(libc::EINVAL),
    }
}

fn millis(v: c_int) -> Duration {
    Duration::from_millis(u64::try_from(v).unwrap_or(0))
}

fn millis_of(d: Option<Duration>) -> c_int {
    d.map_or(-1, |d| c_int::try_from(d.as_millis()).unwrap_or(c_int::MAX))
}

impl Socket {
    /// `zmq_setsockopt`.
    pub(crate) fn set_option(&mut self, name: c_int, bytes: &[u8]) -> Result<(), c_int> {
        use option::*;
        let (kind, access) = spec(name).ok_or(libc::EINVAL)?;
        if access == Access::ReadOnly {
            return Err(libc::EINVAL);
        }
        match kind {
            Kind::Int if bytes.len() != 4 => return Err(libc::EINVAL),
            Kind::Int64 | Kind::Uint64 if bytes.len() != 8 => return Err(libc::EINVAL),
            _ => {}
        }
        let int = || value_int(bytes);
        match name {
            LINGER => {
                let v = int()?;
                if v < -1 {
                    return Err(libc::EINVAL);
                }
                self.update_options(|o| o.linger = (v >= 0).then(|| millis(v)))?;
            }
            SNDHWM | RCVHWM => {
                let v = usize::try_from(int()?).map_err(|_| libc::EINVAL)?;
                self.update_options(|o| match name {
                    SNDHWM => o.sndhwm = v,
                    _ => o.rcvhwm = v,
                })?;
            }
            RCVTIMEO | SNDTIMEO => {
                let v = int()?;
                if v < -1 {
                    return Err(libc::EINVAL);
                }
                if name == RCVTIMEO {
                    self.rcvtimeo_ms = v;
                } else {
                    self.sndtimeo_ms = v;
                }
            }
            SUBSCRIBE | UNSUBSCRIBE => {
                // XPUB too: under ZMQ_XPUB_MANUAL the application applies subscriptions.
                if !matches!(
                    self.socket_type,
                    SocketType::Sub | SocketType::XSub | SocketType::XPub
                ) {
                    return Err(libc::EINVAL);
                }
                let result = if name == SUBSCRIBE {
                    self.inner()?.subscribe(bytes)
                } else {
                    self.inner()?.unsubscribe(bytes)
                };
                result.map_err(|_| libc::EINVAL)?;
            }
            ROUTING_ID => {
                if bytes.is_empty() || bytes.len() > 255 {
                    return Err(libc::EINVAL);
                }
                let id = Bytes::copy_from_slice(bytes);
                self.update_options(|o| o.routing_id = Some(id))?;
            }
            RECONNECT_IVL => {
                let v = int()?;
                if v < -1 {
                    return Err(libc::EINVAL);
                }
                // -1: no reconnection (the interval keeps its value).
                self.update_options(|o| {
                    o.reconnect = v >= 0;
                    if v >= 0 {
                        o.reconnect_ivl = millis(v);
                    }
                })?;
                self.keep(name, bytes);
            }
            RECONNECT_IVL_MAX => {
                let v = u64::try_from(int()?).map_err(|_| libc::EINVAL)?;
                self.update_options(|o| o.reconnect_ivl_max = Duration::from_millis(v))?;
            }
            BACKLOG => {
                let v = int()?;
                if v < 0 {
                    return Err(libc::EINVAL);
                }
                self.update_options(|o| o.backlog = v)?;
            }
            MAXMSGSIZE => {
                let v = i64::from_ne_bytes(bytes.try_into().map_err(|_| libc::EINVAL)?);
                if v < -1 {
                    return Err(libc::EINVAL);
                }
                self.update_options(|o| o.max_msg_size = u64::try_from(v).ok())?;
            }
            HANDSHAKE_IVL => {
                let v = int()?;
                if v < 0 {
                    return Err(libc::EINVAL);
                }
                self.update_options(|o| o.handshake_timeout = (v > 0).then(|| millis(v)))?;
            }
            HEARTBEAT_IVL | HEARTBEAT_TIMEOUT => {
                let v = int()?;
                if v < 0 {
                    return Err(libc::EINVAL);
                }
                let d = (v > 0).then(|| millis(v));
                self.update_options(|o| match name {
                    HEARTBEAT_IVL => o.heartbeat_ivl = d,
                    _ => o.heartbeat_timeout = d,
                })?;
            }
            HEARTBEAT_TTL => {
                let v = int()?;
                // ZMTP carries the TTL in deciseconds, in 16 bits.
                if !(0..=6_553_599).contains(&v) {
                    return Err(libc::EINVAL);
                }
                // Whole deciseconds, as ZMTP carries it and libzmq keeps it.
                let v = v - v % 100;
                self.update_options(|o| o.heartbeat_ttl = Some(millis(v)))?;
                self.keep(name, &v.to_ne_bytes());
            }
            ROUTER_MANDATORY | ROUTER_HANDOVER | REQ_RELAXED | REQ_CORRELATE | XPUB_VERBOSE
            | XPUB_MANUAL => {
                let v = value_flag(bytes)?;
                self.update_options(|o| match name {
                    ROUTER_MANDATORY => o.router_mandatory = v,
                    ROUTER_HANDOVER => o.router_handover = v,
                    REQ_RELAXED => o.req_relaxed = v,
                    REQ_CORRELATE => o.req_correlate = v,
                    XPUB_VERBOSE => o.xpub_verbose = v,
                    _ => o.xpub_manual = v,
                })?;
                if name == ROUTER_MANDATORY {
                    self.router_mandatory = v;
                }
                if name == REQ_RELAXED {
                    self.turn = Turn::new(self.socket_type, v);
                }
            }
            XPUB_WELCOME_MSG => {
                let msg = (!bytes.is_empty()).then(|| Bytes::copy_from_slice(bytes));
                self.update_options(|o| o.xpub_welcome_msg = msg)?;
            }
            IPV6 | IPV4ONLY => {
                let v = value_bool(bytes)?;
                self.ipv6 = if name == IPV6 { v } else { !v };
            }
            ZAP_DOMAIN => {
                let domain = value_text(bytes)?;
                if domain.len() > 255 {
                    return Err(libc::EINVAL);
                }
                self.update_options(|o| o.zap_domain = domain)?;
            }
            PLAIN_SERVER | CURVE_SERVER => {
                let v = value_bool(bytes)?;
                self.security.as_server = v;
                self.security.mechanism = if name == PLAIN_SERVER { 1 } else { 2 };
                self.apply_security()?;
            }
            PLAIN_USERNAME | PLAIN_PASSWORD => {
                let text = value_text(bytes)?;
                if text.len() > 255 {
                    return Err(libc::EINVAL);
                }
                if text.is_empty() {
                    self.security.mechanism = 0;
                } else {
                    self.security.mechanism = 1;
                    self.security.as_server = false;
                }
                if name == PLAIN_USERNAME {
                    self.security.username = text;
                } else {
                    self.security.password = text;
                }
                self.apply_security()?;
            }
            CURVE_PUBLICKEY | CURVE_SECRETKEY | CURVE_SERVERKEY => {
                let key = value_key(bytes)?;
                match name {
                    CURVE_PUBLICKEY => self.security.curve_public = Some(key),
                    CURVE_SECRETKEY => self.security.curve_secret = Some(key),
                    _ => {
                        self.security.curve_server_key = Some(key);
                        self.security.as_server = false;
                    }
                }
                self.security.mechanism = 2;
                self.apply_security()?;
            }
            SNDBUF | RCVBUF | TOS | TCP_KEEPALIVE | TCP_KEEPALIVE_IDLE | TCP_KEEPALIVE_INTVL
            | TCP_KEEPALIVE_CNT => {
                let v = int()?;
                if v < -1 || (name == TCP_KEEPALIVE && v > 1) {
                    return Err(libc::EINVAL);
                }
                let positive = u32::try_from(v).ok();
                let seconds = positive.map(|v| Duration::from_secs(u64::from(v)));
                self.update_options(|o| match name {
                    SNDBUF => o.tcp.send_buffer_size = positive.map(|v| v as usize),
                    RCVBUF => o.tcp.recv_buffer_size = positive.map(|v| v as usize),
                    TOS => o.tcp.tos = positive,
                    TCP_KEEPALIVE => o.tcp.keepalive = positive.map(|v| v == 1),
                    TCP_KEEPALIVE_IDLE => o.tcp.keepalive_idle = seconds,
                    TCP_KEEPALIVE_INTVL => o.tcp.keepalive_interval = seconds,
                    _ => o.tcp.keepalive_count = positive,
                })?;
                self.keep(name, bytes);
            }
            BINDTODEVICE => {
                let device = value_text(bytes)?;
                let mut text = device.clone().into_bytes();
                text.push(0);
                self.update_options(|o| {
                    o.tcp.bind_to_device = (!device.is_empty()).then_some(device)
                })?;
                self.kept.insert(name, text);
            }
            CONFLATE | XPUB_NODROP | INVERT_MATCHING => {
                // libzmq: CONFLATE is 0 or 1, XPUB_NODROP any int from 0, INVERT_MATCHING any
                // int (read back as 0 or 1).
                let v = match name {
                    CONFLATE => value_bool(bytes)?,
                    XPUB_NODROP => value_flag(bytes)?,
                    _ => value_int(bytes)? != 0,
                };
                self.update_options(|o| match name {
                    CONFLATE => o.conflate = v,
                    XPUB_NODROP => o.xpub_nodrop = v,
                    _ => o.invert_matching = v,
                })?;
                self.keep(name, &c_int::from(v).to_ne_bytes());
            }
            USE_FD => {
                let v = int()?;
                if v < -1 {
                    return Err(libc::EINVAL);
                }
                self.update_options(|o| o.use_fd = (v >= 0).then_some(v))?;
                self.keep(name, bytes);
            }
            PROBE_ROUTER | IMMEDIATE => {
                let v = if name == PROBE_ROUTER {
                    value_flag(bytes)?
                } else {
                    value_bool(bytes)?
                };
                self.update_options(|o| match name {
                    PROBE_ROUTER => o.probe_router = v,
                    _ => o.immediate = v,
                })?;
                self.keep(name, bytes);
            }
            CONNECT_ROUTING_ID => {
                if bytes.is_empty() || bytes.len() > 255 {
                    return Err(libc::EINVAL);
                }
                let id = Bytes::copy_from_slice(bytes);
                self.update_options(|o| o.connect_routing_id = Some(id))?;
            }
            XPUB_VERBOSER => {
                let v = value_flag(bytes)?;
                self.update_options(|o| o.xpub_verboser = v)?;
            }
            STREAM_NOTIFY => {
                let v = value_bool(bytes)?;
                self.update_options(|o| o.stream_notify = v)?;
            }
            TCP_ACCEPT_FILTER => {
                // Each call adds one address or network; an empty one clears the list.
                if bytes.is_empty() {
                    self.update_options(|o| o.tcp_accept_filter.clear())?;
                } else {
                    let text = value_text(bytes)?;
                    let net = ringmq::IpNet::parse(&text).map_err(|_| libc::EINVAL)?;
                    self.update_options(|o| o.tcp_accept_filter.push(net))?;
                }
            }
            IPC_FILTER_PID | IPC_FILTER_UID | IPC_FILTER_GID => {
                // Each call adds one id; an empty value clears that list (libzmq's rule).
                let id = if bytes.is_empty() {
                    None
                } else {
                    Some(value_int(bytes)?)
                };
                self.update_options(|o| {
                    let f = &mut o.ipc_accept_filter;
                    match (name, id) {
                        (IPC_FILTER_PID, None) => f.pids.clear(),
                        (IPC_FILTER_PID, Some(pid)) => f.pids.push(pid),
                        (IPC_FILTER_UID, None) => f.uids.clear(),
                        (IPC_FILTER_UID, Some(uid)) => f.uids.push(uid as u32),
                        (_, None) => f.gids.clear(),
                        (_, Some(gid)) => f.gids.push(gid as u32),
                    }
                })?;
            }
            ROUTER_RAW => {
                self.keep(name, bytes);
            }
            _ => match kind {
                Kind::Text => {
                    value_text(bytes)?;
                    let mut text = bytes.strip_suffix(&[0]).unwrap_or(bytes).to_vec();
                    text.push(0);
                    self.kept.insert(name, text);
                }
                _ => self.keep(name, bytes),
            },
        }
        Ok(())
    }

    fn keep(&mut self, name: c_int, bytes: &[u8]) {
        self.kept.insert(name, bytes.to_vec());
    }

    /// Give the ringmq socket the mechanism the security options now describe.
    fn apply_security(&mut self) -> Result<(), c_int> {
        let mechanism = self.security.mechanism();
        self.update_options(|o| o.security = mechanism)
    }

    /// `zmq_getsockopt`: the value's bytes, for a buffer of `capacity` bytes (which picks the
    /// form of a CURVE key: 32 bytes binary, 41 Z85 with its NUL).
    pub(crate) fn option_value(&mut self, name: c_int, capacity: usize) -> Result<Vec<u8>, c_int> {
        use option::*;
        let (kind, access) = spec(name).ok_or(libc::EINVAL)?;
        if access == Access::WriteOnly {
            return Err(libc::EINVAL);
        }
        // As libzmq: a number is read into a buffer of exactly its size, but the socket's own
        // state (RCVMORE, FD, EVENTS, THREAD_SAFE) into any buffer big enough.
        let state = zeroes_buffer(name);
        match kind {
            Kind::Int if state && capacity < 4 => return Err(libc::EINVAL),
            Kind::Int if !state && capacity != 4 => return Err(libc::EINVAL),
            Kind::Int64 | Kind::Uint64 if capacity != 8 => return Err(libc::EINVAL),
            _ => {}
        }
        let int = |v: c_int| Ok(v.to_ne_bytes().to_vec());
        let size = |v: usize| int(c_int::try_from(v).unwrap_or(c_int::MAX));
        let text = |t: &str| {
            let mut v = t.as_bytes().to_vec();
            v.push(0);
            Ok(v)
        };
        match name {
            TYPE => int(self.type_number),
            RCVMORE => int(c_int::from(self.rcvmore)),
            EVENTS => int(self.events()?),
            FD => int(self.readiness_fd()?),
            LAST_ENDPOINT => text(&self.last_endpoint),
            MECHANISM => int(self.security.mechanism),
            THREAD_SAFE => int(0),
            LINGER => int(millis_of(self.options()?.linger)),
            SNDHWM => size(self.options()?.sndhwm),
            RCVHWM => size(self.options()?.rcvhwm),
            RCVTIMEO => int(self.rcvtimeo_ms),
            SNDTIMEO => int(self.sndtimeo_ms),
            ROUTING_ID => {
                let own = self.options()?.routing_id;
                let id = match (&self.stream_peer, own) {
                    (Some(peer), None) if self.socket_type == SocketType::Stream => {
                        Some(peer.clone())
                    }
                    (_, own) => own,
                };
                Ok(id.map(|id| id.to_vec()).unwrap_or_default())
            }
            RECONNECT_IVL => match self.kept.get(&name) {
                Some(v) => Ok(v.clone()),
                None => int(millis_of(Some(self.options()?.reconnect_ivl))),
            },
            RECONNECT_IVL_MAX => int(millis_of(Some(self.options()?.reconnect_ivl_max))),
            BACKLOG => int(self.options()?.backlog),
            MAXMSGSIZE => {
                let max = self.options()?.max_msg_size;
                let v = max.map_or(-1, |m| i64::try_from(m).unwrap_or(i64::MAX));
                Ok(v.to_ne_bytes().to_vec())
            }
            HANDSHAKE_IVL => int(self
                .options()?
                .handshake_timeout
                .map_or(0, |d| c_int::try_from(d.as_millis()).unwrap_or(c_int::MAX))),
            HEARTBEAT_IVL => int(millis_of(self.options()?.heartbeat_ivl).max(0)),
            HEARTBEAT_TIMEOUT => int(millis_of(self.options()?.heartbeat_timeout)),
            IPV6 => int(c_int::from(self.ipv6)),
            IPV4ONLY => int(c_int::from(!self.ipv6)),
            ZAP_DOMAIN => text(&self.options()?.zap_domain),
            PLAIN_SERVER => int(c_int::from(
                self.security.mechanism == 1 && self.security.as_server,
            )),
            CURVE_SERVER => int(c_int::from(
                self.security.mechanism == 2 && self.security.as_server,
            )),
            PLAIN_USERNAME => text(&self.security.username.clone()),
            PLAIN_PASSWORD => text(&self.security.password.clone()),
            CURVE_PUBLICKEY | CURVE_SECRETKEY | CURVE_SERVERKEY => {
                let key = match name {
                    CURVE_PUBLICKEY => self.security.curve_public.or_else(|| {
                        self.security
                            .curve_secret
                            .map(|s| SecretKey::from_bytes(s).public_key().0)
                    }),
                    CURVE_SECRETKEY => self.security.curve_secret,
                    _ => self.security.curve_server_key,
                }
                .unwrap_or([0; 32]);
                match capacity {
                    32 => Ok(key.to_vec()),
                    41 => {
                        let z85 = ringmq_transports::z85::encode(&key).ok_or(libc::EINVAL)?;
                        text(&z85)
                    }
                    _ => Err(libc::EINVAL),
                }
            }
            _ => {
                let value = self
                    .kept
                    .get(&name)
                    .cloned()
                    .unwrap_or_else(|| kept_default(name));
                debug_assert!(kind != Kind::Int || value.len() == 4);
                Ok(value)
            }
        }
    }
}
