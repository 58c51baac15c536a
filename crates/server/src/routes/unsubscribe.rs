//! The unsubscribe link in non-essential mail (`/unsubscribe?token=…`). `GET` only asks to
//! confirm, since mail scanners open links on their own; `POST` turns the mail's kind of email off,
//! and is also what mail clients send for one-click unsubscribe (RFC 8058, body
//! `List-Unsubscribe=One-Click`). No sign-in: the token is the permission.

use actix_web::{HttpResponse, web};
use kanjian_contracts::notify::{EmailCategory, NotifyApi};
use serde::Deserialize;

use crate::app::AppState;

#[derive(Deserialize)]
pub(crate) struct TokenQuery {
    #[serde(default)]
    token: String,
}

fn page(status: actix_web::http::StatusCode, body: &str) -> HttpResponse {
    super::html::page(status, "看见 Kanjian", body)
}

/// Tokens are base64url; anything else cannot be one and is not echoed into the page.
fn plausible(token: &str) -> bool {
    !token.is_empty() && token.len() <= 128 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn not_valid() -> HttpResponse {
    page(
        actix_web::http::StatusCode::NOT_FOUND,
        "<p>此链接无效或已失效。</p><p>This link is not valid.</p>",
    )
}

pub(crate) async fn confirm(query: web::Query<TokenQuery>) -> HttpResponse {
    if !plausible(&query.token) {
        return not_valid();
    }
    page(
        actix_web::http::StatusCode::OK,
        &format!(
            "<p>不再接收此类邮件？</p><p>Stop receiving this kind of email?</p>\
             <form method=\"post\" action=\"/unsubscribe?token={}\"><button type=\"submit\">退订 Unsubscribe</button></form>",
            query.token
        ),
    )
}

pub(crate) async fn unsubscribe(state: web::Data<AppState>, query: web::Query<TokenQuery>) -> HttpResponse {
    if !plausible(&query.token) {
        return not_valid();
    }
    let notify = match state.services.apis.get::<dyn NotifyApi>() {
        Ok(notify) => notify,
        Err(e) => {
            tracing::error!(error = ?e, "no notify module to unsubscribe with");
            return HttpResponse::InternalServerError().finish();
        }
    };
    match notify.unsubscribe(&query.token).await {
        Ok(done) => {
            let what = match done.category {
                EmailCategory::LiveReminders => "开播提醒 / live reminders",
                EmailCategory::Essential => "",
            };
            page(
                actix_web::http::StatusCode::OK,
                &format!("<p>已退订：{what}。</p><p>You are unsubscribed. You can turn it back on in your settings.</p>"),
            )
        }
        Err(kanjian_kernel::Error::NotFound(_)) => not_valid(),
        Err(e) => {
            tracing::error!(error = ?e, "unsubscribing failed");
            page(
                actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
                "<p>出错了，请稍后再试。</p><p>Something went wrong; please try again later.</p>",
            )
        }
    }
}
