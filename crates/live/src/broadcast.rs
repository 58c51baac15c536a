//! Where ingest meets the rooms: the [`PublishGate`] that lets a publisher with a room's stream
//! key on air, and the [`PublishSink`] that stores each packaged segment under the room and
//! builds the room's HLS playlists from them.
//!
//! Segments go to the deployment's blob store under `live/rooms/<room_id>/` (`init-<n>.mp4`,
//! `seg-<n>.m4s`): local files, or S3 shared by every node, so any node serves any room. Each is
//! uploaded first and listed in `live_segments` after, so a playlist never names a segment that
//! cannot be read. While the room is LIVE its playlist is the last few segments; once it
//! ENDED, all of them with `EXT-X-ENDLIST`. Kanjian writes the playlist itself (not ffmpeg's),
//! so a reconnect or a switch to transcoding continues one media sequence, marked with
//! `EXT-X-DISCONTINUITY` and a new `EXT-X-MAP`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use kanjian_contracts::live::{LiveFile, LiveRoomState};
use kanjian_kernel::ids::LiveRoomId;
use kanjian_kernel::{Actor, Context, Error, Result};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use crate::Deps;
use crate::entity::segment;
use crate::ingest::{EndReason, PackagedSegment, PublishGate, PublishRefusal, PublishRequest, PublishSink, SessionControl, StreamInfo};
use crate::publishing;
use crate::rooms::{state_of, visible_room};

/// The RTMP application publishers push to: `rtmp://host:1935/live/<stream key>`.
pub const APP: &str = "live";

/// Segments in a LIVE room's playlist: about six seconds, enough for a player holding three
/// segments back, short enough to stay near the live edge.
const LIVE_WINDOW: u64 = 6;

/// A publisher that sent no media for this long while another asks for its room is a
/// half-open connection: the newcomer replaces it.
const HALF_OPEN_AFTER: Duration = Duration::from_secs(2);

/// The publish sessions on air on this node, by room.
#[derive(Default)]
pub(crate) struct OnAir {
    sessions: Mutex<HashMap<LiveRoomId, SessionControl>>,
}

impl OnAir {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<LiveRoomId, SessionControl>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes the room's session on this node, if it has one (its creator ended the live).
    pub(crate) fn close(&self, room: LiveRoomId, reason: &str) {
        if let Some(control) = self.lock().remove(&room) {
            control.close(reason);
        }
    }
}

/// The blob key of a room's file: `live/rooms/<id>/<name>`.
pub(crate) fn room_key(room: LiveRoomId, name: &str) -> String {
    format!("live/rooms/{}/{name}", room.0)
}

/// Lets publishers on air (see the module docs).
pub(crate) struct Gate {
    pub deps: Arc<Deps>,
    /// Names this process's sessions apart from other nodes' in `publisher_session`.
    pub node: String,
}

fn refusal(description: &str) -> PublishRefusal {
    PublishRefusal::new(description)
}

#[async_trait]
impl PublishGate for Gate {
    async fn authorize(&self, request: PublishRequest, control: SessionControl) -> std::result::Result<Box<dyn PublishSink>, PublishRefusal> {
        if request.app != APP {
            return Err(refusal("unknown application: publish to rtmp://<host>:1935/live/<stream key>"));
        }
        let unavailable = |e: Error| {
            tracing::error!(error = %e, "checking a publisher failed");
            refusal("the server could not check the stream key; try again")
        };
        let room = match publishing::room_for_key(&self.deps, &request.stream_key).await.map_err(unavailable)? {
            Ok(row) => LiveRoomId(row.id),
            Err(why) => {
                tracing::info!(peer = %request.peer, reason = why.description(), "publish refused");
                return Err(refusal(why.description()));
            }
        };
        // A session of this room on this node that has gone quiet is a half-open connection
        // (the publisher reconnected before we noticed): the newcomer replaces it.
        let previous = self.deps.on_air.lock().get(&room).cloned();
        let replace = previous.as_ref().is_some_and(|old| {
            old.last_media_at().is_none_or(|at| chrono::Utc::now() - at > chrono::Duration::from_std(HALF_OPEN_AFTER).unwrap_or_default())
        });
        if previous.is_some() && !replace {
            return Err(refusal(publishing::Refusal::AlreadyLive.description()));
        }
        let session = format!("{}-{}", self.node, control.id());
        match publishing::go_on_air(&self.deps, room, &session, replace).await.map_err(unavailable)? {
            Ok(_) => {}
            Err(why) => {
                tracing::info!(peer = %request.peer, room_id = room.0, reason = why.description(), "publish refused");
                return Err(refusal(why.description()));
            }
        }
        if let Some(old) = previous {
            old.close("replaced by a new connection with the same stream key");
        }
        self.deps.on_air.lock().insert(room, control.clone());
        tracing::info!(peer = %request.peer, room_id = room.0, session, "publisher on air");
        Ok(Box::new(RoomSink { deps: self.deps.clone(), room, session, control, init_name: Mutex::new(None) }))
    }
}

/// Stores one session's segments under its room.
struct RoomSink {
    deps: Arc<Deps>,
    room: LiveRoomId,
    session: String,
    control: SessionControl,
    /// The init segment the session's segments are decoded with, once it sent one.
    init_name: Mutex<Option<String>>,
}

impl RoomSink {
    async fn store(&self, packaged: &PackagedSegment) -> Result<()> {
        let last: Option<i64> = segment::Entity::find()
            .select_only()
            .column(segment::Column::Sequence)
            .filter(segment::Column::RoomId.eq(self.room.0))
            .order_by_desc(segment::Column::Sequence)
            .into_tuple()
            .one(self.deps.db.writer())
            .await
            .context("finding a room's last segment")?;
        let sequence = last.map_or(0, |n| n + 1);
        let started = Instant::now();
        let (init_name, discontinuity) = match &packaged.init {
            Some(init) => {
                let name = format!("init-{sequence}.mp4");
                self.deps.blobs.put_bytes(&room_key(self.room, &name), init.clone()).await?;
                *self.init_name.lock().unwrap_or_else(|e| e.into_inner()) = Some(name.clone());
                (name, last.is_some())
            }
            None => match self.init_name.lock().unwrap_or_else(|e| e.into_inner()).clone() {
                Some(name) => (name, false),
                None => return Err(Error::internal("a segment came before its init segment")),
            },
        };
        self.deps.blobs.put_bytes(&room_key(self.room, &segment_name(sequence)), packaged.data.clone()).await?;
        let uploaded = started.elapsed();
        segment::ActiveModel {
            room_id: Set(self.room.0),
            sequence: Set(sequence),
            session: Set(self.session.clone()),
            duration_ms: Set(i64::try_from(packaged.duration.as_millis()).unwrap_or(i64::MAX)),
            program_date_time: Set(packaged.program_date_time),
            discontinuity: Set(discontinuity),
            init_name: Set(init_name),
            created_at: Set(self.deps.db.now()),
        }
        .insert(self.deps.db.writer())
        .await
        .context("listing a live segment")?;
        tracing::debug!(
            room_id = self.room.0,
            sequence,
            bytes = packaged.data.len(),
            upload_ms = uploaded.as_secs_f64() * 1e3,
            listed_ms = started.elapsed().as_secs_f64() * 1e3,
            "live segment stored"
        );
        Ok(())
    }
}

pub(crate) fn segment_name(sequence: i64) -> String {
    format!("seg-{sequence}.m4s")
}

#[async_trait]
impl PublishSink for RoomSink {
    async fn started(&self, info: StreamInfo) {
        tracing::info!(room_id = self.room.0, ?info, "packaging started");
    }

    async fn segment(&self, packaged: PackagedSegment) -> anyhow::Result<()> {
        if !publishing::heartbeat(&self.deps, self.room, &self.session).await? {
            // Ended by its creator, or taken over on another node: this session is done.
            self.control.close("this live has ended");
            return Ok(());
        }
        self.store(&packaged).await?;
        Ok(())
    }

    async fn ended(&self, why: EndReason) {
        {
            let mut on_air = self.deps.on_air.lock();
            if on_air.get(&self.room).is_some_and(|c| c.id() == self.control.id()) {
                on_air.remove(&self.room);
            }
        }
        tracing::info!(room_id = self.room.0, session = self.session, ?why, "publisher left");
        if let Err(e) = publishing::off_air(&self.deps, self.room, &self.session).await {
            // The grace worker still ends the room once the publisher counts as silent.
            tracing::warn!(room_id = self.room.0, error = %e, "could not take a room off air");
        }
    }

    async fn notice(&self, text: String) {
        tracing::info!(room_id = self.room.0, text, "packaging notice");
    }
}

/// A file of a room's HLS for the actor: `index.m3u8`, `init-<n>.mp4` or `seg-<n>.m4s`.
/// Anything else, and any file of a room the actor may not see, is `NOT_FOUND`.
pub(crate) async fn open_file(deps: &Deps, actor: &Actor, id: LiveRoomId, name: &str) -> Result<LiveFile> {
    let row = visible_room(deps, actor, id).await?;
    if name == "index.m3u8" {
        let playlist = playlist(deps, id, state_of(&row)?).await?;
        return Ok(LiveFile { content_type: "application/vnd.apple.mpegurl", bytes: playlist.into_bytes().into() });
    }
    let known = |prefix: &str, suffix: &str| {
        name.strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(suffix))
            .is_some_and(|n| !n.is_empty() && n.len() <= 19 && n.bytes().all(|b| b.is_ascii_digit()))
    };
    let content_type = if known("seg-", ".m4s") {
        "video/iso.segment"
    } else if known("init-", ".mp4") {
        "video/mp4"
    } else {
        return Err(Error::not_found("live file"));
    };
    match deps.blobs.open(&room_key(id, name)).await? {
        Some(file) => Ok(LiveFile { content_type, bytes: file.bytes().await? }),
        None => Err(Error::not_found("live file")),
    }
}

/// The room's playlist: the live edge while LIVE, every segment with `EXT-X-ENDLIST` once over.
pub(crate) async fn playlist(deps: &Deps, id: LiveRoomId, state: LiveRoomState) -> Result<String> {
    let ended = state != LiveRoomState::Live;
    let mut query = segment::Entity::find().filter(segment::Column::RoomId.eq(id.0)).order_by_desc(segment::Column::Sequence);
    if !ended {
        query = query.limit(LIVE_WINDOW);
    }
    let mut segments = query.all(deps.db.reader()).await.context("loading a room's segments")?;
    segments.reverse();
    let first = segments.first().map_or(0, |s| s.sequence);
    let discontinuities_before = if first == 0 {
        0
    } else {
        use sea_orm::PaginatorTrait;
        segment::Entity::find()
            .filter(segment::Column::RoomId.eq(id.0))
            .filter(segment::Column::Sequence.lt(first))
            .filter(segment::Column::Discontinuity.eq(true))
            .count(deps.db.reader())
            .await
            .context("counting a room's discontinuities")?
    };
    Ok(render_playlist(&segments, discontinuities_before, ended))
}

fn render_playlist(segments: &[segment::Model], discontinuities_before: u64, ended: bool) -> String {
    let target = segments.iter().map(|s| s.duration_ms).max().unwrap_or(1000);
    // TARGETDURATION is every segment's duration rounded to the nearest second, at most.
    let target_secs = ((target + 500) / 1000).max(1);
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:7\n");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target_secs}");
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{}", segments.first().map_or(0, |s| s.sequence));
    let _ = writeln!(out, "#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuities_before}");
    out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    if ended {
        out.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n");
    }
    let mut map: Option<&str> = None;
    for s in segments {
        if s.discontinuity && map.is_some() {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if map != Some(s.init_name.as_str()) {
            let _ = writeln!(out, "#EXT-X-MAP:URI=\"{}\"", s.init_name);
            map = Some(&s.init_name);
        }
        let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{}", s.program_date_time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        let _ = writeln!(out, "#EXTINF:{:.3},", s.duration_ms as f64 / 1000.0);
        out.push_str(&segment_name(s.sequence));
        out.push('\n');
    }
    if ended {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn seg(sequence: i64, init: &str, discontinuity: bool) -> segment::Model {
        let at = chrono::Utc.with_ymd_and_hms(2026, 12, 1, 20, 0, 0).unwrap() + chrono::Duration::seconds(sequence);
        segment::Model {
            room_id: 1,
            sequence,
            session: "s".into(),
            duration_ms: 1_000,
            program_date_time: at,
            discontinuity,
            init_name: init.into(),
            created_at: at,
        }
    }

    #[test]
    fn a_live_playlist_continues_one_sequence_across_a_reconnect() {
        let segments = [seg(7, "init-0.mp4", false), seg(8, "init-8.mp4", true), seg(9, "init-8.mp4", false)];
        let text = render_playlist(&segments, 2, false);
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-DISCONTINUITY-SEQUENCE:2\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init-0.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:2026-12-01T20:00:07.000Z\n#EXTINF:1.000,\nseg-7.m4s\n\
             #EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-8.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:2026-12-01T20:00:08.000Z\n#EXTINF:1.000,\nseg-8.m4s\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-12-01T20:00:09.000Z\n#EXTINF:1.000,\nseg-9.m4s\n"
        );
        assert!(!text.contains("ENDLIST"));
    }

    #[test]
    fn an_ended_playlist_is_a_closed_vod_list() {
        let text = render_playlist(&[seg(0, "init-0.mp4", false), seg(1, "init-0.mp4", false)], 0, true);
        assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD\n") && text.ends_with("seg-1.m4s\n#EXT-X-ENDLIST\n"), "{text}");
        assert_eq!(text.matches("EXT-X-MAP").count(), 1);
        assert!(!text.contains("#EXT-X-DISCONTINUITY\n"));
    }
}
