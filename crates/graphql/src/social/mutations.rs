use async_graphql::{Context, ID, InputObject, Object};
use kanjian_contracts::social::SocialApi;
use kanjian_contracts::social::{ChannelSocialDto, PrivacySettings, VideoSocialDto};
use kanjian_kernel::ids::{ChannelId, CommentId, FriendRequestId, UserId, VideoId};

use super::types::{ChannelSocial, Comment, FriendRequest, ReactionKind, ShareTarget, UserSocial, VideoSocial};
use crate::context::ContextExt;
use crate::errors::{into_payload, payload};
use crate::relay::{NodeKind, input_id};

fn user_id(id: &ID) -> kanjian_kernel::Result<UserId> {
    input_id(id, NodeKind::USER, "userId").map(UserId)
}
fn channel_id(id: &ID) -> kanjian_kernel::Result<ChannelId> {
    input_id(id, NodeKind::CHANNEL, "channelId").map(ChannelId)
}
fn video_id(id: &ID) -> kanjian_kernel::Result<VideoId> {
    input_id(id, NodeKind::VIDEO, "videoId").map(VideoId)
}
fn comment_id(id: &ID, field: &str) -> kanjian_kernel::Result<CommentId> {
    input_id(id, NodeKind::COMMENT, field).map(CommentId)
}
fn request_id(id: &ID) -> kanjian_kernel::Result<FriendRequestId> {
    input_id(id, NodeKind::FRIEND_REQUEST, "requestId").map(FriendRequestId)
}

#[derive(InputObject)]
pub struct SendFriendRequestInput {
    pub user_id: ID,
    /// A short note shown with the request.
    pub message: Option<String>,
}

#[derive(InputObject)]
pub struct FriendRequestIdInput {
    pub request_id: ID,
}

#[derive(InputObject)]
pub struct UserIdInput {
    pub user_id: ID,
}

#[derive(InputObject)]
pub struct ChannelIdInput {
    pub channel_id: ID,
}

#[derive(InputObject)]
pub struct ReactionInput {
    pub video_id: ID,
    pub kind: ReactionKind,
}

#[derive(InputObject)]
pub struct PrivacySettingsInput {
    /// Hide all your ❤️ recommends from friends.
    pub hide_recommends: bool,
}

#[derive(InputObject)]
pub struct AddCommentInput {
    pub video_id: ID,
    /// 1–500 characters; line breaks allowed.
    pub body: String,
    /// Reply to this top-level comment (replies to replies are refused).
    pub reply_to: Option<ID>,
}

#[derive(InputObject)]
pub struct EditCommentInput {
    pub comment_id: ID,
    pub body: String,
}

#[derive(InputObject)]
pub struct CommentIdInput {
    pub comment_id: ID,
}

#[derive(InputObject)]
pub struct PinCommentInput {
    pub comment_id: ID,
    /// `false` unpins.
    #[graphql(default = true)]
    pub pinned: bool,
}

#[derive(InputObject)]
pub struct LikeCommentInput {
    pub comment_id: ID,
    /// `false` takes the like back.
    #[graphql(default = true)]
    pub liked: bool,
}

#[derive(InputObject)]
pub struct ShareVideoInput {
    pub video_id: ID,
    pub target: ShareTarget,
}

#[derive(InputObject)]
pub struct ReportViewInput {
    pub video_id: ID,
    /// How long the viewer watched, in milliseconds.
    pub watch_ms: i64,
}

payload!(FriendRequestPayload { friend_request: FriendRequest });
payload!(UserSocialPayload { user: UserSocial });
payload!(ChannelSocialPayload { channel: ChannelSocial });
payload!(VideoSocialPayload { video: VideoSocial });
payload!(CommentPayload { comment: Comment });
payload!(DeleteCommentPayload { deleted_comment_id: ID });
payload!(PrivacySettingsPayload { hide_recommends: bool });
payload!(ReportViewPayload { video_id: ID });

fn video_payload(s: VideoSocialDto) -> VideoSocialPayload {
    VideoSocialPayload { video: Some(VideoSocial(s.video)), user_errors: vec![] }
}

fn channel_payload(s: ChannelSocialDto) -> ChannelSocialPayload {
    ChannelSocialPayload { channel: Some(ChannelSocial(s.channel)), user_errors: vec![] }
}

fn request_payload(r: kanjian_contracts::social::FriendRequestDto) -> FriendRequestPayload {
    FriendRequestPayload { friend_request: Some(FriendRequest(r)), user_errors: vec![] }
}

fn comment_payload(c: kanjian_contracts::social::CommentDto) -> CommentPayload {
    CommentPayload { comment: Some(Comment(c)), user_errors: vec![] }
}

#[derive(Default)]
pub struct SocialMutation;

#[Object]
impl SocialMutation {
    async fn send_friend_request(
        &self,
        ctx: &Context<'_>,
        input: SendFriendRequestInput,
    ) -> async_graphql::Result<FriendRequestPayload> {
        let social = &ctx.api::<dyn SocialApi>()?;
        let result = async { social.send_friend_request(ctx.actor(), user_id(&input.user_id)?, input.message).await }.await;
        into_payload(result, request_payload)
    }

    async fn accept_friend_request(
        &self,
        ctx: &Context<'_>,
        input: FriendRequestIdInput,
    ) -> async_graphql::Result<FriendRequestPayload> {
        let social = &ctx.api::<dyn SocialApi>()?;
        let result = async { social.accept_friend_request(ctx.actor(), request_id(&input.request_id)?).await }.await;
        into_payload(result, request_payload)
    }

    async fn decline_friend_request(
        &self,
        ctx: &Context<'_>,
        input: FriendRequestIdInput,
    ) -> async_graphql::Result<FriendRequestPayload> {
        let social = &ctx.api::<dyn SocialApi>()?;
        let result = async { social.decline_friend_request(ctx.actor(), request_id(&input.request_id)?).await }.await;
        into_payload(result, request_payload)
    }

    async fn cancel_friend_request(
        &self,
        ctx: &Context<'_>,
        input: FriendRequestIdInput,
    ) -> async_graphql::Result<FriendRequestPayload> {
        let social = &ctx.api::<dyn SocialApi>()?;
        let result = async { social.cancel_friend_request(ctx.actor(), request_id(&input.request_id)?).await }.await;
        into_payload(result, request_payload)
    }

    async fn remove_friend(&self, ctx: &Context<'_>, input: UserIdInput) -> async_graphql::Result<UserSocialPayload> {
        let social = &ctx.api::<dyn SocialApi>()?;
        let result = async {
            let user = user_id(&input.user_id)?;
            social.remove_friend(ctx.actor(), user).await.map(|()| user)
        }
        .await;
        into_payload(result, |u| UserSocialPayload { user: Some(UserSocial(u)), user_errors: vec![] })
    }

    /// Hides you and them from each other everywhere; ends friendship, requests and follows.
    async fn block_user(&self, ctx: &Context<'_>, input: UserIdInput) -> async_graphql::Result<UserSocialPayload> {
        let social = &ctx.api::<dyn SocialApi>()?;
        let result = async {
            let user = user_id(&input.user_id)?;
            social.block(ctx.actor(), user).await.map(|()| user)
        }
        .await;
        into_payload(result, |u| UserSocialPayload { user: Some(UserSocial(u)), user_errors: vec![] })
    }

    async fn unblock_user(&self, ctx: &Context<'_>, input: UserIdInput) -> async_graphql::Result<UserSocialPayload> {
        let social = &ctx.api::<dyn SocialApi>()?;
        let result = async {
            let user = user_id(&input.user_id)?;
            social.unblock(ctx.actor(), user).await.map(|()| user)
        }
        .await;
        into_payload(result, |u| UserSocialPayload { user: Some(UserSocial(u)), user_errors: vec![] })
    }

    async fn follow_channel(&self, ctx: &Context<'_>, input: ChannelIdInput) -> async_graphql::Result<ChannelSocialPayload> {
        let social = &ctx.api::<dyn SocialApi>()?;
        let result = async { social.follow(ctx.actor(), channel_id(&input.channel_id)?).await }.await;
        into_payload(result, channel_payload)
    }

    async fn unfollow_channel(&self, ctx: &Context<'_>, input: ChannelIdInput) -> async_graphql::Result<ChannelSocialPayload> {
        let social = &ctx.api::<dyn SocialApi>()?;
        let result = async { social.unfollow(ctx.actor(), channel_id(&input.channel_id)?).await }.await;
        into_payload(result, channel_payload)
    }

    /// 👍 or ❤️ a video. Reacting twice changes nothing.
    async fn react_to_video(&self, ctx: &Context<'_>, input: ReactionInput) -> async_graphql::Result<VideoSocialPayload> {
        let social = &ctx.api::<dyn SocialApi>()?;
        let result = async { social.react(ctx.actor(), video_id(&input.video_id)?, input.kind.into()).await }.await;
        into_payload(result, video_payload)
    }

    async fn undo_reaction(&self, ctx: &Context<'_>, input: ReactionInput) -> async_graphql::Result<VideoSocialPayload> {
        let social = &ctx.api::<dyn SocialApi>()?;
        let result = async { social.unreact(ctx.actor(), video_id(&input.video_id)?, input.kind.into()).await }.await;
        into_payload(result, video_payload)
    }

    async fn set_privacy_settings(
        &self,
        ctx: &Context<'_>,
        input: PrivacySettingsInput,
    ) -> async_graphql::Result<PrivacySettingsPayload> {
        let settings = PrivacySettings { hide_recommends: input.hide_recommends };
        let result = ctx.api::<dyn SocialApi>()?.set_privacy(ctx.actor(), settings).await;
        into_payload(result, |s| PrivacySettingsPayload { hide_recommends: Some(s.hide_recommends), user_errors: vec![] })
    }

    async fn add_comment(&self, ctx: &Context<'_>, input: AddCommentInput) -> async_graphql::Result<CommentPayload> {
        let social = &ctx.api::<dyn SocialApi>()?;
        let result = async {
            let video = video_id(&input.video_id)?;
            let reply_to = input.reply_to.as_ref().map(|id| comment_id(id, "replyTo")).transpose()?;
            social.add_comment(ctx.actor(), video, input.body, reply_to).await
        }
        .await;
        into_payload(result, comment_payload)
    }

    /// The author only.
    async fn edit_comment(&self, ctx: &Context<'_>, input: EditCommentInput) -> async_graphql::Result<CommentPayload> {
        let social = &ctx.api::<dyn SocialApi>()?;
        let result = async { social.edit_comment(ctx.actor(), comment_id(&input.comment_id, "commentId")?, input.body).await }.await;
        into_payload(result, comment_payload)
    }

    /// The author or the video's creator. Deleting a comment deletes its replies.
    async fn delete_comment(&self, ctx: &Context<'_>, input: CommentIdInput) -> async_graphql::Result<DeleteCommentPayload> {
        let social = &ctx.api::<dyn SocialApi>()?;
        let deleted = input.comment_id.clone();
        let result = async { social.delete_comment(ctx.actor(), comment_id(&input.comment_id, "commentId")?).await }.await;
        into_payload(result, |()| DeleteCommentPayload { deleted_comment_id: Some(deleted), user_errors: vec![] })
    }

    /// The video's creator only; one pinned comment per video.
    async fn pin_comment(&self, ctx: &Context<'_>, input: PinCommentInput) -> async_graphql::Result<CommentPayload> {
        let social = &ctx.api::<dyn SocialApi>()?;
        let result = async { social.pin_comment(ctx.actor(), comment_id(&input.comment_id, "commentId")?, input.pinned).await }.await;
        into_payload(result, comment_payload)
    }

    async fn like_comment(&self, ctx: &Context<'_>, input: LikeCommentInput) -> async_graphql::Result<CommentPayload> {
        let social = &ctx.api::<dyn SocialApi>()?;
        let result = async { social.like_comment(ctx.actor(), comment_id(&input.comment_id, "commentId")?, input.liked).await }.await;
        into_payload(result, comment_payload)
    }

    async fn share_video(&self, ctx: &Context<'_>, input: ShareVideoInput) -> async_graphql::Result<VideoSocialPayload> {
        let social = &ctx.api::<dyn SocialApi>()?;
        let result = async { social.share(ctx.actor(), video_id(&input.video_id)?, input.target.into()).await }.await;
        into_payload(result, video_payload)
    }

    /// Reports watch time; feeds use it. A view counts once per viewer, video and day.
    async fn report_view(&self, ctx: &Context<'_>, input: ReportViewInput) -> async_graphql::Result<ReportViewPayload> {
        let social = &ctx.api::<dyn SocialApi>()?;
        let id = input.video_id.clone();
        let result = async { social.report_view(ctx.actor(), video_id(&input.video_id)?, input.watch_ms).await }.await;
        into_payload(result, |()| ReportViewPayload { video_id: Some(id), user_errors: vec![] })
    }
}
