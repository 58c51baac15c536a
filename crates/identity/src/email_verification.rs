//! Email verification: a link mailed at sign-up (and on request) proves the user receives mail
//! at their address.

use kanjian_contracts::identity::{ClientInfo, UserDto, VerifyEmailInput};
use kanjian_db::Db;
use kanjian_events::Outbox;
use kanjian_kernel::{Actor, Context, Error, Result, UserErrorCode};
use sea_orm::{EntityTrait, QuerySelect};

use crate::config::IdentityConfig;
use crate::db::{ShownTo, user_dto};
use crate::email_tokens::{self, Limits, NewToken, Purpose};
use crate::entity::user;

/// Mails the signed-in user a new verification link. Already verified: `INVALID_STATE`, nothing
/// sent. More than `email_verification_max_requests` mails in the window (the sign-up one
/// counts): `RateLimited`. Earlier links keep working until they expire.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub async fn request_email_verification(
    db: &Db,
    outbox: &Outbox,
    config: &IdentityConfig,
    actor: &Actor,
    client: ClientInfo,
) -> Result<()> {
    let user_id = actor.require_user()?;
    tracing::Span::current().record("user_id", user_id.0);
    let user = user::Entity::find_by_id(user_id.0)
        .one(db.reader())
        .await
        .context("loading the user")?
        .ok_or(Error::Unauthenticated)?;
    if user.email_verified_at.is_some() {
        return Err(Error::user(
            "",
            UserErrorCode::InvalidState,
            "Your email address is already verified.",
        ));
    }
    let now = db.now();
    let limits = Limits {
        per_email: config.email_verification_max_requests,
        per_ip: 0,
    };
    email_tokens::throttle(
        db,
        config,
        Purpose::VerifyEmail,
        &user.email,
        client.ip.as_deref(),
        Some(user.id),
        limits,
        now,
    )
    .await?;

    let txn = db
        .begin()
        .await
        .context("beginning the verification request")?;
    let token = NewToken::generate();
    email_tokens::issue(&txn, outbox, config, Purpose::VerifyEmail, &user, token, now).await?;
    txn.commit()
        .await
        .context("committing the verification request")?;
    outbox.notify();
    tracing::info!(user_id = user.id, "email verification mailed");
    Ok(())
}

/// Consumes a verification token and marks its user's email verified, emitting `UserVerified`
/// (once: a user already verified stays as they are). The user's other verification links stop
/// working. A bad token is a user error on `token` and changes nothing.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub async fn verify_email(db: &Db, outbox: &Outbox, input: VerifyEmailInput) -> Result<UserDto> {
    let now = db.now();
    let txn = db.begin().await.context("beginning the verification")?;
    let token = email_tokens::find_usable(&txn, Purpose::VerifyEmail, &input.token, now, true)
        .await?
        .map_err(|e| Error::User(vec![e]))?;
    tracing::Span::current().record("user_id", token.user_id);
    let user = user::Entity::find_by_id(token.user_id)
        .lock_exclusive()
        .one(&txn)
        .await
        .context("loading the user of the token")?
        .ok_or_else(|| Error::internal("an email token without its user"))?;
    email_tokens::still_addressed(&token, &user).map_err(|e| Error::User(vec![e]))?;
    if !email_tokens::consume(&txn, &token, now).await? {
        return Err(Error::User(vec![email_tokens::used_token()]));
    }
    let was_verified = user.email_verified_at.is_some();
    let user = email_tokens::mark_verified(&txn, outbox, user, now).await?;
    email_tokens::void_unused(&txn, Purpose::VerifyEmail, user.id, now).await?;
    txn.commit().await.context("committing the verification")?;
    outbox.notify();

    tracing::info!(
        user_id = user.id,
        newly_verified = !was_verified && user.email_verified_at.is_some(),
        "email verified"
    );
    // A link can be forwarded: whoever follows it is no one in particular, so the answer
    // carries no private field (the user sees them signed in).
    Ok(user_dto(user, ShownTo::Viewer(None)))
}
