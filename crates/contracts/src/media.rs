//! Videos: uploads, processing into HLS, publishing, and the files players fetch.

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use kanjian_kernel::ids::{ChannelId, UploadId, UserId, VideoId};
use kanjian_kernel::{Actor, Page, PageRequest, Result, Timestamp};
use serde::{Deserialize, Serialize};

use crate::{IntegrationEvent, VersionedEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VideoStatus {
    /// Waiting for the source file to arrive.
    Uploading,
    /// The source is here; ffmpeg is making renditions.
    Processing,
    /// Renditions and thumbnail exist; the video can be watched once published.
    Ready,
    /// Processing gave up; `failure_reason` says why.
    Failed,
}

/// Why a video ended `FAILED`, for clients to act on; `failure_reason` says it in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VideoFailureCode {
    /// Not a video: text, a still image, audio only, a picture too small to show.
    NotAVideo,
    /// A format that is not accepted, such as an HLS playlist or an ffmpeg concat list (files
    /// that point at other files or URLs). MP4/MOV, Matroska/WebM, AVI, FLV and MPEG-TS are.
    UnsupportedFormat,
    /// The file ends before the duration its index claims: the upload is incomplete.
    Truncated,
    /// ffmpeg could not make the renditions, or took longer than allowed.
    ProcessingFailed,
    /// The resumable upload was abandoned: no bytes came for too long, and what had come was
    /// removed. Upload the file again.
    UploadExpired,
    /// The uploaded bytes were lost on the server. Upload the file again.
    SourceLost,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenditionDto {
    /// `360p`, `720p`, …
    pub name: String,
    pub width: i32,
    pub height: i32,
    /// Peak bits per second, as in the HLS master playlist.
    pub bandwidth: i64,
    pub playlist_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoDto {
    pub id: VideoId,
    pub channel_id: ChannelId,
    pub owner_id: UserId,
    pub title: String,
    pub description: String,
    pub hashtags: Vec<String>,
    pub category: Option<String>,
    pub is_original: bool,
    pub status: VideoStatus,
    /// 0–100 while processing.
    pub progress_percent: u8,
    pub failure_reason: Option<String>,
    /// Set with `failure_reason` (absent for videos that failed before codes existed).
    pub failure_code: Option<VideoFailureCode>,
    pub duration_ms: Option<i64>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    /// Set while the video is published; `None` for drafts and unpublished videos.
    pub published_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Relative to the server root, e.g. `/media/videos/42/master.m3u8`.
    pub playlist_url: Option<String>,
    pub thumbnail_url: Option<String>,
    pub renditions: Vec<RenditionDto>,
}

/// The editable description of a video.
#[derive(Debug, Clone, Default)]
pub struct VideoDetailsInput {
    pub title: String,
    pub description: Option<String>,
    pub hashtags: Vec<String>,
    pub category: Option<String>,
    pub is_original: bool,
}

/// Fields left `None` stay as they are; `category: Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct UpdateVideoInput {
    pub title: Option<String>,
    pub description: Option<String>,
    pub hashtags: Option<Vec<String>>,
    pub category: Option<Option<String>>,
    pub is_original: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct CreateUploadInput {
    pub details: VideoDetailsInput,
    /// Total size of the file to come, in bytes.
    pub size_bytes: u64,
    pub filename: Option<String>,
}

/// A video in `UPLOADING` and where to send its bytes (tus 1.0 `PATCH` requests).
#[derive(Debug, Clone)]
pub struct UploadTicket {
    pub video: VideoDto,
    pub upload_id: UploadId,
    /// Relative to the server root, e.g. `/uploads/17`.
    pub upload_url: String,
    /// When the upload is abandoned if no bytes arrive (tus `Upload-Expires`).
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadProgress {
    pub upload_id: UploadId,
    pub video_id: VideoId,
    pub offset: u64,
    pub length: u64,
    /// While unfinished: when it is abandoned if no more bytes arrive (tus `Upload-Expires`).
    pub expires_at: Option<Timestamp>,
}

/// A whole file the GraphQL multipart request already spooled to disk.
#[derive(Debug)]
pub struct SpooledFile {
    pub file: std::fs::File,
    pub filename: String,
    pub content_type: Option<String>,
}

/// What a processing subscriber sees; the last one of a run is `READY` or `FAILED`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessingUpdate {
    pub video_id: VideoId,
    pub status: VideoStatus,
    pub progress_percent: u8,
    pub failure_reason: Option<String>,
    #[serde(default)]
    pub failure_code: Option<VideoFailureCode>,
}

/// A stored file for a player: HLS playlists, segments, thumbnails.
pub struct MediaFile {
    pub content_type: &'static str,
    pub length: u64,
    pub body: BoxStream<'static, std::io::Result<Bytes>>,
}

/// A recording another module hands media to become a video of a channel: a live room's
/// replay. The video starts `PROCESSING`, unpublished, and is packaged as it is when it can be
/// (H.264/AAC with regular keyframes), so it is `READY` in seconds whatever its length.
#[derive(Debug, Clone)]
pub struct ImportVideoInput {
    pub owner: UserId,
    pub channel: ChannelId,
    /// Cut to the title limit if longer.
    pub title: String,
    pub description: String,
    /// A playable file; media copies it and leaves this one alone.
    pub source: std::path::PathBuf,
    /// What the importer calls it (`live.replay:<room>`): importing the same key again returns
    /// the first video.
    pub import_key: String,
}

/// Imports recordings as videos (for `live`'s replays). Narrow on purpose.
#[async_trait]
pub trait VideoImporter: Send + Sync {
    async fn import_video(&self, input: ImportVideoInput) -> Result<VideoId>;
}

/// What other modules read of media: videos by id, as the actor may see them. Narrow on purpose,
/// so a module (and its test fakes) depends on this lookup only.
#[async_trait]
pub trait VideoDirectory: Send + Sync {
    /// The videos the actor may see: published ones for everyone, all of their own for owners.
    /// Missing or hidden ids are left out.
    async fn videos_by_ids(&self, actor: &Actor, ids: &[VideoId]) -> Result<Vec<VideoDto>>;
}

/// Everything media offers its clients (the GraphQL schema, the HTTP routes), the directory
/// included.
#[async_trait]
pub trait MediaApi: VideoDirectory + Send + Sync {
    /// Creates a video in `UPLOADING` on the actor's channel and opens a resumable upload.
    async fn create_upload(&self, actor: &Actor, input: CreateUploadInput) -> Result<UploadTicket>;
    /// Where a resumable upload stands (tus `HEAD`). Only its uploader may ask: anyone else's
    /// upload is `NotFound`, as a missing one is; an expired one is `EXPIRED`.
    async fn upload_progress(&self, actor: &Actor, upload: UploadId) -> Result<UploadProgress>;
    /// Appends bytes at `offset` (tus `PATCH`). Everything that does not need the bytes is
    /// checked before `body` is first polled, so a refused request reads none of them: who asks
    /// (`NotFound` for anyone but the uploader), expiry (`EXPIRED`), the offset
    /// (`UPLOAD_OFFSET_MISMATCH`) and `content_length`, when the request declares one, against
    /// what the upload still lacks (`TOO_LARGE`). Bytes past the declared length in a body of
    /// unknown length are `TOO_LARGE` too and none of the request's bytes are kept. When the last
    /// byte arrives the video moves to `PROCESSING`.
    async fn append_upload(
        &self,
        actor: &Actor,
        upload: UploadId,
        offset: u64,
        content_length: Option<u64>,
        body: BoxStream<'static, std::io::Result<Bytes>>,
    ) -> Result<UploadProgress>;
    /// Uploads a whole small file in one request. A file that is not a playable video is
    /// refused with `UNSUPPORTED_MEDIA` and nothing is kept.
    async fn upload_video(
        &self,
        actor: &Actor,
        details: VideoDetailsInput,
        file: SpooledFile,
    ) -> Result<VideoDto>;

    async fn update_video(&self, actor: &Actor, id: VideoId, input: UpdateVideoInput)
    -> Result<VideoDto>;
    /// Only `READY` videos can be published.
    async fn publish_video(&self, actor: &Actor, id: VideoId) -> Result<VideoDto>;
    async fn unpublish_video(&self, actor: &Actor, id: VideoId) -> Result<VideoDto>;
    /// Deletes the video and, durably, all of its files.
    async fn delete_video(&self, actor: &Actor, id: VideoId) -> Result<()>;

    /// Newest first; drafts only for the channel's owner.
    async fn channel_videos(
        &self,
        actor: &Actor,
        channel: ChannelId,
        page: PageRequest,
    ) -> Result<Page<VideoDto>>;
    /// The current state first, then every change until `READY` or `FAILED` (an abandoned
    /// upload ends `FAILED` too). Only the owner may watch: anyone else's video is `NotFound`,
    /// as a missing one is, and nothing is subscribed for it.
    async fn watch_processing(
        &self,
        actor: &Actor,
        id: VideoId,
    ) -> Result<BoxStream<'static, ProcessingUpdate>>;
    /// A file under `/media/videos/{id}/`: published videos' files for everyone, the rest only
    /// for the owner.
    async fn open_file(&self, actor: &Actor, id: VideoId, path: &str) -> Result<MediaFile>;
}

/// The source file is complete; processing should start. Handled by media itself, durably.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VideoUploaded {
    pub video_id: VideoId,
    /// The video's version after this change (see `VersionedEvent`).
    #[serde(default)]
    pub version: i64,
}
impl IntegrationEvent for VideoUploaded {
    const KIND: &'static str = "media.video_uploaded";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VideoProcessed {
    pub video_id: VideoId,
    /// The video's version after this change (see `VersionedEvent`).
    #[serde(default)]
    pub version: i64,
    pub status: VideoStatus,
}
impl IntegrationEvent for VideoProcessed {
    const KIND: &'static str = "media.video_processed";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VideoPublished {
    pub video_id: VideoId,
    /// The video's version after this change (see `VersionedEvent`).
    #[serde(default)]
    pub version: i64,
    pub channel_id: ChannelId,
    pub owner_id: UserId,
    pub title: String,
    pub description: String,
    pub hashtags: Vec<String>,
    pub category: Option<String>,
    pub duration_ms: Option<i64>,
    pub published_at: Timestamp,
}
impl IntegrationEvent for VideoPublished {
    const KIND: &'static str = "media.video_published";
}

/// A video's details were edited. Consumers that index or show published videos refresh them;
/// `published` says whether the video is visible now.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VideoDetailsChanged {
    pub video_id: VideoId,
    /// The video's version after this change (see `VersionedEvent`).
    #[serde(default)]
    pub version: i64,
    pub channel_id: ChannelId,
    pub title: String,
    pub description: String,
    pub hashtags: Vec<String>,
    pub category: Option<String>,
    pub is_original: bool,
    pub published: bool,
    /// When it was published, if it is (absent from events written before it existed).
    #[serde(default)]
    pub published_at: Option<Timestamp>,
}
impl IntegrationEvent for VideoDetailsChanged {
    const KIND: &'static str = "media.video_details_changed";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VideoUnpublished {
    pub video_id: VideoId,
    /// The video's version after this change (see `VersionedEvent`).
    #[serde(default)]
    pub version: i64,
}
impl IntegrationEvent for VideoUnpublished {
    const KIND: &'static str = "media.video_unpublished";
}

/// The video is gone; its files are being removed. Consumers drop their projections of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VideoDeleted {
    pub video_id: VideoId,
    /// The video's version after this change (see `VersionedEvent`).
    #[serde(default)]
    pub version: i64,
    pub channel_id: ChannelId,
}
impl IntegrationEvent for VideoDeleted {
    const KIND: &'static str = "media.video_deleted";
}

/// Every video event is versioned by its video.
macro_rules! versioned_by_video {
    ($($event:ty),*) => {$(
        impl VersionedEvent for $event {
            fn aggregate_id(&self) -> i64 {
                self.video_id.0
            }
            fn version(&self) -> i64 {
                self.version
            }
        }
    )*};
}
versioned_by_video!(VideoUploaded, VideoProcessed, VideoPublished, VideoDetailsChanged, VideoUnpublished, VideoDeleted);
