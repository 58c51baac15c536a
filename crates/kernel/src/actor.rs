//! Who is calling. Every use case takes the actor and checks it against what it touches.

use crate::error::{Error, Result};
use crate::ids::{SessionId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformRole {
    /// Runs the platform: may moderate anything.
    Admin,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Actor {
    #[default]
    Anonymous,
    User {
        user_id: UserId,
        session_id: SessionId,
        roles: Vec<PlatformRole>,
    },
}

impl Actor {
    pub fn user_id(&self) -> Option<UserId> {
        match self {
            Self::Anonymous => None,
            Self::User { user_id, .. } => Some(*user_id),
        }
    }

    /// The signed-in user, or `Unauthenticated`.
    pub fn require_user(&self) -> Result<UserId> {
        self.user_id().ok_or(Error::Unauthenticated)
    }

    pub fn session_id(&self) -> Option<SessionId> {
        match self {
            Self::Anonymous => None,
            Self::User { session_id, .. } => Some(*session_id),
        }
    }

    pub fn has_role(&self, role: PlatformRole) -> bool {
        matches!(self, Self::User { roles, .. } if roles.contains(&role))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_actor_is_unauthenticated() {
        assert!(matches!(Actor::Anonymous.require_user(), Err(Error::Unauthenticated)));
        let user = Actor::User { user_id: UserId(7), session_id: SessionId(1), roles: vec![] };
        assert_eq!(user.require_user().unwrap(), UserId(7));
        assert!(!user.has_role(PlatformRole::Admin));
    }
}
