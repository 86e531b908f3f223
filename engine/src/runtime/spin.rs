//! How long a shard with nothing to do spins before it parks in the kernel.
//!
//! Parking is not free: on a virtual machine, waking a halted vCPU costs tens of microseconds of
//! latency and, measured here, more CPU time than a short spin would have. A shard that spins
//! until the next event arrives skips both, but a shard that spins while nothing comes wastes a
//! core. [`Spinner`] learns from the shard's own idle gaps (the time from running out of work to
//! the next work, however it came) how long a spin is worth: about twice the last gap while gaps
//! stay under the configured limit, nothing once a gap is longer. A request-reply exchange whose
//! peer answers within the limit is then caught by the spin, and an idle shard parks at once.
//!
//! The policy reads no clock: the shard loop measures the gaps and reports them.

use std::time::Duration;

use crate::config::Spin;

/// The shortest learnt spin: below it the spin loop's own overhead is most of the spin.
const ADAPTIVE_FLOOR: Duration = Duration::from_micros(2);

/// A shard's spin policy and, when adaptive, what it has learnt.
#[derive(Debug, Clone)]
pub(crate) struct Spinner {
    spin: Spin,
    /// The adaptive spin's current length (zero until a short gap has been seen).
    learnt: Duration,
}

impl Spinner {
    pub(crate) fn new(spin: Spin) -> Spinner {
        Spinner {
            spin,
            learnt: Duration::ZERO,
        }
    }

    /// How long to spin now, before parking.
    pub(crate) fn budget(&self) -> Duration {
        match self.spin {
            Spin::Never => Duration::ZERO,
            Spin::Fixed(d) => d,
            Spin::Adaptive { .. } => self.learnt,
        }
    }

    /// Between two looks for work while spinning. The adaptive spin yields the core, so that a
    /// thread waiting for it (an application thread this shard's peer is, on a machine with
    /// fewer cores than busy threads) runs instead of being kept out by the spin; the fixed
    /// busy-poll only relaxes the pipeline, as it always has.
    pub(crate) fn pause(&self) {
        match self.spin {
            Spin::Adaptive { .. } => std::thread::yield_now(),
            Spin::Never | Spin::Fixed(_) => std::hint::spin_loop(),
        }
    }

    /// Work came `idle_for` after the shard ran out of it (found while spinning, or the park
    /// returned). A gap within the limit sets the spin to twice the gap, shrinking at most by
    /// half per gap so that one quick answer does not cut the spin short of the usual one; a
    /// longer gap stops the spinning until a short one comes again.
    pub(crate) fn woke_after(&mut self, idle_for: Duration) {
        let Spin::Adaptive { max } = self.spin else {
            return;
        };
        self.learnt = if idle_for > max {
            Duration::ZERO
        } else {
            idle_for
                .saturating_mul(2)
                .max(self.learnt / 2)
                .clamp(ADAPTIVE_FLOOR, max)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn never_and_fixed_ignore_the_gaps() {
        let mut never = Spinner::new(Spin::Never);
        let mut fixed = Spinner::new(Spin::Fixed(us(50)));
        for gap in [us(1), us(10_000), us(3)] {
            never.woke_after(gap);
            fixed.woke_after(gap);
            assert_eq!(never.budget(), Duration::ZERO);
            assert_eq!(fixed.budget(), us(50));
        }
    }

    #[test]
    fn adaptive_starts_parked_and_learns_a_short_gap() {
        let mut s = Spinner::new(Spin::Adaptive { max: us(50) });
        assert_eq!(s.budget(), Duration::ZERO, "no spin before any gap is seen");
        s.woke_after(us(12));
        assert_eq!(s.budget(), us(24));
        s.woke_after(us(30));
        assert_eq!(s.budget(), us(50), "capped at the limit");
    }

    #[test]
    fn adaptive_shrinks_by_at_most_half_per_gap() {
        let mut s = Spinner::new(Spin::Adaptive { max: us(100) });
        s.woke_after(us(40));
        assert_eq!(s.budget(), us(80));
        s.woke_after(us(1));
        assert_eq!(s.budget(), us(40));
        s.woke_after(us(1));
        assert_eq!(s.budget(), us(20));
        for _ in 0..10 {
            s.woke_after(Duration::ZERO);
        }
        assert_eq!(
            s.budget(),
            ADAPTIVE_FLOOR,
            "never below the floor while gaps are short"
        );
    }

    #[test]
    fn adaptive_stops_spinning_after_a_long_gap_and_relearns() {
        let mut s = Spinner::new(Spin::Adaptive { max: us(50) });
        s.woke_after(us(10));
        assert_eq!(s.budget(), us(20));
        s.woke_after(us(51));
        assert_eq!(s.budget(), Duration::ZERO, "an idle shard parks at once");
        s.woke_after(us(5));
        assert_eq!(s.budget(), us(10));
    }
}
