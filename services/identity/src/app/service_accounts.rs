//! Service accounts: creating and managing them (the operator, or a practice's Account Owner
//! for the accounts limited to it), and exchanging their credentials for service tokens.
//!
//! Secrets are 256 random bits shown once and stored as SHA-256. A rotation keeps the
//! replaced secrets working for a grace period. Disabling ends the account's token session,
//! so tokens already issued are refused everywhere within a second, like a signed-out session's;
//! enabling starts a new one. Every change is written with an entry in the account's history,
//! in one transaction.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, Validation};
use ps_auth::claims::SERVICE_TOKEN_TYPE;
use ps_auth::{Caller, PublicJwk, Scope, ServiceClaims};
use ps_core::{
    FieldViolation, Page, PageRequest, PracticeId, PracticeRole, ServiceAccountId, SessionId,
    UserId,
};
use ps_db::tenancy::InPractice;
use ps_events::event::SessionsEnded;
use ps_events::{Actor, Event, Payload, outbox};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, SqlErr, TransactionTrait,
};
use tracing::{info, warn};
use uuid::Uuid;

use super::{Identity, span};
use crate::domain::SecretToken;
use crate::domain::service_accounts::{
    self as rules, AccountKey, AssertionClaims, HistoryEntry, IssuedToken, Manager,
    NewServiceAccount, ProductAccount, Proof, ServiceAccount, StoredSecret,
};
use crate::error::Error;
use crate::store::{
    action_links, memberships, service_account_events, service_account_keys,
    service_account_secrets, service_accounts, service_assertions,
};

const ACTIVE: &str = "active";
const DISABLED: &str = "disabled";

/// The unique key of an account's name within its practice (or the platform).
fn name_key(practice: Option<PracticeId>, name: &str) -> String {
    let within = practice.map_or_else(|| "platform".to_owned(), |p| p.to_string());
    format!("{within}/{}", name.to_lowercase())
}

fn refused(client_id: &str, why: &str) -> Error {
    // The caller hears the same for every reason; the log says which (never the secret).
    info!(client_id, why, "service credential refused");
    Error::ServiceCredentialRefused
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
            memberships::Entity::find_by_id((user.user_id.as_uuid(), user.practice_id.as_uuid()))
                .one(&self.0.db)
                .await?
                .filter(|m| m.active);
        let owner = membership
            .as_ref()
            .is_some_and(|m| PracticeRole::parse(&m.role) == Some(PracticeRole::AccountOwner));
        if !owner {
            return Err(Error::PermissionDenied(
                "only the Account Owner manages the practice's service accounts".into(),
            ));
        }
        let name = self.user(user.user_id.as_uuid()).await?.name;
        Ok(Manager::Owner {
            user: user.user_id,
            name,
            practice: user.practice_id,
        })
    }

    /// A practice's name as identity knows it (from memberships, else from invitation links).
    async fn practice_name(&self, practice: PracticeId) -> Result<Option<String>, Error> {
        if let Some(m) = memberships::Entity::find()
            .in_practice(practice)
            .one(&self.0.db)
            .await?
        {
            return Ok(Some(m.practice_name));
        }
        Ok(action_links::Entity::find()
            .filter(action_links::Column::PracticeId.eq(practice.as_uuid()))
            .one(&self.0.db)
            .await?
            .map(|l| l.practice_name))
    }

    async fn history<C: ConnectionTrait>(
        &self,
        conn: &C,
        account: Uuid,
        manager: &Manager,
        action: &str,
        detail: String,
    ) -> Result<(), Error> {
        service_account_events::ActiveModel {
            id: Set(Uuid::now_v7()),
            account_id: Set(account),
            action: Set(action.to_owned()),
            actor_name: Set(manager.actor_name()),
            detail: Set(detail),
            occurred_at: Set(self.now()),
        }
        .insert(conn)
        .await?;
        info!(service_account_id = %account, action, by = %manager.actor_name(), "service account changed");
        Ok(())
    }

    async fn add_secret<C: ConnectionTrait>(
        &self,
        conn: &C,
        account: Uuid,
        secret: &SecretToken,
    ) -> Result<(), Error> {
        service_account_secrets::ActiveModel {
            id: Set(Uuid::now_v7()),
            account_id: Set(account),
            secret_hash: Set(secret.hash()),
            created_at: Set(self.now()),
            expires_at: Set(None),
        }
        .insert(conn)
        .await?;
        Ok(())
    }

    /// The account if it exists and `manager` manages it; NotFound otherwise, alike.
    async fn managed_row<C: ConnectionTrait>(
        &self,
        conn: &C,
        manager: &Manager,
        id: ServiceAccountId,
    ) -> Result<service_accounts::Model, Error> {
        service_accounts::Entity::find_by_id(id.as_uuid())
            .one(conn)
            .await?
            .filter(|row| manager.manages(row.practice_id.map(PracticeId)))
            .ok_or(Error::NotFound("service account"))
    }

    async fn view<C: ConnectionTrait>(
        &self,
        conn: &C,
        row: service_accounts::Model,
    ) -> Result<ServiceAccount, Error> {
        // One row in, one view out.
        self.views(conn, vec![row])
            .await?
            .pop()
            .ok_or_else(|| Error::Internal("an account without its view".into()))
    }

    /// Accounts as the API shows them, their secrets and keys read in two queries for all.
    async fn views<C: ConnectionTrait>(
        &self,
        conn: &C,
        rows: Vec<service_accounts::Model>,
    ) -> Result<Vec<ServiceAccount>, Error> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.now();
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let mut secrets: HashMap<Uuid, Vec<service_account_secrets::Model>> = HashMap::new();
        for secret in service_account_secrets::Entity::find()
            .filter(service_account_secrets::Column::AccountId.is_in(ids.clone()))
            .all(conn)
            .await?
        {
            secrets.entry(secret.account_id).or_default().push(secret);
        }
        let mut keys: HashMap<Uuid, Vec<AccountKey>> = HashMap::new();
        for key in service_account_keys::Entity::find()
            .filter(service_account_keys::Column::AccountId.is_in(ids))
            .order_by_asc(service_account_keys::Column::Id)
            .all(conn)
            .await?
        {
            keys.entry(key.account_id).or_default().push(AccountKey {
                key_id: key.id,
                public_key: key.public_key,
                created_at: key.created_at,
            });
        }
        Ok(rows
            .into_iter()
            .map(|row| {
                let secrets = secrets.remove(&row.id).unwrap_or_default();
                let mut previous: Vec<DateTime<Utc>> = secrets
                    .iter()
                    .filter_map(|s| s.expires_at)
                    .filter(|until| *until > now)
                    .collect();
                previous.sort();
                ServiceAccount {
                    id: ServiceAccountId(row.id),
                    keys: keys.remove(&row.id).unwrap_or_default(),
                    name: row.name,
                    description: row.description,
                    scopes: rules::split(&row.scopes),
                    practice: row.practice_id.map(PracticeId),
                    practice_name: row.practice_name,
                    active: row.status == ACTIVE,
                    created_at: row.created_at,
                    created_by: row.created_by,
                    rotated_at: row.rotated_at,
                    last_used_at: row.last_used_at,
                    has_secret: secrets.iter().any(|s| s.expires_at.is_none()),
                    previous_secrets_expire_at: previous,
                }
            })
            .collect())
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
        let id = Uuid::now_v7();
        let now = self.now();
        let secret = new.with_secret.then(SecretToken::generate);
        let tx = self.0.db.begin().await?;
        let inserted = service_accounts::ActiveModel {
            id: Set(id),
            name: Set(new.name.as_str().to_owned()),
            name_key: Set(name_key(practice, new.name.as_str())),
            description: Set(new.description),
            scopes: Set(rules::join(&new.scopes)),
            practice_id: Set(practice.map(|p| p.as_uuid())),
            practice_name: Set(practice_name),
            status: Set(ACTIVE.into()),
            token_session: Set(Uuid::now_v7()),
            created_at: Set(now),
            created_by: Set(manager.actor_name()),
            rotated_at: Set(None),
            last_used_at: Set(None),
        }
        .insert(&tx)
        .await;
        let row = match inserted {
            Ok(row) => row,
            Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                return Err(Error::AlreadyExists(format!(
                    "a service account called {} already exists here",
                    new.name.as_str()
                )));
            }
            Err(err) => return Err(err.into()),
        };
        if let Some(secret) = &secret {
            self.add_secret(&tx, id, secret).await?;
        }
        self.history(
            &tx,
            id,
            manager,
            "created",
            format!("scopes {}", rules::join(&new.scopes)),
        )
        .await?;
        let view = self.view(&tx, row).await?;
        tx.commit().await?;
        Ok((view, secret))
    }

    /// The accounts `manager` manages, in creation order; the operator may narrow to one
    /// practice.
    pub async fn list_service_accounts(
        &self,
        manager: &Manager,
        practice: Option<PracticeId>,
        page: PageRequest,
    ) -> Result<Page<ServiceAccount>, Error> {
        let mut query = service_accounts::Entity::find().order_by_asc(service_accounts::Column::Id);
        let only = match manager {
            Manager::Owner { practice: own, .. } => Some(*own),
            Manager::Operator => practice,
        };
        if let Some(p) = only {
            query = query.filter(service_accounts::Column::PracticeId.eq(p.as_uuid()));
        }
        if let Some(after) = page.after {
            query = query.filter(service_accounts::Column::Id.gt(after));
        }
        let rows = query.limit(page.fetch_limit()).all(&self.0.db).await?;
        let views = self.views(&self.0.db, rows).await?;
        Ok(Page::from_rows(views, &page, |a| a.id.as_uuid()))
    }

    /// One account and its history, newest first.
    pub async fn get_service_account(
        &self,
        manager: &Manager,
        id: ServiceAccountId,
    ) -> Result<(ServiceAccount, Vec<HistoryEntry>), Error> {
        let row = self.managed_row(&self.0.db, manager, id).await?;
        let history = service_account_events::Entity::find()
            .filter(service_account_events::Column::AccountId.eq(row.id))
            .order_by_desc(service_account_events::Column::Id)
            .all(&self.0.db)
            .await?
            .into_iter()
            .map(|e| HistoryEntry {
                action: e.action,
                actor_name: e.actor_name,
                occurred_at: e.occurred_at,
                detail: e.detail,
            })
            .collect();
        Ok((self.view(&self.0.db, row).await?, history))
    }

    /// A new secret; the secrets it replaces work until `grace` from now (a replaced secret
    /// already expiring sooner keeps its earlier end).
    pub async fn rotate_service_account_secret(
        &self,
        manager: &Manager,
        id: ServiceAccountId,
        grace: Duration,
    ) -> Result<(ServiceAccount, SecretToken, DateTime<Utc>), Error> {
        let now = self.now();
        let until = now + span(grace);
        let secret = SecretToken::generate();
        let tx = self.0.db.begin().await?;
        let row = self.managed_row(&tx, manager, id).await?;
        for column_filter in [
            service_account_secrets::Column::ExpiresAt.is_null(),
            service_account_secrets::Column::ExpiresAt.gt(until),
        ] {
            service_account_secrets::Entity::update_many()
                .col_expr(
                    service_account_secrets::Column::ExpiresAt,
                    Expr::value(until),
                )
                .filter(service_account_secrets::Column::AccountId.eq(row.id))
                .filter(column_filter)
                .exec(&tx)
                .await?;
        }
        self.add_secret(&tx, row.id, &secret).await?;
        let rotated = service_accounts::ActiveModel {
            id: Set(row.id),
            rotated_at: Set(Some(now)),
            ..Default::default()
        }
        .update(&tx)
        .await?;
        self.history(
            &tx,
            row.id,
            manager,
            "secret_rotated",
            format!(
                "the previous secret works until {}",
                until.format("%Y-%m-%d %H:%M:%S UTC")
            ),
        )
        .await?;
        let view = self.view(&tx, rotated).await?;
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
        let tx = self.0.db.begin().await?;
        let row = self.managed_row(&tx, manager, id).await?;
        service_account_keys::ActiveModel {
            id: Set(key_id),
            account_id: Set(row.id),
            public_key: Set(public_key),
            created_at: Set(self.now()),
        }
        .insert(&tx)
        .await?;
        self.history(
            &tx,
            row.id,
            manager,
            "key_registered",
            format!("key {key_id}"),
        )
        .await?;
        let view = self.view(&tx, row).await?;
        tx.commit().await?;
        Ok((view, key_id))
    }

    pub async fn remove_service_account_key(
        &self,
        manager: &Manager,
        id: ServiceAccountId,
        key_id: Uuid,
    ) -> Result<ServiceAccount, Error> {
        let tx = self.0.db.begin().await?;
        let row = self.managed_row(&tx, manager, id).await?;
        let removed = service_account_keys::Entity::delete_many()
            .filter(service_account_keys::Column::Id.eq(key_id))
            .filter(service_account_keys::Column::AccountId.eq(row.id))
            .exec(&tx)
            .await?
            .rows_affected;
        if removed == 0 {
            return Err(Error::NotFound("key"));
        }
        self.history(&tx, row.id, manager, "key_removed", format!("key {key_id}"))
            .await?;
        let view = self.view(&tx, row).await?;
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
        let tx = self.0.db.begin().await?;
        let row = self.managed_row(&tx, manager, id).await?;
        if (row.status == ACTIVE) == enabled {
            let view = self.view(&tx, row).await?;
            tx.commit().await?;
            return Ok(view);
        }
        let mut change = service_accounts::ActiveModel {
            id: Set(row.id),
            status: Set(if enabled { ACTIVE } else { DISABLED }.into()),
            ..Default::default()
        };
        if enabled {
            change.token_session = Set(Uuid::now_v7());
        } else {
            let ended = SessionsEnded {
                // The account stands where a user would: its token session ends.
                user_id: UserId(row.id),
                session_ids: vec![SessionId(row.token_session)],
                tokens_expire_by: now + span(self.0.settings.service_token_ttl),
                reason: "service account disabled".into(),
            };
            ps_sessions::record(&tx, &ended).await?;
            let actor = match manager {
                Manager::Operator => Actor::operator("operator"),
                Manager::Owner { user, name, .. } => Actor::user(*user, name.clone()),
            };
            outbox::enqueue(
                &tx,
                &Event::personal(actor, now, Payload::SessionsEnded(ended)),
            )
            .await?;
        }
        let updated = change.update(&tx).await?;
        let action = if enabled { "enabled" } else { "disabled" };
        let detail = if enabled {
            "tokens may be issued again".to_owned()
        } else {
            "no new tokens; the tokens already issued are refused".to_owned()
        };
        self.history(&tx, row.id, manager, action, detail).await?;
        let view = self.view(&tx, updated).await?;
        tx.commit().await?;
        if !enabled {
            self.wake();
        }
        Ok(view)
    }

    /// Exchanges a credential for a service token. Every refusal answers alike.
    pub async fn issue_service_token(
        &self,
        client_id: ServiceAccountId,
        proof: Proof,
        requested: Vec<Scope>,
    ) -> Result<IssuedToken, Error> {
        let client = client_id.to_string();
        let now = self.now();
        let row = service_accounts::Entity::find_by_id(client_id.as_uuid())
            .one(&self.0.db)
            .await?
            .ok_or_else(|| refused(&client, "no such account"))?;
        match proof {
            Proof::Secret(secret) => {
                let stored: Vec<StoredSecret> = service_account_secrets::Entity::find()
                    .filter(service_account_secrets::Column::AccountId.eq(row.id))
                    .all(&self.0.db)
                    .await?
                    .into_iter()
                    .map(|s| StoredSecret {
                        hash: s.secret_hash,
                        expires_at: s.expires_at,
                    })
                    .collect();
                if !rules::secret_accepted(&stored, &secret.hash(), now) {
                    return Err(refused(&client, "wrong or expired secret"));
                }
            }
            Proof::Assertion(assertion) => self.check_assertion(&row, &assertion, now).await?,
        }
        if row.status != ACTIVE {
            return Err(refused(&client, "account disabled"));
        }
        let held = rules::split(&row.scopes);
        let scopes = rules::token_scopes(&held, &requested)?;
        let lifetime = self.0.settings.service_token_ttl;
        let expires_at = now + span(lifetime);
        let claims = ServiceClaims {
            iss: self.0.settings.tokens.issuer.clone(),
            aud: self.0.settings.tokens.audience.clone(),
            sub: row.id.to_string(),
            name: row.name.clone(),
            scope: rules::join(&scopes),
            pid: row.practice_id.map(|p| p.to_string()),
            sid: row.token_session.to_string(),
            typ: SERVICE_TOKEN_TYPE.into(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: expires_at.timestamp(),
            jti: Uuid::now_v7().to_string(),
        };
        let token = self
            .0
            .keyring
            .signer()
            .sign(&claims)
            .map_err(|e| Error::Internal(e.to_string()))?;
        service_accounts::Entity::update_many()
            .col_expr(service_accounts::Column::LastUsedAt, Expr::value(now))
            .filter(service_accounts::Column::Id.eq(row.id))
            .exec(&self.0.db)
            .await?;
        info!(service_account_id = %row.id, service_account = %row.name, scopes = %claims.scope, "service token issued");
        Ok(IssuedToken {
            token,
            expires_at,
            lifetime,
            scopes,
            account_id: client_id,
        })
    }

    /// A client assertion: signed by one of the account's keys, for it, current, and not seen
    /// before.
    async fn check_assertion(
        &self,
        row: &service_accounts::Model,
        assertion: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let client = row.id.to_string();
        let header = jsonwebtoken::decode_header(assertion)
            .map_err(|_| refused(&client, "assertion is not a JWT"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(refused(&client, "assertion is not EdDSA"));
        }
        let kid = header
            .kid
            .and_then(|k| Uuid::parse_str(&k).ok())
            .ok_or_else(|| refused(&client, "assertion names no key"))?;
        let key = service_account_keys::Entity::find_by_id(kid)
            .filter(service_account_keys::Column::AccountId.eq(row.id))
            .one(&self.0.db)
            .await?
            .ok_or_else(|| refused(&client, "assertion key is not the account's"))?;
        let decoding = PublicJwk {
            kid: key.id.to_string(),
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
        service_assertions::Entity::delete_many()
            .filter(service_assertions::Column::ExpiresAt.lt(now - chrono::Duration::minutes(5)))
            .exec(&self.0.db)
            .await?;
        let used = service_assertions::ActiveModel {
            id: Set(format!("{client}:{}", claims.jti)),
            expires_at: Set(expires_at),
        }
        .insert(&self.0.db)
        .await;
        match used {
            Ok(_) => Ok(()),
            Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                Err(refused(&client, "assertion replayed"))
            }
            Err(err) => Err(err.into()),
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
        let manager = Manager::Operator;
        let id = ServiceAccountId(account.id);
        let existing = service_accounts::Entity::find_by_id(account.id)
            .one(&self.0.db)
            .await?;
        if existing.is_none() {
            let now = self.now();
            let tx = self.0.db.begin().await?;
            service_accounts::ActiveModel {
                id: Set(account.id),
                name: Set(account.name.into()),
                name_key: Set(name_key(None, account.name)),
                description: Set("the product's own (provisioned by identity)".into()),
                scopes: Set(rules::join(account.scopes)),
                practice_id: Set(None),
                practice_name: Set(String::new()),
                status: Set(ACTIVE.into()),
                token_session: Set(Uuid::now_v7()),
                created_at: Set(now),
                created_by: Set("identity (configuration)".into()),
                rotated_at: Set(None),
                last_used_at: Set(None),
            }
            .insert(&tx)
            .await?;
            self.add_secret(&tx, account.id, &secret).await?;
            self.history(&tx, account.id, &manager, "created", "provisioned".into())
                .await?;
            tx.commit().await?;
            info!(
                service_account = account.name,
                "product service account provisioned"
            );
            return Ok(());
        }
        // Scopes follow the build (a new release may need more or fewer).
        service_accounts::Entity::update_many()
            .col_expr(
                service_accounts::Column::Scopes,
                Expr::value(rules::join(account.scopes)),
            )
            .filter(service_accounts::Column::Id.eq(account.id))
            .exec(&self.0.db)
            .await?;
        let current = service_account_secrets::Entity::find()
            .filter(service_account_secrets::Column::AccountId.eq(account.id))
            .filter(service_account_secrets::Column::SecretHash.eq(secret.hash()))
            .one(&self.0.db)
            .await?;
        match current {
            Some(row) if row.expires_at.is_none() => Ok(()),
            Some(row) => {
                // Configured again after a rotation away from it: current once more.
                service_account_secrets::Entity::update_many()
                    .col_expr(
                        service_account_secrets::Column::ExpiresAt,
                        Expr::value(None::<DateTime<Utc>>),
                    )
                    .filter(service_account_secrets::Column::Id.eq(row.id))
                    .exec(&self.0.db)
                    .await?;
                Ok(())
            }
            None => {
                warn!(
                    service_account = account.name,
                    "configured secret changed: rotating (the previous one works for the grace period)"
                );
                let tx = self.0.db.begin().await?;
                let until = self.now() + span(rules::DEFAULT_SECRET_GRACE);
                service_account_secrets::Entity::update_many()
                    .col_expr(
                        service_account_secrets::Column::ExpiresAt,
                        Expr::value(until),
                    )
                    .filter(service_account_secrets::Column::AccountId.eq(id.as_uuid()))
                    .filter(service_account_secrets::Column::ExpiresAt.is_null())
                    .exec(&tx)
                    .await?;
                self.add_secret(&tx, account.id, &secret).await?;
                self.history(
                    &tx,
                    account.id,
                    &manager,
                    "secret_rotated",
                    "the configured secret changed".into(),
                )
                .await?;
                tx.commit().await?;
                Ok(())
            }
        }
    }
}
