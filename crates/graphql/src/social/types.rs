use async_graphql::connection::{Connection, Edge};
use kanjian_contracts::social::SocialApi;
use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use kanjian_contracts::social::{
    CommentDto, FollowDto, FriendRequestDto, FriendRequestStatus as Status, ReactionDto,
    ReactionKind as Kind, RequestDirection, ShareTarget as Target,
};
use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use kanjian_kernel::ids::{ChannelId, CommentId, UserId, VideoId};
use kanjian_kernel::{Actor, Page, Timestamp};

use crate::context::{ContextExt, Services};
use crate::errors::{GqlResultExt, top_level};
use crate::identity::{Channel, User};
use crate::loaders::{self, RequestLoader};
use crate::relay::{NodeKind, connection, page_request, to_global_id};

impl NodeKind {
    /// Global like the others', but not a `Node`: there is no lookup by id alone.
    pub(crate) const COMMENT: NodeKind = NodeKind("Comment");
    pub(crate) const FRIEND_REQUEST: NodeKind = NodeKind("FriendRequest");
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ReactionKind {
    /// 👍 Private: only the creator sees who liked.
    Like,
    /// ❤️ Shown to your friends; puts the video in their Friends feed.
    Recommend,
}

impl From<ReactionKind> for Kind {
    fn from(k: ReactionKind) -> Self {
        match k {
            ReactionKind::Like => Kind::Like,
            ReactionKind::Recommend => Kind::Recommend,
        }
    }
}

impl From<Kind> for ReactionKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Like => ReactionKind::Like,
            Kind::Recommend => ReactionKind::Recommend,
        }
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ShareTarget {
    Link,
    Chat,
    Moments,
}

impl From<ShareTarget> for Target {
    fn from(t: ShareTarget) -> Self {
        match t {
            ShareTarget::Link => Target::Link,
            ShareTarget::Chat => Target::Chat,
            ShareTarget::Moments => Target::Moments,
        }
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum FriendRequestStatus {
    Pending,
    Accepted,
    Declined,
    Cancelled,
}

impl From<Status> for FriendRequestStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Pending => Self::Pending,
            Status::Accepted => Self::Accepted,
            Status::Declined => Self::Declined,
            Status::Cancelled => Self::Cancelled,
        }
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum FriendRequestDirection {
    /// Sent to you.
    Incoming,
    /// Sent by you.
    Outgoing,
}

impl From<FriendRequestDirection> for RequestDirection {
    fn from(d: FriendRequestDirection) -> Self {
        match d {
            FriendRequestDirection::Incoming => Self::Incoming,
            FriendRequestDirection::Outgoing => Self::Outgoing,
        }
    }
}

pub struct FriendRequest(pub FriendRequestDto);

#[Object]
impl FriendRequest {
    async fn id(&self) -> ID {
        to_global_id(NodeKind::FRIEND_REQUEST, self.0.id.0)
    }

    async fn from(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        Ok(loaders::user(ctx, self.0.from).await?.map(User))
    }

    async fn to(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        Ok(loaders::user(ctx, self.0.to).await?.map(User))
    }

    async fn message(&self) -> Option<&str> {
        self.0.message.as_deref()
    }

    async fn status(&self) -> FriendRequestStatus {
        self.0.status.into()
    }

    async fn created_at(&self) -> Timestamp {
        self.0.created_at
    }

    async fn responded_at(&self) -> Option<Timestamp> {
        self.0.responded_at
    }
}

/// A comment on a video, or a reply to one (one level of threading).
pub struct Comment(pub CommentDto);

#[Object]
impl Comment {
    async fn id(&self) -> ID {
        to_global_id(NodeKind::COMMENT, self.0.id.0)
    }

    async fn body(&self) -> &str {
        &self.0.body
    }

    async fn author(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        Ok(loaders::user(ctx, self.0.author).await?.map(User))
    }

    /// The comment this one replies to.
    async fn reply_to_id(&self) -> Option<ID> {
        self.0.parent.map(|p| to_global_id(NodeKind::COMMENT, p.0))
    }

    async fn like_count(&self) -> i64 {
        self.0.likes
    }

    async fn reply_count(&self) -> i64 {
        self.0.replies
    }

    /// Pinned by the creator to the top of the comments.
    async fn is_pinned(&self) -> bool {
        self.0.pinned
    }

    async fn viewer_has_liked(&self) -> bool {
        self.0.actor_liked
    }

    /// Oldest first.
    #[graphql(complexity = "crate::relay::connection_complexity(first, child_complexity)")]
    async fn replies(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Comment>> {
        let request = page_request(first, after);
        let page = if request.after.is_none() {
            // A first page: batched with the other comments' on this page of comments.
            let key = FirstPageOf::Replies(self.0.id, request.limit());
            loaders::load::<_, CommentPagesLoader>(ctx, key)
                .await?
                .ok_or_else(|| top_level(kanjian_kernel::Error::not_found("comment")))?
        } else {
            ctx.api::<dyn SocialApi>()?.replies(ctx.actor(), self.0.id, request).await.gql()?
        };
        Ok(connection(page, Comment))
    }

    async fn created_at(&self) -> Timestamp {
        self.0.created_at
    }

    async fn edited_at(&self) -> Option<Timestamp> {
        self.0.edited_at
    }
}

/// Someone's reaction, as the creator sees it.
pub struct Reaction(pub ReactionDto);

#[Object]
impl Reaction {
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        Ok(loaders::user(ctx, self.0.user).await?.map(User))
    }

    async fn kind(&self) -> ReactionKind {
        self.0.kind.into()
    }

    async fn at(&self) -> Timestamp {
        self.0.at
    }
}

/// "❤️ by Li Lei and 2 other friends".
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct FriendRecommenders {
    /// How many of your friends ❤️'d it.
    pub total_count: i64,
    #[graphql(skip)]
    pub users: Vec<UserId>,
}

#[async_graphql::ComplexObject]
impl FriendRecommenders {
    /// Up to the number asked for: most recent first on a video, closest first in a feed.
    async fn friends(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<User>> {
        // All at once, so the loader batches them (with the rest of the page) into one lookup.
        let users = futures::future::try_join_all(self.users.iter().map(|id| loaders::user(ctx, *id))).await?;
        Ok(users.into_iter().flatten().map(User).collect())
    }
}

/// A follow of a channel by a user.
pub struct Follow(pub FollowDto);

#[Object]
impl Follow {
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        Ok(loaders::user(ctx, self.0.user).await?.map(User))
    }

    async fn channel(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Channel>> {
        Ok(loaders::channel(ctx, self.0.channel).await?.map(Channel))
    }

    async fn since(&self) -> Timestamp {
        self.0.since
    }
}

/// Engagement on a video: counts, your own reactions, comments.
pub struct VideoSocial(pub VideoId);

#[Object]
impl VideoSocial {
    /// 👍 count: for the creator only, `null` for everyone else.
    async fn like_count(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<i64>> {
        Ok(loaders::video_social(ctx, self.0).await?.and_then(|s| s.likes))
    }

    async fn recommend_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        Ok(loaders::video_social(ctx, self.0).await?.map_or(0, |s| s.recommends))
    }

    async fn comment_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        Ok(loaders::video_social(ctx, self.0).await?.map_or(0, |s| s.comments))
    }

    async fn share_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        Ok(loaders::video_social(ctx, self.0).await?.map_or(0, |s| s.shares))
    }

    async fn view_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        Ok(loaders::video_social(ctx, self.0).await?.map_or(0, |s| s.views))
    }

    async fn viewer_has_liked(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        Ok(loaders::video_social(ctx, self.0).await?.is_some_and(|s| s.actor_liked))
    }

    async fn viewer_has_recommended(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        Ok(loaders::video_social(ctx, self.0).await?.is_some_and(|s| s.actor_recommended))
    }

    /// Your friends who ❤️'d this video.
    async fn friend_recommenders(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 3, validator(minimum = 0, maximum = 20))] first: i32,
    ) -> async_graphql::Result<FriendRecommenders> {
        if ctx.actor().user_id().is_none() {
            return Ok(FriendRecommenders { total_count: 0, users: Vec::new() });
        }
        let (reactions, total) = ctx.api::<dyn SocialApi>()?
            .friend_recommenders(ctx.actor(), self.0, first as u32)
            .await
            .gql()?;
        Ok(FriendRecommenders { total_count: total, users: reactions.into_iter().map(|r| r.user).collect() })
    }

    /// Who reacted: the creator only (`FORBIDDEN` for others).
    #[graphql(complexity = "crate::relay::connection_complexity(first, child_complexity)")]
    async fn reactions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Reaction>> {
        let page = ctx.api::<dyn SocialApi>()?
            .likers(ctx.actor(), self.0, page_request(first, after))
            .await
            .gql()?;
        Ok(connection(page, Reaction))
    }

    /// Top-level comments: the pinned one first, then newest.
    #[graphql(complexity = "crate::relay::connection_complexity(first, child_complexity)")]
    async fn comments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Comment>> {
        let request = page_request(first, after);
        let page = if request.after.is_none() {
            // A first page: batched with the other videos' on this page (a feed, a channel).
            let key = FirstPageOf::Comments(self.0, request.limit());
            loaders::load::<_, CommentPagesLoader>(ctx, key)
                .await?
                .ok_or_else(|| top_level(kanjian_kernel::Error::not_found("video")))?
        } else {
            ctx.api::<dyn SocialApi>()?.comments(ctx.actor(), self.0, request).await.gql()?
        };
        Ok(connection(page, Comment))
    }
}

/// Followers of a channel.
pub struct ChannelSocial(pub ChannelId);

#[Object]
impl ChannelSocial {
    async fn follower_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        Ok(loaders::channel_social(ctx, self.0).await?.map_or(0, |s| s.followers))
    }

    async fn viewer_follows(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        Ok(loaders::channel_social(ctx, self.0).await?.is_some_and(|s| s.actor_follows))
    }

    /// Newest first.
    #[graphql(complexity = "crate::relay::connection_complexity(first, child_complexity)")]
    async fn followers(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Follow>> {
        let page = ctx.api::<dyn SocialApi>()?
            .followers(ctx.actor(), self.0, page_request(first, after))
            .await
            .gql()?;
        Ok(connection(page, Follow))
    }
}

/// A user's place in the social graph, as the viewer may see it.
pub struct UserSocial(pub UserId);

#[Object]
impl UserSocial {
    /// Only for the user themself.
    async fn friend_count(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<i64>> {
        Ok(loaders::user_social(ctx, self.0).await?.and_then(|s| s.friends))
    }

    async fn following_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        Ok(loaders::user_social(ctx, self.0).await?.map_or(0, |s| s.following))
    }

    async fn is_friend(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        Ok(loaders::relationship(ctx, self.0).await?.is_some_and(|r| r.is_friend))
    }

    /// A pending request you sent to this user.
    async fn outgoing_friend_request_id(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<ID>> {
        Ok(loaders::relationship(ctx, self.0)
            .await?
            .and_then(|r| r.outgoing_request)
            .map(|id| to_global_id(NodeKind::FRIEND_REQUEST, id.0)))
    }

    /// A pending request this user sent you.
    async fn incoming_friend_request_id(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<ID>> {
        Ok(loaders::relationship(ctx, self.0)
            .await?
            .and_then(|r| r.incoming_request)
            .map(|id| to_global_id(NodeKind::FRIEND_REQUEST, id.0)))
    }

    async fn blocked_by_viewer(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        Ok(loaders::relationship(ctx, self.0).await?.is_some_and(|r| r.blocked_by_actor))
    }

    /// Channels this user follows, newest first.
    #[graphql(complexity = "crate::relay::connection_complexity(first, child_complexity)")]
    async fn following(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Follow>> {
        let page = ctx.api::<dyn SocialApi>()?
            .following(ctx.actor(), self.0, page_request(first, after))
            .await
            .gql()?;
        Ok(connection(page, Follow))
    }

    /// Your friends (only on yourself; `FORBIDDEN` elsewhere).
    #[graphql(complexity = "crate::relay::connection_complexity(first, child_complexity)")]
    async fn friends(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, User>> {
        self.require_self(ctx)?;
        let page = ctx.api::<dyn SocialApi>()?.friends(ctx.actor(), page_request(first, after)).await.gql()?;
        user_connection(ctx, page.map(|f| f.friend)).await
    }

    /// Pending friend requests (only on yourself).
    #[graphql(complexity = "crate::relay::connection_complexity(first, child_complexity)")]
    async fn friend_requests(
        &self,
        ctx: &Context<'_>,
        direction: FriendRequestDirection,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, FriendRequest>> {
        self.require_self(ctx)?;
        let page = ctx.api::<dyn SocialApi>()?
            .friend_requests(ctx.actor(), direction.into(), page_request(first, after))
            .await
            .gql()?;
        Ok(connection(page, FriendRequest))
    }

    /// People you blocked (only on yourself).
    #[graphql(complexity = "crate::relay::connection_complexity(first, child_complexity)")]
    async fn blocked_users(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, User>> {
        self.require_self(ctx)?;
        let page = ctx.api::<dyn SocialApi>()?.blocked_users(ctx.actor(), page_request(first, after)).await.gql()?;
        user_connection(ctx, page).await
    }

    /// Your privacy settings (only on yourself).
    async fn hide_recommends(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        self.require_self(ctx)?;
        Ok(ctx.api::<dyn SocialApi>()?.privacy(ctx.actor()).await.gql()?.hide_recommends)
    }
}

/// A page of user ids as a connection of users (through the loader: one batched lookup).
async fn user_connection(
    ctx: &Context<'_>,
    page: Page<UserId>,
) -> async_graphql::Result<Connection<String, User>> {
    let mut out = Connection::new(page.has_previous_page, page.has_next_page);
    let users = futures::future::try_join_all(page.items.iter().map(|(_, id)| loaders::user(ctx, *id))).await?;
    for ((cursor, _), user) in page.items.into_iter().zip(users) {
        if let Some(user) = user {
            out.edges.push(Edge::new(cursor.0, User(user)));
        }
    }
    Ok(out)
}

impl UserSocial {
    fn require_self(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        match ctx.actor().user_id() {
            Some(me) if me == self.0 => Ok(()),
            Some(_) => Err(crate::errors::top_level(kanjian_kernel::Error::forbidden(
                "only visible to the user themself",
            ))),
            None => Err(crate::errors::top_level(kanjian_kernel::Error::Unauthenticated)),
        }
    }
}

/// The first page of a video's comments or of a comment's replies, of `first` items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum FirstPageOf {
    Comments(VideoId, u32),
    Replies(CommentId, u32),
}

/// First pages of comments and replies for one request, batched: the comments of twenty videos
/// on a feed page, or the replies of twenty comments, are one call each, not twenty.
pub(crate) struct CommentPagesLoader {
    social: Arc<dyn SocialApi>,
    actor: Actor,
}

impl Loader<FirstPageOf> for CommentPagesLoader {
    type Value = Page<CommentDto>;
    type Error = loaders::LoadError;
    async fn load(&self, keys: &[FirstPageOf]) -> Result<HashMap<FirstPageOf, Page<CommentDto>>, loaders::LoadError> {
        // One call per kind and page size (a document rarely asks for two sizes).
        let mut videos: HashMap<u32, Vec<VideoId>> = HashMap::new();
        let mut parents: HashMap<u32, Vec<CommentId>> = HashMap::new();
        for key in keys {
            match *key {
                FirstPageOf::Comments(video, first) => videos.entry(first).or_default().push(video),
                FirstPageOf::Replies(comment, first) => parents.entry(first).or_default().push(comment),
            }
        }
        let mut pages = HashMap::new();
        for (first, videos) in videos {
            let found = self.social.first_comments_of_videos(&self.actor, &videos, first).await.map_err(Arc::new)?;
            pages.extend(found.into_iter().map(|(video, page)| (FirstPageOf::Comments(video, first), page)));
        }
        for (first, comments) in parents {
            let found = self.social.first_replies_of_comments(&self.actor, &comments, first).await.map_err(Arc::new)?;
            pages.extend(found.into_iter().map(|(comment, page)| (FirstPageOf::Replies(comment, first), page)));
        }
        Ok(pages)
    }
}

impl RequestLoader for CommentPagesLoader {
    fn create(services: &Services, actor: &Actor) -> kanjian_kernel::Result<Self> {
        Ok(Self { social: services.apis.get()?, actor: actor.clone() })
    }
}
