//! In-app notifications: created by `NotificationRequested` (at most once per user and dedupe
//! key), listed newest first, counted, marked read, and pushed live through the realtime hub on
//! the topic `notify.user.{id}`.
//!
//! Every read and write is filtered by the actor's own user id: an id that belongs to someone
//! else behaves exactly like one that does not exist.

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use kanjian_contracts::notify::{MarkRead, NotificationDto, NotificationRequested};
use kanjian_contracts::{EventEnvelope, IntegrationEvent};
use kanjian_db::keyset;
use kanjian_events::{EventHandler, HandlerError};
use kanjian_kernel::ids::{NotificationId, UserId};
use kanjian_kernel::pagination::MAX_PAGE_SIZE;
use kanjian_kernel::{Actor, Context, Error, Page, PageRequest, Result, UserErrorCode};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TryInsertResult};

use crate::Deps;
use crate::domain::{NotificationKind, Payload, dedupe_key};
use crate::entity::notification;

/// The hub topic of a person's new notifications.
pub(crate) fn topic(user: UserId) -> String {
    format!("notify.user.{user}")
}

pub(crate) struct CreateNotificationHandler {
    pub deps: Arc<Deps>,
}

#[async_trait]
impl EventHandler for CreateNotificationHandler {
    fn name(&self) -> &'static str {
        "notify.create_notification"
    }

    fn kinds(&self) -> &'static [&'static str] {
        &[NotificationRequested::KIND]
    }

    async fn handle(&self, event: &EventEnvelope) -> std::result::Result<(), HandlerError> {
        let Some(decoded) = event.decode::<NotificationRequested>() else { return Ok(()) };
        let request = decoded
            .map_err(|e| HandlerError::Permanent(anyhow::Error::new(e).context("decoding NotificationRequested")))?;
        create(&self.deps, event.id, request).await
    }
}

fn dto(m: notification::Model) -> Result<NotificationDto> {
    Ok(NotificationDto {
        id: NotificationId(m.id),
        user_id: UserId(m.user_id),
        kind: m.kind,
        payload: serde_json::from_str(&m.payload).context("reading a notification's payload")?,
        created_at: m.created_at,
        read_at: m.read_at,
    })
}

/// Creates the notification unless (user, dedupe key) exists already, then pushes it to the
/// person's live subscriptions. The push is best effort: the row is what lasts.
#[tracing::instrument(skip_all, fields(event_id = %event_id, user_id = request.user_id.0, kind = %request.kind))]
pub(crate) async fn create(
    deps: &Deps,
    event_id: uuid::Uuid,
    request: NotificationRequested,
) -> std::result::Result<(), HandlerError> {
    let refuse = |e: crate::domain::InvalidRequest| {
        tracing::warn!(error = %e, "notification request refused");
        HandlerError::Permanent(e.into())
    };
    let kind = NotificationKind::parse(&request.kind).map_err(refuse)?;
    let payload = Payload::parse(&request.payload).map_err(refuse)?;
    let key = dedupe_key(&request.dedupe_key, event_id).map_err(refuse)?;
    let inserted = notification::Entity::insert(notification::ActiveModel {
        user_id: Set(request.user_id.0),
        kind: Set(kind.into_inner()),
        payload: Set(payload.into_inner()),
        dedupe_key: Set(key.clone()),
        created_at: Set(deps.db.now()),
        read_at: Set(None),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([notification::Column::UserId, notification::Column::DedupeKey]).do_nothing().to_owned(),
    )
    .try_insert()
    // Not `exec_with_returning`: on a conflict sea-orm then reports a missing row, not the conflict.
    .exec_without_returning(deps.db.writer())
    .await
    .context("creating a notification")?;
    if !matches!(inserted, TryInsertResult::Inserted(n) if n > 0) {
        tracing::debug!("notification exists already");
        return Ok(());
    }
    let model = notification::Entity::find()
        .filter(notification::Column::UserId.eq(request.user_id.0))
        .filter(notification::Column::DedupeKey.eq(key))
        .one(deps.db.writer())
        .await
        .context("loading the new notification")?
        .ok_or_else(|| Error::internal("the new notification vanished"))?;
    let dto = dto(model)?;
    tracing::info!(notification_id = dto.id.0, "notification created");
    match serde_json::to_value(&dto) {
        Ok(message) => {
            if let Err(e) = deps.hub.publish(&topic(dto.user_id), message).await {
                tracing::warn!(error = ?e, "could not push a notification live; it is in the list");
            }
        }
        Err(e) => tracing::warn!(error = ?e, "could not serialise a notification for the hub"),
    }
    Ok(())
}

/// The actor's notifications, newest first; the cursor is (created_at ms, id).
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub(crate) async fn list(deps: &Deps, actor: &Actor, page: PageRequest) -> Result<Page<NotificationDto>> {
    let user = actor.require_user()?;
    tracing::Span::current().record("user_id", user.0);
    let limit = page.limit();
    let after: Option<(i64, i64)> = page.after_key()?;
    let mut query = notification::Entity::find().filter(notification::Column::UserId.eq(user.0));
    if let Some((at, id)) = after {
        let at = chrono::DateTime::from_timestamp_millis(at)
            .ok_or_else(|| Error::user("after", UserErrorCode::Invalid, "the cursor is not valid"))?;
        query = query.filter(keyset::older_than(notification::Column::CreatedAt, notification::Column::Id, at, id));
    }
    let rows = query
        .order_by_desc(notification::Column::CreatedAt)
        .order_by_desc(notification::Column::Id)
        .limit(u64::from(limit) + 1)
        .all(deps.db.reader())
        .await
        .context("listing notifications")?;
    let rows = rows.into_iter().map(dto).collect::<Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, limit, after.is_some(), |n| (n.created_at.timestamp_millis(), n.id.0)))
}

/// The actor's notifications among `ids`, in the order asked.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, count = ids.len()))]
pub(crate) async fn by_ids(deps: &Deps, actor: &Actor, ids: &[NotificationId]) -> Result<Vec<NotificationDto>> {
    let user = actor.require_user()?;
    tracing::Span::current().record("user_id", user.0);
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = notification::Entity::find()
        .filter(notification::Column::UserId.eq(user.0))
        .filter(notification::Column::Id.is_in(ids.iter().map(|id| id.0)))
        .all(deps.db.reader())
        .await
        .context("loading notifications by id")?;
    let mut by_id: std::collections::HashMap<i64, notification::Model> = rows.into_iter().map(|r| (r.id, r)).collect();
    ids.iter().filter_map(|id| by_id.remove(&id.0)).map(dto).collect()
}

#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub(crate) async fn unread_count(deps: &Deps, actor: &Actor) -> Result<u64> {
    let user = actor.require_user()?;
    tracing::Span::current().record("user_id", user.0);
    notification::Entity::find()
        .filter(notification::Column::UserId.eq(user.0))
        .filter(notification::Column::ReadAt.is_null())
        .count(deps.db.reader())
        .await
        .context("counting unread notifications")
}

/// Marks the actor's unread notifications read (the ones named, or all); returns how many.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, marked = tracing::field::Empty))]
pub(crate) async fn mark_read(deps: &Deps, actor: &Actor, which: MarkRead) -> Result<u64> {
    let user = actor.require_user()?;
    tracing::Span::current().record("user_id", user.0);
    let mut update = notification::Entity::update_many()
        .col_expr(notification::Column::ReadAt, Expr::value(Some(deps.db.now())))
        .filter(notification::Column::UserId.eq(user.0))
        .filter(notification::Column::ReadAt.is_null());
    if let MarkRead::Ids(ids) = &which {
        if ids.is_empty() {
            return Ok(0);
        }
        if ids.len() > MAX_PAGE_SIZE as usize {
            return Err(Error::user(
                "ids",
                UserErrorCode::TooLong,
                format!("At most {MAX_PAGE_SIZE} notifications at once."),
            ));
        }
        update = update.filter(notification::Column::Id.is_in(ids.iter().map(|id| id.0)));
    }
    let marked = update.exec(deps.db.writer()).await.context("marking notifications read")?.rows_affected;
    tracing::Span::current().record("marked", marked);
    Ok(marked)
}

/// The actor's new notifications from now on.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub(crate) async fn subscribe(deps: &Deps, actor: &Actor) -> Result<BoxStream<'static, NotificationDto>> {
    let user = actor.require_user()?;
    tracing::Span::current().record("user_id", user.0);
    let messages = deps
        .hub
        .subscribe(&topic(user))
        .await
        .map_err(|e| Error::Internal(e.context("subscribing to notifications")))?;
    Ok(messages
        .filter_map(move |message| async move {
            serde_json::from_value::<NotificationDto>(message).ok().filter(|n| n.user_id == user)
        })
        .boxed())
}
