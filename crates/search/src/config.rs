//! The `[search]` section of the server's config.

use std::path::PathBuf;

use serde::Deserialize;

/// Which engine holds the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    /// Embedded, in the data directory: one index per node.
    #[default]
    Tantivy,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SearchConfig {
    pub engine: Engine,
    /// Where the embedded index lives; `<data_dir>/search` when unset.
    pub index_dir: Option<PathBuf>,
}
