//! Reservations (预约) and what becomes of them: when the room goes live within an hour of its
//! planned start, everyone who reserved is reminded in-app and by email; later, nobody is and the
//! reservations lapse; when the room is cancelled, everyone is told.
//!
//! The telling goes through the outbox: one handler, in pages, marks reservations settled and
//! enqueues their notices in the same transaction, so a crash at any point neither loses a
//! reminder nor sends one twice (notify also keeps each dedupe key once).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use kanjian_contracts::EventEnvelope;
use kanjian_contracts::IntegrationEvent;
use kanjian_contracts::live::{LiveReservationMade, LiveRoomCancelled, LiveRoomDto, LiveRoomStarted, LiveRoomState};
use kanjian_contracts::notify::{EmailRequested, EmailTemplate, NotificationRequested};
use kanjian_events::{EventHandler, HandlerError};
use kanjian_kernel::ids::{ChannelId, LiveRoomId, UserId, global_id};
use kanjian_kernel::{Actor, Context, Error, Result, UserErrorCode};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use crate::Deps;
use crate::domain::{self, ReservationState};
use crate::entity::{reservation, room};
use crate::rooms::{find_room, one_dto, state_of, visible_room};

#[tracing::instrument(skip_all, fields(room_id = %id))]
pub(crate) async fn reserve(deps: &Deps, actor: &Actor, id: LiveRoomId) -> Result<LiveRoomDto> {
    let user = actor.require_user()?;
    let row = visible_room(deps, actor, id).await?;
    let now = deps.db.now();
    check_reservable(&row, now)?;
    let txn = deps.db.begin().await.context("starting to reserve a live")?;
    let inserted = reservation::Entity::insert(reservation::ActiveModel {
        room_id: Set(id.0),
        user_id: Set(user.0),
        state: Set(ReservationState::Waiting.as_str().to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict_do_nothing()
    .exec_without_returning(&txn)
    .await
    .context("reserving a live")?;
    if matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0) {
        // Counted only while the room is still SCHEDULED: this write waits for (or beats) a
        // concurrent go-live on the same row, so no reservation is taken after its reminders went.
        let counted = room::Entity::update_many()
            .col_expr(room::Column::ReservationCount, Expr::col(room::Column::ReservationCount).add(1))
            .filter(room::Column::Id.eq(id.0))
            .filter(room::Column::State.eq(LiveRoomState::Scheduled.as_str()))
            .exec(&txn)
            .await
            .context("counting a reservation")?
            .rows_affected;
        if counted == 0 {
            txn.rollback().await.context("rolling back a late reservation")?;
            let now_row = find_room(deps.db.reader(), id).await?.ok_or_else(|| Error::not_found("live room"))?;
            check_reservable(&now_row, now)?;
            return Err(Error::internal("a reservable room refused its count"));
        }
        deps.outbox
            .enqueue(
                &txn,
                &LiveReservationMade {
                    room_id: id,
                    channel_id: ChannelId(row.channel_id),
                    user_id: user,
                    reserved_at: now,
                },
            )
            .await?;
        txn.commit().await.context("committing a reservation")?;
        deps.outbox.notify();
        tracing::info!("live reserved");
    } else {
        txn.rollback().await.context("ending a repeated reservation")?;
    }
    let row = find_room(deps.db.reader(), id).await?.ok_or_else(|| Error::not_found("live room"))?;
    one_dto(deps, actor, row).await
}

fn check_reservable(row: &room::Model, now: kanjian_kernel::Timestamp) -> Result<()> {
    let state = state_of(row)?;
    if state != LiveRoomState::Scheduled {
        return Err(Error::user(
            "",
            UserErrorCode::InvalidState,
            format!("Only an upcoming live can be reserved; this one is {}.", state.as_str()),
        ));
    }
    if !domain::reservable(row.planned_start_at, now) {
        return Err(Error::user(
            "",
            UserErrorCode::InvalidState,
            "This live's planned start has passed; it can no longer be reserved.",
        ));
    }
    Ok(())
}

#[tracing::instrument(skip_all, fields(room_id = %id))]
pub(crate) async fn unreserve(deps: &Deps, actor: &Actor, id: LiveRoomId) -> Result<LiveRoomDto> {
    let user = actor.require_user()?;
    visible_room(deps, actor, id).await?;
    let txn = deps.db.begin().await.context("starting to withdraw a reservation")?;
    let removed = reservation::Entity::delete_many()
        .filter(reservation::Column::RoomId.eq(id.0))
        .filter(reservation::Column::UserId.eq(user.0))
        .filter(reservation::Column::State.eq(ReservationState::Waiting.as_str()))
        .exec(&txn)
        .await
        .context("withdrawing a reservation")?
        .rows_affected;
    if removed > 0 {
        room::Entity::update_many()
            .col_expr(room::Column::ReservationCount, Expr::col(room::Column::ReservationCount).sub(1))
            .filter(room::Column::Id.eq(id.0))
            .exec(&txn)
            .await
            .context("uncounting a reservation")?;
    }
    txn.commit().await.context("committing a withdrawn reservation")?;
    let row = find_room(deps.db.reader(), id).await?.ok_or_else(|| Error::not_found("live room"))?;
    one_dto(deps, actor, row).await
}

/// Settles a room's waiting reservations when it goes live or is cancelled.
pub(crate) struct ReservationsHandler {
    pub deps: Arc<Deps>,
}

/// Reservations settled per transaction.
const PAGE: u64 = 200;

#[async_trait]
impl EventHandler for ReservationsHandler {
    fn name(&self) -> &'static str {
        "live.settle_reservations"
    }

    fn kinds(&self) -> &'static [&'static str] {
        const KINDS: &[&str] = &[LiveRoomStarted::KIND, LiveRoomCancelled::KIND];
        KINDS
    }

    async fn handle(&self, event: &EventEnvelope) -> std::result::Result<(), HandlerError> {
        let permanent = |e: serde_json::Error| HandlerError::Permanent(e.into());
        if let Some(e) = event.decode::<LiveRoomStarted>() {
            let e = e.map_err(permanent)?;
            let outcome = domain::reminder_on_start(e.planned_start_at, e.started_at);
            return Ok(settle(&self.deps, e.room_id, e.channel_id, &e.title, outcome).await?);
        }
        if let Some(e) = event.decode::<LiveRoomCancelled>() {
            let e = e.map_err(permanent)?;
            return Ok(settle(&self.deps, e.room_id, e.channel_id, &e.title, ReservationState::Cancelled).await?);
        }
        Ok(())
    }
}

#[tracing::instrument(skip_all, fields(room_id = %room_id, outcome = outcome.as_str()))]
async fn settle(deps: &Deps, room_id: LiveRoomId, channel: ChannelId, title: &str, outcome: ReservationState) -> Result<()> {
    let channel_name = deps
        .identity
        .channels_by_ids(&[channel])
        .await?
        .pop()
        .map(|c| c.display_name)
        .unwrap_or_default();
    // The room's page: its title, state and player.
    let link = format!("{}/live/rooms/{}", deps.config.public_url.trim_end_matches('/'), room_id.0);
    let mut settled = 0usize;
    loop {
        let users: Vec<i64> = reservation::Entity::find()
            .select_only()
            .column(reservation::Column::UserId)
            .filter(reservation::Column::RoomId.eq(room_id.0))
            .filter(reservation::Column::State.eq(ReservationState::Waiting.as_str()))
            .order_by_asc(reservation::Column::UserId)
            .limit(PAGE)
            .into_tuple()
            .all(deps.db.reader())
            .await
            .context("loading waiting reservations")?;
        if users.is_empty() {
            break;
        }
        let tells = outcome != ReservationState::Lapsed;
        let recipients: HashMap<i64, _> = if tells {
            let ids: Vec<UserId> = users.iter().copied().map(UserId).collect();
            deps.mail.mail_recipients(&ids).await?.into_iter().map(|r| (r.user_id.0, r)).collect()
        } else {
            HashMap::new()
        };
        let now = deps.db.now();
        let txn = deps.db.begin().await.context("starting to settle reservations")?;
        reservation::Entity::update_many()
            .col_expr(reservation::Column::State, Expr::value(outcome.as_str()))
            .col_expr(reservation::Column::UpdatedAt, Expr::value(now))
            .filter(reservation::Column::RoomId.eq(room_id.0))
            .filter(reservation::Column::State.eq(ReservationState::Waiting.as_str()))
            .filter(reservation::Column::UserId.is_in(users.clone()))
            .exec(&txn)
            .await
            .context("settling reservations")?;
        if tells {
            let kind = if outcome == ReservationState::Cancelled { "live.cancelled" } else { "live.reminder" };
            for &user in &users {
                deps.outbox
                    .enqueue(
                        &txn,
                        &NotificationRequested {
                            user_id: UserId(user),
                            kind: kind.to_owned(),
                            payload: serde_json::json!({
                                "liveRoomId": global_id("LiveRoom", room_id.0),
                                "channelId": global_id("Channel", channel.0),
                                "channelName": channel_name,
                                "title": title,
                            }),
                            dedupe_key: format!("{kind}:{}", room_id.0),
                        },
                    )
                    .await?;
                let Some(recipient) = recipients.get(&user).filter(|r| r.email_verified) else {
                    continue;
                };
                let template = if outcome == ReservationState::Cancelled {
                    EmailTemplate::LiveCancelled {
                        channel_name: channel_name.clone(),
                        room_title: title.to_owned(),
                        link: link.clone(),
                    }
                } else {
                    EmailTemplate::LiveReminder {
                        channel_name: channel_name.clone(),
                        room_title: title.to_owned(),
                        link: link.clone(),
                    }
                };
                deps.outbox
                    .enqueue(
                        &txn,
                        &EmailRequested {
                            recipient_user: Some(UserId(user)),
                            to: recipient.email.clone(),
                            locale: recipient.locale.clone(),
                            template,
                            dedupe_key: format!("{kind}:{}:{user}", room_id.0),
                        },
                    )
                    .await?;
            }
        }
        txn.commit().await.context("committing settled reservations")?;
        deps.outbox.notify();
        settled += users.len();
    }
    tracing::info!(settled, "reservations settled");
    Ok(())
}
