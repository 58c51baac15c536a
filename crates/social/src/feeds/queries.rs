//! The reads the feeds share. Each is one statement (or one per chunk or part of the ids asked,
//! bounded by the snapshot's size), whatever the number of items on a page, so a feed page
//! costs a fixed number of queries.

use kanjian_db::Db;
use std::collections::{HashMap, HashSet};

use kanjian_kernel::ids::UserId;
use kanjian_kernel::{Context, Result, Timestamp};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, QuerySelect,
};

use crate::db::{distinct, id_in};
use crate::domain::stored::reaction_kind;
use crate::entity::{block, friendship, reaction, settings, video, view};
use kanjian_contracts::social::ReactionKind;

/// Ids per `IN (…)` list: well under SQLite's and PostgreSQL's parameter limits.
const CHUNK: usize = 1_000;

/// One ❤️ by one of the viewer's friends.
#[derive(Debug, Clone, FromQueryResult)]
pub struct FriendRecommendRow {
    pub video_id: i64,
    pub user_id: i64,
    pub created_at: Timestamp,
    pub interactions: i64,
}

/// The fan-in: the newest ❤️s (at most `max`) of the viewer's `closest` closest friends since
/// `since`, with each friend's closeness. The friends come from one index range of
/// `(user_id, interactions, friend_id)`, closest first; then for each friend an index-only range
/// of `(user_id, kind, created_at, video_id)`. Bounding the friends read keeps a ranking's cost
/// flat for people with thousands of friends (it grows with each friend read), and the ❤️s of
/// the least close are the ones that would rank last anyway. Friends who hide their ❤️s are left
/// out here, in the module, so no caller can forget it.
pub async fn friends_recommends(
    db: &Db,
    viewer: UserId,
    since: Timestamp,
    closest: u64,
    max: u64,
) -> Result<Vec<FriendRecommendRow>> {
    let f = Alias::new("f");
    let r = reaction::Entity;
    let hiding = Query::select()
        .column(settings::Column::UserId)
        .from(settings::Entity)
        .and_where(settings::Column::HideRecommends.eq(true))
        .to_owned();
    let closest_friends = Query::select()
        .column(friendship::Column::FriendId)
        .column(friendship::Column::Interactions)
        .from(friendship::Entity)
        .and_where(friendship::Column::UserId.eq(viewer.0))
        .and_where(friendship::Column::FriendId.not_in_subquery(hiding))
        .order_by(friendship::Column::Interactions, Order::Desc)
        .order_by(friendship::Column::FriendId, Order::Desc)
        .limit(closest)
        .to_owned();
    let query = Query::select()
        .column((r, reaction::Column::VideoId))
        .column((r, reaction::Column::UserId))
        .column((r, reaction::Column::CreatedAt))
        .column((f.clone(), friendship::Column::Interactions))
        .from_subquery(closest_friends, f.clone())
        .inner_join(
            r,
            Expr::col((r, reaction::Column::UserId))
                .equals((f, friendship::Column::FriendId)),
        )
        .and_where(
            Expr::col((r, reaction::Column::Kind))
                .eq(reaction_kind(ReactionKind::Recommend)),
        )
        .and_where(Expr::col((r, reaction::Column::CreatedAt)).gte(since))
        .order_by((r, reaction::Column::CreatedAt), Order::Desc)
        .order_by((r, reaction::Column::UserId), Order::Desc)
        .limit(max)
        .to_owned();
    let statement = db.backend().build(&query);
    FriendRecommendRow::find_by_statement(statement)
        .all(db.reader())
        .await
        .context("reading friends' recent recommends")
}

/// What the rankings need to know about a published candidate video.
#[derive(Debug, Clone, FromQueryResult)]
pub struct CandidateFacts {
    pub video_id: i64,
    pub channel_id: i64,
    pub owner_id: i64,
    pub views: i64,
    pub completions: i64,
    /// Whether the viewer has viewed it (any day); always false for anonymous viewers.
    pub seen: bool,
}

/// The published videos among `ids` with their counters and whether the viewer has seen each
/// (a probe of the projection's primary key, whose row carries the counters, and one of the
/// views' unique index `(user_id, video_id, …)` per candidate). A ranking asks for hundreds, so the ids are
/// split evenly into parts of at most [`PARALLEL_PART`], one statement each, run at once on
/// separate connections: the lookups are independent, and on PostgreSQL each part gets a core.
pub async fn candidate_facts(
    db: &Db,
    viewer: Option<UserId>,
    ids: &[i64],
) -> Result<HashMap<i64, CandidateFacts>> {
    let ids = distinct(ids);
    let parts = even_parts(&ids, PARALLEL_PART);
    let rows = futures::future::try_join_all(parts.into_iter().map(|part| candidate_facts_part(db, viewer, part))).await?;
    Ok(rows.into_iter().flatten().map(|r| (r.video_id, r)).collect())
}

/// Ids per statement when a lookup is split to run in parallel.
const PARALLEL_PART: usize = 300;

/// `ids` cut into the fewest parts of at most `max` ids, of nearly equal sizes (601 ids:
/// three parts of about 200, not 300 + 300 + 1), so parallel parts finish together.
fn even_parts(ids: &[i64], max: usize) -> Vec<&[i64]> {
    if ids.is_empty() {
        return Vec::new();
    }
    let count = ids.len().div_ceil(max.max(1));
    let size = ids.len().div_ceil(count);
    ids.chunks(size).collect()
}

async fn candidate_facts_part(
    db: &Db,
    viewer: Option<UserId>,
    ids: &[i64],
) -> Result<Vec<CandidateFacts>> {
    let backend = db.backend();
    let seen = match viewer {
        Some(me) => Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(view::Entity)
                .and_where(Expr::col((view::Entity, view::Column::UserId)).eq(me.0))
                .and_where(
                    Expr::col((view::Entity, view::Column::VideoId))
                        .equals((video::Entity, video::Column::VideoId)),
                )
                .to_owned(),
        ),
        None => Expr::val(false),
    };
    let query = Query::select()
        .columns([
            (video::Entity, video::Column::VideoId),
            (video::Entity, video::Column::ChannelId),
            (video::Entity, video::Column::OwnerId),
            (video::Entity, video::Column::Views),
            (video::Entity, video::Column::Completions),
        ])
        .expr_as(seen, "seen")
        .from(video::Entity)
        .and_where(id_in(backend, (video::Entity, video::Column::VideoId), ids))
        .and_where(Expr::col((video::Entity, video::Column::PublishedAt)).is_not_null())
        .to_owned();
    CandidateFacts::find_by_statement(backend.build(&query))
        .all(db.reader())
        .await
        .context("loading feed candidates")
}

/// Which of `ids` are published now (one statement: a page's worth of ids).
pub async fn published_ids(db: &Db, ids: &[i64]) -> Result<HashSet<i64>> {
    let mut out = HashSet::with_capacity(ids.len());
    for chunk in distinct(ids).chunks(CHUNK) {
        let rows: Vec<i64> = video::Entity::find()
            .select_only()
            .column(video::Column::VideoId)
            .filter(video::Column::VideoId.is_in(chunk.to_vec()))
            .filter(video::Column::PublishedAt.is_not_null())
            .into_tuple()
            .all(db.reader())
            .await
            .context("checking feed videos are still published")?;
        out.extend(rows);
    }
    Ok(out)
}

/// Which of `ids` the viewer has viewed (any day): one probe of the views' unique index prefix
/// `(user_id, video_id)` per id, in one statement per chunk.
pub async fn seen(db: &Db, viewer: UserId, ids: &[i64]) -> Result<HashSet<i64>> {
    let mut out = HashSet::new();
    for chunk in distinct(ids).chunks(CHUNK) {
        let rows: Vec<i64> = view::Entity::find()
            .select_only()
            .column(view::Column::VideoId)
            .distinct()
            .filter(view::Column::UserId.eq(viewer.0))
            .filter(view::Column::VideoId.is_in(chunk.to_vec()))
            .into_tuple()
            .all(db.reader())
            .await
            .context("finding videos the viewer has seen")?;
        out.extend(rows);
    }
    Ok(out)
}

/// Everyone in a block with the viewer, either way.
pub async fn blocked_with<C: ConnectionTrait>(conn: &C, viewer: UserId) -> Result<HashSet<i64>> {
    let rows: Vec<(i64, i64)> = block::Entity::find()
        .select_only()
        .column(block::Column::BlockerId)
        .column(block::Column::BlockedId)
        .filter(
            Condition::any()
                .add(block::Column::BlockerId.eq(viewer.0))
                .add(block::Column::BlockedId.eq(viewer.0)),
        )
        .into_tuple()
        .all(conn)
        .await
        .context("loading the viewer's blocks")?;
    Ok(rows
        .into_iter()
        .map(|(blocker, blocked)| if blocker == viewer.0 { blocked } else { blocker })
        .collect())
}

/// Categories of the viewer's most recent watched-through videos (newest first, at most `n`).
pub async fn watched_through_categories(
    db: &Db,
    viewer: UserId,
    n: u64,
) -> Result<Vec<Option<String>>> {
    let recent: Vec<i64> = view::Entity::find()
        .select_only()
        .column(view::Column::VideoId)
        .filter(view::Column::UserId.eq(viewer.0))
        .filter(view::Column::Completed.eq(true))
        .order_by_desc(view::Column::UpdatedAt)
        .limit(n)
        .into_tuple()
        .all(db.reader())
        .await
        .context("reading the viewer's watch history")?;
    if recent.is_empty() {
        return Ok(Vec::new());
    }
    let categories: HashMap<i64, Option<String>> = video::Entity::find()
        .select_only()
        .column(video::Column::VideoId)
        .column(video::Column::Category)
        .filter(video::Column::VideoId.is_in(distinct(&recent)))
        .into_tuple::<(i64, Option<String>)>()
        .all(db.reader())
        .await
        .context("reading categories of watched videos")?
        .into_iter()
        .collect();
    Ok(recent
        .iter()
        .filter_map(|id| categories.get(id).cloned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::even_parts;

    #[test]
    fn even_parts_are_the_fewest_and_nearly_equal() {
        let ids: Vec<i64> = (0..601).collect();
        let sizes = |n: usize, max: usize| even_parts(&ids[..n], max).iter().map(|p| p.len()).collect::<Vec<_>>();
        assert_eq!(sizes(0, 300), Vec::<usize>::new());
        assert_eq!(sizes(20, 300), vec![20]);
        assert_eq!(sizes(300, 300), vec![300]);
        assert_eq!(sizes(301, 300), vec![151, 150]);
        assert_eq!(sizes(600, 300), vec![300, 300]);
        assert_eq!(sizes(601, 300), vec![201, 201, 199]);
    }
}
