//! Who is on air: a publisher with the room's stream key takes the room LIVE (SCHEDULED → LIVE,
//! or back on air within the reconnect grace); when it drops, the room waits `reconnect_grace`
//! for it, then ends. Each step is a conditional write on the room row, so any node's ingest
//! and the grace worker agree on one outcome.

use kanjian_contracts::live::{LiveRoomStarted, LiveRoomState};
use kanjian_kernel::ids::{ChannelId, LiveRoomId, UserId};
use kanjian_kernel::{Context, Error, Result, Timestamp};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::Deps;
use crate::domain::StreamKey;
use crate::entity::room;
use crate::rooms::{end_room, find_room, state_of};

/// Why a publish was refused, as the publisher's software shows it (`Server error: …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown, rotated, or malformed: all alike, so keys cannot be probed.
    BadKey,
    /// The room is ENDED or CANCELLED.
    RoomClosed,
    /// Another publisher is on air in this room.
    AlreadyLive,
    /// Another room of the same channel is LIVE.
    ChannelLiveElsewhere,
}

impl Refusal {
    pub fn description(&self) -> &'static str {
        match self {
            Self::BadKey => "invalid stream key",
            Self::RoomClosed => "this live room has ended or was cancelled; schedule a new one",
            Self::AlreadyLive => "this stream key is already live from another connection",
            Self::ChannelLiveElsewhere => "your channel is already live in another room",
        }
    }
}

/// The room a stream key opens, if it may be published to now.
pub(crate) async fn room_for_key(deps: &Deps, raw_key: &str) -> Result<std::result::Result<room::Model, Refusal>> {
    let Some(key) = StreamKey::parse(raw_key) else {
        return Ok(Err(Refusal::BadKey));
    };
    let Some(row) = find_room(deps.db.reader(), key.room).await? else {
        return Ok(Err(Refusal::BadKey));
    };
    if !StreamKey::matches(raw_key, &row.stream_key) {
        return Ok(Err(Refusal::BadKey));
    }
    match state_of(&row)? {
        LiveRoomState::Scheduled | LiveRoomState::Live => Ok(Ok(row)),
        LiveRoomState::Ended | LiveRoomState::Cancelled => Ok(Err(Refusal::RoomClosed)),
    }
}

/// Puts `session` on air in the room: SCHEDULED → LIVE (with `LiveRoomStarted`), or a LIVE
/// room without a publisher (in its grace) back on air. `replace` takes the room from a
/// publisher still recorded as on air (a reconnect whose old connection is half-open).
#[tracing::instrument(skip_all, fields(room_id = %id, session))]
pub(crate) async fn go_on_air(
    deps: &Deps,
    id: LiveRoomId,
    session: &str,
    replace: bool,
) -> Result<std::result::Result<room::Model, Refusal>> {
    let now = deps.db.now();
    let txn = deps.db.begin().await.context("starting to go on air")?;
    // Back on air within the grace, or taking over from a stale publisher: no state change.
    let mut back = room::Entity::update_many()
        .col_expr(room::Column::PublisherSession, Expr::value(session))
        .col_expr(room::Column::PublisherSeenAt, Expr::value(now))
        .col_expr(room::Column::GraceUntil, Expr::value(Option::<Timestamp>::None))
        .col_expr(room::Column::UpdatedAt, Expr::value(now))
        .filter(room::Column::Id.eq(id.0))
        .filter(room::Column::State.eq(LiveRoomState::Live.as_str()));
    if !replace {
        // A publisher that delivered nothing for this long is gone (its node died) and may be
        // taken over; a live one may not.
        back = back.filter(
            sea_orm::Condition::any()
                .add(room::Column::PublisherSession.is_null())
                .add(room::Column::PublisherSeenAt.lt(now - stale_after())),
        );
    }
    if back.exec(&txn).await.context("putting a live room back on air")?.rows_affected == 1 {
        txn.commit().await.context("committing a room back on air")?;
        tracing::info!("publisher back on air");
        return Ok(Ok(find_room(deps.db.reader(), id).await?.ok_or_else(|| Error::not_found("live room"))?));
    }
    let started = room::Entity::update_many()
        .col_expr(room::Column::State, Expr::value(LiveRoomState::Live.as_str()))
        .col_expr(room::Column::StartedAt, Expr::value(now))
        .col_expr(room::Column::PublisherSession, Expr::value(session))
        .col_expr(room::Column::PublisherSeenAt, Expr::value(now))
        .col_expr(room::Column::GraceUntil, Expr::value(Option::<Timestamp>::None))
        .col_expr(room::Column::Version, Expr::col(room::Column::Version).add(1))
        .col_expr(room::Column::UpdatedAt, Expr::value(now))
        .filter(room::Column::Id.eq(id.0))
        .filter(room::Column::State.eq(LiveRoomState::Scheduled.as_str()))
        .exec(&txn)
        .await;
    let started = match started {
        Ok(done) => done.rows_affected,
        Err(e) if is_unique_violation(&e) => {
            // uq_live_rooms_one_live_per_channel: another room of the channel is LIVE.
            txn.rollback().await.context("rolling back a second live room")?;
            return Ok(Err(Refusal::ChannelLiveElsewhere));
        }
        Err(e) => return Err(e).context("putting a live room on air"),
    };
    if started == 0 {
        txn.rollback().await.context("rolling back a refused publish")?;
        let row = find_room(deps.db.reader(), id).await?.ok_or_else(|| Error::not_found("live room"))?;
        return Ok(Err(match state_of(&row)? {
            LiveRoomState::Live => Refusal::AlreadyLive,
            _ => Refusal::RoomClosed,
        }));
    }
    let row = find_room(&txn, id).await?.ok_or_else(|| Error::internal("a room vanished inside its transaction"))?;
    deps.outbox
        .enqueue(
            &txn,
            &LiveRoomStarted {
                room_id: id,
                version: row.version,
                channel_id: ChannelId(row.channel_id),
                owner_id: UserId(row.owner_id),
                title: row.title.clone(),
                planned_start_at: row.planned_start_at,
                started_at: now,
            },
        )
        .await?;
    txn.commit().await.context("committing a room on air")?;
    deps.outbox.notify();
    crate::rooms::announce(deps, id, row.version).await;
    tracing::info!("live started");
    Ok(Ok(row))
}

fn is_unique_violation(e: &sea_orm::DbErr) -> bool {
    matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}

/// The publisher `session` left the room: the room stays LIVE and waits for it (or another
/// publisher with the key) until the grace runs out. A session that was already replaced
/// changes nothing.
#[tracing::instrument(skip_all, fields(room_id = %id, session))]
pub(crate) async fn off_air(deps: &Deps, id: LiveRoomId, session: &str) -> Result<()> {
    let now = deps.db.now();
    let grace = chrono::Duration::from_std(deps.config.reconnect_grace()).unwrap_or(chrono::Duration::seconds(60));
    let left = room::Entity::update_many()
        .col_expr(room::Column::PublisherSession, Expr::value(Option::<String>::None))
        .col_expr(room::Column::GraceUntil, Expr::value(now + grace))
        .col_expr(room::Column::UpdatedAt, Expr::value(now))
        .filter(room::Column::Id.eq(id.0))
        .filter(room::Column::State.eq(LiveRoomState::Live.as_str()))
        .filter(room::Column::PublisherSession.eq(session))
        .exec(deps.db.writer())
        .await
        .context("taking a live room off air")?
        .rows_affected;
    if left == 1 {
        tracing::info!(grace_secs = grace.num_seconds(), "publisher left; waiting for it to come back");
    }
    Ok(())
}

/// How long a publisher may deliver nothing before it counts as gone: far above a segment's
/// length and the ingest's idle timeout, so only a publisher whose node died is affected.
fn stale_after() -> chrono::Duration {
    chrono::Duration::seconds(15)
}

/// `session` delivered a segment: it is still on air. `false` when the room is not LIVE with
/// this session any more (ended by its creator, or taken over): the session should close.
pub(crate) async fn heartbeat(deps: &Deps, id: LiveRoomId, session: &str) -> Result<bool> {
    let seen = room::Entity::update_many()
        .col_expr(room::Column::PublisherSeenAt, Expr::value(deps.db.now()))
        .filter(room::Column::Id.eq(id.0))
        .filter(room::Column::State.eq(LiveRoomState::Live.as_str()))
        .filter(room::Column::PublisherSession.eq(session))
        .exec(deps.db.writer())
        .await
        .context("noting a publisher is on air")?
        .rows_affected;
    Ok(seen == 1)
}

/// Ends every LIVE room whose publisher did not come back in time, after starting the grace of
/// rooms whose publisher went silent without a goodbye (its node died). Returns how many ended.
pub(crate) async fn end_abandoned_rooms(deps: &Deps) -> Result<usize> {
    let now = deps.db.now();
    let grace = chrono::Duration::from_std(deps.config.reconnect_grace()).unwrap_or(chrono::Duration::seconds(60));
    room::Entity::update_many()
        .col_expr(room::Column::PublisherSession, Expr::value(Option::<String>::None))
        .col_expr(room::Column::GraceUntil, Expr::value(now + grace))
        .filter(room::Column::State.eq(LiveRoomState::Live.as_str()))
        .filter(room::Column::PublisherSession.is_not_null())
        .filter(room::Column::PublisherSeenAt.lt(now - stale_after()))
        .exec(deps.db.writer())
        .await
        .context("starting the grace of silent publishers")?;
    let due: Vec<i64> = room::Entity::find()
        .select_only()
        .column(room::Column::Id)
        .filter(room::Column::State.eq(LiveRoomState::Live.as_str()))
        .filter(room::Column::GraceUntil.lte(deps.db.now()))
        .limit(100)
        .into_tuple()
        .all(deps.db.reader())
        .await
        .context("looking for abandoned live rooms")?;
    let mut ended = 0;
    for id in due {
        if end_room(deps, LiveRoomId(id)).await?.is_some() {
            ended += 1;
        }
    }
    Ok(ended)
}
