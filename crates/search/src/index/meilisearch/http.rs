//! The HTTP client meilisearch-sdk talks through: hyper with rustls on ring and Mozilla's root
//! certificates (webpki-roots), as `kanjian-blob`'s S3 client and WeChat Pay's client. Not the
//! sdk's reqwest client: its TLS features would be unified into every reqwest client of the
//! workspace. Plain `http://` works too (a Meilisearch on the same host).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use meilisearch_sdk::errors::Error as SdkError;
use meilisearch_sdk::request::{HttpClient, Method, parse_response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// How long connecting (TCP and TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest answer read: a search of 1000 candidates with their folded text is ~15 MB.
const MAX_BODY: usize = 64 << 20;

/// Why a request got no answer (the sdk's own errors cover the answers).
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("no answer from Meilisearch within {0:?}")]
    Timeout(Duration),
    #[error("could not reach Meilisearch: {0}")]
    Connect(String),
    #[error("the request to Meilisearch failed: {0}")]
    Send(String),
    #[error("could not read Meilisearch's answer: {0}")]
    Read(String),
    #[error("could not build the request: {0}")]
    Build(String),
    #[error("Kanjian sends JSON bodies only, not streamed payloads")]
    Streaming,
}

/// meilisearch-sdk's `HttpClient` over hyper. Cheap to clone (one connection pool).
#[derive(Clone)]
pub struct HyperClient {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// `Bearer <key>`, marked sensitive so hyper never logs it.
    authorization: Option<http::HeaderValue>,
    /// The whole exchange: connecting, sending, reading the answer.
    timeout: Duration,
}

impl fmt::Debug for HyperClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HyperClient")
            .field("api_key", &self.authorization.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HyperClient {
    /// A client sending `api_key` (when given) as a bearer token, each exchange bounded by
    /// `timeout`.
    pub fn new(api_key: Option<&str>, timeout: Duration) -> anyhow::Result<Self> {
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| anyhow::anyhow!("configuring TLS: {e}"))?
            .with_root_certificates(rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() })
            .with_no_client_auth();
        let mut plain = HttpConnector::new();
        plain.enforce_http(false);
        plain.set_connect_timeout(Some(CONNECT_TIMEOUT));
        plain.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(plain);
        let client = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(https);
        let authorization = match api_key {
            Some(key) => {
                // The key never goes into a message: a bad one is only said to be unusable.
                let mut value = http::HeaderValue::from_str(&format!("Bearer {key}"))
                    .map_err(|_| anyhow::anyhow!("the Meilisearch API key is not a valid HTTP header value"))?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(Self { client, authorization, timeout })
    }

    async fn send(&self, url: &str, method: http::Method, body: Option<Vec<u8>>) -> Result<(u16, String), TransportError> {
        let mut request = http::Request::builder()
            .method(method)
            .uri(url)
            .header(http::header::USER_AGENT, "Kanjian (meilisearch-sdk 0.33)")
            .header(http::header::ACCEPT, "application/json");
        if let Some(authorization) = &self.authorization {
            request = request.header(http::header::AUTHORIZATION, authorization.clone());
        }
        let request = match body {
            Some(body) => request
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(body))),
            None => request.body(Full::new(Bytes::new())),
        }
        .map_err(|e| TransportError::Build(e.to_string()))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                let chain = error_chain(&e);
                if e.is_connect() { TransportError::Connect(chain) } else { TransportError::Send(chain) }
            })?;
            let status = response.status().as_u16();
            let bytes = Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| TransportError::Read(e.to_string()))?
                .to_bytes();
            let text = String::from_utf8(bytes.to_vec()).map_err(|e| TransportError::Read(e.to_string()))?;
            Ok((status, text))
        };
        tokio::time::timeout(self.timeout, exchange).await.map_err(|_| TransportError::Timeout(self.timeout))?
    }
}

/// An error and its causes on one line (hyper's own message is only "client error (Connect)").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

fn verb<Q, B>(method: &Method<Q, B>) -> http::Method {
    match method {
        Method::Get { .. } => http::Method::GET,
        Method::Post { .. } => http::Method::POST,
        Method::Patch { .. } => http::Method::PATCH,
        Method::Put { .. } => http::Method::PUT,
        Method::Delete { .. } => http::Method::DELETE,
    }
}

/// `url` with the query parameters appended the way the sdk's reqwest client writes them
/// (`?a=1&b=x,y`; lists comma-separated, unset values left out).
pub fn with_query(url: &str, query: &impl Serialize) -> Result<String, SdkError> {
    let Value::Object(params) = serde_json::to_value(query)? else { return Ok(url.to_owned()) };
    let mut out = url.to_owned();
    let mut separator = if url.contains('?') { '&' } else { '?' };
    for (name, value) in params {
        let text = match value {
            Value::Null => continue,
            Value::String(s) => s,
            Value::Array(items) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        };
        out.push(separator);
        separator = '&';
        encode_into(&mut out, &name);
        out.push('=');
        encode_into(&mut out, &text);
    }
    Ok(out)
}

/// `application/x-www-form-urlencoded`, as the sdk's query serializer (yaup) writes it.
fn encode_into(out: &mut String, text: &str) {
    for byte in text.bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => out.push(char::from(byte)),
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
}

#[async_trait]
impl HttpClient for HyperClient {
    async fn request<Query, Body, Output>(
        &self,
        url: &str,
        method: Method<Query, Body>,
        expected_status_code: u16,
    ) -> Result<Output, SdkError>
    where
        Query: Serialize + Send + Sync,
        Body: Serialize + Send + Sync,
        Output: DeserializeOwned + 'static + Send,
    {
        let full_url = with_query(url, method.query())?;
        let body = match method.body() {
            Some(body) => Some(serde_json::to_vec(body)?),
            None => None,
        };
        let (status, mut text) =
            self.send(&full_url, verb(&method), body).await.map_err(|e| SdkError::Other(Box::new(e)))?;
        if text.is_empty() {
            text = "null".to_owned();
        }
        // The sdk reads the answer: the expected status parses as `Output`, any other as
        // Meilisearch's error object ({message, code, type, link}).
        parse_response(status, expected_status_code, &text, url.to_owned())
    }

    // Only the sdk's NDJSON/CSV upload methods stream a body; Kanjian never calls them. The
    // bound on `Body` is looser than the trait's (`futures_io::AsyncRead`, a crate this one
    // does not depend on), which an impl may be.
    async fn stream_request<Query, Body, Output>(
        &self,
        _url: &str,
        _method: Method<Query, Body>,
        _content_type: &str,
        _expected_status_code: u16,
    ) -> Result<Output, SdkError>
    where
        Query: Serialize + Send + Sync,
        Body: Send + Sync + 'static,
        Output: DeserializeOwned + 'static,
    {
        Err(SdkError::Other(Box::new(TransportError::Streaming)))
    }

    fn is_tokio(&self) -> bool {
        true
    }
}
