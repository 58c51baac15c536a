//! What merchants and shoppers do: open and run a shop, keep an address book, buy, cancel,
//! confirm receipt and ship.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};
use kanjian_contracts::commerce::{self as contract, MerchantApi, ShopperApi};
use kanjian_kernel::ids::{AddressId, ChannelId, LiveRoomId, OrderId, OrganizationId, ProductId, ShopId, SkuId, VideoId};

use super::money::MinorUnits;
use super::types::{Address, Order, Product, Shop, Sku};
use super::{ProductStatus, SaleSource};
use crate::context::ContextExt;
use crate::errors::{into_payload, payload};
use crate::relay::{NodeKind, input_id};

/// `null` in an input removes the value, an omitted field leaves it as it is.
fn change<T, U>(value: MaybeUndefined<T>, f: impl FnOnce(T) -> U) -> Option<Option<U>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(f(v))),
    }
}

fn shop_id(id: &ID) -> kanjian_kernel::Result<ShopId> {
    input_id(id, NodeKind::SHOP, "shopId").map(ShopId)
}

pub(super) fn product_id(id: &ID) -> kanjian_kernel::Result<ProductId> {
    input_id(id, NodeKind::PRODUCT, "productId").map(ProductId)
}

pub(super) fn sku_id(id: &ID) -> kanjian_kernel::Result<SkuId> {
    input_id(id, NodeKind::SKU, "skuId").map(SkuId)
}

pub(super) fn order_id(id: &ID) -> kanjian_kernel::Result<OrderId> {
    input_id(id, NodeKind::ORDER, "orderId").map(OrderId)
}

pub(super) fn address_id(id: &ID) -> kanjian_kernel::Result<AddressId> {
    input_id(id, NodeKind::ADDRESS, "addressId").map(AddressId)
}

// ---------------------------------------------------------------------------------------------
// Inputs

/// A shop for an organization you own.
#[derive(InputObject)]
pub struct OpenShopInput {
    /// The organization (merchant) that runs it; it may have only one shop.
    pub organization_id: ID,
    /// The shop's name: 2 to 30 characters, one line.
    pub name: String,
    /// Up to 500 characters.
    pub description: Option<String>,
    /// ISO 4217 code of every price in the shop; `CNY` when omitted. It cannot change later.
    pub currency: Option<String>,
    /// Flat shipping charged once per order, in minor units of the shop's currency: 0 (free) to
    /// 1000000000.
    pub shipping_fee: MinorUnits,
    /// Orders whose items come to at least this (0 to 1000000000 minor units) ship free; omit
    /// to always charge shipping.
    pub free_shipping_threshold: Option<MinorUnits>,
}

/// Changes to a shop; omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateShopInput {
    /// The shop (`Shop.id`).
    pub shop_id: ID,
    /// 2 to 30 characters, one line.
    pub name: Option<String>,
    /// Up to 500 characters; empty removes it.
    pub description: Option<String>,
    /// Flat shipping per order, in minor units (0 to 1000000000). Orders already placed keep
    /// theirs.
    pub shipping_fee: Option<MinorUnits>,
    /// `null` removes the threshold: shipping is then always charged.
    pub free_shipping_threshold: MaybeUndefined<MinorUnits>,
}

/// One spec value of a SKU: `颜色 = 红`.
#[derive(InputObject)]
pub struct SpecValueInput {
    /// The dimension (up to 20 characters), e.g. `颜色`.
    pub name: String,
    /// This SKU's value (up to 40 characters), e.g. `红`.
    pub value: String,
}

/// One variant of a new product.
#[derive(InputObject)]
pub struct SkuInput {
    /// Its spec values: at most 5, each dimension once, the same dimensions in the same order
    /// for every SKU of the product, and no two SKUs with the same values. Empty for a product
    /// with a single variant.
    #[graphql(default)]
    pub specs: Vec<SpecValueInput>,
    /// Unit price in minor units of the shop's currency: more than 0, at most 1000000000.
    pub price: MinorUnits,
    /// Units available to buy: 0 to 100000000.
    pub stock: i32,
}

/// A new product of a shop you own.
#[derive(InputObject)]
pub struct CreateProductInput {
    /// The shop (`Shop.id`).
    pub shop_id: ID,
    /// Its name: up to 60 characters, one line.
    pub title: String,
    /// Up to 5000 characters.
    pub description: Option<String>,
    /// The shop's category for it (up to 30 characters), e.g. `茶叶`.
    pub category: String,
    /// http(s) URLs of its images, at most 9, the first one the cover.
    #[graphql(default)]
    pub image_urls: Vec<String>,
    /// The most units one person may buy of it over all its SKUs and orders (at least 1;
    /// cancelled orders do not count); omit for no limit.
    pub purchase_limit: Option<i32>,
    /// Its variants: at least one, at most 100.
    pub skus: Vec<SkuInput>,
    /// List it at once (ON_SHELF); otherwise it starts OFF_SHELF, seen by the shop only.
    #[graphql(default)]
    pub on_shelf: bool,
}

/// Changes to a product's details; omitted fields stay as they are. Prices and stock are per
/// SKU (`updateSku`), listing is `setProductStatus`.
#[derive(InputObject)]
pub struct UpdateProductInput {
    /// The product (`Product.id`).
    pub product_id: ID,
    /// Up to 60 characters, one line.
    pub title: Option<String>,
    /// Up to 5000 characters; empty removes it.
    pub description: Option<String>,
    /// Up to 30 characters.
    pub category: Option<String>,
    /// Replaces every image: at most 9, the first one the cover.
    pub image_urls: Option<Vec<String>>,
    /// `null` removes the limit. Units already bought still count against a new one.
    pub purchase_limit: MaybeUndefined<i32>,
}

/// Lists, delists or deletes a product.
#[derive(InputObject)]
pub struct SetProductStatusInput {
    /// The product (`Product.id`).
    pub product_id: ID,
    /// DELETED is final.
    pub status: ProductStatus,
}

/// A change to one SKU. Omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateSkuInput {
    /// The SKU (`Sku.id`).
    pub sku_id: ID,
    /// New unit price in minor units (more than 0, at most 1000000000), for orders placed from
    /// now on.
    pub price: Option<MinorUnits>,
    /// Units to add to `stock`, or (negative) to take away. Applied to the stock as it is when
    /// the change lands, so units sold a moment before are never overwritten; refused if it
    /// would take `stock` below zero (`INSUFFICIENT_STOCK`) or above 100000000.
    pub stock_delta: Option<i32>,
    /// `true` removes the SKU from sale for good; orders keep it.
    #[graphql(default)]
    pub remove: bool,
}

/// A new address in your address book.
#[derive(InputObject)]
pub struct CreateAddressInput {
    /// Who receives the parcel: up to 25 characters.
    pub recipient: String,
    /// The recipient's phone number, for the courier: 5 to 20 digits, with spaces, `+` and `-`
    /// allowed.
    pub phone: String,
    /// 1 to 4 parts from the largest area down: 省 / 市 / 区 (/ 街道), each up to 30 characters.
    pub region: Vec<String>,
    /// Street, building, room: 2 to 120 characters.
    pub detail: String,
    /// Up to 12 letters, digits, spaces and `-`.
    pub postal_code: Option<String>,
    /// Make it your default address. Your first address is the default whatever this says.
    #[graphql(default)]
    pub is_default: bool,
}

/// Replaces one of your addresses entirely: every field is set again. Orders already placed
/// keep the copy they made.
#[derive(InputObject)]
pub struct UpdateAddressInput {
    /// One of your addresses (`Address.id`).
    pub address_id: ID,
    /// Who receives the parcel: up to 25 characters.
    pub recipient: String,
    /// 5 to 20 digits, with spaces, `+` and `-` allowed.
    pub phone: String,
    /// 1 to 4 parts from the largest area down, each up to 30 characters.
    pub region: Vec<String>,
    /// Street, building, room: 2 to 120 characters.
    pub detail: String,
    /// Up to 12 letters, digits, spaces and `-`; omitted or `null` removes it.
    pub postal_code: Option<String>,
    /// Make it your default address. `false` on your default address keeps it the default: make
    /// another one the default instead.
    #[graphql(default)]
    pub is_default: bool,
}

/// Names one of your addresses.
#[derive(InputObject)]
pub struct DeleteAddressInput {
    /// One of your addresses (`Address.id`).
    pub address_id: ID,
}

/// Where a sale came from, as the client saw it: LIVE_ROOM needs `liveRoomId`, VIDEO needs
/// `videoId`, SHOWCASE needs `channelId` (`REQUIRED` otherwise).
#[derive(InputObject)]
pub struct AttributionInput {
    /// The kind of place the shopper bought from.
    pub source: SaleSource,
    /// The live room it is bought from (LIVE_ROOM).
    pub live_room_id: Option<ID>,
    /// The video whose product card it is bought from (VIDEO).
    pub video_id: Option<ID>,
    /// The creator whose showcase (橱窗) it is bought from (SHOWCASE). For LIVE_ROOM and VIDEO
    /// the server finds the creator itself: the room's channel, the channel of the video's card.
    pub channel_id: Option<ID>,
}

/// Buys one SKU now (立即购买).
#[derive(InputObject)]
pub struct BuyNowInput {
    /// A `Sku.id` of a listed product.
    pub sku_id: ID,
    /// Units: 1 to 999, and within the product's `purchaseLimit`.
    pub quantity: i32,
    /// One of your addresses; the order keeps a copy of it.
    pub address_id: ID,
    /// Where the shopper found it.
    pub attribution: AttributionInput,
    /// The unit price the shopper was shown, in minor units. The order is always placed at the
    /// server's price; when this differs, the line's `seenUnitPrice` says so.
    pub seen_unit_price: Option<MinorUnits>,
    /// A key you make for this purchase (a UUID), sent again unchanged when retrying: the same
    /// key with the same input returns the first order instead of placing another one; with
    /// other input it is refused (`IDEMPOTENCY_KEY_REUSED`).
    pub idempotency_key: String,
}

/// Cancels one of your unpaid orders.
#[derive(InputObject)]
pub struct CancelOrderInput {
    /// The order (`Order.id`).
    pub order_id: ID,
    /// A key you make for this cancellation, sent again unchanged when retrying: the same key
    /// returns the first result.
    pub idempotency_key: String,
}

/// Names one of your orders.
#[derive(InputObject)]
pub struct ConfirmReceiptInput {
    /// The order (`Order.id`).
    pub order_id: ID,
}

/// Ships a paid order of your shop.
#[derive(InputObject)]
pub struct ShipOrderInput {
    /// The order (`Order.id`).
    pub order_id: ID,
    /// The carrier's name (up to 30 characters), e.g. `顺丰`.
    pub carrier: String,
    /// The carrier's tracking number (运单号): 4 to 40 characters.
    pub tracking_number: String,
}

// ---------------------------------------------------------------------------------------------
// Payloads

payload!(
    /// The result of `openShop` or `updateShop`.
    ShopPayload {
        /// The shop as it is now; `null` when refused.
        shop: Shop,
    }
);
payload!(
    /// The result of a change to a product.
    ProductPayload {
        /// The product as it is now, as its shop sees it; `null` when refused.
        product: Product,
    }
);
payload!(
    /// The result of `updateSku`.
    SkuPayload {
        /// The SKU as it is now; `null` when refused.
        sku: Sku,
        /// Its product, with every SKU.
        product: Product,
    }
);
payload!(
    /// The result of `createAddress` or `updateAddress`.
    AddressPayload {
        /// The address as it is now; `null` when refused.
        address: Address,
    }
);
payload!(
    /// The result of `deleteAddress`.
    DeleteAddressPayload {
        /// The id of the address removed; `null` when refused.
        deleted_address_id: ID,
    }
);
payload!(
    /// The result of `buyNow`.
    BuyNowPayload {
        /// The order, PENDING_PAYMENT: its stock is held until `payBy`. The same order again
        /// when the idempotency key was used before with the same input.
        order: Order,
        /// Whether it was placed at another price than `seenUnitPrice`: show the shopper the
        /// new total (each line's `seenUnitPrice` says what they saw). `false` when they matched
        /// or no price was sent; `null` when refused.
        price_changed: bool,
    }
);
payload!(
    /// The result of a change to an order.
    OrderPayload {
        /// The order as it is now; `null` when refused.
        order: Order,
    }
);

fn shop_payload(result: kanjian_kernel::Result<contract::ShopDto>) -> async_graphql::Result<ShopPayload> {
    into_payload(result, |s| ShopPayload { shop: Some(Shop(s)), user_errors: vec![] })
}

fn product_payload(result: kanjian_kernel::Result<contract::ProductDto>) -> async_graphql::Result<ProductPayload> {
    into_payload(result, |p| ProductPayload { product: Some(Product(p)), user_errors: vec![] })
}

fn address_payload(result: kanjian_kernel::Result<contract::AddressDto>) -> async_graphql::Result<AddressPayload> {
    into_payload(result, |a| AddressPayload { address: Some(Address(a)), user_errors: vec![] })
}

fn order_payload(result: kanjian_kernel::Result<contract::OrderDto>) -> async_graphql::Result<OrderPayload> {
    into_payload(result, |o| OrderPayload { order: Some(Order(o)), user_errors: vec![] })
}

/// The contract's attribution of a GraphQL one (its ids checked).
pub(super) fn attribution(a: &AttributionInput) -> kanjian_kernel::Result<contract::AttributionInput> {
    Ok(contract::AttributionInput {
        source: a.source.into(),
        live_room_id: optional_id(a.live_room_id.as_ref(), NodeKind::LIVE_ROOM, "attribution.liveRoomId", LiveRoomId)?,
        video_id: optional_id(a.video_id.as_ref(), NodeKind::VIDEO, "attribution.videoId", VideoId)?,
        channel_id: optional_id(a.channel_id.as_ref(), NodeKind::CHANNEL, "attribution.channelId", ChannelId)?,
    })
}

fn optional_id<T>(id: Option<&ID>, kind: NodeKind, field: &str, wrap: fn(i64) -> T) -> kanjian_kernel::Result<Option<T>> {
    id.map(|id| input_id(id, kind, field).map(wrap)).transpose()
}

// ---------------------------------------------------------------------------------------------
// Mutations

#[derive(Default)]
pub struct CommerceMutation;

#[Object]
impl CommerceMutation {
    /// Opens a shop for an organization. Its owners only: `FORBIDDEN` for its agents,
    /// `NOT_FOUND` for anyone else. An organization that has a shop already gets
    /// `ALREADY_EXISTS`.
    async fn open_shop(&self, ctx: &Context<'_>, input: OpenShopInput) -> async_graphql::Result<ShopPayload> {
        let api = ctx.api::<dyn MerchantApi>()?;
        let result = async {
            let organization_id = OrganizationId(input_id(&input.organization_id, NodeKind::ORGANIZATION, "organizationId")?);
            let open = contract::OpenShopInput {
                organization_id,
                name: input.name,
                description: input.description,
                currency: input.currency,
                shipping_fee_minor: input.shipping_fee.0,
                free_shipping_threshold_minor: input.free_shipping_threshold.map(|t| t.0),
            };
            api.open_shop(ctx.actor(), open).await
        }
        .await;
        shop_payload(result)
    }

    /// Changes a shop's name, description or shipping. Its organization's owners only
    /// (`FORBIDDEN` otherwise).
    async fn update_shop(&self, ctx: &Context<'_>, input: UpdateShopInput) -> async_graphql::Result<ShopPayload> {
        let api = ctx.api::<dyn MerchantApi>()?;
        let result = async {
            let changes = contract::UpdateShopInput {
                shop_id: shop_id(&input.shop_id)?,
                name: input.name,
                description: input.description,
                shipping_fee_minor: input.shipping_fee.map(|f| f.0),
                free_shipping_threshold_minor: change(input.free_shipping_threshold, |t| t.0),
            };
            api.update_shop(ctx.actor(), changes).await
        }
        .await;
        shop_payload(result)
    }

    /// Adds a product with its SKUs to a shop. Its organization's owners only (`FORBIDDEN`
    /// otherwise).
    async fn create_product(&self, ctx: &Context<'_>, input: CreateProductInput) -> async_graphql::Result<ProductPayload> {
        let api = ctx.api::<dyn MerchantApi>()?;
        let result = async {
            let create = contract::CreateProductInput {
                shop_id: shop_id(&input.shop_id)?,
                title: input.title,
                description: input.description,
                category: input.category,
                image_urls: input.image_urls,
                purchase_limit: input.purchase_limit.map(i64::from),
                skus: input
                    .skus
                    .into_iter()
                    .map(|s| contract::SkuInput {
                        specs: s.specs.into_iter().map(|v| contract::SpecValue { name: v.name, value: v.value }).collect(),
                        price_minor: s.price.0,
                        stock: i64::from(s.stock),
                    })
                    .collect(),
                on_shelf: input.on_shelf,
            };
            api.create_product(ctx.actor(), create).await
        }
        .await;
        product_payload(result)
    }

    /// Changes a product's details. Its shop's owners only: `FORBIDDEN` for anyone else, or
    /// `NOT_FOUND` when the product is not listed (it does not exist for them).
    async fn update_product(&self, ctx: &Context<'_>, input: UpdateProductInput) -> async_graphql::Result<ProductPayload> {
        let api = ctx.api::<dyn MerchantApi>()?;
        let result = async {
            let changes = contract::UpdateProductInput {
                product_id: product_id(&input.product_id)?,
                title: input.title,
                description: input.description,
                category: input.category,
                image_urls: input.image_urls,
                purchase_limit: change(input.purchase_limit, i64::from),
            };
            api.update_product(ctx.actor(), changes).await
        }
        .await;
        product_payload(result)
    }

    /// Lists (ON_SHELF), delists (OFF_SHELF) or deletes (DELETED, final: it is `NOT_FOUND` from
    /// then on) a product. Its shop's owners only, as `updateProduct`.
    async fn set_product_status(&self, ctx: &Context<'_>, input: SetProductStatusInput) -> async_graphql::Result<ProductPayload> {
        let api = ctx.api::<dyn MerchantApi>()?;
        let result = async { api.set_product_status(ctx.actor(), product_id(&input.product_id)?, input.status.into()).await }.await;
        product_payload(result)
    }

    /// Changes one SKU's price or stock, or removes it from sale. Its shop's owners only, as
    /// `updateProduct`. A removed SKU cannot change any more (`INVALID_STATE`).
    async fn update_sku(&self, ctx: &Context<'_>, input: UpdateSkuInput) -> async_graphql::Result<SkuPayload> {
        let api = ctx.api::<dyn MerchantApi>()?;
        let result = async {
            let id = sku_id(&input.sku_id)?;
            let changes = contract::UpdateSkuInput {
                sku_id: id,
                price_minor: input.price.map(|p| p.0),
                stock_delta: input.stock_delta.map(i64::from),
                remove: input.remove,
            };
            Ok((id, api.update_sku(ctx.actor(), changes).await?))
        }
        .await;
        into_payload(result, |(id, product)| SkuPayload {
            sku: product.skus.iter().find(|s| s.id == id).cloned().map(|sku| Sku::new(sku, product.shop_id)),
            product: Some(Product(product)),
            user_errors: vec![],
        })
    }

    /// Adds an address to your address book (at most 20: `LIMIT_REACHED`). Signed-in only.
    async fn create_address(&self, ctx: &Context<'_>, input: CreateAddressInput) -> async_graphql::Result<AddressPayload> {
        let api = ctx.api::<dyn ShopperApi>()?;
        let address = contract::AddressInput {
            recipient: input.recipient,
            phone: input.phone,
            region: input.region,
            detail: input.detail,
            postal_code: input.postal_code,
            is_default: input.is_default,
        };
        address_payload(api.create_address(ctx.actor(), address).await)
    }

    /// Replaces one of your addresses (anyone else's is `NOT_FOUND`, like a missing one).
    async fn update_address(&self, ctx: &Context<'_>, input: UpdateAddressInput) -> async_graphql::Result<AddressPayload> {
        let api = ctx.api::<dyn ShopperApi>()?;
        let result = async {
            let id = address_id(&input.address_id)?;
            let address = contract::AddressInput {
                recipient: input.recipient,
                phone: input.phone,
                region: input.region,
                detail: input.detail,
                postal_code: input.postal_code,
                is_default: input.is_default,
            };
            api.update_address(ctx.actor(), id, address).await
        }
        .await;
        address_payload(result)
    }

    /// Removes one of your addresses (anyone else's is `NOT_FOUND`). Orders that ship to it
    /// keep their copy.
    async fn delete_address(&self, ctx: &Context<'_>, input: DeleteAddressInput) -> async_graphql::Result<DeleteAddressPayload> {
        let api = ctx.api::<dyn ShopperApi>()?;
        let result = async { api.delete_address(ctx.actor(), address_id(&input.address_id)?).await }.await;
        into_payload(result, |()| DeleteAddressPayload { deleted_address_id: Some(input.address_id.clone()), user_errors: vec![] })
    }

    /// Places an order for one SKU (立即购买) and holds its stock until the order's `payBy`.
    /// Totals are the server's: the SKU's current price × quantity, plus the shop's flat
    /// shipping unless the items reach its free-shipping threshold. Refusals come as
    /// `userErrors`: `SOLD_OUT`; `INSUFFICIENT_STOCK` (the message says how many are left);
    /// `PURCHASE_LIMIT_EXCEEDED` (the message says how many more you may buy); `UNAVAILABLE`
    /// (the product is no longer listed, was deleted, or the SKU removed); `INVALID_STATE` (the
    /// price changed at that very moment: show it again); `INVALID` on `addressId` (not one of
    /// your addresses); `IDEMPOTENCY_KEY_REUSED`; `IN_PROGRESS` (the same key is still being
    /// answered: retry); and invalid input. A SKU id that names nothing is `NOT_FOUND`.
    /// Signed-in only.
    async fn buy_now(&self, ctx: &Context<'_>, input: BuyNowInput) -> async_graphql::Result<BuyNowPayload> {
        let api = ctx.api::<dyn ShopperApi>()?;
        let result = async {
            let a = &input.attribution;
            let buy = contract::BuyNowInput {
                sku_id: sku_id(&input.sku_id)?,
                quantity: i64::from(input.quantity),
                address_id: address_id(&input.address_id)?,
                attribution: attribution(a)?,
                seen_unit_price_minor: input.seen_unit_price.map(|p| p.0),
                idempotency_key: input.idempotency_key,
            };
            api.buy_now(ctx.actor(), buy).await
        }
        .await;
        into_payload(result, |order| BuyNowPayload {
            price_changed: Some(order.lines.iter().any(|l| l.seen_unit_price.is_some())),
            order: Some(Order(order)),
            user_errors: vec![],
        })
    }

    /// Cancels one of your unpaid (PENDING_PAYMENT) orders and releases its stock. Any other
    /// state is `INVALID_STATE`; anyone else's order is `NOT_FOUND`, like a missing one.
    async fn cancel_order(&self, ctx: &Context<'_>, input: CancelOrderInput) -> async_graphql::Result<OrderPayload> {
        let api = ctx.api::<dyn ShopperApi>()?;
        let result = async {
            let cancel = contract::CancelOrderInput { order_id: order_id(&input.order_id)?, idempotency_key: input.idempotency_key };
            api.cancel_order(ctx.actor(), cancel).await
        }
        .await;
        order_payload(result)
    }

    /// Confirms you received one of your SHIPPED orders: it is COMPLETED. Any other state is
    /// `INVALID_STATE`; anyone else's order is `NOT_FOUND`.
    async fn confirm_receipt(&self, ctx: &Context<'_>, input: ConfirmReceiptInput) -> async_graphql::Result<OrderPayload> {
        let api = ctx.api::<dyn ShopperApi>()?;
        let result = async { api.confirm_receipt(ctx.actor(), order_id(&input.order_id)?).await }.await;
        order_payload(result)
    }

    /// Ships a PAID order of your shop with its tracking number: it is SHIPPED. Owners and
    /// agents of the shop's organization only: its buyer gets `FORBIDDEN`, anyone else
    /// `NOT_FOUND`. Any other state is `INVALID_STATE`.
    async fn ship_order(&self, ctx: &Context<'_>, input: ShipOrderInput) -> async_graphql::Result<OrderPayload> {
        let api = ctx.api::<dyn MerchantApi>()?;
        let result = async {
            let ship = contract::ShipOrderInput {
                order_id: order_id(&input.order_id)?,
                carrier: input.carrier,
                tracking_number: input.tracking_number,
            };
            api.ship_order(ctx.actor(), ship).await
        }
        .await;
        order_payload(result)
    }
}
