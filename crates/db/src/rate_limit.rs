//! Rate limits every module shares: "at most `max` per `window`" for a subject (a user, an
//! address), kept in the database so they hold across nodes and restarts.
//!
//! The algorithm is GCRA (the generic cell rate algorithm, as in `governor` or `redis-cell`):
//! each limited thing is one row holding its *theoretical arrival time* (`tat_ms`). A rate of
//! `max` per `window` lets `max` through at once, then one more every `window / max` as the
//! bucket refills; a refused call changes nothing. Over any long stretch that is `max` per
//! window; within one window a client that starts with a full bucket can get up to `2·max − 1`.
//! One conditional upsert decides a call on SQLite and PostgreSQL alike, so concurrent calls
//! on any number of nodes cannot slip past it.
//!
//! Keys are `<module>:<action>:<max>/<window_secs>:<subject>`: the module is the one the `Db`
//! was handed to (`db.for_module`), so a module only ever spends and reads its own counters.
//! Changing a rate in the config starts its counters afresh.

use kanjian_kernel::{Context, Error, Result};
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use serde::{Deserialize, Serialize};

use crate::Db;

/// The table (created by the shared migration history, `m20261130_000017_db_rate_limits`).
pub const TABLE: &str = "db_rate_limits";

/// How often one node deletes the rows that have fully refilled (they mean the same as no row).
const PRUNE_EVERY_MS: i64 = 10 * 60 * 1000;

/// At most `max` per `window_secs`, refilled evenly (see the module docs). `max = 0` or
/// `window_secs = 0` turns the rate off. In config: `{ max = 5, window_secs = 3600 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rate {
    pub max: u64,
    pub window_secs: u64,
}

impl Rate {
    pub const fn new(max: u64, window_secs: u64) -> Self {
        Self { max, window_secs }
    }

    fn is_off(self) -> bool {
        self.max == 0 || self.window_secs == 0
    }

    fn window_ms(self) -> i64 {
        i64::try_from(self.window_secs.saturating_mul(1000)).unwrap_or(i64::MAX / 4)
    }

    /// How far one call of `cost` moves the arrival time. A cost above `max` counts as `max`,
    /// so one large call (bytes of a big upload) waits for a full bucket instead of never
    /// fitting.
    fn increment_ms(self, cost: u64) -> i64 {
        let cost = i128::from(cost.min(self.max));
        let ms = i128::from(self.window_ms()) * cost / i128::from(self.max);
        i64::try_from(ms).unwrap_or(i64::MAX / 4)
    }
}

/// One limited action of one subject: `Limit::new("comment", format!("user:{id}"), &rates)`.
/// Every rate of it applies; `cost` is what one call spends (1, or bytes for a volume).
#[derive(Debug, Clone)]
pub struct Limit<'a> {
    /// What is limited, named by the module (`comment`, `sign_up`).
    pub action: &'a str,
    /// Who is limited: `user:42`, `ip:203.0.113.9`.
    pub subject: String,
    pub rates: &'a [Rate],
    pub cost: u64,
}

impl<'a> Limit<'a> {
    pub fn new(action: &'a str, subject: impl Into<String>, rates: &'a [Rate]) -> Self {
        Self { action, subject: subject.into(), rates, cost: 1 }
    }

    /// The limit for the signed-in user `id`.
    pub fn per_user(action: &'a str, user_id: i64, rates: &'a [Rate]) -> Self {
        Self::new(action, format!("user:{user_id}"), rates)
    }

    /// The limit for a client address (as `ClientInfo` gives it).
    pub fn per_ip(action: &'a str, ip: &str, rates: &'a [Rate]) -> Self {
        Self::new(action, format!("ip:{ip}"), rates)
    }

    /// Spends `cost` per call instead of 1.
    pub fn cost(mut self, cost: u64) -> Self {
        self.cost = cost;
        self
    }
}

/// One row to spend on.
struct Bucket {
    key: String,
    rate: Rate,
    increment_ms: i64,
}

fn buckets(module: &str, limits: &[Limit<'_>]) -> Vec<Bucket> {
    let mut buckets: Vec<Bucket> = limits
        .iter()
        .filter(|l| l.cost > 0)
        .flat_map(|l| {
            l.rates.iter().filter(|r| !r.is_off()).map(move |rate| Bucket {
                key: format!("{module}:{}:{}/{}:{}", l.action, rate.max, rate.window_secs, l.subject),
                rate: *rate,
                increment_ms: rate.increment_ms(l.cost),
            })
        })
        .collect();
    // One order everywhere: two calls that lock the same rows (PostgreSQL) cannot deadlock.
    buckets.sort_by(|a, b| a.key.cmp(&b.key));
    buckets.dedup_by(|a, b| a.key == b.key);
    buckets
}

/// Spends one call against every rate of every limit, all or nothing. Refused: nothing is
/// spent, and the error is `RateLimited` with the seconds until every refusing rate would let
/// the call through (at least 1). Call it before the use case opens its own transaction.
pub async fn check(db: &Db, limits: &[Limit<'_>]) -> Result<()> {
    let buckets = buckets(db.module(), limits);
    if buckets.is_empty() {
        return Ok(());
    }
    let now = db.now_millis();
    let allowed = if let [bucket] = buckets.as_slice() {
        spend(db.writer(), db.backend(), bucket, now).await?
    } else {
        let txn = db.begin().await.context("beginning a rate limit check")?;
        let mut allowed = true;
        for bucket in &buckets {
            if !spend(&txn, db.backend(), bucket, now).await? {
                allowed = false;
                break;
            }
        }
        if allowed {
            txn.commit().await.context("committing a rate limit check")?;
        } else {
            txn.rollback().await.context("rolling back a refused rate limit check")?;
        }
        allowed
    };
    if allowed {
        prune_now_and_then(db, now).await;
        return Ok(());
    }
    let retry_after_secs = retry_after(db, &buckets, now).await?;
    tracing::warn!(
        module = db.module(),
        limits = ?limits.iter().map(|l| format!("{}:{}", l.action, l.subject)).collect::<Vec<_>>(),
        retry_after_secs,
        "rate limited"
    );
    Err(Error::RateLimited { retry_after_secs })
}

/// The one statement that decides: moves the arrival time on if the call fits in the window,
/// and says whether it did. A missing row is a full bucket.
async fn spend<C: ConnectionTrait>(conn: &C, backend: DbBackend, bucket: &Bucket, now: i64) -> Result<bool> {
    let greatest = if backend == DbBackend::Postgres { "GREATEST" } else { "MAX" };
    let sql = format!(
        "INSERT INTO {TABLE} (name, tat_ms) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET tat_ms = {greatest}({TABLE}.tat_ms, $3) + $4 \
         WHERE {greatest}({TABLE}.tat_ms, $3) + $4 <= $5 \
         RETURNING tat_ms"
    );
    let values: [Value; 5] = [
        bucket.key.clone().into(),
        now.saturating_add(bucket.increment_ms).into(),
        now.into(),
        bucket.increment_ms.into(),
        now.saturating_add(bucket.rate.window_ms()).into(),
    ];
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .context("spending on a rate limit")?;
    Ok(row.is_some())
}

/// Seconds until every bucket would take the call (rounded up, at least 1).
async fn retry_after(db: &Db, buckets: &[Bucket], now: i64) -> Result<u64> {
    let placeholders: Vec<String> = (1..=buckets.len()).map(|i| format!("${i}")).collect();
    let sql = format!("SELECT name, tat_ms FROM {TABLE} WHERE name IN ({})", placeholders.join(", "));
    let values: Vec<Value> = buckets.iter().map(|b| b.key.clone().into()).collect();
    let rows = db
        .reader()
        .query_all_raw(Statement::from_sql_and_values(db.backend(), sql, values))
        .await
        .context("reading rate limits")?;
    let mut wait_ms = 0i64;
    for row in rows {
        let name: String = row.try_get("", "name").context("reading a rate limit's name")?;
        let tat: i64 = row.try_get("", "tat_ms").context("reading a rate limit's arrival time")?;
        if let Some(bucket) = buckets.iter().find(|b| b.key == name) {
            // The call fits once max(tat, t) + increment <= t + window.
            let wait = tat.max(now) + bucket.increment_ms - bucket.rate.window_ms() - now;
            wait_ms = wait_ms.max(wait);
        }
    }
    let secs = (wait_ms.max(0) + 999) / 1000;
    Ok(secs.max(1).unsigned_abs())
}

/// Deletes the rows that have fully refilled, at most once every ten minutes per node. A failure
/// is logged and changes nothing: such rows mean the same as no row.
async fn prune_now_and_then(db: &Db, now: i64) {
    if !crate::due_now(&db.shared.rate_limits_pruned_at, now, PRUNE_EVERY_MS) {
        return;
    }
    if let Err(e) = prune(db, now).await {
        tracing::warn!(error = ?e, "could not prune rate limits; trying again later");
    }
}

/// Deletes every row whose bucket is full again at `now` (what [`check`] does now and then).
pub async fn prune(db: &Db, now_ms: i64) -> Result<u64> {
    let done = db
        .writer()
        .execute_raw(Statement::from_sql_and_values(
            db.backend(),
            format!("DELETE FROM {TABLE} WHERE tat_ms <= $1"),
            [now_ms.into()],
        ))
        .await
        .context("pruning rate limits")?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_moves_time_by_its_share_of_the_window_and_caps_the_cost_at_max() {
        let rate = Rate::new(5, 3600);
        assert_eq!(rate.increment_ms(1), 720_000);
        assert_eq!(rate.increment_ms(5), 3_600_000);
        assert_eq!(rate.increment_ms(50), 3_600_000);
        let bytes = Rate::new(50 << 30, 86_400);
        assert_eq!(bytes.increment_ms(1 << 30), 86_400_000 / 50);
        assert!(Rate::new(0, 10).is_off() && Rate::new(10, 0).is_off());
    }

    #[test]
    fn keys_name_the_module_the_action_the_rate_and_the_subject_in_one_order() {
        let rates = [Rate::new(11, 30), Rate::new(200, 3600), Rate::new(0, 60)];
        let limits = [Limit::per_user("comment", 42, &rates), Limit::per_ip("comment", "10.0.0.1", &rates[..1])];
        let keys: Vec<String> = buckets("social", &limits).into_iter().map(|b| b.key).collect();
        assert_eq!(
            keys,
            [
                "social:comment:11/30:ip:10.0.0.1",
                "social:comment:11/30:user:42",
                "social:comment:200/3600:user:42",
            ]
        );
        assert!(buckets("social", &[Limit::per_user("comment", 42, &rates).cost(0)]).is_empty());
    }
}
