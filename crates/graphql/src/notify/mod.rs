//! Notifications and email preferences in the schema: the viewer's in-app notifications (listed,
//! counted, marked read, pushed live) and which kinds of email they get.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Json, Object, SimpleObject, Subscription};
use futures::{Stream, StreamExt};
use kanjian_contracts::notify::{self as contract, EmailPreferenceDto, MarkRead, NotificationDto, NotifyApi};
use kanjian_kernel::Timestamp;
use kanjian_kernel::ids::NotificationId;

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use kanjian_kernel::Actor;

use crate::context::{ContextExt, Services};
use crate::loaders::{self, RequestLoader};
use crate::errors::{GqlResultExt, into_payload, payload};
use crate::relay::{NodeKind, NodeObject, connection, input_id, page_request, to_global_id};

impl NodeKind {
    pub(crate) const NOTIFICATION: NodeKind = NodeKind("Notification");
}

/// Something that happened that concerns the viewer: a live they reserved is starting, an order
/// shipped. Visible to its owner only.
pub struct Notification(pub NotificationDto);

impl NodeObject for Notification {
    const KIND: NodeKind = NodeKind::NOTIFICATION;
    async fn load(ctx: &Context<'_>, id: i64) -> async_graphql::Result<Option<Self>> {
        Ok(loaders::load::<_, NotificationLoader>(ctx, NotificationId(id)).await?.map(Notification))
    }
}

/// Notifications by id for one request, batched (`nodes` with many of them is one call).
pub(crate) struct NotificationLoader {
    notify: Arc<dyn NotifyApi>,
    actor: Actor,
}

impl Loader<NotificationId> for NotificationLoader {
    type Value = NotificationDto;
    type Error = loaders::LoadError;
    async fn load(&self, keys: &[NotificationId]) -> Result<HashMap<NotificationId, NotificationDto>, loaders::LoadError> {
        let found = self.notify.notifications_by_ids(&self.actor, keys).await.map_err(Arc::new)?;
        Ok(found.into_iter().map(|n| (n.id, n)).collect())
    }
}

impl RequestLoader for NotificationLoader {
    fn create(services: &Services, actor: &Actor) -> kanjian_kernel::Result<Self> {
        Ok(Self { notify: services.apis.get()?, actor: actor.clone() })
    }
}

#[Object]
impl Notification {
    pub async fn id(&self) -> ID {
        to_global_id(NodeKind::NOTIFICATION, self.0.id.0)
    }

    /// What happened, `module.thing` (`live.reminder`, `commerce.order_shipped`): clients choose
    /// how to show each kind and may skip kinds they do not know.
    async fn kind(&self) -> &str {
        &self.0.kind
    }

    /// What a client needs to show it (ids, titles), as a JSON object; its shape depends on `kind`.
    async fn payload(&self) -> Json<&serde_json::Value> {
        Json(&self.0.payload)
    }

    /// Whether the viewer has read it.
    async fn read(&self) -> bool {
        self.0.read_at.is_some()
    }

    async fn read_at(&self) -> Option<Timestamp> {
        self.0.read_at
    }

    async fn created_at(&self) -> Timestamp {
        self.0.created_at
    }
}

/// Kinds of email a person may turn off. Account security mail (verification, password resets)
/// is always sent and is not listed.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum EmailCategory {
    /// Go-live reminders of rooms you reserved.
    LiveReminders,
}

impl From<EmailCategory> for contract::EmailCategory {
    fn from(c: EmailCategory) -> Self {
        match c {
            EmailCategory::LiveReminders => Self::LiveReminders,
        }
    }
}

/// Whether the viewer gets one kind of email.
#[derive(SimpleObject)]
pub struct EmailPreference {
    pub category: EmailCategory,
    /// Turned off: no mail of this kind is sent.
    pub opted_out: bool,
}

impl EmailPreference {
    fn from_dto(p: EmailPreferenceDto) -> Option<Self> {
        let category = match p.category {
            contract::EmailCategory::LiveReminders => EmailCategory::LiveReminders,
            contract::EmailCategory::Essential => return None,
        };
        Some(Self { category, opted_out: p.opted_out })
    }
}

#[derive(Default)]
pub struct NotifyQuery;

#[Object]
impl NotifyQuery {
    /// The viewer's notifications, newest first. Signed-in only.
    #[graphql(complexity = "crate::relay::connection_complexity(first, child_complexity)")]
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Notification>> {
        let api = ctx.api::<dyn NotifyApi>()?;
        let page = api.notifications(ctx.actor(), page_request(first, after)).await.gql()?;
        Ok(connection(page, Notification))
    }

    /// How many of the viewer's notifications are unread (the badge). Signed-in only.
    async fn unread_notification_count(&self, ctx: &Context<'_>) -> async_graphql::Result<u64> {
        ctx.api::<dyn NotifyApi>()?.unread_count(ctx.actor()).await.gql()
    }

    /// Every kind of email the viewer may turn off, with whether they did. Signed-in only.
    async fn email_preferences(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<EmailPreference>> {
        let preferences = ctx.api::<dyn NotifyApi>()?.email_preferences(ctx.actor()).await.gql()?;
        Ok(preferences.into_iter().filter_map(EmailPreference::from_dto).collect())
    }
}

/// Which notifications to mark read: `ids` (up to 100 of yours), or `all: true`.
#[derive(InputObject)]
pub struct MarkNotificationsReadInput {
    pub ids: Option<Vec<ID>>,
    /// Every unread notification of yours.
    #[graphql(default)]
    pub all: bool,
}

#[derive(InputObject)]
pub struct SetEmailOptOutInput {
    pub category: EmailCategory,
    /// `true` turns this kind of email off, `false` back on.
    pub opted_out: bool,
}

payload!(MarkNotificationsReadPayload {
    /// How many were unread and now are read.
    marked_count: u64,
    /// What is still unread after it.
    unread_count: u64,
});
payload!(EmailPreferencePayload { preference: EmailPreference });

#[derive(Default)]
pub struct NotifyMutation;

#[Object]
impl NotifyMutation {
    /// Marks notifications read. Ids that are not yours count as not found: they are skipped
    /// like ids that do not exist. Signed-in only.
    async fn mark_notifications_read(
        &self,
        ctx: &Context<'_>,
        input: MarkNotificationsReadInput,
    ) -> async_graphql::Result<MarkNotificationsReadPayload> {
        let api = ctx.api::<dyn NotifyApi>()?;
        let result = async {
            let which = match (input.all, input.ids) {
                (true, None) => MarkRead::All,
                (false, Some(ids)) => MarkRead::Ids(
                    ids.iter()
                        .map(|id| input_id(id, NodeKind::NOTIFICATION, "ids").map(NotificationId))
                        .collect::<kanjian_kernel::Result<_>>()?,
                ),
                _ => {
                    return Err(kanjian_kernel::Error::user(
                        "",
                        kanjian_kernel::UserErrorCode::Invalid,
                        "Give either ids or all: true.",
                    ));
                }
            };
            let marked = api.mark_read(ctx.actor(), which).await?;
            let unread = api.unread_count(ctx.actor()).await?;
            Ok((marked, unread))
        }
        .await;
        into_payload(result, |(marked, unread)| MarkNotificationsReadPayload {
            marked_count: Some(marked),
            unread_count: Some(unread),
            user_errors: vec![],
        })
    }

    /// Turns a kind of email off (or back on) for the viewer. Signed-in only.
    async fn set_email_opt_out(
        &self,
        ctx: &Context<'_>,
        input: SetEmailOptOutInput,
    ) -> async_graphql::Result<EmailPreferencePayload> {
        let api = ctx.api::<dyn NotifyApi>()?;
        let result = api.set_email_opt_out(ctx.actor(), input.category.into(), input.opted_out).await;
        into_payload(result, |p| EmailPreferencePayload {
            preference: EmailPreference::from_dto(p),
            user_errors: vec![],
        })
    }
}

#[derive(Default)]
pub struct NotifySubscription;

#[Subscription]
impl NotifySubscription {
    /// Each new notification of the viewer as it is created. Signed-in only. What arrives while
    /// nobody listens is in `notifications`.
    async fn notification_added(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = Notification> + use<>> {
        let added = ctx.api::<dyn NotifyApi>()?.subscribe(ctx.actor()).await.gql()?;
        Ok(added.map(Notification))
    }
}
