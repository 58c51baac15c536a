//! The module's own tables, merged by name into the one ordered history by `server`.

use sea_orm_migration::MigrationTrait;

mod m20261130_000023_commerce;
mod m20261130_000024_commerce_payments;
mod m20261130_000025_commerce_cart;
mod m20261130_000026_commerce_affiliates;
mod m20261201_000028_commerce_sku_moves;

pub fn all() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(m20261130_000023_commerce::Migration),
        Box::new(m20261130_000024_commerce_payments::Migration),
        Box::new(m20261130_000025_commerce_cart::Migration),
        Box::new(m20261130_000026_commerce_affiliates::Migration),
        Box::new(m20261201_000028_commerce_sku_moves::Migration),
    ]
}
