//! Bulk writers for social's tables, used by `kanjian seed` to build a synthetic world.
//!
//! Rows go straight in (see `kanjian_db::bulk`) with no events and no counter updates:
//! the caller writes the counters too, and they must equal the rows they count (`Video`'s
//! counters ← reactions and views, `UserStats` ← friendships (both directions) and follows,
//! `ChannelStats` ← follows). Friendships are stored in both directions with the same
//! `interactions`. `Video` is the projection of a media's published video, as the projection
//! handler would have written it, with its counters.

use kanjian_db::Db;
use kanjian_kernel::{Context, Result, Timestamp};
use kanjian_db::bulk::{self, BulkRow, RowWriter};

pub use kanjian_db::bulk::BulkWriter;

/// `social_reactions.kind` of a 👍 like.
pub const LIKE: i64 = 1;
/// `social_reactions.kind` of a ❤️ recommend.
pub const RECOMMEND: i64 = 2;

/// Every table a seed writes, for `ANALYZE`.
const TABLES: &[&str] = &[
    "social_videos",
    "social_friendships",
    "social_user_stats",
    "social_follows",
    "social_channel_stats",
    "social_reactions",
    "social_views",
];

/// A row of `social_videos`: the projection of a published video with its counters (comments
/// and shares are 0: seeds write none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Video {
    pub video_id: i64,
    pub channel_id: i64,
    pub owner_id: i64,
    pub category: &'static str,
    pub duration_ms: i64,
    pub published_at: Timestamp,
    pub likes: i64,
    pub recommends: i64,
    pub views: i64,
    pub watch_ms: i64,
    pub completions: i64,
}

impl BulkRow for Video {
    const TABLE: &'static str = "social_videos";
    const COLUMNS: &'static [&'static str] = &[
        "video_id",
        "channel_id",
        "owner_id",
        "category",
        "duration_ms",
        "published_at",
        "updated_at",
        "likes",
        "recommends",
        "comments",
        "shares",
        "views",
        "watch_ms",
        "completions",
    ];
    fn write(&self, row: &mut RowWriter<'_>) {
        row.int(self.video_id);
        row.int(self.channel_id);
        row.int(self.owner_id);
        row.text(self.category);
        row.int(self.duration_ms);
        row.time(self.published_at);
        row.time(self.published_at);
        row.int(self.likes);
        row.int(self.recommends);
        row.int(0);
        row.int(0);
        row.int(self.views);
        row.int(self.watch_ms);
        row.int(self.completions);
    }
}

/// One direction of a friendship: write both, (a, b) and (b, a), with the same `interactions`.
#[derive(Debug, Clone, Copy)]
pub struct Friendship {
    pub user_id: i64,
    pub friend_id: i64,
    pub interactions: i64,
    pub created_at: Timestamp,
}

impl BulkRow for Friendship {
    const TABLE: &'static str = "social_friendships";
    const COLUMNS: &'static [&'static str] =
        &["user_id", "friend_id", "interactions", "created_at"];
    fn write(&self, row: &mut RowWriter<'_>) {
        row.int(self.user_id);
        row.int(self.friend_id);
        row.int(self.interactions);
        row.time(self.created_at);
    }
}

/// A row of `social_user_stats`.
#[derive(Debug, Clone, Copy)]
pub struct UserStats {
    pub user_id: i64,
    pub friends: i64,
    pub following: i64,
}

impl BulkRow for UserStats {
    const TABLE: &'static str = "social_user_stats";
    const COLUMNS: &'static [&'static str] = &["user_id", "friends", "following"];
    fn write(&self, row: &mut RowWriter<'_>) {
        row.int(self.user_id);
        row.int(self.friends);
        row.int(self.following);
    }
}

/// A row of `social_follows`.
#[derive(Debug, Clone, Copy)]
pub struct Follow {
    pub user_id: i64,
    pub channel_id: i64,
    pub channel_owner_id: i64,
    pub created_at: Timestamp,
}

impl BulkRow for Follow {
    const TABLE: &'static str = "social_follows";
    const COLUMNS: &'static [&'static str] =
        &["user_id", "channel_id", "channel_owner_id", "created_at"];
    fn write(&self, row: &mut RowWriter<'_>) {
        row.int(self.user_id);
        row.int(self.channel_id);
        row.int(self.channel_owner_id);
        row.time(self.created_at);
    }
}

/// A row of `social_channel_stats`.
#[derive(Debug, Clone, Copy)]
pub struct ChannelStats {
    pub channel_id: i64,
    pub followers: i64,
}

impl BulkRow for ChannelStats {
    const TABLE: &'static str = "social_channel_stats";
    const COLUMNS: &'static [&'static str] = &["channel_id", "followers"];
    fn write(&self, row: &mut RowWriter<'_>) {
        row.int(self.channel_id);
        row.int(self.followers);
    }
}

/// A row of `social_reactions`: `kind` is [`LIKE`] or [`RECOMMEND`]; unique per (user, video, kind).
#[derive(Debug, Clone, Copy)]
pub struct Reaction {
    pub user_id: i64,
    pub video_id: i64,
    pub kind: i64,
    pub created_at: Timestamp,
}

impl BulkRow for Reaction {
    const TABLE: &'static str = "social_reactions";
    const COLUMNS: &'static [&'static str] = &["user_id", "video_id", "kind", "created_at"];
    fn write(&self, row: &mut RowWriter<'_>) {
        row.int(self.user_id);
        row.int(self.video_id);
        row.int(self.kind);
        row.time(self.created_at);
    }
}

/// A row of `social_views`: unique per (user, video, day); `day` is days since 1970-01-01 UTC;
/// `completed` when `watch_ms` ≥ 90 % of the video's duration.
#[derive(Debug, Clone, Copy)]
pub struct View {
    pub id: i64,
    pub user_id: i64,
    pub video_id: i64,
    pub day: i64,
    pub watch_ms: i64,
    pub completed: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl BulkRow for View {
    const TABLE: &'static str = "social_views";
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "user_id",
        "video_id",
        "day",
        "watch_ms",
        "completed",
        "created_at",
        "updated_at",
    ];
    fn write(&self, row: &mut RowWriter<'_>) {
        row.int(self.id);
        row.int(self.user_id);
        row.int(self.video_id);
        row.int(self.day);
        row.int(self.watch_ms);
        row.bool(self.completed);
        row.time(self.created_at);
        row.time(self.updated_at);
    }
}

/// Opens a bulk writer for one of social's tables.
pub async fn writer<R: BulkRow>(db: &Db) -> Result<BulkWriter<R>> {
    BulkWriter::begin(db.writer()).await.context("opening a bulk writer")
}

/// After loading: moves the views' id sequence past the loaded ids and refreshes planner
/// statistics of every table a seed writes.
pub async fn finish(db: &Db) -> Result<()> {
    bulk::reset_sequence(db.writer(), "social_views", "id")
        .await
        .context("resetting an id sequence")?;
    bulk::analyze(db.writer(), TABLES)
        .await
        .context("analyzing social's tables")
}
