//! Commerce (小店): merchants' shops, products with their SKUs and stock, shoppers' address
//! books, and orders from `buyNow` to completion. Stock is held by a conditional write when an
//! order is placed, for the payment window; every order transition is a compare-and-set with its
//! event in the same transaction.
//!
//! Money is integer minor units with a currency ([`Money`]); every total is computed here, never
//! taken from a client.

use async_trait::async_trait;
use kanjian_kernel::ids::{
    AddressId, ChannelId, LiveRoomId, OrderId, OrganizationId, ProductId, ShopId, SkuId, UserId, VideoId,
};
use kanjian_kernel::{Actor, Money, Page, PageRequest, Result, Timestamp};
use serde::{Deserialize, Serialize};

use crate::{IntegrationEvent, VersionedEvent};

/// The most SKUs a product may have.
pub const MAX_SKUS: usize = 100;
/// The most spec dimensions (颜色, 尺码, …) a SKU may have.
pub const MAX_SPECS: usize = 5;
/// The most images a product may show.
pub const MAX_IMAGES: usize = 9;
/// The most addresses in one person's address book.
pub const MAX_ADDRESSES: usize = 20;
/// The most units of one SKU in one order line.
pub const MAX_QUANTITY: i64 = 999;

macro_rules! str_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name { $($(#[$vdoc])* $variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),* }
            }

            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }
    };
}

str_enum!(
    /// Whether shoppers can find and buy a product.
    ProductStatus {
        /// Listed (上架): shoppers can see and buy it.
        OnShelf = "ON_SHELF",
        /// Not listed (下架): only its shop sees it. New products start here unless listed at once.
        OffShelf = "OFF_SHELF",
        /// Removed by its shop for good. Orders keep their copy of what was bought.
        Deleted = "DELETED",
    }
);

str_enum!(
    /// Where an order is in its life, as WeChat Shop names them.
    OrderState {
        /// Placed; its stock is held until the payment window closes (待付款).
        PendingPayment = "PENDING_PAYMENT",
        /// Paid; the shop is to ship it (待发货).
        Paid = "PAID",
        /// On its way (待收货).
        Shipped = "SHIPPED",
        /// Received, confirmed by the shopper or automatically some days after shipping (已完成).
        Completed = "COMPLETED",
        /// Cancelled before it was paid, by the shopper or because the payment window closed (已取消).
        Cancelled = "CANCELLED",
    }
);

str_enum!(
    /// Why an order was cancelled.
    CancelReason {
        /// The shopper cancelled it.
        Buyer = "BUYER",
        /// Its payment window closed without a payment.
        PaymentExpired = "PAYMENT_EXPIRED",
    }
);

str_enum!(
    /// Where a sale came from: recorded on every order line for the creator's commission and
    /// the shop's analytics.
    SaleSource {
        /// A product pinned or shown in a live room.
        LiveRoom = "LIVE_ROOM",
        /// The product card under a video.
        Video = "VIDEO",
        /// A creator's showcase (橱窗).
        Showcase = "SHOWCASE",
        /// Search results.
        Search = "SEARCH",
        /// The shop's own page.
        Shop = "SHOP",
    }
);

str_enum!(
    /// Kinds of entries on an order's timeline.
    OrderEventKind {
        Placed = "PLACED",
        Paid = "PAID",
        Shipped = "SHIPPED",
        Completed = "COMPLETED",
        Cancelled = "CANCELLED",
    }
);

/// A merchant's shop. An organization opens at most one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopDto {
    pub id: ShopId,
    pub organization_id: OrganizationId,
    pub name: String,
    pub description: String,
    /// Flat shipping per order (in the shop's currency).
    pub shipping_fee: Money,
    /// Orders whose items come to at least this ship free; `None`: shipping is always charged.
    pub free_shipping_threshold: Option<Money>,
    /// Whether the actor is a member of the shop's organization (may see its orders).
    pub actor_is_member: bool,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct OpenShopInput {
    pub organization_id: OrganizationId,
    pub name: String,
    pub description: Option<String>,
    /// ISO 4217; `CNY` when absent. Every price of the shop is in it.
    pub currency: Option<String>,
    pub shipping_fee_minor: i64,
    pub free_shipping_threshold_minor: Option<i64>,
}

/// Changes to a shop; `None` leaves a field as it is.
#[derive(Debug, Clone)]
pub struct UpdateShopInput {
    pub shop_id: ShopId,
    pub name: Option<String>,
    pub description: Option<String>,
    pub shipping_fee_minor: Option<i64>,
    /// `Some(None)` removes the threshold.
    pub free_shipping_threshold_minor: Option<Option<i64>>,
}

/// One spec value of a SKU: `颜色 = 红`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SpecValue {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkuDto {
    pub id: SkuId,
    pub product_id: ProductId,
    /// In the product's spec order, e.g. `[颜色 = 红, 尺码 = M]`.
    pub specs: Vec<SpecValue>,
    pub price: Money,
    /// Units that can be bought now (stock not held by unpaid orders nor sold).
    pub stock: i64,
    /// Units held by orders waiting for payment.
    pub held: i64,
    /// Units paid for.
    pub sold: i64,
    /// A removed SKU is no longer sold; orders keep it.
    pub removed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductDto {
    pub id: ProductId,
    pub shop_id: ShopId,
    pub title: String,
    pub description: String,
    pub category: String,
    /// http(s) URLs of its images, the first one the cover.
    pub image_urls: Vec<String>,
    pub status: ProductStatus,
    /// The most units one person may buy of this product over all its SKUs (paid and
    /// unpaid orders count; cancelled ones do not). `None`: no limit.
    pub purchase_limit: Option<i64>,
    /// Its SKUs, removed ones left out for anyone but the shop's members.
    pub skus: Vec<SkuDto>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// 1 when created, one more with every change.
    pub version: i64,
}

#[derive(Debug, Clone)]
pub struct SkuInput {
    pub specs: Vec<SpecValue>,
    pub price_minor: i64,
    pub stock: i64,
}

#[derive(Debug, Clone)]
pub struct CreateProductInput {
    pub shop_id: ShopId,
    pub title: String,
    pub description: Option<String>,
    pub category: String,
    pub image_urls: Vec<String>,
    pub purchase_limit: Option<i64>,
    pub skus: Vec<SkuInput>,
    /// List it at once (otherwise it starts OFF_SHELF).
    pub on_shelf: bool,
}

/// Changes to a product; `None` leaves a field as it is.
#[derive(Debug, Clone)]
pub struct UpdateProductInput {
    pub product_id: ProductId,
    pub title: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub image_urls: Option<Vec<String>>,
    /// `Some(None)` removes the limit.
    pub purchase_limit: Option<Option<i64>>,
}

/// A change of a SKU's price or stock. Stock changes by a delta, applied by a conditional write,
/// so a merchant restocking never overwrites units sold a moment before.
#[derive(Debug, Clone)]
pub struct UpdateSkuInput {
    pub sku_id: SkuId,
    pub price_minor: Option<i64>,
    /// Units to add (or, negative, to take away: refused below zero available).
    pub stock_delta: Option<i64>,
    /// `true` removes the SKU from sale for good.
    pub remove: bool,
}

/// A shipping address (收货地址) in the actor's address book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressDto {
    pub id: AddressId,
    pub recipient: String,
    pub phone: String,
    /// 省 / 市 / 区 (or their equivalents).
    pub region: Vec<String>,
    /// Street, building, room.
    pub detail: String,
    pub postal_code: Option<String>,
    pub is_default: bool,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct AddressInput {
    pub recipient: String,
    pub phone: String,
    pub region: Vec<String>,
    pub detail: String,
    pub postal_code: Option<String>,
    pub is_default: bool,
}

/// Where a sale came from, as the client says. A source names what it came through: a room for
/// `LIVE_ROOM`, a video for `VIDEO`, a channel for `SHOWCASE` (`REQUIRED` without it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributionInput {
    pub source: SaleSource,
    pub live_room_id: Option<LiveRoomId>,
    pub video_id: Option<VideoId>,
    /// The creator whose showcase, video or room sold it.
    pub channel_id: Option<ChannelId>,
}

/// What an order line records of where its sale came from. `creator_channel_id` and
/// `commission_bps` are set when the product is offered to that creator as an affiliate
/// (commission in basis points of the line's amount, the rate in force when the order was
/// placed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributionDto {
    pub source: SaleSource,
    pub live_room_id: Option<LiveRoomId>,
    pub video_id: Option<VideoId>,
    pub creator_channel_id: Option<ChannelId>,
    pub commission_bps: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct BuyNowInput {
    pub sku_id: SkuId,
    pub quantity: i64,
    pub address_id: AddressId,
    pub attribution: AttributionInput,
    /// The unit price the shopper saw. The order always takes the server's price; when it
    /// differs, the line says what the shopper saw (`seen_unit_price`).
    pub seen_unit_price_minor: Option<i64>,
    pub idempotency_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLineDto {
    pub product_id: ProductId,
    pub sku_id: SkuId,
    /// The product's title and the SKU's specs when the order was placed.
    pub title: String,
    pub specs: Vec<SpecValue>,
    pub image_url: Option<String>,
    pub unit_price: Money,
    pub quantity: i64,
    /// `unit_price × quantity`.
    pub amount: Money,
    /// The price the shopper saw, when it was not the price charged.
    pub seen_unit_price: Option<Money>,
    pub attribution: AttributionDto,
}

/// The address an order ships to, copied when it was placed (later edits of the address book
/// do not move it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippingAddressDto {
    pub recipient: String,
    pub phone: String,
    pub region: Vec<String>,
    pub detail: String,
    pub postal_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentDto {
    pub carrier: String,
    pub tracking_number: String,
    pub shipped_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderDto {
    pub id: OrderId,
    pub buyer_id: UserId,
    pub shop_id: ShopId,
    pub state: OrderState,
    pub lines: Vec<OrderLineDto>,
    /// The lines' amounts together.
    pub items_total: Money,
    pub shipping_fee: Money,
    /// What the shopper pays: items and shipping.
    pub total: Money,
    pub address: ShippingAddressDto,
    /// The end of the payment window while PENDING_PAYMENT: unpaid by then, it is cancelled and
    /// its stock released.
    pub pay_by: Timestamp,
    pub paid_at: Option<Timestamp>,
    pub shipment: Option<ShipmentDto>,
    pub completed_at: Option<Timestamp>,
    pub cancelled_at: Option<Timestamp>,
    pub cancel_reason: Option<CancelReason>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// 1 when placed, one more with every transition (see [`VersionedEvent`]).
    pub version: i64,
}

/// One entry of an order's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderEventDto {
    pub kind: OrderEventKind,
    pub at: Timestamp,
    /// Who did it: the shopper, a shop member, or `None` for the platform (expiry, payment).
    pub actor_id: Option<UserId>,
    /// A short line for people (the carrier and tracking number, the cancel reason).
    pub note: String,
}

/// Which orders a list shows.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    /// Only orders in these states; empty: all.
    pub states: Vec<OrderState>,
}

#[derive(Debug, Clone)]
pub struct CancelOrderInput {
    pub order_id: OrderId,
    pub idempotency_key: String,
}

#[derive(Debug, Clone)]
pub struct ShipOrderInput {
    pub order_id: OrderId,
    pub carrier: String,
    pub tracking_number: String,
}

/// Merchants' side: shops, products, SKUs and their shop's orders. Every call checks the
/// actor's role in the shop's organization: owners manage the shop and its products; owners and
/// agents read and ship its orders.
#[async_trait]
pub trait MerchantApi: Send + Sync {
    /// Opens the organization's shop (owners only; one per organization).
    async fn open_shop(&self, actor: &Actor, input: OpenShopInput) -> Result<ShopDto>;
    async fn update_shop(&self, actor: &Actor, input: UpdateShopInput) -> Result<ShopDto>;
    /// The organization's shop, if it opened one.
    async fn shop_of_organization(&self, actor: &Actor, organization: OrganizationId) -> Result<Option<ShopDto>>;
    async fn create_product(&self, actor: &Actor, input: CreateProductInput) -> Result<ProductDto>;
    async fn update_product(&self, actor: &Actor, input: UpdateProductInput) -> Result<ProductDto>;
    /// Lists, delists or deletes a product. Deleting is final.
    async fn set_product_status(&self, actor: &Actor, product: ProductId, status: ProductStatus) -> Result<ProductDto>;
    async fn update_sku(&self, actor: &Actor, input: UpdateSkuInput) -> Result<ProductDto>;
    /// The shop's products, newest first, any status but DELETED (members only).
    async fn shop_products(&self, actor: &Actor, shop: ShopId, page: PageRequest) -> Result<Page<ProductDto>>;
    /// The shop's orders, newest first (owners and agents).
    async fn shop_orders(&self, actor: &Actor, shop: ShopId, filter: OrderFilter, page: PageRequest) -> Result<Page<OrderDto>>;
    /// Ships a PAID order (owners and agents).
    async fn ship_order(&self, actor: &Actor, input: ShipOrderInput) -> Result<OrderDto>;
}

/// Shoppers' side: browsing, the address book, buying and their orders.
#[async_trait]
pub trait ShopperApi: Send + Sync {
    /// Shops by id (anyone may see a shop).
    async fn shops_by_ids(&self, actor: &Actor, ids: &[ShopId]) -> Result<Vec<ShopDto>>;
    /// Products by id as the actor may see them: ON_SHELF ones for everyone, others for the
    /// shop's members only; the rest are left out like ids that do not exist.
    async fn products_by_ids(&self, actor: &Actor, ids: &[ProductId]) -> Result<Vec<ProductDto>>;
    /// A shop's ON_SHELF products, newest first.
    async fn products_of_shop(&self, actor: &Actor, shop: ShopId, page: PageRequest) -> Result<Page<ProductDto>>;

    async fn addresses(&self, actor: &Actor) -> Result<Vec<AddressDto>>;
    async fn create_address(&self, actor: &Actor, input: AddressInput) -> Result<AddressDto>;
    async fn update_address(&self, actor: &Actor, address: AddressId, input: AddressInput) -> Result<AddressDto>;
    async fn delete_address(&self, actor: &Actor, address: AddressId) -> Result<()>;

    /// Places an order for one SKU and holds its stock for the payment window. Idempotent by
    /// `idempotency_key`.
    async fn buy_now(&self, actor: &Actor, input: BuyNowInput) -> Result<OrderDto>;
    /// Cancels the actor's unpaid order and releases its stock. Idempotent by key.
    async fn cancel_order(&self, actor: &Actor, input: CancelOrderInput) -> Result<OrderDto>;
    /// Confirms receipt of a SHIPPED order (the shopper's own).
    async fn confirm_receipt(&self, actor: &Actor, order: OrderId) -> Result<OrderDto>;
    /// The actor's orders, newest first.
    async fn my_orders(&self, actor: &Actor, filter: OrderFilter, page: PageRequest) -> Result<Page<OrderDto>>;
    /// Orders by id that the actor may see (their own, or their shops'); others are left out.
    async fn orders_by_ids(&self, actor: &Actor, ids: &[OrderId]) -> Result<Vec<OrderDto>>;
    /// An order's timeline, oldest first (`NOT_FOUND` for an order the actor may not see).
    async fn order_timeline(&self, actor: &Actor, order: OrderId) -> Result<Vec<OrderEventDto>>;
}

/// What every order event carries of a line: enough for the creator's ledger (commission) and
/// live's "just bought".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLineFact {
    pub product_id: ProductId,
    pub sku_id: SkuId,
    pub quantity: i64,
    pub amount: Money,
    pub attribution: AttributionDto,
}

macro_rules! order_event {
    ($(#[$doc:meta])* $name:ident = $kind:literal { $($(#[$fdoc:meta])* $field:ident: $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub struct $name {
            pub order_id: OrderId,
            pub buyer_id: UserId,
            pub shop_id: ShopId,
            pub lines: Vec<OrderLineFact>,
            pub total: Money,
            pub version: i64,
            $($(#[$fdoc])* pub $field: $ty),*
        }
        impl IntegrationEvent for $name {
            const KIND: &'static str = $kind;
        }
        impl VersionedEvent for $name {
            fn aggregate_id(&self) -> i64 {
                self.order_id.0
            }
            fn version(&self) -> i64 {
                self.version
            }
        }
    };
}

order_event!(
    /// An order was placed and its stock held.
    OrderPlaced = "commerce.order_placed" { pay_by: Timestamp }
);
order_event!(
    /// An order was paid: its held stock is sold.
    OrderPaid = "commerce.order_paid" { paid_at: Timestamp }
);
order_event!(
    /// A paid order was shipped.
    OrderShipped = "commerce.order_shipped" { carrier: String, tracking_number: String }
);
order_event!(
    /// A shipped order was received (confirmed, or automatically after the confirm window).
    OrderCompleted = "commerce.order_completed" { completed_at: Timestamp }
);
order_event!(
    /// An unpaid order was cancelled and its stock released.
    OrderCancelled = "commerce.order_cancelled" { reason: CancelReason }
);

/// A SKU's price or stock was changed by its shop (repricing, restocking, removal): the live room
/// updates the pinned product's card from it. Numbered per SKU; apply only newer ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkuChanged {
    pub sku_id: SkuId,
    pub product_id: ProductId,
    pub shop_id: ShopId,
    pub price: Money,
    pub stock: i64,
    pub version: i64,
}
impl IntegrationEvent for SkuChanged {
    const KIND: &'static str = "commerce.sku_changed";
}
impl VersionedEvent for SkuChanged {
    fn aggregate_id(&self) -> i64 {
        self.sku_id.0
    }
    fn version(&self) -> i64 {
        self.version
    }
}
