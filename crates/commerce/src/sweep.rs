//! The sweep every node runs: orders past their payment window are cancelled (their stock goes
//! back on sale), shipped orders past the confirm window complete, payments' units sold are
//! folded into their SKU rows (`stock.rs`). Each order moves by a
//! compare-and-set, so nodes sweeping at once never both move one.

use std::time::Duration;

use kanjian_contracts::commerce::OrderState;
use kanjian_kernel::{Context, Result};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio_util::sync::CancellationToken;

use crate::Deps;
use crate::entity::order;
use crate::orders;

/// Orders looked at per pass and kind; a pass that fills it runs again at once.
const BATCH: u64 = 200;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Unpaid orders cancelled at the end of their payment window.
    pub expired: u64,
    /// Shipped orders completed at the end of their confirm window.
    pub completed: u64,
    /// Payment attempts asked about at their provider, and refunds driven.
    pub reconciled: u64,
    /// Paid units folded from held into sold on their SKU rows.
    pub folded: u64,
}

pub(crate) async fn once(deps: &Deps) -> Result<Swept> {
    let now = deps.db.now();
    let mut swept = Swept::default();
    let due: Vec<i64> = order::Entity::find()
        .select_only()
        .column(order::Column::Id)
        .filter(order::Column::State.eq(OrderState::PendingPayment.as_str()))
        .filter(order::Column::PayBy.lte(now))
        .order_by_asc(order::Column::PayBy)
        .limit(BATCH)
        .into_tuple()
        .all(deps.db.reader())
        .await
        .context("finding unpaid orders past their window")?;
    for id in due {
        if orders::expire(deps, id).await? {
            swept.expired += 1;
        }
    }
    let shipped_before = now - deps.config.auto_confirm_after();
    let due: Vec<i64> = order::Entity::find()
        .select_only()
        .column(order::Column::Id)
        .filter(order::Column::State.eq(OrderState::Shipped.as_str()))
        .filter(order::Column::ShippedAt.lte(shipped_before))
        .order_by_asc(order::Column::ShippedAt)
        .limit(BATCH)
        .into_tuple()
        .all(deps.db.reader())
        .await
        .context("finding shipped orders past their confirm window")?;
    for id in due {
        if orders::auto_complete(deps, id).await? {
            swept.completed += 1;
        }
    }
    swept.reconciled = crate::payments::reconcile(deps).await?;
    swept.folded = crate::stock::fold(deps).await?;
    Ok(swept)
}

pub(crate) async fn run(deps: &Deps, shutdown: CancellationToken) {
    let every = Duration::from_millis(deps.config.sweep_interval_ms.max(50));
    loop {
        let again = match once(deps).await {
            Ok(swept) => swept.expired + swept.completed >= BATCH,
            Err(e) => {
                tracing::warn!(error = %e, "the order sweep failed; it runs again");
                false
            }
        };
        if !again {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
        } else if shutdown.is_cancelled() {
            return;
        }
    }
}
