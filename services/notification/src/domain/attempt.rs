//! How a sending attempt went and what follows from it: the retry and give-up rules.

use std::time::Duration;

use uuid::Uuid;

/// When identity cannot be reached for a link, the e-mail waits this long; it does not count
/// as a failed attempt (the e-mail is not at fault, and an outage must not use up its attempts).
pub const IDENTITY_RETRY: Duration = Duration::from_secs(3);

/// The longest wait between two attempts, however many failed before.
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// How one sending attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Sent, with the id of the link it carried (if any).
    Sent { link: Option<Uuid> },
    /// The transport failed; another attempt may succeed.
    Failed { error: String, link: Option<Uuid> },
    /// Identity could not be reached for the link: wait, without using up an attempt.
    Deferred(String),
    /// It can never be sent (identity refused the link, the stored mail is unreadable).
    Refused(String),
}

/// What to record after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Sent: `attempts` in all, `link` the one it carried.
    Sent { attempts: u32, link: Option<Uuid> },
    /// No link yet: try again after `wait`, the attempts unchanged.
    Deferred { reason: String, wait: Duration },
    /// Not sent: try again after `wait`; `link` is the one this attempt minted (if any).
    Retry {
        attempts: u32,
        error: String,
        link: Option<Uuid>,
        wait: Duration,
    },
    /// Never to be sent: the delivery fails, `link` (if any) is the last one minted for it,
    /// to be voided.
    GiveUp {
        attempts: u32,
        error: String,
        link: Option<Uuid>,
    },
}

/// How often, and how patiently, an e-mail is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Counted attempts before giving up (at least 1).
    max_attempts: u32,
    /// The wait after the first failed attempt; it doubles after each further one.
    retry_delay: Duration,
}

impl RetryPolicy {
    /// `max_attempts` of 0 counts as 1: every e-mail is tried once.
    pub fn new(max_attempts: u32, retry_delay: Duration) -> Self {
        Self {
            max_attempts: max_attempts.max(1),
            retry_delay,
        }
    }

    /// The wait after the `attempts`-th failed attempt: the retry delay, doubled for each
    /// failed attempt before it, at most 10 minutes.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(16);
        self.retry_delay
            .saturating_mul(1 << doublings)
            .min(MAX_BACKOFF)
    }

    /// What follows from `attempt` for an e-mail that had `previous` counted attempts.
    pub fn decide(&self, previous: u32, attempt: Attempt) -> Outcome {
        let attempts = previous.saturating_add(1);
        match attempt {
            Attempt::Sent { link } => Outcome::Sent { attempts, link },
            Attempt::Deferred(reason) => Outcome::Deferred {
                reason,
                wait: IDENTITY_RETRY,
            },
            Attempt::Failed { error, link } if attempts < self.max_attempts => Outcome::Retry {
                attempts,
                error,
                link,
                wait: self.backoff(attempts),
            },
            Attempt::Failed { error, link } => Outcome::GiveUp {
                attempts,
                error,
                link,
            },
            // Not an attempt at sending: it does not count.
            Attempt::Refused(error) => Outcome::GiveUp {
                attempts: previous,
                error,
                link: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn the_wait_doubles_after_each_failure_up_to_ten_minutes() {
        let policy = RetryPolicy::new(100, 2 * SECOND);
        let cases = [
            (0, 2),
            (1, 2),
            (2, 4),
            (3, 8),
            (4, 16),
            (8, 256),
            (9, 512),
            (10, 600),
            (17, 600),
            (40, 600),
            (u32::MAX, 600),
        ];
        for (attempts, seconds) in cases {
            assert_eq!(
                policy.backoff(attempts),
                seconds * SECOND,
                "after {attempts} attempts"
            );
        }
        let huge = RetryPolicy::new(3, Duration::MAX);
        assert_eq!(huge.backoff(5), MAX_BACKOFF);
    }

    #[test]
    fn each_attempt_leads_to_its_outcome() {
        let policy = RetryPolicy::new(3, 2 * SECOND);
        let link = Some(Uuid::now_v7());
        let failed = |error: &str| Attempt::Failed {
            error: error.into(),
            link,
        };
        let cases = [
            (
                0,
                Attempt::Sent { link },
                Outcome::Sent { attempts: 1, link },
            ),
            (
                2,
                Attempt::Sent { link: None },
                Outcome::Sent {
                    attempts: 3,
                    link: None,
                },
            ),
            (
                1,
                Attempt::Deferred("identity down".into()),
                Outcome::Deferred {
                    reason: "identity down".into(),
                    wait: IDENTITY_RETRY,
                },
            ),
            (
                0,
                failed("smtp: busy"),
                Outcome::Retry {
                    attempts: 1,
                    error: "smtp: busy".into(),
                    link,
                    wait: 2 * SECOND,
                },
            ),
            (
                1,
                failed("smtp: busy"),
                Outcome::Retry {
                    attempts: 2,
                    error: "smtp: busy".into(),
                    link,
                    wait: 4 * SECOND,
                },
            ),
            (
                2,
                failed("smtp: busy"),
                Outcome::GiveUp {
                    attempts: 3,
                    error: "smtp: busy".into(),
                    link,
                },
            ),
            (
                1,
                Attempt::Refused("unknown role".into()),
                Outcome::GiveUp {
                    attempts: 1,
                    error: "unknown role".into(),
                    link: None,
                },
            ),
        ];
        for (previous, attempt, expected) in cases {
            let described = format!("{attempt:?} after {previous}");
            assert_eq!(policy.decide(previous, attempt), expected, "{described}");
        }
    }

    #[test]
    fn at_least_one_attempt_is_made() {
        let policy = RetryPolicy::new(0, SECOND);
        let outcome = policy.decide(
            0,
            Attempt::Failed {
                error: "smtp: refused".into(),
                link: None,
            },
        );
        assert_eq!(
            outcome,
            Outcome::GiveUp {
                attempts: 1,
                error: "smtp: refused".into(),
                link: None,
            }
        );
    }
}
