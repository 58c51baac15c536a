//! `search_documents`: what the index should hold, kept by the event handlers, read by the
//! indexer and by `kanjian reindex`.
//!
//! Every change takes the next number of `search_sequence` inside its transaction. Taking it
//! locks the counter's row until commit, so numbers commit in order: an indexer that has
//! applied everything up to N never finds a change numbered below N committed later.
//!
//! Changes are idempotent and versioned per aggregate: one not newer than the row's version is
//! skipped, and a deleted document's tombstone is newer than everything.

use kanjian_db::{Db, Params};
use kanjian_kernel::{Context, Result};
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

use crate::index::{Change, DocKey, DocKind, SearchDocument};

/// What an event says about one document.
#[derive(Debug, Clone)]
pub(crate) enum Fact {
    /// Findable, as this.
    Visible(SearchDocument),
    /// Exists, but nobody may find it now (unpublished, off the shelf, ended).
    Hidden(DocKey),
    /// Gone for good.
    Deleted(DocKey),
}

impl Fact {
    fn key(&self) -> DocKey {
        match self {
            Self::Visible(doc) => doc.key(),
            Self::Hidden(key) | Self::Deleted(key) => *key,
        }
    }
}

/// Records `fact` at `version` (the owning module's version of the aggregate; 0 when it has
/// none, which always applies). Returns whether it changed anything.
pub(crate) async fn record(db: &Db, fact: Fact, version: i64, occurred_at_ms: i64) -> Result<bool> {
    let key = fact.key();
    let txn = db.begin().await.context("starting a search document change")?;
    let lock = if db.backend() == DbBackend::Postgres { " FOR UPDATE" } else { "" };
    let mut p = Params::new();
    let sql = format!(
        "SELECT version, deleted FROM search_documents WHERE kind = {} AND doc_id = {}{lock}",
        p.bind(key.kind.code()),
        p.bind(key.id)
    );
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(db.backend(), sql, p.into_values()))
        .await
        .context("reading a search document's version")?;
    if let Some(row) = row {
        let held: i64 = row.try_get("", "version").context("reading version")?;
        let deleted: bool = row.try_get("", "deleted").context("reading deleted")?;
        if deleted || (version > 0 && held >= version) {
            return Ok(false);
        }
    }
    let seq = next_seq(&txn, db.backend()).await?;
    let (visible, deleted, document) = match &fact {
        Fact::Visible(doc) => (true, false, Some(serde_json::to_string(doc).context("encoding a search document")?)),
        Fact::Hidden(_) => (false, false, None),
        Fact::Deleted(_) => (false, true, None),
    };
    let mut p = Params::new();
    let sql = format!(
        "INSERT INTO search_documents (kind, doc_id, version, visible, deleted, document, seq, changed_at) \
         VALUES ({}, {}, {}, {}, {}, {}, {}, {}) \
         ON CONFLICT (kind, doc_id) DO UPDATE SET version = excluded.version, visible = excluded.visible, \
         deleted = excluded.deleted, document = excluded.document, seq = excluded.seq, changed_at = excluded.changed_at",
        p.bind(key.kind.code()),
        p.bind(key.id),
        p.bind(version),
        p.bind(visible),
        p.bind(deleted),
        p.bind(Value::String(document)),
        p.bind(seq),
        p.bind(occurred_at_ms),
    );
    txn.execute_raw(Statement::from_sql_and_values(db.backend(), sql, p.into_values()))
        .await
        .context("writing a search document")?;
    txn.commit().await.context("committing a search document change")?;
    Ok(true)
}

async fn next_seq<C: ConnectionTrait>(conn: &C, backend: DbBackend) -> Result<i64> {
    let row = conn
        .query_one_raw(Statement::from_string(
            backend,
            "UPDATE search_sequence SET last = last + 1 WHERE id = 1 RETURNING last",
        ))
        .await
        .context("numbering a search document change")?
        .ok_or_else(|| kanjian_kernel::Error::internal("search_sequence has no row"))?;
    row.try_get("", "last").context("reading the change number")
}

/// The stored document of one row, when visible.
pub(crate) async fn document(db: &Db, key: DocKey) -> Result<Option<SearchDocument>> {
    let mut p = Params::new();
    let sql = format!(
        "SELECT document FROM search_documents WHERE kind = {} AND doc_id = {} AND visible",
        p.bind(key.kind.code()),
        p.bind(key.id)
    );
    let row = db
        .reader()
        .query_one_raw(Statement::from_sql_and_values(db.backend(), sql, p.into_values()))
        .await
        .context("reading a search document")?;
    match row {
        None => Ok(None),
        Some(row) => {
            let json: Option<String> = row.try_get("", "document").context("reading document")?;
            json.map(|j| serde_json::from_str(&j).context("decoding a search document")).transpose()
        }
    }
}

/// What an index has not applied: the changes numbered after what it has.
pub(crate) struct Pending {
    pub changes: Vec<Change>,
    /// The number of the last of them (`after` when there are none).
    pub through: i64,
    /// When the earliest of them happened (ms since the epoch): the indexing lag is measured
    /// from it.
    pub oldest: Option<i64>,
}

/// Changes numbered after `after`, in order, at most `limit`. One statement: an idle indexer
/// costs the database one small read per poll.
pub(crate) async fn changes_after(db: &Db, after: i64, limit: u64) -> Result<Pending> {
    let mut p = Params::new();
    let sql = format!(
        "SELECT kind, doc_id, visible, document, seq, changed_at FROM search_documents WHERE seq > {} ORDER BY seq LIMIT {}",
        p.bind(after),
        p.bind(i64::try_from(limit).unwrap_or(i64::MAX))
    );
    let rows = db
        .reader()
        .query_all_raw(Statement::from_sql_and_values(db.backend(), sql, p.into_values()))
        .await
        .context("reading search document changes")?;
    let mut pending = Pending { changes: Vec::with_capacity(rows.len()), through: after, oldest: None };
    for row in rows {
        let kind: String = row.try_get("", "kind").context("reading kind")?;
        let id: i64 = row.try_get("", "doc_id").context("reading doc_id")?;
        let visible: bool = row.try_get("", "visible").context("reading visible")?;
        let document: Option<String> = row.try_get("", "document").context("reading document")?;
        let changed_at: i64 = row.try_get("", "changed_at").context("reading changed_at")?;
        pending.through = row.try_get("", "seq").context("reading seq")?;
        pending.oldest = Some(pending.oldest.map_or(changed_at, |o: i64| o.min(changed_at)));
        let Some(kind) = DocKind::from_code(&kind) else { continue };
        pending.changes.push(match (visible, document) {
            (true, Some(json)) => Change::Upsert(serde_json::from_str(&json).context("decoding a search document")?),
            _ => Change::Delete(DocKey::new(kind, id)),
        });
    }
    Ok(pending)
}

/// The highest change number committed.
pub(crate) async fn last_seq(db: &Db) -> Result<i64> {
    let row = db
        .reader()
        .query_one_raw(Statement::from_string(db.backend(), "SELECT last FROM search_sequence WHERE id = 1"))
        .await
        .context("reading the last change number")?;
    match row {
        Some(row) => row.try_get("", "last").context("reading last"),
        None => Ok(0),
    }
}

/// Every visible document, in key order, a page at a time (a rebuild).
pub(crate) async fn visible_after(db: &Db, after: Option<DocKey>, limit: u64) -> Result<Vec<SearchDocument>> {
    let mut p = Params::new();
    let (kind, id) = after.map_or((String::new(), i64::MIN), |k| (k.kind.code().to_owned(), k.id));
    let sql = format!(
        "SELECT document FROM search_documents WHERE visible AND (kind > {k} OR (kind = {k2} AND doc_id > {i})) \
         ORDER BY kind, doc_id LIMIT {l}",
        k = p.bind(kind.clone()),
        k2 = p.bind(kind),
        i = p.bind(id),
        l = p.bind(i64::try_from(limit).unwrap_or(i64::MAX)),
    );
    let rows = db
        .reader()
        .query_all_raw(Statement::from_sql_and_values(db.backend(), sql, p.into_values()))
        .await
        .context("reading search documents")?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let json: Option<String> = row.try_get("", "document").context("reading document")?;
        if let Some(json) = json {
            out.push(serde_json::from_str(&json).context("decoding a search document")?);
        }
    }
    Ok(out)
}

/// How many documents are visible.
pub(crate) async fn visible_count(db: &Db) -> Result<u64> {
    let row = db
        .reader()
        .query_one_raw(Statement::from_string(db.backend(), "SELECT COUNT(*) AS n FROM search_documents WHERE visible"))
        .await
        .context("counting search documents")?;
    let n: i64 = match row {
        Some(row) => row.try_get("", "n").context("reading n")?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}
