//! Dead letters: deliveries that failed for good (`HandlerError::Permanent`, a missing event)
//! or too often (`max_attempts`). They stay in `events_deliveries` with status `dead`, and their
//! events stay in the outbox, until someone looks at them and requeues them (`kanjian events
//! dead-letters`, `kanjian events requeue`).

use kanjian_kernel::{Clock, Context, Result, Timestamp};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, Value};

/// A dead delivery, as an operator needs to judge it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The delivery's id: what [`Requeue::Ids`] takes.
    pub id: i64,
    pub handler: String,
    pub event_id: String,
    /// `None` when the event is no longer in the outbox.
    pub kind: Option<String>,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub finished_at: Option<Timestamp>,
}

/// Which dead letters to requeue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requeue {
    /// These deliveries (ids that are not dead letters are left alone).
    Ids(Vec<i64>),
    /// Every dead letter of this handler.
    Handler(String),
    /// Every dead letter.
    All,
}

/// Dead letters in id order, optionally of one handler, from after id `after` (a keyset
/// cursor: the last id of the previous page), at most `limit`.
pub async fn dead_letters<C: ConnectionTrait>(
    db: &C,
    handler: Option<&str>,
    after: Option<i64>,
    limit: u64,
) -> Result<Vec<DeadLetter>> {
    let mut values: Vec<Value> = vec![after.unwrap_or(i64::MIN).into(), (limit.min(i64::MAX as u64) as i64).into()];
    let by_handler = match handler {
        Some(handler) => {
            values.push(handler.into());
            "AND d.handler = $3"
        }
        None => "",
    };
    let sql = format!(
        "SELECT d.id, d.handler, d.event_id, o.kind, d.attempts, d.last_error, d.finished_at \
         FROM events_deliveries d LEFT JOIN events_outbox o ON o.event_id = d.event_id \
         WHERE d.status = 'dead' AND d.id > $1 {by_handler} ORDER BY d.id LIMIT $2"
    );
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(db.get_database_backend(), sql, values))
        .await
        .context("listing dead letters")?;
    rows.iter()
        .map(|row| {
            let finished_at: Option<i64> = row.try_get("", "finished_at").context("reading finished_at")?;
            Ok(DeadLetter {
                id: row.try_get("", "id").context("reading a dead letter's id")?,
                handler: row.try_get("", "handler").context("reading a dead letter's handler")?,
                event_id: row.try_get("", "event_id").context("reading a dead letter's event id")?,
                kind: row.try_get("", "kind").context("reading a dead letter's kind")?,
                attempts: row.try_get("", "attempts").context("reading a dead letter's attempts")?,
                last_error: row.try_get("", "last_error").context("reading a dead letter's error")?,
                finished_at: finished_at.and_then(chrono::DateTime::from_timestamp_millis),
            })
        })
        .collect()
}

/// Puts dead letters back in the queue: pending, no attempts yet, due now on `clock`. Their
/// last error stays until the next attempt replaces it. Returns how many were requeued. On
/// PostgreSQL it wakes the dispatchers of every node; elsewhere they find the work at their
/// next poll.
#[tracing::instrument(skip_all, fields(which = ?which))]
pub async fn requeue_dead_letters<C: ConnectionTrait>(db: &C, clock: &Clock, which: &Requeue) -> Result<u64> {
    let backend = db.get_database_backend();
    let mut values: Vec<Value> = vec![clock.now_millis().into()];
    let which_sql = match which {
        Requeue::Ids(ids) if ids.is_empty() => return Ok(0),
        Requeue::Ids(ids) => {
            let placeholders: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
            values.extend(ids.iter().map(|id| Value::from(*id)));
            format!("AND id IN ({})", placeholders.join(", "))
        }
        Requeue::Handler(handler) => {
            values.push(handler.clone().into());
            "AND handler = $2".to_owned()
        }
        Requeue::All => String::new(),
    };
    let requeued = db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "UPDATE events_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1, \
                 locked_until = NULL, locked_by = NULL, finished_at = NULL \
                 WHERE status = 'dead' {which_sql}"
            ),
            values,
        ))
        .await
        .context("requeueing dead letters")?
        .rows_affected();
    if requeued > 0 && backend == DatabaseBackend::Postgres {
        db.execute_raw(Statement::from_string(
            backend,
            format!("SELECT pg_notify('{}', '')", crate::outbox::NOTIFY_CHANNEL),
        ))
        .await
        .context("waking the dispatchers")?;
    }
    tracing::info!(requeued, "dead letters requeued");
    Ok(requeued)
}
