use std::time::Duration;

use ps_service::CommonConfig;
use serde::{Deserialize, Serialize};

use crate::passwords::HashingSettings;

pub const DEFAULT_PORT: u16 = 50051;

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
    pub hashing: HashingSettings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            common: CommonConfig::defaults("identity", DEFAULT_PORT),
            access_token_ttl: Duration::from_secs(15 * 60),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            invitation_ttl: Duration::from_secs(7 * 24 * 3600),
            invitation_url: "http://localhost:8080/invitation?token={token}".into(),
            hashing: HashingSettings::default(),
        }
    }
}

impl ps_service::ServiceConfig for Config {
    fn common(&self) -> &CommonConfig {
        &self.common
    }
}
