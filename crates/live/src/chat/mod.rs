//! What happens inside a live room, for everyone in it: comments (弹幕), likes, viewer
//! counts, the pinned message, and moderation.
//!
//! - [`comments`]: checks and stores comments, in groups, and sends each group to every node.
//! - [`feed`]: fans a room's comments and counts out to its viewers on this node, in batches,
//!   with a bounded share per viewer and a priority lane.
//! - [`likes`]: taps as counters.
//! - [`moderation`]: moderators, muted and banned viewers, blocked keywords, pinned messages.
//! - [`keywords`]: how keywords match.
//! - [`shop`]: the product pinned in the room (讲解中), its price and stock as they change,
//!   and "just bought", from commerce's events.
//!
//! Between nodes everything travels on the room's chat topic of the realtime hub
//! (`live:room:<id>:chat`) as a [`ChatMessage`]; viewer counts through `Presence`.

pub(crate) mod comments;
pub(crate) mod feed;
pub mod keywords;
pub(crate) mod likes;
pub(crate) mod moderation;
pub(crate) mod shop;

use std::sync::{Arc, OnceLock};

use kanjian_contracts::commerce::ProductDto;
use kanjian_contracts::live::{LiveCommentDto, LiveRoomState, PinnedMessageDto, PinnedProductDto};
use kanjian_events::{Presence, PresenceConfig, RealtimeHub};
use kanjian_kernel::ids::{LiveCommentId, LiveRoomId, UserId};
use kanjian_kernel::text::TextRules;
use kanjian_kernel::{Actor, Error, Result, Timestamp, UserErrorCode};
use serde::{Deserialize, Serialize};

use crate::Deps;

/// A live comment: one line, 200 characters unless `comment_max_chars` says otherwise.
pub const COMMENT: TextRules = TextRules::required("text", "comment", 200);
/// A pinned message.
pub const PINNED: TextRules = TextRules::required("text", "pinned message", 100);

/// What nodes tell each other about a room's chat.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum ChatMessage {
    /// Comments just stored, oldest first.
    Comments { comments: Vec<LiveCommentDto> },
    Deleted { ids: Vec<LiveCommentId> },
    Pinned { pinned: Option<PinnedMessageDto> },
    /// Banned: their streams of the room end.
    Removed { user_id: UserId },
    /// A product was pinned (`None`: unpinned) at `at`.
    ProductPinned { pinned: Option<Box<PinnedProductDto>>, at: Timestamp },
    /// The pinned product as read at `at`.
    ProductUpdated { product: Box<ProductDto>, at: Timestamp },
    /// Purchases through the room, oldest first.
    JustBought { items: Vec<shop::Bought> },
}

pub(crate) fn chat_topic(room: LiveRoomId) -> String {
    format!("live:room:{}:chat", room.0)
}

/// The `Presence` key of a room's viewers.
pub(crate) fn viewers_key(room: LiveRoomId) -> String {
    room.0.to_string()
}

/// Sends a chat message to the room's viewers on every node. Ephemeral: what was stored stays
/// readable (`recent_comments`) for anyone who missed it.
pub(crate) async fn publish(hub: &dyn RealtimeHub, room: LiveRoomId, message: &ChatMessage) {
    let sent = match serde_json::to_value(message) {
        Ok(value) => hub.publish(&chat_topic(room), value).await,
        Err(e) => Err(e.into()),
    };
    if let Err(e) = sent {
        tracing::warn!(room_id = room.0, error = %e, "could not send a chat message to the room's viewers");
    }
}

/// The room the signed-in actor acts in, with their standing: visible to them (`NOT_FOUND`
/// otherwise), LIVE (`INVALID_STATE`, saying that `what` "happen while the room is live"), and
/// the actor not banned (`FORBIDDEN`).
pub(crate) async fn live_room_for(
    deps: &Deps,
    actor: &Actor,
    id: LiveRoomId,
    what: &str,
) -> Result<(crate::entity::room::Model, moderation::Standing)> {
    let user = actor.require_user()?;
    let row = crate::rooms::visible_room(deps, actor, id).await?;
    let state = crate::rooms::state_of(&row)?;
    if state != LiveRoomState::Live {
        return Err(Error::user(
            "",
            UserErrorCode::InvalidState,
            format!("{what} while the room is live; this room is {}", state.as_str()),
        ));
    }
    let standing = moderation::standing(deps, row.channel_id, row.owner_id, user).await?;
    if standing.banned {
        return Err(moderation::removed());
    }
    Ok((row, standing))
}

/// The chat's state on this node.
#[derive(Default)]
pub(crate) struct Chat {
    writer: OnceLock<comments::CommentWriter>,
    presence: OnceLock<Presence>,
    pub feeds: feed::Feeds,
    pub likes: likes::LikeCounter,
    pub keywords: moderation::KeywordCache,
    pub shop: shop::ShopRelay,
}

impl Chat {
    /// The node's comment writer, started on first use (it needs the runtime).
    pub(crate) fn writer(&self, deps: &Deps) -> &comments::CommentWriter {
        self.writer.get_or_init(|| comments::CommentWriter::start(deps.db.clone(), deps.hub.clone()))
    }

    /// The node's presence of live viewers, started on first use.
    pub(crate) fn presence(&self, hub: &Arc<dyn RealtimeHub>) -> &Presence {
        self.presence.get_or_init(|| {
            Presence::new(hub.clone(), PresenceConfig { topic_prefix: "live:viewers".into(), ..PresenceConfig::default() })
        })
    }
}
