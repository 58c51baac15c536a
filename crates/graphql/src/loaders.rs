//! DataLoaders, one set per request (they cache per request and see the caller), so a list of N
//! items that each resolve a channel costs one batched call, not N. Each is made the first time a
//! resolver of the request needs it: a request that loads no video makes no video loader. A
//! module's loaders implement `RequestLoader` where they are defined; nothing lists them.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, Loader};
use kanjian_contracts::identity::{ChannelDto, IdentityApi, OrganizationDto, UserDto};
use kanjian_contracts::media::{MediaApi, VideoDto};
use kanjian_contracts::social::{
    ChannelSocialDto, RelationshipDto, SocialApi, UserSocialDto, VideoSocialDto,
};
use kanjian_kernel::Actor;
use kanjian_kernel::ids::{ChannelId, OrganizationId, UserId, VideoId};

use crate::context::Services;
use crate::errors::top_level;

pub(crate) type LoadError = Arc<kanjian_kernel::Error>;

pub(crate) struct UserLoader {
    identity: Arc<dyn IdentityApi>,
    actor: Actor,
}
pub(crate) struct ChannelLoader(Arc<dyn IdentityApi>);
pub(crate) struct OrganizationLoader(Arc<dyn IdentityApi>);
pub(crate) struct VideoLoader {
    media: Arc<dyn MediaApi>,
    actor: Actor,
}

impl Loader<UserId> for UserLoader {
    type Value = UserDto;
    type Error = LoadError;
    async fn load(&self, keys: &[UserId]) -> Result<HashMap<UserId, UserDto>, LoadError> {
        let users = self.identity.users_by_ids(&self.actor, keys).await.map_err(Arc::new)?;
        Ok(users.into_iter().map(|u| (u.id, u)).collect())
    }
}

impl Loader<ChannelId> for ChannelLoader {
    type Value = ChannelDto;
    type Error = LoadError;
    async fn load(&self, keys: &[ChannelId]) -> Result<HashMap<ChannelId, ChannelDto>, LoadError> {
        let channels = self.0.channels_by_ids(keys).await.map_err(Arc::new)?;
        Ok(channels.into_iter().map(|c| (c.id, c)).collect())
    }
}

/// A user's channel, by its owner.
impl Loader<UserId> for ChannelLoader {
    type Value = ChannelDto;
    type Error = LoadError;
    async fn load(&self, keys: &[UserId]) -> Result<HashMap<UserId, ChannelDto>, LoadError> {
        let channels = self.0.channels_of_users(keys).await.map_err(Arc::new)?;
        Ok(channels.into_iter().map(|c| (c.owner_id, c)).collect())
    }
}

impl Loader<OrganizationId> for OrganizationLoader {
    type Value = OrganizationDto;
    type Error = LoadError;
    async fn load(
        &self,
        keys: &[OrganizationId],
    ) -> Result<HashMap<OrganizationId, OrganizationDto>, LoadError> {
        let orgs = self.0.organizations_by_ids(keys).await.map_err(Arc::new)?;
        Ok(orgs.into_iter().map(|o| (o.id, o)).collect())
    }
}

impl Loader<VideoId> for VideoLoader {
    type Value = VideoDto;
    type Error = LoadError;
    async fn load(&self, keys: &[VideoId]) -> Result<HashMap<VideoId, VideoDto>, LoadError> {
        let videos = self.media.videos_by_ids(&self.actor, keys).await.map_err(Arc::new)?;
        Ok(videos.into_iter().map(|v| (v.id, v)).collect())
    }
}

/// Social loaders see the caller: counts like `likes` and states like `actor_follows` depend on
/// who asks.
pub(crate) struct SocialLoader {
    social: Arc<dyn SocialApi>,
    actor: Actor,
}

impl Loader<VideoId> for SocialLoader {
    type Value = VideoSocialDto;
    type Error = LoadError;
    async fn load(&self, keys: &[VideoId]) -> Result<HashMap<VideoId, VideoSocialDto>, LoadError> {
        let rows = self.social.video_social(&self.actor, keys).await.map_err(Arc::new)?;
        Ok(rows.into_iter().map(|r| (r.video, r)).collect())
    }
}

impl Loader<ChannelId> for SocialLoader {
    type Value = ChannelSocialDto;
    type Error = LoadError;
    async fn load(&self, keys: &[ChannelId]) -> Result<HashMap<ChannelId, ChannelSocialDto>, LoadError> {
        let rows = self.social.channel_social(&self.actor, keys).await.map_err(Arc::new)?;
        Ok(rows.into_iter().map(|r| (r.channel, r)).collect())
    }
}

impl Loader<UserId> for SocialLoader {
    type Value = UserSocialDto;
    type Error = LoadError;
    async fn load(&self, keys: &[UserId]) -> Result<HashMap<UserId, UserSocialDto>, LoadError> {
        let rows = self.social.user_social(&self.actor, keys).await.map_err(Arc::new)?;
        Ok(rows.into_iter().map(|r| (r.user, r)).collect())
    }
}

/// Relationships are keyed by the other user, in their own loader (a second `UserId` key).
pub(crate) struct RelationshipLoader(SocialLoader);

impl Loader<UserId> for RelationshipLoader {
    type Value = RelationshipDto;
    type Error = LoadError;
    async fn load(&self, keys: &[UserId]) -> Result<HashMap<UserId, RelationshipDto>, LoadError> {
        let rows = self.0.social.relationships(&self.0.actor, keys).await.map_err(Arc::new)?;
        Ok(rows.into_iter().map(|r| (r.user, r)).collect())
    }
}

/// A loader with no batching delay. async-graphql waits 1 ms by default before each batch, paid
/// once per nesting level (video, then its channel, ...). No wait is needed: sibling fields
/// register their keys in the same poll, before the spawned batch task first runs (actix
/// workers are single-threaded), so batches stay whole. The batching test in tests/ proves it.
fn loader<L>(inner: L) -> DataLoader<L> {
    DataLoader::new(inner, tokio::spawn).delay(std::time::Duration::ZERO)
}

/// A loader made for one request, from the module APIs and the caller.
pub(crate) trait RequestLoader: Send + Sync + Sized + 'static {
    fn create(services: &Services, actor: &Actor) -> kanjian_kernel::Result<Self>;
}

/// The loaders of one request (or WebSocket connection), each made on first use.
pub(crate) struct RequestLoaders {
    services: Services,
    actor: Actor,
    made: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl RequestLoaders {
    fn get<L: RequestLoader>(&self) -> kanjian_kernel::Result<Arc<DataLoader<L>>> {
        let mut made = self.made.lock().map_err(|_| kanjian_kernel::Error::internal("a loader panicked"))?;
        if let Some(existing) = made.get(&TypeId::of::<L>()).and_then(|l| l.clone().downcast::<DataLoader<L>>().ok()) {
            return Ok(existing);
        }
        let fresh = Arc::new(loader(L::create(&self.services, &self.actor)?));
        made.insert(TypeId::of::<L>(), fresh.clone());
        Ok(fresh)
    }
}

/// Gives one request (or one WebSocket connection) its loaders, made as they are first needed.
pub(crate) fn insert(data: &mut async_graphql::Data, actor: &Actor, services: &Services) {
    data.insert(RequestLoaders { services: services.clone(), actor: actor.clone(), made: Mutex::default() });
}

impl RequestLoader for UserLoader {
    fn create(services: &Services, actor: &Actor) -> kanjian_kernel::Result<Self> {
        Ok(Self { identity: services.apis.get()?, actor: actor.clone() })
    }
}

impl RequestLoader for ChannelLoader {
    fn create(services: &Services, _: &Actor) -> kanjian_kernel::Result<Self> {
        Ok(Self(services.apis.get()?))
    }
}

impl RequestLoader for OrganizationLoader {
    fn create(services: &Services, _: &Actor) -> kanjian_kernel::Result<Self> {
        Ok(Self(services.apis.get()?))
    }
}

impl RequestLoader for VideoLoader {
    fn create(services: &Services, actor: &Actor) -> kanjian_kernel::Result<Self> {
        Ok(Self { media: services.apis.get()?, actor: actor.clone() })
    }
}

impl RequestLoader for SocialLoader {
    fn create(services: &Services, actor: &Actor) -> kanjian_kernel::Result<Self> {
        Ok(Self { social: services.apis.get()?, actor: actor.clone() })
    }
}

impl RequestLoader for RelationshipLoader {
    fn create(services: &Services, actor: &Actor) -> kanjian_kernel::Result<Self> {
        SocialLoader::create(services, actor).map(Self)
    }
}

fn loader_error(e: LoadError) -> async_graphql::Error {
    // The loader's error is shared between the waiting resolvers; rebuild one for this one.
    match Arc::try_unwrap(e) {
        Ok(e) => top_level(e),
        Err(shared) => top_level(match shared.as_ref() {
            kanjian_kernel::Error::Unauthenticated => kanjian_kernel::Error::Unauthenticated,
            kanjian_kernel::Error::Forbidden(m) => kanjian_kernel::Error::Forbidden(m.clone()),
            kanjian_kernel::Error::NotFound(m) => kanjian_kernel::Error::NotFound(m.clone()),
            other => kanjian_kernel::Error::internal(format!("{other:?}")),
        }),
    }
}

pub(crate) async fn load<K, L>(ctx: &Context<'_>, key: K) -> async_graphql::Result<Option<L::Value>>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    L: Loader<K, Error = LoadError> + RequestLoader,
{
    let loaders = ctx
        .data::<RequestLoaders>()
        .map_err(|_| top_level(kanjian_kernel::Error::internal("request prepared without loaders")))?;
    let loader = loaders.get::<L>().map_err(top_level)?;
    loader.load_one(key).await.map_err(loader_error)
}

pub(crate) async fn user(ctx: &Context<'_>, id: UserId) -> async_graphql::Result<Option<UserDto>> {
    load::<_, UserLoader>(ctx, id).await
}

pub(crate) async fn channel(
    ctx: &Context<'_>,
    id: ChannelId,
) -> async_graphql::Result<Option<ChannelDto>> {
    load::<_, ChannelLoader>(ctx, id).await
}

pub(crate) async fn channel_of_user(
    ctx: &Context<'_>,
    owner: UserId,
) -> async_graphql::Result<Option<ChannelDto>> {
    load::<_, ChannelLoader>(ctx, owner).await
}

pub(crate) async fn organization(
    ctx: &Context<'_>,
    id: OrganizationId,
) -> async_graphql::Result<Option<OrganizationDto>> {
    load::<_, OrganizationLoader>(ctx, id).await
}

pub(crate) async fn video_social(
    ctx: &Context<'_>,
    id: VideoId,
) -> async_graphql::Result<Option<VideoSocialDto>> {
    load::<_, SocialLoader>(ctx, id).await
}

pub(crate) async fn channel_social(
    ctx: &Context<'_>,
    id: ChannelId,
) -> async_graphql::Result<Option<ChannelSocialDto>> {
    load::<_, SocialLoader>(ctx, id).await
}

pub(crate) async fn user_social(
    ctx: &Context<'_>,
    id: UserId,
) -> async_graphql::Result<Option<UserSocialDto>> {
    load::<_, SocialLoader>(ctx, id).await
}

pub(crate) async fn relationship(
    ctx: &Context<'_>,
    id: UserId,
) -> async_graphql::Result<Option<RelationshipDto>> {
    load::<_, RelationshipLoader>(ctx, id).await
}

pub(crate) async fn video(ctx: &Context<'_>, id: VideoId) -> async_graphql::Result<Option<VideoDto>> {
    load::<_, VideoLoader>(ctx, id).await
}
