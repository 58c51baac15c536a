//! Paying an order, the cart and its checkout, selling for others (affiliate offers, showcases,
//! cards under videos, creators' sales), and watching an order change.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::connection::Connection;
use async_graphql::dataloader::Loader;
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Subscription};
use futures::{Stream, StreamExt};
use kanjian_contracts::commerce::{
    self as contract, CartDto, CartItemDto, CartShopDto, CreatorApi, CreatorSaleDto, MerchantApi, PayActionDto, PaymentDto,
    ShopperApi, ShowcaseItemDto,
};
use kanjian_kernel::ids::{ChannelId, OrderId, VideoId};
use kanjian_kernel::{Actor, Timestamp};

use super::money::Money;
use super::mutations::{AttributionInput, address_id, attribution, order_id, product_id, sku_id};
use super::types::{Order, Product, Shop, SpecValue};
use super::{OrderState, SaleSource};
use crate::context::{ContextExt, Services};
use crate::errors::{GqlResultExt, into_payload, payload};
use crate::loaders::{self, LoadError, RequestLoader};
use crate::relay::{NodeKind, connection, expect_id, input_id, page_request, to_global_id};

impl NodeKind {
    /// Not a node: a payment is read through its order.
    pub(crate) const PAYMENT: NodeKind = NodeKind("Payment");
}

/// Mirrors [`contract::PaymentState`].
#[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum PaymentState {
    /// Created at the provider; waiting for the payer (open `payUrl` or scan `qrCodeUrl`).
    Created,
    /// The provider took the money and the order is paid by it.
    Succeeded,
    /// The money arrived when the order could no longer take it (cancelled, expired, or paid by
    /// another attempt): it is being given back.
    Refunding,
    /// Given back to the payer.
    Refunded,
    /// The provider refused to give it back; the shop's staff must look at it.
    RefundFailed,
    /// Closed without payment.
    Closed,
}

impl From<contract::PaymentState> for PaymentState {
    fn from(s: contract::PaymentState) -> Self {
        match s {
            contract::PaymentState::Created => Self::Created,
            contract::PaymentState::Succeeded => Self::Succeeded,
            contract::PaymentState::Refunding => Self::Refunding,
            contract::PaymentState::Refunded => Self::Refunded,
            contract::PaymentState::RefundFailed => Self::RefundFailed,
            contract::PaymentState::Closed => Self::Closed,
        }
    }
}

/// Mirrors [`contract::CartProblem`].
#[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum CartProblem {
    /// Off the shelf, deleted, or its SKU removed: it cannot be bought.
    Unavailable,
    /// No stock left.
    SoldOut,
    /// Fewer units left than the quantity in the cart.
    InsufficientStock,
}

impl From<contract::CartProblem> for CartProblem {
    fn from(p: contract::CartProblem) -> Self {
        match p {
            contract::CartProblem::Unavailable => Self::Unavailable,
            contract::CartProblem::SoldOut => Self::SoldOut,
            contract::CartProblem::InsufficientStock => Self::InsufficientStock,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Payments

pub struct Payment(pub PaymentDto);

/// One attempt to pay an order through a payment provider (`payOrder`).
#[Object]
impl Payment {
    /// Opaque id of the attempt.
    async fn id(&self) -> ID {
        to_global_id(NodeKind::PAYMENT, self.0.id.0)
    }

    /// `sandbox` (the built-in provider: nothing is charged) or `wechatpay`.
    async fn provider(&self) -> &str {
        &self.0.provider
    }

    /// What the provider knows this attempt by (its `out_trade_no`), for support.
    async fn provider_reference(&self) -> &str {
        &self.0.provider_reference
    }

    /// What it charges: the order's total.
    async fn amount(&self) -> Money {
        self.0.amount.into()
    }

    /// Where the attempt is: CREATED until the provider's notification (or reconciliation)
    /// says it was paid.
    async fn state(&self) -> PaymentState {
        self.0.state.into()
    }

    /// While CREATED, with the sandbox: the page where the payer pays (or fails). Open it in a
    /// browser. `null` otherwise.
    async fn pay_url(&self) -> Option<&str> {
        match &self.0.action {
            Some(PayActionDto::OpenUrl(url)) => Some(url),
            _ => None,
        }
    }

    /// While CREATED, with WeChat Pay: the `code_url` to show as a QR code for the payer to scan
    /// with WeChat. `null` otherwise.
    async fn qr_code_url(&self) -> Option<&str> {
        match &self.0.action {
            Some(PayActionDto::QrCode(code)) => Some(code),
            _ => None,
        }
    }

    /// When the provider took the money.
    async fn paid_at(&self) -> Option<Timestamp> {
        self.0.paid_at
    }

    /// When the money was given back (REFUNDED).
    async fn refunded_at(&self) -> Option<Timestamp> {
        self.0.refunded_at
    }

    /// When `payOrder` started it.
    async fn created_at(&self) -> Timestamp {
        self.0.created_at
    }
}

/// `Order.payments`.
pub(crate) async fn order_payments(ctx: &Context<'_>, order: OrderId) -> async_graphql::Result<Vec<Payment>> {
    let api = ctx.api::<dyn ShopperApi>()?;
    Ok(api.order_payments(ctx.actor(), order).await.gql()?.into_iter().map(Payment).collect())
}

/// Starts paying one of your orders.
#[derive(InputObject)]
pub struct PayOrderInput {
    /// One of your PENDING_PAYMENT orders.
    pub order_id: ID,
    /// `sandbox` or `wechatpay`; the server's default (`sandbox` unless configured otherwise)
    /// when omitted.
    pub provider: Option<String>,
    /// A new random string (a UUID) per payment you mean to start; a retry sends the same one.
    pub idempotency_key: String,
}

payload!(
    /// The result of `payOrder`.
    PayOrderPayload {
        /// The attempt, with what the payer does next (`payUrl` or `qrCodeUrl`); `null` when
        /// refused.
        payment: Payment,
    }
);

// ---------------------------------------------------------------------------------------------
// The cart

pub struct Cart(pub CartDto);

/// Your cart (购物车): items from any shops, priced as of now. Checkout makes one order per shop.
#[Object]
impl Cart {
    /// Grouped by shop, the shop with the newest item first.
    async fn shops(&self) -> Vec<CartShop> {
        self.0.shops.iter().cloned().map(CartShop).collect()
    }

    /// Items in the cart (different SKUs, not units), at most 100.
    async fn item_count(&self) -> usize {
        self.0.item_count
    }
}

pub struct CartShop(CartShopDto);

/// One shop's part of your cart: checking it out makes one order.
#[Object]
impl CartShop {
    /// The shop these items are from.
    async fn shop(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Shop>> {
        Ok(loaders::load::<_, super::types::ShopLoader>(ctx, self.0.shop_id).await?.map(Shop))
    }

    /// Its items, newest first.
    async fn items(&self) -> Vec<CartItem> {
        self.0.items.iter().cloned().map(CartItem).collect()
    }

    /// The items that can be bought now (no `problem`), together.
    async fn items_total(&self) -> Money {
        self.0.items_total.into()
    }

    /// The shop's shipping for those items (free from its threshold).
    async fn shipping_fee(&self) -> Money {
        self.0.shipping_fee.into()
    }

    /// `itemsTotal` + `shippingFee`: what this shop's order would cost now.
    async fn total(&self) -> Money {
        self.0.total.into()
    }
}

pub struct CartItem(CartItemDto);

/// One SKU in your cart.
#[Object]
impl CartItem {
    /// The SKU's id (pass it to `checkout` and `setCartQuantity`).
    async fn sku_id(&self) -> ID {
        to_global_id(NodeKind::SKU, self.0.sku_id.0)
    }

    /// The product as it is now; `null` once you may no longer see it.
    async fn product(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Product>> {
        Ok(loaders::load::<_, super::types::ProductLoader>(ctx, self.0.product_id).await?.map(Product))
    }

    /// The product's title now.
    async fn title(&self) -> &str {
        &self.0.title
    }

    /// The SKU's spec values (颜色 = 红, …).
    async fn specs(&self) -> Vec<SpecValue> {
        self.0.specs.iter().cloned().map(SpecValue::from).collect()
    }

    /// The product's cover image.
    async fn image_url(&self) -> Option<&str> {
        self.0.image_url.as_deref()
    }

    /// The price now: a cart never fixes a price; checkout charges the price of that moment.
    async fn unit_price(&self) -> Money {
        self.0.unit_price.into()
    }

    /// Units in the cart (1 to 999).
    async fn quantity(&self) -> i64 {
        self.0.quantity
    }

    /// `unitPrice` × `quantity`.
    async fn amount(&self) -> Money {
        self.0.amount.into()
    }

    /// Where you found it (kept for the order line).
    async fn source(&self) -> SaleSource {
        self.0.attribution.source.into()
    }

    /// Why it cannot be checked out as it is now; `null` when it can.
    async fn problem(&self) -> Option<CartProblem> {
        self.0.problem.map(Into::into)
    }

    /// When it was first put in the cart.
    async fn added_at(&self) -> Timestamp {
        self.0.added_at
    }
}

/// `User.cart`: the user's own cart, `null` for anyone else.
pub(crate) async fn viewer_cart(ctx: &Context<'_>, user: kanjian_kernel::ids::UserId) -> async_graphql::Result<Option<Cart>> {
    if ctx.actor().user_id() != Some(user) {
        return Ok(None);
    }
    Ok(Some(Cart(ctx.api::<dyn ShopperApi>()?.cart(ctx.actor()).await.gql()?)))
}

/// Puts units of a SKU in your cart (added to what it holds of it).
#[derive(InputObject)]
pub struct AddToCartInput {
    /// A `Sku.id` of a listed product.
    pub sku_id: ID,
    /// Units to add: 1 to 999, and at most 999 of one SKU in the cart.
    pub quantity: i32,
    /// Where you found it; the order line records it at checkout.
    pub attribution: AttributionInput,
}

/// Sets how many units of a SKU your cart holds.
#[derive(InputObject)]
pub struct SetCartQuantityInput {
    /// A SKU in your cart.
    pub sku_id: ID,
    /// 0 removes it; at most 999.
    pub quantity: i32,
}

/// Buys items of your cart.
#[derive(InputObject)]
pub struct CheckoutInput {
    /// The cart items to buy (their `skuId`s); every one must be in your cart.
    pub sku_ids: Vec<ID>,
    /// One of your addresses; every order keeps a copy of it.
    pub address_id: ID,
    /// A new random string (a UUID) per checkout; a retry sends the same one.
    pub idempotency_key: String,
}

payload!(
    /// The cart after a change.
    CartPayload {
        /// Your cart now; `null` when refused.
        cart: Cart,
    }
);

payload!(
    /// The result of `checkout`.
    CheckoutPayload {
        /// One order per shop, each PENDING_PAYMENT with its stock held; `null` when refused.
        orders: Vec<Order>,
    }
);

// ---------------------------------------------------------------------------------------------
// Selling for others

pub struct ShowcaseItem(ShowcaseItemDto);

/// A product on a creator's showcase (橱窗).
#[Object]
impl ShowcaseItem {
    /// The product, as shoppers see it (listed).
    async fn product(&self) -> Product {
        Product(self.0.product.clone())
    }

    /// When the creator added it.
    async fn added_at(&self) -> Timestamp {
        self.0.added_at
    }
}

/// `Channel.showcase`.
pub(crate) async fn channel_showcase(
    ctx: &Context<'_>,
    channel: ChannelId,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<Connection<String, ShowcaseItem>> {
    let page = ctx.api::<dyn CreatorApi>()?.showcase(ctx.actor(), channel, page_request(first, after)).await.gql()?;
    Ok(connection(page, ShowcaseItem))
}

pub struct CreatorSale(CreatorSaleDto);

/// A sale credited to you as a creator: a line of an order placed through your showcase, a
/// video's card or your live room. The buyer is not shown.
#[Object]
impl CreatorSale {
    /// The product as it is now; `null` once you may no longer see it.
    async fn product(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Product>> {
        Ok(loaders::load::<_, super::types::ProductLoader>(ctx, self.0.product_id).await?.map(Product))
    }

    /// The product's title when the order was placed.
    async fn title(&self) -> &str {
        &self.0.title
    }

    /// Units bought.
    async fn quantity(&self) -> i64 {
        self.0.quantity
    }

    /// What the line came to.
    async fn amount(&self) -> Money {
        self.0.amount.into()
    }

    /// Where the buyer came from.
    async fn source(&self) -> SaleSource {
        self.0.source.into()
    }

    /// The rate in force when the order was placed (basis points); `null`: no commission (your
    /// own shop's product).
    async fn commission_bps(&self) -> Option<i64> {
        self.0.commission_bps
    }

    /// Your part of `amount` (the rest is the shop's; the two add up exactly). Earned once the
    /// order completes; nothing for an order cancelled.
    async fn commission(&self) -> Money {
        self.0.commission.into()
    }

    /// The order's state now.
    async fn order_state(&self) -> OrderState {
        self.0.order_state.into()
    }

    /// When the order was placed.
    async fn placed_at(&self) -> Timestamp {
        self.0.placed_at
    }
}

/// `User.creatorSales`: the user's own, `null` for anyone else.
pub(crate) async fn viewer_creator_sales(
    ctx: &Context<'_>,
    user: kanjian_kernel::ids::UserId,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<Option<Connection<String, CreatorSale>>> {
    if ctx.actor().user_id() != Some(user) {
        return Ok(None);
    }
    let page = ctx.api::<dyn CreatorApi>()?.creator_sales(ctx.actor(), page_request(first, after)).await.gql()?;
    Ok(Some(connection(page, CreatorSale)))
}

/// One request's video cards, batched.
pub(crate) struct VideoProductLoader {
    creators: Arc<dyn CreatorApi>,
    actor: Actor,
}

impl Loader<VideoId> for VideoProductLoader {
    type Value = contract::ProductDto;
    type Error = LoadError;
    async fn load(&self, keys: &[VideoId]) -> Result<HashMap<VideoId, contract::ProductDto>, LoadError> {
        Ok(self.creators.video_products(&self.actor, keys).await.map_err(Arc::new)?.into_iter().collect())
    }
}

impl RequestLoader for VideoProductLoader {
    fn create(services: &Services, actor: &Actor) -> kanjian_kernel::Result<Self> {
        Ok(Self { creators: services.apis.get()?, actor: actor.clone() })
    }
}

/// `Video.product`.
pub(crate) async fn video_product(ctx: &Context<'_>, video: VideoId) -> async_graphql::Result<Option<Product>> {
    Ok(loaders::load::<_, VideoProductLoader>(ctx, video).await?.map(Product))
}

/// Offers a product of your shop to creators.
#[derive(InputObject)]
pub struct SetAffiliateOfferInput {
    /// A product of your shop.
    pub product_id: ID,
    /// The commission in basis points of a line's amount: 1 to 9000 (0.01 % to 90 %); `null`
    /// withdraws the offer. Orders already placed keep their rate.
    pub commission_bps: Option<i32>,
}

/// A product for your channel's showcase.
#[derive(InputObject)]
pub struct ShowcaseProductInput {
    /// A listed product that its shop offers to creators, or one of a shop you own.
    pub product_id: ID,
}

/// The product card under one of your videos.
#[derive(InputObject)]
pub struct SetVideoProductInput {
    /// One of your videos.
    pub video_id: ID,
    /// A product on your showcase; `null` takes the card away. Required (omit nothing by
    /// accident).
    pub product_id: MaybeUndefined<ID>,
}

payload!(
    /// A product after its offer changed.
    AffiliateOfferPayload {
        /// The product, with its `affiliateCommissionBps`; `null` when refused.
        product: Product,
    }
);

payload!(
    /// The result of `addToShowcase`.
    ShowcaseItemPayload {
        /// The item on your showcase; `null` when refused.
        item: ShowcaseItem,
    }
);

payload!(
    /// The result of `removeFromShowcase`.
    RemoveFromShowcasePayload {
        /// `true` once it is off your showcase (also when it was not on it).
        removed: bool,
    }
);

payload!(
    /// The result of `setVideoProduct`.
    VideoProductPayload {
        /// The card now under the video; `null` when it was taken away or refused.
        product: Product,
    }
);

// ---------------------------------------------------------------------------------------------
// Mutations

#[derive(Default)]
pub struct CommerceShoppingMutation;

#[Object]
impl CommerceShoppingMutation {
    /// Starts paying one of your PENDING_PAYMENT orders and answers what the payer does next:
    /// open `payUrl` (the sandbox's page) or show `qrCodeUrl` (WeChat Pay). The order turns PAID
    /// when the provider's notification arrives: watch it with `orderUpdated`. An open attempt
    /// with the same provider is answered again rather than a second one made. Refusals:
    /// `EXPIRED` (its payment window closed), `INVALID_STATE` (not unpaid: cancelled or already
    /// paid), `PAYMENT_UNAVAILABLE` (the provider did not answer; nothing was charged, retry),
    /// `INVALID` on `provider`, `IDEMPOTENCY_KEY_REUSED`, `IN_PROGRESS`. Anyone else's order is
    /// `NOT_FOUND`, like a missing one.
    async fn pay_order(&self, ctx: &Context<'_>, input: PayOrderInput) -> async_graphql::Result<PayOrderPayload> {
        let api = ctx.api::<dyn ShopperApi>()?;
        let result = async {
            let pay = contract::PayOrderInput { order_id: order_id(&input.order_id)?, provider: input.provider, idempotency_key: input.idempotency_key };
            api.pay_order(ctx.actor(), pay).await
        }
        .await;
        into_payload(result, |p| PayOrderPayload { payment: Some(Payment(p)), user_errors: vec![] })
    }

    /// Puts a SKU in your cart (its units added to any already there). An unlisted product is
    /// `NOT_FOUND`; a removed SKU `UNAVAILABLE`; more than 999 of one SKU `TOO_LONG`; a full
    /// cart (100 items) `LIMIT_REACHED`.
    async fn add_to_cart(&self, ctx: &Context<'_>, input: AddToCartInput) -> async_graphql::Result<CartPayload> {
        let api = ctx.api::<dyn ShopperApi>()?;
        let result = async {
            let add = contract::AddToCartInput { sku_id: sku_id(&input.sku_id)?, quantity: i64::from(input.quantity), attribution: attribution(&input.attribution)? };
            api.add_to_cart(ctx.actor(), add).await
        }
        .await;
        into_payload(result, |c| CartPayload { cart: Some(Cart(c)), user_errors: vec![] })
    }

    /// Sets a cart item's quantity; 0 removes it. A SKU not in your cart is `INVALID`.
    async fn set_cart_quantity(&self, ctx: &Context<'_>, input: SetCartQuantityInput) -> async_graphql::Result<CartPayload> {
        let api = ctx.api::<dyn ShopperApi>()?;
        let result = async { api.set_cart_quantity(ctx.actor(), sku_id(&input.sku_id)?, i64::from(input.quantity)).await }.await;
        into_payload(result, |c| CartPayload { cart: Some(Cart(c)), user_errors: vec![] })
    }

    /// Buys the chosen cart items: one order per shop, all placed or none. Every refusal names
    /// the item in its message: `SOLD_OUT`, `INSUFFICIENT_STOCK`, `UNAVAILABLE`,
    /// `PURCHASE_LIMIT_EXCEEDED` (units of one product over all its SKUs count together),
    /// `INVALID` on `skuIds` (not all in your cart) or `addressId`, `IDEMPOTENCY_KEY_REUSED`,
    /// `IN_PROGRESS`. Bought items leave the cart; on a refusal the cart stays as it was.
    async fn checkout(&self, ctx: &Context<'_>, input: CheckoutInput) -> async_graphql::Result<CheckoutPayload> {
        let api = ctx.api::<dyn ShopperApi>()?;
        let result = async {
            let skus = input.sku_ids.iter().map(sku_id).collect::<kanjian_kernel::Result<Vec<_>>>()?;
            let checkout = contract::CheckoutInput { sku_ids: skus, address_id: address_id(&input.address_id)?, idempotency_key: input.idempotency_key };
            api.checkout(ctx.actor(), checkout).await
        }
        .await;
        into_payload(result, |orders| CheckoutPayload { orders: Some(orders.into_iter().map(Order).collect()), user_errors: vec![] })
    }

    /// Offers a product of your shop to creators at a commission (or withdraws the offer). The
    /// organization's owners only (`FORBIDDEN` otherwise); a commission outside 1–9000 is
    /// `INVALID`.
    async fn set_affiliate_offer(&self, ctx: &Context<'_>, input: SetAffiliateOfferInput) -> async_graphql::Result<AffiliateOfferPayload> {
        let api = ctx.api::<dyn MerchantApi>()?;
        let result = async { api.set_affiliate_offer(ctx.actor(), product_id(&input.product_id)?, input.commission_bps.map(i64::from)).await }.await;
        into_payload(result, |p| AffiliateOfferPayload { product: Some(Product(p)), user_errors: vec![] })
    }

    /// Adds a product to your channel's showcase: one its shop offers to creators, or one of a
    /// shop you own (`INVALID_STATE` otherwise, and without a channel). An unlisted product is
    /// `NOT_FOUND`.
    async fn add_to_showcase(&self, ctx: &Context<'_>, input: ShowcaseProductInput) -> async_graphql::Result<ShowcaseItemPayload> {
        let api = ctx.api::<dyn CreatorApi>()?;
        let result = async { api.add_to_showcase(ctx.actor(), product_id(&input.product_id)?).await }.await;
        into_payload(result, |i| ShowcaseItemPayload { item: Some(ShowcaseItem(i)), user_errors: vec![] })
    }

    /// Takes a product off your showcase, and its cards off your videos (a live room pinning it
    /// takes the card down too).
    async fn remove_from_showcase(&self, ctx: &Context<'_>, input: ShowcaseProductInput) -> async_graphql::Result<RemoveFromShowcasePayload> {
        let api = ctx.api::<dyn CreatorApi>()?;
        let result = async { api.remove_from_showcase(ctx.actor(), product_id(&input.product_id)?).await }.await;
        into_payload(result, |()| RemoveFromShowcasePayload { removed: Some(true), user_errors: vec![] })
    }

    /// Shows a product of your showcase as the card under one of your videos (one per video), or
    /// takes the card away. Someone else's video is `NOT_FOUND`; a product not on your showcase
    /// `INVALID_STATE`.
    async fn set_video_product(&self, ctx: &Context<'_>, input: SetVideoProductInput) -> async_graphql::Result<VideoProductPayload> {
        let api = ctx.api::<dyn CreatorApi>()?;
        let result = async {
            let video = VideoId(input_id(&input.video_id, NodeKind::VIDEO, "videoId")?);
            let product = match &input.product_id {
                MaybeUndefined::Undefined => {
                    return Err(kanjian_kernel::Error::user("productId", kanjian_kernel::UserErrorCode::Required, "Give a product, or null to take the card away."));
                }
                MaybeUndefined::Null => None,
                MaybeUndefined::Value(id) => Some(product_id(id)?),
            };
            api.set_video_product(ctx.actor(), video, product).await
        }
        .await;
        into_payload(result, |p| VideoProductPayload { product: p.map(Product), user_errors: vec![] })
    }
}

// ---------------------------------------------------------------------------------------------
// Subscription

#[derive(Default)]
pub struct CommerceSubscription;

#[Subscription]
impl CommerceSubscription {
    /// One of your orders (or your shop's) now, then again at every change — paid, shipped,
    /// completed, cancelled — on whichever node it happens. Ends once it can change no more
    /// (COMPLETED or CANCELLED). An order you may not see is `NOT_FOUND`, as a missing one.
    async fn order_updated(&self, ctx: &Context<'_>, order_id: ID) -> async_graphql::Result<impl Stream<Item = Order> + use<>> {
        let id = OrderId(expect_id(&order_id, NodeKind::ORDER)?);
        let orders = ctx.api::<dyn ShopperApi>()?.watch_order(ctx.actor(), id).await.gql()?;
        Ok(orders.map(Order))
    }
}
