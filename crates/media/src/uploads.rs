//! Use cases that bring a video's source file in: resumable (tus 1.0) uploads and one-shot
//! multipart uploads. Both end in the same check: ffprobe must find a playable video, then the
//! source moves into the blob store and `VideoUploaded` is enqueued with the status change.

use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use kanjian_contracts::media::{
    CreateUploadInput, ProcessingUpdate, SpooledFile, UploadProgress, UploadTicket,
    VideoDetailsInput, VideoDto, VideoStatus, VideoUploaded,
};
use kanjian_kernel::ids::{ChannelId, UploadId, UserId, VideoId};
use kanjian_kernel::{
    Actor, Context, Error, Result, Timestamp, UserError, UserErrorCode, Validation,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    };
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tracing::Instrument;

use crate::Deps;
use crate::domain::{VideoDetails, status};
use crate::entity::{upload, video};
use crate::ffmpeg::{self, ProbeInfo};
use crate::processing::{fail_video, publish_update};
use crate::videos::{find_video, hashtags_json, next_version, one_dto, source_key, video_prefix};

/// While a long `PATCH` streams in, its bytes are flushed and counted this often, so a crash
/// loses at most this much.
const CHECKPOINT_BYTES: u64 = 8 * 1024 * 1024;

pub(crate) fn staging_path(deps: &Deps, upload_id: i64) -> PathBuf {
    deps.config.uploads_dir().join(format!("{upload_id}.part"))
}

/// Removes an upload's staged bytes, if any.
pub(crate) async fn remove_staged(deps: &Deps, upload_id: i64) -> Result<()> {
    match tokio::fs::remove_file(staging_path(deps, upload_id)).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).context("removing a staged upload")
        }
        _ => Ok(()),
    }
}

/// The actor's channel: videos live on channels.
async fn channel_of(deps: &Deps, user: UserId) -> Result<ChannelId> {
    deps.identity
        .channel_of_user(user)
        .await?
        .map(|c| c.id)
        .ok_or_else(|| Error::user("", UserErrorCode::InvalidState, "open a channel first"))
}

fn check_size(v: &mut Validation, field: &str, size: u64, max: u64) {
    if size == 0 {
        v.push(UserError::new(
            field,
            UserErrorCode::Invalid,
            "the file is empty",
        ));
    } else if size > max || i64::try_from(size).is_err() {
        v.push(UserError::new(
            field,
            UserErrorCode::TooLarge,
            format!("the file is {size} bytes; the limit is {max} bytes"),
        ));
    }
}

async fn insert_video<C: ConnectionTrait>(
    conn: &C,
    channel: ChannelId,
    owner: UserId,
    details: VideoDetails,
    status: VideoStatus,
    probe: Option<&ProbeInfo>,
    at: Timestamp,
) -> Result<video::Model> {
    video::ActiveModel {
        channel_id: Set(channel.0),
        owner_id: Set(owner.0),
        title: Set(details.title.into_inner()),
        description: Set(details.description.into_inner()),
        hashtags: Set(hashtags_json(details.hashtags.as_slice())?),
        category: Set(details.category.map(|c| c.as_str().to_owned())),
        is_original: Set(details.is_original),
        status: Set(status::as_str(status).to_owned()),
        progress_percent: Set(0),
        failure_reason: Set(None),
        duration_ms: Set(probe.map(|p| p.duration_ms)),
        width: Set(probe.map(|p| p.video.display_width as i32)),
        height: Set(probe.map(|p| p.video.display_height as i32)),
        published_at: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
        ..Default::default()
    }
    .insert(conn)
    .await
    .context("creating a video")
}

#[tracing::instrument(skip_all, fields(size_bytes = input.size_bytes, video_id, upload_id))]
pub(crate) async fn create_upload(
    deps: &Deps,
    actor: &Actor,
    input: CreateUploadInput,
) -> Result<UploadTicket> {
    let user = actor.require_user()?;
    let mut v = Validation::new();
    let details = VideoDetails::collect(&input.details, &mut v);
    check_size(
        &mut v,
        "sizeBytes",
        input.size_bytes,
        deps.config.max_upload_bytes,
    );
    v.finish()?;
    let details = details.ok_or_else(|| Error::internal("validation passed without details"))?;
    let channel = channel_of(deps, user).await?;
    let at = deps.db.now();
    let txn = deps
        .db
        .begin()
        .await
        .context("starting to create an upload")?;
    let video = insert_video(
        &txn,
        channel,
        user,
        details,
        VideoStatus::Uploading,
        None,
        at,
    )
    .await?;
    let upload = upload::ActiveModel {
        video_id: Set(video.id),
        uploader_id: Set(user.0),
        length: Set(input.size_bytes as i64),
        offset: Set(0),
        created_at: Set(at),
        completed_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .context("creating an upload")?;
    txn.commit().await.context("committing a new upload")?;
    let span = tracing::Span::current();
    span.record("video_id", video.id);
    span.record("upload_id", upload.id);
    tracing::info!(
        filename = input.filename.as_deref().unwrap_or(""),
        "upload created"
    );
    Ok(UploadTicket {
        video: one_dto(deps.db.reader(), video).await?,
        upload_id: UploadId(upload.id),
        upload_url: format!("/uploads/{}", upload.id),
    })
}

/// The upload, if the actor started it and its video still exists.
async fn own_upload(deps: &Deps, actor: &Actor, id: UploadId) -> Result<upload::Model> {
    let user = actor.require_user()?;
    let row = upload::Entity::find_by_id(id.0)
        .one(deps.db.reader())
        .await
        .context("loading an upload")?
        .ok_or_else(|| Error::not_found("upload"))?;
    if row.uploader_id != user.0 {
        return Err(Error::forbidden("only the uploader may continue an upload"));
    }
    if find_video(deps.db.reader(), row.video_id).await?.is_none() {
        return Err(Error::not_found("upload"));
    }
    Ok(row)
}

fn progress_of(row: &upload::Model, offset: u64) -> UploadProgress {
    UploadProgress {
        upload_id: UploadId(row.id),
        video_id: VideoId(row.video_id),
        offset,
        length: row.length as u64,
    }
}

#[tracing::instrument(skip_all, fields(upload_id = %upload))]
pub(crate) async fn upload_progress(
    deps: &Deps,
    actor: &Actor,
    upload: UploadId,
) -> Result<UploadProgress> {
    let row = own_upload(deps, actor, upload).await?;
    Ok(progress_of(&row, row.offset as u64))
}

fn offset_mismatch(expected: u64, got: u64) -> Error {
    Error::user(
        "offset",
        UserErrorCode::UploadOffsetMismatch,
        format!("the upload continues at byte {expected}, not {got}"),
    )
}

fn too_large(length: u64) -> Error {
    Error::user(
        "",
        UserErrorCode::TooLarge,
        format!("more bytes were sent than the {length} the upload declared"),
    )
}

async fn record_offset<C: ConnectionTrait>(conn: &C, upload_id: i64, offset: u64) -> Result<()> {
    upload::Entity::update_many()
        .col_expr(upload::Column::Offset, Expr::value(offset as i64))
        .filter(upload::Column::Id.eq(upload_id))
        .exec(conn)
        .await
        .context("recording an upload's offset")?;
    Ok(())
}

#[tracing::instrument(skip_all, fields(upload_id = %upload, offset = offset))]
pub(crate) async fn append_upload(
    deps: Arc<Deps>,
    actor: &Actor,
    upload: UploadId,
    offset: u64,
    body: BoxStream<'static, std::io::Result<Bytes>>,
) -> Result<UploadProgress> {
    let row = own_upload(&deps, actor, upload).await?;
    let guard = deps.upload_locks.lock(row.id).await;
    // The bytes are written by a task of its own: if the request is dropped midway (the client
    // went away), what already arrived is still flushed and counted.
    let task = tokio::spawn(
        async move {
            let _guard = guard;
            append_locked(&deps, row.id, offset, body).await
        }
        .instrument(tracing::Span::current()),
    );
    task.await.context("appending to an upload")?
}

async fn append_locked(
    deps: &Deps,
    upload_id: i64,
    offset: u64,
    mut body: BoxStream<'static, std::io::Result<Bytes>>,
) -> Result<UploadProgress> {
    // Read again under the lock: an earlier request may just have moved it on.
    let row = upload::Entity::find_by_id(upload_id)
        .one(deps.db.reader())
        .await
        .context("loading an upload")?
        .ok_or_else(|| Error::not_found("upload"))?;
    let (start, length) = (row.offset as u64, row.length as u64);
    if offset != start {
        return Err(offset_mismatch(start, offset));
    }
    if start == length {
        while let Some(chunk) = body.next().await {
            if chunk.is_ok_and(|c| !c.is_empty()) {
                return Err(too_large(length));
            }
        }
        if row.completed_at.is_none() {
            // A crash came between the last byte and the end of finalizing: finish now.
            finalize_upload(deps, &row).await?;
        }
        return Ok(progress_of(&row, start));
    }
    let path = staging_path(deps, row.id);
    let end = write_body(deps, &row, &path, body).await?;
    tracing::debug!(received = end - start, offset = end, "upload bytes stored");
    if end == length {
        finalize_upload(deps, &row).await?;
    }
    Ok(progress_of(&row, end))
}

/// Appends the body at the recorded offset, flushing and recording as it goes. Returns the new
/// offset: every byte up to it is on disk.
async fn write_body(
    deps: &Deps,
    row: &upload::Model,
    path: &Path,
    mut body: BoxStream<'static, std::io::Result<Bytes>>,
) -> Result<u64> {
    let (start, length) = (row.offset as u64, row.length as u64);
    tokio::fs::create_dir_all(deps.config.uploads_dir())
        .await
        .context("creating the uploads folder")?;
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(path)
        .await
        .context("opening a staged upload")?;
    let on_disk = file
        .metadata()
        .await
        .context("reading a staged upload's size")?
        .len();
    if on_disk < start {
        // Counted bytes are gone (the file was removed by hand?): resume from what is there.
        record_offset(deps.db.writer(), row.id, on_disk).await?;
        return Err(offset_mismatch(on_disk, start));
    }
    if on_disk > start {
        // Bytes of a request that died before they were counted: the client resends them.
        file.set_len(start)
            .await
            .context("trimming a staged upload")?;
    }
    file.seek(SeekFrom::Start(start))
        .await
        .context("seeking in a staged upload")?;

    let room = length - start;
    let (mut written, mut unsynced, mut checkpointed) = (0u64, 0u64, false);
    let mut write_error = None;
    while let Some(chunk) = body.next().await {
        let bytes = match chunk {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::info!(error = %e, "the upload body ended early; keeping what arrived");
                break;
            }
        };
        if written + bytes.len() as u64 > room {
            // The whole request is refused: its bytes are not kept.
            file.set_len(start)
                .await
                .context("discarding an oversized request")?;
            file.sync_data().await.context("flushing a staged upload")?;
            if checkpointed {
                record_offset(deps.db.writer(), row.id, start).await?;
            }
            return Err(too_large(length));
        }
        if let Err(e) = file.write_all(&bytes).await {
            write_error = Some(e);
            break;
        }
        written += bytes.len() as u64;
        unsynced += bytes.len() as u64;
        if unsynced >= CHECKPOINT_BYTES {
            file.flush().await.context("flushing a staged upload")?;
            file.sync_data().await.context("syncing a staged upload")?;
            record_offset(deps.db.writer(), row.id, start + written).await?;
            (unsynced, checkpointed) = (0, true);
        }
    }
    let end = start + written;
    file.flush().await.context("flushing a staged upload")?;
    if write_error.is_some() {
        // A failed write may have left part of a chunk; only whole chunks count.
        file.set_len(end)
            .await
            .context("trimming a staged upload")?;
    }
    file.sync_data().await.context("syncing a staged upload")?;
    if end != start || checkpointed {
        record_offset(deps.db.writer(), row.id, end).await?;
    }
    match write_error {
        Some(e) => Err(e).context("writing a staged upload"),
        None => Ok(end),
    }
}

/// What ffprobe made of an upload.
enum Probed {
    Playable(Box<ProbeInfo>),
    Refused(String),
}

async fn probe_upload(deps: &Deps, path: &Path) -> Result<Probed> {
    match ffmpeg::probe(&deps.tools, path).await {
        Ok(info) => Ok(Probed::Playable(Box::new(info))),
        Err(e) if e.is_transient() => Err(e).context("probing an upload"),
        Err(e) => Ok(Probed::Refused(e.to_string())),
    }
}

/// The last byte of a resumable upload arrived: probe, then `PROCESSING` + `VideoUploaded`, or
/// `FAILED` with ffprobe's reason and the staged file removed.
#[tracing::instrument(skip_all, fields(video_id = upload.video_id, upload_id = upload.id))]
async fn finalize_upload(deps: &Deps, upload: &upload::Model) -> Result<()> {
    let Some(video) = find_video(deps.db.reader(), upload.video_id).await? else {
        return remove_staged(deps, upload.id).await;
    };
    if video.status != status::as_str(VideoStatus::Uploading) {
        return mark_completed(deps.db.writer(), upload.id, deps.db.now()).await;
    }
    let staged = staging_path(deps, upload.id);
    let staged_exists = tokio::fs::try_exists(&staged)
        .await
        .context("looking for a staged upload")?;
    // A crash between moving the file in and committing leaves it in the blob store already.
    let stored = if staged_exists {
        None
    } else {
        deps.blobs.local_copy(&source_key(video.id)).await?
    };
    let probe_path = match &stored {
        Some(copy) => copy.path().to_path_buf(),
        None if staged_exists => staged.clone(),
        None => {
            fail_video(
                deps,
                video.id,
                "the uploaded bytes were lost; upload the file again",
            )
            .await?;
            return mark_completed(deps.db.writer(), upload.id, deps.db.now()).await;
        }
    };
    let info = match probe_upload(deps, &probe_path).await? {
        Probed::Playable(info) => info,
        Probed::Refused(reason) => {
            drop(stored);
            fail_video(
                deps,
                video.id,
                &format!("the file is not a playable video: {reason}"),
            )
            .await?;
            mark_completed(deps.db.writer(), upload.id, deps.db.now()).await?;
            remove_staged(deps, upload.id).await?;
            deps.blobs.delete_prefix(&video_prefix(video.id)).await?;
            return Ok(());
        }
    };
    drop(stored);
    if staged_exists {
        deps.blobs.put_file(&source_key(video.id), &staged).await?;
    }
    let txn = deps
        .db
        .begin()
        .await
        .context("starting to finalize an upload")?;
    let changed = video::Entity::update_many()
        .col_expr(
            video::Column::Status,
            Expr::value(status::as_str(VideoStatus::Processing)),
        )
        .col_expr(video::Column::ProgressPercent, Expr::value(0))
        .col_expr(video::Column::DurationMs, Expr::value(info.duration_ms))
        .col_expr(
            video::Column::Width,
            Expr::value(info.video.display_width as i32),
        )
        .col_expr(
            video::Column::Height,
            Expr::value(info.video.display_height as i32),
        )
        .col_expr(video::Column::UpdatedAt, Expr::value(deps.db.now()))
        .filter(video::Column::Id.eq(video.id))
        .filter(video::Column::Status.eq(status::as_str(VideoStatus::Uploading)))
        .exec(&txn)
        .await
        .context("moving a video to processing")?;
    mark_completed(&txn, upload.id, deps.db.now()).await?;
    if changed.rows_affected == 0 {
        txn.commit().await.context("committing a finished upload")?;
        if find_video(deps.db.reader(), video.id).await?.is_none() {
            // Deleted while we finalized: its purge may have run already.
            deps.blobs.delete_prefix(&video_prefix(video.id)).await?;
        }
        return Ok(());
    }
    deps.outbox
        .enqueue(
            &txn,
            &VideoUploaded {
                video_id: VideoId(video.id),
                version: next_version(&txn, video.id).await?,
            },
        )
        .await?;
    txn.commit().await.context("committing a finished upload")?;
    deps.outbox.notify();
    tracing::info!("upload complete; processing queued");
    publish_update(
        deps,
        &ProcessingUpdate {
            video_id: VideoId(video.id),
            status: VideoStatus::Processing,
            progress_percent: 0,
            failure_reason: None,
        },
    )
    .await;
    Ok(())
}

async fn mark_completed<C: ConnectionTrait>(conn: &C, upload_id: i64, at: Timestamp) -> Result<()> {
    upload::Entity::update_many()
        .col_expr(upload::Column::CompletedAt, Expr::value(at))
        .filter(upload::Column::Id.eq(upload_id))
        .filter(upload::Column::CompletedAt.is_null())
        .exec(conn)
        .await
        .context("marking an upload complete")?;
    Ok(())
}

/// Removes a staged file when dropped, whatever happened.
struct Staged(PathBuf);

impl Drop for Staged {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.0)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.0.display(), error = %e, "could not remove a staged file");
        }
    }
}

/// Copies the spooled file into the staging folder (the request owns the original).
async fn stage_spooled(deps: &Deps, mut file: std::fs::File) -> Result<Staged> {
    let dir = deps.config.uploads_dir();
    tokio::fs::create_dir_all(&dir)
        .await
        .context("creating the uploads folder")?;
    let staged = Staged(dir.join(format!("mp-{}.part", uuid::Uuid::new_v4())));
    let path = staged.0.clone();
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        file.seek(SeekFrom::Start(0))?;
        let mut out = std::fs::File::create(&path)?;
        std::io::copy(&mut file, &mut out)?;
        out.sync_all()
    })
    .await
    .context("staging an uploaded file")?
    .context("staging an uploaded file")?;
    Ok(staged)
}

/// One request, one whole file: nothing is kept unless it is a playable video.
#[tracing::instrument(skip_all, fields(filename = %file.filename, video_id))]
pub(crate) async fn upload_video(
    deps: &Deps,
    actor: &Actor,
    details: VideoDetailsInput,
    file: SpooledFile,
) -> Result<VideoDto> {
    let user = actor.require_user()?;
    let size = file
        .file
        .metadata()
        .context("reading an uploaded file's size")?
        .len();
    let mut v = Validation::new();
    let details = VideoDetails::collect(&details, &mut v);
    check_size(&mut v, "file", size, deps.config.max_upload_bytes);
    v.finish()?;
    let details = details.ok_or_else(|| Error::internal("validation passed without details"))?;
    let channel = channel_of(deps, user).await?;

    let staged = stage_spooled(deps, file.file).await?;
    let info = match probe_upload(deps, &staged.0).await? {
        Probed::Playable(info) => info,
        Probed::Refused(reason) => {
            tracing::info!(reason = %reason, "upload refused: not a playable video");
            return Err(Error::user(
                "file",
                UserErrorCode::UnsupportedMedia,
                format!("{} is not a playable video: {reason}", file.filename),
            ));
        }
    };

    let txn = deps
        .db
        .begin()
        .await
        .context("starting to store an upload")?;
    let row = insert_video(
        &txn,
        channel,
        user,
        details,
        VideoStatus::Processing,
        Some(&info),
        deps.db.now(),
    )
    .await?;
    tracing::Span::current().record("video_id", row.id);
    deps.blobs.put_file(&source_key(row.id), &staged.0).await?;
    let committed = async {
        deps.outbox
            .enqueue(
                &txn,
                &VideoUploaded {
                    video_id: VideoId(row.id),
                    version: next_version(&txn, row.id).await?,
                },
            )
            .await?;
        txn.commit().await.context("committing an upload")
    }
    .await;
    if let Err(e) = committed {
        if let Err(cleanup) = deps.blobs.delete_prefix(&video_prefix(row.id)).await {
            tracing::warn!(error = ?cleanup, "could not remove the source of a failed upload");
        }
        return Err(e);
    }
    deps.outbox.notify();
    tracing::info!(size_bytes = size, "video uploaded; processing queued");
    one_dto(deps.db.reader(), row).await
}
