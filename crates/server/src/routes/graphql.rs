//! `/graphql`: POST for everything, GET for queries (and GraphiQL for browsers, and the
//! WebSocket upgrade for subscriptions), following the GraphQL over HTTP spec
//! (`graphql_http.rs` has the rules; `tests/http-audit` runs the spec's own audits).

use actix_web::http::StatusCode;
use actix_web::http::header::{ACCEPT, CONTENT_TYPE, UPGRADE, WWW_AUTHENTICATE};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use async_graphql::{ErrorExtensionValues, ServerError};
use async_graphql_actix_web::GraphQLRequest;
use kanjian_graphql::prepare_request;

use super::graphql_http::{self, BodyType, ResponseType};
use super::{auth, graphiql, subscriptions};
use crate::app::AppState;

fn header(req: &HttpRequest, name: actix_web::http::header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Neither JSON type is acceptable to the client: 406, in JSON all the same.
fn not_acceptable() -> HttpResponse {
    graphql_http::error(
        ResponseType::Json,
        StatusCode::NOT_ACCEPTABLE,
        "NOT_ACCEPTABLE",
        "this endpoint answers application/graphql-response+json or application/json; the Accept header allows neither",
    )
}

pub(crate) async fn post(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let Some(response_type) = graphql_http::negotiate(header(&req, ACCEPT)) else {
        return not_acceptable();
    };
    let bad = |status, code, message: &str| graphql_http::error(response_type, status, code, message);
    let request = match graphql_http::body_type(header(&req, CONTENT_TYPE)) {
        Err(why) => return bad(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE", &why),
        Ok(BodyType::Json) => {
            let limit = state.config.http.max_json_body_bytes;
            let body = match payload.to_bytes_limited(limit).await {
                Ok(Ok(body)) => body,
                Ok(Err(e)) => return bad(StatusCode::BAD_REQUEST, "BAD_REQUEST", &format!("reading the body: {e}")),
                Err(_) => {
                    return bad(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "TOO_LARGE",
                        &format!("the body is larger than {limit} bytes (http.max_json_body_bytes)"),
                    );
                }
            };
            match graphql_http::parse_json_body(&body) {
                Ok(request) => request,
                Err(why) => return bad(StatusCode::BAD_REQUEST, "BAD_REQUEST", &why),
            }
        }
        // The GraphQL multipart request spec, read by async-graphql (file size limits from
        // `MultipartOptions` in the app data).
        Ok(BodyType::Multipart) => {
            let mut payload = payload.into_inner();
            match GraphQLRequest::from_request(&req, &mut payload).await {
                Ok(request) => request.into_inner(),
                Err(e) => {
                    let status = e.as_response_error().status_code();
                    let code = if status == StatusCode::PAYLOAD_TOO_LARGE { "TOO_LARGE" } else { "BAD_REQUEST" };
                    return bad(status, code, &e.to_string());
                }
            }
        }
    };
    execute(&state, &req, response_type, request, false).await
}

pub(crate) async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> actix_web::Result<HttpResponse> {
    if req.headers().contains_key(UPGRADE) {
        return subscriptions::start(state, req, payload);
    }
    let wants_html = header(&req, ACCEPT).is_some_and(|a| a.contains("text/html"));
    if wants_html && req.query_string().is_empty() && state.config.http.graphiql {
        return Ok(graphiql::page(&req));
    }
    let Some(response_type) = graphql_http::negotiate(header(&req, ACCEPT)) else {
        return Ok(not_acceptable());
    };
    let request = match graphql_http::parse_query_string(req.query_string()) {
        Ok(request) => request,
        Err(why) => return Ok(graphql_http::error(response_type, StatusCode::BAD_REQUEST, "BAD_REQUEST", &why)),
    };
    Ok(execute(&state, &req, response_type, request, true).await)
}

async fn execute(
    state: &AppState,
    req: &HttpRequest,
    response_type: ResponseType,
    request: async_graphql::Request,
    read_only: bool,
) -> HttpResponse {
    let actor = match auth::actor(req, state.identity.as_ref()).await {
        Ok(actor) => actor,
        Err(error) => return unauthenticated(response_type, error),
    };
    let request = prepare_request(request, actor, auth::client_info(req, &state.proxies), &state.services, read_only);
    graphql_http::respond(response_type, state.schema.execute(request).await)
}

/// A token was sent but is not valid: the whole request fails with 401 `UNAUTHENTICATED`.
fn unauthenticated(response_type: ResponseType, error: kanjian_kernel::Error) -> HttpResponse {
    let mut server_error = ServerError::new(
        match error {
            kanjian_kernel::Error::Unauthenticated => "the token is invalid, expired or revoked".to_owned(),
            other => other.to_string(),
        },
        None,
    );
    let mut ext = ErrorExtensionValues::default();
    ext.set("code", "UNAUTHENTICATED");
    server_error.extensions = Some(ext);
    let mut http = graphql_http::respond(response_type, async_graphql::Response::from_errors(vec![server_error]));
    *http.status_mut() = StatusCode::UNAUTHORIZED;
    http.headers_mut().insert(
        WWW_AUTHENTICATE,
        actix_web::http::header::HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    http
}
