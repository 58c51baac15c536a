#![doc = include_str!("../README.md")]

mod config;
mod domain;
mod emails;
mod entity;
mod mailer;
pub mod migrations;
mod notifications;
mod preferences;
mod templates;

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use kanjian_contracts::notify::{EmailCategory, EmailPreferenceDto, MarkRead, NotificationDto, NotifyApi};
use kanjian_db::Db;
use kanjian_events::{EventHandler, Outbox, RealtimeHub};
use kanjian_kernel::ids::NotificationId;
use kanjian_kernel::{Actor, Page, PageRequest, Result};

pub use config::{NotifyConfig, SmtpConfig, SmtpTls};

/// The notify module, as `server` declares it: offers `NotifyApi`, owns the `notify_*` tables
/// and runs the mail and notification handlers. Mail goes to `<data_dir>/mail` unless SMTP is
/// configured; links point at the server's public URL.
#[derive(Debug)]
pub struct Notify;

impl kanjian_module::Module for Notify {
    type Config = NotifyConfig;

    fn migrations() -> Vec<Box<dyn kanjian_module::MigrationTrait>> {
        migrations::all()
    }

    fn build(mut config: NotifyConfig, ctx: kanjian_module::ModuleContext<'_>) -> anyhow::Result<kanjian_module::Parts> {
        config.data_dir = ctx.data_dir.clone();
        config.public_url = ctx.public_url.clone();
        let service = Arc::new(NotifyService::new(ctx.db, ctx.outbox, ctx.hub, config));
        Ok(kanjian_module::Parts::default().handlers(service.event_handlers()).api::<dyn NotifyApi>(service))
    }
}

/// Everything the use cases and handlers need.
pub(crate) struct Deps {
    pub db: Db,
    pub hub: Arc<dyn RealtimeHub>,
    pub config: NotifyConfig,
    pub mailer: mailer::Mailer,
    /// Compiled once; an error here is a broken template in this crate (unit-tested).
    pub templates: std::result::Result<templates::Templates, String>,
}

/// The notify module. Cheap to clone: everything sits behind one `Arc`.
#[derive(Clone)]
pub struct NotifyService {
    deps: Arc<Deps>,
    /// Notify emits no events yet; kept so wiring does not change when it does.
    _outbox: Outbox,
}

impl std::fmt::Debug for NotifyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyService")
            .field("config", &self.deps.config)
            .field("mailer", &self.deps.mailer)
            .finish_non_exhaustive()
    }
}

impl NotifyService {
    /// Never fails: mail settings that cannot work are logged, and mail waits (retried by the
    /// dispatcher) until they are fixed.
    pub fn new(db: Db, outbox: Outbox, hub: Arc<dyn RealtimeHub>, config: NotifyConfig) -> Self {
        if config.smtp.host.is_some() && !config.public_url.starts_with("https://") {
            tracing::warn!(public_url = %config.public_url, "unsubscribe links are not https; mail clients will not offer one-click unsubscribe");
        }
        let templates = templates::Templates::new().map_err(|e| {
            tracing::error!(error = %e, "mail templates did not compile; mail waits");
            e.to_string()
        });
        let mailer = mailer::Mailer::from_config(&config);
        tracing::debug!(?mailer, "notify mail transport");
        Self { deps: Arc::new(Deps { db, hub, config, mailer, templates }), _outbox: outbox }
    }

    pub fn config(&self) -> &NotifyConfig {
        &self.deps.config
    }

    /// Handlers `server` registers with the Dispatcher: `notify.send_email` (on
    /// `notify.email_requested`) and `notify.create_notification` (on
    /// `notify.notification_requested`).
    pub fn event_handlers(&self) -> Vec<Arc<dyn EventHandler>> {
        vec![
            Arc::new(emails::SendEmailHandler { deps: self.deps.clone() }),
            Arc::new(notifications::CreateNotificationHandler { deps: self.deps.clone() }),
        ]
    }
}

#[async_trait]
impl NotifyApi for NotifyService {
    async fn notifications(&self, actor: &Actor, page: PageRequest) -> Result<Page<NotificationDto>> {
        notifications::list(&self.deps, actor, page).await
    }

    async fn notifications_by_ids(&self, actor: &Actor, ids: &[NotificationId]) -> Result<Vec<NotificationDto>> {
        notifications::by_ids(&self.deps, actor, ids).await
    }

    async fn unread_count(&self, actor: &Actor) -> Result<u64> {
        notifications::unread_count(&self.deps, actor).await
    }

    async fn mark_read(&self, actor: &Actor, which: MarkRead) -> Result<u64> {
        notifications::mark_read(&self.deps, actor, which).await
    }

    async fn subscribe(&self, actor: &Actor) -> Result<BoxStream<'static, NotificationDto>> {
        notifications::subscribe(&self.deps, actor).await
    }

    async fn email_preferences(&self, actor: &Actor) -> Result<Vec<EmailPreferenceDto>> {
        preferences::email_preferences(&self.deps, actor).await
    }

    async fn set_email_opt_out(
        &self,
        actor: &Actor,
        category: EmailCategory,
        opted_out: bool,
    ) -> Result<EmailPreferenceDto> {
        preferences::set_email_opt_out(&self.deps, actor, category, opted_out).await
    }

    async fn unsubscribe(&self, token: &str) -> Result<EmailPreferenceDto> {
        preferences::unsubscribe(&self.deps, token).await
    }
}
