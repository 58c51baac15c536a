//! Search (搜一搜): one box over videos, channels, live rooms and products.

use async_trait::async_trait;
use kanjian_kernel::{Actor, Result};

/// What a result is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SearchKind {
    Video,
    Channel,
    LiveRoom,
    Product,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchSort {
    /// Best match first, with social boosts (friends ❤️'d it, a channel you follow) and live
    /// rooms on air ahead.
    #[default]
    Relevance,
    Newest,
    MostPopular,
}

#[derive(Debug, Clone, Default)]
pub struct SearchInput {
    pub query: String,
    /// Empty: every kind.
    pub kinds: Vec<SearchKind>,
    pub categories: Vec<String>,
    /// Products only, minor units, inclusive.
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub sort: SearchSort,
    pub first: u32,
    /// The `end_cursor` of the page before.
    pub after: Option<String>,
    /// Count every match (`SearchResultsDto::total`): a pass over all of them, so only when
    /// asked (a page alone reads only as far as its results).
    pub count: bool,
    /// Count the matches per kind and category (first pages only): a second pass over every
    /// match, so only when asked.
    pub facets: bool,
}

/// Why a result ranks higher for this person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocialProof {
    /// How many of the viewer's friends ❤️'d it (videos).
    pub friends_recommended: i64,
    /// The viewer follows its channel.
    pub followed_channel: bool,
}

/// A place in a title to highlight, in Unicode characters (code points) from its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextRange {
    pub start: u32,
    pub end: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchHitDto {
    pub kind: SearchKind,
    /// The id in its own module (a video's, a channel's, a room's, a product's).
    pub id: i64,
    pub title: String,
    pub highlights: Vec<TextRange>,
    /// Products: the lowest price of its SKUs (minor units, CNY).
    pub price: Option<i64>,
    pub live: bool,
    pub social: SocialProof,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacetCount {
    pub value: String,
    pub count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchFacets {
    pub kinds: Vec<(SearchKind, u64)>,
    pub categories: Vec<FacetCount>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchResultsDto {
    pub hits: Vec<SearchHitDto>,
    /// Each hit's cursor (pass it as `after` to continue after it).
    pub cursors: Vec<String>,
    /// How many results match in all, when `SearchInput::count` asked.
    pub total: Option<u64>,
    pub has_next_page: bool,
    pub facets: SearchFacets,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SuggestionDto {
    pub kind: SearchKind,
    pub id: i64,
    pub text: String,
    pub highlights: Vec<TextRange>,
}

#[async_trait]
pub trait SearchApi: Send + Sync {
    /// One page of results the actor may see (signed in or not). Bad queries, filters and
    /// cursors are `Error::User` with the field named.
    async fn search(&self, actor: &Actor, input: SearchInput) -> Result<SearchResultsDto>;
    /// Type-ahead: what the text typed so far may become (simplified or traditional, full
    /// pinyin, initials or a pinyin prefix), at most `limit`.
    async fn suggest(&self, actor: &Actor, text: &str, kinds: &[SearchKind], limit: u32) -> Result<Vec<SuggestionDto>>;
}
