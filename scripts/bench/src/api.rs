//! Just enough of a Kanjian client: GraphQL over POST (sign-up, log-in, channels), the multipart
//! `uploadVideo` mutation (GraphQL multipart request spec), and `videoProcessing` over
//! graphql-transport-ws.

use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// The query loaded by the `node(id:)` benchmark.
pub const NODE_QUERY: &str = "query($id: ID!) { node(id: $id) { ... on Video { id title status duration playlistUrl channel { handle } } } }";

const PROCESSING: &str = "subscription($id: ID!) { videoProcessing(videoId: $id) { videoId status progressPercent failureReason } }";

pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(base: String) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()
            .context("building the HTTP client")?;
        Ok(Self { base, http })
    }

    /// POSTs a GraphQL request; the response must have no top-level errors. Returns `data`.
    pub async fn data(&self, token: Option<&str>, query: &str, variables: Value) -> Result<Value> {
        let mut request = self
            .http
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.context("POST /graphql")?;
        let status = response.status();
        let text = response
            .text()
            .await
            .context("reading a GraphQL response")?;
        let body: Value = serde_json::from_str(&text)
            .with_context(|| format!("a GraphQL response that is not JSON ({status}): {text}"))?;
        if body.get("errors").is_some() {
            bail!("GraphQL errors: {body}");
        }
        Ok(body["data"].clone())
    }

    /// Signs up; returns the token.
    pub async fn sign_up(&self, email: &str) -> Result<String> {
        let data = self
            .data(
                None,
                "mutation($input: SignUpInput!) { signUp(input: $input) { token userErrors { field message code } } }",
                json!({ "input": { "email": email, "password": "correct horse battery staple" } }),
            )
            .await
            .with_context(|| format!("signing up as {email}"))?;
        check_user_errors(&data["signUp"], "signUp")?;
        Ok(data["signUp"]["token"]
            .as_str()
            .context("signUp returned no token")?
            .to_owned())
    }

    /// Signs up and opens a channel; returns the token.
    pub async fn creator(&self, handle: &str) -> Result<String> {
        let token = self.sign_up(&format!("{handle}@example.com")).await?;
        let data = self
            .data(
                Some(&token),
                "mutation($input: CreateChannelInput!) { createChannel(input: $input) { channel { id } userErrors { field message code } } }",
                json!({ "input": { "handle": handle, "displayName": format!("Bench {handle}") } }),
            )
            .await
            .context("creating a channel")?;
        check_user_errors(&data["createChannel"], "createChannel")?;
        Ok(token)
    }

    /// The one-request upload. `bytes` are read beforehand so reading the file is not timed.
    /// Returns the video's global id.
    pub async fn upload_video(
        &self,
        token: &str,
        title: &str,
        filename: &str,
        bytes: Vec<u8>,
    ) -> Result<String> {
        let operations = json!({
            "query": "mutation($input: UploadVideoInput!) { uploadVideo(input: $input) { video { id status } userErrors { field message code } } }",
            "variables": { "input": { "file": null, "title": title } }
        });
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(filename.to_owned())
            .mime_str("video/mp4")
            .context("the video part")?;
        let form = reqwest::multipart::Form::new()
            .text("operations", operations.to_string())
            .text("map", json!({ "0": ["variables.input.file"] }).to_string())
            .part("0", part);
        let response = self
            .http
            .post(format!("{}/graphql", self.base))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .context("the multipart uploadVideo request")?;
        let status = response.status();
        let text = response
            .text()
            .await
            .context("reading the upload response")?;
        let body: Value = serde_json::from_str(&text)
            .with_context(|| format!("the upload response is not JSON ({status}): {text}"))?;
        if body.get("errors").is_some() {
            bail!("uploadVideo failed: {body}");
        }
        let payload = &body["data"]["uploadVideo"];
        check_user_errors(payload, "uploadVideo")?;
        payload["video"]["id"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("uploadVideo returned no id: {body}"))
    }

    /// `logIn` with an email and password; returns the session token.
    pub async fn log_in(&self, email: &str, password: &str) -> Result<String> {
        let data = self
            .data(
                None,
                "mutation($input: LogInInput!) { logIn(input: $input) { token userErrors { field message code } } }",
                json!({ "input": { "email": email, "password": password } }),
            )
            .await
            .with_context(|| format!("logging in as {email}"))?;
        check_user_errors(&data["logIn"], "logIn")?;
        data["logIn"]["token"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("logIn returned no token for {email}: {data}"))
    }

    pub async fn publish(&self, token: &str, video_id: &str) -> Result<()> {
        let data = self
            .data(
                Some(token),
                "mutation($id: ID!) { publishVideo(input: {videoId: $id}) { video { id } userErrors { field message code } } }",
                json!({ "id": video_id }),
            )
            .await
            .context("publishing the video")?;
        check_user_errors(&data["publishVideo"], "publishVideo")
    }
}

fn check_user_errors(payload: &Value, mutation: &str) -> Result<()> {
    match payload["userErrors"].as_array() {
        Some(errors) if errors.is_empty() => Ok(()),
        None if !payload.is_null() => Ok(()),
        _ => Err(anyhow!("{mutation} refused: {payload}")),
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A graphql-transport-ws connection, acknowledged and ready for one subscription.
pub struct Processing {
    socket: Socket,
}

impl Processing {
    /// Connects and authenticates (before the timed part, so the handshake is not measured).
    pub async fn connect(base: &str, token: &str) -> Result<Self> {
        let url = format!("{}/graphql", base.replacen("http", "ws", 1));
        let mut request = url.into_client_request().context("a WebSocket request")?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("graphql-transport-ws"),
        );
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .context("connecting the WebSocket")?;
        let mut this = Self { socket };
        this.send(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } }))
            .await?;
        let ack = tokio::time::timeout(Duration::from_secs(10), this.next_json())
            .await
            .context("no connection_ack within 10 s")??;
        if ack["type"] != "connection_ack" {
            bail!("expected connection_ack, got {ack}");
        }
        Ok(this)
    }

    async fn send(&mut self, message: Value) -> Result<()> {
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await
            .context("WebSocket send")
    }

    async fn next_json(&mut self) -> Result<Value> {
        while let Some(frame) = self.socket.next().await {
            match frame.context("WebSocket receive")? {
                Message::Text(text) => {
                    return serde_json::from_str(&text)
                        .context("a WebSocket message that is not JSON");
                }
                Message::Close(_) => bail!("the server closed the WebSocket"),
                _ => {}
            }
        }
        bail!("the WebSocket ended")
    }

    /// Subscribes to `videoProcessing` and waits for `READY` (an error for `FAILED`).
    pub async fn wait_ready(mut self, video_id: &str, timeout: Duration) -> Result<()> {
        self.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": PROCESSING, "variables": { "id": video_id } } }))
            .await?;
        let result = tokio::time::timeout(timeout, async {
            loop {
                let message = self.next_json().await?;
                match message["type"].as_str() {
                    Some("next") => {
                        let update = &message["payload"]["data"]["videoProcessing"];
                        match update["status"].as_str() {
                            Some("READY") => return Ok(()),
                            Some("FAILED") => {
                                bail!("processing failed: {}", update["failureReason"])
                            }
                            _ => {}
                        }
                        if message["payload"].get("errors").is_some() {
                            bail!("subscription error: {message}");
                        }
                    }
                    Some("error") => bail!("subscription refused: {message}"),
                    Some("complete") => bail!("the subscription ended before READY"),
                    Some("ping") => self.send(json!({ "type": "pong" })).await?,
                    _ => {}
                }
            }
        })
        .await
        .with_context(|| format!("the video was not READY within {timeout:?}"))?;
        let _ = self.socket.close(None).await;
        result
    }
}
