use sea_orm::entity::prelude::*;

/// A live room.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "live_rooms")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub channel_id: i64,
    pub owner_id: i64,
    pub title: String,
    pub description: String,
    pub cover_url: Option<String>,
    /// `LiveRoomState::as_str`.
    pub state: String,
    pub planned_start_at: Option<DateTimeUtc>,
    pub started_at: Option<DateTimeUtc>,
    pub ended_at: Option<DateTimeUtc>,
    pub cancelled_at: Option<DateTimeUtc>,
    pub stream_key: String,
    pub key_rotated_at: DateTimeUtc,
    pub reservation_count: i64,
    pub publisher_session: Option<String>,
    pub publisher_seen_at: Option<DateTimeUtc>,
    pub grace_until: Option<DateTimeUtc>,
    pub replay_video_id: Option<i64>,
    pub pinned_text: Option<String>,
    pub pinned_at: Option<DateTimeUtc>,
    /// commerce's product pinned while LIVE (讲解中).
    pub pinned_product_id: Option<i64>,
    pub pinned_product_at: Option<DateTimeUtc>,
    pub like_count: i64,
    pub viewers_now: i64,
    pub viewers_peak: i64,
    pub viewers_total: i64,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
