//! The Chinese case suite (`tests/cases/chinese.toml`): queries that popular engines got wrong,
//! each with its source, checked for recall (`found`) and precision (`not_found`) against the
//! embedded engine and against the reference matcher every engine is held to.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use kanjian_search::analysis::{Analyzer, highlight};
use kanjian_search::index::tantivy::TantivyIndex;
use kanjian_search::index::{Change, DocKind, IndexQuery, SearchDocument, SearchIndex};
use serde::Deserialize;

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

fn suite() -> Vec<Case> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases/chinese.toml")).unwrap();
    toml::from_str::<Suite>(&text).unwrap().case
}

/// Per category: (cases, expectations met, expectations in all).
#[derive(Default)]
struct Score {
    failures: Vec<String>,
    by_category: BTreeMap<String, (usize, usize, usize)>,
}

impl Score {
    fn record(&mut self, case: &Case, failures: Vec<String>) {
        let entry = self.by_category.entry(case.category.clone()).or_default();
        let expectations = case.found.len() + case.not_found.len();
        entry.0 += 1;
        entry.1 += expectations - failures.len();
        entry.2 += expectations;
        self.failures.extend(failures.into_iter().map(|f| format!("{} ({}): {f}", case.name, case.source)));
    }

    fn finish(self, engine: &str) {
        eprintln!("{engine}: category, cases, expectations met");
        for (category, (cases, met, all)) in &self.by_category {
            eprintln!("  {category:<18} {cases:>3} {met:>4}/{all:<4}");
        }
        assert!(self.failures.is_empty(), "{engine}: {} expectations failed:\n{}", self.failures.len(), self.failures.join("\n"));
    }
}

fn check(case: &Case, returned: &[String]) -> Vec<String> {
    let mut failures = Vec::new();
    for title in &case.found {
        if !returned.contains(title) {
            failures.push(format!("{:?} did not find {title:?}", case.query));
        }
    }
    for title in &case.not_found {
        if returned.contains(title) {
            failures.push(format!("{:?} found {title:?}, which it must not", case.query));
        }
    }
    failures
}

#[test]
fn every_case_is_well_formed() {
    let cases = suite();
    assert!(cases.len() >= 40, "the suite has {} cases", cases.len());
    let mut names = std::collections::HashSet::new();
    for case in &cases {
        assert!(names.insert(&case.name), "{} twice", case.name);
        assert!(case.source.starts_with("https://"), "{}: no source", case.name);
        assert!(["search", "suggest"].contains(&case.mode.as_str()), "{}: mode {}", case.name, case.mode);
        for title in case.found.iter().chain(&case.not_found) {
            assert!(case.documents.contains(title), "{}: {title} is not among its documents", case.name);
        }
    }
}

#[test]
fn the_reference_matcher_passes_every_case() {
    let analyzer = Analyzer::new().unwrap();
    let mut score = Score::default();
    for case in suite() {
        let plan = analyzer.plan(&case.query, case.mode == "suggest").unwrap();
        let returned: Vec<String> = case
            .documents
            .iter()
            .filter(|title| highlight::find(&plan, &analyzer.fold(title)).is_some())
            .cloned()
            .collect();
        score.record(&case, check(&case, &returned));
    }
    score.finish("reference matcher");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_engine_passes_every_case() {
    let analyzer = Arc::new(Analyzer::new().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let index = Arc::new(TantivyIndex::open(dir.path(), analyzer.clone()).unwrap());
    let cases = suite();
    // One index for the whole suite; each case's documents carry the case's name as their
    // category, and each query is filtered to it.
    let mut changes = Vec::new();
    let mut id = 0;
    for case in &cases {
        for title in &case.documents {
            id += 1;
            changes.push(Change::Upsert(SearchDocument {
                kind: DocKind::Video,
                id,
                title: title.clone(),
                body: String::new(),
                owner_id: 1,
                channel_id: None,
                category: Some(case.name.clone()),
                price: None,
                popularity: 0,
                published_at: 0,
                live: false,
            }));
        }
    }
    index.apply(changes, 1).await.unwrap();
    let mut score = Score::default();
    for case in &cases {
        let plan = analyzer.plan(&case.query, case.mode == "suggest").unwrap();
        let query = IndexQuery { categories: vec![case.name.clone()], ..IndexQuery::new(plan, 50) };
        let results = index.search(&query).await.unwrap();
        let returned: Vec<String> = results.hits.into_iter().map(|h| h.doc.title).collect();
        score.record(case, check(case, &returned));
    }
    score.finish("tantivy");
}
