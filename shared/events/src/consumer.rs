//! The consuming side, shared by both transports: decode, hand to the service's handler, retry
//! transient failures with backoff, give up on the rest.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ps_core::Shutdown;
use tracing::{Instrument, debug, warn};

use crate::codec;
use crate::event::Event;
use crate::topology::ConsumerName;

/// Why a handler could not apply an event.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Worth trying again (database busy, another service unreachable).
    #[error("retryable: {0}")]
    Retryable(String),
    /// Will fail the same way every time; the event is dead-lettered.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// A service's reaction to events. Implementations must be idempotent: apply each effect
/// through [`crate::inbox::apply_once`], which records the event id in the transaction that
/// applies it (and runs nothing for an id already recorded).
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    /// The consumer this handler is: its queue, and its name in the inbox.
    fn consumer(&self) -> ConsumerName;
    /// Applies `event`, once; an event of no interest to it is `Ok`.
    async fn handle(&self, event: Event) -> Result<(), HandleError>;
}

/// What became of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Applied (or recognised as already applied): acknowledge.
    Handled,
    /// Given up on, with the reason: route to the dead letters.
    DeadLettered(String),
    /// Shutdown began while retrying: leave it unacknowledged for redelivery.
    Interrupted,
}

/// Retry policy for transient failures.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Attempts in all, the first included, before the event is dead-lettered.
    pub attempts: u32,
    /// Wait after the first failure; each later wait doubles.
    pub first_delay: Duration,
    /// Longest wait between two attempts.
    pub max_delay: Duration,
    /// One attempt that takes longer than this (a hung connection, a stuck call) fails as
    /// retryable instead of holding its delivery, and a consumer slot, forever.
    pub attempt_timeout: Duration,
}

impl Default for Retry {
    /// Seven attempts, 0.2 s apart at first and doubling (about 13 s of waiting in all), each
    /// at most a minute.
    fn default() -> Self {
        Self {
            attempts: 7,
            first_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            attempt_timeout: Duration::from_secs(60),
        }
    }
}

/// Runs deliveries through a service's [`EventHandler`] with the [`Retry`] policy; both transports
/// use it.
#[derive(Clone)]
pub struct ConsumerRunner {
    handler: Arc<dyn EventHandler>,
    retry: Retry,
}

impl ConsumerRunner {
    /// Hands deliveries to `handler`, retrying as `retry` says.
    pub fn new(handler: Arc<dyn EventHandler>, retry: Retry) -> Self {
        Self { handler, retry }
    }

    /// The handler's consumer.
    pub fn consumer(&self) -> ConsumerName {
        self.handler.consumer()
    }

    /// Hands one delivery to the handler, in a consumer span that continues `trace` (the
    /// transport's headers) or else the trace the envelope carries.
    pub async fn deliver(
        &self,
        bytes: &[u8],
        trace: &ps_telemetry::TraceContext,
        shutdown: &Shutdown,
    ) -> Outcome {
        let consumer = self.consumer().as_str();
        let event = match codec::decode(bytes) {
            Ok(event) => event,
            Err(err) => {
                warn!(consumer, error = %err, "dead-lettering undecodable event");
                self.count("undecodable", "dead_lettered");
                return Outcome::DeadLettered(err.to_string());
            }
        };
        let span = tracing::info_span!(
            "event.handle",
            otel.name = %format!("handle {}", event.event_type()),
            otel.kind = "consumer",
            ps.service = consumer,
            event.id = %event.id,
            event.r#type = event.event_type(),
        );
        if trace.is_empty() {
            ps_telemetry::TraceContext {
                traceparent: event.traceparent.clone(),
                tracestate: event.tracestate.clone(),
            }
            .adopt(&span);
        } else {
            trace.adopt(&span);
        }
        let outcome = self.attempt(&event, shutdown).instrument(span).await;
        match &outcome {
            Outcome::Handled => self.count(event.event_type(), "handled"),
            Outcome::DeadLettered(_) => self.count(event.event_type(), "dead_lettered"),
            Outcome::Interrupted => {}
        }
        outcome
    }

    fn count(&self, event_type: &str, outcome: &str) {
        ps_telemetry::metrics()
            .events_consumed
            .with_label_values(&[self.consumer().as_str(), event_type, outcome])
            .inc();
    }

    async fn attempt(&self, event: &Event, shutdown: &Shutdown) -> Outcome {
        let consumer = self.consumer().as_str();
        let mut delay = self.retry.first_delay;
        for attempt in 1..=self.retry.attempts {
            let attempted = tokio::time::timeout(
                self.retry.attempt_timeout,
                self.handler.handle(event.clone()),
            )
            .await
            .unwrap_or_else(|_| {
                Err(HandleError::Retryable(format!(
                    "the handler took longer than {} s",
                    self.retry.attempt_timeout.as_secs()
                )))
            });
            match attempted {
                Ok(()) => {
                    debug!(consumer, event_id = %event.id, event_type = event.event_type(), "event handled");
                    return Outcome::Handled;
                }
                Err(HandleError::Permanent(reason)) => {
                    warn!(consumer, event_id = %event.id, event_type = event.event_type(), %reason, "dead-lettering event");
                    return Outcome::DeadLettered(reason);
                }
                Err(HandleError::Retryable(reason)) if attempt == self.retry.attempts => {
                    warn!(consumer, event_id = %event.id, event_type = event.event_type(), attempt, %reason, "giving up on event");
                    return Outcome::DeadLettered(format!(
                        "gave up after {attempt} attempts: {reason}"
                    ));
                }
                Err(HandleError::Retryable(reason)) => {
                    self.count(event.event_type(), "retried");
                    warn!(consumer, event_id = %event.id, event_type = event.event_type(), attempt, %reason, "event failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.clone().wait() => return Outcome::Interrupted,
                    }
                    delay = (delay * 2).min(self.retry.max_delay);
                }
            }
        }
        Outcome::Interrupted
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use ps_core::{PracticeId, StaffId, UserId};

    use super::*;
    use crate::event::{Actor, Payload, StaffLeft};

    /// A handler that answers from a script, one answer per call, and counts its calls.
    struct Scripted {
        answers: Mutex<VecDeque<Result<(), HandleError>>>,
        /// How long each call takes.
        takes: Duration,
        calls: Mutex<u32>,
    }

    impl Scripted {
        fn new(answers: Vec<Result<(), HandleError>>) -> Arc<Self> {
            Self::slow(answers, Duration::ZERO)
        }

        fn slow(answers: Vec<Result<(), HandleError>>, takes: Duration) -> Arc<Self> {
            Arc::new(Self {
                answers: Mutex::new(answers.into()),
                takes,
                calls: Mutex::new(0),
            })
        }

        fn calls(&self) -> u32 {
            *self.calls.lock().expect("calls")
        }
    }

    #[async_trait]
    impl EventHandler for Scripted {
        fn consumer(&self) -> ConsumerName {
            ConsumerName::Identity
        }

        async fn handle(&self, _event: Event) -> Result<(), HandleError> {
            *self.calls.lock().expect("calls") += 1;
            tokio::time::sleep(self.takes).await;
            let next = self.answers.lock().expect("answers").pop_front();
            next.unwrap_or(Ok(()))
        }
    }

    fn retry(attempts: u32) -> Retry {
        Retry {
            attempts,
            first_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            attempt_timeout: Duration::from_millis(200),
        }
    }

    fn removed() -> Vec<u8> {
        codec::encode(&Event::new(
            PracticeId::generate(),
            Actor::user(UserId::generate(), "Owner"),
            chrono::Utc::now(),
            Payload::StaffRemoved(StaffLeft {
                staff_id: StaffId::generate(),
                user_id: None,
            }),
        ))
    }

    fn transient() -> Result<(), HandleError> {
        Err(HandleError::Retryable("database busy".into()))
    }

    async fn deliver(handler: &Arc<Scripted>, retry: Retry, bytes: &[u8]) -> Outcome {
        let (_stop, shutdown) = Shutdown::new();
        ConsumerRunner::new(handler.clone(), retry)
            .deliver(bytes, &ps_telemetry::TraceContext::default(), &shutdown)
            .await
    }

    #[tokio::test]
    async fn transient_failures_are_retried_until_the_event_is_handled() {
        let handler = Scripted::new(vec![transient(), transient(), Ok(())]);
        assert_eq!(
            deliver(&handler, retry(5), &removed()).await,
            Outcome::Handled
        );
        assert_eq!(handler.calls(), 3);
    }

    #[tokio::test]
    async fn a_permanent_failure_is_dead_lettered_at_once_with_its_reason() {
        let handler = Scripted::new(vec![Err(HandleError::Permanent("no such practice".into()))]);
        assert_eq!(
            deliver(&handler, retry(5), &removed()).await,
            Outcome::DeadLettered("no such practice".into())
        );
        assert_eq!(handler.calls(), 1);
    }

    #[tokio::test]
    async fn the_last_attempt_gives_up_and_says_why() {
        let handler = Scripted::new(vec![transient(), transient(), transient()]);
        assert_eq!(
            deliver(&handler, retry(3), &removed()).await,
            Outcome::DeadLettered("gave up after 3 attempts: database busy".into())
        );
        assert_eq!(handler.calls(), 3);
    }

    #[tokio::test]
    async fn an_attempt_that_hangs_counts_as_a_transient_failure() {
        let handler = Scripted::slow(vec![], Duration::from_secs(5));
        let Outcome::DeadLettered(reason) = deliver(&handler, retry(2), &removed()).await else {
            panic!("a handler that never answers is given up on");
        };
        assert!(reason.contains("took longer than"), "{reason}");
        assert_eq!(handler.calls(), 2);
    }

    #[tokio::test]
    async fn shutdown_during_a_retry_wait_leaves_the_event_for_redelivery() {
        let handler = Scripted::new(vec![transient()]);
        let (stop, shutdown) = Shutdown::new();
        let mut slow = retry(5);
        slow.first_delay = Duration::from_secs(30);
        let runner = ConsumerRunner::new(handler.clone(), slow);
        let bytes = removed();
        let trace = ps_telemetry::TraceContext::default();
        let delivering = runner.deliver(&bytes, &trace, &shutdown);
        let (outcome, ()) = tokio::join!(delivering, async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            stop.trigger();
        });
        assert_eq!(outcome, Outcome::Interrupted);
        assert_eq!(handler.calls(), 1);
    }

    #[tokio::test]
    async fn undecodable_bytes_are_dead_lettered_without_reaching_the_handler() {
        let handler = Scripted::new(vec![]);
        let outcome = deliver(&handler, retry(5), b"\xff\xfe not an envelope").await;
        assert!(
            matches!(outcome, Outcome::DeadLettered(reason) if reason.starts_with("undecodable event"))
        );
        assert_eq!(handler.calls(), 0);
    }
}
