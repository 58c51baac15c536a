//! Time is always UTC; GraphQL renders it as RFC 3339.

pub type Timestamp = chrono::DateTime<chrono::Utc>;

pub fn now() -> Timestamp {
    chrono::Utc::now()
}

/// Milliseconds since the Unix epoch, for columns that are compared and added to in SQL.
pub fn now_millis() -> i64 {
    now().timestamp_millis()
}
