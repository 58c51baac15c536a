//! Helpers shared by the use cases: time, cursors, blocks, counters, and checks against other
//! modules' APIs (always made before a transaction begins: on SQLite the pool has one
//! connection, which an open transaction holds).

use std::collections::{HashMap, HashSet};

use kanjian_contracts::media::{VideoDto, VideoStatus};
use kanjian_kernel::ids::{UserId, VideoId};
use kanjian_kernel::{Actor, Context, Error, Result, Timestamp, UserErrorCode};
use sea_orm::sea_query::extension::postgres::PgFunc;
use sea_orm::sea_query::{Expr, ExprTrait, IntoColumnRef, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, Set, SqlErr,
};

use crate::Deps;
use crate::entity::{block, channel_stats, friendship, user_stats, video};

pub(crate) fn invalid_cursor() -> Error {
    Error::user("after", UserErrorCode::Invalid, "the cursor is not valid")
}

pub(crate) use kanjian_db::keyset::older_than;

/// The time a cursor points at.
pub(crate) fn cursor_time(millis: i64) -> Result<Timestamp> {
    chrono::DateTime::from_timestamp_millis(millis).ok_or_else(invalid_cursor)
}

/// Whether `err` is a violated unique index (a race the pre-checks missed).
pub(crate) fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

pub(crate) fn blocked() -> Error {
    Error::user(
        "",
        UserErrorCode::Blocked,
        "You cannot interact with this person.",
    )
}

/// Whether either of the two blocked the other.
pub(crate) async fn is_blocked<C: ConnectionTrait>(conn: &C, a: UserId, b: UserId) -> Result<bool> {
    if a == b {
        return Ok(false);
    }
    let n = block::Entity::find()
        .filter(
            Condition::any()
                .add(
                    Condition::all()
                        .add(block::Column::BlockerId.eq(a.0))
                        .add(block::Column::BlockedId.eq(b.0)),
                )
                .add(
                    Condition::all()
                        .add(block::Column::BlockerId.eq(b.0))
                        .add(block::Column::BlockedId.eq(a.0)),
                ),
        )
        .count(conn)
        .await
        .context("looking for a block between two people")?;
    Ok(n > 0)
}

/// `Blocked` when either of the two blocked the other.
pub(crate) async fn ensure_not_blocked<C: ConnectionTrait>(
    conn: &C,
    a: UserId,
    b: UserId,
) -> Result<()> {
    if is_blocked(conn, a, b).await? {
        tracing::info!(other = b.0, "interaction refused: a block exists");
        return Err(blocked());
    }
    Ok(())
}

fn blocked_by(viewer: UserId) -> SelectStatement {
    Query::select()
        .column(block::Column::BlockerId)
        .from(block::Entity)
        .and_where(block::Column::BlockedId.eq(viewer.0))
        .to_owned()
}

fn blocked_of(viewer: UserId) -> SelectStatement {
    Query::select()
        .column(block::Column::BlockedId)
        .from(block::Entity)
        .and_where(block::Column::BlockerId.eq(viewer.0))
        .to_owned()
}

/// Rows whose person (`col`) is in a block with `viewer`, either way, are left out. Anonymous
/// viewers block no one.
pub(crate) fn not_blocked_with(viewer: Option<UserId>, col: impl ColumnTrait) -> Condition {
    match viewer {
        None => Condition::all(),
        Some(viewer) => Condition::all()
            .add(col.not_in_subquery(blocked_of(viewer)))
            .add(col.not_in_subquery(blocked_by(viewer))),
    }
}

/// The video if anonymous users may see it (published and ready); `NotFound("video")` for
/// unknown, deleted, unpublished and unprocessed videos alike.
pub(crate) async fn visible_video(deps: &Deps, id: VideoId) -> Result<VideoDto> {
    deps.media
        .videos_by_ids(&Actor::Anonymous, &[id])
        .await?
        .into_iter()
        .find(|v| v.id == id && v.published_at.is_some() && v.status == VideoStatus::Ready)
        .ok_or_else(|| Error::not_found("video"))
}

/// The video if `actor` may see it: published and ready, or their own. `NotFound("video")` for
/// anything else, the same answer as for a video that does not exist. Reads only (it asks
/// `media`): call it before opening a transaction.
pub(crate) async fn video_visible_to(deps: &Deps, actor: &Actor, id: VideoId) -> Result<VideoDto> {
    deps.media
        .videos_by_ids(actor, &[id])
        .await?
        .into_iter()
        .find(|v| v.id == id && may_see_video(actor, v))
        .ok_or_else(|| Error::not_found("video"))
}

fn may_see_video(actor: &Actor, v: &VideoDto) -> bool {
    actor.user_id() == Some(v.owner_id) || (v.published_at.is_some() && v.status == VideoStatus::Ready)
}

/// Of `ids`, the videos `actor` may see (the rule of `video_visible_to`), in the order asked;
/// one call to `media`.
pub(crate) async fn videos_visible_to(deps: &Deps, actor: &Actor, ids: &[VideoId]) -> Result<Vec<VideoId>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let seen: HashSet<VideoId> =
        deps.media.videos_by_ids(actor, ids).await?.into_iter().filter(|v| may_see_video(actor, v)).map(|v| v.id).collect();
    Ok(ids.iter().copied().filter(|id| seen.contains(id)).collect())
}

/// Adds each delta to its counter of the video's row in `social_videos`, making the row first
/// (counters only, `updated_at` at the Unix epoch so media's event still applies) when
/// something is counted before the event has reached the projection. Adding a delta takes the
/// row's lock until the transaction ends, which also serialises pinning.
pub(crate) async fn bump_video<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    deltas: &[(video::Column, i64)],
) -> Result<()> {
    video::Entity::insert(video::ActiveModel {
        video_id: Set(id),
        updated_at: Set(Timestamp::UNIX_EPOCH),
        ..Default::default()
    })
    .on_conflict_do_nothing()
    .exec_without_returning(conn)
    .await
    .context("creating a video's counters")?;
    let mut update = video::Entity::update_many().filter(video::Column::VideoId.eq(id));
    for (col, delta) in deltas {
        update = update.col_expr(*col, Expr::col(*col).add(*delta));
    }
    if deltas.is_empty() {
        // Only the lock is wanted: a no-op update takes it.
        update = update.col_expr(video::Column::Likes, Expr::col(video::Column::Likes));
    }
    update
        .exec(conn)
        .await
        .context("updating a video's counters")?;
    Ok(())
}

pub(crate) async fn bump_user<C: ConnectionTrait>(
    conn: &C,
    user: UserId,
    col: user_stats::Column,
    delta: i64,
) -> Result<()> {
    user_stats::Entity::insert(user_stats::ActiveModel {
        user_id: Set(user.0),
        ..Default::default()
    })
    .on_conflict_do_nothing()
    .exec_without_returning(conn)
    .await
    .context("creating a user's counters")?;
    user_stats::Entity::update_many()
        .col_expr(col, Expr::col(col).add(delta))
        .filter(user_stats::Column::UserId.eq(user.0))
        .exec(conn)
        .await
        .context("updating a user's counters")?;
    Ok(())
}

pub(crate) async fn bump_channel_followers<C: ConnectionTrait>(
    conn: &C,
    channel: i64,
    delta: i64,
) -> Result<()> {
    channel_stats::Entity::insert(channel_stats::ActiveModel {
        channel_id: Set(channel),
        ..Default::default()
    })
    .on_conflict_do_nothing()
    .exec_without_returning(conn)
    .await
    .context("creating a channel's counters")?;
    channel_stats::Entity::update_many()
        .col_expr(
            channel_stats::Column::Followers,
            Expr::col(channel_stats::Column::Followers).add(delta),
        )
        .filter(channel_stats::Column::ChannelId.eq(channel))
        .exec(conn)
        .await
        .context("updating a channel's counters")?;
    Ok(())
}

/// Counts one interaction between two friends (a reaction, comment or share on the other's
/// video), on both rows of the friendship. Nothing happens when they are not friends.
pub(crate) async fn count_interaction<C: ConnectionTrait>(
    conn: &C,
    a: UserId,
    b: UserId,
) -> Result<()> {
    if a == b {
        return Ok(());
    }
    friendship::Entity::update_many()
        .col_expr(
            friendship::Column::Interactions,
            Expr::col(friendship::Column::Interactions).add(1),
        )
        .filter(
            Condition::any()
                .add(
                    Condition::all()
                        .add(friendship::Column::UserId.eq(a.0))
                        .add(friendship::Column::FriendId.eq(b.0)),
                )
                .add(
                    Condition::all()
                        .add(friendship::Column::UserId.eq(b.0))
                        .add(friendship::Column::FriendId.eq(a.0)),
                ),
        )
        .exec(conn)
        .await
        .context("counting an interaction between friends")?;
    Ok(())
}

/// The distinct ids of `ids`, first occurrence first.
pub(crate) fn distinct<K: Eq + std::hash::Hash + Copy>(ids: &[K]) -> Vec<K> {
    let mut seen = std::collections::HashSet::new();
    ids.iter().copied().filter(|id| seen.insert(*id)).collect()
}

/// `col` is one of `ids`. On PostgreSQL that is `col = ANY($1)` with the ids as one array
/// parameter: the statement's text is the same whatever the number of ids, so each connection
/// prepares it once (and PostgreSQL may settle on a generic plan), where `IN ($1, …, $n)` is a
/// new statement to parse and plan for every distinct n. SQLite has no arrays and keeps `IN`.
pub(crate) fn id_in(backend: DbBackend, col: impl IntoColumnRef, ids: &[i64]) -> Expr {
    match backend {
        DbBackend::Postgres => Expr::col(col).eq(PgFunc::any(Expr::val(ids.to_vec()))),
        _ => Expr::col(col).is_in(ids.iter().copied()),
    }
}

/// Rows keyed by `key`, for building one DTO per id asked.
pub(crate) fn by_key<T, K: Eq + std::hash::Hash>(
    rows: Vec<T>,
    key: impl Fn(&T) -> K,
) -> HashMap<K, T> {
    rows.into_iter().map(|row| (key(&row), row)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_times_round_trip_the_clock() {
        let at = kanjian_kernel::Clock::system().now();
        assert_eq!(at.timestamp_subsec_nanos() % 1_000_000, 0);
        assert_eq!(cursor_time(at.timestamp_millis()).unwrap(), at);
        assert!(cursor_time(i64::MAX).is_err());
    }

    #[test]
    fn distinct_keeps_the_first_occurrence() {
        assert_eq!(distinct(&[3, 1, 3, 2, 1]), vec![3, 1, 2]);
    }
}
