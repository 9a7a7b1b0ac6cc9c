//! Notification: turns events into e-mails and keeps a delivery log.
//!
//! - [`reactions`] / [`app`]: an event is applied by queuing a delivery in the same transaction
//!   that records the event id; a mailer task sends queued deliveries and records the outcome.
//! - [`domain`]: deliveries and their statuses, which e-mails an event causes, and what follows
//!   a sending attempt (retry with backoff, or give up), without gRPC or storage types.
//! - [`links`]: e-mails with a single-use link store no link; the mailer mints it at send time
//!   through the [`links::LinkIssuer`] port ([`identity_client`] is identity over gRPC).
//! - [`templates`]: the e-mails (text and HTML); [`mail`]: SMTP or a folder of `.eml` files.
//! - [`store`]: tables, migrations and every query ([`store::Store`]); [`edge`]: the gRPC
//!   handlers, with their conversions in [`convert`]; [`error`]: the error mapping.
//!
//! A crash between sending and recording re-sends the same e-mail with the same Message-ID
//! (and, in the folder, to the same file name), so it is never a second, different e-mail.

pub mod app;
pub mod config;
pub mod convert;
pub mod domain;
pub mod edge;
pub mod error;
pub mod identity_client;
pub mod links;
pub mod mail;
pub mod reactions;
pub mod store;
pub mod templates;

use std::sync::Arc;

use ps_auth::{AccessPolicy, RemoteJwks};
use ps_events::OutboxWaker;
use ps_proto::notification::v1::notification_service_server::NotificationServiceServer;
use ps_service::{Environment, Launch, Running, StartError};
use tokio::net::TcpListener;
use tracing::info;

pub use config::Config;

/// The gRPC health names this service reports serving.
pub const HEALTH_NAMES: &[&str] = &["notification.v1.NotificationService"];

/// Starts notification on `listener`: migrates its database, starts the mailer, the event
/// consumer and the gRPC server, and returns the running service.
pub async fn start(
    config: Config,
    env: Environment,
    listener: TcpListener,
) -> Result<Running, StartError> {
    let db =
        ps_db::connect_and_migrate::<store::migration::Migrator>(&config.common.database).await?;
    let mailer =
        mail::Mailer::new(&config.mail).map_err(|e| StartError::Config(format!("mail: {e}")))?;
    info!(mail = %mailer.describe(), "mail transport ready");
    if !config.credentials.is_configured() {
        return Err(StartError::Config(
            "PS_CREDENTIALS__CLIENT_SECRET is required: notification's service account secret \
             (the same value as identity's PS_PRODUCT_ACCOUNTS__NOTIFICATION_SECRET)"
                .into(),
        ));
    }
    let links = identity_client::IdentityLinks::new(
        &config.common.identity_url,
        &config.common.client_tls,
        &config.credentials,
        &config.common.tokens,
    )
    .map_err(StartError::Config)?;
    let waker = OutboxWaker::default();
    let notifications = app::Notifications::new(
        store::Store::new(db.clone()),
        env.clock.clone(),
        Arc::new(links),
        mailer,
        waker.clone(),
        &config.mail,
        domain::MailUrls {
            certification: config.certification_url.clone(),
            org_invitations: config.org_invitations_url.clone(),
        },
    );
    let keys = RemoteJwks::new(&config.common.identity_url, &config.common.client_tls)
        .map_err(|e| StartError::Config(format!("identity_url: {e}")))?;
    let api = ps_grpc::with_message_limits!(NotificationServiceServer::new(edge::Api {
        notifications: notifications.clone(),
    }));
    let mailer_task = tokio::spawn(notifications.clone().run_mailer(env.shutdown.clone()));
    ps_service::launch(
        Launch {
            name: "notification",
            health_names: HEALTH_NAMES,
            db,
            waker,
            handler: Some(Arc::new(reactions::Handler(notifications))),
            add_routes: Box::new(move |routes| routes.add_service(api)),
            policy: AccessPolicy::new(),
            keys: Arc::new(keys),
            background: vec![mailer_task],
        },
        &config.common,
        &env,
        listener,
    )
    .await
}
