//! `media_videos`: one row per video, whatever its status.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "media_videos")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub channel_id: i64,
    pub owner_id: i64,
    pub title: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    /// A JSON array of strings.
    #[sea_orm(column_type = "Text")]
    pub hashtags: String,
    pub category: Option<String>,
    pub is_original: bool,
    /// `UPLOADING` | `PROCESSING` | `READY` | `FAILED`, see [`crate::domain::status`].
    pub status: String,
    pub progress_percent: i32,
    #[sea_orm(column_type = "Text", nullable)]
    pub failure_reason: Option<String>,
    /// [`crate::domain::failure`], set with `failure_reason`.
    pub failure_code: Option<String>,
    pub duration_ms: Option<i64>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub published_at: Option<DateTimeUtc>,
    /// What the module that imported it calls it (`live.replay:<room>`); `None` for uploads.
    pub import_key: Option<String>,
    /// Packaged as it is (`-c copy`) when it can be, instead of transcoded.
    pub copy_package: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
