#![doc = include_str!("../README.md")]

pub mod actor;
pub mod error;
pub mod ids;
pub mod money;
pub mod pagination;
pub mod text;
pub mod time;
pub mod web_url;

pub use actor::{Actor, PlatformRole};
pub use error::{Context, Error, ErrorCode, Result, UserError, UserErrorCode, Validation};
pub use money::{Currency, Money};
pub use pagination::{Cursor, Page, PageRequest};
pub use text::TextRules;
pub use time::{Clock, Timestamp, now};
