use ps_service::CommonConfig;
use serde::{Deserialize, Serialize};

pub const DEFAULT_PORT: u16 = 50053;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    #[serde(flatten)]
    pub common: CommonConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            common: CommonConfig::defaults("org-access", DEFAULT_PORT),
        }
    }
}

impl ps_service::ServiceConfig for Config {
    fn common(&self) -> &CommonConfig {
        &self.common
    }
}
