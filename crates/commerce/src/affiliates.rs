//! Selling for others (带货): shops offer products to creators at a commission, creators put
//! them on their showcase (橱窗) and under their videos, and each order line records the creator
//! it was sold through with the rate in force when it was placed.
//!
//! Who gets the credit is worked out here, never taken from the client: a sale through a
//! showcase, a video's card or a live room is credited to that channel only if the channel
//! carries the product (it is on its showcase). The buyer is never refused over attribution: a
//! sale that cannot be credited simply credits nobody.

use std::collections::HashMap;

use async_trait::async_trait;
use kanjian_contracts::commerce::{
    AttributionInput, CreatorSaleDto, OrderState, ProductDto, ProductStatus, SaleSource, ShowcaseItemDto,
};
use kanjian_contracts::identity::OrgRole;
use kanjian_contracts::live::LiveRoomScheduled;
use kanjian_contracts::{EventEnvelope, IntegrationEvent};
use kanjian_events::{EventHandler, HandlerError};
use kanjian_kernel::ids::{ChannelId, OrderId, OrganizationId, ProductId, VideoId};
use kanjian_kernel::{Actor, Context, Error, Money, Page, PageRequest, Result, UserErrorCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::Deps;
use crate::access::{self, execute, money};
use crate::entity::{affiliate_offer, live_room, order, order_line, product, showcase_item, video_product};
use crate::products;

/// The highest commission a shop may offer: 90 % of the amount.
pub const MAX_COMMISSION_BPS: i64 = 9_000;

// ---------------------------------------------------------------------------------------------
// The shop's offer

#[tracing::instrument(skip_all, fields(product_id = id.0))]
pub(crate) async fn set_offer(deps: &Deps, actor: &Actor, id: ProductId, commission_bps: Option<i64>) -> Result<ProductDto> {
    if let Some(bps) = commission_bps
        && !(1..=MAX_COMMISSION_BPS).contains(&bps)
    {
        return Err(Error::user("commissionBps", UserErrorCode::Invalid, "A commission is 1 to 9000 basis points (0.01 % to 90 %)."));
    }
    let (shop, row) = products::product_as_owner(deps, actor, id).await?;
    let now = deps.db.now();
    match commission_bps {
        Some(bps) => {
            execute(
                deps.db.writer(),
                "INSERT INTO commerce_affiliate_offers (product_id, shop_id, commission_bps, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (product_id) DO UPDATE SET commission_bps = $3, updated_at = $4",
                vec![row.id.into(), shop.id.into(), bps.into(), now.into()],
                "offering a product to creators",
            )
            .await?;
        }
        None => {
            execute(deps.db.writer(), "DELETE FROM commerce_affiliate_offers WHERE product_id = $1", vec![row.id.into()], "withdrawing an offer").await?;
        }
    }
    tracing::info!(commission_bps, "affiliate offer set");
    products::member_dto(deps, row).await
}

// ---------------------------------------------------------------------------------------------
// The creator's showcase

async fn own_channel(deps: &Deps, actor: &Actor) -> Result<ChannelId> {
    let user = actor.require_user()?;
    deps.identity
        .channel_of_user(user)
        .await?
        .map(|c| c.id)
        .ok_or_else(|| Error::user("", UserErrorCode::InvalidState, "Open a channel first: showcases belong to channels."))
}

/// Whether the channel may carry the product: the shop offers it, or the channel's owner owns
/// the shop.
async fn may_carry(deps: &Deps, actor: &Actor, product: &product::Model) -> Result<bool> {
    let offered = affiliate_offer::Entity::find_by_id(product.id).one(deps.db.reader()).await.context("loading an offer")?.is_some();
    if offered {
        return Ok(true);
    }
    let Some(user) = actor.user_id() else { return Ok(false) };
    let Some(shop) = access::find_shop(deps.db.reader(), kanjian_kernel::ids::ShopId(product.shop_id)).await? else { return Ok(false) };
    Ok(deps.orgs.organization_role(OrganizationId(shop.organization_id), user).await? == Some(OrgRole::Owner))
}

async fn listed_product(deps: &Deps, id: ProductId) -> Result<product::Model> {
    products::find_product(deps.db.reader(), id)
        .await?
        .filter(|p| p.status == ProductStatus::OnShelf.as_str())
        .ok_or_else(|| Error::not_found("product"))
}

#[tracing::instrument(skip_all, fields(product_id = id.0))]
pub(crate) async fn add_to_showcase(deps: &Deps, actor: &Actor, id: ProductId) -> Result<ShowcaseItemDto> {
    let channel = own_channel(deps, actor).await?;
    let product = listed_product(deps, id).await?;
    if !may_carry(deps, actor, &product).await? {
        return Err(Error::user("productId", UserErrorCode::InvalidState, "This product is not offered to creators."));
    }
    let now = deps.db.now();
    execute(
        deps.db.writer(),
        "INSERT INTO commerce_showcase_items (channel_id, product_id, added_at) VALUES ($1, $2, $3) ON CONFLICT (channel_id, product_id) DO NOTHING",
        vec![channel.0.into(), product.id.into(), now.into()],
        "adding to a showcase",
    )
    .await?;
    let item = showcase_item::Entity::find_by_id((channel.0, product.id)).one(deps.db.reader()).await.context("loading a showcase item")?;
    let added_at = item.map_or(now, |i| i.added_at);
    let product = products::dtos(deps.db.reader(), vec![product], &|_| false).await?.pop().ok_or_else(|| Error::internal("a product vanished"))?;
    Ok(ShowcaseItemDto { channel_id: channel, product, added_at })
}

pub(crate) async fn remove_from_showcase(deps: &Deps, actor: &Actor, id: ProductId) -> Result<()> {
    let channel = own_channel(deps, actor).await?;
    let txn = deps.db.begin().await.context("starting to remove from a showcase")?;
    let removed = execute(&txn, "DELETE FROM commerce_showcase_items WHERE channel_id = $1 AND product_id = $2", vec![channel.0.into(), id.0.into()], "removing from a showcase").await?;
    // Its cards under the channel's videos go with it.
    execute(&txn, "DELETE FROM commerce_video_products WHERE channel_id = $1 AND product_id = $2", vec![channel.0.into(), id.0.into()], "removing video cards").await?;
    if removed.rows_affected() > 0
        && let Some(row) = products::find_product(&txn, id).await?
    {
        // The channel's live room takes the card down if it was pinned there.
        products::emit_changed(deps, &txn, &row, Some(channel)).await?;
    }
    txn.commit().await.context("committing a showcase removal")?;
    deps.outbox.notify();
    Ok(())
}

pub(crate) async fn showcase(deps: &Deps, actor: &Actor, channel: ChannelId, page: PageRequest) -> Result<Page<ShowcaseItemDto>> {
    let limit = page.limit();
    let after: Option<(i64, i64)> = page.after_key()?;
    let mut query = showcase_item::Entity::find().filter(showcase_item::Column::ChannelId.eq(channel.0));
    if let Some((at, id)) = after {
        let at = chrono::DateTime::from_timestamp_millis(at).ok_or_else(|| Error::user("after", UserErrorCode::Invalid, "the cursor is not valid"))?;
        query = query.filter(kanjian_db::keyset::older_than(showcase_item::Column::AddedAt, showcase_item::Column::ProductId, at, id));
    }
    // Unlisted products drop out of the page: fetch a little more than asked.
    let rows = query
        .order_by_desc(showcase_item::Column::AddedAt)
        .order_by_desc(showcase_item::Column::ProductId)
        .limit(u64::from(limit) + 1)
        .all(deps.db.reader())
        .await
        .context("listing a showcase")?;
    let ids: Vec<ProductId> = rows.iter().map(|r| ProductId(r.product_id)).collect();
    let listed: HashMap<ProductId, ProductDto> =
        products::products_by_ids(deps, actor, &ids).await?.into_iter().filter(|p| p.status == ProductStatus::OnShelf).map(|p| (p.id, p)).collect();
    let items: Vec<(i64, i64, Option<ShowcaseItemDto>)> = rows
        .into_iter()
        .map(|r| {
            let item = listed.get(&ProductId(r.product_id)).cloned().map(|product| ShowcaseItemDto { channel_id: channel, product, added_at: r.added_at });
            (r.added_at.timestamp_millis(), r.product_id, item)
        })
        .collect();
    // The cursor follows the rows read, shown or not, so no page repeats or skips one.
    let page_rows = Page::from_rows(items, limit, after.is_some(), |(at, id, _)| (*at, *id));
    Ok(Page {
        items: page_rows.items.into_iter().filter_map(|(cursor, (_, _, item))| item.map(|i| (cursor, i))).collect(),
        has_next_page: page_rows.has_next_page,
        has_previous_page: page_rows.has_previous_page,
    })
}

async fn carries(deps: &Deps, channel: ChannelId, product: i64) -> Result<bool> {
    Ok(showcase_item::Entity::find_by_id((channel.0, product)).one(deps.db.reader()).await.context("loading a showcase item")?.is_some())
}

#[tracing::instrument(skip_all, fields(video_id = video.0))]
pub(crate) async fn set_video_product(deps: &Deps, actor: &Actor, video: VideoId, product: Option<ProductId>) -> Result<Option<ProductDto>> {
    let user = actor.require_user()?;
    let channel = own_channel(deps, actor).await?;
    // Someone else's video, or one that does not exist, looks the same.
    let owned = deps.videos.videos_by_ids(actor, &[video]).await?.into_iter().any(|v| v.owner_id == user);
    if !owned {
        return Err(Error::not_found("video"));
    }
    let Some(product) = product else {
        execute(deps.db.writer(), "DELETE FROM commerce_video_products WHERE video_id = $1", vec![video.0.into()], "removing a video's card").await?;
        return Ok(None);
    };
    let row = listed_product(deps, product).await?;
    if !carries(deps, channel, row.id).await? {
        return Err(Error::user("productId", UserErrorCode::InvalidState, "Add the product to your showcase first."));
    }
    execute(
        deps.db.writer(),
        "INSERT INTO commerce_video_products (video_id, channel_id, product_id, attached_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (video_id) DO UPDATE SET channel_id = $2, product_id = $3, attached_at = $4",
        vec![video.0.into(), channel.0.into(), row.id.into(), deps.db.now().into()],
        "attaching a product to a video",
    )
    .await?;
    Ok(products::dtos(deps.db.reader(), vec![row], &|_| false).await?.pop())
}

pub(crate) async fn video_products(deps: &Deps, actor: &Actor, videos: &[VideoId]) -> Result<Vec<(VideoId, ProductDto)>> {
    if videos.is_empty() {
        return Ok(Vec::new());
    }
    let rows = video_product::Entity::find()
        .filter(video_product::Column::VideoId.is_in(videos.iter().map(|v| v.0)))
        .all(deps.db.reader())
        .await
        .context("loading video cards")?;
    let ids: Vec<ProductId> = rows.iter().map(|r| ProductId(r.product_id)).collect();
    let products: HashMap<ProductId, ProductDto> = products::products_by_ids(deps, actor, &ids)
        .await?
        .into_iter()
        .filter(|p| p.status == ProductStatus::OnShelf)
        .map(|p| (p.id, p))
        .collect();
    let mut out: Vec<(VideoId, ProductDto)> =
        rows.into_iter().filter_map(|r| products.get(&ProductId(r.product_id)).cloned().map(|p| (VideoId(r.video_id), p))).collect();
    out.sort_by_key(|(v, _)| videos.iter().position(|x| x == v));
    Ok(out)
}

pub(crate) async fn creator_sales(deps: &Deps, actor: &Actor, page: PageRequest) -> Result<Page<CreatorSaleDto>> {
    let channel = own_channel(deps, actor).await?;
    let limit = page.limit();
    let after: Option<i64> = page.after_key()?;
    let mut query = order_line::Entity::find().filter(order_line::Column::CreatorChannelId.eq(channel.0));
    if let Some(after) = after {
        query = query.filter(order_line::Column::Id.lt(after));
    }
    let lines = query.order_by_desc(order_line::Column::Id).limit(u64::from(limit) + 1).all(deps.db.reader()).await.context("listing a creator's sales")?;
    let orders: HashMap<i64, order::Model> = order::Entity::find()
        .filter(order::Column::Id.is_in(lines.iter().map(|l| l.order_id)))
        .all(deps.db.reader())
        .await
        .context("loading orders")?
        .into_iter()
        .map(|o| (o.id, o))
        .collect();
    let sales = lines
        .into_iter()
        .map(|line| {
            let order = orders.get(&line.order_id).ok_or_else(|| Error::internal("an order line without its order"))?;
            let amount = money(line.amount_minor, &order.currency)?;
            Ok((line.id, CreatorSaleDto {
                order_id: OrderId(order.id),
                product_id: ProductId(line.product_id),
                title: line.title.clone(),
                quantity: line.quantity,
                amount,
                source: SaleSource::parse(&line.source).ok_or_else(|| Error::internal("unknown sale source"))?,
                commission_bps: line.commission_bps,
                commission: commission_of(amount, line.commission_bps)?,
                order_state: OrderState::parse(&order.state).ok_or_else(|| Error::internal("unknown order state"))?,
                placed_at: order.created_at,
            }))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_rows(sales, limit, after.is_some(), |(id, _)| *id).map(|(_, sale)| sale))
}

/// The creator's part of `amount` at `bps`: the first part of a largest-remainder split of the
/// amount into the creator's and the shop's, so the two add up to the amount exactly.
pub(crate) fn commission_of(amount: Money, bps: Option<i64>) -> Result<Money> {
    let Some(bps) = bps else { return Ok(Money::new(0, amount.currency)) };
    let parts = amount.allocate(&[bps, 10_000 - bps]).ok_or_else(|| Error::internal("a commission could not be split"))?;
    parts.first().copied().ok_or_else(|| Error::internal("a commission split gave no parts"))
}

// ---------------------------------------------------------------------------------------------
// Crediting a sale

/// The creator a line is credited to and the commission in force, or `(None, None)`: the
/// channel the sale came through, if it carries the product.
pub(crate) async fn credit(deps: &Deps, buyer: kanjian_kernel::ids::UserId, attribution: &AttributionInput, product: i64) -> Result<(Option<i64>, Option<i64>)> {
    let channel = match attribution.source {
        SaleSource::Showcase => attribution.channel_id,
        SaleSource::Video => match attribution.video_id {
            Some(video) => video_product::Entity::find_by_id(video.0)
                .one(deps.db.reader())
                .await
                .context("loading a video card")?
                .filter(|card| card.product_id == product)
                .map(|card| ChannelId(card.channel_id)),
            None => None,
        },
        SaleSource::LiveRoom => match attribution.live_room_id {
            Some(room) => live_room::Entity::find_by_id(room.0).one(deps.db.reader()).await.context("loading a live room's channel")?.map(|r| ChannelId(r.channel_id)),
            None => None,
        },
        SaleSource::Search | SaleSource::Shop => None,
    };
    let Some(channel) = channel else { return Ok((None, None)) };
    if !carries(deps, channel, product).await? {
        return Ok((None, None));
    }
    // A buyer and a creator in a block cannot see each other's rooms and videos: a credit would
    // tell the buyer that a room or video id they cannot see exists. Credit nobody, exactly as
    // for an id that names nothing.
    let owners: Vec<kanjian_kernel::ids::UserId> = deps.identity.channels_by_ids(&[channel]).await?.into_iter().map(|c| c.owner_id).collect();
    if owners.is_empty() || !deps.blocks.blocked_among(buyer, &owners).await?.is_empty() {
        return Ok((None, None));
    }
    let rate = affiliate_offer::Entity::find_by_id(product).one(deps.db.reader()).await.context("loading an offer")?.map(|o| o.commission_bps);
    Ok((Some(channel.0), rate))
}

// ---------------------------------------------------------------------------------------------
// For live

pub(crate) async fn carried_product(deps: &Deps, channel: ChannelId, product: ProductId) -> Result<Option<ProductDto>> {
    if !carries(deps, channel, product.0).await? {
        return Ok(None);
    }
    let Ok(row) = listed_product(deps, product).await else { return Ok(None) };
    Ok(products::dtos(deps.db.reader(), vec![row], &|_| false).await?.pop())
}

/// Keeps each live room's channel (commerce's projection of `live.room_scheduled`), to credit
/// a room's sales to its creator. Idempotent: a room's channel never changes.
pub(crate) struct ProjectLiveRooms {
    pub deps: std::sync::Arc<Deps>,
}

#[async_trait]
impl EventHandler for ProjectLiveRooms {
    fn name(&self) -> &'static str {
        "commerce.project_live_rooms"
    }

    fn kinds(&self) -> &'static [&'static str] {
        &[LiveRoomScheduled::KIND]
    }

    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
        let e: LiveRoomScheduled = serde_json::from_value(event.payload.clone()).map_err(|e| HandlerError::Permanent(e.into()))?;
        execute(
            self.deps.db.writer(),
            "INSERT INTO commerce_live_rooms (room_id, channel_id) VALUES ($1, $2) ON CONFLICT (room_id) DO NOTHING",
            vec![e.room_id.0.into(), e.channel_id.0.into()],
            "projecting a live room",
        )
        .await?;
        Ok(())
    }
}
