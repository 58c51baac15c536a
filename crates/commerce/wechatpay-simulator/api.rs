//! WeChat Pay's API as a directly connected merchant calls it: Native order, order query by
//! `out_trade_no`, refund. Every request must be signed by the merchant (else 401 SIGN_ERROR,
//! unsigned, as WeChat Pay answers); every other answer is signed with the platform key.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::delivery::{self, About};
use crate::state::{ALNUM, DIGITS, Order, Refund, Sim, TradeState, beijing, now_beijing, random, uuid};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v3/pay/transactions/native", web::post().to(native))
        .route("/v3/pay/transactions/out-trade-no/{out_trade_no}", web::get().to(query))
        .route("/v3/refund/domestic/refunds", web::post().to(refund));
}

/// An answer before signing.
type Answer = (StatusCode, Value);

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Answer {
    (status, json!({ "code": code, "message": message.into() }))
}

fn param_error(message: impl Into<String>) -> Answer {
    error(StatusCode::BAD_REQUEST, "PARAM_ERROR", message)
}

async fn native(sim: Data<Arc<Sim>>, req: HttpRequest, body: Bytes) -> HttpResponse {
    serve(&sim, &req, &body, |sim| create_native(sim, &body)).await
}

async fn query(sim: Data<Arc<Sim>>, req: HttpRequest, body: Bytes, path: web::Path<String>) -> HttpResponse {
    serve(&sim, &req, &body, |sim| query_order(sim, &path, req.query_string())).await
}

async fn refund(sim: Data<Arc<Sim>>, req: HttpRequest, body: Bytes) -> HttpResponse {
    serve(&sim, &req, &body, |sim| create_refund(sim, &body)).await
}

/// Faults, authentication, the operation, and the signed answer.
async fn serve(sim: &Arc<Sim>, req: &HttpRequest, body: &[u8], operation: impl FnOnce(&Arc<Sim>) -> Answer) -> HttpResponse {
    let (fail, slow, bad_signature, unsigned) = {
        let mut s = sim.state();
        let f = &mut s.api_faults;
        let take = |n: &mut u32| {
            let hit = *n > 0;
            *n = n.saturating_sub(1);
            hit
        };
        let fail = take(&mut f.fail_next).then(|| f.fail_status.unwrap_or(500));
        let slow = take(&mut f.slow_next).then_some(f.slow_ms);
        (fail, slow, take(&mut f.bad_signature_next), take(&mut f.unsigned_next))
    };
    if let Some(ms) = slow {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(status) = fail {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return HttpResponse::build(status).content_type("application/json").body(json!({"code": "SYSTEM_ERROR", "message": "系统错误"}).to_string());
    }
    if let Err(why) = authenticate(sim, req, body) {
        // Unsigned: WeChat Pay cannot tell who asked.
        let detail = json!({"code": "SIGN_ERROR", "message": "错误的签名，验签失败", "detail": {"detail": {"issue": why}}});
        return HttpResponse::Unauthorized().content_type("application/json").insert_header(("request-id", uuid())).body(detail.to_string());
    }
    let (status, answer) = match req.headers().get("wechatpay-serial").map(|v| v.to_str().unwrap_or_default()) {
        Some(serial) if serial != sim.settings.platform_key_id => {
            error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", format!("Wechatpay-Serial {serial} 不是有效的微信支付公钥ID"))
        }
        _ => operation(sim),
    };
    let body = answer.to_string();
    let timestamp = Utc::now().timestamp().to_string();
    let nonce = random(32, ALNUM);
    let mut message = format!("{timestamp}\n{nonce}\n").into_bytes();
    message.extend_from_slice(body.as_bytes());
    message.push(b'\n');
    let mut signature = sim.platform.sign(&message);
    if bad_signature {
        signature = crate::crypto::corrupt(&signature);
    }
    let mut response = HttpResponse::build(status);
    response.content_type("application/json").insert_header(("request-id", uuid()));
    if !unsigned {
        response
            .insert_header(("wechatpay-nonce", nonce))
            .insert_header(("wechatpay-signature", signature))
            .insert_header(("wechatpay-timestamp", timestamp))
            .insert_header(("wechatpay-serial", sim.settings.platform_key_id.clone()))
            .insert_header(("wechatpay-signature-type", "WECHATPAY2-SHA256-RSA2048"));
    }
    response.body(body)
}

/// Checks `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",signature="…",
/// timestamp="…",serial_no="…"` against the request as received.
fn authenticate(sim: &Sim, req: &HttpRequest, body: &[u8]) -> Result<(), String> {
    let header = req.headers().get("authorization").ok_or("no Authorization header")?.to_str().map_err(|_| "Authorization is not text")?;
    let params = header.strip_prefix("WECHATPAY2-SHA256-RSA2048 ").ok_or("the scheme is not WECHATPAY2-SHA256-RSA2048")?;
    let mut fields = std::collections::HashMap::new();
    for part in params.split(',') {
        let (key, value) = part.trim().split_once('=').ok_or("a malformed Authorization parameter")?;
        let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).ok_or("an Authorization value not in quotes")?;
        fields.insert(key.to_owned(), value.to_owned());
    }
    let field = |name: &str| fields.get(name).cloned().ok_or(format!("no {name} in Authorization"));
    let (mchid, nonce, signature, timestamp, serial_no) =
        (field("mchid")?, field("nonce_str")?, field("signature")?, field("timestamp")?, field("serial_no")?);
    if mchid != sim.settings.mchid {
        return Err(format!("unknown mchid {mchid}"));
    }
    if serial_no != sim.settings.merchant_serial_no {
        return Err(format!("serial_no {serial_no} is not the merchant's certificate"));
    }
    let sent: i64 = timestamp.parse().map_err(|_| "the timestamp is not a number")?;
    if (Utc::now().timestamp() - sent).abs() > sim.settings.request_window_secs {
        return Err("the request timestamp is expired".into());
    }
    let path = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut message = format!("{}\n{path}\n{timestamp}\n{nonce}\n", req.method().as_str()).into_bytes();
    message.extend_from_slice(body);
    message.push(b'\n');
    if !sim.merchant.verify(&message, &signature) {
        return Err("sign not match".into());
    }
    Ok(())
}

#[derive(Deserialize)]
struct NativeIn {
    appid: String,
    mchid: String,
    description: String,
    out_trade_no: String,
    #[serde(default)]
    time_expire: Option<String>,
    #[serde(default)]
    attach: Option<String>,
    notify_url: String,
    amount: AmountIn,
}

#[derive(Deserialize)]
struct AmountIn {
    total: i64,
    #[serde(default)]
    currency: Option<String>,
}

fn valid_out_trade_no(no: &str) -> bool {
    (1..=32).contains(&no.len()) && no.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-*".contains(&b))
}

fn valid_notify_url(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://")) && url.len() <= 255 && !url.contains('?')
}

fn create_native(sim: &Sim, body: &[u8]) -> Answer {
    let order: NativeIn = match serde_json::from_slice(body) {
        Ok(o) => o,
        Err(e) => return param_error(format!("请求参数有误: {e}")),
    };
    if order.mchid != sim.settings.mchid {
        return error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "请求的商户号与签名的商户号不一致");
    }
    if order.appid != sim.settings.appid {
        return error(StatusCode::BAD_REQUEST, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配");
    }
    if !(1..=127).contains(&order.description.chars().count()) {
        return param_error("description 长度须为 1 至 127");
    }
    if !valid_out_trade_no(&order.out_trade_no) {
        return param_error("out_trade_no 只能是数字、大小写字母_-*，且不超过 32 个字符");
    }
    if !valid_notify_url(&order.notify_url) {
        return param_error("notify_url 格式错误（须为 http(s) 地址，不能携带参数）");
    }
    let currency = order.amount.currency.clone().unwrap_or_else(|| "CNY".into());
    if order.amount.total < 1 || currency != "CNY" {
        return param_error("amount.total 须为正整数（分），currency 须为 CNY");
    }
    let expires_at = match order.time_expire.as_deref().map(DateTime::parse_from_rfc3339).transpose() {
        Ok(at) => at,
        Err(_) => return param_error("time_expire 格式错误，须为 rfc3339"),
    };
    let mut s = sim.state();
    if let Some(existing) = s.orders.get_mut(&order.out_trade_no) {
        existing.expire(Utc::now());
        return match existing.state {
            TradeState::Success | TradeState::Refund => error(StatusCode::BAD_REQUEST, "ORDERPAID", "该订单已支付"),
            TradeState::Closed => error(StatusCode::BAD_REQUEST, "ORDER_CLOSED", "订单已关闭"),
            TradeState::Notpay
                if existing.description == order.description
                    && existing.total == order.amount.total
                    && existing.notify_url == order.notify_url
                    && existing.time_expire == order.time_expire =>
            {
                (StatusCode::OK, json!({ "code_url": existing.code_url }))
            }
            TradeState::Notpay => error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "201 商户订单号重复"),
        };
    }
    let code_url = format!("weixin://wxpay/bizpayurl?pr={}", random(9, ALNUM));
    s.orders.insert(
        order.out_trade_no.clone(),
        Order {
            appid: order.appid,
            mchid: order.mchid,
            description: order.description,
            out_trade_no: order.out_trade_no,
            notify_url: order.notify_url,
            total: order.amount.total,
            currency,
            time_expire: order.time_expire,
            expires_at,
            attach: order.attach,
            code_url: code_url.clone(),
            state: TradeState::Notpay,
            transaction_id: None,
            success_time: None,
            openid: format!("oUpF8u{}", random(22, ALNUM)),
            refunded: 0,
        },
    );
    (StatusCode::OK, json!({ "code_url": code_url }))
}

fn query_order(sim: &Sim, out_trade_no: &str, query: &str) -> Answer {
    let mchid = query.split('&').find_map(|kv| kv.strip_prefix("mchid="));
    match mchid {
        None => return param_error("缺少参数 mchid"),
        Some(m) if m != sim.settings.mchid => return error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "请求的商户号与签名的商户号不一致"),
        Some(_) => {}
    }
    let mut s = sim.state();
    let Some(order) = s.orders.get_mut(out_trade_no) else {
        return error(StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在");
    };
    order.expire(Utc::now());
    (StatusCode::OK, order.transaction_json())
}

#[derive(Deserialize)]
struct RefundIn {
    #[serde(default)]
    transaction_id: Option<String>,
    #[serde(default)]
    out_trade_no: Option<String>,
    out_refund_no: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    notify_url: Option<String>,
    amount: RefundAmountIn,
}

#[derive(Deserialize)]
struct RefundAmountIn {
    refund: i64,
    total: i64,
    currency: String,
}

fn create_refund(sim: &Arc<Sim>, body: &[u8]) -> Answer {
    let request: RefundIn = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return param_error(format!("请求参数有误: {e}")),
    };
    let valid_refund_no = (1..=64).contains(&request.out_refund_no.len())
        && request.out_refund_no.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-|*@".contains(&b));
    if !valid_refund_no {
        return param_error("out_refund_no 格式错误");
    }
    if request.amount.currency != "CNY" || request.amount.refund < 1 {
        return param_error("amount.refund 须为正整数（分），currency 须为 CNY");
    }
    if request.reason.as_deref().is_some_and(|r| r.chars().count() > 80) {
        return param_error("reason 不能超过 80 个字符");
    }
    if request.notify_url.as_deref().is_some_and(|u| !valid_notify_url(u)) {
        return param_error("notify_url 格式错误");
    }
    let mut s = sim.state();
    let found = s.orders.values().find(|o| match (&request.transaction_id, &request.out_trade_no) {
        (Some(t), _) => o.transaction_id.as_ref() == Some(t),
        (None, Some(no)) => &o.out_trade_no == no,
        (None, None) => false,
    });
    let Some(order) = found else {
        return error(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "订单不存在");
    };
    let out_trade_no = order.out_trade_no.clone();
    if let Some(existing) = s.refunds.get(&request.out_refund_no) {
        // The same refund asked again refunds once: its current state.
        return if existing.out_trade_no == out_trade_no && existing.refund == request.amount.refund {
            (StatusCode::OK, existing.answer_json())
        } else {
            error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "退款单号重复，且参数与原请求不一致")
        };
    }
    let Some(order) = s.orders.get_mut(&out_trade_no) else {
        return error(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "订单不存在");
    };
    let Some(transaction_id) = order.transaction_id.clone() else {
        return error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "订单未支付，不能退款");
    };
    if request.amount.total != order.total {
        return error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "订单金额与原订单金额不一致");
    }
    if request.amount.refund > order.total - order.refunded {
        return error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "申请退款金额超过订单可退金额");
    }
    order.refunded += request.amount.refund;
    order.state = TradeState::Refund;
    let behaviour = s.refund_behaviour.clone();
    let succeeded = behaviour.answer == "SUCCESS";
    let refund = Refund {
        refund_id: format!("5030{}", random(25, DIGITS)),
        out_refund_no: request.out_refund_no.clone(),
        out_trade_no,
        transaction_id,
        refund: request.amount.refund,
        total: request.amount.total,
        notify_url: request.notify_url,
        status: if succeeded { "SUCCESS".into() } else { "PROCESSING".into() },
        create_time: now_beijing(),
        success_time: succeeded.then(now_beijing),
    };
    let answer = refund.answer_json();
    s.refunds.insert(request.out_refund_no.clone(), refund);
    drop(s);
    if succeeded {
        let _ = refund_notification(sim, &request.out_refund_no, None);
    } else if let Some(then) = behaviour.then {
        // The refund ends by itself, after this answer has gone.
        let (sim, out_refund_no) = (sim.clone(), request.out_refund_no);
        let delay = Duration::from_millis(behaviour.delay_ms);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Err(why) = complete_refund(&sim, &out_refund_no, &then, None) {
                eprintln!("wechatpay-simulator: refund {out_refund_no} did not end: {why}");
            }
        });
    }
    (StatusCode::OK, answer)
}

/// Ends a `PROCESSING` refund with `status` and notifies; the notification's id.
pub fn complete_refund(sim: &Sim, out_refund_no: &str, status: &str, fault: Option<crate::state::Fault>) -> Result<String, String> {
    if !matches!(status, "SUCCESS" | "ABNORMAL" | "CLOSED") {
        return Err(format!("a refund ends SUCCESS, ABNORMAL or CLOSED, not {status}"));
    }
    {
        let mut s = sim.state();
        let Some(refund) = s.refunds.get_mut(out_refund_no) else { return Err(format!("no refund {out_refund_no}")) };
        if refund.status != "PROCESSING" {
            return Err(format!("refund {out_refund_no} is {}", refund.status));
        }
        refund.status = status.to_owned();
        if status == "SUCCESS" {
            refund.success_time = Some(now_beijing());
        }
        let (out_trade_no, amount) = (refund.out_trade_no.clone(), refund.refund);
        if status == "CLOSED"
            && let Some(order) = s.orders.get_mut(&out_trade_no)
        {
            order.refunded -= amount;
        }
    }
    refund_notification(sim, out_refund_no, fault)
}

/// The `REFUND.*` notification of a refund in its current state, to its `notify_url`.
fn refund_notification(sim: &Sim, out_refund_no: &str, fault: Option<crate::state::Fault>) -> Result<String, String> {
    let (notify_url, resource, status, out_trade_no) = {
        let s = sim.state();
        let Some(refund) = s.refunds.get(out_refund_no) else { return Err(format!("no refund {out_refund_no}")) };
        let Some(url) = refund.notify_url.clone() else { return Err(format!("refund {out_refund_no} has no notify_url")) };
        (url, refund.resource_json(&sim.settings.mchid), refund.status.clone(), refund.out_trade_no.clone())
    };
    let (event_type, summary) = match status.as_str() {
        "SUCCESS" => ("REFUND.SUCCESS", "退款成功"),
        "ABNORMAL" => ("REFUND.ABNORMAL", "退款异常"),
        _ => ("REFUND.CLOSED", "退款关闭"),
    };
    let about = About { event_type, summary, original_type: "refund", out_trade_no: &out_trade_no, out_refund_no: Some(out_refund_no) };
    delivery::notify(sim, &notify_url, about, &resource, fault).map_err(|e| format!("{e:#}"))
}

/// Marks an order paid, as if the payer scanned and paid, and notifies: (transaction_id,
/// notification id).
pub fn pay(sim: &Sim, out_trade_no: &str, fault: Option<crate::state::Fault>) -> Result<(String, String), (StatusCode, String)> {
    let (transaction_id, notify_url, resource) = {
        let mut s = sim.state();
        let Some(order) = s.orders.get_mut(out_trade_no) else {
            return Err((StatusCode::NOT_FOUND, format!("no order {out_trade_no}")));
        };
        order.expire(Utc::now());
        if order.state != TradeState::Notpay {
            return Err((StatusCode::CONFLICT, format!("order {out_trade_no} is {:?}", order.state)));
        }
        let transaction_id = format!("4200{}{}", Utc::now().format("%Y%m%d"), random(16, DIGITS));
        order.state = TradeState::Success;
        order.transaction_id = Some(transaction_id.clone());
        order.success_time = Some(beijing(Utc::now()));
        (transaction_id, order.notify_url.clone(), order.transaction_json())
    };
    let about = About { event_type: "TRANSACTION.SUCCESS", summary: "支付成功", original_type: "transaction", out_trade_no, out_refund_no: None };
    let id = delivery::notify(sim, &notify_url, about, &resource, fault).map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))?;
    Ok((transaction_id, id))
}

/// Closes an unpaid order (as the merchant's close call or its expiry would).
pub fn close(sim: &Sim, out_trade_no: &str) -> Result<(), (StatusCode, String)> {
    let mut s = sim.state();
    let Some(order) = s.orders.get_mut(out_trade_no) else {
        return Err((StatusCode::NOT_FOUND, format!("no order {out_trade_no}")));
    };
    match order.state {
        TradeState::Notpay | TradeState::Closed => {
            order.state = TradeState::Closed;
            Ok(())
        }
        state => Err((StatusCode::CONFLICT, format!("order {out_trade_no} is {state:?}"))),
    }
}
