//! The access token's claims.

use serde::{Deserialize, Serialize};

/// Distinguishes access tokens from any other JWT the same key might ever sign.
pub const ACCESS_TOKEN_TYPE: &str = "access";

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
