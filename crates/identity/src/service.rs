//! `IdentityService`: the module's implementation of `IdentityApi`. Each method hands its
//! dependencies to one use-case function.

use kanjian_db::Db;
use async_trait::async_trait;
use kanjian_contracts::identity::{
    AddMemberInput, AuthSession, ChannelDto, ClientInfo, CreateChannelInput,
    CreateOrganizationInput, IdentityApi, IdentityDirectory, LogInInput, MailDirectory, MailRecipient, MembershipDto, OrgRole, OrganizationDirectory,
    OrganizationDto, RemoveMemberInput, RequestPasswordResetInput, ResetPasswordInput, SignUpInput,
    UpdateChannelInput, UpdateProfileInput, UserDto, VerifyEmailInput,
};
use kanjian_events::Outbox;
use kanjian_kernel::ids::{ChannelId, OrganizationId, UserId};
use kanjian_kernel::{Actor, Page, PageRequest, Result};

use crate::config::IdentityConfig;
use crate::credentials::DummyHash;
use crate::{
    accounts, channels, email_verification, organizations, password_reset, sessions,
};

/// Accounts, sessions, channels and organizations on the module's own tables. Cheap to clone.
#[derive(Clone)]
pub struct IdentityService {
    db: Db,
    outbox: Outbox,
    config: IdentityConfig,
    dummy_hash: DummyHash,
}

impl IdentityService {
    pub fn new(db: Db, outbox: Outbox, config: IdentityConfig) -> Self {
        let dummy_hash = DummyHash::default();
        // Make the dummy hash now, so the first log-in with an unknown email is not slower than
        // the others (which would tell the email has no account).
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let warm = dummy_hash.clone();
            runtime.spawn(async move {
                if let Err(e) = warm.get().await {
                    tracing::warn!(error = %e, "could not prepare the dummy password hash");
                }
            });
        }
        Self {
            db,
            outbox,
            config,
            dummy_hash,
        }
    }

    pub fn config(&self) -> &IdentityConfig {
        &self.config
    }
}

#[async_trait]
impl IdentityDirectory for IdentityService {
    async fn users_by_ids(&self, actor: &Actor, ids: &[UserId]) -> Result<Vec<UserDto>> {
        accounts::users_by_ids(&self.db, actor, ids).await
    }

    async fn channels_by_ids(&self, ids: &[ChannelId]) -> Result<Vec<ChannelDto>> {
        channels::channels_by_ids(&self.db, ids).await
    }

    async fn channel_of_user(&self, user: UserId) -> Result<Option<ChannelDto>> {
        channels::channel_of_user(&self.db, user).await
    }

    async fn channels_of_users(&self, users: &[UserId]) -> Result<Vec<ChannelDto>> {
        channels::channels_of_users(&self.db, users).await
    }
}

#[async_trait]
impl MailDirectory for IdentityService {
    async fn mail_recipients(&self, users: &[UserId]) -> Result<Vec<MailRecipient>> {
        accounts::mail_recipients(&self.db, &self.config.mail_locale, users).await
    }
}

#[async_trait]
impl OrganizationDirectory for IdentityService {
    async fn organization_role(&self, organization: OrganizationId, user: UserId) -> Result<Option<OrgRole>> {
        organizations::role_of(&self.db, organization, user).await
    }
}

#[async_trait]
impl IdentityApi for IdentityService {
    async fn sign_up(&self, input: SignUpInput, client: ClientInfo) -> Result<AuthSession> {
        accounts::sign_up(&self.db, &self.outbox, &self.config, input, client).await
    }

    async fn log_in(&self, input: LogInInput, client: ClientInfo) -> Result<AuthSession> {
        sessions::log_in(&self.db, &self.config, &self.dummy_hash, input, client).await
    }

    async fn log_out(&self, actor: &Actor) -> Result<()> {
        sessions::log_out(&self.db, actor).await
    }

    async fn rotate_token(&self, actor: &Actor, client: ClientInfo) -> Result<AuthSession> {
        sessions::rotate_token(&self.db, &self.config, actor, client).await
    }

    async fn log_out_everywhere(&self, actor: &Actor) -> Result<u64> {
        sessions::log_out_everywhere(&self.db, actor).await
    }

    async fn authenticate(&self, token: &str) -> Result<Actor> {
        sessions::authenticate(&self.db, token).await
    }

    async fn update_profile(&self, actor: &Actor, input: UpdateProfileInput) -> Result<UserDto> {
        accounts::update_profile(&self.db, &self.outbox, actor, input).await
    }

    async fn request_email_verification(&self, actor: &Actor, client: ClientInfo) -> Result<()> {
        email_verification::request_email_verification(
            &self.db,
            &self.outbox,
            &self.config,
            actor,
            client,
        )
        .await
    }

    async fn verify_email(&self, input: VerifyEmailInput) -> Result<UserDto> {
        email_verification::verify_email(&self.db, &self.outbox, input).await
    }

    async fn request_password_reset(
        &self,
        input: RequestPasswordResetInput,
        client: ClientInfo,
    ) -> Result<()> {
        password_reset::request_password_reset(&self.db, &self.outbox, &self.config, input, client)
            .await
    }

    async fn reset_password(&self, input: ResetPasswordInput, client: ClientInfo) -> Result<()> {
        password_reset::reset_password(&self.db, &self.outbox, input, client).await
    }

    async fn create_channel(&self, actor: &Actor, input: CreateChannelInput) -> Result<ChannelDto> {
        channels::create_channel(&self.db, &self.outbox, actor, input).await
    }

    async fn update_channel(
        &self,
        actor: &Actor,
        id: ChannelId,
        input: UpdateChannelInput,
    ) -> Result<ChannelDto> {
        channels::update_channel(&self.db, &self.outbox, actor, id, input).await
    }

    async fn channel_by_handle(&self, handle: &str) -> Result<Option<ChannelDto>> {
        channels::channel_by_handle(&self.db, handle).await
    }

    async fn create_organization(
        &self,
        actor: &Actor,
        input: CreateOrganizationInput,
    ) -> Result<OrganizationDto> {
        organizations::create_organization(&self.db, &self.outbox, actor, input).await
    }

    async fn add_organization_member(
        &self,
        actor: &Actor,
        input: AddMemberInput,
    ) -> Result<MembershipDto> {
        organizations::add_member(&self.db, &self.outbox, actor, input).await
    }

    async fn remove_organization_member(
        &self,
        actor: &Actor,
        input: RemoveMemberInput,
    ) -> Result<()> {
        organizations::remove_member(&self.db, &self.outbox, actor, input).await
    }

    async fn organizations_by_ids(&self, ids: &[OrganizationId]) -> Result<Vec<OrganizationDto>> {
        organizations::organizations_by_ids(&self.db, ids).await
    }

    async fn organization_members(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        page: PageRequest,
    ) -> Result<Page<MembershipDto>> {
        organizations::members(&self.db, actor, organization, page).await
    }

    async fn memberships_of(&self, actor: &Actor, user: UserId) -> Result<Vec<MembershipDto>> {
        organizations::memberships_of(&self.db, actor, user).await
    }

    async fn organization_role(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<OrgRole>> {
        organizations::role_of(&self.db, organization, user).await
    }
}
