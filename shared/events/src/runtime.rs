//! Wiring one service to the configured transport: its relay, and its consumer if it has one.

use std::sync::Arc;

use ps_core::Shutdown;
use sea_orm::DatabaseConnection;
use tokio::task::JoinHandle;

use crate::consumer::{ConsumerRunner, EventHandler, Retry};
use crate::in_process::InProcessBus;
use crate::outbox::OutboxWaker;
use crate::rabbit::{RabbitConsumer, RabbitError, RabbitPublisher, RabbitSettings};
use crate::relay::{Publisher, Relay, RelaySettings};

/// How events travel between the services.
#[derive(Clone, Debug)]
pub enum EventTransport {
    /// All services in one process (the embedded default).
    InProcess(InProcessBus),
    RabbitMq(RabbitSettings),
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("event broker: {0}")]
    Broker(#[from] RabbitError),
}

/// A service's running event machinery.
pub struct EventsRuntime {
    waker: OutboxWaker,
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
        let mut tasks = Vec::new();
        let publisher: Arc<dyn Publisher> = match transport {
            EventTransport::InProcess(bus) => {
                if let Some(runner) = runner {
                    bus.subscribe(runner, db.clone());
                }
                Arc::new(bus.clone())
            }
            EventTransport::RabbitMq(rabbit) => {
                let publisher = RabbitPublisher::connect(rabbit.clone(), service).await?;
                if let Some(runner) = runner {
                    tasks.push(
                        RabbitConsumer::start(rabbit.clone(), runner, shutdown.clone()).await?,
                    );
                }
                Arc::new(publisher)
            }
        };
        tasks.push(tokio::spawn(observe(service, db.clone(), shutdown.clone())));
        let relay = Relay {
            service,
            db,
            publisher,
            waker: waker.clone(),
            settings,
        };
        tasks.push(tokio::spawn(relay.run(shutdown)));
        Ok(Self { waker, tasks })
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

/// How often the backlog and pool gauges are refreshed.
const OBSERVE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Keeps the service's outbox backlog and database pool gauges current until shutdown.
async fn observe(service: &'static str, db: DatabaseConnection, shutdown: Shutdown) {
    loop {
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
