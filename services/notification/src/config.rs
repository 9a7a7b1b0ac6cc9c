use ps_auth::ServiceCredentialSettings;
use ps_service::CommonConfig;
use serde::{Deserialize, Serialize};

use crate::mail::MailSettings;

/// The gRPC port when none is configured.
pub const DEFAULT_PORT: u16 = 50054;
/// Where Prometheus scrapes `/metrics` (each service its own default, so all four fit on one host).
pub const DEFAULT_ADMIN_PORT: u16 = 9467;

/// Notification's settings (`PS_*`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    #[serde(flatten)]
    pub common: CommonConfig,
    pub mail: MailSettings,
    /// Link in certification invitations (the course or exam).
    pub certification_url: String,
    /// Link in organisation invitations (where the member answers them).
    pub org_invitations_url: String,
    /// notification's own service account, for minting and voiding links at identity: its
    /// client id is fixed (the product's notification account); the secret is required.
    pub credentials: ServiceCredentialSettings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            common: CommonConfig::defaults("notification", DEFAULT_PORT, DEFAULT_ADMIN_PORT),
            mail: MailSettings::default(),
            certification_url: "http://localhost:8080/certification".into(),
            org_invitations_url: "http://localhost:8080/organisation-invitations".into(),
            credentials: ServiceCredentialSettings {
                client_id: ps_auth::scopes::NOTIFICATION_ACCOUNT_ID.to_string(),
                ..Default::default()
            },
        }
    }
}

impl ps_service::ServiceConfig for Config {
    fn common(&self) -> &CommonConfig {
        &self.common
    }
}
