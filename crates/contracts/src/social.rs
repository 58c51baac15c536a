//! The social graph (friends, blocks, follows) and engagement (reactions, comments, shares,
//! views), and the three feeds built on them: Friends ❤️, Following and Recommended.
//!
//! Privacy is the module's job, not the caller's: a 👍 `LIKE` is seen by the video's creator
//! only; ❤️ `RECOMMEND`s of a user who hid them never reach anyone; a block hides both people
//! from each other everywhere (lists, comments, reactions). Every method takes the actor and
//! filters for it.

use async_trait::async_trait;
use kanjian_kernel::ids::{ChannelId, CommentId, FriendRequestId, UserId, VideoId};
use kanjian_kernel::{Actor, Page, PageRequest, Result, Timestamp};
use serde::{Deserialize, Serialize};

use crate::IntegrationEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReactionKind {
    /// 👍 点赞: private, only the creator sees who liked.
    Like,
    /// ❤️ 推荐: shown to the reactor's friends and feeds their Friends feed.
    Recommend,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FriendRequestStatus {
    Pending,
    Accepted,
    Declined,
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestDirection {
    /// Requests others sent to the actor.
    Incoming,
    /// Requests the actor sent.
    Outgoing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FriendRequestDto {
    pub id: FriendRequestId,
    pub from: UserId,
    pub to: UserId,
    pub message: Option<String>,
    pub status: FriendRequestStatus,
    pub created_at: Timestamp,
    pub responded_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FriendDto {
    pub friend: UserId,
    pub since: Timestamp,
}

/// How the actor stands with another user. A block by the other side is not revealed: it
/// looks like no relationship.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationshipDto {
    pub user: UserId,
    pub is_friend: bool,
    /// A pending request the actor sent to `user`.
    pub outgoing_request: Option<FriendRequestId>,
    /// A pending request `user` sent to the actor.
    pub incoming_request: Option<FriendRequestId>,
    pub blocked_by_actor: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowDto {
    pub user: UserId,
    pub channel: ChannelId,
    pub since: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSocialDto {
    pub channel: ChannelId,
    pub followers: i64,
    pub actor_follows: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSocialDto {
    pub user: UserId,
    /// Shown to the user themself only; `None` for others.
    pub friends: Option<i64>,
    pub following: i64,
}

/// Counts and the actor's own state for one video. `likes` is `Some` for the creator only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoSocialDto {
    pub video: VideoId,
    pub likes: Option<i64>,
    pub recommends: i64,
    pub comments: i64,
    pub shares: i64,
    pub views: i64,
    pub actor_liked: bool,
    pub actor_recommended: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactionDto {
    pub user: UserId,
    pub video: VideoId,
    pub kind: ReactionKind,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentDto {
    pub id: CommentId,
    pub video: VideoId,
    pub author: UserId,
    /// Set on replies; replies have no replies of their own (one level of threading).
    pub parent: Option<CommentId>,
    pub body: String,
    pub likes: i64,
    pub replies: i64,
    pub pinned: bool,
    pub actor_liked: bool,
    pub created_at: Timestamp,
    pub edited_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrivacySettings {
    /// Hide all of the user's ❤️ recommends from friends (feeds and lists).
    pub hide_recommends: bool,
}

/// Where a share went. Chats arrive with messaging; until then a share is counted with its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ShareTarget {
    /// Copied as a link, or shared outside Kanjian.
    Link,
    /// Into a chat (messaging, later).
    Chat,
    /// To the user's moments / timeline.
    Moments,
}

/// Why a video is in a feed: what a client shows on the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FeedReason {
    /// Friends ❤️'d it (the Friends feed).
    FriendsRecommended,
    /// A followed channel published it (the Following feed).
    Following,
    /// Ranked for the viewer from what is popular now (the Recommended feed).
    Popular,
    /// Mixed into Recommended through [`BoostedVideos`] (paid or incentive traffic).
    Boosted,
    // Live rooms join the feeds in the GraphQL layer (`LIVE_NOW`), where live's API and
    // social's meet: see `crates/graphql/src/social/feeds.rs`.
}

/// One item of a feed page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedItemDto {
    pub video: VideoId,
    pub reason: FeedReason,
    /// Up to 3 of the viewer's friends who ❤️'d the video, closest friend first; empty when none.
    pub friend_recommenders: Vec<UserId>,
    /// How many of the viewer's friends ❤️'d it (hidden ❤️s and blocked people never counted).
    pub friend_recommender_total: i64,
}

/// Videos a later module (creator traffic packs) wants shown in Recommended. The feed asks for
/// candidates, filters them like any other item (published, unseen, no block, diversity) and
/// mixes at most one into every `SocialConfig::boost_every` items.
#[async_trait]
pub trait BoostedVideos: Send + Sync {
    /// Up to `limit` boosted videos for this viewer, most deserving first.
    async fn boosted_for(&self, viewer: Option<UserId>, limit: usize) -> Result<Vec<VideoId>>;
}

/// Who may not interact, for modules that show one person's things to another (a live room to
/// its viewers). Narrow on purpose: such a module needs this and nothing else of social.
#[async_trait]
pub trait BlockDirectory: Send + Sync {
    /// Those among `others` whom `viewer` blocked or who blocked `viewer`, in no order. Which
    /// side blocked is not told: callers hide both alike.
    async fn blocked_among(&self, viewer: UserId, others: &[UserId]) -> Result<Vec<UserId>>;
    /// Everyone in a block with `viewer`, either way, at most `limit`: to hide a stream of many
    /// people's items (live comments) without asking per item.
    async fn blocked_with(&self, viewer: UserId, limit: u64) -> Result<Vec<UserId>>;
}

/// Who is close to whom, for modules that rank with it (live: "3 friends are watching",
/// live-now rooms of followed channels).
#[async_trait]
pub trait FriendDirectory: Send + Sync {
    /// The user's friends, closest first (most interactions), at most `limit`.
    async fn closest_friends(&self, user: UserId, limit: u64) -> Result<Vec<UserId>>;
    /// Those among `channels` the user follows, in no order.
    async fn followed_among(&self, user: UserId, channels: &[ChannelId]) -> Result<Vec<ChannelId>>;
}

/// What a person's friends ❤️'d, for modules that rank with it (search: "2 friends ❤️").
#[async_trait]
pub trait FriendRecommendations: Send + Sync {
    /// How many of the user's friends ❤️'d each of `videos` (hidden ❤️s and people in a block
    /// with the user never counted), for those with at least one, in no order.
    async fn friends_recommended_among(&self, user: UserId, videos: &[VideoId]) -> Result<Vec<(VideoId, i64)>>;
}

#[async_trait]
pub trait SocialApi: Send + Sync {
    // Friends. Errors: yourself, a duplicate pending request, an existing friend, a request not
    // addressed to you (accept/decline) or not yours (cancel), someone who blocked you.
    async fn send_friend_request(
        &self,
        actor: &Actor,
        to: UserId,
        message: Option<String>,
    ) -> Result<FriendRequestDto>;
    async fn accept_friend_request(&self, actor: &Actor, id: FriendRequestId)
    -> Result<FriendRequestDto>;
    async fn decline_friend_request(&self, actor: &Actor, id: FriendRequestId)
    -> Result<FriendRequestDto>;
    async fn cancel_friend_request(&self, actor: &Actor, id: FriendRequestId)
    -> Result<FriendRequestDto>;
    async fn remove_friend(&self, actor: &Actor, friend: UserId) -> Result<()>;
    /// Pending requests, newest first.
    async fn friend_requests(
        &self,
        actor: &Actor,
        direction: RequestDirection,
        page: PageRequest,
    ) -> Result<Page<FriendRequestDto>>;
    /// The actor's own friends, newest friendship first.
    async fn friends(&self, actor: &Actor, page: PageRequest) -> Result<Page<FriendDto>>;
    async fn relationships(&self, actor: &Actor, users: &[UserId]) -> Result<Vec<RelationshipDto>>;

    /// Ends any friendship, pending requests and follows between the two, both ways.
    async fn block(&self, actor: &Actor, user: UserId) -> Result<()>;
    async fn unblock(&self, actor: &Actor, user: UserId) -> Result<()>;
    async fn blocked_users(&self, actor: &Actor, page: PageRequest) -> Result<Page<UserId>>;

    // Follows. A missing channel is NOT_FOUND; following your own channel is refused.
    async fn follow(&self, actor: &Actor, channel: ChannelId) -> Result<ChannelSocialDto>;
    async fn unfollow(&self, actor: &Actor, channel: ChannelId) -> Result<ChannelSocialDto>;
    /// Newest first; people in a block with the actor are left out.
    async fn followers(&self, actor: &Actor, channel: ChannelId, page: PageRequest)
    -> Result<Page<FollowDto>>;
    async fn following(&self, actor: &Actor, user: UserId, page: PageRequest)
    -> Result<Page<FollowDto>>;
    async fn channel_social(&self, actor: &Actor, channels: &[ChannelId])
    -> Result<Vec<ChannelSocialDto>>;
    async fn user_social(&self, actor: &Actor, users: &[UserId]) -> Result<Vec<UserSocialDto>>;

    // Reactions. A deleted, unpublished or unknown video is NOT_FOUND; a video whose creator is
    // in a block with the actor (either way) is refused with BLOCKED.
    async fn react(&self, actor: &Actor, video: VideoId, kind: ReactionKind)
    -> Result<VideoSocialDto>;
    async fn unreact(&self, actor: &Actor, video: VideoId, kind: ReactionKind)
    -> Result<VideoSocialDto>;
    async fn video_social(&self, actor: &Actor, videos: &[VideoId]) -> Result<Vec<VideoSocialDto>>;
    /// Who liked: the creator only (FORBIDDEN for anyone else).
    async fn likers(&self, actor: &Actor, video: VideoId, page: PageRequest)
    -> Result<Page<ReactionDto>>;
    /// The actor's friends who ❤️'d the video (respecting hidden recommends and blocks), newest
    /// first, with the total.
    async fn friend_recommenders(
        &self,
        actor: &Actor,
        video: VideoId,
        limit: u32,
    ) -> Result<(Vec<ReactionDto>, i64)>;
    async fn privacy(&self, actor: &Actor) -> Result<PrivacySettings>;
    async fn set_privacy(&self, actor: &Actor, settings: PrivacySettings) -> Result<PrivacySettings>;

    // Comments: 1–500 characters; replies to top-level comments only.
    async fn add_comment(
        &self,
        actor: &Actor,
        video: VideoId,
        body: String,
        reply_to: Option<CommentId>,
    ) -> Result<CommentDto>;
    /// The author only.
    async fn edit_comment(&self, actor: &Actor, id: CommentId, body: String) -> Result<CommentDto>;
    /// The author, or the video's creator.
    async fn delete_comment(&self, actor: &Actor, id: CommentId) -> Result<()>;
    /// The video's creator only; pinning one unpins the previous. `pinned: false` unpins.
    async fn pin_comment(&self, actor: &Actor, id: CommentId, pinned: bool) -> Result<CommentDto>;
    async fn like_comment(&self, actor: &Actor, id: CommentId, liked: bool) -> Result<CommentDto>;
    /// Top-level comments, pinned first, then newest; authors in a block with the actor left out.
    async fn comments(&self, actor: &Actor, video: VideoId, page: PageRequest)
    -> Result<Page<CommentDto>>;
    /// Replies, oldest first.
    async fn replies(&self, actor: &Actor, comment: CommentId, page: PageRequest)
    -> Result<Page<CommentDto>>;
    /// The first page (`first` items) of several videos' top-level comments, each as `comments`
    /// gives it, in one round of statements; videos the actor may not see are left out. For
    /// lists of videos, so their comments cost no more than one video's.
    async fn first_comments_of_videos(
        &self,
        actor: &Actor,
        videos: &[VideoId],
        first: u32,
    ) -> Result<Vec<(VideoId, Page<CommentDto>)>>;
    /// The first page of several comments' replies, each as `replies` gives it; comments the
    /// actor may not see are left out.
    async fn first_replies_of_comments(
        &self,
        actor: &Actor,
        comments: &[CommentId],
        first: u32,
    ) -> Result<Vec<(CommentId, Page<CommentDto>)>>;

    async fn share(&self, actor: &Actor, video: VideoId, target: ShareTarget) -> Result<VideoSocialDto>;
    /// Watch time in milliseconds; a view counts once per viewer, video and UTC day (later reports
    /// that day only raise its watch time). Anonymous views cannot be told apart, so they are
    /// accepted and not counted: counting them would let anyone inflate a video.
    async fn report_view(&self, actor: &Actor, video: VideoId, watch_ms: i64) -> Result<()>;

    // Feeds. Friends and Recommended are ranked: the first page ranks a snapshot that later
    // pages read, so reactions arriving between pages never repeat or skip an item; a cursor
    // whose snapshot expired is CURSOR_EXPIRED on `after`. Following is newest first.
    /// Videos the actor's friends ❤️'d recently, most relevant first. Signed-in only.
    async fn friends_feed(&self, actor: &Actor, page: PageRequest) -> Result<Page<FeedItemDto>>;
    /// Newest videos of the channels the actor follows. Signed-in only.
    async fn following_feed(&self, actor: &Actor, page: PageRequest) -> Result<Page<FeedItemDto>>;
    /// For everyone, anonymous viewers too.
    async fn recommended_feed(&self, actor: &Actor, page: PageRequest)
    -> Result<Page<FeedItemDto>>;
}

/// A friend request was accepted: `user` accepted the request `friend` sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FriendAdded {
    pub user: UserId,
    pub friend: UserId,
}
impl IntegrationEvent for FriendAdded {
    const KIND: &'static str = "social.friend_added";
}

/// `user` ended the friendship with `friend` (by removing them, or by blocking them). Both sides
/// lose it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FriendRemoved {
    pub user: UserId,
    pub friend: UserId,
}
impl IntegrationEvent for FriendRemoved {
    const KIND: &'static str = "social.friend_removed";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelFollowed {
    pub user: UserId,
    pub channel: ChannelId,
}
impl IntegrationEvent for ChannelFollowed {
    const KIND: &'static str = "social.channel_followed";
}

/// `user` stopped following `channel`. (Follows a block ends are told by `UserBlocked`.)
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelUnfollowed {
    pub user: UserId,
    pub channel: ChannelId,
}
impl IntegrationEvent for ChannelUnfollowed {
    const KIND: &'static str = "social.channel_unfollowed";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VideoRecommended {
    pub user: UserId,
    pub video: VideoId,
}
impl IntegrationEvent for VideoRecommended {
    const KIND: &'static str = "social.video_recommended";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommentAdded {
    pub comment: CommentId,
    pub video: VideoId,
    pub author: UserId,
    pub parent: Option<CommentId>,
}
impl IntegrationEvent for CommentAdded {
    const KIND: &'static str = "social.comment_added";
}

/// A comment was deleted, by its author or the video's creator (`by`), with its replies
/// (`replies`, that many).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommentDeleted {
    pub comment: CommentId,
    pub video: VideoId,
    pub author: UserId,
    pub parent: Option<CommentId>,
    pub replies: i64,
    pub by: UserId,
}
impl IntegrationEvent for CommentDeleted {
    const KIND: &'static str = "social.comment_deleted";
}

/// `user` blocked `blocked`: their friendship (also told by `FriendRemoved`), pending requests
/// and follows of each other's channels end.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserBlocked {
    pub user: UserId,
    pub blocked: UserId,
}
impl IntegrationEvent for UserBlocked {
    const KIND: &'static str = "social.user_blocked";
}
