//! The module's own tables, merged by name into the one ordered history by `server`.

use sea_orm_migration::MigrationTrait;

mod m20261129_000014_notify;

pub fn all() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(m20261129_000014_notify::Migration)]
}
