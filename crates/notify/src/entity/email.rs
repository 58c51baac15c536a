use sea_orm::entity::prelude::*;

/// One mail asked for, per (dedupe key, recipient): what keeps a redelivered request from
/// sending twice, and the record of how sending went.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notify_emails")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub dedupe_key: String,
    /// Trimmed and lowercased.
    pub recipient: String,
    pub user_id: Option<i64>,
    pub template: String,
    /// `EmailCategory::as_str`.
    pub category: String,
    pub locale: String,
    /// `queued` | `sent` | `suppressed` | `failed`.
    pub status: String,
    pub attempts: i32,
    /// Milliseconds since the epoch; while in the future one delivery is sending the mail.
    pub locked_until: Option<i64>,
    /// Without angle brackets.
    pub message_id: String,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
