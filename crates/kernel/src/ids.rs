//! Typed ids. Every id is an `i64` from the owning module's table; the newtype keeps a `UserId`
//! from being passed where a `VideoId` is expected. GraphQL wraps them in opaque global ids.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! define_id {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<i64> for $name {
            fn from(v: i64) -> Self {
                Self(v)
            }
        }
    )*};
}

define_id!(
    /// An account.
    UserId,
    /// A creator profile (视频号), owned by one user.
    ChannelId,
    /// A merchant organization.
    OrganizationId,
    /// A video asset.
    VideoId,
    /// A resumable upload of a video's source file.
    UploadId,
    /// A signed-in session.
    SessionId,
    /// A friend request between two users.
    FriendRequestId,
    /// A comment (or a reply) on a video.
    CommentId,
    /// An in-app notification (notify module).
    NotificationId,
    /// A live room (直播间): one scheduled or running broadcast of a channel.
    LiveRoomId,
    /// A comment sent in a live room (弹幕).
    LiveCommentId,
    /// A merchant's shop (小店), one per organization.
    ShopId,
    /// A product of a shop.
    ProductId,
    /// A sellable variant of a product (one combination of spec values, with its price and stock).
    SkuId,
    /// A shopper's order with one shop.
    OrderId,
    /// A shipping address in a shopper's address book.
    AddressId,
    /// One attempt to pay an order through a payment provider.
    PaymentId,
);

/// The opaque global id clients use for an object (`base64url("LiveRoom:42")`), as the GraphQL
/// API shows it. Modules put it into payloads clients read (an in-app notification), so the
/// encoding lives here, once.
pub fn global_id(kind: &str, id: i64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}:{id}"))
}
