//! `SocialService`: the module's implementation of `SocialApi`. Each method hands its
//! dependencies to one use-case function.

use kanjian_db::Db;
use std::sync::Arc;

use async_trait::async_trait;
use kanjian_contracts::identity::IdentityDirectory;
use kanjian_contracts::media::VideoDirectory;
use kanjian_contracts::social::{
    BlockDirectory, BoostedVideos, ChannelSocialDto, CommentDto, FeedItemDto, FollowDto, FriendDto, FriendRequestDto, PrivacySettings,
    ReactionDto, ReactionKind, RelationshipDto, RequestDirection, ShareTarget, SocialApi,
    UserSocialDto, VideoSocialDto,
};
use kanjian_events::{EventHandler, Outbox};
use kanjian_kernel::ids::{ChannelId, CommentId, FriendRequestId, UserId, VideoId};
use kanjian_kernel::{Actor, Page, PageRequest, Result};

use crate::config::SocialConfig;
use crate::{Deps, blocks, comments, feeds, follows, friends, projection, reactions, shares_views};

/// The social graph and engagement on the module's own tables. Cheap to clone: everything sits
/// behind one `Arc`.
#[derive(Clone)]
pub struct SocialService {
    deps: Arc<Deps>,
}

impl std::fmt::Debug for SocialService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocialService")
            .field("config", &self.deps.config)
            .finish_non_exhaustive()
    }
}

impl SocialService {
    pub fn new(
        db: Db,
        outbox: Outbox,
        identity: Arc<dyn IdentityDirectory>,
        media: Arc<dyn VideoDirectory>,
        config: SocialConfig,
    ) -> Self {
        Self {
            deps: Arc::new(Deps {
                db,
                outbox,
                identity,
                media,
                config,
                pool: Default::default(),
                boosted: Default::default(),
            }),
        }
    }

    /// Where Recommended gets boosted videos from (creator traffic packs, a later module).
    /// Set once at wiring time; a second source is refused (returned as `Err`).
    pub fn set_boosted_videos(
        &self,
        source: Arc<dyn BoostedVideos>,
    ) -> std::result::Result<(), Arc<dyn BoostedVideos>> {
        self.deps.boosted.set(source)
    }

    pub fn config(&self) -> &SocialConfig {
        &self.deps.config
    }

    /// Handlers `server` registers with the Dispatcher: `social.video_projection`, which keeps
    /// `social_videos` in step with media's published videos and removes a deleted video's
    /// social data.
    pub fn event_handlers(&self) -> Vec<Arc<dyn EventHandler>> {
        vec![Arc::new(projection::VideoProjectionHandler {
            deps: self.deps.clone(),
        })]
    }
}

#[async_trait]
impl kanjian_contracts::social::FriendDirectory for SocialService {
    async fn closest_friends(&self, user: UserId, limit: u64) -> Result<Vec<UserId>> {
        crate::friends::closest_friends(&self.deps, user, limit).await
    }

    async fn followed_among(&self, user: UserId, channels: &[ChannelId]) -> Result<Vec<ChannelId>> {
        crate::follows::followed_among(&self.deps, user, channels).await
    }
}

#[async_trait]
impl kanjian_contracts::social::FriendRecommendations for SocialService {
    async fn friends_recommended_among(&self, user: UserId, videos: &[VideoId]) -> Result<Vec<(VideoId, i64)>> {
        reactions::friends_recommended_among(&self.deps.db, user, videos).await
    }
}

#[async_trait]
impl BlockDirectory for SocialService {
    async fn blocked_among(&self, viewer: UserId, others: &[UserId]) -> Result<Vec<UserId>> {
        blocks::blocked_among(&self.deps, viewer, others).await
    }

    async fn blocked_with(&self, viewer: UserId, limit: u64) -> Result<Vec<UserId>> {
        let all = crate::feeds::blocked_with(self.deps.db.reader(), viewer).await?;
        Ok(all.into_iter().take(usize::try_from(limit).unwrap_or(usize::MAX)).map(UserId).collect())
    }
}

#[async_trait]
impl SocialApi for SocialService {
    async fn send_friend_request(
        &self,
        actor: &Actor,
        to: UserId,
        message: Option<String>,
    ) -> Result<FriendRequestDto> {
        friends::send_request(&self.deps, actor, to, message).await
    }

    async fn accept_friend_request(
        &self,
        actor: &Actor,
        id: FriendRequestId,
    ) -> Result<FriendRequestDto> {
        friends::accept_request(&self.deps, actor, id).await
    }

    async fn decline_friend_request(
        &self,
        actor: &Actor,
        id: FriendRequestId,
    ) -> Result<FriendRequestDto> {
        friends::decline_request(&self.deps, actor, id).await
    }

    async fn cancel_friend_request(
        &self,
        actor: &Actor,
        id: FriendRequestId,
    ) -> Result<FriendRequestDto> {
        friends::cancel_request(&self.deps, actor, id).await
    }

    async fn remove_friend(&self, actor: &Actor, friend: UserId) -> Result<()> {
        friends::remove_friend(&self.deps, actor, friend).await
    }

    async fn friend_requests(
        &self,
        actor: &Actor,
        direction: RequestDirection,
        page: PageRequest,
    ) -> Result<Page<FriendRequestDto>> {
        friends::requests(&self.deps, actor, direction, page).await
    }

    async fn friends(&self, actor: &Actor, page: PageRequest) -> Result<Page<FriendDto>> {
        friends::friends(&self.deps, actor, page).await
    }

    async fn relationships(&self, actor: &Actor, users: &[UserId]) -> Result<Vec<RelationshipDto>> {
        friends::relationships(&self.deps, actor, users).await
    }

    async fn block(&self, actor: &Actor, user: UserId) -> Result<()> {
        blocks::block(&self.deps, actor, user).await
    }

    async fn unblock(&self, actor: &Actor, user: UserId) -> Result<()> {
        blocks::unblock(&self.deps, actor, user).await
    }

    async fn blocked_users(&self, actor: &Actor, page: PageRequest) -> Result<Page<UserId>> {
        blocks::blocked_users(&self.deps, actor, page).await
    }

    async fn follow(&self, actor: &Actor, channel: ChannelId) -> Result<ChannelSocialDto> {
        follows::follow(&self.deps, actor, channel).await
    }

    async fn unfollow(&self, actor: &Actor, channel: ChannelId) -> Result<ChannelSocialDto> {
        follows::unfollow(&self.deps, actor, channel).await
    }

    async fn followers(
        &self,
        actor: &Actor,
        channel: ChannelId,
        page: PageRequest,
    ) -> Result<Page<FollowDto>> {
        follows::followers(&self.deps, actor, channel, page).await
    }

    async fn following(
        &self,
        actor: &Actor,
        user: UserId,
        page: PageRequest,
    ) -> Result<Page<FollowDto>> {
        follows::following(&self.deps, actor, user, page).await
    }

    async fn channel_social(
        &self,
        actor: &Actor,
        channels: &[ChannelId],
    ) -> Result<Vec<ChannelSocialDto>> {
        follows::channel_social(&self.deps.db, actor, channels).await
    }

    async fn user_social(&self, actor: &Actor, users: &[UserId]) -> Result<Vec<UserSocialDto>> {
        follows::user_social(&self.deps.db, actor, users).await
    }

    async fn react(
        &self,
        actor: &Actor,
        video: VideoId,
        kind: ReactionKind,
    ) -> Result<VideoSocialDto> {
        reactions::react(&self.deps, actor, video, kind).await
    }

    async fn unreact(
        &self,
        actor: &Actor,
        video: VideoId,
        kind: ReactionKind,
    ) -> Result<VideoSocialDto> {
        reactions::unreact(&self.deps, actor, video, kind).await
    }

    async fn video_social(&self, actor: &Actor, videos: &[VideoId]) -> Result<Vec<VideoSocialDto>> {
        reactions::video_social(&self.deps, actor, videos).await
    }

    async fn likers(
        &self,
        actor: &Actor,
        video: VideoId,
        page: PageRequest,
    ) -> Result<Page<ReactionDto>> {
        reactions::likers(&self.deps, actor, video, page).await
    }

    async fn friend_recommenders(
        &self,
        actor: &Actor,
        video: VideoId,
        limit: u32,
    ) -> Result<(Vec<ReactionDto>, i64)> {
        reactions::friend_recommenders(&self.deps.db, actor, video, limit).await
    }

    async fn privacy(&self, actor: &Actor) -> Result<PrivacySettings> {
        reactions::privacy(&self.deps.db, actor).await
    }

    async fn set_privacy(
        &self,
        actor: &Actor,
        settings: PrivacySettings,
    ) -> Result<PrivacySettings> {
        reactions::set_privacy(&self.deps.db, actor, settings).await
    }

    async fn add_comment(
        &self,
        actor: &Actor,
        video: VideoId,
        body: String,
        reply_to: Option<CommentId>,
    ) -> Result<CommentDto> {
        comments::add_comment(&self.deps, actor, video, body, reply_to).await
    }

    async fn edit_comment(&self, actor: &Actor, id: CommentId, body: String) -> Result<CommentDto> {
        comments::edit_comment(&self.deps, actor, id, body).await
    }

    async fn delete_comment(&self, actor: &Actor, id: CommentId) -> Result<()> {
        comments::delete_comment(&self.deps, actor, id).await
    }

    async fn pin_comment(&self, actor: &Actor, id: CommentId, pinned: bool) -> Result<CommentDto> {
        comments::pin_comment(&self.deps, actor, id, pinned).await
    }

    async fn like_comment(&self, actor: &Actor, id: CommentId, liked: bool) -> Result<CommentDto> {
        comments::like_comment(&self.deps, actor, id, liked).await
    }

    async fn comments(
        &self,
        actor: &Actor,
        video: VideoId,
        page: PageRequest,
    ) -> Result<Page<CommentDto>> {
        comments::comments(&self.deps, actor, video, page).await
    }

    async fn replies(
        &self,
        actor: &Actor,
        comment: CommentId,
        page: PageRequest,
    ) -> Result<Page<CommentDto>> {
        comments::replies(&self.deps, actor, comment, page).await
    }

    async fn first_comments_of_videos(
        &self,
        actor: &Actor,
        videos: &[VideoId],
        first: u32,
    ) -> Result<Vec<(VideoId, Page<CommentDto>)>> {
        comments::first_comments_of_videos(&self.deps, actor, videos, first).await
    }

    async fn first_replies_of_comments(
        &self,
        actor: &Actor,
        parents: &[CommentId],
        first: u32,
    ) -> Result<Vec<(CommentId, Page<CommentDto>)>> {
        comments::first_replies_of_comments(&self.deps, actor, parents, first).await
    }

    async fn share(
        &self,
        actor: &Actor,
        video: VideoId,
        target: ShareTarget,
    ) -> Result<VideoSocialDto> {
        shares_views::share(&self.deps, actor, video, target).await
    }

    async fn report_view(&self, actor: &Actor, video: VideoId, watch_ms: i64) -> Result<()> {
        shares_views::report_view(&self.deps, actor, video, watch_ms).await
    }

    async fn friends_feed(&self, actor: &Actor, page: PageRequest) -> Result<Page<FeedItemDto>> {
        feeds::friends_feed(&self.deps, actor, page).await
    }

    async fn following_feed(&self, actor: &Actor, page: PageRequest) -> Result<Page<FeedItemDto>> {
        feeds::following_feed(&self.deps, actor, page).await
    }

    async fn recommended_feed(
        &self,
        actor: &Actor,
        page: PageRequest,
    ) -> Result<Page<FeedItemDto>> {
        feeds::recommended_feed(&self.deps, actor, page).await
    }
}
