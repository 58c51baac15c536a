//! Going live end to end: real ffmpeg pushes a lavfi test pattern over RTMP to the server's own
//! ingest; watchers follow the room through `liveRoomEvents`, comment, like and see the counts;
//! the playlist a player fetches lists segments ffprobe can read.

use std::process::Stdio;
use std::time::Duration;

use kanjian_system_tests::TestApp;
use kanjian_system_tests::smtp::unescape_html;
use kanjian_system_tests::ws::Subscription;
use serde_json::json;

const SCHEDULE: &str = "mutation($i: ScheduleLiveInput!) { scheduleLive(input: $i) { liveRoom { id state streamCredentials { serverUrl streamKey } } userErrors { field code message } } }";
const EVENTS: &str = "subscription($id: ID!) { liveRoomEvents(liveRoomId: $id) { __typename ... on LiveRoomChanged { liveRoom { id state title playlistUrl } } } }";

/// ffmpeg publishing a test pattern with a keyframe every second (copy mode) for `seconds`.
pub(crate) fn publisher(url: &str, seconds: u32) -> tokio::process::Child {
    tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p"])
        .args(["-g", "25", "-keyint_min", "25", "-sc_threshold", "0", "-c:a", "aac", "-b:a", "64k"])
        .args(["-t", &seconds.to_string(), "-f", "flv", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start ffmpeg")
}

/// The state each `liveRoomEvents` message reports, until `state` (or the stream ends).
async fn states_until(watcher: &mut Subscription, state: &str) -> Vec<String> {
    let mut seen = Vec::new();
    while let Ok(Some(message)) = tokio::time::timeout(Duration::from_secs(30), watcher.next()).await {
        let payload = message.expect("an event, not an error");
        // Comments and counts are other parts of the test.
        let Some(now) = payload["data"]["liveRoomEvents"]["liveRoom"]["state"].as_str().map(str::to_owned) else { continue };
        seen.push(now.clone());
        if now == state {
            break;
        }
    }
    seen
}

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.http.get(app.url(path)).send().await.unwrap()
}

#[tokio::test]
async fn a_creator_goes_live_from_ffmpeg_and_watchers_see_it_live_then_ended() {
    let app = TestApp::spawn_with(|c| c.modules.live.reconnect_grace_secs = 2).await;
    let (alice, _) = app.creator("alice.live").await;
    let room = app.data(Some(&alice), SCHEDULE, json!({ "i": { "title": "直播：测试图案" } })).await["scheduleLive"].clone();
    assert_eq!(room["userErrors"], json!([]), "{room:#}");
    let id = room["liveRoom"]["id"].as_str().unwrap().to_owned();
    let credentials = &room["liveRoom"]["streamCredentials"];
    let url = format!("{}/{}", credentials["serverUrl"].as_str().unwrap(), credentials["streamKey"].as_str().unwrap());
    assert!(url.starts_with("rtmp://127.0.0.1:"), "{url}");

    // Two watchers, one signed in and one not, on the same room.
    let (bob, _) = app.sign_up("bob.watcher@example.com").await;
    let mut watchers = [
        Subscription::start(&app.base, Some(&bob), EVENTS, json!({ "id": id })).await,
        Subscription::start(&app.base, None, EVENTS, json!({ "id": id })).await,
    ];
    for w in &mut watchers {
        assert_eq!(states_until(w, "SCHEDULED").await, ["SCHEDULED"]);
    }

    let mut ffmpeg = publisher(&url, 6);
    for w in &mut watchers {
        assert_eq!(states_until(w, "LIVE").await, ["LIVE"], "went live through the subscription");
    }

    // The live playlist lists segments a player (ffprobe) can read.
    let playlist = app
        .eventually(Duration::from_secs(20), || async {
            let text = get(&app, &format!("/live/rooms/{}/index.m3u8", number(&id))).await.text().await.unwrap();
            (text.matches("#EXTINF").count() >= 2).then_some(text)
        })
        .await;
    assert!(playlist.contains("#EXT-X-PROGRAM-DATE-TIME:"), "{playlist}");
    assert!(playlist.contains("#EXT-X-MAP:URI=\"init-0.mp4\""), "{playlist}");
    assert!(!playlist.contains("#EXT-X-ENDLIST"), "{playlist}");
    let dir = tempfile::tempdir().unwrap();
    let init = get(&app, &format!("/live/rooms/{}/init-0.mp4", number(&id))).await.bytes().await.unwrap();
    let segment = get(&app, &format!("/live/rooms/{}/seg-0.m4s", number(&id))).await.bytes().await.unwrap();
    let joined = dir.path().join("first.mp4");
    std::fs::write(&joined, [init.as_ref(), segment.as_ref()].concat()).unwrap();
    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0"])
        .arg(&joined)
        .output()
        .unwrap();
    let codecs = String::from_utf8_lossy(&probe.stdout);
    assert!(probe.status.success() && codecs.contains("h264") && codecs.contains("aac"), "{codecs} {}", String::from_utf8_lossy(&probe.stderr));
    check_ll_hls(&app, number(&id), &init).await;
    // Anything else under the room is not found.
    for bad in ["seg-999999.m4s", "part-1.m4s", "part-999999.0.m4s.bak", "..%2F..%2Fetc%2Fpasswd", "index.m3u8.bak", "seg-1.mp4"] {
        assert_eq!(get(&app, &format!("/live/rooms/{}/{bad}", number(&id))).await.status(), 404, "{bad}");
    }

    // ffmpeg finishes; the room waits its 2 s grace for a reconnect, then ends.
    let status = ffmpeg.wait().await.unwrap();
    assert!(status.success(), "ffmpeg failed");
    for w in &mut watchers {
        assert_eq!(states_until(w, "ENDED").await, ["ENDED"]);
        assert!(tokio::time::timeout(Duration::from_secs(5), w.next()).await.unwrap().is_none(), "the stream completes");
    }
    let closed = get(&app, &format!("/live/rooms/{}/index.m3u8", number(&id))).await.text().await.unwrap();
    assert!(closed.ends_with("#EXT-X-ENDLIST\n") && closed.contains("#EXT-X-PLAYLIST-TYPE:VOD"), "{closed}");
    assert!(closed.matches("#EXTINF").count() >= 4, "the whole broadcast stays listed: {closed}");

    // The replay becomes a READY video of the channel, within 60 s of the end.
    let ended_at = std::time::Instant::now();
    let replay = app
        .eventually(Duration::from_secs(60), || async {
            let data = app
                .data(Some(&alice), "query($id: ID!) { node(id: $id) { ... on LiveRoom { replay { id status duration isPublished title } } } }", json!({ "id": id }))
                .await;
            let replay = data["node"]["replay"].clone();
            (replay["status"] == "READY").then_some(replay)
        })
        .await;
    println!("replay READY {:?} after the room ended", ended_at.elapsed());
    assert_eq!((replay["isPublished"].as_bool(), replay["title"].as_str()), (Some(false), Some("直播：测试图案")));
    let duration = replay["duration"].as_f64().unwrap();
    assert!((4.0..=8.0).contains(&duration), "the whole broadcast, about 6 s: {duration} s");
    // Unpublished: others do not see it.
    let seen = app.data(Some(&bob), "query($id: ID!) { node(id: $id) { ... on LiveRoom { replay { id } } } }", json!({ "id": id })).await;
    assert_eq!(seen["node"]["replay"], json!(null), "{seen:#}");
}

/// Two subscribers in a room on air (ffmpeg pushing) receive each other's comment, the likes,
/// the pinned message and the counts over the WebSocket.
#[tokio::test]
async fn two_viewers_receive_each_others_comments_the_likes_and_the_pin() {
    let app = TestApp::spawn().await;
    let (alice, _) = app.creator("alice.live").await;
    let room = app.data(Some(&alice), SCHEDULE, json!({ "i": { "title": "弹幕测试" } })).await["scheduleLive"].clone();
    let id = room["liveRoom"]["id"].as_str().unwrap().to_owned();
    let credentials = &room["liveRoom"]["streamCredentials"];
    let url = format!("{}/{}", credentials["serverUrl"].as_str().unwrap(), credentials["streamKey"].as_str().unwrap());
    let (bob, _) = app.sign_up("bob.watcher@example.com").await;
    let mut watcher = Subscription::start(&app.base, None, EVENTS, json!({ "id": id })).await;
    assert_eq!(states_until(&mut watcher, "SCHEDULED").await, ["SCHEDULED"]);
    // On air for as long as the test needs; endLive ends it.
    let _ffmpeg = publisher(&url, 120);
    assert_eq!(states_until(&mut watcher, "LIVE").await, ["LIVE"]);
    drop(watcher);

    const ROOM: &str = "subscription($id: ID!) { liveRoomEvents(liveRoomId: $id) { __typename \
        ... on LiveCommentsAdded { comments { text authorName authorRole } omitted } \
        ... on LivePinnedMessageChanged { pinnedMessage { text } } \
        ... on LiveCountsChanged { counts { viewersNow viewersPeak viewersTotal likes } } } }";
    // Two subscribers, the creator and Bob, each receive the other's comment.
    let mut alice_inside = Subscription::start(&app.base, Some(&alice), ROOM, json!({ "id": id })).await;
    let mut bob_inside = Subscription::start(&app.base, Some(&bob), ROOM, json!({ "id": id })).await;
    const SEND: &str = "mutation($id: ID!, $t: String!) { sendLiveComment(input: {liveRoomId: $id, text: $t}) { comment { text authorRole } userErrors { code } } }";
    let comment = app.data(Some(&bob), SEND, json!({ "id": id, "t": "主播好" })).await;
    assert_eq!(comment["sendLiveComment"]["comment"]["authorRole"], "VIEWER", "{comment:#}");
    let comment = app.data(Some(&alice), SEND, json!({ "id": id, "t": "欢迎欢迎" })).await;
    assert_eq!(comment["sendLiveComment"]["comment"]["authorRole"], "CREATOR", "{comment:#}");
    let liked = app.data(Some(&bob), "mutation($id: ID!) { likeLive(input: {liveRoomId: $id, count: 7}) { count userErrors { code } } }", json!({ "id": id })).await;
    assert_eq!(liked["likeLive"]["count"], 7, "{liked:#}");
    let pinned = app
        .data(Some(&alice), "mutation($id: ID!) { pinLiveMessage(input: {liveRoomId: $id, text: \"抽奖八点开始\"}) { liveRoom { pinnedMessage { text } } userErrors { code } } }", json!({ "id": id }))
        .await;
    assert_eq!(pinned["pinLiveMessage"]["liveRoom"]["pinnedMessage"]["text"], "抽奖八点开始", "{pinned:#}");
    // Each sees the other's comment, the pin, and the counts (the first watcher, gone, counts
    // once in the total).
    for (inside, other) in [(&mut alice_inside, json!({ "text": "主播好", "authorName": "bob.watcher", "authorRole": "VIEWER" })), (&mut bob_inside, json!({ "text": "欢迎欢迎", "authorName": "alice.live", "authorRole": "CREATOR" }))] {
        let (mut got_comment, mut got_pin, mut got_counts) = (false, false, false);
        while !(got_comment && got_pin && got_counts) {
            let message = tokio::time::timeout(Duration::from_secs(10), inside.next()).await.expect("room events in time").unwrap().unwrap();
            let event = &message["data"]["liveRoomEvents"];
            match event["__typename"].as_str().unwrap() {
                "LiveCommentsAdded" => got_comment |= event["comments"].as_array().unwrap().contains(&other),
                "LivePinnedMessageChanged" => got_pin = event["pinnedMessage"]["text"] == "抽奖八点开始",
                "LiveCountsChanged" => {
                    let counts = &event["counts"];
                    got_counts = counts["likes"] == 7 && counts["viewersNow"] == 2 && counts["viewersTotal"] == 3;
                }
                _ => {}
            }
        }
    }
    drop((alice_inside, bob_inside));

    let ended = app.data(Some(&alice), "mutation($id: ID!) { endLive(input: {liveRoomId: $id}) { liveRoom { state } } }", json!({ "id": id })).await;
    assert_eq!(ended["endLive"]["liveRoom"]["state"], "ENDED");
}

#[tokio::test]
async fn a_wrong_key_is_refused_before_any_media_a_stalled_publisher_gets_players_a_503_and_the_creator_can_end_a_live() {
    let app = TestApp::spawn().await;
    let (alice, _) = app.creator("alice.keys").await;
    let room = app.data(Some(&alice), SCHEDULE, json!({ "i": { "title": "Keys" } })).await["scheduleLive"].clone();
    let id = room["liveRoom"]["id"].as_str().unwrap().to_owned();
    let server = room["liveRoom"]["streamCredentials"]["serverUrl"].as_str().unwrap().to_owned();
    let key = room["liveRoom"]["streamCredentials"]["streamKey"].as_str().unwrap().to_owned();

    // A rotated key stops working at once: ffmpeg is told why and gives up.
    let rotated = app
        .data(Some(&alice), "mutation($id: ID!) { rotateStreamKey(input: {liveRoomId: $id}) { streamCredentials { streamKey } userErrors { code } } }", json!({ "id": id }))
        .await;
    let new_key = rotated["rotateStreamKey"]["streamCredentials"]["streamKey"].as_str().unwrap().to_owned();
    assert_ne!(new_key, key);
    let refused = publisher(&format!("{server}/{key}"), 3).wait_with_output().await.unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("invalid stream key"), "{stderr}");
    assert_eq!(state(&app, &alice, &id).await, "SCHEDULED", "no media went anywhere");

    // The new key goes live; a second publisher on it is refused while the first is on air.
    let mut first = publisher(&format!("{server}/{new_key}"), 30);
    app.eventually(Duration::from_secs(20), || async { (state(&app, &alice, &id).await == "LIVE").then_some(()) }).await;
    let second = publisher(&format!("{server}/{new_key}"), 3).wait_with_output().await.unwrap();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("already live"), "{}", String::from_utf8_lossy(&second.stderr));

    // The publisher drops. The room stays LIVE for its reconnect grace, and a blocking reload
    // for the part the playlist hints at, which never comes, is a 503 after three target
    // durations (RFC 8216bis), not the unchanged playlist that players reject.
    let path = format!("/live/rooms/{}/index.m3u8", number(&id));
    app.eventually(Duration::from_secs(20), || async { get(&app, &path).await.text().await.unwrap().contains("#EXT-X-PRELOAD-HINT").then_some(()) })
        .await;
    first.kill().await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (msn, index) = preload_hint(&get(&app, &path).await.text().await.unwrap());
    let started = std::time::Instant::now();
    let held = get(&app, &format!("{path}?_HLS_msn={msn}&_HLS_part={index}")).await;
    let waited = started.elapsed();
    assert_eq!(held.status(), 503, "{:?}", held.text().await);
    assert_eq!(held.headers()["retry-after"], "1");
    assert!(waited >= Duration::from_millis(2500), "answered after {waited:?}, before three target durations");
    assert_eq!(state(&app, &alice, &id).await, "LIVE", "within the reconnect grace");

    // A stranger cannot end it; its creator can, at once.
    let (sam, _) = app.sign_up("sam.stranger@example.com").await;
    let end = "mutation($id: ID!) { endLive(input: {liveRoomId: $id}) { liveRoom { state } userErrors { code } } }";
    let denied = app.graphql(Some(&sam), end, json!({ "id": id })).await;
    assert_eq!(denied["errors"][0]["extensions"]["code"], "FORBIDDEN", "{denied:#}");
    let ended = app.data(Some(&alice), end, json!({ "id": id })).await;
    assert_eq!(ended["endLive"]["liveRoom"]["state"], "ENDED", "{ended:#}");
}

/// The LIVE playlist is LL-HLS: its tags are there and consistent (parts within the target,
/// adding up to their segment, a preload hint naming the next part), its parts play, and a
/// blocking reload for the hinted part answers as soon as the part is listed, well within a
/// segment; one more than two segments ahead is a 400.
async fn check_ll_hls(app: &TestApp, room: i64, init: &[u8]) {
    let path = format!("/live/rooms/{room}/index.m3u8");
    let response = get(app, &path).await;
    assert_eq!(response.headers()["cache-control"], "no-cache");
    let playlist = response.text().await.unwrap();
    for tag in ["#EXT-X-VERSION:9\n", "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.002\n", "#EXT-X-PART-INF:PART-TARGET=0.334\n"] {
        assert!(playlist.contains(tag), "{tag} missing: {playlist}");
    }
    let attr = |line: &str, name: &str| line.split(',').find_map(|kv| kv.split_once('=').filter(|(k, _)| k.ends_with(name)).map(|(_, v)| v.trim_matches('"').to_owned()));
    // Parts listed since the last EXTINF, checked against it.
    let mut parts: Vec<(f64, String)> = Vec::new();
    let mut checked_segments = 0;
    for line in playlist.lines() {
        if let Some(part) = line.strip_prefix("#EXT-X-PART:") {
            let duration: f64 = attr(part, "DURATION").unwrap().parse().unwrap();
            assert!(duration > 0.0 && duration <= 0.334, "{line}");
            assert_eq!(part.contains("INDEPENDENT=YES"), parts.is_empty(), "only a segment's first part is independent: {playlist}");
            parts.push((duration, attr(part, "URI").unwrap()));
        } else if let Some(inf) = line.strip_prefix("#EXTINF:") {
            let duration: f64 = inf.trim_end_matches(',').parse().unwrap();
            if !parts.is_empty() {
                let sum: f64 = parts.iter().map(|p| p.0).sum();
                assert!((sum - duration).abs() < 0.002, "parts of {sum} s in a {duration} s segment: {playlist}");
                checked_segments += 1;
            }
            parts.clear();
        }
    }
    assert!(checked_segments >= 1, "no segment listed with its parts: {playlist}");
    // `parts` holds the segment in progress; the hint names the part after them.
    let (msn, index) = preload_hint(&playlist);
    let hint = format!("part-{msn}.{index}.m4s");
    if let Some((_, last)) = parts.last() {
        assert_eq!(last, &format!("part-{msn}.{}.m4s", index - 1), "{playlist}");
    }
    // A listed part plays after the init segment.
    let some_part = playlist.lines().filter_map(|l| l.strip_prefix("#EXT-X-PART:")).next_back().and_then(|p| attr(p, "URI")).unwrap();
    let bytes = get(app, &format!("/live/rooms/{room}/{some_part}")).await.bytes().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("part.mp4");
    std::fs::write(&file, [init, bytes.as_ref()].concat()).unwrap();
    let probe = std::process::Command::new("ffprobe").args(["-v", "error", "-show_entries", "packet=pts_time", "-of", "csv=p=0"]).arg(&file).output().unwrap();
    assert!(probe.status.success() && !probe.stdout.is_empty(), "{}", String::from_utf8_lossy(&probe.stderr));

    // Blocking reload for the hinted part: held until it is listed, well within a segment.
    let started = std::time::Instant::now();
    let held = get(app, &format!("{path}?_HLS_msn={msn}&_HLS_part={index}")).await;
    let waited = started.elapsed();
    assert_eq!(held.status(), 200);
    let held = held.text().await.unwrap();
    // The hinted part is listed, or (when the segment ended before it) the next segment's
    // first.
    let listed: Vec<String> = held.lines().filter_map(|l| l.strip_prefix("#EXT-X-PART:")).filter_map(|p| attr(p, "URI")).collect();
    assert!(listed.contains(&hint) || listed.contains(&format!("part-{}.0.m4s", msn + 1)), "{hint} not listed: {held}");
    assert!(waited < Duration::from_millis(800), "a blocking reload took {waited:?}");
    println!("blocking reload for {hint} answered after {waited:?}");
    // The next hinted part, asked for before it exists, is held until it is stored (or a 404
    // at once when its segment ended before it).
    let hint = held.lines().find_map(|l| l.strip_prefix("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=")).unwrap().trim_matches('"').to_owned();
    let started = std::time::Instant::now();
    let part = get(app, &format!("/live/rooms/{room}/{hint}")).await;
    let waited = started.elapsed();
    match part.status().as_u16() {
        200 => assert!(!part.bytes().await.unwrap().is_empty()),
        404 => {}
        other => panic!("the hinted part {hint}: {other}"),
    }
    assert!(waited < Duration::from_millis(800), "the hinted part took {waited:?}");
    // Too far ahead: more than two segments past the last one.
    let far = get(app, &format!("{path}?_HLS_msn={}", msn + 3)).await;
    assert_eq!(far.status(), 400);
}

/// The part a playlist's `EXT-X-PRELOAD-HINT` names: (media sequence, part index).
fn preload_hint(playlist: &str) -> (u64, u32) {
    let hint = playlist.lines().find_map(|l| l.strip_prefix("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=")).expect("a preload hint");
    let (msn, index) = hint.trim_matches('"').trim_start_matches("part-").trim_end_matches(".m4s").split_once('.').unwrap();
    (msn.parse().unwrap(), index.parse().unwrap())
}

async fn state(app: &TestApp, token: &str, id: &str) -> String {
    let data = app.data(Some(token), "query($id: ID!) { node(id: $id) { ... on LiveRoom { state } } }", json!({ "id": id })).await;
    data["node"]["state"].as_str().unwrap_or_default().to_owned()
}

/// The number in a global id (`base64url("LiveRoom:7")` → 7): players fetch by number.
fn number(id: &str) -> i64 {
    crate::authz_matrix::world::number(id)
}

#[tokio::test]
async fn going_live_near_the_planned_start_mails_and_notifies_those_who_reserved() {
    let test = "going_live_near_the_planned_start_mails_and_notifies_those_who_reserved";
    let Some((app, smtp, _dir)) = crate::mail::app_with_smtp(test).await else { return };
    let (alice, _) = app.creator("alice.reminders").await;
    // Bob proves his address (the verification mail's link); Carol does not.
    let (bob, _) = app.sign_up("bob.reserver@example.com").await;
    let (carol, _) = app.sign_up("carol.unverified@example.com").await;
    let mails = smtp.wait_for(3).await;
    let bob_mail = mails.iter().find(|m| m.to == "bob.reserver@example.com").unwrap();
    let token = crate::mail::link_token(&app, bob_mail, "/verify-email");
    app.data(None, "mutation($t: String!) { verifyEmail(input: {token: $t}) { userErrors { code } } }", json!({ "t": token })).await;

    let planned = (chrono::Utc::now() + chrono::Duration::minutes(30)).to_rfc3339();
    let room = app.data(Some(&alice), SCHEDULE, json!({ "i": { "title": "今晚 <b>八点</b> 见", "plannedStartAt": planned } })).await["scheduleLive"].clone();
    let id = room["liveRoom"]["id"].as_str().unwrap().to_owned();
    let reserve = "mutation($id: ID!) { reserveLive(input: {liveRoomId: $id}) { liveRoom { reservationCount viewerHasReserved } userErrors { code } } }";
    for token in [&bob, &carol] {
        let reserved = app.data(Some(token), reserve, json!({ "id": id })).await;
        assert_eq!(reserved["reserveLive"]["liveRoom"]["viewerHasReserved"], true, "{reserved:#}");
    }

    // Half an hour early is within the hour: going live reminds both.
    let credentials = &room["liveRoom"]["streamCredentials"];
    let url = format!("{}/{}", credentials["serverUrl"].as_str().unwrap(), credentials["streamKey"].as_str().unwrap());
    let _ffmpeg = publisher(&url, 20);
    let mails = smtp.wait_for(4).await;
    let reminder = mails.iter().find(|m| m.to == "bob.reserver@example.com" && m.subject.contains("开播")).expect("a reminder to bob");
    assert!(reminder.subject.contains("Creator alice.reminders") && reminder.subject.contains("今晚 <b>八点</b> 见"), "{}", reminder.subject);
    let html = reminder.html.as_deref().unwrap();
    assert!(!html.contains("<b>八点") && unescape_html(html).contains("今晚 <b>八点</b> 见"), "the title is escaped in HTML: {html}");
    assert!(reminder.list_unsubscribe.is_some(), "a reminder can be unsubscribed from");
    let link = format!("{}/live/rooms/{}", app.base, crate::authz_matrix::world::number(&id));
    assert!(reminder.text.as_deref().unwrap().contains(&link), "{:?}", reminder.text);
    // The link opens the room's page, live.
    let page = app.http.get(&link).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("直播中") && page.contains("今晚 &lt;b&gt;八点&lt;/b&gt; 见") && page.contains("index.m3u8"), "{page}");

    // Both are told in-app; Carol's address, unproven, gets no mail.
    for token in [&bob, &carol] {
        let notes = app
            .eventually(Duration::from_secs(20), || async {
                let data = app.data(Some(token), "{ notifications(first: 5) { nodes { kind payload } } }", json!({})).await;
                let nodes = data["notifications"]["nodes"].as_array().cloned().unwrap_or_default();
                (!nodes.is_empty()).then_some(nodes)
            })
            .await;
        assert_eq!(notes[0]["kind"], "live.reminder");
        assert_eq!(notes[0]["payload"]["liveRoomId"], id.as_str());
    }
    assert!(!smtp.messages().iter().any(|m| m.to == "carol.unverified@example.com" && m.subject.contains("开播")));
    assert_eq!(smtp.messages().iter().filter(|m| m.subject.contains("开播")).count(), 1, "one reminder, once");
}
