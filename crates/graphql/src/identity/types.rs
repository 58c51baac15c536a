use async_graphql::connection::{Connection, Edge};
use kanjian_contracts::media::MediaApi;
use kanjian_contracts::identity::IdentityApi;
use async_graphql::{Context, Enum, ID, Object};
use kanjian_contracts::identity::{ChannelDto, MembershipDto, OrgRole, OrganizationDto, UserDto};
use kanjian_kernel::ids::{ChannelId, OrganizationId, UserId};
use kanjian_kernel::{Cursor, PageRequest, Timestamp};

use crate::context::ContextExt;
use crate::errors::GqlResultExt;
use crate::loaders;
use crate::media::Video;
use crate::relay::{NodeKind, NodeObject, expect_id, to_global_id};

impl NodeKind {
    pub(crate) const USER: NodeKind = NodeKind("User");
    pub(crate) const CHANNEL: NodeKind = NodeKind("Channel");
    pub(crate) const ORGANIZATION: NodeKind = NodeKind("Organization");
}

/// An account. Its email is visible to the user themself only.
pub struct User(pub UserDto);

impl NodeObject for User {
    const KIND: NodeKind = NodeKind::USER;
    async fn load(ctx: &Context<'_>, id: i64) -> async_graphql::Result<Option<Self>> {
        Ok(loaders::user(ctx, UserId(id)).await?.map(User))
    }
}

impl NodeObject for Channel {
    const KIND: NodeKind = NodeKind::CHANNEL;
    async fn load(ctx: &Context<'_>, id: i64) -> async_graphql::Result<Option<Self>> {
        Ok(loaders::channel(ctx, ChannelId(id)).await?.map(Channel))
    }
}

impl NodeObject for Organization {
    const KIND: NodeKind = NodeKind::ORGANIZATION;
    async fn load(ctx: &Context<'_>, id: i64) -> async_graphql::Result<Option<Self>> {
        Ok(loaders::organization(ctx, OrganizationId(id)).await?.map(Organization))
    }
}

#[Object]
impl User {
    pub async fn id(&self) -> ID {
        to_global_id(NodeKind::USER, self.0.id.0)
    }

    /// The user's public name (昵称): anyone who can see the user sees it.
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }

    /// Only for the signed-in user themself; `null` for everyone else.
    async fn email(&self) -> Option<&str> {
        self.0.private.as_ref().map(|p| p.email.as_str())
    }

    /// Whether the user confirmed they receive mail at their email address (the link mailed at
    /// sign-up or by `requestEmailVerification`, or a password reset). Like `email`, only for
    /// the signed-in user themself; `null` for everyone else.
    async fn email_verified(&self) -> Option<bool> {
        self.0.private.as_ref().map(|p| p.email_verified_at.is_some())
    }

    /// The user's channel, if they opened one.
    async fn channel(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Channel>> {
        Ok(loaders::channel_of_user(ctx, self.0.id).await?.map(Channel))
    }

    /// Organizations the user belongs to. Only for the user themself.
    async fn memberships(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Membership>> {
        let memberships =
            ctx.api::<dyn IdentityApi>()?.memberships_of(ctx.actor(), self.0.id).await.gql()?;
        Ok(memberships.into_iter().map(Membership).collect())
    }

    /// Friends, follows, requests and blocks, as you may see them.
    async fn social(&self) -> crate::social::UserSocial {
        crate::social::UserSocial(self.0.id)
    }

    /// The user's shipping addresses (at most 20), for `buyNow`. Only for the user themself;
    /// `null` for everyone else.
    async fn addresses(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Vec<crate::commerce::Address>>> {
        crate::commerce::viewer_addresses(ctx, self.0.id).await
    }

    /// The orders the user placed, newest first; only those in `states` when given. Only for
    /// the user themself; `null` for everyone else.
    #[graphql(complexity = "crate::relay::connection_complexity(first, child_complexity)")]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only orders in these states; omitted or empty: all.")] states: Option<Vec<crate::commerce::OrderState>>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Option<Connection<String, crate::commerce::Order>>> {
        crate::commerce::viewer_orders(ctx, self.0.id, states, first, after).await
    }

    /// The user's cart, priced as of now. Only for the user themself; `null` for everyone else.
    async fn cart(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<crate::commerce::shopping_types::Cart>> {
        crate::commerce::viewer_cart(ctx, self.0.id).await
    }

    /// Sales credited to the user's channel as a creator, newest first. Only for the user
    /// themself; `null` for everyone else.
    #[graphql(complexity = "crate::relay::connection_complexity(first, child_complexity)")]
    async fn creator_sales(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Option<Connection<String, crate::commerce::shopping_types::CreatorSale>>> {
        crate::commerce::viewer_creator_sales(ctx, self.0.id, first, after).await
    }

    async fn created_at(&self) -> Timestamp {
        self.0.created_at
    }
}

/// A creator profile (视频号): the public face that publishes videos and goes live.
pub struct Channel(pub ChannelDto);

#[Object]
impl Channel {
    pub async fn id(&self) -> ID {
        to_global_id(NodeKind::CHANNEL, self.0.id.0)
    }

    /// Unique, lowercase; the channel's address.
    async fn handle(&self) -> &str {
        &self.0.handle
    }

    /// The channel's showcase (橱窗): products it sells for their shops, newest first; listed
    /// ones only.
    #[graphql(complexity = "crate::relay::connection_complexity(first, child_complexity)")]
    async fn showcase(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, crate::commerce::shopping_types::ShowcaseItem>> {
        crate::commerce::channel_showcase(ctx, self.0.id, first, after).await
    }

    async fn display_name(&self) -> &str {
        &self.0.display_name
    }

    async fn bio(&self) -> &str {
        &self.0.bio
    }

    async fn avatar_url(&self) -> Option<&str> {
        self.0.avatar_url.as_deref()
    }

    async fn owner(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        Ok(loaders::user(ctx, self.0.owner_id).await?.map(User))
    }

    /// Newest first. Drafts and unpublished videos are listed for the owner only.
    #[graphql(complexity = "crate::relay::connection_complexity(first, child_complexity)")]
    async fn videos(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Video>> {
        let page = PageRequest { first: first.map(|n| n.max(0) as u32), after: after.map(Cursor) };
        let page = ctx.api::<dyn MediaApi>()?.channel_videos(ctx.actor(), self.0.id, page).await.gql()?;
        let mut connection = Connection::new(page.has_previous_page, page.has_next_page);
        connection.edges.extend(page.items.into_iter().map(|(c, v)| Edge::new(c.0, Video(v))));
        Ok(connection)
    }

    /// Announced lives, soonest first: at most 15, as Channels shows.
    async fn upcoming_lives(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<crate::live::LiveRoom>> {
        let api = ctx.api::<dyn kanjian_contracts::live::LiveApi>()?;
        Ok(api.upcoming_lives(ctx.actor(), self.0.id).await.gql()?.into_iter().map(crate::live::LiveRoom).collect())
    }

    /// The channel's room that is on air now, if any.
    async fn live_now(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<crate::live::LiveRoom>> {
        let api = ctx.api::<dyn kanjian_contracts::live::LiveApi>()?;
        Ok(api.live_now(ctx.actor(), self.0.id).await.gql()?.map(crate::live::LiveRoom))
    }

    /// The moderators (房管) of the channel's lives. Its owner only; `null` for everyone else.
    async fn live_moderators(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Vec<User>>> {
        crate::live::channel_moderators(ctx, self.0.owner_id).await
    }

    /// Keywords refused in the channel's live comments, folded and sorted. Its owner and
    /// moderators only; `null` for everyone else.
    async fn live_blocked_keywords(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Vec<String>>> {
        crate::live::channel_blocked_keywords(ctx, self.0.id).await
    }

    /// Followers.
    async fn social(&self) -> crate::social::ChannelSocial {
        crate::social::ChannelSocial(self.0.id)
    }

    async fn created_at(&self) -> Timestamp {
        self.0.created_at
    }

    async fn updated_at(&self) -> Timestamp {
        self.0.updated_at
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum OrganizationRole {
    /// Manages the organization and its members.
    Owner,
    /// Customer-service agent.
    Agent,
}

impl From<OrgRole> for OrganizationRole {
    fn from(r: OrgRole) -> Self {
        match r {
            OrgRole::Owner => Self::Owner,
            OrgRole::Agent => Self::Agent,
        }
    }
}

impl From<OrganizationRole> for OrgRole {
    fn from(r: OrganizationRole) -> Self {
        match r {
            OrganizationRole::Owner => Self::Owner,
            OrganizationRole::Agent => Self::Agent,
        }
    }
}

/// A merchant (企业): runs a shop; its agents take customer-service consultations.
pub struct Organization(pub OrganizationDto);

#[Object]
impl Organization {
    pub async fn id(&self) -> ID {
        to_global_id(NodeKind::ORGANIZATION, self.0.id.0)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The signed-in user's role here, `null` when not a member.
    async fn viewer_role(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<OrganizationRole>> {
        let Some(user) = ctx.actor().user_id() else { return Ok(None) };
        let role = ctx.api::<dyn IdentityApi>()?.organization_role(self.0.id, user).await.gql()?;
        Ok(role.map(Into::into))
    }

    /// The organization's shop (小店), if it opened one.
    async fn shop(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<crate::commerce::Shop>> {
        crate::commerce::organization_shop(ctx, self.0.id).await
    }

    /// Members only (`FORBIDDEN` otherwise).
    #[graphql(complexity = "crate::relay::connection_complexity(first, child_complexity)")]
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Membership>> {
        let page = PageRequest { first: first.map(|n| n.max(0) as u32), after: after.map(Cursor) };
        let page = ctx.api::<dyn IdentityApi>()?
            .organization_members(ctx.actor(), self.0.id, page)
            .await
            .gql()?;
        let mut connection = Connection::new(page.has_previous_page, page.has_next_page);
        connection.edges.extend(page.items.into_iter().map(|(c, m)| Edge::new(c.0, Membership(m))));
        Ok(connection)
    }

    async fn created_at(&self) -> Timestamp {
        self.0.created_at
    }
}

/// A user's place in an organization.
pub struct Membership(pub MembershipDto);

#[Object]
impl Membership {
    async fn organization(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Organization>> {
        Ok(loaders::organization(ctx, self.0.organization_id).await?.map(Organization))
    }

    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        Ok(loaders::user(ctx, self.0.user_id).await?.map(User))
    }

    async fn role(&self) -> OrganizationRole {
        self.0.role.into()
    }

    async fn added_at(&self) -> Timestamp {
        self.0.added_at
    }
}

#[derive(Default)]
pub struct IdentityQuery;

#[Object]
impl IdentityQuery {
    /// The signed-in user; `null` when the request carries no valid token.
    async fn viewer(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(id) = ctx.actor().user_id() else { return Ok(None) };
        Ok(loaders::user(ctx, id).await?.map(User))
    }

    /// A channel by its handle (case-insensitive).
    async fn channel(&self, ctx: &Context<'_>, handle: String) -> async_graphql::Result<Option<Channel>> {
        Ok(ctx.api::<dyn IdentityApi>()?.channel_by_handle(&handle).await.gql()?.map(Channel))
    }

    async fn organization(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Organization>> {
        let id = expect_id(&id, NodeKind::ORGANIZATION)?;
        Ok(loaders::organization(ctx, OrganizationId(id)).await?.map(Organization))
    }
}

