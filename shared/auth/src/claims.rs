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
    pub iss: String,
    pub aud: String,
    /// User id.
    pub sub: String,
    /// Practice the session acts in.
    pub pid: String,
    /// Staff member id of the user in that practice.
    pub stf: String,
    /// Session id, so sign-out can end it.
    pub sid: String,
    pub role: String,
    pub typ: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
}

/// What a service token asserts (`typ` [`SERVICE_TOKEN_TYPE`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceClaims {
    pub iss: String,
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
    pub typ: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
}

/// Who issues tokens and for whom; both sides must agree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSettings {
    pub issuer: String,
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
