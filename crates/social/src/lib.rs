#![doc = include_str!("../README.md")]

mod blocks;
mod comments;
mod config;
mod db;
pub mod domain;
mod entity;
mod feeds;
mod follows;
mod friends;
mod projection;
mod reactions;
pub mod seed;
mod service;
mod shares_views;

use kanjian_db::Db;
use std::sync::Arc;

use kanjian_contracts::identity::IdentityDirectory;
use kanjian_contracts::social::BoostedVideos;
use kanjian_contracts::media::VideoDirectory;
use kanjian_events::Outbox;

pub use config::SocialConfig;
pub use service::SocialService;

/// The social module, as `server` declares it: offers `SocialApi` (using `IdentityDirectory`
/// and `VideoDirectory`) and runs the video projection handler.
#[derive(Debug)]
pub struct Social;

impl kanjian_module::Module for Social {
    type Config = SocialConfig;

    fn build(config: SocialConfig, ctx: kanjian_module::ModuleContext<'_>) -> anyhow::Result<kanjian_module::Parts> {
        let identity = ctx.apis.get::<dyn IdentityDirectory>()?;
        let media = ctx.apis.get::<dyn VideoDirectory>()?;
        let service = Arc::new(SocialService::new(ctx.db, ctx.outbox, identity, media, config));
        Ok(kanjian_module::Parts::default()
            .handlers(service.event_handlers())
            .api::<dyn kanjian_contracts::social::BlockDirectory>(service.clone())
            .api::<dyn kanjian_contracts::social::FriendDirectory>(service.clone())
            .api::<dyn kanjian_contracts::social::FriendRecommendations>(service.clone())
            .api::<dyn kanjian_contracts::social::SocialApi>(service))
    }
}

/// Everything the use cases need, shared by the service and its event handler.
pub(crate) struct Deps {
    pub db: Db,
    pub outbox: Outbox,
    pub identity: Arc<dyn IdentityDirectory>,
    pub media: Arc<dyn VideoDirectory>,
    pub config: SocialConfig,
    /// Recommended's candidates, kept per node.
    pub pool: feeds::RecommendedPool,
    /// Boosted videos to mix into Recommended, once a module offers them.
    pub boosted: std::sync::OnceLock<Arc<dyn BoostedVideos>>,
}
