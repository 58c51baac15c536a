//! The WebSocket handshake for `GET /graphql`, taken from actix-http's HTTP/1 dispatcher (its
//! `upgrade` service), so that an open subscription connection is a tokio-tungstenite stream in
//! one task of Kanjian's own.
//!
//! Why not actix-ws: a connection there keeps actix's dispatcher for its whole life (an 8 KiB
//! read and an 8 KiB write buffer, and a task that every message crosses after the one that
//! produced it). Here the dispatcher hands over the socket and whatever it had read, and the
//! connection keeps a 4 KiB read buffer: what stays per idle connection is measured by
//! `scripts/bench/run --only fanout` (§5 of its README).
//!
//! Only WebSocket upgrades (and `CONNECT`) come here; every other request, including any
//! other `Upgrade`, goes through actix-web as before. An upgrade that Kanjian does not serve
//! gets a plain HTTP answer that says why, and the connection closes.

use std::str::FromStr;
use std::sync::Arc;

use actix_codec::Framed;
use actix_http::header::{HeaderMap, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION};
use actix_http::{HttpMessage, Method, Request, h1};
use actix_service::{ServiceFactory, fn_service};
use async_graphql::http::WebSocketProtocols;
use futures::future::LocalBoxFuture;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::MAX_MESSAGE_BYTES;
use crate::app::AppState;
use crate::routes::auth;

/// A connection's read buffer. tungstenite's default, 128 KiB, would cost that much per
/// connection; a client message is a subscribe, a complete or a pong, rarely over 4 KiB.
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// The service actix-http calls with an upgrade request and the connection under it.
pub(crate) fn service(
    state: Arc<AppState>,
) -> impl ServiceFactory<
    (Request, Framed<TcpStream, h1::Codec>),
    Config = (),
    Response = (),
    Error = actix_web::Error,
    InitError = (),
> {
    fn_service(move |(request, framed): (Request, Framed<TcpStream, h1::Codec>)| {
        let state = state.clone();
        // Boxed: the dispatcher keeps this future inline, in every HTTP connection's state.
        let upgrade: LocalBoxFuture<'static, Result<(), actix_web::Error>> = Box::pin(async move {
            // A client that goes away during the handshake is no error of the server's.
            if let Err(error) = upgrade(state, request, framed).await {
                tracing::debug!(%error, "a WebSocket handshake failed");
            }
            Ok(())
        });
        upgrade
    })
}

async fn upgrade(state: Arc<AppState>, request: Request, framed: Framed<TcpStream, h1::Codec>) -> std::io::Result<()> {
    let parts = framed.into_parts();
    let mut io = parts.io;
    // Answers to earlier requests on this connection that the dispatcher had not yet written.
    if !parts.write_buf.is_empty() {
        io.write_all(&parts.write_buf).await?;
    }
    let accepted = match accept(request.method(), request.path(), request.headers()) {
        Ok(accepted) => accepted,
        Err(refusal) => {
            io.write_all(refusal.to_http().as_bytes()).await?;
            return io.shutdown().await;
        }
    };
    io.write_all(accepted.response.as_bytes()).await?;
    // Each message is one write of a whole frame; Nagle would hold a small one back for an ACK.
    io.set_nodelay(true)?;
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        // Written at once: these are live events, and each is already one frame.
        .write_buffer_size(0)
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES));
    // Whatever the client sent after its request (frames it did not wait to send) is read first.
    let socket = WebSocketStream::from_partially_read(io, parts.read_buf.to_vec(), Role::Server, Some(config)).await;
    drop(parts.read_buf);
    drop(parts.write_buf);
    let client = auth::client_info_from(request.peer_addr(), request.headers(), &state.proxies);
    super::run(state, client, accepted.protocol, socket).await;
    Ok(())
}

/// A handshake Kanjian answers with `101 Switching Protocols`.
#[derive(Debug)]
struct Accepted {
    protocol: WebSocketProtocols,
    response: String,
}

/// Why an upgrade is refused: the HTTP status, a header to add, and the reason.
#[derive(Debug, PartialEq)]
struct Refusal {
    status: &'static str,
    header: Option<&'static str>,
    reason: &'static str,
}

impl Refusal {
    fn to_http(&self) -> String {
        let header = self.header.map(|h| format!("{h}\r\n")).unwrap_or_default();
        format!(
            "HTTP/1.1 {}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n\
             x-content-type-options: nosniff\r\nconnection: close\r\n{header}\r\n{}",
            self.status,
            self.reason.len(),
            self.reason,
        )
    }
}

/// Checks a WebSocket handshake (RFC 6455 §4.2.1) for `/graphql` and picks the subprotocol:
/// graphql-transport-ws, or the legacy graphql-ws, whichever the client offers first.
fn accept(method: &Method, path: &str, headers: &HeaderMap) -> Result<Accepted, Refusal> {
    if path != "/graphql" {
        return Err(Refusal {
            status: "404 Not Found",
            header: None,
            reason: "no WebSocket here: GraphQL subscriptions are at /graphql",
        });
    }
    if method != Method::GET {
        return Err(Refusal { status: "405 Method Not Allowed", header: Some("allow: GET, POST"), reason: "a WebSocket opens with GET" });
    }
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if header(SEC_WEBSOCKET_VERSION).map(str::trim) != Some("13") {
        return Err(Refusal {
            status: "426 Upgrade Required",
            header: Some("sec-websocket-version: 13"),
            reason: "only WebSocket version 13 (RFC 6455) is spoken here",
        });
    }
    let Some(key) = header(SEC_WEBSOCKET_KEY).map(str::trim).filter(|k| !k.is_empty()) else {
        return Err(Refusal { status: "400 Bad Request", header: None, reason: "Sec-WebSocket-Key is missing" });
    };
    let protocol = headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|offered| offered.split(','))
        .find_map(|p| WebSocketProtocols::from_str(p.trim()).ok())
        .ok_or(Refusal {
            status: "400 Bad Request",
            header: None,
            reason: "Sec-WebSocket-Protocol must offer graphql-transport-ws (or the legacy graphql-ws)",
        })?;
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
         sec-websocket-accept: {}\r\nsec-websocket-protocol: {}\r\n\r\n",
        derive_accept_key(key.as_bytes()),
        protocol.sec_websocket_protocol(),
    );
    Ok(Accepted { protocol, response })
}

#[cfg(test)]
mod tests {
    use actix_http::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(HeaderName::from_static(name), HeaderValue::from_static(value));
        }
        map
    }

    const GOOD: [(&str, &str); 3] = [
        ("sec-websocket-version", "13"),
        // RFC 6455 §1.3's example key and its answer.
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("sec-websocket-protocol", "chat, graphql-transport-ws, graphql-ws"),
    ];

    #[test]
    fn a_good_handshake_gets_the_first_graphql_protocol_and_the_rfc_answer() {
        let accepted = accept(&Method::GET, "/graphql", &headers(&GOOD)).unwrap();
        assert_eq!(accepted.protocol, WebSocketProtocols::GraphQLWS);
        assert!(accepted.response.starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{}", accepted.response);
        assert!(accepted.response.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(accepted.response.contains("sec-websocket-protocol: graphql-transport-ws\r\n"));
        assert!(accepted.response.ends_with("\r\n\r\n"));
        let legacy = headers(&[GOOD[0], GOOD[1], ("sec-websocket-protocol", "graphql-ws")]);
        assert_eq!(accept(&Method::GET, "/graphql", &legacy).unwrap().protocol, WebSocketProtocols::SubscriptionsTransportWS);
    }

    #[test]
    fn what_is_not_a_graphql_websocket_is_refused_with_a_reason() {
        let status = |method: Method, path: &str, pairs: &[(&'static str, &'static str)]| {
            accept(&method, path, &headers(pairs)).unwrap_err().status
        };
        assert_eq!(status(Method::GET, "/live/rooms/1", &GOOD), "404 Not Found");
        assert_eq!(status(Method::CONNECT, "/graphql", &GOOD), "405 Method Not Allowed");
        assert_eq!(status(Method::GET, "/graphql", &[GOOD[1], GOOD[2], ("sec-websocket-version", "8")]), "426 Upgrade Required");
        assert_eq!(status(Method::GET, "/graphql", &[GOOD[0], GOOD[2]]), "400 Bad Request");
        let refusal = accept(&Method::GET, "/graphql", &headers(&[GOOD[0], GOOD[1], ("sec-websocket-protocol", "chat")])).unwrap_err();
        assert!(refusal.reason.contains("graphql-transport-ws"));
        let http = refusal.to_http();
        assert!(http.starts_with("HTTP/1.1 400 Bad Request\r\n") && http.contains("connection: close\r\n"), "{http}");
        assert!(http.ends_with(&format!("content-length: {}\r\nx-content-type-options: nosniff\r\nconnection: close\r\n\r\n{}", refusal.reason.len(), refusal.reason)));
    }
}
