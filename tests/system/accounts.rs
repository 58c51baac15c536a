//! Accounts, sessions and channels: what users can do, and what bad input gets.

use kanjian_system_tests::TestApp;
use serde_json::{Value, json};

const SIGN_UP: &str = "mutation($input: SignUpInput!) { signUp(input: $input) { token user { id } userErrors { field message code } } }";
const LOG_IN: &str = "mutation($input: LogInInput!) { logIn(input: $input) { token userErrors { field message code } } }";
const CREATE_CHANNEL: &str = "mutation($input: CreateChannelInput!) { createChannel(input: $input) { channel { id handle } userErrors { field message code } } }";
const UPDATE_CHANNEL: &str = "mutation($input: UpdateChannelInput!) { updateChannel(input: $input) { channel { id displayName } userErrors { field message code } } }";

fn codes(payload: &Value) -> Vec<(String, String)> {
    payload["userErrors"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|e| {
            let field = e["field"].as_array().map(|f| f.iter().filter_map(|s| s.as_str()).collect::<Vec<_>>().join(".")).unwrap_or_default();
            (field, e["code"].as_str().unwrap_or_default().to_owned())
        })
        .collect()
}

fn top_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or("<none>")
}

#[tokio::test]
async fn sign_up_refuses_bad_emails_weak_passwords_and_duplicates() {
    let app = TestApp::spawn().await;
    let bad = app.data(None, SIGN_UP, json!({ "input": { "email": "not-an-email", "password": "password" } })).await;
    let mut got = codes(&bad["signUp"]);
    got.sort();
    assert_eq!(got, [("input.email".to_owned(), "INVALID".to_owned()), ("input.password".to_owned(), "WEAK_PASSWORD".to_owned())]);
    assert_eq!(bad["signUp"]["token"], Value::Null);

    let short = app.data(None, SIGN_UP, json!({ "input": { "email": "a@example.com", "password": "x7!" } })).await;
    assert_eq!(codes(&short["signUp"])[0].0, "input.password");

    app.sign_up("taken@example.com").await;
    let dup = app.data(None, SIGN_UP, json!({ "input": { "email": "Taken@Example.com", "password": "another fine passphrase" } })).await;
    assert_eq!(codes(&dup["signUp"]), [("input.email".to_owned(), "TAKEN".to_owned())]);
    app.stop().await;
}

#[tokio::test]
async fn log_in_failures_look_alike_and_repeated_ones_are_rate_limited() {
    let app = TestApp::spawn().await;
    app.sign_up("hanmeimei@example.com").await;
    let wrong = app.data(None, LOG_IN, json!({ "input": { "email": "hanmeimei@example.com", "password": "wrong password!" } })).await;
    let unknown = app.data(None, LOG_IN, json!({ "input": { "email": "nobody@example.com", "password": "wrong password!" } })).await;
    assert_eq!(codes(&wrong["logIn"]), [(String::new(), "INVALID_CREDENTIALS".to_owned())]);
    assert_eq!(wrong["logIn"]["userErrors"][0]["message"], unknown["logIn"]["userErrors"][0]["message"]);

    // Keep failing: the limit kicks in, and then even the right password is refused for now.
    let mut limited = None;
    for _ in 0..10 {
        let body = app.graphql(None, LOG_IN, json!({ "input": { "email": "hanmeimei@example.com", "password": "wrong password!" } })).await;
        if top_code(&body) == "RATE_LIMITED" {
            limited = Some(body);
            break;
        }
    }
    let limited = limited.expect("log-in was never rate limited");
    assert!(limited["errors"][0]["extensions"]["retryAfterSeconds"].as_u64().unwrap() > 0);
    let right = app.graphql(None, LOG_IN, json!({ "input": { "email": "hanmeimei@example.com", "password": "correct horse battery staple" } })).await;
    assert_eq!(top_code(&right), "RATE_LIMITED");
    app.stop().await;
}

#[tokio::test]
async fn log_out_revokes_the_token() {
    let app = TestApp::spawn().await;
    let (token, user) = app.sign_up("bye@example.com").await;
    assert_eq!(app.data(Some(&token), "{ viewer { id } }", json!({})).await["viewer"]["id"], user);
    let out = app.data(Some(&token), "mutation { logOut(input: {}) { userId userErrors { code } } }", json!({})).await;
    assert_eq!(out["logOut"]["userId"], user);
    let after = app.graphql(Some(&token), "{ viewer { id } }", json!({})).await;
    assert_eq!(top_code(&after), "UNAUTHENTICATED", "{after:#}");
    // A garbage token is refused the same way.
    let garbage = app.graphql(Some("kj_garbage"), "{ viewer { id } }", json!({})).await;
    assert_eq!(top_code(&garbage), "UNAUTHENTICATED");
    app.stop().await;
}

const ROTATE: &str = "mutation { rotateToken(input: {}) { token expiresAt user { id } userErrors { code } } }";
const EVERYWHERE: &str = "mutation { logOutEverywhere(input: {}) { revokedSessions userErrors { code } } }";

#[tokio::test]
async fn a_rotated_token_replaces_the_old_one_at_once() {
    let app = TestApp::spawn().await;
    let (old, user) = app.sign_up("rotate@example.com").await;
    let rotated = app.data(Some(&old), ROTATE, json!({})).await;
    let payload = &rotated["rotateToken"];
    assert_eq!(payload["userErrors"], json!([]));
    assert_eq!(payload["user"]["id"], user);
    let new = payload["token"].as_str().unwrap().to_owned();
    assert!(new.starts_with("kj_") && new != old);
    let expires = chrono::DateTime::parse_from_rfc3339(payload["expiresAt"].as_str().unwrap()).unwrap();
    assert!(expires > chrono::Utc::now() + chrono::TimeDelta::days(29));
    // The old token stops at once; the new one is the same person.
    assert_eq!(top_code(&app.graphql(Some(&old), "{ viewer { id } }", json!({})).await), "UNAUTHENTICATED");
    assert_eq!(app.data(Some(&new), "{ viewer { id } }", json!({})).await["viewer"]["id"], user);
    // The old token cannot rotate again, and nobody rotates without one.
    assert_eq!(top_code(&app.graphql(Some(&old), ROTATE, json!({})).await), "UNAUTHENTICATED");
    assert_eq!(top_code(&app.graphql(None, ROTATE, json!({})).await), "UNAUTHENTICATED");
    app.stop().await;
}

#[tokio::test]
async fn log_out_everywhere_ends_every_session_of_the_account() {
    let app = TestApp::spawn().await;
    let (first, user) = app.sign_up("everywhere@example.com").await;
    let (stranger, _) = app.sign_up("stranger@example.com").await;
    let log_in = || async {
        let data = app.data(None, LOG_IN, json!({ "input": { "email": "everywhere@example.com", "password": "correct horse battery staple" } })).await;
        data["logIn"]["token"].as_str().unwrap().to_owned()
    };
    let (second, third) = (log_in().await, log_in().await);
    let out = app.data(Some(&second), EVERYWHERE, json!({})).await;
    assert_eq!(out["logOutEverywhere"], json!({ "revokedSessions": 3, "userErrors": [] }));
    for token in [&first, &second, &third] {
        assert_eq!(top_code(&app.graphql(Some(token), "{ viewer { id } }", json!({})).await), "UNAUTHENTICATED");
    }
    assert!(app.data(Some(&stranger), "{ viewer { id } }", json!({})).await["viewer"]["id"].is_string());
    assert_eq!(top_code(&app.graphql(None, EVERYWHERE, json!({})).await), "UNAUTHENTICATED");
    // The password still works: sign in again.
    let again = log_in().await;
    assert_eq!(app.data(Some(&again), "{ viewer { id } }", json!({})).await["viewer"]["id"], user);
    app.stop().await;
}

#[tokio::test]
async fn mutations_need_a_signed_in_user() {
    let app = TestApp::spawn().await;
    let body = app.graphql(None, CREATE_CHANNEL, json!({ "input": { "handle": "anon", "displayName": "Anon" } })).await;
    assert_eq!(top_code(&body), "UNAUTHENTICATED", "{body:#}");
    let body = app.graphql(None, "mutation { logOut(input: {}) { userId } }", json!({})).await;
    assert_eq!(top_code(&body), "UNAUTHENTICATED", "{body:#}");
    app.stop().await;
}

#[tokio::test]
async fn channels_have_unique_valid_handles_and_one_per_user() {
    let app = TestApp::spawn().await;
    let (token, _) = app.creator("meimei").await;
    let (other, _) = app.sign_up("other@example.com").await;

    let dup = app.data(Some(&other), CREATE_CHANNEL, json!({ "input": { "handle": "MeiMei", "displayName": "Copy" } })).await;
    assert_eq!(codes(&dup["createChannel"]), [("input.handle".to_owned(), "TAKEN".to_owned())]);

    let bad = app.data(Some(&other), CREATE_CHANNEL, json!({ "input": { "handle": "no spaces!", "displayName": "   " } })).await;
    let mut got: Vec<String> = codes(&bad["createChannel"]).into_iter().map(|(f, _)| f).collect();
    got.sort();
    assert_eq!(got, ["input.displayName", "input.handle"]);

    let second = app.data(Some(&token), CREATE_CHANNEL, json!({ "input": { "handle": "meimei2", "displayName": "Second" } })).await;
    assert_eq!(codes(&second["createChannel"])[0].1, "ALREADY_EXISTS");
    app.stop().await;
}

#[tokio::test]
async fn nobody_edits_someone_elses_channel() {
    let app = TestApp::spawn().await;
    let (_owner, channel) = app.creator("owner").await;
    let (intruder, _) = app.sign_up("intruder@example.com").await;
    let body = app.graphql(Some(&intruder), UPDATE_CHANNEL, json!({ "input": { "channelId": channel, "displayName": "Hacked" } })).await;
    assert_eq!(top_code(&body), "FORBIDDEN", "{body:#}");
    let now = app.data(None, "query($id: ID!) { node(id: $id) { ... on Channel { displayName } } }", json!({ "id": channel })).await;
    assert_eq!(now["node"]["displayName"], "Creator owner");
    app.stop().await;
}

const UPDATE_PROFILE: &str = "mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { user { id displayName } userErrors { field message code } } }";

#[tokio::test]
async fn users_have_a_public_display_name_they_can_change() {
    let app = TestApp::spawn().await;
    // Given at sign-up (trimmed), or taken from the email.
    let named = app.data(None, "mutation($input: SignUpInput!) { signUp(input: $input) { token user { id displayName } userErrors { field message code } } }", json!({ "input": { "email": "lilei@example.com", "password": "correct horse battery staple", "displayName": " 李雷 " } })).await;
    assert_eq!(named["signUp"]["userErrors"], json!([]), "{named:#}");
    assert_eq!(named["signUp"]["user"]["displayName"], "李雷");
    let token = named["signUp"]["token"].as_str().unwrap().to_owned();
    let id = named["signUp"]["user"]["id"].as_str().unwrap().to_owned();
    let (other, _) = app.sign_up("han.meimei@example.com").await;
    assert_eq!(app.data(Some(&other), "{ viewer { displayName } }", json!({})).await["viewer"]["displayName"], "han.meimei");

    // A bad name at sign-up is a user error, and no account is made.
    let bad = app.data(None, SIGN_UP, json!({ "input": { "email": "bad@example.com", "password": "correct horse battery staple", "displayName": "x".repeat(33) } })).await;
    assert_eq!(codes(&bad["signUp"]), [("input.displayName".to_owned(), "TOO_LONG".to_owned())]);
    app.sign_up("bad@example.com").await;

    let renamed = app.data(Some(&token), UPDATE_PROFILE, json!({ "input": { "displayName": "Li Lei 👋" } })).await;
    assert_eq!(renamed["updateProfile"]["userErrors"], json!([]), "{renamed:#}");
    assert_eq!(renamed["updateProfile"]["user"], json!({ "id": id, "displayName": "Li Lei 👋" }));
    assert_eq!(app.data(Some(&token), "{ viewer { displayName } }", json!({})).await["viewer"]["displayName"], "Li Lei 👋");

    // Bad names are user errors on `displayName`, and change nothing.
    for (name, code) in [("", "REQUIRED"), ("x".repeat(33).as_str(), "TOO_LONG"), ("Li\nLei", "INVALID")] {
        let body = app.data(Some(&token), UPDATE_PROFILE, json!({ "input": { "displayName": name } })).await;
        assert_eq!(codes(&body["updateProfile"]), [("input.displayName".to_owned(), code.to_owned())], "{name:?}");
        assert_eq!(body["updateProfile"]["user"], Value::Null);
    }
    // Everyone sees the name (not the email).
    let public = app.data(Some(&other), "query($id: ID!) { node(id: $id) { ... on User { displayName email } } }", json!({ "id": id })).await;
    assert_eq!(public["node"], json!({ "displayName": "Li Lei 👋", "email": null }));

    // Signed out, there is no profile to change.
    let anon = app.graphql(None, UPDATE_PROFILE, json!({ "input": { "displayName": "Anon" } })).await;
    assert_eq!(top_code(&anon), "UNAUTHENTICATED", "{anon:#}");
    app.stop().await;
}

/// Issue 13: `signUp` and `logIn` answered `user.email: null` although the caller is that user
/// and the README's example asks for it.
#[tokio::test]
async fn sign_up_and_log_in_show_the_new_session_its_own_email() {
    let app = TestApp::spawn().await;
    let fields = "token user { id email emailVerified memberships { role } } userErrors { code }";
    let signed_up = app
        .data(None, &format!("mutation($input: SignUpInput!) {{ signUp(input: $input) {{ {fields} }} }}"),
            json!({ "input": { "email": "Mei@Example.com", "password": "correct horse battery staple" } }))
        .await;
    assert_eq!(signed_up["signUp"]["user"]["email"], "mei@example.com");
    assert_eq!(signed_up["signUp"]["user"]["emailVerified"], false);
    let logged_in = app
        .data(None, &format!("mutation($input: LogInInput!) {{ logIn(input: $input) {{ {fields} }} }}"),
            json!({ "input": { "email": "mei@example.com", "password": "correct horse battery staple" } }))
        .await;
    assert_eq!(logged_in["logIn"]["user"]["email"], "mei@example.com");
    assert_eq!(logged_in["logIn"]["user"]["id"], signed_up["signUp"]["user"]["id"]);
    // Anyone else, signed in or not, gets nulls for the same user.
    let (other, _) = app.sign_up("other@example.com").await;
    let id = signed_up["signUp"]["user"]["id"].clone();
    for token in [Some(other.as_str()), None] {
        let seen = app.data(token, "query($id: ID!) { node(id: $id) { ... on User { email emailVerified memberships { role } } } }", json!({ "id": id })).await;
        assert_eq!(seen["node"], json!({ "email": null, "emailVerified": null, "memberships": [] }));
    }
    app.stop().await;
}
