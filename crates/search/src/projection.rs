//! The event handlers that keep `search_documents` in step with the modules that own what is
//! searched. Videos and live rooms are described by their events; channels and products by what
//! their modules answer when their events arrive (their events carry only ids), so a late event
//! reads today's state, and its version (or `updated_at`) keeps an older answer from winning.
//! Popularity is read from social when it changes (❤️s of a video, followers of a channel):
//! set, never incremented, so a repeated event changes nothing.

use std::sync::Arc;

use async_trait::async_trait;
use kanjian_contracts::commerce::{ProductChanged, ProductStatus, SkuChanged};
use kanjian_contracts::identity::{ChannelCreated, ChannelUpdated};
use kanjian_contracts::live::{
    LiveRoomCancelled, LiveRoomEnded, LiveRoomScheduled, LiveRoomStarted, LiveRoomState, LiveRoomUpdated,
};
use kanjian_contracts::media::{VideoDeleted, VideoDetailsChanged, VideoPublished, VideoUnpublished};
use kanjian_contracts::social::{ChannelFollowed, ChannelUnfollowed, VideoRecommended};
use kanjian_contracts::{EventEnvelope, IntegrationEvent};
use kanjian_events::{EventHandler, HandlerError};
use kanjian_kernel::ids::{ChannelId, ProductId, VideoId};
use kanjian_kernel::{Actor, Result};

use crate::Deps;
use crate::index::{DocKey, DocKind, SearchDocument, document};
use crate::store::{self, Fact};

/// Cuts `text` to at most `max` characters: bodies come from other modules, whose limits may
/// be longer than what the index takes (titles are within limits by construction).
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => text[..at].to_owned(),
        None => text.to_owned(),
    }
}

fn body(parts: &[&str]) -> String {
    clip(&parts.iter().filter(|p| !p.is_empty()).copied().collect::<Vec<_>>().join("\n"), document::MAX_BODY_CHARS)
}

async fn apply(deps: &Deps, fact: Fact, version: i64, occurred_at_ms: i64) -> Result<()> {
    let fact = match fact {
        Fact::Visible(mut doc) => {
            doc.title = clip(doc.title.trim(), document::MAX_TITLE_CHARS);
            doc.category = doc.category.map(|c| clip(&c, document::MAX_CATEGORY_CHARS)).filter(|c| !c.is_empty());
            if doc.title.is_empty() { Fact::Hidden(doc.key()) } else { Fact::Visible(doc) }
        }
        other => other,
    };
    if store::record(&deps.db, fact, version, occurred_at_ms).await? {
        deps.changed.notify_one();
    }
    Ok(())
}

fn permanent(e: serde_json::Error) -> HandlerError {
    HandlerError::Permanent(e.into())
}

/// Videos, from media's events.
pub(crate) struct Videos {
    pub deps: Arc<Deps>,
}

#[async_trait]
impl EventHandler for Videos {
    fn name(&self) -> &'static str {
        "search.videos"
    }

    fn kinds(&self) -> &'static [&'static str] {
        &[VideoPublished::KIND, VideoDetailsChanged::KIND, VideoUnpublished::KIND, VideoDeleted::KIND, VideoRecommended::KIND]
    }

    async fn handle(&self, event: &EventEnvelope) -> std::result::Result<(), HandlerError> {
        let at = event.occurred_at.timestamp_millis();
        let deps = &self.deps;
        let key = |id: VideoId| DocKey::new(DocKind::Video, id.0);
        if let Some(e) = event.decode::<VideoPublished>() {
            let e = e.map_err(permanent)?;
            let details = VideoDetails { title: &e.title, description: &e.description, hashtags: &e.hashtags, category: &e.category };
            let doc = video_document(deps, e.video_id, e.channel_id, e.owner_id.0, details, e.published_at).await?;
            apply(deps, Fact::Visible(doc), e.version, at).await?;
        } else if let Some(e) = event.decode::<VideoDetailsChanged>() {
            let e = e.map_err(permanent)?;
            if !e.published {
                apply(deps, Fact::Hidden(key(e.video_id)), e.version, at).await?;
                return Ok(());
            }
            // The owner is not in this event: it is the stored document's (a video never
            // changes hands), or found through its channel.
            let owner_id = match store::document(&deps.db, key(e.video_id)).await? {
                Some(doc) => doc.owner_id,
                None => channel_owner(deps, e.channel_id).await?.unwrap_or(0),
            };
            let details = VideoDetails { title: &e.title, description: &e.description, hashtags: &e.hashtags, category: &e.category };
            let published_at = e.published_at.unwrap_or(event.occurred_at);
            let doc = video_document(deps, e.video_id, e.channel_id, owner_id, details, published_at).await?;
            apply(deps, Fact::Visible(doc), e.version, at).await?;
        } else if let Some(e) = event.decode::<VideoUnpublished>() {
            let e = e.map_err(permanent)?;
            apply(deps, Fact::Hidden(key(e.video_id)), e.version, at).await?;
        } else if let Some(e) = event.decode::<VideoDeleted>() {
            let e = e.map_err(permanent)?;
            apply(deps, Fact::Deleted(key(e.video_id)), e.version, at).await?;
        } else if let Some(e) = event.decode::<VideoRecommended>() {
            let e = e.map_err(permanent)?;
            refresh_popularity(deps, key(e.video), read_video_popularity(deps, e.video).await?, at).await?;
        }
        Ok(())
    }
}

/// What media's events say of a video's text.
struct VideoDetails<'a> {
    title: &'a str,
    description: &'a str,
    hashtags: &'a [String],
    category: &'a Option<String>,
}

/// A published video as search keeps it, with its popularity read from social now.
async fn video_document(
    deps: &Deps,
    video: VideoId,
    channel: ChannelId,
    owner_id: i64,
    details: VideoDetails<'_>,
    published_at: kanjian_kernel::Timestamp,
) -> Result<SearchDocument> {
    Ok(SearchDocument {
        kind: DocKind::Video,
        id: video.0,
        title: details.title.to_owned(),
        body: body(&[details.description, &details.hashtags.join(" ")]),
        owner_id,
        channel_id: Some(channel.0),
        category: details.category.clone(),
        price: None,
        popularity: read_video_popularity(deps, video).await?,
        published_at: published_at.timestamp_millis(),
        live: false,
    })
}

/// A video's popularity from social's counts now.
async fn read_video_popularity(deps: &Deps, video: VideoId) -> Result<i64> {
    let Some(social) = &deps.social else { return Ok(0) };
    let counts = social.video_social(&Actor::Anonymous, &[video]).await?;
    Ok(counts.first().map_or(0, |c| video_popularity(c.recommends, c.shares, c.comments, c.views)))
}

/// A video's popularity: a ❤️ counts three times a view's worth of interest, a share twice;
/// likes are private to the creator and not counted.
pub fn video_popularity(recommends: i64, shares: i64, comments: i64, views: i64) -> i64 {
    recommends * 3 + shares * 2 + comments + views / 10
}

async fn channel_owner(deps: &Deps, channel: ChannelId) -> Result<Option<i64>> {
    let Some(identity) = &deps.identity else { return Ok(None) };
    Ok(identity.channels_by_ids(&[channel]).await?.first().map(|c| c.owner_id.0))
}

/// Sets the popularity of a stored, visible document; a newer description keeps its version.
async fn refresh_popularity(deps: &Deps, key: DocKey, popularity: i64, at: i64) -> Result<()> {
    let Some(mut doc) = store::document(&deps.db, key).await? else { return Ok(()) };
    if doc.popularity == popularity {
        return Ok(());
    }
    doc.popularity = popularity;
    // Version 0: not a newer description of the aggregate, so always applied; the document it
    // rewrites is the stored one.
    apply(deps, Fact::Visible(doc), 0, at).await
}

/// Live rooms, from live's events: findable while upcoming or on air.
pub(crate) struct LiveRooms {
    pub deps: Arc<Deps>,
}

#[async_trait]
impl EventHandler for LiveRooms {
    fn name(&self) -> &'static str {
        "search.live_rooms"
    }

    fn kinds(&self) -> &'static [&'static str] {
        &[LiveRoomScheduled::KIND, LiveRoomUpdated::KIND, LiveRoomStarted::KIND, LiveRoomCancelled::KIND, LiveRoomEnded::KIND]
    }

    async fn handle(&self, event: &EventEnvelope) -> std::result::Result<(), HandlerError> {
        let at = event.occurred_at.timestamp_millis();
        let deps = &self.deps;
        let room = |id: i64, owner: i64, channel: i64, title: &str, live: bool, since: i64| {
            Fact::Visible(SearchDocument {
                kind: DocKind::LiveRoom,
                id,
                title: title.to_owned(),
                body: String::new(),
                owner_id: owner,
                channel_id: Some(channel),
                category: None,
                price: None,
                popularity: 0,
                published_at: since,
                live,
            })
        };
        if let Some(e) = event.decode::<LiveRoomScheduled>() {
            let e = e.map_err(permanent)?;
            apply(deps, room(e.room_id.0, e.owner_id.0, e.channel_id.0, &e.title, false, at), e.version, at).await?;
        } else if let Some(e) = event.decode::<LiveRoomUpdated>() {
            let e = e.map_err(permanent)?;
            let fact = match e.state {
                LiveRoomState::Scheduled | LiveRoomState::Live => {
                    room(e.room_id.0, e.owner_id.0, e.channel_id.0, &e.title, e.state == LiveRoomState::Live, at)
                }
                LiveRoomState::Ended | LiveRoomState::Cancelled => Fact::Hidden(DocKey::new(DocKind::LiveRoom, e.room_id.0)),
            };
            apply(deps, fact, e.version, at).await?;
        } else if let Some(e) = event.decode::<LiveRoomStarted>() {
            let e = e.map_err(permanent)?;
            let since = e.started_at.timestamp_millis();
            apply(deps, room(e.room_id.0, e.owner_id.0, e.channel_id.0, &e.title, true, since), e.version, at).await?;
        } else if let Some(e) = event.decode::<LiveRoomCancelled>() {
            let e = e.map_err(permanent)?;
            apply(deps, Fact::Hidden(DocKey::new(DocKind::LiveRoom, e.room_id.0)), e.version, at).await?;
        } else if let Some(e) = event.decode::<LiveRoomEnded>() {
            let e = e.map_err(permanent)?;
            apply(deps, Fact::Hidden(DocKey::new(DocKind::LiveRoom, e.room_id.0)), e.version, at).await?;
        }
        Ok(())
    }
}

/// Channels, from identity's events and social's follows.
pub(crate) struct Channels {
    pub deps: Arc<Deps>,
}

#[async_trait]
impl EventHandler for Channels {
    fn name(&self) -> &'static str {
        "search.channels"
    }

    fn kinds(&self) -> &'static [&'static str] {
        &[ChannelCreated::KIND, ChannelUpdated::KIND, ChannelFollowed::KIND, ChannelUnfollowed::KIND]
    }

    async fn handle(&self, event: &EventEnvelope) -> std::result::Result<(), HandlerError> {
        let at = event.occurred_at.timestamp_millis();
        let channel = if let Some(e) = event.decode::<ChannelCreated>() {
            e.map_err(permanent)?.channel_id
        } else if let Some(e) = event.decode::<ChannelUpdated>() {
            e.map_err(permanent)?.channel_id
        } else if let Some(e) = event.decode::<ChannelFollowed>() {
            e.map_err(permanent)?.channel
        } else if let Some(e) = event.decode::<ChannelUnfollowed>() {
            e.map_err(permanent)?.channel
        } else {
            return Ok(());
        };
        Ok(index_channel(&self.deps, channel, at).await?)
    }
}

async fn index_channel(deps: &Deps, channel: ChannelId, at: i64) -> Result<()> {
    let Some(identity) = &deps.identity else { return Ok(()) };
    let Some(found) = identity.channels_by_ids(&[channel]).await?.into_iter().next() else {
        return Ok(());
    };
    let followers = match &deps.social {
        Some(social) => social.channel_social(&Actor::Anonymous, &[channel]).await?.first().map_or(0, |c| c.followers),
        None => 0,
    };
    let doc = SearchDocument {
        kind: DocKind::Channel,
        id: channel.0,
        title: found.display_name.clone(),
        body: body(&[&found.handle, &found.bio]),
        owner_id: found.owner_id.0,
        channel_id: Some(channel.0),
        category: None,
        price: None,
        popularity: followers,
        published_at: found.created_at.timestamp_millis(),
        live: false,
    };
    // The follower count is not part of the channel's version: a follow rewrites the document
    // as read now (version 0, always applied), an edit by its `updated_at`.
    apply(deps, Fact::Visible(doc), 0, at).await
}

/// Products, from commerce's events: findable while on the shelf.
pub(crate) struct Products {
    pub deps: Arc<Deps>,
}

#[async_trait]
impl EventHandler for Products {
    fn name(&self) -> &'static str {
        "search.products"
    }

    fn kinds(&self) -> &'static [&'static str] {
        &[ProductChanged::KIND, SkuChanged::KIND]
    }

    async fn handle(&self, event: &EventEnvelope) -> std::result::Result<(), HandlerError> {
        let at = event.occurred_at.timestamp_millis();
        let (product, event_version) = if let Some(e) = event.decode::<ProductChanged>() {
            let e = e.map_err(permanent)?;
            // Leaving one creator's showcase changes nothing search shows.
            if e.channel_id.is_some() {
                return Ok(());
            }
            (e.product_id, Some(e.version))
        } else if let Some(e) = event.decode::<SkuChanged>() {
            // Numbered per SKU, not per product: says nothing of the product's version.
            (e.map_err(permanent)?.product_id, None)
        } else {
            return Ok(());
        };
        Ok(index_product(&self.deps, product, event_version, at).await?)
    }
}

/// Reads the product as an anonymous shopper sees it now and records that, at the product's
/// version as commerce answers it.
async fn index_product(deps: &Deps, product: ProductId, event_version: Option<i64>, at: i64) -> Result<()> {
    let Some(shopper) = &deps.shopper else { return Ok(()) };
    let key = DocKey::new(DocKind::Product, product.0);
    // What an anonymous shopper may see: nothing once it is off the shelf or deleted.
    let found = shopper.products_by_ids(&Actor::Anonymous, &[product]).await?.into_iter().next();
    let Some(found) = found.filter(|p| p.status == ProductStatus::OnShelf) else {
        // Not for sale now. A product's own change says so at its version; a SKU's change
        // finding it gone leaves it to that product change.
        return match event_version {
            Some(version) => apply(deps, Fact::Hidden(key), version, at).await,
            None => Ok(()),
        };
    };
    let doc = SearchDocument {
        kind: DocKind::Product,
        id: product.0,
        title: found.title.clone(),
        body: body(&[&found.description]),
        owner_id: 0,
        channel_id: None,
        category: Some(found.category.clone()),
        price: found.skus.iter().map(|s| s.price.minor).min(),
        popularity: found.skus.iter().map(|s| s.sold).sum(),
        published_at: found.created_at.timestamp_millis(),
        live: false,
    };
    apply(deps, Fact::Visible(doc), found.version, at).await
}
