//! The case table: for every argument of the schema that carries an ID, how to call it for one
//! object, and which kinds of object it reaches.
//!
//! A field that takes an ID (directly, in a list, or inside an input object) and has no case
//! here fails the matrix with its name: add a `Case` below, keyed exactly as the failure names
//! it, with a builder that puts the probed id where the argument goes and everything else the
//! call needs (from the target or the world), and the kinds of object it targets. If the kind
//! is new, add it to `Kind` and make objects of it in every state in `world.rs`.

use serde_json::{Value, json};

use super::world::{Role, Target, World};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Video,
    Comment,
    Channel,
    User,
    FriendRequest,
    Organization,
    /// A member of the owner's organization, probed by their user id.
    OrgMember,
    Notification,
    LiveRoom,
    LiveComment,
    Shop,
    Product,
    /// Not a node: reached through `buyNow` and `updateSku` only.
    Sku,
    Address,
    /// An order the owner placed (with another merchant's shop).
    Order,
    /// An order a customer placed with the owner's shop.
    ShopOrder,
}

impl Kind {
    /// The type name a global id of this kind carries: a missing object of the kind gets a
    /// well-formed id of it.
    pub fn id_kind(self) -> &'static str {
        match self {
            Kind::Video => "Video",
            Kind::Comment => "Comment",
            Kind::Channel => "Channel",
            Kind::User | Kind::OrgMember => "User",
            Kind::FriendRequest => "FriendRequest",
            Kind::Organization => "Organization",
            Kind::Notification => "Notification",
            Kind::LiveRoom => "LiveRoom",
            Kind::LiveComment => "LiveComment",
            Kind::Shop => "Shop",
            Kind::Product => "Product",
            Kind::Sku => "Sku",
            Kind::Address => "Address",
            Kind::Order | Kind::ShopOrder => "Order",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Query,
    Mutation,
    Subscription,
}

/// Who may change something with this call. Everyone else must change nothing at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// A query or subscription: no one changes anything.
    Read,
    /// The owner of the object only.
    Owner,
    /// Anyone signed in who may see the object and is in no block with its owner.
    Viewers,
    /// Anyone signed in: managing one's own relationships (blocking, unfollowing), or buying
    /// (an order is the buyer's own; commerce does not know blocks).
    Anyone,
}

pub struct Call {
    pub op: Op,
    pub doc: String,
    pub vars: Value,
}

/// What a builder gets: the id to probe (the target's, or a missing one of the same kind), the
/// target (for the other arguments), the world, and who calls (for what the caller brings of
/// their own, such as their address).
pub struct Probe<'a> {
    pub id: &'a str,
    pub target: &'a Target,
    pub world: &'a World,
    pub role: Role,
}

pub struct Case {
    /// `Type.field(argument path)`, as the schema scan names it.
    pub key: &'static str,
    pub kinds: &'static [Kind],
    pub who: Who,
    /// The owner's call removes or re-states objects other cases use: runs last, in table order.
    pub late: bool,
    pub build: fn(&Probe<'_>) -> Call,
}

fn query(doc: &str, vars: Value) -> Call {
    Call { op: Op::Query, doc: doc.to_owned(), vars }
}

fn mutation(field: &str, input_type: &str, selection: &str, input: Value) -> Call {
    Call {
        op: Op::Mutation,
        doc: format!("mutation($input: {input_type}!) {{ {field}(input: $input) {{ {selection} userErrors {{ field message code }} }} }}"),
        vars: json!({ "input": input }),
    }
}

/// What each object shows, asking for its private parts too.
const VIDEO_FIELDS: &str = "title description status isPublished playlistUrl channel { handle } social { commentCount likeCount comments(first: 5) { nodes { body author { displayName } replies(first: 5) { nodes { body } } } } }";
const CHANNEL_FIELDS: &str = "handle bio owner { id email } social { followerCount } videos(first: 10) { nodes { title status } } upcomingLives { title } liveNow { title } liveModerators { id } liveBlockedKeywords";
const USER_FIELDS: &str = "displayName email emailVerified memberships { role organization { name } } social { friendCount isFriend outgoingFriendRequestId incomingFriendRequestId }";
const ORGANIZATION_FIELDS: &str = "name viewerRole members(first: 10) { nodes { role user { displayName email } } }";
const NOTIFICATION_FIELDS: &str = "kind payload read";
const LIVE_ROOM_FIELDS: &str = "title description coverUrl state plannedStartAt reservationCount viewerHasReserved streamCredentials { serverUrl streamKey } channel { handle } \
    pinnedMessage { text } viewerCanModerate restrictedViewers { user { id } banned } comments(first: 5) { nodes { text authorName author { id } } }";
const SHOP_FIELDS: &str = "name description viewerIsMember shippingFee { minor } organization { name } products(first: 5) { nodes { title } } \
    catalog(first: 5) { nodes { title status skus { held } } } orders(first: 5) { nodes { id state shippingAddress { detail } } }";
const PRODUCT_FIELDS: &str = "title description status shop { name } priceRange { min { minor } } skus { id price { minor } stock held sold removed }";
const ORDER_FIELDS: &str = "state viewerIsBuyer total { minor } buyer { displayName email } shop { name } shippingAddress { recipient phone detail } \
    lines { title quantity product { title } attribution { source commissionBps } } timeline { kind note }";
const ADDRESS_FIELDS: &str = "recipient phone region detail isDefault";

fn node() -> String {
    format!(
        "id ... on Video {{ {VIDEO_FIELDS} }} ... on Channel {{ {CHANNEL_FIELDS} }} ... on User {{ {USER_FIELDS} }} ... on Organization {{ {ORGANIZATION_FIELDS} }} ... on Notification {{ {NOTIFICATION_FIELDS} }} ... on LiveRoom {{ {LIVE_ROOM_FIELDS} }} \
         ... on Shop {{ {SHOP_FIELDS} }} ... on Product {{ {PRODUCT_FIELDS} }} ... on Order {{ {ORDER_FIELDS} }} ... on Address {{ {ADDRESS_FIELDS} }}"
    )
}

const NODE_KINDS: &[Kind] = &[
    Kind::Video,
    Kind::Channel,
    Kind::User,
    Kind::Organization,
    Kind::Notification,
    Kind::LiveRoom,
    Kind::Shop,
    Kind::Product,
    Kind::Address,
    Kind::Order,
    Kind::ShopOrder,
];
const LIVE_ROOM: &str = "liveRoom { id title state reservationCount viewerHasReserved streamCredentials { streamKey } pinnedMessage { text } }";
const RESTRICTED: &str = "restrictedViewer { banned mutedUntil user { id } }";
const VIDEO: &str = "video { id title description status isPublished }";
const VIDEO_SOCIAL: &str = "video { likeCount recommendCount commentCount shareCount viewCount viewerHasLiked comments(first: 5) { nodes { body } } }";
const COMMENT: &str = "comment { id body replyToId isPinned likeCount viewerHasLiked author { displayName } }";
const REQUEST: &str = "friendRequest { id status message from { displayName email } to { displayName email } }";
const USER_SOCIAL: &str = "user { isFriend blockedByViewer friendCount outgoingFriendRequestId incomingFriendRequestId }";
const CHANNEL_SOCIAL: &str = "channel { followerCount viewerFollows followers(first: 5) { nodes { user { displayName } } } }";
const SHOP: &str = "shop { id name description shippingFee { minor } }";
const PRODUCT: &str = "product { id title description status skus { id price { minor } stock held } }";
const ORDER: &str = "order { id state shippingAddress { detail } lines { title } }";
/// What an order placed by a probe shows: no ids (the probe's and the missing id's orders have
/// their own), but the objects its attribution names, as the caller may see them.
const PLACED: &str = "order { state total { minor } lines { title quantity attribution { source liveRoom { id } video { id } creator { id } } } } priceChanged";

/// A room's pinned product, as `pinProduct` answers it.
const PINNED: &str = "liveRoom { id title state pinnedProduct { id title status } pinnedProductAt }";
/// What a cart change answers: only what reads the same for the probe and the missing id
/// (between the two, nothing is restored: a checkout in between changes the quantities).
const CART: &str = "cart { itemCount }";
/// What the orders of a checkout show: as `PLACED`, no ids, and not the quantities (see `CART`).
const CHECKED_OUT: &str = "orders { state lines { title attribution { source liveRoom { id } video { id } creator { id } } } }";
const SHOWCASE_ITEM: &str = "item { addedAt product { id title status } }";
const CARD: &str = "product { id title status }";

/// A `checkout` by the caller of `skus` (in their cart) to `address`, with a fresh key.
fn checkout(skus: &[&str], address: &str) -> Call {
    let key = uuid::Uuid::new_v4().to_string();
    mutation("checkout", "CheckoutInput", CHECKED_OUT, json!({ "skuIds": skus, "addressId": address, "idempotencyKey": key }))
}

/// An attribution id is a hint: `addToCart` keeps it with the caller's own cart item without
/// looking it up (a client may name any room, video or channel), and `checkout` turns it into
/// the order line's attribution (the `liveRoom`, `video` and credited `creator`, as the caller
/// may see them). So the probe puts one unit in the cart with the attribution and checks that
/// SKU out in the same document: what the hint became is in the answer, where a hidden object
/// must come out exactly as a missing one does, and the owner's own object shows.
fn add_and_check_out(sku: &str, address: &str, attribution: Value) -> Call {
    let key = uuid::Uuid::new_v4().to_string();
    Call {
        op: Op::Mutation,
        doc: format!(
            "mutation($add: AddToCartInput!, $checkout: CheckoutInput!) {{ addToCart(input: $add) {{ {CART} userErrors {{ field message code }} }} \
             checkout(input: $checkout) {{ {CHECKED_OUT} userErrors {{ field message code }} }} }}"
        ),
        vars: json!({
            "add": { "skuId": sku, "quantity": 1, "attribution": attribution },
            "checkout": { "skuIds": [sku], "addressId": address, "idempotencyKey": key },
        }),
    }
}

/// A `buyNow` of one unit by the caller, with their own address and a fresh idempotency key.
fn buy_now(sku: &str, address: &str, attribution: Value) -> Call {
    let key = uuid::Uuid::new_v4().to_string();
    mutation("buyNow", "BuyNowInput", PLACED, json!({ "skuId": sku, "quantity": 1, "addressId": address, "attribution": attribution, "idempotencyKey": key }))
}

/// The owner's address as it is: what `updateAddress` sends back unchanged.
fn same_address(id: &str) -> Value {
    json!({ "addressId": id, "recipient": super::world::OWNER_RECIPIENT, "phone": super::world::OWNER_PHONE, "region": super::world::OWNER_REGION, "detail": super::world::OWNER_STREET, "isDefault": true })
}

pub fn cases() -> Vec<Case> {
    vec![
        // Queries.
        Case {
            key: "Query.node(id)",
            kinds: NODE_KINDS,
            who: Who::Read,
            late: false,
            build: |p| query(&format!("query($id: ID!) {{ node(id: $id) {{ {} }} }}", node()), json!({ "id": p.id })),
        },
        Case {
            key: "Query.nodes(ids)",
            kinds: NODE_KINDS,
            who: Who::Read,
            late: false,
            build: |p| query(&format!("query($id: ID!) {{ nodes(ids: [$id]) {{ {} }} }}", node()), json!({ "id": p.id })),
        },
        Case {
            key: "Query.video(id)",
            kinds: &[Kind::Video],
            who: Who::Read,
            late: false,
            build: |p| query(&format!("query($id: ID!) {{ video(id: $id) {{ id {VIDEO_FIELDS} }} }}"), json!({ "id": p.id })),
        },
        Case {
            key: "Query.organization(id)",
            kinds: &[Kind::Organization],
            who: Who::Read,
            late: false,
            build: |p| query(&format!("query($id: ID!) {{ organization(id: $id) {{ id {ORGANIZATION_FIELDS} }} }}"), json!({ "id": p.id })),
        },
        // Subscriptions.
        Case {
            key: "Subscription.videoProcessing(videoId)",
            kinds: &[Kind::Video],
            who: Who::Read,
            late: false,
            build: |p| Call {
                op: Op::Subscription,
                doc: "subscription($id: ID!) { videoProcessing(videoId: $id) { videoId status progressPercent failureReason } }".into(),
                vars: json!({ "id": p.id }),
            },
        },
        Case {
            key: "Subscription.orderUpdated(orderId)",
            kinds: &[Kind::Order, Kind::ShopOrder],
            who: Who::Read,
            late: false,
            build: |p| Call {
                op: Op::Subscription,
                doc: "subscription($id: ID!) { orderUpdated(orderId: $id) { id state viewerIsBuyer total { minor } shippingAddress { recipient detail } lines { title quantity } payments { state } } }".into(),
                vars: json!({ "id": p.id }),
            },
        },
        Case {
            key: "Subscription.liveRoomEvents(liveRoomId)",
            kinds: &[Kind::LiveRoom],
            who: Who::Read,
            late: false,
            build: |p| Call {
                op: Op::Subscription,
                doc: format!(
                    "subscription($id: ID!) {{ liveRoomEvents(liveRoomId: $id) {{ __typename ... on LiveRoomChanged {{ liveRoom {{ id {LIVE_ROOM_FIELDS} }} }} \
                     ... on LiveCommentsAdded {{ comments {{ text authorName }} }} ... on LivePinnedMessageChanged {{ pinnedMessage {{ text }} }} }} }}"
                ),
                vars: json!({ "id": p.id }),
            },
        },
        // Live.
        Case {
            key: "Mutation.updateLive(input.liveRoomId)",
            kinds: &[Kind::LiveRoom],
            who: Who::Owner,
            late: false,
            // The title it already has.
            build: |p| mutation("updateLive", "UpdateLiveInput", LIVE_ROOM, json!({ "liveRoomId": p.id, "title": p.target.text })),
        },
        // Before `endLive`: the owner pins in the room that is LIVE (`owner_rooms[1]`), which
        // `endLive` ends.
        Case {
            key: "Mutation.pinProduct(input.liveRoomId)",
            kinds: &[Kind::LiveRoom],
            who: Who::Owner,
            late: false,
            // Unpins (nothing is pinned): the product cannot refuse it.
            build: |p| mutation("pinProduct", "PinProductInput", PINNED, json!({ "liveRoomId": p.id, "productId": null })),
        },
        Case {
            key: "Mutation.pinProduct(input.productId)",
            kinds: &[Kind::Product],
            who: Who::Owner,
            late: false,
            // In the owner's LIVE room; the owner's channel carries the listed product.
            build: |p| mutation("pinProduct", "PinProductInput", PINNED, json!({ "liveRoomId": p.world.owner_rooms[1], "productId": p.id })),
        },
        Case {
            key: "Mutation.endLive(input.liveRoomId)",
            kinds: &[Kind::LiveRoom],
            who: Who::Owner,
            late: false,
            build: |p| mutation("endLive", "LiveRoomInput", LIVE_ROOM, json!({ "liveRoomId": p.id })),
        },
        Case {
            key: "Mutation.reserveLive(input.liveRoomId)",
            kinds: &[Kind::LiveRoom],
            who: Who::Viewers,
            late: false,
            build: |p| mutation("reserveLive", "LiveRoomInput", LIVE_ROOM, json!({ "liveRoomId": p.id })),
        },
        Case {
            key: "Mutation.cancelLiveReservation(input.liveRoomId)",
            kinds: &[Kind::LiveRoom],
            who: Who::Viewers,
            late: false,
            build: |p| mutation("cancelLiveReservation", "LiveRoomInput", LIVE_ROOM, json!({ "liveRoomId": p.id })),
        },
        Case {
            key: "Mutation.rotateStreamKey(input.liveRoomId)",
            kinds: &[Kind::LiveRoom],
            who: Who::Owner,
            // A new key is a secret the world does not know: probe it after everything else.
            late: true,
            build: |p| mutation("rotateStreamKey", "LiveRoomInput", "streamCredentials { streamKey }", json!({ "liveRoomId": p.id })),
        },
        Case {
            key: "Mutation.sendLiveComment(input.liveRoomId)",
            kinds: &[Kind::LiveRoom],
            who: Who::Viewers,
            late: false,
            build: |p| mutation("sendLiveComment", "SendLiveCommentInput", "comment { id text authorName }", json!({ "liveRoomId": p.id, "text": "Matrix probe live comment" })),
        },
        Case {
            key: "Mutation.likeLive(input.liveRoomId)",
            kinds: &[Kind::LiveRoom],
            who: Who::Viewers,
            late: false,
            build: |p| mutation("likeLive", "LikeLiveInput", "count", json!({ "liveRoomId": p.id, "count": 3 })),
        },
        Case {
            key: "Mutation.pinLiveMessage(input.liveRoomId)",
            kinds: &[Kind::LiveRoom],
            who: Who::Owner,
            late: false,
            build: |p| mutation("pinLiveMessage", "PinLiveMessageInput", LIVE_ROOM, json!({ "liveRoomId": p.id, "text": "Matrix probe pin" })),
        },
        Case {
            key: "Mutation.unpinLiveMessage(input.liveRoomId)",
            kinds: &[Kind::LiveRoom],
            who: Who::Owner,
            late: false,
            build: |p| mutation("unpinLiveMessage", "LiveRoomInput", LIVE_ROOM, json!({ "liveRoomId": p.id })),
        },
        Case {
            key: "Mutation.muteLiveViewer(input.liveRoomId)",
            kinds: &[Kind::LiveRoom],
            who: Who::Owner,
            late: false,
            build: |p| mutation("muteLiveViewer", "MuteLiveViewerInput", RESTRICTED, json!({ "liveRoomId": p.id, "userId": p.world.other_member, "durationMinutes": 10 })),
        },
        Case {
            key: "Mutation.muteLiveViewer(input.userId)",
            kinds: &[Kind::User],
            who: Who::Owner,
            late: false,
            build: |p| mutation("muteLiveViewer", "MuteLiveViewerInput", RESTRICTED, json!({ "liveRoomId": p.world.owner_rooms[1], "userId": p.id })),
        },
        Case {
            key: "Mutation.banLiveViewer(input.liveRoomId)",
            kinds: &[Kind::LiveRoom],
            who: Who::Owner,
            late: false,
            build: |p| mutation("banLiveViewer", "LiveViewerInput", RESTRICTED, json!({ "liveRoomId": p.id, "userId": p.world.other_member })),
        },
        Case {
            key: "Mutation.banLiveViewer(input.userId)",
            kinds: &[Kind::User],
            who: Who::Owner,
            late: false,
            build: |p| mutation("banLiveViewer", "LiveViewerInput", RESTRICTED, json!({ "liveRoomId": p.world.owner_rooms[1], "userId": p.id })),
        },
        Case {
            key: "Mutation.liftLiveRestriction(input.liveRoomId)",
            kinds: &[Kind::LiveRoom],
            who: Who::Owner,
            late: false,
            build: |p| mutation("liftLiveRestriction", "LiveViewerInput", "user { id }", json!({ "liveRoomId": p.id, "userId": p.world.other_member })),
        },
        Case {
            key: "Mutation.liftLiveRestriction(input.userId)",
            kinds: &[Kind::User],
            who: Who::Owner,
            late: false,
            build: |p| mutation("liftLiveRestriction", "LiveViewerInput", "user { id }", json!({ "liveRoomId": p.world.owner_rooms[1], "userId": p.id })),
        },
        // Moderators of the caller's own channel: anyone with a channel manages theirs.
        Case {
            key: "Mutation.addLiveModerator(input.userId)",
            kinds: &[Kind::User],
            who: Who::Anyone,
            late: false,
            build: |p| mutation("addLiveModerator", "LiveModeratorInput", "moderators { id displayName }", json!({ "userId": p.id })),
        },
        Case {
            key: "Mutation.removeLiveModerator(input.userId)",
            kinds: &[Kind::User],
            who: Who::Anyone,
            late: false,
            build: |p| mutation("removeLiveModerator", "LiveModeratorInput", "moderators { id displayName }", json!({ "userId": p.id })),
        },
        Case {
            key: "Mutation.setLiveBlockedKeywords(input.channelId)",
            kinds: &[Kind::Channel],
            who: Who::Owner,
            late: false,
            build: |p| mutation("setLiveBlockedKeywords", "SetLiveBlockedKeywordsInput", "keywords", json!({ "channelId": p.id, "keywords": ["matrixprobe"] })),
        },
        Case {
            key: "Mutation.deleteLiveComment(input.liveCommentId)",
            kinds: &[Kind::LiveComment],
            who: Who::Owner,
            late: true,
            build: |p| mutation("deleteLiveComment", "DeleteLiveCommentInput", "deletedLiveCommentId", json!({ "liveCommentId": p.id })),
        },
        Case {
            key: "Mutation.cancelLive(input.liveRoomId)",
            kinds: &[Kind::LiveRoom],
            who: Who::Owner,
            late: true,
            build: |p| mutation("cancelLive", "LiveRoomInput", LIVE_ROOM, json!({ "liveRoomId": p.id })),
        },
        // Identity.
        Case {
            key: "Mutation.updateChannel(input.channelId)",
            kinds: &[Kind::Channel],
            who: Who::Owner,
            late: false,
            // The bio it already has: the owner's call changes nothing either.
            build: |p| mutation("updateChannel", "UpdateChannelInput", "channel { id handle bio owner { email } }", json!({ "channelId": p.id, "bio": p.target.text })),
        },
        Case {
            key: "Mutation.addOrganizationMember(input.organizationId)",
            kinds: &[Kind::Organization],
            who: Who::Owner,
            late: false,
            build: |p| {
                mutation(
                    "addOrganizationMember",
                    "AddOrganizationMemberInput",
                    "membership { role user { displayName email } organization { name } }",
                    json!({ "organizationId": p.id, "email": p.world.joiner_email, "role": "AGENT" }),
                )
            },
        },
        Case {
            key: "Mutation.removeOrganizationMember(input.organizationId)",
            kinds: &[Kind::Organization],
            who: Who::Owner,
            late: true,
            build: |p| mutation("removeOrganizationMember", "RemoveOrganizationMemberInput", "removedUserId", json!({ "organizationId": p.id, "userId": p.world.other_member })),
        },
        Case {
            key: "Mutation.removeOrganizationMember(input.userId)",
            kinds: &[Kind::OrgMember],
            who: Who::Owner,
            late: true,
            build: |p| {
                let organization = p.target.parent.as_deref().unwrap_or(&p.world.organization_id);
                mutation("removeOrganizationMember", "RemoveOrganizationMemberInput", "removedUserId", json!({ "organizationId": organization, "userId": p.id }))
            },
        },
        // Media.
        Case {
            key: "Mutation.updateVideo(input.videoId)",
            kinds: &[Kind::Video],
            who: Who::Owner,
            late: false,
            build: |p| mutation("updateVideo", "UpdateVideoInput", VIDEO, json!({ "videoId": p.id })),
        },
        // Social.
        Case {
            key: "Mutation.sendFriendRequest(input.userId)",
            kinds: &[Kind::User],
            who: Who::Viewers,
            late: false,
            build: |p| mutation("sendFriendRequest", "SendFriendRequestInput", REQUEST, json!({ "userId": p.id, "message": "Matrix probe request" })),
        },
        Case {
            key: "Mutation.acceptFriendRequest(input.requestId)",
            kinds: &[Kind::FriendRequest],
            who: Who::Owner,
            late: false,
            build: |p| mutation("acceptFriendRequest", "FriendRequestIdInput", REQUEST, json!({ "requestId": p.id })),
        },
        Case {
            key: "Mutation.declineFriendRequest(input.requestId)",
            kinds: &[Kind::FriendRequest],
            who: Who::Owner,
            late: false,
            build: |p| mutation("declineFriendRequest", "FriendRequestIdInput", REQUEST, json!({ "requestId": p.id })),
        },
        Case {
            key: "Mutation.cancelFriendRequest(input.requestId)",
            kinds: &[Kind::FriendRequest],
            who: Who::Owner,
            late: false,
            build: |p| mutation("cancelFriendRequest", "FriendRequestIdInput", REQUEST, json!({ "requestId": p.id })),
        },
        Case {
            key: "Mutation.removeFriend(input.userId)",
            kinds: &[Kind::User],
            who: Who::Anyone,
            late: false,
            build: |p| mutation("removeFriend", "UserIdInput", USER_SOCIAL, json!({ "userId": p.id })),
        },
        Case {
            key: "Mutation.blockUser(input.userId)",
            kinds: &[Kind::User],
            who: Who::Anyone,
            late: false,
            build: |p| mutation("blockUser", "UserIdInput", USER_SOCIAL, json!({ "userId": p.id })),
        },
        Case {
            key: "Mutation.unblockUser(input.userId)",
            kinds: &[Kind::User],
            who: Who::Anyone,
            late: false,
            build: |p| mutation("unblockUser", "UserIdInput", USER_SOCIAL, json!({ "userId": p.id })),
        },
        Case {
            key: "Mutation.followChannel(input.channelId)",
            kinds: &[Kind::Channel],
            who: Who::Viewers,
            late: false,
            build: |p| mutation("followChannel", "ChannelIdInput", CHANNEL_SOCIAL, json!({ "channelId": p.id })),
        },
        Case {
            key: "Mutation.unfollowChannel(input.channelId)",
            kinds: &[Kind::Channel],
            who: Who::Anyone,
            late: false,
            build: |p| mutation("unfollowChannel", "ChannelIdInput", CHANNEL_SOCIAL, json!({ "channelId": p.id })),
        },
        Case {
            key: "Mutation.reactToVideo(input.videoId)",
            kinds: &[Kind::Video],
            who: Who::Viewers,
            late: false,
            build: |p| mutation("reactToVideo", "ReactionInput", VIDEO_SOCIAL, json!({ "videoId": p.id, "kind": "LIKE" })),
        },
        Case {
            key: "Mutation.undoReaction(input.videoId)",
            kinds: &[Kind::Video],
            who: Who::Anyone,
            late: false,
            build: |p| mutation("undoReaction", "ReactionInput", VIDEO_SOCIAL, json!({ "videoId": p.id, "kind": "LIKE" })),
        },
        Case {
            key: "Mutation.addComment(input.videoId)",
            kinds: &[Kind::Video],
            who: Who::Viewers,
            late: false,
            build: |p| mutation("addComment", "AddCommentInput", COMMENT, json!({ "videoId": p.id, "body": "Matrix probe comment" })),
        },
        Case {
            key: "Mutation.addComment(input.replyTo)",
            kinds: &[Kind::Comment],
            who: Who::Viewers,
            late: false,
            // Sent with a published video, so that only the comment answered can refuse it.
            build: |p| {
                mutation("addComment", "AddCommentInput", COMMENT, json!({ "videoId": p.world.published_video, "body": "Matrix probe reply", "replyTo": p.id }))
            },
        },
        Case {
            key: "Mutation.editComment(input.commentId)",
            kinds: &[Kind::Comment],
            who: Who::Owner,
            late: false,
            // The body it already has: the author's call changes nothing either.
            build: |p| mutation("editComment", "EditCommentInput", COMMENT, json!({ "commentId": p.id, "body": p.target.text })),
        },
        Case {
            key: "Mutation.pinComment(input.commentId)",
            kinds: &[Kind::Comment],
            who: Who::Owner,
            late: false,
            build: |p| mutation("pinComment", "PinCommentInput", COMMENT, json!({ "commentId": p.id, "pinned": true })),
        },
        Case {
            key: "Mutation.likeComment(input.commentId)",
            kinds: &[Kind::Comment],
            who: Who::Viewers,
            late: false,
            build: |p| mutation("likeComment", "LikeCommentInput", COMMENT, json!({ "commentId": p.id, "liked": true })),
        },
        Case {
            key: "Mutation.shareVideo(input.videoId)",
            kinds: &[Kind::Video],
            who: Who::Viewers,
            late: false,
            build: |p| mutation("shareVideo", "ShareVideoInput", VIDEO_SOCIAL, json!({ "videoId": p.id, "target": "LINK" })),
        },
        Case {
            key: "Mutation.reportView(input.videoId)",
            kinds: &[Kind::Video],
            who: Who::Viewers,
            late: false,
            build: |p| mutation("reportView", "ReportViewInput", "videoId", json!({ "videoId": p.id, "watchMs": 1000 })),
        },
        // Notify.
        Case {
            key: "Mutation.markNotificationsRead(input.ids)",
            kinds: &[Kind::Notification],
            who: Who::Owner,
            late: false,
            build: |p| mutation("markNotificationsRead", "MarkNotificationsReadInput", "markedCount unreadCount", json!({ "ids": [p.id] })),
        },
        // Commerce.
        Case {
            key: "Mutation.openShop(input.organizationId)",
            kinds: &[Kind::Organization],
            who: Who::Owner,
            late: false,
            // Its organization has a shop already: the owner is told so.
            build: |p| mutation("openShop", "OpenShopInput", SHOP, json!({ "organizationId": p.id, "name": "Matrix probe shop", "shippingFee": 0 })),
        },
        Case {
            key: "Mutation.updateShop(input.shopId)",
            kinds: &[Kind::Shop],
            who: Who::Owner,
            late: false,
            // The name it already has.
            build: |p| mutation("updateShop", "UpdateShopInput", SHOP, json!({ "shopId": p.id, "name": p.target.text })),
        },
        Case {
            key: "Mutation.createProduct(input.shopId)",
            kinds: &[Kind::Shop],
            who: Who::Owner,
            late: false,
            build: |p| {
                mutation(
                    "createProduct",
                    "CreateProductInput",
                    PRODUCT,
                    json!({ "shopId": p.id, "title": "Matrix probe product", "category": "tea", "skus": [{ "price": 100, "stock": 1 }] }),
                )
            },
        },
        Case {
            key: "Mutation.updateProduct(input.productId)",
            kinds: &[Kind::Product],
            who: Who::Owner,
            late: false,
            // The title it already has.
            build: |p| mutation("updateProduct", "UpdateProductInput", PRODUCT, json!({ "productId": p.id, "title": p.target.text })),
        },
        Case {
            key: "Mutation.setProductStatus(input.productId)",
            kinds: &[Kind::Product],
            who: Who::Owner,
            late: false,
            // The status it already has.
            build: |p| {
                let status = if p.target.state == "unlisted" { "OFF_SHELF" } else { "ON_SHELF" };
                mutation("setProductStatus", "SetProductStatusInput", PRODUCT, json!({ "productId": p.id, "status": status }))
            },
        },
        Case {
            key: "Mutation.updateSku(input.skuId)",
            kinds: &[Kind::Sku],
            who: Who::Owner,
            late: false,
            // The price it already has.
            build: |p| {
                let price: i64 = p.target.text.parse().unwrap();
                mutation("updateSku", "UpdateSkuInput", &format!("sku {{ id price {{ minor }} stock held }} {PRODUCT}"), json!({ "skuId": p.id, "price": price }))
            },
        },
        Case {
            key: "Mutation.updateAddress(input.addressId)",
            kinds: &[Kind::Address],
            who: Who::Owner,
            late: false,
            // What it already says.
            build: |p| mutation("updateAddress", "UpdateAddressInput", "address { id recipient phone detail isDefault }", same_address(p.id)),
        },
        Case {
            key: "Mutation.buyNow(input.skuId)",
            kinds: &[Kind::Sku],
            who: Who::Anyone,
            late: false,
            build: |p| buy_now(p.id, p.world.address_of(p.role), json!({ "source": "SHOP" })),
        },
        Case {
            key: "Mutation.buyNow(input.addressId)",
            kinds: &[Kind::Address],
            who: Who::Owner,
            late: false,
            // Another merchant's product, so that only the address can refuse it.
            build: |p| buy_now(&p.world.foreign_sku, p.id, json!({ "source": "SHOP" })),
        },
        Case {
            key: "Mutation.buyNow(input.attribution.liveRoomId)",
            kinds: &[Kind::LiveRoom],
            who: Who::Anyone,
            late: false,
            build: |p| buy_now(&p.world.foreign_sku, p.world.address_of(p.role), json!({ "source": "LIVE_ROOM", "liveRoomId": p.id })),
        },
        Case {
            key: "Mutation.buyNow(input.attribution.videoId)",
            kinds: &[Kind::Video],
            who: Who::Anyone,
            late: false,
            build: |p| buy_now(&p.world.foreign_sku, p.world.address_of(p.role), json!({ "source": "VIDEO", "videoId": p.id })),
        },
        Case {
            key: "Mutation.buyNow(input.attribution.channelId)",
            kinds: &[Kind::Channel],
            who: Who::Anyone,
            late: false,
            // A product the owner's channel carries: the sale is credited to the channel named.
            build: |p| buy_now(&p.world.showcase_sku, p.world.address_of(p.role), json!({ "source": "SHOWCASE", "channelId": p.id })),
        },
        Case {
            key: "Mutation.payOrder(input.orderId)",
            kinds: &[Kind::Order, Kind::ShopOrder],
            who: Who::Owner,
            late: false,
            // With the default provider (the sandbox): an attempt and its page, nothing paid.
            build: |p| {
                let key = uuid::Uuid::new_v4().to_string();
                mutation("payOrder", "PayOrderInput", "payment { state provider amount { minor } }", json!({ "orderId": p.id, "idempotencyKey": key }))
            },
        },
        // The cart: each caller's holds one of Ivy's tea and one of the owner's listed product
        // (`World::restore` puts it back so). In this order, for the owner's own calls: the
        // listed SKU is added, set back to one and checked out; then Ivy's tea is checked out.
        Case {
            key: "Mutation.addToCart(input.skuId)",
            kinds: &[Kind::Sku],
            who: Who::Anyone,
            late: false,
            build: |p| mutation("addToCart", "AddToCartInput", CART, json!({ "skuId": p.id, "quantity": 1, "attribution": { "source": "SHOP" } })),
        },
        Case {
            key: "Mutation.setCartQuantity(input.skuId)",
            kinds: &[Kind::Sku],
            who: Who::Anyone,
            late: false,
            // The quantity the cart holds already.
            build: |p| mutation("setCartQuantity", "SetCartQuantityInput", CART, json!({ "skuId": p.id, "quantity": 1 })),
        },
        Case {
            key: "Mutation.checkout(input.skuIds)",
            kinds: &[Kind::Sku],
            who: Who::Anyone,
            late: false,
            build: |p| checkout(&[p.id], p.world.address_of(p.role)),
        },
        Case {
            key: "Mutation.checkout(input.addressId)",
            kinds: &[Kind::Address],
            who: Who::Owner,
            late: false,
            // Ivy's tea from the caller's own cart, so that only the address can refuse it.
            build: |p| checkout(&[&p.world.foreign_sku], p.id),
        },
        // Attribution ids: hints the caller may name freely (see `add_and_check_out`). Ivy's
        // tea, which the owner's rooms and videos do not carry: the order shows the room or
        // video as the caller may see it, and credits nobody.
        Case {
            key: "Mutation.addToCart(input.attribution.liveRoomId)",
            kinds: &[Kind::LiveRoom],
            who: Who::Anyone,
            late: false,
            build: |p| add_and_check_out(&p.world.foreign_sku, p.world.address_of(p.role), json!({ "source": "LIVE_ROOM", "liveRoomId": p.id })),
        },
        Case {
            key: "Mutation.addToCart(input.attribution.videoId)",
            kinds: &[Kind::Video],
            who: Who::Anyone,
            late: false,
            build: |p| add_and_check_out(&p.world.foreign_sku, p.world.address_of(p.role), json!({ "source": "VIDEO", "videoId": p.id })),
        },
        Case {
            key: "Mutation.addToCart(input.attribution.channelId)",
            kinds: &[Kind::Channel],
            who: Who::Anyone,
            late: false,
            // The owner's listed product, which the owner's channel carries: the sale is
            // credited to the channel (`creator`), and to nobody for a missing one.
            build: |p| add_and_check_out(&p.world.showcase_sku, p.world.address_of(p.role), json!({ "source": "SHOWCASE", "channelId": p.id })),
        },
        // Selling for others. Only the stranger has a channel of their own besides the owner.
        Case {
            key: "Mutation.setAffiliateOffer(input.productId)",
            kinds: &[Kind::Product],
            who: Who::Owner,
            late: false,
            build: |p| mutation("setAffiliateOffer", "SetAffiliateOfferInput", CARD, json!({ "productId": p.id, "commissionBps": 1000 })),
        },
        Case {
            key: "Mutation.addToShowcase(input.productId)",
            kinds: &[Kind::Product],
            who: Who::Owner,
            late: false,
            // The owner's products are not offered to creators (until the owner's own
            // `setAffiliateOffer` above, which runs after everyone else's calls): only the
            // owner's channel may carry them. It carries the listed one already.
            build: |p| mutation("addToShowcase", "ShowcaseProductInput", SHOWCASE_ITEM, json!({ "productId": p.id })),
        },
        Case {
            key: "Mutation.setVideoProduct(input.videoId)",
            kinds: &[Kind::Video],
            who: Who::Owner,
            late: false,
            build: |p| mutation("setVideoProduct", "SetVideoProductInput", CARD, json!({ "videoId": p.id, "productId": p.world.listed_product })),
        },
        Case {
            key: "Mutation.setVideoProduct(input.productId)",
            kinds: &[Kind::Product],
            who: Who::Owner,
            late: false,
            // Under a video of the caller's own, so that only the product can refuse it.
            build: |p| mutation("setVideoProduct", "SetVideoProductInput", CARD, json!({ "videoId": p.world.video_of(p.role), "productId": p.id })),
        },
        Case {
            key: "Mutation.confirmReceipt(input.orderId)",
            kinds: &[Kind::Order],
            who: Who::Owner,
            late: false,
            build: |p| mutation("confirmReceipt", "ConfirmReceiptInput", ORDER, json!({ "orderId": p.id })),
        },
        Case {
            key: "Mutation.shipOrder(input.orderId)",
            kinds: &[Kind::ShopOrder],
            who: Who::Owner,
            late: false,
            build: |p| mutation("shipOrder", "ShipOrderInput", ORDER, json!({ "orderId": p.id, "carrier": "顺丰", "trackingNumber": "SF-MATRIX-1" })),
        },
        // Last for the owner, in this order: they remove or re-state objects the cases above use.
        Case {
            key: "Mutation.cancelOrder(input.orderId)",
            kinds: &[Kind::Order],
            who: Who::Owner,
            late: true,
            build: |p| mutation("cancelOrder", "CancelOrderInput", ORDER, json!({ "orderId": p.id, "idempotencyKey": uuid::Uuid::new_v4().to_string() })),
        },
        // `removeFromShowcase` answers `removed: true` for anything, on the showcase or not,
        // existing or not: its payload cannot tell. So the probe reads the caller's showcase
        // back in the same document, through `updateChannel` with nothing to change (which
        // writes nothing and emits nothing): the owner's own product leaves it.
        Case {
            key: "Mutation.removeFromShowcase(input.productId)",
            kinds: &[Kind::Product],
            who: Who::Owner,
            late: true,
            build: |p| Call {
                op: Op::Mutation,
                doc: "mutation($input: ShowcaseProductInput!, $channel: ID!) { removeFromShowcase(input: $input) { removed userErrors { field message code } } \
                      readBack: updateChannel(input: {channelId: $channel}) { channel { handle showcase(first: 10) { nodes { product { id title } } } } userErrors { field message code } } }"
                    .into(),
                vars: json!({ "input": { "productId": p.id }, "channel": p.world.channel_of(p.role) }),
            },
        },
        Case {
            key: "Mutation.deleteAddress(input.addressId)",
            kinds: &[Kind::Address],
            who: Who::Owner,
            late: true,
            build: |p| mutation("deleteAddress", "DeleteAddressInput", "deletedAddressId", json!({ "addressId": p.id })),
        },
        Case {
            key: "Mutation.deleteComment(input.commentId)",
            kinds: &[Kind::Comment],
            who: Who::Owner,
            late: true,
            build: |p| mutation("deleteComment", "CommentIdInput", "deletedCommentId", json!({ "commentId": p.id })),
        },
        Case {
            key: "Mutation.unpublishVideo(input.videoId)",
            kinds: &[Kind::Video],
            who: Who::Owner,
            late: true,
            build: |p| mutation("unpublishVideo", "VideoIdInput", VIDEO, json!({ "videoId": p.id })),
        },
        Case {
            key: "Mutation.publishVideo(input.videoId)",
            kinds: &[Kind::Video],
            who: Who::Owner,
            late: true,
            build: |p| mutation("publishVideo", "VideoIdInput", VIDEO, json!({ "videoId": p.id })),
        },
        Case {
            key: "Mutation.deleteVideo(input.videoId)",
            kinds: &[Kind::Video],
            who: Who::Owner,
            late: true,
            build: |p| mutation("deleteVideo", "VideoIdInput", "deletedVideoId", json!({ "videoId": p.id })),
        },
    ]
}
