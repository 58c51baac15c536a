//! identity's seed writers against a real, freshly migrated database (SQLite, or PostgreSQL with
//! `KANJIAN_TEST_DATABASE=postgres`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use argon2::password_hash::PasswordVerifier;
use kanjian_identity::seed::{self, Channel, SEED_PASSWORD, User};
use kanjian_kernel::Timestamp;
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
async fn seeded_accounts_and_channels_load_and_their_password_verifies() {
    let database = TestDatabase::create().await;
    let db = kanjian_migrations::database::migrated(&database).await;
    assert_eq!(seed::user_count(&db).await.unwrap(), 0);
    let hash = seed::seed_password_hash().await.unwrap();
    let at = Timestamp::from_timestamp(1_760_000_000, 0).unwrap();
    let users: Vec<User> = (1..=2500)
        .map(|id| User {
            id,
            email: format!("user{id}@seed.kanjian.test"),
            display_name: format!("李雷 {id}"),
            password_hash: hash.clone(),
            created_at: at,
        })
        .collect();
    let mut w = seed::writer::<User>(&db).await.unwrap();
    w.write(&users[..1000]).await.unwrap();
    w.write(&users[1000..]).await.unwrap();
    assert_eq!(w.finish().await.unwrap(), 2500);
    let channels = vec![Channel {
        id: 1,
        owner_id: 7,
        handle: "u7".into(),
        display_name: "王芳\t7 \\ x".into(),
        bio: String::new(),
        created_at: at,
    }];
    assert_eq!(bulk::write_all(db.writer(), &channels).await.unwrap(), 1);
    seed::finish(&db).await.unwrap();

    assert_eq!(seed::user_count(&db).await.unwrap(), 2500);
    let last = one_row(
        db.writer(),
        "SELECT email, display_name, password_hash FROM identity_users WHERE id = 2500",
    )
    .await;
    assert_eq!(
        last.try_get::<String>("", "email").unwrap(),
        "user2500@seed.kanjian.test"
    );
    assert_eq!(
        last.try_get::<String>("", "display_name").unwrap(),
        "李雷 2500"
    );
    let stored: String = last.try_get("", "password_hash").unwrap();
    let parsed = argon2::PasswordHash::new(&stored).unwrap();
    argon2::Argon2::default()
        .verify_password(SEED_PASSWORD.as_bytes(), &parsed)
        .expect("the seed password verifies");
    let c = one_row(
        db.writer(),
        "SELECT owner_id, display_name FROM identity_channels WHERE id = 1",
    )
    .await;
    assert_eq!(c.try_get::<i64>("", "owner_id").unwrap(), 7);
    assert_eq!(
        c.try_get::<String>("", "display_name").unwrap(),
        "王芳\t7 \\ x"
    );

    // The application's own inserts continue after the loaded ids.
    db.writer().execute_unprepared(
        "INSERT INTO identity_users (email, password_hash, created_at) \
         VALUES ('new@example.com', 'x', '2025-10-09 09:00:00+00')",
    )
    .await
    .unwrap();
    let max = one_row(db.writer(), "SELECT MAX(id) AS n FROM identity_users").await;
    assert_eq!(max.try_get::<i64>("", "n").unwrap(), 2501);
}
