//! Request ids made durable: a creating use case records `(scope, request id) → what it
//! created` in the same transaction as the creation, so a retry — even after a crash that lost
//! the first answer — finds it and answers with the same resource instead of creating a second
//! or refusing with ALREADY_EXISTS.
//!
//! The pattern in a use case ([`find`] before, [`remember`] inside the transaction, [`find`]
//! again after a failure, since a concurrent twin may have won the race):
//!
//! ```ignore
//! if let Some(id) = replay(find(db, scope, op, key).await?)? { return get(id) }
//! // … in the transaction: create, then remember(&tx, scope, op, key, id) …
//! ```

use chrono::Utc;
use ps_core::RequestKey;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Set};
use uuid::Uuid;

/// The `request_results` table's sea-orm entity.
pub mod entity {
    use sea_orm::entity::prelude::*;

    /// One request id and what its request created.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "request_results")]
    pub struct Model {
        /// The practice (the nil UUID for operator requests, which have none).
        #[sea_orm(primary_key, auto_increment = false)]
        pub scope: Uuid,
        /// The client's request id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub request_id: String,
        /// The RPC, e.g. `InviteStaff`.
        pub operation: String,
        /// The first request's fingerprint: a retry has the same, a reused id another.
        pub fingerprint: String,
        /// The id of what the first request created.
        pub result_id: Uuid,
        /// When the first request was recorded (UTC).
        pub created_at: DateTimeUtc,
    }

    /// The table has no relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// What an earlier request with the same id did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Earlier {
    /// The same request: answer with this resource.
    Created(Uuid),
    /// A different request (another operation or other fields) under the same id.
    Different,
}

/// The earlier request with `key`'s id in `scope`, if any.
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    scope: Uuid,
    operation: &str,
    key: &RequestKey,
) -> Result<Option<Earlier>, DbErr> {
    let found = entity::Entity::find_by_id((scope, key.id.clone()))
        .one(conn)
        .await?;
    Ok(found.map(|row| {
        if row.operation == operation && row.fingerprint == key.fingerprint {
            Earlier::Created(row.result_id)
        } else {
            Earlier::Different
        }
    }))
}

/// Records, in the creating transaction, that `key` created `result`. `false` when a
/// concurrent request with the same id recorded first: roll back and answer with its result.
pub async fn remember<C: ConnectionTrait>(
    conn: &C,
    scope: Uuid,
    operation: &str,
    key: &RequestKey,
    result: Uuid,
) -> Result<bool, DbErr> {
    let inserted = entity::Entity::insert(entity::ActiveModel {
        scope: Set(scope),
        request_id: Set(key.id.clone()),
        operation: Set(operation.to_owned()),
        fingerprint: Set(key.fingerprint.clone()),
        result_id: Set(result),
        created_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([entity::Column::Scope, entity::Column::RequestId])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(inserted == 1)
}

/// The `request_results` table; add it to the migrator of every service with creating RPCs.
pub struct RequestResultsTable;

impl sea_orm_migration::MigrationName for RequestResultsTable {
    fn name(&self) -> &str {
        "m20261201_000001_request_results"
    }
}

#[async_trait::async_trait]
impl sea_orm_migration::MigrationTrait for RequestResultsTable {
    async fn up(&self, manager: &sea_orm_migration::SchemaManager) -> Result<(), DbErr> {
        use sea_orm_migration::prelude::*;
        use sea_orm_migration::schema::*;
        manager
            .create_table(
                Table::create()
                    .table("request_results")
                    .if_not_exists()
                    .col(uuid("scope"))
                    .col(string("request_id"))
                    .col(string("operation"))
                    .col(string("fingerprint"))
                    .col(uuid("result_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .primary_key(Index::create().col("scope").col("request_id"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &sea_orm_migration::SchemaManager) -> Result<(), DbErr> {
        use sea_orm_migration::prelude::*;
        manager
            .drop_table(Table::drop().table("request_results").to_owned())
            .await
    }
}

/// Runs a creating use case at most once per request id. `run` creates (recording `key` with
/// [`remember`] in its transaction) and returns what it made; `get` reads what an earlier
/// request with the same id made. With no `key`, `run` simply runs. The earlier request is
/// looked for before `run` and again after `run` failed, since a concurrent twin (a client
/// retrying before the first answer arrived) may have won the race. `different` is the error
/// for the id reused with another request.
pub async fn run_once<T, E, Run, RunFut, Get, GetFut>(
    conn: &impl ConnectionTrait,
    scope: Uuid,
    operation: &str,
    key: Option<&RequestKey>,
    different: impl Fn() -> E,
    run: Run,
    get: Get,
) -> Result<T, E>
where
    E: From<DbErr>,
    Run: FnOnce() -> RunFut,
    RunFut: Future<Output = Result<T, E>>,
    Get: Fn(Uuid) -> GetFut,
    GetFut: Future<Output = Result<T, E>>,
{
    let Some(key) = key else {
        return run().await;
    };
    match find(conn, scope, operation, key).await? {
        Some(Earlier::Created(id)) => return get(id).await,
        Some(Earlier::Different) => return Err(different()),
        None => {}
    }
    match run().await {
        Ok(done) => Ok(done),
        Err(err) => match find(conn, scope, operation, key).await {
            Ok(Some(Earlier::Created(id))) => get(id).await,
            Ok(Some(Earlier::Different)) => Err(different()),
            Ok(None) | Err(_) => Err(err),
        },
    }
}

/// The error for `key`'s id reused with a different request, for [`run_once`]: `refuse`
/// (the service's FAILED_PRECONDITION) with a message naming the id.
pub fn reused<'a, E: 'a>(
    key: Option<&'a RequestKey>,
    refuse: fn(String) -> E,
) -> impl Fn() -> E + 'a {
    move || {
        refuse(key.map_or_else(String::new, |key| {
            format!(
                "request id {} was already used for a different request",
                key.id
            )
        }))
    }
}

/// [`remember`] for an optional key, inside the creating transaction: `lost(message)` when a
/// concurrent request with the same id recorded first (the caller's [`run_once`] then answers
/// with that request's result).
pub async fn remember_or<C, E>(
    conn: &C,
    scope: Uuid,
    operation: &str,
    key: Option<&RequestKey>,
    result: Uuid,
    lost: impl FnOnce(String) -> E,
) -> Result<(), E>
where
    C: ConnectionTrait,
    E: From<DbErr>,
{
    let Some(key) = key else { return Ok(()) };
    if remember(conn, scope, operation, key, result).await? {
        Ok(())
    } else {
        Err(lost(format!(
            "a concurrent request with request id {} won; retry",
            key.id
        )))
    }
}
