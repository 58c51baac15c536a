//! The one schema, from the roots every module contributes (listed in `lib.rs`), with its limits.

use async_graphql::{Schema, SchemaBuilder, ValidationMode};
use kanjian_contracts::identity::ClientInfo;
use kanjian_kernel::Actor;

use crate::context::Services;
use std::sync::Arc;

use async_graphql::parser::types::ExecutableDocument;

use crate::limits::{DocumentCache, Limits, LimitsConfig, ReadOnlyRequest, check_expansion};
use crate::nulls::{self, TypeIndex};
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

/// Documents kept parsed and validated, by their text: clients send the same few documents
/// again and again with new variables.
const CACHED_DOCUMENTS: usize = 1_000;

pub fn build_schema(services: Services, config: &SchemaConfig) -> KanjianGraphql {
    let documents = DocumentCache::new(CACHED_DOCUMENTS);
    let schema = |mode: ValidationMode| {
        let limits = &config.limits;
        let mut builder = builder()
            .data(services.clone())
            .validation_mode(mode)
            .limit_complexity(limits.max_complexity)
            .limit_directives(limits.max_directives)
            .extension(Limits {
                max_depth: limits.max_depth,
                max_aliases: limits.max_aliases,
                max_document_chars: limits.max_document_chars,
                query_timeout: std::time::Duration::from_millis(limits.query_timeout_ms),
                documents: documents.clone(),
            });
        if !limits.introspection {
            builder = builder.disable_introspection();
        }
        builder.finish()
    };
    let strict = schema(ValidationMode::Strict);
    let types = Arc::new(TypeIndex::from_sdl(&strict.sdl()));
    KanjianGraphql { strict, known: schema(ValidationMode::Fast), documents, types, limits: config.limits.clone() }
}

/// The schema, with a cache of the documents it has parsed and validated. A document seen
/// before is neither parsed nor checked against the rules that depend on its text alone
/// again; what depends on its variables (complexity, depth) is still computed every time.
#[derive(Clone)]
pub struct KanjianGraphql {
    /// Every rule of the spec: for documents not seen before.
    strict: KanjianSchema,
    /// The same schema, checking only complexity, depth and fragment cycles: for documents
    /// that passed `strict` before.
    known: KanjianSchema,
    documents: DocumentCache,
    /// The output types, to null what a field error nulls (see `nulls`).
    types: Arc<TypeIndex>,
    limits: LimitsConfig,
}

impl KanjianGraphql {
    pub async fn execute(&self, mut request: async_graphql::Request) -> async_graphql::Response {
        let operation_name = request.operation_name.clone();
        let cached = self.documents.get(&request.query);
        // The text is needed after a first run only, to find the document it left in the cache.
        let query = cached.is_none().then(|| request.query.clone());
        let mut response = match &cached {
            Some(document) => {
                request.set_parsed_query(ExecutableDocument::clone(document));
                self.known.execute(request).await
            }
            None => {
                // A document seen before passed this already (it depends on the text alone).
                if let Err(error) = check_expansion(&mut request, &self.limits) {
                    return async_graphql::Response::from_errors(vec![error]);
                }
                self.strict.execute(request).await
            }
        };
        if !response.errors.is_empty() && response.data != async_graphql::Value::Null {
            // Valid documents are cached by now; one that is not never got data.
            if let Some(document) = cached.or_else(|| query.and_then(|q| self.documents.get(&q))) {
                nulls::propagate(&self.types, &document, operation_name.as_deref(), &mut response);
            }
        }
        response
    }

    /// The schema itself (subscriptions run on it, with every rule checked).
    pub fn schema(&self) -> &KanjianSchema {
        &self.strict
    }

    /// How many documents are kept (for tests and metrics).
    pub fn cached_documents(&self) -> usize {
        self.documents.len()
    }
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
