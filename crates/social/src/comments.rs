//! Comments on videos, with one level of replies and likes. The video's creator pins one comment
//! and deletes any; authors edit and delete their own. Counts (a video's comments = top-level +
//! replies, a comment's replies and likes) change in the transaction of the write.

use kanjian_db::Db;
use std::collections::{HashMap, HashSet};

use kanjian_contracts::social::{CommentAdded, CommentDeleted, CommentDto};
use kanjian_kernel::ids::{CommentId, UserId, VideoId};
use kanjian_kernel::{Actor, Context, Error, Page, PageRequest, Result, UserErrorCode};
use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait, Order, Query, WindowStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    IntoActiveModel, NotSet, QueryFilter, QueryOrder, QuerySelect, Set, };

use crate::Deps;
use crate::db::{
    bump_video, count_interaction, cursor_time, ensure_not_blocked, is_blocked,
    not_blocked_with, video_visible_to, videos_visible_to, visible_video,
};
use crate::domain::CommentBody;
use crate::entity::{comment, comment_like, video};

const REPLY_TO: &str = "replyTo";

fn comment_dto(c: comment::Model, actor_liked: bool) -> CommentDto {
    CommentDto {
        id: CommentId(c.id),
        video: VideoId(c.video_id),
        author: UserId(c.author_id),
        parent: c.parent_id.map(CommentId),
        body: c.body,
        likes: c.likes,
        replies: c.replies,
        pinned: c.pinned,
        actor_liked,
        created_at: c.created_at,
        edited_at: c.edited_at,
    }
}

async fn find<C: ConnectionTrait>(conn: &C, id: CommentId) -> Result<comment::Model> {
    comment::Entity::find_by_id(id.0)
        .one(conn)
        .await
        .context("loading a comment")?
        .ok_or_else(|| Error::not_found("comment"))
}

/// The one visibility check for comments, on every path that returns or touches one by id: the
/// comment if `actor` may see it, that is, its video is visible to them (published and ready,
/// or their own) and its author is not in a block with them. Anything else answers
/// `NotFound("comment")`, exactly as a comment that does not exist. Reads only (it asks
/// `media` about the video): call it before opening a transaction.
pub(crate) async fn visible_comment(deps: &Deps, actor: &Actor, id: CommentId) -> Result<comment::Model> {
    let row = find(deps.db.reader(), id).await?;
    if let Some(viewer) = actor.user_id()
        && is_blocked(deps.db.reader(), viewer, UserId(row.author_id)).await?
    {
        return Err(Error::not_found("comment"));
    }
    match video_visible_to(deps, actor, VideoId(row.video_id)).await {
        Ok(_) => Ok(row),
        Err(Error::NotFound(_)) => Err(Error::not_found("comment")),
        Err(other) => Err(other),
    }
}

/// The comment, locked until the transaction ends (PostgreSQL `FOR UPDATE`; SQLite has one
/// writer anyway): changes to one comment, and replies to it, happen one at a time, so a reply
/// or a like cannot land on a comment that is being deleted.
async fn find_locked<C: ConnectionTrait>(conn: &C, id: CommentId) -> Result<comment::Model> {
    comment::Entity::find_by_id(id.0)
        .lock_exclusive()
        .one(conn)
        .await
        .context("loading and locking a comment")?
        .ok_or_else(|| Error::not_found("comment"))
}

/// The comments among `ids` that `viewer` liked.
async fn liked_by<C: ConnectionTrait>(
    conn: &C,
    viewer: Option<UserId>,
    ids: &[i64],
) -> Result<HashSet<i64>> {
    let Some(viewer) = viewer else {
        return Ok(HashSet::new());
    };
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    Ok(comment_like::Entity::find()
        .filter(comment_like::Column::UserId.eq(viewer.0))
        .filter(comment_like::Column::CommentId.is_in(ids.iter().copied()))
        .all(conn)
        .await
        .context("loading the viewer's comment likes")?
        .into_iter()
        .map(|l| l.comment_id)
        .collect())
}

async fn one_dto(db: &Db, viewer: UserId, id: CommentId) -> Result<CommentDto> {
    let row = find(db.reader(), id).await?;
    let liked = liked_by(db.reader(), Some(viewer), &[row.id]).await?;
    Ok(comment_dto(row, !liked.is_empty()))
}

/// Comments on a published video, or replies to one of its top-level comments. Refused: a
/// video whose creator is in a block with the actor, and a reply to a person in such a block
/// (`BLOCKED`); a reply to a reply or to a comment of another video (`INVALID` on `replyTo`);
/// more than `comments_per_user` allows (`RateLimited`). Emits `CommentAdded`.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, video_id = video.0, reply_to = ?reply_to.map(|c| c.0)))]
pub async fn add_comment(
    deps: &Deps,
    actor: &Actor,
    video: VideoId,
    body: String,
    reply_to: Option<CommentId>,
) -> Result<CommentDto> {
    let me = actor.require_user()?;
    tracing::Span::current().record("user_id", me.0);
    let body = CommentBody::parse(&body, deps.config.comment_max_chars)
        .map_err(|e| Error::User(vec![e]))?;
    let dto = visible_video(deps, video).await?;
    if let Some(parent) = reply_to {
        // A comment the actor may not see cannot be answered either; it looks missing.
        visible_comment(deps, actor, parent).await?;
    }
    // Spent once the comment could land; `RateLimited` writes nothing (`[social] comments_per_user`).
    kanjian_db::rate_limit::check(&deps.db, &[kanjian_db::Limit::per_user("comment", me.0, &deps.config.comments_per_user)]).await?;

    let txn = deps.db.begin().await.context("beginning a comment")?;
    ensure_not_blocked(&txn, me, dto.owner_id).await?;
    let parent = match reply_to {
        None => None,
        Some(parent_id) => {
            let parent = find_locked(&txn, parent_id).await?;
            if parent.video_id != video.0 {
                return Err(Error::user(
                    REPLY_TO,
                    UserErrorCode::Invalid,
                    "The comment you reply to is on another video.",
                ));
            }
            if parent.parent_id.is_some() {
                return Err(Error::user(
                    REPLY_TO,
                    UserErrorCode::Invalid,
                    "Replies have no replies of their own: reply to the comment it answers.",
                ));
            }
            ensure_not_blocked(&txn, me, UserId(parent.author_id)).await?;
            Some(parent)
        }
    };
    let created = comment::ActiveModel {
        id: NotSet,
        video_id: Set(video.0),
        video_owner_id: Set(dto.owner_id.0),
        author_id: Set(me.0),
        parent_id: Set(parent.as_ref().map(|p| p.id)),
        body: Set(body.into_inner()),
        likes: Set(0),
        replies: Set(0),
        pinned: Set(false),
        created_at: Set(deps.db.now()),
        edited_at: Set(None),
    }
    .insert(&txn)
    .await
    .context("inserting the comment")?;
    bump_video(&txn, video.0, &[(video::Column::Comments, 1)]).await?;
    count_interaction(&txn, me, dto.owner_id).await?;
    if let Some(parent) = &parent {
        comment::Entity::update_many()
            .col_expr(
                comment::Column::Replies,
                Expr::col(comment::Column::Replies).add(1),
            )
            .filter(comment::Column::Id.eq(parent.id))
            .exec(&txn)
            .await
            .context("counting the reply")?;
        if parent.author_id != dto.owner_id.0 {
            count_interaction(&txn, me, UserId(parent.author_id)).await?;
        }
    }
    deps.outbox
        .enqueue(
            &txn,
            &CommentAdded {
                comment: CommentId(created.id),
                video,
                author: me,
                parent: reply_to,
            },
        )
        .await?;
    txn.commit().await.context("committing the comment")?;
    deps.outbox.notify();
    tracing::info!(comment_id = created.id, "comment added");
    Ok(comment_dto(created, false))
}

/// Changes the text of a comment: its author only.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, comment_id = id.0))]
pub async fn edit_comment(
    deps: &Deps,
    actor: &Actor,
    id: CommentId,
    body: String,
) -> Result<CommentDto> {
    let me = actor.require_user()?;
    tracing::Span::current().record("user_id", me.0);
    let body = CommentBody::parse(&body, deps.config.comment_max_chars)
        .map_err(|e| Error::User(vec![e]))?;
    visible_comment(deps, actor, id).await?;

    let txn = deps.db.begin().await.context("beginning a comment edit")?;
    let current = find_locked(&txn, id).await?;
    if current.author_id != me.0 {
        tracing::warn!("someone tried to edit another person's comment");
        return Err(Error::forbidden("only the author may edit a comment"));
    }
    if current.body != body.as_str() {
        let mut model = current.into_active_model();
        model.body = Set(body.into_inner());
        model.edited_at = Set(Some(deps.db.now()));
        model.update(&txn).await.context("updating the comment")?;
    }
    txn.commit().await.context("committing the comment edit")?;
    tracing::info!("comment edited");
    one_dto(&deps.db, me, id).await
}

/// Deletes a comment: its author or the video's creator. A top-level comment takes its replies
/// and all their likes with it; every count follows.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, comment_id = id.0))]
pub async fn delete_comment(deps: &Deps, actor: &Actor, id: CommentId) -> Result<()> {
    let me = actor.require_user()?;
    tracing::Span::current().record("user_id", me.0);
    visible_comment(deps, actor, id).await?;

    let txn = deps
        .db
        .begin()
        .await
        .context("beginning a comment deletion")?;
    let target = find_locked(&txn, id).await?;
    if target.author_id != me.0 && target.video_owner_id != me.0 {
        tracing::warn!("someone tried to delete another person's comment");
        return Err(Error::forbidden(
            "only the author or the video's creator may delete a comment",
        ));
    }
    let replies = Query::select()
        .column(comment::Column::Id)
        .from(comment::Entity)
        .and_where(comment::Column::ParentId.eq(target.id))
        .to_owned();
    comment_like::Entity::delete_many()
        .filter(
            Condition::any()
                .add(comment_like::Column::CommentId.eq(target.id))
                .add(comment_like::Column::CommentId.in_subquery(replies)),
        )
        .exec(&txn)
        .await
        .context("deleting the likes of a comment and its replies")?;
    let replies_deleted = comment::Entity::delete_many()
        .filter(comment::Column::ParentId.eq(target.id))
        .exec(&txn)
        .await
        .context("deleting the replies of a comment")?
        .rows_affected;
    let deleted = comment::Entity::delete_by_id(target.id)
        .exec(&txn)
        .await
        .context("deleting the comment")?
        .rows_affected;
    if let Some(parent) = target.parent_id {
        comment::Entity::update_many()
            .col_expr(
                comment::Column::Replies,
                Expr::col(comment::Column::Replies).sub(i64::try_from(deleted).unwrap_or(0)),
            )
            .filter(comment::Column::Id.eq(parent))
            .exec(&txn)
            .await
            .context("uncounting the reply")?;
    }
    let removed = i64::try_from(deleted + replies_deleted).unwrap_or(0);
    bump_video(
        &txn,
        target.video_id,
        &[(video::Column::Comments, -removed)],
    )
    .await?;
    let event = CommentDeleted {
        comment: id,
        video: VideoId(target.video_id),
        author: UserId(target.author_id),
        parent: target.parent_id.map(CommentId),
        replies: i64::try_from(replies_deleted).unwrap_or(0),
        by: me,
    };
    deps.outbox.enqueue(&txn, &event).await?;
    txn.commit()
        .await
        .context("committing the comment deletion")?;
    deps.outbox.notify();
    tracing::info!(
        replies_deleted,
        by_creator = target.author_id != me.0,
        "comment deleted"
    );
    Ok(())
}

/// Pins (or unpins) a top-level comment: the video's creator only. Pinning one unpins the
/// video's previous pinned comment.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, comment_id = id.0, pinned))]
pub async fn pin_comment(
    deps: &Deps,
    actor: &Actor,
    id: CommentId,
    pinned: bool,
) -> Result<CommentDto> {
    let me = actor.require_user()?;
    tracing::Span::current().record("user_id", me.0);
    visible_comment(deps, actor, id).await?;

    let txn = deps.db.begin().await.context("beginning a pin")?;
    let target = find_locked(&txn, id).await?;
    if target.video_owner_id != me.0 {
        tracing::warn!("someone tried to pin a comment on another person's video");
        return Err(Error::forbidden(
            "only the video's creator may pin its comments",
        ));
    }
    if pinned && target.parent_id.is_some() {
        return Err(Error::user(
            "",
            UserErrorCode::InvalidState,
            "Replies cannot be pinned: pin the comment they answer.",
        ));
    }
    if target.pinned != pinned {
        if pinned {
            // Locks the video's counters row: two pins of the same video happen one at a time.
            bump_video(&txn, target.video_id, &[]).await?;
            comment::Entity::update_many()
                .col_expr(comment::Column::Pinned, Expr::value(false))
                .filter(comment::Column::VideoId.eq(target.video_id))
                .filter(comment::Column::Pinned.eq(true))
                .exec(&txn)
                .await
                .context("unpinning the previous comment")?;
        }
        comment::Entity::update_many()
            .col_expr(comment::Column::Pinned, Expr::value(pinned))
            .filter(comment::Column::Id.eq(target.id))
            .exec(&txn)
            .await
            .context("pinning the comment")?;
    }
    txn.commit().await.context("committing the pin")?;
    tracing::info!("comment pin changed");
    one_dto(&deps.db, me, id).await
}

/// Likes or unlikes a comment the actor may see; doing it twice changes nothing. Liking a
/// comment on a video whose creator is in a block with the actor is `BLOCKED`.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, comment_id = id.0, liked))]
pub async fn like_comment(
    deps: &Deps,
    actor: &Actor,
    id: CommentId,
    liked: bool,
) -> Result<CommentDto> {
    let me = actor.require_user()?;
    tracing::Span::current().record("user_id", me.0);
    visible_comment(deps, actor, id).await?;

    let txn = deps.db.begin().await.context("beginning a comment like")?;
    let target = find_locked(&txn, id).await?;
    let changed = if liked {
        // Read again under the lock: a block made since the check above still refuses.
        ensure_not_blocked(&txn, me, UserId(target.author_id)).await?;
        ensure_not_blocked(&txn, me, UserId(target.video_owner_id)).await?;
        let inserted = comment_like::Entity::insert(comment_like::ActiveModel {
            comment_id: Set(target.id),
            user_id: Set(me.0),
            created_at: Set(deps.db.now()),
        })
        .on_conflict_do_nothing()
        .exec_without_returning(&txn)
        .await
        .context("inserting the comment like")?;
        matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0)
    } else {
        comment_like::Entity::delete_by_id((target.id, me.0))
            .exec(&txn)
            .await
            .context("deleting the comment like")?
            .rows_affected
            > 0
    };
    if changed {
        let delta: i64 = if liked { 1 } else { -1 };
        comment::Entity::update_many()
            .col_expr(
                comment::Column::Likes,
                Expr::col(comment::Column::Likes).add(delta),
            )
            .filter(comment::Column::Id.eq(target.id))
            .exec(&txn)
            .await
            .context("counting the comment like")?;
    }
    txn.commit().await.context("committing the comment like")?;
    one_dto(&deps.db, me, id).await
}

async fn dtos(
    db: &Db,
    viewer: Option<UserId>,
    page: Page<comment::Model>,
) -> Result<Page<CommentDto>> {
    let ids: Vec<i64> = page.items.iter().map(|(_, c)| c.id).collect();
    let liked = liked_by(db.reader(), viewer, &ids).await?;
    Ok(page.map(|c| {
        let actor_liked = liked.contains(&c.id);
        comment_dto(c, actor_liked)
    }))
}

/// The first `limit + 1` rows of each group of comments (`group` = video or parent), in the
/// order of `order`, in one statement: a window function numbers each group's rows. Authors in
/// a block with the actor are left out, as in the single lists.
async fn first_rows_of_groups(
    db: &Db,
    actor: &Actor,
    group: comment::Column,
    ids: &[i64],
    top_level: bool,
    order: &[(comment::Column, Order)],
    limit: u32,
) -> Result<Vec<comment::Model>> {
    let mut window = WindowStatement::partition_by(group);
    for (col, dir) in order {
        window.order_by(*col, dir.clone());
    }
    let mut numbered = Query::select();
    numbered
        .column(Asterisk)
        .expr_window_as(Expr::cust("ROW_NUMBER()"), window, Alias::new("rn"))
        .from(comment::Entity)
        .and_where(Expr::col(group).is_in(ids.iter().copied()))
        .cond_where(not_blocked_with(actor.user_id(), comment::Column::AuthorId));
    if top_level {
        numbered.and_where(Expr::col(comment::Column::ParentId).is_null());
    }
    let query = Query::select()
        .column(Asterisk)
        .from_subquery(numbered.to_owned(), Alias::new("numbered"))
        .and_where(Expr::col(Alias::new("rn")).lte(i64::from(limit) + 1))
        // Each group's rows in its own order: the number the window gave them.
        .order_by(Alias::new("rn"), Order::Asc)
        .to_owned();
    comment::Entity::find()
        .from_raw_sql(db.backend().build(&query))
        .all(db.reader())
        .await
        .context("listing the first comments of several groups")
}

/// Splits rows (in each group's order) into each group's first page, in the order the groups
/// were asked; `key` is the cursor key the single list uses.
async fn first_pages<G, K>(
    db: &Db,
    actor: &Actor,
    groups: &[G],
    rows: Vec<comment::Model>,
    group_of: impl Fn(&comment::Model) -> G,
    limit: u32,
    key: impl Fn(&comment::Model) -> K + Copy,
) -> Result<Vec<(G, Page<CommentDto>)>>
where
    G: Copy + Eq + std::hash::Hash,
    K: serde::Serialize,
{
    let ids: Vec<i64> = rows.iter().map(|c| c.id).collect();
    let liked = liked_by(db.reader(), actor.user_id(), &ids).await?;
    let mut by_group: HashMap<G, Vec<comment::Model>> = HashMap::new();
    for row in rows {
        by_group.entry(group_of(&row)).or_default().push(row);
    }
    Ok(groups
        .iter()
        .map(|g| {
            let rows = by_group.remove(g).unwrap_or_default();
            let page = Page::from_rows(rows, limit, false, key).map(|c| {
                let actor_liked = liked.contains(&c.id);
                comment_dto(c, actor_liked)
            });
            (*g, page)
        })
        .collect())
}

/// The first page of top-level comments of several videos at once, as `comments` gives each:
/// a feed page that shows its videos' comments costs a few statements, not a few per video.
/// Videos the actor may not see are left out.
#[tracing::instrument(skip_all, fields(videos = videos.len(), first))]
pub async fn first_comments_of_videos(
    deps: &Deps,
    actor: &Actor,
    videos: &[VideoId],
    first: u32,
) -> Result<Vec<(VideoId, Page<CommentDto>)>> {
    let limit = PageRequest { first: Some(first), after: None }.limit();
    let visible: Vec<VideoId> = videos_visible_to(deps, actor, videos).await?;
    if visible.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = visible.iter().map(|v| v.0).collect();
    let order = [
        (comment::Column::Pinned, Order::Desc),
        (comment::Column::CreatedAt, Order::Desc),
        (comment::Column::Id, Order::Desc),
    ];
    let rows = first_rows_of_groups(&deps.db, actor, comment::Column::VideoId, &ids, true, &order, limit).await?;
    first_pages(&deps.db, actor, &visible, rows, |c| VideoId(c.video_id), limit, |c| {
        (c.pinned, c.created_at.timestamp_millis(), c.id)
    })
    .await
}

/// The first page of replies of several comments at once, as `replies` gives each. Comments
/// the actor may not see are left out.
#[tracing::instrument(skip_all, fields(comments = parents.len(), first))]
pub async fn first_replies_of_comments(
    deps: &Deps,
    actor: &Actor,
    parents: &[CommentId],
    first: u32,
) -> Result<Vec<(CommentId, Page<CommentDto>)>> {
    let limit = PageRequest { first: Some(first), after: None }.limit();
    let visible = visible_comments(deps, actor, parents).await?;
    if visible.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = visible.iter().map(|c| c.0).collect();
    let order = [(comment::Column::CreatedAt, Order::Asc), (comment::Column::Id, Order::Asc)];
    let rows = first_rows_of_groups(&deps.db, actor, comment::Column::ParentId, &ids, false, &order, limit).await?;
    first_pages(&deps.db, actor, &visible, rows, |c| CommentId(c.parent_id.unwrap_or_default()), limit, |c| {
        (c.created_at.timestamp_millis(), c.id)
    })
    .await
}

/// Of `ids`, the comments the actor may see (the rule of `visible_comment`), in the order asked.
async fn visible_comments(deps: &Deps, actor: &Actor, ids: &[CommentId]) -> Result<Vec<CommentId>> {
    let rows = comment::Entity::find()
        .filter(comment::Column::Id.is_in(ids.iter().map(|c| c.0)))
        .filter(not_blocked_with(actor.user_id(), comment::Column::AuthorId))
        .all(deps.db.reader())
        .await
        .context("loading comments")?;
    let videos: Vec<VideoId> = crate::db::distinct(&rows.iter().map(|c| c.video_id).collect::<Vec<_>>()).into_iter().map(VideoId).collect();
    let seen: HashSet<i64> = videos_visible_to(deps, actor, &videos).await?.into_iter().map(|v| v.0).collect();
    let found: HashMap<i64, i64> = rows.iter().map(|c| (c.id, c.video_id)).collect();
    Ok(ids.iter().copied().filter(|c| found.get(&c.0).is_some_and(|v| seen.contains(v))).collect())
}

/// Top-level comments of a video the actor may see (`NotFound("video")` otherwise): the pinned
/// one first, then newest first. Authors in a block with the actor are left out. The cursor is `(pinned, created_at, id)`.
#[tracing::instrument(skip_all, fields(video_id = video.0))]
pub async fn comments(
    deps: &Deps,
    actor: &Actor,
    video: VideoId,
    page: PageRequest,
) -> Result<Page<CommentDto>> {
    video_visible_to(deps, actor, video).await?;
    let db = &deps.db;
    let limit = page.limit();
    let after: Option<(bool, i64, i64)> = page.after_key()?;
    let mut query = comment::Entity::find()
        .filter(comment::Column::VideoId.eq(video.0))
        .filter(comment::Column::ParentId.is_null())
        .filter(not_blocked_with(actor.user_id(), comment::Column::AuthorId));
    if let Some((pinned, millis, id)) = after {
        let at = cursor_time(millis)?;
        let later_in_group = Condition::any().add(comment::Column::CreatedAt.lt(at)).add(
            Condition::all()
                .add(comment::Column::CreatedAt.eq(at))
                .add(comment::Column::Id.lt(id)),
        );
        let same_group = Condition::all()
            .add(comment::Column::Pinned.eq(pinned))
            .add(later_in_group);
        query = query.filter(if pinned {
            // After a pinned comment come the rest of the pinned ones, then every unpinned one.
            Condition::any()
                .add(same_group)
                .add(comment::Column::Pinned.eq(false))
        } else {
            same_group
        });
    }
    let rows = query
        .order_by_desc(comment::Column::Pinned)
        .order_by_desc(comment::Column::CreatedAt)
        .order_by_desc(comment::Column::Id)
        .limit(u64::from(limit) + 1)
        .all(db.reader())
        .await
        .context("listing comments")?;
    let page = Page::from_rows(rows, limit, after.is_some(), |c| {
        (c.pinned, c.created_at.timestamp_millis(), c.id)
    });
    dtos(db, actor.user_id(), page).await
}

/// Replies to a comment the actor may see (`NotFound("comment")` otherwise), oldest first.
/// Authors in a block with the actor are left out.
#[tracing::instrument(skip_all, fields(comment_id = parent.0))]
pub async fn replies(
    deps: &Deps,
    actor: &Actor,
    parent: CommentId,
    page: PageRequest,
) -> Result<Page<CommentDto>> {
    visible_comment(deps, actor, parent).await?;
    let db = &deps.db;
    let limit = page.limit();
    let after: Option<(i64, i64)> = page.after_key()?;
    let mut query = comment::Entity::find()
        .filter(comment::Column::ParentId.eq(parent.0))
        .filter(not_blocked_with(actor.user_id(), comment::Column::AuthorId));
    if let Some((millis, id)) = after {
        let at = cursor_time(millis)?;
        query = query.filter(
            Condition::any().add(comment::Column::CreatedAt.gt(at)).add(
                Condition::all()
                    .add(comment::Column::CreatedAt.eq(at))
                    .add(comment::Column::Id.gt(id)),
            ),
        );
    }
    let rows = query
        .order_by_asc(comment::Column::CreatedAt)
        .order_by_asc(comment::Column::Id)
        .limit(u64::from(limit) + 1)
        .all(db.reader())
        .await
        .context("listing replies")?;
    let page = Page::from_rows(rows, limit, after.is_some(), |c| {
        (c.created_at.timestamp_millis(), c.id)
    });
    dtos(db, actor.user_id(), page).await
}
