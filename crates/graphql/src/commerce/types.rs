//! Shops, products, SKUs, addresses and orders as clients read them, with the loaders that batch
//! their lookups.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::connection::Connection;
use async_graphql::dataloader::Loader;
use async_graphql::{Context, ID, Object, SimpleObject};
use kanjian_contracts::commerce::{
    AddressDto, AttributionDto, MerchantApi, OrderDto, OrderEventDto, OrderFilter, OrderLineDto, ProductDto,
    ShippingAddressDto, ShopDto, ShopperApi, SkuDto, SpecValue as SpecValueDto,
};
use kanjian_kernel::ids::{AddressId, OrderId, OrganizationId, ProductId, ShopId, UserId};
use kanjian_kernel::{Actor, Timestamp};

use super::money::Money;
use super::{CancelReason, OrderEventKind, OrderState, ProductStatus, SaleSource};
use crate::context::{ContextExt, Services};
use crate::errors::GqlResultExt;
use crate::identity::{Channel, Organization, User};
use crate::live::LiveRoom;
use crate::loaders::{self, LoadError, RequestLoader};
use crate::media::Video;
use crate::relay::{NodeKind, NodeObject, connection, page_request, to_global_id};

// ---------------------------------------------------------------------------------------------
// Loaders: one batched call per request for every shop, product or order a document reaches.

pub(crate) struct ShopLoader {
    shopper: Arc<dyn ShopperApi>,
    actor: Actor,
}

impl Loader<ShopId> for ShopLoader {
    type Value = ShopDto;
    type Error = LoadError;
    async fn load(&self, keys: &[ShopId]) -> Result<HashMap<ShopId, ShopDto>, LoadError> {
        let found = self.shopper.shops_by_ids(&self.actor, keys).await.map_err(Arc::new)?;
        Ok(found.into_iter().map(|s| (s.id, s)).collect())
    }
}

impl RequestLoader for ShopLoader {
    fn create(services: &Services, actor: &Actor) -> kanjian_kernel::Result<Self> {
        Ok(Self { shopper: services.apis.get()?, actor: actor.clone() })
    }
}

pub(crate) struct ProductLoader {
    shopper: Arc<dyn ShopperApi>,
    actor: Actor,
}

impl Loader<ProductId> for ProductLoader {
    type Value = ProductDto;
    type Error = LoadError;
    async fn load(&self, keys: &[ProductId]) -> Result<HashMap<ProductId, ProductDto>, LoadError> {
        let found = self.shopper.products_by_ids(&self.actor, keys).await.map_err(Arc::new)?;
        Ok(found.into_iter().map(|p| (p.id, p)).collect())
    }
}

impl RequestLoader for ProductLoader {
    fn create(services: &Services, actor: &Actor) -> kanjian_kernel::Result<Self> {
        Ok(Self { shopper: services.apis.get()?, actor: actor.clone() })
    }
}

pub(crate) struct OrderLoader {
    shopper: Arc<dyn ShopperApi>,
    actor: Actor,
}

impl Loader<OrderId> for OrderLoader {
    type Value = OrderDto;
    type Error = LoadError;
    async fn load(&self, keys: &[OrderId]) -> Result<HashMap<OrderId, OrderDto>, LoadError> {
        let found = self.shopper.orders_by_ids(&self.actor, keys).await.map_err(Arc::new)?;
        Ok(found.into_iter().map(|o| (o.id, o)).collect())
    }
}

impl RequestLoader for OrderLoader {
    fn create(services: &Services, actor: &Actor) -> kanjian_kernel::Result<Self> {
        Ok(Self { shopper: services.apis.get()?, actor: actor.clone() })
    }
}

/// Addresses are only ever the caller's own: the whole address book (at most 20) is read once
/// per request, and any id not in it is missing. No one signed in has none.
pub(crate) struct AddressLoader {
    shopper: Arc<dyn ShopperApi>,
    actor: Actor,
}

impl Loader<AddressId> for AddressLoader {
    type Value = AddressDto;
    type Error = LoadError;
    async fn load(&self, keys: &[AddressId]) -> Result<HashMap<AddressId, AddressDto>, LoadError> {
        if self.actor.user_id().is_none() {
            return Ok(HashMap::new());
        }
        let book = self.shopper.addresses(&self.actor).await.map_err(Arc::new)?;
        Ok(book.into_iter().filter(|a| keys.contains(&a.id)).map(|a| (a.id, a)).collect())
    }
}

impl RequestLoader for AddressLoader {
    fn create(services: &Services, actor: &Actor) -> kanjian_kernel::Result<Self> {
        Ok(Self { shopper: services.apis.get()?, actor: actor.clone() })
    }
}

async fn shop(ctx: &Context<'_>, id: ShopId) -> async_graphql::Result<Option<ShopDto>> {
    loaders::load::<_, ShopLoader>(ctx, id).await
}

/// Whether the caller is a member of the shop's organization (sees its stock holds, its
/// catalog, its orders and the commission on them).
async fn viewer_is_member(ctx: &Context<'_>, id: ShopId) -> async_graphql::Result<bool> {
    Ok(shop(ctx, id).await?.is_some_and(|s| s.actor_is_member))
}

impl NodeObject for Shop {
    const KIND: NodeKind = NodeKind::SHOP;
    async fn load(ctx: &Context<'_>, id: i64) -> async_graphql::Result<Option<Self>> {
        Ok(shop(ctx, ShopId(id)).await?.map(Shop))
    }
}

impl NodeObject for Product {
    const KIND: NodeKind = NodeKind::PRODUCT;
    async fn load(ctx: &Context<'_>, id: i64) -> async_graphql::Result<Option<Self>> {
        Ok(loaders::load::<_, ProductLoader>(ctx, ProductId(id)).await?.map(Product))
    }
}

impl NodeObject for Order {
    const KIND: NodeKind = NodeKind::ORDER;
    async fn load(ctx: &Context<'_>, id: i64) -> async_graphql::Result<Option<Self>> {
        Ok(loaders::load::<_, OrderLoader>(ctx, OrderId(id)).await?.map(Order))
    }
}

impl NodeObject for Address {
    const KIND: NodeKind = NodeKind::ADDRESS;
    async fn load(ctx: &Context<'_>, id: i64) -> async_graphql::Result<Option<Self>> {
        Ok(loaders::load::<_, AddressLoader>(ctx, AddressId(id)).await?.map(Address))
    }
}

// ---------------------------------------------------------------------------------------------
// Fields other modules' types show.

/// `Organization.shop`.
pub(crate) async fn organization_shop(ctx: &Context<'_>, organization: OrganizationId) -> async_graphql::Result<Option<Shop>> {
    let api = ctx.api::<dyn MerchantApi>()?;
    Ok(api.shop_of_organization(ctx.actor(), organization).await.gql()?.map(Shop))
}

/// `User.addresses`: the user's own address book (the default first, then the newest), `None`
/// for anyone else.
pub(crate) async fn viewer_addresses(ctx: &Context<'_>, user: UserId) -> async_graphql::Result<Option<Vec<Address>>> {
    if ctx.actor().user_id() != Some(user) {
        return Ok(None);
    }
    let book = ctx.api::<dyn ShopperApi>()?.addresses(ctx.actor()).await.gql()?;
    Ok(Some(book.into_iter().map(Address).collect()))
}

/// `User.orders`: the user's own orders, `None` for anyone else.
pub(crate) async fn viewer_orders(
    ctx: &Context<'_>,
    user: UserId,
    states: Option<Vec<OrderState>>,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<Option<Connection<String, Order>>> {
    if ctx.actor().user_id() != Some(user) {
        return Ok(None);
    }
    let page = ctx.api::<dyn ShopperApi>()?.my_orders(ctx.actor(), filter(states), page_request(first, after)).await.gql()?;
    Ok(Some(connection(page, Order)))
}

fn filter(states: Option<Vec<OrderState>>) -> OrderFilter {
    OrderFilter { states: states.unwrap_or_default().into_iter().map(Into::into).collect() }
}

// ---------------------------------------------------------------------------------------------
// Shop

pub struct Shop(pub ShopDto);

/// A merchant's shop (小店). An organization opens at most one; every price in it is in the
/// shop's currency. Anyone may see a shop and its listed products; its members (the
/// organization's owners and agents) also see its whole catalog and its orders.
#[Object]
impl Shop {
    /// Opaque global id; pass it to `node(id:)`.
    pub async fn id(&self) -> ID {
        to_global_id(NodeKind::SHOP, self.0.id.0)
    }

    /// The merchant that runs it.
    async fn organization(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Organization>> {
        Ok(loaders::organization(ctx, self.0.organization_id).await?.map(Organization))
    }

    /// Its name: 2 to 30 characters, one line.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// What the shop says about itself (up to 500 characters); empty when it said nothing.
    async fn description(&self) -> &str {
        &self.0.description
    }

    /// ISO 4217 code of every amount in the shop (`CNY` unless opened with another).
    async fn currency(&self) -> &str {
        self.0.shipping_fee.currency.as_str()
    }

    /// Flat shipping charged once per order (zero: shipping is free).
    async fn shipping_fee(&self) -> Money {
        self.0.shipping_fee.into()
    }

    /// Orders whose items come to at least this amount ship free; `null`: shipping is always
    /// charged.
    async fn free_shipping_threshold(&self) -> Option<Money> {
        self.0.free_shipping_threshold.map(Money)
    }

    /// Whether you are a member of the shop's organization: you see its catalog and orders.
    async fn viewer_is_member(&self) -> bool {
        self.0.actor_is_member
    }

    /// Its listed (ON_SHELF) products, newest first: what everyone sees.
    #[graphql(complexity = "crate::relay::connection_complexity(first, child_complexity)")]
    async fn products(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Product>> {
        let api = ctx.api::<dyn ShopperApi>()?;
        let page = api.products_of_shop(ctx.actor(), self.0.id, page_request(first, after)).await.gql()?;
        Ok(connection(page, Product))
    }

    /// Every product of the shop but deleted ones, listed or not, newest first: the merchant's
    /// view. Members only: `FORBIDDEN` (and `null`) for everyone else.
    #[graphql(complexity = "crate::relay::connection_complexity(first, child_complexity)")]
    async fn catalog(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Option<Connection<String, Product>>> {
        let api = ctx.api::<dyn MerchantApi>()?;
        let page = api.shop_products(ctx.actor(), self.0.id, page_request(first, after)).await.gql()?;
        Ok(Some(connection(page, Product)))
    }

    /// The shop's orders, newest first; only those in `states` when given. Members (owners and
    /// agents) only: `FORBIDDEN` (and `null`) for everyone else.
    #[graphql(complexity = "crate::relay::connection_complexity(first, child_complexity)")]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only orders in these states; omitted or empty: all.")] states: Option<Vec<OrderState>>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Option<Connection<String, Order>>> {
        let api = ctx.api::<dyn MerchantApi>()?;
        let page = api.shop_orders(ctx.actor(), self.0.id, filter(states), page_request(first, after)).await.gql()?;
        Ok(Some(connection(page, Order)))
    }

    /// When it was opened.
    async fn created_at(&self) -> Timestamp {
        self.0.created_at
    }
}

// ---------------------------------------------------------------------------------------------
// Products and SKUs

pub struct Product(pub ProductDto);

/// A product of a shop, sold as one or more SKUs (its variants: 颜色, 尺码, …, each with its own
/// price and stock). Listed (ON_SHELF) products are seen by everyone; the others by the shop's
/// members only, and for everyone else they do not exist (`node(id:)` is `null`).
#[Object]
impl Product {
    /// Opaque global id; pass it to `node(id:)`.
    pub async fn id(&self) -> ID {
        to_global_id(NodeKind::PRODUCT, self.0.id.0)
    }

    /// The shop that sells it.
    async fn shop(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Shop>> {
        Ok(shop(ctx, self.0.shop_id).await?.map(Shop))
    }

    /// Its name: up to 60 characters, one line.
    async fn title(&self) -> &str {
        &self.0.title
    }

    /// What the shop says about it (up to 5000 characters); empty when it said nothing.
    async fn description(&self) -> &str {
        &self.0.description
    }

    /// The shop's category for it (up to 30 characters), e.g. `茶叶`.
    async fn category(&self) -> &str {
        &self.0.category
    }

    /// http(s) URLs of its images (at most 9), the first one the cover.
    async fn image_urls(&self) -> &[String] {
        &self.0.image_urls
    }

    /// Whether it is listed. Everyone but the shop's members only ever sees ON_SHELF.
    async fn status(&self) -> ProductStatus {
        self.0.status.into()
    }

    /// The most units one person may buy of this product, over all its SKUs and all their
    /// orders (paid and unpaid count; cancelled ones do not). `null`: no limit.
    async fn purchase_limit(&self) -> Option<i64> {
        self.0.purchase_limit
    }

    /// Its SKUs; those the shop removed are listed for its members only.
    async fn skus(&self) -> Vec<Sku> {
        self.0.skus.iter().cloned().map(|sku| Sku::new(sku, self.0.shop_id)).collect()
    }

    /// The lowest and highest price of its SKUs still for sale; `null` when it has none.
    async fn price_range(&self) -> Option<PriceRange> {
        let prices = self.0.skus.iter().filter(|s| !s.removed).map(|s| s.price);
        let min = prices.clone().min_by_key(|p| p.minor)?;
        let max = prices.max_by_key(|p| p.minor)?;
        Some(PriceRange { min: min.into(), max: max.into() })
    }

    /// The commission the shop offers creators who sell it (带货), in basis points of a line's
    /// amount (100 = 1 %); `null` when it is not offered. Creators add offered products to their
    /// showcase (`addToShowcase`).
    async fn affiliate_commission_bps(&self) -> Option<i64> {
        self.0.affiliate_commission_bps
    }

    /// When the shop created it.
    async fn created_at(&self) -> Timestamp {
        self.0.created_at
    }

    /// When the shop last changed it (its details, status or SKUs).
    async fn updated_at(&self) -> Timestamp {
        self.0.updated_at
    }
}

/// The cheapest and the dearest SKU of a product (`¥39–¥59`); equal when every SKU costs the same.
#[derive(SimpleObject)]
pub struct PriceRange {
    /// The lowest SKU price.
    pub min: Money,
    /// The highest SKU price.
    pub max: Money,
}

pub struct Sku {
    sku: SkuDto,
    shop_id: ShopId,
}

impl Sku {
    pub(crate) fn new(sku: SkuDto, shop_id: ShopId) -> Self {
        Self { sku, shop_id }
    }
}

/// One sellable variant of a product: a combination of spec values with its own price and stock.
/// Not a node (read it through its product); its `id` is what `buyNow` and `updateSku` take.
#[Object]
impl Sku {
    /// Opaque global id of the SKU, what `buyNow` and `updateSku` take (a SKU is not a node:
    /// `node(id:)` does not find it).
    async fn id(&self) -> ID {
        to_global_id(NodeKind::SKU, self.sku.id.0)
    }

    /// Its value of each of the product's spec dimensions, in the product's order, e.g.
    /// `[{name: "颜色", value: "红"}, {name: "尺码", value: "M"}]`. Empty for a product with a
    /// single variant.
    async fn specs(&self) -> Vec<SpecValue> {
        self.sku.specs.iter().cloned().map(SpecValue::from).collect()
    }

    /// The unit price an order placed now is charged.
    async fn price(&self) -> Money {
        self.sku.price.into()
    }

    /// Units that can be bought now: not held by unpaid orders, not sold. 0: sold out.
    async fn stock(&self) -> i64 {
        self.sku.stock
    }

    /// Units held by orders waiting for payment: back in `stock` if they are cancelled or
    /// expire, in `sold` once paid. The shop's members only; `null` for everyone else.
    async fn held(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<i64>> {
        Ok(viewer_is_member(ctx, self.shop_id).await?.then_some(self.sku.held))
    }

    /// Units paid for (已售).
    async fn sold(&self) -> i64 {
        self.sku.sold
    }

    /// Removed from sale by the shop for good (only its members see removed SKUs).
    async fn removed(&self) -> bool {
        self.sku.removed
    }
}

/// One spec value of a SKU: `颜色 = 红`.
#[derive(SimpleObject)]
pub struct SpecValue {
    /// The dimension, e.g. `颜色`.
    pub name: String,
    /// Its value for this SKU, e.g. `红`.
    pub value: String,
}

impl From<SpecValueDto> for SpecValue {
    fn from(s: SpecValueDto) -> Self {
        Self { name: s.name, value: s.value }
    }
}

// ---------------------------------------------------------------------------------------------
// Addresses

pub struct Address(pub AddressDto);

/// A shipping address (收货地址) in your address book (at most 20). Only you see your addresses;
/// an order keeps a copy of the one it ships to.
#[Object]
impl Address {
    /// Opaque global id; pass it to `node(id:)`.
    pub async fn id(&self) -> ID {
        to_global_id(NodeKind::ADDRESS, self.0.id.0)
    }

    /// Who receives the parcel.
    async fn recipient(&self) -> &str {
        &self.0.recipient
    }

    /// The recipient's phone number, for the courier.
    async fn phone(&self) -> &str {
        &self.0.phone
    }

    /// From the largest area down: 省 / 市 / 区 (or their equivalents).
    async fn region(&self) -> &[String] {
        &self.0.region
    }

    /// Street, building, room.
    async fn detail(&self) -> &str {
        &self.0.detail
    }

    /// The postal code (邮编), when given.
    async fn postal_code(&self) -> Option<&str> {
        self.0.postal_code.as_deref()
    }

    /// Your default address, to offer first at checkout. Exactly one of your addresses is: the
    /// first one you add, until you make another the default (deleting it makes your newest
    /// remaining address the default).
    async fn is_default(&self) -> bool {
        self.0.is_default
    }

    /// When you added it.
    async fn created_at(&self) -> Timestamp {
        self.0.created_at
    }
}

// ---------------------------------------------------------------------------------------------
// Orders

pub struct Order(pub OrderDto);

/// A shopper's order with one shop. Seen by its buyer and by the shop's members only; for
/// everyone else it does not exist (`node(id:)` is `null`). Every amount is computed by the
/// server: `total` = `itemsTotal` + `shippingFee`.
#[Object]
impl Order {
    /// Opaque global id; pass it to `node(id:)`.
    pub async fn id(&self) -> ID {
        to_global_id(NodeKind::ORDER, self.0.id.0)
    }

    /// The shop it was placed with.
    async fn shop(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Shop>> {
        Ok(shop(ctx, self.0.shop_id).await?.map(Shop))
    }

    /// Who placed it.
    async fn buyer(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        Ok(loaders::user(ctx, self.0.buyer_id).await?.map(User))
    }

    /// Whether you placed it (rather than seeing it as a member of its shop).
    async fn viewer_is_buyer(&self, ctx: &Context<'_>) -> bool {
        ctx.actor().user_id() == Some(self.0.buyer_id)
    }

    /// Where it is in its life: PENDING_PAYMENT → PAID → SHIPPED → COMPLETED, or CANCELLED
    /// before payment.
    async fn state(&self) -> OrderState {
        self.0.state.into()
    }

    /// What was bought, as it was when the order was placed.
    async fn lines(&self) -> Vec<OrderLine> {
        self.0.lines.iter().cloned().map(|line| OrderLine { line, shop_id: self.0.shop_id }).collect()
    }

    /// The lines' amounts together.
    async fn items_total(&self) -> Money {
        self.0.items_total.into()
    }

    /// The shop's flat shipping, or zero when the items reached its free-shipping threshold.
    async fn shipping_fee(&self) -> Money {
        self.0.shipping_fee.into()
    }

    /// What the buyer pays: `itemsTotal` + `shippingFee`.
    async fn total(&self) -> Money {
        self.0.total.into()
    }

    /// Whether some line was charged another price than the buyer saw (its `seenUnitPrice` is
    /// set): show the buyer the new total before they pay.
    async fn price_changed(&self) -> bool {
        self.0.lines.iter().any(|l| l.seen_unit_price.is_some())
    }

    /// Where it ships: a copy of the address chosen, made when the order was placed.
    async fn shipping_address(&self) -> ShippingAddress {
        ShippingAddress::from(self.0.address.clone())
    }

    /// While PENDING_PAYMENT, the end of its payment window: unpaid by then, it is cancelled
    /// and its stock released. `null` in every other state.
    async fn pay_by(&self) -> Option<Timestamp> {
        (self.0.state == kanjian_contracts::commerce::OrderState::PendingPayment).then_some(self.0.pay_by)
    }

    /// When it was paid; `null` until then.
    async fn paid_at(&self) -> Option<Timestamp> {
        self.0.paid_at
    }

    /// The carrier and tracking number, once shipped.
    async fn shipment(&self) -> Option<Shipment> {
        self.0.shipment.clone().map(|s| Shipment { carrier: s.carrier, tracking_number: s.tracking_number, shipped_at: s.shipped_at })
    }

    /// When it was received (COMPLETED); `null` until then.
    async fn completed_at(&self) -> Option<Timestamp> {
        self.0.completed_at
    }

    /// When it was cancelled; `null` unless CANCELLED.
    async fn cancelled_at(&self) -> Option<Timestamp> {
        self.0.cancelled_at
    }

    /// Why it was cancelled; `null` unless CANCELLED.
    async fn cancel_reason(&self) -> Option<CancelReason> {
        self.0.cancel_reason.map(Into::into)
    }

    /// What happened to it, oldest first: placed, paid, shipped, completed or cancelled, when
    /// and by whom. One lookup per order: ask for it on one order, not on a list.
    async fn timeline(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<OrderEvent>> {
        let events = ctx.api::<dyn ShopperApi>()?.order_timeline(ctx.actor(), self.0.id).await.gql()?;
        Ok(events.into_iter().map(OrderEvent).collect())
    }

    /// When it was placed.
    async fn created_at(&self) -> Timestamp {
        self.0.created_at
    }

    /// Its payment attempts, newest first (`payOrder`): at most one SUCCEEDED; money that
    /// arrived when the order could no longer take it shows as REFUNDING or REFUNDED.
    async fn payments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<super::shopping::Payment>> {
        super::shopping::order_payments(ctx, self.0.id).await
    }

    /// When it last changed state.
    async fn updated_at(&self) -> Timestamp {
        self.0.updated_at
    }
}

pub struct OrderLine {
    line: OrderLineDto,
    shop_id: ShopId,
}

/// One SKU of an order, copied when the order was placed: later changes of the product (its
/// title, its price, its removal) do not change it.
#[Object]
impl OrderLine {
    /// The product as it is now; `null` once it is no longer visible to you (unlisted or
    /// deleted). The line itself keeps what was bought.
    async fn product(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Product>> {
        Ok(loaders::load::<_, ProductLoader>(ctx, self.line.product_id).await?.map(Product))
    }

    /// The SKU's id (as in `Product.skus`).
    async fn sku_id(&self) -> ID {
        to_global_id(NodeKind::SKU, self.line.sku_id.0)
    }

    /// The product's title when the order was placed.
    async fn title(&self) -> &str {
        &self.line.title
    }

    /// The SKU's spec values when the order was placed.
    async fn specs(&self) -> Vec<SpecValue> {
        self.line.specs.iter().cloned().map(SpecValue::from).collect()
    }

    /// The product's cover when the order was placed.
    async fn image_url(&self) -> Option<&str> {
        self.line.image_url.as_deref()
    }

    /// The price charged per unit: the SKU's price when the order was placed.
    async fn unit_price(&self) -> Money {
        self.line.unit_price.into()
    }

    /// Units bought (1 to 999).
    async fn quantity(&self) -> i64 {
        self.line.quantity
    }

    /// `unitPrice` × `quantity`.
    async fn amount(&self) -> Money {
        self.line.amount.into()
    }

    /// The unit price the buyer saw (`buyNow`'s `seenUnitPrice`) when it was not the price
    /// charged: non-null means the price changed between viewing and buying, and the order was
    /// placed at the server's price (`unitPrice`). `null` when they matched or none was sent.
    async fn seen_unit_price(&self) -> Option<Money> {
        self.line.seen_unit_price.map(Money)
    }

    /// This line's part of the order's shipping fee: the fee split over the lines by amount,
    /// largest remainder first, so the parts add up to the fee exactly.
    async fn shipping_share(&self) -> Money {
        self.line.shipping_share.into()
    }

    /// Where the sale came from.
    async fn attribution(&self) -> Attribution {
        Attribution { attribution: self.line.attribution.clone(), shop_id: self.shop_id }
    }
}

pub struct Attribution {
    attribution: AttributionDto,
    shop_id: ShopId,
}

/// Where a sale came from, as recorded on its order line.
#[Object]
impl Attribution {
    /// The kind of place it was bought from.
    async fn source(&self) -> SaleSource {
        self.attribution.source.into()
    }

    /// The live room it was bought from (LIVE_ROOM); `null` otherwise or when you may not see it.
    async fn live_room(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<LiveRoom>> {
        let Some(id) = self.attribution.live_room_id else { return Ok(None) };
        LiveRoom::load(ctx, id.0).await
    }

    /// The video it was bought under (VIDEO); `null` otherwise or when you may not see it.
    async fn video(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Video>> {
        let Some(id) = self.attribution.video_id else { return Ok(None) };
        Ok(loaders::video(ctx, id).await?.map(Video))
    }

    /// The creator's channel the sale is credited to: the channel whose showcase, video card or
    /// live room sold it, when that channel carries the product (worked out by the server, not
    /// taken from the buyer); `null` when nobody is credited or you may not see the channel.
    async fn creator(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Channel>> {
        let Some(id) = self.attribution.creator_channel_id else { return Ok(None) };
        Ok(loaders::channel(ctx, id).await?.map(Channel))
    }

    /// The creator's commission in basis points of the line's amount (100 = 1 %), at the rate in
    /// force when the order was placed; `null` when no commission applies. The shop's members
    /// only; `null` for everyone else.
    async fn commission_bps(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<i64>> {
        let Some(bps) = self.attribution.commission_bps else { return Ok(None) };
        Ok(viewer_is_member(ctx, self.shop_id).await?.then_some(bps))
    }
}

/// The address an order ships to, copied when it was placed: editing or deleting the address
/// book entry later does not move the order.
#[derive(SimpleObject)]
pub struct ShippingAddress {
    /// Who receives the parcel.
    pub recipient: String,
    /// The recipient's phone number, for the courier.
    pub phone: String,
    /// From the largest area down: 省 / 市 / 区.
    pub region: Vec<String>,
    /// Street, building, room.
    pub detail: String,
    /// The postal code (邮编), when given.
    pub postal_code: Option<String>,
}

impl From<ShippingAddressDto> for ShippingAddress {
    fn from(a: ShippingAddressDto) -> Self {
        Self { recipient: a.recipient, phone: a.phone, region: a.region, detail: a.detail, postal_code: a.postal_code }
    }
}

/// How a shipped order travels.
#[derive(SimpleObject)]
pub struct Shipment {
    /// The carrier's name, e.g. `顺丰`.
    pub carrier: String,
    /// The carrier's tracking number (运单号).
    pub tracking_number: String,
    /// When the shop shipped it.
    pub shipped_at: Timestamp,
}

pub struct OrderEvent(OrderEventDto);

/// One entry of an order's timeline.
#[Object]
impl OrderEvent {
    /// What happened.
    async fn kind(&self) -> OrderEventKind {
        self.0.kind.into()
    }

    /// When it happened.
    async fn at(&self) -> Timestamp {
        self.0.at
    }

    /// Who did it: the buyer, a member of the shop; `null` for the platform (a payment, the
    /// payment window closing, automatic completion) or someone you may not see.
    async fn actor(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(id) = self.0.actor_id else { return Ok(None) };
        Ok(loaders::user(ctx, id).await?.map(User))
    }

    /// A short line for people: the carrier and tracking number, the reason of a cancellation.
    async fn note(&self) -> &str {
        &self.0.note
    }
}
