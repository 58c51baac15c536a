//! Sending, removing and reading live comments.
//!
//! Everything a comment must pass is checked before it goes anywhere: the room is LIVE and
//! visible, the author is neither banned nor muted, the text is one line of at most
//! `comment_max_chars`, it holds no blocked keyword, and the author is within their rate. Then
//! the node's [`CommentWriter`] stores it and sends it on to every node's viewers.
//!
//! The writer commits in groups: while one transaction is being written, the comments that
//! arrive queue up and go in the next one together. A quiet room pays one short transaction
//! per comment; a busy one pays one per batch, and each batch travels as one hub message per
//! room.

use std::collections::{BTreeMap, HashSet};

use kanjian_contracts::live::{CommentRole, LiveCommentDto};
use kanjian_db::Db;
use kanjian_db::rate_limit::{self, Limit};
use kanjian_events::RealtimeHub;
use kanjian_kernel::ids::{LiveCommentId, LiveRoomId, UserId};
use kanjian_kernel::{Actor, Context, Error, Page, PageRequest, Result, UserErrorCode};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

use super::moderation::standing;
use super::{ChatMessage, live_room_for, publish};
use crate::Deps;
use crate::entity::comment;
use crate::rooms::visible_room;

/// Most comments one transaction stores.
const MAX_GROUP: usize = 256;

#[tracing::instrument(skip_all, fields(room_id = %id, user_id = tracing::field::Empty))]
pub(crate) async fn send_comment(deps: &Deps, actor: &Actor, id: LiveRoomId, raw: &str) -> Result<LiveCommentDto> {
    let user = actor.require_user()?;
    tracing::Span::current().record("user_id", user.0);
    let rules = kanjian_kernel::text::TextRules { max: deps.config.comment_max_chars, ..super::COMMENT };
    let text = kanjian_kernel::text::parse(raw, &rules).map_err(|e| Error::User(vec![e]))?;
    let (row, standing) = live_room_for(deps, actor, id, "Comments are open").await?;
    if let Some(until) = standing.muted {
        let message = match until {
            Some(until) => format!("You are muted in this channel's lives until {}.", until.to_rfc3339()),
            None => "You are muted in this channel's lives until the creator lifts it.".to_owned(),
        };
        return Err(Error::user("", UserErrorCode::Muted, message));
    }
    if !standing.may_moderate() && deps.chat.keywords.filter(deps, row.channel_id).await?.blocks(&text) {
        return Err(Error::user(
            "text",
            UserErrorCode::ContentRejected,
            "This comment contains a word the creator does not allow in their lives.",
        ));
    }
    rate_limit::check(&deps.db, &[Limit::per_user("live_comment", user.0, &deps.config.comments_per_user)]).await?;
    let author_name = deps
        .identity
        .users_by_ids(actor, &[user])
        .await?
        .pop()
        .map(|u| u.display_name)
        .ok_or_else(|| Error::internal("the author of a comment has no account"))?;
    let comment = NewComment { room_id: id, channel_id: row.channel_id, author_id: user, author_name, role: standing.role, text };
    let sent = deps.chat.writer(deps).submit(comment).await?;
    tracing::debug!(comment_id = sent.id.0, "live comment sent");
    Ok(sent)
}

#[tracing::instrument(skip_all, fields(comment_id = %id))]
pub(crate) async fn delete_comment(deps: &Deps, actor: &Actor, id: LiveCommentId) -> Result<()> {
    let user = actor.require_user()?;
    let found = comment::Entity::find_by_id(id.0).one(deps.db.reader()).await.context("loading a live comment")?;
    let Some(found) = found else { return Err(Error::not_found("live comment")) };
    let room = visible_room(deps, actor, LiveRoomId(found.room_id)).await.map_err(|_| Error::not_found("live comment"))?;
    if found.author_id != user.0 && !standing(deps, room.channel_id, room.owner_id, user).await?.may_moderate() {
        return Err(Error::forbidden("only its author, the creator and moderators may remove a comment"));
    }
    let removed = comment::Entity::update_many()
        .col_expr(comment::Column::DeletedAt, Expr::value(deps.db.now()))
        .col_expr(comment::Column::DeletedBy, Expr::value(user.0))
        .filter(comment::Column::Id.eq(id.0))
        .filter(comment::Column::DeletedAt.is_null())
        .exec(deps.db.writer())
        .await
        .context("removing a live comment")?
        .rows_affected;
    if removed > 0 {
        publish(&*deps.hub, LiveRoomId(found.room_id), &ChatMessage::Deleted { ids: vec![id] }).await;
        tracing::info!(by_author = found.author_id == user.0, "live comment removed");
    }
    Ok(())
}

pub(crate) async fn comments(deps: &Deps, actor: &Actor, id: LiveRoomId, page: PageRequest) -> Result<Page<LiveCommentDto>> {
    visible_room(deps, actor, id).await?;
    let limit = page.limit();
    let before = page.after_key::<i64>()?;
    let mut query = comment::Entity::find().filter(comment::Column::RoomId.eq(id.0)).filter(comment::Column::DeletedAt.is_null());
    if let Some(before) = before {
        query = query.filter(comment::Column::Id.lt(before));
    }
    let rows = query
        .order_by_desc(comment::Column::Id)
        .limit(u64::from(limit) + 1)
        .all(deps.db.reader())
        .await
        .context("loading live comments")?;
    let hidden: HashSet<UserId> = match actor.user_id() {
        Some(me) => {
            let mut authors: Vec<UserId> = rows.iter().map(|r| UserId(r.author_id)).filter(|&a| a != me).collect();
            authors.sort();
            authors.dedup();
            if authors.is_empty() { HashSet::new() } else { deps.blocks.blocked_among(me, &authors).await?.into_iter().collect() }
        }
        None => HashSet::new(),
    };
    let mut page = Page::from_rows(rows, limit, before.is_some(), |r| r.id);
    page.items.retain(|(_, r)| !hidden.contains(&UserId(r.author_id)));
    let items = page.items.into_iter().map(|(cursor, row)| Ok((cursor, to_dto(row)?))).collect::<Result<_>>()?;
    Ok(Page { items, has_next_page: page.has_next_page, has_previous_page: page.has_previous_page })
}

fn to_dto(row: comment::Model) -> Result<LiveCommentDto> {
    Ok(LiveCommentDto {
        id: LiveCommentId(row.id),
        room_id: LiveRoomId(row.room_id),
        author_id: UserId(row.author_id),
        role: CommentRole::parse(&row.role).ok_or_else(|| Error::internal(format!("live comment {} has role {}", row.id, row.role)))?,
        author_name: row.author_name,
        text: row.text,
        created_at: row.created_at,
    })
}

/// A comment that passed every check, on its way to the writer.
pub(crate) struct NewComment {
    pub room_id: LiveRoomId,
    pub channel_id: i64,
    pub author_id: UserId,
    pub author_name: String,
    pub role: CommentRole,
    pub text: String,
}

struct Pending {
    comment: NewComment,
    reply: oneshot::Sender<Result<LiveCommentDto>>,
}

/// The node's comment writer (see the module docs). Its task ends when the last sender goes.
#[derive(Clone)]
pub(crate) struct CommentWriter {
    queue: mpsc::Sender<Pending>,
}

impl CommentWriter {
    pub(crate) fn start(db: Db, hub: Arc<dyn RealtimeHub>) -> Self {
        let (queue, mut pending) = mpsc::channel::<Pending>(4 * MAX_GROUP);
        tokio::spawn(async move {
            while let Some(first) = pending.recv().await {
                let mut group = vec![first];
                while group.len() < MAX_GROUP {
                    match pending.try_recv() {
                        Ok(next) => group.push(next),
                        Err(_) => break,
                    }
                }
                write_group(&db, &*hub, group).await;
            }
        });
        Self { queue }
    }

    /// Stores the comment (with others that arrived meanwhile) and sends it to every node.
    pub(crate) async fn submit(&self, comment: NewComment) -> Result<LiveCommentDto> {
        let (reply, answer) = oneshot::channel();
        self.queue.send(Pending { comment, reply }).await.map_err(|_| Error::internal("the comment writer stopped"))?;
        answer.await.map_err(|_| Error::internal("the comment writer dropped a comment"))?
    }
}

#[tracing::instrument(skip_all, fields(comments = group.len()))]
async fn write_group(db: &Db, hub: &dyn RealtimeHub, group: Vec<Pending>) {
    let now = db.now();
    let (comments, replies): (Vec<NewComment>, Vec<_>) = group.into_iter().map(|p| (p.comment, p.reply)).unzip();
    let stored = store(db, &comments, now).await;
    let stored = match stored {
        Ok(stored) => stored,
        Err(e) => {
            tracing::error!(error = %e, "storing live comments failed");
            for reply in replies {
                let _ = reply.send(Err(Error::internal("storing the comment failed")));
            }
            return;
        }
    };
    let mut by_room: BTreeMap<LiveRoomId, Vec<LiveCommentDto>> = BTreeMap::new();
    for dto in &stored {
        by_room.entry(dto.room_id).or_default().push(dto.clone());
    }
    for (room, comments) in by_room {
        publish(hub, room, &ChatMessage::Comments { comments }).await;
    }
    for (reply, dto) in replies.into_iter().zip(stored) {
        let _ = reply.send(Ok(dto));
    }
}

/// One transaction for the whole group. Ids come back in the order the rows were given (one
/// statement numbers them in order on both databases), so they are sorted and paired up.
async fn store(db: &Db, comments: &[NewComment], now: kanjian_kernel::Timestamp) -> Result<Vec<LiveCommentDto>> {
    let models = comments.iter().map(|c| comment::ActiveModel {
        room_id: Set(c.room_id.0),
        channel_id: Set(c.channel_id),
        author_id: Set(c.author_id.0),
        author_name: Set(c.author_name.clone()),
        role: Set(c.role.as_str().to_owned()),
        text: Set(c.text.clone()),
        created_at: Set(now),
        deleted_at: Set(None),
        deleted_by: Set(None),
        ..Default::default()
    });
    let mut rows = comment::Entity::insert_many(models)
        .exec_with_returning(db.writer())
        .await
        .context("storing live comments")?;
    if rows.len() != comments.len() {
        return Err(Error::internal(format!("stored {} of {} live comments", rows.len(), comments.len())));
    }
    rows.sort_by_key(|r| r.id);
    rows.into_iter().map(to_dto).collect()
}
