//! `SearchIndex`: what every engine offers the search module — keep documents, remember how far
//! through the changes it is, and answer a query plan. Two engines: embedded tantivy in the data
//! directory (the default) and Meilisearch.

pub mod document;
pub mod tantivy;
#[cfg(feature = "meilisearch")]
pub mod meilisearch;

use async_trait::async_trait;
use kanjian_kernel::Result;

use crate::analysis::QueryPlan;
pub use document::{DocKey, DocKind, DocumentError, SearchDocument};

/// One change to apply to an index.
#[derive(Debug, Clone)]
pub enum Change {
    /// Adds or replaces the document with this key.
    Upsert(SearchDocument),
    /// Removes it (no-op when absent).
    Delete(DocKey),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Best match first (live rooms that are live now ahead of the rest).
    #[default]
    Relevance,
    Newest,
    Popular,
}

/// A query plan with its filters, for one page.
#[derive(Debug, Clone)]
pub struct IndexQuery {
    pub plan: QueryPlan,
    /// Empty: every kind.
    pub kinds: Vec<DocKind>,
    /// Empty: every category.
    pub categories: Vec<String>,
    /// Products priced within (minor units, inclusive); other kinds have no price and drop out
    /// when a range is given.
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    /// Owners whose documents the caller may not see (they blocked the caller, or the caller
    /// them).
    pub hidden_owners: Vec<i64>,
    pub sort: Sort,
    pub offset: usize,
    pub limit: usize,
    /// Count every match (`IndexResults::total`). A page alone costs the same however many
    /// documents match; an exact count visits them all.
    pub count: bool,
    /// Count matches per kind and per category (over the query without the kind and category
    /// filters, so each count says what choosing it would give).
    pub facets: bool,
}

impl IndexQuery {
    /// `plan` over every document the caller may see, by relevance, the first `limit`, without
    /// a count or facets; set the other fields with struct update syntax.
    pub fn new(plan: QueryPlan, limit: usize) -> Self {
        Self {
            plan,
            kinds: Vec::new(),
            categories: Vec::new(),
            min_price: None,
            max_price: None,
            hidden_owners: Vec::new(),
            sort: Sort::Relevance,
            offset: 0,
            limit,
            count: false,
            facets: false,
        }
    }
}

/// One document found: what the index stores of it.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexHit {
    pub doc: SearchDocument,
    /// The engine's score, comparable within one answer only.
    pub score: f32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facets {
    pub kinds: Vec<(DocKind, u64)>,
    /// Most matches first.
    pub categories: Vec<(String, u64)>,
}

#[derive(Debug, Clone, Default)]
pub struct IndexResults {
    pub hits: Vec<IndexHit>,
    /// How many documents match in all, when the query asked (`IndexQuery::count`). Exact on
    /// the embedded engine; Meilisearch's estimate minus what narrowing dropped otherwise.
    pub total: Option<u64>,
    pub facets: Facets,
}

/// A search engine holding Kanjian's documents.
#[async_trait]
pub trait SearchIndex: Send + Sync {
    /// `tantivy` or `meilisearch`, for logs and metrics.
    fn engine(&self) -> &'static str;

    /// Applies `changes` in order and remembers `through` (the last change sequence they
    /// include) with them, atomically where the engine allows: after a crash the index resumes
    /// from what it remembers, and applying a change twice is harmless.
    async fn apply(&self, changes: Vec<Change>, through: i64) -> Result<()>;

    /// The change sequence this index has applied up to (0 when new).
    async fn applied_through(&self) -> Result<i64>;

    async fn search(&self, query: &IndexQuery) -> Result<IndexResults>;

    /// How many documents it holds.
    async fn count(&self) -> Result<u64>;

    /// Starts a fresh copy beside the serving one (`kanjian reindex`): fill it, then `finish`
    /// swaps it in; until then searches read the old one.
    async fn rebuild(&self) -> Result<Box<dyn Rebuild>>;
}

/// A fresh copy of an index being filled.
#[async_trait]
pub trait Rebuild: Send {
    async fn add(&mut self, docs: Vec<SearchDocument>) -> Result<()>;
    /// Makes the copy the index, remembering it holds every change through `through`.
    async fn finish(self: Box<Self>, through: i64) -> Result<()>;
}
