//! Disposable infrastructure for the system tests and the benchmarks: four fresh PostgreSQL
//! databases (one per service) and a RabbitMQ exchange of their own, so runs never see each
//! other's data, and [`Scratch::remove`] to drop them afterwards.

use std::time::Duration;

use practice_staff::Databases;
use ps_db::DbSettings;
use ps_db::sea_orm::ConnectionTrait;
use ps_events::rabbit::RabbitSettings;

/// What one run created on PostgreSQL and RabbitMQ.
#[derive(Clone)]
pub struct Scratch {
    admin_url: String,
    database_names: Vec<String>,
    pub databases: Databases,
    pub rabbit: RabbitSettings,
}

impl Scratch {
    /// Creates `<prefix>_<uuid>_<service>` databases and names the exchange
    /// `<prefix>-<uuid>` (with `_` as `-`); the services declare the exchange and their
    /// queues when they start.
    pub async fn create(postgres_url: &str, amqp_url: &str, prefix: &str) -> Result<Self, String> {
        let base = postgres_url.trim_end_matches('/');
        let tag = uuid::Uuid::now_v7().simple().to_string();
        let admin_url = format!("{base}/postgres");
        let admin = ps_db::connect(&DbSettings::new(admin_url.clone()))
            .await
            .map_err(|e| format!("PostgreSQL at {postgres_url} is unreachable: {e}"))?;
        let mut database_names = Vec::new();
        for service in ["identity", "staff", "org", "notification"] {
            let name = format!("{prefix}_{tag}_{service}");
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .map_err(|e| format!("creating database {name}: {e}"))?;
            database_names.push(name);
        }
        let _ = admin.close().await;
        let url = |i: usize| DbSettings::new(format!("{base}/{}", database_names[i]));
        let databases = Databases {
            identity: url(0),
            staff_directory: url(1),
            org_access: url(2),
            notification: url(3),
        };
        let mut rabbit = RabbitSettings::new(amqp_url);
        rabbit.exchange = format!("{}-{tag}", prefix.replace('_', "-"));
        Ok(Self {
            admin_url,
            database_names,
            databases,
            rabbit,
        })
    }

    /// Drops the databases (closing their connections) and deletes the exchanges and queues;
    /// best effort, errors are ignored.
    pub async fn remove(&self) {
        if let Ok(admin) = ps_db::connect(&DbSettings::new(self.admin_url.clone())).await {
            for name in &self.database_names {
                let _ = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await;
            }
            let _ = admin.close().await;
        }
        delete_topology(&self.rabbit).await;
    }
}

/// Deletes the exchanges and queues of `rabbit`'s exchange name (what the services declare);
/// best effort, errors are ignored.
pub async fn delete_topology(rabbit: &RabbitSettings) {
    use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
    let mut rabbit = rabbit.clone();
    rabbit.timeout = Duration::from_secs(5);
    let Ok(connection) = ps_events::rabbit::connect(&rabbit, "scratch-cleanup").await else {
        return;
    };
    if let Ok(channel) = connection.create_channel().await {
        let names = rabbit.names();
        for consumer in ps_events::ConsumerName::ALL {
            for queue in [names.queue(consumer), names.dead_letter_queue(consumer)] {
                let _ = channel
                    .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                    .await;
            }
        }
        for exchange in [names.exchange().to_owned(), names.dead_letter_exchange()] {
            let _ = channel
                .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                .await;
        }
    }
    let _ = connection.close(200, "bye".into()).await;
}
