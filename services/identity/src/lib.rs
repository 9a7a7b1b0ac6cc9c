//! Identity: users, password sign-in (argon2id), sessions and access tokens, single-use
//! invitation links.
//!
//! - [`domain`]: passwords, secret tokens and use-case results.
//! - [`app`]: the use cases ([`app::Identity`]); each state change and its event share one
//!   transaction.
//! - [`passwords`]: argon2id on a bounded blocking pool.
//! - [`store`]: tables and migrations.
//! - [`events`]: staff lifecycle events keep memberships and sessions in step.
//! - [`grpc`]: the gRPC edge (the only module that sees protobuf types).
//! - [`error`]: the error type and its one mapping to gRPC statuses.
//!
//! Identity signs access tokens with an Ed25519 key kept in its database and publishes the
//! public keys through `GetJwks`; every other service verifies tokens locally with them.

pub mod app;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod grpc;
pub mod passwords;
pub mod store;

use std::sync::Arc;

use async_trait::async_trait;
use ps_auth::{Access, AccessPolicy, KeySource, PublicJwk};
use ps_events::OutboxWaker;
use ps_proto::identity::v1::identity_internal_service_server::IdentityInternalServiceServer;
use ps_proto::identity::v1::identity_operator_service_server::IdentityOperatorServiceServer;
use ps_proto::identity::v1::identity_service_server::IdentityServiceServer;
use ps_service::{Environment, Launch, Running, StartError};
use tokio::net::TcpListener;

pub use config::Config;

pub const HEALTH_NAMES: &[&str] = &[
    "identity.v1.IdentityService",
    "identity.v1.IdentityInternalService",
];

/// Which credential each identity method needs.
pub fn access_policy() -> AccessPolicy {
    let public = [
        "SignIn",
        "Refresh",
        "GetInvitation",
        "AcceptInvitation",
        "DeclineInvitation",
        "GetJwks",
        "RequestPasswordReset",
        "ResetPassword",
    ];
    public
        .iter()
        .fold(AccessPolicy::new(), |policy, method| {
            policy.method(
                &format!("identity.v1.IdentityService/{method}"),
                Access::Public,
            )
        })
        .service("identity.v1.IdentityInternalService", Access::Internal)
        .service("identity.v1.IdentityOperatorService", Access::Operator)
}

/// Identity verifies its own tokens with the keys in its database.
struct DatabaseKeys(app::Identity);

#[async_trait]
impl KeySource for DatabaseKeys {
    async fn fetch(&self) -> Result<Vec<PublicJwk>, String> {
        self.0.published_keys().await.map_err(|e| e.to_string())
    }
}

pub async fn start(
    config: Config,
    env: Environment,
    listener: TcpListener,
) -> Result<Running, StartError> {
    let db =
        ps_db::connect_and_migrate::<store::migration::Migrator>(&config.common.database).await?;
    let waker = OutboxWaker::default();
    let hasher = passwords::PasswordHasher::new(config.hashing)
        .map_err(|e| StartError::Config(e.to_string()))?;
    if config.signing.key_encryption_key.is_empty() {
        return Err(StartError::Config(
            "PS_SIGNING__KEY_ENCRYPTION_KEY is required: 32 random bytes, base64 \
             (`openssl rand -base64 32`), which seal the token signing keys in the database"
                .into(),
        ));
    }
    let kek = app::keyring::Kek::parse(config.signing.key_encryption_key.expose())
        .map_err(|e| StartError::Config(format!("PS_SIGNING__KEY_ENCRYPTION_KEY: {e}")))?;
    let identity = app::Identity::new(
        db.clone(),
        env.clock.clone(),
        waker.clone(),
        hasher,
        kek,
        app::Settings {
            access_token_ttl: config.access_token_ttl,
            refresh_token_ttl: config.refresh_token_ttl,
            invitation_ttl: config.invitation_ttl,
            invitation_url: config.invitation_url.clone(),
            password_reset_ttl: config.password_reset_ttl,
            password_reset_url: config.password_reset_url.clone(),
            lockout_threshold: config.lockout_threshold,
            lockout_duration: config.lockout_duration,
            reset_limit: config.reset_limit,
            reset_window: config.reset_window,
            tokens: config.common.tokens.clone(),
            key_activation_delay: config.signing.activation_delay,
        },
    )
    .await
    .map_err(|e| StartError::Other(e.to_string()))?;
    let public = ps_grpc::with_message_limits!(IdentityServiceServer::new(grpc::Api {
        identity: identity.clone(),
    }));
    let internal = ps_grpc::with_message_limits!(IdentityInternalServiceServer::new(grpc::Api {
        identity: identity.clone(),
    }));
    let operator = ps_grpc::with_message_limits!(IdentityOperatorServiceServer::new(grpc::Api {
        identity: identity.clone(),
    }));
    let resets = tokio::spawn(identity.clone().run_reset_requests(env.shutdown.clone()));
    let signing = identity.refresh_signing_key(env.shutdown.clone());
    ps_service::launch(
        Launch {
            name: "identity",
            health_names: HEALTH_NAMES,
            db: db.clone(),
            waker,
            handler: Some(Arc::new(events::Handler(identity.clone()))),
            add_routes: Box::new(move |routes| {
                routes
                    .add_service(public)
                    .add_service(internal)
                    .add_service(operator)
            }),
            policy: access_policy(),
            keys: Arc::new(DatabaseKeys(identity.clone())),
            background: vec![resets, signing],
        },
        &config.common,
        &env,
        listener,
    )
    .await
}
