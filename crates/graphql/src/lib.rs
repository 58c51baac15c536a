#![doc = include_str!("../README.md")]

mod context;
mod errors;
mod limits;
mod loaders;
mod nulls;
mod relay;
mod schema;

pub use context::Services;
pub use limits::{LimitsConfig, check_expansion};
pub use schema::{KanjianGraphql, KanjianSchema, SchemaConfig, build_schema, connection_data, prepare_request, sdl};

// Every module's part of the schema: a folder each, and its roots and node types in the lists
// below. Adding a module's GraphQL is this file and its folder (docs/adding-a-module.md).
mod commerce;
mod identity;
mod live;
mod media;
mod notify;
mod search;
mod social;

// Every module's queries, merged into the one `Query` (plain comments: docs would show in the SDL).
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(
    relay::NodeQuery,
    identity::IdentityQuery,
    media::MediaQuery,
    social::FeedQuery,
    notify::NotifyQuery,
    search::SearchQuery,
);

// Every module's mutations.
#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(
    identity::IdentityMutation,
    media::MediaMutation,
    social::SocialMutation,
    notify::NotifyMutation,
    live::LiveMutation,
    live::LiveChatMutation,
    commerce::CommerceMutation,
    commerce::CommerceShoppingMutation,
);

// Every module's subscriptions.
#[derive(async_graphql::MergedSubscription, Default)]
pub struct Subscription(
    media::MediaSubscription,
    notify::NotifySubscription,
    live::LiveSubscription,
    commerce::CommerceSubscription,
);

/// Declares the `Node` interface over the objects `node(id:)` finds, and how it finds them by
/// the kind their global id names.
macro_rules! nodes {
    // Paths as tokens, not `ty` fragments: the Interface derive cannot read a wrapped type.
    ($($variant:ident => $module:ident :: $ty:ident),+ $(,)?) => {
        #[derive(async_graphql::Interface)]
        #[graphql(field(name = "id", ty = "async_graphql::ID", desc = "Opaque global id; pass it to `node(id:)`."))]
        pub enum Node {
            $($variant($module::$ty),)+
        }

        /// The object of kind `kind` and number `id`, if the caller may see it.
        pub(crate) async fn load_node(
            ctx: &async_graphql::Context<'_>,
            kind: &str,
            id: i64,
        ) -> async_graphql::Result<Option<Node>> {
            use relay::NodeObject as _;
            $(if kind == <$module::$ty>::KIND.0 {
                return Ok(<$module::$ty>::load(ctx, id).await?.map(Node::$variant));
            })+
            Ok(None)
        }
    };
}

nodes! {
    User => identity::User,
    Channel => identity::Channel,
    Organization => identity::Organization,
    Video => media::Video,
    Notification => notify::Notification,
    LiveRoom => live::LiveRoom,
    Shop => commerce::Shop,
    Product => commerce::Product,
    Order => commerce::Order,
    Address => commerce::Address,
}
