//! The shared rate limiter against a real, migrated database (SQLite, or PostgreSQL with
//! KANJIAN_TEST_DATABASE=postgres), on a manual clock: time moves, nobody sleeps.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use kanjian_db::rate_limit::{self, Limit, Rate};
use kanjian_db::testing::TestDatabase;
use kanjian_db::Db;
use kanjian_kernel::{Clock, Error};
use sea_orm::{ConnectionTrait, Statement};

async fn open() -> (TestDatabase, Db, Clock) {
    let database = TestDatabase::create().await;
    let clock = Clock::manual(chrono::DateTime::from_timestamp_millis(1_800_000_000_000).unwrap());
    let db = kanjian_migrations::database::migrated_with_clock(&database, clock.clone()).await;
    (database, db.for_module("social"), clock)
}

fn retry_after(result: kanjian_kernel::Result<()>) -> u64 {
    match result {
        Err(Error::RateLimited { retry_after_secs }) => retry_after_secs,
        other => panic!("expected RateLimited, got {other:?}"),
    }
}

/// Every row of the table, in key order: what a refused call must leave as it was.
async fn rows(db: &Db) -> Vec<(String, i64)> {
    db.reader()
        .query_all_raw(Statement::from_string(db.backend(), "SELECT name, tat_ms FROM db_rate_limits ORDER BY name"))
        .await
        .unwrap()
        .iter()
        .map(|r| (r.try_get("", "name").unwrap(), r.try_get("", "tat_ms").unwrap()))
        .collect()
}

#[tokio::test]
async fn max_calls_pass_the_next_is_refused_with_a_retry_and_the_bucket_refills() {
    let (_database, db, clock) = open().await;
    let five_an_hour = [Rate::new(5, 3600)];
    let limit = || Limit::per_ip("sign_up", "203.0.113.9", &five_an_hour);
    for _ in 0..5 {
        rate_limit::check(&db, &[limit()]).await.unwrap();
    }
    let before = rows(&db).await;
    // One refills every 3600 / 5 = 720 s.
    assert_eq!(retry_after(rate_limit::check(&db, &[limit()]).await), 720);
    assert_eq!(rows(&db).await, before, "a refused call spends nothing");
    clock.advance(Duration::from_secs(719));
    assert_eq!(retry_after(rate_limit::check(&db, &[limit()]).await), 1);
    clock.advance(Duration::from_secs(1));
    rate_limit::check(&db, &[limit()]).await.unwrap();
    assert_eq!(retry_after(rate_limit::check(&db, &[limit()]).await), 720);
    // A whole window later the bucket is full again: five at once.
    clock.advance(Duration::from_secs(3600));
    for _ in 0..5 {
        rate_limit::check(&db, &[limit()]).await.unwrap();
    }
    assert!(rate_limit::check(&db, &[limit()]).await.is_err());
}

#[tokio::test]
async fn several_rates_are_spent_all_or_nothing_and_the_retry_waits_for_all() {
    let (_database, db, clock) = open().await;
    // A burst rule and an hourly cap, as comments have.
    let rates = [Rate::new(3, 30), Rate::new(4, 3600)];
    let limit = || Limit::per_user("comment", 7, &rates);
    for _ in 0..3 {
        rate_limit::check(&db, &[limit()]).await.unwrap();
    }
    let before = rows(&db).await;
    assert_eq!(retry_after(rate_limit::check(&db, &[limit()]).await), 10);
    assert_eq!(rows(&db).await, before, "the hourly cap was not spent by the refused call");
    clock.advance(Duration::from_secs(10));
    rate_limit::check(&db, &[limit()]).await.unwrap();
    // Both refuse now; the answer waits for the slower one (one in 900 s, minus the 10 s gone).
    let before = rows(&db).await;
    assert_eq!(retry_after(rate_limit::check(&db, &[limit()]).await), 890);
    assert_eq!(rows(&db).await, before);
    clock.advance(Duration::from_secs(890));
    rate_limit::check(&db, &[limit()]).await.unwrap();
}

#[tokio::test]
async fn subjects_actions_and_modules_keep_counters_of_their_own() {
    let (_database, db, _clock) = open().await;
    let one = [Rate::new(1, 60)];
    rate_limit::check(&db, &[Limit::per_user("comment", 1, &one)]).await.unwrap();
    assert!(rate_limit::check(&db, &[Limit::per_user("comment", 1, &one)]).await.is_err());
    rate_limit::check(&db, &[Limit::per_user("comment", 2, &one)]).await.unwrap();
    rate_limit::check(&db, &[Limit::per_user("friend_request", 1, &one)]).await.unwrap();
    rate_limit::check(&db, &[Limit::per_ip("comment", "1", &one)]).await.unwrap();
    let media = db.for_module("media");
    rate_limit::check(&media, &[Limit::per_user("comment", 1, &one)]).await.unwrap();
    // A different rate is a different counter (a config change starts afresh).
    rate_limit::check(&db, &[Limit::per_user("comment", 1, &[Rate::new(2, 60)])]).await.unwrap();
    let names: Vec<String> = rows(&db).await.into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "media:comment:1/60:user:1",
            "social:comment:1/60:ip:1",
            "social:comment:1/60:user:1",
            "social:comment:1/60:user:2",
            "social:comment:2/60:user:1",
            "social:friend_request:1/60:user:1",
        ]
    );
}

#[tokio::test]
async fn a_cost_spends_that_much_and_one_over_max_waits_for_a_full_bucket() {
    let (_database, db, clock) = open().await;
    let bytes = [Rate::new(1000, 100)];
    let upload = |size: u64| Limit::per_user("upload_bytes", 3, &bytes).cost(size);
    rate_limit::check(&db, &[upload(600)]).await.unwrap();
    // 600 + 500 > 1000: wait until 100 have refilled (10 s).
    assert_eq!(retry_after(rate_limit::check(&db, &[upload(500)]).await), 10);
    // The 600 refill in 60 s; 5000 count as 1000: they pass once the bucket is full, never before.
    clock.advance(Duration::from_secs(30));
    assert_eq!(retry_after(rate_limit::check(&db, &[upload(5000)]).await), 30);
    clock.advance(Duration::from_secs(30));
    rate_limit::check(&db, &[upload(5000)]).await.unwrap();
    assert!(rate_limit::check(&db, &[upload(1)]).await.is_err());
}

#[tokio::test]
async fn rates_turned_off_write_nothing() {
    let (_database, db, _clock) = open().await;
    for _ in 0..3 {
        rate_limit::check(&db, &[Limit::per_user("comment", 1, &[Rate::new(0, 30), Rate::new(5, 0)])]).await.unwrap();
        rate_limit::check(&db, &[Limit::per_user("comment", 1, &[])]).await.unwrap();
    }
    assert!(rows(&db).await.is_empty());
}

#[tokio::test]
async fn concurrent_calls_never_pass_more_than_max() {
    let (_database, db, _clock) = open().await;
    let rates = [Rate::new(5, 3600), Rate::new(100, 86_400)];
    let calls = (0..24).map(|_| {
        let db = db.clone();
        tokio::spawn(async move { rate_limit::check(&db, &[Limit::per_user("friend_request", 9, &rates)]).await })
    });
    let results = futures::future::join_all(calls).await;
    let passed = results.iter().filter(|r| r.as_ref().unwrap().is_ok()).count();
    let refused = results.iter().filter(|r| matches!(r.as_ref().unwrap(), Err(Error::RateLimited { .. }))).count();
    assert_eq!((passed, refused), (5, 19));
}

#[tokio::test]
async fn full_buckets_are_pruned_and_pruning_changes_no_answer() {
    let (_database, db, clock) = open().await;
    let rates = [Rate::new(2, 60)];
    rate_limit::check(&db, &[Limit::per_user("comment", 1, &rates)]).await.unwrap();
    rate_limit::check(&db, &[Limit::per_user("comment", 2, &rates)]).await.unwrap();
    rate_limit::check(&db, &[Limit::per_user("comment", 2, &rates)]).await.unwrap();
    // User 1's bucket is full again after 30 s, user 2's after 60 s.
    clock.advance(Duration::from_secs(30));
    assert_eq!(rate_limit::prune(&db, db.now_millis()).await.unwrap(), 1);
    assert_eq!(rows(&db).await.len(), 1);
    assert!(rate_limit::check(&db, &[Limit::per_user("comment", 2, &rates)]).await.is_ok());
    assert!(rate_limit::check(&db, &[Limit::per_user("comment", 2, &rates)]).await.is_err());
    // The limiter prunes by itself too, at most every ten minutes per node.
    clock.advance(Duration::from_secs(3600));
    rate_limit::check(&db, &[Limit::per_user("comment", 3, &rates)]).await.unwrap();
    assert_eq!(rows(&db).await.into_iter().map(|(n, _)| n).collect::<Vec<_>>(), ["social:comment:2/60:user:3"]);
}
