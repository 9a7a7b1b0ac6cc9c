//! Service accounts and what belongs to each: its secrets (as SHA-256), its public keys, the
//! history of its changes; and the client assertions already exchanged.
//!
//! An account may be platform-wide (no practice), so reading one takes its id alone: who may
//! see it is the domain's rule ([`Manager::manages`](crate::domain::service_accounts::Manager)),
//! which the use case applies to what it read. Listing narrows to a practice through
//! [`ps_db::tenancy`].

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ps_auth::Scope;
use ps_core::{Page, PageRequest, PracticeId, ServiceAccountId, SessionId};
use ps_db::tenancy::InPractice;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use super::entities::{
    AccountState, service_account_events, service_account_keys, service_account_secrets,
    service_accounts, service_assertions,
};
use crate::domain::SecretToken;
use crate::domain::service_accounts::{
    self as rules, AccountKey, AccountStatus, HistoryEntry, ServiceAccount, StoredAccount,
    StoredSecret,
};
use crate::error::Error;

fn account(row: service_accounts::Model) -> StoredAccount {
    StoredAccount {
        id: ServiceAccountId(row.id),
        name: row.name,
        description: row.description,
        scopes: rules::split(&row.scopes),
        practice: row.practice_id.map(PracticeId),
        practice_name: row.practice_name,
        status: row.status.into(),
        token_session: SessionId(row.token_session),
        created_at: row.created_at,
        created_by: row.created_by,
        rotated_at: row.rotated_at,
        last_used_at: row.last_used_at,
    }
}

/// The unique key of an account's name within its practice (or the platform).
fn name_key(practice: Option<PracticeId>, name: &str) -> String {
    let within = practice.map_or_else(|| "platform".to_owned(), |p| p.to_string());
    format!("{within}/{}", name.to_lowercase())
}

/// An update of this account's row.
fn update(id: ServiceAccountId) -> sea_orm::UpdateMany<service_accounts::Entity> {
    service_accounts::Entity::update_many().filter(service_accounts::Column::Id.eq(id.as_uuid()))
}

/// An account to create (active, with a fresh token session).
pub struct NewAccount<'a> {
    pub id: ServiceAccountId,
    pub name: &'a str,
    pub description: &'a str,
    pub scopes: &'a [Scope],
    pub practice: Option<PracticeId>,
    pub practice_name: &'a str,
    pub created_by: &'a str,
    pub at: DateTime<Utc>,
}

/// Stores a new account; AlreadyExists when its practice (or the platform) has one of that
/// name.
pub async fn insert<C: ConnectionTrait>(
    tx: &C,
    new: NewAccount<'_>,
) -> Result<StoredAccount, Error> {
    let inserted = service_accounts::ActiveModel {
        id: Set(new.id.as_uuid()),
        name: Set(new.name.to_owned()),
        name_key: Set(name_key(new.practice, new.name)),
        description: Set(new.description.to_owned()),
        scopes: Set(rules::join(new.scopes)),
        practice_id: Set(new.practice.map(|p| p.as_uuid())),
        practice_name: Set(new.practice_name.to_owned()),
        status: Set(AccountState::Active),
        token_session: Set(SessionId::generate().as_uuid()),
        created_at: Set(new.at),
        created_by: Set(new.created_by.to_owned()),
        rotated_at: Set(None),
        last_used_at: Set(None),
    }
    .insert(tx)
    .await;
    match inserted {
        Ok(row) => Ok(account(row)),
        Err(err) if ps_db::is_unique_violation(&err) => Err(Error::AlreadyExists(format!(
            "a service account called {} already exists here",
            new.name
        ))),
        Err(err) => Err(err.into()),
    }
}

/// The account with this id, whichever practice (or none) it is limited to.
pub async fn get<C: ConnectionTrait>(
    conn: &C,
    id: ServiceAccountId,
) -> Result<Option<StoredAccount>, Error> {
    Ok(service_accounts::Entity::find_by_id(id.as_uuid())
        .one(conn)
        .await?
        .map(account))
}

/// One page of accounts in creation order: every account, or only `practice`'s.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    practice: Option<PracticeId>,
    page: &PageRequest,
) -> Result<Page<StoredAccount>, Error> {
    let mut query = service_accounts::Entity::find().order_by_asc(service_accounts::Column::Id);
    if let Some(practice) = practice {
        query = query.in_practice(practice);
    }
    if let Some(after) = page.after {
        query = query.filter(service_accounts::Column::Id.gt(after));
    }
    let rows = query.limit(page.fetch_limit()).all(conn).await?;
    Ok(Page::from_rows(rows, page, |row| row.id).map(account))
}

/// The account as its managers see it at `now`.
pub async fn view<C: ConnectionTrait>(
    conn: &C,
    account: StoredAccount,
    now: DateTime<Utc>,
) -> Result<ServiceAccount, Error> {
    // One account in, one view out.
    views(conn, vec![account], now)
        .await?
        .pop()
        .ok_or_else(|| Error::Internal("an account without its view".into()))
}

/// Accounts as their managers see them at `now`, their secrets and keys read in two queries
/// for all.
pub async fn views<C: ConnectionTrait>(
    conn: &C,
    accounts: Vec<StoredAccount>,
    now: DateTime<Utc>,
) -> Result<Vec<ServiceAccount>, Error> {
    if accounts.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = accounts.iter().map(|a| a.id.as_uuid()).collect();
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
        keys.entry(key.account_id)
            .or_default()
            .push(account_key(key));
    }
    Ok(accounts
        .into_iter()
        .map(|a| {
            let secrets = secrets.remove(&a.id.as_uuid()).unwrap_or_default();
            let keys = keys.remove(&a.id.as_uuid()).unwrap_or_default();
            account_view(a, &secrets, keys, now)
        })
        .collect())
}

fn account_key(row: service_account_keys::Model) -> AccountKey {
    AccountKey {
        key_id: row.id,
        public_key: row.public_key,
        created_at: row.created_at,
    }
}

fn account_view(
    a: StoredAccount,
    secrets: &[service_account_secrets::Model],
    keys: Vec<AccountKey>,
    now: DateTime<Utc>,
) -> ServiceAccount {
    let mut previous: Vec<DateTime<Utc>> = secrets
        .iter()
        .filter_map(|s| s.expires_at)
        .filter(|until| *until > now)
        .collect();
    previous.sort();
    ServiceAccount {
        id: a.id,
        keys,
        name: a.name,
        description: a.description,
        scopes: a.scopes,
        practice: a.practice,
        practice_name: a.practice_name,
        active: a.status == AccountStatus::Active,
        created_at: a.created_at,
        created_by: a.created_by,
        rotated_at: a.rotated_at,
        last_used_at: a.last_used_at,
        has_secret: secrets.iter().any(|s| s.expires_at.is_none()),
        previous_secrets_expire_at: previous,
    }
}

/// The account's scopes as they now are.
pub async fn set_scopes<C: ConnectionTrait>(
    conn: &C,
    id: ServiceAccountId,
    scopes: &[Scope],
) -> Result<(), Error> {
    update(id)
        .col_expr(
            service_accounts::Column::Scopes,
            Expr::value(rules::join(scopes)),
        )
        .exec(conn)
        .await?;
    Ok(())
}

/// Records a secret rotation `at`.
pub async fn record_rotation<C: ConnectionTrait>(
    tx: &C,
    account: &mut StoredAccount,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    account.rotated_at = Some(at);
    update(account.id)
        .col_expr(service_accounts::Column::RotatedAt, Expr::value(Some(at)))
        .exec(tx)
        .await?;
    Ok(())
}

/// Disabled: no new tokens (its token session stays, to be refused).
pub async fn disable<C: ConnectionTrait>(tx: &C, account: &mut StoredAccount) -> Result<(), Error> {
    account.status = AccountStatus::Disabled;
    update(account.id)
        .col_expr(
            service_accounts::Column::Status,
            Expr::value(AccountState::Disabled),
        )
        .exec(tx)
        .await?;
    Ok(())
}

/// Enabled again, with a new token session (tokens of the ended one stay refused).
pub async fn enable<C: ConnectionTrait>(tx: &C, account: &mut StoredAccount) -> Result<(), Error> {
    account.status = AccountStatus::Active;
    account.token_session = SessionId::generate();
    update(account.id)
        .col_expr(
            service_accounts::Column::Status,
            Expr::value(AccountState::Active),
        )
        .col_expr(
            service_accounts::Column::TokenSession,
            Expr::value(account.token_session.as_uuid()),
        )
        .exec(tx)
        .await?;
    Ok(())
}

/// A token was issued `at`.
pub async fn record_use<C: ConnectionTrait>(
    conn: &C,
    id: ServiceAccountId,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    update(id)
        .col_expr(service_accounts::Column::LastUsedAt, Expr::value(at))
        .exec(conn)
        .await?;
    Ok(())
}

/// A new current secret of the account (stored as its hash).
pub async fn add_secret<C: ConnectionTrait>(
    tx: &C,
    account: ServiceAccountId,
    secret: &SecretToken,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    service_account_secrets::ActiveModel {
        id: Set(Uuid::now_v7()),
        account_id: Set(account.as_uuid()),
        secret_hash: Set(secret.hash()),
        created_at: Set(at),
        expires_at: Set(None),
    }
    .insert(tx)
    .await?;
    Ok(())
}

fn stored_secret(row: service_account_secrets::Model) -> StoredSecret {
    StoredSecret {
        hash: row.secret_hash,
        expires_at: row.expires_at,
    }
}

/// Every secret of the account, current and replaced.
pub async fn secrets<C: ConnectionTrait>(
    conn: &C,
    account: ServiceAccountId,
) -> Result<Vec<StoredSecret>, Error> {
    Ok(service_account_secrets::Entity::find()
        .filter(service_account_secrets::Column::AccountId.eq(account.as_uuid()))
        .all(conn)
        .await?
        .into_iter()
        .map(stored_secret)
        .collect())
}

/// The account's secret with this hash.
pub async fn secret_by_hash<C: ConnectionTrait>(
    conn: &C,
    account: ServiceAccountId,
    hash: &[u8],
) -> Result<Option<StoredSecret>, Error> {
    Ok(service_account_secrets::Entity::find()
        .filter(service_account_secrets::Column::AccountId.eq(account.as_uuid()))
        .filter(service_account_secrets::Column::SecretHash.eq(hash.to_vec()))
        .one(conn)
        .await?
        .map(stored_secret))
}

/// An update of the account's secrets.
fn update_secrets(
    account: ServiceAccountId,
) -> sea_orm::UpdateMany<service_account_secrets::Entity> {
    service_account_secrets::Entity::update_many()
        .filter(service_account_secrets::Column::AccountId.eq(account.as_uuid()))
}

/// The account's secret with this hash is current again (it no longer expires).
pub async fn make_secret_current<C: ConnectionTrait>(
    conn: &C,
    account: ServiceAccountId,
    hash: &[u8],
) -> Result<(), Error> {
    update_secrets(account)
        .col_expr(
            service_account_secrets::Column::ExpiresAt,
            Expr::value(None::<DateTime<Utc>>),
        )
        .filter(service_account_secrets::Column::SecretHash.eq(hash.to_vec()))
        .exec(conn)
        .await?;
    Ok(())
}

/// The current secret works until `until`, like the replaced ones.
pub async fn expire_current_secret<C: ConnectionTrait>(
    tx: &C,
    account: ServiceAccountId,
    until: DateTime<Utc>,
) -> Result<(), Error> {
    update_secrets(account)
        .col_expr(
            service_account_secrets::Column::ExpiresAt,
            Expr::value(until),
        )
        .filter(service_account_secrets::Column::ExpiresAt.is_null())
        .exec(tx)
        .await?;
    Ok(())
}

/// Every secret of the account works until `until` at the latest: the current one, and
/// replaced ones that would have worked longer.
pub async fn expire_secrets<C: ConnectionTrait>(
    tx: &C,
    account: ServiceAccountId,
    until: DateTime<Utc>,
) -> Result<(), Error> {
    expire_current_secret(tx, account, until).await?;
    update_secrets(account)
        .col_expr(
            service_account_secrets::Column::ExpiresAt,
            Expr::value(until),
        )
        .filter(service_account_secrets::Column::ExpiresAt.gt(until))
        .exec(tx)
        .await?;
    Ok(())
}

/// Registers a public key of the account.
pub async fn add_key<C: ConnectionTrait>(
    tx: &C,
    account: ServiceAccountId,
    key_id: Uuid,
    public_key: &str,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    service_account_keys::ActiveModel {
        id: Set(key_id),
        account_id: Set(account.as_uuid()),
        public_key: Set(public_key.to_owned()),
        created_at: Set(at),
    }
    .insert(tx)
    .await?;
    Ok(())
}

/// Removes one of the account's keys; `false` when it has no such key.
pub async fn remove_key<C: ConnectionTrait>(
    tx: &C,
    account: ServiceAccountId,
    key_id: Uuid,
) -> Result<bool, Error> {
    let removed = service_account_keys::Entity::delete_many()
        .filter(service_account_keys::Column::Id.eq(key_id))
        .filter(service_account_keys::Column::AccountId.eq(account.as_uuid()))
        .exec(tx)
        .await?
        .rows_affected;
    Ok(removed != 0)
}

/// One of the account's keys.
pub async fn key<C: ConnectionTrait>(
    conn: &C,
    account: ServiceAccountId,
    key_id: Uuid,
) -> Result<Option<AccountKey>, Error> {
    Ok(service_account_keys::Entity::find_by_id(key_id)
        .filter(service_account_keys::Column::AccountId.eq(account.as_uuid()))
        .one(conn)
        .await?
        .map(account_key))
}

/// One change in the account's history.
pub async fn record_change<C: ConnectionTrait>(
    tx: &C,
    account: ServiceAccountId,
    action: &str,
    actor_name: String,
    detail: String,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    service_account_events::ActiveModel {
        id: Set(Uuid::now_v7()),
        account_id: Set(account.as_uuid()),
        action: Set(action.to_owned()),
        actor_name: Set(actor_name),
        detail: Set(detail),
        occurred_at: Set(at),
    }
    .insert(tx)
    .await?;
    Ok(())
}

/// The account's history, newest first.
pub async fn history<C: ConnectionTrait>(
    conn: &C,
    account: ServiceAccountId,
) -> Result<Vec<HistoryEntry>, Error> {
    Ok(service_account_events::Entity::find()
        .filter(service_account_events::Column::AccountId.eq(account.as_uuid()))
        .order_by_desc(service_account_events::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(|e| HistoryEntry {
            action: e.action,
            actor_name: e.actor_name,
            occurred_at: e.occurred_at,
            detail: e.detail,
        })
        .collect())
}

/// Forgets the assertions that expired before `before` (they can no longer be replayed).
pub async fn forget_assertions<C: ConnectionTrait>(
    conn: &C,
    before: DateTime<Utc>,
) -> Result<(), Error> {
    service_assertions::Entity::delete_many()
        .filter(service_assertions::Column::ExpiresAt.lt(before))
        .exec(conn)
        .await?;
    Ok(())
}

/// Records an assertion's id (`<account id>:<jti>`) until it expires; `false` when it was
/// recorded before (a replay). The insert is the check, so of concurrent uses one wins.
pub async fn first_use_of_assertion<C: ConnectionTrait>(
    conn: &C,
    id: String,
    expires_at: DateTime<Utc>,
) -> Result<bool, Error> {
    let used = service_assertions::ActiveModel {
        id: Set(id),
        expires_at: Set(expires_at),
    }
    .insert(conn)
    .await;
    match used {
        Ok(_) => Ok(true),
        Err(err) if ps_db::is_unique_violation(&err) => Ok(false),
        Err(err) => Err(err.into()),
    }
}
