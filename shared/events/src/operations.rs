//! What an operator does with a service's dead letters: look at them, and hand them back to
//! the consumer once the cause is fixed. Behind RabbitMQ they are messages in the consumer's
//! dead-letter queue; on the embedded default, rows in its `dead_letters` table.

use chrono::{DateTime, Utc};
use ps_core::Shutdown;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::consumer::{ConsumerRunner, Outcome};
use crate::dead_letter::entity as dead_letters;
use crate::rabbit::{self, RabbitSettings};
use crate::topology::ConsumerName;

/// One event a consumer gave up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterView {
    /// Empty when the message was not a readable event.
    pub event_id: String,
    /// The event's routing key.
    pub event_type: String,
    /// The consumer that gave up on it.
    pub consumer: &'static str,
    /// Why it gave up.
    pub reason: String,
    /// When it gave up (UTC); `None` when the broker's header is missing or unreadable.
    pub dead_at: Option<DateTime<Utc>>,
}

/// What a redrive did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Redriven {
    /// Dead letters handed back: handled now (embedded), or moved back to the queue (RabbitMQ).
    pub redriven: usize,
    /// Dead letters the consumer gave up on again (embedded only; always 0 behind RabbitMQ).
    pub failed_again: usize,
}

#[derive(Clone)]
enum Place {
    /// None for a service without a consumer.
    InProcess {
        db: DatabaseConnection,
        runner: Option<ConsumerRunner>,
    },
    RabbitMq(RabbitSettings),
}

/// A service's dead letters.
#[derive(Clone)]
pub struct DeadLetters {
    consumer: Option<ConsumerName>,
    place: Place,
}

impl DeadLetters {
    pub(crate) fn in_process(db: DatabaseConnection, runner: Option<ConsumerRunner>) -> Self {
        Self {
            consumer: runner.as_ref().map(ConsumerRunner::consumer),
            place: Place::InProcess { db, runner },
        }
    }

    pub(crate) fn rabbit(settings: RabbitSettings, consumer: Option<ConsumerName>) -> Self {
        Self {
            consumer,
            place: Place::RabbitMq(settings),
        }
    }

    /// Up to `limit`, oldest first.
    pub async fn list(&self, limit: usize) -> Result<Vec<DeadLetterView>, String> {
        let Some(consumer) = self.consumer else {
            return Ok(Vec::new());
        };
        match &self.place {
            Place::InProcess { db, .. } => Ok(dead_letters::Entity::find()
                .filter(dead_letters::Column::Consumer.eq(consumer.as_str()))
                .order_by_asc(dead_letters::Column::DeadAt)
                .limit(limit as u64)
                .all(db)
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|row| DeadLetterView {
                    event_id: crate::codec::decode(&row.payload)
                        .map(|e| e.id.to_string())
                        .unwrap_or_default(),
                    event_type: row.event_type,
                    consumer: consumer.as_str(),
                    reason: row.reason,
                    dead_at: Some(row.dead_at),
                })
                .collect()),
            Place::RabbitMq(settings) => Ok(rabbit::list_dead_letters(settings, consumer, limit)
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|d| DeadLetterView {
                    dead_at: DateTime::parse_from_rfc3339(&d.dead_at)
                        .ok()
                        .map(|at| at.with_timezone(&Utc)),
                    event_id: d.event_id,
                    event_type: d.event_type,
                    consumer: consumer.as_str(),
                    reason: d.reason,
                })
                .collect()),
        }
    }

    /// Hands up to `limit` (oldest first) back to the consumer.
    pub async fn redrive(&self, limit: usize) -> Result<Redriven, String> {
        let Some(consumer) = self.consumer else {
            return Ok(Redriven::default());
        };
        match &self.place {
            Place::RabbitMq(settings) => Ok(Redriven {
                redriven: rabbit::redrive_dead_letters(settings, consumer, limit)
                    .await
                    .map_err(|e| e.to_string())?,
                failed_again: 0,
            }),
            Place::InProcess { db, runner } => {
                let Some(runner) = runner else {
                    return Ok(Redriven::default());
                };
                let rows = dead_letters::Entity::find()
                    .filter(dead_letters::Column::Consumer.eq(consumer.as_str()))
                    .order_by_asc(dead_letters::Column::DeadAt)
                    .limit(limit as u64)
                    .all(db)
                    .await
                    .map_err(|e| e.to_string())?;
                // Kept alive for the whole redrive: a dropped trigger means "shut down".
                let (_running, shutdown) = Shutdown::new();
                let mut done = Redriven::default();
                for row in rows {
                    let trace = ps_telemetry::TraceContext::default();
                    match runner.deliver(&row.payload, &trace, &shutdown).await {
                        Outcome::Handled => {
                            dead_letters::Entity::delete_by_id(row.id)
                                .exec(db)
                                .await
                                .map_err(|e| e.to_string())?;
                            done.redriven += 1;
                        }
                        Outcome::DeadLettered(reason) => {
                            dead_letters::Entity::update_many()
                                .col_expr(dead_letters::Column::Reason, Expr::value(reason))
                                .col_expr(dead_letters::Column::DeadAt, Expr::value(Utc::now()))
                                .filter(dead_letters::Column::Id.eq(row.id))
                                .exec(db)
                                .await
                                .map_err(|e| e.to_string())?;
                            done.failed_again += 1;
                        }
                        Outcome::Interrupted => break,
                    }
                }
                Ok(done)
            }
        }
    }
}
