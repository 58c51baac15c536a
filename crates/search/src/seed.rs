//! Bulk writer for `search_documents`, used by `kanjian seed`: a seeded world is searchable as
//! soon as a server's indexer (or `kanjian reindex`) reads these rows, without replaying the
//! events the seed never emitted.
//!
//! Rows go in at version 0, which any later event of the owning module supersedes, and numbered
//! by the caller from 1; `finish` moves `search_sequence` past them.

use kanjian_db::Db;
use kanjian_db::bulk::{self, BulkRow, RowWriter};
use kanjian_kernel::{Context, Result};
use sea_orm::{ConnectionTrait, Statement};

pub use kanjian_db::bulk::BulkWriter;

use crate::index::SearchDocument;

/// One visible document, change number `seq`, recorded at `changed_at_ms`.
#[derive(Debug, Clone)]
pub struct Document {
    pub doc: SearchDocument,
    pub seq: i64,
    pub changed_at_ms: i64,
}

impl BulkRow for Document {
    const TABLE: &'static str = "search_documents";
    const COLUMNS: &'static [&'static str] =
        &["kind", "doc_id", "version", "visible", "deleted", "document", "seq", "changed_at"];
    fn write(&self, row: &mut RowWriter<'_>) {
        row.text(self.doc.kind.code());
        row.int(self.doc.id);
        row.int(0);
        row.bool(true);
        row.bool(false);
        // A document always encodes (plain fields); an empty one would only be left out.
        row.text(&serde_json::to_string(&self.doc).unwrap_or_default());
        row.int(self.seq);
        row.int(self.changed_at_ms);
    }
}

pub async fn writer(db: &Db) -> Result<BulkWriter<Document>> {
    BulkWriter::begin(db.writer()).await.context("opening a bulk writer")
}

/// After loading: the next change is numbered after the seeded ones.
pub async fn finish(db: &Db) -> Result<()> {
    db.writer()
        .execute_raw(Statement::from_string(
            db.backend(),
            "UPDATE search_sequence SET last = (SELECT COALESCE(MAX(seq), 0) FROM search_documents) WHERE id = 1",
        ))
        .await
        .context("moving the search change counter past the seeded documents")?;
    bulk::analyze(db.writer(), &["search_documents"])
        .await
        .context("analyzing search's tables")
}
