//! Identity: users, password sign-in (argon2id), sessions and access tokens, single-use
//! invitation links, and service accounts (machine callers with their own credentials and
//! scopes, exchanged for short-lived service tokens).
//!
//! - [`domain`]: passwords, secret tokens, the values the store returns, the commands the edge
//!   builds, and use-case results.
//! - [`app`]: the use cases ([`app::Identity`]); they call the store, never build a query, and
//!   each state change and its event share one transaction.
//! - [`passwords`]: argon2id on a bounded blocking pool.
//! - [`store`]: tables, migrations and the typed queries.
//! - [`reactions`]: staff lifecycle events keep memberships and sessions in step.
//! - [`edge`]: the gRPC handlers, and `convert`: their conversions between protobuf messages
//!   and domain values (the only modules that see protobuf types).
//! - [`error`]: the error type and its one mapping to gRPC statuses.
//!
//! Identity signs access tokens with an Ed25519 key kept in its database and publishes the
//! public keys through `GetJwks`; every other service verifies tokens locally with them.

pub mod app;
pub mod config;
mod convert;
pub mod domain;
pub mod edge;
pub mod error;
pub mod passwords;
pub mod reactions;
pub mod store;

use std::sync::Arc;

use async_trait::async_trait;
use ps_auth::{Access, AccessPolicy, KeySource, PublicJwk, scopes};
use ps_events::OutboxWaker;
use ps_proto::identity::v1::identity_internal_service_server::IdentityInternalServiceServer;
use ps_proto::identity::v1::identity_operator_service_server::IdentityOperatorServiceServer;
use ps_proto::identity::v1::identity_service_server::IdentityServiceServer;
use ps_proto::identity::v1::service_account_service_server::ServiceAccountServiceServer;
use ps_service::{Environment, Launch, Running, StartError};
use tokio::net::TcpListener;

pub use config::Config;

pub const HEALTH_NAMES: &[&str] = &[
    "identity.v1.IdentityService",
    "identity.v1.IdentityInternalService",
    "identity.v1.ServiceAccountService",
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
        "IssueServiceToken",
    ];
    public
        .iter()
        .fold(AccessPolicy::new(), |policy, method| {
            policy.method(
                &format!("identity.v1.IdentityService/{method}"),
                Access::Public,
            )
        })
        .internal(
            "identity.v1.IdentityInternalService",
            &[
                ("IssueInvitationLink", scopes::IDENTITY_INVITATION_LINKS),
                ("IssuePasswordResetLink", scopes::IDENTITY_RESET_LINKS),
                ("VoidLink", scopes::IDENTITY_VOID_LINKS),
            ],
        )
        .service("identity.v1.IdentityOperatorService", Access::Operator)
        .service("identity.v1.ServiceAccountService", Access::OperatorOrUser)
}

/// Identity verifies its own tokens with the keys in its database.
struct DatabaseKeys(app::Identity);

#[async_trait]
impl KeySource for DatabaseKeys {
    async fn fetch(&self) -> Result<Vec<PublicJwk>, String> {
        self.0.published_keys().await.map_err(|e| e.to_string())
    }
}

/// The use cases' settings from the service's configuration.
fn settings(config: &Config) -> app::Settings {
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
        service_token_ttl: config.service_token_ttl,
    }
}

/// The key-encryption key the signing keys are sealed with (required).
fn kek(config: &Config) -> Result<app::keyring::Kek, StartError> {
    if config.signing.key_encryption_key.is_empty() {
        return Err(StartError::Config(
            "PS_SIGNING__KEY_ENCRYPTION_KEY is required: 32 random bytes, base64 \
             (`openssl rand -base64 32`), which seal the token signing keys in the database"
                .into(),
        ));
    }
    app::keyring::Kek::parse(config.signing.key_encryption_key.expose())
        .map_err(|e| StartError::Config(format!("PS_SIGNING__KEY_ENCRYPTION_KEY: {e}")))
}

/// The product's own service accounts whose secrets the configuration holds.
async fn provision_product_accounts(
    identity: &app::Identity,
    config: &Config,
) -> Result<(), StartError> {
    if config.product_accounts.notification_secret.is_empty() {
        return Ok(());
    }
    let secret = config.product_accounts.notification_secret.expose();
    let account = domain::service_accounts::NOTIFICATION_ACCOUNT;
    // Replicas starting together on a new database race to create the account; the one
    // that loses finds it made on its second try.
    let first = identity.provision_product_account(account, secret).await;
    let provisioned = match first {
        Ok(()) => Ok(()),
        Err(_) => {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            identity.provision_product_account(account, secret).await
        }
    };
    provisioned
        .map_err(|e| StartError::Config(format!("PS_PRODUCT_ACCOUNTS__NOTIFICATION_SECRET: {e}")))
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
    let kek = kek(&config)?;
    let identity = app::Identity::new(
        db.clone(),
        env.clock.clone(),
        waker.clone(),
        hasher,
        kek,
        settings(&config),
    )
    .await
    .map_err(|e| StartError::Other(e.to_string()))?;
    provision_product_accounts(&identity, &config).await?;
    let api = || edge::Api {
        identity: identity.clone(),
    };
    let public = ps_grpc::with_message_limits!(IdentityServiceServer::new(api()));
    let internal = ps_grpc::with_message_limits!(IdentityInternalServiceServer::new(api()));
    let operator = ps_grpc::with_message_limits!(IdentityOperatorServiceServer::new(api()));
    let accounts = ps_grpc::with_message_limits!(ServiceAccountServiceServer::new(api()));
    let resets = tokio::spawn(identity.clone().run_reset_requests(env.shutdown.clone()));
    let signing = identity.refresh_signing_key(env.shutdown.clone());
    ps_service::launch(
        Launch {
            name: "identity",
            health_names: HEALTH_NAMES,
            db: db.clone(),
            waker,
            handler: Some(Arc::new(reactions::Handler(identity.clone()))),
            add_routes: Box::new(move |routes| {
                routes
                    .add_service(public)
                    .add_service(internal)
                    .add_service(operator)
                    .add_service(accounts)
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
