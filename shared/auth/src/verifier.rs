//! Verifies access tokens locally. Keys come from a [`KeySource`] (identity's `GetJwks` for
//! other services, identity's own keys for itself) and are cached; an unknown key id triggers
//! one refresh, at most once a second, so a flood of forged kids cannot hammer identity.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use ps_core::{
    PracticeId, PracticeRole, ServiceAccountId, SessionId, SharedClock, StaffId, UserId,
};
use tokio::sync::{Mutex, RwLock};
use tracing::warn;

use crate::caller::{ServiceCaller, UserCaller};
use crate::claims::{ACCESS_TOKEN_TYPE, SERVICE_TOKEN_TYPE, TokenSettings};
use crate::keys::PublicJwk;
use crate::scopes::Scope;

/// Why a token was refused. Only the category reaches the client.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Not a JWT, or a claim is missing or unparsable.
    #[error("access token is malformed")]
    Malformed,
    /// Signed with a key id the key source does not publish.
    #[error("access token is signed by an unknown key")]
    UnknownKey,
    /// Bad signature, algorithm, issuer, audience or token type.
    #[error("access token signature, issuer or audience is invalid")]
    Invalid,
    /// Past its `exp`.
    #[error("access token has expired")]
    Expired,
    /// Before its `nbf`, beyond the tolerated clock skew (30 s).
    #[error("access token is not valid yet")]
    NotYetValid,
    /// The keys could not be fetched (identity unreachable).
    #[error("keys to verify the access token are unavailable")]
    KeysUnavailable,
}

/// Where the public keys that verify tokens come from.
#[async_trait]
pub trait KeySource: Send + Sync + 'static {
    /// Every key currently published; the error describes why they could not be read.
    async fn fetch(&self) -> Result<Vec<PublicJwk>, String>;
}

/// Keys held in memory (identity verifying its own tokens).
#[derive(Debug, Clone, Default)]
pub struct StaticKeys(Arc<std::sync::RwLock<Vec<PublicJwk>>>);

impl StaticKeys {
    /// Holds `keys`.
    pub fn new(keys: Vec<PublicJwk>) -> Self {
        Self(Arc::new(std::sync::RwLock::new(keys)))
    }
}

#[async_trait]
impl KeySource for StaticKeys {
    async fn fetch(&self) -> Result<Vec<PublicJwk>, String> {
        Ok(self.0.read().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

/// Identity's `GetJwks` over gRPC.
#[derive(Debug, Clone)]
pub struct RemoteJwks {
    client: ps_proto::identity::v1::identity_service_client::IdentityServiceClient<
        tonic::transport::Channel,
    >,
}

impl RemoteJwks {
    /// Connects lazily, so a service can start before identity answers; over TLS when the
    /// URL is `https://`.
    pub fn new(
        identity_url: &str,
        tls: &crate::tls::ClientTlsSettings,
    ) -> Result<Self, crate::tls::TlsError> {
        let channel = crate::tls::endpoint(identity_url, tls)?.connect_lazy();
        Ok(Self {
            client: ps_proto::identity::v1::identity_service_client::IdentityServiceClient::new(
                channel,
            ),
        })
    }
}

#[async_trait]
impl KeySource for RemoteJwks {
    async fn fetch(&self) -> Result<Vec<PublicJwk>, String> {
        let reply = self
            .client
            .clone()
            .get_jwks(ps_proto::identity::v1::GetJwksRequest {})
            .await
            .map_err(|status| format!("{}: {}", status.code(), status.message()))?;
        Ok(reply
            .into_inner()
            .keys
            .into_iter()
            .filter(|k| {
                k.kty == PublicJwk::KTY && k.crv == PublicJwk::CRV && k.alg == PublicJwk::ALG
            })
            .map(|k| PublicJwk { kid: k.kid, x: k.x })
            .collect())
    }
}

/// Minimum time between two key refreshes triggered by unknown key ids: short enough that a
/// key identity rotated in (published before it signs, see identity's activation delay) is
/// fetched before its first token arrives, long enough that forged key ids cannot hammer
/// identity.
const REFRESH_INTERVAL: Duration = Duration::from_secs(1);
/// Tolerated clock skew for not-before between replicas.
const NOT_BEFORE_LEEWAY_SECS: i64 = 30;
/// Tokens remembered as verified. A service calling many times a second presents the same
/// token for minutes; checking its Ed25519 signature once instead of on every call is most of
/// what authentication costs. When full, the cache starts over.
const VERIFIED_CACHE_ENTRIES: usize = 10_000;

/// A verified token: who it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// A user's access token.
    User(UserCaller),
    /// A service account's token.
    Service(ServiceCaller),
}

/// The claims of either kind of token; which ones must be present depends on `typ`.
#[derive(serde::Deserialize)]
struct Claims {
    sub: String,
    typ: String,
    sid: String,
    nbf: i64,
    exp: i64,
    #[serde(default)]
    pid: Option<String>,
    #[serde(default)]
    stf: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

impl Claims {
    fn into_verified(self) -> Result<Verified, TokenError> {
        let parse = |v: &str| uuid::Uuid::parse_str(v).map_err(|_| TokenError::Malformed);
        let session_id = SessionId(parse(&self.sid)?);
        match self.typ.as_str() {
            ACCESS_TOKEN_TYPE => Ok(Verified::User(UserCaller {
                user_id: UserId(parse(&self.sub)?),
                practice_id: PracticeId(parse(self.pid.as_deref().ok_or(TokenError::Malformed)?)?),
                staff_id: StaffId(parse(self.stf.as_deref().ok_or(TokenError::Malformed)?)?),
                session_id,
                role: self
                    .role
                    .as_deref()
                    .and_then(PracticeRole::parse)
                    .ok_or(TokenError::Malformed)?,
            })),
            SERVICE_TOKEN_TYPE => Ok(Verified::Service(ServiceCaller {
                account_id: ServiceAccountId(parse(&self.sub)?),
                name: self.name.ok_or(TokenError::Malformed)?,
                // A scope this build does not know grants nothing here.
                scopes: self
                    .scope
                    .as_deref()
                    .unwrap_or_default()
                    .split_whitespace()
                    .filter_map(Scope::parse)
                    .collect(),
                practice: self.pid.as_deref().map(parse).transpose()?.map(PracticeId),
                session_id,
            })),
            _ => Err(TokenError::Invalid),
        }
    }
}

struct Remembered {
    verified: Verified,
    nbf: i64,
    exp: i64,
}

/// Verifies access and service tokens against a [`KeySource`]'s keys, caching keys and verified
/// tokens.
pub struct TokenVerifier {
    source: Arc<dyn KeySource>,
    settings: TokenSettings,
    clock: SharedClock,
    keys: RwLock<HashMap<String, DecodingKey>>,
    last_refresh: Mutex<Option<Instant>>,
    verified: std::sync::RwLock<HashMap<String, Remembered>>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl TokenVerifier {
    /// Verifies tokens signed by `source`'s keys for `settings`, with time read from `clock`.
    pub fn new(source: Arc<dyn KeySource>, settings: TokenSettings, clock: SharedClock) -> Self {
        Self {
            source,
            settings,
            clock,
            keys: RwLock::default(),
            last_refresh: Mutex::default(),
            verified: std::sync::RwLock::default(),
        }
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, TokenError> {
        if let Some(key) = self.keys.read().await.get(kid) {
            return Ok(key.clone());
        }
        let mut last = self.last_refresh.lock().await;
        // Another request may have refreshed while this one waited for the lock.
        if let Some(key) = self.keys.read().await.get(kid) {
            return Ok(key.clone());
        }
        if last.is_some_and(|at| at.elapsed() < REFRESH_INTERVAL) {
            return Err(TokenError::UnknownKey);
        }
        let fetched = self.source.fetch().await.map_err(|err| {
            warn!(error = %err, "fetching token keys failed");
            TokenError::KeysUnavailable
        })?;
        *last = Some(Instant::now());
        let mut keys = HashMap::new();
        for jwk in fetched {
            match jwk.decoding_key() {
                Ok(key) => {
                    keys.insert(jwk.kid, key);
                }
                Err(err) => warn!(kid = %jwk.kid, error = %err, "ignoring unusable token key"),
            }
        }
        let found = keys.get(kid).cloned();
        *self.keys.write().await = keys;
        // Keys changed: tokens are checked against the new set from now on.
        self.verified
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        found.ok_or(TokenError::UnknownKey)
    }

    /// Expiry and not-before against the injected clock.
    fn current(&self, nbf: i64, exp: i64) -> Result<(), TokenError> {
        let now = self.clock.now().timestamp();
        if exp <= now {
            return Err(TokenError::Expired);
        }
        if nbf > now + NOT_BEFORE_LEEWAY_SECS {
            return Err(TokenError::NotYetValid);
        }
        Ok(())
    }

    /// Checks signature, algorithm, issuer, audience, token type, expiry and not-before, and
    /// says whom the token names.
    pub async fn verify_caller(&self, token: &str) -> Result<Verified, TokenError> {
        if let Some(known) = self
            .verified
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
        {
            self.current(known.nbf, known.exp)?;
            return Ok(known.verified.clone());
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Invalid);
        }
        let kid = header.kid.ok_or(TokenError::Malformed)?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        // Time is checked below against the injected clock, not the library's wall clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|_| TokenError::Invalid)?
            .claims;
        let (nbf, exp) = (claims.nbf, claims.exp);
        self.current(nbf, exp)?;
        let verified = claims.into_verified()?;
        let mut cache = self.verified.write().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= VERIFIED_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(
            token.to_owned(),
            Remembered {
                verified: verified.clone(),
                nbf,
                exp,
            },
        );
        Ok(verified)
    }

    /// Verifies a user's access token (a service token is refused as invalid here).
    pub async fn verify_user(&self, token: &str) -> Result<UserCaller, TokenError> {
        match self.verify_caller(token).await? {
            Verified::User(user) => Ok(user),
            Verified::Service(_) => Err(TokenError::Invalid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::{AccessClaims, ServiceClaims};
    use crate::keys::SigningKey;
    use ps_core::{Clock, ManualClock};

    fn claims(now: i64, settings: &TokenSettings) -> AccessClaims {
        AccessClaims {
            iss: settings.issuer.clone(),
            aud: settings.audience.clone(),
            sub: uuid::Uuid::now_v7().to_string(),
            pid: uuid::Uuid::now_v7().to_string(),
            stf: uuid::Uuid::now_v7().to_string(),
            sid: uuid::Uuid::now_v7().to_string(),
            role: "member".into(),
            typ: ACCESS_TOKEN_TYPE.into(),
            iat: now,
            nbf: now,
            exp: now + 900,
            jti: uuid::Uuid::now_v7().to_string(),
        }
    }

    fn setup() -> (SigningKey, Arc<ManualClock>, TokenVerifier, TokenSettings) {
        let key = SigningKey::generate();
        let clock = Arc::new(ManualClock::starting_now());
        let settings = TokenSettings::default();
        let verifier = TokenVerifier::new(
            Arc::new(StaticKeys::new(vec![key.public_jwk()])),
            settings.clone(),
            clock.clone(),
        );
        (key, clock, verifier, settings)
    }

    #[tokio::test]
    async fn valid_tokens_verify_and_expire_by_the_injected_clock() {
        let (key, clock, verifier, settings) = setup();
        let token = key
            .sign(&claims(clock.now().timestamp(), &settings))
            .unwrap();
        assert!(verifier.verify_user(&token).await.is_ok());
        clock.advance(chrono::Duration::seconds(901));
        assert_eq!(
            verifier.verify_caller(&token).await.unwrap_err(),
            TokenError::Expired
        );
    }

    #[tokio::test]
    async fn wrong_audience_type_or_key_is_refused() {
        let (key, clock, verifier, settings) = setup();
        let now = clock.now().timestamp();
        let mut wrong_audience = claims(now, &settings);
        wrong_audience.aud = "someone-else".into();
        assert_eq!(
            verifier
                .verify_caller(&key.sign(&wrong_audience).unwrap())
                .await
                .unwrap_err(),
            TokenError::Invalid
        );
        let mut refresh = claims(now, &settings);
        refresh.typ = "refresh".into();
        assert_eq!(
            verifier
                .verify_caller(&key.sign(&refresh).unwrap())
                .await
                .unwrap_err(),
            TokenError::Invalid
        );
        let stranger = SigningKey::generate();
        assert_eq!(
            verifier
                .verify_caller(&stranger.sign(&claims(now, &settings)).unwrap())
                .await
                .unwrap_err(),
            TokenError::UnknownKey
        );
        assert_eq!(
            verifier.verify_caller("not.a.jwt").await.unwrap_err(),
            TokenError::Malformed
        );
    }

    #[tokio::test]
    async fn a_token_signed_by_a_known_kid_with_another_key_is_refused() {
        let (key, clock, verifier, settings) = setup();
        let forger = SigningKey::from_pkcs8(
            key.kid().to_owned(),
            SigningKey::generate().pkcs8_der().to_vec(),
        )
        .unwrap();
        let forged = forger
            .sign(&claims(clock.now().timestamp(), &settings))
            .unwrap();
        assert_eq!(
            verifier.verify_caller(&forged).await.unwrap_err(),
            TokenError::Invalid
        );
    }

    fn service_claims(now: i64, settings: &TokenSettings) -> ServiceClaims {
        ServiceClaims {
            iss: settings.issuer.clone(),
            aud: settings.audience.clone(),
            sub: uuid::Uuid::now_v7().to_string(),
            name: "billing".into(),
            scope: "orgaccess.check staff.read not.a.scope".into(),
            pid: None,
            sid: uuid::Uuid::now_v7().to_string(),
            typ: SERVICE_TOKEN_TYPE.into(),
            iat: now,
            nbf: now,
            exp: now + 300,
            jti: uuid::Uuid::now_v7().to_string(),
        }
    }

    #[tokio::test]
    async fn service_tokens_name_the_account_and_its_known_scopes_and_are_never_user_tokens() {
        let (key, clock, verifier, settings) = setup();
        let claims = service_claims(clock.now().timestamp(), &settings);
        let token = key.sign(&claims).unwrap();
        let Verified::Service(service) = verifier.verify_caller(&token).await.unwrap() else {
            panic!("a service token verifies as a service");
        };
        assert_eq!(service.account_id.to_string(), claims.sub);
        assert_eq!(service.name, "billing");
        assert_eq!(
            service.scopes,
            vec![crate::scopes::ORGACCESS_CHECK, crate::scopes::STAFF_READ]
        );
        assert_eq!(service.practice, None);
        assert_eq!(
            verifier.verify_user(&token).await.unwrap_err(),
            TokenError::Invalid
        );
        // Remembered, and still expiring by the injected clock.
        clock.advance(chrono::Duration::seconds(301));
        assert_eq!(
            verifier.verify_caller(&token).await.unwrap_err(),
            TokenError::Expired
        );
        let mut limited = service_claims(clock.now().timestamp(), &settings);
        let practice = uuid::Uuid::now_v7();
        limited.pid = Some(practice.to_string());
        let Verified::Service(service) = verifier
            .verify_caller(&key.sign(&limited).unwrap())
            .await
            .unwrap()
        else {
            panic!("a service token verifies as a service");
        };
        assert_eq!(service.practice, Some(PracticeId(practice)));
        assert!(service.may_see(PracticeId(practice)));
        assert!(!service.may_see(PracticeId(uuid::Uuid::now_v7())));
    }

    #[tokio::test]
    async fn a_service_token_without_its_name_or_a_user_token_without_its_practice_is_malformed() {
        let (key, clock, verifier, settings) = setup();
        let now = clock.now().timestamp();
        let mut claims = serde_json::to_value(claims(now, &settings)).unwrap();
        claims.as_object_mut().unwrap().remove("pid");
        assert_eq!(
            verifier
                .verify_caller(&key.sign(&claims).unwrap())
                .await
                .unwrap_err(),
            TokenError::Malformed
        );
        let mut service = serde_json::to_value(service_claims(now, &settings)).unwrap();
        service.as_object_mut().unwrap().remove("name");
        assert_eq!(
            verifier
                .verify_caller(&key.sign(&service).unwrap())
                .await
                .unwrap_err(),
            TokenError::Malformed
        );
    }
}
