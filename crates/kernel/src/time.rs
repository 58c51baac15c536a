//! Time is always UTC; GraphQL renders it as RFC 3339.
//!
//! Code that reads the time takes a [`Clock`] rather than asking the system, so tests can move
//! time forward (expire a session, a lease, a cursor) instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// The system's time. Prefer a [`Clock`] in anything a test may want to control.
pub fn now() -> Timestamp {
    chrono::Utc::now()
}

/// Milliseconds since the Unix epoch, from the system's time.
pub fn now_millis() -> i64 {
    now().timestamp_millis()
}

/// Where time comes from: the system's clock, or a manual one that tests move by hand. Cheap to
/// clone; clones of a manual clock share one time.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system's clock.
    pub fn system() -> Self {
        Self { manual: None }
    }

    /// A clock that stands still at `start` until [`Clock::advance`] or [`Clock::set`] moves it.
    pub fn manual(start: Timestamp) -> Self {
        Self { manual: Some(Arc::new(AtomicI64::new(start.timestamp_millis()))) }
    }

    /// A manual clock starting at the system's time now (to the millisecond).
    pub fn manual_from_now() -> Self {
        Self::manual(now())
    }

    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }

    /// Now, cut to whole milliseconds: stored times then round-trip exactly through cursors and
    /// through both databases, which keep milliseconds.
    pub fn now(&self) -> Timestamp {
        let millis = self.now_millis();
        chrono::DateTime::from_timestamp_millis(millis).unwrap_or_else(now)
    }

    /// Milliseconds since the Unix epoch, for columns that are compared and added to in SQL.
    pub fn now_millis(&self) -> i64 {
        match &self.manual {
            Some(millis) => millis.load(Ordering::SeqCst),
            None => now_millis(),
        }
    }

    /// Moves a manual clock forward; a no-op on the system clock (which moves by itself).
    pub fn advance(&self, by: std::time::Duration) {
        if let Some(millis) = &self.manual {
            let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
            millis.fetch_add(by, Ordering::SeqCst);
        }
    }

    /// Sets a manual clock; a no-op on the system clock.
    pub fn set(&self, at: Timestamp) {
        if let Some(millis) = &self.manual {
            millis.store(at.timestamp_millis(), Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_manual_clock_stands_still_until_moved_and_clones_share_it() {
        let start = chrono::DateTime::from_timestamp_millis(1_700_000_000_123).unwrap();
        let clock = Clock::manual(start);
        let other = clock.clone();
        assert_eq!(clock.now(), start);
        clock.advance(Duration::from_millis(1_500));
        assert_eq!(other.now_millis(), 1_700_000_001_623);
        other.set(start);
        assert_eq!(clock.now(), start);
    }

    #[test]
    fn the_system_clock_reads_whole_milliseconds_and_ignores_advance() {
        let clock = Clock::system();
        let before = now_millis();
        clock.advance(Duration::from_secs(3600));
        let read = clock.now();
        assert!(read.timestamp_millis() >= before && read.timestamp_millis() < before + 60_000);
        assert_eq!(read.timestamp_subsec_nanos() % 1_000_000, 0);
    }
}
