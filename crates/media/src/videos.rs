//! Use cases on videos that exist: edit, publish, unpublish, delete, read, watch processing,
//! and open the files players fetch.

use std::collections::HashMap;

use futures::StreamExt;
use futures::stream::{self, BoxStream};
use kanjian_contracts::media::{
    MediaFile, ProcessingUpdate, RenditionDto, UpdateVideoInput, VideoDeleted, VideoDetailsChanged,
    VideoDto,
    VideoPublished, VideoStatus, VideoUnpublished,
};
use kanjian_kernel::ids::{ChannelId, UserId, VideoId};
use kanjian_kernel::{Actor, Context, Error, Page, PageRequest, Result, UserErrorCode};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, };

use crate::Deps;
use crate::domain::{MediaPath, VideoChanges, failure, status};
use crate::entity::{rendition, upload, video};

/// Counts one more version of video `id` and returns it, in the transaction of the change its
/// event describes: the row stays locked to commit, so versions follow the commit order.
pub(crate) async fn next_version<C: ConnectionTrait>(txn: &C, id: i64) -> Result<i64> {
    let row = txn
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            txn.get_database_backend(),
            "UPDATE media_videos SET version = version + 1 WHERE id = $1 RETURNING version",
            [id.into()],
        ))
        .await
        .context("counting a video's version")?
        .ok_or_else(|| Error::internal(format!("video {id} vanished inside its own transaction")))?;
    row.try_get("", "version").context("reading a video's version")
}

pub(crate) fn source_key(id: i64) -> String {
    format!("videos/{id}/source")
}

pub(crate) fn hls_prefix(id: i64) -> String {
    format!("videos/{id}/hls/")
}

pub(crate) fn video_prefix(id: i64) -> String {
    format!("videos/{id}/")
}

pub(crate) fn hashtags_json(tags: &[String]) -> Result<String> {
    serde_json::to_string(tags).context("serialising hashtags")
}

/// Published and playable: anyone may see it.
fn is_public(row: &video::Model) -> bool {
    row.published_at.is_some() && row.status == status::as_str(VideoStatus::Ready)
}

fn may_see(actor: &Actor, row: &video::Model) -> bool {
    is_public(row) || actor.user_id() == Some(UserId(row.owner_id))
}

pub(crate) fn to_dto(row: video::Model, renditions: &[rendition::Model]) -> Result<VideoDto> {
    let status = status::parse(&row.status)?;
    let hashtags: Vec<String> =
        serde_json::from_str(&row.hashtags).context("reading stored hashtags")?;
    let ready = status == VideoStatus::Ready;
    let base = format!("/media/videos/{}", row.id);
    let mut renditions: Vec<RenditionDto> = if ready {
        renditions
            .iter()
            .map(|r| RenditionDto {
                name: r.name.clone(),
                width: r.width,
                height: r.height,
                bandwidth: r.bandwidth,
                playlist_url: format!("{base}/{}/index.m3u8", r.name),
            })
            .collect()
    } else {
        Vec::new()
    };
    renditions.sort_by_key(|r| (r.height.min(r.width), r.bandwidth));
    Ok(VideoDto {
        id: VideoId(row.id),
        channel_id: ChannelId(row.channel_id),
        owner_id: UserId(row.owner_id),
        title: row.title,
        description: row.description,
        hashtags,
        category: row.category,
        is_original: row.is_original,
        status,
        progress_percent: row.progress_percent.clamp(0, 100) as u8,
        failure_reason: row.failure_reason,
        failure_code: row.failure_code.as_deref().and_then(failure::parse),
        duration_ms: row.duration_ms,
        width: row.width,
        height: row.height,
        published_at: row.published_at,
        created_at: row.created_at,
        updated_at: row.updated_at,
        playlist_url: ready.then(|| format!("{base}/master.m3u8")),
        thumbnail_url: ready.then(|| format!("{base}/thumbnail.jpg")),
        renditions,
    })
}

pub(crate) fn processing_update(row: &video::Model) -> Result<ProcessingUpdate> {
    Ok(ProcessingUpdate {
        video_id: VideoId(row.id),
        status: status::parse(&row.status)?,
        progress_percent: row.progress_percent.clamp(0, 100) as u8,
        failure_reason: row.failure_reason.clone(),
        failure_code: row.failure_code.as_deref().and_then(failure::parse),
    })
}

async fn renditions_of<C: ConnectionTrait>(
    conn: &C,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<rendition::Model>>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = rendition::Entity::find()
        .filter(rendition::Column::VideoId.is_in(ids.iter().copied()))
        .all(conn)
        .await
        .context("loading renditions")?;
    let mut by_video: HashMap<i64, Vec<rendition::Model>> = HashMap::new();
    for r in rows {
        by_video.entry(r.video_id).or_default().push(r);
    }
    Ok(by_video)
}

/// Rows to DTOs, with their renditions in one query.
pub(crate) async fn to_dtos<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<video::Model>,
) -> Result<Vec<VideoDto>> {
    let ready: Vec<i64> = rows
        .iter()
        .filter(|r| r.status == status::as_str(VideoStatus::Ready))
        .map(|r| r.id)
        .collect();
    let renditions = renditions_of(conn, &ready).await?;
    with_renditions(rows, &renditions)
}

/// Rows to DTOs, each READY one with its renditions from `renditions` (keyed by video id);
/// renditions of a video that is not READY are never shown.
fn with_renditions(
    rows: Vec<video::Model>,
    renditions: &HashMap<i64, Vec<rendition::Model>>,
) -> Result<Vec<VideoDto>> {
    rows.into_iter()
        .map(|row| {
            let ready = row.status == status::as_str(VideoStatus::Ready);
            let list = renditions
                .get(&row.id)
                .filter(|_| ready)
                .map(Vec::as_slice)
                .unwrap_or_default();
            to_dto(row, list)
        })
        .collect()
}

pub(crate) async fn one_dto<C: ConnectionTrait>(conn: &C, row: video::Model) -> Result<VideoDto> {
    to_dtos(conn, vec![row])
        .await?
        .pop()
        .ok_or_else(|| Error::internal("a video vanished while being read"))
}

pub(crate) async fn find_video<C: ConnectionTrait>(
    conn: &C,
    id: i64,
) -> Result<Option<video::Model>> {
    video::Entity::find_by_id(id)
        .one(conn)
        .await
        .context("loading a video")
}

/// The video, if the actor owns it. `NotFound` for a video they may not see (someone else's
/// draft, unpublished or unprocessed video), exactly as for one that does not exist, so its
/// existence is not told; `Forbidden` for someone else's public video; `Unauthenticated` for
/// no one.
async fn owned_video<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    id: VideoId,
) -> Result<video::Model> {
    let user = actor.require_user()?;
    let row = find_video(conn, id.0)
        .await?
        .filter(|row| may_see(actor, row))
        .ok_or_else(|| Error::not_found("video"))?;
    if row.owner_id != user.0 {
        return Err(Error::forbidden("only the video's owner may do this"));
    }
    Ok(row)
}

#[tracing::instrument(skip_all, fields(video_id = %id))]
pub(crate) async fn update_video(
    deps: &Deps,
    actor: &Actor,
    id: VideoId,
    input: UpdateVideoInput,
) -> Result<VideoDto> {
    let row = owned_video(deps.db.reader(), actor, id).await?;
    let changes = VideoChanges::parse(&input)?;
    let mut active = row.into_active_model();
    if let Some(title) = changes.title {
        active.title = Set(title.into_inner());
    }
    if let Some(description) = changes.description {
        active.description = Set(description.into_inner());
    }
    if let Some(hashtags) = changes.hashtags {
        active.hashtags = Set(hashtags_json(hashtags.as_slice())?);
    }
    if let Some(category) = changes.category {
        active.category = Set(category.map(|c| c.as_str().to_owned()));
    }
    if let Some(is_original) = changes.is_original {
        active.is_original = Set(is_original);
    }
    active.updated_at = Set(deps.db.now());
    let txn = deps.db.begin().await.context("starting to update a video")?;
    let row = active.update(&txn).await.context("updating a video")?;
    let event = VideoDetailsChanged {
        video_id: id,
        version: next_version(&txn, id.0).await?,
        channel_id: ChannelId(row.channel_id),
        title: row.title.clone(),
        description: row.description.clone(),
        hashtags: serde_json::from_str(&row.hashtags).context("reading stored hashtags")?,
        category: row.category.clone(),
        is_original: row.is_original,
        published: row.published_at.is_some(),
        published_at: row.published_at,
    };
    deps.outbox.enqueue(&txn, &event).await?;
    txn.commit().await.context("committing a video update")?;
    deps.outbox.notify();
    tracing::info!("video updated");
    one_dto(deps.db.reader(), row).await
}

#[tracing::instrument(skip_all, fields(video_id = %id))]
pub(crate) async fn publish_video(deps: &Deps, actor: &Actor, id: VideoId) -> Result<VideoDto> {
    let row = owned_video(deps.db.reader(), actor, id).await?;
    if row.status != status::as_str(VideoStatus::Ready) {
        return Err(Error::user(
            "",
            UserErrorCode::InvalidState,
            format!(
                "only a READY video can be published; this one is {}",
                row.status
            ),
        ));
    }
    if row.published_at.is_some() {
        return one_dto(deps.db.reader(), row).await;
    }
    let published_at = deps.db.now();
    let mut event = VideoPublished {
        video_id: id,
        version: 0,
        channel_id: ChannelId(row.channel_id),
        owner_id: UserId(row.owner_id),
        title: row.title.clone(),
        description: row.description.clone(),
        hashtags: serde_json::from_str(&row.hashtags).context("reading stored hashtags")?,
        category: row.category.clone(),
        duration_ms: row.duration_ms,
        published_at,
    };
    let txn = deps.db.begin().await.context("starting to publish")?;
    let mut active = row.into_active_model();
    active.published_at = Set(Some(published_at));
    active.updated_at = Set(published_at);
    let row = active.update(&txn).await.context("publishing a video")?;
    event.version = next_version(&txn, id.0).await?;
    deps.outbox.enqueue(&txn, &event).await?;
    txn.commit().await.context("committing a publish")?;
    deps.outbox.notify();
    tracing::info!("video published");
    one_dto(deps.db.reader(), row).await
}

#[tracing::instrument(skip_all, fields(video_id = %id))]
pub(crate) async fn unpublish_video(deps: &Deps, actor: &Actor, id: VideoId) -> Result<VideoDto> {
    let row = owned_video(deps.db.reader(), actor, id).await?;
    if row.published_at.is_none() {
        return one_dto(deps.db.reader(), row).await;
    }
    let txn = deps.db.begin().await.context("starting to unpublish")?;
    let mut active = row.into_active_model();
    active.published_at = Set(None);
    active.updated_at = Set(deps.db.now());
    let row = active.update(&txn).await.context("unpublishing a video")?;
    let version = next_version(&txn, id.0).await?;
    deps.outbox
        .enqueue(&txn, &VideoUnpublished { video_id: id, version })
        .await?;
    txn.commit().await.context("committing an unpublish")?;
    deps.outbox.notify();
    tracing::info!("video unpublished");
    one_dto(deps.db.reader(), row).await
}

/// Deletes the rows and enqueues `VideoDeleted`; the purge handler removes the files (and the
/// upload rows, which name the staged files) durably.
#[tracing::instrument(skip_all, fields(video_id = %id))]
pub(crate) async fn delete_video(deps: &Deps, actor: &Actor, id: VideoId) -> Result<()> {
    let row = owned_video(deps.db.reader(), actor, id).await?;
    let txn = deps
        .db
        .begin()
        .await
        .context("starting to delete a video")?;
    rendition::Entity::delete_many()
        .filter(rendition::Column::VideoId.eq(row.id))
        .exec(&txn)
        .await
        .context("deleting renditions")?;
    let version = next_version(&txn, row.id).await?;
    video::Entity::delete_by_id(row.id)
        .exec(&txn)
        .await
        .context("deleting a video")?;
    deps.outbox
        .enqueue(
            &txn,
            &VideoDeleted {
                video_id: id,
                version,
                channel_id: ChannelId(row.channel_id),
            },
        )
        .await?;
    txn.commit().await.context("committing a delete")?;
    deps.outbox.notify();
    tracing::info!("video deleted");
    Ok(())
}

/// In the order asked; missing and hidden ones left out.
#[tracing::instrument(skip_all, fields(count = ids.len()))]
pub(crate) async fn videos_by_ids(
    deps: &Deps,
    actor: &Actor,
    ids: &[VideoId],
) -> Result<Vec<VideoDto>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // The renditions are read beside the videos rather than after them (a feed page resolves
    // its cards through here, so this saves it a round trip); only those of READY videos the
    // actor may see are used.
    let asked: Vec<i64> = ids.iter().map(|id| id.0).collect();
    let videos = async {
        video::Entity::find()
            .filter(video::Column::Id.is_in(asked.iter().copied()))
            .all(deps.db.reader())
            .await
            .context("loading videos")
    };
    let (rows, renditions) = futures::try_join!(videos, renditions_of(deps.db.reader(), &asked))?;
    let mut by_id: HashMap<i64, video::Model> = rows
        .into_iter()
        .filter(|r| may_see(actor, r))
        .map(|r| (r.id, r))
        .collect();
    let ordered: Vec<video::Model> = ids.iter().filter_map(|id| by_id.remove(&id.0)).collect();
    with_renditions(ordered, &renditions)
}

#[tracing::instrument(skip_all, fields(channel_id = %channel))]
pub(crate) async fn channel_videos(
    deps: &Deps,
    actor: &Actor,
    channel: ChannelId,
    page: PageRequest,
) -> Result<Page<VideoDto>> {
    let limit = page.limit();
    let after: Option<(i64, i64)> = page.after_key()?;
    let public = Condition::all()
        .add(video::Column::PublishedAt.is_not_null())
        .add(video::Column::Status.eq(status::as_str(VideoStatus::Ready)));
    let visible = match actor.user_id() {
        Some(user) => Condition::any()
            .add(public)
            .add(video::Column::OwnerId.eq(user.0)),
        None => public,
    };
    let mut query = video::Entity::find()
        .filter(video::Column::ChannelId.eq(channel.0))
        .filter(visible);
    if let Some((millis, id)) = after {
        let at = chrono::DateTime::from_timestamp_millis(millis).ok_or_else(|| {
            Error::user("after", UserErrorCode::Invalid, "the cursor is not valid")
        })?;
        query = query.filter(
            Condition::any().add(video::Column::CreatedAt.lt(at)).add(
                Condition::all()
                    .add(video::Column::CreatedAt.eq(at))
                    .add(video::Column::Id.lt(id)),
            ),
        );
    }
    let rows = query
        .order_by_desc(video::Column::CreatedAt)
        .order_by_desc(video::Column::Id)
        .limit(u64::from(limit) + 1)
        .all(deps.db.reader())
        .await
        .context("listing a channel's videos")?;
    let page = Page::from_rows(rows, limit, after.is_some(), |r| {
        (r.created_at.timestamp_millis(), r.id)
    });
    let (cursors, rows): (Vec<_>, Vec<_>) = page.items.into_iter().unzip();
    let dtos = to_dtos(deps.db.reader(), rows).await?;
    Ok(Page {
        items: cursors.into_iter().zip(dtos).collect(),
        has_next_page: page.has_next_page,
        has_previous_page: page.has_previous_page,
    })
}

/// How often a processing watcher re-reads the row, in case a hub message was missed.
const WATCH_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

enum Seen {
    Update(ProcessingUpdate),
    Gone,
}

/// The video if the actor owns it. Anyone else's looks exactly like a missing one: `NotFound`,
/// with the same message, so a watcher cannot learn which ids exist.
async fn own_video_or_not_found<C: ConnectionTrait>(
    conn: &C,
    user: UserId,
    id: VideoId,
) -> Result<video::Model> {
    find_video(conn, id.0)
        .await?
        .filter(|row| row.owner_id == user.0)
        .ok_or_else(|| Error::not_found("video"))
}

/// Authorizes first (nothing is subscribed for a video the actor may not watch), then
/// subscribes, then reads the row again, so no change between the two reads is missed.
#[tracing::instrument(skip_all, fields(video_id = %id))]
pub(crate) async fn watch_processing(
    deps: &Deps,
    actor: &Actor,
    id: VideoId,
) -> Result<BoxStream<'static, ProcessingUpdate>> {
    let user = actor.require_user()?;
    let row = own_video_or_not_found(deps.db.reader(), user, id).await?;
    let current = processing_update(&row)?;
    if status::is_terminal(current.status) {
        return Ok(stream::once(async move { current }).boxed());
    }
    let updates = deps
        .hub
        .subscribe(&crate::processing::topic(id.0))
        .await
        .map_err(|e| Error::Internal(e.context("subscribing to processing updates")))?;
    let row = own_video_or_not_found(deps.db.reader(), user, id).await?;
    let current = processing_update(&row)?;
    if status::is_terminal(current.status) {
        return Ok(stream::once(async move { current }).boxed());
    }
    // The hub is fast but ephemeral: a lagging subscriber, or processing on another node, can
    // miss a message. A slow re-read of the row backs it up, so the stream always ends.
    let from_hub = updates
        .filter_map(move |message| async move {
            serde_json::from_value::<ProcessingUpdate>(message)
                .ok()
                .filter(|u| u.video_id == id)
                .map(Seen::Update)
        })
        .boxed();
    let db = deps.db.clone();
    let from_db = stream::unfold(db, move |db| async move {
        tokio::time::sleep(WATCH_POLL_INTERVAL).await;
        let seen = match find_video(db.reader(), id.0).await {
            Ok(Some(row)) => processing_update(&row).ok().map(Seen::Update),
            Ok(None) => Some(Seen::Gone),
            Err(_) => None,
        };
        Some((seen, db))
    })
    .filter_map(|seen| async move { seen })
    .boxed();
    let merged = stream::select(from_hub, from_db);
    // Ends right after READY or FAILED (or when the video is deleted); repeats and steps back in
    // progress (a stale read, a restarted run) are not shown.
    let later = stream::unfold(
        (merged, current.clone(), false),
        |(mut merged, mut last, ended)| async move {
            if ended {
                return None;
            }
            loop {
                let update = match merged.next().await? {
                    Seen::Gone => return None,
                    Seen::Update(update) => update,
                };
                let stale = update == last
                    || (update.status == last.status
                        && update.progress_percent < last.progress_percent);
                if stale {
                    continue;
                }
                last = update.clone();
                let ended = status::is_terminal(update.status);
                return Some((update, (merged, last, ended)));
            }
        },
    );
    Ok(stream::once(async move { current }).chain(later).boxed())
}

#[tracing::instrument(skip_all, fields(video_id = %id, path = path))]
pub(crate) async fn open_file(
    deps: &Deps,
    actor: &Actor,
    id: VideoId,
    path: &str,
) -> Result<MediaFile> {
    let Some(file) = MediaPath::parse(path) else {
        return Err(Error::not_found("file"));
    };
    let row = find_video(deps.db.reader(), id.0)
        .await?
        .ok_or_else(|| Error::not_found("video"))?;
    if !may_see(actor, &row) {
        // The same answer as for a missing video: existence is not leaked.
        return Err(Error::not_found("video"));
    }
    let key = format!("{}{}", hls_prefix(row.id), file.relative());
    let object = deps
        .blobs
        .open(&key)
        .await?
        .ok_or_else(|| Error::not_found("file"))?;
    Ok(MediaFile {
        content_type: file.content_type(),
        length: object.length,
        body: object.body,
    })
}

/// The upload rows of a video (used by the purge handler).
pub(crate) async fn uploads_of<C: ConnectionTrait>(
    conn: &C,
    video_id: i64,
) -> Result<Vec<upload::Model>> {
    upload::Entity::find()
        .filter(upload::Column::VideoId.eq(video_id))
        .all(conn)
        .await
        .context("loading a video's uploads")
}

/// Sets the progress of a video still processing.
pub(crate) async fn set_progress<C: ConnectionTrait>(conn: &C, id: i64, percent: u8) -> Result<()> {
    video::Entity::update_many()
        .col_expr(
            video::Column::ProgressPercent,
            Expr::value(i32::from(percent)),
        )
        .filter(video::Column::Id.eq(id))
        .filter(video::Column::Status.eq(status::as_str(VideoStatus::Processing)))
        .exec(conn)
        .await
        .context("recording processing progress")?;
    Ok(())
}
