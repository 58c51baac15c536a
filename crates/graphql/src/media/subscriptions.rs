use async_graphql::{Context, ID, SimpleObject, Subscription};
use kanjian_contracts::media::MediaApi;
use futures::{Stream, StreamExt};
use kanjian_contracts::media::ProcessingUpdate;
use kanjian_kernel::ids::VideoId;

use super::types::{VideoFailureCode, VideoStatus};
use crate::context::ContextExt;
use crate::errors::GqlResultExt;
use crate::relay::{NodeKind, expect_id, to_global_id};

/// Where a video's processing stands.
#[derive(SimpleObject)]
pub struct VideoProcessingUpdate {
    pub video_id: ID,
    pub status: VideoStatus,
    pub progress_percent: i32,
    pub failure_reason: Option<String>,
    /// Set with `failureReason`, on the `FAILED` update.
    pub failure_code: Option<VideoFailureCode>,
}

impl From<ProcessingUpdate> for VideoProcessingUpdate {
    fn from(u: ProcessingUpdate) -> Self {
        Self {
            video_id: to_global_id(NodeKind::VIDEO, u.video_id.0),
            status: u.status.into(),
            progress_percent: i32::from(u.progress_percent),
            failure_reason: u.failure_reason,
            failure_code: u.failure_code.map(Into::into),
        }
    }
}

#[derive(Default)]
pub struct MediaSubscription;

#[Subscription]
impl MediaSubscription {
    /// The current state at once, then every change until `READY` or `FAILED`; the stream then
    /// completes. An upload abandoned in `UPLOADING` ends `FAILED` with `UPLOAD_EXPIRED`. Owner
    /// only: anyone else's video is `NOT_FOUND`, exactly as a missing one.
    async fn video_processing(
        &self,
        ctx: &Context<'_>,
        video_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = VideoProcessingUpdate> + use<>> {
        let id = VideoId(expect_id(&video_id, NodeKind::VIDEO)?);
        let updates = ctx.api::<dyn MediaApi>()?.watch_processing(ctx.actor(), id).await.gql()?;
        Ok(updates.map(VideoProcessingUpdate::from))
    }
}
