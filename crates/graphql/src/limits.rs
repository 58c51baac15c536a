//! Request limits enforced before execution: document size, aliases, and queries-only over GET.
//! Depth, complexity and directive limits use async-graphql's own (see `schema.rs`).

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

pub(crate) struct Limits {
    pub max_aliases: usize,
    pub max_document_chars: usize,
}

impl ExtensionFactory for Limits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Limits { max_aliases: self.max_aliases, max_document_chars: self.max_document_chars })
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
