//! The three feeds: `friendsFeed`, `followingFeed` and `recommendedFeed`. The social module
//! ranks and filters; here each page's videos and friends resolve through the DataLoaders, so a
//! page costs the same few batched lookups whether it holds 5 items or 50.
//!
//! Live rooms join the first page here, where both modules' APIs meet: live knows the rooms on
//! air and who watches them, social the videos. Following puts the followed channels' rooms on
//! air above its videos; Recommended mixes up to two rooms in, with the friends watching.

use kanjian_contracts::live::{LiveApi, LiveRecommendationDto, LiveRoomDto};
use kanjian_contracts::social::SocialApi;
use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, Object};
use kanjian_contracts::social::{FeedItemDto, FeedReason as Reason};

use super::types::FriendRecommenders;
use crate::relay::{connection, page_request};
use crate::context::ContextExt;
use crate::errors::GqlResultExt;
use crate::loaders;
use crate::media::Video;

/// Why a video is in a feed.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum FeedReason {
    /// Your friends ❤️'d it.
    FriendsRecommended,
    /// A channel you follow published it.
    Following,
    /// Popular now, ranked for you.
    Popular,
    /// Promoted by its creator; shown at a bounded rate.
    Boosted,
    /// A live room on air now (`liveRoom`): of a channel you follow, or one your friends are
    /// watching, or popular.
    LiveNow,
}

impl From<Reason> for FeedReason {
    fn from(r: Reason) -> Self {
        match r {
            Reason::FriendsRecommended => Self::FriendsRecommended,
            Reason::Following => Self::Following,
            Reason::Popular => Self::Popular,
            Reason::Boosted => Self::Boosted,
        }
    }
}

/// One card of a feed: a video, or a live room on air.
pub struct FeedItem(Card);

enum Card {
    Video(FeedItemDto),
    Live { room: Box<LiveRoomDto>, friends: Vec<kanjian_kernel::ids::UserId>, friends_total: i64 },
}

impl FeedItem {
    fn of_video(item: FeedItemDto) -> Self {
        Self(Card::Video(item))
    }

    fn of_live(room: LiveRoomDto) -> Self {
        Self(Card::Live { room: Box::new(room), friends: Vec::new(), friends_total: 0 })
    }

    fn of_recommended_live(r: LiveRecommendationDto) -> Self {
        Self(Card::Live { room: Box::new(r.room), friends: r.friends_watching, friends_total: r.friends_watching_total })
    }
}

#[Object]
impl FeedItem {
    /// The video; `null` for a live room, or if the video was removed after this page was
    /// ranked.
    async fn video(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Video>> {
        let Card::Video(item) = &self.0 else { return Ok(None) };
        Ok(loaders::video(ctx, item.video).await?.map(Video))
    }

    /// The live room on air, for a `LIVE_NOW` item.
    async fn live_room(&self) -> Option<crate::live::LiveRoom> {
        match &self.0 {
            Card::Live { room, .. } => Some(crate::live::LiveRoom((**room).clone())),
            Card::Video(_) => None,
        }
    }

    async fn reason(&self) -> FeedReason {
        match &self.0 {
            Card::Video(item) => item.reason.into(),
            Card::Live { .. } => FeedReason::LiveNow,
        }
    }

    /// "❤️ by Li Lei and 2 other friends": up to 3 friends, closest first, and how many in all;
    /// `null` when none of your friends ❤️'d it (and for live rooms).
    async fn friend_recommenders(&self) -> Option<FriendRecommenders> {
        let Card::Video(item) = &self.0 else { return None };
        (item.friend_recommender_total > 0).then(|| FriendRecommenders {
            total_count: item.friend_recommender_total,
            users: item.friend_recommenders.clone(),
        })
    }

    /// "Li Lei and 2 other friends are watching": for a live room, up to 3 friends watching it
    /// now, closest first, and how many in all; `null` when none are.
    async fn friends_watching(&self) -> Option<FriendRecommenders> {
        let Card::Live { friends, friends_total, .. } = &self.0 else { return None };
        (*friends_total > 0).then(|| FriendRecommenders { total_count: *friends_total, users: friends.clone() })
    }
}

/// The cursor of live items above a feed's videos: `after` it, the videos start from the top.
const ABOVE_THE_VIDEOS: &str = "live";
/// At most this many live rooms on the first page of Following, and mixed into Recommended.
const FOLLOWING_LIVE: u64 = 10;
const RECOMMENDED_LIVE: u64 = 2;
/// Where Recommended's live rooms go on its first page (before the video at that index).
const RECOMMENDED_LIVE_AT: [usize; 2] = [1, 5];

/// Follows `after`: the live marker means the first page of videos, without the live items.
fn video_page(first: Option<i32>, after: Option<String>) -> (kanjian_kernel::PageRequest, bool) {
    let first_page = after.is_none();
    let after = after.filter(|a| a != ABOVE_THE_VIDEOS);
    (page_request(first, after), first_page)
}

#[derive(Default)]
pub struct FeedQuery;

#[Object]
impl FeedQuery {
    /// 朋友❤️: videos your friends recommended lately, most relevant first (how many friends,
    /// how close, how fresh, how often watched through); videos you have seen are left out.
    /// Signed-in only. Pages come from a ranking made for the first page, so ❤️s arriving while
    /// you scroll never repeat or skip an item; an old cursor gives `reason: CURSOR_EXPIRED`.
    #[graphql(complexity = "crate::relay::connection_complexity(first, child_complexity)")]
    async fn friends_feed(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, FeedItem>> {
        let page = ctx.api::<dyn SocialApi>()?.friends_feed(ctx.actor(), page_request(first, after)).await.gql()?;
        Ok(connection(page, FeedItem::of_video))
    }

    /// 关注: the newest videos of the channels you follow, with their rooms on air now above
    /// them on the first page (`LIVE_NOW`, most watched first, up to 10; their cursor continues
    /// with the videos from the top). Signed-in only.
    #[graphql(complexity = "crate::relay::connection_complexity(first, child_complexity)")]
    async fn following_feed(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, FeedItem>> {
        let (request, first_page) = video_page(first, after);
        let page = ctx.api::<dyn SocialApi>()?.following_feed(ctx.actor(), request).await.gql()?;
        let mut feed = connection(page, FeedItem::of_video);
        if first_page {
            let rooms = ctx.api::<dyn LiveApi>()?.live_now_followed(ctx.actor(), FOLLOWING_LIVE).await.gql()?;
            let live = rooms.into_iter().map(|room| Edge::new(ABOVE_THE_VIDEOS.to_owned(), FeedItem::of_live(room)));
            feed.edges.splice(0..0, live);
        }
        Ok(feed)
    }

    /// 推荐: for everyone, signed in or not. Popular now, adjusted to what you watch through and
    /// what your friends ❤️'d, without what you have seen, never the same channel twice in a row.
    /// The first page mixes in up to two live rooms on air (`LIVE_NOW`): those more of your
    /// friends are watching first (`friendsWatching`), then the most watched.
    #[graphql(complexity = "crate::relay::connection_complexity(first, child_complexity)")]
    async fn recommended_feed(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, FeedItem>> {
        let (request, first_page) = video_page(first, after);
        let page = ctx.api::<dyn SocialApi>()?.recommended_feed(ctx.actor(), request).await.gql()?;
        let mut feed = connection(page, FeedItem::of_video);
        if first_page {
            let rooms = ctx.api::<dyn LiveApi>()?.recommended_lives(ctx.actor(), RECOMMENDED_LIVE).await.gql()?;
            // Each after a video: its cursor is that video's, so paging on from it continues
            // right after that video. (A page with fewer videos gets fewer rooms.)
            for (at, room) in RECOMMENDED_LIVE_AT.iter().zip(rooms).rev() {
                if *at == 0 || *at > feed.edges.len() {
                    continue;
                }
                let cursor = feed.edges[at - 1].cursor.clone();
                feed.edges.insert(*at, Edge::new(cursor, FeedItem::of_recommended_live(room)));
            }
        }
        Ok(feed)
    }
}
