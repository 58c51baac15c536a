//! Request limits enforced before execution: document size, depth, aliases, and queries-only
//! over GET. Complexity and directive limits use async-graphql's own (see `schema.rs`).
//!
//! Depth is counted here rather than by async-graphql so that introspection gets a limit of its
//! own: the standard introspection query (graphql-js's `getIntrospectionQuery`, which GraphiQL
//! and code generators send) is 15 fields deep, more than any query of the API needs.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation,
};
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

#[derive(Clone, Copy)]
pub(crate) struct Limits {
    pub max_depth: usize,
    pub max_aliases: usize,
    pub max_document_chars: usize,
}

impl ExtensionFactory for Limits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

fn limit_error(code: &str, message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut ext = async_graphql::ErrorExtensionValues::default();
    ext.set("code", code);
    error.extensions = Some(ext);
    error
}

#[async_trait::async_trait]
impl Extension for Limits {
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
        Ok(document)
    }

    /// async-graphql's own validation errors (depth, complexity, unknown fields) carry no code;
    /// give them one so clients can tell a refused query from a failed one.
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
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
    fn aliases_are_counted_through_fragments() {
        let doc = async_graphql::parser::parse_query(
            "query { a: viewer { id } ...F ...F } fragment F on Query { b: viewer { c: id } }",
        )
        .unwrap();
        assert_eq!(count_aliases(&doc), 5);
    }
}
