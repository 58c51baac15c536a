//! `kanjian seed`: the real binary fills a fresh database, the app then serves that world with
//! counters that match its rows, a seeded account logs in with the shared password, its videos
//! and channels are searchable once the indexer has read them, and a second seed is refused
//! without changing anything.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kanjian_system_tests::app::{TestApp, kanjian_binary};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::json;

const TABLES: &[&str] = &[
    "identity_users",
    "identity_channels",
    "media_videos",
    "media_renditions",
    "social_videos",
    "social_friendships",
    "social_follows",
    "social_user_stats",
    "social_channel_stats",
    "social_reactions",
    "social_views",
    "search_documents",
];

async fn value(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn counts(db: &DatabaseConnection) -> HashMap<&'static str, i64> {
    let mut out = HashMap::new();
    for table in TABLES {
        out.insert(
            *table,
            value(db, &format!("SELECT COUNT(*) FROM {table}")).await,
        );
    }
    out
}

async fn seed(app: &TestApp) -> std::process::Output {
    let run = tokio::process::Command::new(kanjian_binary())
        .args([
            "seed",
            "--users",
            "300",
            "--avg-friends",
            "20",
            "--reactions",
            "3000",
            "--videos",
            "200",
        ])
        .args(["--avg-follows", "5", "--views-per-user", "4", "--seed", "7"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KANJIAN_DATA_DIR", app.data_dir())
        .env("DATABASE_URL", app.database_url())
        .env("KANJIAN_LOG__FILTER", "warn")
        .output();
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("seed finishes")
        .expect("run kanjian seed")
}

async fn social_title(app: &TestApp, token: &str, video: i64) -> String {
    let body = app
        .data(
            Some(token),
            "query($id: ID!) { node(id: $id) { ... on Video { title } } }",
            json!({ "id": video_id(video) }),
        )
        .await;
    body["node"]["title"].as_str().unwrap_or_else(|| panic!("{body:#}")).to_owned()
}

fn video_id(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("Video:{id}"))
}

#[tokio::test]
async fn seed_builds_a_consistent_world_once() {
    let app = TestApp::spawn().await;
    let db = app.database().await;

    let out = seed(&app).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The summary's row counts are the tables' row counts.
    let rows = counts(&db).await;
    for table in TABLES {
        let line = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(table))
            .unwrap_or_else(|| panic!("{table} in the summary:\n{stdout}"));
        let reported: i64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert_eq!(reported, rows[table], "{table}");
    }
    assert_eq!(rows["identity_users"], 300);
    assert_eq!(rows["media_videos"], 200);
    assert_eq!(rows["social_friendships"] % 2, 0);
    let average = rows["social_friendships"] as f64 / 300.0;
    assert!((average - 20.0).abs() < 1.0, "{average}");
    assert!(
        (rows["social_reactions"] - 3000).abs() < 300,
        "{}",
        rows["social_reactions"]
    );

    // The most ❤️'d video, seen by its creator (who alone sees 👍 counts), who logs in with the
    // shared seed password.
    let video = value(
        &db,
        "SELECT video_id FROM social_reactions WHERE kind = 2 GROUP BY video_id ORDER BY COUNT(*) DESC, video_id LIMIT 1",
    )
    .await;
    let owner = value(
        &db,
        &format!("SELECT owner_id FROM media_videos WHERE id = {video}"),
    )
    .await;
    let login = app
        .data(
            None,
            "mutation($input: LogInInput!) { logIn(input: $input) { token userErrors { code } } }",
            json!({ "input": { "email": format!("user{owner}@seed.kanjian.test"), "password": "kanjian-seed-password" } }),
        )
        .await;
    let token = login["logIn"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{login:#}"))
        .to_owned();

    let me = app
        .data(
            Some(&token),
            "{ viewer { social { friendCount followingCount } } }",
            json!({}),
        )
        .await;
    let friends = value(
        &db,
        &format!("SELECT COUNT(*) FROM social_friendships WHERE user_id = {owner}"),
    )
    .await;
    let following = value(
        &db,
        &format!("SELECT COUNT(*) FROM social_follows WHERE user_id = {owner}"),
    )
    .await;
    assert_eq!(
        me["viewer"]["social"]["friendCount"],
        json!(friends),
        "{me:#}"
    );
    assert_eq!(
        me["viewer"]["social"]["followingCount"],
        json!(following),
        "{me:#}"
    );

    let social = app
        .data(
            Some(&token),
            "query($id: ID!) { node(id: $id) { ... on Video { title social { likeCount recommendCount viewCount } } } }",
            json!({ "id": video_id(video) }),
        )
        .await;
    let social = &social["node"]["social"];
    for (field, sql) in [
        (
            "likeCount",
            format!("SELECT COUNT(*) FROM social_reactions WHERE video_id = {video} AND kind = 1"),
        ),
        (
            "recommendCount",
            format!("SELECT COUNT(*) FROM social_reactions WHERE video_id = {video} AND kind = 2"),
        ),
        (
            "viewCount",
            format!("SELECT COUNT(*) FROM social_views WHERE video_id = {video}"),
        ),
    ] {
        assert_eq!(
            social[field],
            json!(value(&db, &sql).await),
            "{field}: {social:#}"
        );
    }
    assert!(social["recommendCount"].as_i64().unwrap() > 0);

    // Every video and channel is a search document; the running server's indexer picks them up
    // without any event, and the most ❤️'d video is found by a word of its title.
    assert_eq!(
        rows["search_documents"],
        rows["media_videos"] + rows["identity_channels"]
    );
    let title = social_title(&app, &token, video).await;
    let word = title.split('#').next().unwrap().trim().to_owned();
    app.eventually(Duration::from_secs(30), || {
            let (app, word, title) = (&app, word.clone(), title.clone());
            async move {
                let body = app
                    .data(
                        None,
                        "query($q: String!) { search(query: $q, kinds: [VIDEO], first: 50) { totalCount edges { node { title } } } }",
                        json!({ "q": word }),
                    )
                    .await;
                let titles: Vec<String> = body["search"]["edges"]
                    .as_array()?
                    .iter()
                    .filter_map(|e| e["node"]["title"].as_str().map(str::to_owned))
                    .collect();
                titles.contains(&title).then_some(())
            }
        })
        .await;

    // Every counter equals the rows it counts.
    for sql in [
        "SELECT COUNT(*) FROM social_user_stats s WHERE s.friends <> (SELECT COUNT(*) FROM social_friendships f WHERE f.user_id = s.user_id) \
         OR s.following <> (SELECT COUNT(*) FROM social_follows f WHERE f.user_id = s.user_id)",
        "SELECT COUNT(*) FROM social_channel_stats s WHERE s.followers <> (SELECT COUNT(*) FROM social_follows f WHERE f.channel_id = s.channel_id)",
        "SELECT COUNT(*) FROM social_videos s WHERE \
         s.likes <> (SELECT COUNT(*) FROM social_reactions r WHERE r.video_id = s.video_id AND r.kind = 1) \
         OR s.recommends <> (SELECT COUNT(*) FROM social_reactions r WHERE r.video_id = s.video_id AND r.kind = 2) \
         OR s.views <> (SELECT COUNT(*) FROM social_views v WHERE v.video_id = s.video_id) \
         OR s.completions <> (SELECT COUNT(*) FROM social_views v WHERE v.video_id = s.video_id AND v.completed = TRUE)",
    ] {
        assert_eq!(value(&db, sql).await, 0, "{sql}");
    }

    // A second seed is refused and changes nothing.
    let again = seed(&app).await;
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("the database already has 300 users; seed needs an empty database"),
        "{stderr}"
    );
    assert_eq!(counts(&db).await, rows);
    app.stop().await;
}
