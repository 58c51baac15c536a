//! The three feeds: `friendsFeed`, `followingFeed` and `recommendedFeed`. The social module
//! ranks and filters; here each page's videos and friends resolve through the DataLoaders, so a
//! page costs the same few batched lookups whether it holds 5 items or 50.

use kanjian_contracts::social::SocialApi;
use async_graphql::connection::Connection;
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

/// One card of a feed.
pub struct FeedItem(FeedItemDto);

#[Object]
impl FeedItem {
    /// `null` only if the video was removed after this page was ranked.
    async fn video(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Video>> {
        Ok(loaders::video(ctx, self.0.video).await?.map(Video))
    }

    async fn reason(&self) -> FeedReason {
        self.0.reason.into()
    }

    /// "❤️ by Li Lei and 2 other friends": up to 3 friends, closest first, and how many in all;
    /// `null` when none of your friends ❤️'d it.
    async fn friend_recommenders(&self) -> Option<FriendRecommenders> {
        (self.0.friend_recommender_total > 0).then(|| FriendRecommenders {
            total_count: self.0.friend_recommender_total,
            users: self.0.friend_recommenders.clone(),
        })
    }
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
        Ok(connection(page, FeedItem))
    }

    /// 关注: the newest videos of the channels you follow. Signed-in only.
    #[graphql(complexity = "crate::relay::connection_complexity(first, child_complexity)")]
    async fn following_feed(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, FeedItem>> {
        let page = ctx.api::<dyn SocialApi>()?.following_feed(ctx.actor(), page_request(first, after)).await.gql()?;
        Ok(connection(page, FeedItem))
    }

    /// 推荐: for everyone, signed in or not. Popular now, adjusted to what you watch through and
    /// what your friends ❤️'d, without what you have seen, never the same channel twice in a row.
    #[graphql(complexity = "crate::relay::connection_complexity(first, child_complexity)")]
    async fn recommended_feed(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, FeedItem>> {
        let page = ctx.api::<dyn SocialApi>()?.recommended_feed(ctx.actor(), page_request(first, after)).await.gql()?;
        Ok(connection(page, FeedItem))
    }
}
