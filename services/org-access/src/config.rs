use ps_service::CommonConfig;
use serde::{Deserialize, Serialize};

pub const DEFAULT_PORT: u16 = 50053;
/// Where Prometheus scrapes `/metrics` (each service its own default, so all four fit on one host).
pub const DEFAULT_ADMIN_PORT: u16 = 9466;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    #[serde(flatten)]
    pub common: CommonConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            common: CommonConfig::defaults("org-access", DEFAULT_PORT, DEFAULT_ADMIN_PORT),
        }
    }
}

impl ps_service::ServiceConfig for Config {
    fn common(&self) -> &CommonConfig {
        &self.common
    }
}
