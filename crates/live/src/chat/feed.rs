//! Fan-out to the viewers of a room on this node.
//!
//! A node keeps one [`RoomFeed`] per room it has viewers for. The feed listens to the room's
//! chat topic on the hub (so a node only receives rooms it has viewers for) and to the room's
//! global viewer count (`Presence`), and every `comment_batch_ms` hands its viewers one shared
//! [`Tick`]: what arrived since the last one. Each viewer's stream takes from the tick what is
//! theirs to see:
//!
//! - every priority comment (the creator's and moderators'), and their own;
//! - a sample of the others, spread over the batch, so that a viewer gets about
//!   `comments_per_viewer_per_second` however many people type; `omitted` says how many were
//!   left out;
//! - nothing from people in a block with them;
//! - removals, the pinned message, the pinned product's card, "just bought" (the newest few)
//!   and counts, always;
//! - after falling behind and skipping batches, the priority comments of those batches, from
//!   the feed's backlog of the latest 256.
//!
//! Once a second the feed writes the global viewer count to the room (and raises its peak),
//! reads the room's counters back, and passes them on when they changed.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use kanjian_contracts::live::{LiveCommentDto, LiveCountsDto, LiveRoomEventDto, LiveRoomState, PinnedMessageDto, RoomEvent};
use kanjian_events::PresenceGuard;
use kanjian_kernel::ids::{LiveCommentId, LiveRoomId, UserId};
use kanjian_kernel::{Context, Error, Result};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use tokio::sync::broadcast;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::shop::{Bought, Card, ShopFilter, bought_events};
use super::{ChatMessage, chat_topic, viewers_key};
use crate::Deps;
use crate::entity::{room, viewer};
use crate::rooms::state_of;

/// Most viewers' comments one tick holds; past it they are only counted (as omitted). The
/// priority lane is never cut.
const MAX_TICK_COMMENTS: usize = 1_000;
/// Ticks a slow viewer may fall behind before it skips some (it then misses comments, never
/// the room's state: that comes from the room itself).
const TICK_BUFFER: usize = 64;
/// Priority comments a feed keeps, so a viewer who fell behind and skipped batches still gets
/// every one of them.
const PRIORITY_BACKLOG: usize = 256;
/// How often a node tells the database who is still watching (for "friends watching").
const SEEN_EVERY: Duration = Duration::from_secs(30);

/// What a room's viewers on this node get at one tick, shared by all of them.
#[derive(Debug, Default)]
pub(crate) struct Tick {
    priority: Vec<LiveCommentDto>,
    sampled: Vec<LiveCommentDto>,
    /// Viewers' comments left out of the sample, by author: each viewer still gets their own.
    unsampled_by_author: HashMap<UserId, Vec<LiveCommentDto>>,
    /// Viewers' comments in this tick, sampled or not (and past the cap).
    viewer_comments: u32,
    deleted: Vec<LiveCommentId>,
    pinned: Option<Option<PinnedMessageDto>>,
    card: Card,
    bought: Vec<Bought>,
    counts: Option<LiveCountsDto>,
    removed: HashSet<UserId>,
    /// The events most viewers get (see `events_for`), built by the first who asks.
    common: OnceLock<Vec<RoomEvent>>,
}

impl Tick {
    /// What `viewer` (hiding people in `hidden`, and the priority comments up to `delivered`,
    /// which they already got) gets of this tick, and whether they were removed (their stream
    /// then ends). Viewers who wrote nothing in the tick and hide nobody in it all get the
    /// same events: built once and shared, so the API layer can also answer them once.
    pub(crate) fn events_for(&self, viewer: Option<UserId>, hidden: &HashSet<UserId>, delivered: LiveCommentId) -> (Vec<RoomEvent>, bool) {
        if viewer.is_some_and(|v| self.removed.contains(&v)) {
            return (vec![RoomEvent::own(LiveRoomEventDto::Removed)], true);
        }
        let own: &[LiveCommentDto] = viewer.and_then(|v| self.unsampled_by_author.get(&v)).map_or(&[], Vec::as_slice);
        let hides_someone = !hidden.is_empty() && self.priority.iter().chain(&self.sampled).any(|c| hidden.contains(&c.author_id));
        let got_some_already = self.priority.iter().any(|c| c.id <= delivered);
        if own.is_empty() && !hides_someone && !got_some_already {
            let common = self.common.get_or_init(|| {
                self.events(&[], &HashSet::new(), LiveCommentId(0)).into_iter().map(RoomEvent::shared).collect()
            });
            return (common.clone(), false);
        }
        (self.events(own, hidden, delivered).into_iter().map(RoomEvent::own).collect(), false)
    }

    fn events(&self, own: &[LiveCommentDto], hidden: &HashSet<UserId>, delivered: LiveCommentId) -> Vec<LiveRoomEventDto> {
        let mut comments: Vec<LiveCommentDto> = self
            .priority
            .iter()
            .filter(|c| c.id > delivered)
            .chain(&self.sampled)
            .chain(own)
            .filter(|c| !hidden.contains(&c.author_id))
            .cloned()
            .collect();
        comments.sort_by_key(|c| c.id);
        let delivered = (self.sampled.len() + own.len()) as u32;
        let omitted = self.viewer_comments.saturating_sub(delivered);
        // The shop's news first: a viewer acting on a card (buying) wants it soonest.
        let mut events = self.card.events();
        events.extend(bought_events(&self.bought));
        if !comments.is_empty() || omitted > 0 {
            events.push(LiveRoomEventDto::Comments { comments, omitted });
        }
        if !self.deleted.is_empty() {
            events.push(LiveRoomEventDto::CommentsDeleted { ids: self.deleted.clone() });
        }
        if let Some(pinned) = &self.pinned {
            events.push(LiveRoomEventDto::PinnedMessage(pinned.clone()));
        }
        if let Some(counts) = self.counts {
            events.push(LiveRoomEventDto::Counts(counts));
        }
        events
    }
}

/// What arrived since the last tick.
#[derive(Default)]
struct Gathered {
    priority: Vec<LiveCommentDto>,
    viewers: Vec<LiveCommentDto>,
    viewer_comments: u32,
    deleted: Vec<LiveCommentId>,
    pinned: Option<Option<PinnedMessageDto>>,
    card: Card,
    bought: Vec<Bought>,
    counts: Option<LiveCountsDto>,
    removed: HashSet<UserId>,
}

impl Gathered {
    fn add(&mut self, message: ChatMessage) {
        match message {
            ChatMessage::Comments { comments } => {
                for comment in comments {
                    if comment.role.is_priority() {
                        self.priority.push(comment);
                    } else {
                        self.viewer_comments += 1;
                        if self.viewers.len() < MAX_TICK_COMMENTS {
                            self.viewers.push(comment);
                        }
                    }
                }
            }
            ChatMessage::Deleted { ids } => {
                // A comment removed before it went out is simply not sent.
                self.priority.retain(|c| !ids.contains(&c.id));
                self.viewers.retain(|c| !ids.contains(&c.id));
                self.deleted.extend(ids);
            }
            ChatMessage::Pinned { pinned } => self.pinned = Some(pinned),
            ChatMessage::Removed { user_id } => {
                self.removed.insert(user_id);
            }
            ChatMessage::ProductPinned { pinned, .. } => self.card.pin(pinned),
            ChatMessage::ProductUpdated { product, .. } => self.card.update(product),
            ChatMessage::JustBought { items } => {
                self.bought.extend(items);
                // Only the newest go out.
                let extra = self.bought.len().saturating_sub(super::shop::MAX_BOUGHT_PER_TICK);
                self.bought.drain(..extra);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.priority.is_empty()
            && self.viewer_comments == 0
            && self.deleted.is_empty()
            && self.pinned.is_none()
            && self.card.is_empty()
            && self.bought.is_empty()
            && self.counts.is_none()
            && self.removed.is_empty()
    }

    /// The tick, sampling at most `per_tick` viewers' comments spread over the batch (the
    /// newest always among them).
    fn take(&mut self, per_tick: usize) -> Tick {
        let Gathered { priority, viewers, viewer_comments, deleted, pinned, card, bought, counts, removed } = std::mem::take(self);
        let n = viewers.len();
        let per_tick = per_tick.max(1);
        let keep: HashSet<usize> = if n <= per_tick { (0..n).collect() } else { (1..=per_tick).map(|i| i * n / per_tick - 1).collect() };
        let mut sampled = Vec::with_capacity(keep.len());
        let mut unsampled_by_author: HashMap<UserId, Vec<LiveCommentDto>> = HashMap::new();
        for (i, comment) in viewers.into_iter().enumerate() {
            if keep.contains(&i) {
                sampled.push(comment);
            } else {
                unsampled_by_author.entry(comment.author_id).or_default().push(comment);
            }
        }
        Tick { priority, sampled, unsampled_by_author, viewer_comments, deleted, pinned, card, bought, counts, removed, common: OnceLock::new() }
    }
}

/// A room's fan-out on this node, shared by its viewers here; it stops when the last goes.
pub(crate) struct RoomFeed {
    ticks: broadcast::Sender<Arc<Tick>>,
    /// The latest priority comments (see PRIORITY_BACKLOG).
    priority: Mutex<VecDeque<LiveCommentDto>>,
    /// The room's pinned message, pinned product and counts as last sent: state, not news, so
    /// a viewer who skipped the batches that carried them gets them again.
    state: Mutex<RoomState>,
    /// Signed-in viewers here, by `live_viewers.viewer_key`, with how many streams each has.
    watching: Mutex<HashMap<String, usize>>,
    stop: CancellationToken,
}

impl Drop for RoomFeed {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl RoomFeed {
    fn remember_priority(&self, comments: &[LiveCommentDto]) {
        let mut backlog = self.priority.lock().unwrap_or_else(|e| e.into_inner());
        backlog.extend(comments.iter().cloned());
        while backlog.len() > PRIORITY_BACKLOG {
            backlog.pop_front();
        }
    }

    fn remember_state(&self, tick: &Tick) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pinned) = &tick.pinned {
            state.pinned = Some(pinned.clone());
        }
        state.card.merge(&tick.card);
        if tick.counts.is_some() {
            state.counts = tick.counts;
        }
    }

    fn state(&self) -> RoomState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn priority_after(&self, after: LiveCommentId) -> Vec<LiveCommentDto> {
        let backlog = self.priority.lock().unwrap_or_else(|e| e.into_inner());
        backlog.iter().filter(|c| c.id > after).cloned().collect()
    }

    fn watching(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.watching.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The feeds of this node, by room.
#[derive(Default)]
pub(crate) struct Feeds {
    rooms: Mutex<HashMap<LiveRoomId, Weak<RoomFeed>>>,
}

impl Feeds {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<LiveRoomId, Weak<RoomFeed>>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The room's feed on this node, started if it has none.
    pub(crate) async fn join(&self, deps: &Arc<Deps>, room: LiveRoomId) -> Result<Arc<RoomFeed>> {
        if let Some(feed) = self.lock().get(&room).and_then(Weak::upgrade) {
            return Ok(feed);
        }
        let hub_error = |e: anyhow::Error| Error::Internal(e.context("following a live room"));
        let chat = deps.hub.subscribe(&chat_topic(room)).await.map_err(hub_error)?;
        let totals = deps.chat.presence(&deps.hub).watch(&viewers_key(room)).await.map_err(hub_error)?;
        let mut rooms = self.lock();
        // Another viewer may have started it meanwhile: share theirs (this hub stream goes).
        if let Some(feed) = rooms.get(&room).and_then(Weak::upgrade) {
            return Ok(feed);
        }
        rooms.retain(|_, feed| feed.strong_count() > 0);
        let (ticks, _) = broadcast::channel(TICK_BUFFER);
        let feed = Arc::new(RoomFeed {
            ticks: ticks.clone(),
            priority: Mutex::default(),
            state: Mutex::default(),
            watching: Mutex::default(),
            stop: CancellationToken::new(),
        });
        rooms.insert(room, Arc::downgrade(&feed));
        tokio::spawn(run(deps.clone(), room, chat, totals, Arc::downgrade(&feed), feed.stop.clone()));
        Ok(feed)
    }
}

/// One viewer's presence in a room: counted in its viewers now (every node), once in its total,
/// and, signed in, among those watching (for "friends watching"). Leaves when dropped.
pub(crate) struct Viewer {
    feed: Arc<RoomFeed>,
    key: Option<String>,
    _presence: PresenceGuard,
}

impl Drop for Viewer {
    fn drop(&mut self) {
        if let Some(key) = &self.key {
            let mut watching = self.feed.watching();
            if let Some(n) = watching.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    watching.remove(key);
                }
            }
        }
    }
}

impl Viewer {
    pub(crate) async fn join(deps: &Deps, feed: Arc<RoomFeed>, room: LiveRoomId, user: Option<UserId>) -> Result<Self> {
        let key = match user {
            Some(u) => format!("u:{}", u.0),
            None => format!("a:{}", uuid::Uuid::new_v4().simple()),
        };
        record_viewer(deps, room, &key, user).await?;
        let presence = deps.chat.presence(&deps.hub).join(&viewers_key(room));
        let key = user.map(|_| key);
        if let Some(key) = &key {
            *feed.watching().entry(key.clone()).or_insert(0) += 1;
        }
        Ok(Self { feed, key, _presence: presence })
    }

}

/// One viewer's events from the room's feed: each batch as [`Tick::events_for`] gives it, and
/// whether they were removed.
///
/// A viewer whose connection is busy (a slow client, or a node that cannot keep up with every
/// viewer at every batch) finds several batches waiting when it asks for the next: they go out
/// together, as one, so being late never queues up more messages (each costs a write) and the
/// viewer is back at the live edge with the next. One more than `TICK_BUFFER` batches behind
/// skips batches, but first gets the priority comments they held from the feed's backlog, and
/// the room's latest pinned message, pinned product and counts. No comment comes twice.
pub(crate) fn viewer_events(
    viewer: Viewer,
    me: Option<UserId>,
    hidden: HashSet<UserId>,
) -> BoxStream<'static, (Vec<RoomEvent>, bool)> {
    let receiver = viewer.feed.ticks.subscribe();
    // Priority comments from before the viewer came are not theirs to catch up on.
    let delivered = viewer.feed.priority_after(LiveCommentId(0)).last().map_or(LiveCommentId(0), |c| c.id);
    futures::stream::unfold((viewer, receiver, delivered), move |(viewer, mut receiver, mut delivered)| {
        let hidden = hidden.clone();
        async move {
            let mut lagged = None;
            let mut ticks = Vec::new();
            match receiver.recv().await {
                Ok(tick) => ticks.push(tick),
                Err(broadcast::error::RecvError::Lagged(skipped)) => lagged = Some(skipped),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
            loop {
                match receiver.try_recv() {
                    Ok(tick) => ticks.push(tick),
                    Err(broadcast::error::TryRecvError::Lagged(skipped)) => {
                        // Skipped batches come before the ones still held.
                        ticks.clear();
                        lagged = Some(lagged.unwrap_or(0) + skipped);
                    }
                    Err(_) => break,
                }
            }
            let mut caught_up = Vec::new();
            if let Some(skipped) = lagged {
                caught_up = viewer.feed.priority_after(delivered).into_iter().filter(|c| !hidden.contains(&c.author_id)).collect();
                tracing::debug!(skipped, caught_up = caught_up.len(), "a viewer fell behind; catching up on the priority lane");
                delivered = caught_up.iter().map(|c| c.id).fold(delivered, Ord::max);
            }
            let out = if caught_up.is_empty() && ticks.len() == 1 {
                let tick = &ticks[0];
                let out = tick.events_for(me, &hidden, delivered);
                delivered = tick.priority.iter().map(|c| c.id).fold(delivered, Ord::max);
                out
            } else {
                let mut merged = Merged { comments: caught_up, ..Merged::default() };
                for tick in &ticks {
                    let (events, removed) = tick.events_for(me, &hidden, delivered);
                    delivered = tick.priority.iter().map(|c| c.id).fold(delivered, Ord::max);
                    if removed {
                        merged.removed = true;
                        break;
                    }
                    events.into_iter().for_each(|event| merged.add(event.into_event()));
                }
                if lagged.is_some() && !merged.removed {
                    // The pin and counts of skipped batches: the latest sent, newer than any
                    // held here (a batch sent since comes next and says the same or newer).
                    let state = viewer.feed.state();
                    merged.pinned = state.pinned.or(merged.pinned);
                    if !state.card.is_empty() {
                        merged.card = state.card;
                    }
                    merged.counts = state.counts.or(merged.counts);
                }
                merged.into_events()
            };
            Some((out, (viewer, receiver, delivered)))
        }
    })
    .boxed()
}

/// What a room shows beside its comments, as the feed last sent it.
#[derive(Debug, Clone, Default)]
struct RoomState {
    pinned: Option<Option<PinnedMessageDto>>,
    /// The latest pin and the newest card of its product.
    card: Card,
    counts: Option<LiveCountsDto>,
}

/// Several batches of one viewer, made one.
#[derive(Default)]
struct Merged {
    comments: Vec<LiveCommentDto>,
    omitted: u32,
    deleted: Vec<LiveCommentId>,
    pinned: Option<Option<PinnedMessageDto>>,
    card: Card,
    /// `JustBought` events, oldest first.
    bought: Vec<LiveRoomEventDto>,
    counts: Option<LiveCountsDto>,
    removed: bool,
}

impl Merged {
    fn add(&mut self, event: LiveRoomEventDto) {
        match event {
            LiveRoomEventDto::Comments { comments, omitted } => {
                self.comments.extend(comments);
                self.omitted += omitted;
            }
            LiveRoomEventDto::CommentsDeleted { ids } => self.deleted.extend(ids),
            LiveRoomEventDto::PinnedMessage(pinned) => self.pinned = Some(pinned),
            LiveRoomEventDto::Counts(counts) => self.counts = Some(counts),
            LiveRoomEventDto::ProductPinned(pinned) => self.card.pin(pinned),
            LiveRoomEventDto::ProductUpdated(product) => self.card.update(product),
            bought @ LiveRoomEventDto::JustBought { .. } => self.bought.push(bought),
            LiveRoomEventDto::Removed => self.removed = true,
            // Room changes do not travel in batches.
            LiveRoomEventDto::Changed(_) => {}
        }
    }

    fn into_events(mut self) -> (Vec<RoomEvent>, bool) {
        if self.removed {
            return (vec![RoomEvent::own(LiveRoomEventDto::Removed)], true);
        }
        // A comment removed in a later batch is simply not sent.
        self.comments.retain(|c| !self.deleted.contains(&c.id));
        self.comments.sort_by_key(|c| c.id);
        let mut events = self.card.events();
        let newest = self.bought.len().saturating_sub(super::shop::MAX_BOUGHT_PER_TICK);
        events.extend(self.bought.drain(newest..));
        if !self.comments.is_empty() || self.omitted > 0 {
            events.push(LiveRoomEventDto::Comments { comments: self.comments, omitted: self.omitted });
        }
        if !self.deleted.is_empty() {
            events.push(LiveRoomEventDto::CommentsDeleted { ids: self.deleted });
        }
        if let Some(pinned) = self.pinned {
            events.push(LiveRoomEventDto::PinnedMessage(pinned));
        }
        if let Some(counts) = self.counts {
            events.push(LiveRoomEventDto::Counts(counts));
        }
        (events.into_iter().map(RoomEvent::own).collect(), false)
    }
}

/// Counts the viewer once in the room's total, and marks them watching now.
async fn record_viewer(deps: &Deps, room: LiveRoomId, key: &str, user: Option<UserId>) -> Result<()> {
    let now = deps.db.now();
    let txn = deps.db.begin().await.context("starting to count a viewer")?;
    let inserted = viewer::Entity::insert(viewer::ActiveModel {
        room_id: Set(room.0),
        viewer_key: Set(key.to_owned()),
        user_id: Set(user.map(|u| u.0)),
        first_seen_at: Set(now),
        last_seen_at: Set(now),
    })
    .on_conflict_do_nothing()
    .exec_without_returning(&txn)
    .await
    .context("counting a viewer")?;
    if matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0) {
        room::Entity::update_many()
            .col_expr(room::Column::ViewersTotal, Expr::col(room::Column::ViewersTotal).add(1))
            .filter(room::Column::Id.eq(room.0))
            .exec(&txn)
            .await
            .context("adding to a room's viewers")?;
    } else {
        viewer::Entity::update_many()
            .col_expr(viewer::Column::LastSeenAt, Expr::value(now))
            .filter(viewer::Column::RoomId.eq(room.0))
            .filter(viewer::Column::ViewerKey.eq(key))
            .exec(&txn)
            .await
            .context("marking a viewer watching")?;
    }
    txn.commit().await.context("committing a viewer")?;
    Ok(())
}

pub(crate) fn counts_of(row: &room::Model) -> LiveCountsDto {
    let live = state_of(row).is_ok_and(|s| s == LiveRoomState::Live);
    LiveCountsDto {
        viewers_now: if live { row.viewers_now } else { 0 },
        viewers_peak: row.viewers_peak,
        viewers_total: row.viewers_total,
        likes: row.like_count,
    }
}

/// Writes the global count of viewers now to the room (the peak only rises), when it changed,
/// then reads the room's counters back.
async fn refresh_counts(deps: &Deps, room: LiveRoomId, now: i64) -> Result<Option<LiveCountsDto>> {
    room::Entity::update_many()
        .col_expr(room::Column::ViewersNow, Expr::value(now))
        .col_expr(
            room::Column::ViewersPeak,
            Expr::case(Expr::col(room::Column::ViewersPeak).lt(now), Expr::value(now))
                .finally(Expr::col(room::Column::ViewersPeak))
                .into(),
        )
        .filter(room::Column::Id.eq(room.0))
        .filter(room::Column::State.eq(LiveRoomState::Live.as_str()))
        .filter(Expr::col(room::Column::ViewersNow).ne(now).or(Expr::col(room::Column::ViewersPeak).lt(now)))
        .exec(deps.db.writer())
        .await
        .context("writing a room's viewer count")?;
    let row = room::Entity::find_by_id(room.0).one(deps.db.reader()).await.context("reading a room's counters")?;
    Ok(row.as_ref().map(counts_of))
}

async fn mark_watching(deps: &Deps, room: LiveRoomId, keys: Vec<String>) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    viewer::Entity::update_many()
        .col_expr(viewer::Column::LastSeenAt, Expr::value(deps.db.now()))
        .filter(viewer::Column::RoomId.eq(room.0))
        .filter(viewer::Column::ViewerKey.is_in(keys))
        .exec(deps.db.writer())
        .await
        .context("marking viewers watching")?;
    Ok(())
}

#[tracing::instrument(skip_all, fields(room_id = %room))]
async fn run(
    deps: Arc<Deps>,
    room: LiveRoomId,
    mut chat: BoxStream<'static, serde_json::Value>,
    mut totals: BoxStream<'static, u64>,
    feed: Weak<RoomFeed>,
    stop: CancellationToken,
) {
    let config = &deps.config;
    let per_tick = Ord::max(u64::from(config.comments_per_viewer_per_second) * Ord::max(config.comment_batch_ms, 1) / 1000, 1) as usize;
    let mut batch = tokio::time::interval(Duration::from_millis(Ord::max(config.comment_batch_ms, 10)));
    batch.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut counts_tick = tokio::time::interval(Duration::from_millis(Ord::max(config.counts_interval_ms, 10)));
    counts_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut gathered = Gathered::default();
    let mut shop = ShopFilter::default();
    let mut total: u64 = 0;
    let mut last_counts: Option<LiveCountsDto> = None;
    let mut last_seen_write = tokio::time::Instant::now();
    let presence = deps.chat.presence(&deps.hub);
    let key = viewers_key(room);
    let mut local_at_last_count = 0;
    // The counts' database work runs beside this loop, so a busy writer (SQLite has one) never
    // holds up a batch: one refresh at a time, its answer taken when it comes.
    let mut refreshing: Option<tokio::task::JoinHandle<Option<LiveCountsDto>>> = None;
    tracing::debug!(per_tick, "room feed started");
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            message = chat.next() => {
                let Some(message) = message else { break };
                match serde_json::from_value::<ChatMessage>(message) {
                    Ok(message) => {
                        if let Some(message) = shop.admit(message) {
                            gathered.add(message);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "skipping a chat message this node cannot read"),
                }
            }
            Some(t) = totals.next() => total = t,
            _ = batch.tick() => {
                if gathered.is_empty() {
                    continue;
                }
                let Some(feed) = feed.upgrade() else { break };
                let tick = gathered.take(per_tick);
                feed.remember_priority(&tick.priority);
                feed.remember_state(&tick);
                let _ = feed.ticks.send(Arc::new(tick));
            }
            _ = counts_tick.tick(), if refreshing.is_none() => {
                local_at_last_count = presence.local_count(&key);
                let watching = (last_seen_write.elapsed() >= SEEN_EVERY).then(|| {
                    last_seen_write = tokio::time::Instant::now();
                    feed.upgrade().map(|f| f.watching().keys().cloned().collect()).unwrap_or_default()
                });
                let deps = deps.clone();
                let now = i64::try_from(total).unwrap_or(i64::MAX);
                refreshing = Some(tokio::spawn(async move {
                    if let Some(keys) = watching
                        && let Err(e) = mark_watching(&deps, room, keys).await
                    {
                        tracing::warn!(error = %e, "marking viewers watching failed");
                    }
                    refresh_counts(&deps, room, now).await.unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "refreshing a room's counts failed; trying again");
                        None
                    })
                }));
            }
            refreshed = async {
                match refreshing.as_mut() {
                    Some(task) => task.await,
                    None => std::future::pending().await,
                }
            }, if refreshing.is_some() => {
                refreshing = None;
                if let Ok(Some(counts)) = refreshed
                    && last_counts != Some(counts)
                {
                    last_counts = Some(counts);
                    gathered.counts = Some(counts);
                }
            }
        }
    }
    // The last viewer here left: what the room shows is the others' count, until their nodes
    // write theirs.
    let others = total.saturating_sub(local_at_last_count);
    if let Err(e) = refresh_counts(&deps, room, i64::try_from(others).unwrap_or(i64::MAX)).await {
        tracing::debug!(error = %e, "writing the viewer count on leaving failed");
    }
    tracing::debug!("room feed stopped");
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use kanjian_contracts::live::CommentRole;

fn comment(id: i64, author: i64, role: CommentRole) -> LiveCommentDto {
    LiveCommentDto {
        id: LiveCommentId(id),
        room_id: LiveRoomId(1),
        author_id: UserId(author),
        author_name: format!("u{author}"),
        role,
        text: format!("c{id}"),
        created_at: kanjian_kernel::now(),
    }
}


    fn gathered(viewers: i64, priority: i64) -> Gathered {
        let mut g = Gathered::default();
        let mut comments: Vec<LiveCommentDto> = (1..=viewers).map(|i| comment(i, 100 + i, CommentRole::Viewer)).collect();
        comments.extend((1..=priority).map(|i| comment(1000 + i, 1, CommentRole::Creator)));
        g.add(ChatMessage::Comments { comments });
        g
    }

    fn comments_of(events: &[RoomEvent]) -> (Vec<i64>, u32) {
        match events.first().map(RoomEvent::event) {
            Some(LiveRoomEventDto::Comments { comments, omitted }) => (comments.iter().map(|c| c.id.0).collect(), *omitted),
            other => panic!("no comments: {other:?}"),
        }
    }

    #[test]
    fn a_quiet_batch_goes_out_whole() {
        let tick = gathered(2, 1).take(3);
        let (ids, omitted) = comments_of(&tick.events_for(None, &HashSet::new(), LiveCommentId(0)).0);
        assert_eq!((ids, omitted), (vec![1, 2, 1001], 0));
    }

    #[test]
    fn a_busy_batch_is_sampled_but_priority_and_own_comments_always_go() {
        let tick = gathered(500, 4).take(3);
        // A bystander: three viewers' comments (the newest among them), every priority one.
        let (ids, omitted) = comments_of(&tick.events_for(Some(UserId(9)), &HashSet::new(), LiveCommentId(0)).0);
        assert_eq!(ids.iter().filter(|&&i| i > 1000).count(), 4);
        assert_eq!(ids.iter().filter(|&&i| i <= 500).count(), 3);
        assert!(ids.contains(&500), "{ids:?}");
        assert_eq!(omitted, 497);
        // Viewer 100 + 7 wrote comment 7, which the sample left out: they get it too.
        let (ids, omitted) = comments_of(&tick.events_for(Some(UserId(107)), &HashSet::new(), LiveCommentId(0)).0);
        assert!(ids.contains(&7), "{ids:?}");
        assert_eq!(ids.iter().filter(|&&i| i <= 500).count(), 4);
        assert_eq!(omitted, 496);
    }

    #[test]
    fn people_in_a_block_are_hidden_and_removed_viewers_are_told() {
        let mut g = gathered(2, 0);
        g.add(ChatMessage::Removed { user_id: UserId(5) });
        let tick = g.take(3);
        let hidden: HashSet<UserId> = [UserId(101)].into();
        let (ids, _) = comments_of(&tick.events_for(Some(UserId(9)), &hidden, LiveCommentId(0)).0);
        assert_eq!(ids, vec![2]);
        let (events, removed) = tick.events_for(Some(UserId(5)), &HashSet::new(), LiveCommentId(0));
        assert!(removed);
        assert_eq!(events.iter().map(RoomEvent::event).collect::<Vec<_>>(), vec![&LiveRoomEventDto::Removed]);
    }

    #[test]
    fn a_comment_removed_before_its_batch_left_is_never_sent() {
        let mut g = gathered(3, 0);
        g.add(ChatMessage::Deleted { ids: vec![LiveCommentId(2)] });
        let (events, _) = g.take(3).events_for(None, &HashSet::new(), LiveCommentId(0));
        assert_eq!(comments_of(&events).0, vec![1, 3]);
        assert_eq!(events[1].event(), &LiveRoomEventDto::CommentsDeleted { ids: vec![LiveCommentId(2)] });
    }

    #[test]
    fn bystanders_share_one_batch_and_only_those_it_differs_for_get_their_own() {
        let tick = gathered(500, 2).take(3);
        let none = HashSet::new();
        let (a, _) = tick.events_for(Some(UserId(9)), &none, LiveCommentId(0));
        let (b, _) = tick.events_for(None, &none, LiveCommentId(0));
        assert!(a[0].answers().is_some());
        assert!(std::ptr::eq(a[0].event(), b[0].event()), "one allocation for every bystander");
        // Viewer 107 wrote comment 7, which the sample left out; viewer 9 hides comment 500's
        // author, who is in the sample; viewer 9 again already got the creator's comment 1001.
        let (writer, _) = tick.events_for(Some(UserId(107)), &none, LiveCommentId(0));
        let (hiding, _) = tick.events_for(Some(UserId(9)), &[UserId(600)].into(), LiveCommentId(0));
        let (caught_up, _) = tick.events_for(Some(UserId(9)), &none, LiveCommentId(1001));
        for own in [&writer, &hiding, &caught_up] {
            assert!(own[0].answers().is_none());
            assert!(!std::ptr::eq(own[0].event(), a[0].event()));
        }
        assert!(!comments_of(&hiding).0.contains(&500));
        assert_eq!(comments_of(&caught_up).0.iter().filter(|&&i| i > 1000).collect::<Vec<_>>(), vec![&1002]);
    }

    #[test]
    fn batches_a_late_viewer_gets_together_add_up_and_drop_what_was_removed() {
        let first = gathered(2, 1).take(3);
        let mut g = gathered(0, 0);
        g.add(ChatMessage::Comments { comments: vec![comment(3, 103, CommentRole::Viewer)] });
        g.add(ChatMessage::Deleted { ids: vec![LiveCommentId(1)] });
        g.counts = Some(LiveCountsDto { viewers_now: 2, viewers_peak: 2, viewers_total: 2, likes: 0 });
        let second = g.take(3);
        let mut merged = Merged::default();
        for tick in [&first, &second] {
            tick.events_for(None, &HashSet::new(), LiveCommentId(0)).0.into_iter().for_each(|e| merged.add(e.into_event()));
        }
        let (events, removed) = merged.into_events();
        assert!(!removed);
        assert_eq!(comments_of(&events), (vec![2, 3, 1001], 0));
        assert_eq!(events[1].event(), &LiveRoomEventDto::CommentsDeleted { ids: vec![LiveCommentId(1)] });
        assert!(matches!(events[2].event(), LiveRoomEventDto::Counts(c) if c.viewers_now == 2));
        assert!(events.iter().all(|e| e.answers().is_none()), "a viewer's merged batches are theirs alone");
    }

    #[test]
    fn a_batch_carries_the_pinned_card_with_its_newest_read_and_the_newest_purchases_first() {
        use crate::chat::shop::tests::{pinned, product};
        use kanjian_kernel::ids::{OrderId, ProductId};
        let at = kanjian_kernel::now();
        let mut g = gathered(2, 0);
        g.add(ChatMessage::ProductPinned { pinned: pinned(7, 10), at });
        g.add(ChatMessage::ProductUpdated { product: product(7, 6), at });
        let bought = (1..=5).map(|i| Bought { order_id: OrderId(i), product_id: ProductId(7), quantity: i, at }).collect();
        g.add(ChatMessage::JustBought { items: bought });
        let tick = g.take(3);
        let (events, _) = tick.events_for(Some(UserId(9)), &HashSet::new(), LiveCommentId(0));
        assert!(events[0].answers().is_some(), "the same for every bystander");
        let events: Vec<&LiveRoomEventDto> = events.iter().map(RoomEvent::event).collect();
        assert!(matches!(events[0], LiveRoomEventDto::ProductPinned(Some(p)) if p.product.skus[0].stock == 6), "{events:?}");
        let quantities: Vec<i64> = events.iter().filter_map(|e| match e { LiveRoomEventDto::JustBought { quantity, .. } => Some(*quantity), _ => None }).collect();
        assert_eq!(quantities, vec![3, 4, 5], "the newest three");
        assert!(matches!(events[4], LiveRoomEventDto::Comments { .. }));
        // Merged with a later batch that unpins, a late viewer gets the unpin alone.
        let mut later = Gathered::default();
        later.add(ChatMessage::ProductPinned { pinned: None, at });
        let later = later.take(3);
        let mut merged = Merged::default();
        for tick in [&tick, &later] {
            tick.events_for(None, &HashSet::new(), LiveCommentId(0)).0.into_iter().for_each(|e| merged.add(e.into_event()));
        }
        let (events, _) = merged.into_events();
        assert_eq!(events[0].event(), &LiveRoomEventDto::ProductPinned(None));
        assert_eq!(events.iter().filter(|e| matches!(e.event(), LiveRoomEventDto::JustBought { .. })).count(), 3);
    }

    #[test]
    fn the_cap_bounds_memory_but_not_the_count() {
        let tick = gathered(MAX_TICK_COMMENTS as i64 + 50, 0).take(3);
        let (_, omitted) = comments_of(&tick.events_for(None, &HashSet::new(), LiveCommentId(0)).0);
        assert_eq!(omitted, MAX_TICK_COMMENTS as u32 + 50 - 3);
    }
}
