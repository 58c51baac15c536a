//! Where ingest meets the rooms: the [`PublishGate`] that lets a publisher with a room's stream
//! key on air, and the [`PublishSink`] that stores each packaged part and segment under the
//! room and builds the room's HLS playlists from them.
//!
//! Files go to the deployment's blob store under `live/rooms/<room_id>/` (`init-<n>.mp4`,
//! `seg-<n>.m4s`, `part-<n>.<i>.m4s`): local files, or S3 shared by every node, so any node
//! serves any room. Each is uploaded first and listed after (`live_segments`, `live_parts`), so
//! a playlist never names a file that cannot be read; every listed part is announced on the
//! room's HLS topic of the realtime hub, which wakes blocked playlist requests on every node.
//! While the room is LIVE its playlist is LL-HLS: the last few segments, the parts of the
//! latest ones and of the segment in progress, and a preload hint for the next part. Once it
//! ENDED, every segment with `EXT-X-ENDLIST`. Kanjian writes the playlist itself, so a
//! reconnect or a switch to transcoding continues one media sequence, marked with
//! `EXT-X-DISCONTINUITY` and a new `EXT-X-MAP`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt as _;
use kanjian_contracts::live::{BlockingReload, LiveFile, LiveFileReply, LiveRoomState};
use kanjian_kernel::ids::LiveRoomId;
use kanjian_kernel::{Actor, Context, Error, Result, UserErrorCode};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use crate::Deps;
use crate::entity::{part, segment};
use crate::ingest::{EndReason, PackagedPart, PackagedSegment, PublishGate, PublishRefusal, PublishRequest, PublishSink, SessionControl, StreamInfo};
use crate::publishing;
use crate::rooms::{state_of, visible_room};

/// The RTMP application publishers push to: `rtmp://host:1935/live/<stream key>`.
pub const APP: &str = "live";

/// Segments in a LIVE room's playlist: about six seconds, enough for a player holding three
/// segments back, short enough to stay near the live edge.
const LIVE_WINDOW: u64 = 6;

/// Complete segments whose parts are still listed (the spec asks for at least the last three
/// target durations' worth); older part rows are pruned.
const PART_WINDOW: i64 = 3;

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
        Ok(Box::new(RoomSink { deps: self.deps.clone(), room, session, control, open: Mutex::new(None) }))
    }
}

/// Stores one session's parts and segments under its room.
struct RoomSink {
    deps: Arc<Deps>,
    room: LiveRoomId,
    session: String,
    control: SessionControl,
    /// The segment being delivered, once its first part or the segment itself came.
    open: Mutex<Option<OpenSegment>>,
}

/// Where a session's segment goes in the room.
#[derive(Clone)]
struct OpenSegment {
    /// The session's number of the segment and the room's.
    session_sequence: u64,
    sequence: i64,
    /// The init segment its samples are decoded with, and whether it starts a new one.
    init_name: String,
    discontinuity: bool,
}

impl RoomSink {
    fn open(&self) -> std::sync::MutexGuard<'_, Option<OpenSegment>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The room's place for the session's segment `session_sequence`: the one already open, or
    /// the next after the room's last listed segment, where `init` (a new run's) is uploaded.
    async fn place(&self, session_sequence: u64, init: Option<&bytes::Bytes>) -> Result<OpenSegment> {
        let previous = self.open().clone();
        if let Some(open) = previous.as_ref().filter(|o| o.session_sequence == session_sequence) {
            return Ok(open.clone());
        }
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
        // Parts of a segment that was never listed (its session died, or the segment was
        // dropped) would be taken for this one's.
        part::Entity::delete_many()
            .filter(part::Column::RoomId.eq(self.room.0))
            .filter(part::Column::Sequence.gte(sequence))
            .exec(self.deps.db.writer())
            .await
            .context("clearing a room's unlisted parts")?;
        let open = match init {
            Some(init) => {
                let init_name = format!("init-{sequence}.mp4");
                self.deps.blobs.put_bytes(&room_key(self.room, &init_name), init.clone()).await?;
                OpenSegment { session_sequence, sequence, init_name, discontinuity: last.is_some() }
            }
            None => match previous {
                Some(p) => OpenSegment { session_sequence, sequence, init_name: p.init_name, discontinuity: false },
                None => return Err(Error::internal("a segment came before its init segment")),
            },
        };
        *self.open() = Some(open.clone());
        Ok(open)
    }

    async fn store_part(&self, packaged: &PackagedPart) -> Result<()> {
        let started = Instant::now();
        let open = self.place(packaged.sequence, packaged.init.as_ref()).await?;
        let index = i32::try_from(packaged.index).unwrap_or(i32::MAX);
        self.deps.blobs.put_bytes(&room_key(self.room, &part_name(open.sequence, index)), packaged.data.clone()).await?;
        part::ActiveModel {
            room_id: Set(self.room.0),
            sequence: Set(open.sequence),
            part: Set(index),
            duration_ms: Set(i32::try_from(packaged.duration.as_millis()).unwrap_or(i32::MAX)),
            independent: Set(packaged.independent),
            program_date_time: Set(packaged.program_date_time),
            discontinuity: Set(open.discontinuity),
            init_name: Set(open.init_name.clone()),
            created_at: Set(self.deps.db.now()),
        }
        .insert(self.deps.db.writer())
        .await
        .context("listing a live part")?;
        announce_hls(&self.deps, self.room, open.sequence, Some(index)).await;
        tracing::debug!(
            room_id = self.room.0,
            sequence = open.sequence,
            part = index,
            bytes = packaged.data.len(),
            listed_ms = started.elapsed().as_secs_f64() * 1e3,
            "live part stored"
        );
        Ok(())
    }

    async fn store(&self, packaged: &PackagedSegment) -> Result<()> {
        let started = Instant::now();
        let open = self.place(packaged.sequence, packaged.init.as_ref()).await?;
        let sequence = open.sequence;
        self.deps.blobs.put_bytes(&room_key(self.room, &segment_name(sequence)), packaged.data.clone()).await?;
        let uploaded = started.elapsed();
        segment::ActiveModel {
            room_id: Set(self.room.0),
            sequence: Set(sequence),
            session: Set(self.session.clone()),
            duration_ms: Set(i64::try_from(packaged.duration.as_millis()).unwrap_or(i64::MAX)),
            program_date_time: Set(packaged.program_date_time),
            discontinuity: Set(open.discontinuity),
            init_name: Set(open.init_name.clone()),
            created_at: Set(self.deps.db.now()),
        }
        .insert(self.deps.db.writer())
        .await
        .context("listing a live segment")?;
        // The next segment continues with this one's init segment.
        *self.open() = Some(OpenSegment { session_sequence: u64::MAX, discontinuity: false, ..open });
        announce_hls(&self.deps, self.room, sequence, None).await;
        // Parts of older segments are no longer listed. Their files stay with the room's (the
        // replay handler removes them once the room ended).
        part::Entity::delete_many()
            .filter(part::Column::RoomId.eq(self.room.0))
            .filter(part::Column::Sequence.lte(sequence - PART_WINDOW))
            .exec(self.deps.db.writer())
            .await
            .context("pruning a room's old parts")?;
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

/// The hub topic that announces a room's new parts and segments to blocked playlist requests.
fn hls_topic(room: LiveRoomId) -> String {
    format!("live:room:{}:hls", room.0)
}

/// Wakes the room's blocked playlist requests on every node. Ephemeral: a request that misses
/// it still answers within its wait (see [`wait_for`]).
async fn announce_hls(deps: &Deps, room: LiveRoomId, sequence: i64, part: Option<i32>) {
    let message = serde_json::json!({ "sequence": sequence, "part": part });
    if let Err(e) = deps.hub.publish(&hls_topic(room), message).await {
        tracing::warn!(room_id = room.0, error = %e, "could not announce a live part");
    }
}

pub(crate) fn segment_name(sequence: i64) -> String {
    format!("seg-{sequence}.m4s")
}

pub(crate) fn part_name(sequence: i64, part: i32) -> String {
    format!("part-{sequence}.{part}.m4s")
}

#[async_trait]
impl PublishSink for RoomSink {
    async fn started(&self, info: StreamInfo) {
        tracing::info!(room_id = self.room.0, ?info, "packaging started");
    }

    async fn part(&self, packaged: PackagedPart) -> anyhow::Result<()> {
        self.store_part(&packaged).await?;
        Ok(())
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

/// A file of a room's HLS for the actor: `index.m3u8` (with `reload`, a blocking reload),
/// `init-<n>.mp4`, `seg-<n>.m4s` or `part-<n>.<i>.m4s`. Anything else, and any file of a room
/// the actor may not see, is `NOT_FOUND`.
pub(crate) async fn open_file(deps: &Deps, actor: &Actor, id: LiveRoomId, name: &str, reload: Option<BlockingReload>) -> Result<LiveFileReply> {
    let row = visible_room(deps, actor, id).await?;
    let state = state_of(&row)?;
    if name == "index.m3u8" {
        let playlist = match reload {
            Some(reload) if state == LiveRoomState::Live => match blocking_playlist(deps, id, reload).await? {
                Some(playlist) => playlist,
                None => {
                    // Nothing came. If the room ended meanwhile, its closed playlist is the
                    // answer; while it is LIVE, the player asks again.
                    let state = state_of(&visible_room(deps, actor, id).await?)?;
                    if state == LiveRoomState::Live {
                        return Ok(LiveFileReply::NotYet);
                    }
                    playlist(deps, id, state).await?
                }
            },
            _ => playlist(deps, id, state).await?,
        };
        return Ok(file("application/vnd.apple.mpegurl", playlist.into_bytes().into()));
    }
    let number = |n: &str| !n.is_empty() && n.len() <= 18 && n.bytes().all(|b| b.is_ascii_digit());
    let known = |prefix: &str, suffix: &str| name.strip_prefix(prefix).and_then(|rest| rest.strip_suffix(suffix)).is_some_and(number);
    let part = name
        .strip_prefix("part-")
        .and_then(|rest| rest.strip_suffix(".m4s"))
        .and_then(|rest| rest.split_once('.'))
        .filter(|(sequence, index)| number(sequence) && number(index) && index.len() <= 9)
        .and_then(|(sequence, index)| Some((sequence.parse::<u64>().ok()?, index.parse::<u32>().ok()?)));
    let content_type = if known("seg-", ".m4s") || part.is_some() {
        "video/iso.segment"
    } else if known("init-", ".mp4") {
        "video/mp4"
    } else {
        return Err(Error::not_found("live file"));
    };
    if let Some(stored) = deps.blobs.open(&room_key(id, name)).await? {
        return Ok(file(content_type, stored.bytes().await?));
    }
    // A player asks for the part the preload hint names before it exists: hold the request
    // until it is stored, as for a blocking playlist reload.
    if let (Some((sequence, index)), LiveRoomState::Live) = (part, state) {
        let mut announced = subscribe_hls(deps, id).await?;
        let deadline = Instant::now() + block_limit(deps);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || segment_listed(deps, id, i64::try_from(sequence).unwrap_or(i64::MAX)).await? {
                break;
            }
            wait_for_announcement(&mut announced, left, BlockingReload { msn: sequence, part: Some(index) }).await;
            if let Some(stored) = deps.blobs.open(&room_key(id, name)).await? {
                return Ok(file(content_type, stored.bytes().await?));
            }
        }
    }
    Err(Error::not_found("live file"))
}

fn file(content_type: &'static str, bytes: bytes::Bytes) -> LiveFileReply {
    LiveFileReply::File(LiveFile { content_type, bytes })
}

/// How long a blocking request waits: three target durations, as the spec allows.
fn block_limit(deps: &Deps) -> Duration {
    Duration::from_secs(3 * u64::from(deps.config.ingest.segment_seconds.max(1)))
}

async fn subscribe_hls(deps: &Deps, id: LiveRoomId) -> Result<futures::stream::BoxStream<'static, serde_json::Value>> {
    deps.hub.subscribe(&hls_topic(id)).await.map_err(|e| Error::Internal(e.context("waiting for a live part")))
}

/// Waits, at most `left`, until an announcement says that what `reload` asks for is listed, so a
/// held request reads the database once more only when it can be answered. Returns after half a
/// second without any announcement too: the hub is ephemeral, so it looks again then.
async fn wait_for_announcement(announced: &mut futures::stream::BoxStream<'static, serde_json::Value>, left: Duration, reload: BlockingReload) {
    let deadline = Instant::now() + left;
    loop {
        let wait = deadline.saturating_duration_since(Instant::now()).min(Duration::from_millis(500));
        match tokio::time::timeout(wait, announced.next()).await {
            Ok(Some(message)) if !announced_holds(&message, reload) => {}
            Ok(Some(_)) | Err(_) => return,
            Ok(None) => {
                // The hub closed the subscription: fall back to looking twice a second.
                tokio::time::sleep(wait).await;
                return;
            }
        }
    }
}

/// Whether an announcement (`{"sequence": n, "part": i}`, `part` null for a whole segment) lists
/// what `reload` waits for, or something after it.
fn announced_holds(message: &serde_json::Value, reload: BlockingReload) -> bool {
    let (Some(sequence), part) = (message["sequence"].as_u64(), message["part"].as_u64()) else {
        return true; // not ours to read: look
    };
    match sequence.cmp(&reload.msn) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => match (part, reload.part) {
            (None, _) => true,
            (Some(listed), Some(wanted)) => listed >= u64::from(wanted),
            (Some(_), None) => false,
        },
    }
}

async fn segment_listed(deps: &Deps, id: LiveRoomId, sequence: i64) -> Result<bool> {
    Ok(segment::Entity::find_by_id((id.0, sequence)).one(deps.db.reader()).await.context("looking for a live segment")?.is_some())
}

/// The LIVE playlist once it holds what `reload` asks for; `None` when it still does not after
/// the wait.
async fn blocking_playlist(deps: &Deps, id: LiveRoomId, reload: BlockingReload) -> Result<Option<String>> {
    // Subscribed before the first look, so no announcement falls between the two.
    let mut announced = subscribe_hls(deps, id).await?;
    let deadline = Instant::now() + block_limit(deps);
    loop {
        let listing = live_listing(deps, id).await?;
        match listing.holds(reload) {
            Holds::Yes => return Ok(Some(render_playlist(&listing, Some(deps.config.ingest.part_target_ms), false))),
            Holds::TooFar => {
                return Err(Error::user("_HLS_msn", UserErrorCode::Invalid, "more than two segments past the live edge"));
            }
            Holds::NotYet => {}
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        wait_for_announcement(&mut announced, left, reload).await;
    }
}

/// What a playlist lists: segments in order, the parts of the latest ones and of the segment
/// in progress (LIVE only), and how many discontinuities came before the first segment.
struct Listing {
    segments: Vec<segment::Model>,
    parts: Vec<part::Model>,
    discontinuities_before: u64,
}

#[derive(Debug, PartialEq, Eq)]
enum Holds {
    Yes,
    NotYet,
    /// More than two segments past the last one (RFC 8216bis §6.2.5.2: 400).
    TooFar,
}

impl Listing {
    fn last_complete(&self) -> Option<i64> {
        self.segments.last().map(|s| s.sequence)
    }

    /// The parts of the segment in progress.
    fn open_parts(&self) -> &[part::Model] {
        let after = self.last_complete();
        let first = self.parts.iter().position(|p| after.is_none_or(|last| p.sequence > last)).unwrap_or(self.parts.len());
        &self.parts[first..]
    }

    fn holds(&self, reload: BlockingReload) -> Holds {
        let msn = i64::try_from(reload.msn).unwrap_or(i64::MAX);
        let last = self.open_parts().last().map(|p| p.sequence).or(self.last_complete()).unwrap_or(-1);
        if msn > last.saturating_add(2) {
            return Holds::TooFar;
        }
        let complete = self.last_complete().is_some_and(|s| s >= msn);
        let part = reload.part.map(|p| i32::try_from(p).unwrap_or(i32::MAX));
        let has_part = part.is_some_and(|wanted| self.parts.iter().any(|p| p.sequence > msn || (p.sequence == msn && p.part >= wanted)));
        if complete || has_part { Holds::Yes } else { Holds::NotYet }
    }
}

async fn live_listing(deps: &Deps, id: LiveRoomId) -> Result<Listing> {
    let mut listing = listing(deps, id, false).await?;
    let from = listing.last_complete().map_or(0, |last| last - PART_WINDOW + 1);
    listing.parts = part::Entity::find()
        .filter(part::Column::RoomId.eq(id.0))
        .filter(part::Column::Sequence.gte(from))
        .order_by_asc(part::Column::Sequence)
        .order_by_asc(part::Column::Part)
        .all(deps.db.reader())
        .await
        .context("loading a room's parts")?;
    Ok(listing)
}

async fn listing(deps: &Deps, id: LiveRoomId, ended: bool) -> Result<Listing> {
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
    Ok(Listing { segments, parts: Vec::new(), discontinuities_before })
}

/// The room's playlist: the LL-HLS live edge while LIVE, every segment with `EXT-X-ENDLIST`
/// once over.
pub(crate) async fn playlist(deps: &Deps, id: LiveRoomId, state: LiveRoomState) -> Result<String> {
    if state == LiveRoomState::Live {
        let listing = live_listing(deps, id).await?;
        return Ok(render_playlist(&listing, Some(deps.config.ingest.part_target_ms), false));
    }
    Ok(render_playlist(&listing(deps, id, true).await?, None, true))
}

/// `part_target_ms`: an LL-HLS playlist with parts (LIVE).
fn render_playlist(listing: &Listing, part_target_ms: Option<u32>, ended: bool) -> String {
    let segments = &listing.segments;
    let open = listing.open_parts();
    let target = segments.iter().map(|s| s.duration_ms).max().unwrap_or(1000);
    // TARGETDURATION is every segment's duration rounded to the nearest second, at most.
    let target_secs = ((target + 500) / 1000).max(1);
    let secs = |ms: i64| ms as f64 / 1000.0;
    // Parts need version 9 of the protocol's tags (EXT-X-PART, blocking reload); a VOD list
    // keeps version 7.
    let mut out = String::from(if part_target_ms.is_some() { "#EXTM3U\n#EXT-X-VERSION:9\n" } else { "#EXTM3U\n#EXT-X-VERSION:7\n" });
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target_secs}");
    if let Some(part_ms) = part_target_ms {
        // Players start three parts behind the live edge (the spec's minimum is two).
        let _ = writeln!(out, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={:.3}", secs(3 * i64::from(part_ms)));
        let _ = writeln!(out, "#EXT-X-PART-INF:PART-TARGET={:.3}", secs(i64::from(part_ms)));
    }
    let first = segments.first().map(|s| s.sequence).or(open.first().map(|p| p.sequence)).unwrap_or(0);
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{first}");
    let _ = writeln!(out, "#EXT-X-DISCONTINUITY-SEQUENCE:{}", listing.discontinuities_before);
    out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    if ended {
        out.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n");
    }
    let mut map: Option<String> = None;
    let mut start = |out: &mut String, discontinuity: bool, init_name: &str, at: &chrono::DateTime<chrono::Utc>| {
        if discontinuity && map.is_some() {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if map.as_deref() != Some(init_name) {
            let _ = writeln!(out, "#EXT-X-MAP:URI=\"{init_name}\"");
            map = Some(init_name.to_owned());
        }
        let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{}", at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    };
    let write_parts = |out: &mut String, sequence: i64| {
        for p in listing.parts.iter().filter(|p| p.sequence == sequence) {
            let independent = if p.independent { ",INDEPENDENT=YES" } else { "" };
            let _ = writeln!(out, "#EXT-X-PART:DURATION={:.3},URI=\"{}\"{independent}", secs(i64::from(p.duration_ms)), part_name(p.sequence, p.part));
        }
    };
    for s in segments {
        start(&mut out, s.discontinuity, &s.init_name, &s.program_date_time);
        write_parts(&mut out, s.sequence);
        let _ = writeln!(out, "#EXTINF:{:.3},", secs(s.duration_ms));
        out.push_str(&segment_name(s.sequence));
        out.push('\n');
    }
    if part_target_ms.is_some() {
        let next = match open.first() {
            Some(first) => {
                start(&mut out, first.discontinuity, &first.init_name, &first.program_date_time);
                write_parts(&mut out, first.sequence);
                open.last().map_or((first.sequence, 0), |p| (p.sequence, p.part + 1))
            }
            None => (listing.last_complete().map_or(0, |s| s + 1), 0),
        };
        let _ = writeln!(out, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}\"", part_name(next.0, next.1));
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

    fn part(sequence: i64, index: i32, init: &str, discontinuity: bool) -> part::Model {
        let at = chrono::Utc.with_ymd_and_hms(2026, 12, 1, 20, 0, 0).unwrap() + chrono::Duration::milliseconds(sequence * 1000 + i64::from(index) * 320);
        part::Model {
            room_id: 1,
            sequence,
            part: index,
            duration_ms: if index == 3 { 40 } else { 320 },
            independent: index == 0,
            program_date_time: at,
            discontinuity,
            init_name: init.into(),
            created_at: at,
        }
    }

    fn listing(segments: Vec<segment::Model>, parts: Vec<part::Model>, discontinuities_before: u64) -> Listing {
        Listing { segments, parts, discontinuities_before }
    }

    #[test]
    fn a_live_playlist_lists_parts_and_hints_the_next_one_across_a_reconnect() {
        let segments = vec![seg(7, "init-0.mp4", false), seg(8, "init-8.mp4", true), seg(9, "init-8.mp4", false)];
        let mut parts: Vec<part::Model> = (0..4).map(|i| part(9, i, "init-8.mp4", false)).collect();
        // The segment in progress starts a new run (a switch to transcoding).
        parts.extend((0..2).map(|i| part(10, i, "init-10.mp4", true)));
        let text = render_playlist(&listing(segments, parts, 2), Some(334), false);
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:1\n\
             #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.002\n#EXT-X-PART-INF:PART-TARGET=0.334\n\
             #EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-DISCONTINUITY-SEQUENCE:2\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init-0.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:2026-12-01T20:00:07.000Z\n#EXTINF:1.000,\nseg-7.m4s\n\
             #EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-8.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:2026-12-01T20:00:08.000Z\n#EXTINF:1.000,\nseg-8.m4s\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-12-01T20:00:09.000Z\n\
             #EXT-X-PART:DURATION=0.320,URI=\"part-9.0.m4s\",INDEPENDENT=YES\n#EXT-X-PART:DURATION=0.320,URI=\"part-9.1.m4s\"\n\
             #EXT-X-PART:DURATION=0.320,URI=\"part-9.2.m4s\"\n#EXT-X-PART:DURATION=0.040,URI=\"part-9.3.m4s\"\n\
             #EXTINF:1.000,\nseg-9.m4s\n\
             #EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-10.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:2026-12-01T20:00:10.000Z\n\
             #EXT-X-PART:DURATION=0.320,URI=\"part-10.0.m4s\",INDEPENDENT=YES\n#EXT-X-PART:DURATION=0.320,URI=\"part-10.1.m4s\"\n\
             #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-10.2.m4s\"\n"
        );
    }

    #[test]
    fn a_blocking_reload_waits_for_its_part_and_refuses_the_far_future() {
        let live = listing(vec![seg(8, "init-0.mp4", false), seg(9, "init-0.mp4", false)], vec![part(9, 0, "init-0.mp4", false), part(10, 0, "init-0.mp4", false), part(10, 1, "init-0.mp4", false)], 0);
        let ask = |msn: u64, part: Option<u32>| live.holds(BlockingReload { msn, part });
        assert_eq!(ask(9, None), Holds::Yes);
        assert_eq!(ask(10, None), Holds::NotYet, "segment 10 is not complete");
        assert_eq!(ask(10, Some(1)), Holds::Yes);
        assert_eq!(ask(10, Some(2)), Holds::NotYet);
        assert_eq!(ask(9, Some(7)), Holds::Yes, "segment 9 is complete");
        assert_eq!(ask(12, Some(0)), Holds::NotYet);
        assert_eq!(ask(13, None), Holds::TooFar);
        let empty = listing(Vec::new(), Vec::new(), 0);
        assert_eq!(empty.holds(BlockingReload { msn: 0, part: Some(0) }), Holds::NotYet);
        assert!(render_playlist(&empty, Some(334), false).ends_with("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-0.0.m4s\"\n"));
    }

    #[test]
    fn only_an_announcement_of_what_is_awaited_wakes_a_held_request() {
        let reload = BlockingReload { msn: 10, part: Some(2) };
        let says = |sequence: u64, part: Option<u64>| announced_holds(&serde_json::json!({ "sequence": sequence, "part": part }), reload);
        assert!(!says(10, Some(1)) && !says(9, None) && !says(9, Some(5)));
        assert!(says(10, Some(2)) && says(10, None) && says(11, Some(0)));
        let segment_only = BlockingReload { msn: 10, part: None };
        assert!(!announced_holds(&serde_json::json!({ "sequence": 10, "part": 3 }), segment_only));
        assert!(announced_holds(&serde_json::json!({ "sequence": 10, "part": null }), segment_only));
    }

    #[test]
    fn an_ended_playlist_is_a_closed_vod_list() {
        let text = render_playlist(&listing(vec![seg(0, "init-0.mp4", false), seg(1, "init-0.mp4", false)], Vec::new(), 0), None, true);
        assert!(text.starts_with("#EXTM3U\n#EXT-X-VERSION:7\n"), "{text}");
        assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD\n") && text.ends_with("seg-1.m4s\n#EXT-X-ENDLIST\n"), "{text}");
        assert_eq!(text.matches("EXT-X-MAP").count(), 1);
        assert!(!text.contains("#EXT-X-DISCONTINUITY\n") && !text.contains("PART"));
    }
}
