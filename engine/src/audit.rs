//! A security audit of a deployment: which sockets a program runs, on which endpoints, with
//! which mechanism, checked against the mistakes that expose ZeroMQ services (NULL on a public
//! interface, PLAIN on the network, unbounded messages, open ipc files, CURVE servers that let
//! any client in).
//!
//! A deployment is described in TOML: the runtime's fields ([`Config`]'s, at the top level) and
//! one `[[socket]]` table per socket:
//!
//! ```toml
//! shards = 2
//! security_policy = "require-curve"     # or "permissive" (default)
//!
//! [[socket]]
//! type = "router"
//! bind = ["tcp://0.0.0.0:5555"]
//! connect = []
//! mechanism = "curve"                   # null (default) | plain | curve
//! curve_server = true
//! authorizer = true                     # an Authorizer allow-list or a ZAP handler is set
//! max_msg_size = 1048576                # bytes; 0 = unlimited; absent = 16 MiB
//! ipc_mode = 0o600                      # ipc socket files (default 0o600)
//! ```
//!
//! [`Deployment::audit`] returns [`Finding`]s, most severe first, each with a fix. The audit
//! opens no socket and resolves no name; it reads the filesystem only to look at the
//! directories of ipc paths that exist on the machine running it.

use std::fmt;
use std::path::Path;

use ringmq_transports::Endpoint;
use serde::{Deserialize, Deserializer};

use crate::config::Config;
use crate::error::{Error, ErrorKind};
use crate::security::SecurityPolicy;
use crate::SocketType;

/// ringmq's default `max_msg_size` ([`crate::Options::max_msg_size`]), 16 MiB.
const DEFAULT_MAX_MSG_SIZE: u64 = 16 * 1024 * 1024;

/// How much a finding matters. Ordered: `Low < Medium < High`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Hardening: nothing is exposed now, but a later mistake would be.
    Low,
    /// A weakness an attacker with some access (a local user, a client) can use.
    Medium,
    /// Exposed to the network as configured.
    High,
}

impl Severity {
    /// `"HIGH"`, `"MEDIUM"` or `"LOW"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::High => "HIGH",
            Severity::Medium => "MEDIUM",
            Severity::Low => "LOW",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = Error;

    /// `high`, `medium` or `low`, in any case (for a CLI's `--fail-on` threshold).
    fn from_str(text: &str) -> Result<Severity, Error> {
        [Severity::High, Severity::Medium, Severity::Low]
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidConfig,
                    format!("severity {text:?} is not high, medium or low"),
                )
            })
    }
}

/// One problem the audit found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How much it matters.
    pub severity: Severity,
    /// Index of the socket in [`Deployment::sockets`] (the `[[socket]]` tables in file order);
    /// `None` for the runtime.
    pub socket: Option<usize>,
    /// What the finding is about: the socket's type and the endpoints concerned
    /// (`router tcp://0.0.0.0:5555`), or `runtime`.
    pub subject: String,
    /// What is wrong and why it matters.
    pub message: String,
    /// What to change.
    pub fix: String,
}

impl fmt::Display for Finding {
    /// One line: `[HIGH] socket 0 (router tcp://0.0.0.0:5555): NULL security on ... — fix: ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.socket {
            Some(index) => write!(f, "[{}] socket {index} ({})", self.severity, self.subject)?,
            None => write!(f, "[{}] {}", self.severity, self.subject)?,
        }
        write!(f, ": {} — fix: {}", self.message, self.fix)
    }
}

/// The security mechanism of a socket, by name (the keys themselves are not part of a
/// deployment description).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MechanismName {
    /// NULL: no authentication, no encryption (RFC 23 §NULL).
    #[default]
    #[serde(alias = "NULL")]
    Null,
    /// PLAIN: user name and password, in clear text (RFC 24).
    #[serde(alias = "PLAIN")]
    Plain,
    /// CURVE: authenticated and encrypted (RFC 26).
    #[serde(alias = "CURVE")]
    Curve,
}

/// One socket of a deployment (a `[[socket]]` table). Absent fields take ringmq's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocketSpec {
    /// The socket type (`type = "router"`; any case).
    #[serde(rename = "type", deserialize_with = "socket_type")]
    pub socket_type: SocketType,
    /// Endpoints the socket binds.
    #[serde(default)]
    pub bind: Vec<String>,
    /// Endpoints the socket connects to.
    #[serde(default)]
    pub connect: Vec<String>,
    /// The mechanism (`null`, `plain` or `curve`). Default NULL.
    #[serde(default)]
    pub mechanism: MechanismName,
    /// Whether the socket is the CURVE server (`ZMQ_CURVE_SERVER`). Needs `mechanism = "curve"`.
    #[serde(default)]
    pub curve_server: bool,
    /// Whether an [`crate::Authorizer`] or a ZAP handler decides which peers may connect.
    #[serde(default)]
    pub authorizer: bool,
    /// Largest inbound message in bytes, as [`crate::Options::max_msg_size`]: `None` is
    /// unlimited (`max_msg_size = 0` in TOML); absent in TOML: 16 MiB.
    #[serde(default = "default_max_msg_size", deserialize_with = "max_msg_size")]
    pub max_msg_size: Option<u64>,
    /// Permissions of the ipc socket files it binds ([`crate::Options::ipc_mode`], default
    /// 0o600; TOML writes octal as `0o600`).
    #[serde(default = "default_ipc_mode")]
    pub ipc_mode: u32,
    /// [`crate::Options::ipc_allow_insecure_dir`]: bind ipc in a world-writable directory
    /// without the sticky bit. Default false.
    #[serde(default)]
    pub ipc_allow_insecure_dir: bool,
}

fn default_max_msg_size() -> Option<u64> {
    Some(DEFAULT_MAX_MSG_SIZE)
}

fn default_ipc_mode() -> u32 {
    0o600
}

fn socket_type<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketType, D::Error> {
    let name = String::deserialize(deserializer)?;
    SocketType::from_name(name.as_bytes()).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "unknown socket type {name:?} (pair, pub, sub, req, rep, dealer, router, pull, push, \
             xpub or xsub)"
        ))
    })
}

fn max_msg_size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    let bytes = u64::deserialize(deserializer)?;
    Ok((bytes != 0).then_some(bytes))
}

impl SocketSpec {
    /// A socket of `socket_type` with ringmq's defaults and no endpoints.
    pub fn new(socket_type: SocketType) -> SocketSpec {
        SocketSpec {
            socket_type,
            bind: Vec::new(),
            connect: Vec::new(),
            mechanism: MechanismName::Null,
            curve_server: false,
            authorizer: false,
            max_msg_size: default_max_msg_size(),
            ipc_mode: default_ipc_mode(),
            ipc_allow_insecure_dir: false,
        }
    }

    /// Bound and connected endpoints, binds first.
    fn endpoints(&self) -> impl Iterator<Item = &str> {
        self.bind.iter().chain(&self.connect).map(String::as_str)
    }

    /// `router tcp://0.0.0.0:5555` for the given endpoints.
    fn subject<'a>(&self, endpoints: impl IntoIterator<Item = &'a str>) -> String {
        let mut subject = self.socket_type.as_str().to_ascii_lowercase();
        for endpoint in endpoints {
            subject.push(' ');
            subject.push_str(endpoint);
        }
        subject
    }

    /// Values that make no sense together; the message names the socket.
    fn validate(&self, index: usize) -> Result<(), String> {
        for endpoint in self.endpoints() {
            Endpoint::parse(endpoint).map_err(|e| format!("socket {index}: {e}"))?;
        }
        if self.curve_server && self.mechanism != MechanismName::Curve {
            return Err(format!(
                "socket {index}: curve_server = true needs mechanism = \"curve\""
            ));
        }
        if self.ipc_mode > 0o7777 {
            return Err(format!(
                "socket {index}: ipc_mode {:#o} is not a file mode",
                self.ipc_mode
            ));
        }
        Ok(())
    }
}

/// A program's sockets and runtime settings, as the audit sees them.
///
/// In TOML the runtime's fields sit at the top level beside the `[[socket]]` tables. `Config`
/// refuses unknown fields, so it cannot be `#[serde(flatten)]`ed next to `socket`; a private
/// mirror of its fields is parsed instead and turned into a [`Config`] (and validated), which
/// keeps `deny_unknown_fields` and toml's line numbers for misspelt keys.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawDeployment")]
pub struct Deployment {
    /// The runtime settings (top-level `shards`, `cores`, `busy_poll_us`, `adaptive_spin_us`,
    /// `backend`, `security_policy`, the `[io_uring]` table, and the legacy top-level
    /// `ring_entries`).
    pub runtime: Config,
    /// The sockets (`[[socket]]` tables), in file order.
    pub sockets: Vec<SocketSpec>,
}

/// The TOML shape of a [`Deployment`]: [`Config`]'s fields, plus `socket`.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawDeployment {
    shards: usize,
    cores: Vec<usize>,
    busy_poll_us: u64,
    adaptive_spin_us: u64,
    backend: crate::config::Backend,
    io_uring: crate::config::IoUringSettings,
    ring_entries: Option<u32>,
    security_policy: SecurityPolicy,
    inbound_budget_bytes: u64,
    socket: Vec<SocketSpec>,
}

impl Default for RawDeployment {
    fn default() -> Self {
        // Exhaustive on purpose: a field added to Config's TOML shape fails to compile here
        // until it is mirrored in RawDeployment.
        let crate::config::RawConfig {
            shards,
            cores,
            busy_poll_us,
            adaptive_spin_us,
            backend,
            io_uring,
            ring_entries,
            security_policy,
            inbound_budget_bytes,
        } = crate::config::RawConfig::default();
        RawDeployment {
            shards,
            cores,
            busy_poll_us,
            adaptive_spin_us,
            backend,
            io_uring,
            ring_entries,
            security_policy,
            inbound_budget_bytes,
            socket: Vec::new(),
        }
    }
}

impl TryFrom<RawDeployment> for Deployment {
    type Error = String;

    fn try_from(raw: RawDeployment) -> Result<Deployment, String> {
        let runtime = crate::config::RawConfig {
            shards: raw.shards,
            cores: raw.cores,
            busy_poll_us: raw.busy_poll_us,
            adaptive_spin_us: raw.adaptive_spin_us,
            backend: raw.backend,
            io_uring: raw.io_uring,
            ring_entries: raw.ring_entries,
            security_policy: raw.security_policy,
            inbound_budget_bytes: raw.inbound_budget_bytes,
        }
        .into_config();
        runtime.validate().map_err(|e| e.to_string())?;
        for (index, socket) in raw.socket.iter().enumerate() {
            socket.validate(index)?;
        }
        Ok(Deployment {
            runtime,
            sockets: raw.socket,
        })
    }
}

impl Deployment {
    /// Parse a deployment description (see the module documentation). Errors are
    /// [`ErrorKind::InvalidConfig`]: TOML syntax, unknown fields, socket types, endpoints that do
    /// not parse, runtime values [`Config::validate`] refuses.
    pub fn from_toml(text: &str) -> Result<Deployment, Error> {
        toml::from_str(text)
            .map_err(|e| Error::new(ErrorKind::InvalidConfig, format!("invalid deployment: {e}")))
    }

    /// Read a deployment description from a TOML file (see [`Deployment::from_toml`]).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Deployment, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::new(
                ErrorKind::InvalidConfig,
                format!("cannot read deployment {}: {e}", path.display()),
            )
        })?;
        toml::from_str(&text).map_err(|e| {
            Error::new(
                ErrorKind::InvalidConfig,
                format!("invalid deployment {}: {e}", path.display()),
            )
        })
    }

    /// Check every socket and the runtime. Findings come most severe first, then in socket
    /// order; an empty list means none of the checks fired (not that the program is secure).
    ///
    /// Per socket:
    /// - NULL on a tcp endpoint that is not loopback (High);
    /// - PLAIN on any tcp endpoint (High);
    /// - `max_msg_size = 0` on a socket with tcp or ipc endpoints (Medium);
    /// - `ipc_mode` giving group or others access to a bound ipc file (Medium);
    /// - an ipc path in an existing world-writable directory without the sticky bit (Medium);
    /// - a CURVE server without an authorizer (Medium);
    /// - an abstract-namespace ipc bind without CURVE (Low);
    /// - an endpoint that does not parse (Medium; only in a hand-built `Deployment`).
    ///
    /// For the runtime: `security_policy` other than `require-curve` while any tcp endpoint is
    /// not loopback (Low).
    pub fn audit(&self) -> Vec<Finding> {
        let mut findings = Vec::new();
        let mut public_tcp = false;
        for (index, spec) in self.sockets.iter().enumerate() {
            public_tcp |= audit_socket(index, spec, &self.runtime, &mut findings);
        }
        if public_tcp {
            findings.extend(audit_config(&self.runtime));
        }
        // Stable: within a severity, socket order stays.
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        findings
    }
}

/// The runtime-only checks, for a program whose sockets are not described: they assume some
/// socket may use tcp beyond loopback. Today that is one: a `security_policy` other than
/// `require-curve` (Low), since then a tcp socket left on NULL or PLAIN is allowed to start.
pub fn audit_config(config: &Config) -> Vec<Finding> {
    let mut findings = Vec::new();
    if config.security_policy != SecurityPolicy::RequireCurve {
        findings.push(Finding {
            severity: Severity::Low,
            socket: None,
            subject: "runtime".to_owned(),
            message: "security_policy is permissive while tcp is used beyond loopback: a socket \
                      left on NULL or PLAIN would still bind and connect"
                .to_owned(),
            fix: "set security_policy = \"require-curve\" so the runtime refuses every tcp \
                  endpoint that is not CURVE"
                .to_owned(),
        });
    }
    findings
}

/// Audit one socket into `findings`; returns whether it has a tcp endpoint beyond loopback.
fn audit_socket(
    index: usize,
    spec: &SocketSpec,
    runtime: &Config,
    findings: &mut Vec<Finding>,
) -> bool {
    let mut finding = |severity, subject: String, message: String, fix: &str| {
        findings.push(Finding {
            severity,
            socket: Some(index),
            subject,
            message,
            fix: fix.to_owned(),
        })
    };
    let refused = if runtime.security_policy == SecurityPolicy::RequireCurve {
        " (the runtime's require-curve policy will refuse it, so the socket cannot start)"
    } else {
        ""
    };
    let mut public_tcp = false;
    let mut network = false;
    let mut ipc_binds = Vec::new();
    for (endpoint_text, binds) in spec
        .bind
        .iter()
        .map(|e| (e, true))
        .chain(spec.connect.iter().map(|e| (e, false)))
    {
        let subject = spec.subject([endpoint_text.as_str()]);
        let endpoint = match Endpoint::parse(endpoint_text) {
            Ok(endpoint) => endpoint,
            Err(e) => {
                finding(
                    Severity::Medium,
                    subject,
                    format!("the endpoint does not parse ({e}), so it was not checked"),
                    "correct the endpoint and audit again",
                );
                continue;
            }
        };
        match &endpoint {
            Endpoint::Tcp { .. } => {
                network = true;
                let loopback = endpoint.is_loopback();
                public_tcp |= !loopback;
                match spec.mechanism {
                    MechanismName::Null if !loopback => finding(
                        Severity::High,
                        subject,
                        format!(
                            "NULL security on a non-loopback tcp endpoint: any host that reaches \
                             it can connect, and messages cross the network unencrypted{refused}"
                        ),
                        "use CURVE (mechanism = \"curve\"; curve_server = true with an \
                         authorizer on the server side), or bind to 127.0.0.1 or ipc if only \
                         local peers need it",
                    ),
                    MechanismName::Plain => finding(
                        Severity::High,
                        subject,
                        format!(
                            "PLAIN security on tcp: PLAIN sends user names and passwords in \
                             clear text, and messages are not encrypted{refused}"
                        ),
                        "use CURVE; keep PLAIN only inside an encrypted tunnel (WireGuard, \
                         SSH, stunnel) or on ipc",
                    ),
                    _ => {}
                }
            }
            Endpoint::Ipc(path) => {
                network = true;
                match path.strip_prefix('@') {
                    Some(_) if binds && spec.mechanism != MechanismName::Curve => finding(
                        Severity::Low,
                        subject,
                        "abstract-namespace ipc socket: it has no file permissions, so any \
                         process in the same network namespace can connect"
                            .to_owned(),
                        "bind a filesystem path (ipc:///run/APP/NAME.sock, ipc_mode = 0o600) \
                         or use CURVE with an authorizer",
                    ),
                    Some(_) => {}
                    None => {
                        if binds {
                            ipc_binds.push(endpoint_text.as_str());
                        }
                        if let Some(dir) = insecure_directory(Path::new(path)) {
                            let consequence = if binds && !spec.ipc_allow_insecure_dir {
                                " (ringmq refuses this bind unless ipc_allow_insecure_dir)"
                            } else {
                                ""
                            };
                            finding(
                                Severity::Medium,
                                subject,
                                format!(
                                    "the ipc path is in {dir}, a world-writable directory \
                                     without the sticky bit: another local user can replace \
                                     the socket file and impersonate the service{consequence}"
                                ),
                                "put the socket in a directory only its users can write (such \
                                 as $XDG_RUNTIME_DIR or /run/APP), or set the sticky bit on the \
                                 directory (chmod +t)",
                            );
                        }
                    }
                }
            }
            Endpoint::Inproc(_) => {}
        }
    }
    if !ipc_binds.is_empty() && spec.ipc_mode & 0o077 != 0 {
        finding(
            Severity::Medium,
            spec.subject(ipc_binds.iter().copied()),
            format!(
                "ipc_mode = {:#o} lets group or other users open the socket file and connect",
                spec.ipc_mode
            ),
            "set ipc_mode = 0o600 (owner only); if another account must connect, give it a \
             directory of its own group or use CURVE with an authorizer",
        );
    }
    if network && spec.max_msg_size.is_none() {
        finding(
            Severity::Medium,
            spec.subject(spec.endpoints()),
            "max_msg_size = 0 (unlimited): a peer can send one huge message and exhaust this \
             process's memory"
                .to_owned(),
            "set max_msg_size to the largest message the application expects (ringmq's default \
             is 16 MiB)",
        );
    }
    if spec.mechanism == MechanismName::Curve && spec.curve_server && !spec.authorizer {
        finding(
            Severity::Medium,
            spec.subject(spec.endpoints()),
            "CURVE server without an authorizer: any client with the server key connects (the \
             server's key is public, so that is anyone who has it)"
                .to_owned(),
            "allow-list client keys with an Authorizer (Options::authorize with \
             Authorizer::allow_curve_key) or run a ZAP handler, and set authorizer = true",
        );
    }
    public_tcp
}

/// The directory of an ipc path, when it exists and is world-writable without the sticky bit.
fn insecure_directory(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let dir = crate::socket::ipc::directory_of(path);
    let mode = std::fs::metadata(dir).ok()?.permissions().mode();
    crate::socket::ipc::is_insecure_mode(mode).then(|| dir.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audit(toml: &str) -> Vec<Finding> {
        Deployment::from_toml(toml).unwrap().audit()
    }

    /// The one finding of `toml`.
    fn only(toml: &str) -> Finding {
        let findings = audit(toml);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        findings.into_iter().next().unwrap()
    }

    const CURVE_RUNTIME: &str = "security_policy = \"require-curve\"\n";

    #[test]
    fn clean_deployment() {
        let toml = "shards = 2\n\
                    security_policy = \"require-curve\"\n\
                    [[socket]]\n\
                    type = \"router\"\n\
                    bind = [\"tcp://0.0.0.0:5555\", \"inproc://backend\"]\n\
                    mechanism = \"curve\"\n\
                    curve_server = true\n\
                    authorizer = true\n\
                    [[socket]]\n\
                    type = \"DEALER\"\n\
                    connect = [\"tcp://broker.example.com:5555\"]\n\
                    mechanism = \"curve\"\n\
                    max_msg_size = 65536\n\
                    [[socket]]\n\
                    type = \"pull\"\n\
                    bind = [\"tcp://127.0.0.1:6000\", \"ipc:///nonexistent-dir/x.sock\"]\n\
                    ipc_mode = 0o600\n";
        let deployment = Deployment::from_toml(toml).unwrap();
        assert_eq!(deployment.runtime.shards, 2);
        assert_eq!(deployment.sockets.len(), 3);
        assert_eq!(deployment.sockets[0].max_msg_size, Some(16 * 1024 * 1024));
        assert_eq!(deployment.sockets[1].socket_type, SocketType::Dealer);
        assert_eq!(deployment.sockets[1].max_msg_size, Some(65536));
        assert_eq!(deployment.audit(), vec![]);
        assert_eq!(
            audit_config(&deployment.runtime),
            vec![],
            "require-curve needs nothing at runtime level"
        );
        // An empty description is the default runtime and no sockets: nothing to find.
        let empty = Deployment::from_toml("").unwrap();
        assert_eq!(empty.runtime, Config::default());
        assert_eq!(empty.audit(), vec![]);
    }

    #[test]
    fn null_on_public_tcp() {
        let f = only(&format!(
            "{CURVE_RUNTIME}[[socket]]\ntype = \"router\"\nbind = [\"tcp://0.0.0.0:5555\"]\n"
        ));
        assert_eq!(f.severity, Severity::High);
        assert_eq!(f.socket, Some(0));
        let line = f.to_string();
        assert!(
            line.starts_with(
                "[HIGH] socket 0 (router tcp://0.0.0.0:5555): NULL security on a non-loopback \
                 tcp endpoint"
            ),
            "{line}"
        );
        assert!(line.contains(" — fix: use CURVE"), "{line}");
        assert!(
            line.contains("require-curve policy will refuse it"),
            "{line}"
        );
        // Loopback (address or localhost) is fine under NULL.
        assert_eq!(
            audit(&format!(
                "{CURVE_RUNTIME}[[socket]]\ntype = \"pub\"\nbind = [\"tcp://127.0.0.1:1\", \
                 \"tcp://[::1]:2\"]\nconnect = [\"tcp://localhost:3\"]\n"
            )),
            vec![]
        );
        // `*` and a host name are not.
        let findings = audit(&format!(
            "{CURVE_RUNTIME}[[socket]]\ntype = \"sub\"\nbind = [\"tcp://*:1\"]\n\
             connect = [\"tcp://example.com:2\"]\n"
        ));
        assert_eq!(findings.len(), 2);
        assert!(findings.iter().all(|f| f.severity == Severity::High));
        assert_eq!(findings[1].subject, "sub tcp://example.com:2");
    }

    #[test]
    fn plain_on_any_tcp() {
        let f = only(&format!(
            "{CURVE_RUNTIME}[[socket]]\ntype = \"rep\"\nbind = [\"tcp://127.0.0.1:5555\"]\n\
             mechanism = \"plain\"\n"
        ));
        assert_eq!(f.severity, Severity::High);
        assert!(f.message.contains("clear text"));
        assert!(f.fix.contains("encrypted tunnel"));
        // PLAIN on ipc is not flagged.
        assert_eq!(
            audit("[[socket]]\ntype = \"rep\"\nbind = [\"ipc://@svc\"]\nmechanism = \"plain\"\n")
                .iter()
                .filter(|f| f.severity == Severity::High)
                .count(),
            0
        );
    }

    #[test]
    fn unlimited_messages() {
        let f =
            only("[[socket]]\ntype = \"pull\"\nbind = [\"tcp://127.0.0.1:1\"]\nmax_msg_size = 0\n");
        assert_eq!(f.severity, Severity::Medium);
        assert!(f.message.starts_with("max_msg_size = 0 (unlimited)"));
        assert!(f.fix.contains("16 MiB"));
        // inproc peers are the program itself.
        assert_eq!(
            audit("[[socket]]\ntype = \"pull\"\nbind = [\"inproc://x\"]\nmax_msg_size = 0\n"),
            vec![]
        );
    }

    #[test]
    fn ipc_mode_open_to_others() {
        let f = only(
            "[[socket]]\ntype = \"rep\"\nbind = [\"ipc:///nonexistent-dir/a.sock\"]\n\
             connect = [\"ipc:///nonexistent-dir/b.sock\"]\nipc_mode = 0o660\n",
        );
        assert_eq!(f.severity, Severity::Medium);
        assert_eq!(f.subject, "rep ipc:///nonexistent-dir/a.sock");
        assert!(f.message.starts_with("ipc_mode = 0o660"), "{}", f.message);
        // Only binds create files.
        assert_eq!(
            audit("[[socket]]\ntype = \"req\"\nconnect = [\"ipc:///nonexistent-dir/a\"]\nipc_mode = 0o666\n"),
            vec![]
        );
    }

    #[test]
    fn ipc_in_insecure_directory() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("ringmq-audit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let toml = format!(
            "[[socket]]\ntype = \"pull\"\nbind = [\"ipc://{}/s.sock\"]\n",
            dir.display()
        );
        let open = audit(&toml);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let sticky = audit(&toml);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let private = audit(&toml);
        std::fs::remove_dir(&dir).unwrap();

        assert_eq!(open.len(), 1, "{open:#?}");
        assert_eq!(open[0].severity, Severity::Medium);
        assert!(open[0].message.contains("without the sticky bit"));
        assert!(open[0].message.contains("refuses this bind"));
        assert_eq!(sticky, vec![]);
        assert_eq!(private, vec![]);
    }

    #[test]
    fn curve_server_without_authorizer() {
        let f = only(&format!(
            "{CURVE_RUNTIME}[[socket]]\ntype = \"router\"\nbind = [\"tcp://*:5555\"]\n\
             mechanism = \"curve\"\ncurve_server = true\n"
        ));
        assert_eq!(f.severity, Severity::Medium);
        assert!(f
            .message
            .contains("any client with the server key connects"));
        assert!(f.fix.contains("Authorizer") && f.fix.contains("ZAP"));
    }

    #[test]
    fn permissive_runtime_with_public_tcp() {
        let f = only(
            "[[socket]]\ntype = \"router\"\nbind = [\"tcp://*:5555\"]\nmechanism = \"curve\"\n\
             curve_server = true\nauthorizer = true\n",
        );
        assert_eq!(f.severity, Severity::Low);
        assert_eq!(f.socket, None);
        assert!(f
            .to_string()
            .starts_with("[LOW] runtime: security_policy is permissive"));
        assert!(f.fix.contains("require-curve"));
        // Loopback-only tcp does not need it.
        assert_eq!(
            audit("[[socket]]\ntype = \"pull\"\nbind = [\"tcp://127.0.0.1:1\"]\n"),
            vec![]
        );
        assert_eq!(audit_config(&Config::default()).len(), 1);
    }

    #[test]
    fn abstract_ipc() {
        let f = only("[[socket]]\ntype = \"rep\"\nbind = [\"ipc://@svc\"]\n");
        assert_eq!(f.severity, Severity::Low);
        assert!(f.message.contains("abstract-namespace"));
    }

    #[test]
    fn ordered_most_severe_first() {
        let findings = audit(
            "[[socket]]\ntype = \"pull\"\nbind = [\"tcp://127.0.0.1:1\"]\nmax_msg_size = 0\n\
             [[socket]]\ntype = \"push\"\nconnect = [\"tcp://10.0.0.1:1\"]\n",
        );
        let order: Vec<_> = findings.iter().map(|f| (f.severity, f.socket)).collect();
        assert_eq!(
            order,
            vec![
                (Severity::High, Some(1)),
                (Severity::Medium, Some(0)),
                (Severity::Low, None)
            ]
        );
        assert!(Severity::High > Severity::Low);
        assert_eq!("medium".parse::<Severity>().unwrap(), Severity::Medium);
        assert!("severe".parse::<Severity>().is_err());
    }

    #[test]
    fn hand_built_bad_endpoint() {
        let mut spec = SocketSpec::new(SocketType::Pair);
        spec.connect.push("udp://x:1".into());
        let deployment = Deployment {
            runtime: Config::default(),
            sockets: vec![spec],
        };
        let findings = deployment.audit();
        assert_eq!(findings.len(), 1);
        assert!(findings[0].message.contains("does not parse"));
    }

    #[test]
    fn bad_descriptions() {
        for (toml, expected) in [
            ("shard = 2", "unknown field `shard`"),
            ("shards = 0", "shards must be"),
            ("security_policy = \"strict\"", "unknown variant"),
            ("[[socket]]\nbind = []\n", "missing field `type`"),
            (
                "[[socket]]\ntype = \"fanout\"\n",
                "unknown socket type \"fanout\"",
            ),
            (
                "[[socket]]\ntype = \"pub\"\nmechansim = \"curve\"\n",
                "unknown field `mechansim`",
            ),
            (
                "[[socket]]\ntype = \"pub\"\nmechanism = \"gssapi\"\n",
                "unknown variant",
            ),
            (
                "[[socket]]\ntype = \"pub\"\nbind = [\"tcp://host\"]\n",
                "socket 0: invalid tcp address",
            ),
            (
                "[[socket]]\ntype = \"pub\"\ncurve_server = true\n",
                "needs mechanism = \"curve\"",
            ),
            (
                "[[socket]]\ntype = \"pub\"\nipc_mode = 0o77777\n",
                "not a file mode",
            ),
            ("[[socket]]\ntype = \"pub\"\nmax_msg_size = -1\n", "invalid"),
            ("[[socket", "invalid"),
        ] {
            let e = Deployment::from_toml(toml).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidConfig);
            assert!(e.to_string().contains(expected), "{toml:?}: {e}");
        }
        let e = Deployment::from_file("/nonexistent/deployment.toml").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
    }
}
