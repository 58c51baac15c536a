//! Request limits: document size, aliases and queries-only over GET before execution, and a
//! time limit on queries while they run.
//! Depth, complexity and directive limits use async-graphql's own (see `schema.rs`).

use std::sync::Arc;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextValidation,
};
use async_graphql::Response;
use async_graphql::ValidationResult;
use async_graphql::parser::types::{
    ExecutableDocument, FragmentDefinition, OperationType, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned, ServerError, ServerResult, Variables};
use serde::Deserialize;
use std::collections::HashMap;

/// GraphQL Armor's defaults are the starting point.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LimitsConfig {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    /// Characters in the query document.
    pub max_document_chars: usize,
    pub max_directives: usize,
    pub introspection: bool,
    /// How long a query may run before it is stopped with `TIMEOUT` (milliseconds). Mutations
    /// are not cut short: one stopped midway would leave its caller unsure whether it happened.
    pub query_timeout_ms: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_depth: 10,
            max_complexity: 1000,
            max_aliases: 15,
            max_document_chars: 15_000,
            max_directives: 50,
            introspection: true,
            query_timeout_ms: 10_000,
        }
    }
}

/// Put into the request data for GET requests: they may only run queries.
#[derive(Debug, Clone, Copy)]
pub struct ReadOnlyRequest;

pub(crate) struct Limits {
    pub max_aliases: usize,
    pub max_document_chars: usize,
    pub query_timeout: Duration,
    pub documents: DocumentCache,
}

/// Documents that parsed and passed every validation rule, by their text (least recently used
/// dropped first). Shared by a schema's requests.
#[derive(Clone)]
pub(crate) struct DocumentCache(Arc<std::sync::Mutex<lru::LruCache<String, ExecutableDocument>>>);

impl DocumentCache {
    pub fn new(capacity: usize) -> Self {
        let capacity = std::num::NonZeroUsize::new(capacity).unwrap_or(std::num::NonZeroUsize::MIN);
        Self(Arc::new(std::sync::Mutex::new(lru::LruCache::new(capacity))))
    }

    pub fn get(&self, query: &str) -> Option<ExecutableDocument> {
        self.0.lock().ok()?.get(query).cloned()
    }

    fn insert(&self, query: String, document: ExecutableDocument) {
        if let Ok(mut cache) = self.0.lock() {
            cache.put(query, document);
        }
    }

    pub fn len(&self) -> usize {
        self.0.lock().map_or(0, |c| c.len())
    }
}

impl ExtensionFactory for Limits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestLimits {
            max_aliases: self.max_aliases,
            max_document_chars: self.max_document_chars,
            query_timeout: self.query_timeout,
            only_queries: AtomicBool::new(false),
            documents: self.documents.clone(),
            parsed: std::sync::Mutex::new(None),
        })
    }
}

/// The limits as one request applies them (the factory makes one per request).
struct RequestLimits {
    max_aliases: usize,
    max_document_chars: usize,
    query_timeout: Duration,
    /// Set once the document is parsed: it holds queries only, so its run may be timed out.
    only_queries: AtomicBool,
    documents: DocumentCache,
    /// The document just parsed (not one from the cache), kept until it passes validation.
    parsed: std::sync::Mutex<Option<(String, ExecutableDocument)>>,
}

fn limit_error(code: &str, message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut ext = async_graphql::ErrorExtensionValues::default();
    ext.set("code", code);
    error.extensions = Some(ext);
    error
}

#[async_trait::async_trait]
impl Extension for RequestLimits {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let chars = query.chars().count();
        if chars > self.max_document_chars {
            return Err(limit_error(
                "QUERY_TOO_LARGE",
                format!("the query has {chars} characters; the limit is {}", self.max_document_chars),
            ));
        }
        let document = next.run(ctx, query, variables).await?;
        let aliases = count_aliases(&document);
        if aliases > self.max_aliases {
            return Err(limit_error(
                "TOO_MANY_ALIASES",
                format!("the query uses {aliases} aliases; the limit is {}", self.max_aliases),
            ));
        }
        if ctx.data_opt::<ReadOnlyRequest>().is_some()
            && document.operations.iter().any(|(_, op)| op.node.ty != OperationType::Query)
        {
            return Err(limit_error(
                "METHOD_NOT_ALLOWED",
                "only queries may be sent with GET; send mutations with POST".to_owned(),
            ));
        }
        let only_queries = document.operations.iter().all(|(_, op)| op.node.ty == OperationType::Query);
        self.only_queries.store(only_queries, Ordering::Relaxed);
        if let Ok(mut parsed) = self.parsed.lock() {
            *parsed = Some((query.to_owned(), document.clone()));
        }
        Ok(document)
    }

    /// Queries are stopped after `query_timeout`: dropping them ends their statements, and a
    /// query holds no transaction to leave half-done.
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if !self.only_queries.load(Ordering::Relaxed) {
            return next.run(ctx, operation_name).await;
        }
        match tokio::time::timeout(self.query_timeout, next.run(ctx, operation_name)).await {
            Ok(response) => response,
            Err(_) => {
                tracing::warn!(limit_ms = self.query_timeout.as_millis() as u64, "a query ran out of time");
                Response::from_errors(vec![limit_error(
                    "TIMEOUT",
                    format!(
                        "the query ran longer than {} ms and was stopped; ask for fewer items",
                        self.query_timeout.as_millis()
                    ),
                )])
            }
        }
    }

    /// async-graphql's own validation errors (depth, complexity, unknown fields) carry no code;
    /// give them one so clients can tell a refused query from a failed one.
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await;
        if result.is_ok() {
            // Valid: the next request with this text skips parsing and the text-only rules.
            if let Some((query, document)) = self.parsed.lock().ok().and_then(|mut p| p.take()) {
                self.documents.insert(query, document);
            }
        }
        result.map_err(|errors| {
            errors
                .into_iter()
                .map(|mut error| {
                    if error.extensions.as_ref().is_none_or(|e| e.get("code").is_none()) {
                        let code = match error.message.as_str() {
                            "Query is nested too deep." => "QUERY_TOO_DEEP",
                            "Query is too complex." => "QUERY_TOO_COMPLEX",
                            _ => "GRAPHQL_VALIDATION_FAILED",
                        };
                        error.extensions.get_or_insert_with(Default::default).set("code", code);
                    }
                    error
                })
                .collect()
        })
    }
}

fn count_aliases(document: &ExecutableDocument) -> usize {
    document
        .operations
        .iter()
        .map(|(_, op)| count_in(&op.node.selection_set.node, &document.fragments, 0))
        .sum()
}

/// Counts aliases as executed: a fragment spread twice counts twice. `depth` stops cycles, which
/// validation rejects later anyway.
fn count_in(
    set: &SelectionSet,
    fragments: &HashMap<Name, Positioned<FragmentDefinition>>,
    depth: usize,
) -> usize {
    if depth > 32 {
        return 0;
    }
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some())
                    + count_in(&field.node.selection_set.node, fragments, depth + 1)
            }
            Selection::InlineFragment(inline) => {
                count_in(&inline.node.selection_set.node, fragments, depth + 1)
            }
            Selection::FragmentSpread(spread) => fragments
                .get(&spread.node.fragment_name.node)
                .map_or(0, |f| count_in(&f.node.selection_set.node, fragments, depth + 1)),
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_counted_through_fragments() {
        let doc = async_graphql::parser::parse_query(
            "query { a: viewer { id } ...F ...F } fragment F on Query { b: viewer { c: id } }",
        )
        .unwrap();
        assert_eq!(count_aliases(&doc), 5);
    }
}

#[cfg(test)]
mod time_limit_tests {
    use super::*;
    use async_graphql::{EmptySubscription, Object, Schema};

    struct Slow;

    #[Object]
    impl Slow {
        async fn slow(&self) -> bool {
            tokio::time::sleep(Duration::from_millis(200)).await;
            true
        }
    }

    struct SlowMutation;

    #[Object]
    impl SlowMutation {
        async fn slow_write(&self) -> bool {
            tokio::time::sleep(Duration::from_millis(200)).await;
            true
        }
    }

    fn schema(timeout: Duration) -> Schema<Slow, SlowMutation, EmptySubscription> {
        Schema::build(Slow, SlowMutation, EmptySubscription)
            .extension(Limits {
                max_aliases: 15,
                max_document_chars: 15_000,
                query_timeout: timeout,
                documents: DocumentCache::new(10),
            })
            .finish()
    }

    #[tokio::test]
    async fn a_query_past_its_time_limit_is_stopped_and_a_mutation_is_not() {
        let schema = schema(Duration::from_millis(20));
        let stopped = schema.execute("{ slow }").await;
        assert_eq!(stopped.errors.len(), 1, "{stopped:?}");
        assert_eq!(
            stopped.errors[0].extensions.as_ref().and_then(|e| e.get("code")).cloned(),
            Some(async_graphql::Value::from("TIMEOUT"))
        );
        assert_eq!(stopped.data, async_graphql::Value::Null);
        let written = schema.execute("mutation { slowWrite }").await;
        assert!(written.errors.is_empty(), "{written:?}");
        // Within the limit, a query answers as usual.
        let roomy = self::schema(Duration::from_secs(5)).execute("{ slow }").await;
        assert!(roomy.errors.is_empty(), "{roomy:?}");
    }

    #[tokio::test]
    async fn valid_documents_are_kept_parsed_and_invalid_ones_are_not() {
        let documents = DocumentCache::new(2);
        let schema = Schema::build(Slow, SlowMutation, EmptySubscription)
            .extension(Limits {
                max_aliases: 15,
                max_document_chars: 15_000,
                query_timeout: Duration::from_secs(5),
                documents: documents.clone(),
            })
            .finish();
        assert!(!schema.execute("{ nope }").await.errors.is_empty());
        assert_eq!(documents.len(), 0);
        assert!(schema.execute("mutation { slowWrite }").await.errors.is_empty());
        assert!(documents.get("mutation { slowWrite }").is_some());
    }
}
