#![doc = include_str!("../README.md")]

mod broadcast;
pub mod chat;
mod config;
mod discovery;
mod domain;
mod entity;
pub mod ingest;
pub mod migrations;
mod publishing;
mod replays;
mod reservations;
mod rooms;

use std::sync::Arc;

use async_trait::async_trait;
use kanjian_blob::BlobStore;
use kanjian_contracts::commerce::ShowcaseDirectory;
use kanjian_contracts::identity::{IdentityDirectory, MailDirectory};
use kanjian_contracts::live::{
    BlockingReload, LiveApi, LiveCommentDto, LiveFileReply, LiveRecommendationDto, LiveRoomDto, RestrictedViewerDto, Restriction, RoomEvent,
    ScheduleLiveInput, StreamCredentialsDto, UpdateLiveInput,
};
use kanjian_contracts::media::VideoImporter;
use kanjian_contracts::social::{BlockDirectory, FriendDirectory};
use kanjian_db::Db;
use futures::stream::BoxStream;
use kanjian_events::{EventHandler, Outbox, RealtimeHub};
use kanjian_kernel::ids::{ChannelId, LiveCommentId, LiveRoomId, ProductId, UserId};
use kanjian_kernel::{Actor, Page, PageRequest, Result};
use tokio_util::sync::CancellationToken;

pub use config::LiveConfig;
pub use publishing::Refusal;

/// The live module, as `server` declares it: offers `LiveApi` (using identity's directories and
/// social's blocks), owns the `live_*` tables, settles reservations when rooms go live or are
/// cancelled, and ends rooms whose publisher did not come back.
#[derive(Debug)]
pub struct Live;

impl kanjian_module::Module for Live {
    type Config = LiveConfig;

    fn migrations() -> Vec<Box<dyn kanjian_module::MigrationTrait>> {
        migrations::all()
    }

    fn build(mut config: LiveConfig, ctx: kanjian_module::ModuleContext<'_>) -> anyhow::Result<kanjian_module::Parts> {
        config.public_url = ctx.public_url.clone();
        config.data_dir = ctx.data_dir.clone();
        let service = Arc::new(LiveService::with_blobs(
            ctx.db,
            ctx.outbox,
            ctx.hub,
            ctx.blobs,
            Directories {
                identity: ctx.apis.get::<dyn IdentityDirectory>()?,
                mail: ctx.apis.get::<dyn MailDirectory>()?,
                blocks: ctx.apis.get::<dyn BlockDirectory>()?,
                friends: ctx.apis.get::<dyn FriendDirectory>()?,
                importer: Some(ctx.apis.get::<dyn VideoImporter>()?),
                showcase: ctx.apis.get::<dyn ShowcaseDirectory>()?,
            },
            config,
        ));
        let worker = service.clone();
        let mut parts = kanjian_module::Parts::default()
            .handlers(service.event_handlers())
            .worker("live.grace", move |shutdown| async move { worker.run_grace_worker(shutdown).await });
        let counters = service.clone();
        parts = parts.worker("live.likes", move |shutdown| async move { counters.run_likes_worker(shutdown).await });
        let shop = service.clone();
        parts = parts.worker("live.shop", move |shutdown| async move { shop.run_shop_worker(shutdown).await });
        if service.deps.config.ingest_enabled {
            let ingest = service.clone();
            parts = parts.worker("live.ingest", move |shutdown| async move { ingest.run_ingest(shutdown).await });
        }
        Ok(parts.api::<dyn LiveApi>(service))
    }
}

/// What live reads of other modules.
pub struct Directories {
    pub identity: Arc<dyn IdentityDirectory>,
    pub mail: Arc<dyn MailDirectory>,
    pub blocks: Arc<dyn BlockDirectory>,
    /// Friends and follows, for the feeds' live items.
    pub friends: Arc<dyn FriendDirectory>,
    /// Makes replays into videos (media); without it a room's replay stays its playlist.
    pub importer: Option<Arc<dyn VideoImporter>>,
    /// Whether a channel carries a product, and the product as shoppers see it (commerce): for
    /// pinning products in a live and keeping their cards current.
    pub showcase: Arc<dyn ShowcaseDirectory>,
}

/// Everything the use cases and handlers need.
pub(crate) struct Deps {
    pub db: Db,
    pub outbox: Outbox,
    pub hub: Arc<dyn RealtimeHub>,
    pub identity: Arc<dyn IdentityDirectory>,
    pub mail: Arc<dyn MailDirectory>,
    pub blocks: Arc<dyn BlockDirectory>,
    pub friends: Arc<dyn FriendDirectory>,
    pub importer: Option<Arc<dyn VideoImporter>>,
    pub showcase: Arc<dyn ShowcaseDirectory>,
    /// Where rooms' segments go (`live/rooms/<id>/…`), shared by every node with S3.
    pub blobs: Arc<dyn BlobStore>,
    pub config: LiveConfig,
    /// Publish sessions on air on this node.
    pub on_air: broadcast::OnAir,
    /// Where this node's RTMP ingest listens, once it does.
    pub ingest_addr: std::sync::OnceLock<std::net::SocketAddr>,
    /// Comments, likes and viewers on this node.
    pub chat: chat::Chat,
}

/// The live module. Cheap to clone: everything sits behind one `Arc`.
#[derive(Clone)]
pub struct LiveService {
    deps: Arc<Deps>,
}

impl std::fmt::Debug for LiveService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveService").field("config", &self.deps.config).finish_non_exhaustive()
    }
}

impl LiveService {
    /// A service whose segments are files under `<data_dir>/live/rooms/` (one node).
    pub fn new(db: Db, outbox: Outbox, hub: Arc<dyn RealtimeHub>, directories: Directories, config: LiveConfig) -> Self {
        let blobs = Arc::new(kanjian_blob::LocalBlobStore::new(config.data_dir.clone()));
        Self::with_blobs(db, outbox, hub, blobs, directories, config)
    }

    /// A service whose segments go to `blobs` (the deployment's store, `[storage]`).
    pub fn with_blobs(db: Db, outbox: Outbox, hub: Arc<dyn RealtimeHub>, blobs: Arc<dyn BlobStore>, directories: Directories, config: LiveConfig) -> Self {
        let Directories { identity, mail, blocks, friends, importer, showcase } = directories;
        Self {
            deps: Arc::new(Deps {
                db,
                outbox,
                hub,
                identity,
                mail,
                blocks,
                friends,
                importer,
                showcase,
                blobs,
                config,
                on_air: Default::default(),
                ingest_addr: Default::default(),
                chat: Default::default(),
            }),
        }
    }

    pub fn config(&self) -> &LiveConfig {
        &self.deps.config
    }

    /// `live.settle_reservations` (on `live.room_started` and `live.room_cancelled`),
    /// `live.make_replay` (on `live.room_ended`) and `live.shop_events` (on commerce's
    /// `order_placed`, `order_paid`, `order_cancelled` and `sku_changed`).
    pub fn event_handlers(&self) -> Vec<Arc<dyn EventHandler>> {
        vec![
            Arc::new(reservations::ReservationsHandler { deps: self.deps.clone() }),
            Arc::new(replays::ReplayHandler { deps: self.deps.clone() }),
            Arc::new(chat::shop::ShopEventsHandler { deps: self.deps.clone() }),
        ]
    }

    /// The room a stream key opens, or why it may not be published to (checked before any
    /// media is accepted).
    pub async fn room_for_key(&self, stream_key: &str) -> Result<std::result::Result<LiveRoomId, Refusal>> {
        Ok(publishing::room_for_key(&self.deps, stream_key).await?.map(|row| LiveRoomId(row.id)))
    }

    /// Puts publish `session` on air in `room` (see `publishing::go_on_air`).
    pub async fn go_on_air(&self, room: LiveRoomId, session: &str, replace: bool) -> Result<std::result::Result<(), Refusal>> {
        Ok(publishing::go_on_air(&self.deps, room, session, replace).await?.map(|_| ()))
    }

    /// Publish `session` left `room`; the reconnect grace starts.
    pub async fn off_air(&self, room: LiveRoomId, session: &str) -> Result<()> {
        publishing::off_air(&self.deps, room, session).await
    }

    /// Ends rooms whose grace ran out; returns how many (the worker calls it every second).
    pub async fn end_abandoned_rooms(&self) -> Result<usize> {
        publishing::end_abandoned_rooms(&self.deps).await
    }

    /// Listens for RTMP publishers until shutdown. A port that cannot be bound is logged as an
    /// error: the rest of the server keeps serving (rooms, players, other nodes' ingest).
    async fn run_ingest(&self, shutdown: CancellationToken) {
        let gate = Arc::new(broadcast::Gate { deps: self.deps.clone(), node: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned() });
        let ingest = match ingest::RtmpIngest::bind(self.deps.config.ingest.clone(), gate).await {
            Ok(ingest) => ingest,
            Err(e) => {
                tracing::error!(error = %e, listen = %self.deps.config.ingest.listen, "the RTMP ingest could not listen; this node takes no publishers");
                return;
            }
        };
        if let Ok(addr) = ingest.local_addr() {
            let _ = self.deps.ingest_addr.set(addr);
            tracing::info!(%addr, "RTMP ingest listening");
        }
        ingest.run(shutdown).await;
    }

    /// Where this node's RTMP ingest listens, once it does.
    pub fn ingest_addr(&self) -> Option<std::net::SocketAddr> {
        self.deps.ingest_addr.get().copied()
    }

    /// Writes this node's likes every `counts_interval_ms`, and once more on shutdown.
    async fn run_likes_worker(&self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(self.deps.config.counts_interval_ms.max(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let stopping = tokio::select! {
                _ = shutdown.cancelled() => true,
                _ = tick.tick() => false,
            };
            if let Err(e) = self.flush_likes().await {
                tracing::warn!(error = %e, "writing likes failed; they are kept for the next try");
            }
            if stopping {
                return;
            }
        }
    }

    /// Writes the likes this node took since the last time; returns how many rooms had some.
    pub async fn flush_likes(&self) -> Result<usize> {
        chat::likes::flush(&self.deps).await
    }

    /// Sends rooms the purchases this node noted from commerce's events; returns how many rooms
    /// (the `live.shop` worker calls it every `comment_batch_ms`).
    pub async fn flush_just_bought(&self) -> usize {
        chat::shop::flush_bought(&self.deps).await
    }

    /// Reads again the pinned products whose price or stock changed since the last time, once
    /// each, and sends their rooms the new card; returns how many rooms got one (the
    /// `live.shop` worker calls it every `counts_interval_ms`).
    pub async fn refresh_pinned_products(&self) -> Result<usize> {
        chat::shop::refresh_cards(&self.deps).await
    }

    /// `flush_just_bought` every `comment_batch_ms`, `refresh_pinned_products` every
    /// `counts_interval_ms`, and both once more on shutdown.
    async fn run_shop_worker(&self, shutdown: CancellationToken) {
        let every = |ms: u64| {
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(ms.max(10)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick
        };
        let mut bought = every(self.deps.config.comment_batch_ms);
        let mut cards = every(self.deps.config.counts_interval_ms);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    self.flush_just_bought().await;
                    if let Err(e) = self.refresh_pinned_products().await {
                        tracing::debug!(error = %e, "refreshing pinned products on shutdown failed");
                    }
                    return;
                }
                _ = bought.tick() => {
                    self.flush_just_bought().await;
                }
                _ = cards.tick() => {
                    if let Err(e) = self.refresh_pinned_products().await {
                        tracing::warn!(error = %e, "refreshing pinned products failed; trying again");
                    }
                }
            }
        }
    }

    async fn run_grace_worker(&self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(self.deps.config.grace_check_ms.max(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {
                    if let Err(e) = self.end_abandoned_rooms().await {
                        tracing::warn!(error = %e, "ending abandoned live rooms failed; trying again");
                    }
                }
            }
        }
    }
}

#[async_trait]
impl LiveApi for LiveService {
    async fn schedule_live(&self, actor: &Actor, input: ScheduleLiveInput) -> Result<LiveRoomDto> {
        rooms::schedule_live(&self.deps, actor, input).await
    }

    async fn update_live(&self, actor: &Actor, room: LiveRoomId, input: UpdateLiveInput) -> Result<LiveRoomDto> {
        rooms::update_live(&self.deps, actor, room, input).await
    }

    async fn cancel_live(&self, actor: &Actor, room: LiveRoomId) -> Result<LiveRoomDto> {
        rooms::cancel_live(&self.deps, actor, room).await
    }

    async fn end_live(&self, actor: &Actor, room: LiveRoomId) -> Result<LiveRoomDto> {
        rooms::end_live(&self.deps, actor, room).await
    }

    async fn stream_credentials(&self, actor: &Actor, room: LiveRoomId) -> Result<StreamCredentialsDto> {
        rooms::stream_credentials(&self.deps, actor, room).await
    }

    async fn rotate_stream_key(&self, actor: &Actor, room: LiveRoomId) -> Result<StreamCredentialsDto> {
        rooms::rotate_stream_key(&self.deps, actor, room).await
    }

    async fn reserve(&self, actor: &Actor, room: LiveRoomId) -> Result<LiveRoomDto> {
        reservations::reserve(&self.deps, actor, room).await
    }

    async fn unreserve(&self, actor: &Actor, room: LiveRoomId) -> Result<LiveRoomDto> {
        reservations::unreserve(&self.deps, actor, room).await
    }

    async fn rooms_by_ids(&self, actor: &Actor, ids: &[LiveRoomId]) -> Result<Vec<LiveRoomDto>> {
        rooms::rooms_by_ids(&self.deps, actor, ids).await
    }

    async fn upcoming_lives(&self, actor: &Actor, channel: ChannelId) -> Result<Vec<LiveRoomDto>> {
        rooms::upcoming_lives(&self.deps, actor, channel).await
    }

    async fn live_now(&self, actor: &Actor, channel: ChannelId) -> Result<Option<LiveRoomDto>> {
        rooms::live_now(&self.deps, actor, channel).await
    }

    async fn watch_room(&self, actor: &Actor, room: LiveRoomId) -> Result<BoxStream<'static, RoomEvent>> {
        rooms::watch_room(self.deps.clone(), actor.clone(), room).await
    }

    async fn send_comment(&self, actor: &Actor, room: LiveRoomId, text: &str) -> Result<LiveCommentDto> {
        chat::comments::send_comment(&self.deps, actor, room, text).await
    }

    async fn delete_comment(&self, actor: &Actor, comment: LiveCommentId) -> Result<()> {
        chat::comments::delete_comment(&self.deps, actor, comment).await
    }

    async fn comments(&self, actor: &Actor, room: LiveRoomId, page: PageRequest) -> Result<Page<LiveCommentDto>> {
        chat::comments::comments(&self.deps, actor, room, page).await
    }

    async fn like(&self, actor: &Actor, room: LiveRoomId, count: u32) -> Result<()> {
        chat::likes::like(&self.deps, actor, room, count).await
    }

    async fn pin_message(&self, actor: &Actor, room: LiveRoomId, text: Option<&str>) -> Result<LiveRoomDto> {
        chat::moderation::pin_message(&self.deps, actor, room, text).await
    }

    async fn pin_product(&self, actor: &Actor, room: LiveRoomId, product: Option<ProductId>) -> Result<LiveRoomDto> {
        chat::shop::pin_product(&self.deps, actor, room, product).await
    }

    async fn restrict_viewer(&self, actor: &Actor, room: LiveRoomId, user: UserId, restriction: Restriction) -> Result<RestrictedViewerDto> {
        chat::moderation::restrict_viewer(&self.deps, actor, room, user, restriction).await
    }

    async fn lift_restriction(&self, actor: &Actor, room: LiveRoomId, user: UserId) -> Result<()> {
        chat::moderation::lift_restriction(&self.deps, actor, room, user).await
    }

    async fn restricted_viewers(&self, actor: &Actor, room: LiveRoomId) -> Result<Vec<RestrictedViewerDto>> {
        chat::moderation::restricted_viewers(&self.deps, actor, room).await
    }

    async fn add_moderator(&self, actor: &Actor, user: UserId) -> Result<Vec<UserId>> {
        chat::moderation::add_moderator(&self.deps, actor, user).await
    }

    async fn remove_moderator(&self, actor: &Actor, user: UserId) -> Result<Vec<UserId>> {
        chat::moderation::remove_moderator(&self.deps, actor, user).await
    }

    async fn moderators(&self, actor: &Actor) -> Result<Vec<UserId>> {
        chat::moderation::moderators(&self.deps, actor).await
    }

    async fn set_blocked_keywords(&self, actor: &Actor, channel: ChannelId, keywords: &[String]) -> Result<Vec<String>> {
        chat::moderation::set_blocked_keywords(&self.deps, actor, channel, keywords).await
    }

    async fn blocked_keywords(&self, actor: &Actor, channel: ChannelId) -> Result<Vec<String>> {
        chat::moderation::blocked_keywords(&self.deps, actor, channel).await
    }

    async fn live_now_followed(&self, actor: &Actor, limit: u64) -> Result<Vec<LiveRoomDto>> {
        discovery::live_now_followed(&self.deps, actor, limit).await
    }

    async fn recommended_lives(&self, actor: &Actor, limit: u64) -> Result<Vec<LiveRecommendationDto>> {
        discovery::recommended_lives(&self.deps, actor, limit).await
    }

    async fn open_file(&self, actor: &Actor, room: LiveRoomId, name: &str, reload: Option<BlockingReload>) -> Result<LiveFileReply> {
        broadcast::open_file(&self.deps, actor, room, name, reload).await
    }
}
