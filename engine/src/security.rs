//! Security settings of a socket: the mechanism (NULL, PLAIN, CURVE), the built-in authorizer
//! that decides which peers a PLAIN or CURVE server accepts, and the policy that can forbid
//! unencrypted tcp.
//!
//! Without an authorizer a PLAIN or CURVE server accepts any peer that completes the handshake
//! (libzmq's behaviour without a ZAP handler); `audit::Deployment::audit` flags that.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

pub use ringmq_transports::connection::{Credentials, Mechanism};
pub use ringmq_transports::keys::{KeyError, KeyPair, PublicKey, SecretKey};

use crate::error::{Error, ErrorKind};
use ringmq_transports::zap::ZapError;
use ringmq_transports::ProtocolError;

/// Generate a CURVE key pair from the operating system's random number generator.
pub fn generate_keypair() -> Result<KeyPair, Error> {
    let mut random = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut *random)
        .map_err(|e| Error::new(ErrorKind::Io, format!("OS random source: {e}")))?;
    Ok(KeyPair::from_random(*random))
}

/// Fill a buffer from the OS RNG (the randomness source of CURVE connections).
pub(crate) fn os_random() -> ringmq_transports::curve::Random {
    std::sync::Arc::new(|buf: &mut [u8]| {
        // getrandom only fails when the kernel has no entropy interface at all; a CURVE
        // handshake must not go on with predictable keys, so that is fatal.
        getrandom::fill(buf).expect("the OS random source is available");
    })
}

/// Whether a socket (or a whole runtime) may use tcp without CURVE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecurityPolicy {
    /// Any mechanism on any transport (libzmq's behaviour).
    #[default]
    Permissive,
    /// tcp binds and connects must use CURVE; NULL or PLAIN on tcp is refused with
    /// [`ErrorKind::PolicyViolation`]. ipc and inproc stay local and are allowed.
    RequireCurve,
}

/// An IP network: an address and a prefix length (`10.0.0.0/8`, `::1/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Parse `ADDR/PREFIX` or a bare address (a host).
    pub fn parse(text: &str) -> Result<IpNet, Error> {
        let bad = || {
            Error::new(
                ErrorKind::InvalidOption,
                format!("{text:?} is not an address or CIDR"),
            )
        };
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (
                a.parse::<IpAddr>().map_err(|_| bad())?,
                Some(p.parse::<u8>().map_err(|_| bad())?),
            ),
            None => (text.parse::<IpAddr>().map_err(|_| bad())?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(IpNet { addr, prefix })
    }

    /// Whether `ip` is inside the network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V4(ip)) => IpNet {
                addr: IpAddr::V6(net),
                prefix: self.prefix,
            }
            .contains(IpAddr::V6(ip.to_ipv6_mapped())),
            _ => false,
        }
    }
}

/// The built-in authorizer (what libzmq leaves to a ZAP handler): allow- and deny-lists of CURVE
/// client keys, PLAIN users with hashed passwords, and peer addresses.
///
/// A peer is refused when its address is denied or not in a non-empty allow-list; then a CURVE
/// client when its key is denied or not in a non-empty key allow-list; a PLAIN client unless its
/// user exists and the password verifies. Decisions are logged without secrets.
#[derive(Clone, Default)]
pub struct Authorizer {
    curve_allow: HashSet<PublicKey>,
    curve_deny: HashSet<PublicKey>,
    plain_users: HashMap<String, String>,
    address_allow: Vec<IpNet>,
    address_deny: Vec<IpNet>,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer")
            .field("curve_allow", &self.curve_allow.len())
            .field("curve_deny", &self.curve_deny.len())
            .field("plain_users", &self.plain_users.len())
            .field("address_allow", &self.address_allow)
            .field("address_deny", &self.address_deny)
            .finish()
    }
}

/// Hash a password for [`Authorizer::allow_plain_user_hashed`] (Argon2id with libsodium's
/// interactive limits, in libsodium's `crypto_pwhash_str` format).
pub fn hash_password(password: &str) -> Result<String, Error> {
    use dryoc::constants::{
        CRYPTO_PWHASH_MEMLIMIT_INTERACTIVE, CRYPTO_PWHASH_OPSLIMIT_INTERACTIVE,
    };
    dryoc::classic::crypto_pwhash::crypto_pwhash_str(
        password.as_bytes(),
        CRYPTO_PWHASH_OPSLIMIT_INTERACTIVE,
        CRYPTO_PWHASH_MEMLIMIT_INTERACTIVE,
    )
    .map_err(|e| {
        Error::new(
            ErrorKind::InvalidOption,
            format!("cannot hash password: {e}"),
        )
    })
}

/// A hash of a random password, verified against for unknown users.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut random = [0u8; 16];
        let _ = getrandom::fill(&mut random);
        let password: String = random.iter().map(|b| format!("{b:02x}")).collect();
        hash_password(&password).unwrap_or_default()
    })
}

/// Whether the authorizer's decision is expensive (password hashing) and should run off the shard.
impl Authorizer {
    pub(crate) fn is_slow_for(&self, credentials: &Credentials) -> bool {
        matches!(credentials, Credentials::Plain { .. }) && !self.plain_users.is_empty()
    }
}

/// Where the helper thread leaves its decision, and who to wake.
type DecisionSlot = (
    std::sync::Mutex<Option<Result<String, String>>>,
    atomic_waker::AtomicWaker,
);

type AuthJob = Box<dyn FnOnce() + Send>;

/// Password checks waiting for the authentication thread, at most. One Argon2 verification takes
/// tens of milliseconds, so a full queue is a few seconds of work, under the default
/// `zap_timeout` (5 s); a handshake that finds it full is refused at once.
pub(crate) const AUTH_QUEUE_MAX: usize = 64;

/// The one thread that checks passwords for every shard of the process. One, not one per
/// attempt: a flood of PLAIN handshakes queues here, up to [`AUTH_QUEUE_MAX`], instead of
/// starting a thread each.
fn auth_worker() -> Option<&'static std::sync::mpsc::SyncSender<AuthJob>> {
    static WORKER: std::sync::OnceLock<Option<std::sync::mpsc::SyncSender<AuthJob>>> =
        std::sync::OnceLock::new();
    WORKER
        .get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<AuthJob>(AUTH_QUEUE_MAX);
            std::thread::Builder::new()
                .name("ringmq-auth".into())
                .spawn(move || {
                    for job in rx {
                        job();
                    }
                })
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

/// A decision that comes later: from a ZAP handler, or from the authentication thread.
pub(crate) type PendingDecision =
    std::pin::Pin<Box<dyn std::future::Future<Output = AuthDecision>>>;

/// How a peer's credentials are judged: the one answer of [`authenticate`].
pub(crate) enum AuthDecision {
    /// Go on; `user_id` (possibly empty) becomes the `User-Id` property of the peer's messages.
    Accept {
        user_id: String,
        /// Properties the ZAP handler attached to the peer (its reply's metadata).
        metadata: Option<ringmq_transports::Metadata>,
    },
    /// Refuse the peer with a ZAP status code (300, 400 or 500, sent to the peer in the ERROR
    /// command, as libzmq does) and a reason (logged, and reported as `handshake-failed(auth)`).
    Refuse(u16, String),
    /// The answer comes later; the caller bounds the wait by `zap_timeout`.
    Pending(PendingDecision),
    /// No answer can be had (the ZAP handler's reply was malformed): the handshake fails, and
    /// the peer is told nothing.
    Fail(ProtocolError),
}

/// Decide about a peer that presented `credentials`, the way libzmq does: a ZAP handler when one
/// is configured (`zap_endpoint`) or bound in this runtime (`inproc://zeromq.zap.01`), else the
/// socket's built-in [`Authorizer`] (on the authentication thread when it must hash a password),
/// else accept.
pub(crate) fn authenticate(
    options: &crate::socket::Options,
    credentials: Credentials,
    address: Option<IpAddr>,
) -> AuthDecision {
    if let Some(endpoint) = zap_handler(options) {
        let identity = options.routing_id.clone().unwrap_or_default();
        return match crate::zap::ask(
            &endpoint,
            &options.zap_domain,
            address,
            identity,
            &credentials,
        ) {
            Ok(reply) => AuthDecision::Pending(Box::pin(async move {
                let reply = match reply.await {
                    Ok(reply) => reply,
                    Err(e) => return AuthDecision::Fail(ProtocolError::ZapReply(e)),
                };
                if reply.is_success() {
                    let metadata = match ringmq_transports::Metadata::decode(&reply.metadata) {
                        Ok(m) => Some(m).filter(|m| m.iter().next().is_some()),
                        Err(_) => {
                            return AuthDecision::Fail(ProtocolError::ZapReply(ZapError::Metadata))
                        }
                    };
                    AuthDecision::Accept {
                        user_id: reply.user_id,
                        metadata,
                    }
                } else {
                    AuthDecision::Refuse(
                        reply.status_code,
                        format!("ZAP {}: {}", reply.status_code, reply.status_text),
                    )
                }
            })),
            Err(e) => AuthDecision::Refuse(500, format!("ZAP unavailable: {e}")),
        };
    }
    match options.authorizer.clone() {
        Some(authorizer) if authorizer.is_slow_for(&credentials) => {
            let deadline = std::time::Instant::now() + options.zap_timeout;
            let decision = decide_off_shard(authorizer, credentials, address, deadline);
            AuthDecision::Pending(Box::pin(async move {
                match decision.await {
                    Ok(user_id) => AuthDecision::Accept {
                        user_id,
                        metadata: None,
                    },
                    Err(reason) => AuthDecision::Refuse(400, reason),
                }
            }))
        }
        Some(authorizer) => match authorizer.decide(&credentials, address) {
            Ok(user_id) => AuthDecision::Accept {
                user_id,
                metadata: None,
            },
            Err(reason) => AuthDecision::Refuse(400, reason),
        },
        None => AuthDecision::Accept {
            user_id: String::new(),
            metadata: None,
        },
    }
}

/// The ZAP handler a socket with `options` asks: `zap_endpoint` when set, else the one bound in
/// this runtime at `inproc://zeromq.zap.01`, if any.
pub(crate) fn zap_handler(options: &crate::socket::Options) -> Option<String> {
    match &options.zap_endpoint {
        Some(endpoint) => Some(endpoint.clone()),
        None => crate::zap::handler_bound().then(|| crate::zap::ZAP_ENDPOINT.to_owned()),
    }
}

/// Run `authorizer.decide` on the authentication thread (Argon2 takes tens of milliseconds; a shard must
/// not stall its other sockets meanwhile); resolves to its decision. Refused at once when the
/// thread's queue is full; skipped by the thread (no hashing) once `deadline` has passed or
/// nobody waits for the answer any more, so a flood queues no work that outlives its handshakes.
fn decide_off_shard(
    authorizer: std::sync::Arc<Authorizer>,
    credentials: Credentials,
    address: Option<IpAddr>,
    deadline: std::time::Instant,
) -> impl std::future::Future<Output = Result<String, String>> {
    use std::sync::mpsc::TrySendError;
    use std::sync::{Arc, Mutex};
    let slot: Arc<DecisionSlot> = Arc::new((Mutex::new(None), atomic_waker::AtomicWaker::new()));
    let worker = slot.clone();
    let job: AuthJob = Box::new(move || {
        // The waiting handshake holds the other reference; gone means it ended.
        if Arc::strong_count(&worker) == 1 || std::time::Instant::now() >= deadline {
            return;
        }
        let decision = authorizer.decide(&credentials, address);
        if let Ok(mut s) = worker.0.lock() {
            *s = Some(decision);
        }
        worker.1.wake();
    });
    let refused = match auth_worker().map(|w| w.try_send(job)) {
        Some(Ok(())) => None,
        Some(Err(TrySendError::Full(_))) => {
            tracing::warn!(
                limit = AUTH_QUEUE_MAX,
                "password checks queue full; refusing a PLAIN peer"
            );
            Some("authentication queue full")
        }
        Some(Err(TrySendError::Disconnected(_))) | None => {
            Some("cannot start the authentication thread")
        }
    };
    if let Some(reason) = refused {
        if let Ok(mut s) = slot.0.lock() {
            *s = Some(Err(reason.into()));
        }
    }
    std::future::poll_fn(move |cx| {
        slot.1.register(cx.waker());
        let decision = slot.0.lock().ok().and_then(|mut s| s.take());
        match decision {
            None => std::task::Poll::Pending,
            Some(d) => std::task::Poll::Ready(d),
        }
    })
}

fn verify_password(hash: &str, password: &str) -> bool {
    dryoc::classic::crypto_pwhash::crypto_pwhash_str_verify(hash, password.as_bytes()).is_ok()
}

impl Authorizer {
    /// An authorizer that allows nothing by list yet (add entries).
    pub fn new() -> Authorizer {
        Authorizer::default()
    }

    /// Accept CURVE clients with this public key (once any key is allowed, only listed keys are).
    pub fn allow_curve_key(mut self, key: PublicKey) -> Self {
        self.curve_allow.insert(key);
        self
    }

    /// Refuse CURVE clients with this public key.
    pub fn deny_curve_key(mut self, key: PublicKey) -> Self {
        self.curve_deny.insert(key);
        self
    }

    /// Accept PLAIN user `name` with `password` (stored hashed).
    pub fn allow_plain_user(self, name: &str, password: &str) -> Result<Self, Error> {
        let hash = hash_password(password)?;
        Ok(self.allow_plain_user_hashed(name, &hash))
    }

    /// Accept PLAIN user `name` whose password hashes to `hash` (from [`hash_password`]).
    pub fn allow_plain_user_hashed(mut self, name: &str, hash: &str) -> Self {
        self.plain_users.insert(name.to_owned(), hash.to_owned());
        self
    }

    /// Load PLAIN users from a password file: one `user:hash` per line (`#` comments).
    pub fn with_password_file(mut self, path: impl AsRef<std::path::Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::new(
                ErrorKind::InvalidOption,
                format!("password file {}: {e}", path.display()),
            )
        })?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (user, hash) = line.split_once(':').ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidOption,
                    format!("{}:{}: expected user:hash", path.display(), n + 1),
                )
            })?;
            self.plain_users.insert(user.to_owned(), hash.to_owned());
        }
        Ok(self)
    }

    /// Accept peers from this network (once any is allowed, only listed networks are).
    pub fn allow_address(mut self, net: IpNet) -> Self {
        self.address_allow.push(net);
        self
    }

    /// Refuse peers from this network.
    pub fn deny_address(mut self, net: IpNet) -> Self {
        self.address_deny.push(net);
        self
    }

    /// Whether any rule is configured.
    pub fn is_empty(&self) -> bool {
        self.curve_allow.is_empty()
            && self.curve_deny.is_empty()
            && self.plain_users.is_empty()
            && self.address_allow.is_empty()
            && self.address_deny.is_empty()
    }

    /// Decide about a peer: `Ok(user_id)` or `Err(reason)`.
    pub fn decide(
        &self,
        credentials: &Credentials,
        address: Option<IpAddr>,
    ) -> Result<String, String> {
        if let Some(ip) = address {
            if self.address_deny.iter().any(|n| n.contains(ip)) {
                return Err("address denied".into());
            }
            if !self.address_allow.is_empty() && !self.address_allow.iter().any(|n| n.contains(ip))
            {
                return Err("address not allowed".into());
            }
        } else if !self.address_allow.is_empty() {
            return Err("address unknown".into());
        }
        match credentials {
            // A NULL peer has only its address, checked above.
            Credentials::Null => Ok(String::new()),
            Credentials::Curve { client_key } => {
                if self.curve_deny.contains(client_key) {
                    return Err("client key denied".into());
                }
                if !self.curve_allow.is_empty() && !self.curve_allow.contains(client_key) {
                    return Err("client key not allowed".into());
                }
                Ok(client_key.to_z85())
            }
            Credentials::Plain { username, password } => {
                if self.plain_users.is_empty() {
                    return Ok(username.clone());
                }
                match self.plain_users.get(username) {
                    Some(hash) if verify_password(hash, password) => Ok(username.clone()),
                    Some(_) => Err("invalid user name or password".into()),
                    None => {
                        // Spend the same work for an unknown user, so timing does not tell
                        // which user names exist.
                        let _ = verify_password(dummy_hash(), password);
                        Err("invalid user name or password".into())
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_password_queue_refuses_at_once_and_expired_checks_cost_nothing() {
        use std::future::Future;
        let authorizer = std::sync::Arc::new(
            Authorizer::new()
                .allow_plain_user("admin", "secret")
                .unwrap(),
        );
        let credentials = Credentials::Plain {
            username: "admin".into(),
            password: zeroize::Zeroizing::new("secret".into()),
        };
        let far = std::time::Instant::now() + std::time::Duration::from_secs(60);
        // Far more checks than the queue holds, all at once: the surplus is refused without
        // waiting; what was queued is skipped by the thread once its waiter is gone.
        let pending: Vec<_> = (0..AUTH_QUEUE_MAX * 2)
            .map(|_| {
                Box::pin(decide_off_shard(
                    authorizer.clone(),
                    credentials.clone(),
                    None,
                    far,
                ))
            })
            .collect();
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let refused = pending
            .into_iter()
            .filter_map(|mut f| match f.as_mut().poll(&mut cx) {
                std::task::Poll::Ready(Err(reason)) => Some(reason),
                _ => None,
            })
            .collect::<Vec<_>>();
        assert!(
            refused
                .iter()
                .filter(|r| *r == "authentication queue full")
                .count()
                >= AUTH_QUEUE_MAX - 1,
            "{} refused: {refused:?}",
            refused.len()
        );
        // A check whose deadline has passed is dropped by the thread: the answer never comes,
        // and the handshake's own zap_timeout refuses the peer.
        // Once the thread has skipped the abandoned ones (bounded wait), a live check succeeds.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let past = std::time::Instant::now();
        let mut expired = Box::pin(decide_off_shard(
            authorizer.clone(),
            credentials.clone(),
            None,
            past,
        ));
        loop {
            let live = decide_off_shard(authorizer.clone(), credentials.clone(), None, far);
            match crate::block_on(live) {
                Ok(user) => {
                    assert_eq!(user, "admin");
                    break;
                }
                Err(reason) if reason == "authentication queue full" => {
                    assert!(std::time::Instant::now() < until, "the queue never drained");
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(other) => panic!("{other}"),
            }
        }
        // The expired check was queued before the live one (or refused as full): either way it
        // never got an answer from the thread.
        match expired.as_mut().poll(&mut cx) {
            std::task::Poll::Pending => {}
            std::task::Poll::Ready(r) => assert_eq!(r, Err("authentication queue full".into())),
        }
    }

    #[test]
    fn networks() {
        let net = IpNet::parse("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.2.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(IpNet::parse("::1")
            .unwrap()
            .contains("::1".parse().unwrap()));
        assert!(IpNet::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(IpNet::parse("10.0.0.0/33").is_err());
    }

    #[test]
    fn decisions() {
        let good = generate_keypair().unwrap().public;
        let bad = generate_keypair().unwrap().public;
        let auth = Authorizer::new()
            .allow_curve_key(good)
            .allow_plain_user("ann", "pw")
            .unwrap()
            .deny_address(IpNet::parse("192.0.2.0/24").unwrap());
        let local = Some("127.0.0.1".parse().unwrap());
        assert!(auth
            .decide(&Credentials::Curve { client_key: good }, local)
            .is_ok());
        assert!(auth
            .decide(&Credentials::Curve { client_key: bad }, local)
            .is_err());
        assert!(auth
            .decide(
                &Credentials::Curve { client_key: good },
                Some("192.0.2.7".parse().unwrap())
            )
            .is_err());
        let plain = |p: &str| Credentials::Plain {
            username: "ann".into(),
            password: zeroize::Zeroizing::new(p.into()),
        };
        assert_eq!(auth.decide(&plain("pw"), local), Ok("ann".into()));
        assert!(auth.decide(&plain("nope"), local).is_err());
        assert!(!format!("{auth:?}").contains("pw"));
    }
}
