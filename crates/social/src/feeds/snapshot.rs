//! Ranking snapshots: the first page of a ranked feed stores its order; later pages read it.
//!
//! A cursor is `(snapshot id, position)`. Reading by position in a stored order is what keeps
//! paging exact while the world moves: a ❤️ that arrives between pages changes the next
//! ranking, not this one, so no item repeats and none is skipped. Items that became invisible
//! since (unpublished, deleted, their creator blocked) are dropped from the page they fall on,
//! without moving the others.

use kanjian_db::Db;
use kanjian_contracts::social::{FeedItemDto, FeedReason};
use kanjian_kernel::ids::{UserId, VideoId};
use kanjian_kernel::{Context, Cursor, Error, Page, Result, Timestamp, UserErrorCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};

use crate::db::{invalid_cursor, is_unique_violation};
use crate::entity::feed_snapshot;

/// Expired snapshots are pruned after about one new snapshot in this many (ids end in random
/// bits), so pruning costs one statement per this many first pages, none of them waiting on it.
const PRUNE_EVERY: i64 = 64;

/// Random low bits of a snapshot id; the rest is the time in milliseconds (good until 2248).
const ID_RANDOM_BITS: u32 = 20;

/// Times a first page draws a new id when the one it drew is taken (two snapshots in the same
/// millisecond with the same random bits: about one in a million pairs).
const ID_ATTEMPTS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RankedFeed {
    Friends,
    Recommended,
}

impl RankedFeed {
    fn stored(self) -> i16 {
        match self {
            Self::Friends => 1,
            Self::Recommended => 2,
        }
    }
}

/// One ranked item as stored (short keys: a snapshot holds hundreds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    #[serde(rename = "v")]
    pub video: i64,
    #[serde(rename = "c")]
    pub channel: i64,
    #[serde(rename = "o")]
    pub owner: i64,
    #[serde(rename = "b", default, skip_serializing_if = "std::ops::Not::not")]
    pub boosted: bool,
    /// Up to 3 friends who ❤️'d it, closest first.
    #[serde(rename = "f", default, skip_serializing_if = "Vec::is_empty")]
    pub friends: Vec<i64>,
    /// How many friends ❤️'d it.
    #[serde(rename = "n", default)]
    pub friend_total: i64,
}

impl Ranked {
    pub fn dto(&self, feed: RankedFeed) -> FeedItemDto {
        let reason = match (feed, self.boosted) {
            (_, true) => FeedReason::Boosted,
            (RankedFeed::Friends, false) => FeedReason::FriendsRecommended,
            (RankedFeed::Recommended, false) => FeedReason::Popular,
        };
        FeedItemDto {
            video: VideoId(self.video),
            reason,
            friend_recommenders: self.friends.iter().copied().map(UserId).collect(),
            friend_recommender_total: self.friend_total,
        }
    }
}

/// A stored ranking, as a later page reads it.
pub struct Snapshot {
    pub id: i64,
    pub items: Vec<Ranked>,
}

fn cursor(snapshot: i64, position: usize) -> Cursor {
    Cursor::encode(&(snapshot, position))
}

pub fn decode_cursor(cursor: &Cursor) -> Result<(i64, usize)> {
    cursor.decode::<(i64, usize)>()
}

/// A new snapshot id for a snapshot made `at`: time-ordered, so ids never come back, even after
/// the table is emptied by a crash (it is a cache, `UNLOGGED` on PostgreSQL), and random in its
/// low bits, so nodes need no shared counter.
fn new_id(at: Timestamp) -> i64 {
    let millis = at.timestamp_millis().max(0);
    let random = i64::from(rand::random::<u32>() >> (32 - ID_RANDOM_BITS));
    (millis << ID_RANDOM_BITS) | random
}

/// Stores a new ranking in one statement and returns its id. Now and then it also starts
/// pruning expired snapshots, in the background: the page does not wait for housekeeping.
pub async fn store(
    db: &Db,
    viewer: Option<UserId>,
    feed: RankedFeed,
    items: &[Ranked],
    ttl_secs: u64,
) -> Result<i64> {
    let json = serde_json::to_string(items).context("encoding a feed snapshot")?;
    let mut attempt = 1;
    let id = loop {
        let at = db.now();
        let id = new_id(at);
        let row = feed_snapshot::ActiveModel {
            id: Set(id),
            viewer_id: Set(viewer.map(|v| v.0)),
            feed: Set(feed.stored()),
            items: Set(json.clone()),
            created_at: Set(at),
        };
        match feed_snapshot::Entity::insert(row).exec_without_returning(db.writer()).await {
            Ok(_) => break id,
            Err(e) if is_unique_violation(&e) && attempt < ID_ATTEMPTS => attempt += 1,
            Err(e) => return Err(e).context("storing a feed snapshot"),
        }
    };
    if id % PRUNE_EVERY == 0 {
        tokio::spawn(prune(db.clone(), ttl_secs));
    }
    Ok(id)
}

/// Deletes the snapshots older than the time to live.
async fn prune(db: Db, ttl_secs: u64) {
    let cutoff = db.now() - chrono::Duration::seconds(i64::try_from(ttl_secs).unwrap_or(i64::MAX / 2));
    match feed_snapshot::Entity::delete_many()
        .filter(feed_snapshot::Column::CreatedAt.lt(cutoff))
        .exec(db.writer())
        .await
    {
        Ok(pruned) => tracing::debug!(pruned = pruned.rows_affected, "pruned expired feed snapshots"),
        // Nothing is lost: the next prune deletes them.
        Err(e) => tracing::warn!(error = %e, "pruning expired feed snapshots failed"),
    }
}

/// The snapshot a cursor points into, if it is this viewer's, of this feed, and not expired.
/// Someone else's snapshot is an invalid cursor (it must not reveal their friends' ❤️s); an
/// expired or pruned one is `CURSOR_EXPIRED`: the client starts over from the first page.
pub async fn load(
    db: &Db,
    viewer: Option<UserId>,
    feed: RankedFeed,
    id: i64,
    ttl_secs: u64,
) -> Result<Snapshot> {
    let row = feed_snapshot::Entity::find_by_id(id)
        .one(db.reader())
        .await
        .context("loading a feed snapshot")?;
    let expired = || {
        Error::user(
            "after",
            UserErrorCode::CursorExpired,
            "This feed has changed since; load its first page again.",
        )
    };
    let Some(row) = row else {
        return Err(expired());
    };
    if row.viewer_id != viewer.map(|v| v.0) || row.feed != feed.stored() {
        return Err(invalid_cursor());
    }
    let age = db.now() - row.created_at;
    if age.num_seconds() >= i64::try_from(ttl_secs).unwrap_or(i64::MAX) {
        return Err(expired());
    }
    let items = serde_json::from_str(&row.items).context("decoding a feed snapshot")?;
    Ok(Snapshot { id: row.id, items })
}

/// The page of `limit` items from `start`: cursors are positions in the snapshot, so they stay
/// right even when `keep` drops an item that became invisible.
pub fn page(
    snapshot: &Snapshot,
    feed: RankedFeed,
    start: usize,
    limit: usize,
    keep: impl Fn(&Ranked) -> bool,
) -> Page<FeedItemDto> {
    let end = (start + limit).min(snapshot.items.len());
    let items = snapshot
        .items
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter(|(_, item)| keep(item))
        .map(|(i, item)| (cursor(snapshot.id, start + i + 1), item.dto(feed)))
        .collect();
    Page {
        items,
        has_next_page: end < snapshot.items.len(),
        has_previous_page: start > 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranked(video: i64) -> Ranked {
        Ranked { video, channel: video, owner: video, boosted: false, friends: vec![], friend_total: 0 }
    }

    #[test]
    fn pages_walk_the_snapshot_by_position() {
        let snapshot = Snapshot { id: 9, items: (1..=5).map(ranked).collect() };
        let first = page(&snapshot, RankedFeed::Friends, 0, 2, |_| true);
        assert!(first.has_next_page && !first.has_previous_page);
        let (c, _) = &first.items[1];
        assert_eq!(decode_cursor(c).unwrap(), (9, 2));
        // An item that became invisible is dropped; the cursors of the others stay put.
        let second = page(&snapshot, RankedFeed::Friends, 2, 2, |r| r.video != 3);
        assert_eq!(second.items.len(), 1);
        assert_eq!(second.items[0].1.video, VideoId(4));
        assert_eq!(decode_cursor(&second.items[0].0).unwrap(), (9, 4));
        let last = page(&snapshot, RankedFeed::Friends, 4, 2, |_| true);
        assert!(!last.has_next_page && last.items.len() == 1);
        assert!(page(&snapshot, RankedFeed::Friends, 7, 2, |_| true).items.is_empty());
    }

    #[test]
    fn ids_are_positive_and_follow_the_clock() {
        let at = kanjian_kernel::Clock::system().now();
        let first = new_id(at);
        let second = new_id(at + chrono::Duration::milliseconds(1));
        assert!(first > 0 && second > first, "{first} then {second}");
        assert_eq!(first >> ID_RANDOM_BITS, at.timestamp_millis());
    }

    #[test]
    fn stored_items_are_compact_and_round_trip() {
        let item = Ranked { video: 1, channel: 2, owner: 3, boosted: false, friends: vec![4], friend_total: 2 };
        let json = serde_json::to_string(&item).unwrap();
        assert_eq!(json, r#"{"v":1,"c":2,"o":3,"f":[4],"n":2}"#);
        assert_eq!(serde_json::from_str::<Ranked>(&json).unwrap(), item);
        assert_eq!(item.dto(RankedFeed::Friends).reason, FeedReason::FriendsRecommended);
        let boosted = Ranked { boosted: true, ..item };
        assert_eq!(boosted.dto(RankedFeed::Recommended).reason, FeedReason::Boosted);
    }
}
