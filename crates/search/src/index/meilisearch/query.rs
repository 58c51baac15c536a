//! A query plan as Meilisearch queries, and the narrowing that makes their answer exact.
//!
//! **What Meilisearch is asked.** Every run must match (AND); a Latin run matches in one of
//! several ways (OR): as Latin words, as each way its letters split into pinyin syllables, as
//! initials. One Meilisearch `q` with `matchingStrategy: "all"` is an AND of words and cannot
//! hold an OR, so each combination of one alternative per run becomes its own query, and the
//! queries go together in one federated `/multi-search`: Meilisearch merges them (each document
//! once, in one order, sorted the same way), counts their union and computes facets over it.
//! When the combinations would be too many (`MAX_QUERIES`), the runs with the most alternatives
//! are left out of what Meilisearch is asked; they are still checked by the narrowing.
//!
//! **Necessary, not sufficient.** Each query only asks for tokens every true match has (a
//! word's bigrams, not their order; at most `MAX_QUERY_WORDS`, as Meilisearch reads no more),
//! so Meilisearch returns a superset of the matches. Narrowing then runs the reference matcher
//! (`analysis::highlight::find`) on each candidate's folded title and body, exactly as the
//! embedded engine matches: a CJK run's words and a Latin run may each be in the title or in
//! the body. Whatever Meilisearch adds (order-less bigrams, typo derivations, prefixes) is
//! dropped there.
//!
//! **Typos.** A lone Latin word of 5+ letters may have typos. The tokens are exact (typo
//! tolerance is off on them), so that alternative asks the plain word of Meilisearch's own
//! `title` and `body`, whose typo tolerance has the same thresholds (5 and 9 letters). Meilisearch
//! counts a typo on the first letter as two and caps derivations, so it finds a little less than
//! the reference allows there: a known gap of recall, never of precision.

use crate::analysis::query::LatinRun;
use crate::analysis::{Folded, QueryPlan, Run, highlight};
use crate::index::{DocKind, IndexQuery, Sort};

use super::terms::{TokenKind, prefix_token, token};

/// Meilisearch reads the first 10 words of `q` (`milli::Search::words_limit`).
pub const MAX_QUERY_WORDS: usize = 10;
/// The most queries one search sends (one per combination of alternatives).
pub const MAX_QUERIES: usize = 24;
/// The most candidates one search reads (Meilisearch's `pagination.maxTotalHits`).
pub const MAX_CANDIDATES: usize = 1000;
/// The fewest candidates one search reads.
pub const MIN_CANDIDATES: usize = 20;

/// The fields of Kanjian's tokens, title first (the `attribute` ranking rule ranks title matches
/// above body matches).
pub const TERM_FIELDS: [&str; 2] = ["title_terms", "body_terms"];
/// The same with Meilisearch's own text, for the typo alternative.
pub const TYPO_FIELDS: [&str; 4] = ["title_terms", "title", "body_terms", "body"];

/// One thing a candidate must contain.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Need {
    /// An exact token.
    Token(String),
    /// A token prefix (must be the last word of `q`, the only one Meilisearch prefix-matches).
    Prefix(String),
    /// A plain word, matched with Meilisearch's typo tolerance in `title` or `body`.
    Typo(String),
}

/// One way a run matches: groups of needs (one group per word or term), all required.
type Alternative = Vec<Vec<Need>>;

/// One Meilisearch query of a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeiliQuery {
    /// Empty: a placeholder search (every document passing the filter).
    pub q: String,
    pub typo: bool,
}

impl MeiliQuery {
    pub fn attributes(&self) -> &'static [&'static str] {
        if self.typo { &TYPO_FIELDS } else { &TERM_FIELDS }
    }
}

/// The queries for a plan: one per combination of alternatives, or a single placeholder query
/// when nothing could be asked.
pub fn queries(plan: &QueryPlan) -> Vec<MeiliQuery> {
    let mut per_run: Vec<Vec<Alternative>> = plan.runs.iter().map(run_alternatives).filter(|a| !a.is_empty()).collect();
    // Keep the runs with one alternative, then the others from the fewest alternatives up while
    // the product stays within MAX_QUERIES; the rest are left to the narrowing.
    per_run.sort_by_key(Vec::len);
    let mut product = 1usize;
    per_run.retain(|alternatives| {
        let next = product.saturating_mul(alternatives.len());
        if next <= MAX_QUERIES {
            product = next;
            true
        } else {
            false
        }
    });
    let mut combinations: Vec<Alternative> = vec![Vec::new()];
    for alternatives in &per_run {
        let mut next = Vec::with_capacity(combinations.len() * alternatives.len());
        for combination in &combinations {
            for alternative in alternatives {
                let mut joined = combination.clone();
                joined.extend(alternative.iter().cloned());
                next.push(joined);
            }
        }
        combinations = next;
    }
    let mut out: Vec<MeiliQuery> = Vec::new();
    for combination in combinations {
        let query = to_query(combination);
        if query.q.is_empty() {
            // One combination asks for nothing: the union is everything the filter passes.
            return vec![query];
        }
        if !out.contains(&query) {
            out.push(query);
        }
    }
    if out.is_empty() {
        out.push(MeiliQuery { q: String::new(), typo: false });
    }
    out
}

fn run_alternatives(run: &Run) -> Vec<Alternative> {
    match run {
        Run::Cjk { words, .. } => {
            let groups: Alternative = words.iter().map(|w| cjk_word(w)).filter(|g| !g.is_empty()).collect();
            vec![groups]
        }
        Run::Latin(latin) => latin_alternatives(latin),
    }
}

/// A CJK word as a substring: its unigram, its bigram, or all its bigrams (their order is left
/// to the narrowing).
fn cjk_word(word: &str) -> Vec<Need> {
    let chars: Vec<char> = word.chars().collect();
    let mut out: Vec<Need> = Vec::new();
    if chars.len() == 1 {
        out.extend(token(TokenKind::Unigram, &[word]).map(Need::Token));
    }
    for pair in chars.windows(2) {
        let pair: String = pair.iter().collect();
        if let Some(t) = token(TokenKind::Bigram, &[&pair]).map(Need::Token)
            && !out.contains(&t)
        {
            out.push(t);
        }
    }
    out
}

fn latin_alternatives(run: &LatinRun) -> Vec<Alternative> {
    let mut out: Vec<Alternative> = Vec::new();
    let mut push = |alternative: Alternative| {
        if !alternative.is_empty() && !out.contains(&alternative) {
            out.push(alternative);
        }
    };
    // As Latin words.
    let n = run.terms.len();
    if run.prefix_last {
        let mut groups: Alternative = Vec::new();
        for (k, term) in run.terms.iter().enumerate() {
            let need = if k + 1 == n {
                prefix_token(TokenKind::Latin, &[term]).map(Need::Prefix)
            } else {
                token(TokenKind::Latin, &[term]).map(Need::Token)
            };
            groups.extend(need.map(|n| vec![n]));
        }
        push(groups);
    } else {
        push(run.terms.iter().filter_map(|t| token(TokenKind::Latin, &[t]).map(|n| vec![Need::Token(n)])).collect());
        if run.typos > 0
            && let [word] = run.terms.as_slice()
        {
            push(vec![vec![Need::Typo(word.clone())]]);
        }
    }
    // As the pinyin of adjacent characters, each way the letters split.
    for split in &run.pinyin {
        push(syllables(split, run.prefix_last));
    }
    // As initials.
    if let Some(letters) = &run.initials {
        push(token(TokenKind::Initials, &[letters]).map(|t| vec![vec![Need::Token(t)]]).unwrap_or_default());
    }
    out
}

/// A split into syllables: one reading, or the reading pairs of adjacent characters (the last
/// syllable unfinished in a suggestion).
fn syllables(split: &[String], last_unfinished: bool) -> Alternative {
    let n = split.len();
    let mut groups: Alternative = Vec::new();
    if n == 1 {
        let need = if last_unfinished {
            prefix_token(TokenKind::Reading, &[&split[0]]).map(Need::Prefix)
        } else {
            token(TokenKind::Reading, &[&split[0]]).map(Need::Token)
        };
        groups.extend(need.map(|n| vec![n]));
        return groups;
    }
    for k in 0..n - 1 {
        let parts = [split[k].as_str(), split[k + 1].as_str()];
        let need = if last_unfinished && k + 2 == n {
            prefix_token(TokenKind::ReadingPair, &parts).map(Need::Prefix)
        } else {
            token(TokenKind::ReadingPair, &parts).map(Need::Token)
        };
        if let Some(need) = need
            && !groups.iter().any(|g| g.contains(&need))
        {
            groups.push(vec![need]);
        }
    }
    groups
}

/// One combination as `q`: typo words first, then tokens taken in turn from each group (so every
/// word is represented when some must be left out), the prefix last; a trailing space otherwise,
/// which tells Meilisearch the last word is finished (no prefix search).
fn to_query(groups: Alternative) -> MeiliQuery {
    let mut prefix: Option<String> = None;
    let mut typo_words: Vec<String> = Vec::new();
    let mut token_groups: Vec<Vec<String>> = Vec::new();
    for group in groups {
        let mut tokens = Vec::new();
        for need in group {
            match need {
                Need::Token(t) => tokens.push(t),
                // Only one prefix can be asked for; a second one is left to the narrowing.
                Need::Prefix(p) => {
                    if prefix.is_none() {
                        prefix = Some(p);
                    }
                }
                Need::Typo(w) => typo_words.push(w),
            }
        }
        if !tokens.is_empty() {
            token_groups.push(tokens);
        }
    }
    let budget = MAX_QUERY_WORDS - usize::from(prefix.is_some());
    let mut words: Vec<String> = Vec::new();
    for w in typo_words {
        if words.len() < budget && !words.contains(&w) {
            words.push(w);
        }
    }
    let typo = !words.is_empty();
    let longest = token_groups.iter().map(Vec::len).max().unwrap_or(0);
    'fill: for round in 0..longest {
        for group in &token_groups {
            if words.len() >= budget {
                break 'fill;
            }
            if let Some(t) = group.get(round)
                && !words.contains(t)
            {
                words.push(t.clone());
            }
        }
    }
    let mut q = words.join(" ");
    match prefix {
        Some(p) => {
            if !q.is_empty() {
                q.push(' ');
            }
            q.push_str(&p);
        }
        None if !q.is_empty() => q.push(' '),
        None => {}
    }
    MeiliQuery { q, typo }
}

/// The name Kanjian's documents give a kind (`SearchDocument`'s serde form).
pub fn kind_name(kind: DocKind) -> &'static str {
    match kind {
        DocKind::Video => "video",
        DocKind::Channel => "channel",
        DocKind::LiveRoom => "live_room",
        DocKind::Product => "product",
    }
}

/// A string in Meilisearch's filter syntax: double-quoted, `\` and `"` escaped.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The filter of a query (`with_kind_and_category: false` for the facet counts, which ignore
/// those two filters).
pub fn filter(q: &IndexQuery, with_kind_and_category: bool) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    if with_kind_and_category && !q.kinds.is_empty() {
        let kinds: Vec<String> = q.kinds.iter().map(|k| quoted(kind_name(*k))).collect();
        parts.push(format!("kind IN [{}]", kinds.join(", ")));
    }
    if with_kind_and_category && !q.categories.is_empty() {
        let categories: Vec<String> = q.categories.iter().map(|c| quoted(c)).collect();
        parts.push(format!("category IN [{}]", categories.join(", ")));
    }
    if let Some(min) = q.min_price {
        parts.push(format!("price >= {min}"));
    }
    if let Some(max) = q.max_price {
        parts.push(format!("price <= {max}"));
    }
    if !q.hidden_owners.is_empty() {
        let owners: Vec<String> = q.hidden_owners.iter().map(i64::to_string).collect();
        parts.push(format!("owner_id NOT IN [{}]", owners.join(", ")));
    }
    (!parts.is_empty()).then(|| parts.join(" AND "))
}

/// The sort of a query: by time or popularity, or, for live rooms only, live ones first.
pub fn sort(q: &IndexQuery) -> Option<&'static str> {
    match q.sort {
        Sort::Newest => Some("published_at:desc"),
        Sort::Popular => Some("popularity:desc"),
        Sort::Relevance if q.kinds == [DocKind::LiveRoom] => Some("live:desc"),
        Sort::Relevance => None,
    }
}

/// The reference matcher, run the way the embedded engine matches title and body: each CJK word
/// and each Latin run must be found in the title or in the body (not across the two).
#[derive(Debug)]
pub struct Narrowing {
    parts: Vec<QueryPlan>,
}

impl Narrowing {
    pub fn new(plan: &QueryPlan) -> Self {
        let one = |run: Run| QueryPlan { runs: vec![run], folded: String::new(), suggest: plan.suggest };
        let mut parts = Vec::new();
        for run in &plan.runs {
            match run {
                // No words: the reference matcher finds nothing, and neither does this.
                Run::Cjk { words, .. } if words.is_empty() => parts.push(one(run.clone())),
                Run::Cjk { text, words } => {
                    for word in words {
                        parts.push(one(Run::Cjk { text: text.clone(), words: vec![word.clone()] }));
                    }
                }
                Run::Latin(_) => parts.push(one(run.clone())),
            }
        }
        Self { parts }
    }

    /// Whether a document with this folded title and body matches the plan.
    pub fn keeps(&self, folded_title: &str, folded_body: &str) -> bool {
        let folded = |text: &str| Folded { chars: text.chars().collect(), origin: Vec::new() };
        let (title, body) = (folded(folded_title), folded(folded_body));
        self.parts.iter().all(|part| highlight::find(part, &title).is_some() || highlight::find(part, &body).is_some())
    }
}
