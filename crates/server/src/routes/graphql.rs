//! `/graphql`: POST for everything, GET for queries (and GraphiQL for browsers, and the
//! WebSocket upgrade for subscriptions over graphql-transport-ws).

use actix_web::http::header::{ACCEPT, UPGRADE};
use actix_web::{HttpRequest, HttpResponse, Responder, web};
use async_graphql::http::GraphiQLSource;
use async_graphql::{ErrorExtensionValues, ServerError};
use async_graphql_actix_web::{GraphQLRequest, GraphQLResponse, GraphQLSubscription};
use kanjian_graphql::prepare_request;

use super::auth;
use crate::app::AppState;

pub(crate) async fn post(
    state: web::Data<AppState>,
    req: HttpRequest,
    gql: GraphQLRequest,
) -> HttpResponse {
    execute(&state, &req, gql.into_inner(), false).await
}

pub(crate) async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> actix_web::Result<HttpResponse> {
    if req.headers().contains_key(UPGRADE) {
        return subscribe(state, req, payload);
    }
    let wants_html = req
        .headers()
        .get(ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if wants_html && req.query_string().is_empty() && state.config.http.graphiql {
        let page = GraphiQLSource::build().endpoint("/graphql").subscription_endpoint("/graphql").finish();
        return Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(page));
    }
    let request = async_graphql::http::parse_query_string(req.query_string())
        .map_err(actix_web::error::ErrorBadRequest)?;
    Ok(execute(&state, &req, request, true).await)
}

async fn execute(
    state: &AppState,
    req: &HttpRequest,
    request: async_graphql::Request,
    read_only: bool,
) -> HttpResponse {
    let actor = match auth::actor(req, state.identity.as_ref()).await {
        Ok(actor) => actor,
        Err(error) => return unauthenticated(req, error),
    };
    let request =
        prepare_request(request, actor, auth::client_info(req), &state.services, read_only);
    GraphQLResponse::from(state.schema.execute(request).await).respond_to(req).map_into_boxed_body()
}

/// A token was sent but is not valid: the whole request fails with `UNAUTHENTICATED`.
fn unauthenticated(req: &HttpRequest, error: kanjian_kernel::Error) -> HttpResponse {
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
    let response = async_graphql::Response::from_errors(vec![server_error]);
    let mut http = GraphQLResponse::from(response).respond_to(req).map_into_boxed_body();
    *http.status_mut() = actix_web::http::StatusCode::UNAUTHORIZED;
    http
}

fn subscribe(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> actix_web::Result<HttpResponse> {
    let services = state.services.clone();
    let identity = state.identity.clone();
    let client = auth::client_info(&req);
    GraphQLSubscription::new(state.schema.schema().clone())
        .on_connection_init(move |init| async move {
            let actor = auth::actor_from_init(&init, identity.as_ref())
                .await
                .map_err(|e| async_graphql::Error::new(e.to_string()))?;
            Ok(kanjian_graphql::connection_data(actor, client, &services))
        })
        .start(&req, payload)
}
