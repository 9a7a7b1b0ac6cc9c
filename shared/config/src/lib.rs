//! Configuration and logging set-up shared by the binaries.
//!
//! Configuration layers, later ones winning: the type's defaults, then an optional TOML file,
//! then environment variables under a prefix (`PS_` by default; nested keys joined by `__`,
//! e.g. `PS_RABBITMQ__URL` for `rabbitmq.url`, `PS_DATABASE__MAX_CONNECTIONS` for
//! `database.max_connections`; deploy/README.md lists them all). Secrets are held in [`Secret`],
//! which never prints its value.

#![warn(missing_docs)]

use std::fmt;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A configured secret (token, password). Debug and Display print `***`, and so does
/// serialising it for [`redacted_toml`].
#[derive(Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(String);

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if REDACTING.with(std::cell::Cell::get) && !self.0.is_empty() {
            serializer.serialize_str("***")
        } else {
            serializer.serialize_str(&self.0)
        }
    }
}

impl Secret {
    /// Holds `value` as a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the client that needs it; never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether no value is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "***" })
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// An invalid setting, named as its source spells it: `PS_DATABASE__MAX_CONNECTIONS`, or the
/// key in the TOML file.
#[derive(Debug, thiserror::Error)]
#[error("configuration is invalid: {}", describe(.error, .env_prefix))]
pub struct ConfigError {
    error: Box<figment::Error>,
    env_prefix: String,
}

fn describe(error: &figment::Error, env_prefix: &str) -> String {
    error
        .clone()
        .into_iter()
        .map(|e| {
            let named = match &e.metadata {
                Some(md) if md.name.contains("environment variable") => {
                    format!("{env_prefix}{}", e.path.join("__").to_uppercase())
                }
                Some(md) => format!("{} in {}", e.path.join("."), md.name),
                None => e.path.join("."),
            };
            format!("{named}: {}", e.kind)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Loads `T` from its defaults, an optional TOML file and `{env_prefix}*` variables.
pub fn load<T>(file: Option<&Path>, env_prefix: &str) -> Result<T, ConfigError>
where
    T: Serialize + DeserializeOwned + Default,
{
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    if let Some(file) = file {
        figment = figment.merge(Toml::file_exact(file));
    }
    figment
        .merge(Env::prefixed(env_prefix).split("__"))
        .extract()
        .map_err(|e| ConfigError {
            error: Box::new(e),
            env_prefix: env_prefix.to_owned(),
        })
}

/// Log output: human-readable by default, JSON lines for log collectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One readable line per event (`text`).
    #[default]
    Text,
    /// One JSON object per line (`json`).
    Json,
}

/// The URLs of a comma-separated list (a broker cluster's nodes), as written. A new URL
/// starts only at a comma followed by `scheme://`, so a comma inside a password stays inside
/// its URL; a single URL is a list of one.
pub fn url_list(text: &str) -> Vec<&str> {
    let starts_url = |rest: &str| {
        let rest = rest.trim_start();
        rest.find("://").is_some_and(|at| {
            at > 0
                && rest[..at]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        })
    };
    let mut urls = Vec::new();
    let mut start = 0;
    for (at, _) in text.match_indices(',') {
        if starts_url(&text[at + 1..]) {
            urls.push(&text[start..at]);
            start = at + 1;
        }
    }
    urls.push(&text[start..]);
    urls
}

/// Replaces the password of a `scheme://user:password@host` URL with `***`; in a list of
/// URLs ([`url_list`]), each one's.
pub fn redact_url(url: &str) -> String {
    url_list(url)
        .into_iter()
        .map(redact_one_url)
        .collect::<Vec<_>>()
        .join(",")
}

fn redact_one_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

thread_local! {
    static REDACTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// `config` as TOML, as a configuration file would hold it, with every [`Secret`] and every
/// password inside a URL replaced by `***`: what `--print-config` shows.
pub fn redacted_toml<T: Serialize>(config: &T) -> Result<String, String> {
    REDACTING.with(|r| r.set(true));
    let value = toml::Value::try_from(config);
    REDACTING.with(|r| r.set(false));
    let mut value = value.map_err(|e| e.to_string())?;
    redact_urls(&mut value);
    toml::to_string_pretty(&value).map_err(|e| e.to_string())
}

fn redact_urls(value: &mut toml::Value) {
    match value {
        toml::Value::String(s) if s.contains("://") => *s = redact_url(s),
        toml::Value::Array(items) => items.iter_mut().for_each(redact_urls),
        toml::Value::Table(table) => table.iter_mut().for_each(|(_, v)| redact_urls(v)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, Deserialize)]
    struct Sample {
        name: String,
        token: Secret,
        nested: Nested,
    }

    #[derive(Debug, Serialize, Deserialize)]
    struct Nested {
        url: String,
        size: u32,
    }

    impl Default for Sample {
        fn default() -> Self {
            Self {
                name: "x".into(),
                token: Secret::default(),
                nested: Nested {
                    url: "postgres://app:pw@db/x".into(),
                    size: 4,
                },
            }
        }
    }

    #[test]
    fn printed_configuration_hides_secrets_and_url_passwords() {
        let sample = Sample {
            token: Secret::new("s3cret"),
            ..Sample::default()
        };
        let printed = redacted_toml(&sample).expect("toml");
        assert!(
            !printed.contains("s3cret") && !printed.contains(":pw@"),
            "{printed}"
        );
        assert!(printed.contains("token = \"***\""), "{printed}");
        assert!(printed.contains("postgres://app:***@db/x"), "{printed}");
        // Serialising outside `redacted_toml` keeps the value (figment's defaults need it).
        assert!(toml::to_string(&sample).expect("toml").contains("s3cret"));
    }

    #[test]
    fn every_node_of_a_url_list_is_redacted() {
        assert_eq!(
            redact_url("amqp://ps:one@r0:5672/%2f, amqp://ps:two@r1:5672/%2f,amqp://r2/%2f"),
            "amqp://ps:***@r0:5672/%2f, amqp://ps:***@r1:5672/%2f,amqp://r2/%2f"
        );
        assert_eq!(
            redact_url("postgres://app:pw@db/x"),
            "postgres://app:***@db/x"
        );
        // A comma in a password does not split the URL.
        assert_eq!(
            redact_url("postgres://app:p,w@db/x"),
            "postgres://app:***@db/x"
        );
    }

    #[test]
    fn an_invalid_setting_is_named() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("config.toml");
        std::fs::write(&file, "[nested]\nsize = \"lots\"\n").expect("write");
        let err = load::<Sample>(Some(&file), "PS_TEST_CONFIG_UNUSED_")
            .expect_err("a string where a number belongs");
        let message = err.to_string();
        assert!(message.contains("nested.size"), "{message}");
        assert!(message.contains("lots"), "{message}");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature, not ours
    fn an_invalid_variable_is_named_as_spelt() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PS_JAIL_NESTED__SIZE", "lots");
            let err = load::<Sample>(None, "PS_JAIL_").expect_err("not a number");
            let message = err.to_string();
            assert!(message.contains("PS_JAIL_NESTED__SIZE"), "{message}");
            Ok(())
        });
    }
}
