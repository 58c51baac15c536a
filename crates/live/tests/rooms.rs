//! The live room domain against a real, freshly migrated database, with the fakes of `support`.
//! Events are read back from the outbox and handed to the module's handler, as the
//! dispatcher would, sometimes twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::Duration as Span;
use kanjian_contracts::live::*;
use kanjian_contracts::notify::{EmailRequested, EmailTemplate, NotificationRequested};
use kanjian_contracts::{EventEnvelope, IntegrationEvent, VersionedEvent};
use kanjian_kernel::ids::{ChannelId, LiveRoomId};
use kanjian_kernel::{Actor, Error, Timestamp, UserErrorCode};
use kanjian_live::Refusal;
use sea_orm::{ConnectionTrait, Statement};

mod support;

use support::*;

fn input(title: &str, in_hours: Option<i64>) -> ScheduleLiveInput {
    ScheduleLiveInput {
        title: title.into(),
        description: Some("今晚见".into()),
        cover_url: Some("https://cdn.example.com/cover.jpg".into()),
        planned_start_at: in_hours.map(|h| kanjian_kernel::now() + Span::hours(h)),
    }
}

impl TestApp {
    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn input(&self, title: &str, in_hours: Option<i64>) -> ScheduleLiveInput {
        ScheduleLiveInput { planned_start_at: in_hours.map(|h| self.now() + Span::hours(h)), ..input(title, None) }
    }

    async fn schedule(&self, owner: i64, in_hours: i64) -> LiveRoomDto {
        self.live.schedule_live(&user(owner), self.input("今晚八点带货", Some(in_hours))).await.unwrap()
    }

    async fn key(&self, owner: i64, room: LiveRoomId) -> String {
        self.live.stream_credentials(&user(owner), room).await.unwrap().stream_key
    }

    async fn room(&self, viewer: &Actor, id: LiveRoomId) -> Option<LiveRoomDto> {
        self.live.rooms_by_ids(viewer, &[id]).await.unwrap().pop()
    }

    async fn scalar(&self, sql: &str) -> i64 {
        self.db
            .query_one_raw(Statement::from_string(self.db.get_database_backend(), sql))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap()
    }

    async fn events<E: IntegrationEvent>(&self) -> Vec<E> {
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(
                self.db.get_database_backend(),
                "SELECT payload FROM events_outbox WHERE kind = $1 ORDER BY id",
                [E::KIND.into()],
            ))
            .await
            .unwrap();
        rows.iter().map(|row| serde_json::from_str(&row.try_get::<String>("", "payload").unwrap()).unwrap()).collect()
    }

    /// Hands every event of kind `E` to the module's handler, as the dispatcher would.
    async fn deliver_all<E: IntegrationEvent>(&self) {
        let handlers = self.live.event_handlers();
        for event in self.events::<E>().await {
            let envelope = EventEnvelope {
                id: uuid::Uuid::now_v7(),
                kind: E::KIND.into(),
                occurred_at: self.now(),
                payload: serde_json::to_value(&event).unwrap(),
            };
            for handler in handlers.iter().filter(|h| h.handles(E::KIND)) {
                handler.handle(&envelope).await.unwrap();
            }
        }
    }

    /// The room's events in the order written, as (kind, version).
    async fn versions(&self, room: LiveRoomId) -> Vec<(String, i64)> {
        let rows = self
            .db
            .query_all_raw(Statement::from_string(
                self.db.get_database_backend(),
                "SELECT kind, payload FROM events_outbox WHERE kind LIKE 'live.room_%' ORDER BY id",
            ))
            .await
            .unwrap();
        rows.iter()
            .filter_map(|row| {
                let kind: String = row.try_get("", "kind").unwrap();
                let payload: serde_json::Value = serde_json::from_str(&row.try_get::<String>("", "payload").unwrap()).unwrap();
                (payload["room_id"] == room.0).then(|| (kind, payload["version"].as_i64().unwrap()))
            })
            .collect()
    }
}

#[tokio::test]
async fn a_creator_schedules_edits_and_cancels_a_live_and_each_change_is_a_versioned_event() {
    let app = app().await;
    let room = app.schedule(1, 24).await;
    assert_eq!((room.state, room.version, room.channel_id), (LiveRoomState::Scheduled, 1, ChannelId(1)));
    assert_eq!(room.cover_url.as_deref(), Some("https://cdn.example.com/cover.jpg"));

    let edited = app
        .live
        .update_live(
            &user(1),
            room.id,
            UpdateLiveInput { title: Some("改到九点".into()), cover_url: Some(None), ..Default::default() },
        )
        .await
        .unwrap();
    assert_eq!((edited.title.as_str(), edited.cover_url.clone(), edited.version), ("改到九点", None, 2));
    assert_eq!(edited.description, "今晚见", "fields not given stay as they are");

    let cancelled = app.live.cancel_live(&user(1), room.id).await.unwrap();
    assert_eq!((cancelled.state, cancelled.version), (LiveRoomState::Cancelled, 3));
    assert!(cancelled.cancelled_at.is_some());
    // Cancelling again changes nothing; editing or ending a cancelled room is refused.
    assert_eq!(app.live.cancel_live(&user(1), room.id).await.unwrap().version, 3);
    let e = app.live.update_live(&user(1), room.id, UpdateLiveInput { title: Some("x".into()), ..Default::default() }).await.unwrap_err();
    assert_eq!(user_error(&e).1, UserErrorCode::InvalidState);
    assert_eq!(user_error(&app.live.end_live(&user(1), room.id).await.unwrap_err()).1, UserErrorCode::InvalidState);

    assert_eq!(
        app.versions(room.id).await,
        [("live.room_scheduled".into(), 1), ("live.room_updated".into(), 2), ("live.room_cancelled".into(), 3)]
    );
    let cancelled_events = app.events::<LiveRoomCancelled>().await;
    assert_eq!(cancelled_events[0].aggregate_id(), room.id.0);
}

#[tokio::test]
async fn bad_input_gets_typed_errors_on_its_fields_and_writes_nothing() {
    let app = app().await;
    let cases: Vec<(ScheduleLiveInput, &str, UserErrorCode)> = vec![
        (app.input("  ", Some(1)), "input.title", UserErrorCode::Required),
        (app.input(&"播".repeat(61), Some(1)), "input.title", UserErrorCode::TooLong),
        (app.input("ok", Some(-1)), "input.plannedStartAt", UserErrorCode::Invalid),
        (app.input("ok", Some(24 * 400)), "input.plannedStartAt", UserErrorCode::Invalid),
        (
            ScheduleLiveInput { cover_url: Some("javascript:alert(1)".into()), ..app.input("ok", Some(1)) },
            "input.coverUrl",
            UserErrorCode::Invalid,
        ),
    ];
    for (input, field, code) in cases {
        let e = app.live.schedule_live(&user(1), input).await.unwrap_err();
        assert_eq!(user_error(&e), (field.to_owned(), code));
    }
    // No channel, no room; nobody signed in, nothing at all.
    let e = app.live.schedule_live(&user(11), app.input("ok", Some(1))).await.unwrap_err();
    assert_eq!(user_error(&e).1, UserErrorCode::InvalidState);
    let e = app.live.schedule_live(&Actor::Anonymous, app.input("ok", Some(1))).await.unwrap_err();
    assert!(matches!(e, Error::Unauthenticated), "{e:?}");
    assert_eq!(app.scalar("SELECT COUNT(*) AS n FROM live_rooms").await, 0);
    assert_eq!(app.scalar("SELECT COUNT(*) AS n FROM events_outbox").await, 0);
}

#[tokio::test]
async fn a_channel_shows_at_most_fifteen_upcoming_lives_soonest_first() {
    let app = app().await;
    for h in (1..=15).rev() {
        app.schedule(2, h).await;
    }
    let e = app.live.schedule_live(&user(2), app.input("one too many", Some(30))).await.unwrap_err();
    assert_eq!(user_error(&e).1, UserErrorCode::LimitReached);
    // A room opened to go live at once is not an announcement: not counted, not listed.
    let instant = app.live.schedule_live(&user(2), app.input("现在开播", None)).await.unwrap();
    let upcoming = app.live.upcoming_lives(&Actor::Anonymous, ChannelId(2)).await.unwrap();
    assert_eq!(upcoming.len(), MAX_UPCOMING);
    assert!(upcoming.windows(2).all(|w| w[0].planned_start_at < w[1].planned_start_at));
    assert!(upcoming.iter().all(|r| r.id != instant.id));
    // Cancelling one makes room for another.
    app.live.cancel_live(&user(2), upcoming[0].id).await.unwrap();
    app.schedule(2, 40).await;
    assert!(app.live.upcoming_lives(&user(3), ChannelId(3)).await.unwrap().is_empty());
}

#[tokio::test]
async fn only_the_creator_manages_a_room_and_a_block_hides_it_entirely() {
    let app = app().await;
    let room = app.schedule(1, 2).await;
    let stranger = user(3);
    let edit = UpdateLiveInput { title: Some("mine now".into()), ..Default::default() };
    for e in [
        app.live.update_live(&stranger, room.id, edit.clone()).await.unwrap_err(),
        app.live.cancel_live(&stranger, room.id).await.unwrap_err(),
        app.live.end_live(&stranger, room.id).await.unwrap_err(),
        app.live.stream_credentials(&stranger, room.id).await.unwrap_err(),
        app.live.rotate_stream_key(&stranger, room.id).await.unwrap_err(),
    ] {
        assert!(matches!(e, Error::Forbidden(_)), "{e:?}");
    }
    let e = app.live.update_live(&Actor::Anonymous, room.id, edit.clone()).await.unwrap_err();
    assert!(matches!(e, Error::Unauthenticated), "{e:?}");
    // Anyone may look at it, signed in or not.
    assert!(app.room(&Actor::Anonymous, room.id).await.is_some());

    // A block, either way, makes the room look like one that does not exist.
    app.fakes.blocks.lock().unwrap().insert((1, 4));
    app.fakes.blocks.lock().unwrap().insert((5, 1));
    for viewer in [user(4), user(5)] {
        assert_eq!(app.room(&viewer, room.id).await, None);
        assert!(app.live.upcoming_lives(&viewer, ChannelId(1)).await.unwrap().is_empty());
        let missing = app.live.update_live(&viewer, LiveRoomId(999_999), edit.clone()).await.unwrap_err();
        for e in [
            app.live.update_live(&viewer, room.id, edit.clone()).await.unwrap_err(),
            app.live.reserve(&viewer, room.id).await.unwrap_err(),
            app.live.stream_credentials(&viewer, room.id).await.unwrap_err(),
        ] {
            assert!(matches!(e, Error::NotFound(_)), "{e:?}");
            assert_eq!(format!("{e:?}"), format!("{missing:?}"), "a hidden room answers like a missing one");
        }
    }
    assert_eq!(app.room(&user(1), room.id).await.unwrap().title, "今晚八点带货", "nothing changed");
}

#[tokio::test]
async fn reservations_count_once_and_cannot_be_made_on_cancelled_or_past_lives() {
    let app = app().await;
    let room = app.schedule(1, 2).await;
    let r = app.live.reserve(&user(2), room.id).await.unwrap();
    assert!(r.actor_reserved);
    assert_eq!(r.reservation_count, 1);
    assert_eq!(app.live.reserve(&user(2), room.id).await.unwrap().reservation_count, 1, "again changes nothing");
    assert_eq!(app.live.reserve(&user(3), room.id).await.unwrap().reservation_count, 2);
    assert!(!app.room(&user(4), room.id).await.unwrap().actor_reserved);
    let r = app.live.unreserve(&user(3), room.id).await.unwrap();
    assert_eq!((r.reservation_count, r.actor_reserved), (1, false));
    assert_eq!(app.live.unreserve(&user(3), room.id).await.unwrap().reservation_count, 1, "withdrawing none changes nothing");
    assert_eq!(app.events::<LiveReservationMade>().await.len(), 2);
    assert!(matches!(app.live.reserve(&Actor::Anonymous, room.id).await.unwrap_err(), Error::Unauthenticated));

    // A cancelled live cannot be reserved.
    let cancelled = app.schedule(1, 3).await;
    app.live.cancel_live(&user(1), cancelled.id).await.unwrap();
    assert_eq!(user_error(&app.live.reserve(&user(2), cancelled.id).await.unwrap_err()).1, UserErrorCode::InvalidState);
    // Nor one whose reminder window (planned start + 1 h) has passed.
    app.clock.advance(Duration::from_secs(3 * 3600 + 1));
    let e = app.live.reserve(&user(4), room.id).await.unwrap_err();
    assert_eq!(user_error(&e).1, UserErrorCode::InvalidState);
    assert_eq!(app.room(&user(4), room.id).await.unwrap().reservation_count, 1);
}

#[tokio::test]
async fn going_live_on_time_reminds_everyone_who_reserved_once_in_app_and_by_verified_email() {
    let app = app().await;
    let room = app.schedule(1, 1).await;
    for u in [2, 3, 4, 5] {
        app.live.reserve(&user(u), room.id).await.unwrap();
    }
    app.live.unreserve(&user(5), room.id).await.unwrap();
    // 30 minutes late: within the hour.
    app.clock.advance(Duration::from_secs(90 * 60));
    let key = app.key(1, room.id).await;
    let id = app.live.room_for_key(&key).await.unwrap().unwrap();
    app.live.go_on_air(id, "session-1", false).await.unwrap().unwrap();
    let started = app.events::<LiveRoomStarted>().await;
    assert_eq!(started.len(), 1);
    assert_eq!((started[0].room_id, started[0].version), (room.id, 2));

    // Delivered twice (a redelivery after a crash): still one notice each.
    app.deliver_all::<LiveRoomStarted>().await;
    app.deliver_all::<LiveRoomStarted>().await;
    let notices = app.events::<NotificationRequested>().await;
    let mut told: Vec<i64> = notices.iter().map(|n| n.user_id.0).collect();
    told.sort();
    assert_eq!(told, [2, 3, 4]);
    assert!(notices.iter().all(|n| n.kind == "live.reminder" && n.dedupe_key == format!("live.reminder:{}", room.id.0)));
    assert_eq!(notices[0].payload["title"], "今晚八点带货");
    assert_eq!(notices[0].payload["channelName"], "频道 1");
    let mails = app.events::<EmailRequested>().await;
    let mut mailed: Vec<&str> = mails.iter().map(|m| m.to.as_str()).collect();
    mailed.sort();
    assert_eq!(mailed, ["user2@example.com", "user4@example.com"], "verified addresses only");
    match &mails[0].template {
        EmailTemplate::LiveReminder { room_title, link, .. } => {
            assert_eq!(room_title, "今晚八点带货");
            assert_eq!(link, &format!("https://kanjian.example/live/rooms/{}", room.id.0));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(app.scalar("SELECT COUNT(*) AS n FROM live_reservations WHERE state = 'REMINDED'").await, 3);
    let seen = app.room(&user(2), room.id).await.unwrap();
    assert_eq!((seen.state, seen.reservation_count, seen.actor_reserved), (LiveRoomState::Live, 3, false));
}

#[tokio::test]
async fn going_live_over_an_hour_late_reminds_nobody_and_the_reservations_lapse() {
    let app = app().await;
    let room = app.schedule(1, 1).await;
    app.live.reserve(&user(2), room.id).await.unwrap();
    app.clock.advance(Duration::from_secs(2 * 3600 + 60));
    app.live.go_on_air(room.id, "s", false).await.unwrap().unwrap();
    app.deliver_all::<LiveRoomStarted>().await;
    assert!(app.events::<NotificationRequested>().await.is_empty());
    assert!(app.events::<EmailRequested>().await.is_empty());
    assert_eq!(app.scalar("SELECT COUNT(*) AS n FROM live_reservations WHERE state = 'LAPSED'").await, 1);
}

#[tokio::test]
async fn cancelling_tells_everyone_who_reserved() {
    let app = app().await;
    let room = app.schedule(1, 5).await;
    for u in [2, 3] {
        app.live.reserve(&user(u), room.id).await.unwrap();
    }
    app.live.cancel_live(&user(1), room.id).await.unwrap();
    app.deliver_all::<LiveRoomCancelled>().await;
    let notices = app.events::<NotificationRequested>().await;
    assert_eq!(notices.len(), 2);
    assert!(notices.iter().all(|n| n.kind == "live.cancelled"));
    let mails = app.events::<EmailRequested>().await;
    assert_eq!(mails.len(), 1);
    assert!(matches!(mails[0].template, EmailTemplate::LiveCancelled { .. }));
    assert_eq!(mails[0].to, "user2@example.com");
}

#[tokio::test]
async fn stream_keys_open_their_room_only_until_rotated_or_the_room_is_over() {
    let app = app().await;
    let room = app.schedule(1, 1).await;
    let other = app.schedule(2, 1).await;
    let key = app.key(1, room.id).await;
    let creds = app.live.stream_credentials(&user(1), room.id).await.unwrap();
    assert_eq!(creds.server_url, "rtmp://kanjian.example:1935/live");
    assert_eq!(app.live.room_for_key(&key).await.unwrap(), Ok(room.id));
    // Another room's key with this room's number, a truncated key, garbage: all the same refusal.
    let other_key = app.key(2, other.id).await;
    let forged = other_key.replacen(&format!("r{}_", other.id.0), &format!("r{}_", room.id.0), 1);
    for bad in [forged.as_str(), &key[..key.len() - 1], "", "r1_", "live", "../../etc/passwd"] {
        assert_eq!(app.live.room_for_key(bad).await.unwrap(), Err(Refusal::BadKey), "{bad:?}");
    }
    let rotated = app.live.rotate_stream_key(&user(1), room.id).await.unwrap();
    assert_ne!(rotated.stream_key, key);
    assert_eq!(app.live.room_for_key(&key).await.unwrap(), Err(Refusal::BadKey));
    assert_eq!(app.live.room_for_key(&rotated.stream_key).await.unwrap(), Ok(room.id));
    app.live.cancel_live(&user(1), room.id).await.unwrap();
    assert_eq!(app.live.room_for_key(&rotated.stream_key).await.unwrap(), Err(Refusal::RoomClosed));
}

#[tokio::test]
async fn a_dropped_publisher_has_a_grace_to_come_back_then_the_room_ends() {
    let app = app().await;
    let room = app.schedule(1, 1).await;
    app.live.go_on_air(room.id, "first", false).await.unwrap().unwrap();
    // A second publisher while the first is on air is refused.
    assert_eq!(app.live.go_on_air(room.id, "second", false).await.unwrap(), Err(Refusal::AlreadyLive));
    // A second room of the channel cannot go live beside it.
    let other = app.schedule(1, 2).await;
    assert_eq!(app.live.go_on_air(other.id, "x", false).await.unwrap(), Err(Refusal::ChannelLiveElsewhere));
    assert_eq!(app.room(&user(1), other.id).await.unwrap().state, LiveRoomState::Scheduled);

    // The publisher drops and comes back within the grace: still the same live, no new event.
    app.live.off_air(room.id, "first").await.unwrap();
    app.clock.advance(Duration::from_secs(30));
    assert_eq!(app.live.end_abandoned_rooms().await.unwrap(), 0);
    app.live.go_on_air(room.id, "second", false).await.unwrap().unwrap();
    // The old session leaving late changes nothing: it was replaced.
    app.live.off_air(room.id, "first").await.unwrap();
    app.clock.advance(Duration::from_secs(120));
    assert_eq!(app.live.end_abandoned_rooms().await.unwrap(), 0);
    assert_eq!(app.events::<LiveRoomStarted>().await.len(), 1);

    // A reconnect whose old connection is half-open takes over when asked to replace it.
    app.live.go_on_air(room.id, "third", true).await.unwrap().unwrap();
    app.live.off_air(room.id, "third").await.unwrap();
    app.clock.advance(Duration::from_secs(59));
    assert_eq!(app.live.end_abandoned_rooms().await.unwrap(), 0);
    app.clock.advance(Duration::from_secs(2));
    assert_eq!(app.live.end_abandoned_rooms().await.unwrap(), 1);
    let ended = app.room(&user(1), room.id).await.unwrap();
    assert_eq!(ended.state, LiveRoomState::Ended);
    assert_eq!(app.events::<LiveRoomEnded>().await.len(), 1);
    // Over is over: its key opens nothing, and the other room may go live now.
    let key = app.key(1, room.id).await;
    assert_eq!(app.live.room_for_key(&key).await.unwrap(), Err(Refusal::RoomClosed));
    app.live.go_on_air(other.id, "x", false).await.unwrap().unwrap();
    assert_eq!(
        app.versions(room.id).await.iter().map(|(_, v)| *v).collect::<Vec<_>>(),
        [1, 2, 3],
        "scheduled, started, ended"
    );
}

#[tokio::test]
async fn the_creator_ends_a_live_room_at_once() {
    let app = app().await;
    let room = app.live.schedule_live(&user(1), app.input("现在开播", None)).await.unwrap();
    assert_eq!(user_error(&app.live.end_live(&user(1), room.id).await.unwrap_err()).1, UserErrorCode::InvalidState);
    app.live.go_on_air(room.id, "s", false).await.unwrap().unwrap();
    assert_eq!(app.live.live_now(&Actor::Anonymous, ChannelId(1)).await.unwrap().unwrap().id, room.id);
    let ended = app.live.end_live(&user(1), room.id).await.unwrap();
    assert_eq!(ended.state, LiveRoomState::Ended);
    assert!(ended.ended_at.is_some() && ended.started_at.is_some());
    assert_eq!(app.live.end_live(&user(1), room.id).await.unwrap().version, ended.version, "ending again changes nothing");
    assert_eq!(app.live.live_now(&Actor::Anonymous, ChannelId(1)).await.unwrap(), None);
    // The publisher's late goodbye does not revive anything.
    app.live.off_air(room.id, "s").await.unwrap();
    assert_eq!(app.room(&user(1), room.id).await.unwrap().state, LiveRoomState::Ended);
}

/// The next change of the room (counts and comments are other tests' business).
async fn next(watcher: &mut futures::stream::BoxStream<'static, RoomEvent>) -> Option<LiveRoomDto> {
    use futures::StreamExt;
    loop {
        match tokio::time::timeout(Duration::from_secs(5), watcher.next()).await.expect("a change in time")?.into_event() {
            LiveRoomEventDto::Changed(room) => return Some(*room),
            _ => continue,
        }
    }
}

#[tokio::test]
async fn watchers_see_the_room_now_then_each_change_until_it_is_over() {
    let app = app().await;
    let room = app.schedule(1, 1).await;
    app.fakes.blocks.lock().unwrap().insert((1, 9));
    assert!(matches!(app.live.watch_room(&user(9), room.id).await.err().unwrap(), Error::NotFound(_)));

    let mut watcher = app.live.watch_room(&Actor::Anonymous, room.id).await.unwrap();
    assert_eq!(next(&mut watcher).await.unwrap().state, LiveRoomState::Scheduled);
    app.live.update_live(&user(1), room.id, UpdateLiveInput { title: Some("新标题".into()), ..Default::default() }).await.unwrap();
    assert_eq!(next(&mut watcher).await.unwrap().title, "新标题");
    app.live.go_on_air(room.id, "s", false).await.unwrap().unwrap();
    let live = next(&mut watcher).await.unwrap();
    assert_eq!((live.state, live.version), (LiveRoomState::Live, 3));
    app.live.end_live(&user(1), room.id).await.unwrap();
    assert_eq!(next(&mut watcher).await.unwrap().state, LiveRoomState::Ended);
    assert_eq!(next(&mut watcher).await, None, "the stream ends with the room");
    // Watching an ended room shows it once and ends.
    let mut late = app.live.watch_room(&user(2), room.id).await.unwrap();
    assert_eq!(next(&mut late).await.unwrap().state, LiveRoomState::Ended);
    assert_eq!(next(&mut late).await, None);
}
