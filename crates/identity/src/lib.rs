#![doc = include_str!("../README.md")]

mod accounts;
mod channels;
mod config;
mod credentials;
mod db;
pub mod domain;
mod email_tokens;
mod email_verification;
mod entity;
pub mod migrations;
mod organizations;
mod password_reset;
pub mod seed;
mod service;
mod sessions;

pub use config::IdentityConfig;
pub use service::IdentityService;

/// The identity module, as `server` declares it: offers `IdentityApi`, and `IdentityDirectory`
/// for the modules that only look people and channels up; declares its own migrations (the
/// tables made after modules could; the older ones are in the shared history). Links in its mail
/// point at the server's public URL.
#[derive(Debug)]
pub struct Identity;

impl kanjian_module::Module for Identity {
    type Config = IdentityConfig;

    fn migrations() -> Vec<Box<dyn kanjian_module::MigrationTrait>> {
        migrations::all()
    }

    fn build(mut config: IdentityConfig, ctx: kanjian_module::ModuleContext<'_>) -> anyhow::Result<kanjian_module::Parts> {
        config.public_url = ctx.public_url.clone();
        let service = std::sync::Arc::new(IdentityService::new(ctx.db, ctx.outbox, config));
        Ok(kanjian_module::Parts::default()
            .api::<dyn kanjian_contracts::identity::IdentityDirectory>(service.clone())
            .api::<dyn kanjian_contracts::identity::MailDirectory>(service.clone())
            .api::<dyn kanjian_contracts::identity::OrganizationDirectory>(service.clone())
            .api::<dyn kanjian_contracts::identity::IdentityApi>(service))
    }
}
