//! Idempotency keys against a real, migrated database (SQLite, or PostgreSQL with
//! KANJIAN_TEST_DATABASE=postgres), on a manual clock: time moves, nobody sleeps.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use kanjian_db::Db;
use kanjian_db::idempotency::{self, Begun, Key, Looked};
use kanjian_db::testing::TestDatabase;
use kanjian_kernel::{Clock, Error, UserErrorCode};
use serde_json::{Value, json};

async fn open() -> (TestDatabase, Db, Clock) {
    let database = TestDatabase::create().await;
    let clock = Clock::manual(chrono::DateTime::from_timestamp_millis(1_800_000_000_000).unwrap());
    let db = kanjian_migrations::database::migrated_with_clock(&database, clock.clone()).await;
    (database, db.for_module("commerce"), clock)
}

fn key<'a>(caller: i64, key: &'a str) -> Key<'a> {
    Key { operation: "buy_now", caller: format!("user:{caller}"), key }
}

/// Claims the key, or panics with what was found instead.
async fn run(db: &Db, key: Key<'_>, input: &Value) -> idempotency::Claim {
    match idempotency::begin::<Value>(db, key, input).await.unwrap() {
        Begun::Run(claim) => claim,
        Begun::Answered(answer) => panic!("expected a run, the key answered {answer}"),
    }
}

fn code(result: kanjian_kernel::Result<Begun<Value>>) -> UserErrorCode {
    match result {
        Err(Error::User(errors)) => {
            assert_eq!(errors[0].field, ["input", "idempotencyKey"]);
            errors[0].code
        }
        other => panic!("expected a user error, got {other:?}"),
    }
}

#[tokio::test]
async fn the_same_key_and_input_answer_the_first_answer_and_other_input_is_refused() {
    let (_database, db, clock) = open().await;
    let input = json!({ "sku": 7, "quantity": 2 });
    let claim = run(&db, key(1, "k-1"), &input).await;
    idempotency::finish(db.writer(), &claim, &json!({ "order": 42 })).await.unwrap();

    // Hours later, the same request gets the same answer, not a second order.
    clock.advance(Duration::from_secs(3 * 3600));
    match idempotency::begin::<Value>(&db, key(1, "k-1"), &input).await.unwrap() {
        Begun::Answered(answer) => assert_eq!(answer, json!({ "order": 42 })),
        Begun::Run(_) => panic!("ran twice"),
    }
    // The same key with other input is a mistake the client must hear about.
    let other = json!({ "sku": 7, "quantity": 3 });
    assert_eq!(code(idempotency::begin(&db, key(1, "k-1"), &other).await), UserErrorCode::IdempotencyKeyReused);
    // Keys belong to their caller and operation.
    let _ = run(&db, key(2, "k-1"), &other).await;
    let _ = run(&db, Key { operation: "pay", ..key(1, "k-1") }, &input).await;
    // After 24 hours the key is new again.
    clock.advance(Duration::from_secs(21 * 3600));
    let _ = run(&db, key(1, "k-1"), &other).await;
}

#[tokio::test]
async fn a_retry_while_the_first_runs_is_in_progress_and_a_crashed_run_is_retried_after_its_claim() {
    let (_database, db, clock) = open().await;
    let input = json!({ "order": 9 });
    let first = run(&db, key(1, "pay-9"), &input).await;
    assert_eq!(code(idempotency::begin(&db, key(1, "pay-9"), &input).await), UserErrorCode::InProgress);

    // The first run's transaction rolls back (a crash before commit): its answer is gone with
    // its writes, and the key is still held until the claim lapses.
    let txn = db.begin().await.unwrap();
    idempotency::finish(&txn, &first, &json!({ "paid": true })).await.unwrap();
    txn.rollback().await.unwrap();
    assert_eq!(code(idempotency::begin(&db, key(1, "pay-9"), &input).await), UserErrorCode::InProgress);
    clock.advance(Duration::from_millis(u64::try_from(idempotency::CLAIM_MS).unwrap()));
    let retry = run(&db, key(1, "pay-9"), &input).await;

    // A slow first run that finishes after its claim was taken over fails, so its
    // transaction rolls back instead of answering twice.
    let (_database2, db2, clock2) = open().await;
    let slow = run(&db2, key(1, "pay-9"), &input).await;
    clock2.advance(Duration::from_millis(u64::try_from(idempotency::CLAIM_MS).unwrap()));
    let taken_over = run(&db2, key(1, "pay-9"), &input).await;
    assert!(idempotency::finish(db2.writer(), &slow, &json!({ "paid": "first" })).await.is_err());
    idempotency::finish(db2.writer(), &taken_over, &json!({ "paid": "second" })).await.unwrap();
    match idempotency::begin::<Value>(&db2, key(1, "pay-9"), &input).await.unwrap() {
        Begun::Answered(answer) => assert_eq!(answer, json!({ "paid": "second" })),
        Begun::Run(_) => panic!("ran a third time"),
    }
    idempotency::finish(db.writer(), &retry, &json!({ "paid": true })).await.unwrap();
}

#[tokio::test]
async fn many_answers_store_in_one_statement_or_none_do_when_one_claim_lapsed() {
    let (_database, db, clock) = open().await;
    let input = json!({ "sku": 7 });
    let a = run(&db, key(1, "batch"), &input).await;
    let b = run(&db, key(2, "batch"), &input).await;
    let txn = db.begin().await.unwrap();
    idempotency::finish_all(&txn, &[(&a, json!({ "order": 1 })), (&b, json!({ "order": 2 }))]).await.unwrap();
    txn.commit().await.unwrap();
    for (caller, order) in [(1, 1), (2, 2)] {
        match idempotency::begin::<Value>(&db, key(caller, "batch"), &input).await.unwrap() {
            Begun::Answered(answer) => assert_eq!(answer, json!({ "order": order })),
            Begun::Run(_) => panic!("caller {caller} ran twice"),
        }
    }

    // One claim of three lapsed and was taken over: the batch's answers all fail together.
    let c = run(&db, key(3, "late"), &input).await;
    let d = run(&db, key(4, "late"), &input).await;
    clock.advance(Duration::from_millis(u64::try_from(idempotency::CLAIM_MS).unwrap()));
    let e = run(&db, key(5, "late"), &input).await;
    let _taken_over = run(&db, key(4, "late"), &input).await;
    let txn = db.begin().await.unwrap();
    assert!(idempotency::finish_all(&txn, &[(&c, json!(3)), (&d, json!(4)), (&e, json!(5))]).await.is_err());
    txn.rollback().await.unwrap();
    assert_eq!(code(idempotency::begin(&db, key(5, "late"), &input).await), UserErrorCode::InProgress);
}

#[tokio::test]
async fn a_batch_claims_its_keys_in_its_own_transaction() {
    let (_database, db, clock) = open().await;
    let input = json!({ "sku": 7 });
    let looked = |caller: i64, k: &'static str| {
        let db = db.clone();
        let input = input.clone();
        async move { idempotency::look_up::<Value>(&db, key(caller, k), &input).await }
    };
    let Looked::New(a) = looked(1, "a").await.unwrap() else { panic!("a new key was answered") };
    let Looked::New(b) = looked(2, "b").await.unwrap() else { panic!("a new key was answered") };
    // Key b is used by a call of its own meanwhile: the batch leaves it out.
    let running = run(&db, key(2, "b"), &input).await;
    let txn = db.begin().await.unwrap();
    let claims = idempotency::claim_all(&db, &txn, &[&a, &b]).await.unwrap();
    assert!(claims[0].is_some() && claims[1].is_none(), "{claims:?}");
    let claim_a = claims.into_iter().next().flatten().unwrap();
    // A rolled-back batch leaves no claim behind.
    txn.rollback().await.unwrap();
    assert!(matches!(looked(1, "a").await.unwrap(), Looked::New(_)));

    let txn = db.begin().await.unwrap();
    let claim_a2 = idempotency::claim_all(&db, &txn, &[&a]).await.unwrap().pop().flatten().unwrap();
    idempotency::finish_all(&txn, &[(&claim_a2, json!({ "order": 1 }))]).await.unwrap();
    // The first claim's token is not this one: it cannot answer.
    assert!(idempotency::finish(&txn, &claim_a, &json!({ "order": 9 })).await.is_err());
    txn.commit().await.unwrap();
    match looked(1, "a").await.unwrap() {
        Looked::Answered(answer) => assert_eq!(answer, json!({ "order": 1 })),
        Looked::New(_) => panic!("the batch's answer was not stored"),
    }
    // A running call is IN_PROGRESS to a look, until its claim lapses.
    match looked(2, "b").await {
        Err(Error::User(errors)) => assert_eq!(errors[0].code, UserErrorCode::InProgress),
        other => panic!("expected IN_PROGRESS, got {other:?}"),
    }
    clock.advance(Duration::from_millis(u64::try_from(idempotency::CLAIM_MS).unwrap()));
    let Looked::New(b) = looked(2, "b").await.unwrap() else { panic!("a lapsed claim was answered") };
    drop(running);
    // A batch cannot take a lapsed claim (the one-call way can), and a claim given back in the
    // batch's transaction leaves the key free.
    let txn = db.begin().await.unwrap();
    assert!(idempotency::claim_all(&db, &txn, &[&b]).await.unwrap()[0].is_none());
    let Looked::New(c) = looked(3, "c").await.unwrap() else { panic!("a new key was answered") };
    let claim_c = idempotency::claim_all(&db, &txn, &[&c]).await.unwrap().pop().flatten().unwrap();
    idempotency::release_all(&txn, vec![claim_c]).await.unwrap();
    txn.commit().await.unwrap();
    assert!(matches!(looked(3, "c").await.unwrap(), Looked::New(_)));
    assert!(matches!(idempotency::begin_unclaimed::<Value>(&db, &b).await.unwrap(), Begun::Run(_)));
}

#[tokio::test]
async fn a_released_claim_runs_again_at_once() {
    let (_database, db, _clock) = open().await;
    let input = json!({ "cart": 3 });
    let claim = run(&db, key(1, "checkout-3"), &input).await;
    // Out of stock, say: nothing was written, and the same request may be tried again.
    idempotency::release(&db, claim).await.unwrap();
    let _ = run(&db, key(1, "checkout-3"), &input).await;
}

#[tokio::test]
async fn concurrent_requests_with_one_key_run_once() {
    let (_database, db, _clock) = open().await;
    let input = json!({ "sku": 1 });
    let attempts = futures::future::join_all((0..16).map(|_| idempotency::begin::<Value>(&db, key(1, "race"), &input))).await;
    let runs = attempts.iter().filter(|a| matches!(a, Ok(Begun::Run(_)))).count();
    let waiting = attempts
        .iter()
        .filter(|a| matches!(a, Err(Error::User(e)) if e[0].code == UserErrorCode::InProgress))
        .count();
    assert_eq!((runs, waiting), (1, 15), "{attempts:?}");
}

#[tokio::test]
async fn a_missing_overlong_or_unprintable_key_is_refused() {
    let (_database, db, _clock) = open().await;
    let input = json!({});
    assert_eq!(code(idempotency::begin(&db, key(1, ""), &input).await), UserErrorCode::Required);
    let long = "k".repeat(idempotency::MAX_KEY_LEN + 1);
    assert_eq!(code(idempotency::begin(&db, key(1, &long), &input).await), UserErrorCode::TooLong);
    assert_eq!(code(idempotency::begin(&db, key(1, "two words"), &input).await), UserErrorCode::Invalid);
    let _ = run(&db, key(1, &"k".repeat(idempotency::MAX_KEY_LEN)), &input).await;
}
