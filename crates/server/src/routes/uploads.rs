//! Resumable uploads over tus 1.0 (core protocol). The upload itself is created by the
//! `createVideoUpload` mutation, which returns its URL; clients then `PATCH` chunks with
//! `Upload-Offset` and, after a dropped connection, `HEAD` to learn where to resume.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use futures::StreamExt;
use kanjian_contracts::media::UploadProgress;
use kanjian_kernel::ids::UploadId;
use kanjian_kernel::{Error, UserErrorCode};

use super::auth;
use crate::app::AppState;

const TUS_VERSION: &str = "1.0.0";

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
    with_tus_header(auth::error_response(&Error::user(field, code, message)))
}

/// Capabilities discovery.
pub(crate) async fn options(state: web::Data<AppState>) -> HttpResponse {
    tus(HttpResponse::NoContent())
        .insert_header(("Tus-Version", TUS_VERSION))
        .insert_header(("Tus-Max-Size", state.config.modules.media.max_upload_bytes.to_string()))
        .finish()
}

fn upload_id(path: &web::Path<String>) -> Result<UploadId, Error> {
    path.parse::<i64>().map(UploadId).map_err(|_| Error::not_found("no such upload"))
}

fn progress_response(status: StatusCode, p: UploadProgress) -> HttpResponse {
    tus(HttpResponse::build(status))
        .insert_header(("Upload-Offset", p.offset.to_string()))
        .insert_header(("Upload-Length", p.length.to_string()))
        .insert_header((CACHE_CONTROL, "no-store"))
        .finish()
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
        Err(e) => with_tus_header(auth::error_response(&e)),
    }
}

/// Appends a chunk at `Upload-Offset`.
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
    let actor = match auth::actor(&req, state.identity.as_ref()).await {
        Ok(a) => a,
        Err(e) => return with_tus_header(auth::error_response(&e)),
    };
    let id = match upload_id(&path) {
        Ok(id) => id,
        Err(e) => return with_tus_header(auth::error_response(&e)),
    };
    // actix's payload lives on this worker's thread; hand its chunks to the (Send) module through
    // a small channel. A client that drops mid-request ends the stream with an error, and the
    // module keeps what it had flushed.
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(8);
    actix_web::rt::spawn(async move {
        while let Some(chunk) = payload.next().await {
            let item = chunk.map_err(|e| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, e.to_string()));
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                return;
            }
        }
    });
    let body = tokio_stream_from(rx);
    match state.media.append_upload(&actor, id, offset, body).await {
        Ok(p) => progress_response(StatusCode::NO_CONTENT, p),
        Err(e) => with_tus_header(auth::error_response(&e)),
    }
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
) -> futures::stream::BoxStream<'static, std::io::Result<Bytes>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}
