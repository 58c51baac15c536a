//! Accounts, sessions, channels (creator profiles) and organizations (merchants).

use async_trait::async_trait;
use kanjian_kernel::ids::{ChannelId, OrganizationId, UserId};
use kanjian_kernel::{Actor, Page, PageRequest, Result, Timestamp};
use serde::{Deserialize, Serialize};

use crate::IntegrationEvent;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDto {
    pub id: UserId,
    /// Public (昵称): anyone who can see the user sees it. 1 to 32 characters, one line.
    pub display_name: String,
    pub created_at: Timestamp,
    /// What only the user themself may read. Identity fills it when the user is the actor (or
    /// the person a session was just opened for, or whose token was just used); `None` for
    /// everyone else, so no client of the contract can show it to the wrong person.
    pub private: Option<UserPrivateDto>,
}

/// A user's private fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPrivateDto {
    pub email: String,
    /// When the user proved they receive mail at `email` (a verification link, or a password
    /// reset); `None` until then.
    pub email_verified_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct SignUpInput {
    pub email: String,
    pub password: String,
    /// When absent, the email's local part (the part before `@`) cut to 32 characters.
    pub display_name: Option<String>,
}

/// Fields left `None` stay as they are.
#[derive(Debug, Clone, Default)]
pub struct UpdateProfileInput {
    pub display_name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct LogInInput {
    pub email: String,
    pub password: String,
}

/// The token of an email verification link (`<public_url>/verify-email?token=…`).
#[derive(Debug, Clone)]
pub struct VerifyEmailInput {
    pub token: String,
}

/// Asks for a password reset mail. Answered alike whether or not the email has an account.
#[derive(Debug, Clone)]
pub struct RequestPasswordResetInput {
    pub email: String,
}

/// The token of a password reset link (`<public_url>/reset-password?token=…`) and the password
/// to set.
#[derive(Clone)]
pub struct ResetPasswordInput {
    pub token: String,
    pub new_password: String,
}

impl std::fmt::Debug for ResetPasswordInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResetPasswordInput { .. }")
    }
}

/// Where a request came from, for rate limiting and the session record.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A new session. The token is shown once; only its hash is stored.
#[derive(Debug, Clone)]
pub struct AuthSession {
    pub token: String,
    pub user: UserDto,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelDto {
    pub id: ChannelId,
    pub owner_id: UserId,
    pub handle: String,
    pub display_name: String,
    pub bio: String,
    pub avatar_url: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Default)]
pub struct CreateChannelInput {
    pub handle: String,
    pub display_name: String,
    pub bio: Option<String>,
    pub avatar_url: Option<String>,
}

/// Fields left `None` stay as they are; `avatar_url: Some(None)` clears the avatar.
#[derive(Debug, Clone, Default)]
pub struct UpdateChannelInput {
    pub handle: Option<String>,
    pub display_name: Option<String>,
    pub bio: Option<String>,
    pub avatar_url: Option<Option<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrgRole {
    /// Manages the organization and its members.
    Owner,
    /// Customer-service agent: takes consultations for the organization.
    Agent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationDto {
    pub id: OrganizationId,
    pub name: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipDto {
    pub organization_id: OrganizationId,
    pub user_id: UserId,
    pub role: OrgRole,
    pub added_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct CreateOrganizationInput {
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct AddMemberInput {
    pub organization_id: OrganizationId,
    /// The member is found by the email of an existing account.
    pub email: String,
    pub role: OrgRole,
}

#[derive(Debug, Clone)]
pub struct RemoveMemberInput {
    pub organization_id: OrganizationId,
    pub user_id: UserId,
}

/// What other modules read of identity: people and channels by id. Narrow on purpose, so a
/// module (and its test fakes) depends on these lookups only, not on sign-up or organizations.
#[async_trait]
pub trait IdentityDirectory: Send + Sync {
    /// Users by id, in the order asked (unknown ids left out); private fields only for the
    /// actor's own account.
    async fn users_by_ids(&self, actor: &Actor, ids: &[UserId]) -> Result<Vec<UserDto>>;
    async fn channels_by_ids(&self, ids: &[ChannelId]) -> Result<Vec<ChannelDto>>;
    async fn channel_of_user(&self, user: UserId) -> Result<Option<ChannelDto>>;
    /// The channels of several users at once (users without one are absent): for lists.
    async fn channels_of_users(&self, users: &[UserId]) -> Result<Vec<ChannelDto>>;
}

/// Where to mail people, for modules that enqueue mail for them through notify (a go-live
/// reminder). Never shown to anyone: it only fills `EmailRequested::to`.
#[async_trait]
pub trait MailDirectory: Send + Sync {
    /// The users' addresses and mail language, in no order; unknown users are left out.
    async fn mail_recipients(&self, users: &[UserId]) -> Result<Vec<MailRecipient>>;
}

/// Who may act for a merchant: a person's role in an organization, for modules that check it
/// (commerce: owners manage the shop, owners and agents handle its orders).
#[async_trait]
pub trait OrganizationDirectory: Send + Sync {
    /// `None` when the user is not a member (or the organization does not exist).
    async fn organization_role(&self, organization: OrganizationId, user: UserId) -> Result<Option<OrgRole>>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailRecipient {
    pub user_id: UserId,
    pub email: String,
    /// Whether the person proved they receive mail there. Optional mail goes to verified
    /// addresses only, so nobody mails a stranger who was signed up with their address.
    pub email_verified: bool,
    /// The language their mail is written in (`zh-CN`, `en`).
    pub locale: String,
}

/// Everything identity offers its clients (the GraphQL schema, the HTTP routes), the directory
/// included.
#[async_trait]
pub trait IdentityApi: IdentityDirectory + Send + Sync {
    /// Too many sign-ups from the client's address are `RateLimited`.
    async fn sign_up(&self, input: SignUpInput, client: ClientInfo) -> Result<AuthSession>;
    /// Wrong password and unknown email fail alike (`INVALID_CREDENTIALS`); repeated failures
    /// are `RateLimited`.
    async fn log_in(&self, input: LogInInput, client: ClientInfo) -> Result<AuthSession>;
    /// Revokes the actor's session: its token stops working at once.
    async fn log_out(&self, actor: &Actor) -> Result<()>;
    /// A new token for the actor's user with a fresh expiry, and the actor's token revoked, in
    /// one transaction (the old token stops working at once). `Unauthenticated` for anonymous
    /// actors and for a token revoked or expired meanwhile (of two rotations, one wins).
    async fn rotate_token(&self, actor: &Actor, client: ClientInfo) -> Result<AuthSession>;
    /// Revokes every session of the actor's user, the actor's own included; returns how many
    /// were still working. `Unauthenticated` for anonymous actors.
    async fn log_out_everywhere(&self, actor: &Actor) -> Result<u64>;
    /// Resolves a bearer token; unknown, expired or revoked tokens are `Unauthenticated`.
    async fn authenticate(&self, token: &str) -> Result<Actor>;
    /// Changes the signed-in user's own profile (`Unauthenticated` for anonymous actors).
    async fn update_profile(&self, actor: &Actor, input: UpdateProfileInput) -> Result<UserDto>;

    /// Mails the signed-in user a new verification link (sign-up already sent one).
    /// `Unauthenticated` for anonymous actors, `INVALID_STATE` when the email is already
    /// verified, `RateLimited` after too many requests.
    async fn request_email_verification(&self, actor: &Actor, client: ClientInfo) -> Result<()>;
    /// Consumes a verification token and marks its user's email verified (no sign-in needed:
    /// the token is the proof). Unknown or used tokens are `INVALID`, old ones `EXPIRED`, on
    /// the `token` field; nothing changes then.
    async fn verify_email(&self, input: VerifyEmailInput) -> Result<UserDto>;
    /// Mails a password reset link when the email has an account. The answer (and the work
    /// done before it) is the same whether or not it has one; `RateLimited` per email and per
    /// client IP.
    async fn request_password_reset(
        &self,
        input: RequestPasswordResetInput,
        client: ClientInfo,
    ) -> Result<()>;
    /// Sets a new password with a reset token, consumes it and ends every session of the user,
    /// in one transaction. It signs no one in: the user logs in with the new password. Bad
    /// tokens are `INVALID` / `EXPIRED` on `token`, a bad password the usual errors on
    /// `newPassword`; nothing changes then.
    async fn reset_password(&self, input: ResetPasswordInput, client: ClientInfo) -> Result<()>;

    async fn create_channel(&self, actor: &Actor, input: CreateChannelInput) -> Result<ChannelDto>;
    async fn update_channel(
        &self,
        actor: &Actor,
        id: ChannelId,
        input: UpdateChannelInput,
    ) -> Result<ChannelDto>;
    async fn channel_by_handle(&self, handle: &str) -> Result<Option<ChannelDto>>;

    /// The actor becomes the organization's first owner.
    async fn create_organization(
        &self,
        actor: &Actor,
        input: CreateOrganizationInput,
    ) -> Result<OrganizationDto>;
    /// Owners only.
    async fn add_organization_member(&self, actor: &Actor, input: AddMemberInput)
    -> Result<MembershipDto>;
    /// Owners only; the last owner cannot be removed.
    async fn remove_organization_member(&self, actor: &Actor, input: RemoveMemberInput)
    -> Result<()>;
    async fn organizations_by_ids(&self, ids: &[OrganizationId]) -> Result<Vec<OrganizationDto>>;
    /// Members only.
    async fn organization_members(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        page: PageRequest,
    ) -> Result<Page<MembershipDto>>;
    /// The organizations `user` belongs to, for the user themself only: empty for anyone else.
    async fn memberships_of(&self, actor: &Actor, user: UserId) -> Result<Vec<MembershipDto>>;
    async fn organization_role(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<OrgRole>>;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserSignedUp {
    pub user_id: UserId,
}
impl IntegrationEvent for UserSignedUp {
    const KIND: &'static str = "identity.user_signed_up";
}

/// A user proved they receive mail at their email address (a verification link, or a password
/// reset, which needs the same proof). Emitted when `email_verified_at` goes from unset to set,
/// in the transaction that sets it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserVerified {
    pub user_id: UserId,
}
impl IntegrationEvent for UserVerified {
    const KIND: &'static str = "identity.user_verified";
}

/// A user changed their profile (only when a field really changed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserProfileUpdated {
    pub user_id: UserId,
}
impl IntegrationEvent for UserProfileUpdated {
    const KIND: &'static str = "identity.user_profile_updated";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelCreated {
    pub channel_id: ChannelId,
    pub owner_id: UserId,
    pub handle: String,
}
impl IntegrationEvent for ChannelCreated {
    const KIND: &'static str = "identity.channel_created";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelUpdated {
    pub channel_id: ChannelId,
}
impl IntegrationEvent for ChannelUpdated {
    const KIND: &'static str = "identity.channel_updated";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrganizationMemberAdded {
    pub organization_id: OrganizationId,
    pub user_id: UserId,
    pub role: OrgRole,
}
impl IntegrationEvent for OrganizationMemberAdded {
    const KIND: &'static str = "identity.organization_member_added";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrganizationMemberRemoved {
    pub organization_id: OrganizationId,
    pub user_id: UserId,
}
impl IntegrationEvent for OrganizationMemberRemoved {
    const KIND: &'static str = "identity.organization_member_removed";
}
