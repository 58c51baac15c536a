#![doc = include_str!("../README.md")]

mod accounts;
mod channels;
mod config;
mod credentials;
mod db;
pub mod domain;
mod entity;
mod organizations;
pub mod seed;
mod service;
mod sessions;

pub use config::IdentityConfig;
pub use service::IdentityService;

/// The identity module, as `server` declares it: offers `IdentityApi`, and `IdentityDirectory`
/// for the modules that only look people and channels up.
#[derive(Debug)]
pub struct Identity;

impl kanjian_module::Module for Identity {
    type Config = IdentityConfig;

    fn build(config: IdentityConfig, ctx: kanjian_module::ModuleContext<'_>) -> anyhow::Result<kanjian_module::Parts> {
        let service = std::sync::Arc::new(IdentityService::new(ctx.db, ctx.outbox, config));
        Ok(kanjian_module::Parts::default()
            .api::<dyn kanjian_contracts::identity::IdentityDirectory>(service.clone())
            .api::<dyn kanjian_contracts::identity::IdentityApi>(service))
    }
}
