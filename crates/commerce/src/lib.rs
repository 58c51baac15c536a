#![doc = include_str!("../README.md")]

mod access;
mod addresses;
mod config;
mod domain;
mod entity;
pub mod migrations;
mod orders;
mod products;
mod shops;
mod sweep;

use std::sync::Arc;

use async_trait::async_trait;
use kanjian_contracts::commerce::{
    AddressDto, AddressInput, BuyNowInput, CancelOrderInput, CreateProductInput, MerchantApi, OpenShopInput, OrderDto,
    OrderEventDto, OrderFilter, ProductDto, ProductStatus, ShipOrderInput, ShopDto, ShopperApi, UpdateProductInput,
    UpdateShopInput, UpdateSkuInput,
};
use kanjian_contracts::identity::OrganizationDirectory;
use kanjian_db::Db;
use kanjian_events::Outbox;
use kanjian_kernel::ids::{AddressId, OrderId, OrganizationId, ProductId, ShopId};
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
        let service = Arc::new(CommerceService::new(
            ctx.db,
            ctx.outbox,
            ctx.apis.get::<dyn OrganizationDirectory>()?,
            config,
        ));
        let sweeper = service.clone();
        Ok(kanjian_module::Parts::default()
            .worker("commerce.sweep", move |shutdown| async move { sweeper.run_sweep_worker(shutdown).await })
            .api::<dyn MerchantApi>(service.clone())
            .api::<dyn ShopperApi>(service))
    }
}

/// Everything the use cases need.
pub(crate) struct Deps {
    pub db: Db,
    pub outbox: Outbox,
    pub orgs: Arc<dyn OrganizationDirectory>,
    pub config: CommerceConfig,
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
    pub fn new(db: Db, outbox: Outbox, orgs: Arc<dyn OrganizationDirectory>, config: CommerceConfig) -> Self {
        Self { deps: Arc::new(Deps { db, outbox, orgs, config }) }
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

    /// Marks an unpaid order paid: its held stock becomes sold. For the payments slice and for
    /// tests; `None` when the order was not waiting for payment (already paid, or cancelled).
    pub async fn mark_paid(&self, order: OrderId) -> Result<Option<OrderDto>> {
        orders::mark_paid(&self.deps, order).await
    }
}

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
}
