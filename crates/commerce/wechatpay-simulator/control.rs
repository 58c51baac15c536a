//! The control API tests drive the simulator with (`/_sim/…`, unauthenticated: bind it to
//! loopback only). See README.md.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::web::{self, Data, Json, Path};
use actix_web::{HttpResponse, Responder};
use serde::Deserialize;
use serde_json::json;

use crate::api;
use crate::delivery;
use crate::state::{ApiFaults, Fault, RefundBehaviour, Sim};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/_sim/health", web::get().to(health))
        .route("/_sim/orders/{out_trade_no}", web::get().to(order))
        .route("/_sim/orders/{out_trade_no}/pay", web::post().to(pay))
        .route("/_sim/orders/{out_trade_no}/close", web::post().to(close))
        .route("/_sim/refunds/{out_refund_no}/complete", web::post().to(complete_refund))
        .route("/_sim/refund-behaviour", web::put().to(refund_behaviour))
        .route("/_sim/faults/api", web::put().to(api_faults))
        .route("/_sim/faults/notifications", web::put().to(all_notifications))
        .route("/_sim/faults/next-notification", web::post().to(next_notification))
        .route("/_sim/notifications", web::get().to(notifications))
        .route("/_sim/notifications/release", web::post().to(release))
        .route("/_sim/deliveries", web::get().to(deliveries));
}

fn failed(status: StatusCode, why: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": why.into() }))
}

async fn health() -> impl Responder {
    "ok"
}

async fn order(sim: Data<Arc<Sim>>, no: Path<String>) -> HttpResponse {
    let s = sim.state();
    match s.orders.get(no.as_str()) {
        Some(o) => {
            let mut t = o.transaction_json();
            t["refunded"] = o.refunded.into();
            t["code_url"] = o.code_url.clone().into();
            t["notify_url"] = o.notify_url.clone().into();
            t["time_expire"] = o.time_expire.clone().into();
            HttpResponse::Ok().json(t)
        }
        None => failed(StatusCode::NOT_FOUND, format!("no order {no}")),
    }
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct WithFault {
    fault: Option<Fault>,
}

/// The body is optional: an empty one means no fault of its own.
fn with_fault(body: &[u8]) -> Result<Option<Fault>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice::<WithFault>(body).map(|w| w.fault).map_err(|e| e.to_string())
}

async fn pay(sim: Data<Arc<Sim>>, no: Path<String>, body: web::Bytes) -> HttpResponse {
    let fault = match with_fault(&body) {
        Ok(f) => f,
        Err(why) => return failed(StatusCode::BAD_REQUEST, why),
    };
    match api::pay(&sim, &no, fault) {
        Ok((transaction_id, notification_id)) => HttpResponse::Ok().json(json!({ "transaction_id": transaction_id, "notification_id": notification_id })),
        Err((status, why)) => failed(status, why),
    }
}

async fn close(sim: Data<Arc<Sim>>, no: Path<String>) -> HttpResponse {
    match api::close(&sim, &no) {
        Ok(()) => HttpResponse::Ok().json(json!({})),
        Err((status, why)) => failed(status, why),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Complete {
    status: String,
    #[serde(default)]
    fault: Option<Fault>,
}

async fn complete_refund(sim: Data<Arc<Sim>>, no: Path<String>, body: Json<Complete>) -> HttpResponse {
    let body = body.into_inner();
    match api::complete_refund(&sim, &no, &body.status, body.fault) {
        Ok(id) => HttpResponse::Ok().json(json!({ "notification_id": id })),
        Err(why) => failed(StatusCode::CONFLICT, why),
    }
}

async fn refund_behaviour(sim: Data<Arc<Sim>>, body: Json<RefundBehaviour>) -> HttpResponse {
    let b = body.into_inner();
    if !matches!(b.answer.as_str(), "PROCESSING" | "SUCCESS") || !matches!(b.then.as_deref(), None | Some("SUCCESS" | "ABNORMAL" | "CLOSED")) {
        return failed(StatusCode::BAD_REQUEST, "answer is PROCESSING or SUCCESS; then is SUCCESS, ABNORMAL, CLOSED or null");
    }
    sim.state().refund_behaviour = b;
    HttpResponse::Ok().json(json!({}))
}

async fn api_faults(sim: Data<Arc<Sim>>, body: Json<ApiFaults>) -> HttpResponse {
    sim.state().api_faults = body.into_inner();
    HttpResponse::Ok().json(json!({}))
}

async fn all_notifications(sim: Data<Arc<Sim>>, body: Json<Fault>) -> HttpResponse {
    let fault = body.into_inner();
    sim.state().all_notifications = (!fault.names().is_empty()).then_some(fault);
    HttpResponse::Ok().json(json!({}))
}

async fn next_notification(sim: Data<Arc<Sim>>, body: Json<Fault>) -> HttpResponse {
    let mut s = sim.state();
    s.next_notifications.push_back(body.into_inner());
    HttpResponse::Ok().json(json!({ "queued": s.next_notifications.len() }))
}

async fn notifications(sim: Data<Arc<Sim>>) -> HttpResponse {
    HttpResponse::Ok().json(&sim.state().notifications)
}

async fn release(sim: Data<Arc<Sim>>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "released": delivery::release(&sim) }))
}

async fn deliveries(sim: Data<Arc<Sim>>) -> HttpResponse {
    HttpResponse::Ok().json(&sim.state().deliveries)
}
