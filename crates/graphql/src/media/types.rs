use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use kanjian_contracts::media::{VideoDto, VideoFailureCode as FailureCode, VideoStatus as Status};
use kanjian_kernel::Timestamp;
use kanjian_kernel::ids::VideoId;

use crate::context::ContextExt;
use crate::identity::Channel;
use crate::loaders;
use crate::relay::{NodeKind, NodeObject, expect_id, to_global_id};

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum VideoStatus {
    /// Waiting for the source file.
    Uploading,
    /// Making renditions; see `progressPercent`.
    Processing,
    /// Watchable (once published).
    Ready,
    /// Processing gave up; see `failureReason`.
    Failed,
}

impl From<Status> for VideoStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Uploading => Self::Uploading,
            Status::Processing => Self::Processing,
            Status::Ready => Self::Ready,
            Status::Failed => Self::Failed,
        }
    }
}

/// Why a video ended `FAILED`; `failureReason` says it in words.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum VideoFailureCode {
    /// Not a video: text, a still image, audio only, a picture too small to show.
    NotAVideo,
    /// A format that is not accepted, such as an HLS playlist or an ffmpeg concat list (files
    /// that point at other files or URLs). MP4/MOV, WebM/MKV, AVI, FLV and MPEG-TS are.
    UnsupportedFormat,
    /// The file ends before the duration it claims: the upload was incomplete.
    Truncated,
    /// The renditions could not be made, or took longer than allowed.
    ProcessingFailed,
    /// The resumable upload was abandoned (no bytes for too long) and its bytes removed.
    UploadExpired,
    /// The uploaded bytes were lost on the server.
    SourceLost,
}

impl From<FailureCode> for VideoFailureCode {
    fn from(c: FailureCode) -> Self {
        match c {
            FailureCode::NotAVideo => Self::NotAVideo,
            FailureCode::UnsupportedFormat => Self::UnsupportedFormat,
            FailureCode::Truncated => Self::Truncated,
            FailureCode::ProcessingFailed => Self::ProcessingFailed,
            FailureCode::UploadExpired => Self::UploadExpired,
            FailureCode::SourceLost => Self::SourceLost,
        }
    }
}

/// One HLS rendition of a video.
#[derive(SimpleObject)]
pub struct Rendition {
    /// `360p`, `720p`, …
    pub name: String,
    pub width: i32,
    pub height: i32,
    /// Peak bits per second.
    pub bandwidth: i64,
    pub playlist_url: String,
}

pub struct Video(pub VideoDto);

impl NodeKind {
    pub(crate) const VIDEO: NodeKind = NodeKind("Video");
}

impl NodeObject for Video {
    const KIND: NodeKind = NodeKind::VIDEO;
    async fn load(ctx: &Context<'_>, id: i64) -> async_graphql::Result<Option<Self>> {
        Ok(loaders::video(ctx, VideoId(id)).await?.map(Video))
    }
}

#[Object]
impl Video {
    pub async fn id(&self) -> ID {
        to_global_id(NodeKind::VIDEO, self.0.id.0)
    }

    async fn title(&self) -> &str {
        &self.0.title
    }

    async fn description(&self) -> &str {
        &self.0.description
    }

    /// Without the leading `#`.
    async fn hashtags(&self) -> &[String] {
        &self.0.hashtags
    }

    async fn category(&self) -> Option<&str> {
        self.0.category.as_deref()
    }

    /// The creator declares the video their original work (原创).
    async fn is_original(&self) -> bool {
        self.0.is_original
    }

    async fn status(&self) -> VideoStatus {
        self.0.status.into()
    }

    /// 0–100 while `PROCESSING`.
    async fn progress_percent(&self) -> i32 {
        i32::from(self.0.progress_percent)
    }

    /// Why processing failed, for `FAILED` videos.
    async fn failure_reason(&self) -> Option<&str> {
        self.0.failure_reason.as_deref()
    }

    /// Why processing failed, as a code to act on, for `FAILED` videos (none for videos that
    /// failed before codes existed).
    async fn failure_code(&self) -> Option<VideoFailureCode> {
        self.0.failure_code.map(Into::into)
    }

    /// Seconds, with millisecond precision.
    async fn duration(&self) -> Option<f64> {
        self.0.duration_ms.map(|ms| ms as f64 / 1000.0)
    }

    async fn width(&self) -> Option<i32> {
        self.0.width
    }

    async fn height(&self) -> Option<i32> {
        self.0.height
    }

    /// The HLS master playlist, once `READY`.
    async fn playlist_url(&self, ctx: &Context<'_>) -> Option<String> {
        self.0.playlist_url.as_deref().map(|p| ctx.services().absolute_url(p))
    }

    async fn thumbnail_url(&self, ctx: &Context<'_>) -> Option<String> {
        self.0.thumbnail_url.as_deref().map(|p| ctx.services().absolute_url(p))
    }

    /// The product card under the video (a product of its creator's showcase), if any and still
    /// listed.
    async fn product(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<crate::commerce::Product>> {
        crate::commerce::video_product(ctx, self.0.id).await
    }

    async fn renditions(&self, ctx: &Context<'_>) -> Vec<Rendition> {
        self.0
            .renditions
            .iter()
            .map(|r| Rendition {
                name: r.name.clone(),
                width: r.width,
                height: r.height,
                bandwidth: r.bandwidth,
                playlist_url: ctx.services().absolute_url(&r.playlist_url),
            })
            .collect()
    }

    async fn channel(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Channel>> {
        Ok(loaders::channel(ctx, self.0.channel_id).await?.map(Channel))
    }

    /// Reactions, comments, shares and views.
    async fn social(&self) -> crate::social::VideoSocial {
        crate::social::VideoSocial(self.0.id)
    }

    async fn is_published(&self) -> bool {
        self.0.published_at.is_some()
    }

    async fn published_at(&self) -> Option<Timestamp> {
        self.0.published_at
    }

    async fn created_at(&self) -> Timestamp {
        self.0.created_at
    }

    async fn updated_at(&self) -> Timestamp {
        self.0.updated_at
    }
}

#[derive(Default)]
pub struct MediaQuery;

#[Object]
impl MediaQuery {
    /// A video by global id; `null` when it does not exist or is not visible to you.
    async fn video(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Video>> {
        let id = expect_id(&id, NodeKind::VIDEO)?;
        Ok(loaders::video(ctx, VideoId(id)).await?.map(Video))
    }
}
