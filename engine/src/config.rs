//! Runtime configuration: shard count, core pinning, the I/O backend and the park policy, from
//! code, a TOML file or the environment (`RINGMQ_SHARDS`, `RINGMQ_CORES`, `RINGMQ_BUSY_POLL_US`,
//! `RINGMQ_BACKEND`).

use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, ErrorKind};

/// Which I/O backend the shards run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// io_uring where it works here, else epoll, decided once per runtime with one `info` log line
    /// naming the cause. The `RINGMQ_BACKEND` environment variable, when set, decides instead, so
    /// an operator can pin the backend of a program built with the default configuration.
    #[default]
    Auto,
    /// io_uring only: starting fails with [`crate::ErrorKind::BackendUnavailable`] where it is
    /// forbidden (a seccomp profile, `kernel.io_uring_disabled`) or missing.
    #[serde(alias = "io_uring", alias = "uring")]
    IoUring,
    /// epoll over non-blocking sockets: runs on any Linux and under any container profile.
    Epoll,
}

impl Backend {
    /// The name used in the TOML file, `RINGMQ_BACKEND` and reports: `auto`, `io-uring`, `epoll`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Auto => "auto",
            Backend::IoUring => "io-uring",
            Backend::Epoll => "epoll",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Backend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Backend, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Backend::Auto),
            "io-uring" | "io_uring" | "iouring" | "uring" => Ok(Backend::IoUring),
            "epoll" => Ok(Backend::Epoll),
            other => Err(Error::new(
                ErrorKind::InvalidConfig,
                format!("unknown backend {other:?}: expected auto, io-uring or epoll"),
            )),
        }
    }
}

/// Settings of the io_uring backend (ignored on epoll).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IoUringSettings {
    /// Entries of each shard's submission queue: a power of two in 8..=32768. Default 1024.
    pub ring_entries: u32,
}

impl Default for IoUringSettings {
    fn default() -> Self {
        IoUringSettings { ring_entries: 1024 }
    }
}

/// How a [`crate::Runtime`] is laid out on the machine.
///
/// In TOML every field sits at the top level and the io_uring settings in an `[io_uring]` table;
/// the top-level `ring_entries` of earlier versions is still read (into `io_uring`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawConfig")]
pub struct Config {
    /// Number of shards (threads, one I/O driver each). Default 1.
    pub shards: usize,
    /// Cores to pin shard `i` to (`cores[i % len]`). Empty: no pinning.
    pub cores: Vec<usize>,
    /// How long a shard spins looking for work before it parks in the kernel, in microseconds.
    /// 0 (default) parks at once; higher trades CPU for latency.
    pub busy_poll_us: u64,
    /// The most a shard spins before parking when it learns how long to spin from its own idle
    /// gaps, in microseconds; 0 turns the learning off. A shard with nothing to do
    /// spins for about twice the time its last gap lasted, when that gap was at most this long,
    /// and parks at once while its gaps are longer: a request-reply exchange whose peer answers
    /// within the limit is caught without the kernel's wake-up, and an idle shard spends
    /// nothing. While it spins the shard yields its core to any other thread that wants it.
    /// Ignored when `busy_poll_us` is set (a fixed spin). Default
    /// [`DEFAULT_ADAPTIVE_SPIN_US`]; 0 parks at once, as earlier versions did.
    pub adaptive_spin_us: u64,
    /// The I/O backend. Default [`Backend::Auto`].
    pub backend: Backend,
    /// Settings that only the io_uring backend reads.
    pub io_uring: IoUringSettings,
    /// Runtime-wide security policy: `require-curve` refuses every tcp bind or connect that is
    /// not CURVE, whatever the socket's own policy says.
    pub security_policy: crate::security::SecurityPolicy,
    /// Most bytes of received messages the whole runtime holds for the application (every
    /// socket's receive queues together). Past it, a connection whose socket already holds
    /// messages from that peer stops reading until the application takes some, so memory stays
    /// bounded however many peers connect (each peer's `rcvhwm` only bounds that peer). It may
    /// be passed by at most one read (64 KiB) per connection that held nothing. `None`: no
    /// budget. Default 1 GiB; in TOML `inbound_budget_bytes` (0: none).
    pub inbound_budget_bytes: Option<u64>,
}

/// How a shard with nothing to do spins before it parks in the kernel ([`Config::spin`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spin {
    /// Park at once.
    Never,
    /// Spin this long every time ([`Config::busy_poll_us`]).
    Fixed(Duration),
    /// Spin for what the shard's recent idle gaps suggest, never longer than `max`
    /// ([`Config::adaptive_spin_us`]).
    Adaptive {
        /// The longest spin.
        max: Duration,
    },
}

/// [`Config::adaptive_spin_us`]'s default: longer than a parked shard's wake-up on the virtual
/// machines measured (about 40 us each way), so that a request-reply exchange learns to spin.
pub const DEFAULT_ADAPTIVE_SPIN_US: u64 = 100;

/// [`Config::inbound_budget_bytes`]'s default.
pub const DEFAULT_INBOUND_BUDGET_BYTES: u64 = 1 << 30;

impl Default for Config {
    fn default() -> Self {
        Config {
            shards: 1,
            cores: Vec::new(),
            busy_poll_us: 0,
            adaptive_spin_us: DEFAULT_ADAPTIVE_SPIN_US,
            backend: Backend::Auto,
            io_uring: IoUringSettings::default(),
            security_policy: crate::security::SecurityPolicy::Permissive,
            inbound_budget_bytes: Some(DEFAULT_INBOUND_BUDGET_BYTES),
        }
    }
}

/// The TOML shape of a [`Config`]: its fields, plus the legacy top-level `ring_entries`.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub(crate) shards: usize,
    pub(crate) cores: Vec<usize>,
    pub(crate) busy_poll_us: u64,
    pub(crate) adaptive_spin_us: u64,
    pub(crate) backend: Backend,
    pub(crate) io_uring: IoUringSettings,
    /// Before the io_uring settings had a table of their own.
    pub(crate) ring_entries: Option<u32>,
    pub(crate) security_policy: crate::security::SecurityPolicy,
    /// 0: no budget.
    pub(crate) inbound_budget_bytes: u64,
}

impl Default for RawConfig {
    fn default() -> Self {
        // Exhaustive on purpose: a field added to Config fails to compile here until it is
        // mirrored in RawConfig.
        let Config {
            shards,
            cores,
            busy_poll_us,
            adaptive_spin_us,
            backend,
            io_uring,
            security_policy,
            inbound_budget_bytes,
        } = Config::default();
        RawConfig {
            shards,
            cores,
            busy_poll_us,
            adaptive_spin_us,
            backend,
            io_uring,
            ring_entries: None,
            security_policy,
            inbound_budget_bytes: inbound_budget_bytes.unwrap_or(0),
        }
    }
}

impl RawConfig {
    pub(crate) fn into_config(self) -> Config {
        let mut io_uring = self.io_uring;
        if let Some(entries) = self.ring_entries {
            io_uring.ring_entries = entries;
        }
        Config {
            shards: self.shards,
            cores: self.cores,
            busy_poll_us: self.busy_poll_us,
            adaptive_spin_us: self.adaptive_spin_us,
            backend: self.backend,
            io_uring,
            security_policy: self.security_policy,
            inbound_budget_bytes: (self.inbound_budget_bytes > 0)
                .then_some(self.inbound_budget_bytes),
        }
    }
}

impl TryFrom<RawConfig> for Config {
    type Error = String;
    fn try_from(raw: RawConfig) -> Result<Config, String> {
        let config = raw.into_config();
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }
}

impl Config {
    /// Parse a TOML document such as
    /// ```toml
    /// shards = 2
    /// cores = [2, 3]
    /// busy_poll_us = 50
    /// ```
    pub fn from_toml(text: &str) -> Result<Config, Error> {
        let config: Config = toml::from_str(text)
            .map_err(|e| Error::new(ErrorKind::InvalidConfig, format!("invalid config: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    /// Read a TOML file (see [`Config::from_toml`]).
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Config, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::new(
                ErrorKind::InvalidConfig,
                format!("cannot read config {}: {e}", path.display()),
            )
        })?;
        Config::from_toml(&text)
    }

    /// Apply `RINGMQ_SHARDS`, `RINGMQ_CORES` (comma-separated core ids), `RINGMQ_BUSY_POLL_US`,
    /// `RINGMQ_ADAPTIVE_SPIN_US` and `RINGMQ_BACKEND` (`auto`, `io-uring` or `epoll`) from the
    /// environment on top of `self`.
    pub fn with_env(self) -> Result<Config, Error> {
        self.with_vars(|name| std::env::var(name).ok())
    }

    fn with_vars(mut self, var: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let bad = |name: &str, value: &str| {
            Error::new(
                ErrorKind::InvalidConfig,
                format!("{name}={value:?} is not valid"),
            )
        };
        if let Some(v) = var("RINGMQ_SHARDS") {
            self.shards = v.trim().parse().map_err(|_| bad("RINGMQ_SHARDS", &v))?;
        }
        if let Some(v) = var("RINGMQ_CORES") {
            self.cores = v
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.trim().parse::<usize>())
                .collect::<Result<_, _>>()
                .map_err(|_| bad("RINGMQ_CORES", &v))?;
        }
        if let Some(v) = var("RINGMQ_BUSY_POLL_US") {
            self.busy_poll_us = v
                .trim()
                .parse()
                .map_err(|_| bad("RINGMQ_BUSY_POLL_US", &v))?;
        }
        if let Some(v) = var("RINGMQ_ADAPTIVE_SPIN_US") {
            self.adaptive_spin_us = v
                .trim()
                .parse()
                .map_err(|_| bad("RINGMQ_ADAPTIVE_SPIN_US", &v))?;
        }
        if let Some(v) = var("RINGMQ_BACKEND") {
            if !v.trim().is_empty() {
                self.backend = v.parse().map_err(|_| bad("RINGMQ_BACKEND", &v))?;
            }
        }
        self.validate()?;
        Ok(self)
    }

    /// The busy-poll time as a duration.
    pub fn busy_poll(&self) -> Duration {
        Duration::from_micros(self.busy_poll_us)
    }

    /// How a shard spins before it parks: a fixed `busy_poll_us`, else the learnt spin up to
    /// `adaptive_spin_us`, else not at all.
    pub fn spin(&self) -> Spin {
        match (self.busy_poll_us, self.adaptive_spin_us) {
            (0, 0) => Spin::Never,
            (0, max) => Spin::Adaptive {
                max: Duration::from_micros(max),
            },
            (fixed, _) => Spin::Fixed(Duration::from_micros(fixed)),
        }
    }

    /// Check the values.
    pub fn validate(&self) -> Result<(), Error> {
        if self.shards == 0 || self.shards > 1024 {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                format!("shards must be 1..=1024, not {}", self.shards),
            ));
        }
        let entries = self.io_uring.ring_entries;
        if !entries.is_power_of_two() || !(8..=32768).contains(&entries) {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "io_uring.ring_entries must be a power of two in 8..=32768",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spin_policy_comes_from_busy_poll_or_adaptive_spin() {
        assert_eq!(
            Config::default().spin(),
            Spin::Adaptive {
                max: Duration::from_micros(DEFAULT_ADAPTIVE_SPIN_US)
            }
        );
        let c = Config::from_toml("adaptive_spin_us = 0\n").unwrap();
        assert_eq!(c.spin(), Spin::Never);
        let c = Config::from_toml("adaptive_spin_us = 40\n").unwrap();
        assert_eq!(
            c.spin(),
            Spin::Adaptive {
                max: Duration::from_micros(40)
            }
        );
        let c = Config::from_toml("adaptive_spin_us = 40\nbusy_poll_us = 7\n").unwrap();
        assert_eq!(
            c.spin(),
            Spin::Fixed(Duration::from_micros(7)),
            "a fixed spin wins"
        );
        let c = Config::default()
            .with_vars(|n| (n == "RINGMQ_ADAPTIVE_SPIN_US").then(|| "25".into()))
            .unwrap();
        assert_eq!(c.adaptive_spin_us, 25);
        assert!(Config::default()
            .with_vars(|n| (n == "RINGMQ_ADAPTIVE_SPIN_US").then(|| "soon".into()))
            .is_err());
    }

    #[test]
    fn toml_and_env() {
        let c = Config::from_toml("shards = 2\ncores = [2, 3]\nbusy_poll_us = 50\n").unwrap();
        assert_eq!(c.shards, 2);
        assert_eq!(c.cores, vec![2, 3]);
        assert_eq!(c.busy_poll(), Duration::from_micros(50));
        assert!(Config::from_toml("shard = 2").is_err());
        assert!(Config::from_toml("shards = 0").is_err());
        let c = Config::default()
            .with_vars(|n| match n {
                "RINGMQ_SHARDS" => Some("4".into()),
                "RINGMQ_CORES" => Some("2,3,4,5".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(c.shards, 4);
        assert_eq!(c.cores, vec![2, 3, 4, 5]);
        let e = Config::default()
            .with_vars(|n| (n == "RINGMQ_CORES").then(|| "x".into()))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
    }

    #[test]
    fn backend_from_toml_env_and_legacy_ring_entries() {
        assert_eq!(Config::default().backend, Backend::Auto);
        let c = Config::from_toml("backend = \"epoll\"\n[io_uring]\nring_entries = 256\n").unwrap();
        assert_eq!(c.backend, Backend::Epoll);
        assert_eq!(c.io_uring.ring_entries, 256);
        let c = Config::from_toml("backend = \"io-uring\"\nring_entries = 64\n").unwrap();
        assert_eq!(c.backend, Backend::IoUring);
        assert_eq!(
            c.io_uring.ring_entries, 64,
            "the legacy top-level name still works"
        );
        assert!(Config::from_toml("backend = \"kqueue\"").is_err());
        assert!(Config::from_toml("[io_uring]\nring_entries = 100").is_err());
        let c = Config::default()
            .with_vars(|n| (n == "RINGMQ_BACKEND").then(|| "io_uring".into()))
            .unwrap();
        assert_eq!(c.backend, Backend::IoUring);
        let e = Config::default()
            .with_vars(|n| (n == "RINGMQ_BACKEND").then(|| "select".into()))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        for b in [Backend::Auto, Backend::IoUring, Backend::Epoll] {
            assert_eq!(b.name().parse::<Backend>().unwrap(), b);
        }
    }
}
