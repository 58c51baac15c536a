//! Inside a live room: comments (弹幕), likes, counts, the pinned message, and moderation by
//! the creator and the moderators (房管) they appoint.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use kanjian_contracts::live::{self as contract, LiveApi, LiveCommentDto, LiveCountsDto, PinnedMessageDto, RestrictedViewerDto};
use kanjian_kernel::ids::{ChannelId, LiveCommentId, UserId};
use kanjian_kernel::Timestamp;

use super::{LiveRoom, LiveRoomPayload, room_id, room_payload};
use crate::context::ContextExt;
use crate::errors::{GqlResultExt, into_payload, payload};
use crate::identity::User;
use crate::loaders;
use crate::relay::{NodeKind, input_id, to_global_id};

/// The kind in a live comment's global id. Not a `Node`: comments are found through their room.
pub(crate) const LIVE_COMMENT: NodeKind = NodeKind("LiveComment");

fn user_id(id: &ID) -> kanjian_kernel::Result<UserId> {
    input_id(id, NodeKind::USER, "userId").map(UserId)
}

/// Who sent a live comment, for how it is shown.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum LiveCommentRole {
    /// The room's creator.
    Creator,
    /// A moderator (房管) of the channel's lives.
    Moderator,
    Viewer,
}

impl From<contract::CommentRole> for LiveCommentRole {
    fn from(r: contract::CommentRole) -> Self {
        match r {
            contract::CommentRole::Creator => Self::Creator,
            contract::CommentRole::Moderator => Self::Moderator,
            contract::CommentRole::Viewer => Self::Viewer,
        }
    }
}

/// A live comment (弹幕).
pub struct LiveComment(pub LiveCommentDto);

#[Object]
impl LiveComment {
    /// Pass it to `deleteLiveComment`.
    async fn id(&self) -> ID {
        to_global_id(LIVE_COMMENT, self.0.id.0)
    }

    async fn text(&self) -> &str {
        &self.0.text
    }

    /// The author's name when they sent it: show this in a busy room, it costs nothing.
    async fn author_name(&self) -> &str {
        &self.0.author_name
    }

    async fn author_role(&self) -> LiveCommentRole {
        self.0.role.into()
    }

    /// The author, loaded (`null` if you may not see them).
    async fn author(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        Ok(loaders::user(ctx, self.0.author_id).await?.map(User))
    }

    async fn created_at(&self) -> Timestamp {
        self.0.created_at
    }
}

/// A message pinned above the comments (置顶).
pub struct LivePinnedMessage(pub PinnedMessageDto);

#[Object]
impl LivePinnedMessage {
    async fn text(&self) -> &str {
        &self.0.text
    }

    async fn pinned_at(&self) -> Timestamp {
        self.0.pinned_at
    }
}

/// A room's counters.
#[derive(SimpleObject)]
pub struct LiveRoomCounts {
    /// Watching now, on every node (a second or two behind; 0 once the room is over).
    pub viewers_now: i64,
    /// The most at once.
    pub viewers_peak: i64,
    /// Different people who watched (a signed-out connection counts as one).
    pub viewers_total: i64,
    /// Likes (点赞): every tap.
    pub likes: i64,
}

impl From<LiveCountsDto> for LiveRoomCounts {
    fn from(c: LiveCountsDto) -> Self {
        Self { viewers_now: c.viewers_now, viewers_peak: c.viewers_peak, viewers_total: c.viewers_total, likes: c.likes }
    }
}

/// A viewer the creator or a moderator restricted in the channel's lives.
pub struct LiveRestrictedViewer(pub RestrictedViewerDto);

#[Object]
impl LiveRestrictedViewer {
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        Ok(loaders::user(ctx, self.0.user_id).await?.map(User))
    }

    /// Removed from the channel's lives: may not watch, comment or like.
    async fn banned(&self) -> bool {
        self.0.banned
    }

    /// Muted (may watch, not comment) until this time; `null` with `mutedIndefinitely` or when
    /// not muted.
    async fn muted_until(&self) -> Option<Timestamp> {
        self.0.muted_until
    }

    /// Muted until lifted.
    async fn muted_indefinitely(&self) -> bool {
        self.0.muted_indefinitely
    }

    async fn since(&self) -> Timestamp {
        self.0.since
    }
}

/// The parts of `LiveRoom` about what happens inside it.
impl LiveRoom {
    pub(super) async fn comments_page(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, LiveComment>> {
        let page = crate::relay::page_request(first, after);
        let page = ctx.api::<dyn LiveApi>()?.comments(ctx.actor(), self.0.id, page).await.gql()?;
        Ok(crate::relay::connection(page, LiveComment))
    }

    pub(super) async fn restricted(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Vec<LiveRestrictedViewer>>> {
        if !self.0.actor_can_moderate {
            return Ok(None);
        }
        let found = ctx.api::<dyn LiveApi>()?.restricted_viewers(ctx.actor(), self.0.id).await.gql()?;
        Ok(Some(found.into_iter().map(LiveRestrictedViewer).collect()))
    }
}

#[derive(InputObject)]
pub struct SendLiveCommentInput {
    pub live_room_id: ID,
    /// One line, 1 to 200 characters.
    pub text: String,
}

#[derive(InputObject)]
pub struct DeleteLiveCommentInput {
    pub live_comment_id: ID,
}

#[derive(InputObject)]
pub struct LikeLiveInput {
    pub live_room_id: ID,
    /// Taps gathered by the client, 1 to 100 (default 1).
    #[graphql(default = 1)]
    pub count: i32,
}

#[derive(InputObject)]
pub struct PinLiveMessageInput {
    pub live_room_id: ID,
    /// One line, 1 to 100 characters.
    pub text: String,
}

#[derive(InputObject)]
pub struct MuteLiveViewerInput {
    pub live_room_id: ID,
    pub user_id: ID,
    /// 1 to 43200 (30 days); leave it out to mute until lifted.
    pub duration_minutes: Option<i32>,
}

#[derive(InputObject)]
pub struct LiveViewerInput {
    pub live_room_id: ID,
    pub user_id: ID,
}

#[derive(InputObject)]
pub struct LiveModeratorInput {
    pub user_id: ID,
}

#[derive(InputObject)]
pub struct SetLiveBlockedKeywordsInput {
    pub channel_id: ID,
    /// The whole list (it replaces the old one): at most 200, each 1 to 20 letters or digits.
    /// Matching ignores case, width, spaces and punctuation: `加 微-信` matches `加微信`.
    pub keywords: Vec<String>,
}

payload!(SendLiveCommentPayload { comment: LiveComment });
payload!(DeleteLiveCommentPayload {
    /// The removed comment's id.
    deleted_live_comment_id: ID,
});
payload!(LikeLivePayload {
    /// Taps counted (they show in `LiveRoom.counts.likes` within a second or two).
    count: i32,
});
payload!(RestrictLiveViewerPayload { restricted_viewer: LiveRestrictedViewer });
payload!(LiftLiveRestrictionPayload {
    /// The viewer, no longer restricted.
    user: User,
});
payload!(LiveModeratorsPayload {
    /// The channel's moderators now.
    moderators: Vec<User>,
});
payload!(LiveBlockedKeywordsPayload {
    /// The list as stored: folded (lower case, half-width, letters and digits only), sorted.
    keywords: Vec<String>,
});

async fn users(ctx: &Context<'_>, ids: Vec<UserId>) -> async_graphql::Result<Vec<User>> {
    let loaded = futures::future::try_join_all(ids.into_iter().map(|id| loaders::user(ctx, id))).await?;
    Ok(loaded.into_iter().flatten().map(User).collect())
}

#[derive(Default)]
pub struct LiveChatMutation;

#[Object]
impl LiveChatMutation {
    /// Comments in a live room. Open while it is LIVE; `MUTED` when the creator or a moderator
    /// muted you, `CONTENT_REJECTED` for a blocked keyword, `RATE_LIMITED` past 11 comments in
    /// 30 s, `FORBIDDEN` when removed from the channel's lives. Everyone watching gets it through
    /// `liveRoomEvents`.
    async fn send_live_comment(&self, ctx: &Context<'_>, input: SendLiveCommentInput) -> async_graphql::Result<SendLiveCommentPayload> {
        let api = ctx.api::<dyn LiveApi>()?;
        let result = async { api.send_comment(ctx.actor(), room_id(&input.live_room_id)?, &input.text).await }.await;
        into_payload(result, |c| SendLiveCommentPayload { comment: Some(LiveComment(c)), user_errors: vec![] })
    }

    /// Removes a live comment: your own, or any in a room you moderate.
    async fn delete_live_comment(&self, ctx: &Context<'_>, input: DeleteLiveCommentInput) -> async_graphql::Result<DeleteLiveCommentPayload> {
        let api = ctx.api::<dyn LiveApi>()?;
        let result = async {
            let id = input_id(&input.live_comment_id, LIVE_COMMENT, "liveCommentId").map(LiveCommentId)?;
            api.delete_comment(ctx.actor(), id).await
        }
        .await;
        into_payload(result, |()| DeleteLiveCommentPayload { deleted_live_comment_id: Some(input.live_comment_id.clone()), user_errors: vec![] })
    }

    /// Taps ❤ in a LIVE room; send the taps gathered over a moment in one call.
    async fn like_live(&self, ctx: &Context<'_>, input: LikeLiveInput) -> async_graphql::Result<LikeLivePayload> {
        let api = ctx.api::<dyn LiveApi>()?;
        let count = input.count;
        let result = async {
            let taps = u32::try_from(count).unwrap_or(0);
            api.like(ctx.actor(), room_id(&input.live_room_id)?, taps).await
        }
        .await;
        into_payload(result, |()| LikeLivePayload { count: Some(count), user_errors: vec![] })
    }

    /// Pins a message above the comments of an upcoming or live room. Creator and moderators.
    async fn pin_live_message(&self, ctx: &Context<'_>, input: PinLiveMessageInput) -> async_graphql::Result<LiveRoomPayload> {
        let api = ctx.api::<dyn LiveApi>()?;
        let result = async { api.pin_message(ctx.actor(), room_id(&input.live_room_id)?, Some(&input.text)).await }.await;
        room_payload(result)
    }

    /// Removes the pinned message. Creator and moderators.
    async fn unpin_live_message(&self, ctx: &Context<'_>, input: super::LiveRoomInput) -> async_graphql::Result<LiveRoomPayload> {
        let api = ctx.api::<dyn LiveApi>()?;
        let result = async { api.pin_message(ctx.actor(), room_id(&input.live_room_id)?, None).await }.await;
        room_payload(result)
    }

    /// Pins a product in a LIVE room (讲解中): one on the channel's showcase, listed
    /// (`INVALID_STATE` otherwise: add it to the showcase first). It replaces the one pinned;
    /// `productId: null` unpins. Every viewer gets it through `liveRoomEvents`, then its price
    /// and stock as they change. Outside a live, `INVALID_STATE`. The creator and moderators.
    async fn pin_product(&self, ctx: &Context<'_>, input: super::PinProductInput) -> async_graphql::Result<LiveRoomPayload> {
        super::shop::pin_product(ctx, input).await
    }

    /// Mutes a viewer in every live of the room's channel: they may watch, not comment. The
    /// creator and moderators; they cannot be muted themselves.
    async fn mute_live_viewer(&self, ctx: &Context<'_>, input: MuteLiveViewerInput) -> async_graphql::Result<RestrictLiveViewerPayload> {
        let api = ctx.api::<dyn LiveApi>()?;
        let result = async {
            let room = room_id(&input.live_room_id)?;
            let user = user_id(&input.user_id)?;
            let minutes = input.duration_minutes.map(i64::from);
            api.restrict_viewer(ctx.actor(), room, user, contract::Restriction::Mute { minutes }).await
        }
        .await;
        into_payload(result, |r| RestrictLiveViewerPayload { restricted_viewer: Some(LiveRestrictedViewer(r)), user_errors: vec![] })
    }

    /// Removes a viewer from every live of the room's channel until lifted: their stream of
    /// the room ends, and they may not watch, comment or like. The creator and moderators.
    async fn ban_live_viewer(&self, ctx: &Context<'_>, input: LiveViewerInput) -> async_graphql::Result<RestrictLiveViewerPayload> {
        let api = ctx.api::<dyn LiveApi>()?;
        let result = async {
            api.restrict_viewer(ctx.actor(), room_id(&input.live_room_id)?, user_id(&input.user_id)?, contract::Restriction::Ban).await
        }
        .await;
        into_payload(result, |r| RestrictLiveViewerPayload { restricted_viewer: Some(LiveRestrictedViewer(r)), user_errors: vec![] })
    }

    /// Lifts a viewer's mute or ban in the room's channel. The creator and moderators.
    async fn lift_live_restriction(&self, ctx: &Context<'_>, input: LiveViewerInput) -> async_graphql::Result<LiftLiveRestrictionPayload> {
        let api = ctx.api::<dyn LiveApi>()?;
        let result = async {
            let user = user_id(&input.user_id)?;
            api.lift_restriction(ctx.actor(), room_id(&input.live_room_id)?, user).await.map(|()| user)
        }
        .await;
        let user = match &result {
            Ok(user) => loaders::user(ctx, *user).await?.map(User),
            Err(_) => None,
        };
        into_payload(result, |_| LiftLiveRestrictionPayload { user, user_errors: vec![] })
    }

    /// Appoints a moderator (房管) of your channel's lives: they may delete comments, mute, ban,
    /// pin and keep the blocked keywords. At most 20 (`LIMIT_REACHED`).
    async fn add_live_moderator(&self, ctx: &Context<'_>, input: LiveModeratorInput) -> async_graphql::Result<LiveModeratorsPayload> {
        let api = ctx.api::<dyn LiveApi>()?;
        let result = async { api.add_moderator(ctx.actor(), user_id(&input.user_id)?).await }.await;
        let moderators = match &result {
            Ok(ids) => Some(users(ctx, ids.clone()).await?),
            Err(_) => None,
        };
        into_payload(result, |_| LiveModeratorsPayload { moderators, user_errors: vec![] })
    }

    /// Dismisses a moderator of your channel's lives.
    async fn remove_live_moderator(&self, ctx: &Context<'_>, input: LiveModeratorInput) -> async_graphql::Result<LiveModeratorsPayload> {
        let api = ctx.api::<dyn LiveApi>()?;
        let result = async { api.remove_moderator(ctx.actor(), user_id(&input.user_id)?).await }.await;
        let moderators = match &result {
            Ok(ids) => Some(users(ctx, ids.clone()).await?),
            Err(_) => None,
        };
        into_payload(result, |_| LiveModeratorsPayload { moderators, user_errors: vec![] })
    }

    /// Replaces the blocked keywords of a channel's lives; comments containing one are refused
    /// (`CONTENT_REJECTED`). The creator and moderators.
    async fn set_live_blocked_keywords(
        &self,
        ctx: &Context<'_>,
        input: SetLiveBlockedKeywordsInput,
    ) -> async_graphql::Result<LiveBlockedKeywordsPayload> {
        let api = ctx.api::<dyn LiveApi>()?;
        let result = async {
            let channel = input_id(&input.channel_id, NodeKind::CHANNEL, "channelId").map(ChannelId)?;
            api.set_blocked_keywords(ctx.actor(), channel, &input.keywords).await
        }
        .await;
        into_payload(result, |keywords| LiveBlockedKeywordsPayload { keywords: Some(keywords), user_errors: vec![] })
    }
}

/// The moderation parts of `Channel`.
pub(crate) async fn channel_moderators(ctx: &Context<'_>, owner: UserId) -> async_graphql::Result<Option<Vec<User>>> {
    if ctx.actor().user_id() != Some(owner) {
        return Ok(None);
    }
    let ids = ctx.api::<dyn LiveApi>()?.moderators(ctx.actor()).await.gql()?;
    Ok(Some(users(ctx, ids).await?))
}

pub(crate) async fn channel_blocked_keywords(ctx: &Context<'_>, channel: ChannelId) -> async_graphql::Result<Option<Vec<String>>> {
    if ctx.actor().user_id().is_none() {
        return Ok(None);
    }
    match ctx.api::<dyn LiveApi>()?.blocked_keywords(ctx.actor(), channel).await {
        Ok(keywords) => Ok(Some(keywords)),
        // Not theirs to read: shown as nothing, like any field of someone else's.
        Err(kanjian_kernel::Error::Forbidden(_) | kanjian_kernel::Error::NotFound(_)) => Ok(None),
        Err(e) => Err(crate::errors::top_level(e)),
    }
}
