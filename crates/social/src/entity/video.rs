use sea_orm::entity::prelude::*;

/// A video as the feeds know it: media's details (projected from its events) and the counters
/// social keeps beside them, so a feed looks each candidate up once.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "social_videos")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub video_id: i64,
    /// `None` (with `owner_id`) while only counters exist: something was counted before media's
    /// event reached the projection. Always set on a published row.
    pub channel_id: Option<i64>,
    pub owner_id: Option<i64>,
    pub category: Option<String>,
    pub duration_ms: Option<i64>,
    /// `None` while unpublished.
    pub published_at: Option<DateTimeUtc>,
    /// When the last applied media event occurred; the Unix epoch while none has been.
    pub updated_at: DateTimeUtc,
    pub likes: i64,
    pub recommends: i64,
    /// Top-level comments and replies.
    pub comments: i64,
    pub shares: i64,
    /// Distinct (viewer, UTC day) views.
    pub views: i64,
    /// Sum of each view's longest watch.
    pub watch_ms: i64,
    /// Views watched to ≥ 90 %.
    pub completions: i64,
    /// The version of the last media event applied (0: none yet, or one from before versions).
    pub version: i64,
    /// A tombstone: the video was deleted. Its details and counts are gone; the row stays so
    /// an older event delivered late does not bring it back.
    pub deleted: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
