//! System tests: the real server, a real database, real ffmpeg, driven over HTTP and WebSocket.

// Helpers in this binary are test code too (clippy only exempts #[test] functions themselves).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod authz_matrix;
mod batching;
mod commerce;
mod crash;
mod feeds;
mod fuzz;
mod http;
mod journey;
mod limits;
mod live;
mod live_shopping;
mod mail;
mod notify;
mod ops;
mod organizations;
mod payments;
mod rate_limits;
mod realtime;
mod schema;
mod search;
mod seed;
mod shared_storage;
mod social;
mod uploads;
mod videos;
