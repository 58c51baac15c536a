//! The database layer against a real database: SQLite's writer and WAL readers, the PRAGMAs on
//! every connection, and the open-transaction rule (SQLite, or PostgreSQL with
//! KANJIAN_TEST_DATABASE=postgres).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use kanjian_db::testing::{Backend, TestDatabase};
use kanjian_db::{DatabaseConfig, Db};
use kanjian_kernel::Clock;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

async fn open() -> (TestDatabase, Db) {
    let database = TestDatabase::create().await;
    let db = database.connect(Clock::system()).await;
    db.writer()
        .execute_unprepared("CREATE TABLE db_things (id BIGINT PRIMARY KEY, name TEXT NOT NULL)")
        .await
        .unwrap();
    (database, db)
}

fn stmt(db: &Db, sql: &str) -> Statement {
    Statement::from_string(db.backend(), sql)
}

async fn count(db: &Db) -> i64 {
    let row = db.reader().query_one_raw(stmt(db, "SELECT COUNT(*) AS n FROM db_things")).await.unwrap().unwrap();
    row.try_get("", "n").unwrap()
}

#[tokio::test]
async fn readers_answer_while_a_write_transaction_is_open_and_see_only_what_was_committed() {
    let (_database, db) = open().await;
    let txn = db.begin().await.unwrap();
    txn.execute_unprepared("INSERT INTO db_things (id, name) VALUES (1, 'uncommitted')").await.unwrap();
    // Another task reads meanwhile: it must neither wait for the writer nor see the insert.
    let reader = db.for_module("someone_else");
    let seen = tokio::time::timeout(Duration::from_secs(5), tokio::spawn(async move { count(&reader).await }))
        .await
        .expect("a read waited for the open write transaction")
        .unwrap();
    assert_eq!(seen, 0);
    txn.commit().await.unwrap();
    assert_eq!(count(&db).await, 1, "a read after the commit sees it");
}

const READER_PRAGMAS: [(&str, &str); 5] =
    [("journal_mode", "wal"), ("query_only", "1"), ("foreign_keys", "1"), ("busy_timeout", "10000"), ("synchronous", "1")];
const WRITER_PRAGMAS: [(&str, &str); 5] =
    [("journal_mode", "wal"), ("query_only", "0"), ("foreign_keys", "1"), ("busy_timeout", "10000"), ("synchronous", "1")];

/// One PRAGMA's value on one connection, as text.
async fn pragma(conn: &mut sea_orm::sqlx::SqliteConnection, name: &str) -> String {
    // The table-valued form names its column after the PRAGMA, except busy_timeout's.
    let column = if name == "busy_timeout" { "timeout" } else { name };
    let sql = format!("SELECT CAST({column} AS TEXT) FROM pragma_{name}");
    sea_orm::sqlx::query_scalar::<_, String>(sea_orm::sqlx::AssertSqlSafe(sql)).fetch_one(conn).await.unwrap()
}

#[tokio::test]
async fn every_sqlite_connection_is_set_up_as_it_opens() {
    if Backend::from_env() != Backend::Sqlite {
        return;
    }
    let database = TestDatabase::create().await;
    let config = DatabaseConfig { sqlite_readers: 3, ..DatabaseConfig::default() };
    let db = Db::connect(&database.url, &config, Clock::system()).await.unwrap();
    assert_eq!(db.backend(), DbBackend::Sqlite);
    // Three connections held at once are three reader connections; each must have its PRAGMAs.
    let readers = db.reader().get_sqlite_connection_pool().clone();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(readers.acquire().await.unwrap());
    }
    for conn in &mut held {
        for (name, want) in READER_PRAGMAS {
            assert_eq!(pragma(conn, name).await, want, "reader PRAGMA {name}");
        }
    }
    drop(held);
    let mut writer = db.writer().get_sqlite_connection_pool().acquire().await.unwrap();
    for (name, want) in WRITER_PRAGMAS {
        assert_eq!(pragma(&mut writer, name).await, want, "writer PRAGMA {name}");
    }
    drop(writer);
    // A reader refuses to write: writes go through the one writer.
    let refused = db.reader().execute_unprepared("CREATE TABLE db_nope (id INTEGER)").await;
    assert!(refused.is_err(), "a reader wrote");
}

#[tokio::test]
#[should_panic(expected = "module `media`'s database was used while module `social`'s transaction is open")]
async fn calling_another_module_inside_a_transaction_fails_loudly() {
    let (_database, db) = open().await;
    let social = db.for_module("social");
    let media = db.for_module("media");
    let _txn = social.begin().await.unwrap();
    // What a call into the media module's API would do while social's transaction is open.
    let _ = media.reader();
}

#[tokio::test]
async fn the_rule_allows_own_statements_beside_a_transaction_and_anything_after_it() {
    let (_database, db) = open().await;
    let social = db.for_module("social");
    let media = db.for_module("media");
    let txn = social.begin().await.unwrap();
    txn.execute_unprepared("INSERT INTO db_things (id, name) VALUES (7, 'x')").await.unwrap();
    assert_eq!(count(&social).await, 0);
    // Another task may use any module meanwhile (that is how concurrent requests look).
    let other = tokio::spawn({
        let media = media.clone();
        async move { count(&media).await }
    });
    assert_eq!(other.await.unwrap(), 0);
    txn.commit().await.unwrap();
    assert_eq!(count(&media).await, 1);
    // Two transactions of one module raced in one task (`join!`) do not break it.
    let write = |id: i64| {
        let social = social.clone();
        async move {
            let txn = social.begin().await.unwrap();
            txn.execute_unprepared(&format!("INSERT INTO db_things (id, name) VALUES ({id}, 'raced')")).await.unwrap();
            txn.commit().await.unwrap();
        }
    };
    tokio::join!(write(20), write(21));
    assert_eq!(count(&media).await, 3);
    // A dropped transaction rolls back and closes too.
    let txn = social.begin().await.unwrap();
    txn.execute_unprepared("INSERT INTO db_things (id, name) VALUES (8, 'y')").await.unwrap();
    drop(txn);
    assert_eq!(count(&media).await, 3);
    let _ = media.writer();
}

#[tokio::test]
async fn the_clock_given_at_connect_is_the_one_modules_read() {
    let database = TestDatabase::create().await;
    let clock = Clock::manual(chrono::DateTime::from_timestamp_millis(1_800_000_000_000).unwrap());
    let db = database.connect(clock.clone()).await;
    let module = db.for_module("identity");
    clock.advance(Duration::from_secs(60));
    assert_eq!(module.now_millis(), 1_800_000_060_000);
    assert_eq!(module.now().timestamp_millis(), 1_800_000_060_000);
}
