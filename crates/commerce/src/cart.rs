//! The shopper's cart (购物车): SKUs from any shops, priced as of now whenever it is read, and
//! checked out into one order per shop, all placed or none.

use std::collections::{BTreeMap, HashMap};

use kanjian_contracts::commerce::{
    AddToCartInput, AttributionDto, AttributionInput, CartDto, CartItemDto, CartProblem, CartShopDto, CheckoutInput, MAX_CART_ITEMS,
    MAX_QUANTITY, OrderDto, ProductStatus,
};
use kanjian_db::idempotency::{self, Begun, Key};
use kanjian_kernel::ids::{OrderId, ProductId, ShopId, SkuId, UserId};
use kanjian_kernel::{Actor, Context, Error, Money, Result, UserErrorCode, Validation};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde::Serialize;

use crate::Deps;
use crate::access::{self, execute, money};
use crate::entity::{cart_item, sku};
use crate::orders::{self, Field, LineRequest};
use crate::{domain, products};

fn attribution_dto(a: AttributionInput) -> AttributionDto {
    AttributionDto { source: a.source, live_room_id: a.live_room_id, video_id: a.video_id, creator_channel_id: a.channel_id, commission_bps: None }
}

pub(crate) async fn cart(deps: &Deps, actor: &Actor) -> Result<CartDto> {
    let user = actor.require_user()?;
    let items = cart_item::Entity::find()
        .filter(cart_item::Column::UserId.eq(user.0))
        .order_by_desc(cart_item::Column::UpdatedAt)
        .order_by_desc(cart_item::Column::SkuId)
        .all(deps.db.reader())
        .await
        .context("loading a cart")?;
    let (skus, products) = products::skus_with_products(deps.db.reader(), items.iter().map(|i| i.sku_id)).await?;
    // Shops in the order of their newest item; items newest first within each.
    let mut order: Vec<i64> = Vec::new();
    let mut by_shop: HashMap<i64, Vec<CartItemDto>> = HashMap::new();
    let item_count = items.len();
    for item in items {
        // A SKU whose product was deleted for good is dropped from view (its row goes at checkout).
        let Some(sku) = skus.get(&item.sku_id) else { continue };
        let Some(product) = products.get(&sku.product_id) else { continue };
        let on_sale = product.status == ProductStatus::OnShelf.as_str() && !sku.removed;
        let problem = if !on_sale {
            Some(CartProblem::Unavailable)
        } else if sku.stock == 0 {
            Some(CartProblem::SoldOut)
        } else if sku.stock < item.quantity {
            Some(CartProblem::InsufficientStock)
        } else {
            None
        };
        let unit = money(sku.price_minor, &sku.currency)?;
        let attribution: AttributionInput = serde_json::from_str(&item.attribution).context("reading a cart item's attribution")?;
        if !by_shop.contains_key(&sku.shop_id) {
            order.push(sku.shop_id);
        }
        by_shop.entry(sku.shop_id).or_default().push(CartItemDto {
            sku_id: SkuId(sku.id),
            product_id: ProductId(product.id),
            shop_id: ShopId(sku.shop_id),
            title: product.title.clone(),
            specs: products::specs_of(&sku.specs)?,
            image_url: products::images_of(product)?.into_iter().next(),
            unit_price: unit,
            quantity: item.quantity,
            amount: unit.checked_mul(item.quantity).ok_or_else(|| Error::internal("a cart amount overflowed"))?,
            attribution: attribution_dto(attribution),
            problem,
            added_at: item.added_at,
        });
    }
    let mut shops = Vec::with_capacity(order.len());
    for shop_id in order {
        let items = by_shop.remove(&shop_id).unwrap_or_default();
        let shop = access::find_shop(deps.db.reader(), ShopId(shop_id)).await?.ok_or_else(|| Error::internal("a SKU without its shop"))?;
        let currency = access::currency_of(&shop.currency)?;
        let mut items_total = Money::new(0, currency);
        for item in items.iter().filter(|i| i.problem.is_none()) {
            items_total = items_total.checked_add(item.amount).ok_or_else(|| Error::internal("a cart total overflowed"))?;
        }
        let shipping = if items_total.minor == 0 {
            Money::new(0, currency)
        } else {
            domain::shipping_for(
                items_total,
                Money::new(shop.shipping_fee_minor, currency),
                shop.free_shipping_threshold_minor.map(|m| Money::new(m, currency)),
            )
        };
        let total = items_total.checked_add(shipping).ok_or_else(|| Error::internal("a cart total overflowed"))?;
        shops.push(CartShopDto { shop_id: ShopId(shop_id), items, items_total, shipping_fee: shipping, total });
    }
    Ok(CartDto { shops, item_count })
}

#[tracing::instrument(skip_all, fields(sku_id = input.sku_id.0, quantity = input.quantity))]
pub(crate) async fn add(deps: &Deps, actor: &Actor, input: AddToCartInput) -> Result<CartDto> {
    let user = actor.require_user()?;
    let mut validation = Validation::new();
    validation.check(domain::parse_quantity(input.quantity));
    validation.check(orders::check_attribution(&input.attribution));
    validation.finish()?;
    let sku = sku::Entity::find_by_id(input.sku_id.0).one(deps.db.reader()).await.context("loading a SKU")?.ok_or_else(|| Error::not_found("SKU"))?;
    let product = products::find_product(deps.db.reader(), ProductId(sku.product_id)).await?.ok_or_else(|| Error::not_found("SKU"))?;
    if product.status != ProductStatus::OnShelf.as_str() || sku.removed {
        // Unlisted products are the shop's secret: to a shopper they do not exist.
        return Err(if product.status == ProductStatus::OffShelf.as_str() || product.status == ProductStatus::Deleted.as_str() {
            Error::not_found("SKU")
        } else {
            Error::user("skuId", UserErrorCode::Unavailable, "This product is not on sale any more.")
        });
    }
    let now = deps.db.now();
    let attribution = serde_json::to_string(&input.attribution).context("storing an attribution")?;
    let txn = deps.db.begin().await.context("starting to add to a cart")?;
    let count = cart_item::Entity::find().filter(cart_item::Column::UserId.eq(user.0)).count(&txn).await.context("counting cart items")?;
    let existing = cart_item::Entity::find_by_id((user.0, sku.id)).one(&txn).await.context("loading a cart item")?;
    if existing.is_none() && count >= MAX_CART_ITEMS as u64 {
        return Err(Error::user("", UserErrorCode::LimitReached, format!("A cart holds at most {MAX_CART_ITEMS} items; remove one first.")));
    }
    let quantity = existing.as_ref().map_or(0, |e| e.quantity) + input.quantity;
    if quantity > MAX_QUANTITY {
        return Err(Error::user("quantity", UserErrorCode::TooLong, format!("At most {MAX_QUANTITY} of one item in a cart.")));
    }
    execute(
        &txn,
        "INSERT INTO commerce_cart_items (user_id, sku_id, quantity, attribution, added_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) \
         ON CONFLICT (user_id, sku_id) DO UPDATE SET quantity = $3, attribution = $4, updated_at = $5",
        vec![user.0.into(), sku.id.into(), quantity.into(), attribution.into(), now.into()],
        "adding to a cart",
    )
    .await?;
    txn.commit().await.context("committing a cart")?;
    cart(deps, actor).await
}

#[tracing::instrument(skip_all, fields(sku_id = sku.0, quantity))]
pub(crate) async fn set_quantity(deps: &Deps, actor: &Actor, sku: SkuId, quantity: i64) -> Result<CartDto> {
    let user = actor.require_user()?;
    if quantity < 0 {
        return Err(Error::user("quantity", UserErrorCode::TooShort, "A quantity cannot be negative; 0 removes the item."));
    }
    if quantity > MAX_QUANTITY {
        return Err(Error::user("quantity", UserErrorCode::TooLong, format!("At most {MAX_QUANTITY} of one item in a cart.")));
    }
    let done = if quantity == 0 {
        execute(
            deps.db.writer(),
            "DELETE FROM commerce_cart_items WHERE user_id = $1 AND sku_id = $2",
            vec![user.0.into(), sku.0.into()],
            "removing a cart item",
        )
        .await?
    } else {
        execute(
            deps.db.writer(),
            "UPDATE commerce_cart_items SET quantity = $1, updated_at = $2 WHERE user_id = $3 AND sku_id = $4",
            vec![quantity.into(), deps.db.now().into(), user.0.into(), sku.0.into()],
            "changing a cart item",
        )
        .await?
    };
    if done.rows_affected() == 0 {
        return Err(Error::user("skuId", UserErrorCode::Invalid, "This item is not in your cart."));
    }
    cart(deps, actor).await
}

#[derive(Serialize)]
struct CheckoutFingerprint {
    skus: Vec<i64>,
    address: i64,
}

#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, items = input.sku_ids.len()))]
pub(crate) async fn checkout(deps: &Deps, actor: &Actor, input: CheckoutInput) -> Result<Vec<OrderDto>> {
    let user = actor.require_user()?;
    tracing::Span::current().record("user_id", user.0);
    let mut skus: Vec<i64> = input.sku_ids.iter().map(|s| s.0).collect();
    skus.sort_unstable();
    skus.dedup();
    if skus.is_empty() {
        return Err(Error::user("skuIds", UserErrorCode::Required, "Choose at least one item to buy."));
    }
    let key = Key { operation: "checkout", caller: format!("user:{}", user.0), key: &input.idempotency_key };
    let fingerprint = CheckoutFingerprint { skus: skus.clone(), address: input.address_id.0 };
    let claim = match idempotency::begin::<Vec<OrderId>>(&deps.db, key, &fingerprint).await? {
        Begun::Answered(ids) => return orders::orders_by_ids(deps, actor, &ids).await,
        Begun::Run(claim) => claim,
    };
    let placed = async {
        let placed = place(deps, user, &skus, &input).await?;
        idempotency::finish(&placed.txn, &claim, &placed.orders).await?;
        placed.hold_and_commit().await
    }
    .await;
    match placed {
        Ok(ids) => {
            deps.outbox.notify();
            tracing::info!(orders = ids.len(), "cart checked out");
            orders::orders_by_ids(deps, actor, &ids).await
        }
        Err(e) => {
            idempotency::release(&deps.db, claim).await?;
            Err(e)
        }
    }
}

async fn place(deps: &Deps, user: UserId, skus: &[i64], input: &CheckoutInput) -> Result<orders::Placed> {
    let items: BTreeMap<i64, cart_item::Model> = cart_item::Entity::find()
        .filter(cart_item::Column::UserId.eq(user.0))
        .filter(cart_item::Column::SkuId.is_in(skus.iter().copied()))
        .all(deps.db.reader())
        .await
        .context("loading cart items")?
        .into_iter()
        .map(|i| (i.sku_id, i))
        .collect();
    if items.len() != skus.len() {
        return Err(Error::user("skuIds", UserErrorCode::Invalid, "Some of these items are not in your cart."));
    }
    let lines = items
        .values()
        .map(|item| {
            Ok(LineRequest {
                sku_id: SkuId(item.sku_id),
                quantity: item.quantity,
                attribution: serde_json::from_str(&item.attribution).context("reading a cart item's attribution")?,
                seen_unit_price_minor: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let placed = orders::place(deps, user, input.address_id, &lines, Field::Cart).await?;
    // What was bought leaves the cart with the orders, or stays with none.
    for sku in skus {
        execute(
            &placed.txn,
            "DELETE FROM commerce_cart_items WHERE user_id = $1 AND sku_id = $2",
            vec![user.0.into(), (*sku).into()],
            "emptying bought items from a cart",
        )
        .await?;
    }
    Ok(placed)
}
