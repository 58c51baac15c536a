//! One error type for every module. Users see a code and a message; the cause stays in the logs.

use serde::{Deserialize, Serialize};
use std::fmt;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Codes of expected failures a user can fix: the `code` of each entry of a mutation payload's
/// `userErrors { field message code }`. Part of the public contract: codes are added, never renamed.
// With the `graphql` feature this enum is the schema's `UserErrorCode` itself, so there is no copy
// to keep in step: a code added here is in the schema, its doc comment its description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UserErrorCode {
    /// A value is malformed (an email without `@`, a handle with spaces).
    Invalid,
    /// A required value is empty.
    Required,
    /// A value is too long or too large.
    TooLong,
    /// A value is too short or too small.
    TooShort,
    /// Something with this unique value already exists.
    Taken,
    /// The email and password do not match an account.
    InvalidCredentials,
    /// The password is too easy to guess.
    WeakPassword,
    /// The action is not allowed in the object's current state.
    InvalidState,
    /// The caller already has one and may only have one.
    AlreadyExists,
    /// An uploaded file is not what was expected (not a video, truncated).
    UnsupportedMedia,
    /// An uploaded file is over the size limit.
    TooLarge,
    /// A resumable upload was continued at another offset than the server has.
    UploadOffsetMismatch,
    /// One of the two people blocked the other: they cannot interact.
    Blocked,
    /// The action targets the actor themself where that makes no sense (befriending yourself).
    SelfTarget,
    /// A page cursor belongs to a ranking that no longer exists: load the first page again.
    CursorExpired,
    /// A single-use link or code (email verification, password reset) is past its lifetime: ask
    /// for a new one.
    Expired,
    /// The actor reached a limit on how many they may have (15 upcoming lives); remove one first.
    LimitReached,
    /// The actor may not comment here for now (muted in a live room); the message says until
    /// when.
    Muted,
    /// The text contains something its place does not allow (a keyword the live room's
    /// creator blocked).
    ContentRejected,
    /// An idempotency key came again with different input: a new request needs a new key.
    IdempotencyKeyReused,
    /// A request with this idempotency key is still running: retry in a moment.
    InProgress,
    /// The SKU has no stock left.
    SoldOut,
    /// The SKU has stock, but less than the quantity asked; the message says how much was left.
    InsufficientStock,
    /// The quantity would take the actor over the product's per-person purchase limit; the
    /// message says how many more they may buy.
    PurchaseLimitExceeded,
    /// The product or SKU is not for sale now (off the shelf or removed by its shop).
    Unavailable,
    /// The payment provider did not answer: nothing was charged; try again in a moment.
    PaymentUnavailable,
}

impl UserErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invalid => "INVALID",
            Self::Required => "REQUIRED",
            Self::TooLong => "TOO_LONG",
            Self::TooShort => "TOO_SHORT",
            Self::Taken => "TAKEN",
            Self::InvalidCredentials => "INVALID_CREDENTIALS",
            Self::WeakPassword => "WEAK_PASSWORD",
            Self::InvalidState => "INVALID_STATE",
            Self::AlreadyExists => "ALREADY_EXISTS",
            Self::UnsupportedMedia => "UNSUPPORTED_MEDIA",
            Self::TooLarge => "TOO_LARGE",
            Self::UploadOffsetMismatch => "UPLOAD_OFFSET_MISMATCH",
            Self::Blocked => "BLOCKED",
            Self::SelfTarget => "SELF_TARGET",
            Self::CursorExpired => "CURSOR_EXPIRED",
            Self::Expired => "EXPIRED",
            Self::LimitReached => "LIMIT_REACHED",
            Self::Muted => "MUTED",
            Self::ContentRejected => "CONTENT_REJECTED",
            Self::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            Self::InProgress => "IN_PROGRESS",
            Self::SoldOut => "SOLD_OUT",
            Self::InsufficientStock => "INSUFFICIENT_STOCK",
            Self::PurchaseLimitExceeded => "PURCHASE_LIMIT_EXCEEDED",
            Self::Unavailable => "UNAVAILABLE",
            Self::PaymentUnavailable => "PAYMENT_UNAVAILABLE",
        }
    }
}

/// A failure the user can fix, tied to the input field that caused it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserError {
    /// Path of the input field, e.g. `["input", "email"]`; empty when it is about the whole input.
    pub field: Vec<String>,
    pub message: String,
    pub code: UserErrorCode,
}

impl UserError {
    pub fn new(field: &str, code: UserErrorCode, message: impl Into<String>) -> Self {
        let field = if field.is_empty() {
            Vec::new()
        } else {
            std::iter::once("input")
                .chain(field.split('.'))
                .map(str::to_owned)
                .collect()
        };
        Self {
            field,
            message: message.into(),
            code,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Expected, fixable failures (validation and business rules), one or more.
    #[error("invalid input: {}", .0.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; "))]
    User(Vec<UserError>),
    #[error("authentication required")]
    Unauthenticated,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("too many attempts, retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// Anything unexpected. The cause chain is logged, never shown to users.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// Top-level error codes, rendered as `extensions.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadUserInput,
    Unauthenticated,
    Forbidden,
    NotFound,
    RateLimited,
    Internal,
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::RateLimited => "RATE_LIMITED",
            Self::Internal => "INTERNAL",
        })
    }
}

impl Error {
    pub fn user(field: &str, code: UserErrorCode, message: impl Into<String>) -> Self {
        Self::User(vec![UserError::new(field, code, message)])
    }

    pub fn forbidden(why: impl Into<String>) -> Self {
        Self::Forbidden(why.into())
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(what.into())
    }

    pub fn internal(message: impl fmt::Display) -> Self {
        Self::Internal(anyhow::anyhow!("{message}"))
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::User(_) => ErrorCode::BadUserInput,
            Self::Unauthenticated => ErrorCode::Unauthenticated,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }
}

/// `.context("what we were doing")` on any fallible step: the failure becomes `Error::Internal`
/// with the cause kept for the logs. Expected failures must be mapped to their own variant first.
pub trait Context<T> {
    fn context(self, what: &'static str) -> Result<T>;
    fn with_context<F: FnOnce() -> String>(self, what: F) -> Result<T>;
}

impl<T, E> Context<T> for std::result::Result<T, E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn context(self, what: &'static str) -> Result<T> {
        self.map_err(|e| Error::Internal(anyhow::Error::new(e).context(what)))
    }

    fn with_context<F: FnOnce() -> String>(self, what: F) -> Result<T> {
        self.map_err(|e| Error::Internal(anyhow::Error::new(e).context(what())))
    }
}

/// Collects validation failures so a user sees all of them at once, not one per attempt.
#[derive(Debug, Default)]
pub struct Validation {
    errors: Vec<UserError>,
}

impl Validation {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the value when it parsed, remembers the failure otherwise.
    pub fn check<T>(&mut self, parsed: std::result::Result<T, UserError>) -> Option<T> {
        match parsed {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }

    pub fn push(&mut self, error: UserError) {
        self.errors.push(error);
    }

    pub fn finish(self) -> Result<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::User(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_error_field_is_a_path_under_input() {
        let e = UserError::new("profile.handle", UserErrorCode::Taken, "taken");
        assert_eq!(e.field, vec!["input", "profile", "handle"]);
        assert!(UserError::new("", UserErrorCode::Invalid, "x").field.is_empty());
    }

    #[test]
    fn context_keeps_the_cause_and_hides_it_from_display() {
        let r: std::result::Result<(), std::io::Error> =
            Err(std::io::Error::other("disk on fire"));
        let e = r.context("writing the file").unwrap_err();
        assert_eq!(e.code(), ErrorCode::Internal);
        assert_eq!(e.to_string(), "internal error");
        let Error::Internal(cause) = e else { panic!() };
        assert!(format!("{cause:#}").contains("disk on fire"));
    }

    #[test]
    fn validation_collects_every_failure() {
        let mut v = Validation::new();
        let a: Option<u8> = v.check(Err(UserError::new("a", UserErrorCode::Invalid, "bad a")));
        let b = v.check(Ok(2u8));
        v.push(UserError::new("c", UserErrorCode::Required, "c needed"));
        assert_eq!((a, b), (None, Some(2)));
        let Err(Error::User(errors)) = v.finish() else { panic!() };
        assert_eq!(errors.len(), 2);
    }
}
