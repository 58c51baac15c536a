//! Replays: when a room ends, its whole broadcast becomes a video of the channel through
//! media. The room's segments are copied from the blob store into a work folder (a download
//! with S3), ffmpeg joins them (across reconnects, each run with its own init segment) into one
//! MP4 without re-encoding, and media packages it as it is, so the replay is READY within
//! seconds of the end whatever the broadcast's length.

use std::sync::Arc;

use async_trait::async_trait;
use futures::TryStreamExt;
use kanjian_contracts::live::LiveRoomEnded;
use kanjian_contracts::media::ImportVideoInput;
use kanjian_contracts::{EventEnvelope, IntegrationEvent};
use kanjian_events::{EventHandler, HandlerError};
use kanjian_kernel::ids::{ChannelId, LiveRoomId, UserId};
use kanjian_kernel::{Context, Error, Result};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::Deps;
use crate::broadcast::{playlist, room_key, segment_name};
use crate::entity::{part, room, segment};
use crate::rooms::{announce, find_room};

/// `live.make_replay`, on `live.room_ended`.
pub(crate) struct ReplayHandler {
    pub deps: Arc<Deps>,
}

#[async_trait]
impl EventHandler for ReplayHandler {
    fn name(&self) -> &'static str {
        "live.make_replay"
    }

    fn kinds(&self) -> &'static [&'static str] {
        const KINDS: &[&str] = &[LiveRoomEnded::KIND];
        KINDS
    }

    /// One ffmpeg at a time per node: joining is I/O bound, and rooms end one by one.
    fn max_concurrency(&self) -> usize {
        1
    }

    async fn handle(&self, event: &EventEnvelope) -> std::result::Result<(), HandlerError> {
        let Some(ended) = event.decode::<LiveRoomEnded>() else { return Ok(()) };
        let ended = ended.map_err(|e| HandlerError::Permanent(e.into()))?;
        Ok(make_replay(&self.deps, ended.room_id, ended.channel_id, ended.owner_id).await?)
    }
}

/// The ENDED playlist lists segments only: the room's LL-HLS parts (copies of its last
/// segments' bytes) are removed, files and rows.
async fn drop_parts(deps: &Deps, id: LiveRoomId) -> Result<()> {
    deps.blobs.delete_prefix(&room_key(id, "part-")).await?;
    part::Entity::delete_many().filter(part::Column::RoomId.eq(id.0)).exec(deps.db.writer()).await.context("removing a room's parts")?;
    Ok(())
}

#[tracing::instrument(skip_all, fields(room_id = %id))]
async fn make_replay(deps: &Deps, id: LiveRoomId, channel: ChannelId, owner: UserId) -> Result<()> {
    let Some(row) = find_room(deps.db.reader(), id).await? else { return Ok(()) };
    drop_parts(deps, id).await?;
    if row.replay_video_id.is_some() {
        return Ok(());
    }
    let segments = segment::Entity::find()
        .filter(segment::Column::RoomId.eq(id.0))
        .order_by_asc(segment::Column::Sequence)
        .all(deps.db.reader())
        .await
        .context("loading a room's segments")?;
    if segments.is_empty() {
        tracing::info!("the room ended with nothing broadcast; no replay");
        return Ok(());
    }
    let Some(importer) = &deps.importer else {
        tracing::warn!("no module imports videos; the replay stays as the room's playlist");
        return Ok(());
    };
    // The ENDED playlist lists every segment, with a new map after each discontinuity; its files
    // go beside it in a work folder that is removed however this ends.
    let work = tokio::fs::create_dir_all(deps.config.data_dir.join("tmp"))
        .await
        .and_then(|()| tempfile::Builder::new().prefix("live-replay-").tempdir_in(deps.config.data_dir.join("tmp")))
        .context("making a replay's work folder")?;
    let dir = work.path();
    let mut names: Vec<String> = segments.iter().map(|s| segment_name(s.sequence)).collect();
    for s in &segments {
        if !names.contains(&s.init_name) {
            names.push(s.init_name.clone());
        }
    }
    let fetched = std::time::Instant::now();
    futures::stream::iter(names.iter().map(Ok::<_, Error>))
        .try_for_each_concurrent(8, |name| async move {
            if kanjian_blob::copy_to_file(deps.blobs.as_ref(), &room_key(id, name), &dir.join(name)).await? {
                Ok(())
            } else {
                Err(Error::internal(format!("live file {name} of room {} is listed but not stored", id.0)))
            }
        })
        .await?;
    tracing::info!(files = names.len(), fetch_ms = fetched.elapsed().as_millis() as u64, "replay segments fetched");
    let list = dir.join("replay.m3u8");
    tokio::fs::write(&list, playlist(deps, id, kanjian_contracts::live::LiveRoomState::Ended).await?)
        .await
        .context("writing a replay's playlist")?;
    let joined = dir.join("replay.mp4");
    join_segments(&deps.config.ingest.ffmpeg, &list, &joined).await?;
    let video = importer
        .import_video(ImportVideoInput {
            owner,
            channel,
            title: row.title.clone(),
            description: row.description.clone(),
            source: joined.clone(),
            import_key: format!("live.replay:{}", id.0),
        })
        .await?;
    drop(work);
    let updated = room::Entity::update_many()
        .col_expr(room::Column::ReplayVideoId, Expr::value(video.0))
        .col_expr(room::Column::Version, Expr::col(room::Column::Version).add(1))
        .col_expr(room::Column::UpdatedAt, Expr::value(deps.db.now()))
        .filter(room::Column::Id.eq(id.0))
        .filter(room::Column::ReplayVideoId.is_null())
        .exec(deps.db.writer())
        .await
        .context("noting a room's replay")?
        .rows_affected;
    if updated == 1 {
        tracing::info!(video_id = video.0, "replay imported");
        if let Some(row) = find_room(deps.db.reader(), id).await? {
            announce(deps, id, row.version).await;
        }
    }
    Ok(())
}

/// `ffmpeg -i replay.m3u8 -c copy replay.mp4`: the room's own segments, read from its folder
/// only (`file` protocol, the playlist's own extensions).
async fn join_segments(ffmpeg: &str, list: &std::path::Path, out: &std::path::Path) -> Result<()> {
    let output = tokio::process::Command::new(ffmpeg)
        .args(["-hide_banner", "-nostdin", "-y", "-v", "error", "-protocol_whitelist", "file", "-allowed_extensions", "ALL", "-i"])
        .arg(list)
        .args(["-map", "0:v:0", "-map", "0:a:0?", "-c", "copy", "-movflags", "+faststart"])
        .arg(out)
        .kill_on_drop(true)
        .output()
        .await
        .context("running ffmpeg to join a replay")?;
    if !output.status.success() {
        return Err(Error::internal(format!("ffmpeg could not join a replay: {}", String::from_utf8_lossy(&output.stderr).trim())));
    }
    Ok(())
}
