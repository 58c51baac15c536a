//! `social_videos`: the module's own copy of what the feeds need to know about media's videos
//! (channel, creator, category, duration, whether and since when it is published), kept in step
//! by media's events. The same rows carry social's counters (see `db::bump_video`), which events
//! never touch. A deleted video also takes its social data (reactions, comments and their
//! likes, shares, views, counters) with it.
//!
//! Every event is idempotent: applying it again writes the same values. Events may arrive out
//! of order (retries, several nodes), so the row remembers the version of the last applied event
//! (media numbers each video's events) and skips any that is not newer. A deleted video leaves a
//! tombstone (`deleted`, no details, no counts) that no older event can bring back. Events from
//! before versions (version 0) fall back to comparing when they occurred (`updated_at`).

use std::sync::Arc;

use async_trait::async_trait;
use kanjian_contracts::media::{
    VideoDeleted, VideoDetailsChanged, VideoDto, VideoPublished, VideoStatus, VideoUnpublished,
};
use kanjian_contracts::{EventEnvelope, IntegrationEvent};
use kanjian_events::{EventHandler, HandlerError};
use kanjian_kernel::ids::VideoId;
use kanjian_kernel::{Actor, Context, Result, Timestamp};
use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QuerySelect, Set, };

use crate::Deps;
use crate::entity::{comment, comment_like, reaction, share, video, view};

pub(crate) struct VideoProjectionHandler {
    pub deps: Arc<Deps>,
}

#[async_trait]
impl EventHandler for VideoProjectionHandler {
    fn name(&self) -> &'static str {
        "social.video_projection"
    }

    fn kinds(&self) -> &'static [&'static str] {
        const KINDS: &[&str] = &[
            VideoPublished::KIND,
            VideoUnpublished::KIND,
            VideoDetailsChanged::KIND,
            VideoDeleted::KIND,
        ];
        KINDS
    }

    async fn handle(&self, event: &EventEnvelope) -> std::result::Result<(), HandlerError> {
        let permanent = |e: serde_json::Error| HandlerError::Permanent(e.into());
        let at = event.occurred_at;
        if let Some(e) = event.decode::<VideoPublished>() {
            return Ok(published(&self.deps, &e.map_err(permanent)?, at).await?);
        }
        if let Some(e) = event.decode::<VideoUnpublished>() {
            let e = e.map_err(permanent)?;
            return Ok(unpublished(&self.deps, e.video_id, Applied { at, version: e.version }).await?);
        }
        if let Some(e) = event.decode::<VideoDetailsChanged>() {
            return Ok(details_changed(&self.deps, &e.map_err(permanent)?, at).await?);
        }
        if let Some(e) = event.decode::<VideoDeleted>() {
            let e = e.map_err(permanent)?;
            return Ok(deleted(&self.deps, e.video_id, Applied { at, version: e.version }).await?);
        }
        Ok(())
    }
}

/// The projected row, locked for the transaction; `None` when missing.
async fn current<C: ConnectionTrait>(conn: &C, id: VideoId) -> Result<Option<video::Model>> {
    video::Entity::find_by_id(id.0)
        .lock_exclusive()
        .one(conn)
        .await
        .context("loading the projected video")
}

/// When an event occurred and the video's version it carries.
#[derive(Debug, Clone, Copy)]
struct Applied {
    at: Timestamp,
    version: i64,
}

/// Whether the row already reflects an event at least as new as `event`. A tombstone is newer
/// than everything.
fn is_stale(row: Option<&video::Model>, event: Applied) -> bool {
    let Some(row) = row else { return false };
    if row.deleted {
        return true;
    }
    if event.version > 0 {
        row.version >= event.version
    } else {
        // Written before versions: all we have is when it occurred.
        row.version > 0 || row.updated_at > event.at
    }
}

/// Media's details of a video, as one event (or media itself) gives them.
struct Details {
    video_id: i64,
    channel_id: Option<i64>,
    owner_id: Option<i64>,
    category: Option<String>,
    duration_ms: Option<i64>,
    published_at: Option<Timestamp>,
}

/// Writes the details, leaving the row's counters as they are (zeros for a new row).
async fn upsert<C: ConnectionTrait>(conn: &C, row: Details, event: Applied) -> Result<()> {
    let model = video::ActiveModel {
        video_id: Set(row.video_id),
        channel_id: Set(row.channel_id),
        owner_id: Set(row.owner_id),
        category: Set(row.category),
        duration_ms: Set(row.duration_ms),
        published_at: Set(row.published_at),
        updated_at: Set(event.at),
        version: Set(event.version),
        ..Default::default()
    };
    video::Entity::insert(model)
        .on_conflict(
            OnConflict::column(video::Column::VideoId)
                .update_columns([
                    video::Column::ChannelId,
                    video::Column::OwnerId,
                    video::Column::Category,
                    video::Column::DurationMs,
                    video::Column::PublishedAt,
                    video::Column::UpdatedAt,
                    video::Column::Version,
                ])
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await
        .context("writing the projected video")?;
    Ok(())
}

fn row_from_published(e: &VideoPublished) -> Details {
    Details {
        video_id: e.video_id.0,
        channel_id: Some(e.channel_id.0),
        owner_id: Some(e.owner_id.0),
        category: e.category.clone(),
        duration_ms: e.duration_ms,
        published_at: Some(e.published_at),
    }
}

fn row_from_dto(v: &VideoDto) -> Details {
    Details {
        video_id: v.id.0,
        channel_id: Some(v.channel_id.0),
        owner_id: Some(v.owner_id.0),
        category: v.category.clone(),
        duration_ms: v.duration_ms,
        published_at: v.published_at,
    }
}

#[tracing::instrument(skip_all, fields(video_id = e.video_id.0))]
async fn published(deps: &Deps, e: &VideoPublished, at: Timestamp) -> Result<()> {
    let event = Applied { at, version: e.version };
    let txn = deps
        .db
        .begin()
        .await
        .context("beginning a projection update")?;
    let row = current(&txn, e.video_id).await?;
    if is_stale(row.as_ref(), event) {
        tracing::debug!("older than the projection; skipped");
        return Ok(());
    }
    upsert(&txn, row_from_published(e), event).await?;
    txn.commit()
        .await
        .context("committing a projection update")?;
    tracing::info!("published video projected");
    Ok(())
}

#[tracing::instrument(skip_all, fields(video_id = id.0))]
async fn unpublished(deps: &Deps, id: VideoId, event: Applied) -> Result<()> {
    let txn = deps
        .db
        .begin()
        .await
        .context("beginning a projection update")?;
    let Some(row) = current(&txn, id).await? else {
        return Ok(());
    };
    if is_stale(Some(&row), event) {
        tracing::debug!("older than the projection; skipped");
        return Ok(());
    }
    let mut model = row.into_active_model();
    model.published_at = Set(None);
    model.updated_at = Set(event.at);
    model.version = Set(event.version);
    model
        .update(&txn)
        .await
        .context("marking the projected video unpublished")?;
    txn.commit()
        .await
        .context("committing a projection update")?;
    tracing::info!("video unpublished in the projection");
    Ok(())
}

/// New details. The event lacks the creator, duration and publication time, so a video the
/// projection does not hold as published (its `VideoPublished` not applied yet, or a newer
/// publication) is read from media instead — before the transaction, which on SQLite holds the
/// only connection.
#[tracing::instrument(skip_all, fields(video_id = e.video_id.0, published = e.published))]
async fn details_changed(deps: &Deps, e: &VideoDetailsChanged, at: Timestamp) -> Result<()> {
    let event = Applied { at, version: e.version };
    let known = video::Entity::find_by_id(e.video_id.0)
        .one(deps.db.reader())
        .await
        .context("loading the projected video")?;
    if is_stale(known.as_ref(), event) {
        tracing::debug!("older than the projection; skipped");
        return Ok(());
    }
    let fresh = if e.published && known.as_ref().is_none_or(|r| r.published_at.is_none()) {
        deps.media
            .videos_by_ids(&Actor::Anonymous, &[e.video_id])
            .await?
            .into_iter()
            .find(|v| {
                v.id == e.video_id && v.published_at.is_some() && v.status == VideoStatus::Ready
            })
    } else {
        None
    };

    let txn = deps
        .db
        .begin()
        .await
        .context("beginning a projection update")?;
    let row = current(&txn, e.video_id).await?;
    if is_stale(row.as_ref(), event) {
        tracing::debug!("older than the projection; skipped");
        return Ok(());
    }
    let next = match (row, fresh) {
        (_, Some(fresh)) => Some(row_from_dto(&fresh)),
        (Some(row), None) => Some(Details {
            video_id: row.video_id,
            channel_id: Some(e.channel_id.0),
            owner_id: row.owner_id,
            category: e.category.clone(),
            duration_ms: row.duration_ms,
            // The event's own time of publication: the row's may be an older publication's.
            published_at: if e.published { e.published_at.or(row.published_at) } else { None },
        }),
        (None, None) => None,
    };
    if let Some(next) = next {
        upsert(&txn, next, event).await?;
    }
    txn.commit()
        .await
        .context("committing a projection update")?;
    Ok(())
}

/// What a tombstone overwrites: every detail and counter, set to none or zero.
const TOMBSTONE_COLUMNS: [video::Column; 15] = [
    video::Column::ChannelId,
    video::Column::OwnerId,
    video::Column::Category,
    video::Column::DurationMs,
    video::Column::PublishedAt,
    video::Column::UpdatedAt,
    video::Column::Likes,
    video::Column::Recommends,
    video::Column::Comments,
    video::Column::Shares,
    video::Column::Views,
    video::Column::WatchMs,
    video::Column::Completions,
    video::Column::Version,
    video::Column::Deleted,
];

/// Removes the video's social data in one transaction and leaves a tombstone in its place.
#[tracing::instrument(skip_all, fields(video_id = id.0))]
async fn deleted(deps: &Deps, id: VideoId, event: Applied) -> Result<()> {
    let txn = deps
        .db
        .begin()
        .await
        .context("beginning a video's removal")?;
    if current(&txn, id).await?.is_some_and(|row| row.deleted) {
        tracing::debug!("already a tombstone; skipped");
        return Ok(());
    }
    let comments_of_video = Query::select()
        .column(comment::Column::Id)
        .from(comment::Entity)
        .and_where(comment::Column::VideoId.eq(id.0))
        .to_owned();
    comment_like::Entity::delete_many()
        .filter(comment_like::Column::CommentId.in_subquery(comments_of_video))
        .exec(&txn)
        .await
        .context("deleting a deleted video's comment likes")?;
    let comments = comment::Entity::delete_many()
        .filter(comment::Column::VideoId.eq(id.0))
        .exec(&txn)
        .await
        .context("deleting a deleted video's comments")?
        .rows_affected;
    let reactions = reaction::Entity::delete_many()
        .filter(reaction::Column::VideoId.eq(id.0))
        .exec(&txn)
        .await
        .context("deleting a deleted video's reactions")?
        .rows_affected;
    share::Entity::delete_many()
        .filter(share::Column::VideoId.eq(id.0))
        .exec(&txn)
        .await
        .context("deleting a deleted video's shares")?;
    view::Entity::delete_many()
        .filter(view::Column::VideoId.eq(id.0))
        .exec(&txn)
        .await
        .context("deleting a deleted video's views")?;
    // The tombstone: no details, no counts (what they counted is gone), the deletion's version.
    video::Entity::insert(video::ActiveModel {
        video_id: Set(id.0),
        updated_at: Set(event.at),
        version: Set(event.version),
        deleted: Set(true),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(video::Column::VideoId)
            .update_columns(TOMBSTONE_COLUMNS)
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await
    .context("leaving the deleted video's tombstone")?;
    txn.commit().await.context("committing a video's removal")?;
    tracing::info!(comments, reactions, "deleted video removed from social");
    Ok(())
}
