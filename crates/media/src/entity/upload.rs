//! `media_uploads`: a resumable (tus) upload of a video's source file.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "media_uploads")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub video_id: i64,
    pub uploader_id: i64,
    /// Declared total size in bytes.
    pub length: i64,
    /// Bytes durably written (fsynced) so far.
    pub offset: i64,
    pub created_at: DateTimeUtc,
    pub completed_at: Option<DateTimeUtc>,
    /// While unfinished: abandoned after this unless more bytes come (each write pushes it
    /// back). `None` for uploads made before it was recorded: `created_at` + the expiry then.
    pub expires_at: Option<DateTimeUtc>,
    /// When the sweeper removed its bytes, for good.
    pub expired_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
