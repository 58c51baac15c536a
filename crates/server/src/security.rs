//! Response headers that tell browsers what a response may do, and CORS.
//!
//! - Every response: `X-Content-Type-Options: nosniff` (a JSON body or a video segment is never
//!   run as a script or page), `Referrer-Policy: no-referrer`, `X-Frame-Options: DENY`.
//! - GraphiQL: a `Content-Security-Policy` that allows only this server's own scripts and
//!   styles, and connections (fetch, WebSocket) to this server only, in no frame.
//! - Media files: a CSP that lets nothing run if one is opened as a page, and
//!   `Cross-Origin-Resource-Policy`: `same-origin` while no other origin is allowed (the
//!   default), `cross-origin` once `[http.cors] allowed_origins` names some, so their pages can
//!   show thumbnails and play videos.
//! - CORS (`[http.cors]`): none by default. For an allowed origin: its preflights are answered
//!   (methods, `Authorization`, `Content-Type` and the tus request headers), and responses
//!   carry `Access-Control-Allow-Origin` and expose the tus, `Retry-After` and request-id headers. A preflight
//!   from any other origin is refused with 403. No credentials: tokens are bearer headers.

use std::collections::HashSet;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD,
    CONTENT_SECURITY_POLICY, HeaderMap, HeaderName, HeaderValue, ORIGIN, VARY,
};
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::{HttpResponse, web};

use crate::app::AppState;
use crate::config::CorsConfig;

/// Headers every response gets (a handler may set its own instead).
pub(crate) fn default_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("X-Frame-Options", "DENY"))
}

/// The GraphiQL page's policy. `host` (the request's `Host`) names the WebSocket endpoint
/// explicitly for browsers whose `'self'` does not cover `ws:`/`wss:`; a host with characters
/// that do not belong in one is left out.
pub(crate) fn graphiql_csp(host: &str) -> String {
    let host_ok = !host.is_empty()
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    let sockets = if host_ok { format!(" ws://{host} wss://{host}") } else { String::new() };
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
         font-src 'self' data:; connect-src 'self'{sockets}; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    )
}

/// What a media file (playlist, segment, thumbnail) may do: nothing, if opened as a page.
pub(crate) const MEDIA_CSP: &str = "default-src 'none'; frame-ancestors 'none'; sandbox";

pub(crate) fn set_media_headers(headers: &mut HeaderMap, cors: &Cors) {
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(MEDIA_CSP));
    headers.insert(
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static(if cors.is_enabled() { "cross-origin" } else { "same-origin" }),
    );
}

/// Request headers a cross-origin client may send.
const ALLOW_HEADERS: &str =
    "Authorization, Content-Type, Accept, Tus-Resumable, Upload-Offset, Upload-Length, Upload-Metadata, X-Request-Id";
const ALLOW_METHODS: &str = "GET, POST, HEAD, PATCH, OPTIONS";
/// Response headers a cross-origin client may read.
const EXPOSE_HEADERS: &str =
    "Tus-Resumable, Tus-Version, Tus-Max-Size, Upload-Offset, Upload-Length, Upload-Expires, Location, Retry-After, X-Request-Id";

/// The allowed origins, checked once at start.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cors {
    any: bool,
    origins: HashSet<String>,
    max_age_secs: u64,
}

impl Cors {
    pub(crate) fn from_config(config: &CorsConfig) -> anyhow::Result<Self> {
        let mut cors = Self { max_age_secs: config.max_age_secs, ..Self::default() };
        for origin in &config.allowed_origins {
            if origin == "*" {
                cors.any = true;
                continue;
            }
            cors.origins.insert(parse_origin(origin).map_err(|why| {
                anyhow::anyhow!("http.cors.allowed_origins: {origin:?} is not an origin ({why}); write it as https://app.example.com")
            })?);
        }
        Ok(cors)
    }

    pub(crate) fn is_enabled(&self) -> bool {
        self.any || !self.origins.is_empty()
    }

    fn allows(&self, origin: &str) -> bool {
        self.any || parse_origin(origin).is_ok_and(|o| self.origins.contains(&o))
    }
}

/// `scheme://host[:port]`, lower-cased; no path, query, user or trailing slash.
fn parse_origin(origin: &str) -> Result<String, &'static str> {
    let (scheme, rest) = origin.split_once("://").ok_or("no scheme")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err("the scheme must be http or https");
    }
    if rest.is_empty() {
        return Err("no host");
    }
    if rest.contains(['/', '?', '#', '@', ' ', ',']) {
        return Err("an origin has no path, query, user or trailing slash");
    }
    // A port after the last colon, unless that colon is inside an IPv6 literal's brackets.
    let host = match rest.rfind(':').filter(|_| !rest.ends_with(']')) {
        Some(colon) => {
            rest[colon + 1..].parse::<u16>().map_err(|_| "the port is not a number")?;
            &rest[..colon]
        }
        None => rest,
    };
    if host.is_empty() {
        return Err("no host");
    }
    Ok(format!("{scheme}://{}", rest.to_ascii_lowercase()))
}

/// The CORS middleware (see the module docs).
pub(crate) async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let origin = req.headers().get(ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let Some(origin) = origin else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let cors = req.app_data::<web::Data<AppState>>().map(|s| s.cors.clone()).unwrap_or_default();
    let allowed = cors.allows(&origin);
    let allow_origin = || HeaderValue::from_str(if cors.any { "*" } else { &origin }).ok();

    if req.method() == Method::OPTIONS && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD) {
        let mut response = if allowed {
            let mut response = HttpResponse::NoContent();
            if let Some(value) = allow_origin() {
                response.insert_header((ACCESS_CONTROL_ALLOW_ORIGIN, value));
            }
            response
                .insert_header((ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS))
                .insert_header((ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS))
                .insert_header((ACCESS_CONTROL_MAX_AGE, cors.max_age_secs.to_string()));
            response.finish()
        } else {
            HttpResponse::Forbidden()
                .content_type("text/plain; charset=utf-8")
                .body(format!("cross-origin requests from {origin} are not allowed (http.cors.allowed_origins)"))
        };
        response.headers_mut().append(
            VARY,
            HeaderValue::from_static("Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
        );
        return Ok(req.into_response(response));
    }

    let mut response = next.call(req).await?.map_into_boxed_body();
    let headers = response.headers_mut();
    if allowed && let Some(value) = allow_origin() {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSE_HEADERS));
    }
    if cors.is_enabled() && !cors.any {
        // The answer depends on the origin: caches must keep one per origin.
        headers.append(VARY, HeaderValue::from_static("Origin"));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(origins: &[&str]) -> anyhow::Result<Cors> {
        Cors::from_config(&CorsConfig {
            allowed_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
            max_age_secs: 60,
        })
    }

    #[test]
    fn origins_are_checked_at_start_and_matched_exactly() {
        let c = cors(&["https://app.example.com", "http://127.0.0.1:3000"]).unwrap();
        assert!(c.is_enabled());
        assert!(c.allows("https://app.example.com"));
        assert!(c.allows("HTTPS://APP.example.com"));
        assert!(c.allows("http://127.0.0.1:3000"));
        assert!(!c.allows("http://app.example.com"));
        assert!(!c.allows("https://app.example.com:8443"));
        assert!(!c.allows("https://evil.example.com"));
        assert!(!c.allows("https://app.example.com.evil.test"));
        assert!(!c.allows("null"));
        for bad in ["app.example.com", "https://app.example.com/", "https://app.example.com/path", "ftp://x", "https://", "https://a:b", "https://u@x"] {
            assert!(cors(&[bad]).is_err(), "accepted {bad:?}");
        }
        let none = cors(&[]).unwrap();
        assert!(!none.is_enabled() && !none.allows("https://app.example.com"));
        let any = cors(&["*"]).unwrap();
        assert!(any.is_enabled() && any.allows("https://anything.test"));
    }

    #[test]
    fn the_graphiql_policy_names_only_this_server() {
        let csp = graphiql_csp("127.0.0.1:8080");
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(csp.contains("connect-src 'self' ws://127.0.0.1:8080 wss://127.0.0.1:8080;"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        // A Host that tries to add a directive is left out.
        let csp = graphiql_csp("x; script-src *");
        assert!(csp.contains("connect-src 'self';") && !csp.contains("script-src *"), "{csp}");
    }
}
