//! The use cases: search and suggest, for anyone (signed in or not).
//!
//! **Visibility.** The index holds only what anyone may find (published videos, channels,
//! upcoming and live rooms, products on the shelf); a signed-in person's searches also leave out
//! everything owned by people in a block with them, either way, on every page and suggestion.
//!
//! **Social boosts** (relevance order, signed in): among the first `BOOST_WINDOW` results, a
//! video's score is multiplied by `1 + 0.5·ln(1 + friends who ❤️'d it)` and anything of a channel
//! the person follows by 1.3; each hit says why ("2 friends ❤️", "following"). Pages after the
//! window follow the engine's order, so paging never repeats or skips because of a boost.
//!
//! **Cursors** carry the offset, a fingerprint of the search they belong to and when it was
//! issued: another search's cursor is INVALID, one older than `CURSOR_LIFETIME_MS` is
//! CURSOR_EXPIRED (the results it points into have moved on).

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use async_trait::async_trait;
use kanjian_contracts::search::{
    FacetCount, SearchApi, SearchFacets, SearchHitDto, SearchInput, SearchKind, SearchResultsDto, SearchSort,
    SocialProof, SuggestionDto, TextRange,
};
use kanjian_kernel::ids::{ChannelId, UserId, VideoId};
use kanjian_kernel::pagination::Cursor;
use kanjian_kernel::{Actor, Error, Result, UserErrorCode, Validation};
use serde::{Deserialize, Serialize};

use crate::Deps;
use crate::analysis::{QueryError, QueryPlan, highlight};
use crate::index::{DocKind, IndexHit, IndexQuery, SearchIndex, Sort, document};

pub const DEFAULT_PAGE: u32 = 20;
pub const MAX_PAGE: u32 = 50;
/// How deep results can be paged.
pub const MAX_DEPTH: usize = 1_000;
/// Results re-ranked with social boosts.
const BOOST_WINDOW: usize = 100;
pub const CURSOR_LIFETIME_MS: i64 = 30 * 60 * 1000;
pub const MAX_CATEGORIES: usize = 10;
pub const MAX_SUGGESTIONS: u32 = 10;
/// The most people in a block with someone that are hidden by owner (more is not expected of a
/// person; the rest would show).
const MAX_HIDDEN_OWNERS: u64 = 5_000;

#[derive(Serialize, Deserialize)]
struct SearchCursor {
    /// Results before the next page.
    o: usize,
    /// Fingerprint of the search.
    h: u64,
    /// Issued at, ms since the epoch.
    t: i64,
}

pub(crate) struct SearchService {
    pub deps: Arc<Deps>,
    pub index: Arc<dyn SearchIndex>,
}

fn kind_of(kind: SearchKind) -> DocKind {
    match kind {
        SearchKind::Video => DocKind::Video,
        SearchKind::Channel => DocKind::Channel,
        SearchKind::LiveRoom => DocKind::LiveRoom,
        SearchKind::Product => DocKind::Product,
    }
}

fn search_kind(kind: DocKind) -> SearchKind {
    match kind {
        DocKind::Video => SearchKind::Video,
        DocKind::Channel => SearchKind::Channel,
        DocKind::LiveRoom => SearchKind::LiveRoom,
        DocKind::Product => SearchKind::Product,
    }
}

/// The plan of a query, or the user error that says what is wrong with it.
fn plan(deps: &Deps, field: &str, text: &str, suggest: bool) -> std::result::Result<QueryPlan, kanjian_kernel::UserError> {
    deps.analyzer.plan(text, suggest).map_err(|e| {
        let code = match e {
            QueryError::Empty => UserErrorCode::Required,
            QueryError::TooLong { .. } => UserErrorCode::TooLong,
            QueryError::NothingToSearch => UserErrorCode::Invalid,
        };
        kanjian_kernel::UserError::new(field, code, e.to_string())
    })
}

/// Highlights of `title` for `plan`, in characters.
fn highlights(deps: &Deps, plan: &QueryPlan, title: &str) -> Vec<TextRange> {
    let folded = deps.analyzer.fold(title);
    let Some(ranges) = highlight::find(plan, &folded) else { return Vec::new() };
    highlight::original_ranges(&folded, &ranges)
        .into_iter()
        .map(|r| {
            let start = title[..r.start].chars().count();
            let len = title[r.start..r.end].chars().count();
            TextRange { start: u32::try_from(start).unwrap_or(u32::MAX), end: u32::try_from(start + len).unwrap_or(u32::MAX) }
        })
        .collect()
}

impl SearchService {
    async fn hidden_owners(&self, actor: &Actor) -> Result<Vec<i64>> {
        match (actor.user_id(), &self.deps.blocks) {
            (Some(me), Some(blocks)) => Ok(blocks.blocked_with(me, MAX_HIDDEN_OWNERS).await?.into_iter().map(|u| u.0).collect()),
            _ => Ok(Vec::new()),
        }
    }

    /// Friends' ❤️s and followed channels among `hits`, and the boosted order.
    async fn boost(&self, me: UserId, hits: &mut [(IndexHit, SocialProof)]) -> Result<()> {
        let videos: Vec<VideoId> =
            hits.iter().filter(|(h, _)| h.doc.kind == DocKind::Video).map(|(h, _)| VideoId(h.doc.id)).collect();
        let channels: Vec<ChannelId> = hits
            .iter()
            .filter_map(|(h, _)| h.doc.channel_id)
            .collect::<HashSet<_>>()
            .into_iter()
            .map(ChannelId)
            .collect();
        let recommended: HashMap<i64, i64> = match &self.deps.recommendations {
            Some(r) if !videos.is_empty() => r.friends_recommended_among(me, &videos).await?.into_iter().map(|(v, n)| (v.0, n)).collect(),
            _ => HashMap::new(),
        };
        let followed: HashSet<i64> = match &self.deps.friends {
            Some(f) if !channels.is_empty() => f.followed_among(me, &channels).await?.into_iter().map(|c| c.0).collect(),
            _ => HashSet::new(),
        };
        for (hit, proof) in hits.iter_mut() {
            if hit.doc.kind == DocKind::Video {
                proof.friends_recommended = recommended.get(&hit.doc.id).copied().unwrap_or(0);
            }
            proof.followed_channel = hit.doc.channel_id.is_some_and(|c| followed.contains(&c));
            let mut factor = 1.0 + 0.5 * (1.0 + proof.friends_recommended as f32).ln();
            if proof.followed_channel {
                factor *= 1.3;
            }
            hit.score *= factor;
        }
        hits.sort_by(|a, b| b.0.score.total_cmp(&a.0.score));
        Ok(())
    }

    fn fingerprint(plan: &QueryPlan, input: &SearchInput, viewer: Option<UserId>) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        plan.folded.hash(&mut h);
        input.kinds.hash(&mut h);
        input.categories.hash(&mut h);
        (input.min_price, input.max_price).hash(&mut h);
        (input.sort as u8).hash(&mut h);
        viewer.map(|u| u.0).hash(&mut h);
        h.finish()
    }
}

#[async_trait]
impl SearchApi for SearchService {
    #[tracing::instrument(skip_all, fields(kinds = input.kinds.len(), sort = ?input.sort))]
    async fn search(&self, actor: &Actor, input: SearchInput) -> Result<SearchResultsDto> {
        let deps = &self.deps;
        let mut v = Validation::new();
        let plan = v.check(plan(deps, "query", &input.query, false));
        if input.first > MAX_PAGE {
            v.push(kanjian_kernel::UserError::new("first", UserErrorCode::TooLong, format!("at most {MAX_PAGE} results a page")));
        }
        for (field, price) in [("minPrice", input.min_price), ("maxPrice", input.max_price)] {
            if price.is_some_and(|p| p < 0) {
                v.push(kanjian_kernel::UserError::new(field, UserErrorCode::Invalid, "a price cannot be negative"));
            }
        }
        if let (Some(min), Some(max)) = (input.min_price, input.max_price)
            && min > max
        {
            v.push(kanjian_kernel::UserError::new("maxPrice", UserErrorCode::Invalid, "the highest price is below the lowest"));
        }
        if input.categories.len() > MAX_CATEGORIES {
            v.push(kanjian_kernel::UserError::new("categories", UserErrorCode::TooLong, format!("at most {MAX_CATEGORIES} categories")));
        }
        if input.categories.iter().any(|c| c.chars().count() > document::MAX_CATEGORY_CHARS) {
            v.push(kanjian_kernel::UserError::new("categories", UserErrorCode::TooLong, format!("a category has at most {} characters", document::MAX_CATEGORY_CHARS)));
        }
        v.finish()?;
        let plan = plan.ok_or_else(|| Error::internal("a validated query has no plan"))?;
        let viewer = actor.user_id();
        let fingerprint = Self::fingerprint(&plan, &input, viewer);
        let now = deps.db.now_millis();
        let offset = match &input.after {
            None => 0,
            Some(after) => {
                let cursor: SearchCursor = Cursor(after.clone()).decode()?;
                if cursor.h != fingerprint {
                    return Err(Error::user("after", UserErrorCode::Invalid, "this cursor belongs to another search"));
                }
                if now - cursor.t > CURSOR_LIFETIME_MS {
                    return Err(Error::user("after", UserErrorCode::CursorExpired, "these results have moved on: search again"));
                }
                cursor.o
            }
        };
        let first = if input.first == 0 { DEFAULT_PAGE } else { input.first } as usize;
        let first = first.min(MAX_DEPTH.saturating_sub(offset));
        let boosting = input.sort == SearchSort::Relevance && viewer.is_some() && offset < BOOST_WINDOW;
        // With boosts, the whole window is ranked and the page cut from it.
        let (fetch_from, fetch_until) = if boosting { (0, BOOST_WINDOW.max(offset + first + 1)) } else { (offset, offset + first + 1) };
        let query = IndexQuery {
            plan: plan.clone(),
            kinds: input.kinds.iter().copied().map(kind_of).collect(),
            categories: input.categories.clone(),
            min_price: input.min_price,
            max_price: input.max_price,
            hidden_owners: self.hidden_owners(actor).await?,
            sort: match input.sort {
                SearchSort::Relevance => Sort::Relevance,
                SearchSort::Newest => Sort::Newest,
                SearchSort::MostPopular => Sort::Popular,
            },
            offset: fetch_from,
            limit: fetch_until.min(MAX_DEPTH + 1) - fetch_from,
            count: input.count,
            facets: offset == 0 && input.facets,
        };
        let results = self.index.search(&query).await?;
        let mut hits: Vec<(IndexHit, SocialProof)> = results.hits.into_iter().map(|h| (h, SocialProof::default())).collect();
        if let (true, Some(me)) = (boosting, viewer) {
            let window = hits.len().min(BOOST_WINDOW);
            self.boost(me, &mut hits[..window]).await?;
        }
        let page: Vec<(IndexHit, SocialProof)> = hits.into_iter().skip(offset - fetch_from).collect();
        let has_next_page = page.len() > first && offset + first < MAX_DEPTH;
        let mut out = SearchResultsDto {
            total: results.total,
            has_next_page,
            facets: SearchFacets {
                kinds: results.facets.kinds.into_iter().map(|(k, n)| (search_kind(k), n)).collect(),
                categories: results.facets.categories.into_iter().map(|(value, count)| FacetCount { value, count }).collect(),
            },
            ..Default::default()
        };
        for (i, (hit, social)) in page.into_iter().take(first).enumerate() {
            out.cursors.push(Cursor::encode(&SearchCursor { o: offset + i + 1, h: fingerprint, t: now }).0);
            out.hits.push(SearchHitDto {
                kind: search_kind(hit.doc.kind),
                id: hit.doc.id,
                highlights: highlights(deps, &plan, &hit.doc.title),
                title: hit.doc.title,
                price: hit.doc.price,
                live: hit.doc.live,
                social,
            });
        }
        Ok(out)
    }

    #[tracing::instrument(skip_all, fields(kinds = kinds.len(), limit))]
    async fn suggest(&self, actor: &Actor, text: &str, kinds: &[SearchKind], limit: u32) -> Result<Vec<SuggestionDto>> {
        let plan = plan(&self.deps, "text", text, true).map_err(|e| Error::User(vec![e]))?;
        let limit = if limit == 0 { MAX_SUGGESTIONS } else { limit.min(MAX_SUGGESTIONS) } as usize;
        let query = IndexQuery {
            kinds: kinds.iter().copied().map(kind_of).collect(),
            hidden_owners: self.hidden_owners(actor).await?,
            // Room for titles that repeat (many videos called the same).
            ..IndexQuery::new(plan.clone(), limit * 3)
        };
        let results = self.index.search(&query).await?;
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(limit);
        for hit in results.hits {
            if out.len() == limit {
                break;
            }
            if !seen.insert(hit.doc.title.clone()) {
                continue;
            }
            out.push(SuggestionDto {
                kind: search_kind(hit.doc.kind),
                id: hit.doc.id,
                highlights: highlights(&self.deps, &plan, &hit.doc.title),
                text: hit.doc.title,
            });
        }
        Ok(out)
    }
}
