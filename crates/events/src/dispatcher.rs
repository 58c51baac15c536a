//! Delivers outbox events to handlers, at least once, surviving restarts.
//!
//! Two steps, both driven by rows so any node can do them and a crash loses nothing:
//! 1. fan-out: each new event gets one `events_deliveries` row per handler registered in
//!    `events_handlers` (by any node) that takes its kind and was registered when it occurred;
//! 2. delivery: a node claims due rows under a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL),
//!    runs the handler, renews the lease while it runs, and records success, a retry with
//!    exponential backoff, or a dead letter. A node that dies leaves its leases to expire;
//!    the next claim takes them over. Handlers must be idempotent.
//!
//! Successes finishing together are recorded together: one `UPDATE` (one commit) for the
//! deliveries that finished while the last one was written. In a flash sale one commit per
//! delivery was PostgreSQL's busiest statement, its sessions queued on the WAL flush.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::FutureExt;
use kanjian_contracts::EventEnvelope;
use kanjian_kernel::{Clock, Context, Result};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement, TransactionTrait, Value,
};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::Outbox;

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Worth retrying later (a database hiccup, a busy service).
    #[error("transient: {0:#}")]
    Transient(anyhow::Error),
    /// Retrying cannot help; the delivery is dead-lettered at once.
    #[error("permanent: {0:#}")]
    Permanent(anyhow::Error),
}

impl From<kanjian_kernel::Error> for HandlerError {
    fn from(e: kanjian_kernel::Error) -> Self {
        match e {
            kanjian_kernel::Error::Internal(cause) => Self::Transient(cause),
            other => Self::Permanent(anyhow::Error::new(other)),
        }
    }
}

/// Something that reacts to events. Registered once at start-up by `server`.
#[async_trait]
pub trait EventHandler: Send + Sync {
    /// Stable name, stored with each delivery: renaming it re-delivers nothing and orphans rows.
    fn name(&self) -> &'static str;
    /// The event kinds this handler takes (`IntegrationEvent::KIND`s). Recorded in
    /// `events_handlers` when a dispatcher starts; fan-out on any node reads them from there.
    fn kinds(&self) -> &'static [&'static str];
    /// Whether this handler takes events of `kind`.
    fn handles(&self, kind: &str) -> bool {
        self.kinds().contains(&kind)
    }
    /// How many deliveries of this handler may run at once on one node.
    fn max_concurrency(&self) -> usize {
        4
    }
    /// Must be idempotent: the same event may arrive more than once.
    async fn handle(&self, event: &EventEnvelope) -> std::result::Result<(), HandlerError>;
}

#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// How often to look for work when nothing woke us.
    pub poll_interval: Duration,
    /// How long a claimed delivery is ours before another node may take it over.
    pub lease: Duration,
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Attempts before a delivery is dead-lettered.
    pub max_attempts: i32,
    /// Done deliveries, and events whose deliveries are all done (or that had none), are
    /// deleted once they are this old. Dead letters, and the events they belong to, are kept.
    pub retention: Duration,
    /// How often (at most) a node prunes what outlived `retention`.
    pub prune_interval: Duration,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(500),
            lease: Duration::from_secs(30),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            max_attempts: 10,
            retention: Duration::from_secs(7 * 24 * 3600),
            prune_interval: Duration::from_secs(3600),
        }
    }
}

impl DispatcherConfig {
    /// Backoff before attempt `attempts + 1`: base · 2^(attempts-1), capped.
    pub fn backoff(&self, attempts: i32) -> Duration {
        let exp = attempts.clamp(1, 20) as u32 - 1;
        self.retry_base.saturating_mul(2u32.saturating_pow(exp)).min(self.retry_max)
    }
}

pub struct Dispatcher {
    db: DatabaseConnection,
    handlers: Vec<Arc<dyn EventHandler>>,
    config: DispatcherConfig,
    wake: Arc<Notify>,
    node: String,
    /// Leases, retries and finish times are read from it, so tests can move time by hand.
    clock: Clock,
    /// Deliveries running on this node. A lease can lapse while its handler still runs (a
    /// renewal delayed on a loaded machine); they must not be claimed and started a second time.
    running: std::sync::Mutex<HashSet<i64>>,
    /// When the soonest retry this node scheduled falls due (clock millis; `i64::MAX`: none),
    /// so the loop wakes for it rather than at the next poll, however long the poll interval.
    /// Only the soonest is kept: a later one scheduled meanwhile is found by the next poll.
    next_retry_at: AtomicI64,
    stats: Arc<DispatcherStats>,
    /// Successes waiting to be recorded together.
    done: std::sync::Mutex<DoneQueue>,
}

/// Deliveries that succeeded, waiting for the one `UPDATE` that records them. The delivery that
/// finds nobody writing writes, and goes on writing while more arrive; each waits for its answer.
#[derive(Default)]
struct DoneQueue {
    writing: bool,
    waiting: Vec<(i64, tokio::sync::oneshot::Sender<std::result::Result<bool, String>>)>,
}

/// What one dispatcher has done since it started: for tests, logs and metrics.
#[derive(Debug, Default)]
pub struct DispatcherStats {
    polls: AtomicU64,
    prunes: AtomicU64,
    delivered: AtomicU64,
    retried: AtomicU64,
    dead_lettered: AtomicU64,
    results_dropped: AtomicU64,
    panicked: AtomicU64,
    done_writes: AtomicU64,
}

impl DispatcherStats {
    /// Times this node looked for work (one cheap statement each).
    pub fn polls(&self) -> u64 {
        self.polls.load(Ordering::SeqCst)
    }
    /// Times this node pruned old rows (at most one per `prune_interval`).
    pub fn prunes(&self) -> u64 {
        self.prunes.load(Ordering::SeqCst)
    }
    /// Deliveries this node recorded as done.
    /// Statements that recorded successes: fewer than [`Self::delivered`] when deliveries
    /// finishing together were recorded together.
    pub fn done_writes(&self) -> u64 {
        self.done_writes.load(Ordering::Relaxed)
    }

    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::SeqCst)
    }
    /// Failed attempts this node scheduled for a retry.
    pub fn retried(&self) -> u64 {
        self.retried.load(Ordering::SeqCst)
    }
    /// Deliveries this node dead-lettered.
    pub fn dead_lettered(&self) -> u64 {
        self.dead_lettered.load(Ordering::SeqCst)
    }
    /// Outcomes this node dropped because its lease was no longer current when the handler
    /// returned (another node may have taken the delivery over).
    pub fn results_dropped(&self) -> u64 {
        self.results_dropped.load(Ordering::SeqCst)
    }

    /// Handler runs that panicked (each counted as a failed attempt).
    pub fn panicked(&self) -> u64 {
        self.panicked.load(Ordering::SeqCst)
    }

    fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// What a finished attempt asks to record.
enum Outcome {
    Done,
    Retry { delay: Duration, error: String },
    Dead { error: String },
}

impl Outcome {
    fn name(&self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Retry { .. } => "retry",
            Outcome::Dead { .. } => "dead",
        }
    }
}

/// A delivery running on this node: its entry in the running set and its handler's permit,
/// given back when the task ends however it ends, so a panic or an abort never leaves a
/// delivery "running" on the node or a handler short of a permit.
struct RunningSlot {
    dispatcher: Arc<Dispatcher>,
    delivery_id: i64,
    _permit: OwnedSemaphorePermit,
    finished: Arc<Notify>,
}

impl RunningSlot {
    fn take(
        dispatcher: Arc<Dispatcher>,
        delivery_id: i64,
        permit: OwnedSemaphorePermit,
        finished: Arc<Notify>,
    ) -> Self {
        dispatcher.mark_running(delivery_id, true);
        Self { dispatcher, delivery_id, _permit: permit, finished }
    }
}

impl Drop for RunningSlot {
    fn drop(&mut self) {
        self.dispatcher.mark_running(self.delivery_id, false);
        self.finished.notify_one();
    }
}

/// What one look at the tables found.
#[derive(Default)]
struct Probe {
    /// Events wait to be fanned out.
    unfanned: bool,
    /// Per handler asked about, in order: a delivery of it is due.
    due: Vec<bool>,
}

struct Claimed {
    delivery_id: i64,
    attempts: i32,
    event_id: String,
    /// Why not, when the event is missing from the outbox or cannot be read.
    event: std::result::Result<EventEnvelope, String>,
}

/// The event columns of a claimed row (see [`Dispatcher::claim`]).
fn read_event(row: &sea_orm::QueryResult, event_id: &str) -> std::result::Result<EventEnvelope, String> {
    let kind: Option<String> =
        row.try_get("", "event_kind").map_err(|e| format!("reading the event kind: {e}"))?;
    let Some(kind) = kind else {
        return Err(format!("event {event_id} is not in the outbox"));
    };
    let payload: Option<String> =
        row.try_get("", "event_payload").map_err(|e| format!("reading the payload: {e}"))?;
    let occurred_at: Option<i64> =
        row.try_get("", "event_occurred_at").map_err(|e| format!("reading occurred_at: {e}"))?;
    Ok(EventEnvelope {
        id: event_id.parse().map_err(|e| format!("event id {event_id}: {e}"))?,
        kind,
        occurred_at: occurred_at
            .and_then(chrono::DateTime::from_timestamp_millis)
            .unwrap_or_default(),
        payload: serde_json::from_str(payload.as_deref().unwrap_or("null"))
            .map_err(|e| format!("the payload is not JSON: {e}"))?,
    })
}

const FAN_OUT_BATCH: i64 = 200;
/// Deliveries per multi-row INSERT (two bound values each).
const FAN_OUT_ROWS_PER_INSERT: usize = 500;

/// Rows deleted per pruning statement.
const PRUNE_BATCH: i64 = 1000;
/// Pruning statements per run; what is left waits for the next poll.
const PRUNE_BATCHES: u32 = 20;

/// What one pruning run deleted.
#[derive(Default)]
struct Pruned {
    deliveries: u64,
    events: u64,
    /// It stopped at [`PRUNE_BATCHES`] with more to delete.
    more: bool,
}

impl Pruned {
    fn logged(self) -> Self {
        if self.deliveries > 0 || self.events > 0 {
            tracing::info!(deliveries = self.deliveries, events = self.events, more = self.more, "pruned delivered events");
        }
        self
    }
}

/// A row of `events_handlers`.
struct Registered {
    name: String,
    kinds: Vec<String>,
    registered_at: i64,
}

/// Wakes the dispatcher whenever a transaction with events commits on any node (PostgreSQL's
/// LISTEN/NOTIFY, on a connection of the pool held for it), so it need not wait for its poll.
/// Reconnects after errors, and wakes the dispatcher after each (re)connection: notifications
/// sent while it was not listening are lost, so it looks once.
async fn listen(db: DatabaseConnection, wake: Arc<Notify>, stop: CancellationToken) {
    use sea_orm::sqlx::postgres::PgListener;
    const FIRST_RETRY: Duration = Duration::from_millis(500);
    const LAST_RETRY: Duration = Duration::from_secs(30);
    let pool = db.get_postgres_connection_pool().clone();
    let mut retry = FIRST_RETRY;
    loop {
        let connect = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(crate::outbox::NOTIFY_CHANNEL).await?;
            Ok::<_, sea_orm::sqlx::Error>(listener)
        };
        let connected = tokio::select! {
            _ = stop.cancelled() => return,
            connected = connect => connected,
        };
        match connected {
            Ok(mut listener) => {
                tracing::debug!(channel = crate::outbox::NOTIFY_CHANNEL, "listening for committed events");
                retry = FIRST_RETRY;
                wake.notify_one();
                loop {
                    let received = tokio::select! {
                        _ = stop.cancelled() => return,
                        received = listener.try_recv() => received,
                    };
                    match received {
                        Ok(Some(_)) => wake.notify_one(),
                        Ok(None) => {
                            // The listener reconnected by itself; what was sent meanwhile is lost.
                            tracing::warn!("the event listener lost its connection and reconnected");
                            wake.notify_one();
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "the event listener failed; reconnecting (polling meanwhile)");
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = retry.as_millis() as u64, "could not listen for committed events; polling meanwhile");
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(retry) => {}
        }
        retry = (retry * 2).min(LAST_RETRY);
    }
}

/// What a panic said, when it said it with a string (as `panic!` and `unwrap` do).
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}

impl Dispatcher {
    /// `clock` is where leases, retry times and finish times come from: `Clock::system()` in
    /// production, a manual clock in tests that expire leases or make retries due.
    pub fn new(
        db: DatabaseConnection,
        outbox: &Outbox,
        config: DispatcherConfig,
        clock: Clock,
    ) -> Self {
        Self {
            db,
            handlers: Vec::new(),
            config,
            wake: outbox.wake_handle(),
            node: uuid::Uuid::new_v4().to_string(),
            clock,
            running: std::sync::Mutex::new(HashSet::new()),
            next_retry_at: AtomicI64::new(i64::MAX),
            stats: Arc::default(),
            done: std::sync::Mutex::default(),
        }
    }

    /// This node's name: what it writes in `locked_by` of the deliveries it holds.
    pub fn node_id(&self) -> &str {
        &self.node
    }

    /// Counters of what this dispatcher did; keep it before [`Dispatcher::run`] takes `self`.
    pub fn stats(&self) -> Arc<DispatcherStats> {
        self.stats.clone()
    }

    pub fn register(&mut self, handler: Arc<dyn EventHandler>) {
        self.handlers.push(handler);
    }

    /// Runs until `shutdown` is cancelled. Handlers still running then are stopped and their
    /// leases released, so the next node or start picks them up at once.
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        let permits: HashMap<&'static str, Arc<Semaphore>> = this
            .handlers
            .iter()
            .map(|h| (h.name(), Arc::new(Semaphore::new(h.max_concurrency().max(1)))))
            .collect();
        let mut running: JoinSet<()> = JoinSet::new();
        let finished = Arc::new(Notify::new());
        tracing::info!(node = %this.node, handlers = this.handlers.len(), "event dispatcher started");
        let listener = (this.backend() == DatabaseBackend::Postgres).then(|| {
            tokio::spawn(listen(this.db.clone(), this.wake.clone(), shutdown.child_token()))
        });
        let mut registered = false;
        // On the dispatcher's clock; first as it starts, so a node that restarts often prunes too.
        let mut next_prune_at = this.clock.now_millis();
        loop {
            if !registered {
                match this.register_handlers().await {
                    Ok(()) => registered = true,
                    Err(e) => tracing::error!(error = ?e, "registering event handlers failed; will try again"),
                }
            }
            let now = this.clock.now_millis();
            // The probe below sees every retry due by now, this node's included.
            let _ = this.next_retry_at.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |at| (at <= now).then_some(i64::MAX));
            if now >= next_prune_at {
                next_prune_at = now + this.config.prune_interval.as_millis() as i64;
                DispatcherStats::count(&this.stats.prunes);
                match this.prune().await {
                    // More is left: carry on at the next poll rather than hold the loop.
                    Ok(Pruned { more: true, .. }) => next_prune_at = now,
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = ?e, "pruning old events failed"),
                }
            }
            // Handlers with room for one more delivery on this node.
            let free: Vec<(&Arc<dyn EventHandler>, &Arc<Semaphore>)> = this
                .handlers
                .iter()
                .filter_map(|h| permits.get(h.name()).map(|sem| (h, sem)))
                .filter(|(_, sem)| sem.available_permits() > 0)
                .collect();
            // An idle node sends this one cheap statement per poll, nothing else.
            let names: Vec<&'static str> = free.iter().map(|(h, _)| h.name()).collect();
            DispatcherStats::count(&this.stats.polls);
            let probe = match this.probe(&names).await {
                Ok(probe) => probe,
                Err(e) => {
                    tracing::error!(error = ?e, "looking for event work failed");
                    Probe::default()
                }
            };
            let mut fanned_out = false;
            if probe.unfanned {
                match this.fan_out().await {
                    Ok(n) => fanned_out = n > 0,
                    Err(e) => tracing::error!(error = ?e, "event fan-out failed"),
                }
            }
            for (i, (handler, sem)) in free.into_iter().enumerate() {
                // New deliveries may be this handler's: look without asking first.
                if !fanned_out && !probe.due.get(i).copied().unwrap_or(false) {
                    continue;
                }
                let claimed = match this.claim(handler.name(), sem.available_permits() as i64).await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::error!(error = ?e, handler = handler.name(), "claiming deliveries failed");
                        continue;
                    }
                };
                for delivery in claimed {
                    let Ok(permit) = sem.clone().try_acquire_owned() else { break };
                    let handler = handler.clone();
                    let slot = RunningSlot::take(this.clone(), delivery.delivery_id, permit, finished.clone());
                    running.spawn(async move {
                        // Released however the task ends: returning, panicking or aborted.
                        let slot = slot;
                        slot.dispatcher.deliver(handler.as_ref(), delivery).await;
                    });
                }
            }
            while let Some(joined) = running.try_join_next() {
                if let Err(e) = joined
                    && e.is_panic()
                {
                    // deliver() catches handler panics; this is one of its own.
                    tracing::error!(error = ?e, "a delivery task panicked; its lease will expire and it will run again");
                }
            }
            let until_retry = this.next_retry_at.load(Ordering::SeqCst).saturating_sub(this.clock.now_millis()).max(0);
            let wait = this.config.poll_interval.min(Duration::from_millis(until_retry as u64));
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = this.wake.notified() => {}
                _ = finished.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
        running.abort_all();
        while running.join_next().await.is_some() {}
        if let Some(listener) = listener {
            // It stops with `shutdown`.
            let _ = listener.await;
        }
        if let Err(e) = this.release_leases().await {
            tracing::warn!(error = ?e, "could not release leases on shutdown; they will expire");
        }
        tracing::info!(node = %this.node, "event dispatcher stopped");
    }

    fn mark_running(&self, delivery_id: i64, running: bool) {
        if let Ok(mut set) = self.running.lock() {
            if running {
                set.insert(delivery_id);
            } else {
                set.remove(&delivery_id);
            }
        }
    }

    fn running_ids(&self) -> Vec<i64> {
        self.running.lock().map(|set| set.iter().copied().collect()).unwrap_or_default()
    }

    fn backend(&self) -> DatabaseBackend {
        self.db.get_database_backend()
    }

    fn stmt(&self, sql: &str, values: Vec<Value>) -> Statement {
        Statement::from_sql_and_values(self.backend(), sql, values)
    }

    /// One statement: are there events to fan out, and which of `handlers` have a delivery due?
    async fn probe(&self, handlers: &[&str]) -> Result<Probe> {
        let mut sql = String::from(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM events_outbox WHERE fanned_out = FALSE) \
             THEN 1 ELSE 0 END AS unfanned",
        );
        let mut values: Vec<Value> = Vec::with_capacity(handlers.len() + 1);
        if !handlers.is_empty() {
            values.push(self.clock.now_millis().into());
        }
        for (i, handler) in handlers.iter().enumerate() {
            values.push((*handler).into());
            sql.push_str(&format!(
                ", CASE WHEN EXISTS (SELECT 1 FROM events_deliveries WHERE handler = ${} \
                 AND status = 'pending' AND next_attempt_at <= $1 \
                 AND (locked_until IS NULL OR locked_until < $1)) THEN 1 ELSE 0 END AS due_{i}",
                i + 2
            ));
        }
        let row = self
            .db
            .query_one_raw(self.stmt(&sql, values))
            .await
            .context("looking for event work")?
            .ok_or_else(|| kanjian_kernel::Error::internal("the work probe returned no row"))?;
        let flag = |column: &str| -> Result<bool> {
            let v: i32 = row.try_get("", column).context("reading the work probe")?;
            Ok(v != 0)
        };
        let unfanned = flag("unfanned")?;
        let due = (0..handlers.len()).map(|i| flag(&format!("due_{i}"))).collect::<Result<_>>()?;
        Ok(Probe { unfanned, due })
    }

    /// Deletes done deliveries and delivered events older than `retention`, in batches of
    /// [`PRUNE_BATCH`], up to [`PRUNE_BATCHES`] batches a run. Dead letters stay, and so do their
    /// events (a dead letter can be requeued), and events not yet fanned out.
    async fn prune(&self) -> Result<Pruned> {
        let cutoff = self.clock.now_millis() - self.config.retention.as_millis() as i64;
        let mut pruned = Pruned::default();
        let mut batches = 0;
        loop {
            let deleted = self
                .db
                .execute_raw(self.stmt(
                    "DELETE FROM events_deliveries WHERE id IN (SELECT id FROM events_deliveries \
                     WHERE status = 'done' AND finished_at < $1 LIMIT $2)",
                    vec![cutoff.into(), PRUNE_BATCH.into()],
                ))
                .await
                .context("pruning done deliveries")?
                .rows_affected();
            pruned.deliveries += deleted;
            batches += 1;
            if deleted < PRUNE_BATCH as u64 {
                break;
            }
            if batches >= PRUNE_BATCHES {
                pruned.more = true;
                return Ok(pruned.logged());
            }
        }
        loop {
            let deleted = self
                .db
                .execute_raw(self.stmt(
                    "DELETE FROM events_outbox WHERE id IN (SELECT o.id FROM events_outbox o \
                     WHERE o.fanned_out = TRUE AND o.occurred_at < $1 \
                       AND NOT EXISTS (SELECT 1 FROM events_deliveries d \
                         WHERE d.event_id = o.event_id AND d.status <> 'done') \
                     ORDER BY o.id LIMIT $2)",
                    vec![cutoff.into(), PRUNE_BATCH.into()],
                ))
                .await
                .context("pruning delivered events")?
                .rows_affected();
            pruned.events += deleted;
            batches += 1;
            if deleted < PRUNE_BATCH as u64 {
                return Ok(pruned.logged());
            }
            if batches >= PRUNE_BATCHES {
                pruned.more = true;
                return Ok(pruned.logged());
            }
        }
    }

    /// Records this node's handlers in `events_handlers` (name and kinds); a handler's
    /// `registered_at` stays that of its first registration. Fan-out on any node creates
    /// deliveries for every registered handler, for the events that occurred from then on.
    /// [`Dispatcher::run`] does it as it starts; call it earlier (before serving) so no event
    /// emitted by this process can precede its handlers' first registration.
    pub async fn register_handlers(&self) -> Result<()> {
        let mut seen = HashSet::new();
        let mut rows = Vec::new();
        for handler in &self.handlers {
            if !seen.insert(handler.name()) {
                tracing::warn!(handler = handler.name(), "two handlers share one name; the first one's kinds are recorded");
                continue;
            }
            let kinds = serde_json::to_string(handler.kinds()).context("serialising handler kinds")?;
            rows.push((handler.name(), kinds));
        }
        if rows.is_empty() {
            return Ok(());
        }
        let mut values: Vec<Value> = vec![self.clock.now_millis().into()];
        let mut tuples = Vec::with_capacity(rows.len());
        for (name, kinds) in rows {
            tuples.push(format!("(${}, ${}, $1)", values.len() + 1, values.len() + 2));
            values.push(name.into());
            values.push(kinds.into());
        }
        let sql = format!(
            "INSERT INTO events_handlers (name, kinds, registered_at) VALUES {} \
             ON CONFLICT (name) DO UPDATE SET kinds = excluded.kinds",
            tuples.join(", ")
        );
        self.db.execute_raw(self.stmt(&sql, values)).await.context("registering event handlers")?;
        tracing::info!(node = %self.node, handlers = tuples.len(), "event handlers registered");
        Ok(())
    }

    /// Every handler registered by any node, with the kinds it takes.
    async fn registered_handlers<C: ConnectionTrait>(&self, conn: &C) -> Result<Vec<Registered>> {
        let rows = conn
            .query_all_raw(self.stmt("SELECT name, kinds, registered_at FROM events_handlers", vec![]))
            .await
            .context("reading registered event handlers")?;
        let mut registered = Vec::with_capacity(rows.len());
        for row in rows {
            let name: String = row.try_get("", "name").context("reading a handler name")?;
            let kinds: String = row.try_get("", "kinds").context("reading handler kinds")?;
            let registered_at: i64 = row.try_get("", "registered_at").context("reading registered_at")?;
            match serde_json::from_str::<Vec<String>>(&kinds) {
                Ok(kinds) => registered.push(Registered { name, kinds, registered_at }),
                Err(e) => tracing::error!(handler = %name, error = %e, "a registered handler's kinds are not a JSON array of strings; it gets no deliveries"),
            }
        }
        Ok(registered)
    }

    /// Gives each new event one delivery row per registered handler that takes its kind and was
    /// registered when it occurred, whichever node that handler runs on; returns how many
    /// events it fanned out.
    async fn fan_out(&self) -> Result<usize> {
        // Two nodes fanning out at once skip each other's events on PostgreSQL; on SQLite one
        // writer at a time. Either way a delivery exists at most once (ON CONFLICT DO NOTHING).
        let lock = match self.backend() {
            DatabaseBackend::Postgres => "FOR UPDATE SKIP LOCKED",
            _ => "",
        };
        let mut fanned = 0;
        loop {
            let txn = self.db.begin().await.context("starting fan-out")?;
            let rows = txn
                .query_all_raw(self.stmt(
                    &format!(
                        "SELECT id, event_id, kind, occurred_at FROM events_outbox \
                         WHERE fanned_out = FALSE ORDER BY id LIMIT $1 {lock}"
                    ),
                    vec![FAN_OUT_BATCH.into()],
                ))
                .await
                .context("reading events to fan out")?;
            if rows.is_empty() {
                txn.commit().await.context("ending fan-out")?;
                return Ok(fanned);
            }
            let handlers = self.registered_handlers(&txn).await?;
            let mut ids: Vec<Value> = Vec::with_capacity(rows.len());
            let mut deliveries: Vec<(String, String)> = Vec::new();
            for row in &rows {
                let id: i64 = row.try_get("", "id").context("reading outbox id")?;
                let event_id: String = row.try_get("", "event_id").context("reading event id")?;
                let kind: String = row.try_get("", "kind").context("reading event kind")?;
                let occurred_at: i64 = row.try_get("", "occurred_at").context("reading occurred_at")?;
                ids.push(id.into());
                for handler in handlers
                    .iter()
                    .filter(|h| h.registered_at <= occurred_at && h.kinds.contains(&kind))
                {
                    deliveries.push((event_id.clone(), handler.name.clone()));
                }
            }
            let now = self.clock.now_millis();
            for chunk in deliveries.chunks(FAN_OUT_ROWS_PER_INSERT) {
                let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 2 + 1);
                values.push(now.into());
                let mut tuples = Vec::with_capacity(chunk.len());
                for (event_id, handler) in chunk {
                    tuples.push(format!("(${}, ${}, 'pending', 0, $1)", values.len() + 1, values.len() + 2));
                    values.push(event_id.clone().into());
                    values.push(handler.clone().into());
                }
                let sql = format!(
                    "INSERT INTO events_deliveries (event_id, handler, status, attempts, next_attempt_at) \
                     VALUES {} ON CONFLICT (event_id, handler) DO NOTHING",
                    tuples.join(", ")
                );
                txn.execute_raw(self.stmt(&sql, values)).await.context("creating deliveries")?;
            }
            let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
            txn.execute_raw(self.stmt(
                &format!("UPDATE events_outbox SET fanned_out = TRUE WHERE id IN ({})", placeholders.join(", ")),
                ids,
            ))
            .await
            .context("marking events fanned out")?;
            if !deliveries.is_empty() && self.backend() == DatabaseBackend::Postgres {
                // The new deliveries may be other nodes' handlers': wake them on commit.
                txn.execute_raw(self.stmt(&format!("SELECT pg_notify('{}', '')", crate::outbox::NOTIFY_CHANNEL), vec![]))
                    .await
                    .context("notifying other nodes of new deliveries")?;
            }
            txn.commit().await.context("committing fan-out")?;
            fanned += rows.len();
            if (rows.len() as i64) < FAN_OUT_BATCH {
                return Ok(fanned);
            }
        }
    }

    /// Claims up to `limit` due deliveries of `handler` under a lease.
    async fn claim(&self, handler: &str, limit: i64) -> Result<Vec<Claimed>> {
        let now = self.clock.now_millis();
        let lease_until = now + self.config.lease.as_millis() as i64;
        let lock = match self.backend() {
            DatabaseBackend::Postgres => "FOR UPDATE SKIP LOCKED",
            _ => "",
        };
        let mut values: Vec<Value> = vec![
            lease_until.into(),
            self.node.clone().into(),
            handler.into(),
            now.into(),
            limit.into(),
        ];
        // Never what this node is running already, even if its lease lapsed.
        let running = self.running_ids();
        let not_running = if running.is_empty() {
            String::new()
        } else {
            let placeholders: Vec<String> =
                (0..running.len()).map(|i| format!("${}", values.len() + 1 + i)).collect();
            values.extend(running.into_iter().map(Value::from));
            format!("AND id NOT IN ({})", placeholders.join(", "))
        };
        // The event comes back with its delivery, in the same statement: one subquery per
        // column on the outbox's unique event_id (SQLite's RETURNING cannot name a joined table).
        let event_column =
            |column: &str| format!("(SELECT o.{column} FROM events_outbox o WHERE o.event_id = events_deliveries.event_id) AS event_{column}");
        let sql = format!(
            "UPDATE events_deliveries SET locked_until = $1, locked_by = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM events_deliveries \
               WHERE handler = $3 AND status = 'pending' AND next_attempt_at <= $4 \
                 AND (locked_until IS NULL OR locked_until < $4) {not_running} \
               ORDER BY next_attempt_at, id LIMIT $5 {lock}) \
             RETURNING id, event_id, attempts, {}, {}, {}",
            event_column("kind"),
            event_column("payload"),
            event_column("occurred_at"),
        );
        let rows = self
            .db
            .query_all_raw(self.stmt(&sql, values))
            .await
            .context("claiming deliveries")?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            let delivery_id: i64 = row.try_get("", "id").context("reading delivery id")?;
            let attempts: i32 = row.try_get("", "attempts").context("reading attempts")?;
            let event_id: String = row.try_get("", "event_id").context("reading event id")?;
            let event = read_event(&row, &event_id);
            claimed.push(Claimed { delivery_id, attempts, event_id, event });
        }
        Ok(claimed)
    }

    #[tracing::instrument(skip_all, fields(handler = handler.name(), event_id = %claimed.event_id, attempt = claimed.attempts, kind = tracing::field::Empty))]
    async fn deliver(&self, handler: &dyn EventHandler, claimed: Claimed) {
        let event = match &claimed.event {
            Ok(event) => event,
            Err(why) => {
                // Nothing to hand the handler, now or later.
                let outcome = Outcome::Dead { error: why.clone() };
                self.record_and_log(claimed.delivery_id, outcome).await;
                return;
            }
        };
        tracing::Span::current().record("kind", event.kind.as_str());
        let outcome = {
            // A panicking handler is a failed attempt like any other: retried, then dead-lettered.
            let work = AssertUnwindSafe(handler.handle(event)).catch_unwind();
            let renewals = async {
                let mut renew = tokio::time::interval(self.config.lease / 3);
                renew.tick().await;
                loop {
                    renew.tick().await;
                    match self.renew_lease(claimed.delivery_id).await {
                        Ok(true) => {}
                        Ok(false) => {
                            // Another node took the delivery over after our lease lapsed: both
                            // may now run it, which idempotent handlers tolerate, but only the
                            // holder's outcome will be recorded.
                            tracing::warn!("lost the lease of a running delivery to another node; its outcome will be dropped");
                            std::future::pending::<()>().await;
                        }
                        Err(e) => tracing::warn!(error = ?e, "could not renew a lease"),
                    }
                }
            };
            // Both run side by side, each polled whenever the task wakes. A renewal must never
            // be awaited while the handler waits unpolled: the pool hands its connections out
            // in turn, and one handed to a handler nobody polls is held by nobody, so the
            // renewal behind it (and every other user of SQLite's one writer) waited until the
            // acquire timeout.
            tokio::select! {
                outcome = work => outcome,
                () = renewals => unreachable!("lease renewals never end"),
            }
        };
        let outcome = outcome.unwrap_or_else(|panic| {
            DispatcherStats::count(&self.stats.panicked);
            let message = panic_message(panic.as_ref());
            tracing::error!(panic = %message, "handler panicked");
            Err(HandlerError::Transient(anyhow::anyhow!("handler panicked: {message}")))
        });
        let outcome = match outcome {
            Ok(()) => Outcome::Done,
            Err(HandlerError::Permanent(e)) => Outcome::Dead { error: format!("{e:#}") },
            Err(HandlerError::Transient(e)) if claimed.attempts >= self.config.max_attempts => {
                Outcome::Dead { error: format!("{e:#}") }
            }
            Err(HandlerError::Transient(e)) => {
                Outcome::Retry { delay: self.config.backoff(claimed.attempts), error: format!("{e:#}") }
            }
        };
        self.record_and_log(claimed.delivery_id, outcome).await;
    }

    async fn record_and_log(&self, delivery_id: i64, outcome: Outcome) {
        match self.record(delivery_id, &outcome).await {
            Ok(true) => match &outcome {
                Outcome::Done => {
                    tracing::debug!("delivered");
                    DispatcherStats::count(&self.stats.delivered);
                }
                Outcome::Retry { delay, error } => {
                    let due = self.clock.now_millis().saturating_add(delay.as_millis() as i64);
                    self.next_retry_at.fetch_min(due, Ordering::SeqCst);
                    tracing::warn!(error = %error, retry_in_ms = delay.as_millis() as u64, "handler failed; will retry");
                    DispatcherStats::count(&self.stats.retried);
                }
                Outcome::Dead { error } => {
                    tracing::error!(error = %error, "delivery dead-lettered (failed for good or too often)");
                    DispatcherStats::count(&self.stats.dead_lettered);
                }
            },
            Ok(false) => {
                tracing::warn!(
                    outcome = outcome.name(),
                    "the lease ran out before the handler returned, so this outcome is dropped: another node may have taken the delivery over, or it runs again"
                );
                DispatcherStats::count(&self.stats.results_dropped);
            }
            Err(e) => {
                tracing::error!(error = ?e, "recording a delivery outcome failed; the lease will expire and it will run again");
            }
        }
    }

    /// Extends this node's lease of a running delivery. A lease that lapsed is taken back as
    /// long as no other node claimed the delivery meanwhile (a claim writes its own `locked_by`).
    /// `false`: another node holds it now.
    async fn renew_lease(&self, delivery_id: i64) -> Result<bool> {
        let until = self.clock.now_millis() + self.config.lease.as_millis() as i64;
        let renewed = self
            .db
            .execute_raw(self.stmt(
                "UPDATE events_deliveries SET locked_until = $1 \
                 WHERE id = $2 AND locked_by = $3 AND status = 'pending'",
                vec![until.into(), delivery_id.into(), self.node.clone().into()],
            ))
            .await
            .context("renewing a lease")?;
        Ok(renewed.rows_affected() > 0)
    }

    /// Writes an attempt's outcome, fenced by the lease: only while this node holds a current
    /// lease on the delivery. `false`: the lease ran out (and another node may have claimed the
    /// delivery since), so nothing was written. A finished row keeps `locked_by`: the node that
    /// recorded it.
    async fn record(&self, delivery_id: i64, outcome: &Outcome) -> Result<bool> {
        if let Outcome::Done = outcome {
            return self.record_done(delivery_id).await;
        }
        let now = self.clock.now_millis();
        let fence = "WHERE id = $2 AND locked_by = $3 AND status = 'pending' AND locked_until >= $1";
        let mut values: Vec<Value> = vec![now.into(), delivery_id.into(), self.node.clone().into()];
        let sql = match outcome {
            Outcome::Done => format!(
                "UPDATE events_deliveries SET status = 'done', last_error = NULL, \
                 locked_until = NULL, finished_at = $1 {fence}"
            ),
            Outcome::Dead { error } => {
                values.push(error.clone().into());
                format!(
                    "UPDATE events_deliveries SET status = 'dead', last_error = $4, \
                     locked_until = NULL, finished_at = $1 {fence}"
                )
            }
            Outcome::Retry { delay, error } => {
                values.push((now + delay.as_millis() as i64).into());
                values.push(error.clone().into());
                format!(
                    "UPDATE events_deliveries SET next_attempt_at = $4, last_error = $5, \
                     locked_until = NULL, locked_by = NULL {fence}"
                )
            }
        };
        let written = self
            .db
            .execute_raw(self.stmt(&sql, values))
            .await
            .context("recording a delivery outcome")?;
        Ok(written.rows_affected() > 0)
    }

    /// [`Self::record`] of a success, written with the others that finish meanwhile.
    async fn record_done(&self, delivery_id: i64) -> Result<bool> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let lead = {
            let mut queue = self.done.lock().unwrap_or_else(|e| e.into_inner());
            queue.waiting.push((delivery_id, answer));
            !std::mem::replace(&mut queue.writing, true)
        };
        if lead {
            loop {
                let batch = {
                    let mut queue = self.done.lock().unwrap_or_else(|e| e.into_inner());
                    if queue.waiting.is_empty() {
                        queue.writing = false;
                        break;
                    }
                    std::mem::take(&mut queue.waiting)
                };
                let ids: Vec<i64> = batch.iter().map(|(id, _)| *id).collect();
                let written = self.record_done_all(&ids).await.map_err(|e| format!("{e:#}"));
                for (id, answer) in batch {
                    let _ = answer.send(written.as_ref().map(|done| done.contains(&id)).map_err(Clone::clone));
                }
            }
        }
        match answered.await {
            Ok(Ok(done)) => Ok(done),
            Ok(Err(e)) => Err(kanjian_kernel::Error::internal(format!("recording delivery outcomes: {e}"))),
            Err(_) => Err(kanjian_kernel::Error::internal("the delivery that was recording successes stopped")),
        }
    }

    /// Marks `ids` done, fenced by this node's current leases as one outcome is; the ids it
    /// marked.
    async fn record_done_all(&self, ids: &[i64]) -> Result<HashSet<i64>> {
        let now = self.clock.now_millis();
        let placeholders: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 3)).collect();
        let mut values: Vec<Value> = vec![now.into(), self.node.clone().into()];
        values.extend(ids.iter().map(|&id| Value::from(id)));
        let sql = format!(
            "UPDATE events_deliveries SET status = 'done', last_error = NULL, locked_until = NULL, finished_at = $1 \
             WHERE id IN ({}) AND locked_by = $2 AND status = 'pending' AND locked_until >= $1 RETURNING id",
            placeholders.join(", ")
        );
        DispatcherStats::count(&self.stats.done_writes);
        let rows = self.db.query_all_raw(self.stmt(&sql, values)).await.context("recording delivery outcomes")?;
        rows.iter().map(|row| row.try_get::<i64>("", "id").context("reading a recorded delivery")).collect()
    }

    async fn release_leases(&self) -> Result<()> {
        self.db
            .execute_raw(self.stmt(
                // The interrupted attempt did not fail, so it does not count.
                "UPDATE events_deliveries SET locked_until = NULL, locked_by = NULL, \
                 attempts = attempts - 1 \
                 WHERE locked_by = $1 AND status = 'pending' AND locked_until IS NOT NULL",
                vec![self.node.clone().into()],
            ))
            .await
            .context("releasing leases")?;
        Ok(())
    }
}
