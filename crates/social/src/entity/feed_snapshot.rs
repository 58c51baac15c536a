use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "social_feed_snapshots")]
pub struct Model {
    /// Made by the application (see `feeds::snapshot::new_id`), not by a sequence.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    /// `None` for anonymous viewers of Recommended.
    pub viewer_id: Option<i64>,
    /// 1 = Friends, 2 = Recommended (see `feeds::snapshot`).
    pub feed: i16,
    /// The ranked items, JSON.
    pub items: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
