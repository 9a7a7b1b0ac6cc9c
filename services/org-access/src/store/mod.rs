//! Org-access's tables. Every query takes the practice id.

pub mod migration;

pub mod organisations {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "organisations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub practice_id: Uuid,
        pub name: String,
        /// Lower-cased name; unique per practice so two clients cannot share a name.
        pub name_key: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod staff {
    use sea_orm::entity::prelude::*;

    /// Org-access's own copy of each staff member's status and practice role, fed by
    /// staff-directory's and identity's events, so authorisation needs no call to another
    /// service.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "staff_projection")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub practice_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub staff_id: Uuid,
        pub user_id: Option<Uuid>,
        pub role: String,
        pub status: String,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
