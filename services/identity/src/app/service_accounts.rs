//! Service accounts: creating and managing them (the operator, or a practice's Account Owner
//! for the accounts limited to it), and exchanging their credentials for service tokens.
//!
//! Secrets are 256 random bits shown once and stored as SHA-256. A rotation keeps the
//! replaced secrets working for a grace period. Disabling ends the account's token session,
//! so tokens already issued are refused everywhere within a second, like a signed-out session's;
//! enabling starts a new one. Every change is written with an entry in the account's history,
//! in one transaction.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, Validation};
use ps_auth::claims::SERVICE_TOKEN_TYPE;
use ps_auth::{Caller, PublicJwk, Scope, ServiceClaims};
use ps_core::{FieldViolation, Page, PracticeId, PracticeRole, ServiceAccountId, UserId};
use ps_db::Tx;
use ps_events::event::SessionsEnded;
use ps_events::{Actor, Event, Payload, outbox};
use tracing::{info, warn};
use uuid::Uuid;

use super::{Identity, span};
use crate::domain::SecretToken;
use crate::domain::service_accounts::{
    self as rules, AccountListing, AccountStatus, AssertionClaims, HistoryEntry, IssuedToken,
    KeyRemoval, Manager, NewServiceAccount, ProductAccount, Proof, SecretRotation, ServiceAccount,
    StoredAccount, TokenRequest,
};
use crate::error::Error;
use crate::store;
use crate::store::service_accounts::NewAccount;

fn refused(client_id: &str, why: &str) -> Error {
    // The caller hears the same for every reason; the log says which (never the secret).
    info!(client_id, why, "service credential refused");
    Error::ServiceCredentialRefused
}

/// The account if it exists and `manager` manages it; NotFound otherwise, alike.
fn managed(manager: &Manager, found: Option<StoredAccount>) -> Result<StoredAccount, Error> {
    found
        .filter(|account| manager.manages(account.practice))
        .ok_or(Error::NotFound("service account"))
}

impl Identity {
    /// Who is managing: the operator, or an Account Owner of the practice they act in (checked
    /// against identity's own memberships, not the token's snapshot of the role).
    pub async fn service_account_manager(&self, caller: &Caller) -> Result<Manager, Error> {
        let user = match caller {
            Caller::Operator => return Ok(Manager::Operator),
            Caller::User(user) => user,
            _ => {
                return Err(Error::PermissionDenied(
                    "service accounts are managed by the operator or an Account Owner".into(),
                ));
            }
        };
        let membership =
            store::memberships::active(&self.0.db, user.practice_id, user.user_id).await?;
        let owner = membership.is_some_and(|m| m.role == PracticeRole::AccountOwner);
        if !owner {
            return Err(Error::PermissionDenied(
                "only the Account Owner manages the practice's service accounts".into(),
            ));
        }
        let name = self.user(user.user_id).await?.name;
        Ok(Manager::Owner {
            user: user.user_id,
            name,
            practice: user.practice_id,
        })
    }

    /// A practice's name as identity knows it (from memberships, else from invitation links).
    async fn practice_name(&self, practice: PracticeId) -> Result<Option<String>, Error> {
        if let Some(name) = store::memberships::practice_name(&self.0.db, practice).await? {
            return Ok(Some(name));
        }
        store::links::practice_name(&self.0.db, practice).await
    }

    /// An entry in the account's history, in `tx`.
    async fn history(
        &self,
        tx: &Tx,
        account: ServiceAccountId,
        manager: &Manager,
        action: &str,
        detail: String,
    ) -> Result<(), Error> {
        let by = manager.actor_name();
        store::service_accounts::record_change(tx, account, action, by.clone(), detail, self.now())
            .await?;
        info!(service_account_id = %account, action, %by, "service account changed");
        Ok(())
    }

    async fn add_secret(
        &self,
        tx: &Tx,
        account: ServiceAccountId,
        secret: &SecretToken,
    ) -> Result<(), Error> {
        store::service_accounts::add_secret(tx, account, secret, self.now()).await
    }

    /// Creates an account; the secret (unless created without one) is returned once.
    pub async fn create_service_account(
        &self,
        manager: &Manager,
        new: NewServiceAccount,
    ) -> Result<(ServiceAccount, Option<SecretToken>), Error> {
        let practice = manager.practice_for_new(new.practice)?;
        rules::scopes_fit_practice("scopes", &new.scopes, practice)?;
        let practice_name = match practice {
            Some(p) => self
                .practice_name(p)
                .await?
                .ok_or(Error::NotFound("practice"))?,
            None => String::new(),
        };
        let id = ServiceAccountId::generate();
        let now = self.now();
        let secret = new.with_secret.then(SecretToken::generate);
        let tx = ps_db::begin(&self.0.db).await?;
        let created_by = manager.actor_name();
        let new_account = NewAccount {
            id,
            name: new.name.as_str(),
            description: &new.description,
            scopes: &new.scopes,
            practice,
            practice_name: &practice_name,
            created_by: &created_by,
            at: now,
        };
        let account = store::service_accounts::insert(&tx, new_account).await?;
        if let Some(secret) = &secret {
            self.add_secret(&tx, id, secret).await?;
        }
        let detail = format!("scopes {}", rules::join(&new.scopes));
        self.history(&tx, id, manager, "created", detail).await?;
        let view = store::service_accounts::view(&tx, account, now).await?;
        tx.commit().await?;
        Ok((view, secret))
    }

    /// The accounts `manager` manages, in creation order; the operator may narrow to one
    /// practice.
    pub async fn list_service_accounts(
        &self,
        manager: &Manager,
        listing: AccountListing,
    ) -> Result<Page<ServiceAccount>, Error> {
        let only = match manager {
            Manager::Owner { practice: own, .. } => Some(*own),
            Manager::Operator => listing.practice,
        };
        let page = store::service_accounts::list(&self.0.db, only, &listing.page).await?;
        let items = store::service_accounts::views(&self.0.db, page.items, self.now()).await?;
        Ok(Page {
            items,
            next_page_token: page.next_page_token,
        })
    }

    /// One account and its history, newest first.
    pub async fn get_service_account(
        &self,
        manager: &Manager,
        id: ServiceAccountId,
    ) -> Result<(ServiceAccount, Vec<HistoryEntry>), Error> {
        let db = &self.0.db;
        let account = managed(manager, store::service_accounts::get(db, id).await?)?;
        let history = store::service_accounts::history(db, account.id).await?;
        let view = store::service_accounts::view(db, account, self.now()).await?;
        Ok((view, history))
    }

    /// A new secret; the secrets it replaces work until `grace` from now (a replaced secret
    /// already expiring sooner keeps its earlier end).
    pub async fn rotate_service_account_secret(
        &self,
        manager: &Manager,
        rotation: SecretRotation,
    ) -> Result<(ServiceAccount, SecretToken, DateTime<Utc>), Error> {
        let now = self.now();
        let until = now + span(rotation.grace);
        let secret = SecretToken::generate();
        let tx = ps_db::begin(&self.0.db).await?;
        let found = store::service_accounts::get(&tx, rotation.account).await?;
        let mut account = managed(manager, found)?;
        store::service_accounts::expire_secrets(&tx, account.id, until).await?;
        self.add_secret(&tx, account.id, &secret).await?;
        store::service_accounts::record_rotation(&tx, &mut account, now).await?;
        let detail = format!(
            "the previous secret works until {}",
            until.format("%Y-%m-%d %H:%M:%S UTC")
        );
        self.history(&tx, account.id, manager, "secret_rotated", detail)
            .await?;
        let view = store::service_accounts::view(&tx, account, now).await?;
        tx.commit().await?;
        Ok((view, secret, until))
    }

    /// Registers an Ed25519 public key (base64url of 32 bytes); returns its key id.
    pub async fn register_service_account_key(
        &self,
        manager: &Manager,
        id: ServiceAccountId,
        public_key: String,
    ) -> Result<(ServiceAccount, Uuid), Error> {
        let key_id = Uuid::now_v7();
        PublicJwk {
            kid: key_id.to_string(),
            x: public_key.clone(),
        }
        .decoding_key()
        .map_err(|_| {
            FieldViolation::new(
                "public_key",
                "must be base64url (no padding) of a 32-byte Ed25519 public key",
            )
        })?;
        let now = self.now();
        let tx = ps_db::begin(&self.0.db).await?;
        let account = managed(manager, store::service_accounts::get(&tx, id).await?)?;
        store::service_accounts::add_key(&tx, account.id, key_id, &public_key, now).await?;
        let detail = format!("key {key_id}");
        self.history(&tx, account.id, manager, "key_registered", detail)
            .await?;
        let view = store::service_accounts::view(&tx, account, now).await?;
        tx.commit().await?;
        Ok((view, key_id))
    }

    pub async fn remove_service_account_key(
        &self,
        manager: &Manager,
        removal: KeyRemoval,
    ) -> Result<ServiceAccount, Error> {
        let KeyRemoval { account, key_id } = removal;
        let tx = ps_db::begin(&self.0.db).await?;
        let account = managed(manager, store::service_accounts::get(&tx, account).await?)?;
        if !store::service_accounts::remove_key(&tx, account.id, key_id).await? {
            return Err(Error::NotFound("key"));
        }
        let detail = format!("key {key_id}");
        self.history(&tx, account.id, manager, "key_removed", detail)
            .await?;
        let view = store::service_accounts::view(&tx, account, self.now()).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Disabling stops issuance and ends the tokens already issued; enabling starts a new
    /// token session. Asking for the state the account is in changes nothing.
    pub async fn set_service_account_enabled(
        &self,
        manager: &Manager,
        id: ServiceAccountId,
        enabled: bool,
    ) -> Result<ServiceAccount, Error> {
        let now = self.now();
        let tx = ps_db::begin(&self.0.db).await?;
        let mut account = managed(manager, store::service_accounts::get(&tx, id).await?)?;
        if (account.status == AccountStatus::Active) == enabled {
            let view = store::service_accounts::view(&tx, account, now).await?;
            tx.commit().await?;
            return Ok(view);
        }
        let (action, detail) = if enabled {
            store::service_accounts::enable(&tx, &mut account).await?;
            ("enabled", "tokens may be issued again")
        } else {
            self.end_account_tokens(&tx, manager, &account, now).await?;
            store::service_accounts::disable(&tx, &mut account).await?;
            (
                "disabled",
                "no new tokens; the tokens already issued are refused",
            )
        };
        self.history(&tx, account.id, manager, action, detail.to_owned())
            .await?;
        let view = store::service_accounts::view(&tx, account, now).await?;
        tx.commit().await?;
        if !enabled {
            self.wake();
        }
        Ok(view)
    }

    /// The account's token session ends like a signed-out user's: every service refuses the
    /// tokens already issued from now on.
    async fn end_account_tokens(
        &self,
        tx: &Tx,
        manager: &Manager,
        account: &StoredAccount,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let ended = SessionsEnded {
            // The account stands where a user would: its token session ends.
            user_id: UserId(account.id.as_uuid()),
            session_ids: vec![account.token_session],
            tokens_expire_by: now + span(self.0.settings.service_token_ttl),
            reason: "service account disabled".into(),
        };
        ps_sessions::record(tx, &ended).await?;
        let actor = match manager {
            Manager::Operator => Actor::operator("operator"),
            Manager::Owner { user, name, .. } => Actor::user(*user, name.clone()),
        };
        outbox::enqueue(
            tx,
            &Event::personal(actor, now, Payload::SessionsEnded(ended)),
        )
        .await?;
        Ok(())
    }

    /// Exchanges a credential for a service token. Every refusal answers alike.
    pub async fn issue_service_token(&self, request: TokenRequest) -> Result<IssuedToken, Error> {
        let TokenRequest {
            client_id,
            proof,
            scopes: requested,
        } = request;
        let client = client_id.to_string();
        let now = self.now();
        let account = store::service_accounts::get(&self.0.db, client_id)
            .await?
            .ok_or_else(|| refused(&client, "no such account"))?;
        match proof {
            Proof::Secret(secret) => {
                let stored = store::service_accounts::secrets(&self.0.db, account.id).await?;
                if !rules::secret_accepted(&stored, &secret.hash(), now) {
                    return Err(refused(&client, "wrong or expired secret"));
                }
            }
            Proof::Assertion(assertion) => self.check_assertion(&account, &assertion, now).await?,
        }
        if account.status != AccountStatus::Active {
            return Err(refused(&client, "account disabled"));
        }
        let scopes = rules::token_scopes(&account.scopes, &requested)?;
        let lifetime = self.0.settings.service_token_ttl;
        let expires_at = now + span(lifetime);
        let token = self.sign_service_token(&account, &scopes, now, expires_at)?;
        store::service_accounts::record_use(&self.0.db, account.id, now).await?;
        info!(service_account_id = %account.id, service_account = %account.name, scopes = %rules::join(&scopes), "service token issued");
        Ok(IssuedToken {
            token,
            expires_at,
            lifetime,
            scopes,
            account_id: client_id,
        })
    }

    /// A service token for `account` carrying `scopes`, valid from `now` to `expires_at`.
    fn sign_service_token(
        &self,
        account: &StoredAccount,
        scopes: &[Scope],
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<String, Error> {
        let claims = ServiceClaims {
            iss: self.0.settings.tokens.issuer.clone(),
            aud: self.0.settings.tokens.audience.clone(),
            sub: account.id.to_string(),
            name: account.name.clone(),
            scope: rules::join(scopes),
            pid: account.practice.map(|p| p.to_string()),
            sid: account.token_session.to_string(),
            typ: SERVICE_TOKEN_TYPE.into(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: expires_at.timestamp(),
            jti: Uuid::now_v7().to_string(),
        };
        self.0
            .keyring
            .signer()
            .sign(&claims)
            .map_err(|e| Error::Internal(e.to_string()))
    }

    /// A client assertion: signed by one of the account's keys, for it, current, and not seen
    /// before.
    async fn check_assertion(
        &self,
        account: &StoredAccount,
        assertion: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let client = account.id.to_string();
        let header = jsonwebtoken::decode_header(assertion)
            .map_err(|_| refused(&client, "assertion is not a JWT"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(refused(&client, "assertion is not EdDSA"));
        }
        let kid = header
            .kid
            .and_then(|k| Uuid::parse_str(&k).ok())
            .ok_or_else(|| refused(&client, "assertion names no key"))?;
        let key = store::service_accounts::key(&self.0.db, account.id, kid)
            .await?
            .ok_or_else(|| refused(&client, "assertion key is not the account's"))?;
        let decoding = PublicJwk {
            kid: key.key_id.to_string(),
            x: key.public_key,
        }
        .decoding_key()
        .map_err(|_| refused(&client, "stored key unusable"))?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        validation.set_audience(&[&self.0.settings.tokens.issuer]);
        let claims = jsonwebtoken::decode::<AssertionClaims>(assertion, &decoding, &validation)
            .map_err(|_| refused(&client, "assertion signature or audience invalid"))?
            .claims;
        rules::check_assertion(&claims, &client, now)
            .map_err(|problem| refused(&client, &format!("assertion {problem:?}")))?;
        // Accepted once: the insert of its id is the check.
        let expires_at = DateTime::from_timestamp(claims.exp, 0).unwrap_or(now);
        store::service_accounts::forget_assertions(&self.0.db, now - chrono::Duration::minutes(5))
            .await?;
        let id = format!("{client}:{}", claims.jti);
        if store::service_accounts::first_use_of_assertion(&self.0.db, id, expires_at).await? {
            Ok(())
        } else {
            Err(refused(&client, "assertion replayed"))
        }
    }

    /// Makes sure one of the product's own accounts exists with `secret` among its accepted
    /// secrets (identity's start, from configuration). A changed secret is a rotation: the
    /// previous one keeps working for the default grace, so replicas still holding it go on.
    pub async fn provision_product_account(
        &self,
        account: ProductAccount,
        secret: &str,
    ) -> Result<(), Error> {
        let secret = SecretToken::presented("secret", secret).map_err(|_| {
            Error::Internal(format!(
                "the {} account's secret must be 43 base64url characters (256 bits, as \
                 `openssl rand -base64 32 | tr '+/' '-_' | tr -d '='` makes)",
                account.name
            ))
        })?;
        let id = ServiceAccountId(account.id);
        let db = &self.0.db;
        if store::service_accounts::get(db, id).await?.is_none() {
            return self.create_product_account(account, &secret).await;
        }
        // Scopes follow the build (a new release may need more or fewer).
        store::service_accounts::set_scopes(db, id, account.scopes).await?;
        let hash = secret.hash();
        match store::service_accounts::secret_by_hash(db, id, &hash).await? {
            Some(current) if current.expires_at.is_none() => Ok(()),
            // Configured again after a rotation away from it: current once more.
            Some(_) => store::service_accounts::make_secret_current(db, id, &hash).await,
            None => self.rotate_product_secret(account, &secret).await,
        }
    }

    /// A product account that does not exist yet, with the configured secret.
    async fn create_product_account(
        &self,
        account: ProductAccount,
        secret: &SecretToken,
    ) -> Result<(), Error> {
        let id = ServiceAccountId(account.id);
        let tx = ps_db::begin(&self.0.db).await?;
        let new_account = NewAccount {
            id,
            name: account.name,
            description: "the product's own (provisioned by identity)",
            scopes: account.scopes,
            practice: None,
            practice_name: "",
            created_by: "identity (configuration)",
            at: self.now(),
        };
        store::service_accounts::insert(&tx, new_account).await?;
        self.add_secret(&tx, id, secret).await?;
        let operator = Manager::Operator;
        self.history(&tx, id, &operator, "created", "provisioned".into())
            .await?;
        tx.commit().await?;
        info!(
            service_account = account.name,
            "product service account provisioned"
        );
        Ok(())
    }

    /// The configured secret of a product account changed: it becomes current, and the one it
    /// replaces works for the default grace.
    async fn rotate_product_secret(
        &self,
        account: ProductAccount,
        secret: &SecretToken,
    ) -> Result<(), Error> {
        warn!(
            service_account = account.name,
            "configured secret changed: rotating (the previous one works for the grace period)"
        );
        let id = ServiceAccountId(account.id);
        let tx = ps_db::begin(&self.0.db).await?;
        let until = self.now() + span(rules::DEFAULT_SECRET_GRACE);
        store::service_accounts::expire_current_secret(&tx, id, until).await?;
        self.add_secret(&tx, id, secret).await?;
        let detail = "the configured secret changed".to_owned();
        self.history(&tx, id, &Manager::Operator, "secret_rotated", detail)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
