//! Friends: mutual, by request. A request is sent, then accepted, declined or cancelled; at most
//! one is pending between two people, whichever way it goes. Accepting stores the friendship in
//! both directions in the same transaction.

use std::collections::HashMap;

use kanjian_contracts::social::{
    FriendRemoved,
    FriendAdded, FriendDto, FriendRequestDto, FriendRequestStatus, RelationshipDto,
    RequestDirection,
};
use kanjian_kernel::ids::{FriendRequestId, UserId};
use kanjian_kernel::{Actor, Context, Error, Page, PageRequest, Result, Timestamp, UserErrorCode};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    NotSet, QueryFilter, QueryOrder, QuerySelect, Set, };

use crate::Deps;
use crate::db::{
    self, bump_user, cursor_time, ensure_not_blocked, is_unique_violation, older_than,
};
use crate::domain::RequestMessage;
use crate::domain::stored::{request_status, request_status_from};
use crate::entity::{block, friend_request, friendship, user_stats};

/// The key of the unique index that allows one pending request per pair of people.
pub(crate) fn pending_pair(a: UserId, b: UserId) -> String {
    let (low, high) = if a.0 <= b.0 { (a.0, b.0) } else { (b.0, a.0) };
    format!("{low}:{high}")
}

fn self_target() -> Error {
    Error::user(
        "",
        UserErrorCode::SelfTarget,
        "You cannot send a friend request to yourself.",
    )
}

fn request_dto(m: friend_request::Model) -> Result<FriendRequestDto> {
    Ok(FriendRequestDto {
        id: FriendRequestId(m.id),
        from: UserId(m.from_user_id),
        to: UserId(m.to_user_id),
        message: m.message,
        status: request_status_from(&m.status)?,
        created_at: m.created_at,
        responded_at: m.responded_at,
    })
}

/// Makes sure the user exists (identity knows them): `NotFound("user")` otherwise.
pub(crate) async fn ensure_user_exists(deps: &Deps, user: UserId) -> Result<()> {
    // Existence only: no private field is wanted, so ask as no one in particular.
    let found = deps.identity.users_by_ids(&Actor::Anonymous, &[user]).await?;
    if found.iter().any(|u| u.id == user) {
        Ok(())
    } else {
        Err(Error::not_found("user"))
    }
}

pub(crate) async fn are_friends<C: ConnectionTrait>(
    conn: &C,
    a: UserId,
    b: UserId,
) -> Result<bool> {
    Ok(friendship::Entity::find_by_id((a.0, b.0))
        .one(conn)
        .await
        .context("looking up a friendship")?
        .is_some())
}

/// The pending request between the two, whichever way it goes.
async fn pending_between<C: ConnectionTrait>(
    conn: &C,
    a: UserId,
    b: UserId,
) -> Result<Option<friend_request::Model>> {
    friend_request::Entity::find()
        .filter(friend_request::Column::PendingPair.eq(pending_pair(a, b)))
        .one(conn)
        .await
        .context("looking for a pending friend request")
}

fn duplicate_request(existing: &friend_request::Model, me: UserId) -> Error {
    if existing.from_user_id == me.0 {
        Error::user(
            "",
            UserErrorCode::AlreadyExists,
            "You already sent this person a friend request; it is waiting for an answer.",
        )
    } else {
        Error::user(
            "",
            UserErrorCode::AlreadyExists,
            // No row id here: clients know requests by their global ids, which the module
            // does not make. The request is the first of the viewer's incoming ones.
            "This person already sent you a friend request: accept it instead (it is among your incoming friend requests).",
        )
    }
}

/// Sends a friend request. Refused: to yourself (`SELF_TARGET`), to an unknown user
/// (`NotFound`), across a block (`BLOCKED`), to a friend or while a request is pending either way
/// (`ALREADY_EXISTS`), more than `friend_requests_per_user` allows (`RateLimited`).
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, to = to.0))]
pub async fn send_request(
    deps: &Deps,
    actor: &Actor,
    to: UserId,
    message: Option<String>,
) -> Result<FriendRequestDto> {
    let me = actor.require_user()?;
    tracing::Span::current().record("user_id", me.0);
    let message = RequestMessage::parse(
        message.as_deref(),
        deps.config.friend_request_message_max_chars,
    )
    .map_err(|e| Error::User(vec![e]))?;
    if to == me {
        return Err(self_target());
    }
    ensure_user_exists(deps, to).await?;
    // `RateLimited` writes nothing (`[social] friend_requests_per_user`).
    kanjian_db::rate_limit::check(&deps.db, &[kanjian_db::Limit::per_user("friend_request", me.0, &deps.config.friend_requests_per_user)]).await?;

    let txn = deps
        .db
        .begin()
        .await
        .context("beginning a friend request")?;
    ensure_not_blocked(&txn, me, to).await?;
    if are_friends(&txn, me, to).await? {
        return Err(Error::user(
            "",
            UserErrorCode::AlreadyExists,
            "You are already friends.",
        ));
    }
    if let Some(existing) = pending_between(&txn, me, to).await? {
        return Err(duplicate_request(&existing, me));
    }
    let inserted = friend_request::ActiveModel {
        id: NotSet,
        from_user_id: Set(me.0),
        to_user_id: Set(to.0),
        message: Set(message.map(RequestMessage::into_inner)),
        status: Set(request_status(FriendRequestStatus::Pending).to_owned()),
        pending_pair: Set(Some(pending_pair(me, to))),
        created_at: Set(deps.db.now()),
        responded_at: Set(None),
    }
    .insert(&txn)
    .await;
    let request = match inserted {
        Ok(request) => request,
        Err(e) if is_unique_violation(&e) => {
            return Err(Error::user(
                "",
                UserErrorCode::AlreadyExists,
                "A friend request between you two is already waiting for an answer.",
            ));
        }
        Err(e) => return Err(e).context("inserting the friend request"),
    };
    txn.commit()
        .await
        .context("committing the friend request")?;
    tracing::info!(request_id = request.id, "friend request sent");
    request_dto(request)
}

/// Who may answer a request, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Accept,
    Decline,
    Cancel,
}

/// Loads (and locks) a pending request the actor may answer. A request is seen by its two
/// people only: to anyone else it is `NotFound`, exactly as one that does not exist. Accept
/// and decline are for the person it is addressed to, cancel for its sender (`Forbidden` for
/// the other of the two); a request that is no longer pending is `INVALID_STATE`.
async fn answerable<C: ConnectionTrait>(
    conn: &C,
    me: UserId,
    id: FriendRequestId,
    answer: Answer,
) -> Result<friend_request::Model> {
    let request = friend_request::Entity::find_by_id(id.0)
        .lock_exclusive()
        .one(conn)
        .await
        .context("loading the friend request")?
        .filter(|r| r.from_user_id == me.0 || r.to_user_id == me.0)
        .ok_or_else(|| Error::not_found("friend request"))?;
    let allowed = match answer {
        Answer::Accept | Answer::Decline => request.to_user_id == me.0,
        Answer::Cancel => request.from_user_id == me.0,
    };
    if !allowed {
        tracing::warn!(
            request_id = id.0,
            ?answer,
            "someone tried to answer a friend request that is not theirs"
        );
        return Err(Error::forbidden(match answer {
            Answer::Accept | Answer::Decline => {
                "only the person a friend request is addressed to may answer it"
            }
            Answer::Cancel => "only the sender of a friend request may cancel it",
        }));
    }
    if request_status_from(&request.status)? != FriendRequestStatus::Pending {
        return Err(Error::user(
            "",
            UserErrorCode::InvalidState,
            "This friend request is no longer pending.",
        ));
    }
    Ok(request)
}

/// Closes a pending request with `status`.
async fn close<C: ConnectionTrait>(
    conn: &C,
    request: friend_request::Model,
    status: FriendRequestStatus,
    at: Timestamp,
) -> Result<friend_request::Model> {
    let mut model = request.into_active_model();
    model.status = Set(request_status(status).to_owned());
    model.pending_pair = Set(None);
    model.responded_at = Set(Some(at));
    model
        .update(conn)
        .await
        .context("closing the friend request")
}

/// The two people, lower id first: their counters are always updated in this order, so two
/// transactions touching the same people cannot wait on each other in a circle.
fn in_id_order(a: UserId, b: UserId) -> [(UserId, UserId); 2] {
    if a.0 <= b.0 {
        [(a, b), (b, a)]
    } else {
        [(b, a), (a, b)]
    }
}

/// Adds both rows of a friendship (those missing) and counts them. Whether any was added.
async fn add_friendship<C: ConnectionTrait>(conn: &C, a: UserId, b: UserId, at: Timestamp) -> Result<bool> {
    let mut added_any = false;
    for (user, friend) in in_id_order(a, b) {
        let added = friendship::Entity::insert(friendship::ActiveModel {
            user_id: Set(user.0),
            friend_id: Set(friend.0),
            interactions: Set(0),
            created_at: Set(at),
        })
        .on_conflict_do_nothing()
        .exec_without_returning(conn)
        .await
        .context("inserting a friendship")?;
        if matches!(added, sea_orm::TryInsertResult::Inserted(n) if n > 0) {
            bump_user(conn, user, user_stats::Column::Friends, 1).await?;
            added_any = true;
        }
    }
    Ok(added_any)
}

/// Removes both rows of a friendship and their counts. Whether they were friends.
pub(crate) async fn end_friendship<C: ConnectionTrait>(
    conn: &C,
    a: UserId,
    b: UserId,
) -> Result<bool> {
    let mut ended = false;
    for (user, friend) in in_id_order(a, b) {
        let deleted = friendship::Entity::delete_by_id((user.0, friend.0))
            .exec(conn)
            .await
            .context("deleting a friendship")?;
        if deleted.rows_affected > 0 {
            bump_user(conn, user, user_stats::Column::Friends, -1).await?;
            ended = true;
        }
    }
    Ok(ended)
}

/// Accepts a request addressed to the actor: the two become friends (both rows, both counts)
/// and `FriendAdded` is emitted, all in one transaction.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, request_id = id.0))]
pub async fn accept_request(
    deps: &Deps,
    actor: &Actor,
    id: FriendRequestId,
) -> Result<FriendRequestDto> {
    let me = actor.require_user()?;
    tracing::Span::current().record("user_id", me.0);
    let txn = deps
        .db
        .begin()
        .await
        .context("beginning to accept a friend request")?;
    let request = answerable(&txn, me, id, Answer::Accept).await?;
    let from = UserId(request.from_user_id);
    let accepted = close(&txn, request, FriendRequestStatus::Accepted, deps.db.now()).await?;
    if add_friendship(&txn, me, from, deps.db.now()).await? {
        deps.outbox
            .enqueue(
                &txn,
                &FriendAdded {
                    user: me,
                    friend: from,
                },
            )
            .await?;
    }
    txn.commit()
        .await
        .context("committing the accepted friend request")?;
    deps.outbox.notify();
    tracing::info!(friend = from.0, "friend request accepted");
    request_dto(accepted)
}

#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, request_id = id.0))]
pub async fn decline_request(
    deps: &Deps,
    actor: &Actor,
    id: FriendRequestId,
) -> Result<FriendRequestDto> {
    answer_without_friendship(deps, actor, id, Answer::Decline).await
}

#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, request_id = id.0))]
pub async fn cancel_request(
    deps: &Deps,
    actor: &Actor,
    id: FriendRequestId,
) -> Result<FriendRequestDto> {
    answer_without_friendship(deps, actor, id, Answer::Cancel).await
}

async fn answer_without_friendship(
    deps: &Deps,
    actor: &Actor,
    id: FriendRequestId,
    answer: Answer,
) -> Result<FriendRequestDto> {
    let me = actor.require_user()?;
    tracing::Span::current().record("user_id", me.0);
    let txn = deps
        .db
        .begin()
        .await
        .context("beginning to answer a friend request")?;
    let request = answerable(&txn, me, id, answer).await?;
    let status = match answer {
        Answer::Cancel => FriendRequestStatus::Cancelled,
        Answer::Accept | Answer::Decline => FriendRequestStatus::Declined,
    };
    let closed = close(&txn, request, status, deps.db.now()).await?;
    txn.commit()
        .await
        .context("committing the friend request answer")?;
    tracing::info!(?status, "friend request closed");
    request_dto(closed)
}

/// Ends a friendship, both ways. Not being friends is fine: nothing changes.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, friend = friend.0))]
pub async fn remove_friend(deps: &Deps, actor: &Actor, friend: UserId) -> Result<()> {
    let me = actor.require_user()?;
    tracing::Span::current().record("user_id", me.0);
    let txn = deps
        .db
        .begin()
        .await
        .context("beginning to remove a friend")?;
    let ended = end_friendship(&txn, me, friend).await?;
    if ended {
        deps.outbox.enqueue(&txn, &FriendRemoved { user: me, friend }).await?;
    }
    txn.commit()
        .await
        .context("committing the friend removal")?;
    if ended {
        deps.outbox.notify();
        tracing::info!("friend removed");
    }
    Ok(())
}

/// Pending requests to or from the actor, newest first.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, ?direction))]
pub async fn requests(
    deps: &Deps,
    actor: &Actor,
    direction: RequestDirection,
    page: PageRequest,
) -> Result<Page<FriendRequestDto>> {
    let me = actor.require_user()?;
    tracing::Span::current().record("user_id", me.0);
    let limit = page.limit();
    let after: Option<(i64, i64)> = page.after_key()?;
    let mine = match direction {
        RequestDirection::Incoming => friend_request::Column::ToUserId.eq(me.0),
        RequestDirection::Outgoing => friend_request::Column::FromUserId.eq(me.0),
    };
    let mut query = friend_request::Entity::find()
        .filter(mine)
        .filter(friend_request::Column::Status.eq(request_status(FriendRequestStatus::Pending)));
    if let Some((millis, id)) = after {
        let at = cursor_time(millis)?;
        query = query.filter(older_than(
            friend_request::Column::CreatedAt,
            friend_request::Column::Id,
            at,
            id,
        ));
    }
    let rows = query
        .order_by_desc(friend_request::Column::CreatedAt)
        .order_by_desc(friend_request::Column::Id)
        .limit(u64::from(limit) + 1)
        .all(deps.db.reader())
        .await
        .context("listing friend requests")?;
    let page = Page::from_rows(rows, limit, after.is_some(), |r| {
        (r.created_at.timestamp_millis(), r.id)
    });
    let items = page
        .items
        .into_iter()
        .map(|(cursor, row)| Ok((cursor, request_dto(row)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Page {
        items,
        has_next_page: page.has_next_page,
        has_previous_page: page.has_previous_page,
    })
}

/// The actor's friends, newest friendship first.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub async fn friends(deps: &Deps, actor: &Actor, page: PageRequest) -> Result<Page<FriendDto>> {
    let me = actor.require_user()?;
    tracing::Span::current().record("user_id", me.0);
    let limit = page.limit();
    let after: Option<(i64, i64)> = page.after_key()?;
    let mut query = friendship::Entity::find().filter(friendship::Column::UserId.eq(me.0));
    if let Some((millis, friend)) = after {
        let at = cursor_time(millis)?;
        query = query.filter(older_than(
            friendship::Column::CreatedAt,
            friendship::Column::FriendId,
            at,
            friend,
        ));
    }
    let rows = query
        .order_by_desc(friendship::Column::CreatedAt)
        .order_by_desc(friendship::Column::FriendId)
        .limit(u64::from(limit) + 1)
        .all(deps.db.reader())
        .await
        .context("listing friends")?;
    Ok(Page::from_rows(rows, limit, after.is_some(), |r| {
        (r.created_at.timestamp_millis(), r.friend_id)
    })
    .map(|r| FriendDto {
        friend: UserId(r.friend_id),
        since: r.created_at,
    }))
}

/// How the actor stands with each user, in the order asked. A block by the other side is not
/// revealed: the block has already ended the friendship and any pending request.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, count = users.len()))]
pub async fn relationships(
    deps: &Deps,
    actor: &Actor,
    users: &[UserId],
) -> Result<Vec<RelationshipDto>> {
    let me = actor.require_user()?;
    tracing::Span::current().record("user_id", me.0);
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = db::distinct(users).iter().map(|u| u.0).collect();
    let friends: std::collections::HashSet<i64> = friendship::Entity::find()
        .filter(friendship::Column::UserId.eq(me.0))
        .filter(friendship::Column::FriendId.is_in(ids.iter().copied()))
        .all(deps.db.reader())
        .await
        .context("loading friendships")?
        .into_iter()
        .map(|f| f.friend_id)
        .collect();
    let pending = friend_request::Entity::find()
        .filter(friend_request::Column::Status.eq(request_status(FriendRequestStatus::Pending)))
        .filter(
            Condition::any()
                .add(
                    Condition::all()
                        .add(friend_request::Column::FromUserId.eq(me.0))
                        .add(friend_request::Column::ToUserId.is_in(ids.iter().copied())),
                )
                .add(
                    Condition::all()
                        .add(friend_request::Column::ToUserId.eq(me.0))
                        .add(friend_request::Column::FromUserId.is_in(ids.iter().copied())),
                ),
        )
        .all(deps.db.reader())
        .await
        .context("loading pending friend requests")?;
    let mut outgoing: HashMap<i64, i64> = HashMap::new();
    let mut incoming: HashMap<i64, i64> = HashMap::new();
    for r in pending {
        if r.from_user_id == me.0 {
            outgoing.insert(r.to_user_id, r.id);
        } else {
            incoming.insert(r.from_user_id, r.id);
        }
    }
    let blocked: std::collections::HashSet<i64> = block::Entity::find()
        .filter(block::Column::BlockerId.eq(me.0))
        .filter(block::Column::BlockedId.is_in(ids.iter().copied()))
        .all(deps.db.reader())
        .await
        .context("loading blocks")?
        .into_iter()
        .map(|b| b.blocked_id)
        .collect();
    Ok(users
        .iter()
        .map(|user| RelationshipDto {
            user: *user,
            is_friend: friends.contains(&user.0),
            outgoing_request: outgoing.get(&user.0).copied().map(FriendRequestId),
            incoming_request: incoming.get(&user.0).copied().map(FriendRequestId),
            blocked_by_actor: blocked.contains(&user.0),
        })
        .collect())
}

/// The user's friends, closest first (most interactions), at most `limit` (`FriendDirectory`).
pub(crate) async fn closest_friends(deps: &Deps, user: UserId, limit: u64) -> Result<Vec<UserId>> {
    Ok(friendship::Entity::find()
        .filter(friendship::Column::UserId.eq(user.0))
        .order_by_desc(friendship::Column::Interactions)
        .order_by_desc(friendship::Column::FriendId)
        .limit(limit)
        .all(deps.db.reader())
        .await
        .context("listing closest friends")?
        .into_iter()
        .map(|f| UserId(f.friend_id))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pending_pair_is_the_same_both_ways() {
        assert_eq!(pending_pair(UserId(7), UserId(3)), "3:7");
        assert_eq!(pending_pair(UserId(3), UserId(7)), "3:7");
    }
}
