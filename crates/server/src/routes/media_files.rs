//! Files players fetch: HLS playlists, segments and thumbnails. Visibility is the media
//! module's decision (published videos for everyone, the rest for their owner). Every answer
//! carries the media security headers (`security.rs`).

use actix_web::body::SizedStream;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use kanjian_kernel::ids::VideoId;

use super::auth;
use crate::app::AppState;

pub(crate) async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(i64, String)>,
) -> HttpResponse {
    let (video_id, file) = path.into_inner();
    let result = async {
        let actor = auth::actor(&req, state.identity.as_ref()).await?;
        state.media.open_file(&actor, VideoId(video_id), &file).await
    }
    .await;
    let mut response = match result {
        Ok(media) => HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, media.content_type))
            // Segments never change; playlists may (a republish), so they are short-lived.
            .insert_header((
                CACHE_CONTROL,
                if file.ends_with(".m3u8") { "private, max-age=5" } else { "private, max-age=86400" },
            ))
            .body(SizedStream::new(media.length, media.body)),
        Err(e) => auth::error_response(&e),
    };
    crate::security::set_media_headers(response.headers_mut(), &state.cors);
    response
}
