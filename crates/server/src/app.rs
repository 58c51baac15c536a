//! Wiring: the only place that knows every concrete module. Builds the services, the schema, the
//! event dispatcher and the HTTP server, and stops them in order.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use kanjian_contracts::identity::IdentityApi;
use kanjian_contracts::media::MediaApi;
use kanjian_db::Db;
use kanjian_events::{Dispatcher, InProcessHub, NatsHub, Outbox, RealtimeHub};
use kanjian_graphql::{KanjianGraphql, SchemaConfig, Services, build_schema};
use kanjian_kernel::Clock;
use kanjian_module::{Shared, Worker};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::routes;

/// Shared by every HTTP worker.
pub(crate) struct AppState {
    pub db: Db,
    pub schema: KanjianGraphql,
    /// For the routes beside GraphQL: who calls (bearer tokens), and media's files and uploads.
    pub identity: Arc<dyn IdentityApi>,
    pub media: Arc<dyn MediaApi>,
    pub services: Services,
    pub metrics: Metrics,
    pub config: Config,
    /// Allowed cross-origin callers, checked at start (`[http.cors]`).
    pub cors: crate::security::Cors,
    /// Whose forwarding headers name the client (`[http] trusted_proxies`).
    pub proxies: crate::routes::auth::TrustedProxies,
    /// Open WebSocket connections per user, against `http.max_connections_per_user`.
    pub ws_connections: crate::routes::subscriptions::ConnectionCounts,
}

/// A built Kanjian: database open and migrated, modules wired, not yet serving.
pub struct Kanjian {
    config: Config,
    db: Db,
    services: Services,
    dispatcher: Dispatcher,
    workers: Vec<(&'static str, Worker)>,
    metrics: Metrics,
}

impl Kanjian {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Clock::system()).await
    }

    /// As [`Kanjian::build`], reading time from `clock` (tests move a manual one forward).
    pub async fn build_with_clock(config: Config, clock: Clock) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating the data dir {}", config.data_dir.display()))?;
        let mut db = connect(&config, clock).await?;
        let metrics = Metrics::new().context("creating metrics")?;
        // Before any clone: every module's statements are counted.
        metrics.watch_database(&mut db);

        let outbox = Outbox::with_clock(db.clock().clone());
        let hub = realtime_hub(&config).await?;
        let public_url = config.public_url();
        let blobs = kanjian_blob::open_store(&config.storage, &config.data_dir)
            .context("opening the blob store ([storage])")?;
        let shared = Shared {
            db: db.clone(),
            outbox: outbox.clone(),
            hub,
            blobs,
            data_dir: config.data_dir.clone(),
            public_url: public_url.clone(),
        };
        let built = crate::modules::build_modules(&config.modules, &shared)?;
        let mut metrics = metrics;
        metrics.add_module_gauges(built.gauges).context("registering the modules' gauges")?;

        let mut dispatcher =
            Dispatcher::new(db.writer().clone(), &outbox, config.events.dispatcher(), db.clock().clone());
        for handler in built.handlers {
            dispatcher.register(handler);
        }
        // Before anything can emit an event: a handler receives the events that occur after its
        // first registration, whichever node emits them.
        dispatcher.register_handlers().await.context("registering the event handlers")?;

        let services = Services { apis: built.apis, public_url };
        Ok(Self { config, db, services, dispatcher, workers: built.workers, metrics })
    }

    pub fn database(&self) -> &Db {
        &self.db
    }

    /// Serves on `listener` (bind port 0 to let the OS choose). Signals are left to the caller.
    pub fn serve(self, listener: TcpListener) -> anyhow::Result<RunningServer> {
        let Kanjian { mut config, db, mut services, dispatcher, workers, metrics } = self;
        let addr = listener.local_addr().context("reading the listener address")?;
        if config.http.public_url.is_none() {
            // Port 0 becomes a real port only now.
            services.public_url = format!("http://{addr}");
            config.http.public_url = Some(services.public_url.clone());
        }
        let cors = crate::security::Cors::from_config(&config.http.cors)?;
        let proxies =
            crate::routes::auth::TrustedProxies::from_config(&config.http.trusted_proxies, &config.http.client_ip_header)?;
        let schema = build_schema(services.clone(), &SchemaConfig { limits: config.graphql.clone() });
        let state = web::Data::new(AppState {
            db,
            schema,
            identity: services.apis.get::<dyn IdentityApi>()?,
            media: services.apis.get::<dyn MediaApi>()?,
            services,
            metrics,
            ws_connections: crate::routes::subscriptions::ConnectionCounts::new(config.http.max_connections_per_user),
            cors,
            proxies,
            config: config.clone(),
        });

        let shutdown = CancellationToken::new();
        let mut background: Vec<(&'static str, JoinHandle<()>)> = workers
            .into_iter()
            .map(|(name, run)| (name, tokio::spawn(run(shutdown.clone()))))
            .collect();
        if config.events.run_dispatcher {
            background.push(("events.dispatcher", tokio::spawn(dispatcher.run(shutdown.clone()))));
        }

        let max_multipart = config.http.max_multipart_bytes;
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(
                    async_graphql::http::MultipartOptions::default()
                        .max_file_size(max_multipart as usize)
                        .max_num_files(1),
                )
                .wrap(actix_web::middleware::from_fn(crate::security::cors))
                .wrap(crate::security::default_headers())
                .wrap(actix_web::middleware::from_fn(crate::metrics::record))
                .wrap(actix_web::middleware::from_fn(crate::telemetry::request_id_header))
                .wrap(tracing_actix_web::TracingLogger::default())
                .configure(routes::configure)
        })
        .disable_signals()
        .shutdown_timeout(config.http.shutdown_timeout_secs)
        .listen(listener)
        .context("listening")?;
        if let Some(workers) = config.http.workers {
            server = server.workers(workers);
        }
        let server = server.run();
        let handle = server.handle();
        let server_task = tokio::spawn(server);
        tracing::info!(%addr, "kanjian is serving");
        Ok(RunningServer { addr, handle, server_task, shutdown, background })
    }
}

/// The realtime hub `[realtime]` asks for: NATS when `nats_url` is set (and then NATS must
/// answer now, or the node does not start), else in-process.
async fn realtime_hub(config: &Config) -> anyhow::Result<Arc<dyn RealtimeHub>> {
    let Some(nats) = config.realtime.nats() else {
        return Ok(Arc::new(InProcessHub::new()));
    };
    let url = kanjian_events::redact_url(&nats.url);
    let hub = NatsHub::connect(nats).await.with_context(|| {
        format!("the realtime hub needs NATS at {url} ([realtime] nats_url, KANJIAN_REALTIME__NATS_URL); unset it to run one node without NATS")
    })?;
    Ok(Arc::new(hub))
}

async fn connect(config: &Config, clock: Clock) -> anyhow::Result<Db> {
    let url = config.database_url();
    kanjian_migrations::database::connect_and_migrate_with::<crate::modules::AllMigrations>(&url, &config.database, clock)
        .await
        .with_context(|| format!("opening and migrating the {} database", if config.is_sqlite() { "SQLite" } else { "PostgreSQL" }))
}

/// Applies the migrations and returns; for `kanjian migrate`.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    open_database(config).await.map(|_| ())
}

/// Opens the database and brings its schema up to date; for commands that work on it directly
/// (`kanjian events …`).
pub async fn open_database(config: &Config) -> anyhow::Result<Db> {
    std::fs::create_dir_all(&config.data_dir).context("creating the data dir")?;
    connect(config, Clock::system()).await
}

pub struct RunningServer {
    pub addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
    server_task: tokio::task::JoinHandle<std::io::Result<()>>,
    shutdown: CancellationToken,
    /// The dispatcher and the modules' workers.
    background: Vec<(&'static str, JoinHandle<()>)>,
}

impl RunningServer {
    /// Stops taking requests, lets running ones finish, then stops background work, releasing
    /// its leases so other nodes (or the next start) take it over at once.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.server_task.await;
        self.shutdown.cancel();
        for (name, task) in self.background {
            if tokio::time::timeout(Duration::from_secs(10), task).await.is_err() {
                tracing::warn!(task = name, "a background task did not stop within 10 s");
            }
        }
    }

    /// Stops at once, as a crash would: background work is dropped without releasing anything.
    pub async fn kill(self) {
        for (_, task) in &self.background {
            task.abort();
        }
        self.handle.stop(false).await;
        self.server_task.abort();
    }
}
