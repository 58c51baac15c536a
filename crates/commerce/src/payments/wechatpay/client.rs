//! The HTTP client WeChat Pay is called through: hyper with rustls on ring and Mozilla's root
//! certificates (webpki-roots), as `kanjian-blob`'s S3 client. Not reqwest: its TLS features
//! would be unified into every reqwest client of the workspace (see `crates/blob/src/http.rs`).
//! Plain `http://` works too (the simulator in tests); `https://` is what WeChat Pay serves.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// How long connecting (TCP and TLS) may take; the whole exchange has the provider's timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// WeChat Pay's answers are a few kilobytes; more than this is not an answer of theirs.
const MAX_BODY: usize = 1 << 20;

pub(crate) struct HttpClient {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpClient {
    pub(crate) fn new() -> anyhow::Result<Self> {
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .context("configuring TLS")?
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
            .wrap_connector(plain);
        let client = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(https);
        Ok(Self { client })
    }

    /// Sends `request` and reads the whole answer (up to 1 MiB). The caller bounds the time.
    pub(crate) async fn send(&self, request: http::Request<Full<Bytes>>) -> anyhow::Result<(http::response::Parts, Bytes)> {
        let response = self.client.request(request).await.map_err(|e| {
            if e.is_connect() { anyhow::Error::new(e).context("connecting") } else { anyhow::Error::new(e).context("sending the request") }
        })?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MAX_BODY)
            .collect()
            .await
            .map_err(|e| anyhow::anyhow!("reading the answer: {e}"))?
            .to_bytes();
        Ok((parts, body))
    }
}
