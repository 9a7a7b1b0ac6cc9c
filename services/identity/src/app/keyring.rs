//! The keys that sign access tokens: sealed at rest with the configured key-encryption key
//! (XChaCha20-Poly1305, the key id as associated data, a random nonce per seal), rotated by
//! the operator, published as JWKs from creation until the tokens they signed have expired.
//!
//! Rotation: a new key is published at once and signs from `activates_at` (the activation
//! delay later), so every verifier can know it before the first token it signs arrives; the
//! keys signing until then are retired once their last token expires (activation + the access
//! token lifetime + a minute of clock skew). Each identity replica re-reads the signing key
//! every [`REFRESH_EVERY`], so all of them move to the new key within a second of activation.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::{DateTime, Utc};
use ps_auth::{PublicJwk, SigningKey};
use ps_db::Db;
use tracing::{info, warn};

use crate::domain::{KeyFormat, StoredSigningKey};
use crate::error::Error;
use crate::store;

/// How often a replica re-reads which key signs.
pub const REFRESH_EVERY: Duration = Duration::from_secs(1);
/// A sealed private key ([`KeyFormat::Sealed`]) is the nonce (24 bytes), then the ciphertext.
const NONCE_BYTES: usize = 24;

/// The key-encryption key.
#[derive(Clone)]
pub struct Kek(Arc<XChaCha20Poly1305>);

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(***)")
    }
}

impl Kek {
    /// 32 bytes, base64 (standard or URL-safe, padded or not).
    pub fn parse(encoded: &str) -> Result<Self, String> {
        let encoded = encoded.trim();
        let engines = [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        let bytes = engines
            .iter()
            .find_map(|engine| engine.decode(encoded).ok())
            .ok_or("the key-encryption key is not base64")?;
        if bytes.len() != 32 {
            return Err(format!(
                "the key-encryption key must be 32 bytes, not {}",
                bytes.len()
            ));
        }
        Ok(Self(Arc::new(XChaCha20Poly1305::new(
            bytes.as_slice().into(),
        ))))
    }

    /// A fresh random key-encryption key, base64 (the launcher's, kept in its data directory).
    pub fn generate() -> String {
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        base64::engine::general_purpose::STANDARD.encode(key)
    }

    fn seal(&self, kid: &str, pkcs8: &[u8]) -> Result<Vec<u8>, Error> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .0
            .encrypt(
                &nonce,
                Payload {
                    msg: pkcs8,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| Error::Internal("sealing a signing key failed".into()))?;
        let mut stored = nonce.to_vec();
        stored.extend(sealed);
        Ok(stored)
    }

    fn open(&self, kid: &str, stored: &[u8]) -> Result<Vec<u8>, Error> {
        if stored.len() <= NONCE_BYTES {
            return Err(Error::Internal(format!("signing key {kid} is truncated")));
        }
        let (nonce, sealed) = stored.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce
            .try_into()
            .map_err(|_| Error::Internal(format!("signing key {kid} is truncated")))?;
        self.0
            .decrypt(&XNonce::from(nonce), Payload { msg: sealed, aad: kid.as_bytes() })
            .map_err(|_| {
                Error::Internal(format!(
                    "signing key {kid} cannot be opened: the key-encryption key is not the one it was sealed with"
                ))
            })
    }
}

fn unsealed(kek: &Kek, key: &StoredSigningKey) -> Result<SigningKey, Error> {
    let pkcs8 = match key.format {
        KeyFormat::Sealed => kek.open(&key.kid, &key.private_key)?,
        KeyFormat::Clear => key.private_key.clone(),
    };
    SigningKey::from_pkcs8(key.kid.clone(), pkcs8).map_err(|e| Error::Internal(e.to_string()))
}

async fn insert(
    db: &Db,
    kek: &Kek,
    activates_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<SigningKey, Error> {
    let key = SigningKey::generate();
    let sealed = kek.seal(key.kid(), key.pkcs8_der())?;
    store::keys::insert_sealed(db, key.kid(), sealed, now, activates_at).await?;
    Ok(key)
}

/// What a rotation did.
#[derive(Debug, Clone)]
pub struct Rotated {
    pub kid: String,
    pub activates_at: DateTime<Utc>,
    pub retiring: Vec<String>,
    pub retires_at: DateTime<Utc>,
}

/// The signing keys as one identity process holds them.
pub struct Keyring {
    db: Db,
    kek: Kek,
    signer: RwLock<Arc<SigningKey>>,
}

impl Keyring {
    /// Seals any key still stored in clear, and takes the key that signs now (creating the
    /// first one on a new database).
    pub async fn load(db: Db, kek: Kek, now: DateTime<Utc>) -> Result<Self, Error> {
        for key in store::keys::in_clear(&db).await? {
            let sealed = kek.seal(&key.kid, &key.private_key)?;
            store::keys::seal(&db, &key.kid, sealed).await?;
            info!(kid = %key.kid, "sealed a signing key stored in clear");
        }
        let signer = match Self::newest_active(&db, &kek, now).await? {
            Some(key) => key,
            None => {
                let key = insert(&db, &kek, None, now).await?;
                info!(kid = key.kid(), "created token signing key");
                key
            }
        };
        Ok(Self {
            db,
            kek,
            signer: RwLock::new(Arc::new(signer)),
        })
    }

    async fn newest_active(
        db: &Db,
        kek: &Kek,
        now: DateTime<Utc>,
    ) -> Result<Option<SigningKey>, Error> {
        store::keys::newest_active(db, now)
            .await?
            .map(|key| unsealed(kek, &key))
            .transpose()
    }

    /// The key that signs now.
    pub fn signer(&self) -> Arc<SigningKey> {
        self.signer
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Re-reads which key signs (another replica may have rotated; a new key may have
    /// activated).
    pub async fn refresh(&self, now: DateTime<Utc>) -> Result<(), Error> {
        let Some(newest) = Self::newest_active(&self.db, &self.kek, now).await? else {
            return Ok(());
        };
        if newest.kid() != self.signer().kid() {
            info!(kid = newest.kid(), "signing with a new key");
            *self
                .signer
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(newest);
        }
        Ok(())
    }

    /// Adds a new key that signs from `now + activation_delay` and retires the keys signing
    /// until then once their tokens have expired.
    pub async fn rotate(
        &self,
        now: DateTime<Utc>,
        activation_delay: Duration,
        token_ttl: Duration,
    ) -> Result<Rotated, Error> {
        let span = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        let activates_at = now + span(activation_delay);
        let retires_at = activates_at + span(token_ttl) + chrono::Duration::minutes(1);
        let retiring = store::keys::unretired(&self.db).await?;
        let key = insert(&self.db, &self.kek, Some(activates_at), now).await?;
        store::keys::retire(&self.db, &retiring, retires_at).await?;
        info!(kid = key.kid(), %activates_at, retiring = ?retiring, %retires_at, "signing key rotated");
        Ok(Rotated {
            kid: key.kid().to_owned(),
            activates_at,
            retiring,
            retires_at,
        })
    }

    /// Every published public key. Read from the database each time, so keys another replica
    /// created are published too; verifiers cache the answer.
    pub async fn published(&self, now: DateTime<Utc>) -> Result<Vec<PublicJwk>, Error> {
        store::keys::published(&self.db, now)
            .await?
            .iter()
            .map(|key| unsealed(&self.kek, key).map(|k| k.public_jwk()))
            .collect()
    }

    /// Keeps [`Keyring::signer`] current until shutdown.
    pub async fn run_refresh(
        self: Arc<Self>,
        clock: ps_core::SharedClock,
        shutdown: ps_core::Shutdown,
    ) {
        loop {
            if let Err(err) = self.refresh(clock.now()).await {
                warn!(error = %err, "re-reading the signing key failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(REFRESH_EVERY) => {}
                _ = shutdown.clone().wait() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_open_only_with_their_key_and_id() {
        let kek = Kek::parse(&Kek::generate()).unwrap();
        let key = SigningKey::generate();
        let sealed = kek.seal(key.kid(), key.pkcs8_der()).unwrap();
        assert!(
            !sealed
                .windows(16)
                .any(|w| key.pkcs8_der().windows(16).any(|k| k == w))
        );
        assert_eq!(kek.open(key.kid(), &sealed).unwrap(), key.pkcs8_der());
        assert!(kek.open("another-kid", &sealed).is_err());
        let other = Kek::parse(&Kek::generate()).unwrap();
        assert!(other.open(key.kid(), &sealed).is_err());
        assert!(Kek::parse("c2hvcnQ=").is_err());
        assert!(Kek::parse("not base64!").is_err());
    }
}
