//! What a room's fields may hold, the stream key, and the go-live reminder rule: pure, with
//! their tests beside them.

use base64::Engine;
use chrono::Duration;
use kanjian_kernel::ids::LiveRoomId;
use kanjian_kernel::text::{self, TextRules};
use kanjian_kernel::{Timestamp, UserError, UserErrorCode};
use rand::RngCore;

pub const TITLE: TextRules = TextRules::required("title", "title", 60);
pub const DESCRIPTION: TextRules = TextRules::optional("description", "description", 1000).multiline();
pub const COVER_URL_FIELD: &str = "coverUrl";
pub const PLANNED_START_FIELD: &str = "plannedStartAt";

/// How far ahead a live may be announced.
pub const MAX_LEAD: Duration = Duration::days(365);

/// The reminder window around the planned start (Channels' rule): going live within it reminds
/// everyone who reserved; going live later than it lets the reservations lapse.
pub const REMINDER_WINDOW: Duration = Duration::hours(1);

/// A planned start: in the future, within [`MAX_LEAD`].
pub fn parse_planned_start(at: Timestamp, now: Timestamp) -> Result<Timestamp, UserError> {
    if at <= now {
        return Err(UserError::new(PLANNED_START_FIELD, UserErrorCode::Invalid, "The planned start must be in the future."));
    }
    if at > now + MAX_LEAD {
        return Err(UserError::new(PLANNED_START_FIELD, UserErrorCode::Invalid, "A live can be announced at most a year ahead."));
    }
    Ok(at)
}

pub fn parse_title(raw: &str) -> Result<String, UserError> {
    text::parse(raw, &TITLE)
}

pub fn parse_description(raw: &str) -> Result<String, UserError> {
    text::parse(raw, &DESCRIPTION)
}

pub fn parse_cover_url(raw: &str) -> Result<String, UserError> {
    kanjian_kernel::web_url::parse(raw, COVER_URL_FIELD)
}

/// What a reservation becomes when its room goes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservationState {
    /// Waiting for the room to go live.
    Waiting,
    /// Told that the room went live.
    Reminded,
    /// The room went live outside the reminder window: nobody is told.
    Lapsed,
    /// The room was called off; the person was told.
    Cancelled,
}

impl ReservationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "WAITING",
            Self::Reminded => "REMINDED",
            Self::Lapsed => "LAPSED",
            Self::Cancelled => "CANCELLED",
        }
    }
}

/// Channels' rule: a room that goes live within an hour of its planned start, either side,
/// reminds those who reserved it; one that goes live further from it reminds nobody (the
/// reservations lapse).
pub fn reminder_on_start(planned_start: Option<Timestamp>, started_at: Timestamp) -> ReservationState {
    match planned_start {
        Some(planned) if (started_at - planned).abs() <= REMINDER_WINDOW => ReservationState::Reminded,
        _ => ReservationState::Lapsed,
    }
}

/// Whether a SCHEDULED room can still be reserved: a room whose reminder window has passed
/// could never remind anyone.
pub fn reservable(planned_start: Option<Timestamp>, now: Timestamp) -> bool {
    planned_start.is_some_and(|planned| now <= planned + REMINDER_WINDOW)
}

/// A stream key: `r<room id>_<secret>`, the secret 24 random bytes in base64url. The room id
/// finds the room; the secret is compared in constant time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamKey {
    pub room: LiveRoomId,
    pub secret: String,
}

impl StreamKey {
    pub fn generate(room: LiveRoomId) -> String {
        let mut bytes = [0u8; 24];
        rand::rng().fill_bytes(&mut bytes);
        format!("r{}_{}", room.0, base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }

    /// `None` for anything that is not shaped like a key (it then matches no room).
    pub fn parse(raw: &str) -> Option<Self> {
        let (room, secret) = raw.strip_prefix('r')?.split_once('_')?;
        let room: i64 = room.parse().ok().filter(|&id| id > 0)?;
        if secret.is_empty() || secret.len() > 64 {
            return None;
        }
        Some(Self { room: LiveRoomId(room), secret: secret.to_owned() })
    }

    /// Whether `stored` (a whole key as kept on the room) is this key, in time that does not
    /// depend on where they differ.
    pub fn matches(raw: &str, stored: &str) -> bool {
        let (a, b) = (raw.as_bytes(), stored.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 12, 1, h, m, 0).unwrap()
    }

    #[test]
    fn going_live_within_an_hour_of_the_plan_either_way_reminds() {
        let planned = Some(at(20, 0));
        for started in [at(19, 0), at(19, 30), at(20, 0), at(20, 59), at(21, 0)] {
            assert_eq!(reminder_on_start(planned, started), ReservationState::Reminded, "{started}");
        }
        for started in [at(18, 59), at(21, 1), at(23, 0)] {
            assert_eq!(reminder_on_start(planned, started), ReservationState::Lapsed, "{started}");
        }
        assert_eq!(reminder_on_start(None, at(20, 0)), ReservationState::Lapsed);
    }

    #[test]
    fn a_room_is_reservable_until_its_reminder_window_closes() {
        let planned = Some(at(20, 0));
        assert!(reservable(planned, at(10, 0)));
        assert!(reservable(planned, at(21, 0)));
        assert!(!reservable(planned, at(21, 1)));
        assert!(!reservable(None, at(10, 0)));
    }

    #[test]
    fn planned_starts_must_be_ahead_and_within_a_year() {
        let now = at(12, 0);
        assert!(parse_planned_start(at(12, 1), now).is_ok());
        for bad in [now, at(11, 0), now + MAX_LEAD + Duration::seconds(1)] {
            let e = parse_planned_start(bad, now).unwrap_err();
            assert_eq!((e.code, e.field.clone()), (UserErrorCode::Invalid, vec!["input".into(), "plannedStartAt".into()]));
        }
    }

    #[test]
    fn stream_keys_name_their_room_and_differ_every_time() {
        let a = StreamKey::generate(LiveRoomId(42));
        let b = StreamKey::generate(LiveRoomId(42));
        assert_ne!(a, b);
        assert!(a.len() <= 64, "{a}");
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'), "{a}");
        let parsed = StreamKey::parse(&a).unwrap();
        assert_eq!(parsed.room, LiveRoomId(42));
        assert!(StreamKey::matches(&a, &a));
        assert!(!StreamKey::matches(&a, &b));
        assert!(!StreamKey::matches(&a[..a.len() - 1], &a));
    }

    #[test]
    fn anything_not_shaped_like_a_key_matches_no_room() {
        for raw in ["", "r", "r_", "r42", "r42_", "x42_abc", "r-1_abc", "r0_abc", "rabc_def", "r99999999999999999999_x"] {
            assert_eq!(StreamKey::parse(raw), None, "{raw:?}");
        }
        assert_eq!(StreamKey::parse(&format!("r7_{}", "a".repeat(65))), None);
    }

    #[test]
    fn titles_are_required_and_short() {
        assert_eq!(parse_title("  今晚八点 带货专场 ").unwrap(), "今晚八点 带货专场");
        assert_eq!(parse_title(" ").unwrap_err().code, UserErrorCode::Required);
        assert_eq!(parse_title(&"播".repeat(61)).unwrap_err().code, UserErrorCode::TooLong);
        assert_eq!(parse_title("a\nb").unwrap_err().code, UserErrorCode::Invalid);
        assert_eq!(parse_description("line one\r\nline two").unwrap(), "line one\nline two");
    }
}
