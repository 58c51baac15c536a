//! Blocks. Blocking someone ends, in one transaction, the friendship, every pending request and
//! every follow between the two (both ways), with their counts. While a block stands either way
//! the two cannot befriend, follow, react to or comment on each other, and lists leave them out.

use kanjian_contracts::social::{FriendRemoved, FriendRequestStatus, UserBlocked};
use kanjian_kernel::ids::UserId;
use kanjian_kernel::{Actor, Context, Error, Page, PageRequest, Result, UserErrorCode};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    };

use crate::Deps;
use crate::db::{bump_channel_followers, bump_user, cursor_time, older_than};
use crate::domain::stored::request_status;
use crate::entity::{block, follow, friend_request, user_stats};
use crate::friends::{end_friendship, ensure_user_exists, pending_pair};

/// Ends every follow `follower` has on channels of `owner`, with the counts.
async fn end_follows<C: ConnectionTrait>(conn: &C, follower: UserId, owner: UserId) -> Result<u64> {
    let follows = follow::Entity::find()
        .filter(follow::Column::UserId.eq(follower.0))
        .filter(follow::Column::ChannelOwnerId.eq(owner.0))
        .all(conn)
        .await
        .context("loading follows to end")?;
    let mut ended = 0;
    for f in follows {
        let deleted = follow::Entity::delete_by_id((f.user_id, f.channel_id))
            .exec(conn)
            .await
            .context("deleting a follow")?;
        if deleted.rows_affected > 0 {
            bump_channel_followers(conn, f.channel_id, -1).await?;
            bump_user(conn, follower, user_stats::Column::Following, -1).await?;
            ended += 1;
        }
    }
    Ok(ended)
}

/// Blocks `user`. Blocking someone already blocked changes nothing. Emits `UserBlocked`.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, blocked = user.0))]
pub async fn block(deps: &Deps, actor: &Actor, user: UserId) -> Result<()> {
    let me = actor.require_user()?;
    tracing::Span::current().record("user_id", me.0);
    if user == me {
        return Err(Error::user(
            "",
            UserErrorCode::SelfTarget,
            "You cannot block yourself.",
        ));
    }
    ensure_user_exists(deps, user).await?;

    let txn = deps.db.begin().await.context("beginning a block")?;
    let inserted = block::Entity::insert(block::ActiveModel {
        blocker_id: Set(me.0),
        blocked_id: Set(user.0),
        created_at: Set(deps.db.now()),
    })
    .on_conflict_do_nothing()
    .exec_without_returning(&txn)
    .await
    .context("inserting the block")?;
    if !matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0) {
        return Ok(());
    }
    // Pending requests first: cancelling takes their row locks, so an accept that is under way
    // commits before this goes on (and its friendship is then ended below), and one that comes
    // later finds its request cancelled. Ending the friendship first let a concurrent accept
    // commit a friendship after the block (PostgreSQL, read committed).
    let cancelled = friend_request::Entity::update_many()
        .col_expr(
            friend_request::Column::Status,
            Expr::value(request_status(FriendRequestStatus::Cancelled)),
        )
        .col_expr(
            friend_request::Column::PendingPair,
            Expr::value(None::<String>),
        )
        .col_expr(friend_request::Column::RespondedAt, Expr::value(deps.db.now()))
        .filter(friend_request::Column::PendingPair.eq(pending_pair(me, user)))
        .exec(&txn)
        .await
        .context("cancelling pending friend requests")?;
    let was_friend = end_friendship(&txn, me, user).await?;
    let follows = end_follows(&txn, me, user).await? + end_follows(&txn, user, me).await?;
    if was_friend {
        deps.outbox.enqueue(&txn, &FriendRemoved { user: me, friend: user }).await?;
    }
    deps.outbox
        .enqueue(
            &txn,
            &UserBlocked {
                user: me,
                blocked: user,
            },
        )
        .await?;
    txn.commit().await.context("committing the block")?;
    deps.outbox.notify();
    tracing::info!(
        was_friend,
        requests_cancelled = cancelled.rows_affected,
        follows_ended = follows,
        "user blocked"
    );
    Ok(())
}

/// Lifts the actor's block of `user`. Nothing that the block ended comes back.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, blocked = user.0))]
pub async fn unblock(deps: &Deps, actor: &Actor, user: UserId) -> Result<()> {
    let me = actor.require_user()?;
    tracing::Span::current().record("user_id", me.0);
    let deleted = block::Entity::delete_by_id((me.0, user.0))
        .exec(deps.db.writer())
        .await
        .context("deleting the block")?;
    if deleted.rows_affected > 0 {
        tracing::info!("user unblocked");
    }
    Ok(())
}

/// The people the actor blocked, newest block first.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub async fn blocked_users(deps: &Deps, actor: &Actor, page: PageRequest) -> Result<Page<UserId>> {
    let me = actor.require_user()?;
    tracing::Span::current().record("user_id", me.0);
    let limit = page.limit();
    let after: Option<(i64, i64)> = page.after_key()?;
    let mut query = block::Entity::find().filter(block::Column::BlockerId.eq(me.0));
    if let Some((millis, blocked)) = after {
        let at = cursor_time(millis)?;
        query = query.filter(older_than(
            block::Column::CreatedAt,
            block::Column::BlockedId,
            at,
            blocked,
        ));
    }
    let rows = query
        .order_by_desc(block::Column::CreatedAt)
        .order_by_desc(block::Column::BlockedId)
        .limit(u64::from(limit) + 1)
        .all(deps.db.reader())
        .await
        .context("listing blocked users")?;
    Ok(Page::from_rows(rows, limit, after.is_some(), |r| {
        (r.created_at.timestamp_millis(), r.blocked_id)
    })
    .map(|r| UserId(r.blocked_id)))
}

/// Those among `others` in a block with `viewer`, either way (for `BlockDirectory`).
pub async fn blocked_among(deps: &Deps, viewer: UserId, others: &[UserId]) -> Result<Vec<UserId>> {
    let others: Vec<i64> = others.iter().map(|u| u.0).filter(|&u| u != viewer.0).collect();
    if others.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, i64)> = block::Entity::find()
        .select_only()
        .column(block::Column::BlockerId)
        .column(block::Column::BlockedId)
        .filter(
            Condition::any()
                .add(
                    Condition::all()
                        .add(block::Column::BlockerId.eq(viewer.0))
                        .add(block::Column::BlockedId.is_in(others.clone())),
                )
                .add(
                    Condition::all()
                        .add(block::Column::BlockedId.eq(viewer.0))
                        .add(block::Column::BlockerId.is_in(others)),
                ),
        )
        .into_tuple()
        .all(deps.db.reader())
        .await
        .context("looking for blocks with the viewer")?;
    let mut blocked: Vec<UserId> = rows
        .into_iter()
        .map(|(blocker, blocked)| UserId(if blocker == viewer.0 { blocked } else { blocker }))
        .collect();
    blocked.sort();
    blocked.dedup();
    Ok(blocked)
}
