//! Likes (点赞) travel as counters, not messages: each node adds up the taps it takes and
//! writes one `like_count = like_count + n` per room every `counts_interval_ms`; viewers read
//! the total with the other counts. A node that crashes loses at most that interval's taps on
//! it, which is what a counter of taps can afford (and no more).

use std::collections::HashMap;
use std::sync::Mutex;

use kanjian_db::rate_limit::{self, Limit};
use kanjian_kernel::ids::LiveRoomId;
use kanjian_kernel::{Actor, Context, Error, Result, UserErrorCode};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::live_room_for;
use crate::Deps;
use crate::entity::room;

/// Most taps one call may carry (a client sends what it gathered over a moment).
pub const MAX_TAPS: u32 = 100;

/// This node's taps not written yet, per room.
#[derive(Default)]
pub(crate) struct LikeCounter {
    pending: Mutex<HashMap<LiveRoomId, i64>>,
}

impl LikeCounter {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<LiveRoomId, i64>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add(&self, room: LiveRoomId, taps: i64) {
        *self.lock().entry(room).or_insert(0) += taps;
    }
}

#[tracing::instrument(skip_all, fields(room_id = %id, count))]
pub(crate) async fn like(deps: &Deps, actor: &Actor, id: LiveRoomId, count: u32) -> Result<()> {
    let user = actor.require_user()?;
    if !(1..=MAX_TAPS).contains(&count) {
        return Err(Error::user("count", UserErrorCode::Invalid, format!("Send 1 to {MAX_TAPS} taps at a time.")));
    }
    live_room_for(deps, actor, id, "Likes are counted").await?;
    rate_limit::check(&deps.db, &[Limit::per_user("live_like", user.0, &deps.config.likes_per_user).cost(u64::from(count))]).await?;
    deps.chat.likes.add(id, i64::from(count));
    Ok(())
}

/// Writes the taps gathered on this node; returns how many rooms it wrote. Taps that could not
/// be written are kept for the next time.
pub(crate) async fn flush(deps: &Deps) -> Result<usize> {
    let pending: Vec<(LiveRoomId, i64)> = std::mem::take(&mut *deps.chat.likes.lock()).into_iter().collect();
    let mut written = 0;
    for (i, &(room_id, taps)) in pending.iter().enumerate() {
        let result = room::Entity::update_many()
            .col_expr(room::Column::LikeCount, Expr::col(room::Column::LikeCount).add(taps))
            .filter(room::Column::Id.eq(room_id.0))
            .exec(deps.db.writer())
            .await
            .context("adding likes");
        if let Err(e) = result {
            for &(room_id, taps) in &pending[i..] {
                deps.chat.likes.add(room_id, taps);
            }
            return Err(e);
        }
        written += 1;
    }
    Ok(written)
}
