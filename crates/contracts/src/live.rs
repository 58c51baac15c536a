//! Live rooms (直播间) of channels: scheduling, stream keys, reservations (预约) and the room's
//! life from SCHEDULED to LIVE to ENDED, or CANCELLED.

use async_trait::async_trait;
use futures::stream::BoxStream;
use kanjian_kernel::ids::{ChannelId, LiveRoomId, UserId, VideoId};
use kanjian_kernel::{Actor, Result, Timestamp};
use serde::{Deserialize, Serialize};

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
    /// The broadcast as a video of the channel (through media), once the room ENDED and the
    /// replay was imported. Unpublished until its creator publishes it.
    pub replay_video_id: Option<VideoId>,
    /// Where players fetch its HLS (`/live/rooms/<id>/index.m3u8`, relative to the server),
    /// once it has gone live.
    pub playlist_url: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The room's version: 1 when scheduled, one more with every change (see [`VersionedEvent`]).
    pub version: i64,
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

    /// The room as it is now, then again after every change (state, details), on whichever
    /// node it changed. `NOT_FOUND` when the actor may not see it; the stream ends when the
    /// actor may no longer see it (a block) and after ENDED or CANCELLED.
    async fn watch_room(&self, actor: &Actor, room: LiveRoomId) -> Result<BoxStream<'static, LiveRoomDto>>;

    /// A file of the room's HLS (`index.m3u8`, `init-<n>.mp4`, `seg-<n>.m4s`) for a player:
    /// the live edge while LIVE, the whole broadcast once ENDED. `NOT_FOUND` for anything else
    /// and for rooms the actor may not see.
    async fn open_file(&self, actor: &Actor, room: LiveRoomId, name: &str) -> Result<LiveFile>;
}

/// A file of a room's HLS, for a player.
#[derive(Debug, Clone)]
pub struct LiveFile {
    pub content_type: &'static str,
    pub bytes: bytes::Bytes,
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
