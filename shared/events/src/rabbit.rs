//! The production transport: RabbitMQ through lapin.
//!
//! Publishing: a durable topic exchange, persistent messages (delivery mode 2), `mandatory` so
//! an unroutable event comes back instead of vanishing, and publisher confirms awaited with a
//! timeout; only an ack without a returned message counts as published.
//!
//! Consuming: one durable queue per consuming service with a dead-letter exchange and queue,
//! bounded prefetch, up to `concurrency` deliveries handled at once (each acknowledged after its
//! handler's transaction committed, in whatever order they finish). A dropped
//! connection ends the stream with an error; the consumer reconnects with backoff and
//! resubscribes, and the broker redelivers whatever was unacknowledged.

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};
use ps_core::Shutdown;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tracing::{info, warn};

use crate::consumer::{ConsumerRunner, Outcome};
use crate::relay::{OutgoingEvent, PublishError, Publisher};
use crate::topology::{ConsumerName, Names};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RabbitSettings {
    /// `amqp://user:password@host:5672/vhost` (`%2f` is the default vhost).
    pub url: String,
    /// Topic exchange for events; queue names derive from it.
    #[serde(default = "default_exchange")]
    pub exchange: String,
    /// Unacknowledged deliveries a consumer holds at once.
    #[serde(default = "default_prefetch")]
    pub prefetch: u16,
    /// Bound on every connect, declare and confirm wait.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Deliveries a consumer handles at once (at most `prefetch`). Handlers are idempotent and
    /// tolerate reordering — they must anyway, since replicas of a service compete for one
    /// queue — so one slow event (a long handover, a retry wait) does not hold up the others.
    #[serde(default = "default_concurrency")]
    pub concurrency: u16,
}

fn default_exchange() -> String {
    "practice.events".into()
}
fn default_prefetch() -> u16 {
    64
}
fn default_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_concurrency() -> u16 {
    8
}

impl RabbitSettings {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            exchange: default_exchange(),
            prefetch: default_prefetch(),
            timeout: default_timeout(),
            concurrency: default_concurrency(),
        }
    }

    pub fn names(&self) -> Names {
        Names::new(self.exchange.clone())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RabbitError {
    #[error("amqp: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("timed out: {0}")]
    Timeout(&'static str),
    #[error("connection closed")]
    Closed,
}

async fn bounded<T>(
    what: &'static str,
    limit: Duration,
    future: impl Future<Output = lapin::Result<T>>,
) -> Result<T, RabbitError> {
    tokio::time::timeout(limit, future)
        .await
        .map_err(|_| RabbitError::Timeout(what))?
        .map_err(RabbitError::from)
}

async fn connect(settings: &RabbitSettings, name: &str) -> Result<Connection, RabbitError> {
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    bounded(
        "connect",
        settings.timeout,
        Connection::connect(&settings.url, properties),
    )
    .await
}

fn durable_exchange() -> ExchangeDeclareOptions {
    ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    }
}

fn durable_queue() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

/// Declares every exchange, queue and binding of [`crate::topology`]; idempotent.
pub async fn declare_topology(
    channel: &Channel,
    settings: &RabbitSettings,
) -> Result<(), RabbitError> {
    let names = settings.names();
    let limit = settings.timeout;
    let dlx = names.dead_letter_exchange();
    bounded(
        "declare exchange",
        limit,
        channel.exchange_declare(
            names.exchange().into(),
            ExchangeKind::Topic,
            durable_exchange(),
            FieldTable::default(),
        ),
    )
    .await?;
    bounded(
        "declare dead-letter exchange",
        limit,
        channel.exchange_declare(
            dlx.as_str().into(),
            ExchangeKind::Direct,
            durable_exchange(),
            FieldTable::default(),
        ),
    )
    .await?;
    for consumer in ConsumerName::ALL {
        let queue = names.queue(consumer);
        let dead = names.dead_letter_queue(consumer);
        let mut arguments = FieldTable::default();
        arguments.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(dlx.as_str().into()),
        );
        arguments.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(queue.as_str().into()),
        );
        bounded(
            "declare queue",
            limit,
            channel.queue_declare(queue.as_str().into(), durable_queue(), arguments),
        )
        .await?;
        bounded(
            "declare dead-letter queue",
            limit,
            channel.queue_declare(dead.as_str().into(), durable_queue(), FieldTable::default()),
        )
        .await?;
        bounded(
            "bind dead-letter queue",
            limit,
            channel.queue_bind(
                dead.as_str().into(),
                dlx.as_str().into(),
                queue.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            ),
        )
        .await?;
        for event_type in consumer.bindings() {
            bounded(
                "bind queue",
                limit,
                channel.queue_bind(
                    queue.as_str().into(),
                    names.exchange().into(),
                    (*event_type).into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                ),
            )
            .await?;
        }
    }
    Ok(())
}

struct Link {
    connection: Connection,
    channel: Channel,
}

/// Publishes with confirms over one channel, reconnecting when it breaks.
pub struct RabbitPublisher {
    settings: RabbitSettings,
    connection_name: String,
    link: Mutex<Option<Link>>,
}

impl RabbitPublisher {
    /// Connects, enables confirms and declares the topology, so a service reports SERVING only
    /// with a working broker.
    pub async fn connect(settings: RabbitSettings, service: &str) -> Result<Self, RabbitError> {
        let connection_name = format!("{service}-publisher");
        let link = Self::open(&settings, &connection_name).await?;
        Ok(Self {
            settings,
            connection_name,
            link: Mutex::new(Some(link)),
        })
    }

    async fn open(settings: &RabbitSettings, name: &str) -> Result<Link, RabbitError> {
        let connection = connect(settings, name).await?;
        let channel = bounded(
            "open channel",
            settings.timeout,
            connection.create_channel(),
        )
        .await?;
        bounded(
            "confirm select",
            settings.timeout,
            channel.confirm_select(ConfirmSelectOptions::default()),
        )
        .await?;
        declare_topology(&channel, settings).await?;
        Ok(Link {
            connection,
            channel,
        })
    }

    fn properties(event: &OutgoingEvent) -> BasicProperties {
        let mut headers = FieldTable::default();
        for (name, value) in [
            ("traceparent", &event.trace.traceparent),
            ("tracestate", &event.trace.tracestate),
        ] {
            if !value.is_empty() {
                headers.insert(name.into(), AMQPValue::LongString(value.as_str().into()));
            }
        }
        BasicProperties::default()
            .with_headers(headers)
            .with_delivery_mode(2)
            .with_message_id(event.id.to_string().into())
            .with_type(event.event_type.as_str().into())
            .with_content_type("application/x-protobuf".into())
            .with_timestamp(chrono::Utc::now().timestamp().max(0) as u64)
    }
}

#[async_trait]
impl Publisher for RabbitPublisher {
    async fn publish(
        &self,
        events: &[OutgoingEvent],
        _shutdown: &Shutdown,
    ) -> Vec<Result<(), PublishError>> {
        let mut guard = self.link.lock().await;
        let healthy = guard
            .as_ref()
            .is_some_and(|l| l.connection.status().connected() && l.channel.status().connected());
        if !healthy {
            if let Some(old) = guard.take() {
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    old.connection.close(0, "reconnecting".into()),
                )
                .await;
            }
            match Self::open(&self.settings, &self.connection_name).await {
                Ok(link) => {
                    info!(connection = %self.connection_name, "publisher reconnected");
                    *guard = Some(link);
                }
                Err(err) => {
                    let reason = err.to_string();
                    return events
                        .iter()
                        .map(|_| Err(PublishError::Unavailable(reason.clone())))
                        .collect();
                }
            }
        }
        let Some(link) = guard.as_ref() else {
            return events
                .iter()
                .map(|_| Err(PublishError::Unavailable("no channel".into())))
                .collect();
        };
        let exchange = self.settings.exchange.as_str();
        let mut pending = Vec::with_capacity(events.len());
        for event in events {
            let publish = link.channel.basic_publish(
                exchange.into(),
                event.event_type.as_str().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &event.payload,
                Self::properties(event),
            );
            pending.push(bounded("publish", self.settings.timeout, publish).await);
        }
        let mut results = Vec::with_capacity(events.len());
        let mut broken = false;
        for (event, sent) in events.iter().zip(pending) {
            let result = match sent {
                Err(err) => {
                    broken = true;
                    Err(PublishError::Unavailable(err.to_string()))
                }
                Ok(confirm) => match tokio::time::timeout(self.settings.timeout, confirm).await {
                    Err(_) => {
                        broken = true;
                        Err(PublishError::Unavailable("confirm timed out".into()))
                    }
                    Ok(Err(err)) => {
                        broken = true;
                        Err(PublishError::Unavailable(err.to_string()))
                    }
                    Ok(Ok(Confirmation::Ack(None))) => Ok(()),
                    Ok(Ok(Confirmation::Ack(Some(_)))) => {
                        Err(PublishError::NoRoute(event.event_type.clone()))
                    }
                    Ok(Ok(Confirmation::Nack(_))) => Err(PublishError::Refused),
                    // Only possible if confirm_select was skipped; never treat it as success.
                    Ok(Ok(Confirmation::NotRequested)) => {
                        broken = true;
                        Err(PublishError::Unavailable(
                            "publisher confirms are off".into(),
                        ))
                    }
                },
            };
            results.push(result);
        }
        if broken && let Some(old) = guard.take() {
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                old.connection.close(0, "broken".into()),
            )
            .await;
        }
        results
    }
}

/// Consumes one service's queue until shutdown, reconnecting as needed.
pub struct RabbitConsumer {
    settings: RabbitSettings,
    runner: ConsumerRunner,
}

impl RabbitConsumer {
    /// Subscribes and returns once the first subscription is live (or failed), then keeps
    /// consuming in the background until `shutdown`.
    pub async fn start(
        settings: RabbitSettings,
        runner: ConsumerRunner,
        shutdown: Shutdown,
    ) -> Result<tokio::task::JoinHandle<()>, RabbitError> {
        let consumer = Self { settings, runner };
        let first = consumer.subscribe().await?;
        Ok(tokio::spawn(consumer.run(Some(first), shutdown)))
    }

    async fn subscribe(&self) -> Result<(Connection, lapin::Consumer), RabbitError> {
        let consumer = self.runner.consumer();
        let connection =
            connect(&self.settings, &format!("{}-consumer", consumer.as_str())).await?;
        let channel = bounded(
            "open channel",
            self.settings.timeout,
            connection.create_channel(),
        )
        .await?;
        bounded(
            "qos",
            self.settings.timeout,
            channel.basic_qos(self.settings.prefetch, BasicQosOptions::default()),
        )
        .await?;
        declare_topology(&channel, &self.settings).await?;
        let queue = self.settings.names().queue(consumer);
        let stream = bounded(
            "consume",
            self.settings.timeout,
            channel.basic_consume(
                queue.as_str().into(),
                consumer.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            ),
        )
        .await?;
        Ok((connection, stream))
    }

    async fn run(self, mut current: Option<(Connection, lapin::Consumer)>, shutdown: Shutdown) {
        let consumer = self.runner.consumer().as_str();
        let mut backoff = Duration::from_millis(200);
        loop {
            let (connection, stream) = match current.take() {
                Some(pair) => pair,
                None => match self.subscribe().await {
                    Ok(pair) => {
                        info!(consumer, "consumer resubscribed");
                        backoff = Duration::from_millis(200);
                        pair
                    }
                    Err(err) => {
                        warn!(consumer, error = %err, "consumer cannot subscribe; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = shutdown.clone().wait() => return,
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(10));
                        continue;
                    }
                },
            };
            let ended = self.consume(stream, &shutdown).await;
            let _ =
                tokio::time::timeout(Duration::from_secs(2), connection.close(200, "bye".into()))
                    .await;
            match ended {
                Ok(()) => return,
                Err(err) => warn!(consumer, error = %err, "consumer stream ended; reconnecting"),
            }
        }
    }

    /// Ok when shutdown ended it, Err when the connection did. Up to `concurrency` deliveries
    /// are in hand at once; on shutdown the ones in hand finish (a handler waiting to retry
    /// stops and leaves its delivery unacknowledged, so the broker redelivers it).
    async fn consume(
        &self,
        mut stream: lapin::Consumer,
        shutdown: &Shutdown,
    ) -> Result<(), RabbitError> {
        let limit = usize::from(
            self.settings
                .concurrency
                .clamp(1, self.settings.prefetch.max(1)),
        );
        let mut in_hand = futures::stream::FuturesUnordered::new();
        let ended = loop {
            tokio::select! {
                next = stream.next(), if in_hand.len() < limit => match next {
                    None => break Err(RabbitError::Closed),
                    Some(Err(err)) => break Err(err.into()),
                    Some(Ok(delivery)) => in_hand.push(self.handle(delivery, shutdown)),
                },
                Some(handled) = in_hand.next(), if !in_hand.is_empty() => {
                    if let Err(err) = handled {
                        break Err(err);
                    }
                }
                _ = shutdown.clone().wait() => break Ok(()),
            }
        };
        while let Some(handled) = in_hand.next().await {
            if let Err(err) = handled {
                let consumer = self.runner.consumer().as_str();
                warn!(consumer, error = %err, "acknowledgement lost; the broker will redeliver");
            }
        }
        ended
    }

    /// Hands one delivery to the handler and settles it: ack when handled, reject to the
    /// dead-letter queue when it cannot be, nothing when shutdown interrupted it (closing the
    /// channel returns it to the queue).
    async fn handle(
        &self,
        delivery: lapin::message::Delivery,
        shutdown: &Shutdown,
    ) -> Result<(), RabbitError> {
        let trace = trace_headers(&delivery.properties);
        let acked = match self.runner.deliver(&delivery.data, &trace, shutdown).await {
            Outcome::Handled => delivery.acker.ack(BasicAckOptions::default()).await,
            Outcome::DeadLettered(_) => {
                delivery
                    .acker
                    .nack(BasicNackOptions {
                        requeue: false,
                        ..BasicNackOptions::default()
                    })
                    .await
            }
            Outcome::Interrupted => return Ok(()),
        };
        match acked {
            Ok(true) => Ok(()),
            Ok(false) => {
                let consumer = self.runner.consumer().as_str();
                warn!(
                    consumer,
                    "acknowledgement not sent (channel gone); the broker will redeliver"
                );
                Err(RabbitError::Closed)
            }
            Err(err) => Err(err.into()),
        }
    }
}

/// The W3C trace context in a delivery's AMQP headers (empty when absent).
fn trace_headers(properties: &BasicProperties) -> ps_telemetry::TraceContext {
    let header = |name: &str| {
        properties
            .headers()
            .as_ref()
            .and_then(|headers| headers.inner().get(name))
            .and_then(|value| match value {
                AMQPValue::LongString(s) => Some(s.to_string()),
                AMQPValue::ShortString(s) => Some(s.to_string()),
                _ => None,
            })
            .unwrap_or_default()
    };
    ps_telemetry::TraceContext {
        traceparent: header("traceparent"),
        tracestate: header("tracestate"),
    }
}
