//! Reactions to videos — 👍 `LIKE` (seen by the creator only) and ❤️ `RECOMMEND` (seen by the
//! reactor's friends unless they hide their recommends) — and the privacy setting that hides
//! them. Counts change only when a row really changed, in the same transaction.

use kanjian_db::Db;
use std::collections::{HashMap, HashSet};

use kanjian_contracts::social::{
    PrivacySettings, ReactionDto, ReactionKind, VideoRecommended, VideoSocialDto,
};
use kanjian_kernel::ids::{UserId, VideoId};
use kanjian_kernel::{Actor, Context, Error, Page, PageRequest, Result};
use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, };

use crate::Deps;
use crate::db::{
    self, bump_video, by_key, count_interaction, cursor_time, ensure_not_blocked, not_blocked_with,
    older_than, visible_video,
};
use crate::domain::stored::{reaction_kind, reaction_kind_from};
use crate::entity::{friendship, reaction, settings, video};

fn counter(kind: ReactionKind) -> video::Column {
    match kind {
        ReactionKind::Like => video::Column::Likes,
        ReactionKind::Recommend => video::Column::Recommends,
    }
}

fn reaction_dto(r: reaction::Model) -> Result<ReactionDto> {
    Ok(ReactionDto {
        user: UserId(r.user_id),
        video: VideoId(r.video_id),
        kind: reaction_kind_from(r.kind)?,
        at: r.created_at,
    })
}

/// Reacts to a published video. Reacting twice changes nothing and emits nothing; a creator in
/// a block with the actor is `BLOCKED`. A new ❤️ emits `VideoRecommended`.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, video_id = video.0, ?kind))]
pub async fn react(
    deps: &Deps,
    actor: &Actor,
    video: VideoId,
    kind: ReactionKind,
) -> Result<VideoSocialDto> {
    let me = actor.require_user()?;
    tracing::Span::current().record("user_id", me.0);
    let dto = visible_video(deps, video).await?;

    let txn = deps.db.begin().await.context("beginning a reaction")?;
    ensure_not_blocked(&txn, me, dto.owner_id).await?;
    let inserted = reaction::Entity::insert(reaction::ActiveModel {
        user_id: Set(me.0),
        video_id: Set(video.0),
        kind: Set(reaction_kind(kind)),
        created_at: Set(deps.db.now()),
    })
    .on_conflict_do_nothing()
    .exec_without_returning(&txn)
    .await
    .context("inserting the reaction")?;
    let inserted = matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0);
    if inserted {
        bump_video(&txn, video.0, &[(counter(kind), 1)]).await?;
        count_interaction(&txn, me, dto.owner_id).await?;
        if kind == ReactionKind::Recommend {
            deps.outbox
                .enqueue(&txn, &VideoRecommended { user: me, video })
                .await?;
        }
    }
    txn.commit().await.context("committing the reaction")?;
    if inserted {
        deps.outbox.notify();
        tracing::info!("reacted");
    }
    one_video_social(deps, actor, video, dto.owner_id).await
}

/// Takes a reaction back; not having reacted is fine.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, video_id = video.0, ?kind))]
pub async fn unreact(
    deps: &Deps,
    actor: &Actor,
    video: VideoId,
    kind: ReactionKind,
) -> Result<VideoSocialDto> {
    let me = actor.require_user()?;
    tracing::Span::current().record("user_id", me.0);
    let dto = visible_video(deps, video).await?;

    let txn = deps
        .db
        .begin()
        .await
        .context("beginning to undo a reaction")?;
    let deleted = reaction::Entity::delete_by_id((me.0, video.0, reaction_kind(kind)))
        .exec(&txn)
        .await
        .context("deleting the reaction")?;
    if deleted.rows_affected > 0 {
        bump_video(&txn, video.0, &[(counter(kind), -1)]).await?;
    }
    txn.commit()
        .await
        .context("committing the undone reaction")?;
    if deleted.rows_affected > 0 {
        tracing::info!("reaction undone");
    }
    one_video_social(deps, actor, video, dto.owner_id).await
}

async fn one_video_social(
    deps: &Deps,
    actor: &Actor,
    video: VideoId,
    owner: UserId,
) -> Result<VideoSocialDto> {
    videos_social(deps, actor, &[video], &HashMap::from([(video.0, owner)]))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| Error::internal("no video counts for the video asked"))
}

/// Counts and the actor's own reactions, one per video asked (zeros for a video nobody
/// touched). `likes` is shown to the video's creator only: creators come from `known_owners`,
/// then from the same projection rows as the counts, then (for a signed-in actor, and videos the
/// projection does not hold yet, such as the actor's own unpublished ones) from media.
pub(crate) async fn videos_social(
    deps: &Deps,
    actor: &Actor,
    videos: &[VideoId],
    known_owners: &HashMap<i64, UserId>,
) -> Result<Vec<VideoSocialDto>> {
    if videos.is_empty() {
        return Ok(Vec::new());
    }
    let viewer = actor.user_id();
    let ids: Vec<i64> = db::distinct(videos).iter().map(|v| v.0).collect();
    // The counts and the viewer's reactions are independent reads: asked at once.
    let counts = async {
        video::Entity::find()
            .filter(video::Column::VideoId.is_in(ids.iter().copied()))
            .all(deps.db.reader())
            .await
            .context("loading video counts")
    };
    let own_reactions = async {
        match viewer {
            None => Ok(Vec::new()),
            Some(viewer) => reaction::Entity::find()
                .filter(reaction::Column::UserId.eq(viewer.0))
                .filter(reaction::Column::VideoId.is_in(ids.iter().copied()))
                .all(deps.db.reader())
                .await
                .context("loading the viewer's reactions"),
        }
    };
    let (counts, own_reactions) = futures::try_join!(counts, own_reactions)?;
    let stats = by_key(counts, |s| s.video_id);
    let mut owners = known_owners.clone();
    if viewer.is_some() {
        for row in stats.values() {
            if let Some(owner) = row.owner_id {
                owners.entry(row.video_id).or_insert(UserId(owner));
            }
        }
        let missing: Vec<VideoId> = ids
            .iter()
            .filter(|id| !owners.contains_key(id))
            .map(|id| VideoId(*id))
            .collect();
        if !missing.is_empty() {
            for v in deps.media.videos_by_ids(actor, &missing).await? {
                owners.insert(v.id.0, v.owner_id);
            }
        }
    }
    let mine: HashSet<(i64, i16)> = own_reactions.into_iter().map(|r| (r.video_id, r.kind)).collect();
    let like = reaction_kind(ReactionKind::Like);
    let recommend = reaction_kind(ReactionKind::Recommend);
    Ok(videos
        .iter()
        .map(|v| {
            let s = stats.get(&v.0);
            let count = |f: fn(&video::Model) -> i64| s.map_or(0, f);
            let is_creator = viewer.is_some() && owners.get(&v.0).copied() == viewer;
            VideoSocialDto {
                video: *v,
                likes: is_creator.then(|| count(|s| s.likes)),
                recommends: count(|s| s.recommends),
                comments: count(|s| s.comments),
                shares: count(|s| s.shares),
                views: count(|s| s.views),
                actor_liked: mine.contains(&(v.0, like)),
                actor_recommended: mine.contains(&(v.0, recommend)),
            }
        })
        .collect())
}

#[tracing::instrument(skip_all, fields(count = videos.len()))]
pub async fn video_social(
    deps: &Deps,
    actor: &Actor,
    videos: &[VideoId],
) -> Result<Vec<VideoSocialDto>> {
    videos_social(deps, actor, videos, &HashMap::new()).await
}

/// Who 👍'd the video, newest first: its creator only. People in a block with the creator are
/// left out.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, video_id = video.0))]
pub async fn likers(
    deps: &Deps,
    actor: &Actor,
    video: VideoId,
    page: PageRequest,
) -> Result<Page<ReactionDto>> {
    let me = actor.require_user()?;
    tracing::Span::current().record("user_id", me.0);
    let owner = deps
        .media
        .videos_by_ids(actor, &[video])
        .await?
        .into_iter()
        .find(|v| v.id == video)
        .ok_or_else(|| Error::not_found("video"))?
        .owner_id;
    if owner != me {
        return Err(Error::forbidden(
            "only the video's creator may see who liked it",
        ));
    }
    let limit = page.limit();
    let after: Option<(i64, i64)> = page.after_key()?;
    let mut query = reaction::Entity::find()
        .filter(reaction::Column::VideoId.eq(video.0))
        .filter(reaction::Column::Kind.eq(reaction_kind(ReactionKind::Like)))
        .filter(not_blocked_with(Some(me), reaction::Column::UserId));
    if let Some((millis, user)) = after {
        let at = cursor_time(millis)?;
        query = query.filter(older_than(
            reaction::Column::CreatedAt,
            reaction::Column::UserId,
            at,
            user,
        ));
    }
    let rows = query
        .order_by_desc(reaction::Column::CreatedAt)
        .order_by_desc(reaction::Column::UserId)
        .limit(u64::from(limit) + 1)
        .all(deps.db.reader())
        .await
        .context("listing likers")?;
    let page = Page::from_rows(rows, limit, after.is_some(), |r| {
        (r.created_at.timestamp_millis(), r.user_id)
    });
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(|(cursor, r)| Ok((cursor, reaction_dto(r)?)))
            .collect::<Result<Vec<_>>>()?,
        has_next_page: page.has_next_page,
        has_previous_page: page.has_previous_page,
    })
}

/// The most recommenders asked for at once.
const MAX_RECOMMENDERS: u32 = 100;

/// The actor's friends who ❤️'d the video, newest first, with their total. Friends who hide
/// their recommends and people in a block with the actor are never counted nor shown.
/// Anonymous viewers have no friends: nothing.
#[tracing::instrument(skip_all, fields(video_id = video.0, limit))]
pub async fn friend_recommenders(
    db: &Db,
    actor: &Actor,
    video: VideoId,
    limit: u32,
) -> Result<(Vec<ReactionDto>, i64)> {
    let Some(me) = actor.user_id() else {
        return Ok((Vec::new(), 0));
    };
    let friends = Query::select()
        .column(friendship::Column::FriendId)
        .from(friendship::Entity)
        .and_where(friendship::Column::UserId.eq(me.0))
        .to_owned();
    let hiding = Query::select()
        .column(settings::Column::UserId)
        .from(settings::Entity)
        .and_where(settings::Column::HideRecommends.eq(true))
        .to_owned();
    let visible = Condition::all()
        .add(reaction::Column::VideoId.eq(video.0))
        .add(reaction::Column::Kind.eq(reaction_kind(ReactionKind::Recommend)))
        .add(reaction::Column::UserId.in_subquery(friends))
        .add(reaction::Column::UserId.not_in_subquery(hiding))
        .add(not_blocked_with(Some(me), reaction::Column::UserId));
    let total = reaction::Entity::find()
        .filter(visible.clone())
        .count(db.reader())
        .await
        .context("counting friend recommenders")?;
    let limit = limit.min(MAX_RECOMMENDERS);
    let rows = if limit == 0 || total == 0 {
        Vec::new()
    } else {
        reaction::Entity::find()
            .filter(visible)
            .order_by_desc(reaction::Column::CreatedAt)
            .order_by_desc(reaction::Column::UserId)
            .limit(u64::from(limit))
            .all(db.reader())
            .await
            .context("listing friend recommenders")?
    };
    let rows = rows
        .into_iter()
        .map(reaction_dto)
        .collect::<Result<Vec<_>>>()?;
    Ok((rows, i64::try_from(total).unwrap_or(i64::MAX)))
}

/// The most videos counted at once.
const MAX_COUNTED_VIDEOS: usize = 500;

/// How many of `me`'s friends ❤️'d each of `videos`, counted as `friend_recommenders` counts
/// them (no hidden ❤️s, nobody in a block with `me`); videos with none are left out.
#[tracing::instrument(skip_all, fields(user_id = me.0, videos = videos.len()))]
pub async fn friends_recommended_among(db: &Db, me: UserId, videos: &[VideoId]) -> Result<Vec<(VideoId, i64)>> {
    if videos.is_empty() {
        return Ok(Vec::new());
    }
    let videos = &videos[..videos.len().min(MAX_COUNTED_VIDEOS)];
    let friends = Query::select()
        .column(friendship::Column::FriendId)
        .from(friendship::Entity)
        .and_where(friendship::Column::UserId.eq(me.0))
        .to_owned();
    let hiding = Query::select()
        .column(settings::Column::UserId)
        .from(settings::Entity)
        .and_where(settings::Column::HideRecommends.eq(true))
        .to_owned();
    let rows: Vec<(i64, i64)> = reaction::Entity::find()
        .select_only()
        .column(reaction::Column::VideoId)
        .column_as(reaction::Column::UserId.count(), "friends")
        .filter(
            Condition::all()
                .add(reaction::Column::VideoId.is_in(videos.iter().map(|v| v.0)))
                .add(reaction::Column::Kind.eq(reaction_kind(ReactionKind::Recommend)))
                .add(reaction::Column::UserId.in_subquery(friends))
                .add(reaction::Column::UserId.not_in_subquery(hiding))
                .add(not_blocked_with(Some(me), reaction::Column::UserId)),
        )
        .group_by(reaction::Column::VideoId)
        .into_tuple()
        .all(db.reader())
        .await
        .context("counting friend recommenders of videos")?;
    Ok(rows.into_iter().map(|(video, n)| (VideoId(video), n)).collect())
}

async fn settings_of<C: ConnectionTrait>(conn: &C, user: UserId) -> Result<PrivacySettings> {
    Ok(settings::Entity::find_by_id(user.0)
        .one(conn)
        .await
        .context("loading privacy settings")?
        .map(|s| PrivacySettings {
            hide_recommends: s.hide_recommends,
        })
        .unwrap_or_default())
}

#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub async fn privacy(db: &Db, actor: &Actor) -> Result<PrivacySettings> {
    let me = actor.require_user()?;
    tracing::Span::current().record("user_id", me.0);
    settings_of(db.reader(), me).await
}

#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, hide_recommends = new.hide_recommends))]
pub async fn set_privacy(
    db: &Db,
    actor: &Actor,
    new: PrivacySettings,
) -> Result<PrivacySettings> {
    let me = actor.require_user()?;
    tracing::Span::current().record("user_id", me.0);
    settings::Entity::insert(settings::ActiveModel {
        user_id: Set(me.0),
        hide_recommends: Set(new.hide_recommends),
        updated_at: Set(db.now()),
    })
    .on_conflict(
        OnConflict::column(settings::Column::UserId)
            .update_columns([
                settings::Column::HideRecommends,
                settings::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(db.writer())
    .await
    .context("saving privacy settings")?;
    tracing::info!("privacy settings saved");
    settings_of(db.reader(), me).await
}
