use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "social_video_stats")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub video_id: i64,
    pub likes: i64,
    pub recommends: i64,
    /// Top-level comments and replies.
    pub comments: i64,
    pub shares: i64,
    pub views: i64,
    pub watch_ms: i64,
    pub completions: i64,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
