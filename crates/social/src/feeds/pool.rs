//! Recommended's candidates: the most popular published videos of the last `recommended_days`,
//! by popularity with time decay. Scoring every recent video on every request would read the
//! whole window (hundreds of thousands of rows at scale), so each node keeps the top
//! `recommended_pool_size` in memory and recomputes them every `recommended_pool_refresh_secs`
//! in the background, serving the previous pool meanwhile (stale-while-revalidate). Nodes need
//! no coordination: each reads the same tables.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kanjian_kernel::{Context, Result, Timestamp};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::FromQueryResult;
use tokio::sync::Mutex;

use super::rank::{Engagement, hours_between, popularity};
use crate::Deps;
use crate::entity::video;

/// One candidate, scored when the pool was computed.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub video: i64,
    pub channel: i64,
    pub owner: i64,
    pub category: Option<String>,
    pub popularity: f64,
}

#[derive(Default)]
pub(crate) struct RecommendedPool {
    current: Mutex<Option<(Instant, Arc<Vec<Candidate>>)>>,
    refreshing: Arc<AtomicBool>,
    /// The ranking every anonymous viewer gets, with the pool it was ranked from: ranked and
    /// stored once per pool, so a flood of anonymous first pages writes nothing. The lock is
    /// held while ranking, so concurrent first pages after a refresh rank it once.
    pub(super) anonymous: Mutex<Option<SharedRanking>>,
}

/// The anonymous ranking, stored, with the pool it was ranked from and when.
pub(super) struct SharedRanking {
    pub ranked_from: Arc<Vec<Candidate>>,
    pub at: Instant,
    pub stored: Arc<super::snapshot::Snapshot>,
}

impl RecommendedPool {
    /// The pool: computed now when there is none (or refreshing is set to 0), else the current
    /// one, with a background refresh started when it is older than the refresh interval.
    pub async fn candidates(&self, deps: &Arc<Deps>) -> Result<Arc<Vec<Candidate>>> {
        let every = Duration::from_secs(deps.config.recommended_pool_refresh_secs);
        let current = self.current.lock().await.clone();
        match current {
            Some((at, pool)) if !every.is_zero() => {
                if at.elapsed() >= every && !self.refreshing.swap(true, Ordering::AcqRel) {
                    let deps = deps.clone();
                    let refreshing = self.refreshing.clone();
                    tokio::spawn(async move {
                        match compute(&deps).await {
                            Ok(pool) => {
                                *deps.pool.current.lock().await = Some((Instant::now(), Arc::new(pool)));
                            }
                            Err(e) => tracing::warn!(error = %e, "refreshing Recommended's candidates failed; keeping the previous ones"),
                        }
                        refreshing.store(false, Ordering::Release);
                    });
                }
                Ok(pool)
            }
            _ => {
                let pool = Arc::new(compute(deps).await?);
                *self.current.lock().await = Some((Instant::now(), pool.clone()));
                Ok(pool)
            }
        }
    }
}

#[derive(FromQueryResult)]
struct RecentVideo {
    video_id: i64,
    channel_id: i64,
    owner_id: i64,
    category: Option<String>,
    published_at: Timestamp,
    likes: i64,
    recommends: i64,
    comments: i64,
    shares: i64,
    views: i64,
    completions: i64,
}

/// Scores every video published in the window and keeps the best `recommended_pool_size`.
async fn compute(deps: &Deps) -> Result<Vec<Candidate>> {
    let started = Instant::now();
    let at = deps.db.now();
    let since = at - chrono::Duration::days(i64::from(deps.config.recommended_days));
    // One pass over the window: each published row carries its channel and creator.
    let query = Query::select()
        .columns([
            video::Column::VideoId,
            video::Column::ChannelId,
            video::Column::OwnerId,
            video::Column::Category,
            video::Column::PublishedAt,
            video::Column::Likes,
            video::Column::Recommends,
            video::Column::Comments,
            video::Column::Shares,
            video::Column::Views,
            video::Column::Completions,
        ])
        .from(video::Entity)
        .and_where(Expr::col(video::Column::PublishedAt).gte(since))
        .to_owned();
    let rows = RecentVideo::find_by_statement(deps.db.backend().build(&query))
        .all(deps.db.reader())
        .await
        .context("scoring recent videos for Recommended")?;
    let scanned = rows.len();
    let mut pool: Vec<Candidate> = rows
        .into_iter()
        .map(|v| {
            let e = Engagement {
                likes: v.likes,
                recommends: v.recommends,
                comments: v.comments,
                shares: v.shares,
                views: v.views,
                completions: v.completions,
            };
            Candidate {
                video: v.video_id,
                channel: v.channel_id,
                owner: v.owner_id,
                category: v.category,
                popularity: popularity(&e, hours_between(v.published_at, at)),
            }
        })
        .collect();
    pool.sort_by(|a, b| b.popularity.total_cmp(&a.popularity).then(b.video.cmp(&a.video)));
    pool.truncate(deps.config.recommended_pool_size);
    tracing::debug!(scanned, kept = pool.len(), ms = started.elapsed().as_millis() as u64, "computed Recommended's candidates");
    Ok(pool)
}
