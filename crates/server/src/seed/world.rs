//! The synthetic world: who exists, who is friends with whom, who follows, reacts to and watches
//! what. Deterministic for a seed and a "now" (every phase has its own ChaCha8 stream), and
//! independent of the database: the rows it makes go to the modules' seed writers.
//!
//! Models:
//! - Friend graph: Chung–Lu. Each user gets a target degree from a lognormal (σ = 1, so the
//!   median is ~60 % of the mean and p99 ~6× the median), capped at `max_friends` and rescaled
//!   so the mean is `avg_friends`; edge endpoints are drawn in proportion to target degree
//!   (alias table), self-loops and duplicates are dropped and more edges drawn until there are
//!   `users × avg_friends / 2` distinct ones. Edges are held as sorted `u64` keys, then as a
//!   compressed adjacency (CSR) whose lists come out sorted, so rows stream in (user, friend)
//!   order. A friendship's `interactions` (Pareto, mostly 0–3, a few in the hundreds) and date
//!   are derived from a hash of the pair, so both directions agree without storing them.
//! - Channels: a random `channel_share` of users own one; a channel's output and its appeal are
//!   lognormal (σ = 1.5 and σ = 1 on top), its favourite category takes 75 % of its videos.
//! - Videos: spread over channels by output, published uniformly over the last `3 × days`, ids in
//!   publication order; durations lognormal around 40 s (5 s to 30 min).
//! - Follows: per user a lognormal count around `avg_follows`, channels drawn by appeal.
//! - Reactions: user activity lognormal (σ = 1.5: a few users react a lot), videos by a Zipf-like
//!   popularity `1 / (rank + 10)` over a random ranking; ❤️ with probability `recommend_share`;
//!   after the video's publication and within the last `days`; unique per (user, video, kind).
//! - Views: per user a lognormal count around `views_per_user`; 70 % of picks come from the
//!   favourite categories of followed channels, the rest by global popularity; one view per
//!   (user, video, day); 30 % are watched to the end (≥ 90 %), the rest drop off early.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use kanjian_social::seed::{LIKE, RECOMMEND};

use super::sample::{Alias, lognormal_mean, mix, stochastic_round, unit};

pub const DAY: i64 = 86_400;

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "高", "罗",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀英", "霞", "平", "刚", "桂英", "小红", "子涵", "浩然", "欣怡", "宇轩", "梓萱",
];

/// What to build (the `kanjian seed` flags) and when "now" is.
#[derive(Debug, Clone)]
pub struct Params {
    pub users: u32,
    pub avg_friends: f64,
    pub max_friends: u32,
    pub channel_share: f64,
    pub videos: u32,
    pub avg_follows: f64,
    pub reactions: u64,
    pub recommend_share: f64,
    pub views_per_user: f64,
    pub days: u32,
    pub seed: u64,
    /// Unix seconds.
    pub now: i64,
}

/// Compressed adjacency lists: the targets of `i` are `targets[offsets[i]..offsets[i + 1]]`.
#[derive(Debug, Default)]
pub struct Csr {
    pub offsets: Vec<u64>,
    pub targets: Vec<u32>,
}

impl Csr {
    pub fn of(&self, i: usize) -> &[u32] {
        &self.targets[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }
    pub fn degree(&self, i: usize) -> u64 {
        self.offsets[i + 1] - self.offsets[i]
    }
}

#[derive(Debug, Clone)]
pub struct ChannelPlan {
    /// User index (id − 1).
    pub owner: u32,
    pub favourite: u8,
    pub created: i64,
}

#[derive(Debug, Clone)]
pub struct VideoPlan {
    /// Channel index (id − 1).
    pub channel: u32,
    pub category: u8,
    pub duration_ms: u32,
    pub published: i64,
}

/// Degree statistics of the friend graph.
#[derive(Debug, Clone, Default)]
pub struct DegreeStats {
    pub average: f64,
    pub median: u64,
    pub p99: u64,
    pub max: u64,
    pub isolated: u64,
}

pub struct World {
    pub p: Params,
    pub channels: Vec<ChannelPlan>,
    pub videos: Vec<VideoPlan>,
    pub friends: Csr,
    /// Per user index: the channel indexes followed, ascending.
    pub follows: Csr,
    categories: &'static [&'static str],
    channel_appeal: Alias,
    video_popularity: Alias,
    /// Per category: its video indexes and their popularity.
    category_videos: Vec<(Vec<u32>, Alias)>,
    activity: Vec<f32>,
    activity_sum: f64,
}

fn rng_for(seed: u64, phase: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(seed ^ mix(phase)))
}

impl World {
    /// Users, channels, videos and the samplers; the friend graph and follows come after
    /// ([`World::build_friends`], [`World::build_follows`]).
    pub fn new(p: Params, categories: &'static [&'static str]) -> Self {
        let n = p.users as usize;
        let mut rng = rng_for(p.seed, 1);
        // Channels: a random subset of users, ids in owner order.
        let wanted = if p.users == 0 || p.videos == 0 {
            0
        } else {
            ((f64::from(p.users) * p.channel_share).round() as usize).clamp(1, n)
        };
        let mut owners: Vec<u32> = (0..p.users).collect();
        for i in 0..wanted {
            let j = rng.random_range(i..n);
            owners.swap(i, j);
        }
        owners.truncate(wanted);
        owners.sort_unstable();
        let mut output = Vec::with_capacity(wanted);
        let mut appeal = Vec::with_capacity(wanted);
        let mut channels = Vec::with_capacity(wanted);
        for &owner in &owners {
            let o = lognormal_mean(&mut rng, 1.0, 1.5);
            output.push(o);
            appeal.push(o * lognormal_mean(&mut rng, 1.0, 1.0));
            let created = user_created(&p, owner) + 3600;
            channels.push(ChannelPlan {
                owner,
                favourite: rng.random_range(0..categories.len()) as u8,
                created,
            });
        }
        // Videos: channel by output, ids in publication order.
        let mut videos = Vec::with_capacity(if wanted == 0 { 0 } else { p.videos as usize });
        if wanted > 0 {
            let by_output = Alias::new(&output);
            let span = 3 * i64::from(p.days.max(1)) * DAY;
            for _ in 0..p.videos {
                let channel = by_output.sample(&mut rng);
                let favourite = channels[channel as usize].favourite;
                let category = if rng.random::<f64>() < 0.75 {
                    favourite
                } else {
                    rng.random_range(0..categories.len()) as u8
                };
                let duration_ms =
                    (lognormal_mean(&mut rng, 60_000.0, 0.9)).clamp(5_000.0, 1_800_000.0) as u32;
                let published = p.now - 60 - (rng.random::<f64>() * (span - 60) as f64) as i64;
                videos.push(VideoPlan {
                    channel,
                    category,
                    duration_ms,
                    published,
                });
            }
            videos.sort_by_key(|v| v.published);
        }
        // Popularity: Zipf-like over a random ranking of the videos.
        let mut ranks: Vec<u32> = (0..videos.len() as u32).collect();
        for i in (1..ranks.len()).rev() {
            let j = rng.random_range(0..=i);
            ranks.swap(i, j);
        }
        let popularity: Vec<f64> = ranks.iter().map(|&r| 1.0 / (f64::from(r) + 10.0)).collect();
        let mut category_videos: Vec<(Vec<u32>, Alias)> = Vec::with_capacity(categories.len());
        for c in 0..categories.len() {
            let ids: Vec<u32> = (0..videos.len() as u32)
                .filter(|&v| videos[v as usize].category as usize == c)
                .collect();
            let weights: Vec<f64> = ids.iter().map(|&v| popularity[v as usize]).collect();
            let alias = Alias::new(&weights);
            category_videos.push((ids, alias));
        }
        let activity: Vec<f32> = (0..n)
            .map(|_| lognormal_mean(&mut rng, 1.0, 1.5) as f32)
            .collect();
        let activity_sum = activity.iter().map(|&a| f64::from(a)).sum();
        Self {
            p,
            channels,
            videos,
            friends: Csr::default(),
            follows: Csr::default(),
            categories,
            channel_appeal: Alias::new(&appeal),
            video_popularity: Alias::new(&popularity),
            category_videos,
            activity,
            activity_sum,
        }
    }

    pub fn category(&self, c: u8) -> &'static str {
        self.categories[c as usize]
    }

    /// The title of video `i` (index, id − 1), as media and search hold it.
    pub fn video_title(&self, i: usize) -> String {
        let video = &self.videos[i];
        let owner = self.channels[video.channel as usize].owner;
        format!("{}的{}日常 #{}", Self::display_name(owner), self.category(video.category), i + 1)
    }

    pub fn user_created(&self, user: u32) -> i64 {
        user_created(&self.p, user)
    }

    pub fn display_name(user: u32) -> String {
        let h = mix(u64::from(user));
        format!(
            "{}{} {}",
            SURNAMES[(h % SURNAMES.len() as u64) as usize],
            GIVEN[((h >> 20) % GIVEN.len() as u64) as usize],
            user + 1
        )
    }

    /// The Chung–Lu friend graph (see the module docs).
    pub fn build_friends(&mut self) {
        let n = self.p.users as usize;
        let mut rng = rng_for(self.p.seed, 2);
        let mut weights: Vec<f64> = (0..n).map(|_| lognormal_mean(&mut rng, 1.0, 1.0)).collect();
        let target_mean = self
            .p
            .avg_friends
            .min(n.saturating_sub(1) as f64 * 0.5)
            .max(0.0);
        let cap = f64::from(self.p.max_friends.max(1)).min(n.saturating_sub(1).max(1) as f64);
        for _ in 0..8 {
            let mean = weights.iter().sum::<f64>() / n.max(1) as f64;
            if mean <= 0.0 {
                break;
            }
            let scale = target_mean / mean;
            for w in &mut weights {
                *w = (*w * scale).min(cap);
            }
        }
        let wanted = (n as f64 * target_mean / 2.0).round() as usize;
        let alias = Alias::new(&weights);
        drop(weights);
        let mut edges: Vec<u64> = Vec::with_capacity(wanted + wanted / 16 + 16);
        for _round in 0..30 {
            if edges.len() >= wanted || n < 2 {
                break;
            }
            let missing = wanted - edges.len();
            let draw = missing + missing / 32 + 16;
            for _ in 0..draw {
                let a = alias.sample(&mut rng);
                let b = alias.sample(&mut rng);
                if a != b {
                    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
                    edges.push((u64::from(lo) << 32) | u64::from(hi));
                }
            }
            edges.sort_unstable();
            edges.dedup();
        }
        // Keep exactly `wanted` (a deterministic subset: the overshoot is dropped by hash).
        if edges.len() > wanted {
            let seed = self.p.seed;
            let mut keyed: Vec<(u64, u64)> = edges.iter().map(|&e| (mix(e ^ seed), e)).collect();
            keyed.select_nth_unstable(wanted);
            keyed.truncate(wanted);
            edges = keyed.into_iter().map(|(_, e)| e).collect();
            edges.sort_unstable();
        }
        // Chung–Lu only caps *expected* degrees; the cap itself is a hard rule (WeChat refuses a
        // 5001st friend), so edges past it are dropped.
        let hard_cap = u64::from(self.p.max_friends.max(1));
        let mut kept = vec![0u64; n];
        edges.retain(|&e| {
            let (lo, hi) = ((e >> 32) as usize, (e & 0xFFFF_FFFF) as usize);
            let fits = kept[lo] < hard_cap && kept[hi] < hard_cap;
            if fits {
                kept[lo] += 1;
                kept[hi] += 1;
            }
            fits
        });
        drop(kept);
        // CSR: filling in key order leaves every list sorted (lower neighbours first, then higher).
        let mut degree = vec![0u64; n + 1];
        for &e in &edges {
            degree[(e >> 32) as usize] += 1;
            degree[(e & 0xFFFF_FFFF) as usize] += 1;
        }
        let mut offsets = vec![0u64; n + 1];
        for i in 0..n {
            offsets[i + 1] = offsets[i] + degree[i];
        }
        let mut fill: Vec<u64> = offsets[..n].to_vec();
        let mut targets = vec![0u32; offsets[n] as usize];
        for &e in &edges {
            let (lo, hi) = ((e >> 32) as usize, (e & 0xFFFF_FFFF) as usize);
            targets[fill[lo] as usize] = hi as u32;
            fill[lo] += 1;
            targets[fill[hi] as usize] = lo as u32;
            fill[hi] += 1;
        }
        self.friends = Csr { offsets, targets };
    }

    pub fn degree_stats(&self) -> DegreeStats {
        let n = self.p.users as usize;
        if n == 0 || self.friends.offsets.is_empty() {
            return DegreeStats::default();
        }
        let mut degrees: Vec<u64> = (0..n).map(|i| self.friends.degree(i)).collect();
        degrees.sort_unstable();
        let at = |q: f64| degrees[((n as f64 - 1.0) * q).round() as usize];
        DegreeStats {
            average: self.friends.targets.len() as f64 / n as f64,
            median: at(0.5),
            p99: at(0.99),
            max: degrees[n - 1],
            isolated: degrees.iter().take_while(|&&d| d == 0).count() as u64,
        }
    }

    /// A friendship's `interactions` and creation time, the same for both directions.
    pub fn friendship_details(&self, a: u32, b: u32) -> (i64, i64) {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        let h = mix(((u64::from(lo) << 32) | u64::from(hi)) ^ mix(self.p.seed ^ 3));
        let interactions = ((1.0 - unit(h)).powf(-1.0 / 1.2) - 1.0)
            .floor()
            .min(10_000.0) as i64;
        let start = self.user_created(lo).max(self.user_created(hi)) + 60;
        let created = start + (unit(mix(h)) * (self.p.now - start).max(1) as f64) as i64;
        (interactions, created)
    }

    /// Follows: per user a lognormal count around `avg_follows`, channels by appeal.
    pub fn build_follows(&mut self) {
        let n = self.p.users as usize;
        let c = self.channels.len();
        let mut rng = rng_for(self.p.seed, 4);
        let mut offsets = Vec::with_capacity(n + 1);
        let mut targets: Vec<u32> = Vec::with_capacity((n as f64 * self.p.avg_follows) as usize);
        offsets.push(0u64);
        let max = (c as f64 * 0.5).floor() as u64;
        let mut mine: Vec<u32> = Vec::new();
        for user in 0..n as u32 {
            mine.clear();
            if c > 0 && self.p.avg_follows > 0.0 {
                let mean = lognormal_mean(&mut rng, self.p.avg_follows, 1.0);
                let k = stochastic_round(&mut rng, mean).min(max);
                let mut attempts = 0;
                while (mine.len() as u64) < k && attempts < 20 * k + 20 {
                    attempts += 1;
                    let ch = self.channel_appeal.sample(&mut rng);
                    if self.channels[ch as usize].owner != user && !mine.contains(&ch) {
                        mine.push(ch);
                    }
                }
                mine.sort_unstable();
            }
            targets.extend_from_slice(&mine);
            offsets.push(targets.len() as u64);
        }
        self.follows = Csr { offsets, targets };
    }

    pub fn follow_created(&self, user: u32, channel: u32) -> i64 {
        let start = self
            .user_created(user)
            .max(self.channels[channel as usize].created)
            + 60;
        let h = mix((u64::from(user) << 32 | u64::from(channel)) ^ mix(self.p.seed ^ 5));
        start + (unit(h) * (self.p.now - start).max(1) as f64) as i64
    }

    /// Per-user reaction and view streams (one each, independent of how they are chunked).
    pub fn reaction_rng(&self) -> ChaCha8Rng {
        rng_for(self.p.seed, 6)
    }
    pub fn view_rng(&self) -> ChaCha8Rng {
        rng_for(self.p.seed, 7)
    }

    fn recent_start(&self, video: u32) -> i64 {
        let window = self.p.now - i64::from(self.p.days.max(1)) * DAY;
        self.videos[video as usize].published.max(window)
    }

    /// The reactions of one user, sorted by (video, kind): pushes (video index, kind, unix time).
    pub fn reactions_of(&self, rng: &mut ChaCha8Rng, user: u32, out: &mut Vec<(u32, i64, i64)>) {
        out.clear();
        let v = self.videos.len();
        if v == 0 || self.activity_sum <= 0.0 {
            return;
        }
        let share =
            self.p.reactions as f64 * f64::from(self.activity[user as usize]) / self.activity_sum;
        let k = stochastic_round(rng, share).min(v as u64) as usize;
        let mut keys: Vec<u64> = Vec::with_capacity(k);
        for _ in 0..10 {
            if keys.len() >= k {
                break;
            }
            for _ in keys.len()..k + (k - keys.len()) / 8 + 1 {
                let video = self.video_popularity.sample(rng);
                let kind = if rng.random::<f64>() < self.p.recommend_share {
                    RECOMMEND
                } else {
                    LIKE
                };
                keys.push((u64::from(video) << 2) | kind as u64);
            }
            keys.sort_unstable();
            keys.dedup();
        }
        // Drop the overshoot at random (the tail of a shuffle), then back to (video, kind) order.
        if keys.len() > k {
            for i in (1..keys.len()).rev() {
                let j = rng.random_range(0..=i);
                keys.swap(i, j);
            }
            keys.truncate(k);
            keys.sort_unstable();
        }
        for key in keys {
            let video = (key >> 2) as u32;
            let start = self.recent_start(video);
            let at = start + (rng.random::<f64>() * (self.p.now - start).max(1) as f64) as i64;
            out.push((video, (key & 3) as i64, at));
        }
    }

    /// The views of one user, sorted by (video, day): (video index, day, watch ms, completed,
    /// unix time of the view).
    pub fn views_of(
        &self,
        rng: &mut ChaCha8Rng,
        user: u32,
        out: &mut Vec<(u32, i64, i64, bool, i64)>,
    ) {
        out.clear();
        let v = self.videos.len();
        if v == 0 || self.p.views_per_user <= 0.0 {
            return;
        }
        let mean = lognormal_mean(rng, self.p.views_per_user, 0.8);
        let k = stochastic_round(rng, mean).min(v as u64) as usize;
        let followed = if self.follows.offsets.is_empty() {
            &[][..]
        } else {
            self.follows.of(user as usize)
        };
        let mut picks: Vec<(u32, i64, i64)> = Vec::with_capacity(k);
        for _ in 0..k {
            let mut video = None;
            if !followed.is_empty() && rng.random::<f64>() < 0.7 {
                let ch = followed[rng.random_range(0..followed.len())];
                let (ids, alias) =
                    &self.category_videos[self.channels[ch as usize].favourite as usize];
                if !ids.is_empty() {
                    video = Some(ids[alias.sample(rng) as usize]);
                }
            }
            let video = video.unwrap_or_else(|| self.video_popularity.sample(rng));
            let start = self.recent_start(video);
            let at = start + (rng.random::<f64>() * (self.p.now - start - 1).max(1) as f64) as i64;
            picks.push((video, at.div_euclid(DAY), at));
        }
        picks.sort_unstable();
        picks.dedup_by_key(|p| (p.0, p.1));
        for (video, day, at) in picks {
            let duration = i64::from(self.videos[video as usize].duration_ms);
            let watch = if rng.random::<f64>() < 0.3 {
                (duration as f64 * (0.9 + 0.1 * rng.random::<f64>())).ceil() as i64
            } else {
                (duration as f64 * 0.9 * rng.random::<f64>().powf(1.5)) as i64
            }
            .clamp(1, duration);
            let completed = watch * 10 >= duration * 9;
            out.push((video, day, watch, completed, at));
        }
    }
}

fn user_created(p: &Params, user: u32) -> i64 {
    let start = p.now - (3 * i64::from(p.days.max(1)) + 365) * DAY;
    start + (unit(mix(u64::from(user) ^ mix(p.seed ^ 9))) * (364 * DAY) as f64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{DefaultHasher, Hash, Hasher};

    const CATS: &[&str] = &["life", "food", "travel", "music"];

    fn params(seed: u64) -> Params {
        Params {
            users: 3000,
            avg_friends: 40.0,
            max_friends: 500,
            channel_share: 0.05,
            videos: 3000,
            avg_follows: 10.0,
            reactions: 60_000,
            recommend_share: 0.2,
            views_per_user: 5.0,
            days: 30,
            seed,
            now: 1_760_000_000,
        }
    }

    fn world(seed: u64) -> World {
        let mut w = World::new(params(seed), CATS);
        w.build_friends();
        w.build_follows();
        w
    }

    fn digest(w: &World) -> u64 {
        let mut h = DefaultHasher::new();
        w.friends.targets.hash(&mut h);
        w.follows.targets.hash(&mut h);
        let (mut rr, mut vr) = (w.reaction_rng(), w.view_rng());
        let (mut r, mut v) = (Vec::new(), Vec::new());
        for user in 0..w.p.users {
            w.reactions_of(&mut rr, user, &mut r);
            w.views_of(&mut vr, user, &mut v);
            r.hash(&mut h);
            v.hash(&mut h);
        }
        h.finish()
    }

    #[test]
    fn the_same_seed_builds_the_same_world_and_another_seed_another() {
        let a = digest(&world(42));
        assert_eq!(a, digest(&world(42)));
        assert_ne!(a, digest(&world(43)));
    }

    #[test]
    fn the_friend_graph_is_simple_symmetric_heavy_tailed_and_near_the_requested_mean() {
        let w = world(7);
        let stats = w.degree_stats();
        assert!((stats.average - 40.0).abs() < 0.5, "{stats:?}");
        assert!(
            stats.median < 40 && stats.p99 > 120 && stats.max <= 500,
            "{stats:?}"
        );
        for u in 0..w.p.users as usize {
            let list = w.friends.of(u);
            assert!(
                list.windows(2).all(|p| p[0] < p[1]),
                "sorted, no duplicates"
            );
            assert!(!list.contains(&(u as u32)), "no self loops");
            for &f in list {
                assert!(
                    w.friends.of(f as usize).binary_search(&(u as u32)).is_ok(),
                    "symmetric"
                );
                assert_eq!(
                    w.friendship_details(u as u32, f),
                    w.friendship_details(f, u as u32)
                );
            }
        }
    }

    #[test]
    fn no_one_has_more_friends_than_the_cap() {
        // A cap well inside the tail: Chung–Lu alone would give the hubs more.
        let mut w = World::new(Params { max_friends: 60, ..params(11) }, CATS);
        w.build_friends();
        let stats = w.degree_stats();
        assert_eq!(stats.max, 60, "{stats:?}");
        assert!(stats.average > 30.0, "{stats:?}");
    }

    #[test]
    fn reactions_are_unique_skewed_and_in_the_window() {
        let w = world(8);
        let mut rng = w.reaction_rng();
        let mut out = Vec::new();
        let (mut total, mut per_video) = (0u64, vec![0u32; w.videos.len()]);
        let mut per_user = Vec::new();
        for user in 0..w.p.users {
            w.reactions_of(&mut rng, user, &mut out);
            assert!(
                out.windows(2).all(|p| (p[0].0, p[0].1) < (p[1].0, p[1].1)),
                "unique per (video, kind)"
            );
            for &(video, kind, at) in &out {
                assert!(kind == LIKE || kind == RECOMMEND);
                assert!(at >= w.videos[video as usize].published && at <= w.p.now);
                assert!(at >= w.p.now - 30 * DAY);
                per_video[video as usize] += 1;
            }
            total += out.len() as u64;
            per_user.push(out.len());
        }
        assert!((total as f64 - 60_000.0).abs() < 3_000.0, "{total}");
        per_video.sort_unstable();
        let top_1pct: u64 = per_video.iter().rev().take(30).map(|&c| u64::from(c)).sum();
        assert!(
            top_1pct as f64 > 0.1 * total as f64,
            "popular videos get a large share"
        );
        per_user.sort_unstable();
        assert!(
            per_user[per_user.len() - 1] > 10 * per_user[per_user.len() / 2],
            "a few users react a lot"
        );
    }

    #[test]
    fn views_are_unique_per_day_and_complete_at_ninety_percent() {
        let w = world(9);
        let mut rng = w.view_rng();
        let mut out = Vec::new();
        let mut completed = 0;
        let mut all = 0;
        for user in 0..w.p.users {
            w.views_of(&mut rng, user, &mut out);
            assert!(out.windows(2).all(|p| (p[0].0, p[0].1) < (p[1].0, p[1].1)));
            for &(video, day, watch, done, at) in &out {
                let duration = i64::from(w.videos[video as usize].duration_ms);
                assert_eq!(done, watch * 10 >= duration * 9);
                assert!(watch >= 1 && watch <= duration && at.div_euclid(DAY) == day);
                completed += usize::from(done);
                all += 1;
            }
        }
        assert!(
            all > 10_000 && completed * 5 > all && completed * 2 < all,
            "{completed}/{all}"
        );
    }
}
