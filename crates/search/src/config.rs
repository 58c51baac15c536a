//! The `[search]` section of the server's config.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

/// Which engine holds the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    /// Embedded, in the data directory: one index per node, each fed by its node's indexer.
    #[default]
    Tantivy,
    /// A Meilisearch server shared by every node (`[search.meilisearch]`).
    Meilisearch,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SearchConfig {
    pub engine: Engine,
    /// Where the embedded index lives; `<data_dir>/search` when unset.
    pub index_dir: Option<PathBuf>,
    pub meilisearch: MeilisearchConfig,
    /// How often the indexer looks for changes other nodes committed (this node's wake it at
    /// once).
    pub indexer_poll_ms: u64,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self { engine: Engine::default(), index_dir: None, meilisearch: MeilisearchConfig::default(), indexer_poll_ms: 1_000 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct MeilisearchConfig {
    /// `http://127.0.0.1:7700`
    pub url: String,
    /// A key allowed to manage the index (`KANJIAN_SEARCH__MEILISEARCH__API_KEY`).
    pub api_key: Option<SecretString>,
    /// The index's uid; a rebuild fills `<index>_rebuild` beside it and swaps.
    pub index: String,
}

impl Default for MeilisearchConfig {
    fn default() -> Self {
        Self { url: "http://127.0.0.1:7700".into(), api_key: None, index: "kanjian".into() }
    }
}
