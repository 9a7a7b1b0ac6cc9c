//! Tenancy in one place: a table whose rows belong to one practice says which column holds the
//! practice ([`Tenanted`]), and every query on it is narrowed with [`InPractice::in_practice`]
//! instead of a filter written by hand. Another practice's row is then exactly as absent as a
//! missing one: a lookup by id answers `None`, an update or delete touches nothing.

use ps_core::PracticeId;
use sea_orm::{ColumnTrait, DeleteMany, EntityTrait, QueryFilter, Select, UpdateMany};

/// An entity whose rows belong to one practice.
pub trait Tenanted: EntityTrait {
    /// The column holding the practice a row belongs to.
    const PRACTICE: Self::Column;
}

/// Narrows a query to one practice's rows.
pub trait InPractice: Sized {
    /// The same query, limited to rows of `practice`.
    #[must_use]
    fn in_practice(self, practice: PracticeId) -> Self;
}

impl<E: Tenanted> InPractice for Select<E> {
    fn in_practice(self, practice: PracticeId) -> Self {
        self.filter(E::PRACTICE.eq(practice.as_uuid()))
    }
}

impl<E: Tenanted> InPractice for UpdateMany<E> {
    fn in_practice(self, practice: PracticeId) -> Self {
        self.filter(E::PRACTICE.eq(practice.as_uuid()))
    }
}

impl<E: Tenanted> InPractice for DeleteMany<E> {
    fn in_practice(self, practice: PracticeId) -> Self {
        self.filter(E::PRACTICE.eq(practice.as_uuid()))
    }
}

/// Implements [`Tenanted`] for entity modules whose practice column is `PracticeId`:
/// `tenanted!(organisations, roles);`.
#[macro_export]
macro_rules! tenanted {
    ($($module:ident),* $(,)?) => {
        $(
            impl $crate::tenancy::Tenanted for $module::Entity {
                const PRACTICE: Self::Column = $module::Column::PracticeId;
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait};
    use uuid::Uuid;

    use super::*;

    mod notes {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "notes")]
        pub(crate) struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: Uuid,
            pub practice_id: Uuid,
            pub text: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub(crate) enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    crate::tenanted!(notes);

    #[tokio::test]
    async fn another_practices_rows_are_as_absent_as_missing_ones() {
        let db = crate::connect(&crate::DbSettings::new("sqlite::memory:"))
            .await
            .expect("in-memory SQLite");
        db.execute_unprepared(
            "CREATE TABLE notes (id TEXT PRIMARY KEY, practice_id TEXT NOT NULL, text TEXT NOT NULL)",
        )
        .await
        .expect("table");
        let (ours, theirs) = (PracticeId::generate(), PracticeId::generate());
        let (mine, other) = (Uuid::now_v7(), Uuid::now_v7());
        for (id, practice) in [(mine, ours), (other, theirs)] {
            notes::Entity::insert(notes::ActiveModel {
                id: sea_orm::Set(id),
                practice_id: sea_orm::Set(practice.as_uuid()),
                text: sea_orm::Set("hello".into()),
            })
            .exec(&db)
            .await
            .expect("row");
        }
        let find = |id: Uuid| notes::Entity::find_by_id(id).in_practice(ours).one(&db);
        assert!(find(mine).await.expect("query").is_some());
        assert!(find(other).await.expect("query").is_none());
        assert_eq!(
            notes::Entity::find()
                .in_practice(ours)
                .count(&db)
                .await
                .expect("count"),
            1
        );
        let updated = notes::Entity::update_many()
            .col_expr(
                notes::Column::Text,
                sea_orm::sea_query::Expr::value("changed"),
            )
            .in_practice(ours)
            .exec(&db)
            .await
            .expect("update");
        assert_eq!(updated.rows_affected, 1);
        let deleted = notes::Entity::delete_many()
            .in_practice(theirs)
            .exec(&db)
            .await
            .expect("delete");
        assert_eq!(deleted.rows_affected, 1);
        let left = notes::Entity::find().all(&db).await.expect("rows");
        assert_eq!(left.len(), 1);
        assert_eq!((left[0].id, left[0].text.as_str()), (mine, "changed"));
    }
}
