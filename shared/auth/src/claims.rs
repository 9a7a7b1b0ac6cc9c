//! What the tokens identity signs say: access tokens for people, service tokens for machine
//! callers. Both are signed by the same keys and verified the same way; their `typ` keeps them
//! apart, so neither is ever accepted where the other is required.

use serde::{Deserialize, Serialize};

/// Distinguishes access tokens from any other JWT the same key might ever sign.
pub const ACCESS_TOKEN_TYPE: &str = "access";
/// A service account's token.
pub const SERVICE_TOKEN_TYPE: &str = "service";

/// What an access token asserts. The practice role is a snapshot for coarse checks;
/// services that own roles (staff-directory) or project them (org-access) check their own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer; must equal [`TokenSettings::issuer`].
    pub iss: String,
    /// Audience; must equal [`TokenSettings::audience`].
    pub aud: String,
    /// User id.
    pub sub: String,
    /// Practice the session acts in.
    pub pid: String,
    /// Staff member id of the user in that practice.
    pub stf: String,
    /// Session id, so sign-out can end it.
    pub sid: String,
    /// The practice role when the token was issued ([`ps_core::PracticeRole::as_str`]).
    pub role: String,
    /// Always [`ACCESS_TOKEN_TYPE`].
    pub typ: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Not valid before (Unix seconds).
    pub nbf: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// The token's own id (a UUIDv7).
    pub jti: String,
}

/// What a service token asserts (`typ` [`SERVICE_TOKEN_TYPE`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceClaims {
    /// Issuer; must equal [`TokenSettings::issuer`].
    pub iss: String,
    /// Audience; must equal [`TokenSettings::audience`].
    pub aud: String,
    /// The service account's id.
    pub sub: String,
    /// The account's name, so logs name the caller without a lookup.
    pub name: String,
    /// Space-separated scopes (OAuth style).
    pub scope: String,
    /// The practice the account is limited to; absent for a platform-wide account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    /// The account's token session: disabling the account ends it, so its tokens are refused
    /// everywhere like a signed-out session's.
    pub sid: String,
    /// Always [`SERVICE_TOKEN_TYPE`].
    pub typ: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Not valid before (Unix seconds).
    pub nbf: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// The token's own id (a UUIDv7).
    pub jti: String,
}

/// Who issues tokens and for whom; both sides must agree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSettings {
    /// The `iss` identity writes and every service expects.
    pub issuer: String,
    /// The `aud` identity writes and every service expects.
    pub audience: String,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            issuer: "practice-staff/identity".into(),
            audience: "practice-staff".into(),
        }
    }
}
