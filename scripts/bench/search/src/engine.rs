//! What the benchmark asks of an engine: index a corpus of titles, answer a query.

pub use crate::corpus::Doc;

/// A search engine under test, holding one corpus at a time.
pub trait Engine {
    fn name(&self) -> &'static str;
    /// Indexes `docs` into a fresh index, in one bulk load (the caller times it).
    fn index(&mut self, docs: &[Doc]) -> anyhow::Result<()>;
    /// Indexes `docs` into a fresh, throwaway index in the batches a running server's indexer
    /// commits, when the engine has such a path (the caller times it).
    fn index_in_batches(&mut self, _docs: &[Doc]) -> Option<anyhow::Result<usize>> {
        None
    }
    /// Bytes the index takes on disk.
    fn size_bytes(&self) -> anyhow::Result<u64>;
    /// The best `limit` ids for `query`, and with `count` how many documents match in all
    /// (exact). `suggest`: the text of a search box still being typed (the last word may be
    /// unfinished).
    fn search(&self, query: &str, suggest: bool, limit: usize, count: bool) -> anyhow::Result<(Option<u64>, Vec<u32>)>;
}

/// Bytes under `dir`.
pub fn dir_size(dir: &std::path::Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() { dir_size(&entry.path())? } else { meta.len() };
    }
    Ok(total)
}
