use std::time::Duration;

use ps_service::CommonConfig;
use serde::{Deserialize, Serialize};

pub const DEFAULT_PORT: u16 = 50052;
/// Where Prometheus scrapes `/metrics` (each service its own default, so all four fit on one host).
pub const DEFAULT_ADMIN_PORT: u16 = 9465;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    #[serde(flatten)]
    pub common: CommonConfig,
    /// Recorded as the actor of operator actions.
    pub operator_name: String,
    /// Reinvites allowed per member within `reinvite_window` (default 3 per hour).
    pub reinvite_limit: u32,
    #[serde(with = "humantime_serde")]
    pub reinvite_window: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            common: CommonConfig::defaults("staff-directory", DEFAULT_PORT, DEFAULT_ADMIN_PORT),
            operator_name: "Practice Staff support".into(),
            reinvite_limit: 3,
            reinvite_window: Duration::from_secs(3600),
        }
    }
}

impl ps_service::ServiceConfig for Config {
    fn common(&self) -> &CommonConfig {
        &self.common
    }
}
