//! Repeated warnings, logged once per interval with a count: during an outage every event and
//! every retry fails the same way, and a line per failure would bury everything else (a 60 s
//! broker outage once wrote 2,977 identical warnings for 1,000 events).

use std::time::{Duration, Instant};

/// Lets one occurrence through per interval and counts the rest.
#[derive(Debug)]
pub struct Throttle {
    every: Duration,
    last: Option<Instant>,
    held_back: u64,
}

impl Throttle {
    /// Lets the first occurrence through, then one per `every`.
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            last: None,
            held_back: 0,
        }
    }

    /// Records one occurrence; `Some(n)` when it should be logged now, `n` being how many
    /// occurrences since the last logged one were held back.
    pub fn hit(&mut self) -> Option<u64> {
        let now = Instant::now();
        match self.last {
            Some(last) if now.duration_since(last) < self.every => {
                self.held_back += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.held_back))
            }
        }
    }

    /// Forgets the interval, so the next occurrence (a new outage) is logged at once.
    pub fn reset(&mut self) {
        self.last = None;
        self.held_back = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_occurrence_per_interval_gets_through_with_the_count() {
        let mut throttle = Throttle::new(Duration::from_secs(3600));
        assert_eq!(throttle.hit(), Some(0));
        assert_eq!(throttle.hit(), None);
        assert_eq!(throttle.hit(), None);
        throttle.last = Some(Instant::now() - Duration::from_secs(3601));
        assert_eq!(throttle.hit(), Some(2));
        throttle.reset();
        assert_eq!(throttle.hit(), Some(0));
    }
}
