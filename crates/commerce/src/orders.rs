//! Orders: `buyNow` with its stock hold, cancelling, paying, shipping and completing, and
//! reading them as the buyer or the shop.
//!
//! Every transition is a compare-and-set on the order's state (`UPDATE … WHERE state = …`), with
//! its stock movement, timeline entry and event in the same transaction: two nodes (a payment
//! and the expiry sweep) racing on one order cannot both win, and a crash leaves either all of
//! a transition or none of it.
//!
//! Stock moves between three counts of the SKU row: `stock` (on sale) → `held` (placed, unpaid)
//! → `sold` (paid), or back from `held` to `stock` (cancelled or expired). Each move is one
//! conditional `UPDATE`; nothing is read and then written.

use std::collections::{BTreeMap, HashMap};

use kanjian_contracts::commerce::{
    AttributionDto, AttributionInput, BuyNowInput, CancelOrderInput, CancelReason, OrderCancelled, OrderCompleted, OrderDto,
    OrderEventDto, OrderEventKind, OrderFilter, OrderLineDto, OrderLineFact, OrderPaid, OrderPlaced, OrderShipped, OrderState,
    ProductStatus, SaleSource, ShipOrderInput, ShipmentDto,
};
use kanjian_db::idempotency::{self, Begun, Key, Looked, Unclaimed};
use kanjian_kernel::ids::{AddressId, ChannelId, LiveRoomId, OrderId, ProductId, ShopId, SkuId, UserId, VideoId};
use kanjian_kernel::text;
use kanjian_kernel::{Actor, Context, Error, Money, Page, PageRequest, Result, Timestamp, UserErrorCode, Validation};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::Serialize;

use crate::Deps;
use crate::access::{self, execute, money};
use crate::entity::{order, order_event, order_line, product, purchase, shop, sku};
use crate::{addresses, domain, products};

pub(crate) fn state_of(row: &order::Model) -> Result<OrderState> {
    OrderState::parse(&row.state).ok_or_else(|| Error::internal(format!("order {} has unknown state {}", row.id, row.state)))
}

fn attribution_of(line: &order_line::Model) -> Result<AttributionDto> {
    Ok(AttributionDto {
        source: SaleSource::parse(&line.source).ok_or_else(|| Error::internal(format!("unknown sale source {}", line.source)))?,
        live_room_id: line.live_room_id.map(LiveRoomId),
        video_id: line.video_id.map(VideoId),
        creator_channel_id: line.creator_channel_id.map(ChannelId),
        commission_bps: line.commission_bps,
    })
}

fn line_dto(line: &order_line::Model, currency: &str) -> Result<OrderLineDto> {
    Ok(OrderLineDto {
        product_id: ProductId(line.product_id),
        sku_id: SkuId(line.sku_id),
        title: line.title.clone(),
        specs: products::specs_of(&line.specs)?,
        image_url: line.image_url.clone(),
        unit_price: money(line.unit_price_minor, currency)?,
        quantity: line.quantity,
        amount: money(line.amount_minor, currency)?,
        seen_unit_price: line.seen_unit_price_minor.map(|m| money(m, currency)).transpose()?,
        shipping_share: money(line.shipping_share_minor, currency)?,
        attribution: attribution_of(line)?,
    })
}

pub(crate) fn order_dto(row: order::Model, lines: &[order_line::Model]) -> Result<OrderDto> {
    let state = state_of(&row)?;
    let c = row.currency.as_str();
    Ok(OrderDto {
        id: OrderId(row.id),
        buyer_id: UserId(row.buyer_id),
        shop_id: ShopId(row.shop_id),
        state,
        lines: lines.iter().map(|l| line_dto(l, c)).collect::<Result<_>>()?,
        items_total: money(row.items_total_minor, c)?,
        shipping_fee: money(row.shipping_fee_minor, c)?,
        total: money(row.total_minor, c)?,
        address: serde_json::from_str(&row.address).context("reading an order's address")?,
        pay_by: row.pay_by,
        paid_at: row.paid_at,
        shipment: match (row.carrier, row.tracking_number, row.shipped_at) {
            (Some(carrier), Some(tracking_number), Some(shipped_at)) => Some(ShipmentDto { carrier, tracking_number, shipped_at }),
            _ => None,
        },
        completed_at: row.completed_at,
        cancelled_at: row.cancelled_at,
        cancel_reason: row.cancel_reason.as_deref().and_then(CancelReason::parse),
        created_at: row.created_at,
        updated_at: row.updated_at,
        version: row.version,
    })
}

async fn lines_of<C: ConnectionTrait>(conn: &C, orders: &[i64]) -> Result<HashMap<i64, Vec<order_line::Model>>> {
    let mut by_order: HashMap<i64, Vec<order_line::Model>> = HashMap::new();
    if orders.is_empty() {
        return Ok(by_order);
    }
    for line in order_line::Entity::find()
        .filter(order_line::Column::OrderId.is_in(orders.iter().copied()))
        .order_by_asc(order_line::Column::Id)
        .all(conn)
        .await
        .context("loading order lines")?
    {
        by_order.entry(line.order_id).or_default().push(line);
    }
    Ok(by_order)
}

async fn dtos<C: ConnectionTrait>(conn: &C, rows: Vec<order::Model>) -> Result<Vec<OrderDto>> {
    let mut lines = lines_of(conn, &rows.iter().map(|r| r.id).collect::<Vec<_>>()).await?;
    rows.into_iter().map(|row| {
        let lines = lines.remove(&row.id).unwrap_or_default();
        order_dto(row, &lines)
    }).collect()
}

pub(crate) async fn one_dto<C: ConnectionTrait>(conn: &C, id: i64) -> Result<OrderDto> {
    let row = order::Entity::find_by_id(id).one(conn).await.context("loading an order")?.ok_or_else(|| Error::not_found("order"))?;
    dtos(conn, vec![row]).await?.pop().ok_or_else(|| Error::internal("an order vanished while mapping it"))
}

fn facts(lines: &[order_line::Model], currency: &str) -> Result<Vec<OrderLineFact>> {
    lines
        .iter()
        .map(|l| {
            Ok(OrderLineFact {
                product_id: ProductId(l.product_id),
                sku_id: SkuId(l.sku_id),
                quantity: l.quantity,
                amount: money(l.amount_minor, currency)?,
                attribution: attribution_of(l)?,
            })
        })
        .collect()
}

/// One timeline entry, not written yet (a batch writes many in one statement).
pub(crate) fn timeline_entry(order: i64, kind: OrderEventKind, at: Timestamp, actor: Option<UserId>, note: String) -> order_event::ActiveModel {
    order_event::ActiveModel {
        order_id: Set(order),
        kind: Set(kind.as_str().to_owned()),
        at: Set(at),
        actor_id: Set(actor.map(|u| u.0)),
        note: Set(note),
        ..Default::default()
    }
}

pub(crate) async fn add_timeline<C: ConnectionTrait>(conn: &C, order: i64, kind: OrderEventKind, at: Timestamp, actor: Option<UserId>, note: String) -> Result<()> {
    timeline_entry(order, kind, at, actor, note)
    .insert(conn)
    .await
    .context("writing an order's timeline")?;
    Ok(())
}

/// Moves an order from `from` to `to` if it is still in `from`: the compare-and-set every
/// transition is. `set` adds the transition's own columns (`$3`, `$4`, … after the id and time).
async fn transition<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    from: OrderState,
    to: OrderState,
    now: Timestamp,
    set: &str,
    mut extra: Vec<sea_orm::Value>,
) -> Result<bool> {
    let sql = format!(
        "UPDATE commerce_orders SET state = '{}', updated_at = $2, version = version + 1{set} WHERE id = $1 AND state = '{}'",
        to.as_str(),
        from.as_str()
    );
    let mut values: Vec<sea_orm::Value> = vec![id.into(), now.into()];
    values.append(&mut extra);
    Ok(execute(conn, &sql, values, "moving an order").await?.rows_affected() == 1)
}

// ---------------------------------------------------------------------------------------------
// Buying

/// What identifies a `buyNow` request for its idempotency key: everything but the key.
#[derive(Serialize)]
struct BuyNowFingerprint<'a> {
    sku: i64,
    quantity: i64,
    address: i64,
    attribution: &'a AttributionInput,
    seen_unit_price: Option<i64>,
}

pub(crate) fn check_attribution(a: &AttributionInput) -> Result<(), kanjian_kernel::UserError> {
    let missing = |field: &str, what: &str| {
        Err(kanjian_kernel::UserError::new(field, UserErrorCode::Required, format!("A sale from {what} names it.")))
    };
    match a.source {
        SaleSource::LiveRoom if a.live_room_id.is_none() => missing("attribution.liveRoomId", "a live room"),
        SaleSource::Video if a.video_id.is_none() => missing("attribution.videoId", "a video"),
        SaleSource::Showcase if a.channel_id.is_none() => missing("attribution.channelId", "a showcase"),
        _ => Ok(()),
    }
}

#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, sku_id = input.sku_id.0, quantity = input.quantity, order_id = tracing::field::Empty))]
pub(crate) async fn buy_now(deps: &std::sync::Arc<Deps>, actor: &Actor, input: BuyNowInput) -> Result<OrderDto> {
    let user = actor.require_user()?;
    tracing::Span::current().record("user_id", user.0);
    let mut validation = Validation::new();
    validation.check(domain::parse_quantity(input.quantity));
    validation.check(check_attribution(&input.attribution));
    validation.finish()?;
    let fingerprint = BuyNowFingerprint {
        sku: input.sku_id.0,
        quantity: input.quantity,
        address: input.address_id.0,
        attribution: &input.attribution,
        seen_unit_price: input.seen_unit_price_minor,
    };
    let key = Key { operation: "buy_now", caller: format!("user:{}", user.0), key: &input.idempotency_key };
    // Looked up, not claimed: the batch claims its keys in its own transaction (one commit per
    // batch, not one more per buyer).
    let key = match idempotency::look_up::<OrderId>(&deps.db, key, &fingerprint).await? {
        Looked::Answered(order) => return one_dto(deps.db.reader(), order.0).await,
        Looked::New(key) => key,
    };
    let address = match shipping_address(deps, user, input.address_id).await {
        Ok(address) => address,
        // A retry whose first call placed the order (and whose address went since) gets the order.
        Err(e) => return refuse_unless_answered(deps, &key, e).await,
    };
    let order = crate::batch::buy(deps, crate::batch::Waiting::new(user, input, key, address)).await?;
    tracing::Span::current().record("order_id", order.id.0);
    Ok(order)
}

/// Refuses a `buyNow` whose key was looked up but never claimed with `error`, unless the key
/// turns out to be answered (a first call committed since the look): then its order.
pub(crate) async fn refuse_unless_answered(deps: &Deps, key: &Unclaimed, error: Error) -> Result<OrderDto> {
    match idempotency::begin_unclaimed::<OrderId>(&deps.db, key).await? {
        Begun::Answered(order) => one_dto(deps.db.reader(), order.0).await,
        Begun::Run(claim) => {
            idempotency::release(&deps.db, claim).await?;
            Err(error)
        }
    }
}

/// One `buyNow` in a transaction of its own: its key claimed now (or answered by a call that
/// stored it meanwhile), then placed, or refused with the claim given back.
pub(crate) async fn buy_unclaimed(deps: &Deps, user: UserId, input: &BuyNowInput, key: &Unclaimed) -> Result<OrderDto> {
    match idempotency::begin_unclaimed::<OrderId>(&deps.db, key).await? {
        Begun::Answered(order) => one_dto(deps.db.reader(), order.0).await,
        Begun::Run(claim) => buy_alone(deps, user, input, claim).await,
    }
}

/// One `buyNow` in a transaction of its own, its key claimed: placed and answered, or refused
/// with the claim given back. What a batch falls back to for anything but the plain case.
pub(crate) async fn buy_alone(deps: &Deps, user: UserId, input: &BuyNowInput, claim: idempotency::Claim) -> Result<OrderDto> {
    let line = LineRequest::from(input);
    let placed = async {
        let placed = place(deps, user, input.address_id, &[line], Field::Single).await?;
        let order_id = *placed.orders.first().ok_or_else(|| Error::internal("buyNow placed no order"))?;
        idempotency::finish(&placed.txn, &claim, &order_id).await?;
        placed.hold_and_commit().await?;
        Ok(order_id)
    }
    .await;
    match placed {
        Ok(order_id) => {
            deps.outbox.notify();
            tracing::info!(order_id = order_id.0, "order placed");
            one_dto(deps.db.reader(), order_id.0).await
        }
        Err(e) => {
            idempotency::release(&deps.db, claim).await?;
            Err(e)
        }
    }
}

/// Orders written in an open transaction, their stock not held yet: the caller adds its own
/// rows (an idempotent answer, the cart's removal), then [`Placed::hold_and_commit`] takes the
/// hot rows last and commits, all or nothing.
pub(crate) struct Placed {
    pub txn: kanjian_db::Txn,
    pub orders: Vec<OrderId>,
    holds: Vec<PendingHold>,
    now: Timestamp,
    field: Field,
}

struct PendingHold {
    sku: sku::Model,
    title: String,
    quantity: i64,
}

impl Placed {
    /// Holds every line's stock, in SKU order (two checkouts never wait on each other in a
    /// cycle), then commits. On PostgreSQL the SKU rows stay locked only from here to the commit.
    pub(crate) async fn hold_and_commit(mut self) -> Result<Vec<OrderId>> {
        self.holds.sort_by_key(|h| h.sku.id);
        for h in &self.holds {
            hold(&self.txn, &h.sku, &h.title, h.quantity, self.now, self.field).await?;
        }
        self.txn.commit().await.context("committing an order")?;
        Ok(self.orders)
    }
}

/// One SKU to buy, from `buyNow` or from a cart item.
#[derive(Debug, Clone)]
pub(crate) struct LineRequest {
    pub sku_id: SkuId,
    pub quantity: i64,
    pub attribution: AttributionInput,
    pub seen_unit_price_minor: Option<i64>,
}

impl From<&BuyNowInput> for LineRequest {
    fn from(input: &BuyNowInput) -> Self {
        Self {
            sku_id: input.sku_id,
            quantity: input.quantity,
            attribution: input.attribution.clone(),
            seen_unit_price_minor: input.seen_unit_price_minor,
        }
    }
}

/// Which input field a refusal names: `buyNow`'s single SKU, or the cart's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Single,
    Cart,
}

impl Field {
    fn sku(self) -> &'static str {
        match self {
            Self::Single => "skuId",
            Self::Cart => "skuIds",
        }
    }

    fn quantity(self) -> &'static str {
        match self {
            Self::Single => "quantity",
            Self::Cart => "skuIds",
        }
    }
}

fn unavailable(field: Field, title: &str) -> Error {
    let message = match field {
        Field::Single => "This product is not on sale any more.".to_owned(),
        Field::Cart => format!("{title} is not on sale any more."),
    };
    Error::user(field.sku(), UserErrorCode::Unavailable, message)
}

/// Everything a line needs, loaded before the transaction.
pub(crate) struct Priced<'a> {
    pub request: &'a LineRequest,
    pub sku: sku::Model,
    pub product: product::Model,
    pub unit: Money,
    pub amount: Money,
    /// The channel the sale is credited to, and the commission in force.
    pub creator: Option<i64>,
    pub commission_bps: Option<i64>,
}

/// Places one order per shop for `lines`, in one open transaction handed back uncommitted with
/// the holds still to take ([`Placed`]), so an idempotent answer (or the cart's removal) commits
/// with it. Every line holds its stock or nothing is placed.
pub(crate) async fn place(
    deps: &Deps,
    user: UserId,
    address_id: AddressId,
    lines: &[LineRequest],
    field: Field,
) -> Result<Placed> {
    let shipping_address = shipping_address(deps, user, address_id).await?;
    let (skus, products) = products::skus_with_products(deps.db.reader(), lines.iter().map(|l| l.sku_id.0)).await?;
    let mut shops: HashMap<i64, shop::Model> = HashMap::new();
    let mut priced = Vec::with_capacity(lines.len());
    for request in lines {
        let sku = skus.get(&request.sku_id.0).cloned().ok_or_else(|| Error::not_found("SKU"))?;
        let product = products.get(&sku.product_id).cloned().ok_or_else(|| Error::not_found("SKU"))?;
        if product.status != ProductStatus::OnShelf.as_str() || sku.removed {
            // Off the shelf, deleted, or a removed SKU: the shopper saw it once; say it is gone.
            return Err(unavailable(field, &product.title));
        }
        if !shops.contains_key(&sku.shop_id) {
            let shop = access::find_shop(deps.db.reader(), ShopId(sku.shop_id)).await?.ok_or_else(|| Error::internal("a SKU without its shop"))?;
            shops.insert(shop.id, shop);
        }
        let currency = access::currency_of(&sku.currency)?;
        let unit = Money::new(sku.price_minor, currency);
        let amount = unit.checked_mul(request.quantity).ok_or_else(|| Error::internal("an order total overflowed"))?;
        let (creator, commission_bps) = crate::affiliates::credit(deps, user, &request.attribution, product.id).await?;
        priced.push(Priced { request, sku, product, unit, amount, creator, commission_bps });
    }
    // Per product, every line's units together against the limit.
    let mut per_product: BTreeMap<i64, (i64, Option<i64>, String)> = BTreeMap::new();
    for p in &priced {
        let entry = per_product.entry(p.product.id).or_insert((0, p.product.purchase_limit, p.product.title.clone()));
        entry.0 += p.request.quantity;
    }
    for (quantity, limit, title) in per_product.values() {
        if let Some(limit) = limit
            && quantity > limit
        {
            let message = match field {
                Field::Single => format!("Each person may buy at most {limit} of this product."),
                Field::Cart => format!("Each person may buy at most {limit} of {title}."),
            };
            return Err(Error::user(field.quantity(), UserErrorCode::PurchaseLimitExceeded, message));
        }
    }
    let now = deps.db.now();
    let pay_by = now + deps.config.payment_window();
    // One order per shop, in shop order.
    let mut by_shop: BTreeMap<i64, Vec<&Priced<'_>>> = BTreeMap::new();
    for p in &priced {
        by_shop.entry(p.sku.shop_id).or_default().push(p);
    }

    let txn = deps.db.begin().await.context("starting to place an order")?;
    for (product, (quantity, limit, title)) in &per_product {
        reserve_allowance(&txn, user, *product, *quantity, *limit, title, field).await?;
    }
    let mut placed = Vec::with_capacity(by_shop.len());
    for (shop_id, items) in &by_shop {
        let shop = shops.get(shop_id).ok_or_else(|| Error::internal("a shop vanished"))?;
        let draft = draft_order(user, shop, items, &shipping_address, now, pay_by)?;
        let order = draft.order.insert(&txn).await.context("placing an order")?;
        let mut rows = Vec::with_capacity(draft.lines.len());
        for mut line in draft.lines {
            line.order_id = Set(order.id);
            rows.push(line.insert(&txn).await.context("writing an order line")?);
        }
        add_timeline(&txn, order.id, OrderEventKind::Placed, now, Some(user), draft.note).await?;
        deps.outbox.enqueue(&txn, &placed_event(&order, &rows)?).await?;
        placed.push(OrderId(order.id));
    }
    let holds = priced
        .into_iter()
        .map(|p| PendingHold { title: p.product.title.clone(), quantity: p.request.quantity, sku: p.sku })
        .collect();
    Ok(Placed { txn, orders: placed, holds, now, field })
}

/// The buyer's address as the order keeps it (a copy: later edits of the book do not move a
/// placed order), or a refusal naming `addressId` when it is not theirs.
pub(crate) async fn shipping_address(deps: &Deps, user: UserId, address_id: AddressId) -> Result<String> {
    let address = addresses::own(deps.db.reader(), user, address_id).await.map_err(|e| match e {
        Error::NotFound(_) => Error::user("addressId", UserErrorCode::Invalid, "This address is not in your address book."),
        other => other,
    })?;
    serde_json::to_string(&addresses::shipping_copy(&address)?).context("storing an order's address")
}

/// One shop's order, not written yet: the lines' `order_id` is set once the order has its id.
pub(crate) struct Draft {
    pub order: order::ActiveModel,
    pub lines: Vec<order_line::ActiveModel>,
    /// The timeline's note on placing it: prices that changed since the buyer saw them.
    pub note: String,
}

/// Prices one shop's `items` into an order: items total, the shop's shipping fee (free over its
/// threshold) split over the lines, the total.
pub(crate) fn draft_order(user: UserId, shop: &shop::Model, items: &[&Priced<'_>], address: &str, now: Timestamp, pay_by: Timestamp) -> Result<Draft> {
    let currency = access::currency_of(&shop.currency)?;
    let mut items_total = Money::new(0, currency);
    for item in items {
        items_total = items_total.checked_add(item.amount).ok_or_else(|| Error::internal("an order total overflowed"))?;
    }
    let shipping = domain::shipping_for(
        items_total,
        Money::new(shop.shipping_fee_minor, currency),
        shop.free_shipping_threshold_minor.map(|m| Money::new(m, currency)),
    );
    let total = items_total.checked_add(shipping).ok_or_else(|| Error::internal("an order total overflowed"))?;
    let shares = shipping
        .allocate(&items.iter().map(|i| i.amount.minor).collect::<Vec<_>>())
        .ok_or_else(|| Error::internal("shipping could not be split over the lines"))?;
    let order = order::ActiveModel {
        buyer_id: Set(user.0),
        shop_id: Set(shop.id),
        state: Set(OrderState::PendingPayment.as_str().to_owned()),
        currency: Set(shop.currency.clone()),
        items_total_minor: Set(items_total.minor),
        shipping_fee_minor: Set(shipping.minor),
        total_minor: Set(total.minor),
        address: Set(address.to_owned()),
        pay_by: Set(pay_by),
        paid_at: Set(None),
        shipped_at: Set(None),
        carrier: Set(None),
        tracking_number: Set(None),
        completed_at: Set(None),
        cancelled_at: Set(None),
        cancel_reason: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
        ..Default::default()
    };
    let mut lines = Vec::with_capacity(items.len());
    let mut notes = Vec::new();
    for (item, share) in items.iter().zip(shares) {
        let a = &item.request.attribution;
        let seen = item.request.seen_unit_price_minor.filter(|&seen| seen != item.sku.price_minor);
        if let Some(seen) = seen {
            notes.push(format!("The price of {} changed from {} to {} before the order was placed.", item.product.title, Money::new(seen, currency), item.unit));
        }
        lines.push(order_line::ActiveModel {
            product_id: Set(item.product.id),
            sku_id: Set(item.sku.id),
            title: Set(item.product.title.clone()),
            specs: Set(item.sku.specs.clone()),
            image_url: Set(products::images_of(&item.product)?.into_iter().next()),
            unit_price_minor: Set(item.unit.minor),
            quantity: Set(item.request.quantity),
            amount_minor: Set(item.amount.minor),
            seen_unit_price_minor: Set(seen),
            shipping_share_minor: Set(share.minor),
            source: Set(a.source.as_str().to_owned()),
            live_room_id: Set(a.live_room_id.map(|i| i.0)),
            video_id: Set(a.video_id.map(|i| i.0)),
            creator_channel_id: Set(item.creator),
            commission_bps: Set(item.commission_bps),
            ..Default::default()
        });
    }
    Ok(Draft { order, lines, note: notes.join(" ") })
}

/// The event of an order just placed.
pub(crate) fn placed_event(order: &order::Model, lines: &[order_line::Model]) -> Result<OrderPlaced> {
    Ok(OrderPlaced {
        order_id: OrderId(order.id),
        buyer_id: UserId(order.buyer_id),
        shop_id: ShopId(order.shop_id),
        lines: facts(lines, &order.currency)?,
        total: money(order.total_minor, &order.currency)?,
        version: 1,
        pay_by: order.pay_by,
    })
}

/// Counts `quantity` against the person's purchase limit of the product, by a conditional
/// upsert: two orders racing for the last allowance cannot both pass.
async fn reserve_allowance<C: ConnectionTrait>(
    conn: &C,
    user: UserId,
    product: i64,
    quantity: i64,
    limit: Option<i64>,
    title: &str,
    field: Field,
) -> Result<()> {
    let cap = limit.unwrap_or(i64::MAX);
    let done = execute(
        conn,
        "INSERT INTO commerce_purchases (user_id, product_id, quantity) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id, product_id) DO UPDATE SET quantity = commerce_purchases.quantity + excluded.quantity \
         WHERE commerce_purchases.quantity + excluded.quantity <= $4",
        vec![user.0.into(), product.into(), quantity.into(), cap.into()],
        "counting a purchase against its limit",
    )
    .await?;
    if done.rows_affected() == 1 {
        return Ok(());
    }
    let bought = purchase::Entity::find_by_id((user.0, product)).one(conn).await.context("loading a purchase count")?.map_or(0, |p| p.quantity);
    let left = (cap - bought).max(0);
    let what = match field {
        Field::Single => "this product".to_owned(),
        Field::Cart => title.to_owned(),
    };
    Err(Error::user(
        field.quantity(),
        UserErrorCode::PurchaseLimitExceeded,
        if left == 0 {
            format!("You already bought the most allowed ({cap}) of {what}.")
        } else {
            format!("Each person may buy at most {cap} of {what}; you may buy {left} more.")
        },
    ))
}

/// Moves `quantity` units from on sale to held, if they are there and the price is still the
/// one the order charges.
pub(crate) async fn hold<C: ConnectionTrait>(conn: &C, sku: &sku::Model, title: &str, quantity: i64, now: Timestamp, field: Field) -> Result<()> {
    let done = execute(
        conn,
        "UPDATE commerce_skus SET stock = stock - $1, held = held + $1, updated_at = $2 \
         WHERE id = $3 AND stock >= $1 AND removed = FALSE AND price_minor = $4",
        vec![quantity.into(), now.into(), sku.id.into(), sku.price_minor.into()],
        "holding stock",
    )
    .await?;
    if done.rows_affected() == 1 {
        return Ok(());
    }
    let current = sku::Entity::find_by_id(sku.id).one(conn).await.context("loading a SKU")?.ok_or_else(|| unavailable(field, title))?;
    let named = |single: &str, cart: String| if field == Field::Single { single.to_owned() } else { cart };
    Err(if current.removed {
        unavailable(field, title)
    } else if current.price_minor != sku.price_minor {
        Error::user(field.sku(), UserErrorCode::InvalidState, named("The price changed a moment ago; look at it again before buying.", format!("The price of {title} changed a moment ago; look at it again before buying.")))
    } else if current.stock == 0 {
        sold_out(field, title)
    } else {
        Error::user(field.quantity(), UserErrorCode::InsufficientStock, named(&format!("Only {} left.", current.stock), format!("Only {} of {title} left.", current.stock)))
    })
}

pub(crate) fn sold_out(field: Field, title: &str) -> Error {
    let message = match field {
        Field::Single => "Sold out.".to_owned(),
        Field::Cart => format!("{title} is sold out."),
    };
    Error::user(field.sku(), UserErrorCode::SoldOut, message)
}

/// Gives an unpaid order's units back to sale and to the buyer's allowance.
async fn release<C: ConnectionTrait>(conn: &C, buyer: i64, lines: &[order_line::Model], now: Timestamp) -> Result<()> {
    for line in lines {
        execute(
            conn,
            "UPDATE commerce_skus SET stock = stock + $1, held = held - $1, updated_at = $2 WHERE id = $3",
            vec![line.quantity.into(), now.into(), line.sku_id.into()],
            "releasing held stock",
        )
        .await?;
        execute(
            conn,
            "UPDATE commerce_purchases SET quantity = quantity - $1 WHERE user_id = $2 AND product_id = $3",
            vec![line.quantity.into(), buyer.into(), line.product_id.into()],
            "giving a purchase allowance back",
        )
        .await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Transitions

/// Cancels an unpaid order (compare-and-set) and releases its stock, in `conn`'s transaction.
/// `false` when the order was no longer unpaid.
async fn cancel_in<C: ConnectionTrait>(deps: &Deps, conn: &C, row: &order::Model, reason: CancelReason, by: Option<UserId>) -> Result<bool> {
    let now = deps.db.now();
    if !transition(
        conn,
        row.id,
        OrderState::PendingPayment,
        OrderState::Cancelled,
        now,
        ", cancelled_at = $2, cancel_reason = $3",
        vec![reason.as_str().into()],
    )
    .await?
    {
        return Ok(false);
    }
    let lines = lines_of(conn, &[row.id]).await?.remove(&row.id).unwrap_or_default();
    release(conn, row.buyer_id, &lines, now).await?;
    // Its open payment attempts close; money that still arrives for one is refunded.
    execute(
        conn,
        "UPDATE commerce_payments SET state = 'CLOSED', updated_at = $1 WHERE order_id = $2 AND state = 'CREATED'",
        vec![now.into(), row.id.into()],
        "closing an order's payment attempts",
    )
    .await?;
    let note = match reason {
        CancelReason::Buyer => "Cancelled by the buyer.",
        CancelReason::PaymentExpired => "Cancelled: not paid within the payment window.",
    };
    add_timeline(conn, row.id, OrderEventKind::Cancelled, now, by, note.to_owned()).await?;
    deps.outbox
        .enqueue(
            conn,
            &OrderCancelled {
                order_id: OrderId(row.id),
                buyer_id: UserId(row.buyer_id),
                shop_id: ShopId(row.shop_id),
                lines: facts(&lines, &row.currency)?,
                total: money(row.total_minor, &row.currency)?,
                version: row.version + 1,
                reason,
            },
        )
        .await?;
    Ok(true)
}

/// The actor's own order; anyone else's is `NOT_FOUND`.
pub(crate) async fn own_order<C: ConnectionTrait>(conn: &C, actor: &Actor, id: OrderId) -> Result<order::Model> {
    let user = actor.require_user()?;
    order::Entity::find_by_id(id.0)
        .one(conn)
        .await
        .context("loading an order")?
        .filter(|o| o.buyer_id == user.0)
        .ok_or_else(|| Error::not_found("order"))
}

pub(crate) fn wrong_state(what: &str, state: OrderState) -> Error {
    Error::user("orderId", UserErrorCode::InvalidState, format!("{what}; this order is {}.", state.as_str()))
}

#[tracing::instrument(skip_all, fields(order_id = input.order_id.0))]
pub(crate) async fn cancel_by_buyer(deps: &Deps, actor: &Actor, input: CancelOrderInput) -> Result<OrderDto> {
    let user = actor.require_user()?;
    let row = own_order(deps.db.reader(), actor, input.order_id).await?;
    let key = Key { operation: "cancel_order", caller: format!("user:{}", user.0), key: &input.idempotency_key };
    let claim = match idempotency::begin::<OrderId>(&deps.db, key, &input.order_id.0).await? {
        Begun::Answered(order) => return one_dto(deps.db.reader(), order.0).await,
        Begun::Run(claim) => claim,
    };
    let run = async {
        let txn = deps.db.begin().await.context("starting to cancel an order")?;
        if !cancel_in(deps, &txn, &row, CancelReason::Buyer, Some(user)).await? {
            let now = order::Entity::find_by_id(row.id).one(&txn).await.context("loading an order")?.ok_or_else(|| Error::not_found("order"))?;
            return Err(wrong_state("Only an unpaid order can be cancelled", state_of(&now)?));
        }
        Ok(txn)
    };
    match run.await {
        Ok(txn) => {
            idempotency::finish(&txn, &claim, &OrderId(row.id)).await?;
            txn.commit().await.context("committing a cancellation")?;
            deps.outbox.notify();
            tracing::info!("order cancelled by its buyer");
            one_dto(deps.db.reader(), row.id).await
        }
        Err(e) => {
            idempotency::release(&deps.db, claim).await?;
            Err(e)
        }
    }
}

/// Cancels an order past its payment window (the sweep); `false` when it moved meanwhile.
pub(crate) async fn expire(deps: &Deps, id: i64) -> Result<bool> {
    // A payment whose notification is late is found here rather than refunded later.
    crate::payments::settle_open_attempts(deps, id).await?;
    let txn = deps.db.begin().await.context("starting to expire an order")?;
    let Some(row) = order::Entity::find_by_id(id).one(&txn).await.context("loading an order")? else { return Ok(false) };
    if row.pay_by > deps.db.now() || !cancel_in(deps, &txn, &row, CancelReason::PaymentExpired, None).await? {
        return Ok(false);
    }
    txn.commit().await.context("committing an expiry")?;
    deps.outbox.notify();
    tracing::info!(order_id = id, "unpaid order expired");
    Ok(true)
}

/// Marks an unpaid order paid (compare-and-set) in `conn`'s transaction: its held stock becomes
/// sold. `false` when it was no longer unpaid (cancelled, expired, or paid by another attempt).
pub(crate) async fn pay_in<C: ConnectionTrait>(deps: &Deps, conn: &C, id: OrderId, now: Timestamp) -> Result<bool> {
    let Some(row) = order::Entity::find_by_id(id.0).one(conn).await.context("loading an order")? else { return Ok(false) };
    if !transition(conn, row.id, OrderState::PendingPayment, OrderState::Paid, now, ", paid_at = $2", vec![]).await? {
        return Ok(false);
    }
    let lines = lines_of(conn, &[row.id]).await?.remove(&row.id).unwrap_or_default();
    // Held becomes sold off the SKU row, which the holds keep busy (`stock.rs`).
    crate::stock::record_sold(conn, &lines).await?;
    add_timeline(conn, row.id, OrderEventKind::Paid, now, None, String::new()).await?;
    deps.outbox
        .enqueue(
            conn,
            &OrderPaid {
                order_id: id,
                buyer_id: UserId(row.buyer_id),
                shop_id: ShopId(row.shop_id),
                lines: facts(&lines, &row.currency)?,
                total: money(row.total_minor, &row.currency)?,
                version: row.version + 1,
                paid_at: now,
            },
        )
        .await?;
    Ok(true)
}

#[tracing::instrument(skip_all, fields(order_id = id.0))]
pub(crate) async fn mark_paid(deps: &Deps, id: OrderId) -> Result<Option<OrderDto>> {
    let txn = deps.db.begin().await.context("starting to mark an order paid")?;
    if !pay_in(deps, &txn, id, deps.db.now()).await? {
        return Ok(None);
    }
    txn.commit().await.context("committing a payment")?;
    deps.outbox.notify();
    tracing::info!("order paid");
    Ok(Some(one_dto(deps.db.reader(), id.0).await?))
}

/// The order, for a member (owner or agent) of its shop: `NOT_FOUND` for anyone else.
async fn order_as_member(deps: &Deps, actor: &Actor, id: OrderId) -> Result<(order::Model, shop::Model)> {
    actor.require_user()?;
    let row = order::Entity::find_by_id(id.0).one(deps.db.reader()).await.context("loading an order")?.ok_or_else(|| Error::not_found("order"))?;
    let shop = access::find_shop(deps.db.reader(), ShopId(row.shop_id)).await?.ok_or_else(|| Error::internal("an order without its shop"))?;
    if access::role_in(deps, actor, &shop).await?.is_none() {
        // The buyer sees their order but may not ship it; to a stranger it does not exist.
        return Err(if actor.user_id() == Some(UserId(row.buyer_id)) {
            Error::forbidden("only the shop ships its orders")
        } else {
            Error::not_found("order")
        });
    }
    Ok((row, shop))
}

#[tracing::instrument(skip_all, fields(order_id = input.order_id.0))]
pub(crate) async fn ship(deps: &Deps, actor: &Actor, input: ShipOrderInput) -> Result<OrderDto> {
    let mut validation = Validation::new();
    let carrier = validation.check(text::parse(&input.carrier, &domain::CARRIER));
    let tracking = validation.check(text::parse(&input.tracking_number, &domain::TRACKING_NUMBER));
    validation.finish()?;
    let (Some(carrier), Some(tracking)) = (carrier, tracking) else { return Err(Error::internal("validation passed without values")) };
    let (row, _) = order_as_member(deps, actor, input.order_id).await?;
    let now = deps.db.now();
    let txn = deps.db.begin().await.context("starting to ship an order")?;
    if !transition(
        &txn,
        row.id,
        OrderState::Paid,
        OrderState::Shipped,
        now,
        ", shipped_at = $2, carrier = $3, tracking_number = $4",
        vec![carrier.clone().into(), tracking.clone().into()],
    )
    .await?
    {
        return Err(wrong_state("Only a paid order can be shipped", state_of(&row)?));
    }
    let lines = lines_of(&txn, &[row.id]).await?.remove(&row.id).unwrap_or_default();
    add_timeline(&txn, row.id, OrderEventKind::Shipped, now, actor.user_id(), format!("{carrier} {tracking}")).await?;
    deps.outbox
        .enqueue(
            &txn,
            &OrderShipped {
                order_id: OrderId(row.id),
                buyer_id: UserId(row.buyer_id),
                shop_id: ShopId(row.shop_id),
                lines: facts(&lines, &row.currency)?,
                total: money(row.total_minor, &row.currency)?,
                version: row.version + 1,
                carrier,
                tracking_number: tracking,
            },
        )
        .await?;
    txn.commit().await.context("committing a shipment")?;
    deps.outbox.notify();
    tracing::info!("order shipped");
    one_dto(deps.db.reader(), row.id).await
}

/// Completes a SHIPPED order (compare-and-set); `false` when it was not shipped.
async fn complete(deps: &Deps, row: &order::Model, by: Option<UserId>) -> Result<bool> {
    let now = deps.db.now();
    let txn = deps.db.begin().await.context("starting to complete an order")?;
    if !transition(&txn, row.id, OrderState::Shipped, OrderState::Completed, now, ", completed_at = $2", vec![]).await? {
        return Ok(false);
    }
    let lines = lines_of(&txn, &[row.id]).await?.remove(&row.id).unwrap_or_default();
    let note = if by.is_some() { "Receipt confirmed by the buyer." } else { "Completed automatically after the confirm window." };
    add_timeline(&txn, row.id, OrderEventKind::Completed, now, by, note.to_owned()).await?;
    deps.outbox
        .enqueue(
            &txn,
            &OrderCompleted {
                order_id: OrderId(row.id),
                buyer_id: UserId(row.buyer_id),
                shop_id: ShopId(row.shop_id),
                lines: facts(&lines, &row.currency)?,
                total: money(row.total_minor, &row.currency)?,
                version: row.version + 1,
                completed_at: now,
            },
        )
        .await?;
    txn.commit().await.context("committing a completion")?;
    deps.outbox.notify();
    Ok(true)
}

#[tracing::instrument(skip_all, fields(order_id = id.0))]
pub(crate) async fn confirm_receipt(deps: &Deps, actor: &Actor, id: OrderId) -> Result<OrderDto> {
    let user = actor.require_user()?;
    let row = own_order(deps.db.reader(), actor, id).await?;
    if !complete(deps, &row, Some(user)).await? {
        let now = order::Entity::find_by_id(row.id).one(deps.db.reader()).await.context("loading an order")?.ok_or_else(|| Error::not_found("order"))?;
        return Err(wrong_state("Only a shipped order can be confirmed as received", state_of(&now)?));
    }
    tracing::info!("receipt confirmed");
    one_dto(deps.db.reader(), row.id).await
}

/// Completes a shipped order past its confirm window (the sweep).
pub(crate) async fn auto_complete(deps: &Deps, id: i64) -> Result<bool> {
    let Some(row) = order::Entity::find_by_id(id).one(deps.db.reader()).await.context("loading an order")? else { return Ok(false) };
    complete(deps, &row, None).await
}

// ---------------------------------------------------------------------------------------------
// Reading

async fn list(deps: &Deps, column: order::Column, owner: i64, filter: OrderFilter, page: PageRequest) -> Result<Page<OrderDto>> {
    let limit = page.limit();
    let after: Option<i64> = page.after_key()?;
    let mut query = order::Entity::find().filter(column.eq(owner));
    if !filter.states.is_empty() {
        query = query.filter(order::Column::State.is_in(filter.states.iter().map(|s| s.as_str())));
    }
    if let Some(after) = after {
        query = query.filter(order::Column::Id.lt(after));
    }
    let rows = query.order_by_desc(order::Column::Id).limit(u64::from(limit) + 1).all(deps.db.reader()).await.context("listing orders")?;
    let rows = dtos(deps.db.reader(), rows).await?;
    Ok(Page::from_rows(rows, limit, after.is_some(), |o| o.id.0))
}

pub(crate) async fn my_orders(deps: &Deps, actor: &Actor, filter: OrderFilter, page: PageRequest) -> Result<Page<OrderDto>> {
    let user = actor.require_user()?;
    list(deps, order::Column::BuyerId, user.0, filter, page).await
}

pub(crate) async fn shop_orders(deps: &Deps, actor: &Actor, shop: ShopId, filter: OrderFilter, page: PageRequest) -> Result<Page<OrderDto>> {
    access::shop_as_member(deps, actor, shop).await?;
    list(deps, order::Column::ShopId, shop.0, filter, page).await
}

pub(crate) async fn orders_by_ids(deps: &Deps, actor: &Actor, ids: &[OrderId]) -> Result<Vec<OrderDto>> {
    let Some(user) = actor.user_id() else { return Ok(Vec::new()) };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = order::Entity::find()
        .filter(order::Column::Id.is_in(ids.iter().map(|i| i.0)))
        .all(deps.db.reader())
        .await
        .context("loading orders")?;
    let others: Vec<i64> = rows.iter().filter(|o| o.buyer_id != user.0).map(|o| o.shop_id).collect();
    let shops = if others.is_empty() {
        Vec::new()
    } else {
        shop::Entity::find().filter(shop::Column::Id.is_in(others)).all(deps.db.reader()).await.context("loading shops")?
    };
    let roles = access::member_shops(deps, actor, &shops.iter().collect::<Vec<_>>()).await?;
    let rows: Vec<order::Model> = rows.into_iter().filter(|o| o.buyer_id == user.0 || roles.contains_key(&o.shop_id)).collect();
    let rows = access::in_order_of(ids, rows, |o| OrderId(o.id));
    dtos(deps.db.reader(), rows).await
}

pub(crate) async fn timeline(deps: &Deps, actor: &Actor, id: OrderId) -> Result<Vec<OrderEventDto>> {
    if orders_by_ids(deps, actor, &[id]).await?.is_empty() {
        return Err(Error::not_found("order"));
    }
    order_event::Entity::find()
        .filter(order_event::Column::OrderId.eq(id.0))
        .order_by_asc(order_event::Column::Id)
        .all(deps.db.reader())
        .await
        .context("loading an order's timeline")?
        .into_iter()
        .map(|e| {
            Ok(OrderEventDto {
                kind: OrderEventKind::parse(&e.kind).ok_or_else(|| Error::internal(format!("unknown order event {}", e.kind)))?,
                at: e.at,
                actor_id: e.actor_id.map(UserId),
                note: e.note,
            })
        })
        .collect()
}
