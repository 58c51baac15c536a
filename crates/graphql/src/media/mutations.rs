use async_graphql::{Context, ID, InputObject, Object, Upload};
use kanjian_contracts::media::MediaApi;
use kanjian_contracts::media::{CreateUploadInput, SpooledFile, UpdateVideoInput, VideoDetailsInput};
use kanjian_kernel::ids::VideoId;

use super::types::Video;
use crate::context::ContextExt;
use crate::errors::{into_payload, payload};
use crate::relay::{NodeKind, input_id};

#[derive(InputObject)]
#[graphql(name = "UploadVideoInput")]
pub struct UploadVideoArgs {
    /// The whole file, sent with the GraphQL multipart request spec. For large files use
    /// `createVideoUpload` and the resumable upload endpoint instead.
    pub file: Upload,
    pub title: String,
    pub description: Option<String>,
    #[graphql(default)]
    pub hashtags: Vec<String>,
    pub category: Option<String>,
    #[graphql(default)]
    pub is_original: bool,
}

#[derive(InputObject)]
#[graphql(name = "CreateVideoUploadInput")]
pub struct CreateVideoUploadArgs {
    pub title: String,
    pub description: Option<String>,
    #[graphql(default)]
    pub hashtags: Vec<String>,
    pub category: Option<String>,
    #[graphql(default)]
    pub is_original: bool,
    /// Size of the file to come, in bytes.
    pub size_bytes: u64,
    pub filename: Option<String>,
}

/// Omitted fields stay as they are; `category: null` clears it.
#[derive(InputObject)]
#[graphql(name = "UpdateVideoInput")]
pub struct UpdateVideoArgs {
    pub video_id: ID,
    pub title: Option<String>,
    pub description: Option<String>,
    pub hashtags: Option<Vec<String>>,
    pub category: async_graphql::MaybeUndefined<String>,
    pub is_original: Option<bool>,
}

#[derive(InputObject)]
#[graphql(name = "VideoIdInput")]
pub struct VideoIdArgs {
    pub video_id: ID,
}

payload!(VideoPayload { video: Video });

payload!(
    /// The video, in `UPLOADING`, and where to send its bytes.
    CreateVideoUploadPayload {
        video: Video,
        /// A tus 1.0 upload URL: `PATCH` bytes with `Upload-Offset`, `HEAD` to resume.
        upload_url: String,
        /// When the upload is abandoned if no bytes arrive (each `PATCH` that stores bytes
        /// pushes it back, as its `Upload-Expires` header says). The video then ends `FAILED`
        /// with `UPLOAD_EXPIRED`.
        upload_expires_at: kanjian_kernel::Timestamp,
    }
);

payload!(DeleteVideoPayload { deleted_video_id: ID });

fn video_id(id: &ID) -> kanjian_kernel::Result<VideoId> {
    input_id(id, NodeKind::VIDEO, "videoId").map(VideoId)
}

#[derive(Default)]
pub struct MediaMutation;

#[Object]
impl MediaMutation {
    /// Uploads a small video in one request. Not a playable video: `UNSUPPORTED_MEDIA`, and
    /// nothing is kept. Processing starts at once; follow it with `videoProcessing`.
    async fn upload_video(
        &self,
        ctx: &Context<'_>,
        input: UploadVideoArgs,
    ) -> async_graphql::Result<VideoPayload> {
        let upload = input.file.value(ctx).map_err(|e| {
            crate::errors::top_level(kanjian_kernel::Error::user(
                "file",
                kanjian_kernel::UserErrorCode::Required,
                format!("the file part is missing: {e}"),
            ))
        })?;
        let details = VideoDetailsInput {
            title: input.title,
            description: input.description,
            hashtags: input.hashtags,
            category: input.category,
            is_original: input.is_original,
        };
        let file = SpooledFile {
            file: upload.content,
            filename: upload.filename,
            content_type: upload.content_type,
        };
        let result = ctx.api::<dyn MediaApi>()?.upload_video(ctx.actor(), details, file).await;
        into_payload(result, |v| VideoPayload { video: Some(Video(v)), user_errors: vec![] })
    }

    /// Starts a resumable upload for a large video.
    async fn create_video_upload(
        &self,
        ctx: &Context<'_>,
        input: CreateVideoUploadArgs,
    ) -> async_graphql::Result<CreateVideoUploadPayload> {
        let create = CreateUploadInput {
            details: VideoDetailsInput {
                title: input.title,
                description: input.description,
                hashtags: input.hashtags,
                category: input.category,
                is_original: input.is_original,
            },
            size_bytes: input.size_bytes,
            filename: input.filename,
        };
        let result = ctx.api::<dyn MediaApi>()?.create_upload(ctx.actor(), create).await;
        into_payload(result, |t| CreateVideoUploadPayload {
            video: Some(Video(t.video)),
            upload_url: Some(ctx.services().absolute_url(&t.upload_url)),
            upload_expires_at: Some(t.expires_at),
            user_errors: vec![],
        })
    }

    /// Edits a video's details. Owner only.
    async fn update_video(
        &self,
        ctx: &Context<'_>,
        input: UpdateVideoArgs,
    ) -> async_graphql::Result<VideoPayload> {
        let result = async {
            let id = video_id(&input.video_id)?;
            let update = UpdateVideoInput {
                title: input.title,
                description: input.description,
                hashtags: input.hashtags,
                category: match input.category {
                    async_graphql::MaybeUndefined::Undefined => None,
                    async_graphql::MaybeUndefined::Null => Some(None),
                    async_graphql::MaybeUndefined::Value(c) => Some(Some(c)),
                },
                is_original: input.is_original,
            };
            ctx.services().apis.get::<dyn MediaApi>()?.update_video(ctx.actor(), id, update).await
        }
        .await;
        into_payload(result, |v| VideoPayload { video: Some(Video(v)), user_errors: vec![] })
    }

    /// Makes a `READY` video visible to everyone. Owner only.
    async fn publish_video(
        &self,
        ctx: &Context<'_>,
        input: VideoIdArgs,
    ) -> async_graphql::Result<VideoPayload> {
        let result = async {
            ctx.services().apis.get::<dyn MediaApi>()?.publish_video(ctx.actor(), video_id(&input.video_id)?).await
        }
        .await;
        into_payload(result, |v| VideoPayload { video: Some(Video(v)), user_errors: vec![] })
    }

    /// Hides a video again. Owner only.
    async fn unpublish_video(
        &self,
        ctx: &Context<'_>,
        input: VideoIdArgs,
    ) -> async_graphql::Result<VideoPayload> {
        let result = async {
            ctx.services().apis.get::<dyn MediaApi>()?.unpublish_video(ctx.actor(), video_id(&input.video_id)?).await
        }
        .await;
        into_payload(result, |v| VideoPayload { video: Some(Video(v)), user_errors: vec![] })
    }

    /// Deletes a video and all its files. Owner only.
    async fn delete_video(
        &self,
        ctx: &Context<'_>,
        input: VideoIdArgs,
    ) -> async_graphql::Result<DeleteVideoPayload> {
        let deleted = input.video_id.clone();
        let result = async {
            ctx.services().apis.get::<dyn MediaApi>()?.delete_video(ctx.actor(), video_id(&input.video_id)?).await
        }
        .await;
        into_payload(result, |()| DeleteVideoPayload {
            deleted_video_id: Some(deleted),
            user_errors: vec![],
        })
    }
}
