//! Layered configuration: defaults < `kanjian.toml` (or the file `--config` names) < `KANJIAN_*`
//! environment variables (`KANJIAN_HTTP__BIND=0.0.0.0:8080`; `__` separates sections).
//! `DATABASE_URL` is honoured too, as most tools expect it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use kanjian_blob::StorageConfig;
use kanjian_db::DatabaseConfig;
use kanjian_graphql::LimitsConfig;

use crate::modules::ModulesConfig;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Where the SQLite database, media files, uploads and mail go by default.
    pub data_dir: PathBuf,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub graphql: LimitsConfig,
    pub events: EventsConfig,
    pub realtime: RealtimeConfig,
    /// Where media and live files go: `<data_dir>/blobs` by default, or an S3-compatible bucket
    /// shared by every node (`[storage] kind = "s3"`, `[storage.s3]`).
    pub storage: StorageConfig,
    pub log: LogConfig,
    /// Every module's section (`[identity]`, `[media]`, …), declared in `modules.rs`.
    #[serde(flatten)]
    pub modules: ModulesConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            http: HttpConfig::default(),
            database: DatabaseConfig::default(),
            graphql: LimitsConfig::default(),
            events: EventsConfig::default(),
            realtime: RealtimeConfig::default(),
            storage: StorageConfig::default(),
            log: LogConfig::default(),
            modules: ModulesConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    pub bind: SocketAddr,
    /// How clients reach this server; prefixes the file URLs in responses. Defaults to
    /// `http://<bind address>`.
    pub public_url: Option<String>,
    /// Largest file accepted by the one-request `uploadVideo` mutation.
    pub max_multipart_bytes: u64,
    /// Seconds to let requests finish on shutdown.
    pub shutdown_timeout_secs: u64,
    pub workers: Option<usize>,
    /// Serve GraphiQL at `GET /graphql` for browsers (its assets come from this server, under
    /// `/graphiql/`).
    pub graphiql: bool,
    /// Subscriptions one WebSocket connection may run at once; one more is refused with a
    /// graphql-transport-ws `error` message (code `TOO_MANY_SUBSCRIPTIONS`).
    pub max_subscriptions_per_connection: usize,
    /// WebSocket connections one user (anonymous: one IP address) may hold open at once on this
    /// node; one more is closed with 4403 and a reason saying so.
    pub max_connections_per_user: usize,
    /// Messages one WebSocket connection may hold for a client that is not reading them. When
    /// the queue stays full for `slow_client_timeout_ms`, the connection is closed with 4008
    /// ("too slow"); meanwhile its subscriptions wait, and skip what they miss.
    pub max_queued_messages_per_connection: usize,
    pub slow_client_timeout_ms: u64,
    /// Largest JSON body of a GraphQL POST (multipart uploads have `max_multipart_bytes`).
    pub max_json_body_bytes: usize,
    pub cors: CorsConfig,
    /// Proxies whose forwarding header names the client (CIDRs such as `10.0.0.0/8`, or bare
    /// addresses). Default none: the client is the socket's peer, whatever headers it sends.
    /// From a trusted peer, the client is the right-most address of the header's chain that is
    /// not itself trusted. The address keys the per-address rate limits and WebSocket counts.
    pub trusted_proxies: Vec<String>,
    /// The header the trusted proxies write: `x-forwarded-for` or `forwarded` (RFC 7239). Only
    /// that one is read, so a client cannot slip in the other.
    pub client_ip_header: String,
}

/// Cross-origin requests from browsers. Empty (the default): same-origin only, no CORS headers
/// at all. `["*"]` allows any origin (tokens are bearer headers, never cookies, so no
/// credentials are shared either way).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct CorsConfig {
    /// Origins as browsers send them: `https://app.example.com` (scheme, host, port if not the
    /// default; no path, no trailing slash).
    pub allowed_origins: Vec<String>,
    /// How long browsers may cache a preflight answer.
    pub max_age_secs: u64,
}

impl Default for CorsConfig {
    fn default() -> Self {
        Self { allowed_origins: Vec::new(), max_age_secs: 3600 }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            max_multipart_bytes: 256 * 1024 * 1024,
            shutdown_timeout_secs: 30,
            workers: None,
            graphiql: true,
            max_subscriptions_per_connection: 20,
            max_connections_per_user: 10,
            max_queued_messages_per_connection: 256,
            slow_client_timeout_ms: 3000,
            max_json_body_bytes: 1024 * 1024,
            cors: CorsConfig::default(),
            trusted_proxies: Vec::new(),
            client_ip_header: "x-forwarded-for".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct EventsConfig {
    pub poll_interval_ms: u64,
    pub lease_secs: u64,
    pub retry_base_ms: u64,
    pub retry_max_secs: u64,
    pub max_attempts: i32,
    /// Delivered events and done deliveries are deleted after this many hours; dead letters
    /// are kept until requeued (`kanjian events requeue`).
    pub retention_hours: u64,
    /// Run the dispatcher in this process (every node may; they share work through the database).
    pub run_dispatcher: bool,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            poll_interval_ms: 500,
            lease_secs: 30,
            retry_base_ms: 1000,
            retry_max_secs: 300,
            max_attempts: 10,
            retention_hours: 7 * 24,
            run_dispatcher: true,
        }
    }
}

impl EventsConfig {
    pub fn dispatcher(&self) -> kanjian_events::DispatcherConfig {
        kanjian_events::DispatcherConfig {
            poll_interval: Duration::from_millis(self.poll_interval_ms),
            lease: Duration::from_secs(self.lease_secs.max(1)),
            retry_base: Duration::from_millis(self.retry_base_ms),
            retry_max: Duration::from_secs(self.retry_max_secs),
            max_attempts: self.max_attempts,
            retention: Duration::from_secs(self.retention_hours.max(1) * 3600),
            ..kanjian_events::DispatcherConfig::default()
        }
    }
}

/// The realtime hub (live comments, viewer counts, processing progress): in-process by default,
/// NATS when `nats_url` is set, so every node sees every room.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RealtimeConfig {
    /// `nats://host:4222` (a comma-separated list for a cluster; credentials as
    /// `nats://user:password@host`, hence a secret). Absent: one node, in-process. Present: the
    /// server does not start unless NATS answers.
    pub nats_url: Option<SecretString>,
    /// Keeps deployments sharing one NATS apart (subjects `kanjian.<namespace>.…`); every node of
    /// one deployment must use the same.
    pub namespace: String,
    /// How long to wait for NATS at start before giving up.
    pub connect_timeout_secs: u64,
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        Self { nats_url: None, namespace: "default".into(), connect_timeout_secs: 5 }
    }
}

impl RealtimeConfig {
    /// The NATS hub's settings, when NATS is configured.
    pub fn nats(&self) -> Option<kanjian_events::NatsHubConfig> {
        let url = self.nats_url.as_ref().map(ExposeSecret::expose_secret).filter(|u| !u.trim().is_empty())?;
        let mut config = kanjian_events::NatsHubConfig::new(url, self.namespace.clone());
        config.connect_timeout = Duration::from_secs(self.connect_timeout_secs.max(1));
        config.client_name = Some(format!("kanjian {}", env!("CARGO_PKG_VERSION")));
        Some(config)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// An `EnvFilter` directive; `RUST_LOG` wins when set.
    pub filter: String,
    /// `pretty` for people, `json` for log collectors.
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { filter: "info,sqlx=warn,sea_orm=warn".into(), format: "pretty".into() }
    }
}

impl Config {
    /// Reads the layers. `file` defaults to `kanjian.toml` in the working directory, if present.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let file = file.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("kanjian.toml"));
        let mut figment = Figment::new().merge(Toml::file(&file));
        if let Ok(url) = std::env::var("DATABASE_URL") {
            figment = figment.merge(("database.url", url));
        }
        let config: Config = figment
            .merge(Env::prefixed("KANJIAN_").split("__"))
            .extract()
            .map_err(|e| anyhow::anyhow!("configuration is invalid: {e}"))?;
        Ok(config)
    }

    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.expose_secret().to_owned(),
            None => format!("sqlite://{}?mode=rwc", self.data_dir.join("kanjian.sqlite").display()),
        }
    }

    /// How clients reach this server: `http.public_url`, or `http://<bind address>`.
    pub fn public_url(&self) -> String {
        self.http.public_url.clone().unwrap_or_else(|| format!("http://{}", self.http.bind))
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url().starts_with("sqlite:")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail decides the error type
    fn environment_overrides_file_which_overrides_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "kanjian.toml",
                "data_dir = \"/srv/kanjian\"\n[http]\nbind = \"0.0.0.0:9000\"\n[media]\nmax_upload_bytes = 1000\n",
            )?;
            jail.set_env("KANJIAN_HTTP__BIND", "127.0.0.1:9100");
            // A list, as TOML inline in the variable.
            jail.set_env("KANJIAN_HTTP__CORS__ALLOWED_ORIGINS", r#"["https://app.example.com"]"#);
            // A module's section, by the module's name.
            jail.set_env("KANJIAN_SOCIAL__RECOMMENDED_POOL_REFRESH_SECS", "7");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.data_dir, PathBuf::from("/srv/kanjian"));
            assert_eq!(config.modules.media.max_upload_bytes, 1000);
            assert_eq!(config.modules.social.recommended_pool_refresh_secs, 7);
            assert_eq!(config.http.bind.port(), 9100);
            assert_eq!(config.http.cors.allowed_origins, vec!["https://app.example.com".to_owned()]);
            assert!(config.http.trusted_proxies.is_empty(), "no proxy is trusted by default");
            assert_eq!(config.http.max_subscriptions_per_connection, 20);
            assert_eq!(config.graphql.max_aliases, 15);
            assert!(config.database_url().starts_with("sqlite:///srv/kanjian/"));
            assert!(config.realtime.nats().is_none(), "in-process hub by default");
            jail.set_env("KANJIAN_REALTIME__NATS_URL", "nats://kanjian:s3cret@127.0.0.1:4222");
            jail.set_env("KANJIAN_REALTIME__NAMESPACE", "prod");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            let nats = config.realtime.nats().ok_or("NATS configured")?;
            assert_eq!((nats.url.as_str(), nats.namespace.as_str()), ("nats://kanjian:s3cret@127.0.0.1:4222", "prod"));
            assert!(!format!("{config:?}").contains("s3cret"));
            // Storage: local files under the data dir by default, S3 with a secret key.
            assert_eq!(config.storage.kind, kanjian_blob::StorageKind::Local);
            jail.set_env("KANJIAN_STORAGE__KIND", "s3");
            jail.set_env("KANJIAN_STORAGE__S3__BUCKET", "media");
            jail.set_env("KANJIAN_STORAGE__S3__ENDPOINT", "http://127.0.0.1:5000");
            jail.set_env("KANJIAN_STORAGE__S3__ALLOW_HTTP", "true");
            jail.set_env("KANJIAN_STORAGE__S3__SECRET_ACCESS_KEY", "wJalrXUtnFEMI");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.storage.kind, kanjian_blob::StorageKind::S3);
            assert_eq!((config.storage.s3.bucket.as_str(), config.storage.s3.allow_http), ("media", true));
            assert_eq!(config.storage.s3.region, "us-east-1");
            assert!(!format!("{config:?}").contains("wJalrXUtnFEMI"));
            jail.set_env("DATABASE_URL", "postgres://localhost/kanjian");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert!(!config.is_sqlite());
            // Secrets do not leak through Debug.
            assert!(!format!("{config:?}").contains("postgres://localhost"));
            Ok(())
        });
    }
}
