//! Products in a live room (讲解中): the creator or a moderator pins one of the channel's
//! showcase while LIVE, viewers see it with the price and stock of each SKU, and its changes
//! and "just bought" reach them through the room's feed.
//!
//! Commerce's order and SKU events come in through [`ShopEventsHandler`], which only notes
//! them on this node (no I/O per event). Two flushes turn the notes into room messages:
//!
//! - [`flush_bought`] every `comment_batch_ms`: paid order lines attributed to a room become
//!   one `JustBought` message per room (its newest [`MAX_BOUGHT_PER_FLUSH`]).
//! - [`refresh_cards`] every `counts_interval_ms`: the products touched since the last time
//!   that are pinned in a LIVE room are read again through commerce's `ShowcaseDirectory`,
//!   once per product, and each of those rooms gets one `ProductUpdated`.
//!
//! So a flash sale of 2,000 orders a second on one pinned product costs each node that handles
//! its events one product read and one message per room per `counts_interval_ms`, and viewers
//! see at most one card per batch. Repeats are harmless: a feed drops a `JustBought` of an
//! order line it already passed on, and a card equal to (or read before) the one it showed.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::Mutex;

use async_trait::async_trait;
use kanjian_contracts::EventEnvelope;
use kanjian_contracts::commerce::{OrderCancelled, OrderLineFact, OrderPaid, OrderPlaced, ProductChanged, ProductDto, SkuChanged};
use kanjian_contracts::live::{LiveRoomDto, LiveRoomEventDto, LiveRoomState, PinnedProductDto};
use kanjian_contracts::IntegrationEvent;
use kanjian_events::{EventHandler, HandlerError};
use kanjian_kernel::ids::{ChannelId, LiveRoomId, OrderId, ProductId};
use kanjian_kernel::{Actor, Context, Error, Result, Timestamp, UserErrorCode};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};

use super::{ChatMessage, publish};
use crate::Deps;
use crate::entity::room;
use crate::rooms;

/// Most purchases of one room a node sends at a flush (the newest); the rest of a burst is
/// not news by the time a viewer could read it.
pub(crate) const MAX_BOUGHT_PER_FLUSH: usize = 20;
/// Most "just bought" a viewer gets per batch (the newest).
pub(crate) const MAX_BOUGHT_PER_TICK: usize = 3;
/// Order lines a node (handling events) and a room's feed remember, to drop repeats.
const RECENT_PURCHASES: usize = 4_096;
/// Products per query when looking for the rooms they are pinned in.
const PRODUCTS_PER_QUERY: usize = 500;

/// A purchase through a room, as nodes tell each other. The order id is there to drop repeats
/// of one delivery; viewers never see it, nor who bought.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Bought {
    pub order_id: OrderId,
    pub product_id: ProductId,
    pub quantity: i64,
    pub at: Timestamp,
}

/// Keys seen lately, at most `cap` (the oldest are forgotten first).
pub(crate) struct Recent<K> {
    seen: HashSet<K>,
    order: VecDeque<K>,
    cap: usize,
}

impl<K: Hash + Eq + Clone> Recent<K> {
    pub(crate) fn new(cap: usize) -> Self {
        Self { seen: HashSet::new(), order: VecDeque::new(), cap: cap.max(1) }
    }

    /// Whether `key` is new; it is remembered either way.
    pub(crate) fn insert(&mut self, key: K) -> bool {
        if !self.seen.insert(key.clone()) {
            return false;
        }
        self.order.push_back(key);
        while self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }
}

/// What this node noted of commerce's events and has not sent yet.
pub(crate) struct ShopRelay {
    pending: Mutex<Pending>,
}

struct Pending {
    bought: HashMap<LiveRoomId, Vec<Bought>>,
    touched: HashSet<ProductId>,
    seen: Recent<(LiveRoomId, OrderId, ProductId)>,
}

impl Default for ShopRelay {
    fn default() -> Self {
        Self {
            pending: Mutex::new(Pending { bought: HashMap::new(), touched: HashSet::new(), seen: Recent::new(RECENT_PURCHASES) }),
        }
    }
}

impl ShopRelay {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Products whose price or stock may have changed.
    fn touch(&self, products: impl IntoIterator<Item = ProductId>) {
        self.lock().touched.extend(products);
    }

    /// A paid order: each room its lines came through gets a "just bought" per product (SKUs
    /// of one product together), once however often the event is delivered to this node.
    fn paid(&self, order: OrderId, lines: &[OrderLineFact], at: Timestamp) {
        let mut by_room: BTreeMap<(LiveRoomId, ProductId), i64> = BTreeMap::new();
        for line in lines {
            if let Some(room) = line.attribution.live_room_id {
                *by_room.entry((room, line.product_id)).or_insert(0) += line.quantity;
            }
        }
        let mut pending = self.lock();
        for ((room, product_id), quantity) in by_room {
            if !pending.seen.insert((room, order, product_id)) {
                continue;
            }
            let queue = pending.bought.entry(room).or_default();
            queue.push(Bought { order_id: order, product_id, quantity, at });
            if queue.len() > MAX_BOUGHT_PER_FLUSH {
                queue.remove(0);
            }
        }
    }

    fn take_bought(&self) -> HashMap<LiveRoomId, Vec<Bought>> {
        std::mem::take(&mut self.lock().bought)
    }

    fn take_touched(&self) -> Vec<ProductId> {
        let mut touched: Vec<ProductId> = std::mem::take(&mut self.lock().touched).into_iter().collect();
        touched.sort();
        touched
    }
}

/// `live.shop_events`: commerce's order and SKU events, noted for the next flushes (see the
/// module docs). Idempotent: a repeat adds nothing this node has not noted or sent, and a
/// product noted twice is read once.
pub(crate) struct ShopEventsHandler {
    pub deps: std::sync::Arc<Deps>,
}

#[async_trait]
impl EventHandler for ShopEventsHandler {
    fn name(&self) -> &'static str {
        "live.shop_events"
    }

    fn kinds(&self) -> &'static [&'static str] {
        const KINDS: &[&str] = &[OrderPlaced::KIND, OrderPaid::KIND, OrderCancelled::KIND, SkuChanged::KIND, ProductChanged::KIND];
        KINDS
    }

    /// Nothing but memory: a flash sale's thousands of events a second must not each cost a
    /// query.
    fn max_concurrency(&self) -> usize {
        16
    }

    async fn handle(&self, event: &EventEnvelope) -> std::result::Result<(), HandlerError> {
        let permanent = |e: serde_json::Error| HandlerError::Permanent(e.into());
        let relay = &self.deps.chat.shop;
        let products = |lines: &[OrderLineFact]| lines.iter().map(|l| l.product_id).collect::<Vec<_>>();
        if let Some(e) = event.decode::<OrderPaid>() {
            let e = e.map_err(permanent)?;
            relay.paid(e.order_id, &e.lines, e.paid_at);
            relay.touch(products(&e.lines));
        } else if let Some(e) = event.decode::<OrderPlaced>() {
            relay.touch(products(&e.map_err(permanent)?.lines));
        } else if let Some(e) = event.decode::<OrderCancelled>() {
            relay.touch(products(&e.map_err(permanent)?.lines));
        } else if let Some(e) = event.decode::<SkuChanged>() {
            relay.touch([e.map_err(permanent)?.product_id]);
        } else if let Some(e) = event.decode::<ProductChanged>() {
            // Delisted, deleted or off a showcase: the refresh finds it no longer carried and
            // takes the card down.
            relay.touch([e.map_err(permanent)?.product_id]);
        }
        Ok(())
    }
}

/// Sends each room the purchases this node noted since the last time; returns how many rooms.
pub(crate) async fn flush_bought(deps: &Deps) -> usize {
    let bought = deps.chat.shop.take_bought();
    let rooms = bought.len();
    for (room, items) in bought {
        publish(&*deps.hub, room, &ChatMessage::JustBought { items }).await;
    }
    rooms
}

/// Reads again the products touched since the last time that are pinned in a LIVE room (one
/// read per product, through the channel of the first room pinning it) and sends each of those
/// rooms the product as it is now. A room whose channel no longer carries its product (taken
/// off the showcase, off the shelf, deleted) has it unpinned. Returns how many rooms got a
/// card. Products that could not be read are kept for the next time.
pub(crate) async fn refresh_cards(deps: &Deps) -> Result<usize> {
    let touched = deps.chat.shop.take_touched();
    if touched.is_empty() {
        return Ok(0);
    }
    let mut pinned = Vec::new();
    for chunk in touched.chunks(PRODUCTS_PER_QUERY) {
        let found = room::Entity::find()
            .filter(room::Column::State.eq(LiveRoomState::Live.as_str()))
            .filter(room::Column::PinnedProductId.is_in(chunk.iter().map(|p| p.0)))
            .all(deps.db.reader())
            .await
            .context("finding the rooms products are pinned in");
        match found {
            Ok(rows) => pinned.extend(rows),
            Err(e) => {
                deps.chat.shop.touch(touched);
                return Err(e);
            }
        }
    }
    let mut by_product: BTreeMap<i64, Vec<room::Model>> = BTreeMap::new();
    for row in pinned {
        if let Some(product) = row.pinned_product_id {
            by_product.entry(product).or_default().push(row);
        }
    }
    let mut sent = 0;
    for (product_id, rows) in by_product {
        let product_id = ProductId(product_id);
        let mut card: Option<(Box<ProductDto>, Timestamp)> = None;
        for row in rows {
            let room = LiveRoomId(row.id);
            if card.is_none() {
                match deps.showcase.carried_product(ChannelId(row.channel_id), product_id).await {
                    Ok(Some(product)) => card = Some((Box::new(product), deps.db.now())),
                    Ok(None) => {
                        unpin_gone(deps, room, product_id).await;
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(product_id = product_id.0, error = %e, "reading a pinned product failed; trying again at the next refresh");
                        deps.chat.shop.touch([product_id]);
                        break;
                    }
                }
            }
            if let Some((product, at)) = &card {
                publish(&*deps.hub, room, &ChatMessage::ProductUpdated { product: product.clone(), at: *at }).await;
                sent += 1;
            }
        }
    }
    Ok(sent)
}

/// Unpins a product its room's channel no longer carries, and tells the room's viewers.
async fn unpin_gone(deps: &Deps, room: LiveRoomId, product: ProductId) {
    let done = room::Entity::update_many()
        .col_expr(room::Column::PinnedProductId, Expr::value(Option::<i64>::None))
        .col_expr(room::Column::PinnedProductAt, Expr::value(Option::<Timestamp>::None))
        .filter(room::Column::Id.eq(room.0))
        .filter(room::Column::PinnedProductId.eq(product.0))
        .exec(deps.db.writer())
        .await;
    match done {
        Ok(done) if done.rows_affected > 0 => {
            publish(&*deps.hub, room, &ChatMessage::ProductPinned { pinned: None, at: deps.db.now() }).await;
            tracing::info!(room_id = room.0, product_id = product.0, "pinned product no longer carried; unpinned");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(room_id = room.0, error = %e, "unpinning a product no longer carried failed"),
    }
}

/// The creator or a moderator pins a product of the channel's showcase in a LIVE room, or with
/// `None` unpins. Pinning the product already pinned keeps when it was pinned and sends its
/// card again. Nothing is written on a refusal.
#[tracing::instrument(skip_all, fields(room_id = %id, product_id = ?product))]
pub(crate) async fn pin_product(deps: &Deps, actor: &Actor, id: LiveRoomId, product: Option<ProductId>) -> Result<LiveRoomDto> {
    let (row, _) = super::moderation::moderated_room(deps, actor, id).await?;
    let state = rooms::state_of(&row)?;
    if state != LiveRoomState::Live {
        return Err(not_live(state.as_str()));
    }
    let card = match product {
        Some(product) => Some(deps.showcase.carried_product(ChannelId(row.channel_id), product).await?.ok_or_else(|| {
            Error::user(
                "productId",
                UserErrorCode::InvalidState,
                "This product is not on the channel's showcase, or not on sale: add it to your showcase first.",
            )
        })?),
        None => None,
    };
    let now = deps.db.now();
    let pinned_at = card.as_ref().map(|c| match (row.pinned_product_id, row.pinned_product_at) {
        (Some(current), Some(at)) if current == c.id.0 => at,
        _ => now,
    });
    let changed = room::Entity::update_many()
        .col_expr(room::Column::PinnedProductId, Expr::value(card.as_ref().map(|c| c.id.0)))
        .col_expr(room::Column::PinnedProductAt, Expr::value(pinned_at))
        .filter(room::Column::Id.eq(id.0))
        .filter(room::Column::State.eq(LiveRoomState::Live.as_str()))
        .exec(deps.db.writer())
        .await
        .context("pinning a product")?
        .rows_affected;
    if changed == 0 {
        // It ended meanwhile (its end clears the pin).
        let now_state = rooms::find_room(deps.db.writer(), id).await?.map(|r| r.state).unwrap_or_default();
        return Err(not_live(&now_state));
    }
    let pinned = card.zip(pinned_at).map(|(product, pinned_at)| Box::new(PinnedProductDto { product, pinned_at }));
    publish(&*deps.hub, id, &ChatMessage::ProductPinned { pinned, at: now }).await;
    tracing::info!("product pinned");
    let row = rooms::find_room(deps.db.writer(), id).await?.ok_or_else(|| Error::not_found("live room"))?;
    rooms::one_dto(deps, actor, row).await
}

fn not_live(state: &str) -> Error {
    Error::user("", UserErrorCode::InvalidState, format!("Products are pinned while the room is live; this room is {state}."))
}

/// The pinned product's card as a batch (or a viewer's merged batches, or a feed's state)
/// carries it: the latest pin or unpin with the newest read of its product folded in, or only
/// a newer read when no pin came.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Card {
    pinned: Option<Option<Box<PinnedProductDto>>>,
    updated: Option<Box<ProductDto>>,
}

impl Card {
    pub(crate) fn pin(&mut self, pinned: Option<Box<PinnedProductDto>>) {
        self.pinned = Some(pinned);
        self.updated = None;
    }

    pub(crate) fn update(&mut self, product: Box<ProductDto>) {
        match &mut self.pinned {
            Some(Some(pinned)) if pinned.product.id == product.id => pinned.product = *product,
            // A read of a product no longer pinned.
            Some(_) => {}
            None => self.updated = Some(product),
        }
    }

    /// Adds what came after this.
    pub(crate) fn merge(&mut self, later: &Card) {
        if let Some(pinned) = &later.pinned {
            self.pin(pinned.clone());
        }
        if let Some(product) = &later.updated {
            self.update(product.clone());
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pinned.is_none() && self.updated.is_none()
    }

    pub(crate) fn events(&self) -> Vec<LiveRoomEventDto> {
        let mut events = Vec::new();
        if let Some(pinned) = &self.pinned {
            events.push(LiveRoomEventDto::ProductPinned(pinned.clone()));
        }
        if let Some(product) = &self.updated {
            events.push(LiveRoomEventDto::ProductUpdated(product.clone()));
        }
        events
    }
}

/// What a room's feed lets through of the shop's messages, whichever node sent them: pins in
/// the order they were made, cards of the product pinned that are newer than and different
/// from the one shown, and each purchase once.
pub(crate) struct ShopFilter {
    /// The latest pin or unpin seen: when, and which product.
    pin: Option<(Timestamp, Option<ProductId>)>,
    /// The product last shown, and when it was read.
    shown: Option<(Timestamp, Box<ProductDto>)>,
    bought: Recent<(OrderId, ProductId)>,
}

impl Default for ShopFilter {
    fn default() -> Self {
        Self { pin: None, shown: None, bought: Recent::new(RECENT_PURCHASES) }
    }
}

impl ShopFilter {
    /// `message` as it should go on (`None`: drop it). Other messages pass as they are.
    pub(crate) fn admit(&mut self, message: ChatMessage) -> Option<ChatMessage> {
        match message {
            ChatMessage::ProductPinned { pinned, at } => {
                if self.pin.is_some_and(|(seen, _)| at < seen) {
                    return None;
                }
                self.pin = Some((at, pinned.as_ref().map(|p| p.product.id)));
                self.shown = pinned.as_ref().map(|p| (at, Box::new(p.product.clone())));
                Some(ChatMessage::ProductPinned { pinned, at })
            }
            ChatMessage::ProductUpdated { product, at } => {
                if self.pin.is_some_and(|(_, pinned)| pinned != Some(product.id)) {
                    return None;
                }
                if let Some((shown_at, shown)) = &self.shown
                    && shown.id == product.id
                    && (at < *shown_at || **shown == *product)
                {
                    return None;
                }
                self.shown = Some((at, product.clone()));
                Some(ChatMessage::ProductUpdated { product, at })
            }
            ChatMessage::JustBought { items } => {
                let items: Vec<Bought> = items.into_iter().filter(|b| self.bought.insert((b.order_id, b.product_id))).collect();
                (!items.is_empty()).then_some(ChatMessage::JustBought { items })
            }
            other => Some(other),
        }
    }
}

/// The "just bought" events of purchases (the newest [`MAX_BOUGHT_PER_TICK`]).
pub(crate) fn bought_events(bought: &[Bought]) -> Vec<LiveRoomEventDto> {
    bought[bought.len().saturating_sub(MAX_BOUGHT_PER_TICK)..]
        .iter()
        .map(|b| LiveRoomEventDto::JustBought { product_id: b.product_id, quantity: b.quantity, at: b.at })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use kanjian_contracts::commerce::{AttributionDto, ProductStatus, SaleSource};
    use kanjian_kernel::ids::{ShopId, SkuId};
    use kanjian_kernel::Money;

    pub(crate) fn product(id: i64, stock: i64) -> Box<ProductDto> {
        let now = chrono::DateTime::from_timestamp_millis(1_796_000_000_000).unwrap();
        Box::new(ProductDto {
            id: ProductId(id),
            shop_id: ShopId(1),
            title: format!("p{id}"),
            description: String::new(),
            category: "茶叶".into(),
            image_urls: vec![],
            status: ProductStatus::OnShelf,
            purchase_limit: None,
            skus: vec![kanjian_contracts::commerce::SkuDto {
                id: SkuId(id * 10),
                product_id: ProductId(id),
                specs: vec![],
                price: Money::new(1990, kanjian_kernel::money::Currency::CNY),
                stock,
                held: 0,
                sold: 0,
                removed: false,
            }],
            affiliate_commission_bps: None,
            created_at: now,
            updated_at: now,
            version: 1,
        })
    }

    pub(crate) fn pinned(id: i64, stock: i64) -> Option<Box<PinnedProductDto>> {
        Some(Box::new(PinnedProductDto { product: *product(id, stock), pinned_at: kanjian_kernel::now() }))
    }

    fn line(room: Option<i64>, product: i64, quantity: i64) -> OrderLineFact {
        OrderLineFact {
            product_id: ProductId(product),
            sku_id: SkuId(product * 10),
            quantity,
            amount: Money::new(1990 * quantity, kanjian_kernel::money::Currency::CNY),
            attribution: AttributionDto {
                source: if room.is_some() { SaleSource::LiveRoom } else { SaleSource::Shop },
                live_room_id: room.map(LiveRoomId),
                video_id: None,
                creator_channel_id: None,
                commission_bps: None,
            },
        }
    }

    #[test]
    fn a_paid_order_is_one_purchase_per_room_and_product_however_often_it_comes() {
        let relay = ShopRelay::default();
        let at = kanjian_kernel::now();
        let lines = [line(Some(7), 1, 2), line(Some(7), 1, 1), line(Some(8), 2, 1), line(None, 3, 5)];
        relay.paid(OrderId(100), &lines, at);
        relay.paid(OrderId(100), &lines, at);
        let bought = relay.take_bought();
        assert_eq!(bought[&LiveRoomId(7)], vec![Bought { order_id: OrderId(100), product_id: ProductId(1), quantity: 3, at }]);
        assert_eq!(bought[&LiveRoomId(8)].len(), 1);
        assert_eq!(bought.len(), 2, "a line from no room is nobody's news");
        // Delivered again after the flush: still nothing new.
        relay.paid(OrderId(100), &lines, at);
        assert!(relay.take_bought().is_empty());
    }

    #[test]
    fn a_burst_keeps_the_newest_purchases_of_a_room() {
        let relay = ShopRelay::default();
        for order in 0..50 {
            relay.paid(OrderId(order), &[line(Some(7), 1, 1)], kanjian_kernel::now());
        }
        let bought = relay.take_bought().remove(&LiveRoomId(7)).unwrap();
        assert_eq!(bought.len(), MAX_BOUGHT_PER_FLUSH);
        assert_eq!(bought.last().unwrap().order_id, OrderId(49));
        assert_eq!(bought_events(&bought).len(), MAX_BOUGHT_PER_TICK);
    }

    #[test]
    fn a_feed_passes_pins_in_order_and_only_newer_different_cards_of_the_pinned_product() {
        let t = kanjian_kernel::now();
        let later = t + chrono::Duration::milliseconds(5);
        let mut filter = ShopFilter::default();
        // A card before any pin was seen goes (the pin may predate this feed).
        assert!(filter.admit(ChatMessage::ProductUpdated { product: product(1, 9), at: t }).is_some());
        // The same card again (a repeated delivery, another node's read): dropped.
        assert!(filter.admit(ChatMessage::ProductUpdated { product: product(1, 9), at: later }).is_none());
        assert!(filter.admit(ChatMessage::ProductPinned { pinned: pinned(2, 5), at: later }).is_some());
        // An older pin, a card of the product no longer pinned, an older read: dropped.
        assert!(filter.admit(ChatMessage::ProductPinned { pinned: pinned(1, 5), at: t }).is_none());
        assert!(filter.admit(ChatMessage::ProductUpdated { product: product(1, 3), at: later }).is_none());
        assert!(filter.admit(ChatMessage::ProductUpdated { product: product(2, 4), at: t }).is_none());
        assert!(filter.admit(ChatMessage::ProductUpdated { product: product(2, 4), at: later }).is_some());
        let bought = |order: i64| Bought { order_id: OrderId(order), product_id: ProductId(2), quantity: 1, at: t };
        let Some(ChatMessage::JustBought { items }) = filter.admit(ChatMessage::JustBought { items: vec![bought(1), bought(2)] }) else { panic!() };
        assert_eq!(items.len(), 2);
        let Some(ChatMessage::JustBought { items }) = filter.admit(ChatMessage::JustBought { items: vec![bought(2), bought(3)] }) else { panic!() };
        assert_eq!(items, vec![bought(3)], "each purchase once, from whichever node");
        assert!(filter.admit(ChatMessage::JustBought { items: vec![bought(3)] }).is_none());
    }

    #[test]
    fn a_card_folds_reads_into_its_pin_and_drops_reads_of_another_product() {
        let mut card = Card::default();
        card.update(product(1, 9));
        assert_eq!(card.events(), vec![LiveRoomEventDto::ProductUpdated(product(1, 9))]);
        card.pin(pinned(2, 5));
        card.update(product(2, 4));
        card.update(product(1, 1));
        let events = card.events();
        assert!(matches!(&events[..], [LiveRoomEventDto::ProductPinned(Some(p))] if p.product.id == ProductId(2) && p.product.skus[0].stock == 4), "{events:?}");
        let mut state = Card::default();
        state.merge(&card);
        state.merge(&Card { pinned: Some(None), updated: None });
        assert_eq!(state.events(), vec![LiveRoomEventDto::ProductPinned(None)]);
    }
}
