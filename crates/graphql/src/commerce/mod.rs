//! Commerce (小店) in the schema: merchants' shops with their products, SKUs and stock; shoppers'
//! address books; orders from `buyNow` to completion, as the buyer and as the shop see them.
//! Money is `Money { minor currency formatted }`, amounts in inputs `MinorUnits`.

mod money;
mod mutations;
mod shopping;
mod types;


pub use mutations::CommerceMutation;
pub use shopping::{CommerceShoppingMutation, CommerceSubscription};
pub(crate) mod shopping_types {
    pub use super::shopping::{Cart, CreatorSale, ShowcaseItem};
}
pub(crate) use shopping::{channel_showcase, video_product, viewer_cart, viewer_creator_sales};
pub use types::{Address, Order, Product, Shop};
pub(crate) use money::{MinorUnits, Money};
pub(crate) use types::{organization_shop, viewer_addresses, viewer_orders};

use async_graphql::Enum;
use kanjian_contracts::commerce as contract;

use crate::relay::NodeKind;

impl NodeKind {
    pub(crate) const SHOP: NodeKind = NodeKind("Shop");
    pub(crate) const PRODUCT: NodeKind = NodeKind("Product");
    /// Not a node: a SKU is read through its product. Its id is what `buyNow` and `updateSku`
    /// take.
    pub(crate) const SKU: NodeKind = NodeKind("Sku");
    pub(crate) const ORDER: NodeKind = NodeKind("Order");
    pub(crate) const ADDRESS: NodeKind = NodeKind("Address");
}

/// Mirrors a contract enum in the schema, variant for variant, with both conversions (a variant
/// added to the contract fails to compile here until it is described).
macro_rules! mirror {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl From<contract::$name> for $name {
            fn from(v: contract::$name) -> Self {
                match v {
                    $(contract::$name::$variant => Self::$variant,)+
                }
            }
        }

        impl From<$name> for contract::$name {
            fn from(v: $name) -> Self {
                match v {
                    $($name::$variant => Self::$variant,)+
                }
            }
        }
    };
}

mirror!(
    /// Whether shoppers can find and buy a product.
    ProductStatus {
        /// Listed (上架): everyone sees it and may buy it.
        OnShelf,
        /// Not listed (下架): only its shop's members see it; nobody may buy it. New products
        /// start here unless created with `onShelf: true`.
        OffShelf,
        /// Removed by its shop for good: nobody sees it any more, and it cannot come back.
        /// Orders keep their copy of what was bought.
        Deleted,
    }
);

mirror!(
    /// Where an order is in its life, as WeChat Shop names the stages.
    OrderState {
        /// Placed; its stock is held for the buyer until `payBy` (待付款). Unpaid by then, it is
        /// cancelled and its stock released.
        PendingPayment,
        /// Paid; the shop is to ship it (待发货).
        Paid,
        /// Shipped, on its way (待收货).
        Shipped,
        /// Received: confirmed by the buyer (`confirmReceipt`), or automatically some days
        /// after shipping (已完成).
        Completed,
        /// Cancelled before it was paid, by the buyer or because its payment window closed
        /// (已取消); its stock was released.
        Cancelled,
    }
);

mirror!(
    /// Why an order was cancelled.
    CancelReason {
        /// The buyer cancelled it (`cancelOrder`).
        Buyer,
        /// Its payment window (`payBy`) closed without a payment.
        PaymentExpired,
    }
);

mirror!(
    /// Where a sale came from. Recorded on every order line for the creator's commission and the
    /// shop's analytics.
    SaleSource {
        /// A product pinned or shown in a live room: give `liveRoomId`.
        LiveRoom,
        /// The product card under a video: give `videoId`.
        Video,
        /// A creator's showcase (橱窗): give the creator's `channelId`.
        Showcase,
        /// Search results.
        Search,
        /// The shop's own page.
        Shop,
    }
);

mirror!(
    /// What happened to an order at one entry of its timeline.
    OrderEventKind {
        /// The buyer placed it; its stock was held.
        Placed,
        /// It was paid; its held stock was sold.
        Paid,
        /// The shop shipped it; the note gives the carrier and tracking number.
        Shipped,
        /// It was received: confirmed by the buyer, or automatically.
        Completed,
        /// It was cancelled; the note gives why.
        Cancelled,
        /// A payment that arrived when the order could no longer take it (cancelled, expired, or
        /// paid already) was given back to the payer.
        Refunded,
    }
);
