//! The module's own tables, merged by name into the one ordered history by `server`.

use sea_orm_migration::MigrationTrait;

mod m20261130_000023_commerce;

pub fn all() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(m20261130_000023_commerce::Migration)]
}
