//! Org access: the practice's client organisations and who may act in them.
//!
//! - [`domain`]: the permission catalogue, built-in roles, memberships, changesets, decisions.
//! - [`app`]: the use cases ([`app::OrgAccess`]), authorised from the roster.
//! - [`reactions`]: keeps the roster ([`ps_roster`]) of staff status, role and locations current
//!   from events, so authorisation never calls another service.
//! - [`store`]: the tables, migrations and the typed queries the use cases call (each takes the
//!   practice and returns domain values).
//! - [`edge`]: the gRPC handlers, with their conversions in `convert`; [`error`]: the error
//!   mapping.

pub mod app;
pub mod config;
mod convert;
pub mod domain;
pub mod edge;
pub mod error;
pub mod reactions;
pub mod store;

use std::sync::Arc;

use ps_auth::{AccessPolicy, RemoteJwks, scopes};
use ps_events::OutboxWaker;
use ps_proto::orgaccess::v1::org_access_authorization_service_server::OrgAccessAuthorizationServiceServer;
use ps_proto::orgaccess::v1::org_access_service_server::OrgAccessServiceServer;
use ps_service::{Environment, Launch, Running, StartError};
use tokio::net::TcpListener;

pub use config::Config;

pub const HEALTH_NAMES: &[&str] = &[
    "orgaccess.v1.OrgAccessService",
    "orgaccess.v1.OrgAccessAuthorizationService",
];

pub fn access_policy() -> AccessPolicy {
    AccessPolicy::new().internal(
        "orgaccess.v1.OrgAccessAuthorizationService",
        &[
            ("CheckAccess", scopes::ORGACCESS_CHECK),
            ("CheckAccessBatch", scopes::ORGACCESS_CHECK),
            ("ExplainAccess", scopes::ORGACCESS_CHECK),
        ],
    )
}

pub async fn start(
    config: Config,
    env: Environment,
    listener: TcpListener,
) -> Result<Running, StartError> {
    let db =
        ps_db::connect_and_migrate::<store::migration::Migrator>(&config.common.database).await?;
    let waker = OutboxWaker::default();
    let org_access = app::OrgAccess::new(db.clone(), env.clock.clone(), waker.clone());
    let keys = RemoteJwks::new(&config.common.identity_url, &config.common.client_tls)
        .map_err(|e| StartError::Config(format!("identity_url: {e}")))?;
    let api = ps_grpc::with_message_limits!(OrgAccessServiceServer::new(edge::Api {
        org_access: org_access.clone(),
    }));
    let authorization =
        ps_grpc::with_message_limits!(OrgAccessAuthorizationServiceServer::new(edge::Api {
            org_access: org_access.clone(),
        }));
    ps_service::launch(
        Launch {
            name: "org-access",
            health_names: HEALTH_NAMES,
            db,
            waker,
            handler: Some(Arc::new(reactions::Handler(org_access))),
            add_routes: Box::new(move |routes| routes.add_service(api).add_service(authorization)),
            policy: access_policy(),
            keys: Arc::new(keys),
            background: Vec::new(),
        },
        &config.common,
        &env,
        listener,
    )
    .await
}
