//! Notification's tables.

pub mod migration;

pub mod deliveries {
    use sea_orm::entity::prelude::*;

    /// One e-mail: queued when its event is consumed (in the same transaction that records the
    /// event id), sent by the mailer afterwards. E-mails with a single-use link keep no body
    /// and no link: `link_mail` says what to write, and the link is minted at send time.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "deliveries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// None for personal e-mails (password reset), which no practice's log shows.
        pub practice_id: Option<Uuid>,
        pub event_id: Uuid,
        pub template: String,
        pub recipient: String,
        pub recipient_name: String,
        pub subject: String,
        pub body_text: Option<String>,
        pub body_html: Option<String>,
        pub status: String,
        pub attempts: i32,
        pub last_error: Option<String>,
        pub next_attempt_at: DateTimeUtc,
        pub claimed_until: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub sent_at: Option<DateTimeUtc>,
        /// The trace the e-mail belongs to (the event's consumer span), empty when none.
        pub traceparent: Option<String>,
        /// For e-mails with a single-use link: `crate::links::LinkMail` as JSON (no secret).
        pub link_mail: Option<String>,
        /// The last link minted for this e-mail (an id, not the link).
        pub link_id: Option<Uuid>,
        /// When that link was voided, after the e-mail finally failed.
        pub link_voided_at: Option<DateTimeUtc>,
        /// The member an invitation is for.
        pub staff_id: Option<Uuid>,
        /// When the causing event happened.
        pub requested_at: Option<DateTimeUtc>,
        /// The causing event's actor (kind, id, name) as JSON: a failure is reported in their
        /// name.
        pub requested_by: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
