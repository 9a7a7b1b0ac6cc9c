use std::time::Duration;

use ps_service::CommonConfig;
use serde::{Deserialize, Serialize};

use crate::passwords::HashingSettings;

pub const DEFAULT_PORT: u16 = 50051;
/// Where Prometheus scrapes `/metrics` (each service its own default, so all four fit on one host).
pub const DEFAULT_ADMIN_PORT: u16 = 9464;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    #[serde(flatten)]
    pub common: CommonConfig,
    /// Lifetime of access tokens; services verify them without calling identity, so this
    /// bounds how long a token outlives sign-out.
    #[serde(with = "humantime_serde")]
    pub access_token_ttl: Duration,
    #[serde(with = "humantime_serde")]
    pub refresh_token_ttl: Duration,
    /// How long an invitation link stays valid (default 7 days).
    #[serde(with = "humantime_serde")]
    pub invitation_ttl: Duration,
    /// Where an invitation link points; `{token}` is replaced by the token.
    pub invitation_url: String,
    /// How long a password reset link stays valid (default 1 hour).
    #[serde(with = "humantime_serde")]
    pub password_reset_ttl: Duration,
    /// Where a password reset link points; `{token}` is replaced by the token.
    pub password_reset_url: String,
    /// Failed sign-ins in a row that lock an account (default 5) …
    pub lockout_threshold: u32,
    /// … and for how long (default 15 minutes). While locked, every password is refused with
    /// the same error as a wrong one.
    #[serde(with = "humantime_serde")]
    pub lockout_duration: Duration,
    /// Password reset e-mails per account within `reset_window` (default 3 per hour); further
    /// requests are answered the same but send nothing.
    pub reset_limit: u32,
    #[serde(with = "humantime_serde")]
    pub reset_window: Duration,
    pub hashing: HashingSettings,
    pub signing: SigningSettings,
    /// Lifetime of service tokens (default 5 minutes). A disabled account's tokens are refused
    /// at once anyway; this bounds how long a token lives if it leaks.
    #[serde(with = "humantime_serde")]
    pub service_token_ttl: Duration,
    pub product_accounts: ProductAccounts,
}

/// The secrets of the product's own service accounts, which identity provisions at start (the
/// same value goes to the service that uses it). Empty: not provisioned.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ProductAccounts {
    /// notification's client secret (43 base64url characters): it mints and voids the links
    /// it e-mails with it.
    pub notification_secret: ps_config::Secret,
}

/// How the keys that sign access tokens are kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SigningSettings {
    /// 32 random bytes, base64 (`openssl rand -base64 32`): seals the private keys in the
    /// database. Required; changing it makes the stored keys unreadable (identity then refuses
    /// to start rather than signing with a key it cannot read).
    pub key_encryption_key: ps_config::Secret,
    /// After RotateSigningKey, how long the new key is published before it signs, so every
    /// verifier can have it first (they refresh on an unknown key at most once a second).
    #[serde(with = "humantime_serde")]
    pub activation_delay: Duration,
}

impl Default for SigningSettings {
    fn default() -> Self {
        Self {
            key_encryption_key: ps_config::Secret::default(),
            activation_delay: Duration::from_secs(2),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            common: CommonConfig::defaults("identity", DEFAULT_PORT, DEFAULT_ADMIN_PORT),
            access_token_ttl: Duration::from_secs(15 * 60),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            invitation_ttl: Duration::from_secs(7 * 24 * 3600),
            invitation_url: "http://localhost:8080/invitation?token={token}".into(),
            password_reset_ttl: Duration::from_secs(3600),
            password_reset_url: "http://localhost:8080/reset-password?token={token}".into(),
            lockout_threshold: 5,
            lockout_duration: Duration::from_secs(15 * 60),
            reset_limit: 3,
            reset_window: Duration::from_secs(3600),
            hashing: HashingSettings::default(),
            signing: SigningSettings::default(),
            service_token_ttl: Duration::from_secs(5 * 60),
            product_accounts: ProductAccounts::default(),
        }
    }
}

impl ps_service::ServiceConfig for Config {
    fn common(&self) -> &CommonConfig {
        &self.common
    }
}
