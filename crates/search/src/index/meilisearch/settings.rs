//! The settings of a Kanjian index in Meilisearch, and whether a server already has them.

use std::collections::BTreeMap;

use meilisearch_sdk::settings::{
    FacetSortValue, FacetingSettings, FilterableAttribute, LocalizedAttributes, MinWordSizeForTypos,
    PaginationSetting, Settings, TypoToleranceSettings,
};
use serde_json::Value;

use super::query::MAX_CANDIDATES;

/// The fields Kanjian computes (`terms`): its tokens, and the folded text the narrowing reads.
pub const COMPUTED_FIELDS: [&str; 4] = ["title_terms", "body_terms", "folded_title", "folded_body"];

/// What a search returns of a document: the `SearchDocument`, its key, the folded text for the
/// narrowing, and `through` for the bookkeeping document.
pub const DISPLAYED: [&str; 15] = [
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
    "through",
];

/// The settings every Kanjian index gets.
pub fn desired() -> Settings {
    let strings = |all: &[&str]| all.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
    Settings {
        // `sort` first so a chosen order (newest, most popular, live rooms first) decides, and
        // relevance only breaks its ties; with no sort it does nothing. Then Meilisearch's
        // relevance, then the embedded engine's tweaks as tie-breakers: live, then popular.
        ranking_rules: Some(strings(&[
            "sort",
            "words",
            "typo",
            "proximity",
            "attribute",
            "exactness",
            "live:desc",
            "popularity:desc",
        ])),
        // Title first: the `attribute` rule ranks a title match above a body match. `title` and
        // `body` themselves serve the typo alternative (Meilisearch's own words and typos).
        searchable_attributes: Some(strings(&["title_terms", "title", "body_terms", "body"])),
        displayed_attributes: Some(strings(&DISPLAYED)),
        filterable_attributes: Some(
            ["kind", "category", "price", "owner_id"].into_iter().map(FilterableAttribute::from).collect(),
        ),
        sortable_attributes: Some(strings(&["published_at", "popularity", "live"])),
        typo_tolerance: Some(TypoToleranceSettings {
            enabled: Some(true),
            // Kanjian's tokens are exact by construction: a typo would turn 本田's bigram into
            // 本地's (`g2x672cx7530z` / `g2x672cx5730z`). Typos stay on `title` and `body`,
            // where two-character words get none (Meilisearch's default thresholds, which are
            // also the reference's: one typo from 5 letters, two from 9).
            disable_on_attributes: Some(strings(&COMPUTED_FIELDS)),
            disable_on_words: Some(Vec::new()),
            min_word_size_for_typos: Some(MinWordSizeForTypos { one_typo: Some(5), two_typos: Some(9) }),
            disable_on_numbers: None,
        }),
        faceting: Some(FacetingSettings {
            max_values_per_facet: 100,
            sort_facet_values_by: Some(BTreeMap::from([("*".to_owned(), FacetSortValue::Count)])),
        }),
        // The narrowing reads at most this many candidates per search.
        pagination: Some(PaginationSetting { max_total_hits: MAX_CANDIDATES }),
        // Kanjian asks for no phrases; word-pair proximity over thousands of tokens per document
        // would only cost indexing time.
        proximity_precision: Some("byAttribute".to_owned()),
        localized_attributes: Some(vec![
            LocalizedAttributes { locales: strings(&["cmn"]), attribute_patterns: strings(&["title", "body"]) },
            // The tokens are plain ASCII words: read them with the plain Latin segmenter, never
            // one that splits words by a dictionary (German compounds).
            LocalizedAttributes { locales: strings(&["eng"]), attribute_patterns: strings(&["title_terms", "body_terms"]) },
        ]),
        ..Settings::default()
    }
}

/// Lists whose order Meilisearch does not keep or that mean the same in any order.
const UNORDERED: [&str; 6] = [
    "displayedAttributes",
    "filterableAttributes",
    "sortableAttributes",
    "disableOnAttributes",
    "disableOnWords",
    "attributePatterns",
];

/// Whether the settings a server returns (`GET /indexes/{uid}/settings`) already hold every
/// value of `desired` (other settings may differ: they are Meilisearch's defaults).
pub fn already_applied(actual: &Value, desired: &Settings) -> bool {
    match serde_json::to_value(desired) {
        Ok(desired) => contains(actual, &desired, ""),
        Err(_) => false,
    }
}

fn contains(actual: &Value, desired: &Value, key: &str) -> bool {
    match (actual, desired) {
        (_, Value::Null) => true,
        (Value::Object(a), Value::Object(d)) => {
            d.iter().all(|(k, v)| contains(a.get(k).unwrap_or(&Value::Null), v, k) || (v.is_null() && !a.contains_key(k)))
        }
        (Value::Array(a), Value::Array(d)) if UNORDERED.contains(&key) => {
            a.len() == d.len() && d.iter().all(|v| a.contains(v))
        }
        (Value::Array(a), Value::Array(d)) => a.len() == d.len() && a.iter().zip(d).all(|(a, d)| contains(a, d, "")),
        (a, d) => a == d,
    }
}
