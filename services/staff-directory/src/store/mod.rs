//! Staff-directory's tables. Every query of staff takes the practice id.

pub mod migration;

pub mod practices {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "practices")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub name: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod staff_members {
    use sea_orm::entity::prelude::*;

    /// One person's place in one practice. (practice_id, email) is unique: inviting someone
    /// twice finds the existing member instead of creating a second.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "staff_members")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub practice_id: Uuid,
        pub email: String,
        pub name: String,
        pub role: String,
        pub status: String,
        /// Identity's user, known once the invitation is accepted.
        pub user_id: Option<Uuid>,
        pub invited_by_name: String,
        pub invited_at: DateTimeUtc,
        pub status_changed_at: DateTimeUtc,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
