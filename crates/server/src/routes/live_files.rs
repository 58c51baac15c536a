//! Live rooms' HLS for players: the playlist (the live edge while LIVE, the whole broadcast
//! once ENDED), init segments and segments. Visibility is the live module's decision (hidden
//! across a block, like a room that does not exist).

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use kanjian_contracts::live::LiveApi;
use kanjian_kernel::ids::LiveRoomId;

use super::auth;
use crate::app::AppState;

pub(crate) async fn get(state: web::Data<AppState>, req: HttpRequest, path: web::Path<(i64, String)>) -> HttpResponse {
    let (room_id, file) = path.into_inner();
    let result = async {
        let actor = auth::actor(&req, state.identity.as_ref()).await?;
        let live = state.services.apis.get::<dyn LiveApi>()?;
        live.open_file(&actor, LiveRoomId(room_id), &file).await
    }
    .await;
    let mut response = match result {
        Ok(live) => HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, live.content_type))
            // A live playlist changes every segment; segments never change.
            .insert_header((
                CACHE_CONTROL,
                if file.ends_with(".m3u8") { "private, max-age=1" } else { "private, max-age=86400" },
            ))
            .body(live.bytes),
        Err(e) => auth::error_response(&e),
    };
    crate::security::set_media_headers(response.headers_mut(), &state.cors);
    response
}
