//! The Meilisearch adapter (`index::meilisearch`), tested three ways:
//! - against **recorded Meilisearch exchanges** (`tests/meilisearch/*.json`): a replaying
//!   `HttpClient` serves them in order and fails the test on any request that was not
//!   expected, or whose method, path or body differs from the recording. Each exchange names
//!   the Meilisearch API reference page and the Meilisearch source (its own HTTP tests, which
//!   snapshot real responses) its shape comes from;
//! - its hyper client against a socket that answers like Meilisearch (headers, errors,
//!   timeouts, the API key kept out of messages);
//! - the whole Chinese case suite against a **real Meilisearch** when `MEILI_URL` is set
//!   (`MEILI_MASTER_KEY` too if it needs one); otherwise that test says it skipped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use kanjian_kernel::Error;
use kanjian_search::analysis::Analyzer;
use kanjian_search::index::meilisearch::query::{MAX_QUERY_WORDS, queries};
use kanjian_search::index::meilisearch::terms::{TokenKind, document_terms, prefix_token, token};
use kanjian_search::index::meilisearch::{HyperClient, MeilisearchIndex};
use kanjian_search::index::{Change, DocKey, DocKind, IndexQuery, SearchDocument, SearchIndex, Sort};
use meilisearch_sdk::errors::Error as SdkError;
use meilisearch_sdk::request::{HttpClient, Method, parse_response};
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

const BASE: &str = "http://meili.test:7700";
const API_KEY: &str = "kanjian-master-key-7f3a9c";

fn analyzer() -> Arc<Analyzer> {
    static ANALYZER: OnceLock<Arc<Analyzer>> = OnceLock::new();
    ANALYZER.get_or_init(|| Arc::new(Analyzer::new().unwrap())).clone()
}

// ---------------------------------------------------------------------------------------------
// The replaying client.

/// One recorded exchange.
#[derive(Debug, Clone, Deserialize)]
struct Exchange {
    /// Why the adapter sends it.
    note: String,
    /// Where its shape comes from (API reference page; Meilisearch's own test of the route).
    source: String,
    request: RecordedRequest,
    response: RecordedResponse,
}

#[derive(Debug, Clone, Deserialize)]
struct RecordedRequest {
    method: String,
    /// Path and query, after the server's address.
    path: String,
    /// The exact body.
    body: Option<Value>,
    /// Or the parts of it that matter: every member given must be there with this value.
    body_contains: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
struct RecordedResponse {
    status: u16,
    body: Value,
}

#[derive(Debug, Deserialize)]
struct Recording {
    #[allow(dead_code)]
    about: String,
    exchanges: Vec<Exchange>,
}

#[derive(Default)]
struct ReplayState {
    expected: VecDeque<(String, Exchange)>,
    failures: Vec<String>,
    served: usize,
}

/// Serves recorded exchanges in order; anything else is a failure, reported by `finish`.
#[derive(Clone, Default)]
struct Replay {
    state: Arc<Mutex<ReplayState>>,
}

impl Replay {
    /// The exchanges of these recordings, one after the other.
    fn load(files: &[&str]) -> Self {
        let mut state = ReplayState::default();
        for file in files {
            let path = format!("{}/tests/meilisearch/{file}.json", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            let recording: Recording = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
            for exchange in recording.exchanges {
                assert!(!exchange.source.is_empty() && !exchange.note.is_empty(), "{file}: every exchange says why and where from");
                state.expected.push_back((file.to_string(), exchange));
            }
        }
        Self { state: Arc::new(Mutex::new(state)) }
    }

    /// Every exchange was served and nothing else was asked.
    fn finish(&self) {
        let state = self.state.lock().unwrap();
        assert!(state.failures.is_empty(), "unexpected requests:\n{}", state.failures.join("\n\n"));
        let left: Vec<String> =
            state.expected.iter().map(|(file, e)| format!("{file}: {} {} ({})", e.request.method, e.request.path, e.note)).collect();
        assert!(left.is_empty(), "{} recorded exchanges were never asked for:\n{}", left.len(), left.join("\n"));
    }

    fn serve(&self, url: &str, method: &str, body: Option<Value>) -> Result<(u16, String), String> {
        let mut state = self.state.lock().unwrap();
        let path = url.strip_prefix(BASE).unwrap_or(url).to_owned();
        let Some((file, exchange)) = state.expected.pop_front() else {
            let failure = format!("{method} {path} after the last recorded exchange, body {}", pretty(&body));
            state.failures.push(failure.clone());
            return Err(failure);
        };
        let served = state.served;
        state.served += 1;
        let mut problems = Vec::new();
        if exchange.request.method != method || exchange.request.path != path {
            problems.push(format!("asked {method} {path}, recorded {} {}", exchange.request.method, exchange.request.path));
        }
        match (&exchange.request.body, &exchange.request.body_contains, &body) {
            (Some(want), _, Some(got)) => {
                if want != got {
                    problems.push(format!("body differs:\n{}", diff(want, got, "")));
                }
            }
            (None, Some(want), Some(got)) => {
                if !contains(got, want) {
                    problems.push(format!("body lacks recorded parts:\n{}", diff(want, got, "")));
                }
            }
            (None, None, Some(_)) => problems.push("a body, none recorded".to_owned()),
            (Some(_), _, None) | (None, Some(_), None) => problems.push("no body, one was recorded".to_owned()),
            (None, None, None) => {}
        }
        if !problems.is_empty() {
            let failure = format!(
                "exchange #{served} ({file}: {}): {}\nthe request's body: {}",
                exchange.note,
                problems.join("; "),
                pretty(&body)
            );
            state.failures.push(failure.clone());
            return Err(failure);
        }
        Ok((exchange.response.status, exchange.response.body.to_string()))
    }
}

fn pretty(v: &Option<Value>) -> String {
    v.as_ref().map_or("(none)".to_owned(), |v| serde_json::to_string_pretty(v).unwrap())
}

/// Every member of `want` is in `got` with the same value (recursively for objects).
fn contains(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => w.iter().all(|(k, v)| g.get(k).is_some_and(|g| contains(g, v))),
        (g, w) => g == w,
    }
}

/// Where two JSON values differ, one line per path.
fn diff(want: &Value, got: &Value, at: &str) -> String {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            let mut out = String::new();
            for (k, v) in w {
                match g.get(k) {
                    Some(gv) if gv == v => {}
                    Some(gv) => out.push_str(&diff(v, gv, &format!("{at}.{k}"))),
                    None => out.push_str(&format!("{at}.{k}: missing (recorded {v})\n")),
                }
            }
            for k in g.keys().filter(|k| !w.contains_key(*k)) {
                out.push_str(&format!("{at}.{k}: not recorded ({})\n", g[k]));
            }
            out
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            w.iter().zip(g).enumerate().filter(|(_, (w, g))| w != g).map(|(i, (w, g))| diff(w, g, &format!("{at}[{i}]"))).collect()
        }
        _ => format!("{at}: recorded {want}, sent {got}\n"),
    }
}

fn verb<Q, B>(method: &Method<Q, B>) -> &'static str {
    match method {
        Method::Get { .. } => "GET",
        Method::Post { .. } => "POST",
        Method::Patch { .. } => "PATCH",
        Method::Put { .. } => "PUT",
        Method::Delete { .. } => "DELETE",
    }
}

#[async_trait]
impl HttpClient for Replay {
    async fn request<Query, Body, Output>(
        &self,
        url: &str,
        method: Method<Query, Body>,
        expected_status_code: u16,
    ) -> Result<Output, SdkError>
    where
        Query: Serialize + Send + Sync,
        Body: Serialize + Send + Sync,
        Output: DeserializeOwned + 'static + Send,
    {
        let url = kanjian_search::index::meilisearch::http::with_query(url, method.query())?;
        let body = method.body().map(|b| serde_json::to_value(b).unwrap());
        match self.serve(&url, verb(&method), body) {
            Ok((status, text)) => parse_response(status, expected_status_code, &text, url),
            Err(failure) => Err(SdkError::Other(failure.into())),
        }
    }

    async fn stream_request<Query, Body, Output>(
        &self,
        url: &str,
        _method: Method<Query, Body>,
        _content_type: &str,
        _expected_status_code: u16,
    ) -> Result<Output, SdkError>
    where
        Query: Serialize + Send + Sync,
        Body: Send + Sync + 'static,
        Output: DeserializeOwned + 'static,
    {
        let failure = format!("a streamed request to {url}: the adapter sends JSON only");
        self.state.lock().unwrap().failures.push(failure.clone());
        Err(SdkError::Other(failure.into()))
    }

    fn is_tokio(&self) -> bool {
        true
    }
}

fn index(replay: &Replay) -> MeilisearchIndex<Replay> {
    MeilisearchIndex::new(BASE, Some(API_KEY.to_owned()), "kanjian", analyzer(), replay.clone()).unwrap()
}

/// An error with its causes, as logs print it.
fn chain(e: &Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

fn doc(kind: DocKind, id: i64, title: &str) -> SearchDocument {
    SearchDocument {
        kind,
        id,
        title: title.to_owned(),
        body: String::new(),
        owner_id: 1,
        channel_id: None,
        category: None,
        price: None,
        popularity: 0,
        published_at: 0,
        live: false,
    }
}

fn query(plan: kanjian_search::analysis::QueryPlan) -> IndexQuery {
    IndexQuery { count: true, ..IndexQuery::new(plan, 10) }
}

fn titles(results: &kanjian_search::index::IndexResults) -> Vec<&str> {
    results.hits.iter().map(|h| h.doc.title.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// Tokens and queries (no server).

#[test]
fn tokens_are_kind_hex_code_points_and_a_terminator() {
    assert_eq!(token(TokenKind::Unigram, &["农"]).unwrap(), "g1x519cz");
    assert_eq!(token(TokenKind::Bigram, &["农业"]).unwrap(), "g2x519cx4e1az");
    assert_eq!(token(TokenKind::Latin, &["15"]).unwrap(), "l1x31x35z");
    assert_eq!(token(TokenKind::ReadingPair, &["chang", "da"]).unwrap(), "p2chang1da0");
    assert_eq!(token(TokenKind::Initials, &["zgyh"]).unwrap(), "i1zgyh0");
    assert_eq!(prefix_token(TokenKind::Latin, &["iph"]).unwrap(), "l1x69x70x68");
    assert_eq!(prefix_token(TokenKind::ReadingPair, &["guo", "y"]).unwrap(), "p2guo1y");
    // A supplementary-plane character keeps its whole code point.
    assert_eq!(token(TokenKind::Unigram, &["𨨏"]).unwrap(), "g1x28a0fz");
    // The terminator is nowhere else: no token is the prefix of another.
    let t = token(TokenKind::Bigram, &["农业"]).unwrap();
    assert_eq!((t.matches('z').count(), t.ends_with('z')), (1, true));
    let t = token(TokenKind::ReadingPair, &["zhuang", "zhuang"]).unwrap();
    assert_eq!((t.matches('0').count(), t.ends_with('0')), (1, true));
    // Pinyin and initials are letters only.
    assert!(token(TokenKind::Reading, &["lü"]).is_none());
    // Too long to index: neither indexed nor asked for.
    assert!(token(TokenKind::Latin, &["a".repeat(80).as_str()]).is_none());
}

#[test]
fn a_document_carries_every_reading_of_adjacent_characters() {
    let terms = document_terms(&analyzer().analyze("孩子長大了"));
    let tokens: Vec<&str> = terms.split(' ').collect();
    for (kind, parts) in [
        (TokenKind::Unigram, vec!["长"]),
        (TokenKind::Bigram, vec!["长大"]),
        (TokenKind::Reading, vec!["chang"]),
        (TokenKind::Reading, vec!["zhang"]),
        (TokenKind::ReadingPair, vec!["chang", "da"]),
        (TokenKind::ReadingPair, vec!["zhang", "da"]),
        (TokenKind::Initials, vec!["zd"]),
        (TokenKind::Initials, vec!["cd"]),
    ] {
        let t = token(kind, &parts).unwrap();
        assert!(tokens.contains(&t.as_str()), "{parts:?} ({t}) missing from {terms}");
    }
    // Folded: the traditional 長 is indexed as 长.
    assert!(!tokens.contains(&token(TokenKind::Unigram, &["長"]).unwrap().as_str()));
    let mut sorted = tokens.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), tokens.len(), "each token once");
}

#[test]
fn the_longest_body_stays_within_what_meilisearch_indexes() {
    // Meilisearch indexes at most 65,536 word positions per attribute
    // (`milli::MAX_POSITION_PER_ATTRIBUTE`) and words of at most 255 bytes: a body of
    // MAX_BODY_CHARS distinct-ish characters (every title of the case suite, repeated) must fit.
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases/chinese.toml")).unwrap();
    let suite = toml::from_str::<Suite>(&text).unwrap();
    let all: String = suite.case.iter().flat_map(|c| c.documents.iter()).flat_map(|d| d.chars()).collect();
    let body: String = all.chars().cycle().take(kanjian_search::index::document::MAX_BODY_CHARS).collect();
    let terms = document_terms(&analyzer().analyze(&body));
    let count = terms.split(' ').count();
    assert!(count < 65_536, "{count} tokens");
    assert!(terms.split(' ').all(|t| t.len() <= 255));
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for t in terms.split(' ') {
        *by_kind.entry(&t[..2]).or_default() += 1;
    }
    eprintln!("a {}-character body: {count} tokens ({by_kind:?}), {} bytes", body.chars().count(), terms.len());
}

#[test]
fn a_latin_run_becomes_one_query_per_alternative() {
    let plan = analyzer().plan("changda", false).unwrap();
    let all = queries(&plan);
    let qs: Vec<&str> = all.iter().map(|q| q.q.as_str()).collect();
    // As a word, exactly and with typos (7 letters: one), as pinyin of two characters.
    assert!(qs.contains(&format!("{} ", token(TokenKind::Latin, &["changda"]).unwrap()).as_str()), "{qs:?}");
    assert!(all.iter().any(|q| q.typo && q.q == "changda "), "{qs:?}");
    assert!(qs.contains(&format!("{} ", token(TokenKind::ReadingPair, &["chang", "da"]).unwrap()).as_str()), "{qs:?}");
    // A suggestion asks for the unfinished syllable as a prefix, last, with no trailing space.
    let plan = analyzer().plan("zhongguoy", true).unwrap();
    let qs: Vec<String> = queries(&plan).into_iter().map(|q| q.q).collect();
    let expected = format!(
        "{} {}",
        token(TokenKind::ReadingPair, &["zhong", "guo"]).unwrap(),
        prefix_token(TokenKind::ReadingPair, &["guo", "y"]).unwrap()
    );
    assert!(qs.contains(&expected), "{expected} not in {qs:?}");
}

#[test]
fn long_queries_stay_within_what_meilisearch_reads() {
    let plan = analyzer().plan("中华人民共和国国务院新闻办公室举行新闻发布会介绍情况", false).unwrap();
    for q in queries(&plan) {
        assert!(q.q.split_whitespace().count() <= MAX_QUERY_WORDS, "{}", q.q);
    }
    // Many Latin runs: the combinations stay bounded, the runs left out are narrowed.
    let plan = analyzer().plan("xian fangan changan xian fangan", false).unwrap();
    assert!(queries(&plan).len() <= kanjian_search::index::meilisearch::query::MAX_QUERIES);
}

// ---------------------------------------------------------------------------------------------
// Recorded exchanges.

#[tokio::test]
async fn first_use_creates_the_index_with_chinese_settings() {
    let replay = Replay::load(&["first_use"]);
    let index = index(&replay);
    // A brand-new server: nothing applied yet.
    assert_eq!(index.applied_through().await.unwrap(), 0);
    replay.finish();
}

#[tokio::test]
async fn settings_already_there_are_not_sent_again() {
    let replay = Replay::load(&["ready", "count_empty"]);
    let index = index(&replay);
    index.prepare().await.unwrap();
    // Once per process: no second look.
    index.prepare().await.unwrap();
    assert_eq!(index.count().await.unwrap(), 0);
    replay.finish();
}

#[tokio::test]
async fn changes_and_their_sequence_are_written_together() {
    let replay = Replay::load(&["ready", "apply"]);
    let index = index(&replay);
    let changes = vec![
        Change::Upsert(doc(DocKind::Video, 1, "农业银行")),
        Change::Upsert(doc(DocKind::Video, 2, "旧标题")),
        Change::Delete(DocKey::new(DocKind::Video, 2)),
        Change::Delete(DocKey::new(DocKind::Video, 9)),
    ];
    index.apply(changes, 42).await.unwrap();
    assert_eq!(index.applied_through().await.unwrap(), 42);
    // The bookkeeping document is not counted.
    assert_eq!(index.count().await.unwrap(), 1);
    replay.finish();
}

#[tokio::test]
async fn a_document_the_index_refuses_sends_nothing() {
    let replay = Replay::load(&["ready"]);
    let index = index(&replay);
    let e = index.apply(vec![Change::Upsert(doc(DocKind::Video, 3, "  "))], 45).await.unwrap_err();
    assert!(chain(&e).contains("the title of v-3 is empty"), "{}", chain(&e));
    replay.finish();
}

#[tokio::test]
async fn a_failed_task_is_an_error_and_the_sequence_stays() {
    let replay = Replay::load(&["ready", "task_failed"]);
    let index = index(&replay);
    let e = index.apply(vec![Change::Upsert(doc(DocKind::Video, 5, "本田雅阁"))], 43).await.unwrap_err();
    assert!(matches!(e, Error::Internal(_)));
    let text = chain(&e);
    assert!(text.contains("database_size_limit_reached") && text.contains("task 5 failed"), "{text}");
    assert!(text.contains("applying changes"), "{text}");
    assert!(!text.contains(API_KEY), "{text}");
    assert_eq!(index.applied_through().await.unwrap(), 41);
    replay.finish();
}

#[tokio::test]
async fn a_failed_deletion_stops_the_batch_before_the_marker() {
    let replay = Replay::load(&["ready", "delete_failed"]);
    let index = index(&replay);
    let changes = vec![Change::Delete(DocKey::new(DocKind::Video, 2)), Change::Upsert(doc(DocKind::Video, 1, "农业银行"))];
    let e = index.apply(changes, 44).await.unwrap_err();
    assert!(chain(&e).contains("index_not_found"), "{}", chain(&e));
    // Nothing more was sent: the replay fails on any request after the failed task.
    replay.finish();
}

#[tokio::test]
async fn narrowing_removes_what_meilisearch_adds() {
    let replay = Replay::load(&["ready", "search_narrowing"]);
    let index = index(&replay);
    let a = analyzer();
    // 本地 came back for 本田 (its bigram is one typo away); narrowing drops it.
    let plan = a.plan("本田", false).unwrap();
    let results = index.search(&query(plan)).await.unwrap();
    assert_eq!(titles(&results), ["本田雅阁 2023款"]);
    assert_eq!(results.total, Some(1), "every candidate was read: the total is exact");
    // All three bigrams of 中国银行, but not together: dropped.
    let plan = a.plan("中国银行", false).unwrap();
    let results = index.search(&query(plan)).await.unwrap();
    assert_eq!(titles(&results), ["中国银行信用卡"]);
    assert_eq!(results.total, Some(1));
    replay.finish();
}

#[tokio::test]
async fn filters_sort_and_facets_are_in_the_request() {
    let replay = Replay::load(&["ready", "search_filters"]);
    let index = index(&replay);
    let plan = analyzer().plan("zg 手机", false).unwrap();
    let q = IndexQuery {
        kinds: vec![DocKind::Product],
        categories: vec!["手机配件".to_owned()],
        min_price: Some(1000),
        max_price: Some(5000),
        hidden_owners: vec![7, 9],
        sort: Sort::Newest,
        count: true,
        facets: true,
        ..IndexQuery::new(plan, 2)
    };
    let results = index.search(&q).await.unwrap();
    assert_eq!(titles(&results), ["中关村手机支架", "ZG 手机壳 磁吸"]);
    assert_eq!(results.total, Some(2));
    assert_eq!(results.hits[0].score, 300.0, "newest first, scored by time as the embedded engine");
    // Counted without the kind and category filters, after narrowing.
    assert_eq!(results.facets.kinds, [(DocKind::Product, 3)]);
    assert_eq!(results.facets.categories, [("手机配件".to_owned(), 2), ("手机壳".to_owned(), 1)]);
    replay.finish();
}

#[tokio::test]
async fn a_short_page_reads_more_and_a_partial_read_estimates() {
    let replay = Replay::load(&["ready", "search_refetch"]);
    let index = index(&replay);
    let plan = analyzer().plan("本田", false).unwrap();
    let mut q = query(plan);
    q.limit = 3;
    q.facets = true;
    let results = index.search(&q).await.unwrap();
    // 20 candidates read, 2 kept: short of 3, so 80 were asked for; 80 came back (more exist).
    assert_eq!(titles(&results), ["本田思域", "本田雅阁", "本田CR-V"]);
    // Meilisearch counted 120; the narrowing dropped 76 of the 80 read: an estimate of 44.
    assert_eq!(results.total, Some(44));
    assert_eq!(results.facets.kinds, [(DocKind::Video, 44)]);
    replay.finish();
}

#[tokio::test]
async fn a_rebuild_fills_a_copy_and_swaps_it_in() {
    let replay = Replay::load(&["ready", "rebuild"]);
    let index = index(&replay);
    let mut rebuild = index.rebuild().await.unwrap();
    rebuild.add(vec![doc(DocKind::Channel, 31, "清华大学")]).await.unwrap();
    // Until the swap, searches read the serving index (`kanjian` in the recorded request).
    let plan = analyzer().plan("清华", false).unwrap();
    let results = index.search(&query(plan)).await.unwrap();
    assert_eq!(titles(&results), ["清华园"]);
    rebuild.finish(77).await.unwrap();
    assert_eq!(index.applied_through().await.unwrap(), 77);
    replay.finish();
}

// ---------------------------------------------------------------------------------------------
// The hyper client against a socket answering like Meilisearch.

/// Serves one connection: reads the request head, answers `status` with `body` (or never, when
/// `body` is `None`), and hands back what it read.
async fn one_answer(status: &'static str, body: Option<String>) -> (String, tokio::sync::oneshot::Receiver<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
        match body {
            Some(body) => {
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(answer.as_bytes()).await.unwrap();
            }
            None => tokio::time::sleep(Duration::from_secs(30)).await,
        }
    });
    (url, rx)
}

#[tokio::test]
async fn the_hyper_client_sends_the_key_and_keeps_it_out_of_errors() {
    // Meilisearch's answer to a key it does not know on a key route echoes the key
    // (`api_key_not_found`: "API key `…` not found.", crates/meilisearch/tests/auth/api_keys.rs);
    // whatever a server echoes, the error says `[redacted]`.
    let body = serde_json::json!({
        "message": format!("API key `{API_KEY}` not found."),
        "code": "api_key_not_found",
        "type": "invalid_request",
        "link": "https://docs.meilisearch.com/errors#api_key_not_found"
    })
    .to_string();
    let (url, head) = one_answer("404 Not Found", Some(body)).await;
    let http = HyperClient::new(Some(API_KEY), Duration::from_secs(5)).unwrap();
    let index = MeilisearchIndex::new(&url, Some(API_KEY.to_owned()), "kanjian", analyzer(), http).unwrap();
    let e = index.prepare().await.unwrap_err();
    let head = head.await.unwrap();
    assert!(head.starts_with("GET /indexes/kanjian HTTP/1.1\r\n"), "{head}");
    assert!(head.to_ascii_lowercase().contains(&format!("authorization: bearer {}", API_KEY.to_ascii_lowercase())), "{head}");
    let text = chain(&e);
    assert!(text.contains("api_key_not_found") && text.contains("[redacted]"), "{text}");
    assert!(!text.contains(API_KEY), "{text}");
    assert!(!format!("{e:?}").contains(API_KEY));
    assert!(!format!("{index:?}").contains(API_KEY));
}

#[tokio::test]
async fn the_hyper_client_gives_up_after_its_timeout() {
    let (url, _head) = one_answer("200 OK", None).await;
    let http = HyperClient::new(None, Duration::from_millis(300)).unwrap();
    let index = MeilisearchIndex::new(&url, None, "kanjian", analyzer(), http).unwrap();
    let started = std::time::Instant::now();
    let e = index.count().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(chain(&e).contains("no answer from Meilisearch within 300ms"), "{}", chain(&e));
}

#[tokio::test]
async fn an_unreachable_server_is_an_internal_error() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let index = MeilisearchIndex::connect(&url, None, "kanjian", analyzer()).unwrap();
    let e = index.applied_through().await.unwrap_err();
    assert!(matches!(e, Error::Internal(_)));
    assert!(chain(&e).contains("could not reach Meilisearch"), "{}", chain(&e));
}

// ---------------------------------------------------------------------------------------------
// The case suite against a real Meilisearch.

#[derive(Debug, Deserialize)]
struct Suite {
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    category: String,
    source: String,
    mode: String,
    query: String,
    documents: Vec<String>,
    found: Vec<String>,
    not_found: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_case_suite_on_a_real_meilisearch() {
    let Ok(url) = std::env::var("MEILI_URL") else {
        eprintln!(
            "SKIPPED the_case_suite_on_a_real_meilisearch: MEILI_URL is not set \
             (set it, and MEILI_MASTER_KEY if the server has one, to run the Chinese cases against a real Meilisearch)"
        );
        return;
    };
    let key = std::env::var("MEILI_MASTER_KEY").ok().filter(|k| !k.is_empty());
    let uid = format!("kanjian_cases_{}", std::process::id());
    let index = MeilisearchIndex::connect(&url, key.clone(), &uid, analyzer()).unwrap();
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases/chinese.toml")).unwrap();
    let cases = toml::from_str::<Suite>(&text).unwrap().case;
    // One index for the whole suite; each case's documents carry its name as their category,
    // and each query is filtered to it (as tests/cases.rs does for the embedded engine).
    let mut changes = Vec::new();
    let mut id = 0;
    for case in &cases {
        for title in &case.documents {
            id += 1;
            let mut d = doc(DocKind::Video, id, title);
            d.category = Some(case.name.clone());
            changes.push(Change::Upsert(d));
        }
    }
    index.apply(changes, 1).await.unwrap();
    assert_eq!(index.applied_through().await.unwrap(), 1);
    assert_eq!(index.count().await.unwrap(), id as u64);
    let mut failures = Vec::new();
    let mut by_category: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    for case in &cases {
        let plan = analyzer().plan(&case.query, case.mode == "suggest").unwrap();
        let mut q = query(plan);
        q.categories = vec![case.name.clone()];
        q.limit = 50;
        let results = index.search(&q).await.unwrap();
        let returned: Vec<String> = results.hits.into_iter().map(|h| h.doc.title).collect();
        let mut failed = Vec::new();
        for title in &case.found {
            if !returned.contains(title) {
                failed.push(format!("{:?} did not find {title:?}", case.query));
            }
        }
        for title in &case.not_found {
            if returned.contains(title) {
                failed.push(format!("{:?} found {title:?}, which it must not", case.query));
            }
        }
        let entry = by_category.entry(case.category.clone()).or_default();
        let expectations = case.found.len() + case.not_found.len();
        entry.0 += 1;
        entry.1 += expectations - failed.len();
        entry.2 += expectations;
        failures.extend(failed.into_iter().map(|f| format!("{} ({}): {f}", case.name, case.source)));
    }
    // Leave the server as it was.
    let http = HyperClient::new(key.as_deref(), Duration::from_secs(30)).unwrap();
    let client = meilisearch_sdk::client::Client::new_with_client(url.trim_end_matches('/'), key.clone(), http);
    let _ = client.delete_index(&uid).await;
    eprintln!("meilisearch: category, cases, expectations met");
    for (category, (cases, met, all)) in &by_category {
        eprintln!("  {category:<18} {cases:>3} {met:>4}/{all:<4}");
    }
    assert!(failures.is_empty(), "meilisearch: {} expectations failed:\n{}", failures.len(), failures.join("\n"));
}
