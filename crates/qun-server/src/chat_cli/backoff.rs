//! How long to wait before the next reconnection attempt.

use std::time::Duration;

/// The first wait after a connection is lost.
const FIRST: Duration = Duration::from_millis(500);
/// The longest wait: a server back after a long outage is found within this.
const LONGEST: Duration = Duration::from_secs(10);

/// Waits that double from [`FIRST`] to [`LONGEST`], each shortened by up to a quarter at
/// random, so that the clients of a restarted server do not all come back in the same
/// millisecond.
#[derive(Debug)]
pub(crate) struct Backoff {
    step: Duration,
}

impl Backoff {
    pub(crate) fn new() -> Backoff {
        Backoff { step: FIRST }
    }

    /// The wait before the next attempt; `random_unit` (in `[0, 1)`) sets the jitter.
    pub(crate) fn next_wait(&mut self, random_unit: f64) -> Duration {
        let wait = self.step.mul_f64(1.0 - 0.25 * random_unit.clamp(0.0, 1.0));
        self.step = (self.step * 2).min(LONGEST);
        wait
    }

    /// Connected again: the next loss starts from the first wait.
    pub(crate) fn reset(&mut self) {
        self.step = FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_ten_seconds_and_start_over_after_a_success() {
        let mut backoff = Backoff::new();
        let steps: Vec<u128> = (0..8).map(|_| backoff.next_wait(0.0).as_millis()).collect();
        assert_eq!(steps, [500, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000]);
        backoff.reset();
        assert_eq!(backoff.next_wait(0.0), FIRST);
    }

    #[test]
    fn jitter_shortens_a_wait_by_at_most_a_quarter() {
        let mut backoff = Backoff::new();
        assert_eq!(backoff.next_wait(0.999_999).as_millis(), 375);
        assert_eq!(backoff.next_wait(0.5).as_millis(), 875);
        // Out-of-range randomness cannot make a wait negative or longer.
        assert_eq!(backoff.next_wait(7.0).as_millis(), 1_500);
        assert_eq!(backoff.next_wait(-1.0).as_millis(), 4_000);
    }
}
