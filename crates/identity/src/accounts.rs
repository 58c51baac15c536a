//! Accounts: signing up, and looking users up.

use kanjian_contracts::identity::{AuthSession, ClientInfo, SignUpInput, UserDto, UserSignedUp};
use kanjian_events::Outbox;
use kanjian_kernel::ids::UserId;
use kanjian_kernel::{Context, Error, Result, UserErrorCode, Validation};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, NotSet, QueryFilter, Set,
    TransactionTrait,
};

use crate::config::IdentityConfig;
use crate::credentials::hash_password;
use crate::db::{in_order_of, unique_violation, user_dto};
use crate::domain::{Email, Password};
use crate::entity::user;
use crate::sessions::open_session;

fn email_taken() -> Error {
    Error::user(
        Email::FIELD,
        UserErrorCode::Taken,
        "An account with this email already exists.",
    )
}

/// Creates an account and signs it in. Emits `UserSignedUp`.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub async fn sign_up(
    db: &DatabaseConnection,
    outbox: &Outbox,
    config: &IdentityConfig,
    input: SignUpInput,
    client: ClientInfo,
) -> Result<AuthSession> {
    let mut validation = Validation::new();
    let email = validation.check(Email::parse(&input.email));
    let password = validation.check(Password::parse(&input.password, &input.email));
    validation.finish()?;
    let (Some(email), Some(password)) = (email, password) else {
        return Err(Error::internal("validation passed without values"));
    };

    let existing = user::Entity::find()
        .filter(user::Column::Email.eq(email.as_str()))
        .one(db)
        .await
        .context("looking for an account with the email")?;
    if existing.is_some() {
        return Err(email_taken());
    }

    let password_hash = hash_password(password).await?;
    let now = kanjian_kernel::now();

    let txn = db
        .begin()
        .await
        .context("beginning the sign-up transaction")?;
    let created = user::ActiveModel {
        id: NotSet,
        email: Set(email.into_inner()),
        password_hash: Set(password_hash),
        created_at: Set(now),
    }
    .insert(&txn)
    .await;
    let user = match created {
        Ok(user) => user,
        // Someone signed up with the same email since the check above.
        Err(e) if unique_violation(&e).is_some() => return Err(email_taken()),
        Err(e) => return Err(e).context("inserting the user"),
    };
    let (token, session) = open_session(&txn, config, user.id, &client, now).await?;
    outbox
        .enqueue(
            &txn,
            &UserSignedUp {
                user_id: UserId(user.id),
            },
        )
        .await?;
    txn.commit().await.context("committing the sign-up")?;
    outbox.notify();

    tracing::Span::current().record("user_id", user.id);
    tracing::info!(user_id = user.id, session_id = session.id, "user signed up");
    Ok(AuthSession {
        token,
        expires_at: session.expires_at,
        user: user_dto(user),
    })
}

/// Users by id, in the order asked; ids that do not exist are left out.
#[tracing::instrument(skip_all, fields(count = ids.len()))]
pub async fn users_by_ids(db: &DatabaseConnection, ids: &[UserId]) -> Result<Vec<UserDto>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = user::Entity::find()
        .filter(user::Column::Id.is_in(ids.iter().map(|id| id.0)))
        .all(db)
        .await
        .context("loading users by id")?;
    let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    Ok(in_order_of(&ids, rows, |u| u.id)
        .into_iter()
        .map(user_dto)
        .collect())
}
