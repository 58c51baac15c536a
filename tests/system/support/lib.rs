//! Support for the system tests: a running app with its own database, and clients for it.

// Test support: a setup step that fails should fail the test at once, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod app;
pub mod fixtures;
pub mod procs;
pub mod ws;

pub use app::TestApp;
