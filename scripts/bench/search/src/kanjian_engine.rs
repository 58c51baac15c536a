//! Kanjian's embedded engine (`kanjian_search::index::tantivy`), driven as the module drives it:
//! documents applied in batches with a commit each, queries planned by the shared analysis.

use std::sync::Arc;

use kanjian_search::analysis::Analyzer;
use kanjian_search::index::tantivy::TantivyIndex;
use kanjian_search::index::{Change, DocKind, IndexQuery, SearchDocument, SearchIndex};

use crate::engine::{Doc, Engine, dir_size};

/// Documents applied (and committed) at once, as the indexer does when it is behind.
const BATCH: usize = 10_000;
/// Documents handed to a rebuild at once, as `kanjian reindex` reads them.
const REBUILD_PAGE: usize = 5_000;

pub struct Kanjian {
    runtime: tokio::runtime::Runtime,
    analyzer: Arc<Analyzer>,
    dir: tempfile::TempDir,
    index: Option<Arc<TantivyIndex>>,
}

impl Kanjian {
    pub fn new() -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        Ok(Self { runtime, analyzer: Arc::new(Analyzer::new()?), dir: tempfile::tempdir()?, index: None })
    }

    fn index_ref(&self) -> anyhow::Result<&Arc<TantivyIndex>> {
        self.index.as_ref().ok_or_else(|| anyhow::anyhow!("nothing indexed yet"))
    }
}

fn document(doc: &Doc) -> SearchDocument {
    SearchDocument {
        kind: DocKind::Video,
        id: i64::from(doc.id),
        title: doc.title.clone(),
        body: String::new(),
        owner_id: 1,
        channel_id: Some(1),
        category: None,
        price: None,
        popularity: 0,
        published_at: 0,
        live: false,
    }
}

impl Engine for Kanjian {
    fn name(&self) -> &'static str {
        "kanjian (tantivy)"
    }

    /// As `kanjian reindex` does: a rebuild fed page by page, committed once.
    fn index(&mut self, docs: &[Doc]) -> anyhow::Result<()> {
        self.dir = tempfile::tempdir()?;
        let index = Arc::new(TantivyIndex::open(self.dir.path(), self.analyzer.clone())?);
        self.runtime.block_on(async {
            let mut rebuild = index.rebuild().await?;
            for page in docs.chunks(REBUILD_PAGE) {
                rebuild.add(page.iter().map(document).collect()).await?;
            }
            rebuild.finish(docs.len() as i64).await
        })?;
        self.index = Some(index);
        Ok(())
    }

    /// As the indexer does catching up: batches applied and committed one after another.
    fn index_in_batches(&mut self, docs: &[Doc]) -> Option<anyhow::Result<usize>> {
        let run = || -> anyhow::Result<usize> {
            let dir = tempfile::tempdir()?;
            let index = Arc::new(TantivyIndex::open(dir.path(), self.analyzer.clone())?);
            let mut through = 0;
            for batch in docs.chunks(BATCH) {
                through += batch.len() as i64;
                let changes = batch.iter().map(|d| Change::Upsert(document(d))).collect();
                self.runtime.block_on(index.apply(changes, through))?;
            }
            Ok(BATCH)
        };
        Some(run())
    }

    fn size_bytes(&self) -> anyhow::Result<u64> {
        dir_size(self.dir.path())
    }

    fn search(&self, query: &str, suggest: bool, limit: usize, count: bool) -> anyhow::Result<(Option<u64>, Vec<u32>)> {
        let plan = self.analyzer.plan(query, suggest).map_err(|e| anyhow::anyhow!("{e}"))?;
        let query = IndexQuery { count, ..IndexQuery::new(plan, limit) };
        let results = self.runtime.block_on(self.index_ref()?.search(&query))?;
        Ok((results.total, results.hits.into_iter().map(|h| h.doc.id as u32).collect()))
    }
}
