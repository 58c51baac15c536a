#![doc = include_str!("../README.md")]

mod context;
mod errors;
mod identity;
mod limits;
mod loaders;
mod media;
mod relay;
mod schema;
mod social;

pub use context::Services;
pub use limits::LimitsConfig;
pub use schema::{KanjianSchema, SchemaConfig, build_schema, connection_data, prepare_request, sdl};
