//! The outbox and dispatcher against a real database (SQLite, or PostgreSQL with
//! KANJIAN_TEST_DATABASE=postgres): transactional enqueue, delivery, retries, dead letters,
//! crash recovery, and two dispatchers sharing one queue.
//!
//! Time is a manual clock: leases expire and retries fall due when a test moves it, so no test
//! sleeps for them; tests wait on what the rows say instead.

// Helpers in this test file are test code too (clippy only exempts #[test] functions themselves).
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use kanjian_contracts::{EventEnvelope, IntegrationEvent};
use kanjian_events::{Dispatcher, DispatcherConfig, EventHandler, HandlerError, Outbox, Requeue, dead_letters, requeue_dead_letters};
use kanjian_kernel::Clock;
use kanjian_db::testing::TestDatabase;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, TransactionTrait};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pinged {
    n: u32,
}
impl IntegrationEvent for Pinged {
    const KIND: &'static str = "test.pinged";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Ignored;
impl IntegrationEvent for Ignored {
    const KIND: &'static str = "test.ignored";
}

/// Records what it saw; fails the first `fail_first` attempts of each event as told.
#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<u32>>>,
    attempts: Arc<Mutex<HashMap<u32, u32>>>,
    fail_first: u32,
    permanent: bool,
    /// Sleep this long inside the handler (to be interrupted).
    slow: Option<Duration>,
    /// Take a permit from here before returning: the test says when the handler finishes.
    hold: Option<Arc<tokio::sync::Semaphore>>,
    /// Fail this ping for good.
    dead_on: Option<u32>,
    /// Instead of "test.recorder".
    name: Option<&'static str>,
}

#[async_trait]
impl EventHandler for Recorder {
    fn name(&self) -> &'static str {
        self.name.unwrap_or("test.recorder")
    }
    fn kinds(&self) -> &'static [&'static str] {
        &[Pinged::KIND]
    }
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
        let Some(Ok(ping)) = event.decode::<Pinged>() else {
            return Err(HandlerError::Permanent(anyhow::anyhow!("not a ping")));
        };
        let attempt = {
            let mut attempts = self.attempts.lock().unwrap();
            let a = attempts.entry(ping.n).or_default();
            *a += 1;
            *a
        };
        if let Some(slow) = self.slow {
            tokio::time::sleep(slow).await;
        }
        if let Some(hold) = &self.hold {
            hold.acquire().await.unwrap().forget();
        }
        if self.dead_on == Some(ping.n) {
            return Err(HandlerError::Permanent(anyhow::anyhow!("ping {} is broken", ping.n)));
        }
        if attempt <= self.fail_first {
            let e = anyhow::anyhow!("failing attempt {attempt}");
            return Err(if self.permanent { HandlerError::Permanent(e) } else { HandlerError::Transient(e) });
        }
        self.seen.lock().unwrap().push(ping.n);
        Ok(())
    }
}

const LEASE: Duration = Duration::from_secs(300);
const RETRY_BASE: Duration = Duration::from_secs(10);

/// Polls often (real time); leases and retries are long, and only the manual clock moves them.
fn config() -> DispatcherConfig {
    DispatcherConfig {
        poll_interval: Duration::from_millis(20),
        lease: LEASE,
        retry_base: RETRY_BASE,
        retry_max: Duration::from_secs(80),
        max_attempts: 4,
        ..DispatcherConfig::default()
    }
}

async fn setup() -> (TestDatabase, DatabaseConnection) {
    let test_db = TestDatabase::create().await;
    let db = kanjian_migrations::database::migrated(&test_db).await;
    (test_db, db.writer().clone())
}

struct Running {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }
}

/// Registers the dispatcher's handlers (as the server does before serving), then runs it.
async fn spawn(dispatcher: Dispatcher) -> Running {
    dispatcher.register_handlers().await.unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(dispatcher.run(stop.clone()));
    Running { stop, task }
}

async fn start(db: &DatabaseConnection, outbox: &Outbox, clock: &Clock, handler: impl EventHandler + 'static, config: DispatcherConfig) -> Running {
    let mut dispatcher = Dispatcher::new(db.clone(), outbox, config, clock.clone());
    dispatcher.register(Arc::new(handler));
    spawn(dispatcher).await
}

async fn enqueue<E: IntegrationEvent>(db: &DatabaseConnection, outbox: &Outbox, events: &[E]) {
    let txn = db.begin().await.unwrap();
    for event in events {
        outbox.enqueue(&txn, event).await.unwrap();
    }
    txn.commit().await.unwrap();
    outbox.notify();
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Delivery {
    id: i64,
    event_id: String,
    handler: String,
    status: String,
    attempts: i32,
    next_attempt_at: i64,
    locked_until: Option<i64>,
    locked_by: Option<String>,
    last_error: Option<String>,
}

async fn deliveries(db: &DatabaseConnection) -> Vec<Delivery> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT id, event_id, handler, status, attempts, next_attempt_at, locked_until, locked_by, \
             last_error FROM events_deliveries ORDER BY id",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| Delivery {
            id: r.try_get("", "id").unwrap(),
            event_id: r.try_get("", "event_id").unwrap(),
            handler: r.try_get("", "handler").unwrap(),
            status: r.try_get("", "status").unwrap(),
            attempts: r.try_get("", "attempts").unwrap(),
            next_attempt_at: r.try_get("", "next_attempt_at").unwrap(),
            locked_until: r.try_get("", "locked_until").unwrap(),
            locked_by: r.try_get("", "locked_by").unwrap(),
            last_error: r.try_get("", "last_error").unwrap(),
        })
        .collect()
}

/// Waits until the delivery rows are `expected` (status, attempts), in id order. The dispatcher
/// records an outcome after its handler returns, so a handler having seen an event does not mean
/// the row says so yet. Whenever a delivery waits for a retry, moves the clock to its due time:
/// retries fall due without sleeping.
async fn drive_until(db: &DatabaseConnection, clock: &Clock, expected: &[(&str, i32)]) {
    let expected: Vec<(String, i32)> = expected.iter().map(|(s, n)| ((*s).to_owned(), *n)).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let rows = deliveries(db).await;
        let now: Vec<(String, i32)> = rows.iter().map(|d| (d.status.clone(), d.attempts)).collect();
        if now == expected {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "deliveries are {now:?}, expected {expected:?}");
        let waiting = rows
            .iter()
            .filter(|d| d.status == "pending" && d.locked_until.is_none())
            .map(|d| d.next_attempt_at)
            .min();
        if let Some(due) = waiting.filter(|due| *due > clock.now_millis()) {
            clock.set(chrono::DateTime::from_timestamp_millis(due).unwrap());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The payloads in the outbox, in order.
async fn outbox_payloads(db: &DatabaseConnection) -> Vec<(String, String, bool)> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT kind, payload, fanned_out FROM events_outbox ORDER BY id",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| (r.try_get("", "kind").unwrap(), r.try_get("", "payload").unwrap(), r.try_get("", "fanned_out").unwrap()))
        .collect()
}

#[tokio::test]
async fn committed_events_are_delivered_and_rolled_back_ones_never_are() {
    let (_guard, db) = setup().await;
    let clock = Clock::manual_from_now();
    let outbox = Outbox::with_clock(clock.clone());
    let recorder = Recorder::default();
    let node = start(&db, &outbox, &clock, recorder.clone(), config()).await;

    let txn = db.begin().await.unwrap();
    outbox.enqueue(&txn, &Pinged { n: 1 }).await.unwrap();
    outbox.enqueue(&txn, &Ignored).await.unwrap();
    txn.commit().await.unwrap();
    let txn = db.begin().await.unwrap();
    outbox.enqueue(&txn, &Pinged { n: 2 }).await.unwrap();
    txn.rollback().await.unwrap();
    enqueue(&db, &outbox, &[Pinged { n: 3 }]).await;

    // The ignored kind gets no delivery row at all.
    drive_until(&db, &clock, &[("done", 1), ("done", 1)]).await;
    let mut seen = recorder.seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, [1, 3]);
    // The rolled-back event never reached the outbox, so nothing can ever deliver it; the others
    // are all fanned out, so no delivery is still to come.
    let outbox_rows = outbox_payloads(&db).await;
    let expected = [(Pinged::KIND, r#"{"n":1}"#), (Ignored::KIND, "null"), (Pinged::KIND, r#"{"n":3}"#)];
    assert_eq!(outbox_rows.len(), 3, "{outbox_rows:?}");
    for ((kind, payload, fanned_out), (want_kind, want_payload)) in outbox_rows.iter().zip(expected) {
        assert_eq!((kind.as_str(), payload.as_str(), *fanned_out), (want_kind, want_payload, true));
    }
    node.stop().await;
}

#[tokio::test]
async fn successes_finishing_together_are_recorded_together_each_once() {
    let (_guard, db) = setup().await;
    let clock = Clock::manual_from_now();
    let outbox = Outbox::with_clock(clock.clone());
    let hold = Arc::new(tokio::sync::Semaphore::new(0));
    let recorder = Recorder { hold: Some(hold.clone()), ..Recorder::default() };
    let mut dispatcher = Dispatcher::new(db.clone(), &outbox, config(), clock.clone());
    dispatcher.register(Arc::new(recorder.clone()));
    let stats = dispatcher.stats();
    let node = spawn(dispatcher).await;

    // Eight events written in one statement keep their order.
    let txn = db.begin().await.unwrap();
    outbox.enqueue_all(&txn, &(1..=8).map(|n| Pinged { n }).collect::<Vec<_>>()).await.unwrap();
    txn.commit().await.unwrap();
    outbox.notify();
    let payloads: Vec<String> = outbox_payloads(&db).await.into_iter().map(|(_, payload, _)| payload).collect();
    assert_eq!(payloads, (1..=8).map(|n| format!(r#"{{"n":{n}}}"#)).collect::<Vec<_>>());

    // Four run at once (the handler's concurrency) and are let finish together.
    wait_for("four deliveries running", || recorder.attempts.lock().unwrap().len() == 4).await;
    hold.add_permits(8);
    drive_until(&db, &clock, &[("done", 1); 8]).await;
    let mut seen = recorder.seen.lock().unwrap().clone();
    seen.sort_unstable();
    assert_eq!(seen, (1..=8).collect::<Vec<_>>());
    assert_eq!(stats.delivered(), 8);
    assert!(stats.done_writes() < 8, "{} statements recorded 8 successes", stats.done_writes());
    node.stop().await;
}

#[tokio::test]
async fn transient_failures_are_retried_and_permanent_ones_dead_lettered() {
    let (_guard, db) = setup().await;
    let clock = Clock::manual_from_now();
    let outbox = Outbox::with_clock(clock.clone());
    let flaky = Recorder { fail_first: 2, ..Recorder::default() };
    let node = start(&db, &outbox, &clock, flaky.clone(), config()).await;
    let start_ms = clock.now_millis();
    enqueue(&db, &outbox, &[Pinged { n: 7 }]).await;
    // The first failure schedules the retry one base backoff later, on the dispatcher's clock.
    wait_until_row(&db, |d| d.status == "pending" && d.attempts == 1 && d.locked_until.is_none()).await;
    let row = &deliveries(&db).await[0];
    assert_eq!(row.next_attempt_at, start_ms + RETRY_BASE.as_millis() as i64);
    assert_eq!(row.last_error.as_deref(), Some("failing attempt 1"));
    drive_until(&db, &clock, &[("done", 3)]).await;
    assert_eq!(flaky.seen.lock().unwrap().as_slice(), [7]);
    // Attempt 2 waited one base backoff, attempt 3 two.
    assert_eq!(clock.now_millis() - start_ms, 3 * RETRY_BASE.as_millis() as i64);
    node.stop().await;

    // Permanent failure: one attempt, then dead.
    let (_guard2, db) = setup().await;
    let broken = Recorder { fail_first: 100, permanent: true, ..Recorder::default() };
    let node = start(&db, &outbox, &clock, broken.clone(), config()).await;
    enqueue(&db, &outbox, &[Pinged { n: 8 }]).await;
    drive_until(&db, &clock, &[("dead", 1)]).await;
    assert_eq!(broken.attempts.lock().unwrap()[&8], 1);
    node.stop().await;
}

/// Waits for `go`, then sends one statement through the writer.
struct WritesWhenTold {
    db: DatabaseConnection,
    started: Arc<tokio::sync::Notify>,
    go: Arc<tokio::sync::Notify>,
}

#[async_trait]
impl EventHandler for WritesWhenTold {
    fn name(&self) -> &'static str {
        "test.writes_when_told"
    }
    fn kinds(&self) -> &'static [&'static str] {
        &[Pinged::KIND]
    }
    async fn handle(&self, _event: &EventEnvelope) -> Result<(), HandlerError> {
        self.started.notify_one();
        self.go.notified().await;
        self.db.execute_unprepared("SELECT 1").await.map_err(|e| HandlerError::Transient(e.into()))?;
        Ok(())
    }
}

/// On SQLite the writer is one connection, handed out in turn. A handler waiting for it, with a
/// lease renewal queued behind, must get it and finish: the dispatcher once awaited the renewal
/// without polling the handler, so the connection went to a handler nobody polled and the
/// renewal (and every other writer) waited for the acquire timeout (30 s).
#[tokio::test]
async fn a_handler_waiting_for_the_writer_gets_it_while_its_lease_renewal_waits_too() {
    let (_guard, db) = setup().await;
    let clock = Clock::system();
    let outbox = Outbox::with_clock(clock.clone());
    let (started, go) = (Arc::new(tokio::sync::Notify::new()), Arc::new(tokio::sync::Notify::new()));
    let handler = WritesWhenTold { db: db.clone(), started: started.clone(), go: go.clone() };
    // A renewal every second.
    let config = DispatcherConfig { lease: Duration::from_secs(3), ..config() };
    let node = start(&db, &outbox, &clock, handler, config).await;
    enqueue(&db, &outbox, &[Pinged { n: 1 }]).await;
    started.notified().await;
    // Hold the writer; the handler asks for it first, the renewal a second later.
    let held = db.begin().await.unwrap();
    go.notify_one();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    held.commit().await.unwrap();
    wait_until_row(&db, |d| d.status == "done").await;
    node.stop().await;
}

#[tokio::test]
async fn a_retry_runs_when_it_falls_due_not_at_the_next_poll() {
    let (_guard, db) = setup().await;
    // Real time: the dispatcher must wake by itself when the retry it scheduled falls due.
    let clock = Clock::system();
    let outbox = Outbox::with_clock(clock.clone());
    let flaky = Recorder { fail_first: 1, ..Recorder::default() };
    // Polls an hour apart: only the retry's own wake-up runs attempt 2 before the wait below ends.
    let config = DispatcherConfig { poll_interval: Duration::from_secs(3600), retry_base: Duration::from_millis(100), ..config() };
    let node = start(&db, &outbox, &clock, flaky.clone(), config).await;
    enqueue(&db, &outbox, &[Pinged { n: 3 }]).await;
    wait_until_row(&db, |d| d.status == "done").await;
    assert_eq!(flaky.attempts.lock().unwrap()[&3], 2);
    assert_eq!(flaky.seen.lock().unwrap().as_slice(), [3]);
    node.stop().await;
}

/// Waits until the first delivery row satisfies `ok`.
async fn wait_until_row(db: &DatabaseConnection, ok: impl Fn(&Delivery) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let rows = deliveries(db).await;
        if rows.first().is_some_and(&ok) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "rows never got there: {rows:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn transient_failures_stop_after_max_attempts() {
    let (_guard, db) = setup().await;
    let clock = Clock::manual_from_now();
    let outbox = Outbox::with_clock(clock.clone());
    let always = Recorder { fail_first: u32::MAX, ..Recorder::default() };
    let node = start(&db, &outbox, &clock, always.clone(), config()).await;
    enqueue(&db, &outbox, &[Pinged { n: 9 }]).await;
    drive_until(&db, &clock, &[("dead", 4)]).await;
    assert_eq!(always.attempts.lock().unwrap()[&9], 4);
    node.stop().await;
}

#[tokio::test]
async fn work_of_a_crashed_dispatcher_is_taken_over_after_its_lease() {
    let (_guard, db) = setup().await;
    let clock = Clock::manual_from_now();
    let outbox = Outbox::with_clock(clock.clone());
    let slow = Recorder { slow: Some(Duration::from_secs(30)), ..Recorder::default() };
    let crashed = start(&db, &outbox, &clock, slow.clone(), config()).await;
    enqueue(&db, &outbox, &[Pinged { n: 5 }]).await;
    wait_for("the slow handler to start", || slow.attempts.lock().unwrap().contains_key(&5)).await;
    // Crash: the task dies without releasing its lease.
    crashed.task.abort();
    let _ = crashed.task.await;
    let held = deliveries(&db).await[0].clone();
    assert_eq!(held.locked_until, Some(clock.now_millis() + LEASE.as_millis() as i64));

    let survivor = Recorder::default();
    let node = start(&db, &Outbox::new(), &clock, survivor.clone(), config()).await;
    // The lease runs out only when the clock says so.
    clock.advance(LEASE + Duration::from_millis(1));
    wait_for("the survivor to deliver", || survivor.seen.lock().unwrap().as_slice() == [5]).await;
    drive_until(&db, &clock, &[("done", 2)]).await;
    node.stop().await;
}

#[tokio::test]
async fn a_graceful_stop_hands_running_work_back_at_once() {
    let (_guard, db) = setup().await;
    let clock = Clock::manual_from_now();
    let outbox = Outbox::with_clock(clock.clone());
    let slow = Recorder { slow: Some(Duration::from_secs(30)), ..Recorder::default() };
    let node = start(&db, &outbox, &clock, slow.clone(), config()).await;
    enqueue(&db, &outbox, &[Pinged { n: 6 }]).await;
    wait_for("the slow handler to start", || slow.attempts.lock().unwrap().contains_key(&6)).await;
    node.stop().await;
    // The lease is released, not left to run out: the clock has not moved.
    let released = deliveries(&db).await[0].clone();
    assert_eq!((released.status.as_str(), released.attempts, released.locked_until), ("pending", 0, None));

    let next = Recorder::default();
    let node = start(&db, &Outbox::new(), &clock, next.clone(), config()).await;
    wait_for("the next dispatcher to deliver", || next.seen.lock().unwrap().as_slice() == [6]).await;
    // The interrupted attempt did not count against the event.
    drive_until(&db, &clock, &[("done", 1)]).await;
    node.stop().await;
}

#[tokio::test]
async fn two_dispatchers_share_one_queue_without_doing_work_twice() {
    let (_guard, db) = setup().await;
    let clock = Clock::manual_from_now();
    let outbox = Outbox::with_clock(clock.clone());
    let a = Recorder::default();
    let b = Recorder { seen: a.seen.clone(), attempts: a.attempts.clone(), ..Recorder::default() };
    let node_a = start(&db, &outbox, &clock, a.clone(), config()).await;
    let node_b = start(&db, &outbox, &clock, b, config()).await;
    for chunk in 0..10u32 {
        let pings: Vec<Pinged> = (0..10).map(|i| Pinged { n: chunk * 10 + i }).collect();
        enqueue(&db, &outbox, &pings).await;
    }
    // Every row done after one claim: no delivery was claimed twice, so none ran twice.
    drive_until(&db, &clock, &[("done", 1); 100]).await;
    let mut seen = a.seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, (0..100).collect::<Vec<_>>(), "each event handled exactly once");
    node_a.stop().await;
    node_b.stop().await;
}

/// Expires its own lease mid-run, as a renewal delayed on a loaded machine would, and records
/// how many runs overlapped.
#[derive(Clone)]
struct LeaseLoser {
    db: DatabaseConnection,
    running: Arc<std::sync::atomic::AtomicUsize>,
    most_at_once: Arc<std::sync::atomic::AtomicUsize>,
    runs: Arc<std::sync::atomic::AtomicUsize>,
}

#[async_trait]
impl EventHandler for LeaseLoser {
    fn name(&self) -> &'static str {
        "test.lease_loser"
    }
    fn kinds(&self) -> &'static [&'static str] {
        &[Pinged::KIND]
    }
    async fn handle(&self, _event: &EventEnvelope) -> Result<(), HandlerError> {
        use std::sync::atomic::Ordering::SeqCst;
        self.runs.fetch_add(1, SeqCst);
        let now = self.running.fetch_add(1, SeqCst) + 1;
        self.most_at_once.fetch_max(now, SeqCst);
        self.db
            .execute_unprepared("UPDATE events_deliveries SET locked_until = 0")
            .await
            .map_err(|e| HandlerError::Transient(e.into()))?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.running.fetch_sub(1, SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn a_node_never_runs_a_delivery_it_is_already_running() {
    use std::sync::atomic::Ordering::SeqCst;
    let (_guard, db) = setup().await;
    let clock = Clock::manual_from_now();
    let outbox = Outbox::with_clock(clock.clone());
    let handler = LeaseLoser {
        db: db.clone(),
        running: Default::default(),
        most_at_once: Default::default(),
        runs: Default::default(),
    };
    // A short lease, renewed every 200 ms of real time while the handler runs.
    let config = DispatcherConfig { lease: Duration::from_millis(600), ..config() };
    let node = start(&db, &outbox, &clock, handler.clone(), config).await;
    enqueue(&db, &outbox, &[Pinged { n: 1 }]).await;
    wait_until_row(&db, |d| d.status == "done").await;
    assert_eq!(handler.most_at_once.load(SeqCst), 1, "the same delivery ran twice at once");
    assert_eq!(handler.runs.load(SeqCst), 1);
    node.stop().await;
}

#[tokio::test]
async fn a_node_that_lost_its_lease_drops_its_late_result() {
    let (_guard, db) = setup().await;
    let clock = Clock::manual_from_now();
    let outbox = Outbox::with_clock(clock.clone());
    // Node A's handler runs until the test lets it go, then fails for good.
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let slow_a = Recorder { fail_first: u32::MAX, permanent: true, hold: Some(gate.clone()), ..Recorder::default() };
    let mut a = Dispatcher::new(db.clone(), &outbox, config(), clock.clone());
    a.register(Arc::new(slow_a.clone()));
    let (a_id, a_stats) = (a.node_id().to_owned(), a.stats());
    let node_a = spawn(a).await;
    enqueue(&db, &outbox, &[Pinged { n: 4 }]).await;
    wait_for("A's handler to start", || slow_a.attempts.lock().unwrap().contains_key(&4)).await;
    let held = deliveries(&db).await[0].clone();
    assert_eq!((held.locked_by.as_deref(), held.attempts), (Some(a_id.as_str()), 1));

    // A's lease runs out while its handler still runs; node B claims the delivery and delivers.
    clock.advance(LEASE + Duration::from_millis(1));
    let b_rec = Recorder::default();
    let mut b = Dispatcher::new(db.clone(), &Outbox::new(), config(), clock.clone());
    b.register(Arc::new(b_rec.clone()));
    let (b_id, b_stats) = (b.node_id().to_owned(), b.stats());
    let node_b = spawn(b).await;
    wait_until_row(&db, |d| d.status == "done").await;
    let done = deliveries(&db).await[0].clone();
    assert_eq!(
        (done.locked_by.as_deref(), done.attempts, done.last_error.as_deref()),
        (Some(b_id.as_str()), 2, None),
        "B recorded its success"
    );

    // Now A's handler returns its failure, late: it must not turn B's success into a dead letter.
    gate.add_permits(1);
    wait_for("A to drop its outcome", || a_stats.results_dropped() == 1).await;
    assert_eq!(deliveries(&db).await[0], done, "A's late outcome overwrote B's");
    assert_eq!((a_stats.delivered(), a_stats.dead_lettered(), a_stats.retried()), (0, 0, 0));
    assert_eq!((b_stats.delivered(), b_stats.results_dropped()), (1, 0));
    assert_eq!(slow_a.attempts.lock().unwrap()[&4], 1);
    assert!(slow_a.seen.lock().unwrap().is_empty());
    assert_eq!(b_rec.seen.lock().unwrap().as_slice(), [4]);
    node_a.stop().await;
    node_b.stop().await;
}

/// Panics instead of returning errors: always on ping 1, on the first attempt only on ping 2.
/// One delivery at a time, so a permit lost to a panic would stop it for good.
#[derive(Clone, Default)]
struct Panicker {
    attempts: Arc<Mutex<HashMap<u32, u32>>>,
    seen: Arc<Mutex<Vec<u32>>>,
}

#[async_trait]
impl EventHandler for Panicker {
    fn name(&self) -> &'static str {
        "test.panicker"
    }
    fn kinds(&self) -> &'static [&'static str] {
        &[Pinged::KIND]
    }
    fn max_concurrency(&self) -> usize {
        1
    }
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
        let ping = event.decode::<Pinged>().unwrap().unwrap();
        let attempt = {
            let mut attempts = self.attempts.lock().unwrap();
            let a = attempts.entry(ping.n).or_default();
            *a += 1;
            *a
        };
        tokio::task::yield_now().await;
        if ping.n == 1 || attempt == 1 {
            panic!("boom: ping {} attempt {attempt}", ping.n);
        }
        self.seen.lock().unwrap().push(ping.n);
        Ok(())
    }
}

#[tokio::test]
async fn a_panicking_handler_is_a_failed_attempt_retried_then_dead_lettered() {
    let (_guard, db) = setup().await;
    let clock = Clock::manual_from_now();
    let outbox = Outbox::with_clock(clock.clone());
    let panicker = Panicker::default();
    let mut dispatcher = Dispatcher::new(db.clone(), &outbox, config(), clock.clone());
    dispatcher.register(Arc::new(panicker.clone()));
    let stats = dispatcher.stats();
    let node = spawn(dispatcher).await;
    enqueue(&db, &outbox, &[Pinged { n: 1 }, Pinged { n: 2 }]).await;
    // Retries happen at all only if each panicking run gave back its permit (one in all) and
    // its place in the node's running set (a delivery in it is never claimed again).
    drive_until(&db, &clock, &[("dead", 4), ("done", 2)]).await;
    let rows = deliveries(&db).await;
    assert_eq!(rows[0].last_error.as_deref(), Some("handler panicked: boom: ping 1 attempt 4"));
    assert_eq!(rows[1].last_error, None);
    assert_eq!(panicker.seen.lock().unwrap().as_slice(), [2]);
    assert_eq!(panicker.attempts.lock().unwrap().clone(), HashMap::from([(1, 4), (2, 2)]));
    // A counter moves just after its outcome commits: the rows can be seen a moment before.
    let counts = || (stats.panicked(), stats.retried(), stats.dead_lettered(), stats.delivered());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while counts() != (5, 4, 1, 1) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(counts(), (5, 4, 1, 1));
    // Nothing is left running: a graceful stop has no lease to hand back.
    node.stop().await;
    assert!(deliveries(&db).await.iter().all(|d| d.locked_until.is_none()));
}

/// A connection to the same database that logs every SQL statement sent through it (sea-orm's
/// metric callback, as the server's statement counter uses).
fn logged(db: &DatabaseConnection) -> (DatabaseConnection, Arc<Mutex<Vec<String>>>) {
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut logged = db.clone();
    let sink = log.clone();
    logged.set_metric_callback(move |info| sink.lock().unwrap().push(info.statement.sql.clone()));
    (logged, log)
}

#[tokio::test]
async fn a_claim_reads_the_events_with_the_deliveries_in_one_statement() {
    let (_guard, db) = setup().await;
    let clock = Clock::manual_from_now();
    let outbox = Outbox::with_clock(clock.clone());
    let (logged_db, log) = logged(&db);
    // All ten due at once, four claimed at a time (the recorder's concurrency).
    enqueue(&db, &outbox, &(0..10).map(|n| Pinged { n }).collect::<Vec<_>>()).await;
    let recorder = Recorder::default();
    let node = start(&logged_db, &outbox, &clock, recorder.clone(), config()).await;
    drive_until(&db, &clock, &[("done", 1); 10]).await;
    node.stop().await;
    let mut seen = recorder.seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, (0..10).collect::<Vec<_>>());

    let log = log.lock().unwrap().clone();
    let claims = log.iter().filter(|sql| sql.contains("attempts = attempts + 1")).count();
    // The only statements that read events are the claims (and the fan-out, which reads kinds).
    let event_reads: Vec<&String> = log
        .iter()
        .filter(|sql| sql.contains("FROM events_outbox") && !sql.contains("attempts = attempts + 1") && !sql.contains("fanned_out"))
        .collect();
    assert!(event_reads.is_empty(), "events read apart from their claim: {event_reads:#?}");
    assert!((1..=10).contains(&claims), "{claims} claims for 10 deliveries");
}

#[tokio::test]
async fn a_delivery_whose_event_is_gone_is_dead_lettered_not_retried() {
    let (_guard, db) = setup().await;
    let clock = Clock::manual_from_now();
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "INSERT INTO events_deliveries (event_id, handler, status, attempts, next_attempt_at) \
         VALUES ($1, 'test.recorder', 'pending', 0, $2)",
        ["00000000-0000-7000-8000-000000000000".into(), clock.now_millis().into()],
    ))
    .await
    .unwrap();
    let recorder = Recorder::default();
    let node = start(&db, &Outbox::new(), &clock, recorder.clone(), config()).await;
    drive_until(&db, &clock, &[("dead", 1)]).await;
    assert_eq!(
        deliveries(&db).await[0].last_error.as_deref(),
        Some("event 00000000-0000-7000-8000-000000000000 is not in the outbox")
    );
    assert!(recorder.attempts.lock().unwrap().is_empty());
    node.stop().await;
}

/// Counts as pings; a second handler on the node.
#[derive(Clone, Default)]
struct Counter {
    seen: Arc<Mutex<Vec<u32>>>,
}

#[async_trait]
impl EventHandler for Counter {
    fn name(&self) -> &'static str {
        "test.counter"
    }
    fn kinds(&self) -> &'static [&'static str] {
        &[Pinged::KIND]
    }
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
        self.seen.lock().unwrap().push(event.decode::<Pinged>().unwrap().unwrap().n);
        Ok(())
    }
}

#[tokio::test]
async fn an_idle_dispatcher_sends_one_cheap_statement_per_poll() {
    let (_guard, db) = setup().await;
    let clock = Clock::manual_from_now();
    let outbox = Outbox::with_clock(clock.clone());
    let (logged_db, log) = logged(&db);
    let poll = Duration::from_millis(50);
    let (recorder, counter) = (Recorder::default(), Counter::default());
    let mut dispatcher = Dispatcher::new(logged_db, &outbox, DispatcherConfig { poll_interval: poll, ..config() }, clock.clone());
    dispatcher.register(Arc::new(recorder.clone()));
    dispatcher.register(Arc::new(counter.clone()));
    let node = spawn(dispatcher).await;

    // Idle, with two handlers: measure a second of polling.
    // (After the handlers' registration, which run() repeats as it starts.)
    let probe = "SELECT CASE WHEN EXISTS";
    wait_for("the first poll", || log.lock().unwrap().iter().any(|sql| sql.starts_with(probe))).await;
    log.lock().unwrap().clear();
    let window = Duration::from_secs(1);
    tokio::time::sleep(window).await;
    let idle = log.lock().unwrap().clone();
    let polls = window.as_millis() / poll.as_millis();
    assert!(!idle.is_empty() && idle.len() as u128 <= polls + 1, "{} statements in {polls} polls", idle.len());
    assert!(idle.iter().all(|sql| sql == &idle[0]), "an idle poll sent more than its probe: {idle:#?}");
    assert!(idle[0].starts_with(probe), "{}", idle[0]);

    // Work wakes it: the probe says so, and both handlers get the event.
    enqueue(&db, &outbox, &[Pinged { n: 1 }]).await;
    drive_until(&db, &clock, &[("done", 1), ("done", 1)]).await;
    assert_eq!(recorder.seen.lock().unwrap().as_slice(), [1]);
    assert_eq!(counter.seen.lock().unwrap().as_slice(), [1]);
    node.stop().await;
}

/// `events_handlers` rows: (name, kinds, registered_at).
async fn registered(db: &DatabaseConnection) -> Vec<(String, String, i64)> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT name, kinds, registered_at FROM events_handlers ORDER BY name",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| (r.try_get("", "name").unwrap(), r.try_get("", "kinds").unwrap(), r.try_get("", "registered_at").unwrap()))
        .collect()
}

#[tokio::test]
async fn fan_out_serves_every_registered_handler_from_its_registration_on_whichever_node_runs_it() {
    let (_guard, db) = setup().await;
    let clock = Clock::manual_from_now();
    let outbox = Outbox::with_clock(clock.clone());
    let t0 = clock.now_millis();
    // Emitted before any handler exists.
    enqueue(&db, &outbox, &[Pinged { n: 0 }]).await;

    // Node B (a newer deploy) brings the counter, registers it, fans ping 0 out (to no one: it
    // occurred before the counter's registration) and goes away again.
    clock.advance(Duration::from_secs(1));
    let counter = Counter::default();
    let node_b = {
        let mut b = Dispatcher::new(db.clone(), &Outbox::new(), config(), clock.clone());
        b.register(Arc::new(counter.clone()));
        spawn(b).await
    };
    let registered_at = t0 + 1000;
    assert_eq!(registered(&db).await, [("test.counter".to_owned(), r#"["test.pinged"]"#.to_owned(), registered_at)]);
    wait_until(&db, "ping 0 to be fanned out", |db| async move { outbox_payloads(&db).await[0].2 }).await;
    node_b.stop().await;
    assert!(deliveries(&db).await.is_empty());

    // Node A (an older deploy, without the counter) fans out ping 1, emitted after the
    // counter's registration: the counter gets a delivery that A leaves alone.
    clock.advance(Duration::from_secs(1));
    enqueue(&db, &outbox, &[Pinged { n: 1 }]).await;
    let recorder = Recorder::default();
    let node_a = start(&db, &outbox, &clock, recorder.clone(), config()).await;
    wait_until(&db, "A to deliver ping 1", |db| async move {
        deliveries(&db).await.iter().any(|d| d.handler == "test.recorder" && d.status == "done")
    })
    .await;
    let rows = deliveries(&db).await;
    let for_counter: Vec<&Delivery> = rows.iter().filter(|d| d.handler == "test.counter").collect();
    assert_eq!(for_counter.len(), 1, "{rows:?}");
    assert_eq!((for_counter[0].status.as_str(), for_counter[0].attempts), ("pending", 0), "A never claims a handler it lacks");
    assert_eq!(recorder.seen.lock().unwrap().as_slice(), [1]);

    // B comes back and delivers it. Its registration keeps the first registration's time.
    let node_b = {
        let mut b = Dispatcher::new(db.clone(), &Outbox::new(), config(), clock.clone());
        b.register(Arc::new(counter.clone()));
        spawn(b).await
    };
    drive_until(&db, &clock, &[("done", 1), ("done", 1)]).await;
    assert_eq!(counter.seen.lock().unwrap().as_slice(), [1], "ping 0 preceded the counter's registration");
    let names: Vec<(String, i64)> = registered(&db).await.into_iter().map(|(name, _, at)| (name, at)).collect();
    assert_eq!(names, [("test.counter".to_owned(), registered_at), ("test.recorder".to_owned(), t0 + 2000)]);
    node_a.stop().await;
    node_b.stop().await;
}

/// Waits until `check(db)` says yes.
async fn wait_until<F, Fut>(db: &DatabaseConnection, what: &str, check: F)
where
    F: Fn(DatabaseConnection) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !check(db.clone()).await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn upgrading_registers_the_handlers_that_had_deliveries_so_no_backlog_is_lost() {
    use kanjian_migrations::{Migrator, MigratorTrait};
    let test_db = TestDatabase::create().await;
    let db = test_db.connect(Clock::system()).await.writer().clone();
    // The schema before handlers were registered in the database.
    Migrator::up(&db, Some(10)).await.unwrap();
    let clock = Clock::manual_from_now();
    let outbox = Outbox::with_clock(clock.clone());
    // One event delivered long ago, one still waiting for fan-out when the upgrade runs.
    enqueue(&db, &outbox, &[Pinged { n: 1 }, Pinged { n: 2 }]).await;
    let backend = db.get_database_backend();
    let first = outbox_event_ids(&db).await[0].clone();
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        "UPDATE events_outbox SET fanned_out = TRUE WHERE event_id = $1",
        [first.clone().into()],
    ))
    .await
    .unwrap();
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        "INSERT INTO events_deliveries (event_id, handler, status, attempts, next_attempt_at, finished_at) \
         VALUES ($1, 'test.recorder', 'done', 1, $2, $2)",
        [first.into(), clock.now_millis().into()],
    ))
    .await
    .unwrap();

    Migrator::up(&db, None).await.unwrap();
    assert_eq!(registered(&db).await, [("test.recorder".to_owned(), r#"["test.pinged"]"#.to_owned(), 0)]);
    // The new code starts after the upgrade, later than ping 2 occurred: it still gets it.
    clock.advance(Duration::from_secs(60));
    let recorder = Recorder::default();
    let node = start(&db, &outbox, &clock, recorder.clone(), config()).await;
    drive_until(&db, &clock, &[("done", 1), ("done", 1)]).await;
    assert_eq!(recorder.seen.lock().unwrap().as_slice(), [2]);
    node.stop().await;
}

async fn outbox_event_ids(db: &DatabaseConnection) -> Vec<String> {
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), "SELECT event_id FROM events_outbox ORDER BY id"))
        .await
        .unwrap();
    rows.iter().map(|r| r.try_get("", "event_id").unwrap()).collect()
}

#[tokio::test]
async fn on_postgres_a_commit_on_any_node_wakes_every_dispatcher_at_once() {
    let (guard, db) = setup().await;
    if guard.backend != kanjian_db::testing::Backend::Postgres {
        eprintln!("LISTEN/NOTIFY is PostgreSQL's: nothing to test on SQLite");
        return;
    }
    let clock = Clock::manual_from_now();
    // Polls too rarely to matter: only a notification can wake these dispatchers.
    let config = DispatcherConfig { poll_interval: Duration::from_secs(60), ..config() };
    let (a, b) = (Recorder::default(), Counter::default());
    let mut node_a = Dispatcher::new(db.clone(), &Outbox::new(), config.clone(), clock.clone());
    node_a.register(Arc::new(a.clone()));
    let mut node_b = Dispatcher::new(db.clone(), &Outbox::new(), config, clock.clone());
    node_b.register(Arc::new(b.clone()));
    let (a_stats, b_stats) = (node_a.stats(), node_b.stats());
    let (node_a, node_b) = (spawn(node_a).await, spawn(node_b).await);
    // Each polls once as it starts and once more when its listener is up.
    wait_for("both listeners", || a_stats.polls() >= 2 && b_stats.polls() >= 2).await;
    let polls_before = (a_stats.polls(), b_stats.polls());

    // A third node emits; its outbox shares nothing in memory with either dispatcher.
    let elsewhere = Outbox::with_clock(clock.clone());
    let started = std::time::Instant::now();
    enqueue(&db, &elsewhere, &[Pinged { n: 1 }]).await;
    drive_until(&db, &clock, &[("done", 1), ("done", 1)]).await;
    enqueue(&db, &elsewhere, &[Pinged { n: 2 }]).await;
    drive_until(&db, &clock, &[("done", 1); 4]).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "two events took {took:?} with a 60 s poll");
    assert_eq!(a.seen.lock().unwrap().as_slice(), [1, 2]);
    assert_eq!(b.seen.lock().unwrap().as_slice(), [1, 2]);
    assert!(a_stats.polls() > polls_before.0 && b_stats.polls() > polls_before.1, "both woke");
    node_a.stop().await;
    node_b.stop().await;
}

#[tokio::test]
async fn delivered_events_are_pruned_after_the_retention_and_dead_letters_kept() {
    let (_guard, db) = setup().await;
    let clock = Clock::manual_from_now();
    let outbox = Outbox::with_clock(clock.clone());
    let hour = Duration::from_secs(3600);
    let config = DispatcherConfig { retention: hour, prune_interval: Duration::from_secs(600), ..config() };
    let recorder = Recorder { dead_on: Some(2), ..Recorder::default() };
    let mut dispatcher = Dispatcher::new(db.clone(), &outbox, config, clock.clone());
    dispatcher.register(Arc::new(recorder.clone()));
    let stats = dispatcher.stats();
    let node = spawn(dispatcher).await;

    // Old: ping 1 delivered, ping 2 dead, an event no handler takes.
    enqueue(&db, &outbox, &[Pinged { n: 1 }, Pinged { n: 2 }]).await;
    enqueue(&db, &outbox, &[Ignored]).await;
    drive_until(&db, &clock, &[("done", 1), ("dead", 1)]).await;
    // Half an hour later: ping 3, delivered.
    clock.advance(hour / 2);
    enqueue(&db, &outbox, &[Pinged { n: 3 }]).await;
    drive_until(&db, &clock, &[("done", 1), ("dead", 1), ("done", 1)]).await;
    assert_eq!(outbox_payloads(&db).await.len(), 4, "nothing is old enough yet");

    // An hour and a minute after the first events: they are past the retention, ping 3 is not.
    clock.advance(hour / 2 + Duration::from_secs(60));
    wait_until(&db, "the old events to be pruned", |db| async move { outbox_payloads(&db).await.len() == 2 }).await;
    let left: Vec<String> = outbox_payloads(&db).await.into_iter().map(|(_, payload, _)| payload).collect();
    assert_eq!(left, [r#"{"n":2}"#, r#"{"n":3}"#], "the dead letter's event stays for a requeue");
    let rows: Vec<(String, String)> = deliveries(&db).await.into_iter().map(|d| (d.status, d.last_error.unwrap_or_default())).collect();
    assert_eq!(rows, [("dead".to_owned(), "ping 2 is broken".to_owned()), ("done".to_owned(), String::new())]);
    // As it started, maybe when the clock moved half an hour, and now; then not again until
    // the dispatcher's clock passes another prune interval, however often it polls.
    let prunes = stats.prunes();
    assert!((2..=3).contains(&prunes), "{prunes} prunes");
    let polls = stats.polls();
    wait_for("five more polls", || stats.polls() >= polls + 5).await;
    assert_eq!(stats.prunes(), prunes);
    node.stop().await;
}

#[tokio::test]
async fn dead_letters_are_listed_and_requeued_by_id_by_handler_or_all() {
    let (_guard, db) = setup().await;
    let clock = Clock::manual_from_now();
    let outbox = Outbox::with_clock(clock.clone());
    // Two handlers whose first attempt at anything fails for good.
    let a = Recorder { name: Some("test.a"), fail_first: 1, permanent: true, ..Recorder::default() };
    let b = Recorder { name: Some("test.b"), fail_first: 1, permanent: true, ..Recorder::default() };
    let mut dispatcher = Dispatcher::new(db.clone(), &outbox, config(), clock.clone());
    dispatcher.register(Arc::new(a.clone()));
    dispatcher.register(Arc::new(b.clone()));
    let node = spawn(dispatcher).await;
    let died_at = clock.now();
    enqueue(&db, &outbox, &[Pinged { n: 1 }, Pinged { n: 2 }]).await;
    wait_until(&db, "four dead letters", |db| async move {
        deliveries(&db).await.iter().filter(|d| d.status == "dead").count() == 4
    })
    .await;

    let all = dead_letters(&db, None, None, 100).await.unwrap();
    assert_eq!(all.len(), 4);
    for letter in &all {
        assert_eq!(letter.kind.as_deref(), Some(Pinged::KIND));
        assert_eq!((letter.attempts, letter.last_error.as_deref(), letter.finished_at), (1, Some("failing attempt 1"), Some(died_at)));
    }
    let of_a = dead_letters(&db, Some("test.a"), None, 100).await.unwrap();
    assert_eq!(of_a.iter().map(|l| l.handler.as_str()).collect::<Vec<_>>(), ["test.a", "test.a"]);
    // Pages by id.
    let first_page = dead_letters(&db, None, None, 3).await.unwrap();
    let second_page = dead_letters(&db, None, Some(first_page[2].id), 3).await.unwrap();
    assert_eq!(first_page.iter().chain(&second_page).cloned().collect::<Vec<_>>(), all);

    // One by id: due now on the clock, attempts starting over; the second attempt succeeds.
    clock.advance(Duration::from_secs(60));
    assert_eq!(requeue_dead_letters(&db, &clock, &Requeue::Ids(vec![of_a[0].id])).await.unwrap(), 1);
    let row = deliveries(&db).await.into_iter().find(|d| d.id == of_a[0].id).unwrap();
    assert!(row.status != "dead" && row.next_attempt_at == clock.now_millis(), "{row:?}");
    wait_until(&db, "the requeued one delivered", |db| async move {
        dead_letters(&db, None, None, 100).await.unwrap().len() == 3
            && deliveries(&db).await.iter().any(|d| d.status == "done")
    })
    .await;
    // The rest of a handler's, then all the others.
    assert_eq!(requeue_dead_letters(&db, &clock, &Requeue::Handler("test.a".into())).await.unwrap(), 1);
    assert_eq!(requeue_dead_letters(&db, &clock, &Requeue::All).await.unwrap(), 2);
    drive_until(&db, &clock, &[("done", 1); 4]).await;
    assert!(dead_letters(&db, None, None, 100).await.unwrap().is_empty());
    let (mut seen_a, mut seen_b) = (a.seen.lock().unwrap().clone(), b.seen.lock().unwrap().clone());
    seen_a.sort();
    seen_b.sort();
    assert_eq!((seen_a, seen_b), (vec![1, 2], vec![1, 2]));
    // Only dead letters are requeued.
    assert_eq!(requeue_dead_letters(&db, &clock, &Requeue::All).await.unwrap(), 0);
    assert_eq!(requeue_dead_letters(&db, &clock, &Requeue::Ids(vec![of_a[0].id])).await.unwrap(), 0);
    node.stop().await;
}
