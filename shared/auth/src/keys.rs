//! Ed25519 signing keys. Identity keeps the private halves; every service verifies with the
//! public halves published as JWKs.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, spki::der::pem::LineEnding};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};

/// Why a key could not be read or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A stored or configured private key is not PKCS#8 Ed25519.
    #[error("the stored private key is not a PKCS#8 Ed25519 key")]
    BadPrivateKey,
    /// A JWK's `x` is not 32 bytes of base64url.
    #[error("the public key is not 32 bytes of base64url")]
    BadPublicKey,
    /// The JWT library failed to sign.
    #[error("signing failed: {0}")]
    Signing(#[from] jsonwebtoken::errors::Error),
}

/// A private signing key with its id.
pub struct SigningKey {
    kid: String,
    pkcs8: Vec<u8>,
    public: [u8; 32],
    encoding: EncodingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new random key, its id a UUIDv7.
    pub fn generate() -> Self {
        let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        let pkcs8 = key
            .to_pkcs8_der()
            .expect("encoding a freshly generated Ed25519 key as PKCS#8 cannot fail")
            .as_bytes()
            .to_vec();
        Self::build(
            uuid::Uuid::now_v7().to_string(),
            pkcs8,
            key.verifying_key().to_bytes(),
        )
    }

    /// Restores a stored key.
    pub fn from_pkcs8(kid: String, pkcs8: Vec<u8>) -> Result<Self, KeyError> {
        let key = ed25519_dalek::SigningKey::from_pkcs8_der(&pkcs8)
            .map_err(|_| KeyError::BadPrivateKey)?;
        Ok(Self::build(kid, pkcs8, key.verifying_key().to_bytes()))
    }

    /// Restores a key from a PKCS#8 PEM file's text (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pkcs8_pem(kid: String, pem: &str) -> Result<Self, KeyError> {
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem.trim())
            .map_err(|_| KeyError::BadPrivateKey)?;
        let der = key
            .to_pkcs8_der()
            .map_err(|_| KeyError::BadPrivateKey)?
            .as_bytes()
            .to_vec();
        Ok(Self::build(kid, der, key.verifying_key().to_bytes()))
    }

    /// The private key as PKCS#8 PEM, for a file only its owner reads.
    pub fn to_pkcs8_pem(&self) -> Result<String, KeyError> {
        let key = ed25519_dalek::SigningKey::from_pkcs8_der(&self.pkcs8)
            .map_err(|_| KeyError::BadPrivateKey)?;
        Ok(key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|_| KeyError::BadPrivateKey)?
            .to_string())
    }

    /// A key with another id (the id identity assigns when the public half is registered).
    pub fn with_kid(self, kid: String) -> Self {
        Self { kid, ..self }
    }

    /// base64url of the 32-byte public key (a JWK's `x`), as registered with identity.
    pub fn public_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.public)
    }

    fn build(kid: String, pkcs8: Vec<u8>, public: [u8; 32]) -> Self {
        let encoding = EncodingKey::from_ed_der(&pkcs8);
        Self {
            kid,
            pkcs8,
            public,
            encoding,
        }
    }

    /// The key id, written into the `kid` header of every token it signs.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The private key as PKCS#8 DER, for storage (sealed at rest by identity).
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public half, to publish.
    pub fn public_jwk(&self) -> PublicJwk {
        PublicJwk {
            kid: self.kid.clone(),
            x: URL_SAFE_NO_PAD.encode(self.public),
        }
    }

    /// Signs any claims (access tokens, service tokens; in tests, whatever a test forges).
    pub fn sign<C: serde::Serialize>(&self, claims: &C) -> Result<String, KeyError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        header.typ = Some("JWT".into());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }
}

/// The public half as a JWK (`kty` OKP, `crv` Ed25519, `alg` EdDSA).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicJwk {
    /// The key id tokens name in their `kid` header.
    pub kid: String,
    /// base64url of the 32-byte public key.
    pub x: String,
}

impl PublicJwk {
    /// The JWK key type of every published key.
    pub const KTY: &'static str = "OKP";
    /// The JWK curve of every published key.
    pub const CRV: &'static str = "Ed25519";
    /// The JWK algorithm of every published key.
    pub const ALG: &'static str = "EdDSA";

    /// The key to verify signatures with; [`KeyError::BadPublicKey`] unless `x` is 32 bytes of
    /// base64url.
    pub fn decoding_key(&self) -> Result<DecodingKey, KeyError> {
        // jsonwebtoken slices the first 32 bytes without checking the length; check it here.
        let bytes = URL_SAFE_NO_PAD
            .decode(&self.x)
            .map_err(|_| KeyError::BadPublicKey)?;
        if bytes.len() != 32 {
            return Err(KeyError::BadPublicKey);
        }
        DecodingKey::from_ed_components(&self.x).map_err(|_| KeyError::BadPublicKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_keys_restore_to_the_same_public_key() {
        let key = SigningKey::generate();
        let restored =
            SigningKey::from_pkcs8(key.kid().to_owned(), key.pkcs8_der().to_vec()).unwrap();
        assert_eq!(restored.public_jwk(), key.public_jwk());
        let pem = key.to_pkcs8_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let from_pem = SigningKey::from_pkcs8_pem(key.kid().to_owned(), &pem).unwrap();
        assert_eq!(from_pem.public_jwk(), key.public_jwk());
        assert_eq!(from_pem.public_key(), key.public_jwk().x);
        assert!(SigningKey::from_pkcs8("k".into(), vec![1, 2, 3]).is_err());
    }

    #[test]
    fn short_public_keys_are_refused_not_panicked_on() {
        let jwk = PublicJwk {
            kid: "k".into(),
            x: "AAAA".into(),
        };
        assert!(jwk.decoding_key().is_err());
    }
}
