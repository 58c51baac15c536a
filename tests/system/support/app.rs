use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use kanjian_db::testing::TestDatabase;
use kanjian_kernel::Clock;
use kanjian_server::{Config, Kanjian, RunningServer};
use sea_orm::Database;
use serde_json::{Value, json};

/// How the server under test runs.
enum Server {
    /// In this process: fast to start, and a "crash" drops its tasks.
    InProcess(RunningServer),
    /// The real `kanjian` binary as a child process: a crash is a SIGKILL.
    Process(tokio::process::Child),
}

/// The real server on a free port, with its own data dir and database.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub config: Config,
    server: Option<Server>,
    as_process: bool,
    /// Where the in-process server reads time: the system's, or a manual clock the test moves.
    clock: Clock,
    data_dir: tempfile::TempDir,
    /// The database this app made (dropped with it); `None` for a node beside another app,
    /// which shares that app's.
    _database: Option<TestDatabase>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns with the test defaults, then `adjust` for what a test needs.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_inner(adjust, false, Clock::system()).await
    }

    /// As `spawn_with`, the server reading time from `clock` (a manual one the test moves
    /// forward, instead of sleeping through hours).
    pub async fn spawn_with_clock(adjust: impl FnOnce(&mut Config), clock: Clock) -> Self {
        Self::spawn_inner(adjust, false, clock).await
    }

    /// Runs the real `kanjian` binary as a child process, configured through its environment.
    pub async fn spawn_process_with(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_inner(adjust, true, Clock::system()).await
    }

    async fn spawn_inner(adjust: impl FnOnce(&mut Config), as_process: bool, clock: Clock) -> Self {
        // `KANJIAN_TEST_LOG=warn` (any tracing filter) shows what in-process servers log: off
        // by default, as a test's own assertions say what went wrong.
        if let Ok(filter) = std::env::var("KANJIAN_TEST_LOG") {
            kanjian_server::telemetry::init(&kanjian_server::config::LogConfig { filter, format: "pretty".into() });
        }
        let data_dir = tempfile::tempdir().expect("temp data dir");
        let mut config = Config { data_dir: data_dir.path().to_path_buf(), ..Config::default() };
        config.http.bind = "127.0.0.1:0".parse().expect("address");
        config.http.workers = Some(2);
        config.http.shutdown_timeout_secs = 2;
        config.events.poll_interval_ms = 50;
        config.events.lease_secs = 3;
        config.events.retry_base_ms = 100;
        config.modules.media.segment_seconds = 1;
        // Every test server takes RTMP on a port of its own; rooms show it in serverUrl.
        config.modules.live.ingest.listen = "127.0.0.1:0".parse().expect("address");
        // No rate limits: every test signs its people up from 127.0.0.1, some post many
        // comments in a moment, the fuzzing sends hundreds of uploads and PATCHes. The limits
        // have tests of their own (rate_limits.rs), which set the ones they test.
        let (identity, social, media) = (&mut config.modules.identity, &mut config.modules.social, &mut config.modules.media);
        identity.sign_ups_per_ip = Vec::new();
        social.comments_per_user = Vec::new();
        social.friend_requests_per_user = Vec::new();
        media.uploads_per_user = Vec::new();
        media.upload_bytes_per_user = Vec::new();
        media.upload_patches_per_user = Vec::new();
        let database = TestDatabase::create().await;
        config.database.url = Some(database.url.clone().into());
        adjust(&mut config);
        let mut app = Self {
            base: String::new(),
            // The server closes a connection idle for 5 s (actix-web's keep-alive); a client that
            // reuses one at that moment gets `IncompleteMessage`. Idle ones are dropped sooner.
            http: reqwest::Client::builder()
                .pool_idle_timeout(Duration::from_secs(2))
                .build()
                .expect("an HTTP client"),
            config,
            server: None,
            as_process,
            clock,
            data_dir,
            _database: Some(database),
        };
        app.start().await;
        app
    }

    /// Another `kanjian` process beside `first`: the same configuration and database (so the
    /// same NATS namespace and blob store, when `first` has them), a data dir, HTTP port and
    /// RTMP port of its own, then `adjust`. `first` must outlive it (it owns the database).
    pub async fn spawn_process_beside(first: &TestApp, adjust: impl FnOnce(&mut Config)) -> Self {
        let data_dir = tempfile::tempdir().expect("temp data dir");
        let mut config = first.config.clone();
        config.data_dir = data_dir.path().to_path_buf();
        config.http.bind = "127.0.0.1:0".parse().expect("address");
        config.http.public_url = None;
        config.modules.live.ingest.listen = "127.0.0.1:0".parse().expect("address");
        adjust(&mut config);
        let mut app = Self {
            base: String::new(),
            http: reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(2)).build().expect("an HTTP client"),
            config,
            server: None,
            as_process: true,
            clock: Clock::system(),
            data_dir,
            _database: None,
        };
        app.start().await;
        app
    }

    /// Where a process server writes its log (`KANJIAN_LOG__FILTER` from `config.log.filter`
    /// when a test sets one, JSON lines; `warn` otherwise).
    pub fn process_log(&self) -> PathBuf {
        self.data_dir.path().join("kanjian.log")
    }

    async fn start(&mut self) {
        if self.as_process {
            self.start_process().await;
        } else {
            self.start_in_process().await;
        }
    }

    async fn start_in_process(&mut self) {
        let listener = bind_again(self.config.http.bind).await;
        let mut config = self.config.clone();
        config.http.bind = listener.local_addr().expect("the listener's address");
        config.http.public_url = None;
        let app = Kanjian::build_with_clock(config, self.clock.clone()).await.expect("build the app");
        let server = app.serve(listener).expect("serve");
        self.base = format!("http://{}", server.addr);
        // Later restarts reuse the port, so URLs handed out before stay valid.
        self.config.http.bind = server.addr;
        self.server = Some(Server::InProcess(server));
    }

    async fn start_process(&mut self) {
        if self.config.http.bind.port() == 0 {
            // Ask the OS for a free port, then hand it to the child.
            let probe = TcpListener::bind(self.config.http.bind).expect("find a free port");
            self.config.http.bind = probe.local_addr().expect("address");
        }
        let c = &self.config;
        let custom_log = c.log.filter != kanjian_server::config::LogConfig::default().filter;
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.process_log()).expect("the process log");
        let mut command = tokio::process::Command::new(kanjian_binary());
        command.env_clear();
        // What a test may set beyond the defaults above: a shared realtime hub and blob store.
        if let Some(nats) = &c.realtime.nats_url {
            command
                .env("KANJIAN_REALTIME__NATS_URL", secrecy::ExposeSecret::expose_secret(nats))
                .env("KANJIAN_REALTIME__NAMESPACE", &c.realtime.namespace);
        }
        if c.storage.kind == kanjian_blob::StorageKind::S3 {
            let s3 = &c.storage.s3;
            command
                .env("KANJIAN_STORAGE__KIND", "s3")
                .env("KANJIAN_STORAGE__S3__BUCKET", &s3.bucket)
                .env("KANJIAN_STORAGE__S3__REGION", &s3.region)
                .env("KANJIAN_STORAGE__S3__ALLOW_HTTP", s3.allow_http.to_string());
            for (name, value) in [
                ("ENDPOINT", s3.endpoint.clone()),
                ("ACCESS_KEY_ID", s3.access_key_id.clone()),
                ("SECRET_ACCESS_KEY", s3.secret_access_key.as_ref().map(|s| secrecy::ExposeSecret::expose_secret(s).to_owned())),
                ("PREFIX", s3.prefix.clone()),
            ] {
                if let Some(value) = value {
                    command.env(format!("KANJIAN_STORAGE__S3__{name}"), value);
                }
            }
        }
        let child = command
            .arg("serve")
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KANJIAN_DATA_DIR", &c.data_dir)
            .env("DATABASE_URL", c.database_url())
            .env("KANJIAN_HTTP__BIND", c.http.bind.to_string())
            .env("KANJIAN_HTTP__WORKERS", c.http.workers.unwrap_or(2).to_string())
            .env("KANJIAN_EVENTS__POLL_INTERVAL_MS", c.events.poll_interval_ms.to_string())
            .env("KANJIAN_EVENTS__LEASE_SECS", c.events.lease_secs.to_string())
            .env("KANJIAN_EVENTS__RETRY_BASE_MS", c.events.retry_base_ms.to_string())
            .env("KANJIAN_MEDIA__SEGMENT_SECONDS", c.modules.media.segment_seconds.to_string())
            .env("KANJIAN_LIVE__INGEST__LISTEN", c.modules.live.ingest.listen.to_string())
            .env("KANJIAN_LIVE__RECONNECT_GRACE_SECS", c.modules.live.reconnect_grace_secs.to_string())
            .env("KANJIAN_LIVE__INGEST_ENABLED", c.modules.live.ingest_enabled.to_string())
            .env("KANJIAN_IDENTITY__SIGN_UPS_PER_IP", rates_env(&c.modules.identity.sign_ups_per_ip))
            .env("KANJIAN_SOCIAL__COMMENTS_PER_USER", rates_env(&c.modules.social.comments_per_user))
            .env("KANJIAN_SOCIAL__FRIEND_REQUESTS_PER_USER", rates_env(&c.modules.social.friend_requests_per_user))
            .env("KANJIAN_MEDIA__UPLOADS_PER_USER", rates_env(&c.modules.media.uploads_per_user))
            .env("KANJIAN_MEDIA__UPLOAD_BYTES_PER_USER", rates_env(&c.modules.media.upload_bytes_per_user))
            .env("KANJIAN_MEDIA__UPLOAD_PATCHES_PER_USER", rates_env(&c.modules.media.upload_patches_per_user))
            .env("KANJIAN_LOG__FILTER", if custom_log { c.log.filter.as_str() } else { "warn" })
            .env("KANJIAN_LOG__FORMAT", if custom_log { "json" } else { "pretty" })
            .stdout(log)
            .kill_on_drop(true)
            .spawn()
            .expect("start the kanjian binary");
        self.base = format!("http://{}", c.http.bind);
        self.server = Some(Server::Process(child));
        let ready = self.url("/readyz");
        let http = self.http.clone();
        self.eventually(Duration::from_secs(30), || {
            let (http, ready) = (http.clone(), ready.clone());
            async move { http.get(&ready).send().await.ok().filter(|r| r.status() == 200).map(|_| ()) }
        })
        .await;
    }

    /// Stops as a crash would, then starts a new server on the same database and data dir.
    pub async fn crash_and_restart(&mut self) {
        self.crash().await;
        self.start().await;
    }

    /// Stops as a crash would. In process: background work is dropped and leases are left to
    /// expire. As a process: SIGKILL, and the server is reaped before this returns.
    pub async fn crash(&mut self) {
        match self.server.take() {
            Some(Server::InProcess(server)) => server.kill().await,
            Some(Server::Process(mut child)) => {
                child.kill().await.expect("SIGKILL the server");
            }
            None => {}
        }
    }

    /// Starts the server again after `crash`, on the same database, data dir and port.
    pub async fn restart(&mut self) {
        assert!(self.server.is_none(), "the server is still running");
        self.start().await;
    }

    pub async fn stop(mut self) {
        match self.server.take() {
            Some(Server::InProcess(server)) => server.stop().await,
            Some(Server::Process(mut child)) => {
                let _ = child.kill().await;
            }
            None => {}
        }
    }

    pub fn is_process(&self) -> bool {
        self.as_process
    }

    /// The pid of the `kanjian` process, when the server runs as one.
    pub fn server_pid(&self) -> Option<u32> {
        match &self.server {
            Some(Server::Process(child)) => child.id(),
            _ => None,
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

/// Rates as an environment variable holds them (an inline TOML array).
fn rates_env(rates: &[kanjian_db::Rate]) -> String {
    let rates: Vec<String> = rates.iter().map(|r| format!("{{ max = {}, window_secs = {} }}", r.max, r.window_secs)).collect();
    format!("[{}]", rates.join(", "))
}

/// The `kanjian` binary: `KANJIAN_BIN` (scripts/test sets it after building), else the one
/// beside this test's own executable (`target/debug/kanjian`).
pub fn kanjian_binary() -> PathBuf {
    if let Ok(path) = std::env::var("KANJIAN_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let candidate = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("kanjian"))
        .expect("target dir");
    assert!(
        candidate.exists(),
        "{} is missing: build it first with `cargo build -p kanjian-server --bin kanjian`",
        candidate.display()
    );
    candidate
}

/// Binds `addr` as servers do (SO_REUSEADDR: connections a crash dropped linger in TIME_WAIT on
/// the port). After an in-process crash the old server's accept thread may still hold its
/// listener for a moment: try again until it lets go, for at most ten seconds.
async fn bind_again(addr: std::net::SocketAddr) -> TcpListener {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        match socket.bind(addr) {
            Ok(()) => return socket.listen(1024).expect("listen").into_std().expect("a std listener"),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("bind {addr}: {e}"),
        }
    }
}
