//! The outbox and dispatcher against a real database (SQLite, or PostgreSQL with
//! KANJIAN_TEST_DATABASE=postgres): transactional enqueue, delivery, retries, dead letters,
//! crash recovery, and two dispatchers sharing one queue.

// Helpers in this test file are test code too (clippy only exempts #[test] functions themselves).
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use kanjian_contracts::{EventEnvelope, IntegrationEvent};
use kanjian_events::{Dispatcher, DispatcherConfig, EventHandler, HandlerError, Outbox};
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
}

#[async_trait]
impl EventHandler for Recorder {
    fn name(&self) -> &'static str {
        "test.recorder"
    }
    fn handles(&self, kind: &str) -> bool {
        kind == Pinged::KIND
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
        if attempt <= self.fail_first {
            let e = anyhow::anyhow!("failing attempt {attempt}");
            return Err(if self.permanent { HandlerError::Permanent(e) } else { HandlerError::Transient(e) });
        }
        self.seen.lock().unwrap().push(ping.n);
        Ok(())
    }
}

fn fast() -> DispatcherConfig {
    DispatcherConfig {
        poll_interval: Duration::from_millis(20),
        lease: Duration::from_millis(600),
        retry_base: Duration::from_millis(20),
        retry_max: Duration::from_millis(200),
        max_attempts: 4,
    }
}

async fn setup() -> (TestDatabase, DatabaseConnection) {
    let test_db = TestDatabase::create().await;
    let db = kanjian_migrations::database::migrated(&test_db).await;
    (test_db, db.writer().clone())
}

fn start(db: &DatabaseConnection, outbox: &Outbox, handler: Recorder, config: DispatcherConfig) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let mut dispatcher = Dispatcher::new(db.clone(), outbox, config);
    dispatcher.register(Arc::new(handler));
    let stop = CancellationToken::new();
    let task = tokio::spawn(dispatcher.run(stop.clone()));
    (stop, task)
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn delivery_status(db: &DatabaseConnection) -> Vec<(String, i32)> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT status, attempts FROM events_deliveries ORDER BY id",
        ))
        .await
        .unwrap();
    rows.iter().map(|r| (r.try_get("", "status").unwrap(), r.try_get("", "attempts").unwrap())).collect()
}

/// The dispatcher records a delivery's outcome after its handler returns, so a handler having
/// seen an event does not mean the row says so yet: poll until the rows are `expected`.
async fn wait_for_deliveries(db: &DatabaseConnection, expected: &[(&str, i32)]) {
    let expected: Vec<(String, i32)> = expected.iter().map(|(s, n)| ((*s).to_owned(), *n)).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let now = delivery_status(db).await;
        if now == expected {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "deliveries are {now:?}, expected {expected:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn committed_events_are_delivered_and_rolled_back_ones_never_are() {
    let (_guard, db) = setup().await;
    let outbox = Outbox::new();
    let recorder = Recorder::default();
    let (stop, task) = start(&db, &outbox, recorder.clone(), fast());

    let txn = db.begin().await.unwrap();
    outbox.enqueue(&txn, &Pinged { n: 1 }).await.unwrap();
    outbox.enqueue(&txn, &Ignored).await.unwrap();
    txn.commit().await.unwrap();
    let txn = db.begin().await.unwrap();
    outbox.enqueue(&txn, &Pinged { n: 2 }).await.unwrap();
    txn.rollback().await.unwrap();
    let txn = db.begin().await.unwrap();
    outbox.enqueue(&txn, &Pinged { n: 3 }).await.unwrap();
    txn.commit().await.unwrap();
    outbox.notify();

    wait_for("both committed pings", || recorder.seen.lock().unwrap().len() == 2).await;
    // Give a rolled-back event every chance to show up; it must not.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut seen = recorder.seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, [1, 3]);
    // The ignored kind got no delivery row at all.
    wait_for_deliveries(&db, &[("done", 1), ("done", 1)]).await;
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn transient_failures_are_retried_and_permanent_ones_dead_lettered() {
    let (_guard, db) = setup().await;
    let outbox = Outbox::new();
    let flaky = Recorder { fail_first: 2, ..Recorder::default() };
    let (stop, task) = start(&db, &outbox, flaky.clone(), fast());
    let txn = db.begin().await.unwrap();
    outbox.enqueue(&txn, &Pinged { n: 7 }).await.unwrap();
    txn.commit().await.unwrap();
    outbox.notify();
    wait_for("the third attempt to succeed", || flaky.seen.lock().unwrap().len() == 1).await;
    wait_for_deliveries(&db, &[("done", 3)]).await;
    stop.cancel();
    task.await.unwrap();

    // Permanent failure: one attempt, then dead.
    let (_guard2, db) = setup().await;
    let broken = Recorder { fail_first: 100, permanent: true, ..Recorder::default() };
    let (stop, task) = start(&db, &outbox, broken.clone(), fast());
    let txn = db.begin().await.unwrap();
    outbox.enqueue(&txn, &Pinged { n: 8 }).await.unwrap();
    txn.commit().await.unwrap();
    outbox.notify();
    let db2 = db.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if delivery_status(&db2).await == [("dead".to_owned(), 1)] {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never dead-lettered: {:?}", delivery_status(&db2).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn transient_failures_stop_after_max_attempts() {
    let (_guard, db) = setup().await;
    let outbox = Outbox::new();
    let always = Recorder { fail_first: u32::MAX, ..Recorder::default() };
    let (stop, task) = start(&db, &outbox, always.clone(), fast());
    let txn = db.begin().await.unwrap();
    outbox.enqueue(&txn, &Pinged { n: 9 }).await.unwrap();
    txn.commit().await.unwrap();
    outbox.notify();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while delivery_status(&db).await != [("dead".to_owned(), 4)] {
        assert!(tokio::time::Instant::now() < deadline, "{:?}", delivery_status(&db).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(always.attempts.lock().unwrap()[&9], 4);
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn work_of_a_crashed_dispatcher_is_taken_over_after_its_lease() {
    let (_guard, db) = setup().await;
    let outbox = Outbox::new();
    let slow = Recorder { slow: Some(Duration::from_secs(30)), ..Recorder::default() };
    let (_stop, crashed) = start(&db, &outbox, slow.clone(), fast());
    let txn = db.begin().await.unwrap();
    outbox.enqueue(&txn, &Pinged { n: 5 }).await.unwrap();
    txn.commit().await.unwrap();
    outbox.notify();
    wait_for("the slow handler to start", || slow.attempts.lock().unwrap().contains_key(&5)).await;
    // Crash: the task dies without releasing its lease.
    crashed.abort();
    let _ = crashed.await;

    let survivor = Recorder::default();
    let (stop, task) = start(&db, &Outbox::new(), survivor.clone(), fast());
    wait_for("the survivor to deliver", || survivor.seen.lock().unwrap().as_slice() == [5]).await;
    wait_for_deliveries(&db, &[("done", 2)]).await;
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn a_graceful_stop_hands_running_work_back_at_once() {
    let (_guard, db) = setup().await;
    let outbox = Outbox::new();
    let slow = Recorder { slow: Some(Duration::from_secs(30)), ..Recorder::default() };
    // A long lease: only an explicit release lets the next dispatcher in quickly.
    let config = DispatcherConfig { lease: Duration::from_secs(60), ..fast() };
    let (stop, task) = start(&db, &outbox, slow.clone(), config.clone());
    let txn = db.begin().await.unwrap();
    outbox.enqueue(&txn, &Pinged { n: 6 }).await.unwrap();
    txn.commit().await.unwrap();
    outbox.notify();
    wait_for("the slow handler to start", || slow.attempts.lock().unwrap().contains_key(&6)).await;
    stop.cancel();
    task.await.unwrap();

    let next = Recorder::default();
    let (stop, task) = start(&db, &Outbox::new(), next.clone(), config);
    wait_for("the next dispatcher to deliver", || next.seen.lock().unwrap().as_slice() == [6]).await;
    // The interrupted attempt did not count against the event.
    wait_for_deliveries(&db, &[("done", 1)]).await;
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn two_dispatchers_share_one_queue_without_doing_work_twice() {
    let (_guard, db) = setup().await;
    let outbox = Outbox::new();
    let a = Recorder::default();
    let b = Recorder { seen: a.seen.clone(), attempts: a.attempts.clone(), ..Recorder::default() };
    let (stop_a, task_a) = start(&db, &outbox, a.clone(), fast());
    let (stop_b, task_b) = start(&db, &outbox, b, fast());
    for chunk in 0..10u32 {
        let txn = db.begin().await.unwrap();
        for i in 0..10 {
            outbox.enqueue(&txn, &Pinged { n: chunk * 10 + i }).await.unwrap();
        }
        txn.commit().await.unwrap();
        outbox.notify();
    }
    wait_for("100 deliveries", || a.seen.lock().unwrap().len() >= 100).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut seen = a.seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, (0..100).collect::<Vec<_>>(), "each event handled exactly once");
    stop_a.cancel();
    stop_b.cancel();
    task_a.await.unwrap();
    task_b.await.unwrap();
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
    fn handles(&self, kind: &str) -> bool {
        kind == Pinged::KIND
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
    let outbox = Outbox::new();
    let handler = LeaseLoser {
        db: db.clone(),
        running: Default::default(),
        most_at_once: Default::default(),
        runs: Default::default(),
    };
    let mut dispatcher = Dispatcher::new(db.clone(), &outbox, fast());
    dispatcher.register(Arc::new(handler.clone()));
    let stop = CancellationToken::new();
    let task = tokio::spawn(dispatcher.run(stop.clone()));
    let txn = db.begin().await.unwrap();
    outbox.enqueue(&txn, &Pinged { n: 1 }).await.unwrap();
    txn.commit().await.unwrap();
    outbox.notify();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while delivery_status(&db).await.first().map(|(s, _)| s.as_str()) != Some("done") {
        assert!(tokio::time::Instant::now() < deadline, "{:?}", delivery_status(&db).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(handler.most_at_once.load(SeqCst), 1, "the same delivery ran twice at once");
    assert_eq!(handler.runs.load(SeqCst), 1);
    stop.cancel();
    task.await.unwrap();
}
