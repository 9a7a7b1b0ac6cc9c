//! The production transport: RabbitMQ through lapin.
//!
//! Publishing: a durable topic exchange, persistent messages (delivery mode 2), `mandatory` so
//! an unroutable event comes back instead of vanishing, and publisher confirms awaited with a
//! timeout; only an ack without a returned message counts as published.
//!
//! Consuming: one durable queue per consuming service with a dead-letter exchange and queue,
//! bounded prefetch, up to `concurrency` deliveries handled at once (each acknowledged after its
//! handler's transaction committed, in whatever order they finish).
//!
//! Supervision. A consumer never stays dead: it watches its subscription from every side it
//! can be lost on — the delivery stream ending or failing (the broker cancelled the consumer,
//! the connection dropped), the connection's error events, the connection and channel status
//! (checked every second), missed heartbeats (lapin fails the connection), and an
//! acknowledgement that cannot be sent (the channel is gone). Any of these ends the
//! subscription; the deliveries still in hand get a bounded time to finish (their effects
//! commit, their acks fail and the broker redelivers them), and the consumer reconnects with
//! backoff. Every AMQP await has a timeout, so no await can hold a reconnect back.
//!
//! Dead letters carry why: a delivery the handler gives up on is republished (with publisher
//! confirms) to the consumer's dead-letter queue with `x-ps-dead-reason`, `x-ps-dead-consumer`
//! and `x-ps-dead-at` headers, and only then acknowledged. [`redrive_dead_letters`] moves them
//! back once the cause is fixed.

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions,
    BasicQosOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::uri::AMQPUri;
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};
use ps_core::Shutdown;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tracing::{info, warn};

use crate::consumer::{ConsumerRunner, Outcome};
use crate::relay::{OutgoingEvent, PublishError, Publisher};
use crate::status::EventsStatus;
use crate::topology::{ConsumerName, Names};

/// How a service reaches RabbitMQ and declares its exchange and queues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RabbitSettings {
    /// `amqp://user:password@host:5672/vhost` (`%2f` is the default vhost); for a cluster, the
    /// URIs of its nodes separated by commas (`%2C` for a comma inside a password is safest).
    /// Each connection starts one node further along the list than the previous connection
    /// did and tries the others in turn, so connections spread over the nodes and a node
    /// that went away costs one refused attempt.
    pub url: String,
    /// `classic` (one node holds each queue: the embedded default and single-node brokers) or
    /// `quorum` (replicated over the cluster's nodes, for clusters). A queue cannot change
    /// type in place: see deploy/README.md for switching an existing deployment.
    #[serde(default)]
    pub queue_type: QueueType,
    /// Quorum queues only: deliveries of one message (redeliveries after a lost connection or a
    /// crashed consumer included) before the broker dead-letters it, at least once, to the
    /// consumer's dead-letter queue. Never dropped.
    #[serde(default = "default_delivery_limit")]
    pub delivery_limit: u32,
    /// Topic exchange for events; queue names derive from it.
    #[serde(default = "default_exchange")]
    pub exchange: String,
    /// Unacknowledged deliveries a consumer holds at once.
    #[serde(default = "default_prefetch")]
    pub prefetch: u16,
    /// Bound on every connect, declare, publish, confirm and acknowledgement wait.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Deliveries a consumer handles at once (at most `prefetch`). Handlers are idempotent and
    /// tolerate reordering — they must anyway, since replicas of a service compete for one
    /// queue — so one slow event (a long handover, a retry wait) does not hold up the others.
    #[serde(default = "default_concurrency")]
    pub concurrency: u16,
    /// AMQP heartbeat in seconds, unless the URL sets `?heartbeat=`: a connection that stops
    /// answering is declared dead after about two of them, even when no delivery flows.
    #[serde(default = "default_heartbeat")]
    pub heartbeat: u16,
}

/// How the consumer queues (and their dead-letter queues) are declared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueType {
    /// `classic`: one node holds each queue.
    #[default]
    Classic,
    /// `quorum`: each queue replicated over the cluster, with a delivery limit.
    Quorum,
}

fn default_delivery_limit() -> u32 {
    20
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
fn default_heartbeat() -> u16 {
    10
}

impl RabbitSettings {
    /// Settings for the broker at `url`, everything else at its default.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            queue_type: QueueType::default(),
            delivery_limit: default_delivery_limit(),
            exchange: default_exchange(),
            prefetch: default_prefetch(),
            timeout: default_timeout(),
            concurrency: default_concurrency(),
            heartbeat: default_heartbeat(),
        }
    }

    /// The exchange and queue names derived from [`RabbitSettings::exchange`].
    pub fn names(&self) -> Names {
        Names::new(self.exchange.clone())
    }

    /// The broker nodes [`url`](Self::url) names, in the order given
    /// ([`ps_config::url_list`]: a comma inside a password does not split its URI).
    pub fn nodes(&self) -> Vec<&str> {
        ps_config::url_list(&self.url)
            .into_iter()
            .map(|node| node.trim().trim_end_matches(',').trim())
            .filter(|node| !node.is_empty())
            .collect()
    }

    /// The arguments of a consumer's queue, whose dead letters go to `dead_letter_exchange`
    /// with the queue's own name as routing key.
    fn queue_arguments(&self, queue: &str, dead_letter_exchange: &str) -> FieldTable {
        let mut arguments = FieldTable::default();
        let mut text = |name: &str, value: &str| {
            arguments.insert(name.into(), AMQPValue::LongString(value.into()));
        };
        text("x-dead-letter-exchange", dead_letter_exchange);
        text("x-dead-letter-routing-key", queue);
        if self.queue_type == QueueType::Quorum {
            text("x-queue-type", "quorum");
            // Dead letters are kept until the dead-letter queue confirms them, which needs
            // publishers to be refused (not messages dropped) when a queue is full.
            text("x-dead-letter-strategy", "at-least-once");
            text("x-overflow", "reject-publish");
            arguments.insert(
                "x-delivery-limit".into(),
                AMQPValue::LongLongInt(i64::from(self.delivery_limit)),
            );
        }
        arguments
    }

    /// The arguments of a dead-letter queue.
    fn dead_letter_queue_arguments(&self) -> FieldTable {
        let mut arguments = FieldTable::default();
        if self.queue_type == QueueType::Quorum {
            arguments.insert(
                "x-queue-type".into(),
                AMQPValue::LongString("quorum".into()),
            );
        }
        arguments
    }
}

/// Why talking to the broker failed.
#[derive(Debug, thiserror::Error)]
pub enum RabbitError {
    /// The AMQP client failed.
    #[error("amqp: {0}")]
    Amqp(#[from] lapin::Error),
    /// A wait took longer than [`RabbitSettings::timeout`]; names what was awaited.
    #[error("timed out: {0}")]
    Timeout(&'static str),
    /// The connection closed.
    #[error("connection closed")]
    Closed,
    /// The subscription or channel was lost (cancelled, closed, an ack not sent).
    #[error("{0}")]
    Lost(String),
    /// A broker URL is missing or malformed.
    #[error("invalid broker url: {0}")]
    Url(String),
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

/// A channel in publisher-confirm mode: every publish on it is answered by the broker.
async fn confirming_channel(
    connection: &Connection,
    limit: Duration,
) -> Result<Channel, RabbitError> {
    let channel = bounded("open channel", limit, connection.create_channel()).await?;
    bounded(
        "confirm select",
        limit,
        channel.confirm_select(ConfirmSelectOptions::default()),
    )
    .await?;
    Ok(channel)
}

/// Where the next connection starts among the nodes (see [`RabbitSettings::url`]).
static NEXT_NODE: AtomicUsize = AtomicUsize::new(0);

/// Connects to one of the broker's nodes, each tried in turn (see [`RabbitSettings::url`]),
/// with the configured heartbeat (unless the URL chose one).
pub async fn connect(settings: &RabbitSettings, name: &str) -> Result<Connection, RabbitError> {
    let nodes = settings.nodes();
    if nodes.is_empty() {
        return Err(RabbitError::Url("no broker URL".into()));
    }
    let first = NEXT_NODE.fetch_add(1, Ordering::Relaxed);
    let mut failure = RabbitError::Closed;
    for attempt in 0..nodes.len() {
        let node = nodes[(first + attempt) % nodes.len()];
        let mut uri = AMQPUri::from_str(node).map_err(RabbitError::Url)?;
        if uri.query.heartbeat.is_none() {
            uri.query.heartbeat = Some(settings.heartbeat);
        }
        let (host, port) = (uri.authority.host.clone(), uri.authority.port);
        let properties = ConnectionProperties::default().with_connection_name(name.into());
        match bounded(
            "connect",
            settings.timeout,
            Connection::connect_uri(uri, properties),
        )
        .await
        {
            Ok(connection) => return Ok(connection),
            Err(err) => {
                if nodes.len() > 1 {
                    info!(connection = name, node = %format!("{host}:{port}"), error = %err, "broker node unreachable; trying the next");
                }
                failure = err;
            }
        }
    }
    Err(failure)
}

/// Closes a connection without waiting long for a broker that may be gone.
async fn close(connection: &Connection, reason: &str) {
    let _ =
        tokio::time::timeout(Duration::from_secs(1), connection.close(200, reason.into())).await;
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
        bounded(
            "declare queue",
            limit,
            channel.queue_declare(
                queue.as_str().into(),
                durable_queue(),
                settings.queue_arguments(&queue, &dlx),
            ),
        )
        .await?;
        bounded(
            "declare dead-letter queue",
            limit,
            channel.queue_declare(
                dead.as_str().into(),
                durable_queue(),
                settings.dead_letter_queue_arguments(),
            ),
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
                    event_type.into(),
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

impl Link {
    fn is_open(&self) -> bool {
        self.connection.status().connected() && self.channel.status().connected()
    }
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
        let channel = confirming_channel(&connection, settings.timeout).await?;
        declare_topology(&channel, settings).await?;
        Ok(Link {
            connection,
            channel,
        })
    }
}

/// Persistent, typed, with the trace context in the headers.
fn event_properties(event: &OutgoingEvent) -> BasicProperties {
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

/// Awaits a publish and its confirmation; `Ok` only for an ack without a returned message.
async fn confirmed(
    limit: Duration,
    event_type: &str,
    publish: impl Future<Output = lapin::Result<lapin::PublisherConfirm>>,
) -> Result<(), PublishError> {
    let confirm = bounded("publish", limit, publish)
        .await
        .map_err(|err| PublishError::Unavailable(err.to_string()))?;
    match tokio::time::timeout(limit, confirm).await {
        Err(_) => Err(PublishError::Unavailable("confirm timed out".into())),
        Ok(Err(err)) => Err(PublishError::Unavailable(err.to_string())),
        Ok(Ok(Confirmation::Ack(None))) => Ok(()),
        Ok(Ok(Confirmation::Ack(Some(_)))) => Err(PublishError::NoRoute(event_type.to_owned())),
        Ok(Ok(Confirmation::Nack(_))) => Err(PublishError::Refused),
        // Only possible if confirm_select was skipped; never treat it as success.
        Ok(Ok(Confirmation::NotRequested)) => Err(PublishError::Unavailable(
            "publisher confirms are off".into(),
        )),
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
        if !guard.as_ref().is_some_and(Link::is_open) {
            if let Some(old) = guard.take() {
                close(&old.connection, "reconnecting").await;
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
                event_properties(event),
            );
            // Sent one after another, confirmed together below.
            pending.push(bounded("publish", self.settings.timeout, publish).await);
        }
        let mut results = Vec::with_capacity(events.len());
        for (event, sent) in events.iter().zip(pending) {
            let result = match sent {
                Err(err) => Err(PublishError::Unavailable(err.to_string())),
                Ok(confirm) => {
                    confirmed(self.settings.timeout, &event.event_type, async {
                        Ok(confirm)
                    })
                    .await
                }
            };
            results.push(result);
        }
        let broken = results
            .iter()
            .any(|r| matches!(r, Err(PublishError::Unavailable(_))));
        if broken && let Some(old) = guard.take() {
            close(&old.connection, "broken").await;
        }
        results
    }

    async fn check(&self) -> bool {
        // Someone is publishing right now: the outcome of that publish will say.
        let Ok(mut guard) = self.link.try_lock() else {
            return true;
        };
        if guard.as_ref().is_some_and(Link::is_open) {
            return true;
        }
        if let Some(old) = guard.take() {
            close(&old.connection, "reconnecting").await;
        }
        match Self::open(&self.settings, &self.connection_name).await {
            Ok(link) => {
                info!(connection = %self.connection_name, "publisher reconnected");
                *guard = Some(link);
                true
            }
            Err(_) => false,
        }
    }
}

/// How long deliveries in hand may go on after their subscription ended (their effects commit;
/// their acknowledgements fail and the broker redelivers them), or after shutdown began,
/// before they are abandoned.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);
/// How often a live subscription checks its connection and channel status.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Why a subscription ended.
enum Ended {
    Shutdown,
    Lost(RabbitError),
}

/// One live subscription.
struct Subscription {
    connection: Connection,
    channel: Channel,
    deliveries: lapin::Consumer,
}

/// Consumes one service's queue until shutdown, reconnecting as needed (see the module docs).
#[derive(Clone)]
pub struct RabbitConsumer {
    settings: RabbitSettings,
    runner: ConsumerRunner,
    status: EventsStatus,
}

impl RabbitConsumer {
    /// Subscribes and returns once the first subscription is live (or failed), then keeps
    /// consuming in the background until `shutdown`.
    pub async fn start(
        settings: RabbitSettings,
        runner: ConsumerRunner,
        status: EventsStatus,
        shutdown: Shutdown,
    ) -> Result<tokio::task::JoinHandle<()>, RabbitError> {
        let consumer = Self {
            settings,
            runner,
            status,
        };
        let mut first = Some(consumer.subscribe().await?);
        let service = consumer.name();
        Ok(tokio::spawn(crate::runtime::supervise(
            service,
            "consumer",
            shutdown,
            move |shutdown| consumer.clone().run(first.take(), shutdown),
        )))
    }

    fn name(&self) -> &'static str {
        self.runner.consumer().as_str()
    }

    async fn subscribe(&self) -> Result<Subscription, RabbitError> {
        let consumer = self.runner.consumer();
        let connection =
            connect(&self.settings, &format!("{}-consumer", consumer.as_str())).await?;
        match self.open(&connection, consumer).await {
            Ok((channel, deliveries)) => Ok(Subscription {
                connection,
                channel,
                deliveries,
            }),
            Err(err) => {
                close(&connection, "subscription failed").await;
                Err(err)
            }
        }
    }

    async fn open(
        &self,
        connection: &Connection,
        consumer: ConsumerName,
    ) -> Result<(Channel, lapin::Consumer), RabbitError> {
        let limit = self.settings.timeout;
        // Dead letters are republished on this channel and must be confirmed before the
        // original is acknowledged.
        let channel = confirming_channel(connection, limit).await?;
        bounded(
            "qos",
            limit,
            channel.basic_qos(self.settings.prefetch, BasicQosOptions::default()),
        )
        .await?;
        declare_topology(&channel, &self.settings).await?;
        let queue = self.settings.names().queue(consumer);
        let deliveries = bounded(
            "consume",
            limit,
            channel.basic_consume(
                queue.as_str().into(),
                consumer.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            ),
        )
        .await?;
        Ok((channel, deliveries))
    }

    async fn run(self, mut current: Option<Subscription>, shutdown: Shutdown) {
        let consumer = self.name();
        let metrics = ps_telemetry::metrics();
        let connected = metrics.consumer_connected.with_label_values(&[consumer]);
        let mut backoff = Duration::from_millis(200);
        let mut failures = ps_telemetry::Throttle::new(Duration::from_secs(30));
        loop {
            let mut subscription = match current.take() {
                Some(subscription) => subscription,
                None => match self.subscribe().await {
                    Ok(subscription) => {
                        info!(consumer, "consumer resubscribed");
                        backoff = Duration::from_millis(200);
                        failures.reset();
                        subscription
                    }
                    Err(err) => {
                        if let Some(held_back) = failures.hit() {
                            warn!(consumer, error = %err, failed_attempts_not_logged = held_back, "consumer cannot subscribe; retrying");
                        }
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = shutdown.clone().wait() => return,
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(2));
                        continue;
                    }
                },
            };
            self.status.set_consumer(true);
            connected.set(1);
            let ended = self.consume(&mut subscription, &shutdown).await;
            self.status.set_consumer(false);
            connected.set(0);
            close(&subscription.connection, "bye").await;
            match ended {
                Ended::Shutdown => return,
                Ended::Lost(err) => {
                    warn!(consumer, error = %err, "consumer subscription lost; reconnecting");
                }
            }
        }
    }

    /// Handles deliveries until the subscription is lost or shutdown begins; then lets the
    /// deliveries in hand finish for at most [`DRAIN_LIMIT`].
    async fn consume(&self, subscription: &mut Subscription, shutdown: &Shutdown) -> Ended {
        let Subscription {
            connection,
            channel,
            deliveries,
        } = subscription;
        let limit = usize::from(
            self.settings
                .concurrency
                .clamp(1, self.settings.prefetch.max(1)),
        );
        let mut events = Box::pin(connection.events_listener());
        let mut watch = tokio::time::interval(WATCH_EVERY);
        let mut in_hand = futures::stream::FuturesUnordered::new();
        let ended = loop {
            tokio::select! {
                next = deliveries.next(), if in_hand.len() < limit => match next {
                    None => break Ended::Lost(RabbitError::Lost("the broker cancelled the consumer".into())),
                    Some(Err(err)) => break Ended::Lost(err.into()),
                    Some(Ok(delivery)) => in_hand.push(self.handle(channel, delivery, shutdown)),
                },
                Some(handled) = in_hand.next(), if !in_hand.is_empty() => {
                    if let Err(err) = handled {
                        break Ended::Lost(err);
                    }
                }
                Some(event) = events.next() => {
                    if let lapin::Event::Error(err) = event {
                        break Ended::Lost(err.into());
                    }
                }
                _ = watch.tick() => {
                    if !connection.status().connected() || !channel.status().connected()
                    {
                        break Ended::Lost(RabbitError::Lost("connection or channel closed".into()));
                    }
                }
                _ = shutdown.clone().wait() => break Ended::Shutdown,
            }
        };
        let drained = tokio::time::timeout(DRAIN_LIMIT, async {
            while let Some(handled) = in_hand.next().await {
                if let Err(err) = handled {
                    warn!(consumer = self.name(), error = %err, "acknowledgement lost; the broker will redeliver");
                }
            }
        })
        .await;
        if drained.is_err() {
            warn!(
                consumer = self.name(),
                abandoned = in_hand.len(),
                "deliveries still in hand after the drain limit; the broker will redeliver them"
            );
        }
        ended
    }

    /// Hands one delivery to the handler and settles it: ack when handled, to the dead-letter
    /// queue (with the reason) when it cannot be, nothing when shutdown interrupted it (closing
    /// the channel returns it to the queue).
    async fn handle(
        &self,
        channel: &Channel,
        delivery: lapin::message::Delivery,
        shutdown: &Shutdown,
    ) -> Result<(), RabbitError> {
        let trace = trace_headers(&delivery.properties);
        let limit = self.settings.timeout;
        match self.runner.deliver(&delivery.data, &trace, shutdown).await {
            Outcome::Handled => {
                self.status.handled();
                settled(bounded("ack", limit, delivery.acker.ack(BasicAckOptions::default())).await)
            }
            Outcome::DeadLettered(reason) => {
                let settle = if self.dead_letter(channel, &delivery, &reason).await.is_ok() {
                    bounded("ack", limit, delivery.acker.ack(BasicAckOptions::default())).await
                } else {
                    // Republishing failed: leave it to the broker's own dead-lettering (the
                    // queue's dead-letter exchange), without the reason.
                    let reject = BasicNackOptions {
                        requeue: false,
                        ..BasicNackOptions::default()
                    };
                    bounded("reject", limit, delivery.acker.nack(reject)).await
                };
                settled(settle)
            }
            Outcome::Interrupted => Ok(()),
        }
    }

    /// Republishes `delivery` to this consumer's dead-letter queue with why it died.
    async fn dead_letter(
        &self,
        channel: &Channel,
        delivery: &lapin::message::Delivery,
        reason: &str,
    ) -> Result<(), PublishError> {
        let names = self.settings.names();
        let consumer = self.runner.consumer();
        let mut headers = delivery.properties.headers().clone().unwrap_or_default();
        let mut reason = reason.to_owned();
        if reason.len() > 1000 {
            let mut end = 1000;
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason.truncate(end);
        }
        headers.insert(DEAD_REASON.into(), AMQPValue::LongString(reason.into()));
        headers.insert(
            DEAD_CONSUMER.into(),
            AMQPValue::LongString(consumer.as_str().into()),
        );
        headers.insert(
            DEAD_AT.into(),
            AMQPValue::LongString(chrono::Utc::now().to_rfc3339().into()),
        );
        headers.insert(
            DEAD_ROUTING_KEY.into(),
            AMQPValue::LongString(delivery.routing_key.as_str().into()),
        );
        let properties = delivery
            .properties
            .clone()
            .with_headers(headers)
            .with_delivery_mode(2);
        let exchange = names.dead_letter_exchange();
        let queue = names.queue(consumer);
        confirmed(
            self.settings.timeout,
            delivery.routing_key.as_str(),
            channel.basic_publish(
                exchange.as_str().into(),
                queue.as_str().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &delivery.data,
                properties,
            ),
        )
        .await?;
        warn!(
            consumer = consumer.as_str(),
            "delivery moved to the dead-letter queue"
        );
        Ok(())
    }
}

/// An acknowledgement's outcome: `Ok(false)` means the channel is gone (lapin does not treat
/// it as an error), which ends the subscription like any other failure.
fn settled(acked: Result<bool, RabbitError>) -> Result<(), RabbitError> {
    match acked {
        Ok(true) => Ok(()),
        Ok(false) => Err(RabbitError::Lost(
            "acknowledgement not sent (channel gone); the broker will redeliver".into(),
        )),
        Err(err) => Err(err),
    }
}

/// Headers of a dead letter: why it died, in which consumer, when, and where it was going.
pub const DEAD_REASON: &str = "x-ps-dead-reason";
/// The consumer that gave up.
pub const DEAD_CONSUMER: &str = "x-ps-dead-consumer";
/// When it gave up (RFC 3339, UTC).
pub const DEAD_AT: &str = "x-ps-dead-at";
/// The routing key it was delivered with.
pub const DEAD_ROUTING_KEY: &str = "x-ps-original-routing-key";

/// A dead letter as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The event's routing key (the message's `type`).
    pub event_type: String,
    /// The event's id (the message's `message-id`).
    pub event_id: String,
    /// Why the consumer gave up; empty when the broker itself dead-lettered it (delivery limit).
    pub reason: String,
    /// When it gave up (RFC 3339); empty when the broker itself dead-lettered it.
    pub dead_at: String,
}

fn header_text(properties: &BasicProperties, name: &str) -> String {
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
}

fn dead_letter_of(message: &lapin::message::BasicGetMessage) -> DeadLetter {
    let properties = &message.delivery.properties;
    let text = |v: &Option<ShortString>| v.as_ref().map(|s| s.to_string()).unwrap_or_default();
    DeadLetter {
        event_type: text(properties.kind()),
        event_id: text(properties.message_id()),
        reason: header_text(properties, DEAD_REASON),
        dead_at: header_text(properties, DEAD_AT),
    }
}

/// Up to `limit` dead letters of `consumer`, oldest first, left in their queue.
pub async fn list_dead_letters(
    settings: &RabbitSettings,
    consumer: ConsumerName,
    limit: usize,
) -> Result<Vec<DeadLetter>, RabbitError> {
    let connection = connect(settings, &format!("{}-dead-letters", consumer.as_str())).await?;
    let listed = async {
        let channel = bounded(
            "open channel",
            settings.timeout,
            connection.create_channel(),
        )
        .await?;
        let queue = settings.names().dead_letter_queue(consumer);
        let mut found = Vec::new();
        while found.len() < limit {
            let got = bounded(
                "get",
                settings.timeout,
                channel.basic_get(queue.as_str().into(), BasicGetOptions { no_ack: false }),
            )
            .await?;
            let Some(message) = got else { break };
            found.push(dead_letter_of(&message));
        }
        // Closing without acknowledging puts every message back.
        Ok::<_, RabbitError>(found)
    }
    .await;
    close(&connection, "listed").await;
    listed
}

/// Moves up to `limit` dead letters of `consumer` back to its queue, each republished with
/// confirms before it leaves the dead-letter queue (so a failure midway loses nothing); the
/// consumer handles them again. Returns how many moved.
pub async fn redrive_dead_letters(
    settings: &RabbitSettings,
    consumer: ConsumerName,
    limit: usize,
) -> Result<usize, RabbitError> {
    let connection = connect(settings, &format!("{}-redrive", consumer.as_str())).await?;
    let moved = async {
        let channel = confirming_channel(&connection, settings.timeout).await?;
        let names = settings.names();
        let dead = names.dead_letter_queue(consumer);
        let queue = names.queue(consumer);
        let mut moved = 0;
        while moved < limit {
            let got = bounded(
                "get",
                settings.timeout,
                channel.basic_get(dead.as_str().into(), BasicGetOptions { no_ack: false }),
            )
            .await?;
            let Some(message) = got else { break };
            let delivery = &message.delivery;
            let mut headers = delivery.properties.headers().clone().unwrap_or_default();
            let mut kept = FieldTable::default();
            for (name, value) in headers.inner() {
                if !name.as_str().starts_with("x-ps-dead") && name.as_str() != "x-death" {
                    kept.insert(name.clone(), value.clone());
                }
            }
            headers = kept;
            // Through the default exchange, straight to this consumer's queue: other
            // consumers of the same event type handled it already.
            confirmed(
                settings.timeout,
                queue.as_str(),
                channel.basic_publish(
                    "".into(),
                    queue.as_str().into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    &delivery.data,
                    delivery.properties.clone().with_headers(headers),
                ),
            )
            .await
            .map_err(|err| RabbitError::Lost(err.to_string()))?;
            settled(
                bounded(
                    "ack",
                    settings.timeout,
                    delivery.acker.ack(BasicAckOptions::default()),
                )
                .await,
            )?;
            moved += 1;
        }
        Ok::<_, RabbitError>(moved)
    }
    .await;
    close(&connection, "redriven").await;
    moved
}

/// The W3C trace context in a delivery's AMQP headers (empty when absent).
fn trace_headers(properties: &BasicProperties) -> ps_telemetry::TraceContext {
    ps_telemetry::TraceContext {
        traceparent: header_text(properties, "traceparent"),
        tracestate: header_text(properties, "tracestate"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(arguments: &FieldTable, name: &str) -> Option<String> {
        match arguments.inner().get(name) {
            Some(AMQPValue::LongString(value)) => Some(value.to_string()),
            Some(other) => Some(format!("{other:?}")),
            None => None,
        }
    }

    #[test]
    fn a_cluster_is_a_list_of_nodes() {
        let settings = RabbitSettings::new(" amqp://a:5672/%2f, amqp://b:5672/%2f,,amqp://c/%2f ");
        assert_eq!(
            settings.nodes(),
            ["amqp://a:5672/%2f", "amqp://b:5672/%2f", "amqp://c/%2f"]
        );
        assert_eq!(
            RabbitSettings::new("amqp://a/%2f").nodes(),
            ["amqp://a/%2f"]
        );
        assert_eq!(
            RabbitSettings::new("amqp://u:p,w@a/%2f,amqps://u:x@b/%2f").nodes(),
            ["amqp://u:p,w@a/%2f", "amqps://u:x@b/%2f"]
        );
    }

    #[test]
    fn classic_queues_dead_letter_to_the_exchange_and_nothing_more() {
        let settings = RabbitSettings::new("amqp://a/%2f");
        let arguments = settings.queue_arguments("ex.identity", "ex.dead");
        assert_eq!(arguments.inner().len(), 2);
        assert_eq!(
            text(&arguments, "x-dead-letter-exchange").as_deref(),
            Some("ex.dead")
        );
        assert_eq!(
            text(&arguments, "x-dead-letter-routing-key").as_deref(),
            Some("ex.identity")
        );
        assert!(settings.dead_letter_queue_arguments().inner().is_empty());
    }

    #[test]
    fn quorum_queues_dead_letter_at_least_once_after_the_delivery_limit() {
        let mut settings = RabbitSettings::new("amqp://a/%2f");
        settings.queue_type = QueueType::Quorum;
        settings.delivery_limit = 7;
        let arguments = settings.queue_arguments("ex.identity", "ex.dead");
        assert_eq!(text(&arguments, "x-queue-type").as_deref(), Some("quorum"));
        assert_eq!(
            text(&arguments, "x-dead-letter-exchange").as_deref(),
            Some("ex.dead")
        );
        assert_eq!(
            text(&arguments, "x-dead-letter-strategy").as_deref(),
            Some("at-least-once")
        );
        // At-least-once dead-lettering is refused by the broker without reject-publish.
        assert_eq!(
            text(&arguments, "x-overflow").as_deref(),
            Some("reject-publish")
        );
        assert_eq!(
            arguments.inner().get("x-delivery-limit"),
            Some(&AMQPValue::LongLongInt(7))
        );
        let dead = settings.dead_letter_queue_arguments();
        assert_eq!(text(&dead, "x-queue-type").as_deref(), Some("quorum"));
    }

    #[test]
    fn the_queue_type_is_read_in_lower_case_and_defaults_to_classic() {
        let parsed: RabbitSettings =
            serde_json::from_str(r#"{"url":"amqp://a/%2f","queue_type":"quorum"}"#)
                .expect("settings");
        assert_eq!(parsed.queue_type, QueueType::Quorum);
        assert_eq!(parsed.delivery_limit, 20);
        let parsed: RabbitSettings =
            serde_json::from_str(r#"{"url":"amqp://a/%2f"}"#).expect("settings");
        assert_eq!(parsed.queue_type, QueueType::Classic);
    }
}
