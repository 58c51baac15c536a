//! Payments over HTTP: providers' notifications (webhooks) at `/payments/notify/<provider>`, and
//! the sandbox provider's payment page at `/pay/sandbox/<token>` (GET shows it, POST decides).
//! Both are commerce's (`PaymentGateway`); this is only their HTTP.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use kanjian_contracts::commerce::{PaymentGateway, SandboxCheckoutDto};
use serde::Deserialize;

use super::{auth, html};
use crate::app::AppState;

/// The largest notification body taken: WeChat Pay's are about 1 KiB.
pub(crate) const MAX_NOTIFICATION_BYTES: usize = 64 * 1024;

fn gateway(state: &AppState) -> Option<std::sync::Arc<dyn PaymentGateway>> {
    state
        .services
        .apis
        .get::<dyn PaymentGateway>()
        .map_err(|e| tracing::error!(error = ?e, "no commerce module to take payments"))
        .ok()
}

pub(crate) async fn notify(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>, body: web::Bytes) -> HttpResponse {
    let Some(gateway) = gateway(&state) else {
        return HttpResponse::ServiceUnavailable().finish();
    };
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter_map(|(name, value)| value.to_str().ok().map(|v| (name.as_str().to_ascii_lowercase(), v.to_owned())))
        .collect();
    let reply = gateway.receive_notification(&path, &headers, &body).await;
    HttpResponse::build(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .content_type(reply.content_type)
        .body(reply.body)
}

/// Tokens are base64url; anything else cannot be one and is never echoed.
fn plausible(token: &str) -> bool {
    !token.is_empty() && token.len() <= 64 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn checkout_page(token: &str, checkout: &SandboxCheckoutDto) -> HttpResponse {
    let state = match checkout.state.as_str() {
        "OPEN" => format!(
            "<p>沙箱支付：不会真的扣款。<br>Sandbox payment: nothing is charged.</p>\
             <form method=\"post\" action=\"/pay/sandbox/{token}\" style=\"display:inline\">\
             <button name=\"decision\" value=\"pay\" type=\"submit\">支付 Pay</button></form> \
             <form method=\"post\" action=\"/pay/sandbox/{token}\" style=\"display:inline\">\
             <button name=\"decision\" value=\"fail\" type=\"submit\">支付失败 Fail</button></form>\
             <p style=\"font-size:13px;color:#666\">请在 {} 前支付 · Pay before {}</p>",
            checkout.expires_at.to_rfc3339(),
            checkout.expires_at.to_rfc3339(),
        ),
        "PAID" => "<p id=\"result\">已支付 · Paid</p>".to_owned(),
        "FAILED" => "<p id=\"result\">支付失败 · Payment failed</p>".to_owned(),
        "REFUNDED" => "<p id=\"result\">已退款 · Refunded</p>".to_owned(),
        _ => "<p id=\"result\">已关闭 · Closed: this payment can no longer be made.</p>".to_owned(),
    };
    html::page(
        StatusCode::OK,
        "看见 Kanjian · 支付",
        &format!("<h1>{}</h1><p style=\"font-size:2em\">{}</p>{state}", html::escape(&checkout.description), checkout.amount),
    )
}

fn not_found() -> HttpResponse {
    html::page(StatusCode::NOT_FOUND, "看见 Kanjian · 支付", "<p>没有这笔支付 · No such payment.</p>")
}

pub(crate) async fn sandbox_page(state: web::Data<AppState>, path: web::Path<String>) -> HttpResponse {
    if !plausible(&path) {
        return not_found();
    }
    let Some(gateway) = gateway(&state) else {
        return HttpResponse::ServiceUnavailable().finish();
    };
    match gateway.sandbox_checkout(&path).await {
        Ok(checkout) => checkout_page(&path, &checkout),
        Err(kanjian_kernel::Error::NotFound(_)) => not_found(),
        Err(e) => auth::error_response(&e),
    }
}

#[derive(Deserialize)]
pub(crate) struct Decision {
    decision: String,
}

pub(crate) async fn sandbox_decide(state: web::Data<AppState>, path: web::Path<String>, form: web::Form<Decision>) -> HttpResponse {
    if !plausible(&path) {
        return not_found();
    }
    let pay = match form.decision.as_str() {
        "pay" => true,
        "fail" => false,
        _ => return html::page(StatusCode::BAD_REQUEST, "看见 Kanjian · 支付", "<p>decision must be pay or fail</p>"),
    };
    let Some(gateway) = gateway(&state) else {
        return HttpResponse::ServiceUnavailable().finish();
    };
    match gateway.sandbox_decide(&path, pay).await {
        Ok(checkout) => checkout_page(&path, &checkout),
        Err(kanjian_kernel::Error::NotFound(_)) => not_found(),
        Err(e) => auth::error_response(&e),
    }
}
