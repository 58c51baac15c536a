//! Inside a live room against a real database, with the fakes of `support`: comments and the
//! checks before them, moderation, likes, counts, the pinned message, and the fan-out that
//! bounds what each viewer receives in a busy room.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use kanjian_contracts::live::*;
use kanjian_kernel::ids::{ChannelId, LiveRoomId, UserId};
use kanjian_kernel::{Actor, Error, PageRequest, UserErrorCode};
use kanjian_live::LiveConfig;

mod support;

use support::*;

type Events = BoxStream<'static, RoomEvent>;

/// Fast batches and counts, so tests wait little; five viewers' comments per batch, so the
/// sampling of busy rooms stays out of tests with a few comments.
fn quick() -> LiveConfig {
    LiveConfig { comment_batch_ms: 50, comments_per_viewer_per_second: 100, counts_interval_ms: 50, ..LiveConfig::default() }
}

/// A LIVE room of channel 1 (user 1), with a publisher on air.
async fn live_room(app: &TestApp) -> LiveRoomId {
    let room = app
        .live
        .schedule_live(&user(1), ScheduleLiveInput { title: "直播间".into(), ..Default::default() })
        .await
        .unwrap();
    app.live.go_on_air(room.id, "s", false).await.unwrap().unwrap();
    room.id
}

/// Events until `done` says it has what it waited for (or 10 s pass, which fails the test).
async fn until(events: &mut Events, mut done: impl FnMut(&LiveRoomEventDto) -> bool) -> Vec<LiveRoomEventDto> {
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(event) = events.next().await {
            let event = event.into_event();
            let finished = done(&event);
            seen.push(event);
            if finished {
                return;
            }
        }
        panic!("the stream ended: {seen:?}");
    })
    .await
    .unwrap_or_else(|_| panic!("timed out; saw {seen:?}"));
    seen
}

fn comments_in(events: &[LiveRoomEventDto]) -> Vec<LiveCommentDto> {
    events
        .iter()
        .flat_map(|e| match e {
            LiveRoomEventDto::Comments { comments, .. } => comments.clone(),
            _ => Vec::new(),
        })
        .collect()
}

fn texts(comments: &[LiveCommentDto]) -> Vec<&str> {
    comments.iter().map(|c| c.text.as_str()).collect()
}

async fn stored_texts(app: &TestApp, viewer: &Actor, room: LiveRoomId) -> Vec<String> {
    let page = app.live.comments(viewer, room, PageRequest { first: Some(100), after: None }).await.unwrap();
    page.items.into_iter().map(|(_, c)| c.text).collect()
}

fn code(e: &Error) -> UserErrorCode {
    user_error(e).1
}

#[tokio::test]
async fn comments_reach_every_viewer_with_their_authors_name_and_role() {
    let app = app_with(quick()).await;
    let room = live_room(&app).await;
    let mut anonymous = app.live.watch_room(&Actor::Anonymous, room).await.unwrap();
    let mut viewer = app.live.watch_room(&user(5), room).await.unwrap();

    let sent = app.live.send_comment(&user(3), room, "  主播好！  ").await.unwrap();
    assert_eq!((sent.text.as_str(), sent.author_name.as_str(), sent.role), ("主播好！", "用户3", CommentRole::Viewer));
    let welcome = app.live.send_comment(&user(1), room, "欢迎来到直播间").await.unwrap();
    assert_eq!(welcome.role, CommentRole::Creator);
    assert!(welcome.id > sent.id);

    for events in [&mut anonymous, &mut viewer] {
        let mut got = Vec::new();
        let seen = until(events, |e| {
            if let LiveRoomEventDto::Comments { comments, .. } = e {
                got.extend(comments.iter().map(|c| c.id));
            }
            got.len() >= 2
        })
        .await;
        assert!(matches!(seen[0], LiveRoomEventDto::Changed(ref r) if r.state == LiveRoomState::Live));
        assert_eq!(comments_in(&seen), vec![sent.clone(), welcome.clone()]);
    }
    // Stored, newest first, for anyone who joins later.
    assert_eq!(stored_texts(&app, &Actor::Anonymous, room).await, ["欢迎来到直播间", "主播好！"]);
}

#[tokio::test]
async fn bad_comments_get_clear_errors_and_are_never_stored() {
    let app = app_with(quick()).await;
    let scheduled = app
        .live
        .schedule_live(&user(1), ScheduleLiveInput { title: "稍后".into(), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(code(&app.live.send_comment(&user(3), scheduled.id, "早到了").await.unwrap_err()), UserErrorCode::InvalidState);
    app.live.go_on_air(scheduled.id, "s", false).await.unwrap().unwrap();
    let room = scheduled.id;

    let e = app.live.send_comment(&user(3), room, "   ").await.unwrap_err();
    assert_eq!(user_error(&e), ("input.text".to_owned(), UserErrorCode::Required));
    let e = app.live.send_comment(&user(3), room, &"长".repeat(201)).await.unwrap_err();
    assert_eq!(user_error(&e), ("input.text".to_owned(), UserErrorCode::TooLong));
    app.live.send_comment(&user(3), room, &"长".repeat(200)).await.unwrap();
    assert_eq!(code(&app.live.send_comment(&user(3), room, "两\n行").await.unwrap_err()), UserErrorCode::Invalid);
    assert!(matches!(app.live.send_comment(&Actor::Anonymous, room, "hi").await.unwrap_err(), Error::Unauthenticated));
    // In a block with the creator: the room does not exist for them.
    app.fakes.blocks.lock().unwrap().insert((1, 9));
    assert!(matches!(app.live.send_comment(&user(9), room, "hi").await.unwrap_err(), Error::NotFound(_)));
    assert!(matches!(app.live.send_comment(&user(3), LiveRoomId(9999), "hi").await.unwrap_err(), Error::NotFound(_)));

    app.live.end_live(&user(1), room).await.unwrap();
    assert_eq!(code(&app.live.send_comment(&user(3), room, "晚了").await.unwrap_err()), UserErrorCode::InvalidState);
    assert_eq!(stored_texts(&app, &user(3), room).await, ["长".repeat(200)]);
}

#[tokio::test]
async fn each_person_sends_at_most_eleven_comments_in_thirty_seconds() {
    let app = app_with(quick()).await;
    let room = live_room(&app).await;
    for i in 0..11 {
        app.live.send_comment(&user(3), room, &format!("第{i}条")).await.unwrap();
    }
    let e = app.live.send_comment(&user(3), room, "第12条").await.unwrap_err();
    assert!(matches!(e, Error::RateLimited { retry_after_secs } if (1..=3).contains(&retry_after_secs)), "{e:?}");
    // Someone else is not slowed down.
    app.live.send_comment(&user(4), room, "我也来").await.unwrap();
    // The bucket refills one comment every 30/11 s.
    app.clock.advance(Duration::from_secs(3));
    app.live.send_comment(&user(3), room, "又可以了").await.unwrap();
    assert_eq!(stored_texts(&app, &user(3), room).await.len(), 13);
}

#[tokio::test]
async fn the_creator_and_moderators_mute_ban_and_lift() {
    let app = app_with(quick()).await;
    let room = live_room(&app).await;
    // Only the creator appoints moderators, of their own channel.
    assert!(matches!(app.live.add_moderator(&user(12), UserId(4)).await.unwrap_err(), Error::User(_)));
    assert_eq!(app.live.add_moderator(&user(1), UserId(4)).await.unwrap(), [UserId(4)]);
    assert_eq!(app.live.add_moderator(&user(1), UserId(4)).await.unwrap(), [UserId(4)], "appointing twice changes nothing");
    assert_eq!(code(&app.live.add_moderator(&user(1), UserId(1)).await.unwrap_err()), UserErrorCode::SelfTarget);
    assert!(matches!(app.live.add_moderator(&user(1), UserId(999)).await.unwrap_err(), Error::NotFound(_)));
    assert_eq!(app.live.moderators(&user(1)).await.unwrap(), [UserId(4)]);
    assert!(app.live.rooms_by_ids(&user(4), &[room]).await.unwrap()[0].actor_can_moderate);
    assert!(!app.live.rooms_by_ids(&user(6), &[room]).await.unwrap()[0].actor_can_moderate);

    // A viewer may not restrict anyone; nobody restricts the creator, a moderator or themself.
    let mute = Restriction::Mute { minutes: Some(10) };
    assert!(matches!(app.live.restrict_viewer(&user(6), room, UserId(3), mute).await.unwrap_err(), Error::Forbidden(_)));
    assert_eq!(code(&app.live.restrict_viewer(&user(4), room, UserId(1), mute).await.unwrap_err()), UserErrorCode::InvalidState);
    assert_eq!(code(&app.live.restrict_viewer(&user(1), room, UserId(4), mute).await.unwrap_err()), UserErrorCode::InvalidState);
    assert_eq!(code(&app.live.restrict_viewer(&user(4), room, UserId(4), mute).await.unwrap_err()), UserErrorCode::SelfTarget);
    let too_long = Restriction::Mute { minutes: Some(60 * 24 * 31) };
    assert_eq!(code(&app.live.restrict_viewer(&user(1), room, UserId(3), too_long).await.unwrap_err()), UserErrorCode::Invalid);

    // The moderator mutes viewer 3 for ten minutes: they may watch and like, not comment.
    let muted = app.live.restrict_viewer(&user(4), room, UserId(3), mute).await.unwrap();
    assert!(!muted.banned && muted.muted_until.is_some());
    let e = app.live.send_comment(&user(3), room, "说话").await.unwrap_err();
    assert_eq!(code(&e), UserErrorCode::Muted);
    assert!(e.to_string().contains("until"), "{e}");
    app.live.like(&user(3), room, 1).await.unwrap();
    let _still_watching = app.live.watch_room(&user(3), room).await.unwrap();
    app.clock.advance(Duration::from_secs(11 * 60));
    app.live.send_comment(&user(3), room, "我回来了").await.unwrap();

    // Banned while watching: their stream says so and ends; everything else is refused.
    let mut banned_stream = app.live.watch_room(&user(5), room).await.unwrap();
    until(&mut banned_stream, |e| matches!(e, LiveRoomEventDto::Changed(_))).await;
    let banned = app.live.restrict_viewer(&user(1), room, UserId(5), Restriction::Ban).await.unwrap();
    assert!(banned.banned);
    until(&mut banned_stream, |e| matches!(e, LiveRoomEventDto::Removed)).await;
    let rest = tokio::time::timeout(Duration::from_secs(5), banned_stream.next()).await.unwrap();
    assert!(rest.is_none(), "the stream ends after Removed");
    assert!(matches!(app.live.watch_room(&user(5), room).await.err().unwrap(), Error::Forbidden(_)));
    assert!(matches!(app.live.send_comment(&user(5), room, "hi").await.unwrap_err(), Error::Forbidden(_)));
    assert!(matches!(app.live.like(&user(5), room, 1).await.unwrap_err(), Error::Forbidden(_)));
    // The ban holds in the channel's next live too.
    app.live.end_live(&user(1), room).await.unwrap();
    let next = live_room(&app).await;
    assert!(matches!(app.live.send_comment(&user(5), next, "hi").await.unwrap_err(), Error::Forbidden(_)));

    let listed: Vec<UserId> = app.live.restricted_viewers(&user(4), next).await.unwrap().iter().map(|r| r.user_id).collect();
    assert_eq!(listed, [UserId(5)], "the expired mute is not listed");
    assert!(matches!(app.live.restricted_viewers(&user(6), next).await.unwrap_err(), Error::Forbidden(_)));
    app.live.lift_restriction(&user(4), next, UserId(5)).await.unwrap();
    app.live.send_comment(&user(5), next, "谢谢").await.unwrap();
    assert!(app.live.restricted_viewers(&user(1), next).await.unwrap().is_empty());

    // A dismissed moderator moderates no more.
    assert!(app.live.remove_moderator(&user(1), UserId(4)).await.unwrap().is_empty());
    assert!(matches!(app.live.restrict_viewer(&user(4), next, UserId(3), mute).await.unwrap_err(), Error::Forbidden(_)));
}

#[tokio::test]
async fn blocked_keywords_refuse_comments_in_their_disguises() {
    let app = app_with(quick()).await;
    let room = live_room(&app).await;
    app.live.add_moderator(&user(1), UserId(4)).await.unwrap();
    let set = app.live.set_blocked_keywords(&user(1), ChannelId(1), &["加微信".into(), "ＶＸ".into(), "vx".into()]).await.unwrap();
    assert_eq!(set, ["vx", "加微信"]);
    for text in ["快来加 微 信", "私我V.X"] {
        let e = app.live.send_comment(&user(3), room, text).await.unwrap_err();
        assert_eq!(user_error(&e), ("input.text".to_owned(), UserErrorCode::ContentRejected), "{text}");
    }
    app.live.send_comment(&user(3), room, "微信支付可以吗").await.unwrap();
    // The creator's and moderators' own words are not filtered.
    app.live.send_comment(&user(4), room, "不要加微信，小心骗子").await.unwrap();
    assert_eq!(stored_texts(&app, &user(3), room).await, ["不要加微信，小心骗子", "微信支付可以吗"]);

    // Moderators keep the list too; viewers neither read nor change it.
    assert_eq!(app.live.blocked_keywords(&user(4), ChannelId(1)).await.unwrap(), ["vx", "加微信"]);
    assert_eq!(app.live.set_blocked_keywords(&user(4), ChannelId(1), &["广告".into()]).await.unwrap(), ["广告"]);
    assert!(matches!(app.live.blocked_keywords(&user(3), ChannelId(1)).await.unwrap_err(), Error::Forbidden(_)));
    assert!(matches!(app.live.set_blocked_keywords(&user(3), ChannelId(1), &[]).await.unwrap_err(), Error::Forbidden(_)));
    assert!(matches!(app.live.blocked_keywords(&user(3), ChannelId(999)).await.unwrap_err(), Error::NotFound(_)));
    // The new list applies at once: the old keyword passes, the new one is refused.
    app.live.send_comment(&user(3), room, "加微信").await.unwrap();
    assert_eq!(code(&app.live.send_comment(&user(3), room, "打广告").await.unwrap_err()), UserErrorCode::ContentRejected);
    let e = app.live.set_blocked_keywords(&user(1), ChannelId(1), &["ok".into(), "!!".into()]).await.unwrap_err();
    assert_eq!(user_error(&e), ("input.keywords.1".to_owned(), UserErrorCode::Invalid));
    assert_eq!(app.live.blocked_keywords(&user(1), ChannelId(1)).await.unwrap(), ["广告"], "a refused list changes nothing");
}

#[tokio::test]
async fn comments_are_removed_by_their_author_or_a_moderator_only() {
    let app = app_with(quick()).await;
    let room = live_room(&app).await;
    app.live.add_moderator(&user(1), UserId(4)).await.unwrap();
    let mut watcher = app.live.watch_room(&user(7), room).await.unwrap();
    let first = app.live.send_comment(&user(3), room, "第一条").await.unwrap();
    let second = app.live.send_comment(&user(3), room, "第二条").await.unwrap();
    let third = app.live.send_comment(&user(6), room, "第三条").await.unwrap();

    assert!(matches!(app.live.delete_comment(&user(6), first.id).await.unwrap_err(), Error::Forbidden(_)));
    app.live.delete_comment(&user(3), first.id).await.unwrap();
    app.live.delete_comment(&user(4), third.id).await.unwrap();
    app.live.delete_comment(&user(4), third.id).await.unwrap();
    assert!(matches!(app.live.delete_comment(&user(3), kanjian_kernel::ids::LiveCommentId(99_999)).await.unwrap_err(), Error::NotFound(_)));

    let mut deleted = Vec::new();
    until(&mut watcher, |e| {
        if let LiveRoomEventDto::CommentsDeleted { ids } = e {
            deleted.extend(ids.iter().copied());
        }
        deleted.len() >= 2
    })
    .await;
    assert_eq!(deleted, [first.id, third.id], "each removal is told once");
    assert_eq!(stored_texts(&app, &user(7), room).await, [second.text.as_str()]);
}

#[tokio::test]
async fn viewers_do_not_see_comments_of_people_in_a_block_with_them() {
    let app = app_with(quick()).await;
    let room = live_room(&app).await;
    app.fakes.blocks.lock().unwrap().insert((7, 8));
    let mut seven = app.live.watch_room(&user(7), room).await.unwrap();
    let mut six = app.live.watch_room(&user(6), room).await.unwrap();
    app.live.send_comment(&user(8), room, "八号的话").await.unwrap();
    app.live.send_comment(&user(3), room, "三号的话").await.unwrap();
    let seen = until(&mut seven, |e| comments_in(std::slice::from_ref(e)).iter().any(|c| c.author_id == UserId(3))).await;
    assert_eq!(texts(&comments_in(&seen)), ["三号的话"]);
    let seen = until(&mut six, |e| comments_in(std::slice::from_ref(e)).iter().any(|c| c.author_id == UserId(3))).await;
    assert_eq!(texts(&comments_in(&seen)), ["八号的话", "三号的话"]);
    assert_eq!(stored_texts(&app, &user(7), room).await, ["三号的话"]);
}

/// A busy room: 15 people typing at once, and the creator. A viewer gets every comment of the
/// creator and their own, and a bounded sample of the rest; what was left out is counted, so
/// delivered + omitted adds up to everything sent.
#[tokio::test]
async fn a_busy_room_sends_each_viewer_a_bounded_sample_and_the_whole_priority_lane() {
    let config = LiveConfig {
        comment_batch_ms: 200,
        comments_per_viewer_per_second: 20,
        comments_per_user: vec![],
        ..quick()
    };
    let app = app_with(config).await;
    let room = live_room(&app).await;
    let mut watcher = app.live.watch_room(&user(6), room).await.unwrap();
    until(&mut watcher, |e| matches!(e, LiveRoomEventDto::Changed(_))).await;

    let typists: Vec<i64> = (6..=20).collect();
    let sends = typists.iter().flat_map(|&u| (0..8).map(move |i| (u, format!("{u}号第{i}条"))));
    let live = app.live.clone();
    let viewer_sends = futures::future::join_all(sends.map(|(u, text)| {
        let live = live.clone();
        async move { live.send_comment(&user(u), room, &text).await.unwrap() }
    }));
    let creator_sends = async {
        let mut sent = Vec::new();
        for i in 0..3 {
            sent.push(app.live.send_comment(&user(1), room, &format!("主播第{i}条")).await.unwrap());
        }
        sent
    };
    let (viewer_comments, creator_comments) = futures::join!(viewer_sends, creator_sends);
    assert_eq!(viewer_comments.len(), 15 * 8);
    let mut ids: Vec<_> = viewer_comments.iter().chain(&creator_comments).map(|c| c.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 123, "every comment stored once, each with its own id");

    let mut delivered: HashMap<UserId, usize> = HashMap::new();
    let mut creator_seen = 0;
    let mut omitted_total = 0;
    let per_tick = 20 * 200 / 1000;
    let own_sent = 8;
    let mut own_seen = 0;
    until(&mut watcher, |e| {
        if let LiveRoomEventDto::Comments { comments, omitted } = e {
            let others = comments.iter().filter(|c| c.role == CommentRole::Viewer && c.author_id != UserId(6)).count();
            let own = comments.iter().filter(|c| c.author_id == UserId(6)).count();
            assert!(others + own <= per_tick + own, "a batch carried {others} of others' comments: {comments:?}");
            assert!(others <= per_tick, "{others} > {per_tick}");
            creator_seen += comments.iter().filter(|c| c.role == CommentRole::Creator).count();
            own_seen += own;
            for c in comments.iter().filter(|c| c.role == CommentRole::Viewer) {
                *delivered.entry(c.author_id).or_default() += 1;
            }
            omitted_total += *omitted as usize;
        }
        let viewer_delivered: usize = delivered.values().sum();
        creator_seen == 3 && own_seen == own_sent && viewer_delivered + omitted_total == 15 * 8
    })
    .await;
    assert!(omitted_total > 0, "120 comments in a burst must be sampled");
}

#[tokio::test]
async fn likes_travel_as_counters_and_reach_viewers_with_the_counts() {
    let app = app_with(quick()).await;
    let room = live_room(&app).await;
    let mut watcher = app.live.watch_room(&Actor::Anonymous, room).await.unwrap();
    app.live.like(&user(3), room, 5).await.unwrap();
    app.live.like(&user(4), room, 10).await.unwrap();
    app.live.like(&user(3), room, 1).await.unwrap();
    assert_eq!(app.live.flush_likes().await.unwrap(), 1, "one write for the room, whatever the taps");
    assert_eq!(app.live.flush_likes().await.unwrap(), 0);
    until(&mut watcher, |e| matches!(e, LiveRoomEventDto::Counts(c) if c.likes == 16)).await;
    assert_eq!(app.live.rooms_by_ids(&user(3), &[room]).await.unwrap()[0].counts.likes, 16);

    for bad in [0, 101] {
        assert_eq!(user_error(&app.live.like(&user(3), room, bad).await.unwrap_err()), ("input.count".to_owned(), UserErrorCode::Invalid));
    }
    assert!(matches!(app.live.like(&Actor::Anonymous, room, 1).await.unwrap_err(), Error::Unauthenticated));
    // 300 taps per 30 s a person.
    app.live.like(&user(5), room, 100).await.unwrap();
    app.live.like(&user(5), room, 100).await.unwrap();
    app.live.like(&user(5), room, 100).await.unwrap();
    assert!(matches!(app.live.like(&user(5), room, 1).await.unwrap_err(), Error::RateLimited { .. }));
    app.live.end_live(&user(1), room).await.unwrap();
    assert_eq!(code(&app.live.like(&user(3), room, 1).await.unwrap_err()), UserErrorCode::InvalidState);
}

#[tokio::test]
async fn viewer_counts_show_now_peak_and_different_people() {
    let app = app_with(quick()).await;
    let room = live_room(&app).await;
    let counts_reach = |n: i64| move |e: &LiveRoomEventDto| matches!(e, LiveRoomEventDto::Counts(c) if c.viewers_now == n);
    let mut first = app.live.watch_room(&user(2), room).await.unwrap();
    let second_tab = app.live.watch_room(&user(2), room).await.unwrap();
    let anonymous = app.live.watch_room(&Actor::Anonymous, room).await.unwrap();
    let seen = until(&mut first, counts_reach(3)).await;
    let Some(LiveRoomEventDto::Counts(counts)) = seen.last() else { unreachable!() };
    assert_eq!((counts.viewers_peak, counts.viewers_total), (3, 2), "two tabs of one person count once in the total");
    drop(second_tab);
    drop(anonymous);
    let seen = until(&mut first, counts_reach(1)).await;
    let Some(LiveRoomEventDto::Counts(counts)) = seen.last() else { unreachable!() };
    assert_eq!((counts.viewers_peak, counts.viewers_total), (3, 2));
    let room_now = app.live.rooms_by_ids(&user(3), &[room]).await.unwrap().pop().unwrap();
    assert_eq!((room_now.counts.viewers_now, room_now.counts.viewers_peak), (1, 3));
    // Once the room is over nobody is watching it, and the totals stay.
    app.live.end_live(&user(1), room).await.unwrap();
    let ended = app.live.rooms_by_ids(&user(3), &[room]).await.unwrap().pop().unwrap();
    assert_eq!((ended.counts.viewers_now, ended.counts.viewers_peak, ended.counts.viewers_total), (0, 3, 2));
}

#[tokio::test]
async fn the_pinned_message_reaches_viewers_and_stays_on_the_room() {
    let app = app_with(quick()).await;
    let room = live_room(&app).await;
    let mut watcher = app.live.watch_room(&user(3), room).await.unwrap();
    assert!(matches!(app.live.pin_message(&user(3), room, Some("我来置顶")).await.unwrap_err(), Error::Forbidden(_)));
    let e = app.live.pin_message(&user(1), room, Some(&"字".repeat(101))).await.unwrap_err();
    assert_eq!(code(&e), UserErrorCode::TooLong);
    let pinned = app.live.pin_message(&user(1), room, Some("今晚 8 点抽奖")).await.unwrap();
    assert_eq!(pinned.pinned_message.as_ref().unwrap().text, "今晚 8 点抽奖");
    let seen = until(&mut watcher, |e| matches!(e, LiveRoomEventDto::PinnedMessage(Some(_)))).await;
    assert!(matches!(seen.last(), Some(LiveRoomEventDto::PinnedMessage(Some(p))) if p.text == "今晚 8 点抽奖"));
    assert_eq!(app.live.rooms_by_ids(&Actor::Anonymous, &[room]).await.unwrap()[0].pinned_message, pinned.pinned_message);
    let unpinned = app.live.pin_message(&user(1), room, None).await.unwrap();
    assert_eq!(unpinned.pinned_message, None);
    until(&mut watcher, |e| matches!(e, LiveRoomEventDto::PinnedMessage(None))).await;
}

/// A viewer who stops reading falls more than 64 batches behind and skips batches, but the
/// priority lane still reaches them whole, each comment once, and so does the pin made in a
/// skipped batch.
#[tokio::test]
async fn a_viewer_who_fell_behind_still_gets_every_priority_comment_once_and_the_pin() {
    let app = app_with(LiveConfig { comments_per_user: vec![], ..quick() }).await;
    let room = live_room(&app).await;
    let mut slow = app.live.watch_room(&user(6), room).await.unwrap();
    until(&mut slow, |e| matches!(e, LiveRoomEventDto::Changed(_))).await;
    // 80 batches (one creator comment each), none read.
    let mut sent = Vec::new();
    for i in 0..80 {
        sent.push(app.live.send_comment(&user(1), room, &format!("主播第{i}条")).await.unwrap().id);
        if i == 3 {
            // In a batch the viewer will skip: the pin is state, and must still reach them.
            app.live.pin_message(&user(1), room, Some("八点抽奖")).await.unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    }
    let mut got = Vec::new();
    let mut pinned = None;
    until(&mut slow, |e| {
        got.extend(comments_in(std::slice::from_ref(e)).iter().filter(|c| c.role == CommentRole::Creator).map(|c| c.id));
        if let LiveRoomEventDto::PinnedMessage(p) = e {
            pinned = p.as_ref().map(|p| p.text.clone());
        }
        got.len() >= sent.len() && pinned.is_some()
    })
    .await;
    assert_eq!(got, sent, "every creator comment, in order, once");
    assert_eq!(pinned.as_deref(), Some("八点抽奖"));
}
