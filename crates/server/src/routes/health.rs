//! Operations endpoints: liveness, readiness, metrics.

use actix_web::{HttpResponse, web};

use crate::app::AppState;

/// The process is up.
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// The process can serve: the database answers.
pub(crate) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.db.writer().ping().await {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ready"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable().content_type("text/plain").body("database unavailable")
        }
    }
}

pub(crate) async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}

pub(crate) async fn index() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "name": "kanjian",
        "graphql": "/graphql",
        "health": "/healthz",
    }))
}
