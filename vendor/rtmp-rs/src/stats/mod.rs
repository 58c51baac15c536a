//! Statistics and metrics
//!
//! Provides observability into RTMP connections and streams.

pub mod metrics;

pub use metrics::SessionStats;
