//! Memberships: a staff member's access to an organisation, with the locations it is limited
//! to. At most one per organisation and member is current (invited or active; the partial
//! unique index `memberships_current`); declined and revoked ones stay as history. Reads
//! return [`Membership`]s with their organisation and role names and location limits.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use ps_core::{LocationId, OrganisationId, Page, PageRequest, PracticeId, RoleId, StaffId};
use ps_db::tenancy::InPractice;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select, Set,
};
use uuid::Uuid;

use super::entities::{MembershipState, membership_locations, memberships};
use crate::domain::{CurrentMembership, Membership, MembershipStatus};
use crate::error::Error;

/// The location limits of each of `memberships`, sorted, in one query.
pub async fn limits<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    memberships: &[Uuid],
) -> Result<HashMap<Uuid, Vec<LocationId>>, Error> {
    let mut by_membership: HashMap<Uuid, Vec<LocationId>> = HashMap::new();
    if memberships.is_empty() {
        return Ok(by_membership);
    }
    for row in membership_locations::Entity::find()
        .in_practice(practice)
        .filter(membership_locations::Column::MembershipId.is_in(memberships.iter().copied()))
        .all(conn)
        .await?
    {
        by_membership
            .entry(row.membership_id)
            .or_default()
            .push(LocationId(row.location_id));
    }
    for ids in by_membership.values_mut() {
        ids.sort();
    }
    Ok(by_membership)
}

/// Rows to memberships, with their organisation and role names and location limits (three
/// more queries, whatever the number of rows).
async fn complete<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    rows: Vec<memberships::Model>,
) -> Result<Vec<Membership>, Error> {
    let organisation_ids: BTreeSet<OrganisationId> = rows
        .iter()
        .map(|m| OrganisationId(m.organisation_id))
        .collect();
    let role_ids: BTreeSet<RoleId> = rows.iter().map(|m| RoleId(m.role_id)).collect();
    let organisation_names = super::organisations::names(conn, practice, &organisation_ids).await?;
    let role_names = super::roles::names(conn, practice, Some(&role_ids)).await?;
    let ids: Vec<Uuid> = rows.iter().map(|m| m.id).collect();
    let mut locations = limits(conn, practice, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|m| {
            let organisation_id = OrganisationId(m.organisation_id);
            let role_id = RoleId(m.role_id);
            Membership {
                organisation_name: organisation_names
                    .get(&organisation_id)
                    .cloned()
                    .unwrap_or_default(),
                role_name: role_names
                    .get(&role_id)
                    .cloned()
                    .unwrap_or_else(|| "(deleted role)".into()),
                status: m.status.into(),
                location_ids: locations.remove(&m.id).unwrap_or_default(),
                id: m.id,
                organisation_id,
                staff_id: StaffId(m.staff_id),
                role_id,
                invitation_id: m.invitation_id,
                created_at: m.created_at,
                status_changed_at: m.status_changed_at,
            }
        })
        .collect())
}

/// The practice's memberships, current ones only unless `include_history`.
fn select(practice: PracticeId, include_history: bool) -> Select<memberships::Entity> {
    let select = memberships::Entity::find().in_practice(practice);
    if include_history {
        select
    } else {
        select.filter(memberships::Column::Status.is_in(MembershipState::CURRENT))
    }
}

/// One page of who has access to the organisation (or had, with `include_history`), in id
/// order.
pub async fn of_organisation<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    organisation: OrganisationId,
    include_history: bool,
    page: &PageRequest,
) -> Result<Page<Membership>, Error> {
    let mut select = select(practice, include_history)
        .filter(memberships::Column::OrganisationId.eq(organisation.as_uuid()));
    if let Some(after) = page.after {
        select = select.filter(memberships::Column::Id.gt(after));
    }
    let rows = select
        .order_by_asc(memberships::Column::Id)
        .limit(page.fetch_limit())
        .all(conn)
        .await?;
    let rows = Page::from_rows(rows, page, |m| m.id);
    Ok(Page {
        items: complete(conn, practice, rows.items).await?,
        next_page_token: rows.next_page_token,
    })
}

/// The member's memberships (current ones, or all with `include_history`), in id order.
pub async fn of_staff<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    staff: StaffId,
    include_history: bool,
) -> Result<Vec<Membership>, Error> {
    let rows = select(practice, include_history)
        .filter(memberships::Column::StaffId.eq(staff.as_uuid()))
        .order_by_asc(memberships::Column::Id)
        .all(conn)
        .await?;
    complete(conn, practice, rows).await
}

/// The member's organisation invitations still awaiting an answer.
pub async fn invitations_of<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    staff: StaffId,
) -> Result<Vec<Membership>, Error> {
    let rows = memberships::Entity::find()
        .in_practice(practice)
        .filter(memberships::Column::StaffId.eq(staff.as_uuid()))
        .filter(memberships::Column::Status.eq(MembershipState::Invited))
        .all(conn)
        .await?;
    complete(conn, practice, rows).await
}

/// A membership of the practice, if it is `staff`'s.
pub async fn of_member<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    staff: StaffId,
    id: Uuid,
) -> Result<Option<Membership>, Error> {
    let row = memberships::Entity::find_by_id(id)
        .in_practice(practice)
        .filter(memberships::Column::StaffId.eq(staff.as_uuid()))
        .one(conn)
        .await?;
    Ok(complete(conn, practice, row.into_iter().collect())
        .await?
        .pop())
}

/// Moves an invitation to `to` (active or declined) as of `at`, if it is still unanswered;
/// whether it was.
pub async fn answer<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    id: Uuid,
    to: MembershipStatus,
    at: DateTime<Utc>,
) -> Result<bool, Error> {
    let answered = memberships::Entity::update_many()
        .col_expr(
            memberships::Column::Status,
            Expr::value(MembershipState::from(to)),
        )
        .col_expr(memberships::Column::StatusChangedAt, Expr::value(at))
        .in_practice(practice)
        .filter(memberships::Column::Id.eq(id))
        .filter(memberships::Column::Status.eq(MembershipState::Invited))
        .exec(tx)
        .await?
        .rows_affected;
    Ok(answered == 1)
}

/// The current memberships of the (organisation, member) pairs among `organisations` ×
/// `staff`, with their location limits.
pub async fn current_of_pairs<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    organisations: &[OrganisationId],
    staff: &[StaffId],
) -> Result<HashMap<(OrganisationId, StaffId), CurrentMembership>, Error> {
    let rows = select(practice, false)
        .filter(
            memberships::Column::OrganisationId.is_in(organisations.iter().map(|o| o.as_uuid())),
        )
        .filter(memberships::Column::StaffId.is_in(staff.iter().map(|s| s.as_uuid())))
        .all(conn)
        .await?;
    let ids: Vec<Uuid> = rows.iter().map(|m| m.id).collect();
    let mut limits = limits(conn, practice, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|m| {
            let membership = CurrentMembership {
                id: m.id,
                role_id: RoleId(m.role_id),
                status: Some(m.status.into()),
                locations: limits.remove(&m.id).unwrap_or_default(),
            };
            (
                (OrganisationId(m.organisation_id), StaffId(m.staff_id)),
                membership,
            )
        })
        .collect())
}

/// Revokes the memberships `ids` as of `at`, in one statement.
pub async fn revoke<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    ids: &[Uuid],
    at: DateTime<Utc>,
) -> Result<(), Error> {
    if ids.is_empty() {
        return Ok(());
    }
    memberships::Entity::update_many()
        .col_expr(
            memberships::Column::Status,
            Expr::value(MembershipState::Revoked),
        )
        .col_expr(memberships::Column::StatusChangedAt, Expr::value(at))
        .in_practice(practice)
        .filter(memberships::Column::Id.is_in(ids.iter().copied()))
        .exec(tx)
        .await?;
    Ok(())
}

/// Revokes every current membership of `staff` as of `at`, in one statement; what each was
/// (organisation, status) before.
pub async fn revoke_current_of<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    staff: StaffId,
    at: DateTime<Utc>,
) -> Result<Vec<(OrganisationId, MembershipStatus)>, Error> {
    let current = select(practice, false)
        .filter(memberships::Column::StaffId.eq(staff.as_uuid()))
        .all(tx)
        .await?;
    let ids: Vec<Uuid> = current.iter().map(|m| m.id).collect();
    revoke(tx, practice, &ids, at).await?;
    Ok(current
        .into_iter()
        .map(|m| (OrganisationId(m.organisation_id), m.status.into()))
        .collect())
}

/// Gives membership `id` the role `role`.
pub async fn change_role<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    id: Uuid,
    role: RoleId,
) -> Result<(), Error> {
    memberships::Entity::update_many()
        .col_expr(memberships::Column::RoleId, Expr::value(role.as_uuid()))
        .in_practice(practice)
        .filter(memberships::Column::Id.eq(id))
        .exec(tx)
        .await?;
    Ok(())
}

/// Replaces the location limits of each membership listed (an empty list: no limit).
pub async fn set_limits<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    limits: &[(Uuid, Vec<LocationId>)],
) -> Result<(), Error> {
    if limits.is_empty() {
        return Ok(());
    }
    membership_locations::Entity::delete_many()
        .in_practice(practice)
        .filter(membership_locations::Column::MembershipId.is_in(limits.iter().map(|(id, _)| *id)))
        .exec(tx)
        .await?;
    insert_limits(tx, practice, limits).await
}

/// The location limits, in as few INSERTs as the databases' parameter limits allow: a
/// changeset's 5,000 entries with 200 locations each are a million rows.
async fn insert_limits<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    limits: &[(Uuid, Vec<LocationId>)],
) -> Result<(), Error> {
    let rows: Vec<membership_locations::ActiveModel> = limits
        .iter()
        .flat_map(|(membership, locations)| {
            locations
                .iter()
                .map(move |location| membership_locations::ActiveModel {
                    membership_id: Set(*membership),
                    location_id: Set(location.as_uuid()),
                    practice_id: Set(practice.as_uuid()),
                })
        })
        .collect();
    ps_db::insert_all(tx, rows).await?;
    Ok(())
}

/// A membership to create.
pub struct NewMembership {
    pub organisation_id: OrganisationId,
    pub staff_id: StaffId,
    pub role_id: RoleId,
    pub status: MembershipStatus,
    /// The invitation offering it, when it needs accepting.
    pub invitation_id: Option<Uuid>,
    /// Its location limits; empty means none.
    pub location_ids: Vec<LocationId>,
}

fn new_rows(
    practice: PracticeId,
    new: Vec<NewMembership>,
    at: DateTime<Utc>,
) -> (Vec<memberships::ActiveModel>, Vec<(Uuid, Vec<LocationId>)>) {
    let mut rows = Vec::with_capacity(new.len());
    let mut limits = Vec::new();
    for m in new {
        let id = Uuid::now_v7();
        rows.push(memberships::ActiveModel {
            id: Set(id),
            practice_id: Set(practice.as_uuid()),
            organisation_id: Set(m.organisation_id.as_uuid()),
            staff_id: Set(m.staff_id.as_uuid()),
            role_id: Set(m.role_id.as_uuid()),
            status: Set(m.status.into()),
            invitation_id: Set(m.invitation_id),
            created_at: Set(at),
            status_changed_at: Set(at),
        });
        if !m.location_ids.is_empty() {
            limits.push((id, m.location_ids));
        }
    }
    (rows, limits)
}

/// New memberships (a changeset's, a handover's) and their limits, in as few INSERTs as the
/// databases' parameter limits allow (5,000 memberships of nine columns are more parameters
/// than SQLite takes in one statement; a leaver may hold thousands). Aborted when a concurrent
/// change gave one of the pairs a current membership first (the unique index).
pub async fn add<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    new: Vec<NewMembership>,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    let (rows, limits) = new_rows(practice, new, at);
    ps_db::insert_all(tx, rows).await.map_err(|err| {
        if ps_db::is_unique_violation(&err) {
            Error::Aborted("access was changed at the same time; retry".into())
        } else {
            err.into()
        }
    })?;
    insert_limits(tx, practice, &limits).await
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use ps_db::DbSettings;
    use sea_orm::PaginatorTrait;

    use super::*;
    use crate::store::migration::Migrator;

    fn entry(organisation: OrganisationId, staff: StaffId, role: RoleId) -> NewMembership {
        NewMembership {
            organisation_id: organisation,
            staff_id: staff,
            role_id: role,
            status: MembershipStatus::Active,
            invitation_id: None,
            location_ids: vec![LocationId::generate(), LocationId::generate()],
        }
    }

    /// A changeset at the contract's 5,000 entries: nine columns a membership are more
    /// parameters than SQLite takes in one statement, so one INSERT would fail.
    #[tokio::test]
    async fn a_changeset_of_five_thousand_entries_is_written_whole() {
        let db = ps_db::connect_and_migrate::<Migrator>(&DbSettings::new("sqlite::memory:"))
            .await
            .unwrap();
        let practice = PracticeId::generate();
        let (organisation, role) = (OrganisationId::generate(), RoleId::generate());
        let at = Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).unwrap();
        let staff: Vec<StaffId> = (0..5_000).map(|_| StaffId::generate()).collect();
        let new = staff
            .iter()
            .map(|s| entry(organisation, *s, role))
            .collect();

        add(&db, practice, new, at).await.unwrap();

        assert_eq!(memberships::Entity::find().count(&db).await.unwrap(), 5_000);
        assert_eq!(
            membership_locations::Entity::find()
                .count(&db)
                .await
                .unwrap(),
            10_000
        );
        // A second current membership of the same pair, as a concurrent change would write
        // it, still aborts the changeset rather than failing it.
        let again = vec![entry(organisation, staff[4_999], role)];
        assert!(matches!(
            add(&db, practice, again, at).await,
            Err(Error::Aborted(_))
        ));
    }
}
