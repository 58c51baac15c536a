//! Sending the mails other modules ask for with `EmailRequested`, at most once per
//! (dedupe key, recipient).
//!
//! Each request gets a `notify_emails` row keyed by (dedupe key, recipient) before anything is
//! sent. A delivery claims the row (a short lock, so two deliveries of the same mail never send
//! it side by side), checks the recipient's opt-out, sends, and records the outcome:
//! `sent` (with the time), `suppressed` (opted out), `failed` (refused for good), or the error
//! of an attempt that may pass (the row stays `queued`, the dispatcher retries). A row that is
//! no longer `queued` makes every later delivery of the same mail a no-op.
//!
//! The one window left: the mail server accepts the mail and the process dies before the row
//! says `sent`. The lock then expires and the mail goes out again, with the same Message-ID
//! (derived from the key), which receiving servers and clients use to fold duplicates.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kanjian_contracts::notify::{EmailCategory, EmailRequested};
use kanjian_contracts::{EventEnvelope, IntegrationEvent};
use kanjian_events::{EventHandler, HandlerError};
use kanjian_kernel::{Context, Result};
use lettre::Address;
use rand::RngCore;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};

use crate::Deps;
use crate::domain::{InvalidRequest, Locale, dedupe_key};
use crate::entity::{email, preference, unsubscribe_token};
use crate::mailer::{Envelope, SendError};
use crate::templates::Params;

pub(crate) const QUEUED: &str = "queued";
pub(crate) const SENT: &str = "sent";
pub(crate) const SUPPRESSED: &str = "suppressed";
pub(crate) const FAILED: &str = "failed";

pub(crate) struct SendEmailHandler {
    pub deps: Arc<Deps>,
}

#[async_trait]
impl EventHandler for SendEmailHandler {
    fn name(&self) -> &'static str {
        "notify.send_email"
    }

    fn kinds(&self) -> &'static [&'static str] {
        &[EmailRequested::KIND]
    }

    async fn handle(&self, event: &EventEnvelope) -> std::result::Result<(), HandlerError> {
        let Some(decoded) = event.decode::<EmailRequested>() else { return Ok(()) };
        let request =
            decoded.map_err(|e| HandlerError::Permanent(anyhow::Error::new(e).context("decoding EmailRequested")))?;
        send_email(&self.deps, event.id, &request).await
    }
}

/// A request that passed every check.
struct Checked {
    key: String,
    to: Address,
    /// `to`, lowercased: the other half of the row's key.
    recipient: String,
    user_id: Option<i64>,
    category: EmailCategory,
    locale: Locale,
    params: Params,
    template: &'static str,
}

fn check(request: &EmailRequested, event_id: uuid::Uuid) -> std::result::Result<Checked, InvalidRequest> {
    let raw_to = request.to.trim();
    let to: Address = raw_to.parse().map_err(|e| InvalidRequest(format!("to {raw_to:?}: {e}")))?;
    if raw_to.len() > 254 {
        return Err(InvalidRequest("to: longer than 254 characters".into()));
    }
    let category = request.template.category();
    if !category.is_essential() && request.recipient_user.is_none() {
        return Err(InvalidRequest(format!(
            "a {} mail needs recipient_user: its opt-out and unsubscribe link belong to a person",
            request.template.name()
        )));
    }
    Ok(Checked {
        key: dedupe_key(&request.dedupe_key, event_id)?,
        recipient: raw_to.to_lowercase(),
        to,
        user_id: request.recipient_user.map(|u| u.0),
        category,
        locale: Locale::resolve(&request.locale),
        params: Params::from_template(&request.template)?,
        template: request.template.name(),
    })
}

/// The Message-ID of the mail for (key, recipient): the same on every attempt.
fn message_id(key: &str, recipient: &str, domain: &str) -> String {
    let digest = Sha256::digest(format!("{key}\n{recipient}").as_bytes());
    format!("{}@{domain}", &hex::encode(digest)[..40])
}

pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn transient(e: impl Into<anyhow::Error>) -> HandlerError {
    HandlerError::Transient(e.into())
}

/// Sends the mail `request` asks for unless its row says it was handled already.
#[tracing::instrument(skip_all, fields(event_id = %event_id, template = request.template.name(), email_id = tracing::field::Empty))]
pub(crate) async fn send_email(
    deps: &Deps,
    event_id: uuid::Uuid,
    request: &EmailRequested,
) -> std::result::Result<(), HandlerError> {
    let checked = check(request, event_id).map_err(|e| {
        tracing::warn!(error = %e, "mail request refused");
        HandlerError::Permanent(e.into())
    })?;
    let row = ensure_row(deps, &checked).await?;
    tracing::Span::current().record("email_id", row.id);
    if row.status != QUEUED {
        tracing::debug!(status = %row.status, "mail already handled; nothing to send");
        return Ok(());
    }
    if !claim(deps, row.id).await? {
        let now = email::Entity::find_by_id(row.id).one(deps.db.writer()).await.context("reloading the mail")?;
        return match now {
            Some(now) if now.status != QUEUED => Ok(()),
            _ => Err(transient(anyhow::anyhow!("another delivery is sending this mail"))),
        };
    }

    let outcome = attempt(deps, &checked, &row).await;
    let now = deps.db.now();
    let mut update = email::Entity::update_many()
        .col_expr(email::Column::LockedUntil, Expr::value(Option::<i64>::None))
        .col_expr(email::Column::UpdatedAt, Expr::value(now))
        .filter(email::Column::Id.eq(row.id));
    let result = match &outcome {
        Ok(Sent::Delivered) => {
            update = update
                .col_expr(email::Column::Status, Expr::value(SENT))
                .col_expr(email::Column::SentAt, Expr::value(Some(now)))
                .col_expr(email::Column::LastError, Expr::value(Option::<String>::None));
            // No address in the logs: the row has it.
            tracing::info!(user_id = ?checked.user_id, "mail sent");
            Ok(())
        }
        Ok(Sent::Suppressed) => {
            update = update.col_expr(email::Column::Status, Expr::value(SUPPRESSED));
            tracing::info!(category = checked.category.as_str(), "recipient opted out; mail not sent");
            Ok(())
        }
        Err(SendError::Permanent(e)) => {
            update = update
                .col_expr(email::Column::Status, Expr::value(FAILED))
                .col_expr(email::Column::LastError, Expr::value(Some(format!("{e:#}"))));
            tracing::warn!(error = ?e, "mail refused for good");
            Err(HandlerError::Permanent(anyhow::anyhow!("{e:#}")))
        }
        Err(SendError::Transient(e)) => {
            update = update.col_expr(email::Column::LastError, Expr::value(Some(format!("{e:#}"))));
            tracing::warn!(error = ?e, "mail not sent this time; it will be retried");
            Err(HandlerError::Transient(anyhow::anyhow!("{e:#}")))
        }
    };
    if let Err(e) = update.exec(deps.db.writer()).await {
        // The row keeps its lock: when it expires a retry sends again (same Message-ID).
        tracing::error!(error = ?e, "recording the outcome of a mail failed");
        return Err(transient(anyhow::Error::new(e).context("recording the outcome of a mail")));
    }
    result
}

enum Sent {
    Delivered,
    Suppressed,
}

/// The row of (key, recipient), made `queued` when it is new.
async fn ensure_row(deps: &Deps, checked: &Checked) -> Result<email::Model> {
    let now = deps.db.now();
    let model = email::ActiveModel {
        dedupe_key: Set(checked.key.clone()),
        recipient: Set(checked.recipient.clone()),
        user_id: Set(checked.user_id),
        template: Set(checked.template.to_owned()),
        category: Set(checked.category.as_str().to_owned()),
        locale: Set(checked.locale.tag().to_owned()),
        status: Set(QUEUED.to_owned()),
        attempts: Set(0),
        locked_until: Set(None),
        message_id: Set(message_id(&checked.key, &checked.recipient, deps.mailer.sender_domain())),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        sent_at: Set(None),
        ..Default::default()
    };
    email::Entity::insert(model)
        .on_conflict(OnConflict::columns([email::Column::DedupeKey, email::Column::Recipient]).do_nothing().to_owned())
        .try_insert()
        .exec_without_returning(deps.db.writer())
        .await
        .context("recording the mail request")?;
    email::Entity::find()
        .filter(email::Column::DedupeKey.eq(&checked.key))
        .filter(email::Column::Recipient.eq(&checked.recipient))
        .one(deps.db.writer())
        .await
        .context("loading the mail request")?
        .ok_or_else(|| kanjian_kernel::Error::internal("the mail row vanished"))
}

/// Takes the row for this delivery unless another one holds it: `false` when it could not.
async fn claim(deps: &Deps, id: i64) -> Result<bool> {
    use sea_orm::sea_query::ExprTrait;
    let now = deps.db.now_millis();
    let lock = deps.send_lock();
    let until = now + i64::try_from(lock.as_millis()).unwrap_or(i64::MAX / 2);
    let claimed = email::Entity::update_many()
        .col_expr(email::Column::LockedUntil, Expr::value(Some(until)))
        .col_expr(email::Column::Attempts, Expr::col(email::Column::Attempts).add(1))
        .filter(email::Column::Id.eq(id))
        .filter(email::Column::Status.eq(QUEUED))
        .filter(
            sea_orm::Condition::any().add(email::Column::LockedUntil.is_null()).add(email::Column::LockedUntil.lt(now)),
        )
        .exec(deps.db.writer())
        .await
        .context("claiming the mail")?;
    Ok(claimed.rows_affected == 1)
}

/// Checks the opt-out, renders, and sends once.
async fn attempt(deps: &Deps, checked: &Checked, row: &email::Model) -> std::result::Result<Sent, SendError> {
    let unsubscribe_url = match (checked.category.is_essential(), checked.user_id) {
        (true, _) => None,
        (false, Some(user_id)) => {
            if opted_out(deps, user_id, checked.category).await.map_err(internal)? {
                return Ok(Sent::Suppressed);
            }
            Some(unsubscribe_link(deps, user_id, checked.category, row.id).await.map_err(internal)?)
        }
        // `check` refused these.
        (false, None) => return Err(SendError::Permanent(anyhow::anyhow!("no recipient user"))),
    };
    let templates = deps
        .templates
        .as_ref()
        .map_err(|e| SendError::Transient(anyhow::anyhow!("mail templates did not compile: {e}")))?;
    let content = templates
        .render(&checked.params, checked.locale, unsubscribe_url.as_deref())
        .map_err(|e| SendError::Transient(anyhow::Error::new(e).context("rendering the mail")))?;
    let message = deps.mailer.build(&Envelope {
        to: &checked.to,
        message_id: &row.message_id,
        unsubscribe_url: unsubscribe_url.as_deref(),
        content: &content,
    })?;
    deps.mailer.send(message).await?;
    Ok(Sent::Delivered)
}

fn internal(e: kanjian_kernel::Error) -> SendError {
    SendError::Transient(anyhow::Error::new(e))
}

pub(crate) async fn opted_out(deps: &Deps, user_id: i64, category: EmailCategory) -> Result<bool> {
    let row = preference::Entity::find_by_id((user_id, category.as_str().to_owned()))
        .one(deps.db.reader())
        .await
        .context("loading the recipient's email preferences")?;
    Ok(row.is_some_and(|p| p.opted_out))
}

/// A new unsubscribe link for this mail: a random token, stored by its hash.
async fn unsubscribe_link(deps: &Deps, user_id: i64, category: EmailCategory, email_id: i64) -> Result<String> {
    let token = new_token();
    unsubscribe_token::Entity::insert(unsubscribe_token::ActiveModel {
        token_hash: Set(token_hash(&token)),
        user_id: Set(user_id),
        category: Set(category.as_str().to_owned()),
        email_id: Set(email_id),
        created_at: Set(deps.db.now()),
    })
    .exec_without_returning(deps.db.writer())
    .await
    .context("storing an unsubscribe token")?;
    Ok(format!("{}/unsubscribe?token={token}", deps.config.public_url.trim_end_matches('/')))
}

impl Deps {
    /// How long one delivery holds a mail: long enough for every SMTP step to time out.
    pub(crate) fn send_lock(&self) -> Duration {
        Duration::from_secs((self.config.smtp.timeout_secs.max(1) * 10).max(60))
    }
}

#[cfg(test)]
mod tests {
    use kanjian_contracts::notify::EmailTemplate;
    use kanjian_kernel::ids::UserId;

    use super::*;

    fn request(to: &str, template: EmailTemplate, user: Option<i64>) -> EmailRequested {
        EmailRequested {
            recipient_user: user.map(UserId),
            to: to.into(),
            locale: "zh".into(),
            template,
            dedupe_key: String::new(),
        }
    }

    #[test]
    fn requests_are_checked_before_any_row_is_written() {
        let verify = EmailTemplate::VerifyEmail { link: "https://k.example/v".into() };
        let reminder = EmailTemplate::LiveReminder {
            channel_name: "c".into(),
            room_title: "t".into(),
            link: "https://k.example/l".into(),
        };
        let id = uuid::Uuid::nil();
        let ok = check(&request(" Li.Lei@Example.com ", verify.clone(), None), id).unwrap();
        assert_eq!(ok.recipient, "li.lei@example.com");
        assert_eq!(ok.key, format!("event:{id}"));
        assert_eq!(ok.locale, Locale::ZhCn);
        assert!(check(&request("not an address", verify.clone(), None), id).is_err());
        assert!(check(&request("a@b.c\r\nBcc: x@y.z", verify, None), id).is_err());
        // Non-essential mail belongs to a person, who can opt out of it.
        assert!(check(&request("a@b.c", reminder.clone(), None), id).is_err());
        assert!(check(&request("a@b.c", reminder, Some(7)), id).is_ok());
    }

    #[test]
    fn message_ids_and_tokens() {
        let a = message_id("k", "a@b.c", "kanjian.example");
        assert_eq!(a, message_id("k", "a@b.c", "kanjian.example"));
        assert_ne!(a, message_id("k", "z@b.c", "kanjian.example"));
        assert!(a.ends_with("@kanjian.example") && a.len() == 40 + 1 + 15);
        let (t1, t2) = (new_token(), new_token());
        assert_ne!(t1, t2);
        assert_eq!(t1.len(), 43);
        assert_eq!(token_hash(&t1).len(), 64);
    }
}
