//! Rooms: scheduling, editing, cancelling and ending them, their stream keys, and reading them
//! as the actor may see them. Every state change is a conditional write (`… WHERE state = …`),
//! so two nodes racing on one room cannot both win, and each emits its event in the same
//! transaction.

use std::collections::HashSet;

use kanjian_contracts::live::{
    LiveRoomCancelled, LiveRoomDto, LiveRoomEnded, LiveRoomEventDto, RoomEvent, LiveRoomScheduled, LiveRoomState, LiveRoomUpdated,
    MAX_UPCOMING, ScheduleLiveInput, StreamCredentialsDto, UpdateLiveInput,
};
use kanjian_kernel::ids::{ChannelId, LiveRoomId, UserId};
use kanjian_kernel::{Actor, Context, Error, Result, UserErrorCode, Validation};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};

use crate::Deps;
use crate::domain::{self, StreamKey};
use crate::entity::{channel, member, reservation, room};

pub(crate) fn state_of(row: &room::Model) -> Result<LiveRoomState> {
    LiveRoomState::parse(&row.state).ok_or_else(|| Error::internal(format!("room {} has unknown state {}", row.id, row.state)))
}

pub(crate) async fn find_room<C: ConnectionTrait>(conn: &C, id: LiveRoomId) -> Result<Option<room::Model>> {
    room::Entity::find_by_id(id.0).one(conn).await.context("loading a live room")
}

/// Owners, among `owners`, whose rooms the actor may not see: those in a block with the actor.
pub(crate) async fn hidden_owners(deps: &Deps, actor: &Actor, owners: impl IntoIterator<Item = i64>) -> Result<HashSet<i64>> {
    let Some(viewer) = actor.user_id() else {
        return Ok(HashSet::new());
    };
    let mut others: Vec<UserId> = owners.into_iter().filter(|&o| o != viewer.0).map(UserId).collect();
    others.sort();
    others.dedup();
    if others.is_empty() {
        return Ok(HashSet::new());
    }
    Ok(deps.blocks.blocked_among(viewer, &others).await?.into_iter().map(|u| u.0).collect())
}

/// The room, if the actor may see it; `NOT_FOUND` alike for a missing room and a hidden one.
pub(crate) async fn visible_room(deps: &Deps, actor: &Actor, id: LiveRoomId) -> Result<room::Model> {
    let row = find_room(deps.db.reader(), id).await?.ok_or_else(|| Error::not_found("live room"))?;
    if hidden_owners(deps, actor, [row.owner_id]).await?.contains(&row.owner_id) {
        return Err(Error::not_found("live room"));
    }
    Ok(row)
}

/// The room, when the actor owns it: `NOT_FOUND` when they may not see it, `FORBIDDEN` when
/// they see it but it is someone else's.
pub(crate) async fn owned_room(deps: &Deps, actor: &Actor, id: LiveRoomId) -> Result<room::Model> {
    let user = actor.require_user()?;
    let row = visible_room(deps, actor, id).await?;
    if row.owner_id != user.0 {
        return Err(Error::forbidden("only the room's creator may do this"));
    }
    Ok(row)
}

/// DTOs of rows the actor may see, with whether the actor reserved each.
pub(crate) async fn dtos(deps: &Deps, actor: &Actor, rows: Vec<room::Model>) -> Result<Vec<LiveRoomDto>> {
    let reserved: HashSet<i64> = match actor.user_id() {
        Some(user) if !rows.is_empty() => reservation::Entity::find()
            .filter(reservation::Column::UserId.eq(user.0))
            .filter(reservation::Column::RoomId.is_in(rows.iter().map(|r| r.id)))
            .filter(reservation::Column::State.eq(domain::ReservationState::Waiting.as_str()))
            .all(deps.db.reader())
            .await
            .context("loading the actor's reservations")?
            .into_iter()
            .map(|r| r.room_id)
            .collect(),
        _ => HashSet::new(),
    };
    let moderated: HashSet<i64> = match actor.user_id() {
        Some(user) if !rows.is_empty() => member::Entity::find()
            .filter(member::Column::UserId.eq(user.0))
            .filter(member::Column::IsModerator.eq(true))
            .filter(member::Column::ChannelId.is_in(rows.iter().map(|r| r.channel_id)))
            .all(deps.db.reader())
            .await
            .context("loading the actor's moderated channels")?
            .into_iter()
            .map(|m| m.channel_id)
            .collect(),
        _ => HashSet::new(),
    };
    rows.into_iter()
        .map(|row| {
            let counts = crate::chat::feed::counts_of(&row);
            Ok(LiveRoomDto {
                id: LiveRoomId(row.id),
                channel_id: ChannelId(row.channel_id),
                owner_id: UserId(row.owner_id),
                state: state_of(&row)?,
                actor_reserved: reserved.contains(&row.id),
                actor_can_moderate: actor.user_id() == Some(UserId(row.owner_id)) || moderated.contains(&row.channel_id),
                title: row.title,
                description: row.description,
                cover_url: row.cover_url,
                planned_start_at: row.planned_start_at,
                started_at: row.started_at,
                ended_at: row.ended_at,
                cancelled_at: row.cancelled_at,
                reservation_count: row.reservation_count,
                replay_video_id: row.replay_video_id.map(kanjian_kernel::ids::VideoId),
                playlist_url: row.started_at.is_some().then(|| format!("/live/rooms/{}/index.m3u8", row.id)),
                counts,
                pinned_message: row
                    .pinned_text
                    .zip(row.pinned_at)
                    .map(|(text, pinned_at)| kanjian_contracts::live::PinnedMessageDto { text, pinned_at }),
                pinned_product_id: row.pinned_product_id.map(kanjian_kernel::ids::ProductId),
                pinned_product_at: row.pinned_product_id.and(row.pinned_product_at),
                created_at: row.created_at,
                updated_at: row.updated_at,
                version: row.version,
            })
        })
        .collect()
}

pub(crate) async fn one_dto(deps: &Deps, actor: &Actor, row: room::Model) -> Result<LiveRoomDto> {
    dtos(deps, actor, vec![row]).await?.pop().ok_or_else(|| Error::internal("a room vanished while mapping it"))
}

/// Reloads a room inside the transaction that just changed it (for its new version).
async fn reload<C: ConnectionTrait>(conn: &C, id: i64) -> Result<room::Model> {
    find_room(conn, LiveRoomId(id)).await?.ok_or_else(|| Error::internal("a room vanished inside its transaction"))
}

fn not_in_state(what: &str, state: &str) -> Error {
    Error::user("", UserErrorCode::InvalidState, format!("{what}; this room is {state}"))
}

#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, room_id = tracing::field::Empty))]
pub(crate) async fn schedule_live(deps: &Deps, actor: &Actor, input: ScheduleLiveInput) -> Result<LiveRoomDto> {
    let user = actor.require_user()?;
    tracing::Span::current().record("user_id", user.0);
    let now = deps.db.now();
    let mut validation = Validation::new();
    let title = validation.check(domain::parse_title(&input.title));
    let description = validation.check(domain::parse_description(input.description.as_deref().unwrap_or("")));
    let cover_url = match input.cover_url.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(raw) => validation.check(domain::parse_cover_url(raw)).map(Some),
        None => Some(None),
    };
    let planned_start_at = match input.planned_start_at {
        Some(at) => validation.check(domain::parse_planned_start(at, now)).map(Some),
        None => Some(None),
    };
    validation.finish()?;
    let (Some(title), Some(description), Some(cover_url), Some(planned_start_at)) =
        (title, description, cover_url, planned_start_at)
    else {
        return Err(Error::internal("validation passed without values"));
    };
    let channel = deps.identity.channel_of_user(user).await?.ok_or_else(|| {
        Error::user("", UserErrorCode::InvalidState, "Open a channel first: live rooms belong to channels.")
    })?;

    let txn = deps.db.begin().await.context("starting to schedule a live")?;
    lock_channel(&txn, channel.id, user, now).await?;
    if planned_start_at.is_some() {
        let upcoming = room::Entity::find()
            .filter(room::Column::ChannelId.eq(channel.id.0))
            .filter(room::Column::State.eq(LiveRoomState::Scheduled.as_str()))
            .filter(room::Column::PlannedStartAt.is_not_null())
            .count(&txn)
            .await
            .context("counting a channel's upcoming lives")?;
        if upcoming >= MAX_UPCOMING as u64 {
            return Err(Error::user(
                "",
                UserErrorCode::LimitReached,
                format!("A channel can announce at most {MAX_UPCOMING} lives; cancel one first."),
            ));
        }
    }
    // The key names the room, so the row is written first with a placeholder key no client can
    // send (it has no `_`), then given its key.
    let row = room::ActiveModel {
        channel_id: Set(channel.id.0),
        owner_id: Set(user.0),
        title: Set(title.clone()),
        description: Set(description),
        cover_url: Set(cover_url),
        state: Set(LiveRoomState::Scheduled.as_str().to_owned()),
        planned_start_at: Set(planned_start_at),
        started_at: Set(None),
        ended_at: Set(None),
        cancelled_at: Set(None),
        stream_key: Set(format!("pending-{}", uuid::Uuid::new_v4().simple())),
        key_rotated_at: Set(now),
        reservation_count: Set(0),
        publisher_session: Set(None),
        publisher_seen_at: Set(None),
        grace_until: Set(None),
        replay_video_id: Set(None),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .context("creating a live room")?;
    tracing::Span::current().record("room_id", row.id);
    let mut active: room::ActiveModel = row.into();
    active.stream_key = Set(StreamKey::generate(LiveRoomId(*active.id.as_ref())));
    let row = active.update(&txn).await.context("giving a live room its stream key")?;
    deps.outbox
        .enqueue(
            &txn,
            &LiveRoomScheduled {
                room_id: LiveRoomId(row.id),
                version: row.version,
                channel_id: channel.id,
                owner_id: user,
                title,
                planned_start_at,
            },
        )
        .await?;
    txn.commit().await.context("committing a new live room")?;
    deps.outbox.notify();
    tracing::info!("live scheduled");
    one_dto(deps, actor, row).await
}

/// Makes sure the channel has its row, and locks it for the rest of the transaction (the
/// update takes PostgreSQL's row lock; SQLite has one writer anyway), so two rooms scheduled at
/// once cannot both pass the limit.
pub(crate) async fn lock_channel<C: ConnectionTrait>(conn: &C, channel_id: ChannelId, owner: UserId, now: kanjian_kernel::Timestamp) -> Result<()> {
    channel::Entity::insert(channel::ActiveModel {
        channel_id: Set(channel_id.0),
        owner_id: Set(owner.0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .on_conflict_do_nothing()
    .exec_without_returning(conn)
    .await
    .context("adding a live channel")?;
    channel::Entity::update_many()
        .col_expr(channel::Column::UpdatedAt, Expr::value(now))
        .filter(channel::Column::ChannelId.eq(channel_id.0))
        .exec(conn)
        .await
        .context("locking a live channel")?;
    Ok(())
}

#[tracing::instrument(skip_all, fields(room_id = %id))]
pub(crate) async fn update_live(deps: &Deps, actor: &Actor, id: LiveRoomId, input: UpdateLiveInput) -> Result<LiveRoomDto> {
    let row = owned_room(deps, actor, id).await?;
    let now = deps.db.now();
    let mut validation = Validation::new();
    let title = input.title.as_deref().map(|t| validation.check(domain::parse_title(t)));
    let description = input.description.as_deref().map(|d| validation.check(domain::parse_description(d)));
    let cover_url = input.cover_url.as_ref().map(|c| match c.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(raw) => validation.check(domain::parse_cover_url(raw)).map(Some),
        None => Some(None),
    });
    let planned = input.planned_start_at.map(|at| validation.check(domain::parse_planned_start(at, now)));
    validation.finish()?;

    let state = state_of(&row)?;
    if !matches!(state, LiveRoomState::Scheduled | LiveRoomState::Live) {
        return Err(not_in_state("Only an upcoming or live room can be edited", state.as_str()));
    }
    if planned.is_some() && state != LiveRoomState::Scheduled {
        return Err(Error::user(
            domain::PLANNED_START_FIELD,
            UserErrorCode::InvalidState,
            "The planned start can only be moved before the room goes live.",
        ));
    }
    let mut update = room::Entity::update_many()
        .col_expr(room::Column::Version, Expr::col(room::Column::Version).add(1))
        .col_expr(room::Column::UpdatedAt, Expr::value(now))
        .filter(room::Column::Id.eq(id.0))
        .filter(room::Column::State.eq(state.as_str()));
    if let Some(Some(title)) = title {
        update = update.col_expr(room::Column::Title, Expr::value(title));
    }
    if let Some(Some(description)) = description {
        update = update.col_expr(room::Column::Description, Expr::value(description));
    }
    if let Some(Some(cover)) = cover_url {
        update = update.col_expr(room::Column::CoverUrl, Expr::value(cover));
    }
    if let Some(Some(planned)) = planned {
        update = update.col_expr(room::Column::PlannedStartAt, Expr::value(planned));
    }
    let txn = deps.db.begin().await.context("starting to edit a live")?;
    let changed = update.exec(&txn).await.context("editing a live room")?.rows_affected;
    if changed == 0 {
        // The room changed state meanwhile (it went live, or ended): say what it is now.
        let now_state = find_room(&txn, id).await?.map(|r| r.state).unwrap_or_default();
        return Err(not_in_state("The room changed while it was being edited", &now_state));
    }
    let row = reload(&txn, id.0).await?;
    deps.outbox
        .enqueue(
            &txn,
            &LiveRoomUpdated {
                room_id: id,
                version: row.version,
                channel_id: ChannelId(row.channel_id),
                owner_id: UserId(row.owner_id),
                title: row.title.clone(),
                planned_start_at: row.planned_start_at,
                state: state_of(&row)?,
            },
        )
        .await?;
    txn.commit().await.context("committing a live edit")?;
    deps.outbox.notify();
    announce(deps, id, row.version).await;
    tracing::info!("live edited");
    one_dto(deps, actor, row).await
}

#[tracing::instrument(skip_all, fields(room_id = %id))]
pub(crate) async fn cancel_live(deps: &Deps, actor: &Actor, id: LiveRoomId) -> Result<LiveRoomDto> {
    let row = owned_room(deps, actor, id).await?;
    let state = state_of(&row)?;
    if state == LiveRoomState::Cancelled {
        return one_dto(deps, actor, row).await;
    }
    if state != LiveRoomState::Scheduled {
        return Err(not_in_state("Only an upcoming live can be cancelled (end a live one instead)", state.as_str()));
    }
    let now = deps.db.now();
    let txn = deps.db.begin().await.context("starting to cancel a live")?;
    let changed = room::Entity::update_many()
        .col_expr(room::Column::State, Expr::value(LiveRoomState::Cancelled.as_str()))
        .col_expr(room::Column::CancelledAt, Expr::value(now))
        .col_expr(room::Column::Version, Expr::col(room::Column::Version).add(1))
        .col_expr(room::Column::UpdatedAt, Expr::value(now))
        .filter(room::Column::Id.eq(id.0))
        .filter(room::Column::State.eq(LiveRoomState::Scheduled.as_str()))
        .exec(&txn)
        .await
        .context("cancelling a live room")?
        .rows_affected;
    if changed == 0 {
        let now_state = find_room(&txn, id).await?.map(|r| r.state).unwrap_or_default();
        return Err(not_in_state("The room went live before it could be cancelled", &now_state));
    }
    let row = reload(&txn, id.0).await?;
    deps.outbox
        .enqueue(
            &txn,
            &LiveRoomCancelled {
                room_id: id,
                version: row.version,
                channel_id: ChannelId(row.channel_id),
                owner_id: UserId(row.owner_id),
                title: row.title.clone(),
                cancelled_at: now,
            },
        )
        .await?;
    txn.commit().await.context("committing a cancelled live")?;
    deps.outbox.notify();
    announce(deps, id, row.version).await;
    tracing::info!("live cancelled");
    one_dto(deps, actor, row).await
}

#[tracing::instrument(skip_all, fields(room_id = %id))]
pub(crate) async fn end_live(deps: &Deps, actor: &Actor, id: LiveRoomId) -> Result<LiveRoomDto> {
    let row = owned_room(deps, actor, id).await?;
    match state_of(&row)? {
        LiveRoomState::Ended => one_dto(deps, actor, row).await,
        LiveRoomState::Live => {
            let row = end_room(deps, id).await?.unwrap_or(row);
            // The publisher on this node goes now; one on another node at its next segment.
            deps.on_air.close(id, "the creator ended this live");
            one_dto(deps, actor, row).await
        }
        other => Err(not_in_state("Only a live room can be ended (cancel an upcoming one instead)", other.as_str())),
    }
}

/// LIVE → ENDED, by its creator or when the reconnect grace ran out. `None` when the room was
/// not LIVE any more (another node ended it first).
pub(crate) async fn end_room(deps: &Deps, id: LiveRoomId) -> Result<Option<room::Model>> {
    let now = deps.db.now();
    let txn = deps.db.begin().await.context("starting to end a live")?;
    let changed = room::Entity::update_many()
        .col_expr(room::Column::State, Expr::value(LiveRoomState::Ended.as_str()))
        .col_expr(room::Column::EndedAt, Expr::value(now))
        .col_expr(room::Column::PublisherSession, Expr::value(Option::<String>::None))
        .col_expr(room::Column::GraceUntil, Expr::value(Option::<kanjian_kernel::Timestamp>::None))
        // A product is pinned while LIVE only (讲解中 is over with the live).
        .col_expr(room::Column::PinnedProductId, Expr::value(Option::<i64>::None))
        .col_expr(room::Column::PinnedProductAt, Expr::value(Option::<kanjian_kernel::Timestamp>::None))
        .col_expr(room::Column::Version, Expr::col(room::Column::Version).add(1))
        .col_expr(room::Column::UpdatedAt, Expr::value(now))
        .filter(room::Column::Id.eq(id.0))
        .filter(room::Column::State.eq(LiveRoomState::Live.as_str()))
        .exec(&txn)
        .await
        .context("ending a live room")?
        .rows_affected;
    if changed == 0 {
        return Ok(None);
    }
    let row = reload(&txn, id.0).await?;
    deps.outbox
        .enqueue(
            &txn,
            &LiveRoomEnded {
                room_id: id,
                version: row.version,
                channel_id: ChannelId(row.channel_id),
                owner_id: UserId(row.owner_id),
                started_at: row.started_at.unwrap_or(now),
                ended_at: now,
            },
        )
        .await?;
    txn.commit().await.context("committing an ended live")?;
    deps.outbox.notify();
    announce(deps, id, row.version).await;
    tracing::info!(room_id = id.0, "live ended");
    Ok(Some(row))
}

pub(crate) async fn stream_credentials(deps: &Deps, actor: &Actor, id: LiveRoomId) -> Result<StreamCredentialsDto> {
    let row = owned_room(deps, actor, id).await?;
    Ok(credentials(deps, row))
}

fn credentials(deps: &Deps, row: room::Model) -> StreamCredentialsDto {
    StreamCredentialsDto {
        room_id: LiveRoomId(row.id),
        server_url: deps.config.rtmp_server_url(deps.ingest_addr.get().copied()),
        stream_key: row.stream_key,
        rotated_at: row.key_rotated_at,
    }
}

#[tracing::instrument(skip_all, fields(room_id = %id))]
pub(crate) async fn rotate_stream_key(deps: &Deps, actor: &Actor, id: LiveRoomId) -> Result<StreamCredentialsDto> {
    let row = owned_room(deps, actor, id).await?;
    let state = state_of(&row)?;
    if !matches!(state, LiveRoomState::Scheduled | LiveRoomState::Live) {
        return Err(not_in_state("Only an upcoming or live room has a stream key", state.as_str()));
    }
    let now = deps.db.now();
    let mut active: room::ActiveModel = row.into();
    active.stream_key = Set(StreamKey::generate(id));
    active.key_rotated_at = Set(now);
    let row = active.update(deps.db.writer()).await.context("rotating a stream key")?;
    tracing::info!("stream key rotated");
    Ok(credentials(deps, row))
}

pub(crate) async fn rooms_by_ids(deps: &Deps, actor: &Actor, ids: &[LiveRoomId]) -> Result<Vec<LiveRoomDto>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = room::Entity::find()
        .filter(room::Column::Id.is_in(ids.iter().map(|id| id.0)))
        .all(deps.db.reader())
        .await
        .context("loading live rooms by id")?;
    let hidden = hidden_owners(deps, actor, rows.iter().map(|r| r.owner_id)).await?;
    let mut rows: Vec<room::Model> = rows.into_iter().filter(|r| !hidden.contains(&r.owner_id)).collect();
    let order: Vec<i64> = ids.iter().map(|id| id.0).collect();
    rows.sort_by_key(|r| order.iter().position(|&id| id == r.id));
    dtos(deps, actor, rows).await
}

/// Rooms of a channel in one state, soonest planned first.
async fn channel_rooms(deps: &Deps, actor: &Actor, channel: ChannelId, state: LiveRoomState, limit: u64) -> Result<Vec<LiveRoomDto>> {
    use sea_orm::QuerySelect;
    let mut query = room::Entity::find()
        .filter(room::Column::ChannelId.eq(channel.0))
        .filter(room::Column::State.eq(state.as_str()));
    if state == LiveRoomState::Scheduled {
        // Announced rooms only: one opened to go live at once has no time to show.
        query = query.filter(room::Column::PlannedStartAt.is_not_null());
    }
    let rows = query
        .order_by_asc(room::Column::PlannedStartAt)
        .order_by_asc(room::Column::Id)
        .limit(limit)
        .all(deps.db.reader())
        .await
        .context("loading a channel's live rooms")?;
    let hidden = hidden_owners(deps, actor, rows.iter().map(|r| r.owner_id)).await?;
    let rows = rows.into_iter().filter(|r| !hidden.contains(&r.owner_id)).collect();
    dtos(deps, actor, rows).await
}

pub(crate) async fn upcoming_lives(deps: &Deps, actor: &Actor, channel: ChannelId) -> Result<Vec<LiveRoomDto>> {
    channel_rooms(deps, actor, channel, LiveRoomState::Scheduled, MAX_UPCOMING as u64).await
}

pub(crate) async fn live_now(deps: &Deps, actor: &Actor, channel: ChannelId) -> Result<Option<LiveRoomDto>> {
    Ok(channel_rooms(deps, actor, channel, LiveRoomState::Live, 1).await?.pop())
}

fn room_topic(id: LiveRoomId) -> String {
    format!("live:room:{}", id.0)
}

/// Tells every node's watchers that the room changed (after the change committed). Ephemeral:
/// a watcher that misses it still has the stored room.
pub(crate) async fn announce(deps: &Deps, id: LiveRoomId, version: i64) {
    let message = serde_json::json!({ "kind": "changed", "version": version });
    if let Err(e) = deps.hub.publish(&room_topic(id), message).await {
        tracing::warn!(room_id = id.0, error = %e, "could not announce a room change");
    }
}

/// The room's events for one viewer (see `LiveApi::watch_room`): the room and its changes from
/// here, comments and counts from the node's feed of the room (`chat::feed`).
pub(crate) async fn watch_room(
    deps: std::sync::Arc<Deps>,
    actor: Actor,
    id: LiveRoomId,
) -> Result<futures::stream::BoxStream<'static, RoomEvent>> {
    use futures::StreamExt;
    use futures::stream;
    // Subscribed before the room is read, so no change falls between the two.
    let changes = deps.hub.subscribe(&room_topic(id)).await.map_err(|e| Error::Internal(e.context("watching a room")))?;
    let row = visible_room(&deps, &actor, id).await?;
    if let Some(user) = actor.user_id()
        && crate::chat::moderation::standing(&deps, row.channel_id, row.owner_id, user).await?.banned
    {
        return Err(crate::chat::moderation::removed());
    }
    let first = one_dto(&deps, &actor, row).await?;
    let over = |room: &LiveRoomDto| matches!(room.state, LiveRoomState::Ended | LiveRoomState::Cancelled);
    if over(&first) {
        return Ok(stream::once(std::future::ready(RoomEvent::own(LiveRoomEventDto::Changed(Box::new(first))))).boxed());
    }
    let me = actor.user_id();
    let hidden: HashSet<UserId> = match me {
        Some(me) => deps.blocks.blocked_with(me, HIDDEN_AUTHORS_MAX).await?.into_iter().collect(),
        None => HashSet::new(),
    };
    let feed = deps.chat.feeds.join(&deps, id).await?;
    let viewer = crate::chat::feed::Viewer::join(&deps, feed, id, me).await?;

    enum Step {
        Events(Vec<RoomEvent>),
        End,
    }
    // Each change is shown once, in version order; the stream ends after ENDED or CANCELLED,
    // when the actor may no longer see the room (a block), or when the hub closes.
    let room_changes = stream::unfold((changes, deps, actor, first.version, false), move |(mut changes, deps, actor, mut seen, done)| async move {
        if done {
            return None;
        }
        loop {
            changes.next().await?;
            // A failed read is retried at the next change (or after a moment): a passing
            // database error must not end a viewer's stream. No room means hidden (a block).
            let room = loop {
                // Boxed: this stream lives as long as the viewer, and an idle one need not hold
                // the read's state inline (2 KB a viewer).
                match Box::pin(rooms_by_ids(&deps, &actor, &[id])).await {
                    Ok(mut found) => break found.pop()?,
                    Err(e) => {
                        tracing::warn!(room_id = id.0, error = %e, "reading a changed room failed; trying again");
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    }
                }
            };
            if room.version <= seen {
                continue;
            }
            seen = room.version;
            let done = over(&room);
            return Some((room, (changes, deps, actor, seen, done)));
        }
    })
    .map(|room| Step::Events(vec![RoomEvent::own(LiveRoomEventDto::Changed(Box::new(room)))]))
    .chain(stream::once(std::future::ready(Step::End)));
    // The viewer (their place in the counts) lives as long as this stream.
    let chat = crate::chat::feed::viewer_events(viewer, me, hidden).flat_map(|(events, removed)| {
        let mut steps = vec![Step::Events(events)];
        if removed {
            steps.push(Step::End);
        }
        stream::iter(steps)
    });
    let rest = stream::select(room_changes, chat)
        .take_while(|step| std::future::ready(!matches!(step, Step::End)))
        .flat_map(|step| match step {
            Step::Events(events) => stream::iter(events),
            Step::End => stream::iter(Vec::new()),
        });
    Ok(stream::once(std::future::ready(RoomEvent::own(LiveRoomEventDto::Changed(Box::new(first))))).chain(rest).boxed())
}

/// Most people in a block with a viewer whose comments their stream hides (the newest blocks).
const HIDDEN_AUTHORS_MAX: u64 = 10_000;
