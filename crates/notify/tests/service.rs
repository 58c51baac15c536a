//! The notify module against real parts only: a freshly migrated database (SQLite, or
//! PostgreSQL with `KANJIAN_TEST_DATABASE=postgres`), a real SMTP server (aiosmtpd, see
//! `support/`), lettre's file transport, the real outbox and `Dispatcher`, and the in-process
//! realtime hub.

// Test helpers outside `#[test]` functions panic on purpose: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kanjian_contracts::notify::{
    EmailCategory, EmailPreferenceDto, EmailRequested, EmailTemplate, MarkRead, NotificationRequested, NotifyApi,
};
use kanjian_contracts::{EventEnvelope, IntegrationEvent};
use kanjian_db::Db;
use kanjian_db::testing::TestDatabase;
use kanjian_events::{Dispatcher, DispatcherConfig, EventHandler, HandlerError, InProcessHub, Outbox};
use kanjian_kernel::ids::{NotificationId, SessionId, UserId};
use kanjian_kernel::{Actor, Clock, Error, PageRequest, UserErrorCode};
use kanjian_notify::{NotifyConfig, NotifyService, SmtpConfig, SmtpTls};
use sea_orm::{ConnectionTrait, Statement};
use support::{Mail, SmtpServer, free_port, read_mails, smtp_available, unescape_html};
use tokio_util::sync::CancellationToken;

const PUBLIC_URL: &str = "https://kanjian.example";
const FROM: &str = "no-reply@kanjian.example";

struct TestApp {
    _database: TestDatabase,
    db: Db,
    outbox: Outbox,
    notify: NotifyService,
    dir: tempfile::TempDir,
}

fn user(id: i64) -> Actor {
    Actor::User { user_id: UserId(id), session_id: SessionId(id), roles: vec![] }
}

/// Mail through a local SMTP server on `port` (nothing needs to listen yet).
fn smtp_config(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: Some("127.0.0.1".into()),
        port: Some(port),
        tls: SmtpTls::None,
        timeout_secs: 5,
        ..SmtpConfig::default()
    }
}

/// The shared history and notify's own tables, as the server merges them.
struct WithNotify;

impl kanjian_migrations::MigratorTrait for WithNotify {
    fn migrations() -> Vec<Box<dyn kanjian_migrations::MigrationTrait>> {
        let mut all = kanjian_migrations::Migrator::migrations();
        all.extend(<kanjian_notify::Notify as kanjian_module::Module>::migrations());
        all
    }
}

async fn app_with(smtp: SmtpConfig, clock: Clock) -> TestApp {
    let database = TestDatabase::create().await;
    let db = kanjian_migrations::database::connect_and_migrate_with::<WithNotify>(
        &database.url,
        &kanjian_db::DatabaseConfig::default(),
        clock,
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = NotifyConfig {
        data_dir: dir.path().to_owned(),
        public_url: PUBLIC_URL.into(),
        from_address: FROM.into(),
        from_name: "看见 Kanjian".into(),
        smtp,
    };
    let outbox = Outbox::with_clock(db.clock().clone());
    let notify = NotifyService::new(db.for_module("notify"), outbox.clone(), Arc::new(InProcessHub::new()), config);
    TestApp { _database: database, db, outbox, notify, dir }
}

async fn smtp_app(port: u16) -> TestApp {
    app_with(smtp_config(port), Clock::system()).await
}

fn envelope<E: IntegrationEvent>(event: &E) -> EventEnvelope {
    EventEnvelope {
        id: uuid::Uuid::now_v7(),
        kind: E::KIND.into(),
        occurred_at: kanjian_kernel::now(),
        payload: serde_json::to_value(event).unwrap(),
    }
}

fn verify(to: &str, key: &str) -> EmailRequested {
    EmailRequested {
        recipient_user: Some(UserId(1)),
        to: to.into(),
        locale: "en".into(),
        template: EmailTemplate::VerifyEmail { link: "https://kanjian.example/verify?token=v1&user=1".into() },
        dedupe_key: key.into(),
    }
}

fn reminder(user_id: i64, to: &str, key: &str) -> EmailRequested {
    EmailRequested {
        recipient_user: Some(UserId(user_id)),
        to: to.into(),
        locale: "zh-CN".into(),
        template: EmailTemplate::LiveReminder {
            channel_name: "<script>alert('x')</script> 的厨房".into(),
            room_title: "Dumplings & \"friends\"".into(),
            link: "https://kanjian.example/live/7?from=mail".into(),
        },
        dedupe_key: key.into(),
    }
}

fn notification(user_id: i64, key: &str, n: i64) -> NotificationRequested {
    NotificationRequested {
        user_id: UserId(user_id),
        kind: "live.reminder".into(),
        payload: serde_json::json!({ "room_id": n, "title": format!("room {n}") }),
        dedupe_key: key.into(),
    }
}

/// A row of `notify_emails`, as the tests look at it.
#[derive(Debug, Clone, PartialEq)]
struct EmailRow {
    recipient: String,
    status: String,
    attempts: i32,
    message_id: String,
    last_error: Option<String>,
    sent: bool,
}

impl TestApp {
    fn handler(&self, name: &str) -> Arc<dyn EventHandler> {
        self.notify.event_handlers().into_iter().find(|h| h.name() == name).unwrap()
    }

    async fn deliver<E: IntegrationEvent>(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
        let name = match E::KIND {
            EmailRequested::KIND => "notify.send_email",
            _ => "notify.create_notification",
        };
        let handler = self.handler(name);
        assert!(handler.handles(&event.kind));
        handler.handle(event).await
    }

    async fn send(&self, request: &EmailRequested) -> Result<(), HandlerError> {
        self.deliver::<EmailRequested>(&envelope(request)).await
    }

    async fn emails(&self) -> Vec<EmailRow> {
        let conn = self.db.writer();
        let rows = conn
            .query_all_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT recipient, status, attempts, message_id, last_error, sent_at FROM notify_emails ORDER BY id",
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|r| EmailRow {
                recipient: r.try_get("", "recipient").unwrap(),
                status: r.try_get("", "status").unwrap(),
                attempts: r.try_get("", "attempts").unwrap(),
                message_id: r.try_get("", "message_id").unwrap(),
                last_error: r.try_get("", "last_error").unwrap(),
                sent: r.try_get::<Option<chrono::DateTime<chrono::Utc>>>("", "sent_at").unwrap().is_some(),
            })
            .collect()
    }

    async fn enqueue<E: IntegrationEvent>(&self, event: &E) {
        let txn = self.db.begin().await.unwrap();
        self.outbox.enqueue(&txn, event).await.unwrap();
        txn.commit().await.unwrap();
        self.outbox.notify();
    }

    /// A dispatcher with notify's handlers, registered before it returns: a handler receives
    /// the events that occur after its registration.
    async fn dispatcher(&self) -> (CancellationToken, tokio::task::JoinHandle<()>) {
        let mut dispatcher = Dispatcher::new(
            self.db.writer().clone(),
            &self.outbox,
            DispatcherConfig {
                poll_interval: Duration::from_millis(20),
                lease: Duration::from_secs(10),
                retry_base: Duration::from_millis(50),
                retry_max: Duration::from_millis(200),
                max_attempts: 1000,
                ..DispatcherConfig::default()
            },
            self.db.clock().clone(),
        );
        for handler in self.notify.event_handlers() {
            dispatcher.register(handler);
        }
        dispatcher.register_handlers().await.unwrap();
        let stop = CancellationToken::new();
        (stop.clone(), tokio::spawn(dispatcher.run(stop)))
    }

    /// (status, attempts, last_error) of every delivery of `handler`.
    async fn deliveries(&self, handler: &str) -> Vec<(String, i32, Option<String>)> {
        let conn = self.db.writer();
        let rows = conn
            .query_all_raw(Statement::from_sql_and_values(
                conn.get_database_backend(),
                "SELECT status, attempts, last_error FROM events_deliveries WHERE handler = $1 ORDER BY id",
                [handler.into()],
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|r| {
                (
                    r.try_get("", "status").unwrap(),
                    r.try_get("", "attempts").unwrap(),
                    r.try_get("", "last_error").unwrap(),
                )
            })
            .collect()
    }
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn assert_permanent(result: Result<(), HandlerError>, containing: &str) {
    match result {
        Err(HandlerError::Permanent(e)) => assert!(format!("{e:#}").contains(containing), "{e:#}"),
        other => panic!("expected a permanent failure containing {containing:?}, got {other:?}"),
    }
}

fn assert_transient(result: Result<(), HandlerError>, containing: &str) {
    match result {
        Err(HandlerError::Transient(e)) => assert!(format!("{e:#}").contains(containing), "{e:#}"),
        other => panic!("expected a transient failure containing {containing:?}, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Email through a real SMTP server

#[tokio::test]
async fn a_verification_mail_reaches_a_real_smtp_server_with_both_parts_and_no_unsubscribe() {
    if !smtp_available("a_verification_mail_reaches_a_real_smtp_server") {
        return;
    }
    let port = free_port();
    let app = smtp_app(port).await;
    let server = SmtpServer::start(port, &app.dir.path().join("inbox"));

    app.send(&verify(" Li.Lei@Example.com ", "identity.verify:1:1")).await.unwrap();
    let mails = server.wait_for(1).await;
    let mail = &mails[0];
    assert_eq!(mail.from, FROM);
    assert_eq!(mail.from_name.as_deref(), Some("看见 Kanjian"));
    assert_eq!(mail.to, "Li.Lei@Example.com");
    assert_eq!(mail.subject, "Confirm your email address");
    assert_eq!(mail.content_type, "multipart/alternative");
    let text = mail.text.as_deref().expect("a text/plain part");
    let html = mail.html.as_deref().expect("a text/html part");
    let link = "https://kanjian.example/verify?token=v1&user=1";
    assert!(text.contains(link), "{text}");
    assert!(unescape_html(html).contains(&format!("href=\"{link}\"")), "{html}");
    // Essential mail cannot be unsubscribed from.
    assert_eq!(mail.list_unsubscribe, None);
    assert_eq!(mail.list_unsubscribe_post, None);

    let rows = app.emails().await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(
        (row.recipient.as_str(), row.status.as_str(), row.attempts, row.sent),
        ("li.lei@example.com", "sent", 1, true)
    );
    assert_eq!(row.last_error, None);
    assert_eq!(mail.message_id, row.message_id);
    assert!(row.message_id.ends_with("@kanjian.example"), "{}", row.message_id);
}

#[tokio::test]
async fn a_live_reminder_escapes_hostile_values_in_html_and_carries_one_click_unsubscribe() {
    if !smtp_available("a_live_reminder_escapes_hostile_values") {
        return;
    }
    let port = free_port();
    let app = smtp_app(port).await;
    let server = SmtpServer::start(port, &app.dir.path().join("inbox"));

    app.send(&reminder(7, "viewer@example.com", "live.reminder:room7:user7")).await.unwrap();
    let mail = server.wait_for(1).await.remove(0);
    assert_eq!(mail.subject, "<script>alert('x')</script> 的厨房 开播了：Dumplings & \"friends\"");
    let text = mail.text.as_deref().unwrap();
    let html = mail.html.as_deref().unwrap();
    // Raw in the text part, escaped in the HTML part: no script tag survives.
    assert!(text.contains("<script>alert('x')</script> 的厨房 正在直播：Dumplings & \"friends\""), "{text}");
    assert!(!html.contains("<script"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;&#x2f;script&gt; 的厨房"), "{html}");
    assert!(html.contains("Dumplings &amp; &quot;friends&quot;"), "{html}");
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<html lang=\"zh-CN\">"));
    assert!(unescape_html(html).contains("href=\"https://kanjian.example/live/7?from=mail\""));

    // RFC 2369 + RFC 8058: an https link and one-click POST.
    let header = mail.list_unsubscribe.as_deref().expect("List-Unsubscribe on a reminder");
    assert!(header.starts_with("<https://kanjian.example/unsubscribe?token=") && header.ends_with('>'), "{header}");
    assert_eq!(mail.list_unsubscribe_post.as_deref(), Some("List-Unsubscribe=One-Click"));
    let token = mail.unsubscribe_token();
    assert_eq!(token.len(), 43, "32 random bytes, base64url");
    // The same link is in both parts, for people.
    let link = format!("{PUBLIC_URL}/unsubscribe?token={token}");
    assert!(text.contains(&link) && unescape_html(html).contains(&link));
}

#[tokio::test]
async fn the_same_request_delivered_twice_sends_one_mail() {
    if !smtp_available("the_same_request_delivered_twice_sends_one_mail") {
        return;
    }
    let port = free_port();
    let app = smtp_app(port).await;
    let server = SmtpServer::start(port, &app.dir.path().join("inbox"));

    // The same event twice (a redelivery), and another event with the same dedupe key.
    let event = envelope(&verify("a@example.com", "identity.verify:1:1"));
    app.deliver::<EmailRequested>(&event).await.unwrap();
    app.deliver::<EmailRequested>(&event).await.unwrap();
    app.send(&verify("A@example.com", "identity.verify:1:1")).await.unwrap();
    // No dedupe key: the event id is the key, so a redelivery is still one mail.
    let keyless = envelope(&verify("b@example.com", ""));
    app.deliver::<EmailRequested>(&keyless).await.unwrap();
    app.deliver::<EmailRequested>(&keyless).await.unwrap();
    // Another key is another mail.
    app.send(&verify("a@example.com", "identity.verify:1:2")).await.unwrap();

    server.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mails = server.messages();
    let mut to: Vec<&str> = mails.iter().map(|m| m.to.as_str()).collect();
    to.sort();
    assert_eq!(to, ["a@example.com", "a@example.com", "b@example.com"]);
    assert_ne!(mails[0].message_id, mails[2].message_id);
    let rows = app.emails().await;
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.status == "sent" && r.attempts == 1), "{rows:?}");
}

#[tokio::test]
async fn two_requests_with_one_key_through_the_outbox_and_dispatcher_send_one_mail() {
    if !smtp_available("two_requests_with_one_key_through_the_outbox_and_dispatcher") {
        return;
    }
    let port = free_port();
    let app = smtp_app(port).await;
    let server = SmtpServer::start(port, &app.dir.path().join("inbox"));
    let (stop, running) = app.dispatcher().await;

    // Both in one transaction of some other module; the dispatcher may run them side by side.
    let txn = app.db.begin().await.unwrap();
    for _ in 0..2 {
        app.outbox.enqueue(&txn, &verify("c@example.com", "identity.verify:3:1")).await.unwrap();
    }
    txn.commit().await.unwrap();
    app.outbox.notify();

    server.wait_for(1).await;
    eventually("both deliveries done", || async {
        let d = app.deliveries("notify.send_email").await;
        d.len() == 2 && d.iter().all(|(s, _, _)| s == "done")
    })
    .await;
    assert_eq!(server.messages().len(), 1);
    stop.cancel();
    running.await.unwrap();
}

#[tokio::test]
async fn a_mail_another_delivery_holds_waits_and_the_lock_of_a_crashed_one_expires() {
    if !smtp_available("a_mail_another_delivery_holds_waits") {
        return;
    }
    let port = free_port();
    let app = smtp_app(port).await;
    // The server is down: the first attempt leaves the row queued.
    let request = verify("f@example.com", "k:held");
    assert_transient(app.send(&request).await, "SMTP");
    let server = SmtpServer::start(port, &app.dir.path().join("inbox"));

    // Another node claimed it and is sending right now: this delivery leaves it alone.
    let conn = app.db.writer();
    let lock = |until: i64| {
        Statement::from_sql_and_values(
            conn.get_database_backend(),
            "UPDATE notify_emails SET locked_until = $1",
            [until.into()],
        )
    };
    conn.execute_raw(lock(app.db.now_millis() + 60_000)).await.unwrap();
    assert_transient(app.send(&request).await, "another delivery");
    assert!(server.messages().is_empty());
    // That node died without a word: once its lock has expired the mail goes out, once.
    conn.execute_raw(lock(app.db.now_millis() - 1)).await.unwrap();
    app.send(&request).await.unwrap();
    app.send(&request).await.unwrap();
    server.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.messages().len(), 1);
    let row = &app.emails().await[0];
    assert_eq!((row.status.as_str(), row.attempts), ("sent", 2));
}

#[tokio::test]
async fn a_refused_recipient_is_permanent_and_a_busy_one_transient() {
    if !smtp_available("a_refused_recipient_is_permanent_and_a_busy_one_transient") {
        return;
    }
    let port = free_port();
    let app = smtp_app(port).await;
    let server = SmtpServer::start(port, &app.dir.path().join("inbox"));

    assert_permanent(app.send(&verify("refuse@example.com", "k:refused")).await, "550");
    assert_transient(app.send(&verify("busy@example.com", "k:busy")).await, "451");
    let rows = app.emails().await;
    assert_eq!((rows[0].status.as_str(), rows[0].attempts, rows[0].sent), ("failed", 1, false));
    assert!(rows[0].last_error.as_deref().unwrap().contains("no such user"), "{rows:?}");
    assert_eq!((rows[1].status.as_str(), rows[1].attempts, rows[1].sent), ("queued", 1, false));
    assert!(rows[1].last_error.as_deref().unwrap().contains("451"), "{rows:?}");
    // A refused mail is not tried again by a later delivery; a busy one is.
    app.send(&verify("refuse@example.com", "k:refused")).await.unwrap();
    assert_transient(app.send(&verify("busy@example.com", "k:busy")).await, "451");
    let rows = app.emails().await;
    assert_eq!((rows[0].attempts, rows[1].attempts), (1, 2));
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn starttls_that_the_server_does_not_offer_sends_nothing_in_the_clear() {
    if !smtp_available("starttls_that_the_server_does_not_offer_sends_nothing_in_the_clear") {
        return;
    }
    let port = free_port();
    let app = app_with(SmtpConfig { tls: SmtpTls::Starttls, ..smtp_config(port) }, Clock::system()).await;
    let server = SmtpServer::start(port, &app.dir.path().join("inbox"));
    // aiosmtpd here offers no STARTTLS: lettre must refuse to go on without it. Transient, so
    // the mail goes once the server (or the setting) is fixed.
    assert_transient(app.send(&verify("g@example.com", "k:tls")).await, "STARTTLS");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(server.messages().is_empty());
    assert_eq!(app.emails().await[0].status, "queued");
}

#[tokio::test]
async fn a_server_that_is_down_is_retried_and_sends_exactly_one_mail_once_it_is_back() {
    if !smtp_available("a_server_that_is_down_is_retried") {
        return;
    }
    let port = free_port();
    let app = smtp_app(port).await;

    // Nobody listens: the handler says it may pass.
    assert_transient(app.send(&verify("d@example.com", "k:direct")).await, "SMTP");

    // Through the outbox and the dispatcher: retried with backoff while the server is down.
    let (stop, running) = app.dispatcher().await;
    app.enqueue(&verify("e@example.com", "k:dispatched")).await;
    eventually("a few failed attempts", || async {
        let d = app.deliveries("notify.send_email").await;
        d.len() == 1 && d[0].0 == "pending" && d[0].1 >= 3 && d[0].2.is_some()
    })
    .await;
    let row = app.emails().await.into_iter().find(|r| r.recipient == "e@example.com").unwrap();
    assert_eq!(row.status, "queued");
    assert!(row.last_error.is_some());

    let server = SmtpServer::start(port, &app.dir.path().join("inbox"));
    let mail = server.wait_for(1).await.remove(0);
    assert_eq!(mail.to, "e@example.com");
    eventually("the delivery done", || async { app.deliveries("notify.send_email").await[0].0 == "done" }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.messages().len(), 1, "exactly one mail after the retries");
    let row = app.emails().await.into_iter().find(|r| r.recipient == "e@example.com").unwrap();
    assert_eq!((row.status.as_str(), row.sent, row.last_error.clone()), ("sent", true, None));
    // Every delivery attempt was one attempt at the mail: at least two failed, one went out.
    let deliveries = app.deliveries("notify.send_email").await;
    assert!(row.attempts >= 3, "{row:?}");
    assert_eq!(row.attempts, deliveries[0].1, "{row:?} {deliveries:?}");
    stop.cancel();
    running.await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Opt-out and unsubscribe

#[tokio::test]
async fn an_opted_out_person_gets_no_reminders_but_still_gets_essential_mail() {
    if !smtp_available("an_opted_out_person_gets_no_reminders") {
        return;
    }
    let port = free_port();
    let app = smtp_app(port).await;
    let server = SmtpServer::start(port, &app.dir.path().join("inbox"));
    let viewer = user(1);

    let prefs = app.notify.email_preferences(&viewer).await.unwrap();
    assert_eq!(prefs, [EmailPreferenceDto { category: EmailCategory::LiveReminders, opted_out: false }]);
    app.notify.set_email_opt_out(&viewer, EmailCategory::LiveReminders, true).await.unwrap();
    assert!(app.notify.email_preferences(&viewer).await.unwrap()[0].opted_out);

    app.send(&reminder(1, "v@example.com", "r:1")).await.unwrap();
    app.send(&verify("v@example.com", "v:1")).await.unwrap();
    let mails = server.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.messages().len(), 1);
    assert_eq!(mails[0].subject, "Confirm your email address");
    let rows = app.emails().await;
    assert_eq!(rows[0].status, "suppressed");
    assert_eq!(rows[1].status, "sent");
    // Someone else's reminders still go out; turning them back on works.
    app.send(&reminder(2, "w@example.com", "r:2")).await.unwrap();
    app.notify.set_email_opt_out(&viewer, EmailCategory::LiveReminders, false).await.unwrap();
    app.send(&reminder(1, "v@example.com", "r:3")).await.unwrap();
    server.wait_for(3).await;
}

#[tokio::test]
async fn unsubscribing_by_the_mails_token_works_and_a_bad_token_changes_nothing() {
    if !smtp_available("unsubscribing_by_the_mails_token_works") {
        return;
    }
    let port = free_port();
    let app = smtp_app(port).await;
    let server = SmtpServer::start(port, &app.dir.path().join("inbox"));
    app.send(&reminder(5, "u@example.com", "r:1")).await.unwrap();
    let token = server.wait_for(1).await[0].unsubscribe_token();

    for bad in ["", "nope", &token[..42], &format!("{token}x"), &"a".repeat(5000), &token.to_uppercase()] {
        assert!(matches!(app.notify.unsubscribe(bad).await, Err(Error::NotFound(_))), "{bad:?}");
    }
    assert!(!app.notify.email_preferences(&user(5)).await.unwrap()[0].opted_out);

    let done = app.notify.unsubscribe(&token).await.unwrap();
    assert_eq!(done, EmailPreferenceDto { category: EmailCategory::LiveReminders, opted_out: true });
    assert!(app.notify.email_preferences(&user(5)).await.unwrap()[0].opted_out);
    // Following the link again is fine; nobody else was touched.
    app.notify.unsubscribe(&token).await.unwrap();
    assert!(!app.notify.email_preferences(&user(6)).await.unwrap()[0].opted_out);
    app.send(&reminder(5, "u@example.com", "r:2")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn essential_mail_cannot_be_turned_off_and_preferences_need_a_signed_in_person() {
    let app = app_with(SmtpConfig::default(), Clock::system()).await;
    let Err(Error::User(errors)) = app.notify.set_email_opt_out(&user(1), EmailCategory::Essential, true).await else {
        panic!("essential mail was turned off");
    };
    assert_eq!((errors[0].field.join("."), errors[0].code), ("input.category".to_owned(), UserErrorCode::Invalid));
    assert!(matches!(
        app.notify.set_email_opt_out(&Actor::Anonymous, EmailCategory::LiveReminders, true).await,
        Err(Error::Unauthenticated)
    ));
    assert!(matches!(app.notify.email_preferences(&Actor::Anonymous).await, Err(Error::Unauthenticated)));
}

// ---------------------------------------------------------------------------------------------
// The file transport, and requests refused for good

#[tokio::test]
async fn by_default_mail_is_written_as_a_readable_eml_file_in_the_data_dir() {
    let app = app_with(SmtpConfig::default(), Clock::system()).await;
    app.send(&EmailRequested {
        recipient_user: None,
        to: "reset@example.com".into(),
        locale: "zh".into(),
        template: EmailTemplate::PasswordReset {
            link: "https://kanjian.example/reset?t=r1".into(),
            expires_in_minutes: 30,
        },
        dedupe_key: "identity.reset:9:1".into(),
    })
    .await
    .unwrap();
    let mails: Vec<Mail> = read_mails(&app.dir.path().join("mail"), "eml");
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!((mail.from.as_str(), mail.to.as_str()), (FROM, "reset@example.com"));
    assert_eq!(mail.subject, "重置你的看见密码");
    assert!(mail.text.as_deref().unwrap().contains("30 分钟内"));
    assert!(mail.text.as_deref().unwrap().contains("https://kanjian.example/reset?t=r1"));
    assert!(unescape_html(mail.html.as_deref().unwrap()).contains("https://kanjian.example/reset?t=r1"));
    assert_eq!(mail.list_unsubscribe, None);
    assert_eq!(app.emails().await[0].status, "sent");
}

#[tokio::test]
async fn requests_that_cannot_be_sent_are_refused_for_good_and_write_nothing() {
    let app = app_with(SmtpConfig::default(), Clock::system()).await;
    let mut hostile_link = verify("a@example.com", "k");
    hostile_link.template = EmailTemplate::VerifyEmail { link: "javascript:alert(1)".into() };
    assert_permanent(app.send(&hostile_link).await, "link");
    assert_permanent(app.send(&verify("not an address", "k")).await, "to");
    let mut anonymous_reminder = reminder(1, "a@example.com", "k");
    anonymous_reminder.recipient_user = None;
    assert_permanent(app.send(&anonymous_reminder).await, "recipient_user");
    let garbage = EventEnvelope { payload: serde_json::json!({"to": 1}), ..envelope(&verify("a@example.com", "k")) };
    assert_permanent(app.deliver::<EmailRequested>(&garbage).await, "decoding");
    assert!(app.emails().await.is_empty());
    assert!(read_mails(&app.dir.path().join("mail"), "eml").is_empty());

    let mut bad_kind = notification(1, "k", 1);
    bad_kind.kind = "<b>".into();
    assert_permanent(app.deliver::<NotificationRequested>(&envelope(&bad_kind)).await, "kind");
    let mut bad_payload = notification(1, "k", 1);
    bad_payload.payload = serde_json::json!([1, 2]);
    assert_permanent(app.deliver::<NotificationRequested>(&envelope(&bad_payload)).await, "payload");
    assert_eq!(app.notify.unread_count(&user(1)).await.unwrap(), 0);
}

// ---------------------------------------------------------------------------------------------
// In-app notifications

#[tokio::test]
async fn notifications_are_created_once_listed_newest_first_with_cursors_and_marked_read() {
    let clock = Clock::manual_from_now();
    let app = app_with(SmtpConfig::default(), clock.clone()).await;
    let me = user(1);

    // The same event twice, and another event with the same key: one notification.
    let event = envelope(&notification(1, "n:0", 0));
    app.deliver::<NotificationRequested>(&event).await.unwrap();
    app.deliver::<NotificationRequested>(&event).await.unwrap();
    app.deliver::<NotificationRequested>(&envelope(&notification(1, "n:0", 0))).await.unwrap();
    assert_eq!(app.notify.unread_count(&me).await.unwrap(), 1);
    // Four more; two of them at the same millisecond (the id breaks the tie).
    for n in 1..=4 {
        if n != 3 {
            clock.advance(Duration::from_secs(1));
        }
        app.deliver::<NotificationRequested>(&envelope(&notification(1, &format!("n:{n}"), n))).await.unwrap();
    }
    // Someone else's.
    app.deliver::<NotificationRequested>(&envelope(&notification(2, "n:0", 99))).await.unwrap();
    assert_eq!(app.notify.unread_count(&me).await.unwrap(), 5);

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = app.notify.notifications(&me, PageRequest { first: Some(2), after: after.clone() }).await.unwrap();
        assert_eq!(page.has_previous_page, after.is_some());
        seen.extend(page.items.iter().map(|(_, n)| n.payload["room_id"].as_i64().unwrap()));
        if !page.has_next_page {
            break;
        }
        after = Some(page.items.last().unwrap().0.clone());
    }
    assert_eq!(seen, [4, 3, 2, 1, 0], "newest first, each once");
    let all = app.notify.notifications(&me, PageRequest::default()).await.unwrap();
    assert!(all.items.iter().all(|(_, n)| n.user_id == UserId(1) && n.kind == "live.reminder" && n.read_at.is_none()));
    let ids: Vec<NotificationId> = all.items.iter().map(|(_, n)| n.id).collect();

    // Mark two read (and one of them again), then all.
    clock.advance(Duration::from_secs(1));
    assert_eq!(app.notify.mark_read(&me, MarkRead::Ids(vec![ids[0], ids[1], ids[0]])).await.unwrap(), 2);
    assert_eq!(app.notify.mark_read(&me, MarkRead::Ids(vec![ids[0]])).await.unwrap(), 0);
    assert_eq!(app.notify.unread_count(&me).await.unwrap(), 3);
    let read = app.notify.notifications_by_ids(&me, &[ids[1], ids[2]]).await.unwrap();
    assert_eq!(read[0].read_at, Some(clock.now()));
    assert_eq!(read[1].read_at, None);
    assert_eq!(app.notify.mark_read(&me, MarkRead::All).await.unwrap(), 3);
    assert_eq!(app.notify.unread_count(&me).await.unwrap(), 0);
    assert_eq!(app.notify.unread_count(&user(2)).await.unwrap(), 1, "all means all of mine");

    assert!(matches!(
        app.notify.mark_read(&me, MarkRead::Ids((1..=101).map(NotificationId).collect())).await,
        Err(Error::User(_))
    ));
    let bad_cursor = PageRequest { first: None, after: Some(kanjian_kernel::Cursor("garbage".into())) };
    assert!(matches!(app.notify.notifications(&me, bad_cursor).await, Err(Error::User(_))));
    assert!(matches!(
        app.notify.notifications(&Actor::Anonymous, PageRequest::default()).await,
        Err(Error::Unauthenticated)
    ));
    assert!(matches!(app.notify.unread_count(&Actor::Anonymous).await, Err(Error::Unauthenticated)));
}

#[tokio::test]
async fn nobody_reads_or_marks_another_persons_notifications() {
    let app = app_with(SmtpConfig::default(), Clock::system()).await;
    app.deliver::<NotificationRequested>(&envelope(&notification(1, "mine", 1))).await.unwrap();
    app.deliver::<NotificationRequested>(&envelope(&notification(2, "theirs", 2))).await.unwrap();
    let mine = app.notify.notifications(&user(1), PageRequest::default()).await.unwrap().items[0].1.id;
    let theirs = app.notify.notifications(&user(2), PageRequest::default()).await.unwrap().items[0].1.id;
    let missing = NotificationId(theirs.0 + 1000);

    // Theirs behaves exactly like one that does not exist.
    assert_eq!(app.notify.notifications_by_ids(&user(1), &[theirs]).await.unwrap(), []);
    assert_eq!(app.notify.notifications_by_ids(&user(1), &[missing]).await.unwrap(), []);
    assert_eq!(app.notify.mark_read(&user(1), MarkRead::Ids(vec![theirs])).await.unwrap(), 0);
    assert_eq!(app.notify.mark_read(&user(1), MarkRead::Ids(vec![missing])).await.unwrap(), 0);
    assert_eq!(app.notify.unread_count(&user(2)).await.unwrap(), 1);
    let got = app.notify.notifications_by_ids(&user(1), &[theirs, mine, missing]).await.unwrap();
    assert_eq!(got.iter().map(|n| n.id).collect::<Vec<_>>(), [mine]);
    assert!(matches!(app.notify.notifications_by_ids(&Actor::Anonymous, &[mine]).await, Err(Error::Unauthenticated)));
}

#[tokio::test]
async fn a_subscriber_sees_a_new_notification_delivered_through_the_dispatcher() {
    let app = app_with(SmtpConfig::default(), Clock::system()).await;
    let mut mine = app.notify.subscribe(&user(1)).await.unwrap();
    let mut theirs = app.notify.subscribe(&user(2)).await.unwrap();
    assert!(matches!(app.notify.subscribe(&Actor::Anonymous).await, Err(Error::Unauthenticated)));
    let (stop, running) = app.dispatcher().await;

    app.enqueue(&notification(1, "live.reminder:7", 7)).await;
    let got = tokio::time::timeout(Duration::from_secs(15), mine.next()).await.unwrap().unwrap();
    assert_eq!(
        (got.user_id, got.kind.as_str(), got.payload["room_id"].as_i64()),
        (UserId(1), "live.reminder", Some(7))
    );
    assert_eq!(got.read_at, None);
    let listed = app.notify.notifications(&user(1), PageRequest::default()).await.unwrap();
    assert_eq!(listed.items[0].1, got);
    // A redelivered request is not pushed again; the other person saw nothing.
    app.enqueue(&notification(1, "live.reminder:7", 7)).await;
    eventually("both deliveries done", || async {
        let d = app.deliveries("notify.create_notification").await;
        d.len() == 2 && d.iter().all(|(s, _, _)| s == "done")
    })
    .await;
    assert!(tokio::time::timeout(Duration::from_millis(200), mine.next()).await.is_err());
    assert!(tokio::time::timeout(Duration::from_millis(50), theirs.next()).await.is_err());
    assert_eq!(app.notify.unread_count(&user(1)).await.unwrap(), 1);
    stop.cancel();
    running.await.unwrap();
}
