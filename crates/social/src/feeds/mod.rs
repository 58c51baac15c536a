//! The three feeds: Friends ❤️ (what friends recommended), Following (newest from followed
//! channels) and Recommended (popular now, personalised). The crate README explains the design
//! and its measurements: fan-in on read, a ranking snapshot per first page, and a per-node pool
//! of popular candidates for Recommended.

mod pool;
mod queries;
pub(crate) mod rank;
mod snapshot;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use kanjian_contracts::social::{FeedItemDto, FeedReason};
use kanjian_kernel::ids::{UserId, VideoId};
use kanjian_kernel::{Actor, Context, Page, PageRequest, Result, Timestamp};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::Deps;
use crate::db::{cursor_time, not_blocked_with, older_than};
use crate::entity::{follow, video};

pub(crate) use pool::RecommendedPool;
pub(crate) use queries::blocked_with;
use queries::{FriendRecommendRow, candidate_facts, friends_recommends, seen};
use rank::FriendRecommend;
use snapshot::{RankedFeed, Ranked};

/// Friends shown on a card ("❤️ by Li Lei, Han Meimei and 3 other friends").
const PREVIEW_FRIENDS: usize = 3;
/// Recent watched-through videos that make up a viewer's category interests.
const INTEREST_HISTORY: u64 = 100;
/// Friends' ❤️s read for Recommended's social proof.
const SOCIAL_PROOF_REACTIONS: u64 = 2_000;

/// Friends' ❤️s grouped by video, in the order first seen (newest ❤️ first).
fn group_by_video(rows: &[FriendRecommendRow], at: Timestamp) -> Vec<(i64, Vec<FriendRecommend>)> {
    let mut order = Vec::new();
    let mut groups: HashMap<i64, Vec<FriendRecommend>> = HashMap::new();
    for row in rows {
        let group = groups.entry(row.video_id).or_insert_with(|| {
            order.push(row.video_id);
            Vec::new()
        });
        group.push(FriendRecommend {
            friend: row.user_id,
            interactions: row.interactions,
            age_hours: rank::hours_between(row.created_at, at),
        });
    }
    order
        .into_iter()
        .filter_map(|v| groups.remove(&v).map(|g| (v, g)))
        .collect()
}

/// The page of a ranked feed: a new ranking for a first page, the stored one after a cursor.
async fn ranked_page<F, Fut>(
    deps: &Deps,
    viewer: Option<UserId>,
    feed: RankedFeed,
    page: PageRequest,
    rank: F,
) -> Result<Page<FeedItemDto>>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Ranked>>>,
{
    let limit = page.limit() as usize;
    let ttl = deps.config.feed_snapshot_ttl_secs;
    match &page.after {
        None => {
            let items = rank().await?;
            if items.is_empty() {
                return Ok(Page { items: Vec::new(), has_next_page: false, has_previous_page: false });
            }
            let id = snapshot::store(&deps.db, viewer, feed, &items, ttl).await?;
            let stored = snapshot::Snapshot { id, items };
            // Just ranked from visible videos: nothing to re-check.
            Ok(snapshot::page(&stored, feed, 0, limit, |_| true))
        }
        Some(cursor) => {
            let (id, position) = snapshot::decode_cursor(cursor)?;
            let stored = snapshot::load(&deps.db, viewer, feed, id, ttl).await?;
            page_of_stored(deps, viewer, feed, &stored, position, limit).await
        }
    }
}

/// The page of a stored ranking from `position`, without what changed since it was ranked:
/// videos unpublished or deleted, creators in a new block with the viewer.
async fn page_of_stored(
    deps: &Deps,
    viewer: Option<UserId>,
    feed: RankedFeed,
    stored: &snapshot::Snapshot,
    position: usize,
    limit: usize,
) -> Result<Page<FeedItemDto>> {
    let end = (position + limit).min(stored.items.len());
    let window: Vec<i64> = stored.items.get(position..end).unwrap_or_default().iter().map(|r| r.video).collect();
    let visible = queries::published_ids(&deps.db, &window).await?;
    let blocked = match viewer {
        Some(v) => blocked_with(deps.db.reader(), v).await?,
        None => HashSet::new(),
    };
    Ok(snapshot::page(stored, feed, position, limit, |r| {
        visible.contains(&r.video) && !blocked.contains(&r.owner)
    }))
}

/// Friends ❤️: videos the viewer's friends recommended in the last `friends_feed_days`.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, after = page.after.is_some()))]
pub async fn friends_feed(deps: &Deps, actor: &Actor, page: PageRequest) -> Result<Page<FeedItemDto>> {
    let me = actor.require_user()?;
    tracing::Span::current().record("user_id", me.0);
    ranked_page(deps, Some(me), RankedFeed::Friends, page, || rank_friends(deps, me)).await
}

async fn rank_friends(deps: &Deps, me: UserId) -> Result<Vec<Ranked>> {
    let at = deps.db.now();
    let since = at - chrono::Duration::days(i64::from(deps.config.friends_feed_days));
    let rows = friends_recommends(
        &deps.db,
        me,
        since,
        deps.config.friends_feed_closest_friends,
        deps.config.friends_feed_max_reactions,
    )
    .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // Each candidate's score from its friends' ❤️s alone, computed once; then only the
    // candidates that can still make the snapshot are looked up further.
    let mut groups: Vec<(i64, Vec<FriendRecommend>, f64)> = group_by_video(&rows, at)
        .into_iter()
        .map(|(v, recs)| {
            let social = rank::friends_social(&recs);
            (v, recs, social)
        })
        .collect();
    groups.sort_by(|a, b| b.2.total_cmp(&a.2).then(b.0.cmp(&a.0)));
    let wanted = deps.config.feed_snapshot_items;
    groups.truncate(rank::friends_contenders(&groups, |g| g.2, wanted, wanted.saturating_mul(2)));
    let ids: Vec<i64> = groups.iter().map(|(v, _, _)| *v).collect();
    let (facts, blocked) =
        futures::try_join!(candidate_facts(&deps.db, Some(me), &ids), blocked_with(deps.db.reader(), me))?;

    let mut scored: Vec<(f64, Ranked)> = groups
        .into_iter()
        .filter_map(|(v, recs, social)| {
            let f = facts.get(&v)?;
            if f.seen || f.owner_id == me.0 || blocked.contains(&f.owner_id) {
                return None;
            }
            let score = rank::friends_score(social, f.views, f.completions);
            Some((
                score,
                Ranked {
                    video: v,
                    channel: f.channel_id,
                    owner: f.owner_id,
                    boosted: false,
                    friends: rank::preview_friends(&recs, PREVIEW_FRIENDS),
                    friend_total: recs.len() as i64,
                },
            ))
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.video.cmp(&a.1.video)));
    scored.truncate(deps.config.feed_snapshot_items);
    Ok(scored.into_iter().map(|(_, r)| r).collect())
}

/// Following: the newest published videos of the channels the viewer follows, newest first.
/// Paged by `(published_at, video_id)`: new videos arrive above the first page, never between
/// pages. Live streams will put "live now" items of followed channels above the first page.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub async fn following_feed(deps: &Deps, actor: &Actor, page: PageRequest) -> Result<Page<FeedItemDto>> {
    let me = actor.require_user()?;
    tracing::Span::current().record("user_id", me.0);
    let limit = page.limit();
    let followed = sea_orm::sea_query::Query::select()
        .column(follow::Column::ChannelId)
        .from(follow::Entity)
        .and_where(follow::Column::UserId.eq(me.0))
        .to_owned();
    let mut query = video::Entity::find()
        .filter(video::Column::ChannelId.in_subquery(followed))
        .filter(video::Column::PublishedAt.is_not_null())
        .filter(not_blocked_with(Some(me), video::Column::OwnerId));
    let after = page.after_key::<(i64, i64)>()?;
    if let Some((millis, id)) = after {
        query = query.filter(older_than(video::Column::PublishedAt, video::Column::VideoId, cursor_time(millis)?, id));
    }
    let rows: Vec<video::Model> = query
        .order_by_desc(video::Column::PublishedAt)
        .order_by_desc(video::Column::VideoId)
        .limit(u64::from(limit) + 1)
        .all(deps.db.reader())
        .await
        .context("reading the Following feed")?;
    let page = Page::from_rows(rows, limit, after.is_some(), |v| {
        (v.published_at.map_or(0, |t| t.timestamp_millis()), v.video_id)
    });
    Ok(page.map(|v| FeedItemDto {
        video: VideoId(v.video_id),
        reason: FeedReason::Following,
        friend_recommenders: Vec::new(),
        friend_recommender_total: 0,
    }))
}

/// Recommended: for everyone. The node's pool of popular videos (popularity with time decay),
/// personalised for a signed-in viewer by category interests and friends' ❤️s, without what
/// they have seen or anyone in a block with them; then no channel twice in a row, and boosted
/// videos mixed in at most once every `boost_every` items.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, after = page.after.is_some()))]
pub async fn recommended_feed(
    deps: &Arc<Deps>,
    actor: &Actor,
    page: PageRequest,
) -> Result<Page<FeedItemDto>> {
    let viewer = actor.user_id();
    if let Some(me) = viewer {
        tracing::Span::current().record("user_id", me.0);
    }
    if viewer.is_none() && page.after.is_none() {
        return anonymous_first_page(deps, page).await;
    }
    ranked_page(deps, viewer, RankedFeed::Recommended, page, || async {
        let pool = deps.pool.candidates(deps).await?;
        rank_recommended(deps, &pool, viewer).await
    })
    .await
}

/// Recommended's first page for anonymous viewers. They all get the same ranking, so it is
/// ranked and stored once per candidate pool (when the node refreshes its pool) and shared:
/// however many anonymous viewers page through it, they write nothing. Later pages read the
/// stored ranking by its cursor, on any node.
async fn anonymous_first_page(deps: &Arc<Deps>, page: PageRequest) -> Result<Page<FeedItemDto>> {
    let pool = deps.pool.candidates(deps).await?;
    let mut shared = deps.pool.anonymous.lock().await;
    // Ranked again for a new pool, and before its cursors could outlive the stored ranking.
    let fresh_for = std::time::Duration::from_secs(deps.config.feed_snapshot_ttl_secs / 2);
    let stored = match &*shared {
        Some(shared) if Arc::ptr_eq(&shared.ranked_from, &pool) && shared.at.elapsed() < fresh_for => {
            shared.stored.clone()
        }
        _ => {
            let items = rank_recommended(deps, &pool, None).await?;
            let id = if items.is_empty() {
                0
            } else {
                snapshot::store(&deps.db, None, RankedFeed::Recommended, &items, deps.config.feed_snapshot_ttl_secs).await?
            };
            let stored = Arc::new(snapshot::Snapshot { id, items });
            *shared = Some(pool::SharedRanking { ranked_from: pool, at: std::time::Instant::now(), stored: stored.clone() });
            stored
        }
    };
    drop(shared);
    page_of_stored(deps, None, RankedFeed::Recommended, &stored, 0, page.limit() as usize).await
}

async fn rank_recommended(deps: &Arc<Deps>, pool: &[pool::Candidate], viewer: Option<UserId>) -> Result<Vec<Ranked>> {
    let at = deps.db.now();
    let ids: Vec<i64> = pool.iter().map(|c| c.video).collect();

    // Personal signals; an anonymous viewer gets the pool as it is.
    let (seen, blocked, interests, proof) = match viewer {
        None => Default::default(),
        Some(me) => {
            let since = at - chrono::Duration::days(i64::from(deps.config.friends_feed_days));
            let proof_rows = friends_recommends(
                &deps.db,
                me,
                since,
                deps.config.friends_feed_closest_friends,
                SOCIAL_PROOF_REACTIONS,
            )
            .await?;
            let proof: HashMap<i64, Vec<FriendRecommend>> = group_by_video(&proof_rows, at).into_iter().collect();
            let watched = queries::watched_through_categories(&deps.db, me, INTEREST_HISTORY).await?;
            (
                seen(&deps.db, me, &ids).await?,
                blocked_with(deps.db.reader(), me).await?,
                rank::category_interests(&watched),
                proof,
            )
        }
    };
    let visible = |owner: i64, video: i64| {
        Some(owner) != viewer.map(|v| v.0) && !blocked.contains(&owner) && !seen.contains(&video)
    };

    let mut scored: Vec<(f64, Ranked)> = pool
        .iter()
        .filter(|c| visible(c.owner, c.video))
        .map(|c| {
            let friends = proof.get(&c.video).map_or(&[][..], Vec::as_slice);
            let score = c.popularity
                * rank::interest_boost(&interests, c.category.as_deref())
                * rank::social_proof_boost(friends.len());
            (
                score,
                Ranked {
                    video: c.video,
                    channel: c.channel,
                    owner: c.owner,
                    boosted: false,
                    friends: rank::preview_friends(friends, PREVIEW_FRIENDS),
                    friend_total: friends.len() as i64,
                },
            )
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.video.cmp(&a.1.video)));

    let boosted = boosted_candidates(deps, viewer, &blocked).await?;
    let boosted_ids: HashSet<i64> = boosted.iter().map(|b| b.video).collect();
    let organic: Vec<Ranked> = scored
        .into_iter()
        .map(|(_, r)| r)
        .filter(|r| !boosted_ids.contains(&r.video))
        .collect();
    let organic = rank::diversify(organic, |r| r.channel);
    let mut items = rank::mix_boosted(organic, boosted, deps.config.boost_every, |r| r.channel);
    items.truncate(deps.config.feed_snapshot_items);
    Ok(items)
}

/// Boosted videos from the hook, filtered like every other item.
async fn boosted_candidates(
    deps: &Deps,
    viewer: Option<UserId>,
    blocked: &HashSet<i64>,
) -> Result<Vec<Ranked>> {
    let Some(source) = deps.boosted.get() else {
        return Ok(Vec::new());
    };
    if deps.config.boost_every < 2 {
        return Ok(Vec::new());
    }
    let want = deps.config.feed_snapshot_items / deps.config.boost_every + 1;
    let offered: Vec<i64> = source.boosted_for(viewer, want).await?.into_iter().map(|v| v.0).collect();
    let facts = candidate_facts(&deps.db, viewer, &offered).await?;
    let me = viewer.map(|v| v.0);
    Ok(crate::db::distinct(&offered)
        .into_iter()
        .filter_map(|id| facts.get(&id))
        .filter(|f| !f.seen && Some(f.owner_id) != me && !blocked.contains(&f.owner_id))
        .map(|f| Ranked {
            video: f.video_id,
            channel: f.channel_id,
            owner: f.owner_id,
            boosted: true,
            friends: Vec::new(),
            friend_total: 0,
        })
        .collect())
}
