use async_graphql::{Context, ID, InputObject, Object};
use kanjian_contracts::identity::IdentityApi;
use kanjian_contracts::identity::{
    AddMemberInput, ClientInfo, CreateChannelInput, CreateOrganizationInput, LogInInput,
    RemoveMemberInput, RequestPasswordResetInput, ResetPasswordInput, SignUpInput,
    UpdateChannelInput, UpdateProfileInput, VerifyEmailInput,
};
use kanjian_kernel::ids::{ChannelId, OrganizationId, UserId};
use kanjian_kernel::Timestamp;

use super::types::{Channel, Membership, Organization, OrganizationRole, User};
use crate::context::ContextExt;
use crate::errors::{into_payload, payload};
use crate::relay::{NodeKind, input_id, to_global_id};

#[derive(InputObject)]
#[graphql(name = "SignUpInput")]
pub struct SignUpArgs {
    pub email: String,
    /// At least 8 characters and not a commonly used password.
    pub password: String,
    /// Your public name (昵称), 1–32 characters on one line. Omitted or blank: the part of the
    /// email before `@`.
    pub display_name: Option<String>,
}

#[derive(InputObject)]
#[graphql(name = "LogInInput")]
pub struct LogInArgs {
    pub email: String,
    pub password: String,
}

/// Relay-style: mutations take one input, even when it carries nothing else.
#[derive(InputObject, Default)]
#[graphql(name = "LogOutInput")]
pub struct LogOutArgs {
    pub client_mutation_id: Option<String>,
}

/// Relay-style: mutations take one input, even when it carries nothing else.
#[derive(InputObject, Default)]
#[graphql(name = "RotateTokenInput")]
pub struct RotateTokenArgs {
    /// Echoed by nothing yet; here so the input is not empty.
    pub client_mutation_id: Option<String>,
}

/// Relay-style: mutations take one input, even when it carries nothing else.
#[derive(InputObject, Default)]
#[graphql(name = "LogOutEverywhereInput")]
pub struct LogOutEverywhereArgs {
    /// Echoed by nothing yet; here so the input is not empty.
    pub client_mutation_id: Option<String>,
}

/// Relay-style: mutations take one input, even when it carries nothing else.
#[derive(InputObject, Default)]
#[graphql(name = "RequestEmailVerificationInput")]
pub struct RequestEmailVerificationArgs {
    /// Echoed by nothing yet; here so the input is not empty.
    pub client_mutation_id: Option<String>,
}

/// The token of a verification link.
#[derive(InputObject)]
#[graphql(name = "VerifyEmailInput")]
pub struct VerifyEmailArgs {
    /// The `token` query parameter of the link in the mail (`…/verify-email?token=…`).
    pub token: String,
}

/// Who forgot their password.
#[derive(InputObject)]
#[graphql(name = "RequestPasswordResetInput")]
pub struct RequestPasswordResetArgs {
    /// The email address of the account. Whether it has one is never told.
    pub email: String,
}

/// A reset link's token and the password to set.
#[derive(InputObject)]
#[graphql(name = "ResetPasswordInput")]
pub struct ResetPasswordArgs {
    /// The `token` query parameter of the link in the mail (`…/reset-password?token=…`).
    pub token: String,
    /// The new password: at least 8 characters, not a commonly used password, not the email.
    pub new_password: String,
}

#[derive(InputObject)]
#[graphql(name = "CreateChannelInput")]
pub struct CreateChannelArgs {
    /// 3–30 characters: lowercase letters, digits, `_` and `.`; starts with a letter.
    pub handle: String,
    pub display_name: String,
    pub bio: Option<String>,
    pub avatar_url: Option<String>,
}

/// Omitted fields stay as they are; `avatarUrl: null` removes the avatar.
#[derive(InputObject)]
#[graphql(name = "UpdateChannelInput")]
pub struct UpdateChannelArgs {
    pub channel_id: ID,
    pub handle: Option<String>,
    pub display_name: Option<String>,
    pub bio: Option<String>,
    pub avatar_url: async_graphql::MaybeUndefined<String>,
}

/// Omitted fields stay as they are.
#[derive(InputObject)]
#[graphql(name = "UpdateProfileInput")]
pub struct UpdateProfileArgs {
    /// Your public name (昵称), 1–32 characters on one line.
    pub display_name: Option<String>,
}

#[derive(InputObject)]
#[graphql(name = "CreateOrganizationInput")]
pub struct CreateOrganizationArgs {
    pub name: String,
}

#[derive(InputObject)]
#[graphql(name = "AddOrganizationMemberInput")]
pub struct AddOrganizationMemberArgs {
    pub organization_id: ID,
    /// The email of an existing account.
    pub email: String,
    pub role: OrganizationRole,
}

#[derive(InputObject)]
#[graphql(name = "RemoveOrganizationMemberInput")]
pub struct RemoveOrganizationMemberArgs {
    pub organization_id: ID,
    pub user_id: ID,
}

payload!(
    /// A new session: send `token` as `Authorization: Bearer <token>`.
    AuthPayload {
        /// Shown once; only its hash is stored.
        token: String,
        user: User,
        expires_at: Timestamp,
    }
);

payload!(LogOutPayload {
    /// The global id of the user whose session ended.
    user_id: ID,
});

payload!(
    /// The answer to `logOutEverywhere`.
    LogOutEverywherePayload {
        /// How many sessions ended (the one of this request included); every token of the
        /// account stopped working.
        revoked_sessions: i32,
    }
);

payload!(UserPayload { user: User });

payload!(
    /// The answer to `requestEmailVerification`.
    RequestEmailVerificationPayload {
        /// `true` when a new verification mail is on its way.
        accepted: bool,
    }
);

payload!(
    /// The answer to `verifyEmail`.
    VerifyEmailPayload {
        /// The user whose email is now verified (their email and `emailVerified` show only when
        /// the request is signed in as them).
        user: User,
    }
);

payload!(
    /// The answer to `requestPasswordReset`: the same whether or not the email has an account.
    RequestPasswordResetPayload {
        /// `true` when the request was taken: if the email has an account, a reset mail is on
        /// its way.
        accepted: bool,
    }
);

payload!(
    /// The answer to `resetPassword`. It signs no one in: log in with the new password.
    ResetPasswordPayload {
        /// `true` when the new password is set and every session of the account has ended.
        password_changed: bool,
    }
);

payload!(ChannelPayload { channel: Channel });

payload!(OrganizationPayload { organization: Organization });

payload!(MembershipPayload { membership: Membership });

payload!(RemoveOrganizationMemberPayload { removed_user_id: ID });

#[derive(Default)]
pub struct IdentityMutation;

fn client(ctx: &Context<'_>) -> ClientInfo {
    ctx.data_opt::<ClientInfo>().cloned().unwrap_or_default()
}

#[Object]
impl IdentityMutation {
    /// Creates an account and signs it in. Too many sign-ups from one address are
    /// `RATE_LIMITED` (`extensions.retryAfterSeconds` says when to try again).
    async fn sign_up(&self, ctx: &Context<'_>, input: SignUpArgs) -> async_graphql::Result<AuthPayload> {
        let result = ctx.api::<dyn IdentityApi>()?
            .sign_up(
                SignUpInput {
                    email: input.email,
                    password: input.password,
                    display_name: input.display_name,
                },
                client(ctx),
            )
            .await;
        into_payload(result, |s| AuthPayload {
            token: Some(s.token),
            expires_at: Some(s.expires_at),
            user: Some(User(s.user)),
            user_errors: vec![],
        })
    }

    /// Signs in. Repeated failures are `RATE_LIMITED`.
    async fn log_in(&self, ctx: &Context<'_>, input: LogInArgs) -> async_graphql::Result<AuthPayload> {
        let result = ctx.api::<dyn IdentityApi>()?
            .log_in(LogInInput { email: input.email, password: input.password }, client(ctx))
            .await;
        into_payload(result, |s| AuthPayload {
            token: Some(s.token),
            expires_at: Some(s.expires_at),
            user: Some(User(s.user)),
            user_errors: vec![],
        })
    }

    /// Ends the current session: its token stops working at once.
    async fn log_out(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] input: LogOutArgs,
    ) -> async_graphql::Result<LogOutPayload> {
        let _ = input.client_mutation_id;
        let actor = ctx.actor();
        let user = actor.require_user();
        let result = match user {
            Ok(user) => ctx.api::<dyn IdentityApi>()?.log_out(actor).await.map(|()| user),
            Err(e) => Err(e),
        };
        into_payload(result, |user: UserId| LogOutPayload {
            user_id: Some(to_global_id(NodeKind::USER, user.0)),
            user_errors: vec![],
        })
    }

    /// Replaces the request's token with a new one that expires later (`expiresAt`); the old
    /// token stops working at once. Rotate before `expiresAt` to stay signed in.
    async fn rotate_token(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] input: RotateTokenArgs,
    ) -> async_graphql::Result<AuthPayload> {
        let _ = input.client_mutation_id;
        let result = ctx.api::<dyn IdentityApi>()?.rotate_token(ctx.actor(), client(ctx)).await;
        into_payload(result, |s| AuthPayload {
            token: Some(s.token),
            expires_at: Some(s.expires_at),
            user: Some(User(s.user)),
            user_errors: vec![],
        })
    }

    /// Ends every session of the signed-in account, this one included: every token of it stops
    /// working at once (sign in again on each device).
    async fn log_out_everywhere(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] input: LogOutEverywhereArgs,
    ) -> async_graphql::Result<LogOutEverywherePayload> {
        let _ = input.client_mutation_id;
        let result = ctx.api::<dyn IdentityApi>()?.log_out_everywhere(ctx.actor()).await;
        into_payload(result, |revoked| LogOutEverywherePayload {
            revoked_sessions: Some(i32::try_from(revoked).unwrap_or(i32::MAX)),
            user_errors: vec![],
        })
    }

    /// Changes the signed-in user's own profile.
    async fn update_profile(
        &self,
        ctx: &Context<'_>,
        input: UpdateProfileArgs,
    ) -> async_graphql::Result<UserPayload> {
        let update = UpdateProfileInput { display_name: input.display_name };
        let result = ctx.api::<dyn IdentityApi>()?.update_profile(ctx.actor(), update).await;
        into_payload(result, |u| UserPayload { user: Some(User(u)), user_errors: vec![] })
    }

    /// Mails the signed-in user a new email verification link (sign-up sends the first one).
    /// `INVALID_STATE` when the email is already verified; repeated requests are
    /// `RATE_LIMITED`.
    async fn request_email_verification(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] input: RequestEmailVerificationArgs,
    ) -> async_graphql::Result<RequestEmailVerificationPayload> {
        let _ = input.client_mutation_id;
        let result = ctx.api::<dyn IdentityApi>()?
            .request_email_verification(ctx.actor(), client(ctx))
            .await;
        into_payload(result, |()| RequestEmailVerificationPayload {
            accepted: Some(true),
            user_errors: vec![],
        })
    }

    /// Confirms an email address with the token of the link mailed to it. No sign-in needed.
    /// A token works once: unknown or used tokens are `INVALID`, old ones `EXPIRED`.
    async fn verify_email(
        &self,
        ctx: &Context<'_>,
        input: VerifyEmailArgs,
    ) -> async_graphql::Result<VerifyEmailPayload> {
        let result = ctx.api::<dyn IdentityApi>()?
            .verify_email(VerifyEmailInput { token: input.token })
            .await;
        into_payload(result, |u| VerifyEmailPayload { user: Some(User(u)), user_errors: vec![] })
    }

    /// Mails a password reset link if the email has an account. The answer is the same either
    /// way; repeated requests for an email or from one address are `RATE_LIMITED`.
    async fn request_password_reset(
        &self,
        ctx: &Context<'_>,
        input: RequestPasswordResetArgs,
    ) -> async_graphql::Result<RequestPasswordResetPayload> {
        let result = ctx.api::<dyn IdentityApi>()?
            .request_password_reset(RequestPasswordResetInput { email: input.email }, client(ctx))
            .await;
        into_payload(result, |()| RequestPasswordResetPayload {
            accepted: Some(true),
            user_errors: vec![],
        })
    }

    /// Sets a new password with the token of a reset link, and ends every session of the
    /// account (signed-in devices must log in again). A token works once: unknown or used
    /// tokens are `INVALID`, old ones `EXPIRED`.
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        input: ResetPasswordArgs,
    ) -> async_graphql::Result<ResetPasswordPayload> {
        let reset = ResetPasswordInput { token: input.token, new_password: input.new_password };
        let result = ctx.api::<dyn IdentityApi>()?.reset_password(reset, client(ctx)).await;
        into_payload(result, |()| ResetPasswordPayload {
            password_changed: Some(true),
            user_errors: vec![],
        })
    }

    /// Opens the signed-in user's channel (one per user).
    async fn create_channel(
        &self,
        ctx: &Context<'_>,
        input: CreateChannelArgs,
    ) -> async_graphql::Result<ChannelPayload> {
        let input = CreateChannelInput {
            handle: input.handle,
            display_name: input.display_name,
            bio: input.bio,
            avatar_url: input.avatar_url,
        };
        let result = ctx.api::<dyn IdentityApi>()?.create_channel(ctx.actor(), input).await;
        into_payload(result, |c| ChannelPayload { channel: Some(Channel(c)), user_errors: vec![] })
    }

    /// Edits a channel. Owner only.
    async fn update_channel(
        &self,
        ctx: &Context<'_>,
        input: UpdateChannelArgs,
    ) -> async_graphql::Result<ChannelPayload> {
        let result = async {
            let id = ChannelId(input_id(&input.channel_id, NodeKind::CHANNEL, "channelId")?);
            let update = UpdateChannelInput {
                handle: input.handle,
                display_name: input.display_name,
                bio: input.bio,
                avatar_url: match input.avatar_url {
                    async_graphql::MaybeUndefined::Undefined => None,
                    async_graphql::MaybeUndefined::Null => Some(None),
                    async_graphql::MaybeUndefined::Value(url) => Some(Some(url)),
                },
            };
            ctx.services().apis.get::<dyn IdentityApi>()?.update_channel(ctx.actor(), id, update).await
        }
        .await;
        into_payload(result, |c| ChannelPayload { channel: Some(Channel(c)), user_errors: vec![] })
    }

    /// Creates a merchant organization; the caller becomes its owner.
    async fn create_organization(
        &self,
        ctx: &Context<'_>,
        input: CreateOrganizationArgs,
    ) -> async_graphql::Result<OrganizationPayload> {
        let result = ctx.api::<dyn IdentityApi>()?
            .create_organization(ctx.actor(), CreateOrganizationInput { name: input.name })
            .await;
        into_payload(result, |o| OrganizationPayload {
            organization: Some(Organization(o)),
            user_errors: vec![],
        })
    }

    /// Adds an existing account to an organization. Owners only.
    async fn add_organization_member(
        &self,
        ctx: &Context<'_>,
        input: AddOrganizationMemberArgs,
    ) -> async_graphql::Result<MembershipPayload> {
        let result = async {
            let organization_id =
                OrganizationId(input_id(&input.organization_id, NodeKind::ORGANIZATION, "organizationId")?);
            let add = AddMemberInput { organization_id, email: input.email, role: input.role.into() };
            ctx.services().apis.get::<dyn IdentityApi>()?.add_organization_member(ctx.actor(), add).await
        }
        .await;
        into_payload(result, |m| MembershipPayload {
            membership: Some(Membership(m)),
            user_errors: vec![],
        })
    }

    /// Removes a member. Owners only; the last owner stays.
    async fn remove_organization_member(
        &self,
        ctx: &Context<'_>,
        input: RemoveOrganizationMemberArgs,
    ) -> async_graphql::Result<RemoveOrganizationMemberPayload> {
        let removed = input.user_id.clone();
        let result = async {
            let organization_id =
                OrganizationId(input_id(&input.organization_id, NodeKind::ORGANIZATION, "organizationId")?);
            let user_id = UserId(input_id(&input.user_id, NodeKind::USER, "userId")?);
            let remove = RemoveMemberInput { organization_id, user_id };
            ctx.services().apis.get::<dyn IdentityApi>()?.remove_organization_member(ctx.actor(), remove).await
        }
        .await;
        into_payload(result, |()| RemoveOrganizationMemberPayload {
            removed_user_id: Some(removed),
            user_errors: vec![],
        })
    }
}

