use kanjian_kernel::{Timestamp, UserError, UserErrorCode};

/// How long a viewer watched, in milliseconds: 0 to 24 hours. More is not a real report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct WatchTime(i64);

impl WatchTime {
    pub const FIELD: &'static str = "watchMs";
    pub const MAX_MS: i64 = 24 * 60 * 60 * 1000;

    pub fn parse(ms: i64) -> Result<Self, UserError> {
        if !(0..=Self::MAX_MS).contains(&ms) {
            return Err(UserError::new(
                Self::FIELD,
                UserErrorCode::Invalid,
                "The watch time must be between 0 and 24 hours (86400000 ms).",
            ));
        }
        Ok(Self(ms))
    }

    pub fn ms(self) -> i64 {
        self.0
    }

    /// Whether `watch_ms` covers at least 90 % of a video that lasts `duration_ms`. A video of
    /// unknown length is never completed.
    pub fn completes(watch_ms: i64, duration_ms: Option<i64>) -> bool {
        duration_ms.is_some_and(|d| d > 0 && watch_ms.saturating_mul(10) >= d.saturating_mul(9))
    }
}

/// Days since 1970-01-01 in UTC: the day a view counts for.
pub fn utc_day(at: Timestamp) -> i32 {
    i32::try_from(at.timestamp().div_euclid(86_400)).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_time_is_between_zero_and_a_day() {
        assert_eq!(WatchTime::parse(0).unwrap().ms(), 0);
        assert!(WatchTime::parse(WatchTime::MAX_MS).is_ok());
        for bad in [-1, WatchTime::MAX_MS + 1, i64::MIN, i64::MAX] {
            let e = WatchTime::parse(bad).unwrap_err();
            assert_eq!(e.code, UserErrorCode::Invalid);
            assert_eq!(e.field, ["input", "watchMs"]);
        }
    }

    #[test]
    fn completion_is_ninety_percent_of_a_known_duration() {
        assert!(WatchTime::completes(9_000, Some(10_000)));
        assert!(!WatchTime::completes(8_999, Some(10_000)));
        assert!(WatchTime::completes(20_000, Some(10_000)));
        assert!(!WatchTime::completes(10_000, None));
        assert!(!WatchTime::completes(10_000, Some(0)));
    }

    #[test]
    fn days_are_utc() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-21T23:59:59+08:00")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(utc_day(at), 20_778);
        assert_eq!(utc_day(chrono::DateTime::UNIX_EPOCH), 0);
    }
}
