//! The one schema, from the roots every module contributes (listed in `lib.rs`), with its limits.

use async_graphql::{Schema, SchemaBuilder};
use kanjian_contracts::identity::ClientInfo;
use kanjian_kernel::Actor;

use crate::context::Services;
use crate::limits::{Limits, LimitsConfig, ReadOnlyRequest};
use crate::loaders;
use crate::{Mutation, Query, Subscription};

pub type KanjianSchema = Schema<Query, Mutation, Subscription>;

#[derive(Debug, Clone, Default)]
pub struct SchemaConfig {
    pub limits: LimitsConfig,
}

fn builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query::default(), Mutation::default(), Subscription::default())
        .register_output_type::<crate::Node>()
}

pub fn build_schema(services: Services, config: &SchemaConfig) -> KanjianSchema {
    let limits = &config.limits;
    let mut builder = builder()
        .data(services)
        .limit_complexity(limits.max_complexity)
        .limit_directives(limits.max_directives)
        .extension(Limits {
            max_depth: limits.max_depth,
            max_aliases: limits.max_aliases,
            max_document_chars: limits.max_document_chars,
        });
    if !limits.introspection {
        builder = builder.disable_introspection();
    }
    builder.finish()
}

/// The SDL, as committed in `graphql/schema.graphql`.
pub fn sdl() -> String {
    builder().finish().sdl()
}

/// Everything a request needs besides the schema: who calls, from where, fresh DataLoaders.
/// `read_only` marks GET requests, which may not run mutations.
pub fn prepare_request(
    request: async_graphql::Request,
    actor: Actor,
    client: ClientInfo,
    services: &Services,
    read_only: bool,
) -> async_graphql::Request {
    let mut request = request;
    loaders::insert(&mut request.data, &actor, services);
    let mut request = request.data(actor).data(client);
    if read_only {
        request = request.data(ReadOnlyRequest);
    }
    request
}

/// The data of a WebSocket connection (subscriptions), built once at `connection_init`.
pub fn connection_data(actor: Actor, client: ClientInfo, services: &Services) -> async_graphql::Data {
    let mut data = async_graphql::Data::default();
    loaders::insert(&mut data, &actor, services);
    data.insert(actor);
    data.insert(client);
    data
}
