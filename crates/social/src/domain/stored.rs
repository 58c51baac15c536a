//! How the module's enums are stored. An unknown stored value is a bug: `Error::Internal`.

use kanjian_contracts::social::{FriendRequestStatus, ReactionKind, ShareTarget};
use kanjian_kernel::{Error, Result};

pub fn reaction_kind(kind: ReactionKind) -> i16 {
    match kind {
        ReactionKind::Like => 1,
        ReactionKind::Recommend => 2,
    }
}

pub fn reaction_kind_from(stored: i16) -> Result<ReactionKind> {
    match stored {
        1 => Ok(ReactionKind::Like),
        2 => Ok(ReactionKind::Recommend),
        other => Err(Error::internal(format!(
            "unknown reaction kind in the database: {other}"
        ))),
    }
}

pub fn request_status(status: FriendRequestStatus) -> &'static str {
    match status {
        FriendRequestStatus::Pending => "PENDING",
        FriendRequestStatus::Accepted => "ACCEPTED",
        FriendRequestStatus::Declined => "DECLINED",
        FriendRequestStatus::Cancelled => "CANCELLED",
    }
}

pub fn request_status_from(stored: &str) -> Result<FriendRequestStatus> {
    match stored {
        "PENDING" => Ok(FriendRequestStatus::Pending),
        "ACCEPTED" => Ok(FriendRequestStatus::Accepted),
        "DECLINED" => Ok(FriendRequestStatus::Declined),
        "CANCELLED" => Ok(FriendRequestStatus::Cancelled),
        other => Err(Error::internal(format!(
            "unknown friend request status in the database: {other:?}"
        ))),
    }
}

pub fn share_target(target: ShareTarget) -> &'static str {
    match target {
        ShareTarget::Link => "LINK",
        ShareTarget::Chat => "CHAT",
        ShareTarget::Moments => "MOMENTS",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_round_trip_and_unknown_ones_are_internal() {
        for kind in [ReactionKind::Like, ReactionKind::Recommend] {
            assert_eq!(reaction_kind_from(reaction_kind(kind)).unwrap(), kind);
        }
        assert!(matches!(reaction_kind_from(9), Err(Error::Internal(_))));
        for status in [
            FriendRequestStatus::Pending,
            FriendRequestStatus::Accepted,
            FriendRequestStatus::Declined,
            FriendRequestStatus::Cancelled,
        ] {
            assert_eq!(request_status_from(request_status(status)).unwrap(), status);
        }
        assert!(matches!(
            request_status_from("MAYBE"),
            Err(Error::Internal(_))
        ));
        assert_eq!(share_target(ShareTarget::Moments), "MOMENTS");
    }
}
