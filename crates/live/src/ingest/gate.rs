//! What the room domain sees of ingest: the gate that decides who may publish, the handle of a
//! publish session, and the sink that receives its packaged segments.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::watch;

/// Decides identity and exclusivity of publishers; implemented by the room domain.
#[async_trait]
pub trait PublishGate: Send + Sync + 'static {
    /// Called for each `publish`, before any media is accepted. To replace a session that is
    /// still live on the same key (a reconnect while the old socket is half open), call
    /// `close` on the old session's [`SessionControl`] and accept the new one.
    async fn authorize(
        &self,
        request: PublishRequest,
        control: SessionControl,
    ) -> Result<Box<dyn PublishSink>, PublishRefusal>;
}

/// A `publish` as it arrived: `rtmp://host/<app>/<stream_key>`.
#[derive(Debug, Clone)]
pub struct PublishRequest {
    pub app: String,
    pub stream_key: String,
    pub peer: SocketAddr,
}

/// Why a publish is refused. The description goes into `onStatus NetStream.Publish.BadName`;
/// ffmpeg prints it as `Server error: <description>`, OBS shows a failed connection.
#[derive(Debug, Clone)]
pub struct PublishRefusal {
    pub description: String,
}

impl PublishRefusal {
    pub fn new(description: impl Into<String>) -> Self {
        Self {
            description: description.into(),
        }
    }
}

/// Receives what one accepted publish session produces, in order: `started`, then parts and
/// segments (each segment after its last part; again `started` and so on after a switch to
/// transcoding), then `ended` once. Calls are made from the session's own tasks; a slow sink
/// delays the delivery of later parts, never the reading of RTMP.
#[async_trait]
pub trait PublishSink: Send + Sync {
    /// Packaging starts: the source's codecs and how it is packaged. Called again when the
    /// session switches to transcoding (its next segment then carries a new init segment).
    async fn started(&self, info: StreamInfo);
    /// A finished LL-HLS part of the segment in progress. An error is retried a few times,
    /// then logged and the part dropped.
    async fn part(&self, part: PackagedPart) -> anyhow::Result<()>;
    /// A finished segment: the concatenation of its parts. An error is retried a few times,
    /// then logged and the segment dropped (the next one is still delivered).
    async fn segment(&self, segment: PackagedSegment) -> anyhow::Result<()>;
    /// The session is over, after its last segment was delivered.
    async fn ended(&self, why: EndReason);
    /// Something the creator should know, e.g. that the stream is being transcoded and why.
    async fn notice(&self, _text: String) {}
}

/// The source as packaging found it.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamInfo {
    /// e.g. `h264`, `hevc`, `vp6`; `None` without video.
    pub video_codec: Option<String>,
    /// e.g. `aac`, `mp3`; `None` without audio.
    pub audio_codec: Option<String>,
    /// From the publisher's `onMetaData`, when it sent them.
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<f64>,
    /// The longest interval between the first keyframes (up to two intervals are measured).
    pub keyframe_interval: Option<Duration>,
    pub mode: PackagingMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackagingMode {
    /// H.264/AAC with keyframes at most a segment apart: remuxed, not re-encoded.
    Copy,
    /// Re-encoded to one H.264/AAC rendition with a keyframe every segment.
    Transcode,
}

/// One finished fMP4 segment.
#[derive(Clone)]
pub struct PackagedSegment {
    /// Per session, from 0, without gaps (a dropped segment still used its number).
    pub sequence: u64,
    pub duration: Duration,
    /// `EXT-X-PROGRAM-DATE-TIME` of its first frame: when the session's first frame arrived
    /// plus the publisher's media time since.
    pub program_date_time: DateTime<Utc>,
    /// The init segment (`EXT-X-MAP`) when this is the first segment of a packaging run; a run
    /// after a switch to transcoding starts with a new one (a discontinuity).
    pub init: Option<Bytes>,
    /// The segment's bytes: its parts, one after the other.
    pub data: Bytes,
}

/// One LL-HLS part (`EXT-X-PART`): a `moof` + `mdat` of at most the part target.
#[derive(Clone)]
pub struct PackagedPart {
    /// The segment it belongs to (as [`PackagedSegment::sequence`]).
    pub sequence: u64,
    /// Its place in the segment, from 0.
    pub index: u32,
    pub duration: Duration,
    /// Starts with a keyframe (`INDEPENDENT=YES`).
    pub independent: bool,
    /// Of its first frame, as for segments.
    pub program_date_time: DateTime<Utc>,
    /// The run's init segment, with the run's first part (and again with its first segment).
    pub init: Option<Bytes>,
    pub data: Bytes,
}

impl fmt::Debug for PackagedPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PackagedPart")
            .field("sequence", &self.sequence)
            .field("index", &self.index)
            .field("duration", &self.duration)
            .field("independent", &self.independent)
            .field("init", &self.init.as_ref().map(Bytes::len))
            .field("data", &self.data.len())
            .finish()
    }
}

impl fmt::Debug for PackagedSegment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PackagedSegment")
            .field("sequence", &self.sequence)
            .field("duration", &self.duration)
            .field("program_date_time", &self.program_date_time)
            .field("init", &self.init.as_ref().map(Bytes::len))
            .field("data", &self.data.len())
            .finish()
    }
}

/// Why a publish session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// The publisher stopped (`deleteStream`, or its connection closed).
    PublisherClosed,
    /// No audio or video for the configured idle timeout.
    IdleTimeout,
    /// The gate closed it through [`SessionControl::close`]: replaced by a reconnect, or the
    /// creator ended the live.
    ClosedByGate(String),
    /// The connection failed or its media could not be packaged.
    Error(String),
    /// The server is shutting down.
    Shutdown,
}

/// Cloneable handle of one publish session (one RTMP connection).
#[derive(Clone)]
pub struct SessionControl {
    inner: Arc<ControlInner>,
}

struct ControlInner {
    id: u64,
    /// What the connection watches; `Some(reason)` closes it.
    close: watch::Sender<Option<String>>,
    /// Why it was asked to close, when it was.
    why: Mutex<Option<EndReason>>,
    /// Unix milliseconds of the last audio or video tag; 0 before any.
    last_media_ms: AtomicI64,
}

impl fmt::Debug for SessionControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionControl")
            .field("id", &self.inner.id)
            .finish()
    }
}

impl SessionControl {
    pub(crate) fn new(id: u64) -> Self {
        Self {
            inner: Arc::new(ControlInner {
                id,
                close: watch::channel(None).0,
                why: Mutex::new(None),
                last_media_ms: AtomicI64::new(0),
            }),
        }
    }

    /// Unique per server process.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// Ends the session: the publisher gets an `onStatus` error with `reason`, the last
    /// segments are delivered, and the sink's `ended` gets [`EndReason::ClosedByGate`].
    pub fn close(&self, reason: impl Into<String>) {
        let reason = reason.into();
        self.end(EndReason::ClosedByGate(reason.clone()), reason);
    }

    pub(crate) fn shut_down(&self) {
        self.end(EndReason::Shutdown, "the server is shutting down".into());
    }

    /// The first reason to close wins.
    fn end(&self, why: EndReason, reason: String) {
        let mut slot = self.inner.why.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(why);
            self.inner.close.send_replace(Some(reason));
        }
    }

    /// Why `close` (or shutdown) ended it, if either did.
    pub(crate) fn close_reason(&self) -> Option<EndReason> {
        self.inner
            .why
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn watch(&self) -> watch::Receiver<Option<String>> {
        self.inner.close.subscribe()
    }

    /// When the publisher last sent audio or video; `None` before any.
    pub fn last_media_at(&self) -> Option<DateTime<Utc>> {
        match self.inner.last_media_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => DateTime::from_timestamp_millis(ms),
        }
    }

    pub(crate) fn media_arrived(&self) {
        self.inner
            .last_media_ms
            .store(Utc::now().timestamp_millis(), Ordering::Relaxed);
    }
}
