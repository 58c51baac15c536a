//! The module's own tables, merged by name into the one ordered history by `server`.

use sea_orm_migration::MigrationTrait;

mod m20261130_000018_live;
mod m20261130_000020_live_chat;
mod m20261130_000021_live_parts;
mod m20261130_000027_live_pinned_products;

pub fn all() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(m20261130_000018_live::Migration),
        Box::new(m20261130_000020_live_chat::Migration),
        Box::new(m20261130_000021_live_parts::Migration),
        Box::new(m20261130_000027_live_pinned_products::Migration),
    ]
}
