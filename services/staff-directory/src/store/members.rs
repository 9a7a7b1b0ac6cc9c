//! Staff members and the locations each may access. Reads return [`StaffMember`]s with their
//! locations; writes take the member as read (locked, in the use case's transaction), change
//! the row and the value together, so the use case answers without reading it again.

use std::collections::HashMap;

use super::entities::{CertificationState, MemberStatus, staff_locations, staff_members};
use crate::domain::{
    Certification, Invitation, Membership, Npi, ProviderProfile, ReinviteWindow, StaffFilter,
    StaffMember, StaffStatus, TaxonomyCode,
};
use crate::error::Error;
use chrono::{DateTime, Utc};
use ps_core::{Email, LocationId, Page, PageRequest, PracticeId, PracticeRole, StaffId, UserId};
use ps_db::tenancy::InPractice;
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

fn stored_role(value: &str) -> Result<PracticeRole, Error> {
    PracticeRole::parse(value).ok_or_else(|| Error::Internal(format!("stored role {value}")))
}

fn int(value: Option<u32>) -> Option<i32> {
    value.and_then(|n| i32::try_from(n).ok())
}

fn member(row: staff_members::Model, location_ids: Vec<LocationId>) -> Result<StaffMember, Error> {
    Ok(StaffMember {
        id: StaffId(row.id),
        practice_id: PracticeId(row.practice_id),
        email: Email::from_trusted(row.email),
        name: row.name,
        role: stored_role(&row.role)?,
        status: row.status.into(),
        user_id: row.user_id.map(UserId),
        invited_at: row.invited_at,
        invited_by_name: row.invited_by_name,
        status_changed_at: row.status_changed_at,
        invitation_count: u32::try_from(row.invitation_count).unwrap_or(0),
        last_invited_at: row.last_invited_at,
        external_agent: row.external_agent,
        primary_location_id: row.primary_location_id.map(LocationId),
        location_ids,
        provider: ProviderProfile {
            npi: row.npi.and_then(|v| Npi::parse("npi", &v).ok()),
            taxonomy_code: row
                .taxonomy_code
                .and_then(|v| TaxonomyCode::parse("taxonomy_code", &v).ok()),
            bio: row.bio,
            capacity: row.capacity.and_then(|v| u32::try_from(v).ok()),
            scheduling_step_minutes: row
                .scheduling_step_minutes
                .and_then(|v| u32::try_from(v).ok()),
        },
        certification: Certification {
            status: row.certification_status.into(),
            invited_at: row.certification_invited_at,
            certified_at: row.certified_at,
            certificate_number: row.certificate_number,
        },
        invitation_failure: row
            .invitation_failed_at
            .map(|at| (at, row.invitation_failure.unwrap_or_default())),
        reinvite_window: row
            .reinvite_window_started_at
            .map(|started_at| ReinviteWindow {
                started_at,
                used: row.reinvites_in_window,
            }),
    })
}

/// The locations of each of `staff`, sorted, in one query.
async fn location_ids<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    staff: &[StaffId],
) -> Result<HashMap<StaffId, Vec<LocationId>>, Error> {
    let mut by_member: HashMap<StaffId, Vec<LocationId>> = HashMap::new();
    if staff.is_empty() {
        return Ok(by_member);
    }
    let rows = staff_locations::Entity::find()
        .in_practice(practice)
        .filter(staff_locations::Column::StaffId.is_in(staff.iter().map(|s| s.as_uuid())))
        .all(conn)
        .await?;
    for row in rows {
        by_member
            .entry(StaffId(row.staff_id))
            .or_default()
            .push(LocationId(row.location_id));
    }
    for ids in by_member.values_mut() {
        ids.sort();
    }
    Ok(by_member)
}

/// Rows to members, with their locations read in one query.
async fn with_locations<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<staff_members::Model>,
) -> Result<Vec<StaffMember>, Error> {
    let Some(practice) = rows.first().map(|r| PracticeId(r.practice_id)) else {
        return Ok(Vec::new());
    };
    let ids: Vec<StaffId> = rows.iter().map(|r| StaffId(r.id)).collect();
    let mut locations = location_ids(conn, practice, &ids).await?;
    rows.into_iter()
        .map(|row| {
            let ids = locations.remove(&StaffId(row.id)).unwrap_or_default();
            member(row, ids)
        })
        .collect()
}

async fn one<C: ConnectionTrait>(
    conn: &C,
    row: Option<staff_members::Model>,
) -> Result<Option<StaffMember>, Error> {
    Ok(with_locations(conn, row.into_iter().collect()).await?.pop())
}

/// The practice's active member signed in as `user` (one query: no locations).
pub async fn active_by_user<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    user: UserId,
) -> Result<Option<Membership>, Error> {
    let Some(row) = staff_members::Entity::find()
        .in_practice(practice)
        .filter(staff_members::Column::UserId.eq(user.as_uuid()))
        .filter(staff_members::Column::Status.eq(MemberStatus::Active))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(Membership {
        id: StaffId(row.id),
        role: stored_role(&row.role)?,
        email: Email::from_trusted(row.email),
        name: row.name,
    }))
}

/// A member of the practice.
pub async fn get<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    id: StaffId,
) -> Result<Option<StaffMember>, Error> {
    let row = staff_members::Entity::find_by_id(id.as_uuid())
        .in_practice(practice)
        .one(conn)
        .await?;
    one(conn, row).await
}

/// A member of whichever practice holds them: only for operator requests, which act in no
/// practice (the owner a CreatePractice retry answers with).
pub async fn get_in_any_practice<C: ConnectionTrait>(
    conn: &C,
    id: StaffId,
) -> Result<Option<StaffMember>, Error> {
    let row = staff_members::Entity::find_by_id(id.as_uuid())
        .one(conn)
        .await?;
    one(conn, row).await
}

/// A member of the practice, locked until the transaction ends.
pub async fn lock<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    id: StaffId,
) -> Result<Option<StaffMember>, Error> {
    let row = staff_members::Entity::find_by_id(id.as_uuid())
        .in_practice(practice)
        .lock_exclusive()
        .one(tx)
        .await?;
    one(tx, row).await
}

/// The practice's member with this e-mail, locked until the transaction ends.
pub async fn lock_by_email<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    email: &Email,
) -> Result<Option<StaffMember>, Error> {
    let row = staff_members::Entity::find()
        .in_practice(practice)
        .filter(staff_members::Column::Email.eq(email.as_str()))
        .lock_exclusive()
        .one(tx)
        .await?;
    one(tx, row).await
}

/// How many active Account Owners the practice has besides `except`.
pub async fn other_active_owners<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    except: StaffId,
) -> Result<u64, Error> {
    Ok(staff_members::Entity::find()
        .in_practice(practice)
        .filter(staff_members::Column::Role.eq(PracticeRole::AccountOwner.as_str()))
        .filter(staff_members::Column::Status.eq(MemberStatus::Active))
        .filter(staff_members::Column::Id.ne(except.as_uuid()))
        .count(tx)
        .await?)
}

/// Who invited, and when.
pub struct Invited<'a> {
    pub invitation: &'a Invitation,
    pub inviter_name: &'a str,
    pub at: DateTime<Utc>,
    /// Every location the invitation gives (its primary among them).
    pub location_ids: &'a [LocationId],
}

/// A new Pending member with the invitation's locations.
pub async fn insert_invited<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    invited: Invited<'_>,
) -> Result<StaffMember, Error> {
    let Invited {
        invitation,
        inviter_name,
        at,
        location_ids,
    } = invited;
    let row = staff_members::ActiveModel {
        id: Set(StaffId::generate().as_uuid()),
        practice_id: Set(practice.as_uuid()),
        email: Set(invitation.email.to_string()),
        name: Set(invitation.name.to_string()),
        role: Set(invitation.role.as_str().to_owned()),
        status: Set(MemberStatus::Pending),
        user_id: Set(None),
        invited_by_name: Set(inviter_name.to_owned()),
        invited_at: Set(at),
        status_changed_at: Set(at),
        created_at: Set(at),
        invitation_count: Set(1),
        last_invited_at: Set(at),
        reinvite_window_started_at: Set(None),
        reinvites_in_window: Set(0),
        external_agent: Set(invitation.external_agent),
        primary_location_id: Set(invitation.primary_location.map(|l| l.as_uuid())),
        npi: Set(None),
        taxonomy_code: Set(None),
        bio: Set(None),
        capacity: Set(None),
        scheduling_step_minutes: Set(None),
        certification_status: Set(CertificationState::NotCertified),
        certification_invited_at: Set(None),
        certified_at: Set(None),
        certificate_number: Set(None),
        invitation_failed_at: Set(None),
        invitation_failure: Set(None),
    }
    .insert(tx)
    .await
    .map_err(|err| {
        // A concurrent invite of the same e-mail won the unique index.
        if ps_db::is_unique_violation(&err) {
            Error::AlreadyMember {
                email: invitation.email.to_string(),
                staff_id: "(created concurrently)".into(),
            }
        } else {
            err.into()
        }
    })?;
    let id = StaffId(row.id);
    replace_locations(tx, practice, id, location_ids).await?;
    member(row, location_ids.to_vec())
}

/// A declined, removed or offboarded member invited again: Pending, with the invitation's
/// name, role and locations.
pub async fn invite_again<C: ConnectionTrait>(
    tx: &C,
    existing: StaffMember,
    invited: Invited<'_>,
) -> Result<StaffMember, Error> {
    let Invited {
        invitation,
        inviter_name,
        at,
        location_ids,
    } = invited;
    let mut again = StaffMember {
        name: invitation.name.to_string(),
        role: invitation.role,
        status: StaffStatus::Pending,
        invited_by_name: inviter_name.to_owned(),
        invited_at: at,
        status_changed_at: at,
        invitation_count: existing.invitation_count + 1,
        last_invited_at: at,
        invitation_failure: None,
        external_agent: invitation.external_agent,
        primary_location_id: invitation.primary_location,
        ..existing
    };
    invitation_sent(update(&again), &again)
        .col_expr(staff_members::Column::Name, Expr::value(again.name.clone()))
        .col_expr(
            staff_members::Column::Role,
            Expr::value(again.role.as_str()),
        )
        .col_expr(
            staff_members::Column::Status,
            Expr::value(MemberStatus::Pending),
        )
        .col_expr(
            staff_members::Column::InvitedByName,
            Expr::value(again.invited_by_name.clone()),
        )
        .col_expr(staff_members::Column::InvitedAt, Expr::value(at))
        .col_expr(staff_members::Column::StatusChangedAt, Expr::value(at))
        .col_expr(
            staff_members::Column::ExternalAgent,
            Expr::value(again.external_agent),
        )
        .col_expr(
            staff_members::Column::PrimaryLocationId,
            Expr::value(again.primary_location_id.map(|l| l.as_uuid())),
        )
        .exec(tx)
        .await?;
    replace_locations(tx, again.practice_id, again.id, location_ids).await?;
    again.location_ids = location_ids.to_vec();
    Ok(again)
}

/// One more reinvite of a Pending member, inside `window`.
pub async fn record_reinvite<C: ConnectionTrait>(
    tx: &C,
    member: &mut StaffMember,
    at: DateTime<Utc>,
    window: ReinviteWindow,
) -> Result<(), Error> {
    member.invitation_count += 1;
    member.last_invited_at = at;
    member.invitation_failure = None;
    member.reinvite_window = Some(window);
    invitation_sent(update(member), member)
        .col_expr(
            staff_members::Column::ReinviteWindowStartedAt,
            Expr::value(Some(window.started_at)),
        )
        .col_expr(
            staff_members::Column::ReinvitesInWindow,
            Expr::value(window.used),
        )
        .exec(tx)
        .await?;
    Ok(())
}

/// An update of this member's row (in its practice).
fn update(member: &StaffMember) -> sea_orm::UpdateMany<staff_members::Entity> {
    staff_members::Entity::update_many()
        .in_practice(member.practice_id)
        .filter(staff_members::Column::Id.eq(member.id.as_uuid()))
}

/// The columns an invitation going out sets: the count, when, and no failure (yet).
fn invitation_sent(
    update: sea_orm::UpdateMany<staff_members::Entity>,
    member: &StaffMember,
) -> sea_orm::UpdateMany<staff_members::Entity> {
    update
        .col_expr(
            staff_members::Column::InvitationCount,
            Expr::value(i32::try_from(member.invitation_count).unwrap_or(i32::MAX)),
        )
        .col_expr(
            staff_members::Column::LastInvitedAt,
            Expr::value(member.last_invited_at),
        )
        .col_expr(
            staff_members::Column::InvitationFailedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            staff_members::Column::InvitationFailure,
            Expr::value(Option::<String>::None),
        )
}

/// A guarded update of member `id`: it changes the row only while the member is `from`
/// (event reactions write without reading the member first).
fn while_in(
    practice: PracticeId,
    id: StaffId,
    from: StaffStatus,
) -> sea_orm::UpdateMany<staff_members::Entity> {
    staff_members::Entity::update_many()
        .in_practice(practice)
        .filter(staff_members::Column::Id.eq(id.as_uuid()))
        .filter(staff_members::Column::Status.eq(MemberStatus::from(from)))
}

/// Writes the member's name, external-agent flag and provider profile as they now are.
pub async fn save_profile<C: ConnectionTrait>(tx: &C, member: &StaffMember) -> Result<(), Error> {
    let provider = &member.provider;
    update(member)
        .col_expr(
            staff_members::Column::Name,
            Expr::value(member.name.clone()),
        )
        .col_expr(
            staff_members::Column::ExternalAgent,
            Expr::value(member.external_agent),
        )
        .col_expr(
            staff_members::Column::Npi,
            Expr::value(provider.npi.as_ref().map(|n| n.as_str().to_owned())),
        )
        .col_expr(
            staff_members::Column::TaxonomyCode,
            Expr::value(
                provider
                    .taxonomy_code
                    .as_ref()
                    .map(|c| c.as_str().to_owned()),
            ),
        )
        .col_expr(
            staff_members::Column::Bio,
            Expr::value(provider.bio.clone()),
        )
        .col_expr(
            staff_members::Column::Capacity,
            Expr::value(int(provider.capacity)),
        )
        .col_expr(
            staff_members::Column::SchedulingStepMinutes,
            Expr::value(int(provider.scheduling_step_minutes)),
        )
        .exec(tx)
        .await?;
    Ok(())
}

/// The member's practice role.
pub async fn set_role<C: ConnectionTrait>(
    tx: &C,
    member: &mut StaffMember,
    role: PracticeRole,
) -> Result<(), Error> {
    member.role = role;
    update(member)
        .col_expr(staff_members::Column::Role, Expr::value(role.as_str()))
        .exec(tx)
        .await?;
    Ok(())
}

/// The member's status, changed `at`.
pub async fn set_status<C: ConnectionTrait>(
    tx: &C,
    member: &mut StaffMember,
    to: StaffStatus,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    member.status = to;
    member.status_changed_at = at;
    moved_to(update(member), to, at).exec(tx).await?;
    Ok(())
}

/// Moves a member from `from` to `to` (a guarded update for event reactions, which do not
/// read the member first); whether it changed the row.
pub async fn move_status<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    id: StaffId,
    from: StaffStatus,
    to: StaffStatus,
    at: DateTime<Utc>,
) -> Result<bool, Error> {
    let update = while_in(practice, id, from);
    applied(tx, moved_to(update, to, at)).await
}

/// The columns a status change sets.
fn moved_to(
    update: sea_orm::UpdateMany<staff_members::Entity>,
    to: StaffStatus,
    at: DateTime<Utc>,
) -> sea_orm::UpdateMany<staff_members::Entity> {
    update
        .col_expr(
            staff_members::Column::Status,
            Expr::value(MemberStatus::from(to)),
        )
        .col_expr(staff_members::Column::StatusChangedAt, Expr::value(at))
}

/// Runs a guarded update of one member; whether it changed the row.
async fn applied<C: ConnectionTrait>(
    tx: &C,
    update: sea_orm::UpdateMany<staff_members::Entity>,
) -> Result<bool, Error> {
    Ok(update.exec(tx).await?.rows_affected == 1)
}

/// A Pending member's answer to their invitation: `to` (Active or Declined) as `user`.
/// Whether it applied (not for a member no longer Pending).
pub async fn answer_invitation<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    id: StaffId,
    user: UserId,
    to: StaffStatus,
    at: DateTime<Utc>,
) -> Result<bool, Error> {
    let update = moved_to(while_in(practice, id, StaffStatus::Pending), to, at).col_expr(
        staff_members::Column::UserId,
        Expr::value(Some(user.as_uuid())),
    );
    applied(tx, update).await
}

/// Marks a Pending member's latest invitation as undeliverable, unless a later invitation
/// (after `requested_at`) replaced it. Whether it applied.
pub async fn mark_invitation_failed<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    id: StaffId,
    reason: &str,
    requested_at: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Result<bool, Error> {
    let update = while_in(practice, id, StaffStatus::Pending)
        .col_expr(
            staff_members::Column::InvitationFailedAt,
            Expr::value(Some(at)),
        )
        .col_expr(
            staff_members::Column::InvitationFailure,
            Expr::value(Some(reason.to_owned())),
        )
        .filter(staff_members::Column::LastInvitedAt.lte(requested_at));
    applied(tx, update).await
}

/// The member's certification as it now is.
pub async fn save_certification<C: ConnectionTrait>(
    tx: &C,
    member: &StaffMember,
) -> Result<(), Error> {
    let certification = &member.certification;
    update(member)
        .col_expr(
            staff_members::Column::CertificationStatus,
            Expr::value(CertificationState::from(certification.status)),
        )
        .col_expr(
            staff_members::Column::CertificationInvitedAt,
            Expr::value(certification.invited_at),
        )
        .col_expr(
            staff_members::Column::CertifiedAt,
            Expr::value(certification.certified_at),
        )
        .col_expr(
            staff_members::Column::CertificateNumber,
            Expr::value(certification.certificate_number.clone()),
        )
        .exec(tx)
        .await?;
    Ok(())
}

/// Replaces the locations a member may access.
pub async fn replace_locations<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    staff: StaffId,
    locations: &[LocationId],
) -> Result<(), Error> {
    staff_locations::Entity::delete_many()
        .in_practice(practice)
        .filter(staff_locations::Column::StaffId.eq(staff.as_uuid()))
        .exec(tx)
        .await?;
    if locations.is_empty() {
        return Ok(());
    }
    staff_locations::Entity::insert_many(locations.iter().map(|location| {
        staff_locations::ActiveModel {
            staff_id: Set(staff.as_uuid()),
            location_id: Set(location.as_uuid()),
            practice_id: Set(practice.as_uuid()),
        }
    }))
    .exec_without_returning(tx)
    .await?;
    Ok(())
}

/// One page of the practice's members matching `filter`, in id order.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    filter: &StaffFilter,
    page: &PageRequest,
) -> Result<Page<StaffMember>, Error> {
    let mut condition = Condition::all();
    if !filter.statuses.is_empty() {
        condition = condition.add(
            staff_members::Column::Status
                .is_in(filter.statuses.iter().map(|s| MemberStatus::from(*s))),
        );
    }
    if !filter.roles.is_empty() {
        condition = condition
            .add(staff_members::Column::Role.is_in(filter.roles.iter().map(|r| r.as_str())));
    }
    if !filter.certification.is_empty() {
        condition = condition.add(
            staff_members::Column::CertificationStatus.is_in(
                filter
                    .certification
                    .iter()
                    .map(|c| CertificationState::from(*c)),
            ),
        );
    }
    if let Some(external) = filter.external_agent {
        condition = condition.add(staff_members::Column::ExternalAgent.eq(external));
    }
    if let Some(location) = filter.location {
        condition = condition.add(
            staff_members::Column::Id.in_subquery(
                Query::select()
                    .column(staff_locations::Column::StaffId)
                    .from(staff_locations::Entity)
                    .and_where(staff_locations::Column::PracticeId.eq(practice.as_uuid()))
                    .and_where(staff_locations::Column::LocationId.eq(location.as_uuid()))
                    .to_owned(),
            ),
        );
    }
    if let Some(query) = &filter.query {
        let name = Expr::expr(Func::lower(Expr::col((
            staff_members::Entity,
            staff_members::Column::Name,
        ))));
        condition = condition.add(
            Condition::any()
                .add(name.like(ps_db::like_containing(query)))
                .add(staff_members::Column::Email.like(ps_db::like_containing(query))),
        );
    }
    if let Some(after) = page.after {
        condition = condition.add(staff_members::Column::Id.gt(after));
    }
    let rows = staff_members::Entity::find()
        .in_practice(practice)
        .filter(condition)
        .order_by_asc(staff_members::Column::Id)
        .limit(page.fetch_limit())
        .all(conn)
        .await?;
    let rows = Page::from_rows(rows, page, |row| row.id);
    Ok(Page {
        items: with_locations(conn, rows.items).await?,
        next_page_token: rows.next_page_token,
    })
}

#[cfg(test)]
mod tests {
    use sea_orm::{ActiveEnum, Iterable};

    use super::*;
    use crate::domain::CertificationStatus;

    #[test]
    fn stored_statuses_are_the_domain_names() {
        for status in StaffStatus::ALL {
            assert_eq!(MemberStatus::from(*status).to_value(), status.as_str());
            assert_eq!(StaffStatus::from(MemberStatus::from(*status)), *status);
        }
        assert_eq!(MemberStatus::iter().count(), StaffStatus::ALL.len());
        for status in CertificationStatus::ALL {
            assert_eq!(
                CertificationState::from(*status).to_value(),
                status.as_str()
            );
        }
        assert_eq!(
            CertificationState::iter().count(),
            CertificationStatus::ALL.len()
        );
    }
}
