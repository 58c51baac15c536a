//! Email and in-app notifications.
//!
//! Other modules never call notify inside their transaction: they enqueue [`EmailRequested`] or
//! [`NotificationRequested`] through their own `Outbox`, in the transaction of the change, and
//! notify's handlers deliver them (durably, retried, at most once per dedupe key).

use async_trait::async_trait;
use futures::stream::BoxStream;
use kanjian_kernel::ids::{NotificationId, UserId};
use kanjian_kernel::{Actor, Page, PageRequest, Result, Timestamp};
use serde::{Deserialize, Serialize};

use crate::IntegrationEvent;

/// Kinds of email a person may or may not want. Essential mail (account security) is always
/// sent; every other category can be turned off per person, and carries a one-click
/// unsubscribe link (RFC 8058).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EmailCategory {
    /// Verification and password resets: sent whatever the person's preferences.
    Essential,
    /// Go-live reminders of rooms the person reserved.
    LiveReminders,
}

impl EmailCategory {
    /// The categories a person may turn off (every one but `Essential`).
    pub const OPTIONAL: &'static [EmailCategory] = &[EmailCategory::LiveReminders];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Essential => "ESSENTIAL",
            Self::LiveReminders => "LIVE_REMINDERS",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Essential, Self::LiveReminders].into_iter().find(|c| c.as_str() == s)
    }

    pub fn is_essential(self) -> bool {
        self == Self::Essential
    }
}

/// Which mail to send, with the values it shows. Links must be absolute `https` (or `http`)
/// URLs; anything else is refused and the mail is not sent. Every value is escaped in the HTML
/// part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", content = "params", rename_all = "snake_case")]
pub enum EmailTemplate {
    /// Confirm an email address. Essential.
    VerifyEmail { link: String },
    /// Choose a new password. Essential.
    PasswordReset { link: String, expires_in_minutes: u32 },
    /// A room the person reserved is going live. Category `LiveReminders`.
    LiveReminder { channel_name: String, room_title: String, link: String },
    /// A room the person reserved was called off; `link` shows the channel's other lives.
    /// Category `LiveReminders`.
    LiveCancelled { channel_name: String, room_title: String, link: String },
}

impl EmailTemplate {
    /// Stable name (`verify_email`, …), as stored and logged.
    pub fn name(&self) -> &'static str {
        match self {
            Self::VerifyEmail { .. } => "verify_email",
            Self::PasswordReset { .. } => "password_reset",
            Self::LiveReminder { .. } => "live_reminder",
            Self::LiveCancelled { .. } => "live_cancelled",
        }
    }

    /// The category follows from the template, so no sender can make a reminder essential.
    pub fn category(&self) -> EmailCategory {
        match self {
            Self::VerifyEmail { .. } | Self::PasswordReset { .. } => EmailCategory::Essential,
            Self::LiveReminder { .. } | Self::LiveCancelled { .. } => EmailCategory::LiveReminders,
        }
    }
}

/// Send one email. Any module may enqueue it in its own transaction; notify's
/// `notify.send_email` handler sends it at most once per (`dedupe_key`, `to`), retrying while
/// the mail server is unreachable or busy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailRequested {
    /// The account the mail is for, when it is for one. Required for non-essential mail: the
    /// opt-out and the unsubscribe link belong to a person.
    pub recipient_user: Option<UserId>,
    /// The address to send to.
    pub to: String,
    /// A language tag: `zh-CN` (also `zh`, `zh-Hans`) or `en`; anything else gets `en`.
    pub locale: String,
    pub template: EmailTemplate,
    /// What makes two requests the same mail, e.g. `identity.verify_email:42:1`. Empty means
    /// the event's own id (each event is then its own mail).
    pub dedupe_key: String,
}
impl IntegrationEvent for EmailRequested {
    const KIND: &'static str = "notify.email_requested";
}

/// Create one in-app notification. Delivered by notify's `notify.create_notification` handler,
/// at most once per (`user_id`, `dedupe_key`), and pushed to the person's live subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationRequested {
    pub user_id: UserId,
    /// What happened, `module.thing` in `a-z 0-9 _ .` (up to 64), e.g. `live.reminder`,
    /// `commerce.order_shipped`. Clients choose how to show each kind.
    pub kind: String,
    /// What a client needs to show it (ids, titles): a JSON object of at most 8 KiB.
    pub payload: serde_json::Value,
    /// What makes two requests the same notification. Empty means the event's own id.
    pub dedupe_key: String,
}
impl IntegrationEvent for NotificationRequested {
    const KIND: &'static str = "notify.notification_requested";
}

/// One in-app notification, as its owner sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationDto {
    pub id: NotificationId,
    pub user_id: UserId,
    pub kind: String,
    pub payload: serde_json::Value,
    pub created_at: Timestamp,
    /// `None` while unread.
    pub read_at: Option<Timestamp>,
}

/// Which notifications [`NotifyApi::mark_read`] marks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkRead {
    /// These (up to 100); ids that are not the actor's are ignored like ids that do not exist.
    Ids(Vec<NotificationId>),
    /// Every unread notification of the actor.
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmailPreferenceDto {
    pub category: EmailCategory,
    pub opted_out: bool,
}

#[async_trait]
pub trait NotifyApi: Send + Sync {
    /// The actor's notifications, newest first.
    async fn notifications(&self, actor: &Actor, page: PageRequest) -> Result<Page<NotificationDto>>;
    /// The actor's notifications among `ids`, in the order asked; others' and missing ids are
    /// left out (for `node(id:)` and loaders).
    async fn notifications_by_ids(&self, actor: &Actor, ids: &[NotificationId]) -> Result<Vec<NotificationDto>>;
    async fn unread_count(&self, actor: &Actor) -> Result<u64>;
    /// Marks the actor's notifications read; returns how many were unread and now are read.
    async fn mark_read(&self, actor: &Actor, which: MarkRead) -> Result<u64>;
    /// The actor's new notifications as they are created (on every node, through the realtime
    /// hub). Ephemeral: what arrives while nobody listens is only in [`NotifyApi::notifications`].
    async fn subscribe(&self, actor: &Actor) -> Result<BoxStream<'static, NotificationDto>>;

    /// Every optional category with whether the actor turned it off.
    async fn email_preferences(&self, actor: &Actor) -> Result<Vec<EmailPreferenceDto>>;
    /// Turns a category of email off (or back on) for the actor. `Essential` cannot be turned
    /// off (`INVALID` on `category`).
    async fn set_email_opt_out(
        &self,
        actor: &Actor,
        category: EmailCategory,
        opted_out: bool,
    ) -> Result<EmailPreferenceDto>;
    /// The unsubscribe link of a mail (`/unsubscribe?token=…`, GET to confirm, POST for
    /// one-click): turns the mail's category off for its recipient, no sign-in needed. An
    /// unknown token is `NOT_FOUND` and changes nothing.
    async fn unsubscribe(&self, token: &str) -> Result<EmailPreferenceDto>;
}
