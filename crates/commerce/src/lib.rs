#![doc = include_str!("../README.md")]

mod access;
mod affiliates;
mod addresses;
mod batch;
mod cart;
mod config;
mod domain;
mod entity;
pub mod migrations;
mod orders;
pub mod payments;
mod products;
mod shops;
mod stock;
mod sweep;

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use kanjian_contracts::commerce::{
    AddToCartInput, AddressDto, AddressInput, BuyNowInput, CartDto, CheckoutInput, CreatorApi, CreatorSaleDto, ShowcaseDirectory,
    ShowcaseItemDto, CancelOrderInput, CreateProductInput, MerchantApi, OpenShopInput, OrderDto,
    OrderEventDto, OrderFilter, PayOrderInput, PaymentDto, PaymentGateway, ProductDto, ProductStatus, SandboxCheckoutDto,
    ShipOrderInput, ShopDto, ShopperApi, UpdateProductInput, UpdateShopInput, UpdateSkuInput, WebhookReply,
};
use kanjian_contracts::identity::{IdentityDirectory, OrganizationDirectory};
use kanjian_contracts::media::VideoDirectory;
use kanjian_contracts::social::BlockDirectory;
use kanjian_db::Db;
use kanjian_events::{EventHandler, Outbox, RealtimeHub};
use kanjian_kernel::ids::{AddressId, ChannelId, OrderId, OrganizationId, ProductId, ShopId, SkuId, VideoId};
use kanjian_kernel::{Actor, Page, PageRequest, Result};
use tokio_util::sync::CancellationToken;

pub use config::CommerceConfig;

/// The commerce module, as `server` declares it: offers `MerchantApi` and `ShopperApi` (using
/// identity's organization roles), owns the `commerce_*` tables, and sweeps orders past their
/// payment window or confirm window.
#[derive(Debug)]
pub struct Commerce;

impl kanjian_module::Module for Commerce {
    type Config = CommerceConfig;

    fn migrations() -> Vec<Box<dyn kanjian_module::MigrationTrait>> {
        migrations::all()
    }

    fn build(config: CommerceConfig, ctx: kanjian_module::ModuleContext<'_>) -> anyhow::Result<kanjian_module::Parts> {
        let directories = Directories {
            orgs: ctx.apis.get::<dyn OrganizationDirectory>()?,
            identity: ctx.apis.get::<dyn IdentityDirectory>()?,
            videos: ctx.apis.get::<dyn VideoDirectory>()?,
            blocks: ctx.apis.get::<dyn BlockDirectory>()?,
        };
        let service = Arc::new(CommerceService::new(ctx.db, ctx.outbox, ctx.hub, directories, config, ctx.public_url)?);
        let sweeper = service.clone();
        Ok(kanjian_module::Parts::default()
            .handlers(service.event_handlers())
            .worker("commerce.sweep", move |shutdown| async move { sweeper.run_sweep_worker(shutdown).await })
            .api::<dyn MerchantApi>(service.clone())
            .api::<dyn PaymentGateway>(service.clone())
            .api::<dyn CreatorApi>(service.clone())
            .api::<dyn ShowcaseDirectory>(service.clone())
            .api::<dyn ShopperApi>(service))
    }
}

/// What commerce reads of other modules.
pub struct Directories {
    /// Roles in merchants' organizations.
    pub orgs: Arc<dyn OrganizationDirectory>,
    /// Creators' channels.
    pub identity: Arc<dyn IdentityDirectory>,
    /// Videos' owners (product cards under videos).
    pub videos: Arc<dyn VideoDirectory>,
    /// Blocks between people: a sale is never credited across one.
    pub blocks: Arc<dyn BlockDirectory>,
}

/// Everything the use cases need.
pub(crate) struct Deps {
    pub db: Db,
    pub outbox: Outbox,
    pub hub: Arc<dyn RealtimeHub>,
    pub orgs: Arc<dyn OrganizationDirectory>,
    pub identity: Arc<dyn IdentityDirectory>,
    pub videos: Arc<dyn VideoDirectory>,
    pub blocks: Arc<dyn BlockDirectory>,
    pub config: CommerceConfig,
    /// How people and providers reach the server (payment pages, notification URLs).
    pub public_url: String,
    pub payments: payments::Providers,
    /// The built-in provider, for its payment page; `None` when turned off.
    pub sandbox: Option<Arc<payments::sandbox::SandboxProvider>>,
    /// `buyNow`s waiting for their SKU's next batch.
    pub batches: batch::Queues,
}

/// The commerce module. Cheap to clone: everything sits behind one `Arc`.
#[derive(Clone)]
pub struct CommerceService {
    deps: Arc<Deps>,
}

impl std::fmt::Debug for CommerceService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommerceService").field("config", &self.deps.config).finish_non_exhaustive()
    }
}

impl CommerceService {
    /// A service with the providers `config` turns on. Fails on a configuration that cannot
    /// work (a default provider that is not offered).
    pub fn new(
        db: Db,
        outbox: Outbox,
        hub: Arc<dyn RealtimeHub>,
        directories: Directories,
        config: CommerceConfig,
        public_url: String,
    ) -> anyhow::Result<Self> {
        Self::with_providers(db, outbox, hub, directories, config, public_url, Vec::new())
    }

    /// As [`CommerceService::new`], with more providers beside the sandbox (tests, WeChat Pay).
    pub fn with_providers(
        db: Db,
        outbox: Outbox,
        hub: Arc<dyn RealtimeHub>,
        directories: Directories,
        config: CommerceConfig,
        public_url: String,
        mut providers: Vec<Arc<dyn payments::provider::PaymentProvider>>,
    ) -> anyhow::Result<Self> {
        let sandbox = config.sandbox_enabled.then(|| {
            use secrecy::ExposeSecret;
            let secret = match &config.sandbox_secret {
                Some(secret) => secret.expose_secret().as_bytes().to_vec(),
                None => {
                    tracing::info!("commerce.sandbox_secret is not set: the sandbox signs with a random key of this process (set it when running several nodes)");
                    let mut key = vec![0u8; 32];
                    rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
                    key
                }
            };
            Arc::new(payments::sandbox::SandboxProvider::new(db.clone(), &secret, public_url.clone()))
        });
        if let Some(sandbox) = &sandbox {
            providers.push(sandbox.clone());
        }
        if let Some(wechatpay) = &config.wechatpay {
            let provider = payments::wechatpay::WechatPayProvider::new(wechatpay.clone())
                .map_err(|e| e.context("[commerce.wechatpay] cannot work"))?;
            providers.push(Arc::new(provider));
        }
        let payments = payments::Providers::new(providers, &config.default_provider)?;
        let Directories { orgs, identity, videos, blocks } = directories;
        Ok(Self { deps: Arc::new(Deps { db, outbox, hub, orgs, identity, videos, blocks, config, public_url, payments, sandbox, batches: batch::Queues::default() }) })
    }

    /// Handlers `server` registers: payment notifications are processed, and watchers of an
    /// order are told when it changes.
    pub fn event_handlers(&self) -> Vec<Arc<dyn EventHandler>> {
        vec![
            Arc::new(payments::ProcessNotifications { deps: self.deps.clone() }),
            Arc::new(payments::PushOrderChanges { deps: self.deps.clone() }),
            Arc::new(affiliates::ProjectLiveRooms { deps: self.deps.clone() }),
        ]
    }

    /// The sandbox provider, for tests that sign notifications of their own.
    pub fn sandbox(&self) -> Option<&payments::sandbox::SandboxProvider> {
        self.deps.sandbox.as_deref()
    }

    /// Cancels orders past their payment window and completes those past their confirm
    /// window, once; returns how many of each. The worker calls it every `sweep_interval_ms`;
    /// tests call it directly with a moved clock.
    pub async fn sweep_once(&self) -> Result<sweep::Swept> {
        sweep::once(&self.deps).await
    }

    /// Runs [`CommerceService::sweep_once`] until shutdown. Every node may run it: each order
    /// moves by a compare-and-set, so two nodes never both cancel one.
    pub async fn run_sweep_worker(&self, shutdown: CancellationToken) {
        sweep::run(&self.deps, shutdown).await;
    }

    /// How many `buyNow`s this node placed in batches (tests and diagnostics: a flash sale's
    /// buyers of one SKU share transactions).
    pub fn buy_now_batching(&self) -> Batching {
        self.deps.batches.batching()
    }

    /// Marks an unpaid order paid: its held stock becomes sold. For the payments slice and for
    /// tests; `None` when the order was not waiting for payment (already paid, or cancelled).
    pub async fn mark_paid(&self, order: OrderId) -> Result<Option<OrderDto>> {
        orders::mark_paid(&self.deps, order).await
    }
}

pub use batch::Batching;
pub use sweep::Swept;

#[async_trait]
impl MerchantApi for CommerceService {
    async fn open_shop(&self, actor: &Actor, input: OpenShopInput) -> Result<ShopDto> {
        shops::open_shop(&self.deps, actor, input).await
    }

    async fn update_shop(&self, actor: &Actor, input: UpdateShopInput) -> Result<ShopDto> {
        shops::update_shop(&self.deps, actor, input).await
    }

    async fn shop_of_organization(&self, actor: &Actor, organization: OrganizationId) -> Result<Option<ShopDto>> {
        shops::shop_of_organization(&self.deps, actor, organization).await
    }

    async fn create_product(&self, actor: &Actor, input: CreateProductInput) -> Result<ProductDto> {
        products::create_product(&self.deps, actor, input).await
    }

    async fn update_product(&self, actor: &Actor, input: UpdateProductInput) -> Result<ProductDto> {
        products::update_product(&self.deps, actor, input).await
    }

    async fn set_product_status(&self, actor: &Actor, product: ProductId, status: ProductStatus) -> Result<ProductDto> {
        products::set_status(&self.deps, actor, product, status).await
    }

    async fn update_sku(&self, actor: &Actor, input: UpdateSkuInput) -> Result<ProductDto> {
        products::update_sku(&self.deps, actor, input).await
    }

    async fn shop_products(&self, actor: &Actor, shop: ShopId, page: PageRequest) -> Result<Page<ProductDto>> {
        products::shop_products(&self.deps, actor, shop, page).await
    }

    async fn shop_orders(&self, actor: &Actor, shop: ShopId, filter: OrderFilter, page: PageRequest) -> Result<Page<OrderDto>> {
        orders::shop_orders(&self.deps, actor, shop, filter, page).await
    }

    async fn ship_order(&self, actor: &Actor, input: ShipOrderInput) -> Result<OrderDto> {
        orders::ship(&self.deps, actor, input).await
    }

    async fn set_affiliate_offer(&self, actor: &Actor, product: ProductId, commission_bps: Option<i64>) -> Result<ProductDto> {
        affiliates::set_offer(&self.deps, actor, product, commission_bps).await
    }
}

#[async_trait]
impl CreatorApi for CommerceService {
    async fn add_to_showcase(&self, actor: &Actor, product: ProductId) -> Result<ShowcaseItemDto> {
        affiliates::add_to_showcase(&self.deps, actor, product).await
    }

    async fn remove_from_showcase(&self, actor: &Actor, product: ProductId) -> Result<()> {
        affiliates::remove_from_showcase(&self.deps, actor, product).await
    }

    async fn showcase(&self, actor: &Actor, channel: ChannelId, page: PageRequest) -> Result<Page<ShowcaseItemDto>> {
        affiliates::showcase(&self.deps, actor, channel, page).await
    }

    async fn set_video_product(&self, actor: &Actor, video: VideoId, product: Option<ProductId>) -> Result<Option<ProductDto>> {
        affiliates::set_video_product(&self.deps, actor, video, product).await
    }

    async fn video_products(&self, actor: &Actor, videos: &[VideoId]) -> Result<Vec<(VideoId, ProductDto)>> {
        affiliates::video_products(&self.deps, actor, videos).await
    }

    async fn creator_sales(&self, actor: &Actor, page: PageRequest) -> Result<Page<CreatorSaleDto>> {
        affiliates::creator_sales(&self.deps, actor, page).await
    }
}

#[async_trait]
impl ShowcaseDirectory for CommerceService {
    async fn carried_product(&self, channel: ChannelId, product: ProductId) -> Result<Option<ProductDto>> {
        affiliates::carried_product(&self.deps, channel, product).await
    }
}

#[async_trait]
impl ShopperApi for CommerceService {
    async fn shops_by_ids(&self, actor: &Actor, ids: &[ShopId]) -> Result<Vec<ShopDto>> {
        shops::shops_by_ids(&self.deps, actor, ids).await
    }

    async fn products_by_ids(&self, actor: &Actor, ids: &[ProductId]) -> Result<Vec<ProductDto>> {
        products::products_by_ids(&self.deps, actor, ids).await
    }

    async fn products_of_shop(&self, actor: &Actor, shop: ShopId, page: PageRequest) -> Result<Page<ProductDto>> {
        products::products_of_shop(&self.deps, actor, shop, page).await
    }

    async fn addresses(&self, actor: &Actor) -> Result<Vec<AddressDto>> {
        addresses::list(&self.deps, actor).await
    }

    async fn create_address(&self, actor: &Actor, input: AddressInput) -> Result<AddressDto> {
        addresses::create(&self.deps, actor, input).await
    }

    async fn update_address(&self, actor: &Actor, address: AddressId, input: AddressInput) -> Result<AddressDto> {
        addresses::update(&self.deps, actor, address, input).await
    }

    async fn delete_address(&self, actor: &Actor, address: AddressId) -> Result<()> {
        addresses::delete(&self.deps, actor, address).await
    }

    async fn buy_now(&self, actor: &Actor, input: BuyNowInput) -> Result<OrderDto> {
        orders::buy_now(&self.deps, actor, input).await
    }

    async fn cart(&self, actor: &Actor) -> Result<CartDto> {
        cart::cart(&self.deps, actor).await
    }

    async fn add_to_cart(&self, actor: &Actor, input: AddToCartInput) -> Result<CartDto> {
        cart::add(&self.deps, actor, input).await
    }

    async fn set_cart_quantity(&self, actor: &Actor, sku: SkuId, quantity: i64) -> Result<CartDto> {
        cart::set_quantity(&self.deps, actor, sku, quantity).await
    }

    async fn checkout(&self, actor: &Actor, input: CheckoutInput) -> Result<Vec<OrderDto>> {
        cart::checkout(&self.deps, actor, input).await
    }

    async fn cancel_order(&self, actor: &Actor, input: CancelOrderInput) -> Result<OrderDto> {
        orders::cancel_by_buyer(&self.deps, actor, input).await
    }

    async fn confirm_receipt(&self, actor: &Actor, order: OrderId) -> Result<OrderDto> {
        orders::confirm_receipt(&self.deps, actor, order).await
    }

    async fn my_orders(&self, actor: &Actor, filter: OrderFilter, page: PageRequest) -> Result<Page<OrderDto>> {
        orders::my_orders(&self.deps, actor, filter, page).await
    }

    async fn orders_by_ids(&self, actor: &Actor, ids: &[OrderId]) -> Result<Vec<OrderDto>> {
        orders::orders_by_ids(&self.deps, actor, ids).await
    }

    async fn order_timeline(&self, actor: &Actor, order: OrderId) -> Result<Vec<OrderEventDto>> {
        orders::timeline(&self.deps, actor, order).await
    }

    async fn pay_order(&self, actor: &Actor, input: PayOrderInput) -> Result<PaymentDto> {
        payments::pay_order(&self.deps, actor, input).await
    }

    async fn order_payments(&self, actor: &Actor, order: OrderId) -> Result<Vec<PaymentDto>> {
        payments::order_payments(&self.deps, actor, order).await
    }

    async fn watch_order(&self, actor: &Actor, order: OrderId) -> Result<BoxStream<'static, OrderDto>> {
        payments::watch_order(&self.deps, actor, order).await
    }
}

#[async_trait]
impl PaymentGateway for CommerceService {
    async fn receive_notification(&self, provider: &str, headers: &[(String, String)], body: &[u8]) -> WebhookReply {
        payments::receive_notification(&self.deps, provider, headers, body).await
    }

    async fn sandbox_checkout(&self, token: &str) -> Result<SandboxCheckoutDto> {
        payments::sandbox_checkout(&self.deps, token).await
    }

    async fn sandbox_decide(&self, token: &str, pay: bool) -> Result<SandboxCheckoutDto> {
        payments::sandbox_decide(&self.deps, token, pay).await
    }
}
