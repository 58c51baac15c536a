//! GraphiQL, served by Kanjian itself: the page (`GET /graphql` from a browser) and its assets
//! under `/graphiql/`, production builds vendored in `crates/server/assets/graphiql/` (see the
//! README there) and compiled into the binary. Nothing is fetched from anywhere else.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::OnceLock;

use actix_web::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::app::AppState;
use crate::security;

macro_rules! asset {
    ($name:literal, $content_type:literal) => {
        ($name, $content_type, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/graphiql/", $name)).as_slice())
    };
}

/// (file name, content type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    asset!("graphiql.min.js", "text/javascript; charset=utf-8"),
    asset!("graphiql.min.css", "text/css; charset=utf-8"),
    asset!("react.production.min.js", "text/javascript; charset=utf-8"),
    asset!("react-dom.production.min.js", "text/javascript; charset=utf-8"),
    asset!("kanjian-graphiql.js", "text/javascript; charset=utf-8"),
    asset!("kanjian-graphiql.css", "text/css; charset=utf-8"),
];

const PAGE: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/graphiql/index.html"));

/// The page, with a policy that lets it load only this server's files and talk only to it.
pub(crate) fn page(req: &HttpRequest) -> HttpResponse {
    let csp = security::graphiql_csp(req.connection_info().host());
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((CONTENT_SECURITY_POLICY, csp))
        .insert_header(("Cross-Origin-Opener-Policy", "same-origin"))
        .insert_header(("Cross-Origin-Resource-Policy", "same-origin"))
        .insert_header((CACHE_CONTROL, "no-cache"))
        .body(PAGE)
}

/// An entity tag per asset, from its bytes (computed once).
fn etag(index: usize) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    &TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|(_, _, bytes)| {
                let mut hasher = DefaultHasher::new();
                bytes.hash(&mut hasher);
                format!("\"{:016x}\"", hasher.finish())
            })
            .collect()
    })[index]
}

/// `GET /graphiql/{file}`: one of the vendored files, revalidated by its entity tag.
pub(crate) async fn asset(state: web::Data<AppState>, req: HttpRequest, file: web::Path<String>) -> HttpResponse {
    let found = ASSETS.iter().position(|(name, _, _)| *name == file.as_str());
    let Some(index) = found.filter(|_| state.config.http.graphiql) else {
        return HttpResponse::NotFound().content_type("text/plain; charset=utf-8").body("no such file");
    };
    let (_, content_type, bytes) = ASSETS[index];
    let tag = etag(index);
    let not_modified = req.headers().get(IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(tag);
    let mut response = if not_modified { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response
        .insert_header((ETAG, tag))
        // Kept for a day, then revalidated (a new build may bring new files under the same name).
        .insert_header((CACHE_CONTROL, "public, max-age=86400, must-revalidate"))
        .insert_header(("Cross-Origin-Resource-Policy", "same-origin"));
    if not_modified {
        return response.finish();
    }
    response.insert_header((CONTENT_TYPE, content_type)).body(bytes)
}
