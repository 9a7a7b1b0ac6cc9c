//! The facts of one CheckAccess question ([`AccessFacts`]): the organisation, the asking
//! user's roster row in its practice, their current membership there, its role's name and
//! whether that role holds the permission — in one query — plus, only for a question about a
//! location of a user who has a membership, its location limits and the member's locations.

use chrono::{DateTime, Utc};
use ps_core::{PracticeId, PracticeRole, RoleId, StaffId, UserId};
use ps_roster::entity::RosterState;
use sea_orm::{ConnectionTrait, Statement};
use uuid::Uuid;

use crate::domain::{
    AccessFacts, AccessQuery, LocationFacts, MembershipFacts, MembershipStatus, StaffFacts,
};
use crate::error::Error;

/// The one row a question reads.
struct FactsRow {
    practice_id: Uuid,
    organisation_name: String,
    archived_at: Option<DateTime<Utc>>,
    staff_id: Option<Uuid>,
    staff_status: Option<RosterState>,
    practice_role: Option<String>,
    membership_id: Option<Uuid>,
    membership_role_id: Option<Uuid>,
    membership_status: Option<String>,
    role_name: Option<String>,
    granted_permission: Option<String>,
}

/// Raw SQL, for speed: CheckAccess is called thousands of times a second, and this reads
/// everything in one round trip with LEFT JOINs that each follow an index — across the shared
/// roster table, which has no sea-orm relations to org-access's entities. Internal callers
/// are not scoped to a practice (`practice` is `None`): the organisation's practice decides
/// which roster row counts.
async fn row<C: ConnectionTrait>(
    conn: &C,
    user: UserId,
    query: &AccessQuery,
    practice: Option<PracticeId>,
) -> Result<Option<FactsRow>, Error> {
    let [invited, active] = MembershipStatus::CURRENT;
    let mut sql = String::from(
        "SELECT o.practice_id, o.name AS organisation_name, o.archived_at, \
           r.staff_id, r.status AS staff_status, r.role AS practice_role, \
           m.id AS membership_id, m.role_id AS membership_role_id, \
           m.status AS membership_status, ro.name AS role_name, \
           rp.permission AS granted_permission \
         FROM organisations o \
         LEFT JOIN roster r ON r.practice_id = o.practice_id AND r.user_id = $1 \
         LEFT JOIN memberships m ON m.organisation_id = o.id AND m.staff_id = r.staff_id \
           AND m.status IN ($2, $3) \
         LEFT JOIN roles ro ON ro.id = m.role_id \
         LEFT JOIN role_permissions rp ON rp.role_id = m.role_id AND rp.permission = $4 \
         WHERE o.id = $5",
    );
    let mut values: Vec<sea_orm::Value> = vec![
        user.as_uuid().into(),
        invited.into(),
        active.into(),
        query.permission.clone().into(),
        query.organisation_id.as_uuid().into(),
    ];
    if let Some(practice) = practice {
        sql.push_str(" AND o.practice_id = $6");
        values.push(practice.as_uuid().into());
    }
    sql.push_str(" LIMIT 1");
    let Some(row) = conn
        .query_one_raw(Statement::from_sql_and_values(
            conn.get_database_backend(),
            sql,
            values,
        ))
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(FactsRow {
        practice_id: row.try_get("", "practice_id")?,
        organisation_name: row.try_get("", "organisation_name")?,
        archived_at: row.try_get("", "archived_at")?,
        staff_id: row.try_get("", "staff_id")?,
        staff_status: row.try_get("", "staff_status")?,
        practice_role: row.try_get("", "practice_role")?,
        membership_id: row.try_get("", "membership_id")?,
        membership_role_id: row.try_get("", "membership_role_id")?,
        membership_status: row.try_get("", "membership_status")?,
        role_name: row.try_get("", "role_name")?,
        granted_permission: row.try_get("", "granted_permission")?,
    }))
}

/// What org-access knows about `user` doing `query`; `None` when there is no such
/// organisation (in `practice`, when one is given).
pub async fn facts<C: ConnectionTrait>(
    conn: &C,
    user: UserId,
    query: &AccessQuery,
    practice: Option<PracticeId>,
) -> Result<Option<AccessFacts>, Error> {
    let Some(row) = row(conn, user, query, practice).await? else {
        return Ok(None);
    };
    // A roster row whose practice role the product does not know counts as no staff.
    let staff = row
        .staff_id
        .filter(|_| {
            row.practice_role
                .as_deref()
                .and_then(PracticeRole::parse)
                .is_some()
        })
        .zip(row.staff_status)
        .map(|(staff_id, status)| StaffFacts {
            staff_id: StaffId(staff_id),
            status: status.into(),
        });
    let membership = match (
        row.membership_id,
        row.membership_role_id,
        row.membership_status,
    ) {
        (Some(id), Some(role_id), Some(status)) => Some(MembershipFacts {
            id,
            role_id: RoleId(role_id),
            role_name: row.role_name,
            invited: status == MembershipStatus::Invited.as_str(),
            grants_permission: row.granted_permission.is_some(),
        }),
        _ => None,
    };
    let location = match (query.location_id, &staff, &membership) {
        (Some(asked), Some(staff), Some(membership)) => {
            let practice = PracticeId(row.practice_id);
            let limits = super::memberships::limits(conn, practice, &[membership.id])
                .await?
                .remove(&membership.id)
                .unwrap_or_default();
            let member_locations = super::roster::member(conn, practice, staff.staff_id)
                .await?
                .map(|m| m.location_ids)
                .unwrap_or_default();
            Some(LocationFacts {
                asked,
                limits,
                member_locations,
            })
        }
        _ => None,
    };
    Ok(Some(AccessFacts {
        organisation_name: row.organisation_name,
        archived: row.archived_at.is_some(),
        staff,
        membership,
        location,
    }))
}
