//! A roster: a service's own copy of who is staff in which practice, with their role, status and
//! locations, kept from staff-directory's and identity's events. Org-access and notification
//! authorise from it, so a removed or deactivated member is refused there as soon as the event
//! arrives, without a call to staff-directory on the request path.
//!
//! Events may arrive out of order (retries, replicas). Each row remembers the time of the event
//! that last changed it, and an older event never overwrites a newer one.

#![warn(missing_docs)]

use chrono::{DateTime, Utc};
use ps_core::{LocationId, PracticeId, PracticeRole, StaffId, UserId};
use ps_db::tenancy::InPractice;
use ps_events::event::StatusBefore;
use ps_events::{Event, Payload};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};

/// The `roster` table's sea-orm entity: one row per staff member of a practice.
pub mod entity {
    use sea_orm::entity::prelude::*;

    use crate::RosterStatus;

    ps_db::stored_as!(
        /// `roster.status`, stored as [`RosterStatus::as_str`]'s words.
        #[allow(missing_docs, reason = "its variants are RosterStatus's, documented there")]
        RosterState <=> RosterStatus {
            Pending => "pending",
            Active => "active",
            Declined => "declined",
            Removed => "removed",
            Deactivated => "deactivated",
            Offboarding => "offboarding",
            Offboarded => "offboarded",
        }
    );

    /// One staff member as this service knows them.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "roster")]
    pub struct Model {
        /// The practice the member belongs to.
        #[sea_orm(primary_key, auto_increment = false)]
        pub practice_id: Uuid,
        /// The member's staff id in that practice.
        #[sea_orm(primary_key, auto_increment = false)]
        pub staff_id: Uuid,
        /// Their user, once they accepted or declined the invitation; `None` until then.
        pub user_id: Option<Uuid>,
        /// As invited; for e-mails about the member's access.
        pub email: String,
        /// Display name as invited (the e-mail when the acceptance arrived first).
        pub name: String,
        /// Their practice role ([`ps_core::PracticeRole::as_str`]).
        pub role: String,
        /// Where the member is in the lifecycle.
        pub status: RosterState,
        /// JSON array of location ids the member may access.
        pub location_ids: String,
        /// When the event that last changed this row occurred.
        pub changed_at: DateTimeUtc,
    }

    /// The table has no relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity as roster;

ps_db::tenanted!(roster);

/// A member's status in the roster: staff-directory's lifecycle as others see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RosterStatus {
    /// Invited, not yet accepted.
    Pending,
    /// Accepted and working; the only status given access.
    Active,
    /// Declined the invitation.
    Declined,
    /// Removed from the practice.
    Removed,
    /// Deactivated for now; reactivation restores them.
    Deactivated,
    /// Their work is being handed to a replacement.
    Offboarding,
    /// Left the practice, their work handed to a replacement.
    Offboarded,
}

impl RosterStatus {
    /// The word shown for it, the one stored ([`entity::RosterState`]; staff-directory's words
    /// for the same statuses).
    pub fn as_str(self) -> &'static str {
        match self {
            RosterStatus::Pending => "pending",
            RosterStatus::Active => "active",
            RosterStatus::Declined => "declined",
            RosterStatus::Removed => "removed",
            RosterStatus::Deactivated => "deactivated",
            RosterStatus::Offboarding => "offboarding",
            RosterStatus::Offboarded => "offboarded",
        }
    }

    /// Whether a member in this status may not be given access or work (removed, declined,
    /// being offboarded or offboarded).
    pub fn is_gone(self) -> bool {
        matches!(
            self,
            RosterStatus::Removed
                | RosterStatus::Declined
                | RosterStatus::Offboarding
                | RosterStatus::Offboarded
        )
    }
}

impl std::fmt::Display for RosterStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<StatusBefore> for RosterStatus {
    fn from(before: StatusBefore) -> Self {
        match before {
            StatusBefore::Pending => RosterStatus::Pending,
            StatusBefore::Active => RosterStatus::Active,
            StatusBefore::Deactivated => RosterStatus::Deactivated,
        }
    }
}

/// The roster table; add it to a service's migrator.
pub struct RosterTable;

impl sea_orm_migration::MigrationName for RosterTable {
    fn name(&self) -> &str {
        "m20261101_000002_roster"
    }
}

#[async_trait::async_trait]
impl sea_orm_migration::MigrationTrait for RosterTable {
    async fn up(&self, manager: &sea_orm_migration::SchemaManager) -> Result<(), DbErr> {
        use sea_orm_migration::prelude::*;
        use sea_orm_migration::schema::*;
        manager
            .create_table(
                Table::create()
                    .table("roster")
                    .col(uuid("practice_id"))
                    .col(uuid("staff_id"))
                    .col(uuid_null("user_id"))
                    .col(string("email"))
                    .col(string("name"))
                    .col(string("role"))
                    .col(string("status"))
                    .col(text("location_ids"))
                    .col(timestamp_with_time_zone("changed_at"))
                    .primary_key(Index::create().col("practice_id").col("staff_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("roster_practice_user")
                    .table("roster")
                    .col("practice_id")
                    .col("user_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &sea_orm_migration::SchemaManager) -> Result<(), DbErr> {
        use sea_orm_migration::prelude::*;
        manager
            .drop_table(Table::drop().table("roster").to_owned())
            .await
    }
}

fn json(ids: &[LocationId]) -> String {
    serde_json::to_string(&ids.iter().map(|id| id.to_string()).collect::<Vec<_>>())
        .unwrap_or_else(|_| "[]".into())
}

/// Inserts or replaces a member's row, unless a newer event already changed it (or, with
/// `only_from`, the row is in another status).
async fn upsert<C: ConnectionTrait>(
    conn: &C,
    row: roster::ActiveModel,
    update: &[roster::Column],
    at: DateTime<Utc>,
    only_from: Option<RosterStatus>,
) -> Result<(), DbErr> {
    let mut condition = Expr::col((roster::Entity, roster::Column::ChangedAt)).lte(at);
    if let Some(status) = only_from {
        let status = Expr::value(roster::RosterState::from(status));
        condition = condition.and(Expr::col((roster::Entity, roster::Column::Status)).eq(status));
    }
    roster::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([roster::Column::PracticeId, roster::Column::StaffId])
                .update_columns(update.iter().copied().chain([roster::Column::ChangedAt]))
                .action_and_where(condition)
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await
        .map(drop)
}

/// Changes an existing member's row, unless a newer event already changed it.
async fn change<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    staff: StaffId,
    at: DateTime<Utc>,
    set: Vec<(roster::Column, Expr)>,
) -> Result<(), DbErr> {
    let mut update =
        roster::Entity::update_many().col_expr(roster::Column::ChangedAt, Expr::value(at));
    for (column, value) in set {
        update = update.col_expr(column, value);
    }
    update
        .in_practice(practice)
        .filter(roster::Column::StaffId.eq(staff.as_uuid()))
        .filter(roster::Column::ChangedAt.lte(at))
        .exec(conn)
        .await
        .map(drop)
}

/// Sets a member's status, unless a newer event already changed their row.
pub async fn set_status<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    staff: StaffId,
    status: RosterStatus,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    change(conn, practice, staff, at, vec![status_set(status)]).await
}

fn status_set(status: RosterStatus) -> (roster::Column, Expr) {
    (
        roster::Column::Status,
        Expr::value(roster::RosterState::from(status)),
    )
}

fn role_set(role: PracticeRole) -> (roster::Column, Expr) {
    (roster::Column::Role, Expr::value(role.as_str()))
}

fn user_set(user: Option<UserId>) -> Option<(roster::Column, Expr)> {
    user.map(|u| (roster::Column::UserId, Expr::value(Some(u.as_uuid()))))
}

/// A whole roster row, as an invitation or an acceptance first writes it.
struct Entry<'a> {
    staff: StaffId,
    user: Option<UserId>,
    email: &'a str,
    name: &'a str,
    role: PracticeRole,
    status: RosterStatus,
    /// JSON array of location ids.
    locations: String,
}

impl<'a> Entry<'a> {
    fn invited(p: &'a ps_events::event::StaffInvited) -> Self {
        Self {
            staff: p.staff_id,
            user: None,
            email: p.email.as_str(),
            name: p.name.as_str(),
            role: p.role,
            status: RosterStatus::Pending,
            locations: json(&p.location_ids),
        }
    }

    /// Name and locations stay as invited; an acceptance seen first uses the e-mail as name.
    fn accepted(p: &'a ps_events::event::InvitationAccepted) -> Self {
        Self {
            staff: p.staff_id,
            user: Some(p.user_id),
            email: p.email.as_str(),
            name: p.email.as_str(),
            role: p.role,
            status: RosterStatus::Active,
            locations: "[]".into(),
        }
    }

    fn row(self, practice: PracticeId, at: DateTime<Utc>) -> roster::ActiveModel {
        roster::ActiveModel {
            practice_id: Set(practice.as_uuid()),
            staff_id: Set(self.staff.as_uuid()),
            user_id: Set(self.user.map(|u| u.as_uuid())),
            email: Set(self.email.to_owned()),
            name: Set(self.name.to_owned()),
            role: Set(self.role.as_str().to_owned()),
            status: Set(self.status.into()),
            location_ids: Set(self.locations),
            changed_at: Set(at),
        }
    }
}

/// Applies `event` to the roster in `conn` (the consumer's transaction); other events are
/// ignored.
pub async fn apply<C: ConnectionTrait>(conn: &C, event: &Event) -> Result<(), DbErr> {
    let Some(practice) = event.practice_id else {
        return Ok(());
    };
    let at = event.occurred_at;
    use roster::Column as C;
    match &event.payload {
        Payload::StaffInvited(p) => {
            let update = [C::Email, C::Name, C::Role, C::Status, C::LocationIds];
            upsert(conn, Entry::invited(p).row(practice, at), &update, at, None).await
        }
        Payload::InvitationAccepted(p) => {
            let accepted = Entry::accepted(p).row(practice, at);
            // Only a Pending member accepts (as in staff-directory): a late acceptance does not
            // bring back someone removed or offboarded meanwhile.
            let update = [C::UserId, C::Role, C::Status];
            upsert(conn, accepted, &update, at, Some(RosterStatus::Pending)).await
        }
        Payload::InvitationDeclined(p) => {
            let mut set = vec![status_set(RosterStatus::Declined)];
            set.extend(user_set(Some(p.user_id)));
            change(conn, practice, p.staff_id, at, set).await
        }
        Payload::StaffRoleChanged(p) => {
            change(conn, practice, p.staff_id, at, vec![role_set(p.to)]).await
        }
        Payload::StaffRemoved(p) => {
            set_status(conn, practice, p.staff_id, RosterStatus::Removed, at).await
        }
        Payload::StaffDeactivated(p) => {
            set_status(conn, practice, p.staff_id, RosterStatus::Deactivated, at).await
        }
        Payload::StaffReactivated(p) => {
            let mut set = vec![status_set(RosterStatus::Active), role_set(p.role)];
            set.extend(user_set(p.user_id));
            change(conn, practice, p.staff_id, at, set).await
        }
        Payload::StaffLocationsChanged(p) => {
            let locations = (
                roster::Column::LocationIds,
                Expr::value(json(&p.location_ids)),
            );
            change(conn, practice, p.staff_id, at, vec![locations]).await
        }
        Payload::StaffOffboardingRequested(p) => {
            set_status(
                conn,
                practice,
                p.leaver.staff_id,
                RosterStatus::Offboarding,
                at,
            )
            .await
        }
        Payload::OffboardingCompleted(p) => {
            set_status(
                conn,
                practice,
                p.leaver.staff_id,
                RosterStatus::Offboarded,
                at,
            )
            .await
        }
        Payload::OffboardingFailed(p) => {
            let restored = p.leaver_status_before.into();
            set_status(conn, practice, p.leaver.staff_id, restored, at).await
        }
        Payload::StaffReinvited(_)
        | Payload::CertificationInvited(_)
        | Payload::CertificationRecorded(_)
        | Payload::PasswordResetRequested(_)
        | Payload::LocationChanged(_)
        | Payload::OrgAccessInvited(_)
        | Payload::DeliveryFailed(_)
        | Payload::SessionsEnded(_) => Ok(()),
    }
}

/// The user's role in the practice if they are an active member there.
pub async fn active_role<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    user: UserId,
) -> Result<Option<PracticeRole>, DbErr> {
    Ok(roster::Entity::find()
        .in_practice(practice)
        .filter(roster::Column::UserId.eq(user.as_uuid()))
        .filter(roster::Column::Status.eq(roster::RosterState::Active))
        .one(conn)
        .await?
        .and_then(|row| PracticeRole::parse(&row.role)))
}

/// A member as the roster knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's staff id.
    pub staff_id: StaffId,
    /// Their user, once they accepted or declined the invitation; `None` until then.
    pub user_id: Option<UserId>,
    /// As invited; for e-mails about the member's access.
    pub email: String,
    /// Display name as invited (the e-mail when the acceptance arrived first).
    pub name: String,
    /// Their role in the practice.
    pub role: PracticeRole,
    /// Where they are in the lifecycle.
    pub status: RosterStatus,
    /// Locations the member may access in the practice; empty when not restricted.
    pub location_ids: Vec<LocationId>,
    /// When the event that last changed this row occurred.
    pub changed_at: DateTime<Utc>,
}

impl Member {
    /// Whether the member's status is [`RosterStatus::Active`].
    pub fn is_active(&self) -> bool {
        self.status == RosterStatus::Active
    }
}

fn member(row: roster::Model) -> Option<Member> {
    let location_ids: Vec<String> = serde_json::from_str(&row.location_ids).unwrap_or_default();
    Some(Member {
        staff_id: StaffId(row.staff_id),
        user_id: row.user_id.map(UserId),
        email: row.email,
        name: row.name,
        role: PracticeRole::parse(&row.role)?,
        status: row.status.into(),
        location_ids: location_ids
            .iter()
            .filter_map(|id| id.parse().ok())
            .collect(),
        changed_at: row.changed_at,
    })
}

/// The practice's member who is `user`, in whatever status.
pub async fn member_by_user<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    user: UserId,
) -> Result<Option<Member>, DbErr> {
    Ok(roster::Entity::find()
        .in_practice(practice)
        .filter(roster::Column::UserId.eq(user.as_uuid()))
        .one(conn)
        .await?
        .and_then(member))
}

/// The practice's members among `staff` (unknown ids are simply absent).
pub async fn members<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    staff: &[StaffId],
) -> Result<Vec<Member>, DbErr> {
    if staff.is_empty() {
        return Ok(Vec::new());
    }
    Ok(roster::Entity::find()
        .in_practice(practice)
        .filter(roster::Column::StaffId.is_in(staff.iter().map(|s| s.as_uuid())))
        .all(conn)
        .await?
        .into_iter()
        .filter_map(member)
        .collect())
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use ps_core::{Email, ExistingAccess, PersonName};
    use ps_events::Actor;
    use ps_events::event::{
        InvitationAccepted, OffboardingCompleted, OffboardingFailed, OffboardingParty,
        StaffInvited, StaffOffboardingRequested, StatusBefore,
    };
    use sea_orm::DatabaseConnection;
    use sea_orm_migration::{MigrationTrait, SchemaManager};

    use super::*;

    async fn roster() -> DatabaseConnection {
        let db = ps_db::connect(&ps_db::DbSettings::new("sqlite::memory:"))
            .await
            .unwrap();
        RosterTable.up(&SchemaManager::new(&db)).await.unwrap();
        db
    }

    struct Story {
        practice: PracticeId,
        staff: StaffId,
        user: UserId,
        start: DateTime<Utc>,
    }

    impl Story {
        fn at(&self, minutes: i64, payload: Payload) -> Event {
            Event::new(
                self.practice,
                Actor::operator("test"),
                self.start + Duration::minutes(minutes),
                payload,
            )
        }

        fn party(&self) -> OffboardingParty {
            OffboardingParty {
                staff_id: self.staff,
                user_id: Some(self.user),
                name: PersonName::from_trusted("Lee".into()),
                email: Email::from_trusted("lee@example.test".into()),
            }
        }

        fn invited(&self, minutes: i64) -> Event {
            self.at(
                minutes,
                Payload::StaffInvited(StaffInvited {
                    staff_id: self.staff,
                    email: Email::from_trusted("lee@example.test".into()),
                    name: PersonName::from_trusted("Lee".into()),
                    role: PracticeRole::Member,
                    practice_name: "P".into(),
                    inviter_name: "O".into(),
                    location_ids: Vec::new(),
                }),
            )
        }

        fn accepted(&self, minutes: i64) -> Event {
            self.at(
                minutes,
                Payload::InvitationAccepted(InvitationAccepted {
                    staff_id: self.staff,
                    user_id: self.user,
                    email: Email::from_trusted("lee@example.test".into()),
                    role: PracticeRole::Member,
                }),
            )
        }

        fn offboarding(&self, minutes: i64) -> Event {
            self.at(
                minutes,
                Payload::StaffOffboardingRequested(StaffOffboardingRequested {
                    offboarding_id: uuid::Uuid::now_v7(),
                    leaver: self.party(),
                    leaver_status_before: StatusBefore::Active,
                    replacement: self.party(),
                    existing_access: ExistingAccess::KeepReplacementRole,
                    requested_by_email: Email::from_trusted("o@example.test".into()),
                }),
            )
        }

        async fn status(&self, db: &DatabaseConnection) -> RosterStatus {
            members(db, self.practice, &[self.staff])
                .await
                .unwrap()
                .pop()
                .unwrap()
                .status
        }
    }

    fn story() -> Story {
        Story {
            practice: PracticeId::generate(),
            staff: StaffId::generate(),
            user: UserId::generate(),
            start: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        }
    }

    #[tokio::test]
    async fn older_events_never_overwrite_newer_ones() {
        let db = roster().await;
        let s = story();
        apply(&db, &s.accepted(2)).await.unwrap();
        apply(&db, &s.invited(1)).await.unwrap();
        assert_eq!(s.status(&db).await, RosterStatus::Active);
    }

    #[tokio::test]
    async fn offboarding_ends_in_offboarded_and_a_late_acceptance_does_not_undo_it() {
        let db = roster().await;
        let s = story();
        apply(&db, &s.invited(1)).await.unwrap();
        apply(&db, &s.offboarding(2)).await.unwrap();
        assert_eq!(s.status(&db).await, RosterStatus::Offboarding);
        apply(
            &db,
            &s.at(
                3,
                Payload::OffboardingCompleted(OffboardingCompleted {
                    offboarding_id: uuid::Uuid::now_v7(),
                    leaver: s.party(),
                    replacement: s.party(),
                    requested_by_email: Email::from_trusted("o@example.test".into()),
                    counts: ps_core::OffboardingCounts::default(),
                    holdings: Vec::new(),
                }),
            ),
        )
        .await
        .unwrap();
        assert_eq!(s.status(&db).await, RosterStatus::Offboarded);
        // The invitation link was answered after the member left: it changes nothing here.
        apply(&db, &s.accepted(4)).await.unwrap();
        assert_eq!(s.status(&db).await, RosterStatus::Offboarded);
    }

    #[tokio::test]
    async fn a_failed_offboarding_restores_the_status_before() {
        let db = roster().await;
        let s = story();
        apply(&db, &s.invited(1)).await.unwrap();
        apply(&db, &s.offboarding(2)).await.unwrap();
        apply(
            &db,
            &s.at(
                3,
                Payload::OffboardingFailed(OffboardingFailed {
                    offboarding_id: uuid::Uuid::now_v7(),
                    leaver: s.party(),
                    leaver_status_before: StatusBefore::Pending,
                    replacement: s.party(),
                    requested_by_email: Email::from_trusted("o@example.test".into()),
                    reason: "no".into(),
                }),
            ),
        )
        .await
        .unwrap();
        assert_eq!(s.status(&db).await, RosterStatus::Pending);
    }

    /// The words stay those already stored (and staff-directory's), in the enum and the
    /// active enum alike.
    #[test]
    fn statuses_are_stored_by_their_old_words() {
        use entity::RosterState;
        use sea_orm::{ActiveEnum, Iterable};
        let words: Vec<String> = RosterState::iter().map(|s| s.to_value()).collect();
        assert_eq!(
            words,
            [
                "pending",
                "active",
                "declined",
                "removed",
                "deactivated",
                "offboarding",
                "offboarded"
            ]
        );
        for state in RosterState::iter() {
            let status = RosterStatus::from(state);
            assert_eq!(state.to_value(), status.as_str());
            assert_eq!(RosterState::from(status), state);
        }
        assert!(RosterState::try_from_value(&"archived".to_owned()).is_err());
        let gone: Vec<RosterStatus> = RosterState::iter()
            .map(RosterStatus::from)
            .filter(|s| s.is_gone())
            .collect();
        assert_eq!(
            gone,
            [
                RosterStatus::Declined,
                RosterStatus::Removed,
                RosterStatus::Offboarding,
                RosterStatus::Offboarded
            ]
        );
    }
}
