//! The module's own migrations, merged by name into the one ordered history by `server` (the
//! older media tables were made by the shared history in `migrations/`, before modules could
//! declare their own).

use sea_orm_migration::MigrationTrait;

mod m20261129_000016_media_failures_and_expiry;
mod m20261130_000019_media_replays;

pub fn all() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(m20261129_000016_media_failures_and_expiry::Migration),
        Box::new(m20261130_000019_media_replays::Migration),
    ]
}
