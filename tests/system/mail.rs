//! Mail that reaches a real SMTP server (aiosmtpd): the verification link of a new account and
//! the password reset link, followed the way a person would, through GraphQL.

use std::time::Duration;

use kanjian_system_tests::TestApp;
use kanjian_system_tests::smtp::{Mail, SmtpServer, free_port, smtp_available, unescape_html};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";
const NEW_PASSWORD: &str = "a brand new passphrase";
const VERIFY_EMAIL: &str = "mutation($input: VerifyEmailInput!) { verifyEmail(input: $input) { user { id email emailVerified } userErrors { field message code } } }";
const REQUEST_VERIFICATION: &str = "mutation { requestEmailVerification { accepted userErrors { field message code } } }";
const REQUEST_RESET: &str = "mutation($input: RequestPasswordResetInput!) { requestPasswordReset(input: $input) { accepted userErrors { field message code } } }";
const RESET_PASSWORD: &str = "mutation($input: ResetPasswordInput!) { resetPassword(input: $input) { passwordChanged userErrors { field message code } } }";
const LOG_IN: &str = "mutation($input: LogInInput!) { logIn(input: $input) { token userErrors { field message code } } }";
const VIEWER: &str = "{ viewer { id email emailVerified } }";

/// The server, sending mail through a real SMTP server on this machine.
pub(crate) async fn app_with_smtp(test: &str) -> Option<(TestApp, SmtpServer, tempfile::TempDir)> {
    if !smtp_available(test) {
        return None;
    }
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(port, &dir.path().join("inbox"));
    let app = TestApp::spawn_with(|config| {
        let relay = &mut config.modules.notify.smtp;
        relay.host = Some("127.0.0.1".into());
        relay.port = Some(port);
        relay.tls = kanjian_notify::SmtpTls::None;
        relay.timeout_secs = 5;
    })
    .await;
    Some((app, smtp, dir))
}

fn codes(payload: &Value) -> Vec<(String, String)> {
    payload["userErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let field = e["field"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect::<Vec<_>>();
            (field.join("."), e["code"].as_str().unwrap().to_owned())
        })
        .collect()
}

fn top_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or("<none>")
}

/// The one link to `path` in a mail: the same in both parts, to this server. Returns its token.
pub(crate) fn link_token(app: &TestApp, mail: &Mail, path: &str) -> String {
    let text = mail.text.as_deref().expect("a text/plain part");
    let html = unescape_html(mail.html.as_deref().expect("a text/html part"));
    let prefix = format!("{}{path}?token=", app.base);
    let start = text.find(&prefix).unwrap_or_else(|| panic!("no {prefix} link in {text}"));
    let token: String = text[start + prefix.len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert_eq!(token.len(), 43, "{text}");
    assert!(html.contains(&format!("href=\"{prefix}{token}\"")), "{html}");
    token
}

/// Waits until the dispatcher has nothing left to deliver (no event waits to be fanned out, no
/// delivery is pending), so mail that was going to be sent has been.
async fn settled(app: &TestApp) {
    let db = app.database().await;
    app.eventually(Duration::from_secs(20), || {
        let db = &db;
        async move {
            let count = |sql: &'static str| async move {
                let row = db
                    .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
                    .await
                    .unwrap()
                    .unwrap();
                row.try_get::<i64>("", "n").unwrap()
            };
            let waiting = count("SELECT COUNT(*) AS n FROM events_outbox WHERE NOT fanned_out").await
                + count("SELECT COUNT(*) AS n FROM events_deliveries WHERE status = 'pending'").await;
            (waiting == 0).then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn the_verification_mail_of_a_new_account_verifies_it_once() {
    let Some((app, smtp, _dir)) = app_with_smtp("the_verification_mail_of_a_new_account_verifies_it_once").await else {
        return;
    };
    let (token, user) = app.sign_up("Li.Lei@Example.com").await;
    let viewer = app.data(Some(&token), VIEWER, json!({})).await;
    assert_eq!(viewer["viewer"]["emailVerified"], false);

    let mails = smtp.wait_for(1).await;
    let mail = &mails[0];
    assert_eq!(mail.to, "li.lei@example.com");
    assert_eq!(mail.from, "no-reply@kanjian.localhost");
    assert_eq!(mail.from_name.as_deref(), Some("Kanjian 看见"));
    assert_eq!(mail.subject, "请验证你的邮箱地址");
    assert_eq!(mail.content_type, "multipart/alternative");
    // Essential mail: no unsubscribe.
    assert_eq!(mail.list_unsubscribe, None);
    let link = link_token(&app, mail, "/verify-email");

    // Following the link needs no sign-in; the payload shows the private fields to the owner only.
    let verified = app.data(None, VERIFY_EMAIL, json!({ "input": { "token": link } })).await;
    assert_eq!(codes(&verified["verifyEmail"]), []);
    assert_eq!(verified["verifyEmail"]["user"]["id"], user);
    assert_eq!(verified["verifyEmail"]["user"]["emailVerified"], Value::Null);
    let viewer = app.data(Some(&token), VIEWER, json!({})).await;
    assert_eq!(viewer["viewer"], json!({ "id": user, "email": "li.lei@example.com", "emailVerified": true }));

    // Twice: refused.
    let again = app.data(None, VERIFY_EMAIL, json!({ "input": { "token": link } })).await;
    assert_eq!(codes(&again["verifyEmail"]), [("input.token".to_owned(), "INVALID".to_owned())]);
    assert_eq!(again["verifyEmail"]["user"], Value::Null);
    // Verified: no more verification mail.
    let more = app.data(Some(&token), REQUEST_VERIFICATION, json!({})).await;
    assert_eq!(codes(&more["requestEmailVerification"]), [(String::new(), "INVALID_STATE".to_owned())]);
    let anonymous = app.graphql(None, REQUEST_VERIFICATION, json!({})).await;
    assert_eq!(top_code(&anonymous), "UNAUTHENTICATED");
    settled(&app).await;
    assert_eq!(smtp.messages().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_password_reset_mail_sets_a_new_password_once_and_ends_every_session() {
    let Some((app, smtp, _dir)) = app_with_smtp("a_password_reset_mail_sets_a_new_password_once_and_ends_every_session").await else {
        return;
    };
    let (old_token, user) = app.sign_up("hanmeimei@example.com").await;
    smtp.wait_for(1).await;

    let asked = app.data(None, REQUEST_RESET, json!({ "input": { "email": "HanMeimei@example.com" } })).await;
    assert_eq!(asked["requestPasswordReset"], json!({ "accepted": true, "userErrors": [] }));
    let mails = smtp.wait_for(2).await;
    let mail = mails.iter().find(|m| m.subject == "重置你的看见密码").expect("the reset mail");
    assert_eq!(mail.to, "hanmeimei@example.com");
    assert!(mail.text.as_deref().unwrap().contains("30 分钟"), "{:?}", mail.text);
    let link = link_token(&app, mail, "/reset-password");

    // A weak password is refused and the link still works after it.
    let weak = app.data(None, RESET_PASSWORD, json!({ "input": { "token": link, "newPassword": "password1" } })).await;
    assert_eq!(codes(&weak["resetPassword"]), [("input.newPassword".to_owned(), "WEAK_PASSWORD".to_owned())]);
    assert_eq!(app.data(Some(&old_token), VIEWER, json!({})).await["viewer"]["id"], user);

    let reset = app.data(None, RESET_PASSWORD, json!({ "input": { "token": link, "newPassword": NEW_PASSWORD } })).await;
    assert_eq!(reset["resetPassword"], json!({ "passwordChanged": true, "userErrors": [] }));
    // The session from before is over; the old password is too; the new one works.
    let stale = app.graphql(Some(&old_token), VIEWER, json!({})).await;
    assert_eq!(top_code(&stale), "UNAUTHENTICATED", "{stale:#}");
    let old = app.data(None, LOG_IN, json!({ "input": { "email": "hanmeimei@example.com", "password": PASSWORD } })).await;
    assert_eq!(codes(&old["logIn"]), [(String::new(), "INVALID_CREDENTIALS".to_owned())]);
    let new = app.data(None, LOG_IN, json!({ "input": { "email": "hanmeimei@example.com", "password": NEW_PASSWORD } })).await;
    let new_token = new["logIn"]["token"].as_str().expect("a session with the new password");
    // The link proved the mailbox.
    let viewer = app.data(Some(new_token), VIEWER, json!({})).await;
    assert_eq!(viewer["viewer"]["emailVerified"], true);

    // The link works once.
    let again = app.data(None, RESET_PASSWORD, json!({ "input": { "token": link, "newPassword": "yet another passphrase" } })).await;
    assert_eq!(codes(&again["resetPassword"]), [("input.token".to_owned(), "INVALID".to_owned())]);
    assert_eq!(again["resetPassword"]["passwordChanged"], Value::Null);
    app.stop().await;
}

#[tokio::test]
async fn a_reset_for_an_unknown_email_gets_the_same_answer_and_no_mail() {
    let Some((app, smtp, _dir)) = app_with_smtp("a_reset_for_an_unknown_email_gets_the_same_answer_and_no_mail").await else {
        return;
    };
    app.sign_up("lilei@example.com").await;
    smtp.wait_for(1).await;

    let unknown = app.graphql(None, REQUEST_RESET, json!({ "input": { "email": "nobody@example.com" } })).await;
    let known = app.graphql(None, REQUEST_RESET, json!({ "input": { "email": "lilei@example.com" } })).await;
    assert_eq!(unknown, known);
    assert_eq!(known, json!({ "data": { "requestPasswordReset": { "accepted": true, "userErrors": [] } } }));

    // The known email's mail arrives; once the dispatcher is idle, that is all that came.
    smtp.wait_for(2).await;
    settled(&app).await;
    let mails = smtp.messages();
    assert_eq!(mails.iter().map(|m| m.to.as_str()).collect::<Vec<_>>(), ["lilei@example.com", "lilei@example.com"]);
    app.stop().await;
}
