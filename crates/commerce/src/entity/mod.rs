//! The module's rows. Entities stay inside the module: other modules and GraphQL see DTOs.

pub mod address;
pub mod affiliate_offer;
pub mod cart_item;
pub mod live_room;
pub mod order;
pub mod order_event;
pub mod order_line;
pub mod payment;
pub mod payment_notification;
pub mod product;
pub mod purchase;
pub mod sandbox_payment;
pub mod shop;
pub mod showcase_item;
pub mod sku;
pub mod video_product;
