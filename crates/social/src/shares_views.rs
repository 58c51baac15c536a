//! Shares (a row per share, plus a counter) and views (one per viewer, video and UTC day, with
//! the longest watch that day and whether it reached 90 % of the video).

use std::collections::HashMap;

use kanjian_contracts::social::{ShareTarget, VideoSocialDto};
use kanjian_kernel::ids::VideoId;
use kanjian_kernel::{Actor, Context, Error, Result, Timestamp};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, NotSet,
    QueryFilter, QuerySelect, Set, };

use crate::Deps;
use crate::db::{bump_video, count_interaction, ensure_not_blocked, visible_video};
use crate::domain::stored::share_target;
use crate::domain::{WatchTime, utc_day};
use crate::entity::{share, video, view};

/// Counts a share of a published video. A creator in a block with the actor is `BLOCKED`.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, video_id = video.0, ?target))]
pub async fn share(
    deps: &Deps,
    actor: &Actor,
    video: VideoId,
    target: ShareTarget,
) -> Result<VideoSocialDto> {
    let me = actor.require_user()?;
    tracing::Span::current().record("user_id", me.0);
    let dto = visible_video(deps, video).await?;

    let txn = deps.db.begin().await.context("beginning a share")?;
    ensure_not_blocked(&txn, me, dto.owner_id).await?;
    share::ActiveModel {
        id: NotSet,
        user_id: Set(me.0),
        video_id: Set(video.0),
        target: Set(share_target(target).to_owned()),
        created_at: Set(deps.db.now()),
    }
    .insert(&txn)
    .await
    .context("inserting the share")?;
    bump_video(&txn, video.0, &[(video::Column::Shares, 1)]).await?;
    count_interaction(&txn, me, dto.owner_id).await?;
    txn.commit().await.context("committing the share")?;
    tracing::info!("video shared");
    let owners = HashMap::from([(video.0, dto.owner_id)]);
    crate::reactions::videos_social(deps, actor, &[video], &owners)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| Error::internal("no video counts for the video shared"))
}

/// What a report changed in a view row.
#[derive(Debug, Default, PartialEq, Eq)]
struct ViewChange {
    new_view: bool,
    added_watch_ms: i64,
    completed_now: bool,
}

/// Applies a report to today's view row (creating it on the first report), locked for the rest
/// of the transaction. `None` when another report created the row meanwhile: try again.
async fn apply_report(
    txn: &kanjian_db::Txn,
    user: i64,
    video: i64,
    day: i32,
    watch_ms: i64,
    duration_ms: Option<i64>,
    now: Timestamp,
) -> Result<Option<ViewChange>> {
    let completed = WatchTime::completes(watch_ms, duration_ms);
    let existing = view::Entity::find()
        .filter(view::Column::UserId.eq(user))
        .filter(view::Column::VideoId.eq(video))
        .filter(view::Column::Day.eq(day))
        .lock_exclusive()
        .one(txn)
        .await
        .context("loading today's view")?;
    let Some(existing) = existing else {
        let inserted = view::Entity::insert(view::ActiveModel {
            id: NotSet,
            user_id: Set(user),
            video_id: Set(video),
            day: Set(day),
            watch_ms: Set(watch_ms),
            completed: Set(completed),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .on_conflict_do_nothing_on([
            view::Column::UserId,
            view::Column::VideoId,
            view::Column::Day,
        ])
        .exec_without_returning(txn)
        .await
        .context("inserting today's view")?;
        if !matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0) {
            return Ok(None);
        }
        return Ok(Some(ViewChange {
            new_view: true,
            added_watch_ms: watch_ms,
            completed_now: completed,
        }));
    };
    if watch_ms <= existing.watch_ms {
        return Ok(Some(ViewChange::default()));
    }
    let change = ViewChange {
        new_view: false,
        added_watch_ms: watch_ms - existing.watch_ms,
        completed_now: completed && !existing.completed,
    };
    let was_completed = existing.completed;
    let mut model = existing.into_active_model();
    model.watch_ms = Set(watch_ms);
    model.completed = Set(was_completed || completed);
    model.updated_at = Set(now);
    model
        .update(txn)
        .await
        .context("raising today's watch time")?;
    Ok(Some(change))
}

/// Records a signed-in viewer's watch of a published video: the first report of the UTC day
/// counts a view; later ones only raise that day's watch time (and may complete it).
/// Anonymous reports are accepted and not recorded. A watch time outside 0–24 h is `INVALID`;
/// a video whose creator is in a block with the viewer is `BLOCKED`, as a share is.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, video_id = video.0, watch_ms))]
pub async fn report_view(deps: &Deps, actor: &Actor, video: VideoId, watch_ms: i64) -> Result<()> {
    let watch = WatchTime::parse(watch_ms).map_err(|e| Error::User(vec![e]))?;
    let Some(me) = actor.user_id() else {
        return Ok(());
    };
    tracing::Span::current().record("user_id", me.0);
    let dto = visible_video(deps, video).await?;
    let day = utc_day(deps.db.now());

    // Two tries: the second only when a concurrent first report created the row meanwhile.
    for _ in 0..2 {
        let txn = deps.db.begin().await.context("beginning a view report")?;
        ensure_not_blocked(&txn, me, dto.owner_id).await?;
        let Some(change) =
            apply_report(&txn, me.0, video.0, day, watch.ms(), dto.duration_ms, deps.db.now()).await?
        else {
            txn.rollback().await.context("rolling back a view report")?;
            continue;
        };
        if change != ViewChange::default() {
            bump_video(
                &txn,
                video.0,
                &[
                    (video::Column::Views, i64::from(change.new_view)),
                    (video::Column::WatchMs, change.added_watch_ms),
                    (
                        video::Column::Completions,
                        i64::from(change.completed_now),
                    ),
                ],
            )
            .await?;
        }
        txn.commit().await.context("committing a view report")?;
        tracing::debug!(?change, "view reported");
        return Ok(());
    }
    Err(Error::internal("a view report lost its race twice"))
}
