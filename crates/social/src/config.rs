use serde::Deserialize;

/// The `[social]` section of the server config.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SocialConfig {
    /// Most characters (grapheme clusters) in a comment or reply.
    pub comment_max_chars: usize,
    /// Most characters in the optional message of a friend request.
    pub friend_request_message_max_chars: usize,
    /// Comments and replies one user may add: each `{ max, window_secs }` lets `max` through at
    /// once and refills one every `window_secs / max` (`kanjian_db::rate_limit`, shared by every
    /// node). Default: 11 per 30 s, as Channels allows in a live room, and 200 per hour.
    pub comments_per_user: Vec<kanjian_db::Rate>,
    /// Friend requests one user may send, as above. Default: 30 a day.
    pub friend_requests_per_user: Vec<kanjian_db::Rate>,
    /// How far back the Friends feed looks for friends' ❤️s.
    pub friends_feed_days: u32,
    /// Most friends whose ❤️s one ranking reads, closest first (most interactions): bounds the
    /// cost for people with thousands of friends.
    pub friends_feed_closest_friends: u64,
    /// Most friends' ❤️s (newest first) one Friends feed ranking reads; bounds the cost for
    /// people with thousands of very active friends.
    pub friends_feed_max_reactions: u64,
    /// Items ranked into one snapshot of a ranked feed (Friends, Recommended).
    pub feed_snapshot_items: usize,
    /// How long a ranked feed's cursors stay valid.
    pub feed_snapshot_ttl_secs: u64,
    /// How far back Recommended looks for published videos.
    pub recommended_days: u32,
    /// Most popular videos each node keeps as Recommended's candidates.
    pub recommended_pool_size: usize,
    /// How often a node recomputes its candidates (0: on every ranking, for tests).
    pub recommended_pool_refresh_secs: u64,
    /// At most one boosted video in every this many Recommended items.
    pub boost_every: usize,
}

impl Default for SocialConfig {
    fn default() -> Self {
        Self {
            comment_max_chars: 500,
            friend_request_message_max_chars: 100,
            comments_per_user: vec![kanjian_db::Rate::new(11, 30), kanjian_db::Rate::new(200, 3600)],
            friend_requests_per_user: vec![kanjian_db::Rate::new(30, 86_400)],
            friends_feed_days: 7,
            friends_feed_closest_friends: 300,
            friends_feed_max_reactions: 5_000,
            feed_snapshot_items: 300,
            feed_snapshot_ttl_secs: 6 * 3600,
            recommended_days: 30,
            recommended_pool_size: 1_000,
            recommended_pool_refresh_secs: 60,
            boost_every: 5,
        }
    }
}
