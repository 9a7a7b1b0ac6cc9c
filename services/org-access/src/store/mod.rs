//! Org-access's store: its tables ([`entities`], [`migration`]) and typed queries that take
//! the practice and return domain values. The use cases (`app`) call these and never build a
//! query; every query of practice data is narrowed by [`ps_db::tenancy`] (the `tenanted!` list
//! in [`entities`]), so another practice's row is as absent as a missing one.
//!
//! - [`organisations`], [`workflows`], [`roles`]: the practice's catalogue.
//! - [`memberships`]: who has access to which organisation, and its location limits.
//! - [`changes`]: what a changeset reads (its facts) and its request-id claim;
//!   [`settings`]: the practice's acceptance setting.
//! - [`access`]: the facts of one CheckAccess question, in one round trip.
//! - [`offboarding`]: what a handover reads and its set-based writes.
//! - [`audit`]: the access audit log.
//! - [`roster`]: who is staff where (the shared [`ps_roster`] table);
//!   [`locations`]: the practice's locations, kept from staff-directory's events.

pub mod entities;
pub mod migration;

pub mod access;
pub mod audit;
pub mod changes;
pub mod locations;
pub mod memberships;
pub mod offboarding;
pub mod organisations;
pub mod roles;
pub mod roster;
pub mod settings;
pub mod workflows;

use ps_core::PracticeId;
use ps_db::Db;
use ps_db::tenancy::{InPractice, Tenanted};
use sea_orm::{ConnectionTrait, DatabaseBackend, PrimaryKeyTrait};
use uuid::Uuid;

use crate::error::Error;

/// Whether this process alone writes the database: true on SQLite (the embedded default, one
/// process), false on PostgreSQL, where several replicas may write it.
pub fn single_writer(db: &Db) -> bool {
    db.get_database_backend() == DatabaseBackend::Sqlite
}

/// The row `id` of the practice, or NotFound naming `what`: another practice's row is as
/// absent as a missing one.
async fn found<E, C>(
    conn: &C,
    practice: PracticeId,
    id: Uuid,
    what: &'static str,
) -> Result<E::Model, Error>
where
    E: Tenanted,
    C: ConnectionTrait,
    Uuid: Into<<E::PrimaryKey as PrimaryKeyTrait>::ValueType>,
{
    E::find_by_id(id)
        .in_practice(practice)
        .one(conn)
        .await?
        .ok_or(Error::NotFound(what))
}
