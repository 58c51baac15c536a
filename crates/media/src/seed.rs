//! Bulk writers for media's tables, used by `kanjian seed` to build a synthetic world.
//!
//! Seeded videos are `READY` and published, with two renditions (360p, 720p) on record, but no
//! files exist in blob storage: their playlists, segments and thumbnails are not playable. Rows
//! go straight in (see `kanjian_db::bulk`) with the ids the caller chose, and no events:
//! the caller seeds the other modules' projections itself.

use kanjian_db::Db;
use kanjian_kernel::{Context, Result, Timestamp};
use kanjian_db::bulk::{self, BulkRow, RowWriter};

pub use kanjian_db::bulk::BulkWriter;

/// A published, `READY` row of `media_videos`: 1280×720, no description, no hashtags.
#[derive(Debug, Clone)]
pub struct Video {
    pub id: i64,
    pub channel_id: i64,
    pub owner_id: i64,
    pub title: String,
    /// One of `domain::CATEGORIES`.
    pub category: &'static str,
    pub duration_ms: i64,
    pub created_at: Timestamp,
    pub published_at: Timestamp,
}

impl BulkRow for Video {
    const TABLE: &'static str = "media_videos";
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "channel_id",
        "owner_id",
        "title",
        "description",
        "hashtags",
        "category",
        "is_original",
        "status",
        "progress_percent",
        "failure_reason",
        "duration_ms",
        "width",
        "height",
        "published_at",
        "created_at",
        "updated_at",
    ];
    fn write(&self, row: &mut RowWriter<'_>) {
        row.int(self.id);
        row.int(self.channel_id);
        row.int(self.owner_id);
        row.text(&self.title);
        row.text("");
        row.text("[]");
        row.text(self.category);
        row.bool(false);
        row.text("READY");
        row.int(100);
        row.null();
        row.int(self.duration_ms);
        row.int(1280);
        row.int(720);
        row.time(self.published_at);
        row.time(self.created_at);
        row.time(self.published_at);
    }
}

/// A row of `media_renditions`.
#[derive(Debug, Clone)]
pub struct Rendition {
    pub id: i64,
    pub video_id: i64,
    pub name: &'static str,
    pub width: i64,
    pub height: i64,
    pub bandwidth: i64,
}

impl Rendition {
    /// The two renditions of a seeded 1280×720 video, ids `2·video − 1` and `2·video`.
    pub fn for_video(video_id: i64) -> [Rendition; 2] {
        [
            Rendition {
                id: 2 * video_id - 1,
                video_id,
                name: "360p",
                width: 640,
                height: 360,
                bandwidth: 900_000,
            },
            Rendition {
                id: 2 * video_id,
                video_id,
                name: "720p",
                width: 1280,
                height: 720,
                bandwidth: 2_900_000,
            },
        ]
    }
}

impl BulkRow for Rendition {
    const TABLE: &'static str = "media_renditions";
    const COLUMNS: &'static [&'static str] =
        &["id", "video_id", "name", "width", "height", "bandwidth"];
    fn write(&self, row: &mut RowWriter<'_>) {
        row.int(self.id);
        row.int(self.video_id);
        row.text(self.name);
        row.int(self.width);
        row.int(self.height);
        row.int(self.bandwidth);
    }
}

/// Opens a bulk writer for one of media's tables.
pub async fn writer<R: BulkRow>(db: &Db) -> Result<BulkWriter<R>> {
    BulkWriter::begin(db.writer()).await.context("opening a bulk writer")
}

/// After loading: moves the id sequences past the loaded ids and refreshes planner statistics.
pub async fn finish(db: &Db) -> Result<()> {
    for table in ["media_videos", "media_renditions"] {
        bulk::reset_sequence(db.writer(), table, "id")
            .await
            .context("resetting an id sequence")?;
    }
    bulk::analyze(db.writer(), &["media_videos", "media_renditions"])
        .await
        .context("analyzing media's tables")
}
