//! Staff-directory's use cases. Every query is scoped by the caller's practice; a member of
//! another practice's id is simply not found.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ps_auth::UserCaller;
use ps_core::{Email, Page, PageRequest, PracticeId, PracticeRole, SharedClock, StaffId, UserId};
use ps_events::event::StaffInvited;
use ps_events::{Actor, Event, OutboxWaker, Payload, outbox};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};
use tracing::info;

use crate::domain::{Invitation, NewPractice, Practice, StaffFilter, StaffMember, StaffStatus};
use crate::error::Error;
use crate::store::{practices, staff_members};

#[derive(Clone)]
pub struct Directory(Arc<Inner>);

struct Inner {
    db: DatabaseConnection,
    clock: SharedClock,
    waker: OutboxWaker,
    /// Name recorded as the actor of operator actions (bootstrap).
    operator_name: String,
}

fn member(row: staff_members::Model) -> Result<StaffMember, Error> {
    Ok(StaffMember {
        id: StaffId(row.id),
        practice_id: PracticeId(row.practice_id),
        email: Email::from_trusted(row.email),
        name: row.name,
        role: PracticeRole::parse(&row.role)
            .ok_or_else(|| Error::Internal(format!("stored role {}", row.role)))?,
        status: StaffStatus::parse(&row.status)
            .ok_or_else(|| Error::Internal(format!("stored status {}", row.status)))?,
        user_id: row.user_id.map(UserId),
        invited_at: row.invited_at,
        invited_by_name: row.invited_by_name,
        status_changed_at: row.status_changed_at,
    })
}

fn practice(row: practices::Model) -> Practice {
    Practice {
        id: PracticeId(row.id),
        name: row.name,
        created_at: row.created_at,
    }
}

impl Directory {
    pub fn new(
        db: DatabaseConnection,
        clock: SharedClock,
        waker: OutboxWaker,
        operator_name: String,
    ) -> Self {
        Self(Arc::new(Inner {
            db,
            clock,
            waker,
            operator_name,
        }))
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.0.db
    }

    pub fn clock(&self) -> &SharedClock {
        &self.0.clock
    }

    /// The caller's own membership, which must be active: a token alone does not let a
    /// removed or pending member act.
    async fn acting_member(&self, caller: &UserCaller) -> Result<staff_members::Model, Error> {
        staff_members::Entity::find()
            .filter(staff_members::Column::PracticeId.eq(caller.practice_id.as_uuid()))
            .filter(staff_members::Column::UserId.eq(caller.user_id.as_uuid()))
            .filter(staff_members::Column::Status.eq(StaffStatus::Active.as_str()))
            .one(&self.0.db)
            .await?
            .ok_or_else(|| {
                Error::PermissionDenied("you are not an active member of this practice".into())
            })
    }

    async fn practice_row<C: ConnectionTrait>(
        &self,
        conn: &C,
        id: PracticeId,
    ) -> Result<practices::Model, Error> {
        practices::Entity::find_by_id(id.as_uuid())
            .one(conn)
            .await?
            .ok_or(Error::NotFound("practice"))
    }

    /// Writes a Pending member and its StaffInvited event in `tx`.
    async fn insert_invited<C: ConnectionTrait>(
        &self,
        tx: &C,
        practice: &practices::Model,
        invitation: &Invitation,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<staff_members::Model, Error> {
        let existing = staff_members::Entity::find()
            .filter(staff_members::Column::PracticeId.eq(practice.id))
            .filter(staff_members::Column::Email.eq(invitation.email.as_str()))
            .one(tx)
            .await?;
        if let Some(existing) = existing {
            return Err(Error::AlreadyMember {
                email: existing.email,
                staff_id: existing.id.to_string(),
            });
        }
        let staff_id = StaffId::generate();
        let row = staff_members::ActiveModel {
            id: Set(staff_id.as_uuid()),
            practice_id: Set(practice.id),
            email: Set(invitation.email.to_string()),
            name: Set(invitation.name.to_string()),
            role: Set(invitation.role.as_str().to_owned()),
            status: Set(StaffStatus::Pending.as_str().to_owned()),
            user_id: Set(None),
            invited_by_name: Set(actor.name.clone()),
            invited_at: Set(now),
            status_changed_at: Set(now),
            created_at: Set(now),
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
        outbox::enqueue(
            tx,
            &Event::new(
                PracticeId(practice.id),
                actor.clone(),
                now,
                Payload::StaffInvited(StaffInvited {
                    staff_id,
                    email: invitation.email.clone(),
                    name: invitation.name.clone(),
                    role: invitation.role,
                    practice_name: practice.name.clone(),
                    inviter_name: actor.name,
                }),
            ),
        )
        .await?;
        Ok(row)
    }

    /// Operator bootstrap: a new practice with its Account Owner invited.
    pub async fn create_practice(
        &self,
        new: NewPractice,
    ) -> Result<(Practice, StaffMember), Error> {
        let now = self.0.clock.now();
        let tx = self.0.db.begin().await?;
        let row = practices::ActiveModel {
            id: Set(PracticeId::generate().as_uuid()),
            name: Set(new.name.to_string()),
            created_at: Set(now),
        }
        .insert(&tx)
        .await?;
        let owner = self
            .insert_invited(
                &tx,
                &row,
                &Invitation {
                    email: new.owner_email,
                    name: new.owner_name,
                    role: PracticeRole::AccountOwner,
                },
                Actor::operator(self.0.operator_name.clone()),
                now,
            )
            .await?;
        tx.commit().await?;
        self.0.waker.wake();
        info!(practice_id = %row.id, owner_staff_id = %owner.id, "practice created");
        Ok((practice(row), member(owner)?))
    }

    pub async fn get_practice(&self, caller: &UserCaller) -> Result<Practice, Error> {
        self.acting_member(caller).await?;
        Ok(practice(
            self.practice_row(&self.0.db, caller.practice_id).await?,
        ))
    }

    pub async fn invite_staff(
        &self,
        caller: &UserCaller,
        invitation: Invitation,
    ) -> Result<StaffMember, Error> {
        let actor = self.acting_member(caller).await?;
        let actor_role = PracticeRole::parse(&actor.role)
            .ok_or_else(|| Error::Internal(format!("stored role {}", actor.role)))?;
        if !actor_role.manages_staff() {
            return Err(Error::PermissionDenied(
                "inviting staff needs the Account Owner, Account Manager or User Manager role"
                    .into(),
            ));
        }
        if !actor_role.may_grant(invitation.role) {
            return Err(Error::PermissionDenied(format!(
                "a {actor_role} cannot invite someone as {}; that needs the Account Owner role",
                invitation.role
            )));
        }
        let now = self.0.clock.now();
        let tx = self.0.db.begin().await?;
        let practice = self.practice_row(&tx, caller.practice_id).await?;
        let row = self
            .insert_invited(
                &tx,
                &practice,
                &invitation,
                Actor::user(caller.user_id, actor.name.clone()),
                now,
            )
            .await?;
        tx.commit().await?;
        self.0.waker.wake();
        info!(practice_id = %practice.id, staff_id = %row.id, role = invitation.role.as_str(), "staff invited");
        member(row)
    }

    pub async fn list_staff(
        &self,
        caller: &UserCaller,
        filter: StaffFilter,
        page: PageRequest,
    ) -> Result<Page<StaffMember>, Error> {
        self.acting_member(caller).await?;
        let mut query = staff_members::Entity::find()
            .filter(staff_members::Column::PracticeId.eq(caller.practice_id.as_uuid()));
        if !filter.statuses.is_empty() {
            query = query.filter(
                staff_members::Column::Status.is_in(filter.statuses.iter().map(|s| s.as_str())),
            );
        }
        if let Some(after) = page.after {
            query = query.filter(staff_members::Column::Id.gt(after));
        }
        let rows = query
            .order_by_asc(staff_members::Column::Id)
            .limit(page.fetch_limit())
            .all(&self.0.db)
            .await?;
        let rows = Page::from_rows(rows, &page, |row| row.id);
        let items = rows
            .items
            .into_iter()
            .map(member)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            next_page_token: rows.next_page_token,
        })
    }

    pub async fn get_staff(&self, caller: &UserCaller, id: StaffId) -> Result<StaffMember, Error> {
        self.acting_member(caller).await?;
        let row = staff_members::Entity::find_by_id(id.as_uuid())
            .filter(staff_members::Column::PracticeId.eq(caller.practice_id.as_uuid()))
            .one(&self.0.db)
            .await?
            .ok_or(Error::NotFound("staff member"))?;
        member(row)
    }

    /// Moves a Pending member to `to` in `tx`; returns whether it changed anything (it does
    /// not when the member already answered, e.g. on a replayed event).
    pub async fn answer_invitation<C: ConnectionTrait>(
        &self,
        tx: &C,
        practice_id: PracticeId,
        staff_id: StaffId,
        user_id: UserId,
        to: StaffStatus,
    ) -> Result<bool, Error> {
        let changed = staff_members::Entity::update_many()
            .col_expr(staff_members::Column::Status, Expr::value(to.as_str()))
            .col_expr(
                staff_members::Column::UserId,
                Expr::value(Some(user_id.as_uuid())),
            )
            .col_expr(
                staff_members::Column::StatusChangedAt,
                Expr::value(self.0.clock.now()),
            )
            .filter(staff_members::Column::PracticeId.eq(practice_id.as_uuid()))
            .filter(staff_members::Column::Id.eq(staff_id.as_uuid()))
            .filter(staff_members::Column::Status.eq(StaffStatus::Pending.as_str()))
            .exec(tx)
            .await?
            .rows_affected;
        Ok(changed == 1)
    }
}
