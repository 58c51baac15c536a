//! Accounts: signing up, profiles, and looking users up.

use kanjian_db::{Db, Limit, rate_limit};
use kanjian_contracts::identity::{
    AuthSession, ClientInfo, MailRecipient, SignUpInput, UpdateProfileInput, UserDto,
    UserProfileUpdated, UserSignedUp,
};
use kanjian_events::Outbox;
use kanjian_kernel::ids::UserId;
use kanjian_kernel::{Actor, Context, Error, Result, UserErrorCode, Validation};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, NotSet, QuerySelect,
    QueryFilter, Set, };

use crate::config::IdentityConfig;
use crate::credentials::hash_password;
use crate::db::{ShownTo, clip, in_order_of, unique_violation, user_dto};
use crate::domain::{DisplayName, Email, Password};
use crate::email_tokens::{self, NewToken, Purpose};
use crate::entity::user;
use crate::sessions::{MAX_IP_LEN, open_session};

fn email_taken() -> Error {
    Error::user(
        Email::FIELD,
        UserErrorCode::Taken,
        "An account with this email already exists.",
    )
}

/// The display name of an account that signed up without one: the email's local part (before
/// the last `@`), cut to [`DisplayName::USER_MAX_LEN`] characters (code points, like the
/// migration that named the accounts made before display names); `None` when even that is not a
/// valid name (the caller then uses `user{id}`).
fn default_display_name(email: &Email) -> Option<DisplayName> {
    let local = email
        .as_str()
        .rsplit_once('@')
        .map_or(email.as_str(), |(local, _)| local);
    DisplayName::parse_user(&clip(local, DisplayName::USER_MAX_LEN)).ok()
}

/// Creates an account and signs it in. Emits `UserSignedUp`, and mails a verification link
/// (`EmailRequested`, the token stored hashed) in the same transaction. A missing (or blank)
/// display name defaults to the email's local part; a given one that is not valid is a user
/// error. Valid sign-ups from one address beyond `sign_ups_per_ip` are `RateLimited` and write
/// nothing.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub async fn sign_up(
    db: &Db,
    outbox: &Outbox,
    config: &IdentityConfig,
    input: SignUpInput,
    client: ClientInfo,
) -> Result<AuthSession> {
    let mut validation = Validation::new();
    let email = validation.check(Email::parse(&input.email));
    let password = validation.check(Password::parse(&input.password, &input.email));
    let display_name = match input
        .display_name
        .as_deref()
        .filter(|n| !n.trim().is_empty())
    {
        Some(name) => validation.check(DisplayName::parse_user(name)).map(Some),
        None => Some(None),
    };
    validation.finish()?;
    let (Some(email), Some(password), Some(display_name)) = (email, password, display_name) else {
        return Err(Error::internal("validation passed without values"));
    };
    let display_name = display_name.or_else(|| default_display_name(&email));
    // Before the lookup, so probing for taken emails counts too.
    if let Some(ip) = client.ip.as_deref() {
        let ip = clip(ip, MAX_IP_LEN);
        rate_limit::check(db, &[Limit::per_ip("sign_up", &ip, &config.sign_ups_per_ip)]).await?;
    }

    let existing = user::Entity::find()
        .filter(user::Column::Email.eq(email.as_str()))
        .one(db.reader())
        .await
        .context("looking for an account with the email")?;
    if existing.is_some() {
        return Err(email_taken());
    }

    let password_hash = hash_password(password).await?;
    let now = db.now();

    let txn = db
        .begin()
        .await
        .context("beginning the sign-up transaction")?;
    let named = display_name.is_some();
    let created = user::ActiveModel {
        id: NotSet,
        email: Set(email.into_inner()),
        password_hash: Set(password_hash),
        display_name: Set(display_name
            .map(DisplayName::into_inner)
            .unwrap_or_default()),
        email_verified_at: Set(None),
        created_at: Set(now),
    }
    .insert(&txn)
    .await;
    let mut user = match created {
        Ok(user) => user,
        // Someone signed up with the same email since the check above.
        Err(e) if unique_violation(&e).is_some() => return Err(email_taken()),
        Err(e) => return Err(e).context("inserting the user"),
    };
    if !named {
        // The email gave no usable name: the id does, and it is known only now.
        let id = user.id;
        let mut model = user.into_active_model();
        model.display_name = Set(format!("user{id}"));
        user = model
            .update(&txn)
            .await
            .context("naming the user after their id")?;
    }
    let (token, session) = open_session(&txn, config, user.id, &client, now).await?;
    outbox
        .enqueue(
            &txn,
            &UserSignedUp {
                user_id: UserId(user.id),
            },
        )
        .await?;
    // The first verification mail: it counts against the account's later requests for more.
    email_tokens::record(
        &txn,
        Purpose::VerifyEmail,
        &user.email,
        client.ip.as_deref(),
        user.id,
        now,
    )
    .await?;
    email_tokens::issue(
        &txn,
        outbox,
        config,
        Purpose::VerifyEmail,
        &user,
        NewToken::generate(),
        now,
    )
    .await?;
    txn.commit().await.context("committing the sign-up")?;
    outbox.notify();

    tracing::Span::current().record("user_id", user.id);
    tracing::info!(user_id = user.id, session_id = session.id, "user signed up");
    Ok(AuthSession {
        token,
        expires_at: session.expires_at,
        user: user_dto(user, ShownTo::Themself),
    })
}

/// Users by id, in the order asked; ids that do not exist are left out.
#[tracing::instrument(skip_all, fields(count = ids.len()))]
pub async fn users_by_ids(db: &Db, actor: &Actor, ids: &[UserId]) -> Result<Vec<UserDto>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = user::Entity::find()
        .filter(user::Column::Id.is_in(ids.iter().map(|id| id.0)))
        .all(db.reader())
        .await
        .context("loading users by id")?;
    let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    Ok(in_order_of(&ids, rows, |u| u.id)
        .into_iter()
        .map(|u| user_dto(u, ShownTo::Viewer(actor.user_id())))
        .collect())
}

/// Where to mail these users (for `MailDirectory`): other modules enqueue mail for them.
pub async fn mail_recipients(db: &Db, locale: &str, ids: &[UserId]) -> Result<Vec<MailRecipient>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, String, Option<chrono::DateTime<chrono::Utc>>)> = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .column(user::Column::Email)
        .column(user::Column::EmailVerifiedAt)
        .filter(user::Column::Id.is_in(ids.iter().map(|id| id.0)))
        .into_tuple()
        .all(db.reader())
        .await
        .context("loading mail recipients")?;
    Ok(rows
        .into_iter()
        .map(|(id, email, verified_at)| MailRecipient {
            user_id: UserId(id),
            email,
            email_verified: verified_at.is_some(),
            locale: locale.to_owned(),
        })
        .collect())
}

/// Changes the signed-in user's profile. Invalid input is a user error and writes nothing.
/// Emits `UserProfileUpdated` when a field really changed.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub async fn update_profile(
    db: &Db,
    outbox: &Outbox,
    actor: &Actor,
    input: UpdateProfileInput,
) -> Result<UserDto> {
    let user_id = actor.require_user()?;
    tracing::Span::current().record("user_id", user_id.0);

    let mut validation = Validation::new();
    let display_name = input
        .display_name
        .as_deref()
        .and_then(|n| validation.check(DisplayName::parse_user(n)));
    validation.finish()?;

    let txn = db.begin().await.context("beginning the profile update")?;
    let current = user::Entity::find_by_id(user_id.0)
        .one(&txn)
        .await
        .context("loading the user")?
        .ok_or_else(|| Error::not_found("user"))?;
    let mut model = current.clone().into_active_model();
    if let Some(display_name) = display_name {
        model
            .display_name
            .set_if_not_equals(display_name.into_inner());
    }
    if !model.is_changed() {
        return Ok(user_dto(current, ShownTo::Themself));
    }
    let updated = model.update(&txn).await.context("updating the profile")?;
    outbox
        .enqueue(&txn, &UserProfileUpdated { user_id })
        .await?;
    txn.commit()
        .await
        .context("committing the profile update")?;
    outbox.notify();

    tracing::info!(user_id = user_id.0, "profile updated");
    Ok(user_dto(updated, ShownTo::Themself))
}
