//! Live rooms in the feeds: the live-now rooms of followed channels at the top of Following,
//! and rooms mixed into Recommended with their social proof ("3 friends are watching").
//!
//! Both start from the rooms on air, which are few next to videos; social says which of their
//! channels the viewer follows and who the viewer's closest friends are; `live_viewers` says
//! which of those friends are watching now (their nodes mark them every 30 s).

use std::collections::HashMap;

use kanjian_contracts::live::{LiveRecommendationDto, LiveRoomDto, LiveRoomState};
use kanjian_kernel::ids::{ChannelId, UserId};
use kanjian_kernel::{Actor, Context, Result};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::Deps;
use crate::entity::{room, viewer};
use crate::rooms::{dtos, hidden_owners};

/// How many rooms on air Recommended ranks: the most watched.
const RECOMMENDED_CANDIDATES: u64 = 200;
/// How many of the viewer's closest friends count for "friends watching".
const CLOSEST_FRIENDS: u64 = 500;
/// A viewer whose node has not marked them for this long is no longer watching (nodes mark
/// every 30 s).
const WATCHING_WITHIN: chrono::Duration = chrono::Duration::seconds(90);
/// Channels asked about at once.
const CHUNK: usize = 500;

fn on_air() -> sea_orm::Select<room::Entity> {
    room::Entity::find()
        .filter(room::Column::State.eq(LiveRoomState::Live.as_str()))
        .order_by_desc(room::Column::ViewersNow)
        .order_by_desc(room::Column::Id)
}

/// Drops the rooms hidden from the actor (a block with the creator) and their own.
async fn visible(deps: &Deps, actor: &Actor, rows: Vec<room::Model>) -> Result<Vec<room::Model>> {
    let hidden = hidden_owners(deps, actor, rows.iter().map(|r| r.owner_id)).await?;
    let me = actor.user_id().map(|u| u.0);
    Ok(rows.into_iter().filter(|r| !hidden.contains(&r.owner_id) && Some(r.owner_id) != me).collect())
}

#[tracing::instrument(skip_all, fields(limit))]
pub(crate) async fn live_now_followed(deps: &Deps, actor: &Actor, limit: u64) -> Result<Vec<LiveRoomDto>> {
    let me = actor.require_user()?;
    let channels: Vec<i64> = room::Entity::find()
        .select_only()
        .column(room::Column::ChannelId)
        .filter(room::Column::State.eq(LiveRoomState::Live.as_str()))
        .into_tuple()
        .all(deps.db.reader())
        .await
        .context("listing channels on air")?;
    let mut followed = Vec::new();
    for chunk in channels.chunks(CHUNK) {
        let chunk: Vec<ChannelId> = chunk.iter().copied().map(ChannelId).collect();
        followed.extend(deps.friends.followed_among(me, &chunk).await?.into_iter().map(|c| c.0));
    }
    if followed.is_empty() {
        return Ok(Vec::new());
    }
    let rows = on_air()
        .filter(room::Column::ChannelId.is_in(followed))
        .limit(limit)
        .all(deps.db.reader())
        .await
        .context("loading followed rooms on air")?;
    let rows = visible(deps, actor, rows).await?;
    dtos(deps, actor, rows).await
}

#[tracing::instrument(skip_all, fields(limit))]
pub(crate) async fn recommended_lives(deps: &Deps, actor: &Actor, limit: u64) -> Result<Vec<LiveRecommendationDto>> {
    let rows = on_air().limit(RECOMMENDED_CANDIDATES).all(deps.db.reader()).await.context("loading rooms on air")?;
    let rows = visible(deps, actor, rows).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // Friends watching each room now, closest first.
    let mut watching: HashMap<i64, Vec<UserId>> = HashMap::new();
    if let Some(me) = actor.user_id() {
        let friends = deps.friends.closest_friends(me, CLOSEST_FRIENDS).await?;
        if !friends.is_empty() {
            let closeness: HashMap<i64, usize> = friends.iter().enumerate().map(|(i, f)| (f.0, i)).collect();
            let keys: Vec<String> = friends.iter().map(|f| format!("u:{}", f.0)).collect();
            let since = deps.db.now() - WATCHING_WITHIN;
            let seen = viewer::Entity::find()
                .filter(viewer::Column::RoomId.is_in(rows.iter().map(|r| r.id)))
                .filter(viewer::Column::ViewerKey.is_in(keys))
                .filter(viewer::Column::LastSeenAt.gte(since))
                .all(deps.db.reader())
                .await
                .context("looking for friends watching")?;
            for row in seen {
                if let Some(user) = row.user_id {
                    watching.entry(row.room_id).or_default().push(UserId(user));
                }
            }
            for friends in watching.values_mut() {
                friends.sort_by_key(|f| closeness.get(&f.0).copied().unwrap_or(usize::MAX));
            }
        }
    }
    let mut ranked: Vec<room::Model> = rows;
    // Stable: rooms with as many friends keep the most-watched order.
    ranked.sort_by_key(|r| std::cmp::Reverse(watching.get(&r.id).map_or(0, Vec::len)));
    ranked.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let rooms = dtos(deps, actor, ranked).await?;
    Ok(rooms
        .into_iter()
        .map(|room| {
            let friends = watching.remove(&room.id.0).unwrap_or_default();
            LiveRecommendationDto {
                friends_watching_total: friends.len() as i64,
                friends_watching: friends.into_iter().take(3).collect(),
                room,
            }
        })
        .collect())
}
