//! Commerce (小店): merchants' shops, products with their SKUs and stock, shoppers' address
//! books, and orders from `buyNow` to completion. Stock is held by a conditional write when an
//! order is placed, for the payment window; every order transition is a compare-and-set with its
//! event in the same transaction.
//!
//! Money is integer minor units with a currency ([`Money`]); every total is computed here, never
//! taken from a client.

use async_trait::async_trait;
use kanjian_kernel::ids::{
    AddressId, ChannelId, LiveRoomId, OrderId, OrganizationId, PaymentId, ProductId, ShopId, SkuId, UserId, VideoId,
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
/// The most units of one SKU in one order line (and in one cart item).
pub const MAX_QUANTITY: i64 = 999;
/// The most different SKUs in one cart.
pub const MAX_CART_ITEMS: usize = 100;

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
        /// A payment that arrived when the order could no longer take it was given back.
        Refunded = "REFUNDED",
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
    /// The commission the shop offers creators who sell it (带货), in basis points of a line's
    /// amount; `None` when it is not offered.
    pub affiliate_commission_bps: Option<i64>,
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
    /// This line's part of the order's shipping fee (the fee split over the lines by amount,
    /// largest remainder first, so the parts add up to the fee exactly): what a refund of the
    /// line gives back of the shipping.
    pub shipping_share: Money,
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

/// One SKU in the actor's cart, with its price and stock as they are now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartItemDto {
    pub sku_id: SkuId,
    pub product_id: ProductId,
    pub shop_id: ShopId,
    pub title: String,
    pub specs: Vec<SpecValue>,
    pub image_url: Option<String>,
    /// The price now (a cart never fixes a price: checkout charges the price of that moment).
    pub unit_price: Money,
    pub quantity: i64,
    pub amount: Money,
    /// Where the shopper found it, kept for the order line.
    pub attribution: AttributionDto,
    /// Why it cannot be bought as it is now (`None`: it can): not on sale, sold out, or fewer
    /// units left than the quantity.
    pub problem: Option<CartProblem>,
    pub added_at: Timestamp,
}

str_enum!(
    /// Why a cart item cannot be checked out as it is.
    CartProblem {
        /// Off the shelf, deleted, or its SKU removed.
        Unavailable = "UNAVAILABLE",
        /// No stock left.
        SoldOut = "SOLD_OUT",
        /// Fewer units left than the quantity.
        InsufficientStock = "INSUFFICIENT_STOCK",
    }
);

/// A shop's part of the cart: checkout makes one order of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartShopDto {
    pub shop_id: ShopId,
    pub items: Vec<CartItemDto>,
    /// The items that can be bought, together.
    pub items_total: Money,
    /// The shop's shipping for those items (free over its threshold).
    pub shipping_fee: Money,
    pub total: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartDto {
    /// Grouped by shop, the shop with the newest item first.
    pub shops: Vec<CartShopDto>,
    /// Items in the cart (SKUs, not units).
    pub item_count: usize,
}

#[derive(Debug, Clone)]
pub struct AddToCartInput {
    pub sku_id: SkuId,
    /// Added to what the cart holds of the SKU (at most [`MAX_QUANTITY`] in all).
    pub quantity: i64,
    pub attribution: AttributionInput,
}

#[derive(Debug, Clone)]
pub struct CheckoutInput {
    /// The cart items to buy; every one must be in the cart.
    pub sku_ids: Vec<SkuId>,
    pub address_id: AddressId,
    pub idempotency_key: String,
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

str_enum!(
    /// Where a payment attempt is.
    PaymentState {
        /// Created at the provider; waiting for the payer.
        Created = "CREATED",
        /// The provider took the money and the order is paid by it.
        Succeeded = "SUCCEEDED",
        /// The money arrived for an order that could no longer take it (cancelled, expired, or
        /// paid by another attempt): it is being given back.
        Refunding = "REFUNDING",
        /// Given back.
        Refunded = "REFUNDED",
        /// The provider refused the refund; someone must look at it.
        RefundFailed = "REFUND_FAILED",
        /// Closed without payment (the order was cancelled or expired first, or the payer failed).
        Closed = "CLOSED",
    }
);

/// What the payer does next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PayActionDto {
    /// Open this page (the sandbox's payment page).
    OpenUrl(String),
    /// Show this as a QR code to scan with the wallet (WeChat Pay Native).
    QrCode(String),
}

/// One attempt to pay an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentDto {
    pub id: PaymentId,
    pub order_id: OrderId,
    /// `sandbox` or `wechatpay`.
    pub provider: String,
    /// What the provider knows this attempt by (`out_trade_no`): for support and
    /// reconciliation with the provider's records.
    pub provider_reference: String,
    pub amount: Money,
    pub state: PaymentState,
    /// What to do to pay, while CREATED.
    pub action: Option<PayActionDto>,
    pub paid_at: Option<Timestamp>,
    pub refunded_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct PayOrderInput {
    pub order_id: OrderId,
    /// `sandbox` or `wechatpay`; the deployment's default when absent.
    pub provider: Option<String>,
    pub idempotency_key: String,
}

/// How the server answers a provider's notification (the provider reads only the status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookReply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

/// The sandbox payment page (the embedded default's provider), as a person sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxCheckoutDto {
    pub amount: Money,
    pub description: String,
    /// `OPEN`, `PAID`, `FAILED`, `CLOSED` or `REFUNDED`.
    pub state: String,
    pub expires_at: Timestamp,
}

/// HTTP the server routes to commerce: payment notifications (webhooks) and the sandbox's
/// payment page. Not for GraphQL.
#[async_trait]
pub trait PaymentGateway: Send + Sync {
    /// A notification as it reached `/payments/notify/<provider>`: verified (signature,
    /// timestamp window, decryption), stored once per (provider, event id), and answered 2xx only
    /// once stored; processed through the outbox. A notification not believed gets a 4xx and
    /// changes nothing.
    async fn receive_notification(&self, provider: &str, headers: &[(String, String)], body: &[u8]) -> WebhookReply;
    /// The sandbox page of a payment (`NOT_FOUND` for an unknown token).
    async fn sandbox_checkout(&self, token: &str) -> Result<SandboxCheckoutDto>;
    /// The person on the sandbox page paid (`true`) or failed (`false`): the sandbox sends its
    /// signed notification, as a real provider would.
    async fn sandbox_decide(&self, token: &str, pay: bool) -> Result<SandboxCheckoutDto>;
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
    /// Offers a product to creators at a commission (basis points, 1 to 9000); `None` withdraws
    /// the offer. Orders placed before a change keep the rate they were placed at.
    async fn set_affiliate_offer(&self, actor: &Actor, product: ProductId, commission_bps: Option<i64>) -> Result<ProductDto>;
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
    /// The actor's cart, priced as of now.
    async fn cart(&self, actor: &Actor) -> Result<CartDto>;
    async fn add_to_cart(&self, actor: &Actor, input: AddToCartInput) -> Result<CartDto>;
    /// Sets a cart item's quantity; 0 removes it.
    async fn set_cart_quantity(&self, actor: &Actor, sku: SkuId, quantity: i64) -> Result<CartDto>;
    /// Buys the chosen cart items: one order per shop, all placed or none (a sold-out item
    /// refuses the whole checkout and says which). Bought items leave the cart. Idempotent by
    /// key.
    async fn checkout(&self, actor: &Actor, input: CheckoutInput) -> Result<Vec<OrderDto>>;
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

    /// Starts paying the actor's unpaid order with a provider: answers what the payer does
    /// next (open a page, scan a code). Idempotent by key; an attempt still open with the same
    /// provider is answered again rather than a second one created.
    async fn pay_order(&self, actor: &Actor, input: PayOrderInput) -> Result<PaymentDto>;
    /// An order's payment attempts, newest first (buyer and shop members).
    async fn order_payments(&self, actor: &Actor, order: OrderId) -> Result<Vec<PaymentDto>>;
    /// The order now, then again at every change (paid, shipped, …), on any node. Ends when the
    /// order can change no more. `NOT_FOUND` for an order the actor may not see.
    async fn watch_order(&self, actor: &Actor, order: OrderId) -> Result<futures::stream::BoxStream<'static, OrderDto>>;
}

/// A product on a creator's showcase (橱窗).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShowcaseItemDto {
    pub channel_id: ChannelId,
    pub product: ProductDto,
    pub added_at: Timestamp,
}

/// A sale credited to a creator: a line of an order placed through their showcase, video or
/// live room. What the creator sees of it; the buyer stays anonymous.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatorSaleDto {
    pub order_id: OrderId,
    pub product_id: ProductId,
    pub title: String,
    pub quantity: i64,
    pub amount: Money,
    pub source: SaleSource,
    pub commission_bps: Option<i64>,
    /// The creator's part of the amount (largest remainder: the creator's and the shop's parts
    /// add up to the amount exactly). Earned once the order completes.
    pub commission: Money,
    pub order_state: OrderState,
    pub placed_at: Timestamp,
}

/// Creators' side: the showcase, product cards under videos, and the sales credited to them.
#[async_trait]
pub trait CreatorApi: Send + Sync {
    /// Adds a product to the actor's channel's showcase: one the shop offers to creators, or one
    /// of a shop the actor owns. `INVALID_STATE` without a channel.
    async fn add_to_showcase(&self, actor: &Actor, product: ProductId) -> Result<ShowcaseItemDto>;
    async fn remove_from_showcase(&self, actor: &Actor, product: ProductId) -> Result<()>;
    /// A channel's showcase, newest first: its listed products only (anyone may look).
    async fn showcase(&self, actor: &Actor, channel: ChannelId, page: PageRequest) -> Result<Page<ShowcaseItemDto>>;
    /// Shows a product of the actor's showcase as the card under one of their videos (one card
    /// per video); `None` takes the card away.
    async fn set_video_product(&self, actor: &Actor, video: VideoId, product: Option<ProductId>) -> Result<Option<ProductDto>>;
    /// The cards under these videos, for those that have one the actor may see.
    async fn video_products(&self, actor: &Actor, videos: &[VideoId]) -> Result<Vec<(VideoId, ProductDto)>>;
    /// Sales credited to the actor's channel, newest first.
    async fn creator_sales(&self, actor: &Actor, page: PageRequest) -> Result<Page<CreatorSaleDto>>;
}

/// What live reads of commerce: whether a channel carries a product (to pin it while live),
/// and the product as shoppers see it.
#[async_trait]
pub trait ShowcaseDirectory: Send + Sync {
    /// The product, listed and on the channel's showcase; `None` otherwise.
    async fn carried_product(&self, channel: ChannelId, product: ProductId) -> Result<Option<ProductDto>>;
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

/// A product changed: listed, delisted, deleted, its details edited, or taken off a creator's
/// showcase (`channel_id`). Live takes a pinned card down when the product can no longer be
/// bought there. Numbered per product (a showcase removal carries the product's version as is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductChanged {
    pub product_id: ProductId,
    pub shop_id: ShopId,
    pub status: ProductStatus,
    /// Set when the change is the product leaving this channel's showcase.
    pub channel_id: Option<ChannelId>,
    pub version: i64,
}
impl IntegrationEvent for ProductChanged {
    const KIND: &'static str = "commerce.product_changed";
}

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
