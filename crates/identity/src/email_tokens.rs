//! What email verification and password reset share: single-use tokens mailed as links, and the
//! limits on asking for such mail.
//!
//! A token is 32 random bytes in base64url; `identity_email_tokens` keeps its SHA-256 only. The
//! mail itself is an `EmailRequested` enqueued through identity's outbox in the transaction that
//! stores the token, so there is never a token without its mail nor a mail without its token;
//! notify sends it later, once per dedupe key (`identity.<purpose>:<token row id>`). The link
//! travels in that event's payload, so the plain token also sits in `events_outbox` until the
//! dispatcher prunes delivered events (7 days by default; the token expires long before); the
//! identity tables never hold it.

use chrono::TimeDelta;
use kanjian_contracts::notify::{EmailRequested, EmailTemplate};
use kanjian_contracts::identity::UserVerified;
use kanjian_db::Db;
use kanjian_events::Outbox;
use kanjian_kernel::ids::UserId;
use kanjian_kernel::{Context, Error, Result, Timestamp, UserError, UserErrorCode};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, NotSet,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::config::IdentityConfig;
use crate::credentials::{is_email_token_shaped, new_email_token, token_hash};
use crate::db::clip;
use crate::entity::{email_token, mail_request, user};
use crate::sessions::MAX_IP_LEN;

/// The input field a token arrives in.
pub(crate) const TOKEN_FIELD: &str = "token";

/// Tokens are kept this long past their expiry (for support and forensics), then deleted.
const KEEP_SPENT_TOKENS_DAYS: i64 = 7;

/// What a token is for. Stored as `as_str`; a token of one purpose never serves the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    VerifyEmail,
    PasswordReset,
}

impl Purpose {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::PasswordReset => "password_reset",
        }
    }

    /// The page of the web app the link opens; it calls `verifyEmail` / `resetPassword`.
    fn path(self) -> &'static str {
        match self {
            Self::VerifyEmail => "/verify-email",
            Self::PasswordReset => "/reset-password",
        }
    }

    fn ttl(self, config: &IdentityConfig) -> Result<TimeDelta> {
        match self {
            Self::VerifyEmail => TimeDelta::try_hours(config.email_verification_ttl_hours)
                .filter(|ttl| *ttl > TimeDelta::zero())
                .ok_or_else(|| Error::internal("identity.email_verification_ttl_hours is out of range")),
            Self::PasswordReset => TimeDelta::try_minutes(i64::from(config.password_reset_ttl_minutes))
                .filter(|ttl| *ttl > TimeDelta::zero())
                .ok_or_else(|| Error::internal("identity.password_reset_ttl_minutes is out of range")),
        }
    }
}

/// A token before it is stored: made (random bytes, hash) whether or not it will be used, so a
/// password reset request does this work for unknown emails too.
pub(crate) struct NewToken {
    token: String,
    hash: String,
}

impl NewToken {
    pub(crate) fn generate() -> Self {
        let token = new_email_token();
        let hash = token_hash(&token);
        Self { token, hash }
    }
}

/// Stores `token` for `user` and enqueues the mail that carries it, through `conn` (the
/// transaction of the change).
pub(crate) async fn issue<C: ConnectionTrait>(
    conn: &C,
    outbox: &Outbox,
    config: &IdentityConfig,
    purpose: Purpose,
    user: &user::Model,
    token: NewToken,
    now: Timestamp,
) -> Result<()> {
    let expires_at = now
        .checked_add_signed(purpose.ttl(config)?)
        .ok_or_else(|| Error::internal("an email token lifetime is out of range"))?;
    let row = email_token::ActiveModel {
        id: NotSet,
        token_hash: Set(token.hash),
        purpose: Set(purpose.as_str().to_owned()),
        user_id: Set(user.id),
        email: Set(user.email.clone()),
        created_at: Set(now),
        expires_at: Set(expires_at),
        used_at: Set(None),
    }
    .insert(conn)
    .await
    .context("inserting an email token")?;
    let link = format!(
        "{}{}?token={}",
        config.public_url.trim_end_matches('/'),
        purpose.path(),
        token.token
    );
    let template = match purpose {
        Purpose::VerifyEmail => EmailTemplate::VerifyEmail { link },
        Purpose::PasswordReset => EmailTemplate::PasswordReset {
            link,
            expires_in_minutes: config.password_reset_ttl_minutes,
        },
    };
    outbox
        .enqueue(
            conn,
            &EmailRequested {
                recipient_user: Some(UserId(user.id)),
                to: user.email.clone(),
                locale: config.mail_locale.clone(),
                template,
                // One mail per token, however often the event is delivered.
                dedupe_key: format!("identity.{}:{}", purpose.as_str(), row.id),
            },
        )
        .await?;
    Ok(())
}

fn invalid_token() -> UserError {
    UserError::new(
        TOKEN_FIELD,
        UserErrorCode::Invalid,
        "This link is not valid. Ask for a new one.",
    )
}

pub(crate) fn used_token() -> UserError {
    UserError::new(
        TOKEN_FIELD,
        UserErrorCode::Invalid,
        "This link was already used. Ask for a new one if you still need it.",
    )
}

fn expired_token() -> UserError {
    UserError::new(
        TOKEN_FIELD,
        UserErrorCode::Expired,
        "This link has expired. Ask for a new one.",
    )
}

/// The stored token `raw` is, if it serves `purpose` now; otherwise the user error to show
/// (malformed or unknown: `INVALID`; used: `INVALID`; past its expiry: `EXPIRED`). With `lock`,
/// the row is locked (`FOR UPDATE` on PostgreSQL) for the rest of `conn`'s transaction.
pub(crate) async fn find_usable<C: ConnectionTrait>(
    conn: &C,
    purpose: Purpose,
    raw: &str,
    now: Timestamp,
    lock: bool,
) -> Result<std::result::Result<email_token::Model, UserError>> {
    let raw = raw.trim();
    if !is_email_token_shaped(raw) {
        return Ok(Err(invalid_token()));
    }
    let mut query = email_token::Entity::find()
        .filter(email_token::Column::TokenHash.eq(token_hash(raw)))
        .filter(email_token::Column::Purpose.eq(purpose.as_str()));
    if lock {
        query = query.lock_exclusive();
    }
    let Some(token) = query.one(conn).await.context("looking up an email token")? else {
        return Ok(Err(invalid_token()));
    };
    if token.used_at.is_some() {
        return Ok(Err(used_token()));
    }
    if token.expires_at <= now {
        return Ok(Err(expired_token()));
    }
    Ok(Ok(token))
}

/// A token works only while its user still has the address it was mailed to (emails cannot
/// change yet; when they can, links to the old address must not act on the new one).
pub(crate) fn still_addressed(
    token: &email_token::Model,
    user: &user::Model,
) -> std::result::Result<(), UserError> {
    if token.user_id == user.id && token.email == user.email {
        Ok(())
    } else {
        Err(invalid_token())
    }
}

/// Marks the token used if it still is usable at `now`; `false` when it is not (another request
/// consumed it first, or it expired meanwhile). The condition is in the `UPDATE` itself, so of
/// two concurrent uses exactly one wins, on SQLite and PostgreSQL alike.
pub(crate) async fn consume<C: ConnectionTrait>(
    conn: &C,
    token: &email_token::Model,
    now: Timestamp,
) -> Result<bool> {
    let done = email_token::Entity::update_many()
        .col_expr(email_token::Column::UsedAt, Expr::value(now))
        .filter(email_token::Column::Id.eq(token.id))
        .filter(email_token::Column::UsedAt.is_null())
        .filter(email_token::Column::ExpiresAt.gt(now))
        .exec(conn)
        .await
        .context("consuming an email token")?;
    Ok(done.rows_affected == 1)
}

/// Voids the user's other unused tokens of `purpose`: once the purpose is fulfilled (the email
/// verified, the password reset), older links stop working.
pub(crate) async fn void_unused<C: ConnectionTrait>(
    conn: &C,
    purpose: Purpose,
    user_id: i64,
    now: Timestamp,
) -> Result<()> {
    email_token::Entity::update_many()
        .col_expr(email_token::Column::UsedAt, Expr::value(now))
        .filter(email_token::Column::UserId.eq(user_id))
        .filter(email_token::Column::Purpose.eq(purpose.as_str()))
        .filter(email_token::Column::UsedAt.is_null())
        .exec(conn)
        .await
        .context("voiding the user's other email tokens")?;
    Ok(())
}

/// Sets `email_verified_at` when it is not set yet, and emits `UserVerified` then; returns the
/// user as it is now. Call it with a token that [`still_addressed`] the user.
pub(crate) async fn mark_verified<C: ConnectionTrait>(
    conn: &C,
    outbox: &Outbox,
    user: user::Model,
    now: Timestamp,
) -> Result<user::Model> {
    if user.email_verified_at.is_some() {
        return Ok(user);
    }
    let user_id = UserId(user.id);
    let mut model = user.into_active_model();
    model.email_verified_at = Set(Some(now));
    let user = model.update(conn).await.context("marking the email verified")?;
    outbox.enqueue(conn, &UserVerified { user_id }).await?;
    Ok(user)
}

/// How many mail requests a key may make within `identity.mail_request_window_secs`
/// (0: no limit on that key).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub per_email: u32,
    pub per_ip: u32,
}

/// Records a request for mail of `purpose` (autocommitted, so concurrent requests on any node
/// see it), then counts the others in the window for the email and for the IP. Over a limit:
/// the record is taken back (refused requests do not count) and the answer is `RateLimited`
/// with the seconds until the oldest counted request leaves the window. Returns the record's id.
///
/// Recording before counting keeps the limit under concurrency: two requests at the edge may
/// both be refused, never both allowed past it.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn throttle(
    db: &Db,
    config: &IdentityConfig,
    purpose: Purpose,
    email: &str,
    ip: Option<&str>,
    user_id: Option<i64>,
    limits: Limits,
    now: Timestamp,
) -> Result<i64> {
    let window = TimeDelta::try_seconds(config.mail_request_window_secs.max(0))
        .ok_or_else(|| Error::internal("identity.mail_request_window_secs is out of range"))?;
    let window_start = now - window;
    let ip = ip.map(|ip| clip(ip, MAX_IP_LEN));
    let request = mail_request::ActiveModel {
        id: NotSet,
        purpose: Set(purpose.as_str().to_owned()),
        email: Set(email.to_owned()),
        ip: Set(ip.clone()),
        user_id: Set(user_id),
        at: Set(now),
    }
    .insert(db.writer())
    .await
    .context("recording a mail request")?;
    prune(db, config, now).await?;

    let keys = [
        (mail_request::Column::Email, Some(email.to_owned()), limits.per_email, "email"),
        (mail_request::Column::Ip, ip, limits.per_ip, "IP"),
    ];
    for (column, value, max, what) in keys {
        let Some(value) = value else { continue };
        if max == 0 {
            continue;
        }
        let others = mail_request::Entity::find()
            .filter(mail_request::Column::Purpose.eq(purpose.as_str()))
            .filter(column.eq(value))
            .filter(mail_request::Column::At.gt(window_start))
            .filter(mail_request::Column::Id.ne(request.id))
            .order_by_desc(mail_request::Column::At)
            .order_by_desc(mail_request::Column::Id)
            .limit(u64::from(max))
            .all(db.reader())
            .await
            .context("counting mail requests")?;
        if others.len() < max as usize {
            continue;
        }
        mail_request::Entity::delete_by_id(request.id)
            .exec(db.writer())
            .await
            .context("taking back a refused mail request")?;
        let oldest_counted = others.last().map_or(now, |r| r.at);
        let retry_after_secs = (oldest_counted + window - now).num_seconds().max(1).unsigned_abs();
        tracing::warn!(
            purpose = purpose.as_str(),
            retry_after_secs,
            "mail request rate limited: too many for the {what}"
        );
        return Err(Error::RateLimited { retry_after_secs });
    }
    Ok(request.id)
}

/// Records a mail request that no limit applies to (the verification mail of a new account),
/// through `conn`, so it counts against later requests.
pub(crate) async fn record<C: ConnectionTrait>(
    conn: &C,
    purpose: Purpose,
    email: &str,
    ip: Option<&str>,
    user_id: i64,
    now: Timestamp,
) -> Result<()> {
    mail_request::ActiveModel {
        id: NotSet,
        purpose: Set(purpose.as_str().to_owned()),
        email: Set(email.to_owned()),
        ip: Set(ip.map(|ip| clip(ip, MAX_IP_LEN))),
        user_id: Set(Some(user_id)),
        at: Set(now),
    }
    .insert(conn)
    .await
    .context("recording a mail request")?;
    Ok(())
}

/// Forgets requests no window counts any more (a day is kept at least) and tokens a week past
/// their expiry (used or not).
async fn prune(db: &Db, config: &IdentityConfig, now: Timestamp) -> Result<()> {
    let keep_secs = config.mail_request_window_secs.max(86_400);
    if let Some(cutoff) =
        TimeDelta::try_seconds(keep_secs).and_then(|keep| now.checked_sub_signed(keep))
    {
        mail_request::Entity::delete_many()
            .filter(mail_request::Column::At.lt(cutoff))
            .exec(db.writer())
            .await
            .context("pruning old mail requests")?;
    }
    if let Some(cutoff) = TimeDelta::try_days(KEEP_SPENT_TOKENS_DAYS)
        .and_then(|keep| now.checked_sub_signed(keep))
    {
        email_token::Entity::delete_many()
            .filter(email_token::Column::ExpiresAt.lt(cutoff))
            .exec(db.writer())
            .await
            .context("pruning spent email tokens")?;
    }
    Ok(())
}
