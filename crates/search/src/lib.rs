#![doc = include_str!("../README.md")]

pub mod analysis;
mod config;
pub mod index;
mod indexer;
pub mod migrations;
mod projection;
pub mod seed;
mod service;
mod store;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use kanjian_contracts::Apis;
use kanjian_contracts::commerce::ShopperApi;
use kanjian_contracts::identity::IdentityDirectory;
use kanjian_contracts::search::SearchApi;
use kanjian_contracts::social::{BlockDirectory, FriendDirectory, FriendRecommendations, SocialApi};
use kanjian_db::Db;
use kanjian_events::EventHandler;

pub use config::{Engine, MeilisearchConfig, SearchConfig};
pub use projection::video_popularity;
pub use service::{CURSOR_LIFETIME_MS, DEFAULT_PAGE, MAX_DEPTH, MAX_PAGE, MAX_SUGGESTIONS};

use analysis::Analyzer;
use index::SearchIndex;

/// The search module, as `server` declares it: offers `SearchApi`, owns the `search_*` tables,
/// keeps them from the other modules' events and runs the indexer that feeds the engine.
#[derive(Debug)]
pub struct Search;

impl kanjian_module::Module for Search {
    type Config = SearchConfig;

    fn migrations() -> Vec<Box<dyn kanjian_module::MigrationTrait>> {
        migrations::all()
    }

    fn build(config: SearchConfig, ctx: kanjian_module::ModuleContext<'_>) -> anyhow::Result<kanjian_module::Parts> {
        let analyzer = Arc::new(Analyzer::new()?);
        let index = open_index(&config, &ctx.data_dir, analyzer.clone())?;
        let assembled = assemble(ctx.db, index, analyzer, ctx.apis);
        let indexer = assembled.indexer;
        let poll = std::time::Duration::from_millis(config.indexer_poll_ms.max(10));
        let lag = indexer.deps.clone();
        Ok(kanjian_module::Parts::default()
            .handlers(assembled.handlers)
            .worker("search.indexer", move |shutdown| indexer.run(poll, shutdown))
            .gauge(
                "search_index_lag_seconds",
                "Age of the oldest change the search index has not applied (0: caught up), as its indexer last saw it",
                move || lag.lag_ms.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1000.0,
            )
            .api::<dyn SearchApi>(assembled.api))
    }
}

/// The engine `config` names: the embedded index (in `index_dir`, or `<data_dir>/search`) or
/// Meilisearch.
pub fn open_index(config: &SearchConfig, data_dir: &Path, analyzer: Arc<Analyzer>) -> anyhow::Result<Arc<dyn SearchIndex>> {
    Ok(match config.engine {
        Engine::Tantivy => {
            let dir = config.index_dir.clone().unwrap_or_else(|| data_dir.join("search"));
            Arc::new(Arc::new(index::tantivy::TantivyIndex::open(dir, analyzer)?))
        }
        #[cfg(feature = "meilisearch")]
        Engine::Meilisearch => {
            use secrecy::ExposeSecret;
            let meili = &config.meilisearch;
            let key = meili.api_key.as_ref().map(|k| k.expose_secret().to_owned());
            Arc::new(index::meilisearch::MeilisearchIndex::connect(&meili.url, key, &meili.index, analyzer)?)
        }
        #[cfg(not(feature = "meilisearch"))]
        Engine::Meilisearch => anyhow::bail!("this build of Kanjian has no Meilisearch (the `meilisearch` feature of kanjian-search)"),
    })
}

/// `kanjian reindex`: rebuilds the configured index from `db`'s search documents beside the
/// serving copy and swaps it in (a running server follows: Meilisearch swaps in place, the
/// embedded index's indexer opens the new generation). `progress(done, total)` after each page.
pub async fn reindex(
    config: &SearchConfig,
    data_dir: &Path,
    db: Db,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> anyhow::Result<u64> {
    let analyzer = Arc::new(Analyzer::new()?);
    let index = open_index(config, data_dir, analyzer.clone())?;
    let parts = assemble(db, index, analyzer, &Apis::default());
    Ok(parts.indexer.reindex(progress).await?)
}

/// The module's parts over a given index: what `build` wires, and what tests drive directly.
pub struct Assembled {
    pub api: Arc<dyn SearchApi>,
    pub handlers: Vec<Arc<dyn EventHandler>>,
    pub indexer: Indexer,
}

/// Builds the use cases, handlers and indexer over `index`, with whichever of the other modules'
/// APIs `apis` offers.
pub fn assemble(db: Db, index: Arc<dyn SearchIndex>, analyzer: Arc<Analyzer>, apis: &Apis) -> Assembled {
    let deps = Arc::new(Deps {
        db,
        analyzer,
        changed: tokio::sync::Notify::new(),
        lag_ms: AtomicI64::new(0),
        identity: apis.get::<dyn IdentityDirectory>().ok(),
        social: apis.get::<dyn SocialApi>().ok(),
        shopper: apis.get::<dyn ShopperApi>().ok(),
        blocks: apis.get::<dyn BlockDirectory>().ok(),
        friends: apis.get::<dyn FriendDirectory>().ok(),
        recommendations: apis.get::<dyn FriendRecommendations>().ok(),
    });
    Assembled {
        api: Arc::new(service::SearchService { deps: deps.clone(), index: index.clone() }),
        handlers: handlers(&deps),
        indexer: Indexer { deps, index },
    }
}

/// Feeds the index from `search_documents` (see `indexer`).
pub struct Indexer {
    deps: Arc<Deps>,
    index: Arc<dyn SearchIndex>,
}

impl Indexer {
    /// Runs until `shutdown`, applying changes as they commit: at once for this node's, within
    /// `poll` for other nodes'.
    pub async fn run(self, poll: std::time::Duration, shutdown: tokio_util::sync::CancellationToken) {
        indexer::run(self.deps, self.index, poll, shutdown).await;
    }

    /// Applies one batch of changes the index has not; returns how many (0: caught up).
    pub async fn catch_up(&self) -> kanjian_kernel::Result<usize> {
        indexer::catch_up(&self.deps, self.index.as_ref()).await
    }

    /// The age of the oldest change the index had not applied when last looked at, in ms.
    pub fn lag_ms(&self) -> i64 {
        self.deps.lag_ms.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Rebuilds the index from `search_documents` beside the serving copy, then swaps it in;
    /// `progress(done, total)` after every page. Returns how many documents it holds.
    pub async fn reindex(&self, progress: &(dyn Fn(u64, u64) + Send + Sync)) -> kanjian_kernel::Result<u64> {
        indexer::reindex(&self.deps, self.index.as_ref(), progress).await
    }
}

fn handlers(deps: &Arc<Deps>) -> Vec<Arc<dyn EventHandler>> {
    vec![
        Arc::new(projection::Videos { deps: deps.clone() }),
        Arc::new(projection::LiveRooms { deps: deps.clone() }),
        Arc::new(projection::Channels { deps: deps.clone() }),
        Arc::new(projection::Products { deps: deps.clone() }),
    ]
}

/// What the handlers, the indexer and the use cases share. The other modules' APIs are optional
/// so a deployment (or a test) without one still searches what it has.
pub(crate) struct Deps {
    pub db: Db,
    pub analyzer: Arc<Analyzer>,
    /// Rung by a handler that recorded a change: the indexer on this node wakes at once.
    pub changed: tokio::sync::Notify,
    /// The age of the oldest change the index has not applied, as the indexer last saw it.
    pub lag_ms: AtomicI64,
    pub identity: Option<Arc<dyn IdentityDirectory>>,
    pub social: Option<Arc<dyn SocialApi>>,
    pub shopper: Option<Arc<dyn ShopperApi>>,
    pub blocks: Option<Arc<dyn BlockDirectory>>,
    pub friends: Option<Arc<dyn FriendDirectory>>,
    pub recommendations: Option<Arc<dyn FriendRecommendations>>,
}
