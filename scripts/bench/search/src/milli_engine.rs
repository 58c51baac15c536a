//! Meilisearch's own engine, milli (the `milli-core` republish of milli 1.15.1), in-process and
//! set up the way a Meilisearch server would serve these titles, plus what a careful operator sets
//! for Chinese text:
//!
//! - primary key `id`, one searchable attribute `title`, and `localizedAttributes` saying `title`
//!   is Chinese (`cmn`): charabia then segments it with its Chinese (jieba) segmenter rather than
//!   guessing the language per value, at indexing and at search time (milli reads the rules when a
//!   search names no `locales`);
//! - everything else left as Meilisearch's defaults: ranking rules (words, typo, proximity,
//!   attribute, sort, exactness), typo tolerance on, prefix search at indexing time, proximity by
//!   word, terms matching strategy `last`;
//! - indexing as Meilisearch 1.15 does it for a document addition: the new indexer
//!   (`update::new::indexer`), an NDJSON payload, on a thread pool of half the cores and with at most
//!   2/3 of the RAM (Meilisearch's defaults for `--max-indexing-threads` and
//!   `--max-indexing-memory`). All titles go in one payload, as the server would auto-batch
//!   consecutive additions into one indexing run.
//!
//! Two things differ from a server, both in milli's favour or neutral: no search cutoff (Meilisearch
//! stops a search after 1.5 s by default) and no `maxTotalHits` cap of 1000 on what one search may
//! return (the recall measure asks for every match). A total is exact when the bench asks for one
//! (as with `page`/`hitsPerPage`) and otherwise estimated (as `offset`/`limit` searches do).

use milli::heed::EnvOpenOptions;
use milli::progress::Progress;
use milli::tokenizer::Language;
use milli::update::new::indexer;
use milli::update::{IndexerConfig, Settings};
use milli::vector::EmbeddingConfigs;
use milli::{Index, LocalizedAttributesRule, Object, Search, TermsMatchingStrategy, ThreadPoolNoAbortBuilder};

use crate::engine::{Doc, Engine, dir_size};

/// LMDB's map: address space only (the file grows as pages are written); 1M titles take far less.
const MAP_SIZE: usize = 16 << 30;

/// One index and the directory it lives in (the index first, so it closes before the directory goes).
struct Built {
    index: Index,
    dir: tempfile::TempDir,
}

pub struct Milli {
    config: IndexerConfig,
    built: Option<Built>,
}

impl Milli {
    pub fn new() -> anyhow::Result<Self> {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let pool = ThreadPoolNoAbortBuilder::new()
            .thread_name(|i| format!("milli-indexing-{i}"))
            .num_threads((cores / 2).max(1))
            .build()?;
        let config = IndexerConfig { thread_pool: Some(pool), max_memory: two_thirds_of_memory(), ..IndexerConfig::default() };
        Ok(Self { config, built: None })
    }

    fn built(&self) -> anyhow::Result<&Built> {
        self.built.as_ref().ok_or_else(|| anyhow::anyhow!("nothing indexed yet"))
    }
}

/// Meilisearch's default `--max-indexing-memory`: 2/3 of the machine's memory.
fn two_thirds_of_memory() -> Option<usize> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024 / 3 * 2)
}

impl Engine for Milli {
    fn name(&self) -> &'static str {
        "meilisearch engine (milli)"
    }

    fn index(&mut self, docs: &[Doc]) -> anyhow::Result<()> {
        if let Some(old) = self.built.take() {
            // Unmap the old environment before its directory is removed.
            let closing = old.index.prepare_for_closing();
            closing.wait();
            drop(old.dir);
        }
        let dir = tempfile::tempdir()?;
        let mut options = EnvOpenOptions::new().read_txn_without_tls();
        options.map_size(MAP_SIZE);
        let index = Index::new(options, dir.path(), true)?;

        // Settings first, on the empty index (the order a careful operator follows: no reindexing).
        let mut wtxn = index.write_txn()?;
        let mut settings = Settings::new(&mut wtxn, &index, &self.config);
        settings.set_primary_key("id".to_owned());
        settings.set_searchable_fields(vec!["title".to_owned()]);
        settings.set_localized_attributes_rules(vec![LocalizedAttributesRule::new(vec!["title".to_owned()], vec![Language::Cmn])]);
        settings.execute(|_| (), || false)?;
        wtxn.commit()?;

        // The documents, as the NDJSON payload a `POST /indexes/…/documents` leaves on disk.
        // (`mmap_from_objects` is milli's helper: it spills to an anonymous temp file and maps it.)
        let payload = milli::documents::mmap_from_objects(docs.iter().map(|d| {
            let mut object = Object::new();
            object.insert("id".to_owned(), d.id.into());
            object.insert("title".to_owned(), d.title.clone().into());
            object
        }));

        let pool = self.config.thread_pool.as_ref().ok_or_else(|| anyhow::anyhow!("no indexing thread pool"))?;
        let mut wtxn = index.write_txn()?;
        {
            let rtxn = index.read_txn()?;
            let db_fields_ids_map = index.fields_ids_map(&rtxn)?;
            let mut new_fields_ids_map = db_fields_ids_map.clone();
            let mut operation = indexer::DocumentOperation::new();
            operation.replace_documents(&payload)?;
            // The indexer's bump allocator (a `bumpalo::Bump`, named through inference: this
            // package does not depend on bumpalo itself).
            let alloc = Default::default();
            let (changes, stats, primary_key) = operation.into_changes(
                &alloc,
                &index,
                &rtxn,
                Some("id"),
                &mut new_fields_ids_map,
                &|| false,
                Progress::default(),
            )?;
            if let Some(error) = stats.into_iter().find_map(|s| s.error) {
                return Err(anyhow::anyhow!("milli refused the documents: {error}"));
            }
            // Called from this thread, as the index scheduler does: milli writes to LMDB here and
            // runs the extraction on `pool` (wrapping this call in `pool.install` would leave a
            // one-thread pool with no thread for the extractors).
            indexer::index(
                &mut wtxn,
                &index,
                pool,
                self.config.grenad_parameters(),
                &db_fields_ids_map,
                new_fields_ids_map,
                primary_key,
                &changes,
                EmbeddingConfigs::default(),
                &|| false,
                &Progress::default(),
            )?;
        }
        wtxn.commit()?;

        let rtxn = index.read_txn()?;
        let count = index.number_of_documents(&rtxn)?;
        anyhow::ensure!(count == docs.len() as u64, "milli holds {count} documents, {} were added", docs.len());
        drop(rtxn);
        self.built = Some(Built { index, dir });
        Ok(())
    }

    fn size_bytes(&self) -> anyhow::Result<u64> {
        dir_size(self.built()?.dir.path())
    }

    fn search(&self, query: &str, _suggest: bool, limit: usize, count: bool) -> anyhow::Result<(Option<u64>, Vec<u32>)> {
        // `suggest` needs nothing: milli always treats the query's last word as a prefix.
        let index = &self.built()?.index;
        let rtxn = index.read_txn()?;
        let mut search = Search::new(&rtxn, index);
        search
            .query(query)
            .limit(limit)
            // Meilisearch's default: when not every word can match, drop words from the end.
            .terms_matching_strategy(TermsMatchingStrategy::Last)
            // Meilisearch's default estimates the total; an exact one is asked for with `count`.
            .exhaustive_number_hits(count);
        let result = search.execute()?;
        // The ids come from the hits' stored documents (their primary key), which is what
        // Meilisearch reads to return them; internal docids are not assumed to follow ours.
        let mut ids = Vec::with_capacity(result.documents_ids.len());
        for external in index.external_id_of(&rtxn, result.documents_ids.iter().copied())? {
            let external = external?;
            ids.push(external.parse::<u32>().map_err(|e| anyhow::anyhow!("document id {external:?}: {e}"))?);
        }
        Ok((count.then(|| result.candidates.len()), ids))
    }
}
