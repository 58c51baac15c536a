#![doc = include_str!("../README.md")]

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use kanjian_blob::BlobStore;
use kanjian_contracts::Apis;
use kanjian_db::Db;
use kanjian_events::{EventHandler, Outbox, RealtimeHub};
use tokio_util::sync::CancellationToken;

pub use sea_orm_migration::MigrationTrait;

#[doc(hidden)]
pub mod reexport {
    pub use anyhow;
    pub use serde;
}

/// A module of Kanjian, declared in one place: its configuration, its migrations, and how it is
/// built from what the modules before it offer.
pub trait Module: 'static {
    /// The `[section]` of the configuration named after the module (`KANJIAN_<NAME>__<KEY>`).
    type Config: serde::de::DeserializeOwned + Default + Clone + std::fmt::Debug + Send + Sync;

    /// Migrations of the module's own tables, merged by name into the one ordered history.
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        Vec::new()
    }

    /// Builds the module: the APIs it offers, the event handlers and background workers it runs.
    fn build(config: Self::Config, ctx: ModuleContext<'_>) -> anyhow::Result<Parts>;
}

/// What the wiring hands a module as it builds it.
pub struct ModuleContext<'a> {
    /// The database, seen as this module (see the open-transaction rule in `kanjian-db`).
    pub db: Db,
    pub outbox: Outbox,
    pub hub: Arc<dyn RealtimeHub>,
    /// The APIs of the modules built before this one.
    pub apis: &'a Apis,
    /// The one blob store of the deployment (`[storage]`: local files, or S3 shared by every
    /// node). Each module keeps to keys of its own (`videos/…`, `live/…`).
    pub blobs: Arc<dyn BlobStore>,
    /// Where the module may keep files (`<data_dir>/…`).
    pub data_dir: PathBuf,
    /// How people reach this server (`https://kanjian.example`), for links in mail.
    pub public_url: String,
}

/// A background task of a module: runs until the token is cancelled (shutdown).
pub type Worker = Box<dyn FnOnce(CancellationToken) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// A number a module reports at `/metrics`, read when the metrics are scraped.
pub struct Gauge {
    /// `kanjian_<name>` at `/metrics`, e.g. `search_index_lag_seconds`.
    pub name: &'static str,
    pub help: &'static str,
    pub read: Box<dyn Fn() -> f64 + Send + Sync>,
}

/// What a module contributes once built.
#[derive(Default)]
pub struct Parts {
    apis: Apis,
    handlers: Vec<Arc<dyn EventHandler>>,
    workers: Vec<(&'static str, Worker)>,
    gauges: Vec<Gauge>,
}

impl Parts {
    /// Offers `api` to later modules and to the GraphQL schema as `T` (`dyn SomeApi`).
    pub fn api<T: ?Sized + Send + Sync + 'static>(mut self, api: Arc<T>) -> Self {
        self.apis.insert(api);
        self
    }

    /// Event handlers the dispatcher delivers to.
    pub fn handlers(mut self, handlers: impl IntoIterator<Item = Arc<dyn EventHandler>>) -> Self {
        self.handlers.extend(handlers);
        self
    }

    /// A number shown at `/metrics` as the gauge `kanjian_<name>`, read at each scrape.
    pub fn gauge(mut self, name: &'static str, help: &'static str, read: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        self.gauges.push(Gauge { name, help, read: Box::new(read) });
        self
    }

    /// A task that runs beside the server until shutdown.
    pub fn worker<F, Fut>(mut self, name: &'static str, run: F) -> Self
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.workers.push((name, Box::new(move |token| Box::pin(run(token)))));
        self
    }
}

/// What the wiring shares with every module it builds.
pub struct Shared {
    pub db: Db,
    pub outbox: Outbox,
    pub hub: Arc<dyn RealtimeHub>,
    pub blobs: Arc<dyn BlobStore>,
    pub data_dir: PathBuf,
    pub public_url: String,
}

/// Every module built: their APIs, handlers, workers and gauges together.
#[derive(Default)]
pub struct Built {
    pub apis: Apis,
    pub handlers: Vec<Arc<dyn EventHandler>>,
    pub workers: Vec<(&'static str, Worker)>,
    pub gauges: Vec<Gauge>,
}

impl Built {
    /// Builds module `M` as `name` from what is built so far, and adds what it contributes.
    pub fn build<M: Module>(&mut self, name: &'static str, config: M::Config, shared: &Shared) -> anyhow::Result<()> {
        let ctx = ModuleContext {
            db: shared.db.for_module(name),
            outbox: shared.outbox.clone(),
            hub: shared.hub.clone(),
            apis: &self.apis,
            blobs: shared.blobs.clone(),
            data_dir: shared.data_dir.clone(),
            public_url: shared.public_url.clone(),
        };
        let parts = M::build(config, ctx).map_err(|e| e.context(format!("building the {name} module")))?;
        self.apis.extend(parts.apis);
        self.handlers.extend(parts.handlers);
        self.workers.extend(parts.workers);
        self.gauges.extend(parts.gauges);
        tracing::debug!(module = name, "module built");
        Ok(())
    }
}

/// Declares the modules of a Kanjian, in build order (a module may use the APIs of those above
/// it), one line each: `name: Type`. The name is the configuration section and the database
/// owner. Generates `ModulesConfig` (one field per module), `module_migrations()` and
/// `build_modules()`.
#[macro_export]
macro_rules! modules {
    ($($name:ident : $module:ty),+ $(,)?) => {
        /// Every module's section of the configuration: `[name]` in the file, `KANJIAN_NAME__KEY`
        /// in the environment.
        #[derive(Debug, Clone, Default, $crate::reexport::serde::Deserialize)]
        #[serde(crate = "kanjian_module::reexport::serde", default)]
        pub struct ModulesConfig {
            $(pub $name: <$module as $crate::Module>::Config,)+
        }

        /// The migrations every module declares.
        pub fn module_migrations() -> Vec<Box<dyn $crate::MigrationTrait>> {
            let mut all: Vec<Box<dyn $crate::MigrationTrait>> = Vec::new();
            $(all.extend(<$module as $crate::Module>::migrations());)+
            all
        }

        /// Builds every module, in the order declared.
        pub fn build_modules(
            config: &ModulesConfig,
            shared: &$crate::Shared,
        ) -> $crate::reexport::anyhow::Result<$crate::Built> {
            let mut built = $crate::Built::default();
            $(built.build::<$module>(stringify!($name), config.$name.clone(), shared)?;)+
            Ok(built)
        }
    };
}
