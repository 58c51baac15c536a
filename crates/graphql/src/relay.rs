//! Relay: opaque global ids (`base64url("Video:42")`) and the `Node` interface.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ID, Object};
use kanjian_kernel::{Cursor, Page, PageRequest};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use kanjian_kernel::ErrorCode;

use crate::Node;
use crate::errors::coded;

/// The type name a global id carries (`Video` in `base64url("Video:42")`). Each module declares
/// its kinds beside its types (`impl NodeKind { pub(crate) const VIDEO: … }`); nothing lists them
/// all but the node types in `lib.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NodeKind(pub(crate) &'static str);

impl NodeKind {
    fn name(self) -> &'static str {
        self.0
    }
}

/// An object `node(id:)` finds: its kind and how to load one the caller may see.
pub(crate) trait NodeObject: Sized {
    const KIND: NodeKind;
    async fn load(ctx: &Context<'_>, id: i64) -> async_graphql::Result<Option<Self>>;
}

pub(crate) fn to_global_id(kind: NodeKind, id: i64) -> ID {
    ID(kanjian_kernel::ids::global_id(kind.name(), id))
}

/// The kind name and number a global id carries; `None` for anything malformed.
pub(crate) fn from_global_id(id: &ID) -> Option<(String, i64)> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(id.as_str()).ok()?).ok()?;
    let (kind, number) = raw.split_once(':')?;
    Some((kind.to_owned(), number.parse().ok()?))
}

/// Parses a global id that must be of `kind`; anything else is a `NOT_FOUND`, as an id that
/// names nothing is indistinguishable from one that names something you cannot see.
pub(crate) fn expect_id(id: &ID, kind: NodeKind) -> async_graphql::Result<i64> {
    match from_global_id(id) {
        Some((k, n)) if k == kind.name() => Ok(n),
        _ => Err(coded(ErrorCode::NotFound, format!("no {} with id {}", kind.name(), id.as_str()))),
    }
}

/// Variant for input fields: a malformed id is the user's mistake, reported in `userErrors`.
pub(crate) fn input_id(id: &ID, kind: NodeKind, field: &str) -> kanjian_kernel::Result<i64> {
    match from_global_id(id) {
        Some((k, n)) if k == kind.name() => Ok(n),
        _ => Err(kanjian_kernel::Error::user(
            field,
            kanjian_kernel::UserErrorCode::Invalid,
            format!("not a {} id", kind.name()),
        )),
    }
}

/// A page request from the `first` / `after` arguments of a connection field.
pub(crate) fn page_request(first: Option<i32>, after: Option<String>) -> PageRequest {
    PageRequest { first: first.map(|n| n.max(0) as u32), after: after.map(Cursor) }
}

/// The cost of a connection field for the complexity limit: its items' cost once per item it may
/// return (`first`, as the page size is clamped), plus one for the field itself. With this on
/// every connection, nesting multiplies: 20 videos × 20 comments × 20 replies is 8 000 items.
pub(crate) fn connection_complexity(first: Option<i32>, child_complexity: usize) -> usize {
    let items = page_request(first, None).limit() as usize;
    items.saturating_mul(child_complexity).saturating_add(1)
}

/// A cursor connection over one page of DTOs, each wrapped as its GraphQL object.
pub(crate) fn connection<T, O>(page: Page<T>, wrap: impl Fn(T) -> O) -> Connection<String, O>
where
    O: async_graphql::OutputType,
{
    let mut connection = Connection::new(page.has_previous_page, page.has_next_page);
    connection.edges.extend(page.items.into_iter().map(|(c, t)| Edge::new(c.0, wrap(t))));
    connection
}

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Any object by its global id; `null` when it does not exist or you may not see it.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Node>> {
        let Some((kind, n)) = from_global_id(&id) else { return Ok(None) };
        crate::load_node(ctx, &kind, n).await
    }

    /// Several objects by global id (at most 100), in the order asked; `null` for each one not
    /// visible.
    #[graphql(complexity = "ids.len().max(1).saturating_mul(child_complexity).saturating_add(1)")]
    async fn nodes(&self, ctx: &Context<'_>, ids: Vec<ID>) -> async_graphql::Result<Vec<Option<Node>>> {
        if ids.len() > 100 {
            return Err(coded(ErrorCode::BadUserInput, "at most 100 ids at once"));
        }
        // All at once: each kind's DataLoader gets every id of its kind in one batch.
        futures::future::try_join_all(ids.into_iter().map(|id| self.node(ctx, id))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_ids_round_trip_and_reject_foreign_or_broken_ids() {
        const VIDEO: NodeKind = NodeKind("Video");
        let id = to_global_id(VIDEO, 42);
        assert_eq!(from_global_id(&id), Some(("Video".to_owned(), 42)));
        assert_eq!(expect_id(&id, VIDEO).unwrap(), 42);
        assert!(expect_id(&id, NodeKind("Channel")).is_err());
        assert_eq!(from_global_id(&ID("garbage!".into())), None);
        assert_eq!(from_global_id(&ID(URL_SAFE_NO_PAD.encode("Video:x"))), None);
        // A well-formed id of a kind nothing has finds nothing (see `load_node`).
        assert_eq!(from_global_id(&ID(URL_SAFE_NO_PAD.encode("Secret:1"))), Some(("Secret".to_owned(), 1)));
    }
}
