//! Sessions: logging in (with database-backed rate limiting), logging out, and turning a bearer
//! token back into an actor.

use kanjian_db::Db;
use chrono::TimeDelta;
use kanjian_contracts::identity::{AuthSession, ClientInfo, LogInInput};
use kanjian_kernel::ids::{SessionId, UserId};
use kanjian_kernel::{Actor, Context, Error, Result, Timestamp, UserErrorCode};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, NotSet,
    QueryFilter, QueryOrder, QuerySelect, Set, };

use crate::config::IdentityConfig;
use crate::credentials::{DummyHash, TOKEN_PREFIX, new_token, token_hash, verify_password};
use crate::db::{ShownTo, clip, user_dto};
use crate::domain::{Email, Password};
use crate::entity::{login_attempt, session, user};

pub(crate) const MAX_IP_LEN: usize = 64;
const MAX_USER_AGENT_LEN: usize = 512;
/// A token is `kj_` + 43 base64url characters; anything much longer is not ours.
const MAX_TOKEN_LEN: usize = 128;

fn invalid_credentials() -> Error {
    Error::user(
        "",
        UserErrorCode::InvalidCredentials,
        "The email or password is not correct.",
    )
}

/// Inserts a session for `user_id` and returns the token (shown once) and the stored row.
pub(crate) async fn open_session<C: ConnectionTrait>(
    conn: &C,
    config: &IdentityConfig,
    user_id: i64,
    client: &ClientInfo,
    now: Timestamp,
) -> Result<(String, session::Model)> {
    let ttl = TimeDelta::try_days(config.session_ttl_days)
        .ok_or_else(|| Error::internal("identity.session_ttl_days is out of range"))?;
    let expires_at = now
        .checked_add_signed(ttl)
        .ok_or_else(|| Error::internal("identity.session_ttl_days is out of range"))?;
    let token = new_token();
    let session = session::ActiveModel {
        id: NotSet,
        user_id: Set(user_id),
        token_hash: Set(token_hash(&token)),
        created_at: Set(now),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
        ip: Set(client.ip.as_deref().map(|ip| clip(ip, MAX_IP_LEN))),
        user_agent: Set(client
            .user_agent
            .as_deref()
            .map(|ua| clip(ua, MAX_USER_AGENT_LEN))),
    }
    .insert(conn)
    .await
    .context("inserting the session")?;
    Ok((token, session))
}

/// The key log-in attempts are counted under: the email as typed, trimmed and lowercased (it
/// need not be valid, nor belong to an account).
pub(crate) fn attempt_key(email: &str) -> String {
    clip(&email.trim().to_lowercase(), Email::MAX_LEN)
}

/// `RateLimited` when the email or the IP address used up its failures in the window.
async fn check_rate_limit(
    db: &Db,
    config: &IdentityConfig,
    email: &str,
    ip: Option<&str>,
    now: Timestamp,
) -> Result<()> {
    let window = TimeDelta::try_seconds(config.login_failure_window_secs.max(0))
        .ok_or_else(|| Error::internal("identity.login_failure_window_secs is out of range"))?;
    let window_start = now - window;

    // Seconds until the `max`-th most recent failure leaves the window, if `max` were reached.
    let retry_after = |failures: &[login_attempt::Model], max: u32| -> Option<u64> {
        if max == 0 || failures.len() < max as usize {
            return None;
        }
        let oldest_counted = failures.last()?.at;
        let secs = (oldest_counted + window - now).num_seconds();
        Some(secs.max(1).unsigned_abs())
    };

    // A successful log-in clears the email's count (but not the IP's).
    let last_success = login_attempt::Entity::find()
        .filter(login_attempt::Column::Email.eq(email))
        .filter(login_attempt::Column::Succeeded.eq(true))
        .filter(login_attempt::Column::At.gt(window_start))
        .order_by_desc(login_attempt::Column::At)
        .one(db.reader())
        .await
        .context("looking up the last successful log-in")?;
    let since = last_success.map_or(window_start, |a| a.at.max(window_start));
    let email_failures = login_attempt::Entity::find()
        .filter(login_attempt::Column::Email.eq(email))
        .filter(login_attempt::Column::Succeeded.eq(false))
        .filter(login_attempt::Column::At.gt(since))
        .order_by_desc(login_attempt::Column::At)
        .limit(u64::from(config.login_max_failures))
        .all(db.reader())
        .await
        .context("counting failed log-ins for the email")?;
    if let Some(retry_after_secs) = retry_after(&email_failures, config.login_max_failures) {
        tracing::warn!(
            retry_after_secs,
            "log-in rate limited: too many failures for the email"
        );
        return Err(Error::RateLimited { retry_after_secs });
    }

    if let Some(ip) = ip {
        let ip_failures = login_attempt::Entity::find()
            .filter(login_attempt::Column::Ip.eq(ip))
            .filter(login_attempt::Column::Succeeded.eq(false))
            .filter(login_attempt::Column::At.gt(window_start))
            .order_by_desc(login_attempt::Column::At)
            .limit(u64::from(config.login_max_failures_per_ip))
            .all(db.reader())
            .await
            .context("counting failed log-ins from the IP address")?;
        if let Some(retry_after_secs) = retry_after(&ip_failures, config.login_max_failures_per_ip)
        {
            tracing::warn!(
                ip,
                retry_after_secs,
                "log-in rate limited: too many failures from the IP"
            );
            return Err(Error::RateLimited { retry_after_secs });
        }
    }
    Ok(())
}

/// Checks the credentials and opens a session.
///
/// The attempt is recorded as a failure *before* the password is verified and turned into a
/// success afterwards, so concurrent guesses count against the limit too, on every node.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub async fn log_in(
    db: &Db,
    config: &IdentityConfig,
    dummy_hash: &DummyHash,
    input: LogInInput,
    client: ClientInfo,
) -> Result<AuthSession> {
    let now = db.now();
    let email = attempt_key(&input.email);
    let ip = client.ip.as_deref().map(|ip| clip(ip, MAX_IP_LEN));
    check_rate_limit(db, config, &email, ip.as_deref(), now).await?;

    let attempt = login_attempt::ActiveModel {
        id: NotSet,
        email: Set(email.clone()),
        ip: Set(ip),
        succeeded: Set(false),
        at: Set(now),
    }
    .insert(db.writer())
    .await
    .context("recording the log-in attempt")?;
    prune_attempts(db, config, now).await?;

    let user = user::Entity::find()
        .filter(user::Column::Email.eq(email.as_str()))
        .one(db.reader())
        .await
        .context("looking up the account")?;
    // No account's password is longer than sign-up allows: skip the work for oversized input.
    let plausible = input.password.chars().count() <= Password::MAX_LEN;
    let verified = match &user {
        Some(user) if plausible => {
            verify_password(input.password, user.password_hash.clone()).await?
        }
        Some(_) => false,
        None => {
            // Spend the same time as for a wrong password: timing must not reveal accounts.
            let _ = verify_password(input.password, dummy_hash.get().await?).await?;
            false
        }
    };
    let Some(user) = user.filter(|_| verified) else {
        tracing::info!("log-in failed: wrong email or password");
        return Err(invalid_credentials());
    };

    let txn = db
        .begin()
        .await
        .context("beginning the log-in transaction")?;
    login_attempt::Entity::update_many()
        .col_expr(login_attempt::Column::Succeeded, Expr::value(true))
        .filter(login_attempt::Column::Id.eq(attempt.id))
        .exec(&txn)
        .await
        .context("marking the log-in attempt successful")?;
    let (token, session) = open_session(&txn, config, user.id, &client, now).await?;
    txn.commit().await.context("committing the log-in")?;

    tracing::Span::current().record("user_id", user.id);
    tracing::info!(user_id = user.id, session_id = session.id, "user logged in");
    Ok(AuthSession {
        token,
        expires_at: session.expires_at,
        user: user_dto(user, ShownTo::Themself),
    })
}

/// Forgets attempts that no window can count any more (at least a day is kept for forensics).
async fn prune_attempts(
    db: &Db,
    config: &IdentityConfig,
    now: Timestamp,
) -> Result<()> {
    let keep_secs = config.login_failure_window_secs.max(86_400);
    let Some(cutoff) =
        TimeDelta::try_seconds(keep_secs).and_then(|keep| now.checked_sub_signed(keep))
    else {
        return Ok(());
    };
    login_attempt::Entity::delete_many()
        .filter(login_attempt::Column::At.lt(cutoff))
        .exec(db.writer())
        .await
        .context("pruning old log-in attempts")?;
    Ok(())
}

/// Revokes the working sessions of `user_id` (not revoked, not expired): the one `only` names,
/// or every one. Their tokens stop working at once (`authenticate` reads the row each time).
/// Returns how many were revoked. Log-out, log-out everywhere, token rotation and password
/// reset all end sessions through this; being one conditional update, it also decides between
/// concurrent calls (a session is revoked by exactly one of them).
pub(crate) async fn revoke_sessions<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
    only: Option<SessionId>,
    now: Timestamp,
) -> Result<u64> {
    let mut update = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now))
        .filter(session::Column::UserId.eq(user_id.0))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(now));
    if let Some(session_id) = only {
        update = update.filter(session::Column::Id.eq(session_id.0));
    }
    let done = update.exec(conn).await.context("revoking sessions")?;
    Ok(done.rows_affected)
}

/// Records a successful log-in for `email` (the attempt key), which clears the email's failure
/// count: a password reset proves the person is who the limit was protecting, so they may log
/// in with the new password at once.
pub(crate) async fn clear_login_failures<C: ConnectionTrait>(
    conn: &C,
    email: &str,
    ip: Option<&str>,
    now: Timestamp,
) -> Result<()> {
    login_attempt::ActiveModel {
        id: NotSet,
        email: Set(attempt_key(email)),
        ip: Set(ip.map(|ip| clip(ip, MAX_IP_LEN))),
        succeeded: Set(true),
        at: Set(now),
    }
    .insert(conn)
    .await
    .context("clearing the log-in failures of the email")?;
    Ok(())
}

/// Revokes the actor's session. Logging out twice is not an error.
#[tracing::instrument(skip_all, fields(session_id = tracing::field::Empty))]
pub async fn log_out(db: &Db, actor: &Actor) -> Result<()> {
    let user_id = actor.require_user()?;
    let session_id = actor.session_id().ok_or(Error::Unauthenticated)?;
    tracing::Span::current().record("session_id", session_id.0);
    revoke_sessions(db.writer(), user_id, Some(session_id), db.now()).await?;
    tracing::info!(
        user_id = user_id.0,
        session_id = session_id.0,
        "user logged out"
    );
    Ok(())
}

/// Replaces the actor's token with a new one that expires `session_ttl_days` from now, in one
/// transaction: the old session is revoked (its token stops working at once) and a new one is
/// opened for the same user, recording `client`. Of two rotations of one token only the first
/// succeeds; the other, like any call with a token revoked or expired meanwhile, is
/// `Unauthenticated`.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, session_id = tracing::field::Empty))]
pub async fn rotate_token(
    db: &Db,
    config: &IdentityConfig,
    actor: &Actor,
    client: ClientInfo,
) -> Result<AuthSession> {
    let user_id = actor.require_user()?;
    let session_id = actor.session_id().ok_or(Error::Unauthenticated)?;
    tracing::Span::current().record("user_id", user_id.0);
    tracing::Span::current().record("session_id", session_id.0);
    let now = db.now();

    let txn = db.begin().await.context("beginning the token rotation")?;
    // Revoked only if it still works: this decides between concurrent rotations.
    if revoke_sessions(&txn, user_id, Some(session_id), now).await? != 1 {
        return Err(Error::Unauthenticated);
    }
    let (token, session) = open_session(&txn, config, user_id.0, &client, now).await?;
    let user = user::Entity::find_by_id(user_id.0)
        .one(&txn)
        .await
        .context("loading the user")?
        .ok_or(Error::Unauthenticated)?;
    txn.commit().await.context("committing the token rotation")?;

    tracing::info!(
        user_id = user_id.0,
        old_session_id = session_id.0,
        session_id = session.id,
        "token rotated"
    );
    Ok(AuthSession {
        token,
        expires_at: session.expires_at,
        user: user_dto(user, ShownTo::Themself),
    })
}

/// Revokes every session of the actor's user, the actor's own included: every token of theirs
/// stops working at once (the same revocation a password reset does). Returns how many sessions
/// were still working (expired ones had stopped already and are not counted).
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub async fn log_out_everywhere(db: &Db, actor: &Actor) -> Result<u64> {
    let user_id = actor.require_user()?;
    tracing::Span::current().record("user_id", user_id.0);
    let revoked = revoke_sessions(db.writer(), user_id, None, db.now()).await?;
    tracing::info!(user_id = user_id.0, revoked_sessions = revoked, "user logged out everywhere");
    Ok(revoked)
}

/// Resolves a bearer token. Unknown, expired and revoked tokens are all `Unauthenticated`.
#[tracing::instrument(skip_all)]
pub async fn authenticate(db: &Db, token: &str) -> Result<Actor> {
    let token = token.trim();
    if !token.starts_with(TOKEN_PREFIX) || token.len() > MAX_TOKEN_LEN {
        return Err(Error::Unauthenticated);
    }
    let session = session::Entity::find()
        .filter(session::Column::TokenHash.eq(token_hash(token)))
        .one(db.reader())
        .await
        .context("looking up the session")?
        .ok_or(Error::Unauthenticated)?;
    if session.revoked_at.is_some() || session.expires_at <= db.now() {
        return Err(Error::Unauthenticated);
    }
    Ok(Actor::User {
        user_id: UserId(session.user_id),
        session_id: SessionId(session.id),
        roles: Vec::new(),
    })
}
