//! How failures reach clients: fixable ones as `userErrors` in the payload, the rest as
//! top-level errors with `extensions.code`. Internal causes are logged, never shown.

use async_graphql::{ErrorExtensions, SimpleObject};
use kanjian_kernel::{Error, ErrorCode, UserErrorCode};

/// A failure the user can fix, tied to an input field.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(name = "UserError")]
pub struct UserErrorObject {
    /// Path to the input field, e.g. `["input", "email"]`; empty when it concerns the whole input.
    pub field: Vec<String>,
    pub message: String,
    pub code: UserErrorCode,
}

impl From<kanjian_kernel::UserError> for UserErrorObject {
    fn from(e: kanjian_kernel::UserError) -> Self {
        Self { field: e.field, message: e.message, code: e.code }
    }
}

/// A top-level GraphQL error with `extensions.code`. Internal causes go to the log only.
pub(crate) fn top_level(error: Error) -> async_graphql::Error {
    let code = error.code();
    let message = match &error {
        Error::Internal(cause) => {
            tracing::error!(error = ?cause, "internal error while resolving");
            "internal error".to_owned()
        }
        Error::User(errors) => errors
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    };
    let retry_after = match &error {
        Error::RateLimited { retry_after_secs } => Some(*retry_after_secs),
        _ => None,
    };
    // Bad input on a query (a malformed or expired cursor) has no payload to carry `userErrors`:
    // `reason` gives the precise code, e.g. CURSOR_EXPIRED, so clients can react to it.
    let reason = match &error {
        Error::User(errors) => errors.first().map(|e| e.code.as_str()),
        _ => None,
    };
    async_graphql::Error::new(message).extend_with(|_, ext| {
        ext.set("code", code.to_string());
        if let Some(secs) = retry_after {
            ext.set("retryAfterSeconds", secs);
        }
        if let Some(reason) = reason {
            ext.set("reason", reason);
        }
    })
}

/// A top-level error of a given code, for failures found in this crate (a malformed global id).
pub(crate) fn coded(code: ErrorCode, message: impl Into<String>) -> async_graphql::Error {
    let code = code.to_string();
    async_graphql::Error::new(message.into()).extend_with(|_, ext| ext.set("code", code))
}

/// `.gql()?` in resolvers: every kernel error becomes a coded top-level error. (A bare `?`
/// would also compile, through async-graphql's blanket `From<Display>`, but lose the code.)
pub(crate) trait GqlResultExt<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> GqlResultExt<T> for kanjian_kernel::Result<T> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(top_level)
    }
}

/// Mutation payloads: a result, or the user errors that prevented it.
pub(crate) trait Payload: Sized {
    fn from_user_errors(errors: Vec<UserErrorObject>) -> Self;
}

/// Turns a use case's result into its payload: user errors into `userErrors`, every other failure
/// into a top-level error.
pub(crate) fn into_payload<T, P: Payload>(
    result: kanjian_kernel::Result<T>,
    ok: impl FnOnce(T) -> P,
) -> async_graphql::Result<P> {
    match result {
        Ok(value) => Ok(ok(value)),
        Err(Error::User(errors)) => {
            Ok(P::from_user_errors(errors.into_iter().map(Into::into).collect()))
        }
        Err(other) => Err(top_level(other)),
    }
}

/// Declares a payload object: optional result fields plus `userErrors`.
macro_rules! payload {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(async_graphql::SimpleObject, Default)]
        pub struct $name {
            $($(#[$fdoc])* pub $field: Option<$ty>,)*
            /// Why the mutation did not happen; empty on success.
            pub user_errors: Vec<$crate::errors::UserErrorObject>,
        }

        impl $crate::errors::Payload for $name {
            fn from_user_errors(errors: Vec<$crate::errors::UserErrorObject>) -> Self {
                Self { user_errors: errors, ..Default::default() }
            }
        }
    };
}
pub(crate) use payload;
