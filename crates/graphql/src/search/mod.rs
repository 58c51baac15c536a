//! Search (搜一搜) in the schema: `search` over videos, channels, live rooms and products, and
//! `searchSuggestions` for a search box being typed in. Both work signed out; signed in, results
//! of people in a block with you never show, and friends' ❤️s and channels you follow rank
//! higher.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, Object, SimpleObject, Union};
use kanjian_contracts::search::{self as contract, SearchApi, SearchHitDto, SearchInput};

use crate::commerce::{MinorUnits, Money, Product};
use crate::context::ContextExt;
use crate::errors::GqlResultExt;
use crate::identity::Channel;
use crate::live::LiveRoom;
use crate::media::Video;
use crate::relay::NodeObject;

/// What a search result is.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum SearchKind {
    Video,
    Channel,
    /// Upcoming and on-air rooms; on-air ones first.
    LiveRoom,
    /// Products on the shelf.
    Product,
}

impl From<SearchKind> for contract::SearchKind {
    fn from(k: SearchKind) -> Self {
        match k {
            SearchKind::Video => Self::Video,
            SearchKind::Channel => Self::Channel,
            SearchKind::LiveRoom => Self::LiveRoom,
            SearchKind::Product => Self::Product,
        }
    }
}

impl From<contract::SearchKind> for SearchKind {
    fn from(k: contract::SearchKind) -> Self {
        match k {
            contract::SearchKind::Video => Self::Video,
            contract::SearchKind::Channel => Self::Channel,
            contract::SearchKind::LiveRoom => Self::LiveRoom,
            contract::SearchKind::Product => Self::Product,
        }
    }
}

/// The order of search results.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum SearchSort {
    /// Best match first: live rooms on air ahead, then what your friends ❤️'d and channels you
    /// follow (signed in), and what is popular.
    #[default]
    Relevance,
    /// Most recently published (or opened, or gone live) first.
    Newest,
    /// Most ❤️'d, followed or sold first.
    MostPopular,
}

impl From<SearchSort> for contract::SearchSort {
    fn from(s: SearchSort) -> Self {
        match s {
            SearchSort::Relevance => Self::Relevance,
            SearchSort::Newest => Self::Newest,
            SearchSort::MostPopular => Self::MostPopular,
        }
    }
}

/// A stretch of a text, in Unicode characters (code points) from its start: `start` included,
/// `end` not.
#[derive(SimpleObject, Clone, Copy)]
pub struct TextRange {
    pub start: i32,
    pub end: i32,
}

fn ranges(ranges: &[contract::TextRange]) -> Vec<TextRange> {
    ranges
        .iter()
        .map(|r| TextRange { start: i32::try_from(r.start).unwrap_or(i32::MAX), end: i32::try_from(r.end).unwrap_or(i32::MAX) })
        .collect()
}

/// `text` HTML-escaped, with each range wrapped in `<em>…</em>`.
fn emphasized(text: &str, ranges: &[contract::TextRange]) -> String {
    let mut out = String::with_capacity(text.len() + ranges.len() * 9);
    let mut next = ranges.iter().peekable();
    let mut open = false;
    for (i, c) in text.chars().enumerate() {
        let i = u32::try_from(i).unwrap_or(u32::MAX);
        if open && next.peek().is_some_and(|r| r.end == i) {
            out.push_str("</em>");
            open = false;
            next.next();
        }
        if !open && next.peek().is_some_and(|r| r.start == i) {
            out.push_str("<em>");
            open = true;
        }
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    if open {
        out.push_str("</em>");
    }
    out
}

/// What a search result is: the object itself.
#[derive(Union)]
pub enum SearchResult {
    Video(Video),
    Channel(Channel),
    LiveRoom(LiveRoom),
    Product(Product),
}

/// Why a result ranks higher for you.
#[derive(SimpleObject)]
pub struct SocialProof {
    /// How many of your friends ❤️'d it (videos).
    pub friends_recommended: i32,
    /// You follow its channel.
    pub followed_channel: bool,
    /// Ready to show: `2 friends ❤️`, `Following`; null when neither.
    pub label: Option<String>,
}

/// One search result.
pub struct SearchHit(SearchHitDto);

#[Object]
impl SearchHit {
    async fn kind(&self) -> SearchKind {
        self.0.kind.into()
    }

    /// The object found; null when it stopped being visible to you since it was indexed (an
    /// index catches up within seconds).
    async fn node(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<SearchResult>> {
        let id = self.0.id;
        Ok(match self.0.kind {
            contract::SearchKind::Video => Video::load(ctx, id).await?.map(SearchResult::Video),
            contract::SearchKind::Channel => Channel::load(ctx, id).await?.map(SearchResult::Channel),
            contract::SearchKind::LiveRoom => LiveRoom::load(ctx, id).await?.map(SearchResult::LiveRoom),
            contract::SearchKind::Product => Product::load(ctx, id).await?.map(SearchResult::Product),
        })
    }

    /// The title as indexed (a video's or room's title, a channel's name, a product's name).
    async fn title(&self) -> &str {
        &self.0.title
    }

    /// Where the search matched the title (also through pinyin, initials or the traditional
    /// form), in characters.
    async fn highlights(&self) -> Vec<TextRange> {
        ranges(&self.0.highlights)
    }

    /// The title HTML-escaped, matches wrapped in `<em>…</em>`.
    async fn title_html(&self) -> String {
        emphasized(&self.0.title, &self.0.highlights)
    }

    /// Products: the lowest price of their SKUs.
    async fn price(&self) -> Option<Money> {
        self.0.price.map(|minor| Money(kanjian_kernel::Money { minor, currency: kanjian_kernel::money::Currency::CNY }))
    }

    /// Live rooms: on air now.
    async fn live(&self) -> bool {
        self.0.live
    }

    /// Why it ranks higher for you; null signed out or when nothing social applies.
    async fn social_proof(&self) -> Option<SocialProof> {
        let s = &self.0.social;
        let label = match (s.friends_recommended, s.followed_channel) {
            (0, false) => return None,
            (1, _) => "1 friend ❤️".to_owned(),
            (n, _) if n > 1 => format!("{n} friends ❤️"),
            _ => "Following".to_owned(),
        };
        Some(SocialProof {
            friends_recommended: i32::try_from(s.friends_recommended).unwrap_or(i32::MAX),
            followed_channel: s.followed_channel,
            label: Some(label),
        })
    }
}

/// How many results one choice of a filter would give.
#[derive(SimpleObject)]
pub struct KindCount {
    pub kind: SearchKind,
    pub count: i32,
}

#[derive(SimpleObject)]
pub struct CategoryCount {
    pub category: String,
    pub count: i32,
}

/// Counts of results by kind and by category, for the query with its price range (each count
/// ignores the kind and category filters, so it tells what choosing that value would give).
#[derive(SimpleObject)]
pub struct SearchFacets {
    pub kinds: Vec<KindCount>,
    /// Most results first, at most 20.
    pub categories: Vec<CategoryCount>,
}

/// Fields of a page of search results beside its edges.
#[derive(SimpleObject)]
pub struct SearchTotals {
    /// How many results match in all (exact; counting them all is the costly part of a search
    /// matching many, so leave it out when not shown).
    pub total_count: i32,
    /// On the first page only (null on later ones).
    pub facets: Option<SearchFacets>,
}

fn count(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A suggestion for a search box.
#[derive(SimpleObject)]
pub struct SearchSuggestion {
    pub kind: SearchKind,
    /// A title the typed text may become.
    pub text: String,
    /// Where what was typed matches it, in characters.
    pub highlights: Vec<TextRange>,
    /// `text` HTML-escaped, matches wrapped in `<em>…</em>`.
    pub text_html: String,
}

#[derive(Default)]
pub struct SearchQuery;

#[Object]
impl SearchQuery {
    /// 搜一搜: videos, channels, live rooms and products from one box. Chinese is matched by
    /// substring (a word inside a longer one, single characters), traditional and simplified
    /// alike, and through pinyin (`nongye`, initials `zgyh`); English words allow a typo from 5
    /// letters. Nothing in `query` is syntax. Bad input (an empty or over-long query, 100
    /// characters; `minPrice` above `maxPrice`; a cursor of another search, or older than 30
    /// minutes: `reason` CURSOR_EXPIRED) is a top-level `BAD_USER_INPUT` error whose `reason`
    /// is the `UserErrorCode`. Paging goes 1 000 results deep.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "crate::relay::connection_complexity(first, child_complexity)")]
    async fn search(
        &self,
        ctx: &Context<'_>,
        query: String,
        #[graphql(desc = "Only these kinds (all when absent or empty).")] kinds: Option<Vec<SearchKind>>,
        #[graphql(desc = "Only these categories (at most 10).")] categories: Option<Vec<String>>,
        #[graphql(desc = "Products priced at least this (minor units, CNY); other kinds drop out.")] min_price: Option<MinorUnits>,
        #[graphql(desc = "Products priced at most this.")] max_price: Option<MinorUnits>,
        #[graphql(desc = "RELEVANCE when absent or null.")] sort: Option<SearchSort>,
        #[graphql(desc = "At most 50; 20 when absent.")] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, SearchHit, SearchTotals>> {
        let input = SearchInput {
            query,
            kinds: kinds.unwrap_or_default().into_iter().map(Into::into).collect(),
            categories: categories.unwrap_or_default(),
            min_price: min_price.map(|m| m.0),
            max_price: max_price.map(|m| m.0),
            sort: sort.unwrap_or_default().into(),
            first: u32::try_from(first.unwrap_or(0).max(0)).unwrap_or(0),
            count: ctx.look_ahead().field("totalCount").exists(),
            facets: after.is_none() && ctx.look_ahead().field("facets").exists(),
            after,
        };
        let first_page = input.after.is_none();
        let results = ctx.api::<dyn SearchApi>()?.search(ctx.actor(), input).await.gql()?;
        let facets = first_page.then(|| SearchFacets {
            kinds: results.facets.kinds.iter().map(|&(kind, n)| KindCount { kind: kind.into(), count: count(n) }).collect(),
            categories: results
                .facets
                .categories
                .iter()
                .map(|c| CategoryCount { category: c.value.clone(), count: count(c.count) })
                .collect(),
        });
        let mut connection = Connection::with_additional_fields(
            !first_page,
            results.has_next_page,
            // Counted only when selected (a pass over every match); 0 is never sent.
            SearchTotals { total_count: results.total.map_or(0, count), facets },
        );
        connection.edges.extend(results.hits.into_iter().zip(results.cursors).map(|(hit, cursor)| Edge::new(cursor, SearchHit(hit))));
        Ok(connection)
    }

    /// Type-ahead for a search box: titles the text typed so far may become, in simplified or
    /// traditional characters, full pinyin (`zhongguoy`), initials (`zgyh`) or a pinyin prefix.
    /// At most 10.
    async fn search_suggestions(
        &self,
        ctx: &Context<'_>,
        text: String,
        kinds: Option<Vec<SearchKind>>,
        #[graphql(desc = "At most 10; 10 when absent.")] first: Option<i32>,
    ) -> async_graphql::Result<Vec<SearchSuggestion>> {
        let kinds: Vec<contract::SearchKind> = kinds.unwrap_or_default().into_iter().map(Into::into).collect();
        let limit = u32::try_from(first.unwrap_or(0).max(0)).unwrap_or(0);
        let found = ctx.api::<dyn SearchApi>()?.suggest(ctx.actor(), &text, &kinds, limit).await.gql()?;
        Ok(found
            .into_iter()
            .map(|s| SearchSuggestion {
                kind: s.kind.into(),
                text_html: emphasized(&s.text, &s.highlights),
                highlights: ranges(&s.highlights),
                text: s.text,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emphasis_wraps_ranges_and_escapes_the_rest() {
        let r = |start, end| contract::TextRange { start, end };
        assert_eq!(emphasized("中国<b>银行", &[r(0, 2), r(5, 7)]), "<em>中国</em>&lt;b&gt;<em>银行</em>");
        assert_eq!(emphasized("abc", &[]), "abc");
        assert_eq!(emphasized("abc", &[r(1, 3)]), "a<em>bc</em>");
    }
}
