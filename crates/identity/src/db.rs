//! Small helpers shared by the use cases: constraint violations, DTO mapping, clamping.

use kanjian_contracts::identity::{ChannelDto, MembershipDto, OrgRole, OrganizationDto, UserDto, UserPrivateDto};
use kanjian_kernel::ids::{ChannelId, OrganizationId, UserId};
use kanjian_kernel::{Error, Result};
use sea_orm::{DbErr, SqlErr};

use crate::entity::{channel, membership, organization, user};

/// The message of a violated unique index (it names the index or the column), if that is what
/// `err` is. Races the pre-checks missed end up here and become user errors, not `INTERNAL`.
pub(crate) fn unique_violation(err: &DbErr) -> Option<String> {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(message)) => Some(message),
        _ => None,
    }
}

/// Cuts `s` to at most `max` characters (for free-form client data such as user agents).
pub(crate) fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

pub(crate) fn role_to_str(role: OrgRole) -> &'static str {
    match role {
        OrgRole::Owner => "OWNER",
        OrgRole::Agent => "AGENT",
    }
}

pub(crate) fn role_from_str(role: &str) -> Result<OrgRole> {
    match role {
        "OWNER" => Ok(OrgRole::Owner),
        "AGENT" => Ok(OrgRole::Agent),
        other => Err(Error::internal(format!(
            "unknown organization role in the database: {other:?}"
        ))),
    }
}

/// Whom a user is shown to: private fields go to the user themself only.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ShownTo {
    /// The user themself: the actor, or the person a session or token was just used for.
    Themself,
    Viewer(Option<UserId>),
}

pub(crate) fn user_dto(m: user::Model, shown_to: ShownTo) -> UserDto {
    let private = match shown_to {
        ShownTo::Themself => true,
        ShownTo::Viewer(viewer) => viewer == Some(UserId(m.id)),
    };
    UserDto {
        id: UserId(m.id),
        display_name: m.display_name,
        created_at: m.created_at,
        private: private
            .then_some(UserPrivateDto { email: m.email, email_verified_at: m.email_verified_at }),
    }
}

pub(crate) fn channel_dto(m: channel::Model) -> ChannelDto {
    ChannelDto {
        id: ChannelId(m.id),
        owner_id: UserId(m.owner_id),
        handle: m.handle,
        display_name: m.display_name,
        bio: m.bio,
        avatar_url: m.avatar_url,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

pub(crate) fn organization_dto(m: organization::Model) -> OrganizationDto {
    OrganizationDto {
        id: OrganizationId(m.id),
        name: m.name,
        created_at: m.created_at,
    }
}

pub(crate) fn membership_dto(m: membership::Model) -> Result<MembershipDto> {
    Ok(MembershipDto {
        organization_id: OrganizationId(m.organization_id),
        user_id: UserId(m.user_id),
        role: role_from_str(&m.role)?,
        added_at: m.added_at,
    })
}

/// Keeps the order of `ids` (and drops the ones that were not found), as DataLoaders expect.
pub(crate) fn in_order_of<T, K: Eq + std::hash::Hash + Copy>(
    ids: &[K],
    rows: Vec<T>,
    key: impl Fn(&T) -> K,
) -> Vec<T> {
    let mut by_id: std::collections::HashMap<K, T> =
        rows.into_iter().map(|row| (key(&row), row)).collect();
    ids.iter().filter_map(|id| by_id.remove(id)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_unknown_roles_are_internal() {
        for role in [OrgRole::Owner, OrgRole::Agent] {
            assert_eq!(role_from_str(role_to_str(role)).unwrap(), role);
        }
        assert!(matches!(role_from_str("KING"), Err(Error::Internal(_))));
    }

    #[test]
    fn rows_come_back_in_the_order_asked_without_duplicates_or_gaps() {
        let rows = vec![(1, "a"), (3, "c"), (2, "b")];
        let ordered = in_order_of(&[3, 9, 1, 3], rows, |r| r.0);
        assert_eq!(ordered, vec![(3, "c"), (1, "a")]);
        assert_eq!(clip("看见看见", 2), "看见");
    }
}
