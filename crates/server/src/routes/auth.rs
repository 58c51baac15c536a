//! Who is calling: `Authorization: Bearer <token>`, or nobody.

use actix_web::HttpRequest;
use actix_web::http::header::{AUTHORIZATION, USER_AGENT};
use kanjian_contracts::identity::{ClientInfo, IdentityApi};
use kanjian_kernel::{Actor, Error};

/// No header: anonymous. A header with a bad, expired or revoked token: `Unauthenticated`
/// (a client that sends a token means to be someone; silently serving it as anonymous hides bugs).
pub(crate) async fn actor(req: &HttpRequest, identity: &dyn IdentityApi) -> Result<Actor, Error> {
    let Some(header) = req.headers().get(AUTHORIZATION) else { return Ok(Actor::Anonymous) };
    let token = header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .ok_or(Error::Unauthenticated)?;
    identity.authenticate(token.trim()).await
}

/// Token from a graphql-transport-ws `connection_init` payload: `{"authorization": "Bearer …"}`.
pub(crate) async fn actor_from_init(
    payload: &serde_json::Value,
    identity: &dyn IdentityApi,
) -> Result<Actor, Error> {
    let header = ["authorization", "Authorization", "token"]
        .iter()
        .find_map(|k| payload.get(*k).and_then(|v| v.as_str()));
    match header {
        None => Ok(Actor::Anonymous),
        Some(h) => {
            let token = h.strip_prefix("Bearer ").unwrap_or(h);
            identity.authenticate(token.trim()).await
        }
    }
}

pub(crate) fn client_info(req: &HttpRequest) -> ClientInfo {
    ClientInfo {
        ip: req.connection_info().realip_remote_addr().map(|ip| {
            // Strip the port so attempts from one host count together.
            ip.parse::<std::net::SocketAddr>().map(|a| a.ip().to_string()).unwrap_or_else(|_| ip.to_owned())
        }),
        user_agent: req.headers().get(USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned),
    }
}

/// A JSON error body for the non-GraphQL routes: `{"error": {"code", "message"}}`.
pub(crate) fn error_response(error: &Error) -> actix_web::HttpResponse {
    use actix_web::http::StatusCode;
    use kanjian_kernel::UserErrorCode as U;
    let status = match error {
        Error::Unauthenticated => StatusCode::UNAUTHORIZED,
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::User(errors) => match errors.first().map(|e| e.code) {
            Some(U::UploadOffsetMismatch) => StatusCode::CONFLICT,
            Some(U::TooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
            Some(U::UnsupportedMedia) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::BAD_REQUEST,
        },
        Error::Internal(cause) => {
            tracing::error!(error = ?cause, "internal error");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    let code = match error {
        Error::User(errors) => errors.first().map_or("BAD_USER_INPUT", |e| e.code.as_str()).to_owned(),
        other => other.code().to_string(),
    };
    actix_web::HttpResponse::build(status)
        .json(serde_json::json!({ "error": { "code": code, "message": error.to_string() } }))
}
