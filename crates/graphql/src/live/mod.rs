//! Live rooms in the schema: scheduling, editing, cancelling and ending them, the creator's
//! stream key, reservations (预约), and each room's events as they happen. What happens inside
//! a room (comments, likes, moderation) is in `chat`.

mod chat;
mod shared;
mod shop;

pub use chat::{LiveChatMutation, LiveComment, LivePinnedMessage, LiveRoomCounts};
pub use shop::{LiveJustBought, LivePinnedProduct, LiveProductPinned, LiveProductUpdated, PinProductInput};
pub(crate) use chat::{channel_blocked_keywords, channel_moderators};

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, SimpleObject, Subscription, Union};
use futures::{Stream, StreamExt};
use kanjian_contracts::live::{self as contract, LiveApi, LiveRoomDto, LiveRoomEventDto, StreamCredentialsDto};
use kanjian_kernel::ids::LiveRoomId;
use kanjian_kernel::{Actor, Timestamp};

use crate::context::{ContextExt, Services};
use crate::errors::{GqlResultExt, into_payload, payload};
use crate::identity::Channel;
use crate::loaders::{self, RequestLoader};
use crate::relay::{NodeKind, NodeObject, expect_id, input_id, to_global_id};

impl NodeKind {
    pub(crate) const LIVE_ROOM: NodeKind = NodeKind("LiveRoom");
}

/// Where a live room is in its life.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum LiveRoomState {
    /// Announced (预告): people may reserve it; the creator may push to go live.
    Scheduled,
    /// On air, or waiting a short grace for its publisher to reconnect.
    Live,
    /// Over.
    Ended,
    /// Called off before it went live; everyone who reserved was told.
    Cancelled,
}

impl From<contract::LiveRoomState> for LiveRoomState {
    fn from(s: contract::LiveRoomState) -> Self {
        match s {
            contract::LiveRoomState::Scheduled => Self::Scheduled,
            contract::LiveRoomState::Live => Self::Live,
            contract::LiveRoomState::Ended => Self::Ended,
            contract::LiveRoomState::Cancelled => Self::Cancelled,
        }
    }
}

/// A live room (直播间) of a channel: announced ahead (with a planned start people can reserve)
/// or opened to go live at once. Hidden, like a room that does not exist, from people in a
/// block with its creator.
pub struct LiveRoom(pub LiveRoomDto);

impl NodeObject for LiveRoom {
    const KIND: NodeKind = NodeKind::LIVE_ROOM;
    async fn load(ctx: &Context<'_>, id: i64) -> async_graphql::Result<Option<Self>> {
        Ok(loaders::load::<_, LiveRoomLoader>(ctx, LiveRoomId(id)).await?.map(LiveRoom))
    }
}

/// Live rooms by id for one request, batched.
pub(crate) struct LiveRoomLoader {
    live: Arc<dyn LiveApi>,
    actor: Actor,
}

impl Loader<LiveRoomId> for LiveRoomLoader {
    type Value = LiveRoomDto;
    type Error = loaders::LoadError;
    async fn load(&self, keys: &[LiveRoomId]) -> Result<HashMap<LiveRoomId, LiveRoomDto>, loaders::LoadError> {
        let found = self.live.rooms_by_ids(&self.actor, keys).await.map_err(Arc::new)?;
        Ok(found.into_iter().map(|r| (r.id, r)).collect())
    }
}

impl RequestLoader for LiveRoomLoader {
    fn create(services: &Services, actor: &Actor) -> kanjian_kernel::Result<Self> {
        Ok(Self { live: services.apis.get()?, actor: actor.clone() })
    }
}

#[Object]
impl LiveRoom {
    pub async fn id(&self) -> ID {
        to_global_id(NodeKind::LIVE_ROOM, self.0.id.0)
    }

    async fn channel(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Channel>> {
        Ok(loaders::channel(ctx, self.0.channel_id).await?.map(Channel))
    }

    async fn title(&self) -> &str {
        &self.0.title
    }

    async fn description(&self) -> &str {
        &self.0.description
    }

    async fn cover_url(&self) -> Option<&str> {
        self.0.cover_url.as_deref()
    }

    async fn state(&self) -> LiveRoomState {
        self.0.state.into()
    }

    /// When the creator plans to go live; `null` for a room opened to go live at once.
    async fn planned_start_at(&self) -> Option<Timestamp> {
        self.0.planned_start_at
    }

    async fn started_at(&self) -> Option<Timestamp> {
        self.0.started_at
    }

    async fn ended_at(&self) -> Option<Timestamp> {
        self.0.ended_at
    }

    async fn cancelled_at(&self) -> Option<Timestamp> {
        self.0.cancelled_at
    }

    /// The room's HLS playlist, relative to the server (`/live/rooms/<id>/index.m3u8`), once it
    /// has gone live: while LIVE, the live edge as LL-HLS (about six 1 s segments, the parts of
    /// at most 0.334 s of the latest ones, blocking reload with `_HLS_msn`/`_HLS_part`,
    /// `EXT-X-PROGRAM-DATE-TIME` on each segment); the whole broadcast, closed with
    /// `EXT-X-ENDLIST`, once ENDED.
    async fn playlist_url(&self) -> Option<&str> {
        self.0.playlist_url.as_deref()
    }

    /// The whole broadcast as a video of the channel, once the room ended (it is `READY` within
    /// seconds). Unpublished, so only its creator sees it until they publish it.
    async fn replay(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<crate::media::Video>> {
        let Some(id) = self.0.replay_video_id else { return Ok(None) };
        Ok(loaders::video(ctx, id).await?.map(crate::media::Video))
    }

    /// How many people reserved it (预约人数).
    async fn reservation_count(&self) -> i64 {
        self.0.reservation_count
    }

    /// Whether the viewer reserved it and is still waiting for it to go live.
    async fn viewer_has_reserved(&self) -> bool {
        self.0.actor_reserved
    }

    /// What OBS or ffmpeg needs to push to this room. The creator only; `null` for everyone
    /// else.
    async fn stream_credentials(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<LiveStreamCredentials>> {
        if ctx.actor().user_id() != Some(self.0.owner_id) {
            return Ok(None);
        }
        let credentials = ctx.api::<dyn LiveApi>()?.stream_credentials(ctx.actor(), self.0.id).await.gql()?;
        Ok(Some(credentials.into()))
    }

    /// The message pinned above the comments, if any.
    async fn pinned_message(&self) -> Option<LivePinnedMessage> {
        self.0.pinned_message.clone().map(LivePinnedMessage)
    }

    /// The product pinned while LIVE (讲解中), as you may see it (listed); `null` when none is,
    /// and once the room ended. `liveRoomEvents` sends its changes (`LiveProductPinned`,
    /// `LiveProductUpdated`).
    async fn pinned_product(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<crate::commerce::Product>> {
        self.pinned(ctx).await
    }

    /// When the pinned product was pinned.
    async fn pinned_product_at(&self) -> Option<Timestamp> {
        self.0.pinned_product_at
    }

    /// Viewers (now, peak, total) and likes. `liveRoomEvents` sends them as they change.
    async fn counts(&self) -> LiveRoomCounts {
        self.0.counts.into()
    }

    /// Its comments, newest first (removed ones and those of people in a block with you left
    /// out). New ones arrive through `liveRoomEvents`.
    #[graphql(complexity = "crate::relay::connection_complexity(first, child_complexity)")]
    async fn comments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, LiveComment>> {
        self.comments_page(ctx, first, after).await
    }

    /// Whether you may moderate it: its creator, or a moderator of its channel.
    async fn viewer_can_moderate(&self) -> bool {
        self.0.actor_can_moderate
    }

    /// Viewers muted or banned in the channel's lives, newest first. The creator and moderators
    /// only; `null` for everyone else.
    async fn restricted_viewers(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Vec<chat::LiveRestrictedViewer>>> {
        self.restricted(ctx).await
    }

    async fn created_at(&self) -> Timestamp {
        self.0.created_at
    }

    async fn updated_at(&self) -> Timestamp {
        self.0.updated_at
    }
}

/// Where to push a live: OBS asks for the server and the key apart; ffmpeg takes
/// `<serverUrl>/<streamKey>`. The key is a secret: anyone holding it can go live in the room.
#[derive(SimpleObject)]
pub struct LiveStreamCredentials {
    /// e.g. `rtmp://live.example:1935/live`.
    pub server_url: String,
    /// Works while the room is SCHEDULED or LIVE, until rotated.
    pub stream_key: String,
    pub rotated_at: Timestamp,
}

impl From<StreamCredentialsDto> for LiveStreamCredentials {
    fn from(c: StreamCredentialsDto) -> Self {
        Self { server_url: c.server_url, stream_key: c.stream_key, rotated_at: c.rotated_at }
    }
}

#[derive(InputObject)]
pub struct ScheduleLiveInput {
    /// 1 to 60 characters, one line.
    pub title: String,
    /// Up to 1000 characters.
    pub description: Option<String>,
    /// An http(s) image URL.
    pub cover_url: Option<String>,
    /// When you plan to go live: in the future, within a year. Leave it out to open a room to go
    /// live at once. A channel announces at most 15 lives at a time (`LIMIT_REACHED`).
    pub planned_start_at: Option<Timestamp>,
}

#[derive(InputObject)]
pub struct UpdateLiveInput {
    pub live_room_id: ID,
    pub title: Option<String>,
    pub description: Option<String>,
    /// `null` removes the cover.
    pub cover_url: MaybeUndefined<String>,
    /// Only before the room goes live. The reminder follows the new time.
    pub planned_start_at: Option<Timestamp>,
}

/// Names one live room.
#[derive(InputObject)]
pub struct LiveRoomInput {
    pub live_room_id: ID,
}

payload!(LiveRoomPayload { live_room: LiveRoom });
payload!(RotateStreamKeyPayload {
    /// The new credentials; the old key stopped working.
    stream_credentials: LiveStreamCredentials,
});

pub(crate) fn room_id(id: &ID) -> kanjian_kernel::Result<LiveRoomId> {
    input_id(id, NodeKind::LIVE_ROOM, "liveRoomId").map(LiveRoomId)
}

pub(crate) fn room_payload(result: kanjian_kernel::Result<LiveRoomDto>) -> async_graphql::Result<LiveRoomPayload> {
    into_payload(result, |room| LiveRoomPayload { live_room: Some(LiveRoom(room)), user_errors: vec![] })
}

#[derive(Default)]
pub struct LiveMutation;

#[Object]
impl LiveMutation {
    /// Opens a live room for the viewer's channel: announced for `plannedStartAt`, or to go live
    /// at once. Push to it with its `streamCredentials`. Needs a channel (`INVALID_STATE`).
    async fn schedule_live(&self, ctx: &Context<'_>, input: ScheduleLiveInput) -> async_graphql::Result<LiveRoomPayload> {
        let api = ctx.api::<dyn LiveApi>()?;
        let input = contract::ScheduleLiveInput {
            title: input.title,
            description: input.description,
            cover_url: input.cover_url,
            planned_start_at: input.planned_start_at,
        };
        room_payload(api.schedule_live(ctx.actor(), input).await)
    }

    /// Edits an upcoming or live room. The creator only.
    async fn update_live(&self, ctx: &Context<'_>, input: UpdateLiveInput) -> async_graphql::Result<LiveRoomPayload> {
        let api = ctx.api::<dyn LiveApi>()?;
        let result = async {
            let id = room_id(&input.live_room_id)?;
            let changes = contract::UpdateLiveInput {
                title: input.title,
                description: input.description,
                cover_url: match input.cover_url {
                    MaybeUndefined::Undefined => None,
                    MaybeUndefined::Null => Some(None),
                    MaybeUndefined::Value(url) => Some(Some(url)),
                },
                planned_start_at: input.planned_start_at,
            };
            api.update_live(ctx.actor(), id, changes).await
        }
        .await;
        room_payload(result)
    }

    /// Calls off an upcoming live; everyone who reserved it is told, in-app and by email. The
    /// creator only.
    async fn cancel_live(&self, ctx: &Context<'_>, input: LiveRoomInput) -> async_graphql::Result<LiveRoomPayload> {
        let api = ctx.api::<dyn LiveApi>()?;
        let result = async { api.cancel_live(ctx.actor(), room_id(&input.live_room_id)?).await }.await;
        room_payload(result)
    }

    /// Ends a live room now; its publisher is disconnected. The creator only.
    async fn end_live(&self, ctx: &Context<'_>, input: LiveRoomInput) -> async_graphql::Result<LiveRoomPayload> {
        let api = ctx.api::<dyn LiveApi>()?;
        let result = async { api.end_live(ctx.actor(), room_id(&input.live_room_id)?).await }.await;
        room_payload(result)
    }

    /// Gives the room a new stream key; the old one stops working at once. The creator only.
    async fn rotate_stream_key(&self, ctx: &Context<'_>, input: LiveRoomInput) -> async_graphql::Result<RotateStreamKeyPayload> {
        let api = ctx.api::<dyn LiveApi>()?;
        let result = async { api.rotate_stream_key(ctx.actor(), room_id(&input.live_room_id)?).await }.await;
        into_payload(result, |c| RotateStreamKeyPayload { stream_credentials: Some(c.into()), user_errors: vec![] })
    }

    /// Reserves (预约) an upcoming live: you are reminded in-app, and by email at a verified
    /// address, when it goes live within an hour of its planned start. Reserving again changes
    /// nothing. A cancelled, live, ended or long-past live is `INVALID_STATE`.
    async fn reserve_live(&self, ctx: &Context<'_>, input: LiveRoomInput) -> async_graphql::Result<LiveRoomPayload> {
        let api = ctx.api::<dyn LiveApi>()?;
        let result = async { api.reserve(ctx.actor(), room_id(&input.live_room_id)?).await }.await;
        room_payload(result)
    }

    /// Withdraws your reservation; withdrawing none changes nothing.
    async fn cancel_live_reservation(&self, ctx: &Context<'_>, input: LiveRoomInput) -> async_graphql::Result<LiveRoomPayload> {
        let api = ctx.api::<dyn LiveApi>()?;
        let result = async { api.unreserve(ctx.actor(), room_id(&input.live_room_id)?).await }.await;
        room_payload(result)
    }
}

/// The room changed: its state (it went live, ended, was cancelled) or its details.
#[derive(SimpleObject)]
pub struct LiveRoomChanged {
    pub live_room: LiveRoom,
}

/// Comments since the last batch (about every 150 ms), oldest first. In a busy room you get
/// about 20 a second: every comment of the creator and moderators, your own, and a sample of
/// the rest.
#[derive(SimpleObject)]
pub struct LiveCommentsAdded {
    pub comments: Vec<LiveComment>,
    /// Viewers' comments of this batch left out of your sample.
    pub omitted: i32,
}

/// Comments removed by their author, the creator or a moderator: take them off the screen.
#[derive(SimpleObject)]
pub struct LiveCommentsDeleted {
    pub live_comment_ids: Vec<ID>,
}

/// The pinned message changed.
#[derive(SimpleObject)]
pub struct LivePinnedMessageChanged {
    /// `null`: unpinned.
    pub pinned_message: Option<LivePinnedMessage>,
}

/// The counts changed (at most once a second).
#[derive(SimpleObject)]
pub struct LiveCountsChanged {
    pub counts: LiveRoomCounts,
}

/// You were removed from the channel's lives; the subscription ends.
#[derive(SimpleObject)]
pub struct LiveViewerRemoved {
    pub message: String,
}

/// Something that happened in a live room. More kinds will join (gifts): select the ones you
/// show with fragments and skip the rest.
// The variants are named as the schema's union members (all `Live…`); one event lives at a
// time per subscriber, so the room's size in one variant costs nothing worth boxing.
#[allow(clippy::large_enum_variant, clippy::enum_variant_names)]
#[derive(Union)]
pub enum LiveRoomEvent {
    LiveRoomChanged(LiveRoomChanged),
    LiveCommentsAdded(LiveCommentsAdded),
    LiveCommentsDeleted(LiveCommentsDeleted),
    LivePinnedMessageChanged(LivePinnedMessageChanged),
    LiveCountsChanged(LiveCountsChanged),
    LiveViewerRemoved(LiveViewerRemoved),
    LiveProductPinned(LiveProductPinned),
    LiveProductUpdated(LiveProductUpdated),
    LiveJustBought(LiveJustBought),
}

impl From<LiveRoomEventDto> for LiveRoomEvent {
    fn from(event: LiveRoomEventDto) -> Self {
        match event {
            LiveRoomEventDto::Changed(room) => Self::LiveRoomChanged(LiveRoomChanged { live_room: LiveRoom(*room) }),
            LiveRoomEventDto::Comments { comments, omitted } => Self::LiveCommentsAdded(LiveCommentsAdded {
                comments: comments.into_iter().map(LiveComment).collect(),
                omitted: i32::try_from(omitted).unwrap_or(i32::MAX),
            }),
            LiveRoomEventDto::CommentsDeleted { ids } => Self::LiveCommentsDeleted(LiveCommentsDeleted {
                live_comment_ids: ids.into_iter().map(|id| to_global_id(chat::LIVE_COMMENT, id.0)).collect(),
            }),
            LiveRoomEventDto::PinnedMessage(pinned) => {
                Self::LivePinnedMessageChanged(LivePinnedMessageChanged { pinned_message: pinned.map(LivePinnedMessage) })
            }
            LiveRoomEventDto::Counts(counts) => Self::LiveCountsChanged(LiveCountsChanged { counts: counts.into() }),
            LiveRoomEventDto::Removed => Self::LiveViewerRemoved(LiveViewerRemoved {
                message: "You were removed from this channel's lives.".into(),
            }),
            LiveRoomEventDto::ProductPinned(pinned) => {
                Self::LiveProductPinned(LiveProductPinned { pinned_product: pinned.map(|p| LivePinnedProduct(*p)) })
            }
            LiveRoomEventDto::ProductUpdated(product) => {
                Self::LiveProductUpdated(LiveProductUpdated { product: crate::commerce::Product(*product) })
            }
            LiveRoomEventDto::JustBought { product_id, quantity, at } => Self::LiveJustBought(LiveJustBought { product_id, quantity, at }),
        }
    }
}

#[derive(Default)]
pub struct LiveSubscription;

#[Subscription]
impl LiveSubscription {
    /// What happens in a live room, on whichever node it happens: first the room as it is now,
    /// then its changes, comments, removed comments, pinned message, pinned product (its price
    /// and stock as they change), "just bought" and counts. While it runs
    /// you count as a viewer. Ends after the room ends or is cancelled, or when you are removed.
    /// A room you may not see is `NOT_FOUND`, exactly as a missing one; `FORBIDDEN` when you
    /// were removed from the channel's lives.
    async fn live_room_events(
        &self,
        ctx: &Context<'_>,
        live_room_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = shared::LiveRoomEventItem> + use<>> {
        let id = LiveRoomId(expect_id(&live_room_id, NodeKind::LIVE_ROOM)?);
        let events = ctx.api::<dyn LiveApi>()?.watch_room(ctx.actor(), id).await.gql()?;
        let shapes = shared::Shapes::of(ctx);
        Ok(events.map(move |event| shared::LiveRoomEventItem { event, shapes }))
    }
}
