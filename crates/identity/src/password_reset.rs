//! Password reset: a link mailed to the account's address lets its owner set a new password,
//! which ends every session.
//!
//! Asking for the link tells nothing about which emails have accounts: the answer is the same,
//! and so is the work done before it, as far as it shows. Both a known and an unknown email are
//! parsed, count against the same limits (a request row is written for both), are looked up
//! once, get a token generated and hashed, and end in one write transaction that records which
//! account (if any) the request matched and commits. A known email adds two inserts to that
//! transaction (the token, the outbox event): well under a millisecond next to the commit. The
//! mail is sent later by notify's handler, so no SMTP time is ever part of the response.
//!
//! Resetting does not sign anyone in: the owner logs in with the new password (OWASP's advice:
//! one way in, and a leaked link alone does not yield a session).

use kanjian_contracts::identity::{ClientInfo, RequestPasswordResetInput, ResetPasswordInput};
use kanjian_db::Db;
use kanjian_events::Outbox;
use kanjian_kernel::ids::UserId;
use kanjian_kernel::{Context, Error, Result, UserError, Validation};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect, Set};

use crate::config::IdentityConfig;
use crate::credentials::hash_password;
use crate::domain::{Email, Password};
use crate::email_tokens::{self, Limits, NewToken, Purpose};
use crate::entity::{mail_request, user};
use crate::sessions::{clear_login_failures, revoke_sessions};

/// The input field of the new password.
const NEW_PASSWORD_FIELD: &str = "newPassword";

/// Mails a reset link when `input.email` has an account; answers `Ok(())` either way. A
/// malformed email is a user error (that says nothing about accounts). Too many requests for
/// the email or from the IP in the window: `RateLimited`, for known and unknown emails alike.
#[tracing::instrument(skip_all)]
pub async fn request_password_reset(
    db: &Db,
    outbox: &Outbox,
    config: &IdentityConfig,
    input: RequestPasswordResetInput,
    client: ClientInfo,
) -> Result<()> {
    let email = Email::parse(&input.email).map_err(|e| Error::User(vec![e]))?;
    let now = db.now();
    let limits = Limits {
        per_email: config.password_reset_max_per_email,
        per_ip: config.password_reset_max_per_ip,
    };
    let request_id = email_tokens::throttle(
        db,
        config,
        Purpose::PasswordReset,
        email.as_str(),
        client.ip.as_deref(),
        None,
        limits,
        now,
    )
    .await?;

    let account = user::Entity::find()
        .filter(user::Column::Email.eq(email.as_str()))
        .one(db.reader())
        .await
        .context("looking up the account")?;
    // Made for both, used for a known email only.
    let token = NewToken::generate();

    let txn = db
        .begin()
        .await
        .context("beginning the password reset request")?;
    // The same write for both: the request row learns which account it matched, if any.
    mail_request::Entity::update_many()
        .col_expr(
            mail_request::Column::UserId,
            Expr::value(account.as_ref().map(|u| u.id)),
        )
        .filter(mail_request::Column::Id.eq(request_id))
        .exec(&txn)
        .await
        .context("noting the account of the request")?;
    if let Some(user) = &account {
        email_tokens::issue(&txn, outbox, config, Purpose::PasswordReset, user, token, now).await?;
    }
    txn.commit()
        .await
        .context("committing the password reset request")?;
    outbox.notify();

    // The log may say what the response does not.
    match &account {
        Some(user) => tracing::info!(user_id = user.id, "password reset mailed"),
        None => tracing::info!("password reset asked for an email with no account; nothing sent"),
    }
    Ok(())
}

/// Sets a new password with a reset token: consumes the token (and voids the user's other reset
/// links), stores the new hash, revokes every session of the user, clears the email's log-in
/// failures, and marks the email verified (the link proved the mailbox), all in one
/// transaction. A bad token (`INVALID`, `EXPIRED` on `token`) or password (on `newPassword`) is
/// a user error and changes nothing; both are reported at once.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub async fn reset_password(
    db: &Db,
    outbox: &Outbox,
    input: ResetPasswordInput,
    client: ClientInfo,
) -> Result<()> {
    let now = db.now();
    // Checked outside any transaction, so the slow hash below holds no lock and no writer.
    let token =
        email_tokens::find_usable(db.reader(), Purpose::PasswordReset, &input.token, now, false)
            .await?;
    let account = match &token {
        Ok(token) => {
            let user = user::Entity::find_by_id(token.user_id)
                .one(db.reader())
                .await
                .context("loading the user of the token")?
                .ok_or_else(|| Error::internal("an email token without its user"))?;
            let addressed = email_tokens::still_addressed(token, &user);
            Some((user, addressed))
        }
        Err(_) => None,
    };

    let mut validation = Validation::new();
    let token = validation.check(token);
    if let Some((_, Err(e))) = &account {
        validation.push(e.clone());
    }
    let email = account.as_ref().map_or("", |(user, _)| user.email.as_str());
    let password = validation.check(
        Password::parse(&input.new_password, email).map_err(on_new_password),
    );
    validation.finish()?;
    let (Some(token), Some((user, _)), Some(password)) = (token, account, password) else {
        return Err(Error::internal("validation passed without values"));
    };
    tracing::Span::current().record("user_id", user.id);
    let password_hash = hash_password(password).await?;

    let txn = db.begin().await.context("beginning the password reset")?;
    // Of two resets with one token, only the first gets past this.
    if !email_tokens::consume(&txn, &token, now).await? {
        return Err(Error::User(vec![email_tokens::used_token()]));
    }
    let user = user::Entity::find_by_id(user.id)
        .lock_exclusive()
        .one(&txn)
        .await
        .context("locking the user")?
        .ok_or_else(|| Error::internal("the user of a reset token disappeared"))?;
    email_tokens::still_addressed(&token, &user).map_err(|e| Error::User(vec![e]))?;
    let mut model = user.into_active_model();
    model.password_hash = Set(password_hash);
    let user = model.update(&txn).await.context("setting the new password")?;
    let user = email_tokens::mark_verified(&txn, outbox, user, now).await?;
    email_tokens::void_unused(&txn, Purpose::PasswordReset, user.id, now).await?;
    let revoked = revoke_sessions(&txn, UserId(user.id), None, now).await?;
    clear_login_failures(&txn, &user.email, client.ip.as_deref(), now).await?;
    txn.commit().await.context("committing the password reset")?;
    outbox.notify();

    tracing::info!(user_id = user.id, revoked_sessions = revoked, "password reset");
    Ok(())
}

/// `Password::parse` names the sign-up field; here the password arrives as `newPassword`.
fn on_new_password(mut e: UserError) -> UserError {
    e.field = vec!["input".to_owned(), NEW_PASSWORD_FIELD.to_owned()];
    e
}
