//! `media_renditions`: the HLS variants of a `READY` video.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "media_renditions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub video_id: i64,
    /// `360p`, `720p`, …
    pub name: String,
    pub width: i32,
    pub height: i32,
    /// Peak bits per second of its segments, as in the master playlist.
    pub bandwidth: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
