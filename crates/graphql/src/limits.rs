//! Request limits: document size, depth, aliases and queries-only over GET before execution,
//! a time limit on queries while they run, and the cache of validated documents. Complexity and directive limits use async-graphql's own (see `schema.rs`).
//!
//! Depth is counted here rather than by async-graphql so that introspection gets a limit of its
//! own: the standard introspection query (graphql-js's `getIntrospectionQuery`, which GraphiQL
//! and code generators send) is 15 fields deep, more than any query of the API needs.

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

/// How deep a path through `__schema` or `__type` may go: what the standard introspection query
/// needs, and no more (introspection types refer to each other, so a deeper path can ask for
/// the schema over and over).
pub const MAX_INTROSPECTION_DEPTH: usize = 15;

#[derive(Clone)]
pub(crate) struct Limits {
    pub max_depth: usize,
    pub max_aliases: usize,
    pub max_document_chars: usize,
    pub query_timeout: Duration,
    pub documents: DocumentCache,
}

/// Documents that parsed and passed every validation rule, by their text (least recently used
/// dropped first). Shared by a schema's requests.
#[derive(Clone)]
pub(crate) struct DocumentCache(Arc<std::sync::Mutex<lru::LruCache<String, Arc<ExecutableDocument>>>>);

impl DocumentCache {
    pub fn new(capacity: usize) -> Self {
        let capacity = std::num::NonZeroUsize::new(capacity).unwrap_or(std::num::NonZeroUsize::MIN);
        Self(Arc::new(std::sync::Mutex::new(lru::LruCache::new(capacity))))
    }

    pub fn get(&self, query: &str) -> Option<Arc<ExecutableDocument>> {
        self.0.lock().ok()?.get(query).cloned()
    }

    fn insert(&self, query: String, document: ExecutableDocument) {
        if let Ok(mut cache) = self.0.lock() {
            cache.put(query, Arc::new(document));
        }
    }

    pub fn len(&self) -> usize {
        self.0.lock().map_or(0, |c| c.len())
    }
}

impl ExtensionFactory for Limits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestLimits {
            max_depth: self.max_depth,
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
    max_depth: usize,
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
        let document = next.run(ctx, query, variables).await.map_err(|mut error| {
            // A syntax error: say so with a code, as the other request errors do.
            if error.extensions.as_ref().is_none_or(|e| e.get("code").is_none()) {
                error.extensions.get_or_insert_with(Default::default).set("code", "GRAPHQL_PARSE_FAILED");
            }
            error
        })?;
        let (depth, introspection_depth) = depths(&document);
        if depth > self.max_depth {
            return Err(limit_error(
                "QUERY_TOO_DEEP",
                format!("the query is nested {depth} fields deep; the limit is {}", self.max_depth),
            ));
        }
        if introspection_depth > MAX_INTROSPECTION_DEPTH {
            return Err(limit_error(
                "QUERY_TOO_DEEP",
                format!("the introspection query is nested {introspection_depth} fields deep; the limit is {MAX_INTROSPECTION_DEPTH}"),
            ));
        }
        let aliases = expand(&document).aliases;
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
        // Kept for the cache only when it is not there yet: a cached document needs no copy.
        if self.documents.0.lock().is_ok_and(|cache| !cache.contains(query))
            && let Ok(mut parsed) = self.parsed.lock()
        {
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

/// The deepest path of fields outside introspection, and the deepest through `__schema` or
/// `__type` (counted from the root). Runs before validation, so fragments may be cyclic or
/// missing: each fragment is measured once, and a cycle counts as nothing (validation rejects it).
fn depths(document: &ExecutableDocument) -> (usize, usize) {
    let mut measure = Depths { fragments: &document.fragments, memo: HashMap::new() };
    document.operations.iter().fold((0, 0), |(regular, introspection), (_, op)| {
        let (r, i) = measure.set(&op.node.selection_set.node, false);
        (regular.max(r), introspection.max(i))
    })
}

struct Depths<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    /// (fragment, inside introspection) -> its depths; (0, 0) while being measured.
    memo: HashMap<(&'a str, bool), (usize, usize)>,
}

impl<'a> Depths<'a> {
    /// Depths of `set`'s fields relative to the set: (outside introspection, through it).
    fn set(&mut self, set: &'a SelectionSet, introspection: bool) -> (usize, usize) {
        let mut deepest = (0, 0);
        for item in &set.items {
            let (regular, intro) = match &item.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.as_str();
                    let inside = introspection || name == "__schema" || name == "__type";
                    let (r, i) = self.set(&field.node.selection_set.node, inside);
                    if inside { (0, 1 + i) } else { (1 + r, if i > 0 { 1 + i } else { 0 }) }
                }
                Selection::InlineFragment(inline) => self.set(&inline.node.selection_set.node, introspection),
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    match self.memo.get(&(name, introspection)) {
                        Some(depths) => *depths,
                        None => match self.fragments.get(&spread.node.fragment_name.node) {
                            None => (0, 0),
                            Some(fragment) => {
                                self.memo.insert((name, introspection), (0, 0));
                                let depths = self.set(&fragment.node.selection_set.node, introspection);
                                self.memo.insert((name, introspection), depths);
                                depths
                            }
                        },
                    }
                }
            };
            deepest = (deepest.0.max(regular), deepest.1.max(intro));
        }
        deepest
    }
}

/// Refuses, before async-graphql sees it, a document whose fragments multiply: async-graphql
/// walks every fragment where it is spread (its recursion, directive and validation checks),
/// so twenty fragments that each spread the next three times (1.3 KB) held a worker for
/// minutes. Counted here with each fragment measured once; the limit is ten selections per
/// unit of the complexity budget (every field costs at least 1 there; `__typename`, spreads and
/// introspection cost nothing). Parses the query and keeps the document in the request, so it
/// is parsed once. `KanjianGraphql::execute` calls it for every document it has not seen before;
/// the WebSocket route calls it before it subscribes.
pub fn check_expansion(request: &mut async_graphql::Request, limits: &LimitsConfig) -> Result<(), ServerError> {
    if request.query.chars().count() > limits.max_document_chars {
        return Ok(()); // refused as too large by the Limits extension, without parsing it
    }
    let Ok(document) = request.parsed_query() else {
        return Ok(()); // a syntax error, reported the usual way
    };
    let selections = expand(document).selections;
    let max = limits.max_complexity.saturating_mul(10);
    if selections > max {
        return Err(limit_error(
            "QUERY_TOO_COMPLEX",
            format!("the query makes {selections} selections once its fragments are spread; the limit is {max}"),
        ));
    }
    Ok(())
}

/// What a document asks for once its fragments are spread where they are used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Expanded {
    aliases: usize,
    /// Fields, fragment spreads and inline fragments.
    selections: usize,
}

impl Expanded {
    fn add(self, other: Self) -> Self {
        Self { aliases: self.aliases.saturating_add(other.aliases), selections: self.selections.saturating_add(other.selections) }
    }
}

fn expand(document: &ExecutableDocument) -> Expanded {
    let mut count = Expander { fragments: &document.fragments, memo: HashMap::new() };
    document
        .operations
        .iter()
        .fold(Expanded::default(), |total, (_, op)| total.add(count.set(&op.node.selection_set.node)))
}

#[cfg(test)]
fn count_aliases(document: &ExecutableDocument) -> usize {
    expand(document).aliases
}

/// Counts aliases and fields as executed: a fragment spread twice counts twice. Each fragment
/// is counted once and remembered: a chain of fragments that each spread the next several times
/// would otherwise take exponential time (a 1.3 KB query held a worker for minutes). A cycle
/// counts as nothing (the parser and validation refuse them).
struct Expander<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    memo: HashMap<&'a str, Expanded>,
}

impl<'a> Expander<'a> {
    fn set(&mut self, set: &'a SelectionSet) -> Expanded {
        set.items.iter().fold(Expanded::default(), |total, item| {
            let here = match &item.node {
                Selection::Field(field) => Expanded { aliases: usize::from(field.node.alias.is_some()), selections: 1 }
                    .add(self.set(&field.node.selection_set.node)),
                Selection::InlineFragment(inline) => {
                    Expanded { aliases: 0, selections: 1 }.add(self.set(&inline.node.selection_set.node))
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    let inside = match (self.memo.get(name), self.fragments.get(&spread.node.fragment_name.node)) {
                        (Some(count), _) => *count,
                        (None, None) => Expanded::default(),
                        (None, Some(fragment)) => {
                            self.memo.insert(name, Expanded::default());
                            let count = self.set(&fragment.node.selection_set.node);
                            self.memo.insert(name, count);
                            count
                        }
                    };
                    Expanded { aliases: 0, selections: 1 }.add(inside)
                }
            };
            total.add(here)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depths_of(query: &str) -> (usize, usize) {
        depths(&async_graphql::parser::parse_query(query).unwrap())
    }

    #[test]
    fn depth_is_counted_through_fragments_and_introspection_apart() {
        assert_eq!(depths_of("{ a }"), (1, 0));
        assert_eq!(depths_of("{ a { b { c } } d }"), (3, 0));
        assert_eq!(depths_of("query { a { ...F ... on X { e { f { g } } } } } fragment F on A { b { c } }"), (4, 0));
        assert_eq!(depths_of("{ a { b } __schema { types { fields { type { name } } } } }"), (2, 5));
        assert_eq!(depths_of("{ x { __type(name: \"A\") { ...T } } } fragment T on __Type { ofType { ofType { name } } }"), (1, 5));
        // A fragment used inside and outside introspection counts for each.
        assert_eq!(depths_of("{ ...F __schema { ...F } } fragment F on Query { a { b } }"), (2, 3));
        // Cycles and missing fragments end (validation refuses them later).
        assert_eq!(depths_of("{ ...A } fragment A on Query { a { ...A ...A ...B } }"), (1, 0));
    }

    #[test]
    fn the_standard_introspection_query_is_allowed() {
        // graphql-js 16's getIntrospectionQuery({ inputValueDeprecation: true, schemaDescription: true }):
        // its deepest path, TypeRef's nine nested ofType.
        let query = "query IntrospectionQuery { __schema { types { ...FullType } } } \
            fragment FullType on __Type { fields(includeDeprecated: true) { args(includeDeprecated: true) { ...InputValue } type { ...TypeRef } } } \
            fragment InputValue on __InputValue { name type { ...TypeRef } } \
            fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } } }";
        assert_eq!(depths_of(query), (0, MAX_INTROSPECTION_DEPTH));
    }

    #[test]
    fn fragment_chains_are_counted_in_linear_time() {
        // Twenty fragments, each spreading the next three times: 3^20 spreads as executed.
        let mut query = String::from("query { ...F0 } ");
        for i in 0..20 {
            query.push_str(&format!("fragment F{i} on Query {{ a{i}: __typename ...F{n} ...F{n} ...F{n} }} ", n = i + 1));
        }
        query.push_str("fragment F20 on Query { __typename }");
        let doc = async_graphql::parser::parse_query(&query).unwrap();
        let started = std::time::Instant::now();
        assert!(count_aliases(&doc) > 1_000_000_000);
        assert!(expand(&doc).selections > 3_000_000_000);
        assert_eq!(depths(&doc), (1, 0));
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "{:?}", started.elapsed());
    }

    #[test]
    fn documents_whose_fragments_multiply_are_refused_before_async_graphql_walks_them() {
        let limits = LimitsConfig::default();
        let mut chain = String::from("query { ...F0 } ");
        for i in 0..20 {
            chain.push_str(&format!("fragment F{i} on Query {{ ...F{n} ...F{n} ...F{n} }} ", n = i + 1));
        }
        chain.push_str("fragment F20 on Query { ...Missing }");
        let mut request = async_graphql::Request::new(chain);
        let error = check_expansion(&mut request, &limits).unwrap_err();
        assert_eq!(error.extensions.unwrap().get("code"), Some(&async_graphql::Value::from("QUERY_TOO_COMPLEX")));
        let mut fine = async_graphql::Request::new("{ a { b } ...F } fragment F on Query { c }");
        check_expansion(&mut fine, &limits).unwrap();
        let mut broken = async_graphql::Request::new("{");
        check_expansion(&mut broken, &limits).unwrap();
    }

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
                max_depth: 10,
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
                max_depth: 10,
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
