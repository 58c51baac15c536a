//! Rate limits over HTTP: the address a limit keys on (the peer, or what a trusted proxy says;
//! never a header a client sets on its own), and `RATE_LIMITED` with `retryAfterSeconds` (429
//! with `Retry-After` on tus) for sign-ups, friend requests and uploads, on a manual clock.

use std::time::Duration;

use kanjian_db::Rate;
use kanjian_kernel::Clock;
use kanjian_system_tests::TestApp;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

const LOG_IN: &str = "mutation($input: LogInInput!) { logIn(input: $input) { token userErrors { code } } }";
const SIGN_UP: &str = "mutation($input: SignUpInput!) { signUp(input: $input) { token userErrors { code } } }";

fn top_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or("<none>")
}

fn retry_after(body: &Value) -> u64 {
    assert_eq!(top_code(body), "RATE_LIMITED", "{body:#}");
    body["errors"][0]["extensions"]["retryAfterSeconds"].as_u64().expect("retryAfterSeconds")
}

/// A GraphQL POST with extra headers (what a proxy, or a client pretending to be one, sends).
async fn graphql_with(app: &TestApp, headers: &[(&str, &str)], query: &str, variables: Value) -> Value {
    let mut req = app.http.post(app.url("/graphql")).json(&json!({ "query": query, "variables": variables }));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.expect("POST /graphql").json().await.expect("a JSON response")
}

async fn wrong_log_in(app: &TestApp, email: &str, headers: &[(&str, &str)]) -> Value {
    graphql_with(app, headers, LOG_IN, json!({ "input": { "email": email, "password": "not the password" } })).await
}

async fn scalar(app: &TestApp, sql: &str) -> Vec<String> {
    let db = app.database().await;
    let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap();
    rows.iter()
        .map(|r| r.try_get_by_index::<String>(0).or_else(|_| r.try_get_by_index::<i64>(0).map(|n| n.to_string())).unwrap())
        .collect()
}

#[tokio::test]
async fn a_spoofed_x_forwarded_for_from_an_untrusted_peer_changes_nothing() {
    let app = TestApp::spawn_with(|c| c.modules.identity.login_max_failures_per_ip = 3).await;
    // Each failure claims another address, for another email: the limit per email never
    // applies, and before the fix the one per address did not either.
    for n in 0..3 {
        let xff = format!("198.51.100.{n}");
        let body = wrong_log_in(&app, &format!("guess{n}@example.com"), &[("x-forwarded-for", &xff), ("forwarded", &format!("for={xff}"))]).await;
        assert_eq!(body["data"]["logIn"]["userErrors"][0]["code"], "INVALID_CREDENTIALS", "{body:#}");
    }
    let body = wrong_log_in(&app, "guess9@example.com", &[("x-forwarded-for", "198.51.100.99")]).await;
    assert!(retry_after(&body) > 0);
    // Every attempt was recorded from the one real address.
    assert_eq!(scalar(&app, "SELECT DISTINCT ip FROM identity_login_attempts").await, ["127.0.0.1"]);
    app.stop().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_client() {
    let app = TestApp::spawn_with(|c| {
        c.http.trusted_proxies = vec!["127.0.0.1/32".into()];
        c.modules.identity.login_max_failures_per_ip = 3;
    })
    .await;
    for n in 0..3 {
        let body = wrong_log_in(&app, &format!("guess{n}@example.com"), &[("x-forwarded-for", "203.0.113.1")]).await;
        assert_eq!(body["data"]["logIn"]["userErrors"][0]["code"], "INVALID_CREDENTIALS", "{body:#}");
    }
    assert!(retry_after(&wrong_log_in(&app, "guess8@example.com", &[("x-forwarded-for", "203.0.113.1")]).await) > 0);
    // A client that forges the left of the chain is still the address the proxy appended.
    let forged = wrong_log_in(&app, "guess8@example.com", &[("x-forwarded-for", "203.0.113.2, 203.0.113.1")]).await;
    assert!(retry_after(&forged) > 0);
    // Another client behind the proxy, and the proxy itself, are their own addresses.
    let other = wrong_log_in(&app, "guess8@example.com", &[("x-forwarded-for", "203.0.113.2")]).await;
    assert_eq!(other["data"]["logIn"]["userErrors"][0]["code"], "INVALID_CREDENTIALS", "{other:#}");
    let direct = wrong_log_in(&app, "guess9@example.com", &[]).await;
    assert_eq!(direct["data"]["logIn"]["userErrors"][0]["code"], "INVALID_CREDENTIALS", "{direct:#}");
    let mut ips = scalar(&app, "SELECT DISTINCT ip FROM identity_login_attempts").await;
    ips.sort();
    assert_eq!(ips, ["127.0.0.1", "203.0.113.1", "203.0.113.2"]);
    app.stop().await;
}

#[tokio::test]
async fn sign_ups_per_address_are_limited_write_nothing_and_come_back() {
    let clock = Clock::manual_from_now();
    let app = TestApp::spawn_with_clock(|c| c.modules.identity.sign_ups_per_ip = vec![Rate::new(5, 3600)], clock.clone()).await;
    let sign_up = |n: u32| {
        let app = &app;
        async move {
            app.graphql(None, SIGN_UP, json!({ "input": { "email": format!("user{n}@example.com"), "password": "correct horse battery staple" } })).await
        }
    };
    for n in 0..5 {
        let body = sign_up(n).await;
        assert!(body["data"]["signUp"]["token"].is_string(), "{body:#}");
    }
    let refused = sign_up(5).await;
    // One of five an hour comes back every twelve minutes.
    assert_eq!(retry_after(&refused), 720);
    assert_eq!(refused["data"]["signUp"], Value::Null);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM identity_users").await, ["5"]);
    clock.advance(Duration::from_secs(720));
    assert!(sign_up(5).await["data"]["signUp"]["token"].is_string());
    app.stop().await;
}

#[tokio::test]
async fn friend_requests_per_user_are_limited_write_nothing_and_come_back() {
    let clock = Clock::manual_from_now();
    let app = TestApp::spawn_with_clock(|c| c.modules.social.friend_requests_per_user = vec![Rate::new(2, 86_400)], clock.clone()).await;
    let (me, _) = app.sign_up("sender@example.com").await;
    let mut others = Vec::new();
    for n in 0..4 {
        others.push(app.sign_up(&format!("friend{n}@example.com")).await.1);
    }
    const SEND: &str = "mutation($u: ID!) { sendFriendRequest(input: {userId: $u}) { friendRequest { id } userErrors { code } } }";
    for id in &others[..2] {
        app.data(Some(&me), SEND, json!({ "u": id })).await;
    }
    let refused = app.graphql(Some(&me), SEND, json!({ "u": others[2] })).await;
    assert_eq!(retry_after(&refused), 43_200);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM social_friend_requests").await, ["2"]);
    clock.advance(Duration::from_secs(43_200));
    let sent = app.data(Some(&me), SEND, json!({ "u": others[2] })).await;
    assert!(sent["sendFriendRequest"]["friendRequest"]["id"].is_string(), "{sent:#}");
    assert_eq!(retry_after(&app.graphql(Some(&me), SEND, json!({ "u": others[3] })).await), 43_200);
    app.stop().await;
}

#[tokio::test]
async fn uploads_and_tus_patches_per_user_are_limited_with_429_and_retry_after() {
    let clock = Clock::manual_from_now();
    let app = TestApp::spawn_with_clock(
        |c| {
            c.modules.media.uploads_per_user = vec![Rate::new(1, 3600)];
            c.modules.media.upload_patches_per_user = vec![Rate::new(2, 60)];
        },
        clock.clone(),
    )
    .await;
    let (token, _) = app.creator("uploader").await;
    const CREATE: &str = "mutation($input: CreateVideoUploadInput!) { createVideoUpload(input: $input) { uploadUrl userErrors { code } } }";
    let input = json!({ "input": { "title": "Limited", "sizeBytes": 1000, "filename": "a.mp4" } });
    let created = app.data(Some(&token), CREATE, input.clone()).await;
    let url = app.url(created["createVideoUpload"]["uploadUrl"].as_str().unwrap());
    assert_eq!(retry_after(&app.graphql(Some(&token), CREATE, input.clone()).await), 3600);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM media_uploads").await, ["1"]);

    let patch = |offset: usize| {
        let (app, token, url) = (&app, &token, &url);
        async move {
            app.http
                .patch(url)
                .bearer_auth(token)
                .header("Tus-Resumable", "1.0.0")
                .header("Content-Type", "application/offset+octet-stream")
                .header("Upload-Offset", offset.to_string())
                .body(vec![7u8; 10])
                .send()
                .await
                .expect("PATCH")
        }
    };
    assert_eq!(patch(0).await.status(), 204);
    assert_eq!(patch(10).await.status(), 204);
    let refused = patch(20).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "30");
    assert_eq!(refused.headers()["tus-resumable"], "1.0.0");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    assert_eq!(scalar(&app, "SELECT \"offset\" FROM media_uploads").await, ["20"], "nothing of the refused PATCH was kept");
    clock.advance(Duration::from_secs(30));
    assert_eq!(patch(20).await.status(), 204);
    // An hour on, another upload may start.
    clock.advance(Duration::from_secs(3600));
    let again = app.data(Some(&token), CREATE, input).await;
    assert_eq!(again["createVideoUpload"]["userErrors"], json!([]));
    app.stop().await;
}
