//! The case table: for every argument of the schema that carries an ID, how to call it for one
//! object, and which kinds of object it reaches.
//!
//! A field that takes an ID (directly, in a list, or inside an input object) and has no case
//! here fails the matrix with its name: add a `Case` below, keyed exactly as the failure names
//! it, with a builder that puts the probed id where the argument goes and everything else the
//! call needs (from the target or the world), and the kinds of object it targets. If the kind
//! is new, add it to `Kind` and make objects of it in every state in `world.rs`.

use serde_json::{Value, json};

use super::world::{Target, World};

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
    /// Anyone signed in: managing one's own relationships (blocking, unfollowing).
    Anyone,
}

pub struct Call {
    pub op: Op,
    pub doc: String,
    pub vars: Value,
}

/// What a builder gets: the id to probe (the target's, or a missing one of the same kind), the
/// target (for the other arguments) and the world.
pub struct Probe<'a> {
    pub id: &'a str,
    pub target: &'a Target,
    pub world: &'a World,
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

fn node() -> String {
    format!(
        "id ... on Video {{ {VIDEO_FIELDS} }} ... on Channel {{ {CHANNEL_FIELDS} }} ... on User {{ {USER_FIELDS} }} ... on Organization {{ {ORGANIZATION_FIELDS} }} ... on Notification {{ {NOTIFICATION_FIELDS} }} ... on LiveRoom {{ {LIVE_ROOM_FIELDS} }}"
    )
}

const NODE_KINDS: &[Kind] = &[Kind::Video, Kind::Channel, Kind::User, Kind::Organization, Kind::Notification, Kind::LiveRoom];
const LIVE_ROOM: &str = "liveRoom { id title state reservationCount viewerHasReserved streamCredentials { streamKey } pinnedMessage { text } }";
const RESTRICTED: &str = "restrictedViewer { banned mutedUntil user { id } }";
const VIDEO: &str = "video { id title description status isPublished }";
const VIDEO_SOCIAL: &str = "video { likeCount recommendCount commentCount shareCount viewCount viewerHasLiked comments(first: 5) { nodes { body } } }";
const COMMENT: &str = "comment { id body replyToId isPinned likeCount viewerHasLiked author { displayName } }";
const REQUEST: &str = "friendRequest { id status message from { displayName email } to { displayName email } }";
const USER_SOCIAL: &str = "user { isFriend blockedByViewer friendCount outgoingFriendRequestId incomingFriendRequestId }";
const CHANNEL_SOCIAL: &str = "channel { followerCount viewerFollows followers(first: 5) { nodes { user { displayName } } } }";

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
        // Last for the owner, in this order: they remove or re-state objects the cases above use.
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
