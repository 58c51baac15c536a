//! Uploads. Resumable ones over tus 1.0 (core protocol and the expiration extension): the upload
//! itself is created by the `createVideoUpload` mutation, which returns its URL; clients then
//! `PATCH` chunks with `Upload-Offset` and, after a dropped connection, `HEAD` to learn where to
//! resume. And the gate in front of one-request uploads (multipart `POST /graphql`).
//!
//! Nothing of a request body is read before the request is known to be acceptable from its
//! headers: who sends it, whose upload it is, the offset, and the length it declares. A refused
//! request is answered without reading its body (actix then closes the connection).

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, Responder, web};
use async_graphql::{ErrorExtensionValues, ServerError};
use async_graphql_actix_web::GraphQLResponse;
use bytes::Bytes;
use futures::StreamExt;
use kanjian_contracts::media::UploadProgress;
use kanjian_kernel::ids::UploadId;
use kanjian_kernel::{Error, Timestamp, UserErrorCode};

use super::auth;
use crate::app::AppState;

const TUS_VERSION: &str = "1.0.0";
/// The tus extensions served: `expiration` (`Upload-Expires`). Creation is a GraphQL mutation.
const TUS_EXTENSIONS: &str = "expiration";
/// What a multipart `POST /graphql` may carry beside its file: the operations and the map.
const MULTIPART_FORM_ALLOWANCE: u64 = 1024 * 1024;

fn tus(mut builder: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    builder.insert_header(("Tus-Resumable", TUS_VERSION));
    builder
}

fn with_tus_header(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(
        actix_web::http::header::HeaderName::from_static("tus-resumable"),
        actix_web::http::header::HeaderValue::from_static(TUS_VERSION),
    );
    response
}

fn bad_request(code: UserErrorCode, field: &str, message: &str) -> HttpResponse {
    tus_error(&Error::user(field, code, message))
}

/// The JSON error, with the tus header; an expired upload is `410 Gone`, as tus says.
fn tus_error(error: &Error) -> HttpResponse {
    let mut response = auth::error_response(error);
    if let Error::User(errors) = error
        && errors.first().is_some_and(|e| e.code == UserErrorCode::Expired)
    {
        *response.status_mut() = StatusCode::GONE;
    }
    with_tus_header(response)
}

/// Capabilities discovery.
pub(crate) async fn options(state: web::Data<AppState>) -> HttpResponse {
    tus(HttpResponse::NoContent())
        .insert_header(("Tus-Version", TUS_VERSION))
        .insert_header(("Tus-Extension", TUS_EXTENSIONS))
        .insert_header(("Tus-Max-Size", state.config.modules.media.max_upload_bytes.to_string()))
        .finish()
}

fn upload_id(path: &web::Path<String>) -> Result<UploadId, Error> {
    path.parse::<i64>().map(UploadId).map_err(|_| Error::not_found("upload"))
}

/// An HTTP date (RFC 9110 `IMF-fixdate`), as tus wants `Upload-Expires`.
fn http_date(at: Timestamp) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn progress_response(status: StatusCode, p: UploadProgress) -> HttpResponse {
    let mut response = tus(HttpResponse::build(status));
    response
        .insert_header(("Upload-Offset", p.offset.to_string()))
        .insert_header(("Upload-Length", p.length.to_string()))
        .insert_header((CACHE_CONTROL, "no-store"));
    if let Some(expires) = p.expires_at {
        response.insert_header(("Upload-Expires", http_date(expires)));
    }
    response.finish()
}

/// The declared `Content-Length`, if there is one (a chunked body has none).
fn content_length(req: &HttpRequest) -> Result<Option<u64>, Error> {
    match req.headers().get(CONTENT_LENGTH) {
        None => Ok(None),
        Some(v) => v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()).map(Some).ok_or_else(|| {
            Error::user("", UserErrorCode::Invalid, "Content-Length must be a non-negative integer")
        }),
    }
}

/// Where the upload stands.
pub(crate) async fn head(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let result = async {
        let actor = auth::actor(&req, state.identity.as_ref()).await?;
        let id = upload_id(&path)?;
        state.media.upload_progress(&actor, id).await
    }
    .await;
    match result {
        Ok(p) => progress_response(StatusCode::OK, p),
        Err(e) => tus_error(&e),
    }
}

/// Appends a chunk at `Upload-Offset`. The body is read only once the media module asks for it,
/// after it has checked everything else.
pub(crate) async fn patch(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    mut payload: web::Payload,
) -> HttpResponse {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if header("Tus-Resumable") != Some(TUS_VERSION) {
        return tus(HttpResponse::PreconditionFailed())
            .insert_header(("Tus-Version", TUS_VERSION))
            .finish();
    }
    if req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok())
        != Some("application/offset+octet-stream")
    {
        return with_tus_header(
            HttpResponse::UnsupportedMediaType()
                .json(serde_json::json!({"error": {"code": "INVALID", "message": "Content-Type must be application/offset+octet-stream"}})),
        );
    }
    let Some(offset) = header("Upload-Offset").and_then(|v| v.parse::<u64>().ok()) else {
        return bad_request(UserErrorCode::Required, "offset", "Upload-Offset must be a non-negative integer");
    };
    let content_length = match content_length(&req) {
        Ok(length) => length,
        Err(e) => return tus_error(&e),
    };
    let actor = match auth::actor(&req, state.identity.as_ref()).await {
        Ok(a) => a,
        Err(e) => return tus_error(&e),
    };
    let id = match upload_id(&path) {
        Ok(id) => id,
        Err(e) => return tus_error(&e),
    };
    // actix's payload lives on this worker's thread; hand its chunks to the (Send) module through
    // a small channel. The pump starts only when the module first polls the body, which it does
    // after every check passed: a refused request reads none of it. A client that drops
    // mid-request ends the stream with an error, and the module keeps what it had flushed.
    let (start_tx, start_rx) = tokio::sync::oneshot::channel::<()>();
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(8);
    actix_web::rt::spawn(async move {
        if start_rx.await.is_err() {
            return; // refused: the body is dropped unread
        }
        while let Some(chunk) = payload.next().await {
            let item = chunk.map_err(|e| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, e.to_string()));
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                return;
            }
        }
    });
    let body = body_on_demand(start_tx, rx);
    match state.media.append_upload(&actor, id, offset, content_length, body).await {
        Ok(p) => progress_response(StatusCode::NO_CONTENT, p),
        Err(e) => tus_error(&e),
    }
}

/// The body as a stream that tells the pump to start reading on its first poll.
fn body_on_demand(
    start: tokio::sync::oneshot::Sender<()>,
    mut rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
) -> futures::stream::BoxStream<'static, std::io::Result<Bytes>> {
    let mut start = Some(start);
    futures::stream::poll_fn(move |cx| {
        if let Some(start) = start.take() {
            let _ = start.send(());
        }
        rx.poll_recv(cx)
    })
    .boxed()
}

/// Whether a request carries a multipart body (the GraphQL multipart request spec).
pub(crate) fn is_multipart(ctx: &actix_web::guard::GuardContext<'_>) -> bool {
    ctx.head()
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/"))
}

/// `POST /graphql` with a multipart body: one-request uploads (`uploadVideo`). async-graphql
/// spools the file to a temporary file while it parses the request, before any resolver runs,
/// so this gate checks first, from the headers alone, that a signed-in user sends it (only they
/// may upload) and that its declared length is within `max_multipart_bytes` (and the form
/// fields beside the file). Refused requests are answered without reading the body.
pub(crate) async fn graphql_multipart(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    match auth::actor(&req, state.identity.as_ref()).await {
        Ok(actor) if actor.user_id().is_some() => {}
        Ok(_) => {
            return graphql_refusal(&req, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", "sign in to upload a file");
        }
        Err(_) => {
            return graphql_refusal(
                &req,
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "the token is invalid, expired or revoked",
            );
        }
    }
    let limit = state.config.http.max_multipart_bytes.saturating_add(MULTIPART_FORM_ALLOWANCE);
    match content_length(&req) {
        Ok(Some(length)) if length > limit => {
            let message = format!(
                "the request is {length} bytes; files up to {} bytes can be sent in one request, larger ones with createVideoUpload",
                state.config.http.max_multipart_bytes
            );
            return graphql_refusal(&req, StatusCode::PAYLOAD_TOO_LARGE, UserErrorCode::TooLarge.as_str(), &message);
        }
        Ok(_) => {}
        Err(e) => return graphql_refusal(&req, StatusCode::BAD_REQUEST, UserErrorCode::Invalid.as_str(), &e.to_string()),
    }
    // Checked: the GraphQL route reads it (a body of unknown length, chunked, is limited as it
    // is read, by `MultipartOptions`).
    super::graphql::post(state, req, payload).await
}

/// A GraphQL response with one top-level error, with `status`.
fn graphql_refusal(req: &HttpRequest, status: StatusCode, code: &str, message: &str) -> HttpResponse {
    let mut error = ServerError::new(message, None);
    let mut ext = ErrorExtensionValues::default();
    ext.set("code", code);
    error.extensions = Some(ext);
    let mut http = GraphQLResponse::from(async_graphql::Response::from_errors(vec![error]))
        .respond_to(req)
        .map_into_boxed_body();
    *http.status_mut() = status;
    http
}
