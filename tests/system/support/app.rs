use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use kanjian_server::{Config, Kanjian, RunningServer};
use kanjian_migrations::testing::TestDatabase;
use sea_orm::Database;
use serde_json::{Value, json};

/// The real server, in this process, on a free port, with its own data dir and database.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub config: Config,
    server: Option<RunningServer>,
    data_dir: tempfile::TempDir,
    _database: TestDatabase,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns with the test defaults, then `adjust` for what a test needs.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let data_dir = tempfile::tempdir().expect("temp data dir");
        let mut config = Config { data_dir: data_dir.path().to_path_buf(), ..Config::default() };
        config.http.bind = "127.0.0.1:0".parse().expect("address");
        config.http.workers = Some(2);
        config.http.shutdown_timeout_secs = 2;
        config.events.poll_interval_ms = 50;
        config.events.lease_secs = 3;
        config.events.retry_base_ms = 100;
        config.media.segment_seconds = 1;
        let database = TestDatabase::create().await;
        config.database.url = Some(database.url.clone().into());
        adjust(&mut config);
        let mut app = Self {
            base: String::new(),
            http: reqwest::Client::new(),
            config,
            server: None,
            data_dir,
            _database: database,
        };
        app.start().await;
        app
    }

    async fn start(&mut self) {
        let listener = TcpListener::bind(self.config.http.bind).expect("bind a free port");
        let mut config = self.config.clone();
        config.http.public_url = None;
        let app = Kanjian::build(config).await.expect("build the app");
        let server = app.serve(listener).expect("serve");
        self.base = format!("http://{}", server.addr);
        // Later restarts reuse the port, so URLs handed out before stay valid.
        self.config.http.bind = server.addr;
        self.server = Some(server);
    }

    /// Stops as a crash would (background work dropped, leases left to expire), then starts a
    /// new server on the same database and data dir.
    pub async fn crash_and_restart(&mut self) {
        if let Some(server) = self.server.take() {
            server.kill().await;
        }
        self.start().await;
    }

    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
    }

    pub fn database_url(&self) -> String {
        self.config.database_url()
    }

    /// A direct connection to the app's database, for checks no API exposes.
    pub async fn database(&self) -> sea_orm::DatabaseConnection {
        Database::connect(self.database_url()).await.expect("connect to the test database")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.path().to_path_buf()
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", self.base) }
    }

    /// POSTs a GraphQL request and returns the whole response body.
    pub async fn graphql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut req = self
            .http
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let response = req.send().await.expect("POST /graphql");
        response.json().await.expect("a JSON GraphQL response")
    }

    /// Like `graphql`, but the response must have no top-level errors; returns `data`.
    pub async fn data(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let body = self.graphql(token, query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
        body["data"].clone()
    }

    /// Signs up a fresh account; returns (token, user global id).
    pub async fn sign_up(&self, email: &str) -> (String, String) {
        let data = self
            .data(
                None,
                "mutation($input: SignUpInput!) { signUp(input: $input) { token user { id } userErrors { field message code } } }",
                json!({ "input": { "email": email, "password": "correct horse battery staple" } }),
            )
            .await;
        let payload = &data["signUp"];
        assert_eq!(payload["userErrors"], json!([]), "sign up failed: {payload:#}");
        (
            payload["token"].as_str().expect("token").to_owned(),
            payload["user"]["id"].as_str().expect("user id").to_owned(),
        )
    }

    /// Signs up and opens a channel; returns (token, channel global id).
    pub async fn creator(&self, handle: &str) -> (String, String) {
        let (token, _) = self.sign_up(&format!("{handle}@example.com")).await;
        let data = self
            .data(
                Some(&token),
                "mutation($input: CreateChannelInput!) { createChannel(input: $input) { channel { id } userErrors { field message code } } }",
                json!({ "input": { "handle": handle, "displayName": format!("Creator {handle}") } }),
            )
            .await;
        assert_eq!(data["createChannel"]["userErrors"], json!([]), "{data:#}");
        (token, data["createChannel"]["channel"]["id"].as_str().expect("channel id").to_owned())
    }

    /// Uploads a file with the GraphQL multipart request spec; returns the whole response.
    pub async fn upload_video(&self, token: &str, title: &str, file: &std::path::Path) -> Value {
        let bytes = tokio::fs::read(file).await.expect("read fixture");
        let operations = json!({
            "query": "mutation($input: UploadVideoInput!) { uploadVideo(input: $input) { video { id status title } userErrors { field message code } } }",
            "variables": { "input": { "file": null, "title": title, "hashtags": ["#demo"], "category": "tech" } }
        });
        let form = reqwest::multipart::Form::new()
            .text("operations", operations.to_string())
            .text("map", json!({ "0": ["variables.input.file"] }).to_string())
            .part(
                "0",
                reqwest::multipart::Part::bytes(bytes)
                    .file_name(file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
                    .mime_str("video/mp4")
                    .expect("mime"),
            );
        let response = self
            .http
            .post(self.url("/graphql"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("multipart POST");
        let status = response.status();
        let text = response.text().await.expect("body");
        serde_json::from_str(&text).unwrap_or_else(|_| json!({ "httpStatus": status.as_u16(), "body": text }))
    }

    /// Polls `check` until it returns `Some` or `timeout` passes. For states that no event
    /// announces (files removed by a background handler).
    pub async fn eventually<T, F, Fut>(&self, timeout: Duration, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(value) = check().await {
                return value;
            }
            assert!(tokio::time::Instant::now() < deadline, "condition not met within {timeout:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
