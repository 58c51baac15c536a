//! Units moving from held to sold, off the hot row.
//!
//! A SKU row counts its units three ways: `stock` (on sale), `held` (in unpaid orders) and
//! `sold`. Holds and releases change `stock`, so they update the row at once: what can be bought
//! is never stale. A payment only moves units from `held` to `sold`; their sum and `stock` stay
//! as they are. In a flash sale the row is busy with holds, and one `UPDATE` of it per payment
//! queued every payment behind them (README §6: the busiest statement once `buyNow` was
//! batched). So a payment writes its move to `commerce_sku_moves` in its own transaction, and
//! every node's sweep folds the moves into their rows, one `UPDATE` per SKU for all of them.
//! Readers add the moves not folded yet in the same statement, so `held` and `sold` read exact.

use std::collections::BTreeMap;

use kanjian_kernel::{Context, Result};
use kanjian_db::Params;
use sea_orm::{ConnectionTrait, Statement};

use crate::Deps;
use crate::access::execute;
use crate::entity::{order_line, sku};

/// Moves folded per sweep pass at most (a pass that fills it folds again at the next).
const FOLD_BATCH: i64 = 10_000;

/// Records that `lines`' units went from held to sold, in `conn`'s transaction (the payment's).
pub(crate) async fn record_sold<C: ConnectionTrait>(conn: &C, lines: &[order_line::Model]) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut p = Params::new();
    let tuples: Vec<String> = lines.iter().map(|l| format!("({}, {})", p.bind(l.sku_id), p.bind(l.quantity))).collect();
    let sql = format!("INSERT INTO commerce_sku_moves (sku_id, units) VALUES {}", tuples.join(", "));
    execute(conn, &sql, p.into_values(), "recording units sold").await?;
    Ok(())
}

/// Sets `skus`' `held` and `sold` to what they are with the moves not folded yet: one
/// statement, so a fold committing meanwhile is counted once, never twice or not at all.
pub(crate) async fn with_moves<C: ConnectionTrait>(conn: &C, skus: &mut [sku::Model]) -> Result<()> {
    if skus.is_empty() {
        return Ok(());
    }
    let mut p = Params::new();
    let ids = p.bind_all(skus.iter().map(|s| s.id));
    let sql = format!(
        "SELECT s.id, CAST(s.held - COALESCE(SUM(m.units), 0) AS BIGINT) AS held, CAST(s.sold + COALESCE(SUM(m.units), 0) AS BIGINT) AS sold \
         FROM commerce_skus s LEFT JOIN commerce_sku_moves m ON m.sku_id = s.id WHERE s.id IN ({ids}) GROUP BY s.id, s.held, s.sold"
    );
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(conn.get_database_backend(), sql, p.into_values()))
        .await
        .context("reading units sold")?;
    let mut now: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for row in rows {
        let id: i64 = row.try_get("", "id").context("reading units sold")?;
        now.insert(id, (row.try_get("", "held").context("reading units held")?, row.try_get("", "sold").context("reading units sold")?));
    }
    for s in skus.iter_mut() {
        if let Some((held, sold)) = now.get(&s.id) {
            (s.held, s.sold) = (*held, *sold);
        }
    }
    Ok(())
}

/// Folds the moves into their SKU rows, in SKU order; the units moved. Nodes folding at once
/// each take different moves (a move is deleted by the fold that applies it).
pub(crate) async fn fold(deps: &Deps) -> Result<u64> {
    let txn = deps.db.begin().await.context("starting to fold units sold")?;
    let rows = txn
        .query_all_raw(Statement::from_sql_and_values(
            txn.get_database_backend(),
            "DELETE FROM commerce_sku_moves WHERE id IN (SELECT id FROM commerce_sku_moves ORDER BY id LIMIT $1) RETURNING sku_id, units",
            [FOLD_BATCH.into()],
        ))
        .await
        .context("taking units sold to fold")?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut per_sku: BTreeMap<i64, i64> = BTreeMap::new();
    for row in rows {
        let sku: i64 = row.try_get("", "sku_id").context("reading a move")?;
        *per_sku.entry(sku).or_default() += row.try_get::<i64>("", "units").context("reading a move")?;
    }
    let now = deps.db.now();
    for (sku, units) in &per_sku {
        execute(
            &txn,
            "UPDATE commerce_skus SET held = held - $1, sold = sold + $1, updated_at = $2 WHERE id = $3",
            vec![(*units).into(), now.into(), (*sku).into()],
            "folding units sold",
        )
        .await?;
    }
    txn.commit().await.context("committing folded units sold")?;
    Ok(per_sku.values().map(|u| u.unsigned_abs()).sum())
}
