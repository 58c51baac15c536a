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
        let now = self.clock.now_millis();
        let backend = conn.get_database_backend();
        let insert = "INSERT INTO events_outbox (event_id, kind, payload, occurred_at, fanned_out) \
                      VALUES ($1, $2, $3, $4, FALSE)";
        let sql = match backend {
            // In the same statement, so in the same transaction: PostgreSQL delivers the
            // notification to every listening dispatcher on commit (once per transaction), and
            // never for a rollback.
            DatabaseBackend::Postgres => format!(
                "WITH written AS ({insert} RETURNING 1) SELECT pg_notify('{NOTIFY_CHANNEL}', '') FROM written"
            ),
            _ => insert.to_owned(),
        };
        conn.execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [id.to_string().into(), E::KIND.into(), payload.into(), now.into()],
        ))
        .await
        .context("writing an event to the outbox")?;
        tracing::debug!(event_id = %id, kind = E::KIND, "event enqueued");
        Ok(id)
    }

    /// Wakes this process's dispatcher: new events were committed.
    pub fn notify(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn wake_handle(&self) -> Arc<Notify> {
        self.wake.clone()
    }
}
