//! social's migrations that move data, run on a real database holding rows (SQLite, or
//! PostgreSQL with `KANJIAN_TEST_DATABASE=postgres`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kanjian_kernel::Timestamp;

use kanjian_db::testing::TestDatabase;
use kanjian_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, TryGetable, Value};

async fn exec(db: &DatabaseConnection, sql: &str, values: Vec<Value>) {
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        values,
    ))
    .await
    .unwrap();
}

/// Each row of `sql` as its integer columns (NULL as `None`).
async fn rows(db: &DatabaseConnection, sql: &str, columns: usize) -> Vec<Vec<Option<i64>>> {
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .iter()
        .map(|row| {
            (0..columns)
                .map(|i| row.try_get_by_index::<Option<i64>>(i).unwrap())
                .collect()
        })
        .collect()
}

/// The first column of the one row `sql` returns.
async fn scalar<T: TryGetable>(db: &DatabaseConnection, sql: &str, values: Vec<Value>) -> T {
    db.query_one_raw(Statement::from_sql_and_values(db.get_database_backend(), sql, values))
        .await
        .unwrap()
        .expect("one row")
        .try_get_by_index(0)
        .unwrap()
}

async fn table_exists(db: &DatabaseConnection, table: &str) -> bool {
    db.query_one_raw(Statement::from_string(
        db.get_database_backend(),
        format!("SELECT COUNT(*) FROM {table}"),
    ))
    .await
    .is_ok()
}

const COUNTERS: &str = "likes, recommends, comments, shares, views, watch_ms, completions";

#[tokio::test]
async fn video_counters_move_into_the_projection_and_back() {
    let database = TestDatabase::create().await;
    let db = database.connect(kanjian_kernel::Clock::system()).await.writer().clone();
    // Up to m20261121_000008: counters still in `social_video_stats`.
    Migrator::up(&db, Some(8)).await.unwrap();
    let at = Timestamp::from_timestamp(1_760_000_000, 0).unwrap();
    for video in [1i64, 2] {
        exec(
            &db,
            "INSERT INTO social_videos (video_id, channel_id, owner_id, category, duration_ms, \
             published_at, updated_at) VALUES ($1, 10, 20, 'food', 1000, $2, $2)",
            vec![video.into(), at.into()],
        )
        .await;
    }
    // Video 1 has counters; video 2 none yet; video 3 was counted before its VideoPublished
    // reached the projection.
    for (video, counters) in [(1i64, "1, 2, 3, 4, 5, 6000, 7"), (3, "0, 1, 0, 0, 1, 500, 0")] {
        exec(
            &db,
            &format!(
                "INSERT INTO social_video_stats (video_id, {COUNTERS}, updated_at) \
                 VALUES ($1, {counters}, $2)"
            ),
            vec![video.into(), at.into()],
        )
        .await;
    }

    // m20261121_000009 alone.
    Migrator::up(&db, Some(1)).await.unwrap();
    assert!(!table_exists(&db, "social_video_stats").await);
    let merged = format!(
        "SELECT video_id, channel_id, owner_id, {COUNTERS} FROM social_videos ORDER BY video_id"
    );
    let expected = vec![
        vec![Some(1), Some(10), Some(20), Some(1), Some(2), Some(3), Some(4), Some(5), Some(6000), Some(7)],
        vec![Some(2), Some(10), Some(20), Some(0), Some(0), Some(0), Some(0), Some(0), Some(0), Some(0)],
        vec![Some(3), None, None, Some(0), Some(1), Some(0), Some(0), Some(1), Some(500), Some(0)],
    ];
    assert_eq!(rows(&db, &merged, 10).await, expected);
    // The counters-only row waits for media's event: it reflects none, so any event applies.
    let epoch: Timestamp = scalar(&db, "SELECT updated_at FROM social_videos WHERE video_id = 3", vec![]).await;
    assert_eq!(epoch, Timestamp::UNIX_EPOCH);
    // The details kept their times.
    let kept: Timestamp = scalar(&db, "SELECT published_at FROM social_videos WHERE video_id = 1", vec![]).await;
    assert_eq!(kept, at);
    // The rebuilt table is indexed as before: a second row for a video is refused.
    let duplicate = db
        .execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "INSERT INTO social_videos (video_id, updated_at) VALUES (1, $1)",
            [at.into()],
        ))
        .await;
    assert!(duplicate.is_err());

    // Down again: the counters return to their own table, video 3's only there.
    Migrator::down(&db, Some(1)).await.unwrap();
    assert_eq!(
        rows(
            &db,
            &format!("SELECT video_id, {COUNTERS} FROM social_video_stats ORDER BY video_id"),
            8
        )
        .await,
        expected
            .iter()
            .map(|row| [&row[..1], &row[3..]].concat())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        rows(
            &db,
            "SELECT video_id, channel_id, owner_id FROM social_videos ORDER BY video_id",
            3
        )
        .await,
        vec![
            vec![Some(1), Some(10), Some(20)],
            vec![Some(2), Some(10), Some(20)]
        ]
    );
    // And up once more, to the same place.
    Migrator::up(&db, None).await.unwrap();
    assert_eq!(rows(&db, &merged, 10).await, expected);
}

/// How PostgreSQL compresses a new value of `social_feed_snapshots.items`: `l` for lz4, empty
/// for the server's default.
async fn snapshot_compression(db: &DatabaseConnection) -> String {
    scalar(
        db,
        "SELECT attcompression::text FROM pg_attribute \
         WHERE attrelid = 'social_feed_snapshots'::regclass AND attname = 'items'",
        vec![],
    )
    .await
}

#[tokio::test]
async fn snapshots_are_compressed_with_lz4_where_postgres_has_it() {
    let database = TestDatabase::create().await;
    let db = database.connect(kanjian_kernel::Clock::system()).await.writer().clone();
    Migrator::up(&db, Some(up_to("m20261121_000010_social_snapshot_lz4"))).await.unwrap();
    // A ranking's worth of items, well past the size PostgreSQL compresses at.
    let items = format!(
        "[{}]",
        (0..300).map(|i| format!(r#"{{"v":{i},"c":{},"o":{},"n":1}}"#, i % 7, i % 11)).collect::<Vec<_>>().join(",")
    );
    let at = Timestamp::from_timestamp(1_760_000_000, 0).unwrap();
    let insert = "INSERT INTO social_feed_snapshots (id, viewer_id, feed, items, created_at) \
                  VALUES ($1, 1, 1, $2, $3)";
    exec(&db, insert, vec![1i64.into(), items.clone().into(), at.into()]).await;
    let read_back = |id: i64| scalar::<String>(&db, "SELECT items FROM social_feed_snapshots WHERE id = $1", vec![id.into()]);
    assert_eq!(read_back(1).await, items);
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return; // SQLite stores the text as it is: the migration has nothing to do.
    }
    let lz4_built_in: bool = scalar(
        &db,
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'",
        vec![],
    )
    .await;
    assert_eq!(snapshot_compression(&db).await, if lz4_built_in { "l" } else { "" });
    // The stored value really is lz4-compressed (and it still reads back whole, above).
    let method: Option<String> =
        scalar(&db, "SELECT pg_column_compression(items) FROM social_feed_snapshots WHERE id = 1", vec![]).await;
    assert_eq!(method.as_deref(), Some(if lz4_built_in { "lz4" } else { "pglz" }));

    // Down: back to the default; snapshots stored meanwhile still read.
    Migrator::down(&db, Some(1)).await.unwrap();
    assert_eq!(snapshot_compression(&db).await, "");
    exec(&db, insert, vec![2i64.into(), items.clone().into(), at.into()]).await;
    assert_eq!(read_back(1).await, items);
    assert_eq!(read_back(2).await, items);
}

/// How many migrations there are up to and including `name`.
fn up_to(name: &str) -> u32 {
    let at = Migrator::migrations().iter().position(|m| m.name() == name).unwrap();
    u32::try_from(at + 1).unwrap()
}

#[tokio::test]
async fn projected_videos_get_versions_and_tombstones_and_lose_them_again() {
    let database = TestDatabase::create().await;
    let db = database.connect(kanjian_kernel::Clock::system()).await.writer().clone();
    let name = "m20261129_000013_social_video_tombstones";
    Migrator::up(&db, Some(up_to(name) - 1)).await.unwrap();
    let at = Timestamp::from_timestamp(1_760_000_000, 0).unwrap();
    exec(
        &db,
        "INSERT INTO social_videos (video_id, channel_id, owner_id, published_at, updated_at, likes) \
         VALUES (1, 10, 20, $1, $1, 3)",
        vec![at.into()],
    )
    .await;

    Migrator::up(&db, Some(1)).await.unwrap();
    // The row is kept as it was, at version 0 (it reflects events from before versions).
    assert_eq!(
        rows(&db, "SELECT video_id, channel_id, likes, version FROM social_videos", 4).await,
        vec![vec![Some(1), Some(10), Some(3), Some(0)]]
    );
    let deleted: bool = scalar(&db, "SELECT deleted FROM social_videos WHERE video_id = 1", vec![]).await;
    assert!(!deleted);
    exec(
        &db,
        "INSERT INTO social_videos (video_id, updated_at, version, deleted) VALUES (2, $1, 7, TRUE)",
        vec![at.into()],
    )
    .await;

    // Down: tombstones were not rows before; the live row stays with its counters.
    Migrator::down(&db, Some(1)).await.unwrap();
    assert_eq!(
        rows(&db, "SELECT video_id, channel_id, likes FROM social_videos", 3).await,
        vec![vec![Some(1), Some(10), Some(3)]]
    );
    Migrator::up(&db, None).await.unwrap();
}
