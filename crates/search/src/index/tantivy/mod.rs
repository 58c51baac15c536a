//! The embedded engine: a tantivy index in `<data_dir>/search/`.
//!
//! Every text field is analysed by `analysis` (on all cores, before the writer sees it) and
//! read back by the `pre_analyzed` tokenizer, so the index holds exactly the terms the query
//! side asks for (no tokenizer of tantivy's own runs). The stored `doc` field returns the whole
//! document; kind, owner, category, price, popularity, time and live are fast or indexed fields
//! for filters, facets and sorting.
//!
//! **Generations.** The index lives in `gen-<n>/`; the file `current` names the one serving. A
//! rebuild fills `gen-<n+1>/` while `gen-<n>` keeps answering, then `current` is replaced
//! (write and rename) and the old directory removed.
//!
//! **Where it is.** Each commit carries the change sequence it includes (tantivy's commit
//! payload), so documents and that number are saved together: after a crash the indexer
//! resumes from what the last commit says.
//!
//! **Ranking.** Documents are kept most popular first in every segment (index sorting). A
//! relevance search walks steps, best first (see `relevance_steps`: as typed with the words in
//! the title, as typed, apart in the title, apart; live rooms on air first within each), and
//! reads each segment only until the page is full: the cost of a page does not grow with the
//! number of matches. Most popular reads one step; newest orders every match by time. The total
//! is counted only when asked (`IndexQuery::count`).

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use kanjian_kernel::{Context, Error, Result};
use serde::{Deserialize, Serialize};
use tantivy::aggregation::AggregationCollector;
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::collector::TopDocs;
use tantivy::query::{
    BooleanQuery, EnableScoring, FuzzyTermQuery, Occur, PhrasePrefixQuery, PhraseQuery, Query, RangeQuery, TermQuery,
    TermSetQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::{DocAddress, DocSet, Index, IndexReader, IndexWriter, Order, ReloadPolicy, SegmentReader, TERMINATED, TantivyDocument, Term};

use super::{Change, DocKind, Facets, IndexHit, IndexQuery, IndexResults, Rebuild, SearchDocument, SearchIndex, Sort};
use crate::analysis::query::LatinRun;
use crate::analysis::{Analyzer, QueryPlan, Run, pair, reading_pairs};

mod pre_analyzed;

/// Bytes of memory each indexing thread may fill before it flushes a segment.
const WRITER_MEMORY_PER_THREAD: usize = 32 * 1024 * 1024;
/// A rebuild's threads get four times as much: fewer, larger segments to merge.
const REBUILD_MEMORY_PER_THREAD: usize = 4 * WRITER_MEMORY_PER_THREAD;
/// Bytes of stored documents compressed together (tantivy's default is 16 KiB).
const DOCSTORE_BLOCK_BYTES: usize = 4 * 1024;
/// Documents analyzed on one thread before the batch is split across cores.
const PARALLEL_FROM: usize = 64;
/// Positions between a title's terms and its body's, so no phrase spans the two.
const BODY_GAP: usize = 16;
/// How many categories a facet lists.
const MAX_CATEGORY_FACETS: u32 = 20;

#[derive(Clone, Copy)]
struct Fields {
    key: Field,
    doc: Field,
    kind: Field,
    owner: Field,
    category: Field,
    price: Field,
    popularity: Field,
    published_at: Field,
    live: Field,
    title_words: Field,
    body_words: Field,
    unigrams: Field,
    bigrams: Field,
    latin: Field,
    pinyin: Field,
    reading_pairs: Field,
    initials: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = |record: IndexRecordOption| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default().set_tokenizer(pre_analyzed::TOKENIZER).set_index_option(record),
        )
    };
    let fields = Fields {
        key: b.add_text_field("key", STRING),
        doc: b.add_text_field("doc", STORED),
        kind: b.add_text_field("kind", STRING | FAST),
        owner: b.add_i64_field("owner", INDEXED),
        category: b.add_text_field("category", STRING | FAST),
        price: b.add_i64_field("price", INDEXED | FAST),
        popularity: b.add_i64_field("popularity", FAST),
        published_at: b.add_i64_field("published_at", FAST),
        live: b.add_u64_field("live", INDEXED),
        title_words: b.add_text_field("title_words", text(IndexRecordOption::WithFreqs)),
        body_words: b.add_text_field("body_words", text(IndexRecordOption::WithFreqs)),
        unigrams: b.add_text_field("unigrams", text(IndexRecordOption::WithFreqs)),
        bigrams: b.add_text_field("bigrams", text(IndexRecordOption::WithFreqsAndPositions)),
        latin: b.add_text_field("latin", text(IndexRecordOption::WithFreqsAndPositions)),
        pinyin: b.add_text_field("pinyin", text(IndexRecordOption::WithFreqsAndPositions)),
        reading_pairs: b.add_text_field("reading_pairs", text(IndexRecordOption::WithFreqsAndPositions)),
        initials: b.add_text_field("initials", text(IndexRecordOption::Basic)),
    };
    (b.build(), fields)
}

/// Documents are kept most popular first, in every segment (tantivy sorts each new segment and
/// keeps merges sorted): a ranked page is then the first matches of each segment, without
/// visiting the rest (see `ranked`). Stored copies compress in small blocks: a page of hits
/// decompresses one block per hit.
fn settings() -> tantivy::IndexSettings {
    tantivy::IndexSettings {
        sort_by_field: Some(tantivy::IndexSortByField { field: "popularity".into(), order: Order::Desc }),
        docstore_blocksize: DOCSTORE_BLOCK_BYTES,
        ..Default::default()
    }
}

/// What each commit remembers.
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    through: i64,
}

/// One generation: an index with its reader and, once something writes, its one writer
/// (tantivy allows one per index, across processes: `kanjian reindex` fills a new generation
/// while a running server keeps the serving one's).
struct Generation {
    number: u64,
    index: Index,
    reader: IndexReader,
    writer: Mutex<Option<IndexWriter<TantivyDocument>>>,
}

impl Generation {
    fn open_or_create(dir: &Path, number: u64) -> anyhow::Result<Self> {
        let path = dir.join(format!("gen-{number}"));
        std::fs::create_dir_all(&path)?;
        let (schema, _) = schema();
        let index = if Index::exists(&tantivy::directory::MmapDirectory::open(&path)?)? {
            Index::open_in_dir(&path)?
        } else {
            let settings = settings();
            Index::builder().schema(schema).settings(settings).create_in_dir(&path)?
        };
        index.tokenizers().register(pre_analyzed::TOKENIZER, pre_analyzed::PreAnalyzed);
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(Self { number, index, reader, writer: Mutex::new(None) })
    }

    /// Whether it was written in the form this version reads and writes.
    fn current_format(&self) -> bool {
        self.index.schema() == schema().0 && self.index.settings().sort_by_field == settings().sort_by_field
    }

    /// Runs `write` with the writer, taking it on first use with `memory_per_thread` for each
    /// of its threads.
    fn write<T>(
        &self,
        memory_per_thread: usize,
        write: impl FnOnce(&mut IndexWriter<TantivyDocument>) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let mut slot = self.writer.lock().map_err(|_| anyhow::anyhow!("the index writer panicked"))?;
        if slot.is_none() {
            let threads = cores().min(4);
            *slot = Some(self.index.writer_with_num_threads(threads, threads * memory_per_thread)?);
        }
        match slot.as_mut() {
            Some(writer) => write(writer),
            None => Err(anyhow::anyhow!("no index writer")),
        }
    }

    fn through(&self) -> anyhow::Result<i64> {
        let payload = self.index.load_metas()?.payload;
        Ok(match payload {
            Some(p) => serde_json::from_str::<Payload>(&p)?.through,
            None => 0,
        })
    }

    fn commit(&self, writer: &mut IndexWriter<TantivyDocument>, through: i64) -> anyhow::Result<()> {
        let mut prepared = writer.prepare_commit()?;
        prepared.set_payload(&serde_json::to_string(&Payload { through })?);
        prepared.commit()?;
        self.reader.reload()?;
        Ok(())
    }
}

/// The embedded index. Cheap to share: clone the `Arc`.
pub struct TantivyIndex {
    dir: PathBuf,
    analyzer: Arc<Analyzer>,
    fields: Fields,
    serving: RwLock<Arc<Generation>>,
}

impl std::fmt::Debug for TantivyIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TantivyIndex").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl TantivyIndex {
    /// Opens the index in `dir` (creating it when new).
    pub fn open(dir: impl Into<PathBuf>, analyzer: Arc<Analyzer>) -> anyhow::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        let number = match std::fs::read_to_string(dir.join("current")) {
            Ok(s) => s.trim().parse()?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 1,
            Err(e) => return Err(e.into()),
        };
        let mut generation = Generation::open_or_create(&dir, number)?;
        let mut number = number;
        if !generation.current_format() {
            // Written by an earlier version: start an empty one, which the indexer fills from
            // every search document (it has applied nothing yet).
            tracing::warn!(generation = number, "the search index was written in an older format; rebuilding it from the database");
            number += 1;
            let path = dir.join(format!("gen-{number}"));
            if path.exists() {
                std::fs::remove_dir_all(&path)?;
            }
            generation = Generation::open_or_create(&dir, number)?;
        }
        write_current(&dir, number)?;
        remove_other_generations(&dir, number);
        Ok(Self { dir, analyzer, fields: schema().1, serving: RwLock::new(Arc::new(generation)) })
    }

    /// Serves the generation `current` names, when another process (`kanjian reindex`) swapped
    /// one in. The indexer asks where the index is before every batch, so a running server
    /// follows a rebuild within a poll.
    fn follow_current(&self) -> anyhow::Result<()> {
        let named: u64 = match std::fs::read_to_string(self.dir.join("current")) {
            Ok(s) => s.trim().parse()?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if named == self.serving().number {
            return Ok(());
        }
        let generation = Arc::new(Generation::open_or_create(&self.dir, named)?);
        tracing::info!(generation = named, "serving a rebuilt search index");
        match self.serving.write() {
            Ok(mut serving) => *serving = generation,
            Err(poisoned) => *poisoned.into_inner() = generation,
        }
        Ok(())
    }

    fn serving(&self) -> Arc<Generation> {
        match self.serving.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Checks and converts `docs`, split across the cores: analysis is most of what indexing a
    /// document costs.
    fn to_tantivy_all(&self, docs: &[&SearchDocument]) -> anyhow::Result<Vec<TantivyDocument>> {
        let convert = |part: &[&SearchDocument]| -> anyhow::Result<Vec<TantivyDocument>> {
            part.iter()
                .map(|doc| {
                    doc.check()?;
                    self.to_tantivy(doc)
                })
                .collect()
        };
        let threads = cores();
        if docs.len() < PARALLEL_FROM || threads == 1 {
            return convert(docs);
        }
        std::thread::scope(|scope| {
            let parts: Vec<_> = docs.chunks(docs.len().div_ceil(threads)).map(|part| scope.spawn(move || convert(part))).collect();
            let mut out = Vec::with_capacity(docs.len());
            for part in parts {
                out.extend(part.join().map_err(|_| anyhow::anyhow!("analysing documents panicked"))??);
            }
            Ok(out)
        })
    }

    fn to_tantivy(&self, doc: &SearchDocument) -> anyhow::Result<TantivyDocument> {
        let f = &self.fields;
        let title = self.analyzer.analyze(&doc.title);
        let body = self.analyzer.analyze(&doc.body);
        let mut out = TantivyDocument::default();
        out.add_text(f.key, doc.key().encode());
        out.add_text(f.doc, serde_json::to_string(doc)?);
        out.add_text(f.kind, doc.kind.code());
        out.add_i64(f.owner, doc.owner_id);
        if let Some(category) = &doc.category {
            out.add_text(f.category, category);
        }
        if let Some(price) = doc.price {
            out.add_i64(f.price, price);
        }
        out.add_i64(f.popularity, doc.popularity);
        out.add_i64(f.published_at, doc.published_at);
        out.add_u64(f.live, u64::from(doc.live));
        let field = |out: &mut TantivyDocument, field: Field, title_terms: &[crate::analysis::Term], body_terms: &[crate::analysis::Term], shift: usize| {
            let mut encoded = String::new();
            pre_analyzed::encode(&mut encoded, title_terms, 0);
            pre_analyzed::encode(&mut encoded, body_terms, shift);
            out.add_text(field, encoded);
        };
        field(&mut out, f.title_words, &title.words, &[], 0);
        field(&mut out, f.body_words, &body.words, &[], 0);
        // The matching fields hold title and body, the body's positions after a gap.
        let body_at = title.folded.len() + BODY_GAP;
        let latin_at = title.latin.last().map_or(0, |t| t.position) + BODY_GAP;
        field(&mut out, f.unigrams, &title.unigrams, &body.unigrams, body_at);
        field(&mut out, f.bigrams, &title.bigrams, &body.bigrams, body_at);
        field(&mut out, f.latin, &title.latin, &body.latin, latin_at);
        field(&mut out, f.pinyin, &title.pinyin, &body.pinyin, body_at);
        field(&mut out, f.reading_pairs, &reading_pairs(&title.pinyin), &reading_pairs(&body.pinyin), body_at);
        field(&mut out, f.initials, &title.initials, &body.initials, body_at);
        Ok(out)
    }

    /// Documents matching `q` and its filters. `how` narrows them to one step of the relevance
    /// order (see `relevance_steps`); the facets leave out the kind and category filters.
    fn query(&self, q: &IndexQuery, how: Narrowed) -> Box<dyn Query> {
        let f = &self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for run in &q.plan.runs {
            clauses.push((Occur::Must, self.run_query(run, how.as_typed)));
        }
        if how.in_title {
            for word in title_words(&q.plan) {
                clauses.push((Occur::Must, term(f.title_words, &word, IndexRecordOption::Basic)));
            }
        }
        if how.live {
            clauses.push((Occur::Must, Box::new(TermQuery::new(Term::from_field_u64(f.live, 1), IndexRecordOption::Basic))));
        }
        if how.with_kind_and_category && !q.kinds.is_empty() {
            let kinds = q.kinds.iter().map(|k| Term::from_field_text(f.kind, k.code()));
            clauses.push((Occur::Must, Box::new(TermSetQuery::new(kinds))));
        }
        if how.with_kind_and_category && !q.categories.is_empty() {
            let categories = q.categories.iter().map(|c| Term::from_field_text(f.category, c));
            clauses.push((Occur::Must, Box::new(TermSetQuery::new(categories))));
        }
        if q.min_price.is_some() || q.max_price.is_some() {
            let bound = |v: Option<i64>| v.map_or(Bound::Unbounded, |v| Bound::Included(Term::from_field_i64(f.price, v)));
            clauses.push((Occur::Must, Box::new(RangeQuery::new(bound(q.min_price), bound(q.max_price)))));
        }
        if !q.hidden_owners.is_empty() {
            let owners = q.hidden_owners.iter().map(|&o| Term::from_field_i64(f.owner, o));
            clauses.push((Occur::MustNot, Box::new(TermSetQuery::new(owners))));
        }
        Box::new(BooleanQuery::new(clauses))
    }

    /// A run: a CJK run's words each as a substring (`as_typed`: the whole run as one), a
    /// Latin run as Latin words, full pinyin or initials.
    fn run_query(&self, run: &Run, as_typed: bool) -> Box<dyn Query> {
        let f = &self.fields;
        match run {
            Run::Cjk { text, .. } if as_typed => substring(f, text),
            Run::Cjk { words, .. } => match words.as_slice() {
                [one] => substring(f, one),
                _ => Box::new(BooleanQuery::new(words.iter().map(|w| (Occur::Must, substring(f, w))).collect())),
            },
            Run::Latin(latin) => {
                let mut any: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Should, latin_query(f, latin))];
                for split in &latin.pinyin {
                    any.push((Occur::Should, syllables_query(f, split, latin.prefix_last)));
                }
                if let Some(letters) = &latin.initials {
                    any.push((Occur::Should, term(f.initials, letters, IndexRecordOption::Basic)));
                }
                Box::new(BooleanQuery::new(any))
            }
        }
    }

    /// The relevance order as steps, best first; within a step, live rooms that are live now,
    /// then the most popular. Meilisearch ranks by such buckets too (words, proximity,
    /// attribute, then a custom order); Kanjian's:
    /// 1. every run as typed, and the query's words words of the title;
    /// 2. every run as typed (a CJK run contiguous: 红色连衣裙 itself);
    /// 3. the runs' words apart, in the title;
    /// 4. the runs' words apart (连衣裙 红色).
    ///
    /// Steps that would repeat an earlier one are left out (a one-word query has no words
    /// apart; a query of single characters, no title words). When only live rooms are asked
    /// for, every step's live rooms come before any room that is not live.
    fn relevance_steps(&self, q: &IndexQuery) -> Vec<Box<dyn Query>> {
        let apart_differs = q.plan.runs.iter().any(|r| matches!(r, Run::Cjk { words, .. } if words.len() > 1));
        let has_title_words = !title_words(&q.plan).is_empty();
        let mut steps = Vec::new();
        for as_typed in [true, false] {
            if !as_typed && !apart_differs {
                break;
            }
            if has_title_words {
                steps.push(Narrowed { as_typed, in_title: true, ..Narrowed::ALL });
            }
            steps.push(Narrowed { as_typed, ..Narrowed::ALL });
        }
        let with_live = |s: &Narrowed| Narrowed { live: true, ..*s };
        let ordered: Vec<Narrowed> = if q.kinds == [DocKind::LiveRoom] {
            steps.iter().map(with_live).chain(steps.iter().copied()).collect()
        } else {
            steps.iter().flat_map(|s| [with_live(s), *s]).collect()
        };
        ordered.into_iter().map(|how| self.query(q, how)).collect()
    }

    /// The first `need` documents in the order `steps` give: each step's documents in index
    /// order (most popular first, as the index is sorted), skipping those an earlier step gave.
    /// Each segment is read only as far as `need` documents a step, so a page costs the same
    /// whether a query matches a hundred titles or a hundred thousand. `score(step, popularity)`
    /// gives each its score.
    fn ranked(
        &self,
        searcher: &tantivy::Searcher,
        steps: &[Box<dyn Query>],
        need: usize,
        score: impl Fn(usize, i64) -> f32,
    ) -> anyhow::Result<Vec<(f32, DocAddress)>> {
        let mut out: Vec<(f32, DocAddress)> = Vec::with_capacity(need);
        let mut taken: std::collections::HashSet<DocAddress> = std::collections::HashSet::new();
        for (k, step) in steps.iter().enumerate() {
            let still = need.saturating_sub(out.len());
            if still == 0 {
                break;
            }
            let weight = step.weight(EnableScoring::disabled_from_searcher(searcher))?;
            // (popularity, where) of each segment's first `still` new documents.
            let mut candidates: Vec<(i64, DocAddress)> = Vec::new();
            for (ord, segment) in searcher.segment_readers().iter().enumerate() {
                let popularity = fast_i64(segment, "popularity");
                let alive = segment.alive_bitset();
                let mut scorer = weight.scorer(segment, 1.0)?;
                let mut got = 0;
                let mut doc = scorer.doc();
                while doc != TERMINATED && got < still {
                    let at = DocAddress::new(ord as u32, doc);
                    if alive.is_none_or(|a| a.is_alive(doc)) && !taken.contains(&at) {
                        candidates.push((popularity.as_ref().map_or(0, |c| c.get_val(doc)), at));
                        got += 1;
                    }
                    doc = scorer.advance();
                }
            }
            candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            for (popularity, at) in candidates.into_iter().take(still) {
                taken.insert(at);
                out.push((score(k, popularity), at));
            }
        }
        Ok(out)
    }

    fn load(&self, searcher: &tantivy::Searcher, at: DocAddress) -> anyhow::Result<SearchDocument> {
        let stored: TantivyDocument = searcher.doc(at)?;
        let json = stored
            .get_first(self.fields.doc)
            .and_then(|v| v.as_str())
            .ok_or_else(|| anyhow::anyhow!("a document without its stored copy"))?;
        Ok(serde_json::from_str(json)?)
    }

    fn search_blocking(&self, q: &IndexQuery) -> anyhow::Result<IndexResults> {
        let generation = self.serving();
        let searcher = generation.reader.searcher();
        let need = q.offset + q.limit;
        let found: Vec<(f32, DocAddress)> = match q.sort {
            Sort::Relevance => {
                let steps = self.relevance_steps(q);
                // Step k of n scores in [2^(n-k), 2^(n-k+1)), popularity deciding within.
                let n = steps.len();
                self.ranked(&searcher, &steps, need, |k, popularity| 2f32.powi((n - k) as i32) * (1.0 + popularity_share(popularity)))?
            }
            Sort::Popular => self.ranked(&searcher, &[self.query(q, Narrowed::ALL)], need, |_, popularity| popularity as f32)?,
            Sort::Newest => {
                let top = TopDocs::with_limit(need.max(1)).order_by_fast_field::<i64>("published_at", Order::Desc);
                let found = searcher.search(&self.query(q, Narrowed::ALL), &top)?;
                found.into_iter().map(|(v, at)| (v.unwrap_or(0) as f32, at)).collect()
            }
        };
        let mut hits = Vec::with_capacity(q.limit);
        for &(score, at) in found.iter().skip(q.offset).take(q.limit) {
            hits.push(IndexHit { doc: self.load(&searcher, at)?, score });
        }
        let total = if q.count { Some(self.query(q, Narrowed::ALL).count(&searcher)? as u64) } else { None };
        let facets = if q.facets { self.facets(&searcher, q)? } else { Facets::default() };
        Ok(IndexResults { hits, total, facets })
    }

    fn facets(&self, searcher: &tantivy::Searcher, q: &IndexQuery) -> anyhow::Result<Facets> {
        let query = self.query(q, Narrowed { with_kind_and_category: false, ..Narrowed::ALL });
        let request: Aggregations = serde_json::from_value(serde_json::json!({
            "kinds": { "terms": { "field": "kind", "size": DocKind::ALL.len() } },
            "categories": { "terms": { "field": "category", "size": MAX_CATEGORY_FACETS } },
        }))?;
        let result = searcher.search(&query, &AggregationCollector::from_aggs(request, Default::default()))?;
        let json = serde_json::to_value(&result)?;
        let buckets = |name: &str| -> Vec<(String, u64)> {
            json.get(name)
                .and_then(|a| a.get("buckets"))
                .and_then(|b| b.as_array())
                .map(|buckets| {
                    buckets
                        .iter()
                        .filter_map(|b| Some((b.get("key")?.as_str()?.to_owned(), b.get("doc_count")?.as_u64()?)))
                        .collect()
                })
                .unwrap_or_default()
        };
        let kinds = buckets("kinds").into_iter().filter_map(|(code, n)| Some((DocKind::from_code(&code)?, n))).collect();
        Ok(Facets { kinds, categories: buckets("categories") })
    }
}

fn fast_i64(segment: &SegmentReader, field: &str) -> Option<Arc<dyn tantivy::columnar::ColumnValues<i64>>> {
    segment.fast_fields().i64(field).ok().map(|c| c.first_or_default_col(0))
}

fn term(field: Field, text: &str, record: IndexRecordOption) -> Box<dyn Query> {
    Box::new(TermQuery::new(Term::from_field_text(field, text), record))
}

/// A CJK word anywhere: its unigram, its bigram, or a phrase of its bigrams.
fn substring(f: &Fields, word: &str) -> Box<dyn Query> {
    let chars: Vec<char> = word.chars().collect();
    match chars.len() {
        0 | 1 => term(f.unigrams, word, IndexRecordOption::WithFreqs),
        2 => term(f.bigrams, word, IndexRecordOption::WithFreqs),
        _ => Box::new(PhraseQuery::new(
            chars.windows(2).map(|pair| Term::from_field_text(f.bigrams, &pair.iter().collect::<String>())).collect(),
        )),
    }
}

fn latin_query(f: &Fields, run: &LatinRun) -> Box<dyn Query> {
    let terms: Vec<Term> = run.terms.iter().map(|t| Term::from_field_text(f.latin, t)).collect();
    match terms.as_slice() {
        [] => Box::new(tantivy::query::EmptyQuery),
        [one] if run.prefix_last => Box::new(PhrasePrefixQuery::new(vec![one.clone()])),
        [one] if run.typos > 0 => Box::new(FuzzyTermQuery::new(one.clone(), run.typos, false)),
        [one] => Box::new(TermQuery::new(one.clone(), IndexRecordOption::WithFreqs)),
        _ if run.prefix_last => Box::new(PhrasePrefixQuery::new(terms)),
        _ => Box::new(PhraseQuery::new(terms)),
    }
}

/// Syllables of adjacent characters: one as a reading, more as a phrase of reading pairs
/// (li jian g… → `li jian`, `jian g…`), whose terms are far rarer than single syllables: the
/// phrase checks positions in a few hundred titles where one of syllables would in most.
fn syllables_query(f: &Fields, split: &[String], last_unfinished: bool) -> Box<dyn Query> {
    let terms: Vec<Term> = match split {
        [one] => vec![Term::from_field_text(f.pinyin, one)],
        _ => split.windows(2).map(|w| Term::from_field_text(f.reading_pairs, &pair(&w[0], &w[1]))).collect(),
    };
    match terms.as_slice() {
        [] => Box::new(tantivy::query::EmptyQuery),
        _ if last_unfinished => Box::new(PhrasePrefixQuery::new(terms)),
        [one] => Box::new(TermQuery::new(one.clone(), IndexRecordOption::WithFreqs)),
        _ => Box::new(PhraseQuery::new(terms)),
    }
}

/// The words a title holding the query would have among its words: a CJK run's words of two
/// characters or more (jieba's search mode gives a title's words inside its longer ones too), a
/// Latin run's terms.
fn title_words(plan: &QueryPlan) -> Vec<String> {
    let mut out = Vec::new();
    for run in &plan.runs {
        match run {
            // A single character is rarely a word of its own (的 is in most titles).
            Run::Cjk { words, .. } => out.extend(words.iter().filter(|w| w.chars().nth(1).is_some()).cloned()),
            Run::Latin(latin) => out.extend(latin.terms.iter().cloned()),
        }
    }
    out.sort();
    out.dedup();
    out
}

/// What a query asks of documents, beyond the plan and the price and owner filters.
#[derive(Debug, Clone, Copy)]
struct Narrowed {
    /// Each CJK run found as typed, contiguous (not only its words).
    as_typed: bool,
    /// The query's words are words of the title.
    in_title: bool,
    /// Live rooms that are live now.
    live: bool,
    /// The kind and category filters apply (facets count without them).
    with_kind_and_category: bool,
}

impl Narrowed {
    /// Every match of the query and its filters.
    const ALL: Self = Self { as_typed: false, in_title: false, live: false, with_kind_and_category: true };
}

/// Popularity as a share in [0, 1), growing with it: it orders documents within a step of the
/// relevance order and never lifts one into the step above.
fn popularity_share(popularity: i64) -> f32 {
    let log = (1.0 + popularity.max(0) as f32).ln();
    log / (log + 10.0)
}

/// The cores this process may use (threads for analysis and for tantivy's indexing).
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

fn write_current(dir: &Path, number: u64) -> anyhow::Result<()> {
    let tmp = dir.join("current.tmp");
    std::fs::write(&tmp, number.to_string())?;
    std::fs::rename(&tmp, dir.join("current"))?;
    Ok(())
}

/// Removes generations other than `keep` (a rebuild that died half-way, or the one swapped out).
fn remove_other_generations(dir: &Path, keep: u64) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(number) = name.to_str().and_then(|n| n.strip_prefix("gen-")).and_then(|n| n.parse::<u64>().ok()) else {
            continue;
        };
        if number != keep
            && let Err(e) = std::fs::remove_dir_all(entry.path())
        {
            tracing::warn!(error = %e, path = %entry.path().display(), "could not remove an old search index generation");
        }
    }
}

async fn blocking<T: Send + 'static>(what: &'static str, f: impl FnOnce() -> anyhow::Result<T> + Send + 'static) -> Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(|e| Error::Internal(e.context(what))),
        Err(join) => Err(join).context(what),
    }
}

#[async_trait]
impl SearchIndex for Arc<TantivyIndex> {
    fn engine(&self) -> &'static str {
        "tantivy"
    }

    async fn apply(&self, changes: Vec<Change>, through: i64) -> Result<()> {
        let this = self.clone();
        blocking("applying changes to the search index", move || {
            let generation = this.serving();
            let upserts: Vec<&SearchDocument> =
                changes.iter().filter_map(|c| if let Change::Upsert(doc) = c { Some(doc) } else { None }).collect();
            let mut converted = this.to_tantivy_all(&upserts)?.into_iter();
            generation.write(WRITER_MEMORY_PER_THREAD, |writer| {
                for change in changes {
                    match change {
                        Change::Upsert(doc) => {
                            let doc_converted = converted.next().ok_or_else(|| anyhow::anyhow!("a document was not converted"))?;
                            writer.delete_term(Term::from_field_text(this.fields.key, &doc.key().encode()));
                            writer.add_document(doc_converted)?;
                        }
                        Change::Delete(key) => {
                            writer.delete_term(Term::from_field_text(this.fields.key, &key.encode()));
                        }
                    }
                }
                generation.commit(writer, through)
            })
        })
        .await
    }

    async fn applied_through(&self) -> Result<i64> {
        let this = self.clone();
        blocking("reading where the search index is", move || {
            this.follow_current()?;
            this.serving().through()
        })
        .await
    }

    async fn search(&self, query: &IndexQuery) -> Result<IndexResults> {
        // Off the async workers (actix's are single-threaded runtimes): a query over a large
        // index is milliseconds of CPU.
        let (this, query) = (self.clone(), query.clone());
        blocking("searching", move || this.search_blocking(&query)).await
    }

    async fn count(&self) -> Result<u64> {
        Ok(self.serving().reader.searcher().num_docs())
    }

    async fn rebuild(&self) -> Result<Box<dyn Rebuild>> {
        let this = self.clone();
        blocking("starting a search index rebuild", move || {
            let number = this.serving().number + 1;
            let path = this.dir.join(format!("gen-{number}"));
            if path.exists() {
                std::fs::remove_dir_all(&path)?;
            }
            let generation = Generation::open_or_create(&this.dir, number)?;
            Ok(Box::new(TantivyRebuild { index: this, generation: Some(Arc::new(generation)) }) as Box<dyn Rebuild>)
        })
        .await
    }
}

struct TantivyRebuild {
    index: Arc<TantivyIndex>,
    generation: Option<Arc<Generation>>,
}

#[async_trait]
impl Rebuild for TantivyRebuild {
    async fn add(&mut self, docs: Vec<SearchDocument>) -> Result<()> {
        let Some(generation) = self.generation.clone() else { return Err(Error::internal("the rebuild is finished")) };
        let index = self.index.clone();
        blocking("adding to the rebuilt search index", move || {
            let converted = index.to_tantivy_all(&docs.iter().collect::<Vec<_>>())?;
            generation.write(REBUILD_MEMORY_PER_THREAD, |writer| {
                for doc in converted {
                    writer.add_document(doc)?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn finish(mut self: Box<Self>, through: i64) -> Result<()> {
        let generation = self.generation.take().ok_or_else(|| Error::internal("the rebuild is finished"))?;
        let index = self.index.clone();
        blocking("swapping in the rebuilt search index", move || {
            generation.write(REBUILD_MEMORY_PER_THREAD, |writer| generation.commit(writer, through))?;
            // Its writer goes with the rebuild: a server serving this directory takes it, and
            // this process's next write opens one with the ordinary memory.
            if let Ok(mut slot) = generation.writer.lock() {
                *slot = None;
            }
            let number = generation.number;
            write_current(&index.dir, number)?;
            match index.serving.write() {
                Ok(mut serving) => *serving = generation,
                Err(poisoned) => *poisoned.into_inner() = generation,
            }
            remove_other_generations(&index.dir, number);
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_not_sorted_by_popularity_is_started_again() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        // This schema, written before the index was sorted (tantivy's default settings).
        let path = dir.path().join("gen-1");
        std::fs::create_dir_all(&path).expect("gen-1");
        Index::builder().schema(schema().0).create_in_dir(&path).expect("an unsorted index");
        std::fs::write(dir.path().join("current"), "1").expect("current");

        let index = TantivyIndex::open(dir.path(), Arc::new(Analyzer::new().expect("the analyzer"))).expect("opened");
        assert_eq!(index.serving().number, 2, "a new generation serves");
        assert!(index.serving().current_format());
        assert!(!path.exists(), "the unsorted copy is removed");
    }
}
