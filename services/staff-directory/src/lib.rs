//! Staff directory: practices and their staff.
//!
//! - [`domain`]: practices, locations, staff members, provider profiles, certifications.
//! - [`app`]: the use cases ([`app::Directory`]), each scoped by the caller's practice, each
//!   writing its audit entry and event in the same transaction.
//! - [`certificate`]: the certificate PDF.
//! - [`reactions`]: reactions to identity's invitation answers.
//! - [`store`]: tables and migrations.
//! - [`edge`]: the gRPC edge; [`error`]: the error type and its mapping.
//!
//! A practice is created by an operator (CreatePractice, operator credential), which invites
//! its Account Owner; from then on staff managers invite others. Members stay Pending until
//! identity reports the invitee's answer.

pub mod app;
pub mod certificate;
pub mod config;
mod convert;
pub mod domain;
pub mod edge;
pub mod error;
pub mod reactions;
pub mod store;

use std::sync::Arc;

use ps_auth::{Access, AccessPolicy, RemoteJwks, scopes};
use ps_events::OutboxWaker;
use ps_proto::staff::v1::staff_directory_internal_service_server::StaffDirectoryInternalServiceServer;
use ps_proto::staff::v1::staff_directory_service_server::StaffDirectoryServiceServer;
use ps_service::{Environment, Launch, Running, StartError};
use tokio::net::TcpListener;

pub use config::Config;

pub const HEALTH_NAMES: &[&str] = &[
    "staff.v1.StaffDirectoryService",
    "staff.v1.StaffDirectoryInternalService",
];

pub fn access_policy() -> AccessPolicy {
    AccessPolicy::new()
        .method(
            "staff.v1.StaffDirectoryService/CreatePractice",
            Access::Operator,
        )
        .internal(
            "staff.v1.StaffDirectoryInternalService",
            &[
                ("RecordCertification", scopes::CERTIFICATION_RECORD),
                ("ListStaff", scopes::STAFF_READ),
                ("GetStaff", scopes::STAFF_READ),
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
    let directory = app::Directory::new(
        db.clone(),
        env.clock.clone(),
        waker.clone(),
        app::Settings {
            operator_name: config.operator_name.clone(),
            reinvite_limit: config.reinvite_limit,
            reinvite_window: config.reinvite_window,
        },
    );
    let keys = RemoteJwks::new(&config.common.identity_url, &config.common.client_tls)
        .map_err(|e| StartError::Config(format!("identity_url: {e}")))?;
    let api = ps_grpc::with_message_limits!(StaffDirectoryServiceServer::new(edge::Api {
        directory: directory.clone(),
    }));
    let internal =
        ps_grpc::with_message_limits!(StaffDirectoryInternalServiceServer::new(edge::Api {
            directory: directory.clone(),
        }));
    ps_service::launch(
        Launch {
            name: "staff-directory",
            health_names: HEALTH_NAMES,
            db,
            waker,
            handler: Some(Arc::new(reactions::Handler(directory))),
            add_routes: Box::new(move |routes| routes.add_service(api).add_service(internal)),
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
