//! Who may do what in a channel's lives: its creator, the moderators (房管) the creator
//! appoints, and viewers, some of them muted (may watch, not comment) or banned (removed from
//! every live of the channel until lifted). And the channel's blocked keywords.
//!
//! Restrictions belong to the channel, not to one room, as on Channels and Douyin: a troll
//! banned today is still banned at the next live.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kanjian_contracts::live::{CommentRole, LiveRoomDto, RestrictedViewerDto, Restriction};
use kanjian_kernel::ids::{ChannelId, LiveRoomId, UserId};
use kanjian_kernel::{Actor, Context, Error, Result, Timestamp, UserErrorCode};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::keywords::{self, KeywordFilter};
use super::{ChatMessage, publish};
use crate::Deps;
use crate::entity::{channel, keyword, member, room};
use crate::rooms::{self, visible_room};

/// Most moderators a channel may appoint.
pub const MAX_MODERATORS: u64 = 20;
/// Longest mute with an end, in minutes (30 days); longer is "until lifted".
pub const MAX_MUTE_MINUTES: i64 = 30 * 24 * 60;

/// One person's standing in a channel's lives, now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Standing {
    pub role: CommentRole,
    pub banned: bool,
    /// Muted now: `Some(None)` until lifted, `Some(Some(t))` until `t`.
    pub muted: Option<Option<Timestamp>>,
}

impl Standing {
    pub fn may_moderate(self) -> bool {
        self.role.is_priority()
    }
}

pub(crate) async fn standing(deps: &Deps, channel_id: i64, owner_id: i64, user: UserId) -> Result<Standing> {
    if user.0 == owner_id {
        return Ok(Standing { role: CommentRole::Creator, banned: false, muted: None });
    }
    let row = member::Entity::find_by_id((channel_id, user.0))
        .one(deps.db.reader())
        .await
        .context("loading a live member")?;
    let now = deps.db.now();
    Ok(match row {
        None => Standing { role: CommentRole::Viewer, banned: false, muted: None },
        Some(m) => Standing {
            role: if m.is_moderator { CommentRole::Moderator } else { CommentRole::Viewer },
            banned: m.banned,
            muted: if m.muted_indefinitely {
                Some(None)
            } else {
                m.muted_until.filter(|&until| until > now).map(Some)
            },
        },
    })
}

/// The error a banned person gets for anything they try in the channel's lives.
pub(crate) fn removed() -> Error {
    Error::forbidden("you were removed from this channel's lives")
}

/// The room, when the actor may moderate it (its creator or a moderator of its channel).
pub(crate) async fn moderated_room(deps: &Deps, actor: &Actor, id: LiveRoomId) -> Result<(room::Model, Standing)> {
    let user = actor.require_user()?;
    let row = visible_room(deps, actor, id).await?;
    let standing = standing(deps, row.channel_id, row.owner_id, user).await?;
    if !standing.may_moderate() {
        return Err(Error::forbidden("only the creator and moderators may do this"));
    }
    Ok((row, standing))
}

/// The channel's owner, when the actor may moderate its lives.
async fn moderated_channel(deps: &Deps, actor: &Actor, channel: ChannelId) -> Result<i64> {
    let user = actor.require_user()?;
    let found = deps.identity.channels_by_ids(&[channel]).await?.pop().ok_or_else(|| Error::not_found("channel"))?;
    let owner = found.owner_id;
    if owner != user && !deps.blocks.blocked_among(user, &[owner]).await?.is_empty() {
        return Err(Error::not_found("channel"));
    }
    if !standing(deps, channel.0, owner.0, user).await?.may_moderate() {
        return Err(Error::forbidden("only the creator and moderators may do this"));
    }
    Ok(owner.0)
}

/// A person the actor names must exist (and be visible to them), or the answer is `NOT_FOUND`.
async fn existing_user(deps: &Deps, actor: &Actor, user: UserId) -> Result<()> {
    let me = actor.require_user()?;
    let exists = !deps.identity.users_by_ids(actor, &[user]).await?.is_empty();
    if !exists || (user != me && !deps.blocks.blocked_among(me, &[user]).await?.is_empty()) {
        return Err(Error::not_found("user"));
    }
    Ok(())
}

/// Writes a person's standing: their restrictions, and with `moderator` whether they moderate.
async fn upsert_member<C: ConnectionTrait>(conn: &C, model: member::ActiveModel, moderator: bool) -> std::result::Result<u64, sea_orm::DbErr> {
    let mut columns = vec![
        member::Column::MutedUntil,
        member::Column::MutedIndefinitely,
        member::Column::Banned,
        member::Column::RestrictedAt,
        member::Column::UpdatedAt,
    ];
    if moderator {
        columns.push(member::Column::IsModerator);
    }
    member::Entity::insert(model)
        .on_conflict(OnConflict::columns([member::Column::ChannelId, member::Column::UserId]).update_columns(columns).to_owned())
        .exec_without_returning(conn)
        .await
}

fn restricted_dto(m: &member::Model) -> RestrictedViewerDto {
    RestrictedViewerDto {
        user_id: UserId(m.user_id),
        muted_until: m.muted_until,
        muted_indefinitely: m.muted_indefinitely,
        banned: m.banned,
        since: m.restricted_at.unwrap_or(m.updated_at),
    }
}

#[tracing::instrument(skip_all, fields(room_id = %id, user_id = %target))]
pub(crate) async fn restrict_viewer(
    deps: &Deps,
    actor: &Actor,
    id: LiveRoomId,
    target: UserId,
    restriction: Restriction,
) -> Result<RestrictedViewerDto> {
    let (row, _) = moderated_room(deps, actor, id).await?;
    if actor.user_id() == Some(target) {
        return Err(Error::user("userId", UserErrorCode::SelfTarget, "You cannot restrict yourself."));
    }
    existing_user(deps, actor, target).await?;
    let theirs = standing(deps, row.channel_id, row.owner_id, target).await?;
    if theirs.may_moderate() {
        return Err(Error::user(
            "userId",
            UserErrorCode::InvalidState,
            "The creator and moderators cannot be restricted; remove the moderator first.",
        ));
    }
    let now = deps.db.now();
    let (muted_until, muted_indefinitely, banned) = match restriction {
        Restriction::Mute { minutes: Some(minutes) } => {
            if !(1..=MAX_MUTE_MINUTES).contains(&minutes) {
                return Err(Error::user(
                    "durationMinutes",
                    UserErrorCode::Invalid,
                    format!("A mute lasts 1 to {MAX_MUTE_MINUTES} minutes, or leave the duration out to mute until lifted."),
                ));
            }
            (Some(now + chrono::Duration::minutes(minutes)), false, false)
        }
        Restriction::Mute { minutes: None } => (None, true, false),
        Restriction::Ban => (None, false, true),
    };
    let model = member::ActiveModel {
        channel_id: Set(row.channel_id),
        user_id: Set(target.0),
        is_moderator: Set(false),
        muted_until: Set(muted_until),
        muted_indefinitely: Set(muted_indefinitely),
        banned: Set(banned),
        restricted_at: Set(Some(now)),
        created_at: Set(now),
        updated_at: Set(now),
    };
    upsert_member(deps.db.writer(), model, false).await.context("restricting a live viewer")?;
    if banned {
        // Their open streams end on every node.
        publish(&*deps.hub, id, &ChatMessage::Removed { user_id: target }).await;
    }
    tracing::info!(banned, muted_indefinitely, ?muted_until, "live viewer restricted");
    let m = member::Entity::find_by_id((row.channel_id, target.0))
        .one(deps.db.writer())
        .await
        .context("reloading a live member")?
        .ok_or_else(|| Error::internal("a live member vanished"))?;
    Ok(restricted_dto(&m))
}

#[tracing::instrument(skip_all, fields(room_id = %id, user_id = %target))]
pub(crate) async fn lift_restriction(deps: &Deps, actor: &Actor, id: LiveRoomId, target: UserId) -> Result<()> {
    let (row, _) = moderated_room(deps, actor, id).await?;
    member::Entity::update_many()
        .col_expr(member::Column::MutedUntil, Expr::value(Option::<Timestamp>::None))
        .col_expr(member::Column::MutedIndefinitely, Expr::value(false))
        .col_expr(member::Column::Banned, Expr::value(false))
        .col_expr(member::Column::RestrictedAt, Expr::value(Option::<Timestamp>::None))
        .col_expr(member::Column::UpdatedAt, Expr::value(deps.db.now()))
        .filter(member::Column::ChannelId.eq(row.channel_id))
        .filter(member::Column::UserId.eq(target.0))
        .exec(deps.db.writer())
        .await
        .context("lifting a live restriction")?;
    tracing::info!("live restriction lifted");
    Ok(())
}

pub(crate) async fn restricted_viewers(deps: &Deps, actor: &Actor, id: LiveRoomId) -> Result<Vec<RestrictedViewerDto>> {
    let (row, _) = moderated_room(deps, actor, id).await?;
    let now = deps.db.now();
    let rows = member::Entity::find()
        .filter(member::Column::ChannelId.eq(row.channel_id))
        .filter(
            member::Column::Banned
                .eq(true)
                .or(member::Column::MutedIndefinitely.eq(true))
                .or(member::Column::MutedUntil.gt(now)),
        )
        .order_by_desc(member::Column::RestrictedAt)
        .limit(500)
        .all(deps.db.reader())
        .await
        .context("listing restricted live viewers")?;
    Ok(rows.iter().map(restricted_dto).collect())
}

async fn own_channel(deps: &Deps, actor: &Actor) -> Result<(UserId, ChannelId)> {
    let user = actor.require_user()?;
    let channel = deps.identity.channel_of_user(user).await?.ok_or_else(|| {
        Error::user("", UserErrorCode::InvalidState, "Open a channel first: moderators help with a channel's lives.")
    })?;
    Ok((user, channel.id))
}

async fn moderator_ids<C: ConnectionTrait>(conn: &C, channel: ChannelId) -> Result<Vec<UserId>> {
    Ok(member::Entity::find()
        .filter(member::Column::ChannelId.eq(channel.0))
        .filter(member::Column::IsModerator.eq(true))
        .order_by_asc(member::Column::CreatedAt)
        .order_by_asc(member::Column::UserId)
        .all(conn)
        .await
        .context("listing live moderators")?
        .into_iter()
        .map(|m| UserId(m.user_id))
        .collect())
}

#[tracing::instrument(skip_all, fields(user_id = %target))]
pub(crate) async fn add_moderator(deps: &Deps, actor: &Actor, target: UserId) -> Result<Vec<UserId>> {
    let (me, channel) = own_channel(deps, actor).await?;
    if me == target {
        return Err(Error::user("userId", UserErrorCode::SelfTarget, "You moderate your own lives already."));
    }
    existing_user(deps, actor, target).await?;
    let now = deps.db.now();
    let txn = deps.db.begin().await.context("starting to add a live moderator")?;
    rooms::lock_channel(&txn, channel, me, now).await?;
    let current = moderator_ids(&txn, channel).await?;
    if current.contains(&target) {
        return Ok(current);
    }
    if current.len() as u64 >= MAX_MODERATORS {
        return Err(Error::user(
            "",
            UserErrorCode::LimitReached,
            format!("A channel has at most {MAX_MODERATORS} moderators; remove one first."),
        ));
    }
    // A moderator is not restricted: appointing someone lifts what they had.
    let model = member::ActiveModel {
        channel_id: Set(channel.0),
        user_id: Set(target.0),
        is_moderator: Set(true),
        muted_until: Set(None),
        muted_indefinitely: Set(false),
        banned: Set(false),
        restricted_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    upsert_member(&txn, model, true).await.context("adding a live moderator")?;
    let moderators = moderator_ids(&txn, channel).await?;
    txn.commit().await.context("committing a live moderator")?;
    tracing::info!("live moderator added");
    Ok(moderators)
}

#[tracing::instrument(skip_all, fields(user_id = %target))]
pub(crate) async fn remove_moderator(deps: &Deps, actor: &Actor, target: UserId) -> Result<Vec<UserId>> {
    let (_, channel) = own_channel(deps, actor).await?;
    existing_user(deps, actor, target).await?;
    member::Entity::update_many()
        .col_expr(member::Column::IsModerator, Expr::value(false))
        .col_expr(member::Column::UpdatedAt, Expr::value(deps.db.now()))
        .filter(member::Column::ChannelId.eq(channel.0))
        .filter(member::Column::UserId.eq(target.0))
        .exec(deps.db.writer())
        .await
        .context("removing a live moderator")?;
    moderator_ids(deps.db.writer(), channel).await
}

pub(crate) async fn moderators(deps: &Deps, actor: &Actor) -> Result<Vec<UserId>> {
    let (_, channel) = own_channel(deps, actor).await?;
    moderator_ids(deps.db.reader(), channel).await
}

async fn keywords_of<C: ConnectionTrait>(conn: &C, channel: i64) -> Result<Vec<String>> {
    Ok(keyword::Entity::find()
        .filter(keyword::Column::ChannelId.eq(channel))
        .order_by_asc(keyword::Column::Keyword)
        .all(conn)
        .await
        .context("loading blocked keywords")?
        .into_iter()
        .map(|k| k.keyword)
        .collect())
}

#[tracing::instrument(skip_all, fields(channel_id = %channel))]
pub(crate) async fn set_blocked_keywords(deps: &Deps, actor: &Actor, channel: ChannelId, raw: &[String]) -> Result<Vec<String>> {
    let owner = moderated_channel(deps, actor, channel).await?;
    let keywords = keywords::parse_keywords(raw).map_err(|e| Error::User(vec![e]))?;
    let now = deps.db.now();
    let txn = deps.db.begin().await.context("starting to set blocked keywords")?;
    rooms::lock_channel(&txn, channel, UserId(owner), now).await?;
    keyword::Entity::delete_many()
        .filter(keyword::Column::ChannelId.eq(channel.0))
        .exec(&txn)
        .await
        .context("clearing blocked keywords")?;
    if !keywords.is_empty() {
        keyword::Entity::insert_many(
            keywords.iter().map(|k| keyword::ActiveModel { channel_id: Set(channel.0), keyword: Set(k.clone()) }),
        )
        .exec_without_returning(&txn)
        .await
        .context("storing blocked keywords")?;
    }
    channel::Entity::update_many()
        .col_expr(channel::Column::KeywordsVersion, Expr::col(channel::Column::KeywordsVersion).add(1))
        .filter(channel::Column::ChannelId.eq(channel.0))
        .exec(&txn)
        .await
        .context("moving the keywords version on")?;
    txn.commit().await.context("committing blocked keywords")?;
    tracing::info!(count = keywords.len(), "blocked keywords set");
    Ok(keywords)
}

pub(crate) async fn blocked_keywords(deps: &Deps, actor: &Actor, channel: ChannelId) -> Result<Vec<String>> {
    moderated_channel(deps, actor, channel).await?;
    keywords_of(deps.db.reader(), channel.0).await
}

/// Each node's compiled keyword filters, by channel, rebuilt when the channel's
/// `keywords_version` moves (so a change on one node applies on all at the next comment).
#[derive(Default)]
pub(crate) struct KeywordCache {
    filters: Mutex<HashMap<i64, (i64, Arc<KeywordFilter>)>>,
}

impl KeywordCache {
    pub(crate) async fn filter(&self, deps: &Deps, channel_id: i64) -> Result<Arc<KeywordFilter>> {
        let version = channel::Entity::find_by_id(channel_id)
            .one(deps.db.reader())
            .await
            .context("loading a live channel")?
            .map_or(0, |c| c.keywords_version);
        if let Some((cached, filter)) = self.lock().get(&channel_id)
            && *cached == version
        {
            return Ok(filter.clone());
        }
        let words = keywords_of(deps.db.reader(), channel_id).await?;
        let filter = Arc::new(KeywordFilter::new(&words).map_err(|e| Error::Internal(e.context("compiling keywords")))?);
        self.lock().insert(channel_id, (version, filter.clone()));
        Ok(filter)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, (i64, Arc<KeywordFilter>)>> {
        self.filters.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The creator or a moderator pins (or, with `None`, unpins) a message in a SCHEDULED or LIVE
/// room. Stored on the room; every viewer gets it at the next batch.
#[tracing::instrument(skip_all, fields(room_id = %id))]
pub(crate) async fn pin_message(deps: &Deps, actor: &Actor, id: LiveRoomId, text: Option<&str>) -> Result<LiveRoomDto> {
    let text = text
        .map(|t| kanjian_kernel::text::parse(t, &super::PINNED).map_err(|e| Error::User(vec![e])))
        .transpose()?;
    let (row, _) = moderated_room(deps, actor, id).await?;
    let state = rooms::state_of(&row)?;
    if !matches!(state, kanjian_contracts::live::LiveRoomState::Scheduled | kanjian_contracts::live::LiveRoomState::Live) {
        return Err(Error::user("", UserErrorCode::InvalidState, format!("Messages are pinned in upcoming and live rooms; this room is {}", state.as_str())));
    }
    let now = deps.db.now();
    let pinned_at = text.as_ref().map(|_| now);
    room::Entity::update_many()
        .col_expr(room::Column::PinnedText, Expr::value(text.clone()))
        .col_expr(room::Column::PinnedAt, Expr::value(pinned_at))
        .filter(room::Column::Id.eq(id.0))
        .exec(deps.db.writer())
        .await
        .context("pinning a live message")?;
    let pinned = text.zip(pinned_at).map(|(text, pinned_at)| kanjian_contracts::live::PinnedMessageDto { text, pinned_at });
    publish(&*deps.hub, id, &ChatMessage::Pinned { pinned }).await;
    tracing::info!("live message pinned");
    let row = rooms::find_room(deps.db.writer(), id).await?.ok_or_else(|| Error::not_found("live room"))?;
    rooms::one_dto(deps, actor, row).await
}
