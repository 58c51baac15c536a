//! Input parsed at the edge into types that cannot hold bad values. Each `parse` returns a
//! `UserError` tied to the GraphQL input field (camelCase), so a use case can collect every
//! failure with `kanjian_kernel::Validation` and report them all at once.

mod avatar_url;
mod bio;
mod common_passwords;
mod display_name;
mod email;
mod handle;
mod organization_name;
mod password;

pub use avatar_url::AvatarUrl;
pub use bio::Bio;
pub use display_name::DisplayName;
pub use email::Email;
pub use handle::Handle;
pub use organization_name::OrganizationName;
pub use password::Password;
