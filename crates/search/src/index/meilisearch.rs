//! Meilisearch as Kanjian's search engine, through meilisearch-sdk.
//!
//! **Documents.** Each `SearchDocument` is stored as it is, keyed `key` (`v-123`), with four
//! fields Kanjian computes from the shared analysis of its title and body: `title_terms` and
//! `body_terms`, every term as an exact ASCII token (`terms`), and `folded_title` and
//! `folded_body`, the folded text the narrowing reads. Meilisearch's own segmentation is only
//! used for typos on `title` and `body` (see `query`).
//!
//! **Searching.** A query plan becomes one Meilisearch query per combination of alternatives,
//! sent as one federated `/multi-search`; its candidates are narrowed with the reference
//! matcher, so what is returned is exactly what the embedded engine returns whatever
//! Meilisearch adds. Enough candidates are read to fill the page after narrowing
//! (`(offset + limit) × 4`, then four times more while the page is short, at most
//! `MAX_CANDIDATES`). `total` and the facet counts are exact when every candidate was read;
//! otherwise they are Meilisearch's counts minus what the narrowing dropped among the
//! candidates read: an estimate, and an upper bound, since the unread candidates may hold false
//! positives too. A page beyond the first `MAX_CANDIDATES` candidates is not reachable.
//!
//! **Ranking** is Meilisearch's, in one merged order: a chosen sort first (newest, most popular,
//! or live rooms first when only live rooms are asked for, as the embedded engine does), then
//! its relevance rules (a title match above a body match), then live and popular documents
//! first among equals, as the embedded engine orders each of its relevance steps. A hit's
//! score is Meilisearch's weighted ranking score (time or popularity for those sorts).
//!
//! **Where it is.** `through` lives in the index itself, in a bookkeeping document
//! (`kanjian-through`) sent in the same document addition as the upserts (one task: both are
//! indexed together or not at all). Deletions are a separate task that must succeed first, so
//! the marker never claims changes that failed. Searches and facets never count it (it has no
//! terms, no kind, no folded text); `count` subtracts it.
//!
//! **Rebuilding.** `<uid>_rebuild` is created with the same settings and filled while searches
//! keep reading `<uid>`; `finish` writes the marker, swaps the two (`/swap-indexes`, atomic in
//! Meilisearch) and deletes the old copy.
//!
//! **Settings** are applied when the index is first used (`prepare` at startup), only when the
//! server's differ, waiting for the task: see `settings`. Every write waits for its task; a
//! failed task is an error naming Meilisearch's code and message. Errors never contain the API
//! key (it is removed from any message the server echoes).

pub mod http;
pub mod query;
pub mod settings;
pub mod terms;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kanjian_kernel::{Error, Result};
use meilisearch_sdk::client::{Client, SwapIndexes};
use meilisearch_sdk::errors::{Error as SdkError, ErrorCode, MeilisearchError};
use meilisearch_sdk::request::{HttpClient, Method};
use meilisearch_sdk::search::{FederationOptions, MatchingStrategies, MergeFacets, SearchQuery, Selectors};
use meilisearch_sdk::task_info::TaskInfo;
use meilisearch_sdk::tasks::Task;
use serde_json::{Map, Value};

pub use self::http::HyperClient;
use self::query::{MAX_CANDIDATES, MIN_CANDIDATES, MeiliQuery, Narrowing};
use super::{Change, DocKey, DocKind, Facets, IndexHit, IndexQuery, IndexResults, Rebuild, SearchDocument, SearchIndex, Sort};
use crate::analysis::Analyzer;

/// The primary key of every Kanjian index.
pub const PRIMARY_KEY: &str = "key";
/// The bookkeeping document holding `through` (not a `DocKey`: those start with a kind code).
pub const MARKER_KEY: &str = "kanjian-through";
/// How many categories a facet lists (as the embedded engine).
const MAX_CATEGORY_FACETS: usize = 20;
/// The largest document addition sent as one task (Meilisearch's default payload limit is
/// 100 MB; a document with a long body carries ~100 kB of tokens).
const MAX_PAYLOAD_BYTES: usize = 16 << 20;
/// Queries are read with the plain Latin segmenter (they are ASCII tokens and Latin words).
const QUERY_LOCALES: &[&str] = &["eng"];
/// What a search reads of each candidate.
const RETRIEVED: &[&str] = &[
    "key",
    "kind",
    "id",
    "title",
    "body",
    "owner_id",
    "channel_id",
    "category",
    "price",
    "popularity",
    "published_at",
    "live",
    "folded_title",
    "folded_body",
];
/// What the facet pass reads of each candidate.
const RETRIEVED_FOR_FACETS: &[&str] = &["key", "kind", "category", "folded_title", "folded_body"];

/// How long one HTTP exchange may take by default.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a task (indexing, settings) may take by default before the write is reported failed.
pub const DEFAULT_TASK_TIMEOUT: Duration = Duration::from_secs(300);

/// A Kanjian index in Meilisearch. Cheap to clone.
pub struct MeilisearchIndex<H: HttpClient = HyperClient> {
    inner: Arc<Inner<H>>,
}

impl<H: HttpClient> Clone for MeilisearchIndex<H> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

#[derive(Clone)]
struct Inner<H: HttpClient> {
    client: Client<H>,
    http: H,
    url: String,
    uid: String,
    analyzer: Arc<Analyzer>,
    /// Only to remove it from error messages.
    api_key: Option<String>,
    task_timeout: Duration,
    ready: tokio::sync::OnceCell<()>,
}

impl<H: HttpClient> std::fmt::Debug for MeilisearchIndex<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeilisearchIndex").field("url", &self.inner.url).field("uid", &self.inner.uid).finish_non_exhaustive()
    }
}

impl MeilisearchIndex<HyperClient> {
    /// The index `index_uid` on the Meilisearch at `url`, through hyper (`api_key` sent as a
    /// bearer token). No I/O: `prepare` (or the first use) creates the index and its settings.
    pub fn connect(url: &str, api_key: Option<String>, index_uid: &str, analyzer: Arc<Analyzer>) -> Result<Self> {
        // An empty key is no key (a server without a master key).
        let api_key = api_key.filter(|k| !k.is_empty());
        let http = HyperClient::new(api_key.as_deref(), DEFAULT_REQUEST_TIMEOUT).map_err(Error::Internal)?;
        Self::new(url, api_key, index_uid, analyzer, http)
    }
}

impl<H: HttpClient + 'static> MeilisearchIndex<H> {
    /// The index `index_uid` on the Meilisearch at `url`, through `http` (which sends the key;
    /// `api_key` is given to the sdk and kept out of error messages).
    pub fn new(url: &str, api_key: Option<String>, index_uid: &str, analyzer: Arc<Analyzer>, http: H) -> Result<Self> {
        // The uid goes into URL paths: Meilisearch's own rule (letters, digits, `-`, `_`).
        let valid = !index_uid.is_empty()
            && index_uid.len() <= 300
            && index_uid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(Error::internal(format!("`{index_uid}` is not a Meilisearch index uid (letters, digits, - and _)")));
        }
        let url = url.trim_end_matches('/').to_owned();
        let client = Client::new_with_client(url.clone(), api_key.clone(), http.clone());
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                http,
                url,
                uid: index_uid.to_owned(),
                analyzer,
                api_key: api_key.filter(|k| !k.is_empty()),
                task_timeout: DEFAULT_TASK_TIMEOUT,
                ready: tokio::sync::OnceCell::new(),
            }),
        })
    }

    /// How long a write waits for its task (default `DEFAULT_TASK_TIMEOUT`).
    pub fn with_task_timeout(self, timeout: Duration) -> Self {
        let mut inner = Inner::clone(&self.inner);
        inner.task_timeout = timeout;
        Self { inner: Arc::new(inner) }
    }

    pub fn uid(&self) -> &str {
        &self.inner.uid
    }

    /// Creates the index when missing and applies Kanjian's settings when the server's differ,
    /// waiting for both tasks. Done once per process (at startup, or on first use).
    pub async fn prepare(&self) -> Result<()> {
        let this = &self.inner;
        this.ready.get_or_try_init(|| this.ensure_index(&this.uid)).await.map(|_| ())
    }
}

/// The outcome of a finished task.
enum Outcome {
    Succeeded,
    Failed(MeilisearchError),
}

fn code_of(e: &SdkError) -> Option<&ErrorCode> {
    match e {
        SdkError::Meilisearch(m) => Some(&m.error_code),
        _ => None,
    }
}

impl<H: HttpClient + 'static> Inner<H> {
    /// An sdk error as an internal error saying what was being done, without the API key.
    fn fail(&self, what: &str, e: impl std::fmt::Display) -> Error {
        let message = match &self.api_key {
            Some(key) => e.to_string().replace(key.as_str(), "[redacted]"),
            None => e.to_string(),
        };
        Error::Internal(anyhow::anyhow!(message).context(format!("{what} (Meilisearch index `{}`)", self.uid)))
    }

    async fn get_json(&self, path: &str, what: &str) -> std::result::Result<Value, Error> {
        self.http
            .request::<(), (), Value>(&format!("{}{path}", self.url), Method::Get { query: () }, 200)
            .await
            .map_err(|e| self.fail(what, e))
    }

    /// Polls a task until it is done (10 ms, doubling up to 1 s), at most `task_timeout`.
    async fn outcome(&self, task: &TaskInfo, what: &str) -> Result<Outcome> {
        let deadline = tokio::time::Instant::now() + self.task_timeout;
        let mut pause = Duration::from_millis(10);
        loop {
            match self.client.get_task(task).await.map_err(|e| self.fail(what, e))? {
                Task::Succeeded { .. } => return Ok(Outcome::Succeeded),
                Task::Failed { content } => return Ok(Outcome::Failed(content.error)),
                Task::Enqueued { .. } | Task::Processing { .. } => {}
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(self.fail(what, format!("task {} still not done after {:?}", task.task_uid, self.task_timeout)));
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    async fn succeed(&self, task: std::result::Result<TaskInfo, SdkError>, what: &str) -> Result<()> {
        let task = task.map_err(|e| self.fail(what, e))?;
        match self.outcome(&task, what).await? {
            Outcome::Succeeded => Ok(()),
            Outcome::Failed(error) => Err(self.fail(what, format!("task {} failed: {error}", task.task_uid))),
        }
    }

    /// Creates `uid` when missing, then applies the settings unless it already has them.
    async fn ensure_index(&self, uid: &str) -> Result<()> {
        match self.client.get_raw_index(uid).await {
            Ok(_) => {}
            Err(e) if code_of(&e) == Some(&ErrorCode::IndexNotFound) => {
                let what = "creating the search index";
                let task = self.client.create_index(uid, Some(PRIMARY_KEY)).await.map_err(|e| self.fail(what, e))?;
                match self.outcome(&task, what).await? {
                    Outcome::Succeeded => {}
                    // Another process created it first: the same outcome.
                    Outcome::Failed(e) if e.error_code == ErrorCode::IndexAlreadyExists => {}
                    Outcome::Failed(e) => return Err(self.fail(what, format!("task {} failed: {e}", task.task_uid))),
                }
            }
            Err(e) => return Err(self.fail("looking up the search index", e)),
        }
        let actual = self.get_json(&format!("/indexes/{uid}/settings"), "reading the search index settings").await?;
        let desired = settings::desired();
        if !settings::already_applied(&actual, &desired) {
            let task = self.client.index(uid).set_settings(&desired).await;
            self.succeed(task, "applying the Chinese search settings").await?;
        }
        Ok(())
    }

    /// A document as Meilisearch stores it: the document, its key, its folded text and tokens.
    fn stored(analyzer: &Analyzer, doc: &SearchDocument) -> anyhow::Result<Value> {
        doc.check()?;
        let title = analyzer.analyze(&doc.title);
        let body = analyzer.analyze(&doc.body);
        let Value::Object(mut fields) = serde_json::to_value(doc)? else {
            anyhow::bail!("a search document is not a JSON object");
        };
        fields.insert(PRIMARY_KEY.to_owned(), Value::String(doc.key().encode()));
        fields.insert("folded_title".to_owned(), Value::String(title.folded.as_string()));
        fields.insert("folded_body".to_owned(), Value::String(body.folded.as_string()));
        fields.insert("title_terms".to_owned(), Value::String(terms::document_terms(&title)));
        fields.insert("body_terms".to_owned(), Value::String(terms::document_terms(&body)));
        Ok(Value::Object(fields))
    }

    /// Checks and analyses documents off the async threads (jieba and pinyin cost ~0.1 ms per
    /// title).
    async fn prepare_documents(&self, docs: Vec<SearchDocument>, what: &'static str) -> Result<Vec<Value>> {
        let analyzer = self.analyzer.clone();
        let prepared = tokio::task::spawn_blocking(move || {
            docs.iter().map(|d| Self::stored(&analyzer, d)).collect::<anyhow::Result<Vec<_>>>()
        })
        .await
        .map_err(|e| self.fail(what, e))?;
        prepared.map_err(|e| Error::Internal(e.context(what)))
    }

    /// Adds or replaces `docs` in `uid`, then the marker (when given) in the last task: every
    /// earlier part must have succeeded before the marker is sent.
    async fn send_documents(&self, uid: &str, mut docs: Vec<Value>, through: Option<i64>, what: &str) -> Result<()> {
        if let Some(through) = through {
            docs.push(serde_json::json!({ PRIMARY_KEY: MARKER_KEY, "through": through }));
        }
        if docs.is_empty() {
            return Ok(());
        }
        let mut parts: Vec<Vec<Value>> = vec![Vec::new()];
        let mut size = 0usize;
        for doc in docs {
            let bytes = doc.to_string().len();
            if size + bytes > MAX_PAYLOAD_BYTES && parts.last().is_some_and(|p| !p.is_empty()) {
                parts.push(Vec::new());
                size = 0;
            }
            size += bytes;
            if let Some(last) = parts.last_mut() {
                last.push(doc);
            }
        }
        let index = self.client.index(uid);
        let last = parts.pop().unwrap_or_default();
        let mut earlier = Vec::with_capacity(parts.len());
        for part in &parts {
            earlier.push(index.add_or_replace(part, Some(PRIMARY_KEY)).await.map_err(|e| self.fail(what, e))?);
        }
        for task in earlier {
            self.succeed(Ok(task), what).await?;
        }
        self.succeed(index.add_or_replace(&last, Some(PRIMARY_KEY)).await, what).await
    }

    /// Deletes an index, absent or not.
    async fn delete_index(&self, uid: &str, what: &str) -> Result<()> {
        let task = self.client.delete_index(uid).await.map_err(|e| self.fail(what, e))?;
        match self.outcome(&task, what).await? {
            Outcome::Succeeded => Ok(()),
            Outcome::Failed(e) if e.error_code == ErrorCode::IndexNotFound => Ok(()),
            Outcome::Failed(e) => Err(self.fail(what, format!("task {} failed: {e}", task.task_uid))),
        }
    }

    /// One federated multi-search: every query with the same filter and sort, merged by
    /// Meilisearch, the first `limit` candidates.
    async fn federated(
        &self,
        queries: &[MeiliQuery],
        filter: Option<&str>,
        sort: Option<&'static str>,
        limit: usize,
        facets: bool,
        retrieve: &'static [&'static str],
    ) -> Result<Candidates> {
        let index = self.client.index(&self.uid);
        let sort: Vec<&str> = sort.into_iter().collect();
        let mut multi = self.client.multi_search();
        for query in queries {
            let mut search = SearchQuery::new(&index);
            if !query.q.is_empty() {
                search.with_query(&query.q).with_attributes_to_search_on(query.attributes());
            }
            search
                .with_matching_strategy(MatchingStrategies::ALL)
                .with_attributes_to_retrieve(Selectors::Some(retrieve))
                .with_locales(QUERY_LOCALES);
            if let Some(filter) = filter {
                search.with_filter(filter);
            }
            if !sort.is_empty() {
                search.with_sort(&sort);
            }
            multi.with_search_query(search.build());
        }
        let federation = FederationOptions {
            offset: Some(0),
            limit: Some(limit),
            // Merged facets: one index, and the sdk reads `facetDistribution` (its type for the
            // per-index form does not match the server's).
            facets_by_index: facets.then(|| HashMap::from([(self.uid.clone(), vec!["kind".to_owned(), "category".to_owned()])])),
            merge_facets: facets.then(MergeFacets::default),
            show_performance_details: None,
        };
        let federated = multi.with_federation(federation);
        let response = self
            .client
            .execute_federated_multi_search_query::<Map<String, Value>>(&federated)
            .await
            .map_err(|e| self.fail("searching", e))?;
        let read = response.hits.len();
        let hits = response
            .hits
            .into_iter()
            .map(|hit| Candidate::read(hit.result, hit.federation.map_or(0.0, |f| f.weighted_ranking_score)))
            .collect();
        Ok(Candidates {
            hits,
            read,
            estimated: response.estimated_total_hits,
            distribution: response.facet_distribution.unwrap_or_default(),
        })
    }

    /// Candidates for a page, narrowed: reads `(offset + limit) × 4` (at least `MIN_CANDIDATES`),
    /// four times more while the page is short and Meilisearch has more, at most `MAX_CANDIDATES`.
    async fn narrowed(&self, q: &IndexQuery, queries: &[MeiliQuery], narrowing: &Narrowing, facets: bool) -> Result<Narrowed> {
        let filter = query::filter(q, true);
        let sort = query::sort(q);
        let needed = q.offset.saturating_add(q.limit);
        let mut window = needed.saturating_mul(4).clamp(MIN_CANDIDATES, MAX_CANDIDATES);
        loop {
            let page = self.federated(queries, filter.as_deref(), sort, window, facets, RETRIEVED).await?;
            let narrowed = Narrowed::new(page, window, narrowing);
            if narrowed.kept.len() >= needed || narrowed.exhausted || window >= MAX_CANDIDATES {
                return Ok(narrowed);
            }
            window = window.saturating_mul(4).min(MAX_CANDIDATES);
        }
    }

    async fn search(&self, q: &IndexQuery) -> Result<IndexResults> {
        let queries = query::queries(&q.plan);
        let narrowing = Narrowing::new(&q.plan);
        // Without kind or category filters the page's own candidates give the facets.
        let facets_in_page = q.facets && q.kinds.is_empty() && q.categories.is_empty();
        let mut page = self.narrowed(q, &queries, &narrowing, facets_in_page).await?;
        let facets = if !q.facets {
            Facets::default()
        } else if facets_in_page {
            page.facets()
        } else {
            let window = q.offset.saturating_add(q.limit).saturating_mul(4).clamp(MIN_CANDIDATES, MAX_CANDIDATES);
            let filter = query::filter(q, false);
            let all = self.federated(&queries, filter.as_deref(), query::sort(q), window, true, RETRIEVED_FOR_FACETS).await?;
            Narrowed::new(all, window, &narrowing).facets()
        };
        // Meilisearch sorts the merged candidates; sorting again (stable) only guards the order
        // the trait promises should a server merge federated queries by score alone.
        match query::sort(q) {
            Some("published_at:desc") => page.kept.sort_by_key(|c| std::cmp::Reverse(c.doc.as_ref().map_or(0, |d| d.published_at))),
            Some("popularity:desc") => page.kept.sort_by_key(|c| std::cmp::Reverse(c.doc.as_ref().map_or(0, |d| d.popularity))),
            Some("live:desc") => page.kept.sort_by_key(|c| std::cmp::Reverse(c.doc.as_ref().is_some_and(|d| d.live))),
            _ => {}
        }
        let total = page.total();
        let hits = page
            .kept
            .into_iter()
            .filter_map(|c| {
                let doc = c.doc?;
                let score = match q.sort {
                    Sort::Relevance => c.score,
                    Sort::Newest => doc.published_at as f32,
                    Sort::Popular => doc.popularity as f32,
                };
                Some(IndexHit { doc, score })
            })
            .skip(q.offset)
            .take(q.limit)
            .collect();
        Ok(IndexResults { hits, total: q.count.then_some(total), facets })
    }
}

/// One candidate Meilisearch returned.
struct Candidate {
    /// `None` for the bookkeeping document or anything else that is not a Kanjian document.
    key: Option<DocKey>,
    /// The whole document (the facet pass reads only what it counts).
    doc: Option<SearchDocument>,
    kind: Option<DocKind>,
    category: Option<String>,
    folded_title: String,
    folded_body: String,
    score: f32,
}

impl Candidate {
    fn read(mut fields: Map<String, Value>, score: f32) -> Self {
        let text = |fields: &mut Map<String, Value>, name: &str| match fields.remove(name) {
            Some(Value::String(s)) => s,
            _ => String::new(),
        };
        let folded_title = text(&mut fields, "folded_title");
        let folded_body = text(&mut fields, "folded_body");
        let key = fields.get(PRIMARY_KEY).and_then(Value::as_str).and_then(DocKey::decode);
        let kind = fields.get("kind").cloned().and_then(|k| serde_json::from_value::<DocKind>(k).ok());
        let category = fields.get("category").and_then(Value::as_str).map(str::to_owned);
        let doc = key.and_then(|_| serde_json::from_value::<SearchDocument>(Value::Object(fields)).ok());
        Self { key, doc, kind, category, folded_title, folded_body, score }
    }
}

struct Candidates {
    hits: Vec<Candidate>,
    read: usize,
    estimated: usize,
    distribution: HashMap<String, HashMap<String, usize>>,
}

/// Candidates after narrowing.
struct Narrowed {
    kept: Vec<Candidate>,
    dropped: Vec<Candidate>,
    /// Every candidate was read: counts are exact.
    exhausted: bool,
    estimated: usize,
    distribution: HashMap<String, HashMap<String, usize>>,
}

impl Narrowed {
    fn new(page: Candidates, window: usize, narrowing: &Narrowing) -> Self {
        let exhausted = page.read < window;
        let (kept, dropped): (Vec<Candidate>, Vec<Candidate>) = page
            .hits
            .into_iter()
            .partition(|c| c.key.is_some() && narrowing.keeps(&c.folded_title, &c.folded_body));
        Self { kept, dropped, exhausted, estimated: page.estimated, distribution: page.distribution }
    }

    /// Exact when every candidate was read; otherwise Meilisearch's count minus the candidates
    /// the narrowing dropped (an estimate).
    fn total(&self) -> u64 {
        let kept = self.kept.len();
        let total = if self.exhausted { kept } else { self.estimated.saturating_sub(self.dropped.len()).max(kept) };
        total as u64
    }

    fn facets(&self) -> Facets {
        let mut kinds: BTreeMap<DocKind, u64> = BTreeMap::new();
        let mut categories: BTreeMap<String, u64> = BTreeMap::new();
        if self.exhausted {
            for c in &self.kept {
                if let Some(kind) = c.kind {
                    *kinds.entry(kind).or_default() += 1;
                }
                if let Some(category) = &c.category {
                    *categories.entry(category.clone()).or_default() += 1;
                }
            }
        } else {
            let counts = |name: &str| self.distribution.get(name).cloned().unwrap_or_default();
            for (value, n) in counts("kind") {
                if let Ok(kind) = serde_json::from_value::<DocKind>(Value::String(value)) {
                    let dropped = self.dropped.iter().filter(|c| c.kind == Some(kind)).count();
                    kinds.insert(kind, n.saturating_sub(dropped) as u64);
                }
            }
            for (value, n) in counts("category") {
                let dropped = self.dropped.iter().filter(|c| c.category.as_deref() == Some(value.as_str())).count();
                categories.insert(value, n.saturating_sub(dropped) as u64);
            }
        }
        let kinds = kinds.into_iter().filter(|(_, n)| *n > 0).collect();
        let mut categories: Vec<(String, u64)> = categories.into_iter().filter(|(_, n)| *n > 0).collect();
        categories.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        categories.truncate(MAX_CATEGORY_FACETS);
        Facets { kinds, categories }
    }
}

/// The net effect of changes in order: the last change of each key wins.
fn net(changes: Vec<Change>) -> (Vec<SearchDocument>, Vec<String>) {
    let mut last: BTreeMap<DocKey, Option<SearchDocument>> = BTreeMap::new();
    for change in changes {
        match change {
            Change::Upsert(doc) => {
                last.insert(doc.key(), Some(doc));
            }
            Change::Delete(key) => {
                last.insert(key, None);
            }
        }
    }
    let mut upserts = Vec::new();
    let mut deletes = Vec::new();
    for (key, doc) in last {
        match doc {
            Some(doc) => upserts.push(doc),
            None => deletes.push(key.encode()),
        }
    }
    (upserts, deletes)
}

#[async_trait]
impl<H: HttpClient + 'static> SearchIndex for MeilisearchIndex<H> {
    fn engine(&self) -> &'static str {
        "meilisearch"
    }

    async fn apply(&self, changes: Vec<Change>, through: i64) -> Result<()> {
        self.prepare().await?;
        let this = &self.inner;
        let what = "applying changes to the search index";
        let (upserts, deletes) = net(changes);
        let docs = this.prepare_documents(upserts, what).await?;
        if !deletes.is_empty() {
            let task = this.client.index(&this.uid).delete_documents(&deletes).await;
            this.succeed(task, what).await?;
        }
        this.send_documents(&this.uid, docs, Some(through), what).await
    }

    async fn applied_through(&self) -> Result<i64> {
        self.prepare().await?;
        let this = &self.inner;
        let what = "reading where the search index is";
        match this.client.index(&this.uid).get_document::<Value>(MARKER_KEY).await {
            Ok(marker) => marker
                .get("through")
                .and_then(Value::as_i64)
                .ok_or_else(|| this.fail(what, "the bookkeeping document has no `through`")),
            Err(e) if matches!(code_of(&e), Some(ErrorCode::DocumentNotFound | ErrorCode::IndexNotFound)) => Ok(0),
            Err(e) => Err(this.fail(what, e)),
        }
    }

    async fn search(&self, query: &IndexQuery) -> Result<IndexResults> {
        self.prepare().await?;
        self.inner.search(query).await
    }

    async fn count(&self) -> Result<u64> {
        self.prepare().await?;
        let this = &self.inner;
        let stats = this.get_json(&format!("/indexes/{}/stats", this.uid), "counting the search index").await?;
        let documents = stats.get("numberOfDocuments").and_then(Value::as_u64).unwrap_or(0);
        // The bookkeeping document is the one with a `through` field.
        let markers = stats.pointer("/fieldDistribution/through").and_then(Value::as_u64).unwrap_or(0);
        Ok(documents.saturating_sub(markers))
    }

    async fn rebuild(&self) -> Result<Box<dyn Rebuild>> {
        self.prepare().await?;
        let this = &self.inner;
        let target = format!("{}_rebuild", this.uid);
        // A rebuild that died half-way left its copy: start afresh.
        this.delete_index(&target, "removing an unfinished search index rebuild").await?;
        this.ensure_index(&target).await?;
        Ok(Box::new(MeilisearchRebuild { index: self.clone(), target }))
    }
}

/// `<uid>_rebuild` being filled.
struct MeilisearchRebuild<H: HttpClient> {
    index: MeilisearchIndex<H>,
    target: String,
}

#[async_trait]
impl<H: HttpClient + 'static> Rebuild for MeilisearchRebuild<H> {
    async fn add(&mut self, docs: Vec<SearchDocument>) -> Result<()> {
        let this = &self.index.inner;
        let what = "adding to the rebuilt search index";
        let docs = this.prepare_documents(docs, what).await?;
        this.send_documents(&self.target, docs, None, what).await
    }

    async fn finish(self: Box<Self>, through: i64) -> Result<()> {
        let this = &self.index.inner;
        this.send_documents(&self.target, Vec::new(), Some(through), "finishing the rebuilt search index").await?;
        let swap = SwapIndexes { indexes: (this.uid.clone(), self.target.clone()), rename: None };
        let task = this.client.swap_indexes([&swap]).await;
        this.succeed(task, "swapping in the rebuilt search index").await?;
        // The old copy now has the rebuild's name; the new one already serves.
        if let Err(e) = this.delete_index(&self.target, "removing the replaced search index").await {
            tracing::warn!(error = %e, index = %self.target, "could not remove the replaced search index");
        }
        Ok(())
    }
}
