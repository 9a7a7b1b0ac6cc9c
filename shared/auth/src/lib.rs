//! Authentication for every service: access tokens, who the caller is, and the tower layer
//! that guards each gRPC router.
//!
//! - [`keys`]: Ed25519 signing keys and their public JWK form (identity signs, everyone verifies).
//! - [`claims`]: what an access token says.
//! - [`verifier`]: verifies tokens locally with keys fetched from identity's `GetJwks`, checking
//!   expiry and not-before against the injected clock.
//! - [`layer`]: one layer over the whole router with an explicit per-method [`AccessPolicy`];
//!   a method the policy does not name needs a user token.
//! - [`caller`]: the verified caller, put into request extensions for handlers.
//! - [`credentials`]: client side: interceptors that attach tokens, and
//!   [`ServiceCredentials`], which fetches and refreshes a service account's token.
//! - [`scopes`]: the catalogue of scopes service accounts hold; each internal RPC needs one.

#![warn(missing_docs)]

pub mod caller;
pub mod claims;
pub mod credentials;
pub mod keys;
pub mod layer;
pub mod scopes;
pub mod tls;
pub mod verifier;

pub use caller::{Caller, ServiceCaller, UserCaller};
pub use claims::{AccessClaims, ServiceClaims, TokenSettings};
pub use credentials::{ServiceCredentialSettings, ServiceCredentials};
pub use keys::{PublicJwk, SigningKey};
pub use layer::{Access, AccessPolicy, AuthLayer, CallerLabel, NoEndedSessions, SessionCheck};
pub use scopes::Scope;
pub use tls::{ClientTlsSettings, TlsError};
pub use verifier::{KeySource, RemoteJwks, StaticKeys, TokenVerifier, Verified};
/// Header carrying the operator credential (bootstrap).
pub const OPERATOR_TOKEN_HEADER: &str = "x-operator-token";

/// A fresh random credential: 256 bits, base64url.
pub fn random_token() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
