//! Live rooms in the feeds, against a real database with the fakes of `support`: the live-now
//! rooms of followed channels (top of Following), and rooms for Recommended ranked by how many
//! friends are watching, with who.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kanjian_contracts::live::*;
use kanjian_kernel::ids::{LiveRoomId, UserId};
use kanjian_kernel::{Actor, Error};

mod support;

use support::*;

async fn on_air(app: &TestApp, owner: i64) -> LiveRoomId {
    let room = app
        .live
        .schedule_live(&user(owner), ScheduleLiveInput { title: format!("{owner}号直播"), ..Default::default() })
        .await
        .unwrap();
    app.live.go_on_air(room.id, &format!("s{owner}"), false).await.unwrap().unwrap();
    room.id
}

#[tokio::test]
async fn following_shows_the_rooms_on_air_of_followed_channels_but_not_hidden_ones() {
    let app = app().await;
    let (one, _two, _three) = (on_air(&app, 1).await, on_air(&app, 2).await, on_air(&app, 3).await);
    let announced = app
        .live
        .schedule_live(&user(4), ScheduleLiveInput { title: "明天".into(), ..Default::default() })
        .await
        .unwrap();
    app.fakes.follows.lock().unwrap().extend([(5, 1), (5, 3), (5, 4)]);
    // The creator of channel 3 blocked viewer 5: their room is not shown.
    app.fakes.blocks.lock().unwrap().insert((3, 5));
    let rooms = app.live.live_now_followed(&user(5), 10).await.unwrap();
    assert_eq!(rooms.iter().map(|r| r.id).collect::<Vec<_>>(), [one], "not 2 (not followed), 3 (hidden), nor {:?} (not live)", announced.id);
    assert!(app.live.live_now_followed(&user(6), 10).await.unwrap().is_empty());
    assert!(matches!(app.live.live_now_followed(&Actor::Anonymous, 10).await.unwrap_err(), Error::Unauthenticated));
}

#[tokio::test]
async fn recommended_puts_rooms_more_friends_watch_first_and_names_them_closest_first() {
    let app = app().await;
    let (one, two, three) = (on_air(&app, 1).await, on_air(&app, 2).await, on_air(&app, 3).await);
    // Viewer 5's friends, closest first: 6, 7, 8.
    app.fakes.friends.lock().unwrap().extend([(5, 6), (5, 7), (5, 8)]);
    let _watching = [
        app.live.watch_room(&user(7), two).await.unwrap(),
        app.live.watch_room(&user(6), two).await.unwrap(),
        app.live.watch_room(&user(8), one).await.unwrap(),
        // A stranger in room 3: no friend of 5.
        app.live.watch_room(&user(12), three).await.unwrap(),
    ];
    let ranked = app.live.recommended_lives(&user(5), 3).await.unwrap();
    let summary: Vec<(LiveRoomId, Vec<UserId>, i64)> =
        ranked.iter().map(|r| (r.room.id, r.friends_watching.clone(), r.friends_watching_total)).collect();
    assert_eq!(summary, [(two, vec![UserId(6), UserId(7)], 2), (one, vec![UserId(8)], 1), (three, vec![], 0)]);
    assert_eq!(app.live.recommended_lives(&user(5), 1).await.unwrap().len(), 1);
    // Never the viewer's own room; signed out, no friends to count.
    assert!(app.live.recommended_lives(&user(2), 5).await.unwrap().iter().all(|r| r.room.id != two));
    let anonymous = app.live.recommended_lives(&Actor::Anonymous, 5).await.unwrap();
    assert_eq!(anonymous.len(), 3);
    assert!(anonymous.iter().all(|r| r.friends_watching_total == 0));
    // A friend whose node stopped marking them (gone for over 90 s) no longer counts.
    app.clock.advance(std::time::Duration::from_secs(120));
    let later = app.live.recommended_lives(&user(5), 3).await.unwrap();
    assert!(later.iter().all(|r| r.friends_watching_total == 0), "{later:?}");
}
