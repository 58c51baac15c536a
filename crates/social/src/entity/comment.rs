use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "social_comments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub video_id: i64,
    pub video_owner_id: i64,
    pub author_id: i64,
    pub parent_id: Option<i64>,
    pub body: String,
    pub likes: i64,
    pub replies: i64,
    pub pinned: bool,
    pub created_at: DateTimeUtc,
    pub edited_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
