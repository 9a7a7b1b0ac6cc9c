//! Wiring one service to the configured transport: its relay, and its consumer if it has one.
//! Both run under [`supervise`], so a panic in either is logged and the task starts again
//! instead of leaving the service without a relay or a consumer while it still answers RPCs.

use std::sync::Arc;

use ps_core::Shutdown;
use sea_orm::DatabaseConnection;
use tokio::task::JoinHandle;

use crate::consumer::{ConsumerRunner, EventHandler, Retry};
use crate::in_process::InProcessBus;
use crate::outbox::OutboxWaker;
use crate::rabbit::{RabbitConsumer, RabbitError, RabbitPublisher, RabbitSettings};
use crate::relay::{Publisher, Relay, RelaySettings};
use crate::status::EventsStatus;

/// How events travel between the services.
#[derive(Clone, Debug)]
pub enum EventTransport {
    /// All services in one process (the embedded default).
    InProcess(InProcessBus),
    /// Through a RabbitMQ broker (or cluster): every standalone service binary.
    RabbitMq(RabbitSettings),
}

/// Why a service's event machinery could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The broker could not be reached, or the topology not declared.
    #[error("event broker: {0}")]
    Broker(#[from] RabbitError),
}

/// A service's running event machinery.
pub struct EventsRuntime {
    waker: OutboxWaker,
    status: EventsStatus,
    dead_letters: crate::operations::DeadLetters,
    tasks: Vec<JoinHandle<()>>,
}

impl EventsRuntime {
    /// Starts the relay for `db`'s outbox (woken by `waker` after commits) and, when `handler`
    /// is given, the consumer. Returns once the transport is up.
    pub async fn start(
        service: &'static str,
        transport: &EventTransport,
        db: DatabaseConnection,
        waker: OutboxWaker,
        handler: Option<Arc<dyn EventHandler>>,
        settings: RelaySettings,
        shutdown: Shutdown,
    ) -> Result<Self, StartError> {
        let runner = handler.map(|h| ConsumerRunner::new(h, Retry::default()));
        let status = EventsStatus::new(runner.is_some());
        let mut tasks = Vec::new();
        let dead_letters = match transport {
            EventTransport::InProcess(_) => {
                crate::operations::DeadLetters::in_process(db.clone(), runner.clone())
            }
            EventTransport::RabbitMq(rabbit) => crate::operations::DeadLetters::rabbit(
                rabbit.clone(),
                runner.as_ref().map(ConsumerRunner::consumer),
            ),
        };
        let publisher: Arc<dyn Publisher> = match transport {
            EventTransport::InProcess(bus) => {
                if let Some(runner) = runner {
                    bus.subscribe(runner, db.clone(), status.clone());
                }
                Arc::new(bus.clone())
            }
            EventTransport::RabbitMq(rabbit) => {
                let publisher = RabbitPublisher::connect(rabbit.clone(), service).await?;
                if let Some(runner) = runner {
                    tasks.push(
                        RabbitConsumer::start(
                            rabbit.clone(),
                            runner,
                            status.clone(),
                            shutdown.clone(),
                        )
                        .await?,
                    );
                }
                Arc::new(publisher)
            }
        };
        tasks.push(tokio::spawn(observe(
            service,
            db.clone(),
            publisher.clone(),
            status.clone(),
            shutdown.clone(),
        )));
        let relay = Relay {
            service,
            db,
            publisher,
            waker: waker.clone(),
            settings,
            status: status.clone(),
        };
        tasks.push(tokio::spawn(supervise(
            service,
            "relay",
            shutdown.clone(),
            move |shutdown| relay.clone().run(shutdown),
        )));
        Ok(Self {
            waker,
            status,
            dead_letters,
            tasks,
        })
    }

    /// The consumer's dead letters, for operators.
    pub fn dead_letters(&self) -> crate::operations::DeadLetters {
        self.dead_letters.clone()
    }

    /// The consumer's and relay's state, for health and metrics.
    pub fn status(&self) -> EventsStatus {
        self.status.clone()
    }

    /// Call after committing a transaction that enqueued events.
    pub fn waker(&self) -> OutboxWaker {
        self.waker.clone()
    }

    /// Waits for the relay and consumer to stop (after shutdown was triggered).
    pub async fn join(self) {
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Runs `task` until it returns (it returns on shutdown); a panic is logged and the task
/// started again after a second, so no bug leaves a service without its relay or consumer.
pub async fn supervise<F, Fut>(
    service: &'static str,
    what: &'static str,
    shutdown: Shutdown,
    mut task: F,
) where
    F: FnMut(Shutdown) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        match tokio::spawn(task(shutdown.clone())).await {
            Ok(()) => return,
            Err(err) if err.is_panic() => {
                tracing::error!(service, task = what, "task panicked; restarting it");
            }
            Err(_) => return,
        }
        if shutdown.is_triggered() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = shutdown.clone().wait() => return,
        }
    }
}

/// How often the backlog, pool and transport gauges are refreshed.
const OBSERVE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// The backlog takes two counting queries: refreshed every this many rounds.
const BACKLOG_EVERY: u32 = 5;

/// Keeps the service's outbox backlog, database pool and transport gauges current until
/// shutdown, and notices a publisher whose connection dropped between publishes.
async fn observe(
    service: &'static str,
    db: DatabaseConnection,
    publisher: Arc<dyn Publisher>,
    status: EventsStatus,
    shutdown: Shutdown,
) {
    let metrics = ps_telemetry::metrics();
    let mut round: u32 = 0;
    loop {
        status.set_publisher(publisher.check().await);
        let health = status.health();
        metrics
            .publisher_connected
            .with_label_values(&[service])
            .set(i64::from(health.publisher));
        if health.consumer.is_some() {
            metrics
                .consumer_idle_seconds
                .with_label_values(&[service])
                .set(status.since_last_handled().as_secs_f64());
        }
        round = round.wrapping_add(1);
        if round % BACKLOG_EVERY != 1 {
            tokio::select! {
                _ = tokio::time::sleep(OBSERVE_EVERY) => {}
                _ = shutdown.clone().wait() => return,
            }
            continue;
        }
        if let Err(err) = Relay::observe_backlog(service, &db).await {
            tracing::debug!(service, error = %err, "reading the outbox backlog failed");
        }
        let pool = ps_db::pool_state(&db);
        let gauges = &ps_telemetry::metrics().db_pool;
        gauges
            .with_label_values(&[service, "in_use"])
            .set(i64::from(pool.size.saturating_sub(pool.idle)));
        gauges
            .with_label_values(&[service, "idle"])
            .set(i64::from(pool.idle));
        gauges
            .with_label_values(&[service, "max"])
            .set(i64::from(pool.max));
        tokio::select! {
            _ = tokio::time::sleep(OBSERVE_EVERY) => {}
            _ = shutdown.clone().wait() => return,
        }
    }
}
