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
//!   (`kanjian_graphql::check_expansion`), as over HTTP;
//! - at most `http.max_queued_messages_per_connection` messages waiting for a client that does
//!   not read them; when the queue stays full for `http.slow_client_timeout_ms`, the connection
//!   is closed with **4008** and the reason "too slow: …". Writing never waits on the client:
//!   a message it has not taken stays queued, so a slow client holds up the connection's
//!   subscriptions (which may hold pooled database connections) for no longer than that;
//! - a client message over 256 KiB closes the connection with 1009 (message too big).
//!
//! Each connection is one task: it reads the client, polls the protocol machine, and writes
//! to the socket itself (tokio-tungstenite; `upgrade.rs` has the handshake and why not actix-ws).
//!
//! A token that does not authenticate closes the connection with 4403 (the protocol's
//! "Forbidden"), with the reason.

mod upgrade;

use std::collections::{HashMap, HashSet, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use async_graphql::http::{ClientMessage, WebSocket, WebSocketProtocols, WsMessage};
use bytes::Bytes;
use futures::{Sink, Stream, StreamExt};
use kanjian_kernel::Actor;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::auth;
use crate::app::AppState;
pub(crate) use upgrade::service as upgrade_service;

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

/// Why `connection_init` was refused, for the close frame (async-graphql only knows 1002).
type Refusal = Arc<Mutex<Option<(u16, String)>>>;

type Socket = WebSocketStream<TcpStream>;

/// Runs one connection after its handshake ([`upgrade`]) until either side closes it.
async fn run(
    state: Arc<AppState>,
    client: kanjian_contracts::identity::ClientInfo,
    protocol: WebSocketProtocols,
    socket: Socket,
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
    let mut running: HashSet<String> = HashSet::new();
    let mut connection = Connection {
        socket,
        queue: VecDeque::new(),
        queue_size: state.config.http.max_queued_messages_per_connection.max(1),
        slow_grace: Duration::from_millis(state.config.http.slow_client_timeout_ms),
        behind: None,
        heartbeat: tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT_INTERVAL, HEARTBEAT_INTERVAL),
        last_heard: Instant::now(),
    };
    let close = loop {
        match futures::future::poll_fn(|cx| connection.poll_event(cx, graphql.as_mut())).await {
            Event::Client(message) => {
                connection.last_heard = Instant::now();
                let bytes = match message {
                    Some(Ok(Message::Text(text))) => Bytes::from(text),
                    Some(Ok(Message::Binary(bytes))) => bytes,
                    // tungstenite answers pings itself, and its answer to a close frame.
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Ok(Message::Close(_))) | None => break None,
                    Some(Err(WsError::Capacity(why))) => {
                        break Some((u16::from(CloseCode::Size), format!("message too big: {why}")));
                    }
                    Some(Err(WsError::Protocol(why))) => {
                        break Some((u16::from(CloseCode::Protocol), why.to_string()));
                    }
                    Some(Err(_)) => break None,
                };
                let mut message = ClientMessage::from_bytes(&bytes);
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
                            connection.send(Message::text(error_message(protocol, id, error)));
                            continue;
                        }
                    }
                    Ok(ClientMessage::Stop { id }) => {
                        running.remove(id);
                    }
                    _ => {}
                }
                if to_graphql.send(Box::new(message)).is_err() {
                    break None;
                }
            }
            Event::Reply(Some(WsMessage::Text(text))) => {
                if let Some(id) = finished_id(&text) {
                    running.remove(&id);
                }
                connection.send(Message::text(text));
            }
            Event::Reply(Some(WsMessage::Close(code, reason))) => {
                let refused = refusal.lock().unwrap_or_else(PoisonError::into_inner).take();
                break Some(refused.unwrap_or((code, reason)));
            }
            Event::Reply(None) => break Some((1000, String::new())),
            Event::Gone => break None,
            Event::TooSlow => {
                break Some((
                    CLOSE_TOO_SLOW,
                    format!("too slow: {} messages waited more than {} ms to be read", connection.queue_size, connection.slow_grace.as_millis()),
                ));
            }
            Event::Heartbeat => {
                if connection.last_heard.elapsed() > CLIENT_TIMEOUT {
                    break Some((1001, "no answer to pings".to_owned()));
                }
                // A client with a backlog is pinged by the deadline instead.
                if connection.behind.is_none() {
                    connection.send(Message::Ping(Bytes::new()));
                }
            }
        }
    };
    // The subscriptions end now (and the connection's slot is freed), whatever the client does.
    drop(graphql);
    drop(to_graphql);
    connection.close(close).await;
}

/// One client's socket, and what waits to be written to it.
///
/// Everything for the client goes through `queue`, written as fast as the client reads. When
/// `queue_size` messages wait, the connection stops polling its subscriptions and the
/// client's requests (a subscription's stream skips what it misses meanwhile, as the hub does
/// for any slow subscriber) for at most `slow_grace`: a client still not reading then is too
/// slow and is closed. A subscription that holds pooled database connections is thus held up
/// by a slow client for `slow_grace` at most.
struct Connection {
    socket: Socket,
    queue: VecDeque<Message>,
    queue_size: usize,
    slow_grace: Duration,
    /// Since when the client has been behind, and when it will be too slow: set when the queue
    /// fills, cleared only once it has read half the queue, so that reading a message now and
    /// then does not keep a client alive. Boxed and made only then: most clients never are.
    behind: Option<Pin<Box<tokio::time::Sleep>>>,
    heartbeat: tokio::time::Interval,
    last_heard: Instant,
}

/// What a connection has to act on next.
enum Event {
    /// A message from the client, an error reading one, or its end.
    Client(Option<Result<Message, WsError>>),
    /// Something the protocol machine sends the client; `None` when it has finished.
    Reply(Option<WsMessage>),
    /// Writing failed: the client is gone.
    Gone,
    TooSlow,
    Heartbeat,
}

impl Connection {
    /// Queues `message` for the client; a full queue makes the client behind.
    fn send(&mut self, message: Message) {
        self.queue.push_back(message);
        if self.queue.len() >= self.queue_size && self.behind.is_none() {
            self.behind = Some(Box::pin(tokio::time::sleep(self.slow_grace)));
        }
    }

    fn blocked(&self) -> bool {
        self.queue.len() >= self.queue_size
    }

    /// Writes what the socket takes, then waits for whichever comes first: the client, a reply
    /// (unless the queue is full), the slow-client deadline, or the heartbeat.
    fn poll_event<S>(&mut self, cx: &mut Context<'_>, graphql: Pin<&mut S>) -> Poll<Event>
    where
        S: Stream<Item = WsMessage> + ?Sized,
    {
        if let Poll::Ready(Err(_)) = self.poll_write(cx) {
            return Poll::Ready(Event::Gone);
        }
        if self.queue.len() * 2 <= self.queue_size {
            self.behind = None;
        }
        if !self.blocked() {
            if let Poll::Ready(message) = Pin::new(&mut self.socket).poll_next(cx) {
                return Poll::Ready(Event::Client(message));
            }
            if let Poll::Ready(reply) = graphql.poll_next(cx) {
                return Poll::Ready(Event::Reply(reply));
            }
        }
        if let Some(deadline) = &mut self.behind
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Event::TooSlow);
        }
        if self.heartbeat.poll_tick(cx).is_ready() {
            return Poll::Ready(Event::Heartbeat);
        }
        Poll::Pending
    }

    /// Hands queued messages to the socket while it takes them, and flushes. Ready when all is
    /// written, or with the error that ended the connection.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        let mut socket = Pin::new(&mut self.socket);
        while !self.queue.is_empty() {
            ready!(socket.as_mut().poll_ready(cx))?;
            if let Some(message) = self.queue.pop_front() {
                socket.as_mut().start_send(message)?;
            }
        }
        socket.poll_flush(cx)
    }

    /// Closes the connection: with a close frame after what is queued (unless the client is too
    /// slow to take it, whose backlog is dropped), then waits for the client's close frame, so
    /// that closing the socket does not reset a connection whose client is still sending. When
    /// the client closed first, only tungstenite's answer to it is written.
    async fn close(mut self, close: Option<(u16, String)>) {
        let closing = async {
            if let Some((code, reason)) = close {
                if code == CLOSE_TOO_SLOW {
                    tracing::warn!(queued = self.queue.len(), "closing a WebSocket whose client does not read");
                    self.queue.clear();
                }
                let frame = CloseFrame { code: CloseCode::from(code), reason: truncate_reason(reason).into() };
                self.queue.push_back(Message::Close(Some(frame)));
            }
            if futures::future::poll_fn(|cx| self.poll_write(cx)).await.is_err() {
                return;
            }
            // The client's close frame (or anything it sent before it); then the stream ends.
            while let Some(Ok(_)) = self.socket.next().await {}
        };
        // A client that never reads never takes the close frame either: give up on it then.
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, closing).await;
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
