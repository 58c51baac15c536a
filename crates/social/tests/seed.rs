//! social's seed writers against a real, freshly migrated database (SQLite, or PostgreSQL with
//! `KANJIAN_TEST_DATABASE=postgres`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kanjian_kernel::Timestamp;
use kanjian_db::bulk;
use kanjian_db::testing::TestDatabase;
use kanjian_social::seed::*;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

async fn value(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

#[tokio::test]
async fn every_seed_row_loads_and_views_continue_their_ids() {
    let database = TestDatabase::create().await;
    let db = kanjian_migrations::database::migrated(&database).await;
    let at = Timestamp::from_timestamp(1_760_000_000, 0).unwrap();
    let video = Video {
        video_id: 1,
        channel_id: 1,
        owner_id: 3,
        category: "food",
        duration_ms: 10_000,
        published_at: at,
        likes: 1,
        recommends: 1,
        views: 1,
        watch_ms: 9_500,
        completions: 1,
    };
    bulk::write_all(db.writer(), &[video]).await.unwrap();
    let mut friendships = Vec::new();
    for a in 1..=200i64 {
        for b in [a % 200 + 1, (a + 1) % 200 + 1] {
            friendships.push(Friendship {
                user_id: a,
                friend_id: b,
                interactions: a % 7,
                created_at: at,
            });
        }
    }
    let mut w = writer::<Friendship>(&db).await.unwrap();
    w.write(&friendships).await.unwrap();
    assert_eq!(w.finish().await.unwrap(), 400);
    let follow = Follow {
        user_id: 2,
        channel_id: 1,
        channel_owner_id: 3,
        created_at: at,
    };
    bulk::write_all(db.writer(), &[follow]).await.unwrap();
    bulk::write_all(
        db.writer(),
        &[UserStats {
            user_id: 2,
            friends: 2,
            following: 1,
        }],
    )
    .await
    .unwrap();
    bulk::write_all(
        db.writer(),
        &[ChannelStats {
            channel_id: 1,
            followers: 1,
        }],
    )
    .await
    .unwrap();
    let reactions = [
        Reaction {
            user_id: 2,
            video_id: 1,
            kind: LIKE,
            created_at: at,
        },
        Reaction {
            user_id: 2,
            video_id: 1,
            kind: RECOMMEND,
            created_at: at,
        },
    ];
    bulk::write_all(db.writer(), &reactions).await.unwrap();
    let view = View {
        id: 1,
        user_id: 2,
        video_id: 1,
        day: 20_370,
        watch_ms: 9_500,
        completed: true,
        created_at: at,
        updated_at: at,
    };
    bulk::write_all(db.writer(), &[view]).await.unwrap();
    finish(&db).await.unwrap();

    assert_eq!(
        value(db.writer(), "SELECT COUNT(*) FROM social_friendships").await,
        400
    );
    assert_eq!(
        value(
            db.writer(),
            "SELECT interactions FROM social_friendships WHERE user_id = 13 AND friend_id = 14"
        )
        .await,
        6
    );
    assert_eq!(
        value(
            db.writer(),
            "SELECT COUNT(*) FROM social_reactions WHERE video_id = 1"
        )
        .await,
        2
    );
    assert_eq!(
        value(
            db.writer(),
            "SELECT CAST(SUM(watch_ms) AS BIGINT) FROM social_views WHERE completed = TRUE"
        )
        .await,
        9_500
    );
    assert_eq!(
        value(
            db.writer(),
            "SELECT followers FROM social_channel_stats WHERE channel_id = 1"
        )
        .await,
        1
    );
    assert_eq!(
        value(
            db.writer(),
            "SELECT completions FROM social_videos WHERE video_id = 1"
        )
        .await,
        1
    );
    // The application's own inserts continue after the loaded ids.
    db.writer().execute_unprepared(
        "INSERT INTO social_views (user_id, video_id, day, watch_ms, completed, created_at, updated_at) \
         VALUES (3, 1, 20370, 1, FALSE, '2025-10-09 09:00:00+00', '2025-10-09 09:00:00+00')",
    )
    .await
    .unwrap();
    assert_eq!(value(db.writer(), "SELECT MAX(id) FROM social_views").await, 2);
}
