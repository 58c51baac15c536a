//! The objects the matrix probes, made once through the API: one owner (Alice) with videos in
//! every state, comments on them, friend requests, an organization with members and
//! notifications; the people who probe them; and who may see what today.

use std::time::Duration;

use base64::Engine as _;
use kanjian_contracts::notify::NotificationRequested;
use kanjian_events::Outbox;
use kanjian_kernel::ids::UserId;
use kanjian_system_tests::TestApp;
use kanjian_system_tests::fixtures::fixtures;
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::{Value, json};

use super::cases::Kind;
use crate::journey::follow_processing;

/// Who calls. `Blocked` is someone the owner blocked, `Blocker` someone who blocked the owner:
/// the two must not be able to tell which way a block goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Owner,
    Stranger,
    Blocked,
    Blocker,
    Anonymous,
}

pub const ROLES: [Role; 5] = [Role::Owner, Role::Stranger, Role::Blocked, Role::Blocker, Role::Anonymous];
pub const OTHERS: [Role; 4] = [Role::Stranger, Role::Blocked, Role::Blocker, Role::Anonymous];
const EVERYONE: &[Role] = &[Role::Stranger, Role::Blocked, Role::Blocker, Role::Anonymous];
const OUTSIDE_THE_BLOCK: &[Role] = &[Role::Stranger, Role::Anonymous];
const NO_ONE: &[Role] = &[];

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Stranger => "stranger",
            Role::Blocked => "blocked by the owner",
            Role::Blocker => "blocker of the owner",
            Role::Anonymous => "anonymous",
        }
    }

    pub fn in_a_block(self) -> bool {
        matches!(self, Role::Blocked | Role::Blocker)
    }
}

/// One object in one state.
#[derive(Debug, Clone)]
pub struct Target {
    pub kind: Kind,
    pub state: &'static str,
    pub id: String,
    /// For a comment: its video. For an organization member: the organization.
    pub parent: Option<String>,
    /// A comment's body or a channel's bio: what a builder sends back unchanged.
    pub text: String,
    /// Besides the owner, who may see it today (the deleted: no one, not even the owner).
    pub seen_by: &'static [Role],
    pub deleted: bool,
}

impl Target {
    pub fn visible_to(&self, role: Role) -> bool {
        !self.deleted && (role == Role::Owner || self.seen_by.contains(&role))
    }

    pub fn label(&self) -> String {
        format!("{:?} ({})", self.kind, self.state)
    }
}

/// Text only some may read: it must appear in no response to anyone else.
#[derive(Debug, Clone)]
pub struct Secret {
    pub text: String,
    pub what: &'static str,
    pub seen_by: &'static [Role],
    /// Some response to the owner shows it: the check is not looking for text that is never
    /// shown anyway. (Not for what is gone: deleted things, a cancelled request, a former
    /// member.)
    pub owner_reads: bool,
}

/// The owner's address, as `updateAddress` sends it back unchanged.
pub const OWNER_RECIPIENT: &str = "Alice Matrix";
pub const OWNER_PHONE: &str = "13800138000";
pub const OWNER_REGION: [&str; 3] = ["浙江省", "杭州市", "西湖区"];
pub const OWNER_STREET: &str = "SECRET owner street 1";

pub struct World {
    tokens: Vec<(Role, String)>,
    /// Each caller's own shipping address (`buyNow` takes the caller's).
    addresses: Vec<(Role, String)>,
    /// Each caller's own channel (the owner's and the stranger's; the others have none).
    channels: Vec<(Role, String)>,
    /// A video of each caller's own (the owner's published one, the stranger's upload).
    videos: Vec<(Role, String)>,
    /// What every signed-in caller's cart holds, one unit of each: Ivy's tea and the owner's
    /// listed product (`restore` puts it back so).
    cart: Vec<String>,
    /// A listed SKU of another merchant's shop: what probes buy when the target is not a SKU.
    pub foreign_sku: String,
    /// The owner's listed product, on the owner's channel's showcase (its SKU: `showcase_sku`).
    pub listed_product: String,
    /// A listed SKU of the owner's, on the owner's showcase: what probes buy through a showcase
    /// (a sale is credited to a channel only for a product it carries).
    pub showcase_sku: String,
    pub owner_id: String,
    pub owner_handle: String,
    pub channel_id: String,
    pub organization_id: String,
    /// Every video of the owner, deleted ones too: the fingerprint reads them all.
    pub owner_videos: Vec<String>,
    /// Every live room of the owner.
    pub owner_rooms: Vec<String>,
    /// A published video: where replies and comments are sent when the target is elsewhere.
    pub published_video: String,
    /// An existing account's email, for `addOrganizationMember`.
    pub joiner_email: String,
    /// A member the owner may remove when the probed id is the organization's (the member
    /// targets are probed through `userId`).
    pub other_member: String,
    pub targets: Vec<Target>,
    pub secrets: Vec<Secret>,
}

impl World {
    pub fn token(&self, role: Role) -> Option<&str> {
        self.tokens.iter().find(|(r, _)| *r == role).map(|(_, t)| t.as_str())
    }

    /// The caller's own address (for no one signed in, the owner's: refused anyway).
    pub fn address_of(&self, role: Role) -> &str {
        let of = |role| self.addresses.iter().find(|(r, _)| *r == role).map(|(_, a)| a.as_str());
        of(role).or_else(|| of(Role::Owner)).unwrap_or_default()
    }

    /// The caller's own channel; for those without one, the owner's (refused anyway).
    pub fn channel_of(&self, role: Role) -> &str {
        let of = |role| self.channels.iter().find(|(r, _)| *r == role).map(|(_, c)| c.as_str());
        of(role).or_else(|| of(Role::Owner)).unwrap_or_default()
    }

    /// A video of the caller's own; for those without one, the owner's published video
    /// (refused anyway).
    pub fn video_of(&self, role: Role) -> &str {
        let of = |role| self.videos.iter().find(|(r, _)| *r == role).map(|(_, v)| v.as_str());
        of(role).or_else(|| of(Role::Owner)).unwrap_or_default()
    }

    /// A well-formed id of `kind` that names nothing.
    pub fn missing_id(kind: Kind) -> String {
        global_id(kind.id_kind(), 987_654_321)
    }
}

pub fn global_id(kind: &str, n: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}:{n}"))
}

/// The number in a global id (`base64url("User:7")` → 7).
pub fn number(global_id: &str) -> i64 {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(global_id).unwrap();
    String::from_utf8(raw).unwrap().rsplit(':').next().unwrap().parse().unwrap()
}

const SEND_REQUEST: &str = "mutation($u: ID!, $m: String) { sendFriendRequest(input: {userId: $u, message: $m}) { friendRequest { id } userErrors { code } } }";
const ADD_COMMENT: &str = "mutation($v: ID!, $b: String!, $r: ID) { addComment(input: {videoId: $v, body: $b, replyTo: $r}) { comment { id } userErrors { code } } }";

async fn ok(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    let data = app.data(Some(token), query, variables).await;
    let payload = data.as_object().and_then(|o| o.values().next()).cloned().unwrap_or_default();
    assert!(
        payload.get("userErrors").is_none_or(|e| e == &json!([])),
        "setting up the matrix failed: {query}: {data:#}"
    );
    payload
}

/// A video uploaded the resumable way (tus: create, then one PATCH with the whole file);
/// processing starts when the last byte arrives.
async fn upload_tus(app: &TestApp, token: &str, title: &str) -> String {
    let bytes = std::fs::read(&fixtures().small_clip).unwrap();
    let created = ok(
        app,
        token,
        "mutation($t: String!, $n: Int!) { createVideoUpload(input: {title: $t, sizeBytes: $n, filename: \"clip.mp4\"}) { video { id } uploadUrl userErrors { code } } }",
        json!({ "t": title, "n": bytes.len() }),
    )
    .await;
    let url = created["uploadUrl"].as_str().unwrap().to_owned();
    let patched = app
        .http
        .patch(&url)
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", "0")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 204, "tus PATCH");
    created["video"]["id"].as_str().unwrap().to_owned()
}

/// Waits for READY.
async fn processed(app: &TestApp, token: &str, id: &str) {
    let updates = follow_processing(app, token, id).await;
    assert_eq!(updates.last().unwrap()["data"]["videoProcessing"]["status"], "READY", "{updates:#?}");
}

/// Asks notify for a notification as another module would: through the outbox.
async fn notify(app: &TestApp, user: &str, key: &str, payload: Value) {
    let db = app.database().await;
    let txn = db.begin().await.unwrap();
    let request = NotificationRequested {
        user_id: UserId(number(user)),
        kind: "social.matrix".into(),
        payload,
        dedupe_key: key.into(),
    };
    Outbox::new().enqueue(&txn, &request).await.unwrap();
    txn.commit().await.unwrap();
}

impl World {
    pub async fn build(app: &TestApp) -> World {
        // The people. Helpers' emails (and so their default display names) are secrets too:
        // identity shows an email to its owner only, and members lists to members only.
        let owner_handle = "alice.matrix".to_owned();
        let (alice, channel_id) = app.creator(&owner_handle).await;
        let owner_id = app.data(Some(&alice), "{ viewer { id } }", json!({})).await["viewer"]["id"].as_str().unwrap().to_owned();
        // The stranger has a channel (and a video of their own): showcases and video cards
        // belong to channels, so their probes get past "open a channel first" to the object.
        let (sam, sam_channel) = app.creator("sam.stranger").await;
        let (bob, bob_id) = app.sign_up("bob.blocked@example.com").await;
        let (carl, _) = app.sign_up("carl.blocker@example.com").await;
        let (_fred, fred_id) = app.sign_up("fred.secret-friend@example.com").await;
        let (gina, _) = app.sign_up("gina.secret-asker@example.com").await;
        let (_hank, hank_id) = app.sign_up("hank.secret-cancelled@example.com").await;
        let (_dave, dave_id) = app.sign_up("dave.secret-agent@example.com").await;
        let (_erin, erin_id) = app.sign_up("erin.secret-agent@example.com").await;
        let (_ed, ed_id) = app.sign_up("ed.secret-former-agent@example.com").await;
        app.sign_up("jo.secret-joiner@example.com").await;

        // Videos, processed side by side: one published, one published then unpublished, a
        // draft (ready, never published), one to delete, and one still waiting for its bytes.
        let published = upload_tus(app, &alice, "Matrix public video").await;
        let unpublished = upload_tus(app, &alice, "SECRET unpublished title").await;
        let draft = upload_tus(app, &alice, "SECRET draft title").await;
        let doomed = upload_tus(app, &alice, "SECRET deleted title").await;
        tokio::join!(
            processed(app, &alice, &published),
            processed(app, &alice, &unpublished),
            processed(app, &alice, &draft),
            processed(app, &alice, &doomed),
        );
        let uploading = ok(
            app,
            &alice,
            "mutation { createVideoUpload(input: {title: \"SECRET uploading title\", sizeBytes: 1000}) { video { id } userErrors { code } } }",
            json!({}),
        )
        .await["video"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let sam_video = ok(
            app,
            &sam,
            "mutation { createVideoUpload(input: {title: \"Matrix stranger's upload\", sizeBytes: 1000}) { video { id } userErrors { code } } }",
            json!({}),
        )
        .await["video"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        for id in [&published, &unpublished, &doomed] {
            ok(app, &alice, "mutation($id: ID!) { publishVideo(input: {videoId: $id}) { userErrors { code } } }", json!({ "id": id })).await;
        }

        // Comments: on the published video (a comment, a reply, one deleted), on the one to be
        // unpublished and on the one to be deleted.
        let comment = |video: &str, body: &str, reply_to: Option<&str>| {
            let (video, body, reply_to) = (video.to_owned(), body.to_owned(), reply_to.map(str::to_owned));
            let alice = alice.clone();
            async move {
                ok(app, &alice, ADD_COMMENT, json!({ "v": video, "b": body, "r": reply_to })).await["comment"]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
        };
        let public_comment = comment(&published, "Matrix comment of the owner", None).await;
        let public_reply = comment(&published, "Matrix reply of the owner", Some(&public_comment)).await;
        let deleted_comment = comment(&published, "SECRET deleted comment", None).await;
        let unpublished_comment = comment(&unpublished, "SECRET comment on an unpublished video", None).await;
        let doomed_comment = comment(&doomed, "SECRET comment on a deleted video", None).await;
        ok(app, &alice, "mutation($c: ID!) { deleteComment(input: {commentId: $c}) { userErrors { code } } }", json!({ "c": deleted_comment })).await;
        ok(app, &alice, "mutation($id: ID!) { unpublishVideo(input: {videoId: $id}) { userErrors { code } } }", json!({ "id": unpublished })).await;
        ok(app, &alice, "mutation($id: ID!) { deleteVideo(input: {videoId: $id}) { userErrors { code } } }", json!({ "id": doomed })).await;

        // Friend requests: one Alice sent, one sent to her, one she cancelled.
        let request = |from: &str, to: &str, message: &str| {
            let (from, to, message) = (from.to_owned(), to.to_owned(), message.to_owned());
            async move {
                ok(app, &from, SEND_REQUEST, json!({ "u": to, "m": message })).await["friendRequest"]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
        };
        let outgoing = request(&alice, &fred_id, "SECRET note to fred").await;
        let incoming = request(&gina, &owner_id, "SECRET note from gina").await;
        let cancelled = request(&alice, &hank_id, "SECRET cancelled note").await;
        ok(app, &alice, "mutation($r: ID!) { cancelFriendRequest(input: {requestId: $r}) { userErrors { code } } }", json!({ "r": cancelled })).await;

        // An organization with two agents, and one who was removed.
        let organization_id = ok(app, &alice, "mutation { createOrganization(input: {name: \"Matrix Trading\"}) { organization { id } userErrors { code } } }", json!({}))
            .await["organization"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        for email in ["dave.secret-agent@example.com", "erin.secret-agent@example.com", "ed.secret-former-agent@example.com"] {
            ok(
                app,
                &alice,
                "mutation($o: ID!, $e: String!) { addOrganizationMember(input: {organizationId: $o, email: $e, role: AGENT}) { membership { role } userErrors { code } } }",
                json!({ "o": organization_id, "e": email }),
            )
            .await;
        }
        ok(
            app,
            &alice,
            "mutation($o: ID!, $u: ID!) { removeOrganizationMember(input: {organizationId: $o, userId: $u}) { removedUserId userErrors { code } } }",
            json!({ "o": organization_id, "u": ed_id }),
        )
        .await;

        // Two notifications of Alice's: one she read.
        notify(app, &owner_id, "matrix:1", json!({ "note": "SECRET notification one" })).await;
        notify(app, &owner_id, "matrix:2", json!({ "note": "SECRET notification two" })).await;
        let listed = app
            .eventually(Duration::from_secs(20), || {
                let alice = alice.clone();
                async move {
                    let data = app.data(Some(&alice), "{ notifications(first: 10) { nodes { id payload } } }", json!({})).await;
                    let nodes = data["notifications"]["nodes"].as_array().cloned().unwrap_or_default();
                    (nodes.len() == 2).then_some(nodes)
                }
            })
            .await;
        let note = |text: &str| listed.iter().find(|n| n["payload"]["note"] == text).unwrap()["id"].as_str().unwrap().to_owned();
        let (unread, read) = (note("SECRET notification one"), note("SECRET notification two"));
        ok(app, &alice, "mutation($ids: [ID!]) { markNotificationsRead(input: {ids: $ids}) { markedCount userErrors { code } } }", json!({ "ids": [read] })).await;

        // Live rooms: one announced (its stream key a secret), one opened to go live at once (and
        // put on air below), one cancelled.
        const SCHEDULE: &str = "mutation($i: ScheduleLiveInput!) { scheduleLive(input: $i) { liveRoom { id streamCredentials { streamKey } } userErrors { code } } }";
        let planned = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
        let announced = ok(app, &alice, SCHEDULE, json!({ "i": { "title": "Matrix live tonight", "plannedStartAt": planned } })).await;
        let instant = ok(app, &alice, SCHEDULE, json!({ "i": { "title": "Matrix live now" } })).await;
        let called_off = ok(app, &alice, SCHEDULE, json!({ "i": { "title": "Matrix live called off", "plannedStartAt": planned } })).await;
        let room = |p: &Value| p["liveRoom"]["id"].as_str().unwrap().to_owned();
        let (announced_room, instant_room, cancelled_room) = (room(&announced), room(&instant), room(&called_off));
        ok(app, &alice, "mutation($id: ID!) { cancelLive(input: {liveRoomId: $id}) { userErrors { code } } }", json!({ "id": cancelled_room })).await;
        // The room opened to go live is put on air in the database (a publisher would do it;
        // the ingest tests cover that), so it has comments to probe.
        let db = app.database().await;
        db.execute_raw(sea_orm::Statement::from_sql_and_values(
            db.get_database_backend(),
            "UPDATE live_rooms SET state = 'LIVE', started_at = $1, version = version + 1 WHERE id = $2",
            [chrono::Utc::now().into(), number(&instant_room).into()],
        ))
        .await
        .unwrap();
        const COMMENT_LIVE: &str = "mutation($r: ID!, $t: String!) { sendLiveComment(input: {liveRoomId: $r, text: $t}) { comment { id } userErrors { code } } }";
        let live_comment = ok(app, &alice, COMMENT_LIVE, json!({ "r": instant_room, "t": "Matrix live comment of the owner" })).await["comment"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let stream_key = announced["liveRoom"]["streamCredentials"]["streamKey"].as_str().unwrap().to_owned();
        let instant_key = instant["liveRoom"]["streamCredentials"]["streamKey"].as_str().unwrap().to_owned();

        // Commerce: the owner's organization opens a shop with a listed product (one of its SKUs
        // removed from sale), an unlisted one and a deleted one; the owner keeps an address (and
        // had another); another merchant (Ivy) sells a tea the owner bought twice (one order
        // cancelled); a customer (Gina) bought from the owner's shop. Unpaid orders stay unpaid:
        // the matrix's server has a day-long payment window. The owner's channel carries the
        // listed product (its showcase); everyone's cart holds one of Ivy's tea and one of the
        // listed product.
        let commerce = Commerce::build(app, &alice, &organization_id, &[(Role::Stranger, &sam), (Role::Blocked, &bob), (Role::Blocker, &carl)], &gina).await;

        // The blocks, last: a block ends friendships, requests and follows between the two.
        ok(app, &alice, "mutation($u: ID!) { blockUser(input: {userId: $u}) { userErrors { code } } }", json!({ "u": bob_id })).await;
        ok(app, &carl, "mutation($u: ID!) { blockUser(input: {userId: $u}) { userErrors { code } } }", json!({ "u": owner_id })).await;

        let bio = app.data(Some(&alice), "query($h: String!) { channel(handle: $h) { bio } }", json!({ "h": owner_handle })).await["channel"]["bio"]
            .as_str()
            .unwrap()
            .to_owned();
        let target = |kind, state, id: &str, seen_by, deleted| Target {
            kind,
            state,
            id: id.to_owned(),
            parent: None,
            text: String::new(),
            seen_by,
            deleted,
        };
        let with = |t: Target, parent: &str, text: &str| Target { parent: Some(parent.to_owned()), text: text.to_owned(), ..t };
        // Who may see what, today. Videos, channels and users are not hidden across a block
        // (media and identity do not know blocks): the report lists what that lets through.
        let targets = vec![
            target(Kind::Video, "published", &published, EVERYONE, false),
            target(Kind::Video, "unpublished", &unpublished, NO_ONE, false),
            target(Kind::Video, "draft", &draft, NO_ONE, false),
            target(Kind::Video, "uploading", &uploading, NO_ONE, false),
            target(Kind::Video, "deleted", &doomed, NO_ONE, true),
            // The reply before the comment it answers: deleting that comment deletes the reply.
            with(target(Kind::Comment, "a reply", &public_reply, OUTSIDE_THE_BLOCK, false), &published, "Matrix reply of the owner"),
            with(target(Kind::Comment, "on a published video", &public_comment, OUTSIDE_THE_BLOCK, false), &published, "Matrix comment of the owner"),
            with(target(Kind::Comment, "on an unpublished video", &unpublished_comment, NO_ONE, false), &unpublished, "SECRET comment on an unpublished video"),
            with(target(Kind::Comment, "on a deleted video", &doomed_comment, NO_ONE, true), &doomed, "SECRET comment on a deleted video"),
            with(target(Kind::Comment, "deleted", &deleted_comment, NO_ONE, true), &published, "SECRET deleted comment"),
            with(target(Kind::Channel, "open", &channel_id, EVERYONE, false), &owner_id, &bio),
            target(Kind::User, "signed up", &owner_id, EVERYONE, false),
            target(Kind::FriendRequest, "sent (pending)", &outgoing, NO_ONE, false),
            target(Kind::FriendRequest, "received (pending)", &incoming, NO_ONE, false),
            target(Kind::FriendRequest, "cancelled", &cancelled, NO_ONE, false),
            target(Kind::Organization, "with members", &organization_id, EVERYONE, false),
            with(target(Kind::OrgMember, "agent", &dave_id, EVERYONE, false), &organization_id, ""),
            with(target(Kind::OrgMember, "removed", &ed_id, NO_ONE, true), &organization_id, ""),
            target(Kind::Notification, "unread", &unread, NO_ONE, false),
            target(Kind::Notification, "read", &read, NO_ONE, false),
            with(target(Kind::LiveRoom, "scheduled", &announced_room, OUTSIDE_THE_BLOCK, false), &channel_id, "Matrix live tonight"),
            with(target(Kind::LiveRoom, "live", &instant_room, OUTSIDE_THE_BLOCK, false), &channel_id, "Matrix live now"),
            with(target(Kind::LiveRoom, "cancelled", &cancelled_room, OUTSIDE_THE_BLOCK, false), &channel_id, "Matrix live called off"),
            with(target(Kind::LiveComment, "in a live room", &live_comment, OUTSIDE_THE_BLOCK, false), &instant_room, "Matrix live comment of the owner"),
            // Shops and listed products are public, blocks or not (commerce does not know them).
            with(target(Kind::Shop, "open", &commerce.shop, EVERYONE, false), &organization_id, SHOP_NAME),
            with(target(Kind::Product, "listed", &commerce.listed, EVERYONE, false), &commerce.shop, LISTED_TITLE),
            with(target(Kind::Product, "unlisted", &commerce.unlisted, NO_ONE, false), &commerce.shop, "SECRET unlisted product"),
            target(Kind::Product, "deleted", &commerce.deleted, NO_ONE, true),
            // A SKU's existence is not hidden: `buyNow` answers UNAVAILABLE for one no longer for
            // sale (unlisted, deleted, removed), so that a shopper holding an old link is told
            // why; what the SKU is (its product's title) stays hidden (the secrets).
            with(target(Kind::Sku, "of a listed product", &commerce.listed_sku, EVERYONE, false), &commerce.listed, "1990"),
            with(target(Kind::Sku, "removed from a listed product", &commerce.removed_sku, EVERYONE, false), &commerce.listed, "2990"),
            with(target(Kind::Sku, "of an unlisted product", &commerce.unlisted_sku, EVERYONE, false), &commerce.unlisted, "5000"),
            with(target(Kind::Sku, "of a deleted product", &commerce.deleted_sku, EVERYONE, false), &commerce.deleted, "7000"),
            target(Kind::Address, "in the address book", &commerce.address, NO_ONE, false),
            target(Kind::Address, "deleted", &commerce.deleted_address, NO_ONE, true),
            target(Kind::Order, "unpaid", &commerce.unpaid_order, NO_ONE, false),
            target(Kind::Order, "cancelled", &commerce.cancelled_order, NO_ONE, false),
            target(Kind::ShopOrder, "unpaid, of a customer", &commerce.shop_order, NO_ONE, false),
        ];
        let secret = |text: &str, what, seen_by| Secret { text: text.to_owned(), what, seen_by, owner_reads: true };
        let gone = |text: &str, what| Secret { text: text.to_owned(), what, seen_by: NO_ONE, owner_reads: false };
        let secrets = vec![
            secret("alice.matrix@example.com", "the owner's email", NO_ONE),
            secret("SECRET unpublished title", "an unpublished video's title", NO_ONE),
            secret("SECRET draft title", "a draft's title", NO_ONE),
            secret("SECRET uploading title", "an unprocessed video's title", NO_ONE),
            gone("SECRET deleted title", "a deleted video's title"),
            secret("Matrix comment of the owner", "a comment of someone in a block with the caller", OUTSIDE_THE_BLOCK),
            secret("Matrix reply of the owner", "a reply of someone in a block with the caller", OUTSIDE_THE_BLOCK),
            secret("SECRET comment on an unpublished video", "a comment on an unpublished video", NO_ONE),
            gone("SECRET comment on a deleted video", "a comment on a deleted video"),
            gone("SECRET deleted comment", "a deleted comment"),
            secret("SECRET note to fred", "a friend request's message", NO_ONE),
            secret("SECRET note from gina", "a friend request's message", NO_ONE),
            gone("SECRET cancelled note", "a friend request's message"),
            // Email local parts are the default display names: members lists, requests and
            // emails of third parties all show up as these.
            secret("secret-friend", "the person a request went to", NO_ONE),
            secret("secret-asker", "the person who sent a request", NO_ONE),
            gone("secret-cancelled", "the person of a cancelled request"),
            secret("secret-agent", "an organization's members", NO_ONE),
            gone("secret-former-agent", "an organization's former member"),
            secret("secret-joiner", "an account's email", NO_ONE),
            secret("SECRET notification", "a notification", NO_ONE),
            secret(&stream_key, "a live room's stream key", NO_ONE),
            secret(&instant_key, "a live room's stream key", NO_ONE),
            secret("Matrix live", "a live room of someone in a block with the caller", OUTSIDE_THE_BLOCK),
            secret(OWNER_STREET, "the owner's address (and the orders shipping to it)", NO_ONE),
            gone("SECRET deleted street", "a deleted address"),
            secret("SECRET unlisted product", "an unlisted product", NO_ONE),
            gone("SECRET deleted product", "a deleted product"),
            secret("SECRET customer street", "a customer's address on an order of the owner's shop", NO_ONE),
        ];

        World {
            tokens: vec![(Role::Owner, alice), (Role::Stranger, sam), (Role::Blocked, bob), (Role::Blocker, carl)],
            addresses: commerce.addresses,
            channels: vec![(Role::Owner, channel_id.clone()), (Role::Stranger, sam_channel)],
            videos: vec![(Role::Owner, published.clone()), (Role::Stranger, sam_video)],
            cart: vec![commerce.foreign_sku.clone(), commerce.listed_sku.clone()],
            listed_product: commerce.listed.clone(),
            foreign_sku: commerce.foreign_sku,
            showcase_sku: commerce.listed_sku.clone(),
            owner_id,
            owner_handle,
            channel_id,
            organization_id,
            owner_videos: vec![published.clone(), unpublished, draft, uploading, doomed],
            owner_rooms: vec![announced_room, instant_room, cancelled_room],
            published_video: published,
            joiner_email: "jo.secret-joiner@example.com".into(),
            other_member: erin_id,
            targets,
            secrets,
        }
    }

    /// Puts the people back where the matrix needs them after a call that was let through:
    /// the stranger with no block, request, friendship or follow; the blocked user with no block
    /// of their own; the blocker still blocking.
    pub async fn restore(&self, app: &TestApp, role: Role) {
        let Some(token) = self.token(role) else { return };
        let call = |query: &'static str, vars: Value| async move { app.graphql(Some(token), query, vars).await };
        // Orders the caller placed: cancelled, their stock back on sale.
        let orders = call("{ viewer { orders(states: [PENDING_PAYMENT], first: 100) { nodes { id } } } }", json!({})).await;
        for order in orders["data"]["viewer"]["orders"]["nodes"].as_array().into_iter().flatten() {
            let key = uuid::Uuid::new_v4().to_string();
            call("mutation($o: ID!, $k: String!) { cancelOrder(input: {orderId: $o, idempotencyKey: $k}) { userErrors { code } } }", json!({ "o": order["id"], "k": key })).await;
        }
        // The cart as it was: one of each of `cart`, nothing else.
        let held = call("{ viewer { cart { shops { items { skuId quantity } } } } }", json!({})).await;
        let mut items: Vec<(String, i64)> = Vec::new();
        for shop in held["data"]["viewer"]["cart"]["shops"].as_array().into_iter().flatten() {
            for item in shop["items"].as_array().into_iter().flatten() {
                items.push((item["skuId"].as_str().unwrap().to_owned(), item["quantity"].as_i64().unwrap()));
            }
        }
        const SET_QUANTITY: &str = "mutation($s: ID!, $q: Int!) { setCartQuantity(input: {skuId: $s, quantity: $q}) { userErrors { code } } }";
        for (sku, quantity) in &items {
            let wanted = if self.cart.contains(sku) { 1 } else { 0 };
            if *quantity != wanted {
                call(SET_QUANTITY, json!({ "s": sku, "q": wanted })).await;
            }
        }
        for sku in self.cart.iter().filter(|s| !items.iter().any(|(i, _)| i == *s)) {
            call(ADD_TO_CART, json!({ "i": cart_input(sku) })).await;
        }
        match role {
            Role::Stranger | Role::Blocked => {
                call("mutation($u: ID!) { unblockUser(input: {userId: $u}) { userErrors { code } } }", json!({ "u": self.owner_id })).await;
                call("mutation($u: ID!) { removeFriend(input: {userId: $u}) { userErrors { code } } }", json!({ "u": self.owner_id })).await;
                call("mutation($c: ID!) { unfollowChannel(input: {channelId: $c}) { userErrors { code } } }", json!({ "c": self.channel_id })).await;
                let mine = call("{ viewer { social { friendRequests(direction: OUTGOING, first: 50) { nodes { id } } } } }", json!({})).await;
                for request in mine["data"]["viewer"]["social"]["friendRequests"]["nodes"].as_array().into_iter().flatten() {
                    call("mutation($r: ID!) { cancelFriendRequest(input: {requestId: $r}) { userErrors { code } } }", json!({ "r": request["id"] })).await;
                }
            }
            Role::Blocker => {
                call("mutation($u: ID!) { blockUser(input: {userId: $u}) { userErrors { code } } }", json!({ "u": self.owner_id })).await;
            }
            Role::Owner | Role::Anonymous => {}
        }
    }
}

const SHOP_NAME: &str = "Matrix Tea Shop";
const LISTED_TITLE: &str = "Matrix listed tea";

/// The commerce objects of the world.
struct Commerce {
    shop: String,
    listed: String,
    listed_sku: String,
    removed_sku: String,
    unlisted: String,
    unlisted_sku: String,
    deleted: String,
    deleted_sku: String,
    address: String,
    deleted_address: String,
    unpaid_order: String,
    cancelled_order: String,
    shop_order: String,
    foreign_sku: String,
    addresses: Vec<(Role, String)>,
}

const CREATE_PRODUCT: &str = "mutation($i: CreateProductInput!) { createProduct(input: $i) { product { id skus { id } } userErrors { field code } } }";
const CREATE_ADDRESS: &str = "mutation($i: CreateAddressInput!) { createAddress(input: $i) { address { id } userErrors { field code } } }";
const BUY_NOW: &str = "mutation($i: BuyNowInput!) { buyNow(input: $i) { order { id } userErrors { field code } } }";
const ADD_TO_CART: &str = "mutation($i: AddToCartInput!) { addToCart(input: $i) { cart { itemCount } userErrors { field code } } }";

fn cart_input(sku: &str) -> Value {
    json!({ "skuId": sku, "quantity": 1, "attribution": { "source": "SHOP" } })
}

fn address_input(recipient: &str, street: &str) -> Value {
    json!({ "recipient": recipient, "phone": OWNER_PHONE, "region": OWNER_REGION, "detail": street })
}

fn buy_input(sku: &str, address: &str, key: &str) -> Value {
    json!({ "skuId": sku, "quantity": 1, "addressId": address, "attribution": { "source": "SHOP" }, "idempotencyKey": key })
}

fn id_of(payload: &Value, path: &[&str]) -> String {
    path.iter().fold(payload, |v, k| &v[*k]).as_str().unwrap().to_owned()
}

impl Commerce {
    async fn build(app: &TestApp, alice: &str, organization: &str, callers: &[(Role, &String)], gina: &str) -> Commerce {
        let shop = ok(
            app,
            alice,
            "mutation($i: OpenShopInput!) { openShop(input: $i) { shop { id } userErrors { field code } } }",
            json!({ "i": { "organizationId": organization, "name": SHOP_NAME, "shippingFee": 800 } }),
        )
        .await;
        let shop = id_of(&shop, &["shop", "id"]);
        let product = |title: &str, prices: &[i64], on_shelf: bool| {
            let skus: Vec<Value> = prices.iter().enumerate().map(|(i, p)| json!({ "specs": [{ "name": "size", "value": format!("{i}") }], "price": p, "stock": 1000 })).collect();
            let input = json!({ "i": { "shopId": shop, "title": title, "category": "tea", "skus": skus, "onShelf": on_shelf } });
            async move { ok(app, alice, CREATE_PRODUCT, input).await["product"].clone() }
        };
        let listed = product(LISTED_TITLE, &[1990, 2990], true).await;
        let unlisted = product("SECRET unlisted product", &[5000], false).await;
        let deleted = product("SECRET deleted product", &[7000], true).await;
        let removed_sku = listed["skus"][1]["id"].as_str().unwrap().to_owned();
        let sku_of = |p: &Value| p["skus"][0]["id"].as_str().unwrap().to_owned();
        ok(app, alice, "mutation($i: UpdateSkuInput!) { updateSku(input: $i) { sku { removed } userErrors { code } } }", json!({ "i": { "skuId": removed_sku, "remove": true } })).await;
        ok(
            app,
            alice,
            "mutation($i: SetProductStatusInput!) { setProductStatus(input: $i) { product { status } userErrors { code } } }",
            json!({ "i": { "productId": deleted["id"], "status": "DELETED" } }),
        )
        .await;
        // The owner's channel carries the listed product (a shop's owner may show its own).
        ok(app, alice, "mutation($p: ID!) { addToShowcase(input: {productId: $p}) { userErrors { code } } }", json!({ "p": listed["id"] })).await;

        // Addresses: the owner's (the first, so the default) and one deleted; each caller's own.
        let address = id_of(&ok(app, alice, CREATE_ADDRESS, json!({ "i": address_input(OWNER_RECIPIENT, OWNER_STREET) })).await, &["address", "id"]);
        let deleted_address = id_of(&ok(app, alice, CREATE_ADDRESS, json!({ "i": address_input(OWNER_RECIPIENT, "SECRET deleted street") })).await, &["address", "id"]);
        ok(app, alice, "mutation($a: ID!) { deleteAddress(input: {addressId: $a}) { userErrors { code } } }", json!({ "a": deleted_address })).await;
        let mut addresses = vec![(Role::Owner, address.clone())];
        for (role, token) in callers {
            let theirs = ok(app, token, CREATE_ADDRESS, json!({ "i": address_input("Matrix caller", "Matrix caller street 9") })).await;
            addresses.push((*role, id_of(&theirs, &["address", "id"])));
        }

        // Another merchant, whose tea the owner buys.
        let (ivy, _) = app.sign_up("ivy.merchant@example.com").await;
        let theirs = ok(app, &ivy, "mutation { createOrganization(input: {name: \"Ivy Goods\"}) { organization { id } userErrors { code } } }", json!({})).await;
        let ivy_shop = ok(
            app,
            &ivy,
            "mutation($i: OpenShopInput!) { openShop(input: $i) { shop { id } userErrors { field code } } }",
            json!({ "i": { "organizationId": theirs["organization"]["id"], "name": "Ivy Shop", "shippingFee": 0 } }),
        )
        .await;
        let foreign = ok(
            app,
            &ivy,
            CREATE_PRODUCT,
            json!({ "i": { "shopId": ivy_shop["shop"]["id"], "title": "Ivy tea", "category": "tea", "skus": [{ "price": 1000, "stock": 100000 }], "onShelf": true } }),
        )
        .await;
        let foreign_sku = sku_of(&foreign["product"]);
        let unpaid_order = id_of(&ok(app, alice, BUY_NOW, json!({ "i": buy_input(&foreign_sku, &address, "matrix-unpaid") })).await, &["order", "id"]);
        let cancelled_order = id_of(&ok(app, alice, BUY_NOW, json!({ "i": buy_input(&foreign_sku, &address, "matrix-cancelled") })).await, &["order", "id"]);
        ok(
            app,
            alice,
            "mutation($o: ID!) { cancelOrder(input: {orderId: $o, idempotencyKey: \"matrix-cancel\"}) { userErrors { code } } }",
            json!({ "o": cancelled_order }),
        )
        .await;

        // A customer's order with the owner's shop.
        let gina_address = id_of(&ok(app, gina, CREATE_ADDRESS, json!({ "i": address_input("Gina", "SECRET customer street") })).await, &["address", "id"]);
        let shop_order = id_of(&ok(app, gina, BUY_NOW, json!({ "i": buy_input(&sku_of(&listed), &gina_address, "matrix-customer") })).await, &["order", "id"]);

        // Every cart, the owner's too: one of Ivy's tea, one of the listed product.
        let everyone = std::iter::once(alice).chain(callers.iter().map(|(_, t)| t.as_str()));
        for token in everyone {
            for sku in [&foreign_sku, &sku_of(&listed)] {
                ok(app, token, ADD_TO_CART, json!({ "i": cart_input(sku) })).await;
            }
        }

        Commerce {
            shop,
            listed_sku: sku_of(&listed),
            listed: listed["id"].as_str().unwrap().to_owned(),
            removed_sku,
            unlisted_sku: sku_of(&unlisted),
            unlisted: unlisted["id"].as_str().unwrap().to_owned(),
            deleted_sku: sku_of(&deleted),
            deleted: deleted["id"].as_str().unwrap().to_owned(),
            address,
            deleted_address,
            unpaid_order,
            cancelled_order,
            shop_order,
            foreign_sku,
            addresses,
        }
    }
}
