//! The transactional outbox: an event row is written in the same transaction as the change it
//! describes, so a change without its event (or an event without its change) cannot exist.

use std::sync::Arc;

use kanjian_contracts::IntegrationEvent;
use kanjian_kernel::{Clock, Context, Result};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use tokio::sync::Notify;

/// The PostgreSQL channel a commit with events notifies; every dispatcher listens on it.
pub const NOTIFY_CHANNEL: &str = "kanjian_events";

/// Cheap to clone; every module holds one.
#[derive(Clone, Default)]
pub struct Outbox {
    wake: Arc<Notify>,
    /// Stamps each event's `occurred_at`.
    clock: Clock,
}

impl Outbox {
    /// An outbox on the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// An outbox whose events occur at `clock`'s time (tests pass a manual clock).
    pub fn with_clock(clock: Clock) -> Self {
        Self { wake: Arc::default(), clock }
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Writes `event` through `conn`, which should be the transaction of the change. On
    /// PostgreSQL the same statement notifies [`NOTIFY_CHANNEL`], which wakes every node's
    /// dispatcher when the transaction commits. Call [`Outbox::notify`] after the commit too:
    /// it wakes this process's dispatcher on SQLite (and costs nothing).
    pub async fn enqueue<C: ConnectionTrait, E: IntegrationEvent>(
        &self,
        conn: &C,
        event: &E,
    ) -> Result<uuid::Uuid> {
        let id = uuid::Uuid::now_v7();
        let payload = serde_json::to_string(event).context("serialising an event")?;
        self.write(conn, vec![(id, E::KIND, payload)]).await?;
        tracing::debug!(event_id = %id, kind = E::KIND, "event enqueued");
        Ok(id)
    }

    /// [`Outbox::enqueue`] for many events of one kind, in one statement (a batch of orders
    /// placed in one transaction). The events keep the order of `events`.
    pub async fn enqueue_all<C: ConnectionTrait, E: IntegrationEvent>(&self, conn: &C, events: &[E]) -> Result<Vec<uuid::Uuid>> {
        let mut rows = Vec::with_capacity(events.len());
        for event in events {
            rows.push((uuid::Uuid::now_v7(), E::KIND, serde_json::to_string(event).context("serialising an event")?));
        }
        let ids = rows.iter().map(|(id, ..)| *id).collect();
        self.write(conn, rows).await?;
        tracing::debug!(count = events.len(), kind = E::KIND, "events enqueued");
        Ok(ids)
    }

    async fn write<C: ConnectionTrait>(&self, conn: &C, rows: Vec<(uuid::Uuid, &'static str, String)>) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let now = self.clock.now_millis();
        let backend = conn.get_database_backend();
        let mut tuples = Vec::with_capacity(rows.len());
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(rows.len() * 4);
        for (id, kind, payload) in rows {
            let n = values.len();
            tuples.push(format!("(${}, ${}, ${}, ${}, FALSE)", n + 1, n + 2, n + 3, n + 4));
            values.extend([id.to_string().into(), kind.into(), payload.into(), now.into()]);
        }
        let insert = format!("INSERT INTO events_outbox (event_id, kind, payload, occurred_at, fanned_out) VALUES {}", tuples.join(", "));
        let sql = match backend {
            // In the same statement, so in the same transaction: PostgreSQL delivers the
            // notification to every listening dispatcher on commit (once per transaction), and
            // never for a rollback.
            DatabaseBackend::Postgres => format!(
                "WITH written AS ({insert} RETURNING 1) SELECT pg_notify('{NOTIFY_CHANNEL}', '') WHERE EXISTS (SELECT 1 FROM written)"
            ),
            _ => insert,
        };
        conn.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await.context("writing events to the outbox")?;
        Ok(())
    }

    /// Wakes this process's dispatcher: new events were committed.
    pub fn notify(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn wake_handle(&self) -> Arc<Notify> {
        self.wake.clone()
    }
}
