//! Durable background work, driven by the outbox: turning an uploaded source into HLS
//! renditions and a thumbnail (on `VideoUploaded`), and removing a deleted video's files (on
//! `VideoDeleted`). Both are idempotent: a second delivery changes nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use kanjian_contracts::EventEnvelope;
use kanjian_contracts::media::{
    ProcessingUpdate, VideoDeleted, VideoFailureCode, VideoProcessed, VideoStatus, VideoUploaded,
};
use kanjian_events::{EventHandler, HandlerError};
use kanjian_kernel::ids::VideoId;
use kanjian_kernel::{Context, Error, Result};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use tokio::sync::watch;

use crate::Deps;
use crate::domain::{failure, status};
use crate::entity::{rendition, upload, video};
use crate::ffmpeg::{self, HlsPackage, ToolError};
use crate::videos::{find_video, hls_prefix, next_version, set_progress, source_key, video_prefix};

/// The hub topic of a video's processing updates.
pub(crate) fn topic(video_id: i64) -> String {
    format!("media.video.{video_id}")
}

/// Longest failure reason kept.
const MAX_REASON_CHARS: usize = 4000;
/// The database learns the progress at most this often; the hub hears every change.
const PROGRESS_WRITE_INTERVAL: Duration = Duration::from_secs(1);

/// Best effort: nobody listening, or a hub hiccup, must not fail the work.
pub(crate) async fn publish_update(deps: &Deps, update: &ProcessingUpdate) {
    let message = match serde_json::to_value(update) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "could not serialise a processing update");
            return;
        }
    };
    if let Err(e) = deps.hub.publish(&topic(update.video_id.0), message).await {
        tracing::warn!(error = ?e, "could not publish a processing update");
    }
}

fn transient(e: impl Into<anyhow::Error>) -> HandlerError {
    HandlerError::Transient(e.into())
}

/// The code for a refusal by ffmpeg or ffprobe; `otherwise` for a plain rejection.
pub(crate) fn failure_code(e: &ToolError, otherwise: VideoFailureCode) -> VideoFailureCode {
    match e {
        ToolError::UnsupportedFormat { .. } => VideoFailureCode::UnsupportedFormat,
        ToolError::Truncated { .. } => VideoFailureCode::Truncated,
        ToolError::TimedOut { .. } => VideoFailureCode::ProcessingFailed,
        ToolError::Rejected { .. } | ToolError::Io { .. } => otherwise,
    }
}

/// Marks a video that is uploading or processing `FAILED` with `code` and `reason`, enqueues
/// `VideoProcessed`, and tells watchers (their streams end there). Does nothing to a video in
/// any other state; `false` then.
#[tracing::instrument(skip_all, fields(video_id = video_id, code = failure::as_str(code)))]
pub(crate) async fn fail_video(
    deps: &Deps,
    video_id: i64,
    code: VideoFailureCode,
    reason: &str,
) -> Result<bool> {
    let txn = deps.db.begin().await.context("starting to fail a video")?;
    let failed = fail_video_in(deps, &txn, video_id, code, reason).await?;
    txn.commit().await.context("committing a failed video")?;
    let Some(update) = failed else {
        return Ok(false);
    };
    deps.outbox.notify();
    publish_update(deps, &update).await;
    Ok(true)
}

/// [`fail_video`] inside the caller's transaction. Returns the update to publish once it
/// commits (`None` when the video was in no state to fail).
pub(crate) async fn fail_video_in<C: sea_orm::ConnectionTrait>(
    deps: &Deps,
    txn: &C,
    video_id: i64,
    code: VideoFailureCode,
    reason: &str,
) -> Result<Option<ProcessingUpdate>> {
    let reason: String = reason.chars().take(MAX_REASON_CHARS).collect();
    let changed = video::Entity::update_many()
        .col_expr(
            video::Column::Status,
            Expr::value(status::as_str(VideoStatus::Failed)),
        )
        .col_expr(video::Column::FailureReason, Expr::value(reason.clone()))
        .col_expr(
            video::Column::FailureCode,
            Expr::value(failure::as_str(code)),
        )
        .col_expr(video::Column::ProgressPercent, Expr::value(0))
        .col_expr(video::Column::UpdatedAt, Expr::value(deps.db.now()))
        .filter(video::Column::Id.eq(video_id))
        .filter(video::Column::Status.is_in([
            status::as_str(VideoStatus::Uploading),
            status::as_str(VideoStatus::Processing),
        ]))
        .exec(txn)
        .await
        .context("marking a video failed")?;
    if changed.rows_affected == 0 {
        return Ok(None);
    }
    tracing::warn!(video_id, code = failure::as_str(code), reason = %reason, "video failed");
    let event = VideoProcessed {
        video_id: VideoId(video_id),
        version: next_version(txn, video_id).await?,
        status: VideoStatus::Failed,
    };
    deps.outbox.enqueue(txn, &event).await?;
    Ok(Some(ProcessingUpdate {
        video_id: VideoId(video_id),
        status: VideoStatus::Failed,
        progress_percent: 0,
        failure_reason: Some(reason),
        failure_code: Some(code),
    }))
}

pub(crate) struct ProcessVideoHandler {
    pub deps: Arc<Deps>,
}

#[async_trait]
impl EventHandler for ProcessVideoHandler {
    fn name(&self) -> &'static str {
        "media.process_video"
    }

    fn kinds(&self) -> &'static [&'static str] {
        const KINDS: &[&str] = &[<VideoUploaded as kanjian_contracts::IntegrationEvent>::KIND];
        KINDS
    }

    fn max_concurrency(&self) -> usize {
        self.deps.config.max_concurrent_jobs.max(1)
    }

    async fn handle(&self, event: &EventEnvelope) -> std::result::Result<(), HandlerError> {
        let Some(decoded) = event.decode::<VideoUploaded>() else {
            return Ok(());
        };
        let uploaded = decoded.map_err(|e| HandlerError::Permanent(e.into()))?;
        process_video(&self.deps, uploaded.video_id).await
    }
}

/// Makes the HLS renditions and thumbnail of a `PROCESSING` video and marks it `READY`, or
/// `FAILED` when ffmpeg rejects the input. Anything else is transient: the dispatcher retries,
/// and a retry starts over in a fresh folder.
#[tracing::instrument(skip_all, fields(video_id = %id))]
pub(crate) async fn process_video(
    deps: &Deps,
    id: VideoId,
) -> std::result::Result<(), HandlerError> {
    let Some(row) = find_video(deps.db.reader(), id.0).await? else {
        tracing::info!("video is gone; nothing to process");
        return Ok(());
    };
    if row.status != status::as_str(VideoStatus::Processing) {
        tracing::info!(status = %row.status, "video is not processing; nothing to do");
        return Ok(());
    }
    let Some(source) = deps.blobs.local_copy(&source_key(id.0)).await? else {
        fail_video(
            deps,
            id.0,
            VideoFailureCode::SourceLost,
            "the uploaded source file is missing; upload the file again",
        )
        .await?;
        return Ok(());
    };
    let started = Instant::now();
    tracing::info!("processing started");

    let probe = match ffmpeg::probe(&deps.tools, source.path()).await {
        Ok(p) => p,
        Err(e) if e.is_transient() => return Err(transient(e)),
        Err(e) => {
            let code = failure_code(&e, VideoFailureCode::NotAVideo);
            fail_video(
                deps,
                id.0,
                code,
                &format!("the source is not a playable video: {e}"),
            )
            .await?;
            return Ok(());
        }
    };

    let work = fresh_work_dir(deps, id.0).await.map_err(transient)?;
    set_progress(deps.db.writer(), id.0, 0).await?;
    let (progress_tx, progress_rx) = watch::channel(0u8);
    let reporter = tokio::spawn(report_progress(deps_for_reporter(deps), id.0, progress_rx));
    // An imported recording (a live replay) is packaged as it is when it can be: READY in
    // seconds, not in its length of encoding time.
    let made = if row.copy_package && ffmpeg::can_copy(&probe) {
        ffmpeg::make_copy_package(&deps.tools, source.path(), &probe, work.path(), deps.config.segment_seconds, &progress_tx).await
    } else {
        ffmpeg::make_hls_package(&deps.tools, source.path(), &probe, work.path(), deps.config.segment_seconds, &progress_tx).await
    };
    drop(progress_tx);
    let _ = reporter.await;
    drop(source);
    let package = match made {
        Ok(p) => p,
        Err(e) if e.is_transient() => return Err(transient(e)),
        Err(e @ (ToolError::TimedOut { .. } | ToolError::Truncated { .. })) => {
            let code = failure_code(&e, VideoFailureCode::ProcessingFailed);
            fail_video(deps, id.0, code, &e.to_string()).await?;
            return Ok(());
        }
        Err(e) => {
            let code = failure_code(&e, VideoFailureCode::ProcessingFailed);
            fail_video(
                deps,
                id.0,
                code,
                &format!("ffmpeg could not process the video:\n{e}"),
            )
            .await?;
            return Ok(());
        }
    };

    store_package(deps, id.0, &package).await?;
    let finished = mark_ready(deps, id.0, &probe, &package).await?;
    if !finished {
        // Deleted (or finished elsewhere) while we worked: leave no orphaned files.
        if find_video(deps.db.reader(), id.0).await?.is_none() {
            deps.blobs.delete_prefix(&video_prefix(id.0)).await?;
        }
        return Ok(());
    }
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        renditions = package.variants.len(),
        "video ready"
    );
    Ok(())
}

/// The reporter runs beside ffmpeg and needs its own handle on the shared parts.
fn deps_for_reporter(deps: &Deps) -> ReporterDeps {
    ReporterDeps {
        db: deps.db.clone(),
        hub: deps.hub.clone(),
    }
}

struct ReporterDeps {
    db: kanjian_db::Db,
    hub: Arc<dyn kanjian_events::RealtimeHub>,
}

/// Publishes every change of percent; writes it to the database at most once a second.
async fn report_progress(deps: ReporterDeps, id: i64, mut rx: watch::Receiver<u8>) {
    let mut last_write: Option<Instant> = None;
    while rx.changed().await.is_ok() {
        // 100 is for READY, once the files are in place.
        let percent = (*rx.borrow_and_update()).min(99);
        let update = ProcessingUpdate {
            video_id: VideoId(id),
            status: VideoStatus::Processing,
            progress_percent: percent,
            failure_reason: None,
            failure_code: None,
        };
        if let Ok(message) = serde_json::to_value(&update)
            && let Err(e) = deps.hub.publish(&topic(id), message).await
        {
            tracing::warn!(error = ?e, "could not publish progress");
        }
        if last_write.is_none_or(|at| at.elapsed() >= PROGRESS_WRITE_INTERVAL) {
            last_write = Some(Instant::now());
            if let Err(e) = set_progress(deps.db.writer(), id, percent).await {
                tracing::warn!(error = ?e, "could not record progress");
            }
        }
    }
}

/// An empty folder for this run; folders left by an earlier, interrupted run are removed.
async fn fresh_work_dir(deps: &Deps, id: i64) -> std::io::Result<tempfile::TempDir> {
    let root = deps.config.processing_dir();
    tokio::fs::create_dir_all(&root).await?;
    let prefix = format!("video-{id}-");
    let mut entries = tokio::fs::read_dir(&root).await?;
    while let Some(entry) = entries.next_entry().await? {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            tracing::info!(path = %entry.path().display(), "removing what an interrupted run left");
            if let Err(e) = tokio::fs::remove_dir_all(entry.path()).await {
                tracing::warn!(error = %e, "could not remove an old work folder");
            }
        }
    }
    tokio::task::spawn_blocking(move || tempfile::Builder::new().prefix(&prefix).tempdir_in(root))
        .await
        .map_err(std::io::Error::other)?
}

/// Moves the package into the blob store under `videos/{id}/hls/`, the master playlist last.
async fn store_package(deps: &Deps, id: i64, package: &HlsPackage) -> Result<()> {
    let prefix = hls_prefix(id);
    deps.blobs.delete_prefix(&prefix).await?;
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for v in &package.variants {
        let name = &v.plan.name;
        for segment in &v.segments {
            files.push((
                format!("{prefix}{name}/{}", file_name(segment)?),
                segment.clone(),
            ));
        }
        files.push((format!("{prefix}{name}/index.m3u8"), v.playlist.clone()));
    }
    files.push((format!("{prefix}thumbnail.jpg"), package.thumbnail.clone()));
    files.push((format!("{prefix}master.m3u8"), package.master.clone()));
    for (key, path) in files {
        deps.blobs.put_file(&key, &path).await?;
    }
    Ok(())
}

fn file_name(path: &Path) -> Result<String> {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Error::internal(format!("no file name in {}", path.display())))
}

/// In one transaction: `READY` with its size and renditions, and `VideoProcessed`. `false` when
/// the video is no longer processing (deleted meanwhile).
async fn mark_ready(
    deps: &Deps,
    id: i64,
    probe: &ffmpeg::ProbeInfo,
    package: &HlsPackage,
) -> Result<bool> {
    let txn = deps
        .db
        .begin()
        .await
        .context("starting to mark a video ready")?;
    let changed = video::Entity::update_many()
        .col_expr(
            video::Column::Status,
            Expr::value(status::as_str(VideoStatus::Ready)),
        )
        .col_expr(video::Column::ProgressPercent, Expr::value(100))
        .col_expr(
            video::Column::FailureReason,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            video::Column::FailureCode,
            Expr::value(Option::<String>::None),
        )
        .col_expr(video::Column::DurationMs, Expr::value(probe.duration_ms))
        .col_expr(
            video::Column::Width,
            Expr::value(probe.video.display_width as i32),
        )
        .col_expr(
            video::Column::Height,
            Expr::value(probe.video.display_height as i32),
        )
        .col_expr(video::Column::UpdatedAt, Expr::value(deps.db.now()))
        .filter(video::Column::Id.eq(id))
        .filter(video::Column::Status.eq(status::as_str(VideoStatus::Processing)))
        .exec(&txn)
        .await
        .context("marking a video ready")?;
    if changed.rows_affected == 0 {
        return Ok(false);
    }
    rendition::Entity::delete_many()
        .filter(rendition::Column::VideoId.eq(id))
        .exec(&txn)
        .await
        .context("clearing old renditions")?;
    let rows = package.variants.iter().map(|v| rendition::ActiveModel {
        video_id: Set(id),
        name: Set(v.plan.name.clone()),
        width: Set(v.plan.width as i32),
        height: Set(v.plan.height as i32),
        bandwidth: Set(v.bandwidth as i64),
        ..Default::default()
    });
    rendition::Entity::insert_many(rows)
        .exec(&txn)
        .await
        .context("recording renditions")?;
    let event = VideoProcessed {
        video_id: VideoId(id),
        version: next_version(&txn, id).await?,
        status: VideoStatus::Ready,
    };
    deps.outbox.enqueue(&txn, &event).await?;
    txn.commit().await.context("committing a ready video")?;
    deps.outbox.notify();
    publish_update(
        deps,
        &ProcessingUpdate {
            video_id: VideoId(id),
            status: VideoStatus::Ready,
            progress_percent: 100,
            failure_reason: None,
            failure_code: None,
        },
    )
    .await;
    Ok(true)
}

pub(crate) struct PurgeVideoFilesHandler {
    pub deps: Arc<Deps>,
}

#[async_trait]
impl EventHandler for PurgeVideoFilesHandler {
    fn name(&self) -> &'static str {
        "media.purge_video_files"
    }

    fn kinds(&self) -> &'static [&'static str] {
        const KINDS: &[&str] = &[<VideoDeleted as kanjian_contracts::IntegrationEvent>::KIND];
        KINDS
    }

    async fn handle(&self, event: &EventEnvelope) -> std::result::Result<(), HandlerError> {
        let Some(decoded) = event.decode::<VideoDeleted>() else {
            return Ok(());
        };
        let deleted = decoded.map_err(|e| HandlerError::Permanent(e.into()))?;
        purge_video_files(&self.deps, deleted.video_id)
            .await
            .map_err(HandlerError::from)
    }
}

/// Removes every stored file of a deleted video, its staged uploads and their rows.
#[tracing::instrument(skip_all, fields(video_id = %id))]
pub(crate) async fn purge_video_files(deps: &Deps, id: VideoId) -> Result<()> {
    deps.blobs.delete_prefix(&video_prefix(id.0)).await?;
    let uploads = crate::videos::uploads_of(deps.db.reader(), id.0).await?;
    for u in &uploads {
        crate::uploads::remove_staged(deps, u.id).await?;
    }
    upload::Entity::delete_many()
        .filter(upload::Column::VideoId.eq(id.0))
        .exec(deps.db.writer())
        .await
        .context("deleting a deleted video's uploads")?;
    tracing::info!(uploads = uploads.len(), "files of a deleted video removed");
    Ok(())
}
