//! media's seed writers against a real, freshly migrated database (SQLite, or PostgreSQL with
//! `KANJIAN_TEST_DATABASE=postgres`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kanjian_kernel::Timestamp;
use kanjian_media::seed::{self, Rendition, Video};
use kanjian_db::bulk;
use kanjian_db::testing::TestDatabase;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

async fn one_row(db: &DatabaseConnection, sql: &str) -> sea_orm::QueryResult {
    db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn seeded_videos_are_ready_and_published_with_two_renditions() {
    let database = TestDatabase::create().await;
    let db = kanjian_migrations::database::migrated(&database).await;
    let at = Timestamp::from_timestamp(1_760_000_000, 0).unwrap();
    let categories = kanjian_media::domain::CATEGORIES;
    let videos: Vec<Video> = (1..=300)
        .map(|id| Video {
            id,
            channel_id: 1 + id % 3,
            owner_id: 10 + id % 3,
            title: format!("美食日记 #{id}"),
            category: categories[id as usize % categories.len()],
            duration_ms: 30_000 + id,
            created_at: at,
            published_at: at + chrono::Duration::seconds(60),
        })
        .collect();
    assert_eq!(bulk::write_all(db.writer(), &videos).await.unwrap(), 300);
    let renditions: Vec<Rendition> = (1..=300).flat_map(Rendition::for_video).collect();
    let mut w = seed::writer::<Rendition>(&db).await.unwrap();
    w.write(&renditions).await.unwrap();
    assert_eq!(w.finish().await.unwrap(), 600);
    seed::finish(&db).await.unwrap();

    let v = one_row(
        db.writer(),
        "SELECT status, title, duration_ms, width, height, published_at FROM media_videos WHERE id = 42",
    )
    .await;
    assert_eq!(v.try_get::<String>("", "status").unwrap(), "READY");
    assert_eq!(v.try_get::<String>("", "title").unwrap(), "美食日记 #42");
    assert_eq!(v.try_get::<i64>("", "duration_ms").unwrap(), 30_042);
    assert_eq!(v.try_get::<i32>("", "width").unwrap(), 1280);
    assert_eq!(
        v.try_get::<Timestamp>("", "published_at").unwrap(),
        at + chrono::Duration::seconds(60)
    );
    let n = one_row(
        db.writer(),
        "SELECT COUNT(*) AS n FROM media_renditions WHERE name IN ('360p', '720p')",
    )
    .await;
    assert_eq!(n.try_get::<i64>("", "n").unwrap(), 600);
}
