//! Bulk writers for identity's tables, used by `kanjian seed` to build a synthetic world.
//!
//! Rows go straight into `identity_users` and `identity_channels` (PostgreSQL `COPY`, SQLite
//! multi-row inserts, see `kanjian_db::bulk`), with the ids the caller chose, and no
//! events: seeding is for an empty database, before the application runs on it. Every seeded
//! account has the password [`SEED_PASSWORD`], hashed once with identity's own hasher.

use kanjian_db::Db;
use std::sync::Arc;

use kanjian_kernel::{Context, Result, Timestamp};
use kanjian_db::bulk::{self, BulkRow, RowWriter};
use sea_orm::{ConnectionTrait, Statement};

pub use kanjian_db::bulk::BulkWriter;

use crate::domain::Password;

/// The password of every seeded account.
pub const SEED_PASSWORD: &str = "kanjian-seed-password";

/// The argon2id hash of [`SEED_PASSWORD`] (one hash, shared by every seeded account).
pub async fn seed_password_hash() -> Result<Arc<str>> {
    let password = Password::parse(SEED_PASSWORD, "seed@seed.kanjian.test")
        .map_err(|e| kanjian_kernel::Error::Internal(anyhow::anyhow!("seed password: {e:?}")))?;
    Ok(crate::credentials::hash_password(password).await?.into())
}

/// How many accounts exist (`kanjian seed` refuses a database that has any).
pub async fn user_count(db: &Db) -> Result<u64> {
    let backend = db.backend();
    let row = db.reader()
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT COUNT(*) AS n FROM identity_users",
        ))
        .await
        .context("counting users")?;
    let n: i64 = match row {
        Some(row) => row.try_get("", "n").context("reading the user count")?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

/// A row of `identity_users`. `email` must already be trimmed and lowercase.
#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub email: String,
    /// 1–32 characters, one line (see `domain::DisplayName`).
    pub display_name: String,
    pub password_hash: Arc<str>,
    pub created_at: Timestamp,
}

impl BulkRow for User {
    const TABLE: &'static str = "identity_users";
    const COLUMNS: &'static [&'static str] =
        &["id", "email", "display_name", "password_hash", "created_at"];
    fn write(&self, row: &mut RowWriter<'_>) {
        row.int(self.id);
        row.text(&self.email);
        row.text(&self.display_name);
        row.text(&self.password_hash);
        row.time(self.created_at);
    }
}

/// A row of `identity_channels`. `handle` must be valid and lowercase (see `domain::Handle`).
#[derive(Debug, Clone)]
pub struct Channel {
    pub id: i64,
    pub owner_id: i64,
    pub handle: String,
    pub display_name: String,
    pub bio: String,
    pub created_at: Timestamp,
}

impl BulkRow for Channel {
    const TABLE: &'static str = "identity_channels";
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "owner_id",
        "handle",
        "display_name",
        "bio",
        "avatar_url",
        "created_at",
        "updated_at",
    ];
    fn write(&self, row: &mut RowWriter<'_>) {
        row.int(self.id);
        row.int(self.owner_id);
        row.text(&self.handle);
        row.text(&self.display_name);
        row.text(&self.bio);
        row.null();
        row.time(self.created_at);
        row.time(self.created_at);
    }
}

/// Opens a bulk writer for one of identity's tables.
pub async fn writer<R: BulkRow>(db: &Db) -> Result<BulkWriter<R>> {
    BulkWriter::begin(db.writer()).await.context("opening a bulk writer")
}

/// After loading: moves the id sequences past the loaded ids and refreshes planner statistics.
pub async fn finish(db: &Db) -> Result<()> {
    for table in ["identity_users", "identity_channels"] {
        bulk::reset_sequence(db.writer(), table, "id")
            .await
            .context("resetting an id sequence")?;
    }
    bulk::analyze(db.writer(), &["identity_users", "identity_channels"])
        .await
        .context("analyzing identity's tables")
}
