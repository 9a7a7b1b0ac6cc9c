use ps_service::CommonConfig;
use serde::{Deserialize, Serialize};

use crate::mail::MailSettings;

pub const DEFAULT_PORT: u16 = 50054;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    #[serde(flatten)]
    pub common: CommonConfig,
    pub mail: MailSettings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            common: CommonConfig::defaults("notification", DEFAULT_PORT),
            mail: MailSettings::default(),
        }
    }
}

impl ps_service::ServiceConfig for Config {
    fn common(&self) -> &CommonConfig {
        &self.common
    }
}
