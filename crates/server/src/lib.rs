#![doc = include_str!("../README.md")]

pub mod app;
pub mod cli;
pub mod config;
mod metrics;
pub mod modules;
mod routes;
mod security;
pub mod telemetry;

pub use app::{Kanjian, RunningServer};
pub use config::Config;
