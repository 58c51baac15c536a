//! Products in a live room (讲解中): `pinProduct`, `LiveRoom.pinnedProduct`, and the room
//! events that keep a viewer's product card current (`LiveProductPinned`, `LiveProductUpdated`,
//! `LiveJustBought`). The product is commerce's `Product`.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use kanjian_contracts::live::{LiveApi, PinnedProductDto};
use kanjian_kernel::ids::ProductId;
use kanjian_kernel::{Timestamp, UserErrorCode};

use super::{LiveRoom, LiveRoomPayload, room_id, room_payload};
use crate::commerce::Product;
use crate::context::ContextExt;
use crate::relay::{NodeKind, NodeObject, input_id, to_global_id};

#[derive(InputObject)]
pub struct PinProductInput {
    pub live_room_id: ID,
    /// A product on the channel's showcase (橱窗), listed. `null` unpins; leaving it out is
    /// `REQUIRED`, so a forgotten field never takes the card down.
    pub product_id: MaybeUndefined<ID>,
}

fn product_to_pin(id: &MaybeUndefined<ID>) -> kanjian_kernel::Result<Option<ProductId>> {
    match id {
        MaybeUndefined::Undefined => Err(kanjian_kernel::Error::user(
            "productId",
            UserErrorCode::Required,
            "Give the product to pin, or null to unpin.",
        )),
        MaybeUndefined::Null => Ok(None),
        MaybeUndefined::Value(id) => input_id(id, NodeKind::PRODUCT, "productId").map(|n| Some(ProductId(n))),
    }
}

pub(super) async fn pin_product(ctx: &Context<'_>, input: PinProductInput) -> async_graphql::Result<LiveRoomPayload> {
    let api = ctx.api::<dyn LiveApi>()?;
    let result = async { api.pin_product(ctx.actor(), room_id(&input.live_room_id)?, product_to_pin(&input.product_id)?).await }.await;
    room_payload(result)
}

/// The parts of `LiveRoom` about its pinned product.
impl LiveRoom {
    pub(super) async fn pinned(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Product>> {
        let Some(id) = self.0.pinned_product_id else { return Ok(None) };
        <Product as NodeObject>::load(ctx, id.0).await
    }
}

pub struct LivePinnedProduct(pub PinnedProductDto);

/// A product pinned in a live room (讲解中), with the price and stock of each SKU as of when it
/// was sent.
#[Object]
impl LivePinnedProduct {
    /// The product as shoppers see it: listed, with its SKUs for sale. Buy it with `buyNow`,
    /// attributed to the room (`source: LIVE_ROOM`, `liveRoomId`).
    async fn product(&self) -> Product {
        Product(self.0.product.clone())
    }

    async fn pinned_at(&self) -> Timestamp {
        self.0.pinned_at
    }
}

/// The pinned product changed: a product was pinned (or pinned again), or `null`: unpinned, by
/// the creator or a moderator, or because the channel no longer carries it.
#[derive(SimpleObject)]
pub struct LiveProductPinned {
    pub pinned_product: Option<LivePinnedProduct>,
}

/// The pinned product's price or stock changed: the product as it is now. At most about once a
/// second, however many people are buying.
#[derive(SimpleObject)]
pub struct LiveProductUpdated {
    pub product: Product,
}

pub struct LiveJustBought {
    pub product_id: ProductId,
    pub quantity: i64,
    pub at: Timestamp,
}

/// Someone just bought (paid for) a product through this room. It never says who. In a busy
/// room you get the newest few of each batch, not every one.
#[Object]
impl LiveJustBought {
    /// The product bought (the pinned one, usually): match it with the card shown.
    async fn product_id(&self) -> ID {
        to_global_id(NodeKind::PRODUCT, self.product_id.0)
    }

    /// Units bought in the order (of every SKU of the product).
    async fn quantity(&self) -> i64 {
        self.quantity
    }

    /// When it was paid.
    async fn at(&self) -> Timestamp {
        self.at
    }
}
