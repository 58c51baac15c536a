//! A graphql-transport-ws client, enough to run one subscription and read its messages.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Subscription {
    socket: Socket,
}

impl Subscription {
    /// Connects, authenticates in `connection_init`, and subscribes.
    pub async fn start(base: &str, token: Option<&str>, query: &str, variables: Value) -> Self {
        let url = format!("{}/graphql", base.replacen("http", "ws", 1));
        let mut request = url.into_client_request().expect("ws request");
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("graphql-transport-ws"));
        let (mut socket, response) = tokio_tungstenite::connect_async(request).await.expect("ws connect");
        assert_eq!(
            response.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok()),
            Some("graphql-transport-ws")
        );
        let payload = match token {
            Some(t) => json!({ "authorization": format!("Bearer {t}") }),
            None => json!({}),
        };
        send(&mut socket, json!({ "type": "connection_init", "payload": payload })).await;
        let ack = next_json(&mut socket).await.expect("connection_ack");
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        send(
            &mut socket,
            json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": variables } }),
        )
        .await;
        Self { socket }
    }

    /// The next `next` payload, `Err` with the message for `error`, `None` on `complete`.
    pub async fn next(&mut self) -> Option<Result<Value, Value>> {
        loop {
            let message = next_json(&mut self.socket).await?;
            match message["type"].as_str() {
                Some("next") => return Some(Ok(message["payload"].clone())),
                Some("error") => return Some(Err(message["payload"].clone())),
                Some("complete") => return None,
                Some("ping") => send(&mut self.socket, json!({ "type": "pong" })).await,
                _ => {}
            }
        }
    }

    /// Reads until `done` says stop; returns every payload seen.
    pub async fn collect_until(&mut self, timeout: Duration, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut seen = Vec::new();
        let result = tokio::time::timeout(timeout, async {
            while let Some(item) = self.next().await {
                let payload = item.unwrap_or_else(|e| panic!("subscription error: {e}"));
                let stop = done(&payload);
                seen.push(payload);
                if stop {
                    return;
                }
            }
        })
        .await;
        assert!(result.is_ok(), "subscription did not finish within {timeout:?}; saw {seen:#?}");
        seen
    }
}

async fn send(socket: &mut Socket, message: Value) {
    socket.send(Message::Text(message.to_string().into())).await.expect("ws send");
}

async fn next_json(socket: &mut Socket) -> Option<Value> {
    while let Some(frame) = socket.next().await {
        match frame.ok()? {
            Message::Text(text) => return serde_json::from_str(&text).ok(),
            Message::Close(_) => return None,
            _ => {}
        }
    }
    None
}

/// One graphql-transport-ws connection, message by message: for tests of the protocol and of
/// the limits around it.
pub struct Connection {
    socket: Socket,
}

impl Connection {
    /// Connects and sends `connection_init` (with the token, if any). `Err((code, reason))`
    /// when the server closes the connection instead of acknowledging it.
    pub async fn open(base: &str, token: Option<&str>) -> Result<Self, (u16, String)> {
        let url = format!("{}/graphql", base.replacen("http", "ws", 1));
        let mut request = url.into_client_request().expect("ws request");
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("graphql-transport-ws"));
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("ws connect");
        let payload = match token {
            Some(t) => json!({ "authorization": format!("Bearer {t}") }),
            None => json!({}),
        };
        send(&mut socket, json!({ "type": "connection_init", "payload": payload })).await;
        let reply = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match socket.next().await {
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    other => return other,
                }
            }
        })
        .await
        .expect("an answer to connection_init within 10 s");
        match reply {
            Some(Ok(Message::Text(text))) => {
                let ack: Value = serde_json::from_str(&text).expect("JSON");
                assert_eq!(ack["type"], "connection_ack", "{ack}");
                Ok(Self { socket })
            }
            Some(Ok(Message::Close(Some(frame)))) => Err((frame.code.into(), frame.reason.to_string())),
            other => panic!("neither an ack nor a close: {other:?}"),
        }
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        send(&mut self.socket, json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } })).await;
    }

    pub async fn complete(&mut self, id: &str) {
        send(&mut self.socket, json!({ "id": id, "type": "complete" })).await;
    }

    /// The next message other than ping/pong, within `timeout`; `None` if none came or the
    /// connection closed.
    pub async fn next_message(&mut self, timeout: Duration) -> Option<Value> {
        let socket = &mut self.socket;
        tokio::time::timeout(timeout, async {
            loop {
                let message = next_json(socket).await?;
                match message["type"].as_str() {
                    Some("ping") => send(socket, json!({ "type": "pong" })).await,
                    Some("pong") => {}
                    _ => return Some(message),
                }
            }
        })
        .await
        .ok()
        .flatten()
    }

    /// The next message about operation `id` (others, such as the `complete` that answers a
    /// client's own `complete`, are skipped).
    pub async fn next_for(&mut self, id: &str, timeout: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let message = self.next_message(left).await?;
            if message["id"] == id {
                return Some(message);
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}
