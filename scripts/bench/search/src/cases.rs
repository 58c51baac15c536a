//! The Chinese case suite (crates/search/tests/cases/chinese.toml) scored on any engine: each
//! case's titles indexed together with every other case's, its query asked, and only its own
//! titles looked at among what comes back.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::engine::{Doc, Engine};

#[derive(Deserialize)]
struct Suite {
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    category: String,
    mode: String,
    query: String,
    documents: Vec<String>,
    found: Vec<String>,
    not_found: Vec<String>,
}

#[derive(Default)]
pub struct Score {
    pub met: usize,
    pub all: usize,
    /// Per category: (met, all).
    pub by_category: BTreeMap<String, (usize, usize)>,
}

pub fn score(engine: &mut dyn Engine) -> anyhow::Result<Score> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../crates/search/tests/cases/chinese.toml"))?;
    let suite: Suite = toml::from_str(&text)?;
    let mut docs = Vec::new();
    let mut ranges = Vec::new();
    for case in &suite.case {
        let start = docs.len() as u32;
        for title in &case.documents {
            docs.push(Doc { id: docs.len() as u32, title: title.clone() });
        }
        ranges.push(start..docs.len() as u32);
    }
    engine.index(&docs)?;
    let mut score = Score::default();
    for (case, range) in suite.case.iter().zip(ranges) {
        // A query an engine refuses (nothing searchable in it) finds nothing.
        let ids = engine.search(&case.query, case.mode == "suggest", 1_000, false).map(|(_, ids)| ids).unwrap_or_default();
        let returned: Vec<&str> =
            ids.iter().filter(|id| range.contains(id)).map(|&id| docs[id as usize].title.as_str()).collect();
        let met = case.found.iter().filter(|t| returned.contains(&t.as_str())).count()
            + case.not_found.iter().filter(|t| !returned.contains(&t.as_str())).count();
        let all = case.found.len() + case.not_found.len();
        score.met += met;
        score.all += all;
        let entry = score.by_category.entry(case.category.clone()).or_default();
        entry.0 += met;
        entry.1 += all;
    }
    Ok(score)
}
