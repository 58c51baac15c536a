//! Support for the system tests: a running app with its own database, and clients for it.

// Test support: a setup step that fails should fail the test at once, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod app;
pub mod fixtures;
pub mod node;
pub mod nodes;
pub mod procs;
/// A real SMTP server (aiosmtpd) and a MIME reader for what it received: notify's own test
/// support, shared rather than copied.
#[path = "../../../crates/notify/tests/support/mod.rs"]
pub mod smtp;
pub mod ws;

pub use app::TestApp;
