//! (`--only search`) Search through the whole server: a seeded corpus of Chinese titles written
//! into search's documents, `kanjian reindex` (timed: the real path, JSON to index), then
//! `search` and `searchSuggestions` over GraphQL from concurrent clients, per query type, beside
//! a no-op actix-web endpoint loaded the same way in the same run; and how long a change takes
//! from its mutation to being found (a room scheduled, then searched until it appears).
//!
//! The engine alone, beside Meilisearch's engine, is `scripts/bench/search` (its own package).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use hdrhistogram::Histogram;
use kanjian_search::analysis::Analyzer;
use kanjian_search::index::{DocKind, SearchDocument};
use sea_orm::{ConnectionTrait, Database, Statement, Value as SqlValue};
use serde_json::json;

use crate::api::Api;
use crate::report::{Table, ms, per_sec, ratio};
use crate::servers::{self, spawn_kanjian, spawn_noop};

#[path = "../search/src/corpus.rs"]
mod corpus;

use corpus::QueryKind;

pub struct SearchSettings {
    pub docs: usize,
    pub queries: usize,
    pub concurrency: usize,
    pub rooms: usize,
    pub workers: usize,
    pub noop: PathBuf,
}

/// A search box's page: no total (a results page shows none; `totalCount` would count every match).
const SEARCH: &str = "query($q: String!) { search(query: $q, first: 20) { pageInfo { hasNextPage endCursor } edges { node { kind title highlights { start end } } } } }";
const SUGGEST: &str = "query($q: String!) { searchSuggestions(text: $q, first: 8) { text highlights { start end } } }";

pub async fn run(s: &SearchSettings, kanjian_bin: &Path, work: &Path) -> Result<(Vec<Table>, Vec<String>)> {
    let data = work.join("search");
    let status = servers::kanjian_command(kanjian_bin, &data, None)?
        .arg("migrate")
        .env("KANJIAN_LOG__FILTER", "warn")
        .status()
        .context("kanjian migrate")?;
    if !status.success() {
        bail!("kanjian migrate failed");
    }
    println!("==> search: writing {} documents", s.docs);
    let docs = corpus::titles(s.docs, 16)?;
    write_documents(&data.join("kanjian.sqlite"), &docs).await?;

    println!("==> search: kanjian reindex");
    let started = Instant::now();
    let out = servers::kanjian_command(kanjian_bin, &data, None)?
        .arg("reindex")
        .env("KANJIAN_LOG__FILTER", "warn")
        .output()
        .context("kanjian reindex")?;
    let reindex_secs = started.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("kanjian reindex failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let index_bytes = dir_size(&data.join("search"))?;

    let mut kanjian = spawn_kanjian(kanjian_bin, &data, None, &work.join("search-kanjian.log"), s.workers, 1, &[])?;
    let mut noop = spawn_noop(&s.noop, &work.join("search-noop.log"), s.workers)?;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
    kanjian.wait_ready(&http, "/readyz", Duration::from_secs(120)).await?;
    noop.wait_ready(&http, "/readyz", Duration::from_secs(30)).await?;

    let analyzer = Analyzer::new()?;
    let folded: Vec<String> = docs.iter().map(|d| analyzer.fold(&d.title).as_string()).collect();
    let mut table = Table::new(
        format!("Search through GraphQL, {} titles (SQLite), {} concurrent clients", s.docs, s.concurrency),
        &["query type", "p50", "p99", "req/s", "no-op p99", "p99 ÷ no-op p99"],
    );
    let noop_result = load(&http, &noop.url("/"), None, &vec!["x".to_owned(); s.queries], s.concurrency).await?;
    for kind in QueryKind::ALL {
        let queries = corpus::queries(kind, s.queries, &folded, 16);
        let query = if kind.suggest() { SUGGEST } else { SEARCH };
        let result = load(&http, &kanjian.url("/graphql"), Some(query), &queries, s.concurrency).await?;
        table.row(vec![
            format!("{} (`{}`…)", kind.name(), queries.first().map(String::as_str).unwrap_or("")),
            ms(result.p50_ms),
            ms(result.p99_ms),
            per_sec(result.per_sec),
            ms(noop_result.p99_ms),
            ratio(result.p99_ms, noop_result.p99_ms),
        ]);
    }
    table.note(format!(
        "kanjian reindex: {} documents in {:.1} s ({:.0} docs/s, JSON from the database to a committed index); index {:.1} MB",
        s.docs,
        reindex_secs,
        s.docs as f64 / reindex_secs,
        index_bytes as f64 / 1e6
    ));

    let lag = change_to_found(&Api::new(kanjian.url(""))?, s.rooms).await?;
    table.note(format!(
        "a change to searchable (a room scheduled over GraphQL, then searched every 10 ms until found), {} rooms: p50 {} ms, p99 {} ms, max {} ms",
        s.rooms,
        lag.value_at_quantile(0.5),
        lag.value_at_quantile(0.99),
        lag.max()
    ));
    kanjian.stop();
    noop.stop();
    let lines = vec![format!("search: {} titles of the seeded corpus (seed 16), {} queries of each type, {} clients", s.docs, s.queries, s.concurrency)];
    Ok((vec![table], lines))
}

/// The corpus as search's documents (videos), numbered 1.. in the change sequence.
async fn write_documents(sqlite: &Path, docs: &[corpus::Doc]) -> Result<()> {
    let db = Database::connect(format!("sqlite://{}?mode=rw", sqlite.display())).await.context("opening the database")?;
    let backend = db.get_database_backend();
    db.execute_unprepared("BEGIN").await?;
    for chunk in docs.chunks(500) {
        let mut sql = String::from("INSERT INTO search_documents (kind, doc_id, version, visible, deleted, document, seq, changed_at) VALUES ");
        let mut values: Vec<SqlValue> = Vec::with_capacity(chunk.len() * 8);
        for (i, doc) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str("(?, ?, 1, 1, 0, ?, ?, 0)");
            let id = i64::from(doc.id) + 1;
            let document = SearchDocument {
                kind: DocKind::Video,
                id,
                title: doc.title.clone(),
                body: String::new(),
                owner_id: 1,
                channel_id: Some(1),
                category: None,
                price: None,
                popularity: id % 1000,
                published_at: 1_700_000_000_000 + id * 1000,
                live: false,
            };
            values.extend([
                SqlValue::from("v"),
                SqlValue::from(id),
                SqlValue::from(serde_json::to_string(&document)?),
                SqlValue::from(id),
            ]);
        }
        db.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    }
    db.execute_unprepared(&format!("UPDATE search_sequence SET last = {} WHERE id = 1", docs.len())).await?;
    db.execute_unprepared("COMMIT").await?;
    db.close().await?;
    Ok(())
}

struct LoadResult {
    p50_ms: f64,
    p99_ms: f64,
    per_sec: f64,
}

/// `concurrency` clients, each sending its share of `queries` (3 passes, the first a warm-up),
/// one request at a time. With `query`, a GraphQL POST whose answer must have no errors; else a
/// bare POST (the no-op endpoint).
async fn load(http: &reqwest::Client, url: &str, query: Option<&str>, queries: &[String], concurrency: usize) -> Result<LoadResult> {
    let queries = Arc::new(queries.to_vec());
    let run = |measured: bool| {
        let mut tasks = Vec::new();
        for c in 0..concurrency {
            let (http, url, queries, query) = (http.clone(), url.to_owned(), queries.clone(), query.map(str::to_owned));
            tasks.push(tokio::spawn(async move {
                let mut histogram = Histogram::<u64>::new(3)?;
                for q in queries.iter().skip(c).step_by(concurrency) {
                    let started = Instant::now();
                    let response = match &query {
                        Some(query) => http.post(&url).json(&json!({ "query": query, "variables": { "q": q } })).send().await?,
                        None => http.post(&url).body("{}").send().await?,
                    };
                    let body = response.text().await?;
                    if query.is_some() && body.contains("\"errors\"") {
                        bail!("search answered an error for {q:?}: {body}");
                    }
                    if measured {
                        histogram.record(started.elapsed().as_micros().max(1) as u64)?;
                    }
                }
                Ok::<_, anyhow::Error>(histogram)
            }));
        }
        tasks
    };
    for task in run(false) {
        task.await??;
    }
    let started = Instant::now();
    let mut all = Histogram::<u64>::new(3)?;
    for _ in 0..2 {
        for task in run(true) {
            all.add(task.await??)?;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(LoadResult {
        p50_ms: all.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: all.value_at_quantile(0.99) as f64 / 1000.0,
        per_sec: all.len() as f64 / elapsed,
    })
}

/// Schedules `rooms` live rooms one after another and times each from its mutation's answer to
/// the first search that finds it, in ms.
async fn change_to_found(api: &Api, rooms: usize) -> Result<Histogram<u64>> {
    let token = api.creator("searchlag").await?;
    let mut lag = Histogram::<u64>::new(3)?;
    for i in 0..rooms {
        let title = format!("延迟探针直播 {i:05}");
        api.data(Some(&token), "mutation($t: String!) { scheduleLive(input: {title: $t}) { liveRoom { id } } }", json!({ "t": title }))
            .await?;
        let changed = Instant::now();
        loop {
            let found = api.data(None, "query($q: String!) { search(query: $q, kinds: [LIVE_ROOM]) { totalCount } }", json!({ "q": title })).await?;
            if found["search"]["totalCount"].as_u64().unwrap_or(0) >= 1 {
                lag.record(changed.elapsed().as_millis().max(1) as u64)?;
                break;
            }
            if changed.elapsed() > Duration::from_secs(60) {
                bail!("{title:?} was not searchable after 60 s");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Ok(lag)
}

fn dir_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() { dir_size(&entry.path())? } else { meta.len() };
    }
    Ok(total)
}
