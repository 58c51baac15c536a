#![doc = include_str!("../README.md")]

mod accounts;
mod channels;
mod config;
mod credentials;
mod db;
pub mod domain;
mod entity;
mod organizations;
pub mod seed;
mod service;
mod sessions;

pub use config::IdentityConfig;
pub use service::IdentityService;
