//! A per-connection inbound rate limit ([`super::options::RateLimit`]): a token bucket in messages
//! and one in bytes, each holding one second's worth. The connection reads only while both have
//! tokens; a read's messages are charged after it (a bucket may go into debt by one read, which
//! later reads wait out). Nothing received is ever dropped: the peer is slowed down by TCP's own
//! flow control once the kernel buffers fill. Pure: the caller passes the time in.

use std::time::{Duration, Instant};

use super::options::RateLimit;

/// One connection's buckets.
#[derive(Debug, Clone)]
pub(crate) struct Throttle {
    limit: RateLimit,
    messages: f64,
    bytes: f64,
    refilled: Instant,
}

impl Throttle {
    /// Full buckets at `now`.
    pub(crate) fn new(limit: RateLimit, now: Instant) -> Throttle {
        Throttle {
            messages: limit.messages_per_sec.map_or(0.0, |m| m as f64),
            bytes: limit.bytes_per_sec.map_or(0.0, |b| b as f64),
            limit,
            refilled: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        if let Some(rate) = self.limit.messages_per_sec {
            self.messages = (self.messages + elapsed * rate as f64).min(rate as f64);
        }
        if let Some(rate) = self.limit.bytes_per_sec {
            self.bytes = (self.bytes + elapsed * rate as f64).min(rate as f64);
        }
    }

    /// `None` when the connection may read now; otherwise how long until it may.
    pub(crate) fn wait(&mut self, now: Instant) -> Option<Duration> {
        self.refill(now);
        let until = |tokens: f64, rate: Option<u64>| match rate {
            Some(rate) if tokens <= 0.0 => {
                // Until the bucket holds a little more than nothing (a millisecond's worth), so a
                // connection in debt does not wake for every single token.
                let need = -tokens + rate as f64 / 1000.0;
                Some(Duration::from_secs_f64(need / rate as f64))
            }
            _ => None,
        };
        match (
            until(self.messages, self.limit.messages_per_sec),
            until(self.bytes, self.limit.bytes_per_sec),
        ) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// Charge what one read delivered.
    pub(crate) fn charge(&mut self, messages: u64, bytes: u64) {
        if self.limit.messages_per_sec.is_some() {
            self.messages -= messages as f64;
        }
        if self.limit.bytes_per_sec.is_some() {
            self.bytes -= bytes as f64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wait_once_a_second_worth_is_spent_and_resume_as_tokens_return() {
        let t0 = Instant::now();
        let limit = RateLimit {
            messages_per_sec: Some(100),
            bytes_per_sec: None,
        };
        let mut t = Throttle::new(limit, t0);
        assert_eq!(t.wait(t0), None);
        t.charge(100, 0);
        let wait = t.wait(t0).expect("the bucket is empty");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(20),
            "{wait:?}"
        );
        // A read that overshot (debt of 50 messages) waits half a second more.
        t.charge(50, 0);
        let wait = t.wait(t0).unwrap();
        assert!(wait >= Duration::from_millis(500), "{wait:?}");
        assert_eq!(t.wait(t0 + Duration::from_millis(520)), None);
        // Never more than a second's worth saved up.
        let mut t = Throttle::new(limit, t0);
        assert_eq!(t.wait(t0 + Duration::from_secs(60)), None);
        t.charge(101, 0);
        assert!(t.wait(t0 + Duration::from_secs(60)).is_some());
    }

    #[test]
    fn the_byte_bucket_and_the_message_bucket_both_apply() {
        let t0 = Instant::now();
        let mut t = Throttle::new(
            RateLimit {
                messages_per_sec: Some(1_000_000),
                bytes_per_sec: Some(1000),
            },
            t0,
        );
        t.charge(1, 2000);
        let wait = t.wait(t0).unwrap();
        assert!(wait >= Duration::from_secs(1), "{wait:?}");
    }
}
