//! GraphQL subscriptions over WebSocket: graphql-transport-ws (and the legacy graphql-ws of
//! subscriptions-transport-ws), run by async-graphql's protocol state machine, with Kanjian's
//! limits at the connection layer in front of it:
//!
//! - at most `http.max_connections_per_user` open connections per user (per IP address for
//!   anonymous ones) on this node: one more is closed at `connection_init` with **4429** and a
//!   reason that says so (graphql-ws clients treat 4429 as final and do not retry);
//! - at most `http.max_subscriptions_per_connection` running subscriptions per connection: one
//!   more gets an `error` message for its id with code `TOO_MANY_SUBSCRIPTIONS`, and the
//!   connection and its other subscriptions carry on;
//! - a document whose fragments multiply is refused before async-graphql walks it
//!   (`kanjian_graphql::check_expansion`), as over HTTP.
//!
//! - at most `http.max_queued_messages_per_connection` messages waiting for a client that does
//!   not read them; when the queue stays full for `http.slow_client_timeout_ms`, the connection
//!   is closed with **4008** and the reason "too slow: …". The queue is written by a branch of
//!   its own, so writing to a slow client never holds up the loop that polls the connection's
//!   subscriptions (which may hold pooled database connections) for longer than that.
//!
//! A token that does not authenticate closes the connection with 4403 (the protocol's
//! "Forbidden"), with the reason.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::http::header::SEC_WEBSOCKET_PROTOCOL;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use async_graphql::http::{ClientMessage, WebSocket, WebSocketProtocols, WsMessage};
use futures::StreamExt;
use kanjian_kernel::Actor;

use super::auth;
use crate::app::AppState;

/// A ping every so often; a client that answers nothing for `CLIENT_TIMEOUT` is gone.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest message a client may send (a subscribe with its query and variables).
const MAX_MESSAGE_BYTES: usize = 256 * 1024;

pub(crate) const CLOSE_FORBIDDEN: u16 = 4403;
pub(crate) const CLOSE_TOO_MANY_CONNECTIONS: u16 = 4429;
/// A client that leaves `http.max_queued_messages_per_connection` messages unread.
pub(crate) const CLOSE_TOO_SLOW: u16 = 4008;
/// How long a closing connection waits for its client to take what is left and the close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Open WebSocket connections per user on this node.
pub(crate) struct ConnectionCounts {
    max: usize,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

/// One counted connection; dropping it (the connection's data goes when it closes) frees it.
struct ConnectionSlot {
    key: String,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

impl ConnectionCounts {
    pub(crate) fn new(max: usize) -> Self {
        Self { max, open: Arc::default() }
    }

    fn acquire(&self, key: String) -> Result<ConnectionSlot, usize> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(key.clone()).or_insert(0);
        if *count >= self.max {
            return Err(*count);
        }
        *count += 1;
        Ok(ConnectionSlot { key, open: self.open.clone() })
    }

    #[cfg(test)]
    fn open(&self, key: &str) -> usize {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).get(key).copied().unwrap_or(0)
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// Upgrades `GET /graphql` to a WebSocket speaking the subprotocol the client offers.
pub(crate) fn start(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> actix_web::Result<HttpResponse> {
    let protocol = req
        .headers()
        .get(SEC_WEBSOCKET_PROTOCOL)
        .and_then(|value| value.to_str().ok())
        .and_then(|offered| offered.split(',').find_map(|p| WebSocketProtocols::from_str(p.trim()).ok()))
        .ok_or_else(|| {
            actix_web::error::ErrorBadRequest(
                "Sec-WebSocket-Protocol must offer graphql-transport-ws (or the legacy graphql-ws)",
            )
        })?;
    let (response, session, messages) =
        actix_ws::handle_with_protocols(&req, payload, &[protocol.sec_websocket_protocol()])?;
    let client = auth::client_info(&req, &state.proxies);
    let messages = messages.max_frame_size(MAX_MESSAGE_BYTES).aggregate_continuations().max_continuation_size(MAX_MESSAGE_BYTES);
    actix_web::rt::spawn(run(state.into_inner(), client, protocol, session, messages));
    Ok(response)
}

/// Why `connection_init` was refused, for the close frame (async-graphql only knows 1002).
type Refusal = Arc<Mutex<Option<(u16, String)>>>;

async fn run(
    state: Arc<AppState>,
    client: kanjian_contracts::identity::ClientInfo,
    protocol: WebSocketProtocols,
    session: Session,
    mut messages: actix_ws::AggregatedMessageStream,
) {
    let refusal: Refusal = Arc::default();
    let on_init = {
        let state = state.clone();
        let refusal = refusal.clone();
        let client = client.clone();
        move |payload: serde_json::Value| async move {
            let refuse = |code: u16, reason: String| {
                *refusal.lock().unwrap_or_else(PoisonError::into_inner) = Some((code, reason.clone()));
                async_graphql::Error::new(reason)
            };
            let actor = auth::actor_from_init(&payload, state.identity.as_ref()).await.map_err(|e| {
                let reason = match e {
                    kanjian_kernel::Error::Unauthenticated => "the token is invalid, expired or revoked".to_owned(),
                    other => other.to_string(),
                };
                refuse(CLOSE_FORBIDDEN, reason)
            })?;
            let (key, who) = match &actor {
                Actor::User { user_id, .. } => (format!("user:{}", user_id.0), "this user"),
                Actor::Anonymous => {
                    (format!("ip:{}", client.ip.as_deref().unwrap_or("unknown")), "this address")
                }
            };
            let slot = state.ws_connections.acquire(key).map_err(|open| {
                refuse(
                    CLOSE_TOO_MANY_CONNECTIONS,
                    format!("too many WebSocket connections for {who}: {open} open, the limit is {}", state.ws_connections.max),
                )
            })?;
            let mut data = kanjian_graphql::connection_data(actor, client, &state.services);
            data.insert(Arc::new(slot));
            Ok(data)
        }
    };
    // Boxed: a tokio channel allocates its first 32 slots at once, and a `ClientMessage` is
    // 368 bytes, so unboxed that is 11.5 KB per connection for messages that are rare.
    let (to_graphql, from_client) = tokio::sync::mpsc::unbounded_channel::<Box<serde_json::Result<ClientMessage>>>();
    let mut from_client = from_client;
    let incoming = futures::stream::poll_fn(move |cx| from_client.poll_recv(cx).map(|message| message.map(|m| *m)));
    let mut graphql =
        Box::pin(WebSocket::from_message_stream(state.schema.schema().clone(), incoming, protocol).on_connection_init(on_init));

    let max_subscriptions = state.config.http.max_subscriptions_per_connection;
    let queue_size = state.config.http.max_queued_messages_per_connection.max(1);
    let slow_grace = Duration::from_millis(state.config.http.slow_client_timeout_ms);
    let mut running: HashSet<String> = HashSet::new();
    let mut heartbeat =
        tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT_INTERVAL, HEARTBEAT_INTERVAL);
    let mut last_heard = Instant::now();
    // Everything for the client goes through a bounded queue, written by a branch of its own,
    // so writing never holds up this loop. When the queue is full, the one message that did not
    // fit waits, and with it the subscriptions and the client's requests (a subscription's
    // stream skips what it misses meanwhile, as the hub does for any slow subscriber), for at
    // most `slow_grace`: a client still not reading then is too slow and is closed.
    let (outgoing, queued) = tokio::sync::mpsc::channel::<Outgoing>(queue_size);
    let writer = write(session.clone(), queued);
    tokio::pin!(writer);
    let mut writer_done = false;
    let mut waiting: Option<Outgoing> = None;
    // Since when the client has been behind: set when the queue fills, cleared only once it has
    // read half the queue, so reading one message now and then does not keep a client alive.
    let mut behind_since: Option<tokio::time::Instant> = None;
    let close = loop {
        let blocked = waiting.is_some();
        if !blocked && outgoing.capacity() * 2 >= queue_size {
            behind_since = None;
        }
        let deadline = behind_since.unwrap_or_else(tokio::time::Instant::now) + slow_grace;
        tokio::select! {
            message = messages.next(), if !blocked => {
                let text = match message {
                    Some(Ok(AggregatedMessage::Text(text))) => text.into_bytes(),
                    Some(Ok(AggregatedMessage::Binary(bytes))) => bytes,
                    Some(Ok(AggregatedMessage::Ping(bytes))) => {
                        last_heard = Instant::now();
                        queue(&outgoing, &mut waiting, &mut behind_since, Outgoing::Pong(bytes));
                        continue;
                    }
                    Some(Ok(AggregatedMessage::Pong(_))) => {
                        last_heard = Instant::now();
                        continue;
                    }
                    Some(Ok(AggregatedMessage::Close(_))) | Some(Err(_)) | None => break None,
                };
                last_heard = Instant::now();
                let mut message = ClientMessage::from_bytes(&text);
                match &mut message {
                    Ok(ClientMessage::Start { id, payload }) => {
                        let refused = if running.contains(id.as_str()) {
                            if protocol == WebSocketProtocols::GraphQLWS {
                                break Some((4409, format!("Subscriber for {id} already exists")));
                            }
                            None
                        } else if running.len() >= max_subscriptions {
                            Some(serde_json::json!({
                                "message": format!("too many subscriptions on this connection: the limit is {max_subscriptions}; complete one first"),
                                "extensions": { "code": "TOO_MANY_SUBSCRIPTIONS" },
                            }))
                        } else if let Err(error) = kanjian_graphql::check_expansion(payload, &state.config.graphql) {
                            Some(serde_json::to_value(error).unwrap_or_default())
                        } else {
                            running.insert(id.clone());
                            None
                        };
                        if let Some(error) = refused {
                            queue(&outgoing, &mut waiting, &mut behind_since, Outgoing::Text(error_message(protocol, id, error)));
                            continue;
                        }
                    }
                    Ok(ClientMessage::Stop { id }) => {
                        running.remove(id);
                    }
                    _ => {}
                }
                if to_graphql.send(Box::new(message)).is_err() { break None; }
            }
            reply = graphql.next(), if !blocked => match reply {
                Some(WsMessage::Text(text)) => {
                    if let Some(id) = finished_id(&text) {
                        running.remove(&id);
                    }
                    queue(&outgoing, &mut waiting, &mut behind_since, Outgoing::Text(text));
                }
                Some(WsMessage::Close(code, reason)) => {
                    let refused = refusal.lock().unwrap_or_else(PoisonError::into_inner).take();
                    break Some(refused.unwrap_or((code, reason)));
                }
                None => break Some((1000, String::new())),
            },
            // The client read some: the waiting message goes, and everything else resumes.
            permit = outgoing.reserve(), if blocked => match (permit, waiting.take()) {
                (Ok(permit), Some(message)) => permit.send(message),
                _ => break None,
            },
            () = tokio::time::sleep_until(deadline), if blocked => {
                break Some((CLOSE_TOO_SLOW, format!("too slow: {queue_size} messages waited more than {} ms to be read", slow_grace.as_millis())));
            }
            // The client is gone (the session closed under the writer).
            () = &mut writer, if !writer_done => {
                writer_done = true;
                break None;
            }
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > CLIENT_TIMEOUT {
                    break Some((1001, "no answer to pings".to_owned()));
                }
                // A client with a backlog is pinged by the deadline instead.
                if !blocked {
                    queue(&outgoing, &mut waiting, &mut behind_since, Outgoing::Ping);
                }
            }
        }
    };
    // The subscriptions end now (and the connection's slot is freed), whatever the client does.
    drop(graphql);
    if let Some((code, reason)) = close {
        if code == CLOSE_TOO_SLOW {
            // The backlog is dropped: the close frame waits only behind what actix already holds.
            tracing::warn!(queued = queue_size, "closing a WebSocket whose client does not read");
        } else if !writer_done {
            // What was queued before the close goes first (an `error` before a refusal, say).
            drop(outgoing);
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, &mut writer).await;
        }
        let description = (!reason.is_empty()).then(|| truncate_reason(reason));
        let closing = session.close(Some(CloseReason { code: CloseCode::from(code), description }));
        // A client that never reads never takes the close frame either: give up on it then.
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, closing).await;
    }
}

/// What the connection sends its client, in order.
enum Outgoing {
    Text(String),
    Ping,
    Pong(bytes::Bytes),
}

/// Queues `message` without waiting. When the queue is full, it becomes the one waiting message,
/// and the client is behind from now (if it was not already).
fn queue(
    outgoing: &tokio::sync::mpsc::Sender<Outgoing>,
    waiting: &mut Option<Outgoing>,
    behind_since: &mut Option<tokio::time::Instant>,
    message: Outgoing,
) {
    // Closed only with the writer, whose own branch then ends the loop.
    if let Err(tokio::sync::mpsc::error::TrySendError::Full(message)) = outgoing.try_send(message) {
        *waiting = Some(message);
        behind_since.get_or_insert_with(tokio::time::Instant::now);
    }
}

/// Writes the queue to the client as fast as it reads; ends when the client is gone or the
/// queue is closed and empty.
async fn write(mut session: Session, mut queue: tokio::sync::mpsc::Receiver<Outgoing>) {
    while let Some(message) = queue.recv().await {
        let sent = match message {
            Outgoing::Text(text) => session.text(text).await,
            Outgoing::Ping => session.ping(b"").await,
            Outgoing::Pong(bytes) => session.pong(&bytes).await,
        };
        if sent.is_err() {
            return;
        }
    }
}

/// The id of a subscription the server has finished (`complete`, or `error` in the legacy
/// protocol). async-graphql writes the `type` tag first, so other messages are not parsed.
fn finished_id(text: &str) -> Option<String> {
    if !(text.starts_with(r#"{"type":"complete""#) || text.starts_with(r#"{"type":"error""#)) {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    value.get("id")?.as_str().map(str::to_owned)
}

/// An `error` message for subscription `id`: the operation ends, the connection carries on.
fn error_message(protocol: WebSocketProtocols, id: &str, error: serde_json::Value) -> String {
    let payload = match protocol {
        // graphql-transport-ws: `error` carries a list of GraphQL errors.
        WebSocketProtocols::GraphQLWS => serde_json::json!([error]),
        WebSocketProtocols::SubscriptionsTransportWS => error,
    };
    serde_json::json!({ "id": id, "type": "error", "payload": payload }).to_string()
}

/// A close frame's reason is at most 123 bytes.
fn truncate_reason(mut reason: String) -> String {
    const MAX: usize = 123;
    if reason.len() > MAX {
        let mut end = MAX;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_counted_per_key_and_freed_when_dropped() {
        let counts = ConnectionCounts::new(2);
        let a1 = counts.acquire("user:1".into()).unwrap();
        let a2 = counts.acquire("user:1".into()).unwrap();
        assert_eq!(counts.acquire("user:1".into()).err(), Some(2));
        let b = counts.acquire("user:2".into()).unwrap();
        drop(a1);
        let a3 = counts.acquire("user:1".into()).unwrap();
        drop((a2, a3, b));
        assert_eq!(counts.open("user:1"), 0);
        assert!(counts.open.lock().unwrap().is_empty());
    }

    #[test]
    fn only_finishing_messages_are_read_for_their_id() {
        assert_eq!(finished_id(r#"{"type":"complete","id":"7"}"#).as_deref(), Some("7"));
        assert_eq!(finished_id(r#"{"type":"error","id":"8","payload":{}}"#).as_deref(), Some("8"));
        assert_eq!(finished_id(r#"{"type":"next","id":"7","payload":{"data":{}}}"#), None);
    }

    #[test]
    fn close_reasons_fit_a_frame() {
        let long = "超".repeat(100);
        let cut = truncate_reason(long);
        assert!(cut.len() <= 123 && cut.chars().all(|c| c == '超'));
    }
}
