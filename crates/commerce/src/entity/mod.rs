//! The module's rows. Entities stay inside the module: other modules and GraphQL see DTOs.

pub mod address;
pub mod order;
pub mod order_event;
pub mod order_line;
pub mod product;
pub mod purchase;
pub mod shop;
pub mod sku;
