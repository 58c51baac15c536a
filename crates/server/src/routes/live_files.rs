//! Live rooms for people and players: the room's page (where reminder mail links), and its HLS: the playlist (the live edge while LIVE, the whole broadcast
//! once ENDED), init segments and segments. Visibility is the live module's decision (hidden
//! across a block, like a room that does not exist).

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use kanjian_contracts::live::{BlockingReload, LiveApi, LiveFileReply, LiveRoomState};
use kanjian_kernel::ids::LiveRoomId;

use super::{auth, html};
use crate::app::AppState;

/// The LL-HLS delivery directives of a playlist request: `_HLS_msn=<n>` with an optional
/// `_HLS_part=<i>` ask for a blocking reload. Others (`_HLS_skip`) are ignored: no delta
/// playlists are made.
#[derive(serde::Deserialize)]
pub(crate) struct Directives {
    #[serde(rename = "_HLS_msn")]
    msn: Option<u64>,
    #[serde(rename = "_HLS_part")]
    part: Option<u32>,
}

pub(crate) async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(i64, String)>,
    directives: web::Query<Directives>,
) -> HttpResponse {
    let (room_id, file) = path.into_inner();
    let reload = directives.msn.map(|msn| BlockingReload { msn, part: directives.part });
    if reload.is_none() && directives.part.is_some() {
        return auth::error_response(&kanjian_kernel::Error::user(
            "_HLS_part",
            kanjian_kernel::UserErrorCode::Invalid,
            "_HLS_part needs _HLS_msn",
        ));
    }
    let result = async {
        let actor = auth::actor(&req, state.identity.as_ref()).await?;
        let live = state.services.apis.get::<dyn LiveApi>()?;
        live.open_file(&actor, LiveRoomId(room_id), &file, reload).await
    }
    .await;
    let mut response = match result {
        Ok(LiveFileReply::File(live)) => HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, live.content_type))
            // A live playlist changes with every part: a cached copy would answer a blocking
            // reload before its part exists. Parts and segments never change.
            .insert_header((
                CACHE_CONTROL,
                if file.ends_with(".m3u8") { "no-cache" } else { "private, max-age=86400" },
            ))
            .body(live.bytes),
        // RFC 8216bis §6.2.5.2: a blocking reload the server cannot answer within three target
        // durations is a 503; the player asks again.
        Ok(LiveFileReply::NotYet) => HttpResponse::ServiceUnavailable()
            .insert_header((CONTENT_TYPE, "text/plain; charset=utf-8"))
            .insert_header((CACHE_CONTROL, "no-store"))
            .insert_header((actix_web::http::header::RETRY_AFTER, "1"))
            .body("what _HLS_msn/_HLS_part ask for did not come within three target durations; ask again"),
        Err(e) => auth::error_response(&e),
    };
    crate::security::set_media_headers(response.headers_mut(), &state.cors);
    response
}

/// The room's page, where reminder mail links: its title and state, and its HLS in a `<video>`
/// (browsers that play HLS natively; apps use `playlistUrl`). A room the caller may not see is
/// the same 404 as a missing one.
pub(crate) async fn page(state: web::Data<AppState>, req: HttpRequest, path: web::Path<i64>) -> HttpResponse {
    let room_id = path.into_inner();
    let result = async {
        let actor = auth::actor(&req, state.identity.as_ref()).await?;
        let live = state.services.apis.get::<dyn LiveApi>()?;
        Ok::<_, kanjian_kernel::Error>(live.rooms_by_ids(&actor, &[LiveRoomId(room_id)]).await?.pop())
    }
    .await;
    let (status, body) = match result {
        Ok(Some(room)) => {
            let what = match room.state {
                LiveRoomState::Scheduled => "即将开播 · upcoming",
                LiveRoomState::Live => "直播中 · live now",
                LiveRoomState::Ended => "已结束 · ended",
                LiveRoomState::Cancelled => "已取消 · cancelled",
            };
            let player = match (&room.playlist_url, room.state) {
                (Some(url), LiveRoomState::Live | LiveRoomState::Ended) => format!(
                    "<video controls autoplay muted playsinline style=\"width:100%;background:#000\" src=\"{url}\"></video>\
                     <p style=\"font-size:13px;color:#666\">HLS: <a href=\"{url}\">{url}</a></p>",
                    url = html::escape(url)
                ),
                _ => String::new(),
            };
            (
                actix_web::http::StatusCode::OK,
                format!("<h1>{}</h1><p>{what}</p>{player}<p>{}</p>", html::escape(&room.title), html::escape(&room.description)),
            )
        }
        Ok(None) | Err(kanjian_kernel::Error::NotFound(_)) => {
            (actix_web::http::StatusCode::NOT_FOUND, "<h1>没有这个直播间 · No such live room</h1>".to_owned())
        }
        Err(e) => return auth::error_response(&e),
    };
    html::page(status, "看见 Kanjian · 直播", &body)
}

