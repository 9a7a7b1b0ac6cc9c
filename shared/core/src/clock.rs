//! Time is read through [`Clock`] so expiry and lockout can be tested by moving a clock.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, SubsecRound, Utc};

/// Source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// The current time (UTC).
    fn now(&self) -> DateTime<Utc>;
}

/// The clock a service and its tasks share.
pub type SharedClock = Arc<dyn Clock>;

/// Wall-clock time, truncated to microseconds so values round-trip through PostgreSQL.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

/// A clock that only moves when told to; tests share one with the services they start.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// Starts at `start`, truncated to microseconds.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start.trunc_subsecs(6)),
        }
    }

    /// Starts at the current wall-clock time.
    pub fn starting_now() -> Self {
        Self::new(Utc::now())
    }

    /// Moves the clock forward by `by` (backwards if negative).
    pub fn advance(&self, by: Duration) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }

    /// Moves the clock to `to`, truncated to microseconds.
    pub fn set(&self, to: DateTime<Utc>) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now = to.trunc_subsecs(6);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = Utc::now();
        let clock = ManualClock::new(start);
        let first = clock.now();
        assert_eq!(first, clock.now());
        clock.advance(Duration::days(8));
        assert_eq!(clock.now() - first, Duration::days(8));
    }
}
