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

use kanjian_contracts::identity::IdentityApi;
use kanjian_contracts::social::BoostedVideos;
use kanjian_contracts::media::MediaApi;
use kanjian_events::Outbox;

pub use config::SocialConfig;
pub use service::SocialService;

/// Everything the use cases need, shared by the service and its event handler.
pub(crate) struct Deps {
    pub db: Db,
    pub outbox: Outbox,
    pub identity: Arc<dyn IdentityApi>,
    pub media: Arc<dyn MediaApi>,
    pub config: SocialConfig,
    /// Recommended's candidates, kept per node.
    pub pool: feeds::RecommendedPool,
    /// Boosted videos to mix into Recommended, once a module offers them.
    pub boosted: std::sync::OnceLock<Arc<dyn BoostedVideos>>,
}
