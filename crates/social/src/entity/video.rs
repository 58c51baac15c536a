use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "social_videos")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub video_id: i64,
    pub channel_id: i64,
    pub owner_id: i64,
    pub category: Option<String>,
    pub duration_ms: Option<i64>,
    /// `None` while unpublished.
    pub published_at: Option<DateTimeUtc>,
    /// When the last applied media event occurred.
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
