//! Runtime configuration: shard count, core pinning and the park policy, from code, a TOML file or
//! the environment (`RINGMQ_SHARDS`, `RINGMQ_CORES`, `RINGMQ_BUSY_POLL_US`).

use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, ErrorKind};

/// How a [`crate::Runtime`] is laid out on the machine.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Number of shards (threads, one io_uring each). Default 1.
    pub shards: usize,
    /// Cores to pin shard `i` to (`cores[i % len]`). Empty: no pinning.
    pub cores: Vec<usize>,
    /// How long a shard spins looking for work before it parks in the kernel, in microseconds.
    /// 0 (default) parks at once; higher trades CPU for latency.
    pub busy_poll_us: u64,
    /// Entries of each shard's submission queue. Default 1024.
    pub ring_entries: u32,
    /// Runtime-wide security policy: `require-curve` refuses every tcp bind or connect that is
    /// not CURVE, whatever the socket's own policy says.
    pub security_policy: crate::security::SecurityPolicy,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            shards: 1,
            cores: Vec::new(),
            busy_poll_us: 0,
            ring_entries: 1024,
            security_policy: crate::security::SecurityPolicy::Permissive,
        }
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

    /// Apply `RINGMQ_SHARDS`, `RINGMQ_CORES` (comma-separated core ids) and `RINGMQ_BUSY_POLL_US`
    /// from the environment on top of `self`.
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
        self.validate()?;
        Ok(self)
    }

    /// The busy-poll time as a duration.
    pub fn busy_poll(&self) -> Duration {
        Duration::from_micros(self.busy_poll_us)
    }

    /// Check the values.
    pub fn validate(&self) -> Result<(), Error> {
        if self.shards == 0 || self.shards > 1024 {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                format!("shards must be 1..=1024, not {}", self.shards),
            ));
        }
        if !self.ring_entries.is_power_of_two() || !(8..=32768).contains(&self.ring_entries) {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "ring_entries must be a power of two in 8..=32768",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
