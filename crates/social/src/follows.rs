//! Follows: a user follows a channel. Counts (a channel's followers, a user's following and
//! friends) live in the stats tables and change in the transaction of the follow.

use kanjian_db::Db;
use std::collections::HashSet;

use kanjian_contracts::identity::ChannelDto;
use kanjian_contracts::social::{ChannelFollowed, ChannelSocialDto, ChannelUnfollowed, FollowDto, UserSocialDto};
use kanjian_kernel::ids::{ChannelId, UserId};
use kanjian_kernel::{Actor, Context, Error, Page, PageRequest, Result, UserErrorCode};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, };

use crate::Deps;
use crate::db::{
    self, bump_channel_followers, bump_user, by_key, cursor_time, ensure_not_blocked, is_blocked,
    not_blocked_with, older_than,
};
use crate::entity::{channel_stats, follow, user_stats};

/// The channel, from identity: `NotFound("channel")` when it does not exist.
async fn channel(deps: &Deps, id: ChannelId) -> Result<ChannelDto> {
    deps.identity
        .channels_by_ids(&[id])
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| Error::not_found("channel"))
}

fn follow_dto(f: follow::Model) -> FollowDto {
    FollowDto {
        user: UserId(f.user_id),
        channel: ChannelId(f.channel_id),
        since: f.created_at,
    }
}

/// Follows a channel. Your own channel is `SELF_TARGET`; a channel whose owner is in a block
/// with you is `BLOCKED`; following again changes nothing. Emits `ChannelFollowed`.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, channel_id = id.0))]
pub async fn follow(deps: &Deps, actor: &Actor, id: ChannelId) -> Result<ChannelSocialDto> {
    let me = actor.require_user()?;
    tracing::Span::current().record("user_id", me.0);
    let channel = channel(deps, id).await?;
    if channel.owner_id == me {
        return Err(Error::user(
            "",
            UserErrorCode::SelfTarget,
            "You cannot follow your own channel.",
        ));
    }

    let txn = deps.db.begin().await.context("beginning a follow")?;
    ensure_not_blocked(&txn, me, channel.owner_id).await?;
    let inserted = follow::Entity::insert(follow::ActiveModel {
        user_id: Set(me.0),
        channel_id: Set(id.0),
        channel_owner_id: Set(channel.owner_id.0),
        created_at: Set(deps.db.now()),
    })
    .on_conflict_do_nothing()
    .exec_without_returning(&txn)
    .await
    .context("inserting the follow")?;
    let inserted = matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0);
    if inserted {
        bump_channel_followers(&txn, id.0, 1).await?;
        bump_user(&txn, me, user_stats::Column::Following, 1).await?;
        deps.outbox
            .enqueue(
                &txn,
                &ChannelFollowed {
                    user: me,
                    channel: id,
                },
            )
            .await?;
    }
    txn.commit().await.context("committing the follow")?;
    if inserted {
        deps.outbox.notify();
        tracing::info!("channel followed");
    }
    one_channel_social(&deps.db, Some(me), id).await
}

/// Stops following a channel (emits `ChannelUnfollowed`); not following it is fine.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, channel_id = id.0))]
pub async fn unfollow(deps: &Deps, actor: &Actor, id: ChannelId) -> Result<ChannelSocialDto> {
    let me = actor.require_user()?;
    tracing::Span::current().record("user_id", me.0);
    channel(deps, id).await?;

    let txn = deps.db.begin().await.context("beginning an unfollow")?;
    let deleted = follow::Entity::delete_by_id((me.0, id.0))
        .exec(&txn)
        .await
        .context("deleting the follow")?;
    if deleted.rows_affected > 0 {
        bump_channel_followers(&txn, id.0, -1).await?;
        bump_user(&txn, me, user_stats::Column::Following, -1).await?;
        deps.outbox
            .enqueue(&txn, &ChannelUnfollowed { user: me, channel: id })
            .await?;
    }
    txn.commit().await.context("committing the unfollow")?;
    if deleted.rows_affected > 0 {
        deps.outbox.notify();
        tracing::info!("channel unfollowed");
    }
    one_channel_social(&deps.db, Some(me), id).await
}

/// Rows after the `(millis, id)` cursor in newest-first order; `tie` breaks equal times.
fn newest_first_after(after: Option<(i64, i64)>, tie: follow::Column) -> Result<Option<Condition>> {
    let Some((millis, id)) = after else {
        return Ok(None);
    };
    let at = cursor_time(millis)?;
    Ok(Some(older_than(follow::Column::CreatedAt, tie, at, id)))
}

/// The channel's followers, newest first; people in a block with the actor are left out.
#[tracing::instrument(skip_all, fields(channel_id = id.0))]
pub async fn followers(
    deps: &Deps,
    actor: &Actor,
    id: ChannelId,
    page: PageRequest,
) -> Result<Page<FollowDto>> {
    channel(deps, id).await?;
    let limit = page.limit();
    let after: Option<(i64, i64)> = page.after_key()?;
    let mut query = follow::Entity::find()
        .filter(follow::Column::ChannelId.eq(id.0))
        .filter(not_blocked_with(actor.user_id(), follow::Column::UserId));
    if let Some(cond) = newest_first_after(after, follow::Column::UserId)? {
        query = query.filter(cond);
    }
    let rows = query
        .order_by_desc(follow::Column::CreatedAt)
        .order_by_desc(follow::Column::UserId)
        .limit(u64::from(limit) + 1)
        .all(deps.db.reader())
        .await
        .context("listing followers")?;
    Ok(Page::from_rows(rows, limit, after.is_some(), |r| {
        (r.created_at.timestamp_millis(), r.user_id)
    })
    .map(follow_dto))
}

/// The channels `user` follows, newest first. Channels of people in a block with the actor are
/// left out, and so is everything when `user` is.
#[tracing::instrument(skip_all, fields(user = user.0))]
pub async fn following(
    deps: &Deps,
    actor: &Actor,
    user: UserId,
    page: PageRequest,
) -> Result<Page<FollowDto>> {
    let limit = page.limit();
    let after: Option<(i64, i64)> = page.after_key()?;
    if let Some(viewer) = actor.user_id()
        && is_blocked(deps.db.reader(), viewer, user).await?
    {
        return Ok(Page {
            items: Vec::new(),
            has_next_page: false,
            has_previous_page: after.is_some(),
        });
    }
    let mut query = follow::Entity::find()
        .filter(follow::Column::UserId.eq(user.0))
        .filter(not_blocked_with(
            actor.user_id(),
            follow::Column::ChannelOwnerId,
        ));
    if let Some(cond) = newest_first_after(after, follow::Column::ChannelId)? {
        query = query.filter(cond);
    }
    let rows = query
        .order_by_desc(follow::Column::CreatedAt)
        .order_by_desc(follow::Column::ChannelId)
        .limit(u64::from(limit) + 1)
        .all(deps.db.reader())
        .await
        .context("listing followed channels")?;
    Ok(Page::from_rows(rows, limit, after.is_some(), |r| {
        (r.created_at.timestamp_millis(), r.channel_id)
    })
    .map(follow_dto))
}

async fn one_channel_social(
    db: &Db,
    viewer: Option<UserId>,
    id: ChannelId,
) -> Result<ChannelSocialDto> {
    channels_social(db.reader(), viewer, &[id])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| Error::internal("no channel counts for the channel asked"))
}

async fn channels_social<C: ConnectionTrait>(
    conn: &C,
    viewer: Option<UserId>,
    channels: &[ChannelId],
) -> Result<Vec<ChannelSocialDto>> {
    if channels.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = db::distinct(channels).iter().map(|c| c.0).collect();
    let stats = by_key(
        channel_stats::Entity::find()
            .filter(channel_stats::Column::ChannelId.is_in(ids.iter().copied()))
            .all(conn)
            .await
            .context("loading channel counts")?,
        |s| s.channel_id,
    );
    let followed: HashSet<i64> = match viewer {
        None => HashSet::new(),
        Some(viewer) => follow::Entity::find()
            .filter(follow::Column::UserId.eq(viewer.0))
            .filter(follow::Column::ChannelId.is_in(ids.iter().copied()))
            .all(conn)
            .await
            .context("loading the viewer's follows")?
            .into_iter()
            .map(|f| f.channel_id)
            .collect(),
    };
    Ok(channels
        .iter()
        .map(|c| ChannelSocialDto {
            channel: *c,
            followers: stats.get(&c.0).map_or(0, |s| s.followers),
            actor_follows: followed.contains(&c.0),
        })
        .collect())
}

/// Follower counts and whether the actor follows, one per channel asked (in that order).
#[tracing::instrument(skip_all, fields(count = channels.len()))]
pub async fn channel_social(
    db: &Db,
    actor: &Actor,
    channels: &[ChannelId],
) -> Result<Vec<ChannelSocialDto>> {
    channels_social(db.reader(), actor.user_id(), channels).await
}

/// Following counts for anyone; friend counts for the user themself only. One per user asked.
#[tracing::instrument(skip_all, fields(count = users.len()))]
pub async fn user_social(
    db: &Db,
    actor: &Actor,
    users: &[UserId],
) -> Result<Vec<UserSocialDto>> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = db::distinct(users).iter().map(|u| u.0).collect();
    let stats = by_key(
        user_stats::Entity::find()
            .filter(user_stats::Column::UserId.is_in(ids))
            .all(db.reader())
            .await
            .context("loading user counts")?,
        |s| s.user_id,
    );
    let me = actor.user_id();
    Ok(users
        .iter()
        .map(|u| {
            let s = stats.get(&u.0);
            UserSocialDto {
                user: *u,
                friends: (me == Some(*u)).then(|| s.map_or(0, |s| s.friends)),
                following: s.map_or(0, |s| s.following),
            }
        })
        .collect())
}

/// Those among `channels` the user follows (`FriendDirectory`).
pub(crate) async fn followed_among(deps: &Deps, user: UserId, channels: &[ChannelId]) -> Result<Vec<ChannelId>> {
    if channels.is_empty() {
        return Ok(Vec::new());
    }
    Ok(follow::Entity::find()
        .filter(follow::Column::UserId.eq(user.0))
        .filter(follow::Column::ChannelId.is_in(channels.iter().map(|c| c.0)))
        .all(deps.db.reader())
        .await
        .context("looking for followed channels")?
        .into_iter()
        .map(|f| ChannelId(f.channel_id))
        .collect())
}
