//! Notifications and email preferences through the real server: a module asks notify through the
//! outbox, the dispatcher delivers, GraphQL and the unsubscribe link do the rest.

use std::time::Duration;

use base64::Engine as _;
use kanjian_contracts::IntegrationEvent;
use kanjian_contracts::notify::{EmailRequested, EmailTemplate, NotificationRequested};
use kanjian_events::Outbox;
use kanjian_kernel::ids::UserId;
use kanjian_system_tests::TestApp;
use kanjian_system_tests::ws::Subscription;
use sea_orm::TransactionTrait;
use serde_json::json;

/// What another module does: enqueue a request in a transaction of its own.
async fn request<E: IntegrationEvent>(app: &TestApp, event: &E) {
    let db = app.database().await;
    let txn = db.begin().await.unwrap();
    Outbox::new().enqueue(&txn, event).await.unwrap();
    txn.commit().await.unwrap();
}

/// The number in a global id (`base64url("User:7")` → 7).
fn number(global_id: &str) -> i64 {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(global_id).unwrap();
    String::from_utf8(raw).unwrap().rsplit(':').next().unwrap().parse().unwrap()
}

const LIST: &str = "{ unreadNotificationCount notifications(first: 10) { edges { node { id kind payload read } } } }";
const MARK: &str = "mutation($input: MarkNotificationsReadInput!) { markNotificationsRead(input: $input) { markedCount unreadCount userErrors { field code } } }";

#[tokio::test]
async fn a_notification_reaches_its_owner_live_once_and_nobody_else() {
    let app = TestApp::spawn().await;
    let (lilei, lilei_id) = app.sign_up("lilei@example.com").await;
    let (meimei, _) = app.sign_up("meimei@example.com").await;
    let mut live = Subscription::start(&app.base, Some(&lilei), "subscription { notificationAdded { id kind payload read } }", json!({})).await;

    let reminder = NotificationRequested {
        user_id: UserId(number(&lilei_id)),
        kind: "live.reminder".into(),
        payload: json!({ "room": "r1", "title": "包饺子" }),
        dedupe_key: "live.reminder:r1".into(),
    };
    request(&app, &reminder).await;
    request(&app, &reminder).await; // the same request again: still one notification
    let pushed = live.collect_until(Duration::from_secs(20), |p| !p["data"]["notificationAdded"].is_null()).await;
    let added = &pushed.last().unwrap()["data"]["notificationAdded"];
    assert_eq!((added["kind"].as_str(), added["read"].as_bool()), (Some("live.reminder"), Some(false)));
    assert_eq!(added["payload"]["title"], "包饺子");
    let id = added["id"].as_str().unwrap().to_owned();

    let mine = app.data(Some(&lilei), LIST, json!({})).await;
    assert_eq!(mine["unreadNotificationCount"], 1);
    let edges = mine["notifications"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 1, "one notification for two identical requests: {mine:#}");
    assert_eq!(edges[0]["node"]["id"], id.as_str());

    // Someone else finds nothing by its id and marks nothing.
    let node = "query($id: ID!) { node(id: $id) { ... on Notification { id read } } }";
    assert_eq!(app.data(Some(&meimei), node, json!({ "id": id })).await["node"], json!(null));
    let theirs = app.data(Some(&meimei), MARK, json!({ "input": { "ids": [id] } })).await;
    assert_eq!(theirs["markNotificationsRead"]["markedCount"], 0);
    assert_eq!(app.data(Some(&meimei), LIST, json!({})).await["notifications"]["edges"], json!([]));
    assert_eq!(app.data(Some(&lilei), LIST, json!({})).await["unreadNotificationCount"], 1);

    // Neither ids nor all: a user error. All: done.
    let neither = app.data(Some(&lilei), MARK, json!({ "input": {} })).await;
    assert_eq!(neither["markNotificationsRead"]["userErrors"][0]["code"], "INVALID");
    let all = app.data(Some(&lilei), MARK, json!({ "input": { "all": true } })).await;
    assert_eq!(all["markNotificationsRead"]["markedCount"], 1);
    assert_eq!(all["markNotificationsRead"]["unreadCount"], 0);
    assert_eq!(app.data(Some(&lilei), node, json!({ "id": id })).await["node"]["read"], true);

    // Nobody signed in, nothing listed.
    let anonymous = app.graphql(None, LIST, json!({})).await;
    assert_eq!(anonymous["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{anonymous:#}");
}

const PREFERENCES: &str = "{ emailPreferences { category optedOut } }";

#[tokio::test]
async fn a_reminder_mails_unsubscribe_link_asks_on_get_and_turns_reminders_off_on_post() {
    let app = TestApp::spawn().await;
    let (token, user_id) = app.sign_up("lilei@example.com").await;
    request(
        &app,
        &EmailRequested {
            recipient_user: Some(UserId(number(&user_id))),
            to: "lilei@example.com".into(),
            locale: "zh-CN".into(),
            template: EmailTemplate::LiveReminder {
                channel_name: "李雷的厨房".into(),
                room_title: "包饺子".into(),
                link: "https://kanjian.example/live/1".into(),
            },
            dedupe_key: "live.reminder:1:lilei".into(),
        },
    )
    .await;
    // With no SMTP relay configured, mail is written into the data dir.
    let mail_dir = app.data_dir().join("mail");
    let raw = app
        .eventually(Duration::from_secs(20), || {
            let dir = mail_dir.clone();
            async move {
                // Sign-up mailed a verification link too; the reminder is the mail with an
                // unsubscribe link. Files are written while we look: wait for the last part.
                std::fs::read_dir(&dir)
                    .ok()?
                    .flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .find(|text| text.contains("\nList-Unsubscribe:") && text.trim_end().ends_with("--"))
            }
        })
        .await;
    let header = raw.lines().find(|l| l.starts_with("List-Unsubscribe:")).expect("a List-Unsubscribe header");
    let link = header.split('<').nth(1).and_then(|l| l.split('>').next()).unwrap().to_owned();
    assert!(link.starts_with(&app.url("/unsubscribe?token=")), "{link} is not this server's");
    assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));

    let before = app.data(Some(&token), PREFERENCES, json!({})).await;
    assert_eq!(before["emailPreferences"], json!([{ "category": "LIVE_REMINDERS", "optedOut": false }]));

    // GET only asks (mail scanners open links by themselves).
    let page = app.http.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("method=\"post\""));
    assert_eq!(app.data(Some(&token), PREFERENCES, json!({})).await, before);

    // POST, as a mail client's one-click unsubscribe sends it.
    let done = app.http.post(&link).body("List-Unsubscribe=One-Click").send().await.unwrap();
    assert_eq!(done.status(), 200);
    let after = app.data(Some(&token), PREFERENCES, json!({})).await;
    assert_eq!(after["emailPreferences"], json!([{ "category": "LIVE_REMINDERS", "optedOut": true }]));

    // A made-up or malformed token changes nothing and says so.
    for bad in ["/unsubscribe?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "/unsubscribe?token=%3Cscript%3E", "/unsubscribe"] {
        assert_eq!(app.http.post(app.url(bad)).send().await.unwrap().status(), 404, "{bad}");
    }

    // And the person turns reminders back on in their settings.
    let on = app
        .data(
            Some(&token),
            "mutation { setEmailOptOut(input: { category: LIVE_REMINDERS, optedOut: false }) { preference { category optedOut } userErrors { code } } }",
            json!({}),
        )
        .await;
    assert_eq!(on["setEmailOptOut"]["preference"], json!({ "category": "LIVE_REMINDERS", "optedOut": false }));
}
