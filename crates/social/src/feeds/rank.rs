//! The ranking formulas and orderings of the feeds, free of I/O so each rule is tested on its
//! own. Scores are relative: only their order matters.

use std::collections::{HashMap, VecDeque};

use kanjian_kernel::Timestamp;

/// A ❤️ loses half its weight every this many hours.
const RECOMMEND_HALF_LIFE_HOURS: f64 = 48.0;

/// Ages in the formulas are hours, fractions included.
pub fn hours_between(earlier: Timestamp, later: Timestamp) -> f64 {
    (later - earlier).num_milliseconds() as f64 / 3_600_000.0
}

/// How much one friend's ❤️ counts: closer friends (more interactions between the two) count
/// more, with diminishing returns; every friend counts at least 1.
pub fn closeness(interactions: i64) -> f64 {
    1.0 + (1.0 + interactions.max(0) as f64).ln()
}

/// Fresher ❤️s count more: 1 now, ½ after two days, ¼ after four.
pub fn freshness(age_hours: f64) -> f64 {
    0.5_f64.powf(age_hours.max(0.0) / RECOMMEND_HALF_LIFE_HOURS)
}

/// How often viewers watch the video through, smoothed so a video with few views sits near the
/// middle instead of at 0 % or 100 %: 0.5 (nobody finishes) to 1.5 (everybody does).
pub fn completion_quality(views: i64, completions: i64) -> f64 {
    let rate = (completions.max(0) as f64 + 1.0) / (views.max(0) as f64 + 2.0);
    0.5 + rate.min(1.0)
}

/// The most completion quality can change how two videos compare: best over worst (1.5 / 0.5).
const COMPLETION_SPREAD: f64 = 3.0;

/// One friend's ❤️ of a candidate video.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FriendRecommend {
    pub friend: i64,
    pub interactions: i64,
    pub age_hours: f64,
}

/// A video's Friends score: its [`friends_social`] part (so more, closer and fresher friends
/// rank higher) times how well the video holds its viewers.
pub fn friends_score(social: f64, views: i64, completions: i64) -> f64 {
    social * completion_quality(views, completions)
}

/// The part of the Friends score that the ❤️s alone decide: closeness × freshness, summed.
pub fn friends_social(recommends: &[FriendRecommend]) -> f64 {
    recommends
        .iter()
        .map(|r| closeness(r.interactions) * freshness(r.age_hours))
        .sum()
}

/// How many `candidates`, sorted best first by their [`friends_social`] part (`social`), can
/// still rank among the first `wanted` once completion quality applies, so only those need
/// their counters looked up.
/// Quality changes a comparison by at most [`COMPLETION_SPREAD`]: a candidate whose social part
/// is under a third of the `wanted`-th's cannot overtake it. At most `max`, which bounds the
/// lookups for viewers with thousands of active friends. (Candidates the viewer has seen are
/// only known after the lookup; when some of the first `wanted` turn out seen, the last few
/// places of the ranking may miss a video that would just have made it.)
pub fn friends_contenders<T>(candidates: &[T], social: impl Fn(&T) -> f64, wanted: usize, max: usize) -> usize {
    let max = max.min(candidates.len());
    let Some(last_wanted) = candidates.get(wanted.saturating_sub(1)) else {
        return max;
    };
    let threshold = social(last_wanted) / COMPLETION_SPREAD;
    candidates[..max].partition_point(|c| social(c) >= threshold)
}

/// The friends a card shows, closest first (then freshest), at most `n`.
pub fn preview_friends(recommends: &[FriendRecommend], n: usize) -> Vec<i64> {
    let mut sorted = recommends.to_vec();
    sorted.sort_by(|a, b| {
        b.interactions
            .cmp(&a.interactions)
            .then(a.age_hours.total_cmp(&b.age_hours))
            .then(a.friend.cmp(&b.friend))
    });
    sorted.into_iter().take(n).map(|r| r.friend).collect()
}

/// Engagement counts of a video, from its stats row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Engagement {
    pub likes: i64,
    pub recommends: i64,
    pub comments: i64,
    pub shares: i64,
    pub views: i64,
    pub completions: i64,
}

/// Popularity with time decay ("gravity"): weighted engagement over (age + 2 h)^1.5, so a new
/// video with a little engagement can beat an old one with a lot. A ❤️ or a share (someone put
/// their name to it) weighs more than a 👍; watching through more than a view.
pub fn popularity(e: &Engagement, age_hours: f64) -> f64 {
    let engagement = e.likes as f64
        + 4.0 * e.recommends as f64
        + 2.0 * e.comments as f64
        + 3.0 * e.shares as f64
        + 2.0 * e.completions as f64
        + 0.1 * e.views as f64;
    (1.0 + engagement.max(0.0)) / (age_hours.max(0.0) + 2.0).powf(1.5)
}

/// The viewer's interest in each category: the share of their recent watched-through videos in
/// it. Empty when they finished nothing (anonymous viewers, newcomers).
pub fn category_interests(watched_through: &[Option<String>]) -> HashMap<String, f64> {
    let total = watched_through.iter().flatten().count();
    let mut counts: HashMap<String, f64> = HashMap::new();
    for category in watched_through.iter().flatten() {
        *counts.entry(category.clone()).or_default() += 1.0;
    }
    if total > 0 {
        for share in counts.values_mut() {
            *share /= total as f64;
        }
    }
    counts
}

/// ×1 (no interest) to ×3 (everything the viewer finished was in this category).
pub fn interest_boost(interests: &HashMap<String, f64>, category: Option<&str>) -> f64 {
    1.0 + 2.0 * category.and_then(|c| interests.get(c)).copied().unwrap_or(0.0)
}

/// Social proof: ×1.5 per friend who ❤️'d it, up to 4 friends (×3).
pub fn social_proof_boost(friends: usize) -> f64 {
    1.0 + 0.5 * friends.min(4) as f64
}

/// Reorders `items` (best first) so that no two neighbours share a channel: each step takes
/// the best remaining item from another channel than the last one. Items that can only follow
/// their own channel (everything left is one channel) are dropped, never shown back to back.
pub fn diversify<T>(items: Vec<T>, channel: impl Fn(&T) -> i64) -> Vec<T> {
    let mut remaining: VecDeque<T> = items.into();
    let mut out: Vec<T> = Vec::with_capacity(remaining.len());
    loop {
        let last = out.last().map(&channel);
        let Some(pos) = remaining.iter().position(|t| Some(channel(t)) != last) else {
            break;
        };
        if let Some(item) = remaining.remove(pos) {
            out.push(item);
        }
    }
    out
}

/// Mixes boosted items into an organic list at a bounded rate: at most one in every `every`
/// positions (the `every`-th, the 2·`every`-th, …), never first, each only where it has another
/// channel than both neighbours, so `diversify`'s promise holds. Boosted items that find no
/// slot are left out. `every` below 2 disables boosting (it would turn the feed into ads).
pub fn mix_boosted<T>(organic: Vec<T>, boosted: Vec<T>, every: usize, channel: impl Fn(&T) -> i64) -> Vec<T> {
    if every < 2 || boosted.is_empty() {
        return organic;
    }
    let mut boosted: VecDeque<T> = boosted.into();
    let mut organic: VecDeque<T> = organic.into();
    let mut out: Vec<T> = Vec::with_capacity(organic.len() + boosted.len());
    while let Some(next) = organic.pop_front() {
        if (out.len() + 1).is_multiple_of(every) {
            let before = out.last().map(&channel);
            let after = channel(&next);
            if let Some(pos) = boosted
                .iter()
                .position(|b| Some(channel(b)) != before && channel(b) != after)
                && let Some(b) = boosted.remove(pos)
            {
                out.push(b);
            }
        }
        out.push(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(friend: i64, interactions: i64, age_hours: f64) -> FriendRecommend {
        FriendRecommend { friend, interactions, age_hours }
    }

    #[test]
    fn more_closer_and_fresher_friends_rank_higher() {
        let score = |recs: &[FriendRecommend], views, completions| friends_score(friends_social(recs), views, completions);
        let one = score(&[rec(1, 0, 1.0)], 0, 0);
        let two = score(&[rec(1, 0, 1.0), rec(2, 0, 1.0)], 0, 0);
        let close = score(&[rec(1, 50, 1.0)], 0, 0);
        let stale = score(&[rec(1, 0, 96.0)], 0, 0);
        assert!(two > one && close > one && one > stale);
        assert!((freshness(48.0) - 0.5).abs() < 1e-9);
        // Watched through by most of its viewers beats skipped by most.
        assert!(score(&[rec(1, 0, 1.0)], 100, 95) > score(&[rec(1, 0, 1.0)], 100, 5));
        // A video nobody viewed yet sits in the middle, not at the bottom.
        assert!((completion_quality(0, 0) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn only_contenders_for_the_ranking_are_looked_up() {
        // Best first; the 3rd best scores 3.0, so only candidates from 1.0 up can overtake it.
        let contenders = |social: &[f64], wanted, max| friends_contenders(social, |s| *s, wanted, max);
        let social = [9.0, 5.0, 3.0, 2.0, 1.0, 0.99, 0.5];
        assert_eq!(contenders(&social, 3, 100), 5);
        assert_eq!(contenders(&social, 3, 4), 4);
        // Fewer candidates than wanted: all of them.
        assert_eq!(contenders(&social[..2], 3, 100), 2);
        assert_eq!(contenders(&[], 3, 100), 0);
        // Never fewer than wanted, even if the scores fall steeply.
        assert_eq!(contenders(&[100.0, 90.0, 1.0, 0.1], 2, 10), 2);
        // The bound holds: the first candidate cut off, with the best quality, still ranks below
        // the wanted-th with the worst.
        let (best, worst) = (completion_quality(1_000_000, 1_000_000), completion_quality(1_000_000, 0));
        assert!(social[5] * best < social[2] * worst);
    }

    #[test]
    fn preview_shows_the_closest_friends_first() {
        let recs = [rec(1, 0, 1.0), rec(2, 9, 5.0), rec(3, 9, 2.0), rec(4, 3, 0.0)];
        assert_eq!(preview_friends(&recs, 3), vec![3, 2, 4]);
        assert_eq!(preview_friends(&recs[..1], 3), vec![1]);
    }

    #[test]
    fn popularity_decays_with_age() {
        let e = Engagement { likes: 10, recommends: 5, ..Default::default() };
        assert!(popularity(&e, 1.0) > popularity(&e, 24.0));
        // A fresh video with modest engagement beats a month-old hit of 10×.
        let hit = Engagement { likes: 100, recommends: 50, ..Default::default() };
        assert!(popularity(&e, 2.0) > popularity(&hit, 24.0 * 30.0));
        assert!(popularity(&Engagement::default(), 0.0) > 0.0);
    }

    #[test]
    fn interests_come_from_watched_through_categories() {
        let watched = [Some("food".to_owned()), Some("food".to_owned()), Some("travel".to_owned()), None];
        let interests = category_interests(&watched);
        assert!((interests["food"] - 2.0 / 3.0).abs() < 1e-9);
        assert!(interest_boost(&interests, Some("food")) > interest_boost(&interests, Some("travel")));
        assert!((interest_boost(&interests, Some("music")) - 1.0).abs() < 1e-9);
        assert!((interest_boost(&interests, None) - 1.0).abs() < 1e-9);
        assert!(category_interests(&[]).is_empty());
        assert!(social_proof_boost(2) > social_proof_boost(1));
        assert!((social_proof_boost(10) - social_proof_boost(4)).abs() < 1e-9);
    }

    #[test]
    fn diversity_never_puts_one_channel_twice_in_a_row() {
        // (video, channel), best first.
        let items = vec![(1, 7), (2, 7), (3, 7), (4, 8), (5, 9), (6, 7)];
        let out = diversify(items, |t| t.1);
        assert_eq!(out, vec![(1, 7), (4, 8), (2, 7), (5, 9), (3, 7)]);
        assert!(out.windows(2).all(|w| w[0].1 != w[1].1));
        assert!(diversify(Vec::<(i32, i64)>::new(), |t| t.1).is_empty());
    }

    #[test]
    fn boosted_items_come_at_a_bounded_rate_and_keep_diversity() {
        let organic: Vec<(i32, i64)> = (0..20).map(|i| (i, i64::from(i % 4))).collect();
        let boosted: Vec<(i32, i64)> = (100..120).map(|i| (i, 10 + i64::from(i % 2))).collect();
        let out = mix_boosted(organic.clone(), boosted, 5, |t| t.1);
        let positions: Vec<usize> = out.iter().enumerate().filter(|(_, t)| t.0 >= 100).map(|(i, _)| i).collect();
        assert_eq!(positions, vec![4, 9, 14, 19]);
        assert_eq!(out.len(), 24);
        assert!(out.windows(2).all(|w| w[0].1 != w[1].1));
        // Every organic item is still there, in order.
        let kept: Vec<_> = out.iter().filter(|t| t.0 < 100).copied().collect();
        assert_eq!(kept, organic);
        // A boosted item from the neighbours' channel waits for a slot that fits, or stays out.
        let same: Vec<(i32, i64)> = vec![(100, 0), (101, 3)];
        let out = mix_boosted(vec![(1, 1), (2, 2), (3, 3), (4, 0), (5, 1)], same, 2, |t| t.1);
        assert!(out.windows(2).all(|w| w[0].1 != w[1].1), "{out:?}");
        assert!(mix_boosted(vec![(1, 1)], vec![(2, 2)], 1, |t: &(i32, i64)| t.1).len() == 1);
    }
}
