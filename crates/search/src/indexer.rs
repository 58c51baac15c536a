//! The indexer: applies the changes of `search_documents` to the index, in sequence order, as
//! they commit. Each node's embedded index has its own; with Meilisearch every node runs one and
//! applying a change twice is harmless. Woken by this node's handlers, and every
//! `[search] indexer_poll_ms` for changes other nodes committed.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kanjian_kernel::Result;
use tokio_util::sync::CancellationToken;

use crate::Deps;
use crate::index::{Change, SearchIndex};
use crate::store;

/// Changes applied (and committed) at once: a server catching up (after a seed, or a restart
/// with a new index) commits every 10 000; a quiet one commits each change as it comes.
const BATCH: u64 = 10_000;
const RETRY: Duration = Duration::from_secs(2);

pub(crate) async fn run(deps: Arc<Deps>, index: Arc<dyn SearchIndex>, poll: Duration, shutdown: CancellationToken) {
    loop {
        let wait = match catch_up(&deps, index.as_ref()).await {
            Ok(0) => poll,
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(error = ?e, engine = index.engine(), "the search indexer failed; retrying");
                RETRY
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = deps.changed.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Applies one batch of changes the index has not; returns how many.
pub(crate) async fn catch_up(deps: &Deps, index: &dyn SearchIndex) -> Result<usize> {
    let through = index.applied_through().await?;
    let pending = store::changes_after(&deps.db, through, BATCH).await?;
    let lag_ms = pending.oldest.map_or(0, |at| (deps.db.now_millis() - at).max(0));
    deps.lag_ms.store(lag_ms, Ordering::Relaxed);
    if pending.changes.is_empty() {
        return Ok(0);
    }
    let last = pending.through;
    let changes = pending.changes;
    // A document an engine would refuse is dropped from the index and logged, so one bad
    // document never holds back every change after it.
    let changes: Vec<Change> = changes
        .into_iter()
        .map(|change| match change {
            Change::Upsert(doc) => match doc.check() {
                Ok(()) => Change::Upsert(doc),
                Err(e) => {
                    tracing::error!(error = %e, "a search document over the index's limits is left out");
                    Change::Delete(doc.key())
                }
            },
            delete => delete,
        })
        .collect();
    let n = changes.len();
    index.apply(changes, last).await?;
    tracing::debug!(changes = n, through = last, engine = index.engine(), "search index caught up");
    Ok(n)
}

/// Documents read at once by a rebuild.
const REBUILD_PAGE: u64 = 5_000;

/// A fresh copy of the index from `search_documents`. The change number is read before the
/// documents, so every change after it is applied again by the indexer once the copy serves
/// (harmless: changes are idempotent), and none is missed.
pub(crate) async fn reindex(deps: &Deps, index: &dyn SearchIndex, progress: &(dyn Fn(u64, u64) + Send + Sync)) -> Result<u64> {
    let through = store::last_seq(&deps.db).await?;
    let total = store::visible_count(&deps.db).await?;
    let mut rebuild = index.rebuild().await?;
    let mut done = 0;
    let mut after = None;
    loop {
        let page = store::visible_after(&deps.db, after, REBUILD_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.key());
        let docs: Vec<_> = page.into_iter().filter(|d| d.check().is_ok()).collect();
        done += docs.len() as u64;
        rebuild.add(docs).await?;
        progress(done, total.max(done));
    }
    rebuild.finish(through).await?;
    Ok(done)
}
