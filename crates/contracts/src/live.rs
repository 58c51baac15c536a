//! Live rooms (直播间) of channels: scheduling, stream keys, reservations (预约) and the room's
//! life from SCHEDULED to LIVE to ENDED, or CANCELLED.

use std::any::Any;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use futures::stream::BoxStream;
use kanjian_kernel::ids::{ChannelId, LiveCommentId, LiveRoomId, ProductId, UserId, VideoId};
use kanjian_kernel::{Actor, Page, PageRequest, Result, Timestamp};
use serde::{Deserialize, Serialize};

use crate::commerce::ProductDto;
use crate::{IntegrationEvent, VersionedEvent};

/// Where a room is in its life. Every change is an event (`live.room_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LiveRoomState {
    /// Announced (预告): people may reserve it; the creator may push to go live.
    Scheduled,
    /// On air: a publisher is connected, or reconnecting within the grace period.
    Live,
    /// Over. Its replay becomes a video of the channel.
    Ended,
    /// Called off before it went live; everyone who reserved was told.
    Cancelled,
}

impl LiveRoomState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "SCHEDULED",
            Self::Live => "LIVE",
            Self::Ended => "ENDED",
            Self::Cancelled => "CANCELLED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Scheduled, Self::Live, Self::Ended, Self::Cancelled].into_iter().find(|v| v.as_str() == s)
    }
}

/// A live room as the actor may see it. Rooms of a channel whose owner and the actor blocked
/// one another are not shown at all (they look like rooms that do not exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRoomDto {
    pub id: LiveRoomId,
    pub channel_id: ChannelId,
    pub owner_id: UserId,
    pub title: String,
    pub description: String,
    pub cover_url: Option<String>,
    pub state: LiveRoomState,
    /// When the creator plans to go live; `None` for a room opened to go live at once.
    pub planned_start_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub cancelled_at: Option<Timestamp>,
    /// People holding a reservation that is still waiting for its reminder.
    pub reservation_count: i64,
    /// Whether the actor holds such a reservation.
    pub actor_reserved: bool,
    /// Whether the actor may moderate the room: its creator, or a moderator of its channel.
    pub actor_can_moderate: bool,
    /// The broadcast as a video of the channel (through media), once the room ENDED and the
    /// replay was imported. Unpublished until its creator publishes it.
    pub replay_video_id: Option<VideoId>,
    /// Where players fetch its HLS (`/live/rooms/<id>/index.m3u8`, relative to the server),
    /// once it has gone live.
    pub playlist_url: Option<String>,
    /// The message its creator or a moderator pinned above the comments (置顶), if any.
    pub pinned_message: Option<PinnedMessageDto>,
    /// The product pinned in the room (讲解中), while it is LIVE; cleared when it ends. Read it
    /// through commerce (`ShopperApi::products_by_ids`); its changes come through `watch_room`.
    pub pinned_product_id: Option<ProductId>,
    /// When that product was pinned.
    pub pinned_product_at: Option<Timestamp>,
    pub counts: LiveCountsDto,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The room's version: 1 when scheduled, one more with every change (see [`VersionedEvent`]).
    pub version: i64,
}

/// A message pinned in a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedMessageDto {
    pub text: String,
    pub pinned_at: Timestamp,
}

/// The product pinned in a room (讲解中), as shoppers see it: listed, with the price and stock
/// of each SKU still for sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedProductDto {
    pub product: ProductDto,
    pub pinned_at: Timestamp,
}

/// A room's counters. Viewers are connections watching the room (`liveRoomEvents`) on every
/// node; `viewers_now` is kept at most a second or two behind, and is 0 once the room is over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveCountsDto {
    pub viewers_now: i64,
    /// The most at once, since it went live.
    pub viewers_peak: i64,
    /// Different people who watched it (a signed-out connection counts as one).
    pub viewers_total: i64,
    /// Likes (点赞), every tap counted.
    pub likes: i64,
}

/// Whose comment it is, for how it is shown and which lane carries it: the creator's and
/// moderators' comments are never dropped in a busy room; viewers' are sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CommentRole {
    Creator,
    Moderator,
    Viewer,
}

impl CommentRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creator => "CREATOR",
            Self::Moderator => "MODERATOR",
            Self::Viewer => "VIEWER",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Creator, Self::Moderator, Self::Viewer].into_iter().find(|v| v.as_str() == s)
    }

    /// Carried in the priority lane (never sampled away).
    pub fn is_priority(self) -> bool {
        !matches!(self, Self::Viewer)
    }
}

/// A live comment (弹幕). The author's name is the one they had when they sent it, so a busy
/// room shows comments without loading anyone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveCommentDto {
    pub id: LiveCommentId,
    pub room_id: LiveRoomId,
    pub author_id: UserId,
    pub author_name: String,
    pub role: CommentRole,
    pub text: String,
    pub created_at: Timestamp,
}

/// What a viewer of a room receives, as it happens (see [`LiveApi::watch_room`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveRoomEventDto {
    /// The room as it is now (first), then after each change of its state or details.
    Changed(Box<LiveRoomDto>),
    /// Comments since the last batch, oldest first. In a busy room a viewer gets about
    /// `comments_per_viewer_per_second`: every priority comment (creator, moderators) and the
    /// viewer's own, and a sample of the rest; `omitted` says how many were left out.
    Comments { comments: Vec<LiveCommentDto>, omitted: u32 },
    /// Comments removed by their author, the creator or a moderator.
    CommentsDeleted { ids: Vec<LiveCommentId> },
    /// The pinned message changed (`None`: unpinned).
    PinnedMessage(Option<PinnedMessageDto>),
    /// Viewer counts and likes, at most once a second and only when they changed.
    Counts(LiveCountsDto),
    /// The creator or a moderator pinned a product (讲解中), with its SKUs' prices and stock
    /// as of then; `None`: unpinned (by them, or because the channel no longer carries it).
    ProductPinned(Option<Box<PinnedProductDto>>),
    /// The pinned product's price or stock changed (someone ordered, paid or cancelled, or the
    /// shop repriced or restocked it): the product as it is now. At most about one per
    /// `counts_interval_ms`, however many orders there are.
    ProductUpdated(Box<ProductDto>),
    /// Someone just bought a product through this room (paid). Anonymous: never who.
    JustBought { product_id: ProductId, quantity: i64, at: Timestamp },
    /// The viewer was removed from the room (banned): the stream ends after this.
    Removed,
}

/// One event of [`LiveApi::watch_room`]. What a node sends many of a room's viewers alike (a
/// batch of comments nobody among them is hidden from, the counts) is one shared event, so the
/// API layer can turn it into its answer once and hand every viewer a copy (`shared`).
#[derive(Debug, Clone)]
pub struct RoomEvent {
    event: Arc<LiveRoomEventDto>,
    shared: Option<Arc<SharedAnswers>>,
}

impl RoomEvent {
    /// An event for one viewer alone.
    pub fn own(event: LiveRoomEventDto) -> Self {
        Self { event: Arc::new(event), shared: None }
    }

    /// An event many viewers get alike: clones of it share `answers`.
    pub fn shared(event: LiveRoomEventDto) -> Self {
        Self { event: Arc::new(event), shared: Some(Arc::default()) }
    }

    pub fn event(&self) -> &LiveRoomEventDto {
        &self.event
    }

    pub fn into_event(self) -> LiveRoomEventDto {
        Arc::unwrap_or_clone(self.event)
    }

    /// Where the API layer keeps what it made of a shared event, by the shape it was asked
    /// for; `None` for an event of one viewer alone.
    pub fn answers(&self) -> Option<&SharedAnswers> {
        self.shared.as_deref()
    }
}

impl From<LiveRoomEventDto> for RoomEvent {
    fn from(event: LiveRoomEventDto) -> Self {
        Self::own(event)
    }
}

/// What an API layer made of a shared [`RoomEvent`], by a key of its own (the shape of the
/// answer asked for). Kept as long as the event is.
#[derive(Default)]
pub struct SharedAnswers(Mutex<Vec<(u64, Arc<dyn Any + Send + Sync>)>>);

impl SharedAnswers {
    pub fn get<T: Any + Send + Sync>(&self, key: u64) -> Option<Arc<T>> {
        let answers = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        answers.iter().find(|(k, _)| *k == key).and_then(|(_, answer)| answer.clone().downcast().ok())
    }

    /// How many answers are kept (one per shape asked for).
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn put<T: Any + Send + Sync>(&self, key: u64, answer: Arc<T>) {
        let mut answers = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !answers.iter().any(|(k, _)| *k == key) {
            answers.push((key, answer));
        }
    }
}

impl std::fmt::Debug for SharedAnswers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedAnswers")
    }
}

/// How a creator or moderator restricts a viewer in the channel's lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restriction {
    /// May watch and like but not comment, for this many minutes (`None`: until lifted).
    Mute { minutes: Option<i64> },
    /// Removed: may not watch, comment or like in any of the channel's lives until lifted.
    Ban,
}

/// A viewer restricted in a channel's lives, as its creator and moderators see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestrictedViewerDto {
    pub user_id: UserId,
    pub muted_until: Option<Timestamp>,
    /// Muted with no end (until lifted).
    pub muted_indefinitely: bool,
    pub banned: bool,
    pub since: Timestamp,
}

/// What a creator's broadcasting software needs. Only the room's owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamCredentialsDto {
    pub room_id: LiveRoomId,
    /// The server part OBS asks for, e.g. `rtmp://live.example:1935/live`.
    pub server_url: String,
    /// The secret part. Works only while the room is SCHEDULED or LIVE, until rotated.
    pub stream_key: String,
    pub rotated_at: Timestamp,
}

#[derive(Debug, Clone, Default)]
pub struct ScheduleLiveInput {
    pub title: String,
    pub description: Option<String>,
    pub cover_url: Option<String>,
    /// `None` opens a room to go live at once; otherwise in the future, within a year.
    pub planned_start_at: Option<Timestamp>,
}

/// Fields left `None` stay as they are; `cover_url: Some(None)` clears the cover.
#[derive(Debug, Clone, Default)]
pub struct UpdateLiveInput {
    pub title: Option<String>,
    pub description: Option<String>,
    pub cover_url: Option<Option<String>>,
    /// Only while SCHEDULED. Moving it tells nobody: the reminder follows the new time.
    pub planned_start_at: Option<Timestamp>,
}

/// The live rooms of channels.
#[async_trait]
pub trait LiveApi: Send + Sync {
    /// Opens a room for the actor's channel (the actor needs one). A channel holds at most
    /// [`MAX_UPCOMING`] SCHEDULED rooms, and one LIVE room at a time.
    async fn schedule_live(&self, actor: &Actor, input: ScheduleLiveInput) -> Result<LiveRoomDto>;
    /// The owner edits a SCHEDULED or LIVE room.
    async fn update_live(&self, actor: &Actor, room: LiveRoomId, input: UpdateLiveInput) -> Result<LiveRoomDto>;
    /// The owner calls off a SCHEDULED room; everyone who reserved is told, in-app and by email.
    async fn cancel_live(&self, actor: &Actor, room: LiveRoomId) -> Result<LiveRoomDto>;
    /// The owner ends a LIVE room now (the publisher, if any, is disconnected).
    async fn end_live(&self, actor: &Actor, room: LiveRoomId) -> Result<LiveRoomDto>;
    /// The owner's RTMP server URL and stream key for the room.
    async fn stream_credentials(&self, actor: &Actor, room: LiveRoomId) -> Result<StreamCredentialsDto>;
    /// A new stream key for the room; the old one stops working at once (a publisher using it
    /// stays connected until it drops).
    async fn rotate_stream_key(&self, actor: &Actor, room: LiveRoomId) -> Result<StreamCredentialsDto>;

    /// Reserves (预约) a SCHEDULED room: the actor is reminded in-app and by email when it goes
    /// live within an hour of its planned start. Reserving again changes nothing.
    async fn reserve(&self, actor: &Actor, room: LiveRoomId) -> Result<LiveRoomDto>;
    /// Withdraws the actor's reservation; withdrawing none changes nothing.
    async fn unreserve(&self, actor: &Actor, room: LiveRoomId) -> Result<LiveRoomDto>;

    /// Rooms by id as the actor may see them, in the order asked; hidden and missing ones are
    /// left out (for `node(id:)` and loaders).
    async fn rooms_by_ids(&self, actor: &Actor, ids: &[LiveRoomId]) -> Result<Vec<LiveRoomDto>>;
    /// A channel's SCHEDULED rooms, soonest first, at most [`MAX_UPCOMING`] (like Channels).
    async fn upcoming_lives(&self, actor: &Actor, channel: ChannelId) -> Result<Vec<LiveRoomDto>>;
    /// A channel's LIVE room, if it has one the actor may see.
    async fn live_now(&self, actor: &Actor, channel: ChannelId) -> Result<Option<LiveRoomDto>>;

    /// Everything happening in the room, on whichever node it happens (see
    /// [`LiveRoomEventDto`]): first the room as it is now, then its changes, comments, pinned
    /// message and counts. While it runs the actor counts as a viewer. `NOT_FOUND` when the
    /// actor may not see it, `FORBIDDEN` when banned from the channel's lives; the stream ends
    /// when the actor may no longer see it (a block), is banned, and after ENDED or CANCELLED.
    async fn watch_room(&self, actor: &Actor, room: LiveRoomId) -> Result<BoxStream<'static, RoomEvent>>;

    /// Sends a comment in a LIVE room: 1 to `comment_max_chars` characters on one line, within
    /// the per-person rate (`RATE_LIMITED`), not muted (`MUTED`), banned (`FORBIDDEN`), or
    /// containing a keyword the creator blocked (`CONTENT_REJECTED`). Returns once it is stored
    /// and on its way to every viewer.
    async fn send_comment(&self, actor: &Actor, room: LiveRoomId, text: &str) -> Result<LiveCommentDto>;
    /// Removes a comment: its author, the room's creator or a moderator. Removing one already
    /// removed changes nothing. Anyone else: `FORBIDDEN` (or `NOT_FOUND` if they cannot see it).
    async fn delete_comment(&self, actor: &Actor, comment: LiveCommentId) -> Result<()>;
    /// Comments of a room the actor may see, newest first; removed ones and those of people in
    /// a block with the actor are left out (a page may then hold fewer than asked).
    async fn comments(&self, actor: &Actor, room: LiveRoomId, page: PageRequest) -> Result<Page<LiveCommentDto>>;
    /// Taps ❤ `count` times (1 to 100, as a client batches taps) in a LIVE room. Counted
    /// within a second or two on every node.
    async fn like(&self, actor: &Actor, room: LiveRoomId, count: u32) -> Result<()>;
    /// The creator or a moderator pins a message above the comments (`None` unpins).
    async fn pin_message(&self, actor: &Actor, room: LiveRoomId, text: Option<&str>) -> Result<LiveRoomDto>;
    /// The creator or a moderator pins a product of the channel's showcase in a LIVE room
    /// (讲解中), replacing the one pinned; `None` unpins. Every viewer gets it through
    /// `watch_room`, then its price and stock as they change and who-less "just bought"s.
    /// `INVALID_STATE` outside a live, and for a product the channel does not carry (not on its
    /// showcase, or not listed); `FORBIDDEN` for anyone else, `NOT_FOUND` for a room the actor
    /// may not see.
    async fn pin_product(&self, actor: &Actor, room: LiveRoomId, product: Option<ProductId>) -> Result<LiveRoomDto>;

    /// The creator or a moderator mutes or bans a viewer in every live of the room's channel.
    /// The creator and moderators cannot be restricted, nor can people restrict themselves.
    async fn restrict_viewer(&self, actor: &Actor, room: LiveRoomId, user: UserId, restriction: Restriction) -> Result<RestrictedViewerDto>;
    /// Lifts every restriction of a viewer in the channel's lives; lifting none changes nothing.
    async fn lift_restriction(&self, actor: &Actor, room: LiveRoomId, user: UserId) -> Result<()>;
    /// The viewers restricted in the channel of the room (creator and moderators only),
    /// newest first.
    async fn restricted_viewers(&self, actor: &Actor, room: LiveRoomId) -> Result<Vec<RestrictedViewerDto>>;
    /// The creator appoints a moderator (房管) of their channel's lives; at most 20.
    async fn add_moderator(&self, actor: &Actor, user: UserId) -> Result<Vec<UserId>>;
    async fn remove_moderator(&self, actor: &Actor, user: UserId) -> Result<Vec<UserId>>;
    /// The moderators of the actor's channel (its creator only).
    async fn moderators(&self, actor: &Actor) -> Result<Vec<UserId>>;
    /// The creator or a moderator replaces the blocked keywords of the channel's lives (at most
    /// 200, each 1 to 20 characters, folded: see `live::chat::keywords`); comments containing
    /// one are refused. Creator and moderators read them.
    async fn set_blocked_keywords(&self, actor: &Actor, channel: ChannelId, keywords: &[String]) -> Result<Vec<String>>;
    async fn blocked_keywords(&self, actor: &Actor, channel: ChannelId) -> Result<Vec<String>>;

    /// LIVE rooms of channels the actor follows, most viewers first, at most `limit`: the top
    /// of the Following feed.
    async fn live_now_followed(&self, actor: &Actor, limit: u64) -> Result<Vec<LiveRoomDto>>;
    /// LIVE rooms to mix into Recommended, at most `limit`: those more of the actor's friends
    /// are watching first, then the most watched; never the actor's own, nor rooms hidden from
    /// them.
    async fn recommended_lives(&self, actor: &Actor, limit: u64) -> Result<Vec<LiveRecommendationDto>>;

    /// A file of the room's HLS (`index.m3u8`, `init-<n>.mp4`, `seg-<n>.m4s`,
    /// `part-<n>.<i>.m4s`) for a player: the live edge with its LL-HLS parts while LIVE, the
    /// whole broadcast once ENDED. `NOT_FOUND` for anything else and for rooms the actor may
    /// not see. With `reload`, the LIVE playlist is answered once it holds what was asked for;
    /// [`LiveFileReply::NotYet`] when it still does not after three target durations; a request
    /// more than two segments ahead is `BAD_USER_INPUT`.
    async fn open_file(&self, actor: &Actor, room: LiveRoomId, name: &str, reload: Option<BlockingReload>) -> Result<LiveFileReply>;
}

/// An LL-HLS blocking playlist reload, `index.m3u8?_HLS_msn=<msn>[&_HLS_part=<part>]`: wait
/// until the playlist lists segment `msn` (with `part`, that part of it), or anything later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockingReload {
    pub msn: u64,
    pub part: Option<u32>,
}

/// A live room for the Recommended feed, with its social proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRecommendationDto {
    pub room: LiveRoomDto,
    /// Up to 3 of the actor's friends watching it now, closest first.
    pub friends_watching: Vec<UserId>,
    /// How many of the actor's friends are watching it now.
    pub friends_watching_total: i64,
}

/// A file of a room's HLS, for a player.
#[derive(Debug, Clone)]
pub struct LiveFile {
    pub content_type: &'static str,
    pub bytes: bytes::Bytes,
}

/// What a player's request for a file of a room's HLS gets.
#[derive(Debug, Clone)]
pub enum LiveFileReply {
    File(LiveFile),
    /// A blocking playlist reload whose segment or part did not come within three target
    /// durations (the publisher stalled, or reconnects): ask again. HTTP 503, as RFC 8216bis
    /// §6.2.5.2 says; answering the unchanged playlist instead is what players such as
    /// AVPlayer reject as an invalid blocking reload.
    NotYet,
}

/// At most this many upcoming rooms per channel, as Channels shows.
pub const MAX_UPCOMING: usize = 15;

macro_rules! room_event {
    ($(#[$doc:meta])* $name:ident, $kind:literal { $($(#[$fdoc:meta])* $field:ident: $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub struct $name {
            pub room_id: LiveRoomId,
            /// The room's version after this change (see `VersionedEvent`).
            pub version: i64,
            pub channel_id: ChannelId,
            pub owner_id: UserId,
            $($(#[$fdoc])* pub $field: $ty,)*
        }
        impl IntegrationEvent for $name {
            const KIND: &'static str = $kind;
        }
        impl VersionedEvent for $name {
            fn aggregate_id(&self) -> i64 {
                self.room_id.0
            }
            fn version(&self) -> i64 {
                self.version
            }
        }
    };
}

room_event!(
    /// A room was announced (or opened to go live at once).
    LiveRoomScheduled, "live.room_scheduled" {
        title: String,
        planned_start_at: Option<Timestamp>,
    }
);
room_event!(
    /// Its title, description, cover or planned start changed.
    LiveRoomUpdated, "live.room_updated" {
        title: String,
        planned_start_at: Option<Timestamp>,
        state: LiveRoomState,
    }
);
room_event!(
    /// Called off before going live.
    LiveRoomCancelled, "live.room_cancelled" {
        title: String,
        cancelled_at: Timestamp,
    }
);
room_event!(
    /// On air: the first publisher was accepted.
    LiveRoomStarted, "live.room_started" {
        title: String,
        planned_start_at: Option<Timestamp>,
        started_at: Timestamp,
    }
);
room_event!(
    /// Off air for good: ended by its creator, or the publisher did not come back within the
    /// reconnect grace.
    LiveRoomEnded, "live.room_ended" {
        started_at: Timestamp,
        ended_at: Timestamp,
    }
);

/// Someone reserved a room (once per person and room).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveReservationMade {
    pub room_id: LiveRoomId,
    pub channel_id: ChannelId,
    pub user_id: UserId,
    pub reserved_at: Timestamp,
}
impl IntegrationEvent for LiveReservationMade {
    const KIND: &'static str = "live.reservation_made";
}
