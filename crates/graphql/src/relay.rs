//! Relay: opaque global ids (`base64url("Video:42")`) and the `Node` interface.

use async_graphql::{Context, ID, Interface, Object};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use kanjian_kernel::ErrorCode;
use kanjian_kernel::ids::{ChannelId, OrganizationId, UserId, VideoId};

use crate::errors::coded;
use crate::identity::{Channel, Organization, User};
use crate::loaders;
use crate::media::Video;

/// The kinds of object reachable by global id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeKind {
    User,
    Channel,
    Organization,
    Video,
    /// Not a `Node` (no lookup by id alone), but its id is global like the others'.
    FriendRequest,
    Comment,
}

impl NodeKind {
    fn name(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Channel => "Channel",
            Self::Organization => "Organization",
            Self::Video => "Video",
            Self::FriendRequest => "FriendRequest",
            Self::Comment => "Comment",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [Self::User, Self::Channel, Self::Organization, Self::Video, Self::FriendRequest, Self::Comment]
            .into_iter()
            .find(|k| k.name() == name)
    }
}

pub(crate) fn to_global_id(kind: NodeKind, id: i64) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{}:{id}", kind.name())))
}

pub(crate) fn from_global_id(id: &ID) -> Option<(NodeKind, i64)> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(id.as_str()).ok()?).ok()?;
    let (kind, number) = raw.split_once(':')?;
    Some((NodeKind::parse(kind)?, number.parse().ok()?))
}

/// Parses a global id that must be of `kind`; anything else is a `NOT_FOUND`, as an id that
/// names nothing is indistinguishable from one that names something you cannot see.
pub(crate) fn expect_id(id: &ID, kind: NodeKind) -> async_graphql::Result<i64> {
    match from_global_id(id) {
        Some((k, n)) if k == kind => Ok(n),
        _ => Err(coded(ErrorCode::NotFound, format!("no {} with id {}", kind.name(), id.as_str()))),
    }
}

/// Variant for input fields: a malformed id is the user's mistake, reported in `userErrors`.
pub(crate) fn input_id(id: &ID, kind: NodeKind, field: &str) -> kanjian_kernel::Result<i64> {
    match from_global_id(id) {
        Some((k, n)) if k == kind => Ok(n),
        _ => Err(kanjian_kernel::Error::user(
            field,
            kanjian_kernel::UserErrorCode::Invalid,
            format!("not a {} id", kind.name()),
        )),
    }
}

#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "Opaque global id; pass it to `node(id:)`."))]
pub enum Node {
    User(User),
    Channel(Channel),
    Organization(Organization),
    Video(Video),
}

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Any object by its global id; `null` when it does not exist or you may not see it.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Node>> {
        let Some((kind, n)) = from_global_id(&id) else { return Ok(None) };
        Ok(match kind {
            NodeKind::User => loaders::user(ctx, UserId(n)).await?.map(|u| Node::User(User(u))),
            NodeKind::Channel => {
                loaders::channel(ctx, ChannelId(n)).await?.map(|c| Node::Channel(Channel(c)))
            }
            NodeKind::Organization => loaders::organization(ctx, OrganizationId(n))
                .await?
                .map(|o| Node::Organization(Organization(o))),
            NodeKind::Video => loaders::video(ctx, VideoId(n)).await?.map(|v| Node::Video(Video(v))),
            NodeKind::FriendRequest | NodeKind::Comment => None,
        })
    }

    /// Several objects by global id, in the order asked; `null` for each one not visible.
    async fn nodes(&self, ctx: &Context<'_>, ids: Vec<ID>) -> async_graphql::Result<Vec<Option<Node>>> {
        if ids.len() > 100 {
            return Err(coded(ErrorCode::BadUserInput, "at most 100 ids at once"));
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.node(ctx, id).await?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_ids_round_trip_and_reject_foreign_or_broken_ids() {
        let id = to_global_id(NodeKind::Video, 42);
        assert_eq!(from_global_id(&id), Some((NodeKind::Video, 42)));
        assert!(expect_id(&id, NodeKind::Channel).is_err());
        assert_eq!(from_global_id(&ID("garbage!".into())), None);
        assert_eq!(from_global_id(&ID(URL_SAFE_NO_PAD.encode("Video:x"))), None);
        assert_eq!(from_global_id(&ID(URL_SAFE_NO_PAD.encode("Secret:1"))), None);
    }
}
