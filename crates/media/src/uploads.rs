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
    CreateUploadInput, ImportVideoInput, ProcessingUpdate, SpooledFile, UploadProgress, UploadTicket,
    VideoDetailsInput, VideoDto, VideoFailureCode, VideoStatus, VideoUploaded,
};
use kanjian_kernel::ids::{ChannelId, UploadId, UserId, VideoId};
use kanjian_kernel::{
    Actor, Context, Error, Result, Timestamp, UserError, UserErrorCode, Validation,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tracing::Instrument;

use crate::Deps;
use crate::domain::{VideoDetails, status};
use crate::entity::{upload, video};
use crate::ffmpeg::{self, ProbeInfo, ToolError};
use crate::processing::{fail_video, fail_video_in, failure_code, publish_update};
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
    kanjian_db::rate_limit::check(&deps.db, &deps.config.upload_limits(user, input.size_bytes)).await?;
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
    let expires_at = at + deps.config.upload_expiry();
    let upload = upload::ActiveModel {
        video_id: Set(video.id),
        uploader_id: Set(user.0),
        length: Set(input.size_bytes as i64),
        offset: Set(0),
        created_at: Set(at),
        completed_at: Set(None),
        expires_at: Set(Some(expires_at)),
        expired_at: Set(None),
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
        expires_at,
    })
}

/// When an unfinished upload is abandoned: `expires_at`, or for uploads made before it was
/// recorded, the expiry after `created_at`.
fn expires_at_of(deps: &Deps, row: &upload::Model) -> Timestamp {
    row.expires_at
        .unwrap_or_else(|| row.created_at + deps.config.upload_expiry())
}

fn expired() -> Error {
    Error::user(
        "",
        UserErrorCode::Expired,
        "the upload expired and its bytes were removed; start a new upload",
    )
}

/// The upload, if the actor started it, its video still exists and it has not expired (an
/// upload past its expiry that no sweep has reached yet is expired now). Anyone else's upload
/// answers exactly as a missing one.
async fn own_upload(deps: &Deps, actor: &Actor, id: UploadId) -> Result<upload::Model> {
    let user = actor.require_user()?;
    let row = upload::Entity::find_by_id(id.0)
        .one(deps.db.reader())
        .await
        .context("loading an upload")?
        .filter(|row| row.uploader_id == user.0)
        .ok_or_else(|| Error::not_found("upload"))?;
    if find_video(deps.db.reader(), row.video_id).await?.is_none() {
        return Err(Error::not_found("upload"));
    }
    if row.expired_at.is_some() {
        return Err(expired());
    }
    if row.completed_at.is_none() && expires_at_of(deps, &row) <= deps.db.now() {
        expire_upload(deps, row.id).await?;
        // Expired now, unless bytes arriving elsewhere just pushed its expiry back.
        let row = upload::Entity::find_by_id(id.0)
            .one(deps.db.reader())
            .await
            .context("loading an upload")?
            .ok_or_else(|| Error::not_found("upload"))?;
        if row.expired_at.is_some() {
            return Err(expired());
        }
        return Ok(row);
    }
    Ok(row)
}

fn progress_of(deps: &Deps, row: &upload::Model, offset: u64) -> UploadProgress {
    let finished = row.completed_at.is_some() || offset == row.length as u64;
    UploadProgress {
        upload_id: UploadId(row.id),
        video_id: VideoId(row.video_id),
        offset,
        length: row.length as u64,
        expires_at: (!finished).then(|| expires_at_of(deps, row)),
    }
}

#[tracing::instrument(skip_all, fields(upload_id = %upload))]
pub(crate) async fn upload_progress(
    deps: &Deps,
    actor: &Actor,
    upload: UploadId,
) -> Result<UploadProgress> {
    let row = own_upload(deps, actor, upload).await?;
    Ok(progress_of(deps, &row, row.offset as u64))
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

/// Everything about a `PATCH` that can be checked without its body: the offset, and the body's
/// declared length against what the upload still lacks (and against the size limit).
fn check_request(
    deps: &Deps,
    row: &upload::Model,
    offset: u64,
    content_length: Option<u64>,
) -> Result<()> {
    let (start, length) = (row.offset as u64, row.length as u64);
    if offset != start {
        return Err(offset_mismatch(start, offset));
    }
    if length > deps.config.max_upload_bytes {
        return Err(Error::user(
            "",
            UserErrorCode::TooLarge,
            format!(
                "the upload declared {length} bytes; the limit is {} bytes",
                deps.config.max_upload_bytes
            ),
        ));
    }
    if let Some(sent) = content_length
        && sent > length - start
    {
        return Err(Error::user(
            "",
            UserErrorCode::TooLarge,
            format!(
                "the request carries {sent} bytes but the upload lacks only {} of the {length} it declared",
                length - start
            ),
        ));
    }
    Ok(())
}

/// Records how far an upload got, and pushes its expiry back: bytes are arriving.
async fn record_offset<C: ConnectionTrait>(
    conn: &C,
    deps: &Deps,
    upload_id: i64,
    offset: u64,
) -> Result<()> {
    let expires_at = deps.db.now() + deps.config.upload_expiry();
    upload::Entity::update_many()
        .col_expr(upload::Column::Offset, Expr::value(offset as i64))
        .col_expr(upload::Column::ExpiresAt, Expr::value(expires_at))
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
    content_length: Option<u64>,
    body: BoxStream<'static, std::io::Result<Bytes>>,
) -> Result<UploadProgress> {
    // Who asks, and expiry, before waiting for the lock; the offset and the length under it,
    // where the row cannot move (a request queued behind another may continue where that one
    // ends). The body is not polled until all of them passed.
    let row = own_upload(&deps, actor, upload).await?;
    kanjian_db::rate_limit::check(&deps.db, &[kanjian_db::Limit::per_user("upload_patch", row.uploader_id, &deps.config.upload_patches_per_user)]).await?;
    let guard = deps.upload_locks.lock(row.id).await;
    // The bytes are written by a task of its own: if the request is dropped midway (the client
    // went away), what already arrived is still flushed and counted.
    let task = tokio::spawn(
        async move {
            let _guard = guard;
            append_locked(&deps, row.id, offset, content_length, body).await
        }
        .instrument(tracing::Span::current()),
    );
    task.await.context("appending to an upload")?
}

async fn append_locked(
    deps: &Deps,
    upload_id: i64,
    offset: u64,
    content_length: Option<u64>,
    mut body: BoxStream<'static, std::io::Result<Bytes>>,
) -> Result<UploadProgress> {
    // Read again under the lock: an earlier request may just have moved it on, or a sweep
    // expired it.
    let row = upload::Entity::find_by_id(upload_id)
        .one(deps.db.reader())
        .await
        .context("loading an upload")?
        .ok_or_else(|| Error::not_found("upload"))?;
    if row.expired_at.is_some() {
        return Err(expired());
    }
    check_request(deps, &row, offset, content_length)?;
    let (start, length) = (row.offset as u64, row.length as u64);
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
        return Ok(progress_of(deps, &row, start));
    }
    let path = staging_path(deps, row.id);
    let end = write_body(deps, &row, &path, body).await?;
    tracing::debug!(received = end - start, offset = end, "upload bytes stored");
    if end == length {
        finalize_upload(deps, &row).await?;
    }
    let mut row = row;
    if end != start {
        row.expires_at = Some(deps.db.now() + deps.config.upload_expiry());
    }
    Ok(progress_of(deps, &row, end))
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
        record_offset(deps.db.writer(), deps, row.id, on_disk).await?;
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
                record_offset(deps.db.writer(), deps, row.id, start).await?;
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
            record_offset(deps.db.writer(), deps, row.id, start + written).await?;
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
        record_offset(deps.db.writer(), deps, row.id, end).await?;
    }
    match write_error {
        Some(e) => Err(e).context("writing a staged upload"),
        None => Ok(end),
    }
}

/// What ffprobe made of an upload.
enum Probed {
    Playable(Box<ProbeInfo>),
    Refused(VideoFailureCode, String),
}

/// Probes the header (refusing formats that are not accepted), then reads every packet to make
/// sure the file holds what its header claims.
async fn probe_upload(deps: &Deps, path: &Path) -> Result<Probed> {
    let refused = |e: ToolError| -> Result<Probed> {
        if e.is_transient() {
            return Err(e).context("probing an upload");
        }
        Ok(Probed::Refused(
            failure_code(&e, VideoFailureCode::NotAVideo),
            e.to_string(),
        ))
    };
    let info = match ffmpeg::probe(&deps.tools, path).await {
        Ok(info) => info,
        Err(e) => return refused(e),
    };
    match ffmpeg::verify_complete(&deps.tools, path, &info).await {
        Ok(()) => Ok(Probed::Playable(Box::new(info))),
        Err(e) => refused(e),
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
                VideoFailureCode::SourceLost,
                "the uploaded bytes were lost; upload the file again",
            )
            .await?;
            return mark_completed(deps.db.writer(), upload.id, deps.db.now()).await;
        }
    };
    let info = match probe_upload(deps, &probe_path).await? {
        Probed::Playable(info) => info,
        Probed::Refused(code, reason) => {
            drop(stored);
            fail_video(
                deps,
                video.id,
                code,
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
            failure_code: None,
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
    kanjian_db::rate_limit::check(&deps.db, &deps.config.upload_limits(user, size)).await?;

    let staged = stage_spooled(deps, file.file).await?;
    let info = match probe_upload(deps, &staged.0).await? {
        Probed::Playable(info) => info,
        Probed::Refused(_, reason) => {
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

/// Expires upload `upload_id` if it is unfinished and past its expiry: in one transaction the
/// upload is marked expired and its video `FAILED` (`UPLOAD_EXPIRED`, with `VideoProcessed`),
/// then the staged bytes are removed and watchers hear it (their streams end). Holds the
/// upload's lock, so a `PATCH` on this node is either done before or refused after. `false`
/// when there was nothing to do.
#[tracing::instrument(skip_all, fields(upload_id))]
pub(crate) async fn expire_upload(deps: &Deps, upload_id: i64) -> Result<bool> {
    let _guard = deps.upload_locks.lock(upload_id).await;
    let now = deps.db.now();
    let txn = deps.db.begin().await.context("starting to expire an upload")?;
    // Only if it is still overdue as this statement runs: bytes arriving through another node
    // push `expires_at` back, and then this changes nothing.
    let changed = upload::Entity::update_many()
        .col_expr(upload::Column::ExpiredAt, Expr::value(now))
        .filter(upload::Column::Id.eq(upload_id))
        .filter(overdue(deps, now))
        .exec(&txn)
        .await
        .context("marking an upload expired")?;
    if changed.rows_affected == 0 {
        return Ok(false);
    }
    let row = upload::Entity::find_by_id(upload_id)
        .one(&txn)
        .await
        .context("loading an expired upload")?
        .ok_or_else(|| Error::internal("an upload vanished inside its own transaction"))?;
    let hours = deps.config.upload_expiry_hours.max(1);
    let reason = format!(
        "the upload was abandoned: no bytes arrived for {hours} hours, so the {} of {} bytes \
         received were removed; upload the file again",
        row.offset, row.length
    );
    let failed =
        fail_video_in(deps, &txn, row.video_id, VideoFailureCode::UploadExpired, &reason).await?;
    txn.commit().await.context("committing an expired upload")?;
    tracing::info!(video_id = row.video_id, offset = row.offset, "upload expired");
    // The bytes go before watchers hear of it: what they are told is then all done. Should the
    // removal fail, they still see the end on their next re-read of the row.
    let removed = remove_staged(deps, upload_id).await;
    if let Some(update) = failed {
        deps.outbox.notify();
        publish_update(deps, &update).await;
    }
    removed?;
    Ok(true)
}

/// Unfinished, not yet expired, and past its expiry at `now`.
fn overdue(deps: &Deps, now: Timestamp) -> Condition {
    Condition::all()
        .add(upload::Column::CompletedAt.is_null())
        .add(upload::Column::ExpiredAt.is_null())
        .add(
            Condition::any()
                .add(upload::Column::ExpiresAt.lte(now))
                .add(
                    Condition::all()
                        .add(upload::Column::ExpiresAt.is_null())
                        .add(upload::Column::CreatedAt.lte(now - deps.config.upload_expiry())),
                ),
        )
}

/// Uploads expired per sweep at most; the next sweep takes the rest.
const SWEEP_BATCH: u64 = 500;

/// Expires every abandoned upload (see [`expire_upload`]); returns how many.
#[tracing::instrument(skip_all)]
pub(crate) async fn expire_abandoned_uploads(deps: &Deps) -> Result<usize> {
    let now = deps.db.now();
    let ids: Vec<i64> = upload::Entity::find()
        .select_only()
        .column(upload::Column::Id)
        .filter(overdue(deps, now))
        .order_by_asc(upload::Column::Id)
        .limit(SWEEP_BATCH)
        .into_tuple()
        .all(deps.db.reader())
        .await
        .context("looking for abandoned uploads")?;
    let mut expired = 0;
    for id in ids {
        if expire_upload(deps, id).await? {
            expired += 1;
        }
    }
    if expired > 0 {
        tracing::info!(expired, "abandoned uploads expired");
    }
    Ok(expired)
}

async fn find_imported<C: ConnectionTrait>(conn: &C, key: &str) -> Result<Option<video::Model>> {
    video::Entity::find()
        .filter(video::Column::ImportKey.eq(key))
        .one(conn)
        .await
        .context("looking for an imported video")
}

/// Imports a recording (a live room's replay) as an unpublished video of its channel, packaged
/// as it is when it can be. The same `import_key` twice gives the first video. A file that is
/// not a playable video is an error for the importer; nothing is written.
#[tracing::instrument(skip_all, fields(import_key = %input.import_key, video_id))]
pub(crate) async fn import_video(deps: &Deps, input: ImportVideoInput) -> Result<VideoId> {
    if let Some(row) = find_imported(deps.db.reader(), &input.import_key).await? {
        return Ok(VideoId(row.id));
    }
    let details = VideoDetails::parse(&VideoDetailsInput {
        title: input.title.clone(),
        description: Some(input.description.clone()),
        hashtags: Vec::new(),
        category: None,
        is_original: true,
    })?;
    let info = match probe_upload(deps, &input.source).await? {
        Probed::Playable(info) => info,
        Probed::Refused(_, reason) => {
            return Err(Error::internal(format!("an imported recording is not a playable video: {reason}")));
        }
    };
    let txn = deps.db.begin().await.context("starting to import a video")?;
    let row = insert_video(&txn, input.channel, input.owner, details, VideoStatus::Processing, Some(&info), deps.db.now()).await?;
    tracing::Span::current().record("video_id", row.id);
    let mut active: video::ActiveModel = row.into();
    active.import_key = Set(Some(input.import_key.clone()));
    active.copy_package = Set(true);
    let row = match active.update(&txn).await {
        Ok(row) => row,
        Err(e) if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) => {
            // Imported meanwhile by another delivery: that one stands.
            txn.rollback().await.context("rolling back a repeated import")?;
            let row = find_imported(deps.db.reader(), &input.import_key).await?.ok_or_else(|| Error::internal("an import vanished"))?;
            return Ok(VideoId(row.id));
        }
        Err(e) => return Err(e).context("marking an imported video"),
    };
    deps.blobs.put_file(&source_key(row.id), &input.source).await?;
    let committed = async {
        deps.outbox
            .enqueue(&txn, &VideoUploaded { video_id: VideoId(row.id), version: next_version(&txn, row.id).await? })
            .await?;
        txn.commit().await.context("committing an import")
    }
    .await;
    if let Err(e) = committed {
        if let Err(cleanup) = deps.blobs.delete_prefix(&video_prefix(row.id)).await {
            tracing::warn!(error = ?cleanup, "could not remove the source of a failed import");
        }
        return Err(e);
    }
    deps.outbox.notify();
    tracing::info!("recording imported; processing queued");
    Ok(VideoId(row.id))
}
